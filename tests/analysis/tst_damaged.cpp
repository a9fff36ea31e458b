// SPDX-License-Identifier: MIT
// Damaged and hostile input (issue #2): truncation at many offsets, flipped bytes in the zip
// directory and in the pickle, absurd lengths, a missing data.pkl, a record shorter than its
// storage. Each gives a clear error naming the file, the record and the byte offset, and never
// a crash; what could be read is still there. Malicious pickles are flagged and never run.

#include "inspectreport.h"
#include "tensorstatsjob.h"
#include "zipreader.h"

#include <nlohmann/json.hpp>

#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QProcess>
#include <QRandomGenerator>
#include <QTemporaryDir>
#include <QTest>

using namespace ckpt;

namespace {

const char *const kMarker = "/tmp/ckpt_browser_pwned_marker";

QByteArray readFixture(const QString &name)
{
    QFile f(QStringLiteral(CKPT_FIXTURES_DIR "/files/") + name);
    if (!f.open(QIODevice::ReadOnly))
        return {};
    return f.readAll();
}

QString writeTemp(const QTemporaryDir &dir, const QString &name, const QByteArray &bytes)
{
    const QString path = dir.filePath(name);
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate))
        return {};
    f.write(bytes);
    return path;
}

std::shared_ptr<const format::CheckpointData> readBytes(const QTemporaryDir &dir, const QByteArray &bytes)
{
    const QString path = writeTemp(dir, QStringLiteral("damaged.pt"), bytes);
    return format::readCheckpoint(path.toStdString());
}

/// Reads everything a user could ask for, so that every code path touches the damaged bytes.
void exercise(const format::CheckpointData &data)
{
    (void)dumpJson(lsReport(data));
    (void)dumpJson(statsReport(data, StatsSelection{}));
    (void)dumpJson(scanReport(data));
    (void)lsTable(data);
    (void)scanTable(data);
}

qsizetype centralDirectory(const QByteArray &zip)
{
    return zip.indexOf(QByteArrayLiteral("PK\x01\x02"));
}

/// Offset of the first local header's payload for a record whose name ends with `suffix`.
qsizetype payloadOf(const QByteArray &zip, const QByteArray &suffix)
{
    for (qsizetype at = zip.indexOf("PK\x03\x04"); at >= 0; at = zip.indexOf("PK\x03\x04", at + 4)) {
        const auto nameLen = static_cast<quint8>(zip[at + 26]) | (static_cast<quint8>(zip[at + 27]) << 8);
        const auto extraLen = static_cast<quint8>(zip[at + 28]) | (static_cast<quint8>(zip[at + 29]) << 8);
        if (zip.mid(at + 30, nameLen).endsWith(suffix))
            return at + 30 + nameLen + extraLen;
    }
    return -1;
}

void putLe32(QByteArray &b, qsizetype at, quint32 v)
{
    for (int i = 0; i < 4; ++i)
        b[at + i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}

} // namespace

class TestDamaged : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase()
    {
        QFile::remove(QString::fromLatin1(kMarker));
        m_zip = readFixture(QStringLiteral("state_dict.pt"));
        m_legacy = readFixture(QStringLiteral("legacy.pt"));
        QVERIFY(!m_zip.isEmpty());
        QVERIFY(!m_legacy.isEmpty());
    }

    void truncation_data()
    {
        QTest::addColumn<QString>("fixture");
        QTest::addColumn<int>("length");
        for (const QString &name : {QStringLiteral("state_dict.pt"), QStringLiteral("legacy.pt"),
                                    QStringLiteral("safetensors_basic.safetensors"), QStringLiteral("legacy_tar.pt")}) {
            const QByteArray bytes = readFixture(name);
            if (bytes.isEmpty())
                continue;
            const int n = static_cast<int>(bytes.size());
            for (int len : {0, 1, 2, 4, 8, 13, 30, 64, 100, 300, n / 2, n - 100, n - 22, n - 2, n - 1})
                if (len >= 0 && len < n)
                    QTest::addRow("%s@%d", qPrintable(name), len) << name << len;
            for (int i = 1; i < 50; ++i)
                QTest::addRow("%s@%d/50", qPrintable(name), i) << name << static_cast<int>(static_cast<qint64>(n) * i / 50);
        }
    }

    void truncation()
    {
        QFETCH(QString, fixture);
        QFETCH(int, length);
        QTemporaryDir dir;
        const auto data = readBytes(dir, readFixture(fixture).left(length));
        QVERIFY(data);
        exercise(*data);
        // A truncated file must be reported, never silently accepted, and the message must say
        // where (a byte offset) and in which file. (A tar archive cut inside its trailing zero
        // padding is still complete.)
        if (fixture.endsWith(QLatin1String("_tar.pt")) && !data->error)
            return;
        QVERIFY2(data->error.has_value(), qPrintable(fixture));
        QVERIFY2(data->error->offset != format::FormatError::kNoOffset, data->error->text().c_str());
        QVERIFY(errorLine(*data).find("damaged.pt") != std::string::npos);
    }

    /// Issue 16 item 7: a zip cut short (its central directory gone) still gives the pickle and
    /// every record that is whole: those tensors' statistics are torch's, the others say why
    /// they are missing, and the file keeps its error.
    void truncatedZipKeepsIntactRecords_data()
    {
        QTest::addColumn<int>("length");
        const int n = static_cast<int>(m_zip.size());
        for (int i = 1; i < 40; ++i)
            QTest::addRow("@%d/40", i) << static_cast<int>(static_cast<qint64>(n) * i / 40);
        QTest::addRow("before the directory") << static_cast<int>(centralDirectory(m_zip));
    }

    void truncatedZipKeepsIntactRecords()
    {
        QFETCH(int, length);
        QFile f(QStringLiteral(CKPT_FIXTURES_DIR "/expected/state_dict.pt.json"));
        QVERIFY(f.open(QIODevice::ReadOnly));
        const auto expected = nlohmann::json::parse(f.readAll().toStdString());
        const format::ByteView whole{reinterpret_cast<const std::uint8_t *>(m_zip.constData()),
                                     static_cast<std::uint64_t>(m_zip.size())};
        const format::ZipReader full(whole, "state_dict.pt");
        const format::ZipEntry *pkl = full.findRelative("data.pkl");
        QVERIFY(pkl);
        QTemporaryDir dir;
        const auto data = readBytes(dir, m_zip.left(length));
        QVERIFY(data);
        exercise(*data);
        QVERIFY(data->error.has_value());
        if (static_cast<std::uint64_t>(length) < pkl->dataOffset + pkl->compressedSize + 16)
            return; // the pickle itself is cut: nothing to list (tst_damaged::truncation)
        QCOMPARE(data->paths.size(), expected["tensors"].size());
        const Json stats = statsReport(*data, StatsSelection{});
        int recovered = 0;
        for (const auto &want : expected["stats"]) {
            const std::string path = want["path"].get<std::string>();
            const format::TensorPath *p = nullptr;
            for (const auto &q : data->paths)
                if (q.path() == path)
                    p = &q;
            QVERIFY2(p, path.c_str());
            const auto &storage = data->storages[std::size_t(data->tensors[std::size_t(p->tensor)].storage)];
            const format::ZipEntry *e = full.find(std::string(storage.record));
            QVERIFY2(e, path.c_str());
            const bool intact = e->dataOffset + e->compressedSize + 16 <= static_cast<std::uint64_t>(length);
            const Json *got = nullptr;
            for (const auto &g : stats["stats"])
                if (g["path"] == path)
                    got = &g;
            QVERIFY2(got, path.c_str());
            if (intact) {
                ++recovered;
                QVERIFY2(!got->contains("error"), path.c_str());
                QCOMPARE((*got)["min"].get<double>(), want["min"].get<double>());
                QCOMPARE((*got)["max"].get<double>(), want["max"].get<double>());
            } else {
                QVERIFY2(got->contains("error"), path.c_str());
            }
        }
        qInfo("cut at %d of %lld bytes: %d of %zu tensors recovered", length, static_cast<long long>(m_zip.size()),
              recovered, expected["stats"].size());
    }

    /// The same for a DCP directory: a byte changed in one rank's file after the save fails the
    /// CRC-32 of that chunk's record when the statistics of its tensor read it.
    void flippedDcpChunkFailsTheCrc()
    {
        const QString from = QStringLiteral(CKPT_FIXTURES_DIR "/files/torch2/dcp/fsdp");
        for (const bool flipped : {false, true}) {
            QTemporaryDir dir;
            for (const QString &name : QDir(from).entryList(QDir::Files | QDir::Hidden))
                QVERIFY(QFile::copy(from + '/' + name, dir.filePath(name)));
            format::ReadLimits lazy; // as the GUI opens it
            lazy.dcpRecordsOnOpen = false;
            auto data = format::readCheckpoint(dir.path().toStdString(), lazy);
            QVERIFY(data && data->ok());
            int tensor = -1;
            for (std::size_t t = 0; t < data->tensors.size() && tensor < 0; ++t)
                if (data->chunksOfTensor[t].size() > 1)
                    tensor = static_cast<int>(t);
            QVERIFY(tensor >= 0);
            const format::TensorChunk chunk = data->chunksOfTensor[std::size_t(tensor)].back();
            if (flipped) {
                const auto view = format::tensorView(*data, tensor);
                QVERIFY(view.view && view.view->pieces);
                qint64 at = -1;
                for (const auto &piece : *view.view->pieces)
                    for (const auto &f : data->files)
                        if (piece.offsets == chunk.offsets && f->path().ends_with(chunk.file))
                            at = static_cast<qint64>(piece.view.storage.data - f->bytes().data);
                QVERIFY(at > 0);
                data.reset(); // unmapped before the file changes
                QFile rank(dir.filePath(QString::fromStdString(chunk.file)));
                QVERIFY(rank.open(QIODevice::ReadWrite) && rank.seek(at));
                QVERIFY(rank.write(QByteArray(4, '\x5a')) == 4);
                rank.close();
                data = format::readCheckpoint(dir.path().toStdString(), lazy);
                QVERIFY(data && data->ok());
            }
            StatsRequest request;
            request.data = data;
            request.tensors = {tensor};
            const StatsResult result = TensorStatsJob::compute(request);
            QVERIFY(result.ok());
            const QString record = QString::fromStdString(chunk.file + "@" + std::to_string(chunk.byteOffset));
            if (flipped)
                QVERIFY2(result.integrityError.startsWith(record) && result.integrityError.contains(QStringLiteral("CRC-32")),
                         qPrintable(result.integrityError));
            else
                QVERIFY2(result.integrityError.isEmpty(), qPrintable(result.integrityError));
        }
    }

    /// Issue 16 item 7: eight bytes flipped inside a tensor record are found by its CRC-32
    /// when statistics read the record; the intact file passes the same check.
    void flippedRecordBytesFailTheCrc()
    {
        const qsizetype payload = payloadOf(m_zip, QByteArrayLiteral("/data/21")); // head.weight
        QVERIFY(payload > 0);
        QByteArray bad = m_zip;
        for (int i = 0; i < 8; ++i)
            bad[payload + 40 + i] = static_cast<char>(bad[payload + 40 + i] ^ 0x5A);
        QTemporaryDir dir;
        for (const bool flipped : {false, true}) {
            const QString path = writeTemp(dir, flipped ? QStringLiteral("flipped.pt") : QStringLiteral("intact.pt"),
                                           flipped ? bad : m_zip);
            const auto data = format::readCheckpoint(path.toStdString());
            QVERIFY(data && data->ok()); // opening reads no tensor bytes: nothing is noticed yet
            int tensor = -1;
            for (const auto &p : data->paths)
                if (p.path() == "head.weight")
                    tensor = p.tensor;
            QVERIFY(tensor >= 0);
            StatsRequest request;
            request.data = data;
            request.tensors = {tensor};
            const StatsResult result = TensorStatsJob::compute(request);
            QVERIFY(result.ok());
            if (flipped) {
                QVERIFY2(result.integrityError.contains(QStringLiteral("state_dict/data/21"))
                             && result.integrityError.contains(QStringLiteral("CRC-32")),
                         qPrintable(result.integrityError));
            } else {
                QVERIFY2(result.integrityError.isEmpty(), qPrintable(result.integrityError));
            }
            // Every other record of the file passes.
            for (int s = 0; s < static_cast<int>(data->storages.size()); ++s)
                if (data->storages[std::size_t(s)].record != "state_dict/data/21")
                    QVERIFY(format::checkStorageCrc(*data, s).empty());
        }
    }

    /// No intact fixture (torch's own zips, re-zipped and hand-made ones) fails the check.
    void everyFixtureRecordPassesItsCrc()
    {
        int checked = 0;
        QDirIterator it(QStringLiteral(CKPT_FIXTURES_DIR "/files"), QDir::Files, QDirIterator::Subdirectories);
        while (it.hasNext()) {
            const QString path = it.next();
            const auto data = format::readCheckpoint(path.toStdString());
            QVERIFY(data);
            for (int s = 0; s < static_cast<int>(data->storages.size()); ++s) {
                const std::string problem = format::checkStorageCrc(*data, s);
                QVERIFY2(problem.empty(), qPrintable(path + QStringLiteral(": ") + QString::fromStdString(problem)));
                checked += data->storages[std::size_t(s)].hasCrc;
            }
        }
        QVERIFY(checked > 500);
    }

    void flippedDirectoryBytes()
    {
        QTemporaryDir dir;
        const qsizetype cd = centralDirectory(m_zip);
        QVERIFY(cd > 0);
        int errors = 0;
        for (qsizetype i = cd; i < m_zip.size(); ++i) {
            QByteArray bad = m_zip;
            bad[i] = static_cast<char>(bad[i] ^ 0xFF);
            const auto data = readBytes(dir, bad);
            QVERIFY(data);
            exercise(*data);
            if (data->error) {
                ++errors;
                QVERIFY2(!data->error->message.empty(), "error without a message");
            }
        }
        // Most directory bytes matter (names, sizes, offsets, signatures).
        QVERIFY2(errors > (m_zip.size() - cd) / 3, qPrintable(QString::number(errors)));
    }

    void flippedPickleBytes()
    {
        QTemporaryDir dir;
        const qsizetype pkl = payloadOf(m_zip, "data.pkl");
        QVERIFY(pkl > 0);
        QRandomGenerator rng(1234);
        for (qsizetype i = pkl; i < pkl + 1200 && i < m_zip.size(); ++i) {
            QByteArray bad = m_zip;
            bad[i] = static_cast<char>(rng.bounded(256));
            const auto data = readBytes(dir, bad);
            QVERIFY(data);
            exercise(*data);
            if (data->error) {
                // A pickle error names data.pkl and where.
                QVERIFY(!data->error->record.empty());
            }
        }
    }

    void absurdLength()
    {
        // A BINUNICODE in data.pkl that claims 2 GiB: reported as a truncated pickle at the
        // opcode, without allocating.
        QTemporaryDir dir;
        QByteArray bad = m_zip;
        const qsizetype pkl = payloadOf(bad, "data.pkl");
        const qsizetype op = bad.indexOf('X', pkl);
        QVERIFY(op > pkl);
        putLe32(bad, op + 1, 0x7FFFFFF0u);
        const auto data = readBytes(dir, bad);
        QVERIFY(data && data->error);
        QVERIFY2(data->error->record.find("data.pkl") != std::string::npos, data->error->text().c_str());
        QCOMPARE(data->error->offset, static_cast<std::uint64_t>(op));
    }

    void missingDataPkl()
    {
        QTemporaryDir dir;
        QByteArray bad = m_zip;
        bad.replace("data.pkl", "data.pkX");
        const auto data = readBytes(dir, bad);
        QVERIFY(data && data->error);
        QVERIFY2(data->error->text().find("data.pkl") != std::string::npos, data->error->text().c_str());
    }

    void recordShorterThanItsStorage()
    {
        // Shrink the central directory's sizes of data/0: the tensor using it is reported with the
        // record and offset, and every other tensor stays readable.
        QTemporaryDir dir;
        QByteArray bad = m_zip;
        const qsizetype cd = centralDirectory(bad);
        qsizetype entry = -1;
        for (qsizetype at = cd; at >= 0; at = bad.indexOf("PK\x01\x02", at + 4)) {
            const auto nameLen = static_cast<quint8>(bad[at + 28]) | (static_cast<quint8>(bad[at + 29]) << 8);
            if (bad.mid(at + 46, nameLen).endsWith("/data/0")) {
                entry = at;
                break;
            }
        }
        QVERIFY(entry > 0);
        putLe32(bad, entry + 20, 2); // compressed size
        putLe32(bad, entry + 24, 2); // uncompressed size
        const auto data = readBytes(dir, bad);
        QVERIFY(data && data->error);
        QVERIFY2(data->error->record.find("data/0") != std::string::npos, data->error->text().c_str());
        QVERIFY(data->error->offset != format::FormatError::kNoOffset);
        QVERIFY(data->paths.size() > 1);
        const Json stats = statsReport(*data, StatsSelection{});
        int ok = 0;
        int failed = 0;
        for (const auto &s : stats["stats"])
            (s.contains("error") ? failed : ok)++;
        QVERIFY(failed >= 1);
        QVERIFY(ok >= 1);
    }

    void legacyStorageCountMismatch()
    {
        QTemporaryDir dir;
        // The raw data section starts after the last STOP of the five pickles; the first 8
        // bytes are the element count of the first storage.
        const auto clean = readBytes(dir, m_legacy);
        QVERIFY(clean && clean->ok());
        const auto &first = clean->storages.front();
        qsizetype countAt = -1;
        for (const auto &s : clean->storages)
            if (s.bytes.fileOffset != format::FormatError::kNoOffset)
                countAt = countAt < 0 ? static_cast<qsizetype>(s.bytes.fileOffset) - 8
                                      : std::min(countAt, static_cast<qsizetype>(s.bytes.fileOffset) - 8);
        QVERIFY(countAt > 0);
        Q_UNUSED(first);
        QByteArray bad = m_legacy;
        bad[countAt] = static_cast<char>(bad[countAt] + 1);
        const auto data = readBytes(dir, bad);
        QVERIFY(data && data->error);
        QVERIFY2(data->error->text().find("storage") != std::string::npos, data->error->text().c_str());
        QCOMPARE(data->error->offset, static_cast<std::uint64_t>(countAt));
        QVERIFY(!data->paths.empty()); // the main pickle is still browsable
    }

    void garbage()
    {
        QTemporaryDir dir;
        QRandomGenerator rng(42);
        for (int i = 0; i < 300; ++i) {
            QByteArray bytes(static_cast<qsizetype>(rng.bounded(4096)), Qt::Uninitialized);
            for (auto &c : bytes)
                c = static_cast<char>(rng.bounded(256));
            if (i % 3 == 0 && bytes.size() > 4)
                bytes.replace(0, 4, "PK\x03\x04");
            if (i % 3 == 1 && bytes.size() > 2)
                bytes[0] = '\x80';
            const auto data = readBytes(dir, bytes);
            QVERIFY(data);
            exercise(*data);
        }
    }

    void maliciousFilesAreFlaggedAndNeverRun_data()
    {
        QTest::addColumn<QString>("fixture");
        QTest::newRow("zip") << QStringLiteral("malicious_zip.pt");
        QTest::newRow("legacy") << QStringLiteral("malicious_legacy.pt");
        QTest::newRow("proto4") << QStringLiteral("malicious_proto4.pkl");
    }

    void maliciousFilesAreFlaggedAndNeverRun()
    {
        QFETCH(QString, fixture);
        const QString path = QStringLiteral(CKPT_FIXTURES_DIR "/files/") + fixture;
        QVERIFY(QFile::exists(path));
        QFile::remove(QString::fromLatin1(kMarker));
        const auto data = format::readCheckpoint(path.toStdString());
        QVERIFY(data);
        exercise(*data);
        QVERIFY(data->hasDangerousGlobals());
        const Json scan = scanReport(*data);
        QCOMPARE(scan["verdict"].get<std::string>(), std::string("dangerous"));
        for (const char *command : {"ls", "stats", "scan"}) {
            QProcess p;
            p.start(QStringLiteral(CKPT_INSPECT_EXE), {QString::fromLatin1(command), QStringLiteral("--json"), path});
            QVERIFY(p.waitForFinished(60000));
            QCOMPARE(p.exitCode(), QByteArray(command) == "scan" ? 1 : 0);
        }
        QVERIFY2(!QFile::exists(QString::fromLatin1(kMarker)), "the payload ran");
    }

private:
    QByteArray m_zip;
    QByteArray m_legacy;
};

QTEST_GUILESS_MAIN(TestDamaged)
#include "tst_damaged.moc"
