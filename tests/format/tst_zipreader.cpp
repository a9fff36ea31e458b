// SPDX-License-Identifier: MIT
// ZipReader against the facts Python's zipfile reports about tests/fixtures/containers/*.zip
// (make_containers.py), plus damaged inputs built here from those fixtures.
#include "mappedfile.h"
#include "zipreader.h"

#include <nlohmann/json.hpp>

#include <QCryptographicHash>
#include <QElapsedTimer>
#include <QFile>
#include <QTemporaryFile>
#include <QtTest>

#include <atomic>
#include <memory>
#include <optional>
#include <thread>

using namespace ckpt::format;
using Json = nlohmann::json;

namespace {

QString containerPath(const QString &name)
{
    return QStringLiteral(CKPT_FIXTURES_DIR "/containers/") + name;
}

QByteArray readFixture(const QString &name)
{
    QFile f(containerPath(name));
    if (!f.open(QIODevice::ReadOnly))
        qFatal("cannot open fixture %s", qPrintable(f.fileName()));
    return f.readAll();
}

Json readFacts(const QString &name)
{
    return Json::parse(readFixture(name + QStringLiteral(".json")).toStdString());
}

/// An exactly-sized heap copy: AddressSanitizer flags any read past its end.
struct Buffer
{
    explicit Buffer(const QByteArray &bytes)
        : data(new std::uint8_t[static_cast<std::size_t>(bytes.size()) + 0])
        , size(static_cast<std::uint64_t>(bytes.size()))
    {
        if (size)
            std::memcpy(data.get(), bytes.constData(), static_cast<std::size_t>(size));
    }
    ByteView view() const { return {data.get(), size}; }
    std::unique_ptr<std::uint8_t[]> data;
    std::uint64_t size;
};

QByteArray sha256(ByteView v)
{
    return QCryptographicHash::hash(
               QByteArrayView(reinterpret_cast<const char *>(v.data), qsizetype(v.size)),
               QCryptographicHash::Sha256)
        .toHex();
}

QByteArray hex(ByteView v)
{
    return QByteArray(reinterpret_cast<const char *>(v.data), qsizetype(v.size)).toHex();
}

void put16(QByteArray &b, std::uint64_t at, std::uint16_t v)
{
    for (int i = 0; i < 2; ++i)
        b[qsizetype(at) + i] = char((v >> (8 * i)) & 0xFF);
}
void put32(QByteArray &b, std::uint64_t at, std::uint32_t v)
{
    for (int i = 0; i < 4; ++i)
        b[qsizetype(at) + i] = char((v >> (8 * i)) & 0xFF);
}
void put64(QByteArray &b, std::uint64_t at, std::uint64_t v)
{
    for (int i = 0; i < 8; ++i)
        b[qsizetype(at) + i] = char((v >> (8 * i)) & 0xFF);
}

/// Opens the archive and reads every entry. Returns the FormatError, if any; anything else
/// thrown fails the test (the caller checks QTest::currentTestFailed()).
std::optional<FormatError> openAndReadAll(ByteView bytes, std::uint64_t maxInflated = 1ull << 32)
{
    try {
        ZipReader zip(bytes, "test.zip");
        for (const ZipEntry &e : zip.entries()) {
            const RecordBytes r = zip.read(e, maxInflated);
            if (r.view.size != e.uncompressedSize)
                qFatal("read() returned %llu bytes for '%s', expected %llu",
                       static_cast<unsigned long long>(r.view.size), e.name.c_str(),
                       static_cast<unsigned long long>(e.uncompressedSize));
            if (e.dataOffset + e.compressedSize > bytes.size)
                qFatal("entry '%s' reaches past the end of the file", e.name.c_str());
        }
    } catch (const FormatError &e) {
        return e;
    } catch (const std::exception &e) {
        qFatal("unexpected exception (not FormatError): %s", e.what());
    }
    return std::nullopt;
}

/// Every error must say which record and where.
bool errorIsLocated(const FormatError &e, std::uint64_t fileSize)
{
    return !e.record().empty() && e.hasOffset() && (e.offsetInRecord() || e.offset() <= fileSize)
           && std::string(e.what()).find("at byte ") != std::string::npos;
}

/// A stored zip with one 4-byte record per name (payload = the entry's index, LE), optionally
/// finished with the ZIP64 end record and locator torch always writes.
/// Stored entries named `names`, entry i holding i (4 bytes, little-endian) and then zeros up
/// to payloadBytes.
QByteArray buildZip(const QByteArrayList &names, bool zip64End, std::uint32_t payloadBytes = 4)
{
    QByteArray b;
    QByteArray central;
    auto le = [](QByteArray &out, std::uint64_t v, int n) {
        for (int i = 0; i < n; ++i)
            out += char(i < 8 ? (v >> (8 * i)) & 0xFF : 0);
    };
    for (qsizetype i = 0; i < names.size(); ++i) {
        const QByteArray &name = names[i];
        const std::uint64_t lho = std::uint64_t(b.size());
        le(b, 0x04034b50, 4);
        le(b, 0, 22);
        le(b, std::uint64_t(name.size()), 2);
        le(b, 0, 2);
        b += name;
        le(b, std::uint64_t(i), 4);
        b.append(qsizetype(payloadBytes - 4), '\0');
        le(central, 0x02014b50, 4);
        le(central, 0, 12);
        le(central, 0, 4); // crc not recorded
        le(central, payloadBytes, 4);
        le(central, payloadBytes, 4);
        le(central, std::uint64_t(name.size()), 2);
        le(central, 0, 12);
        le(central, lho, 4);
        central += name;
    }
    const std::uint64_t count = std::uint64_t(names.size());
    const std::uint64_t cdOffset = std::uint64_t(b.size());
    b += central;
    if (zip64End) {
        const std::uint64_t eocd64 = std::uint64_t(b.size());
        le(b, 0x06064b50, 4);
        le(b, 44, 8);
        le(b, 45, 2);
        le(b, 45, 2);
        le(b, 0, 8);
        le(b, count, 8);
        le(b, count, 8);
        le(b, std::uint64_t(central.size()), 8);
        le(b, cdOffset, 8);
        le(b, 0x07064b50, 4);
        le(b, 0, 4);
        le(b, eocd64, 8);
        le(b, 1, 4);
    }
    le(b, 0x06054b50, 4);
    le(b, 0, 4);
    le(b, zip64End ? 0xFFFF : count, 2);
    le(b, zip64End ? 0xFFFF : count, 2);
    le(b, zip64End ? 0xFFFFFFFF : std::uint64_t(central.size()), 4);
    le(b, zip64End ? 0xFFFFFFFF : cdOffset, 4);
    le(b, 0, 2);
    return b;
}

enum Mutation {
    NoMutation,
    NotAZip,
    EmptyFile,
    CutInHalf,
    CutComment,
    SaturatedSizeNoExtra,
    SaturatedOffsetNoExtra,
    ClassicCountMax,
    Zip64Count32,
    Zip64Count64,
    CdOffsetBeyondEof,
    Zip64CdOffsetBeyondEof,
    CdOffsetIntoEnd,
    CdOffsetShiftedBack,
    CdSizeHuge,
    LocatorToNowhere,
    Zip64EndSizeBad,
    MultiDisk,
    HugeDeclaredInflate,
    OverlappingEntries,
    OverlapsDirectory,
    DataPastEof,
    DuplicateName,
    DotDotName,
    BadLocalSignature,
    LocalNameDiffers,
    CorruptDeflate,
    TruncatedDeflate,
    DeflateLongerThanDeclared,
    DeflateShorterThanDeclared,
    CrcMismatch,
    UnknownMethod,
    Encrypted,
    StoredSizeMismatch,
    Zip64ExtraTooShort,
    Zip64ExtraMissing,
    ClassicEndRecordSaturated,
};

const ZipEntry &entryNamed(const ZipReader &zip, const char *name)
{
    const ZipEntry *e = zip.find(name);
    if (!e)
        qFatal("fixture has no entry %s", name);
    return *e;
}

QByteArray mutate(const QByteArray &original, Mutation m)
{
    QByteArray b = original;
    const Buffer buf(original);
    const ZipReader zip(buf.view());
    const ZipDirectoryInfo &dir = zip.directory();
    const std::uint64_t eocd = dir.eocdOffset;
    const std::uint64_t eocd64 = dir.eocd64Offset;
    const auto &entries = zip.entries();
    auto rename = [&](const ZipEntry &e, const char *newName) {
        const QByteArray n(newName);
        Q_ASSERT(std::uint64_t(n.size()) == e.name.size());
        b.replace(qsizetype(e.centralOffset + 46), n.size(), n);
        b.replace(qsizetype(e.localHeaderOffset + 30), n.size(), n);
    };
    switch (m) {
    case NoMutation:
        break;
    case NotAZip:
        b = QByteArray(300, 'x');
        break;
    case EmptyFile:
        b.clear();
        break;
    case CutInHalf:
        b.truncate(b.size() / 2);
        break;
    case CutComment:
        b.chop(5);
        break;
    case SaturatedSizeNoExtra:
        put32(b, entryNamed(zip, "stored/data/0").centralOffset + 20, 0xFFFFFFFF);
        break;
    case SaturatedOffsetNoExtra:
        put32(b, entryNamed(zip, "stored/data/0").centralOffset + 42, 0xFFFFFFFF);
        break;
    case ClassicCountMax:
        put16(b, eocd + 8, 0xFFFF);
        put16(b, eocd + 10, 0xFFFF);
        break;
    case Zip64Count32:
        put64(b, eocd64 + 24, 0xFFFFFFFFull);
        put64(b, eocd64 + 32, 0xFFFFFFFFull);
        break;
    case Zip64Count64:
        put64(b, eocd64 + 32, ~0ull);
        break;
    case CdOffsetBeyondEof:
        put32(b, eocd + 16, 0xFFFFFFF0u);
        break;
    case Zip64CdOffsetBeyondEof:
        put64(b, eocd64 + 48, 1ull << 40);
        break;
    case CdOffsetIntoEnd:
        put32(b, eocd + 16, std::uint32_t(dir.cdOffset + 7));
        break;
    case CdOffsetShiftedBack:
        put32(b, eocd + 16, std::uint32_t(dir.cdOffset - 3));
        break;
    case CdSizeHuge:
        put32(b, eocd + 12, 0xFFFFFF00u);
        break;
    case LocatorToNowhere:
        put64(b, eocd - 20 + 8, 12345);
        put32(b, eocd64, 0x12345678);
        break;
    case Zip64EndSizeBad:
        put64(b, eocd64 + 4, 1ull << 50);
        break;
    case MultiDisk:
        put16(b, eocd + 4, 1);
        break;
    case HugeDeclaredInflate:
        put32(b, entryNamed(zip, "deflated/code/model.py").centralOffset + 24, 0xFFFFFFF0u);
        break;
    case OverlappingEntries: {
        const ZipEntry &e = entryNamed(zip, "stored/data.pkl");
        put32(b, e.centralOffset + 20, std::uint32_t(e.compressedSize + 40));
        put32(b, e.centralOffset + 24, std::uint32_t(e.compressedSize + 40));
        break;
    }
    case OverlapsDirectory: {
        const ZipEntry &e = entries.back();
        put32(b, e.centralOffset + 20, std::uint32_t(e.compressedSize + 10));
        put32(b, e.centralOffset + 24, std::uint32_t(e.compressedSize + 10));
        break;
    }
    case DataPastEof:
        put32(b, entries.back().centralOffset + 20, 0x7FFFFFFFu);
        break;
    case DuplicateName:
        rename(entryNamed(zip, "stored/data/1"), "stored/data/0");
        break;
    case DotDotName:
        rename(entryNamed(zip, "stored/data/0"), "stored/../x/0");
        break;
    case BadLocalSignature:
        b[qsizetype(entryNamed(zip, "stored/data/0").localHeaderOffset)] = 'X';
        break;
    case LocalNameDiffers:
        b[qsizetype(entryNamed(zip, "stored/data/0").localHeaderOffset + 30)] = 'S';
        break;
    case CorruptDeflate:
        // first block header: BFINAL=1, BTYPE=11 (reserved) -> "invalid block type"
        b[qsizetype(entryNamed(zip, "deflated/code/model.py").dataOffset)] = char(0xFF);
        break;
    case TruncatedDeflate: {
        const ZipEntry &e = entryNamed(zip, "deflated/code/model.py");
        put32(b, e.centralOffset + 20, std::uint32_t(e.compressedSize / 2));
        break;
    }
    case DeflateLongerThanDeclared:
        put32(b, entryNamed(zip, "deflated/code/model.py").centralOffset + 24, 1000);
        break;
    case DeflateShorterThanDeclared:
        put32(b, entryNamed(zip, "deflated/code/model.py").centralOffset + 24, 2500);
        break;
    case CrcMismatch: {
        const ZipEntry &e = entryNamed(zip, "deflated/code/model.py");
        put32(b, e.centralOffset + 16, e.crc32 ^ 1u);
        break;
    }
    case UnknownMethod:
        put16(b, entryNamed(zip, "deflated/code/model.py").centralOffset + 10, 12);
        break;
    case Encrypted:
        put16(b, entries.front().centralOffset + 8, std::uint16_t(entries.front().flags | 1u));
        break;
    case StoredSizeMismatch:
        put32(b, entryNamed(zip, "stored/data/0").centralOffset + 24, 25);
        break;
    case Zip64ExtraTooShort: {
        // zip64/data/2 saturates sizes and offset: its ZIP64 block needs 24 bytes
        const ZipEntry &e = entryNamed(zip, "zip64/data/2");
        put16(b, e.centralOffset + 46 + e.name.size() + 2, 8);
        break;
    }
    case Zip64ExtraMissing: {
        const ZipEntry &e = entryNamed(zip, "zip64/data/0");
        put16(b, e.centralOffset + 46 + e.name.size(), 0x9999);
        break;
    }
    case ClassicEndRecordSaturated:
        // torch files: the ZIP64 end record must be what counts
        put16(b, eocd + 8, 0xFFFF);
        put16(b, eocd + 10, 0xFFFF);
        put32(b, eocd + 12, 0xFFFFFFFF);
        put32(b, eocd + 16, 0xFFFFFFFF);
        break;
    }
    return b;
}

} // namespace

class TestZipReader : public QObject
{
    Q_OBJECT

private slots:
    void fixtures_data();
    void fixtures();
    void torchZip64Alignment();
    void prepended_data();
    void prepended();
    void probe_data();
    void probe();
    void emptyArchive();
    void commentWithFakeEndRecord();
    void damaged_data();
    void damaged();
    void truncatedEverywhere_data();
    void truncatedEverywhere();
    void flippedBytes_data();
    void flippedBytes();
    void concurrentReads();
    void entryNames_data();
    void entryNames();
    void hundredThousandEntries();
    void headerPagesReleased();
};

void TestZipReader::fixtures_data()
{
    QTest::addColumn<QString>("file");
    for (const char *f : {"stored.zip", "deflated.zip", "force_zip64.zip", "noprefix.zip",
                          "comment.zip", "sfx.zip", "zip64_cd.zip", "torch_arange.pt"})
        QTest::newRow(f) << QString::fromLatin1(f);
}

void TestZipReader::fixtures()
{
    QFETCH(QString, file);
    const Json facts = readFacts(file);
    const Buffer buf(readFixture(file));
    QCOMPARE(buf.size, facts["size"].get<std::uint64_t>());

    const ZipReader zip(buf.view(), file.toStdString());
    QCOMPARE(zip.prefix(), facts["prefix"].get<std::string>());
    QCOMPARE(zip.directory().comment, facts["comment"].get<std::string>());
    QCOMPARE(zip.directory().zip64, facts["zip64Eocd"].get<bool>());
    QCOMPARE(zip.directory().prependedBytes, facts.value("prependedBytes", std::uint64_t(0)));

    const Json &expected = facts["entries"];
    QCOMPARE(zip.entries().size(), expected.size());
    QCOMPARE(zip.directory().entryCount, std::uint64_t(expected.size()));
    // The end records alone (ckpt-inspect's cheap hint) give the count zipfile reports.
    QCOMPARE(ZipReader::declaredEntryCount(buf.view()), std::uint64_t(expected.size()));
    for (std::size_t i = 0; i < expected.size(); ++i) {
        const Json &x = expected[i];
        const ZipEntry &e = zip.entries()[i];
        const std::string name = x["name"].get<std::string>();
        QCOMPARE(e.name, name);
        QCOMPARE(e.method, x["method"].get<std::uint16_t>());
        QCOMPARE(e.flags, x["flags"].get<std::uint16_t>());
        QCOMPARE(e.crc32, x["crc32"].get<std::uint32_t>());
        QCOMPARE(e.compressedSize, x["compressedSize"].get<std::uint64_t>());
        QCOMPARE(e.uncompressedSize, x["uncompressedSize"].get<std::uint64_t>());
        QCOMPARE(e.localHeaderOffset, x["localHeaderOffset"].get<std::uint64_t>());
        QCOMPARE(e.dataOffset, x["dataOffset"].get<std::uint64_t>());
        QCOMPARE(zip.find(name), &e);
        if (!zip.prefix().empty())
            QCOMPARE(zip.findRelative(name.substr(zip.prefix().size() + 1)), &e);

        const RecordBytes r = zip.read(e);
        QCOMPARE(r.view.size, e.uncompressedSize);
        if (e.method == 0) {
            // zero copy: a view into the file itself
            QVERIFY(!r.owned);
            QCOMPARE(r.fileOffset, e.dataOffset);
            QCOMPARE(static_cast<const void *>(r.view.data),
                     static_cast<const void *>(buf.data.get() + e.dataOffset));
        } else {
            QVERIFY(r.owned);
            QCOMPARE(r.fileOffset, FormatError::kNoOffset);
        }
        QCOMPARE(sha256(r.view), QByteArray::fromStdString(x["sha256"].get<std::string>()));
        if (x.contains("payloadHex"))
            QCOMPARE(hex(r.view), QByteArray::fromStdString(x["payloadHex"].get<std::string>()));
    }
    QCOMPARE(zip.find("no/such/entry"), nullptr);
    QCOMPARE(zip.findRelative("no/such/entry"), nullptr);
}

void TestZipReader::torchZip64Alignment()
{
    // A real torch.save() archive: ZIP64 end record always written, records 64-byte aligned.
    const QByteArray bytes = readFixture(QStringLiteral("torch_arange.pt"));
    const Buffer buf(bytes);
    const ZipReader zip(buf.view());
    QVERIFY(zip.directory().zip64);
    QVERIFY(zip.directory().eocd64Offset < zip.directory().eocdOffset);
    QCOMPARE(zip.prefix(), std::string("torch_arange"));
    QVERIFY(zip.findRelative("data.pkl"));
    QVERIFY(zip.findRelative("version"));
    const RecordBytes version = zip.read(*zip.findRelative("version"));
    QCOMPARE(version.view.str(), std::string_view("3\n"));
    for (const ZipEntry &e : zip.entries()) {
        QCOMPARE(e.method, std::uint16_t(0));
        QCOMPARE(e.dataOffset % 64, std::uint64_t(0));
    }

    // The ZIP64 values are the ones used: saturating the classic record changes nothing.
    const Buffer saturated(mutate(bytes, ClassicEndRecordSaturated));
    const ZipReader zip2(saturated.view());
    QVERIFY(zip2.directory().zip64);
    QCOMPARE(zip2.entries().size(), zip.entries().size());
    for (std::size_t i = 0; i < zip.entries().size(); ++i)
        QCOMPARE(zip2.entries()[i].dataOffset, zip.entries()[i].dataOffset);
}

void TestZipReader::prepended_data()
{
    QTest::addColumn<QString>("file");
    QTest::addColumn<int>("stub");
    for (const char *f : {"stored.zip", "deflated.zip", "zip64_cd.zip", "torch_arange.pt"})
        for (const int stub : {1, 64, 5000})
            QTest::addRow("%s + %d", f ? f : "", stub) << QString::fromLatin1(f) << stub; // GCC 12: -Wformat-overflow false positive
}

void TestZipReader::prepended()
{
    // Bytes in front of an archive whose offsets were not adjusted (self-extracting stubs),
    // including ZIP64 archives whose locator then points at the wrong place too.
    QFETCH(QString, file);
    QFETCH(int, stub);
    const QByteArray original = readFixture(file);
    const Buffer plainBuf(original);
    const Buffer buf(QByteArray(stub, '#') + original);
    const ZipReader plain(plainBuf.view());
    const ZipReader zip(buf.view());
    const auto shift = std::uint64_t(stub);
    QCOMPARE(zip.directory().prependedBytes, shift);
    QCOMPARE(zip.directory().zip64, plain.directory().zip64);
    QCOMPARE(zip.prefix(), plain.prefix());
    QCOMPARE(zip.entries().size(), plain.entries().size());
    for (std::size_t i = 0; i < zip.entries().size(); ++i) {
        const ZipEntry &a = plain.entries()[i];
        const ZipEntry &b = zip.entries()[i];
        QCOMPARE(b.name, a.name);
        QCOMPARE(b.localHeaderOffset, a.localHeaderOffset + shift);
        QCOMPARE(b.dataOffset, a.dataOffset + shift);
        QCOMPARE(sha256(zip.read(b).view), sha256(plain.read(a).view));
    }
}

void TestZipReader::probe_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<bool>("expected");
    QTest::newRow("torch") << readFixture(QStringLiteral("torch_arange.pt")) << true;
    QTest::newRow("stored") << readFixture(QStringLiteral("stored.zip")) << true;
    QTest::newRow("sfx stub in front") << readFixture(QStringLiteral("sfx.zip")) << false;
    QTest::newRow("tar") << readFixture(QStringLiteral("ustar.tar")) << false;
    QTest::newRow("empty") << QByteArray() << false;
    QTest::newRow("PK only") << QByteArray("PK") << false;
    QTest::newRow("signature only") << QByteArray("PK\3\4", 4) << true;
}

void TestZipReader::probe()
{
    QFETCH(QByteArray, bytes);
    QFETCH(bool, expected);
    const Buffer buf(bytes);
    QCOMPARE(ZipReader::probe(buf.view()), expected);
}

void TestZipReader::emptyArchive()
{
    QByteArray b(22, '\0');
    put32(b, 0, 0x06054b50);
    const Buffer buf(b);
    const ZipReader zip(buf.view());
    QVERIFY(zip.entries().empty());
    QCOMPARE(zip.prefix(), std::string());
    QCOMPARE(zip.findRelative("data.pkl"), nullptr);
}

void TestZipReader::commentWithFakeEndRecord()
{
    // A comment that itself contains "PK\5\6": the record whose comment ends at EOF wins.
    QByteArray b = readFixture(QStringLiteral("stored.zip"));
    const Buffer orig(b);
    const ZipReader ref(orig.view());
    const std::uint64_t eocd = ref.directory().eocdOffset;
    QByteArray comment("xx");
    comment += QByteArray("PK\5\6", 4) + QByteArray(18, '\0') + QByteArray("tail");
    put16(b, eocd + 20, std::uint16_t(comment.size()));
    b += comment;
    const Buffer buf(b);
    const ZipReader zip(buf.view());
    QCOMPARE(zip.directory().eocdOffset, eocd);
    QCOMPARE(zip.entries().size(), ref.entries().size());
    QCOMPARE(zip.directory().comment, comment.toStdString());
}

void TestZipReader::damaged_data()
{
    QTest::addColumn<QString>("file");
    QTest::addColumn<int>("mutation");
    QTest::addColumn<quint64>("maxInflated");
    QTest::addColumn<QString>("error");   // null: must succeed
    QTest::addColumn<QString>("record");
    QTest::addColumn<int>("kind");

    const QString stored = QStringLiteral("stored.zip");
    const QString deflated = QStringLiteral("deflated.zip");
    const QString torch = QStringLiteral("torch_arange.pt");
    const QString zip64 = QStringLiteral("zip64_cd.zip");
    const QString eocd = QStringLiteral("end of central directory");
    const QString eocd64 = QStringLiteral("zip64 end of central directory");
    const QString model = QStringLiteral("deflated/code/model.py");
    using K = FormatError::Kind;
    auto row = [&](const char *name, const QString &file, Mutation m, const char *error,
                   const QString &record, K kind, quint64 limit = 1ull << 32) {
        QTest::newRow(name) << file << int(m) << limit
                            << (error ? QString::fromUtf8(error) : QString()) << record
                            << int(kind);
    };

    row("intact stored", stored, NoMutation, nullptr, {}, K::Corrupt);
    row("intact torch", torch, NoMutation, nullptr, {}, K::Corrupt);
    row("comment cut short", QStringLiteral("comment.zip"), CutComment, nullptr, {}, K::Corrupt);
    row("not a zip", stored, NotAZip,
        "no zip end-of-central-directory record found (file truncated?)", eocd, K::Truncated);
    row("empty file", stored, EmptyFile,
        "no zip end-of-central-directory record found (file truncated?)", eocd, K::Truncated);
    row("cut in half", torch, CutInHalf,
        "no zip end-of-central-directory record found (file truncated?)", eocd, K::Truncated);
    row("0xFFFFFFFF size without ZIP64 extra", stored, SaturatedSizeNoExtra,
        "size field is 0xFFFFFFFF but the entry has no ZIP64 extra field", "stored/data/0",
        K::Corrupt);
    row("0xFFFFFFFF offset without ZIP64 extra", stored, SaturatedOffsetNoExtra,
        "local header offset field is 0xFFFFFFFF but the entry has no ZIP64 extra field",
        "stored/data/0", K::Corrupt);
    row("classic count 65535", stored, ClassicCountMax,
        "entry count 65535 cannot fit in a central directory", eocd, K::Corrupt);
    row("zip64 count 2^32-1", torch, Zip64Count32,
        "entry count 4294967295 cannot fit in a central directory", eocd64, K::Corrupt);
    row("zip64 count 2^64-1", torch, Zip64Count64,
        "entry count 18446744073709551615 cannot fit", eocd64, K::Corrupt);
    row("cd offset beyond EOF", stored, CdOffsetBeyondEof,
        "central directory offset 4294967280 is beyond the end of the file", eocd, K::Corrupt);
    row("zip64 cd offset beyond EOF", torch, Zip64CdOffsetBeyondEof,
        "is beyond the end of the file", eocd64, K::Corrupt);
    row("cd offset into the end record", stored, CdOffsetIntoEnd, "would run into its end record",
        eocd, K::Corrupt);
    row("cd offset too small (treated as prepended bytes)", stored, CdOffsetShiftedBack,
        "expected a local file header signature", "stored/data.pkl", K::Corrupt);
    row("cd size huge", stored, CdSizeHuge, "central directory size 4294967040 is larger than",
        eocd, K::Corrupt);
    row("zip64 locator to nowhere", torch, LocatorToNowhere,
        "the ZIP64 locator points to byte 12345, where there is no ZIP64 end", eocd64,
        K::Corrupt);
    row("zip64 end record size", torch, Zip64EndSizeBad, "ZIP64 end record size", eocd64,
        K::Corrupt);
    row("multi-disk", stored, MultiDisk, "split over several disks", eocd, K::Unsupported);
    row("huge uncompressed size vs maxInflated", deflated, NoMutation,
        "entry inflates to 2000 bytes, more than the limit of 1000", model, K::LimitExceeded,
        1000);
    row("impossible uncompressed size", deflated, HugeDeclaredInflate,
        "declared uncompressed size 4294967280 is impossible", model, K::Corrupt);
    row("huge uncompressed size over the limit", deflated, HugeDeclaredInflate,
        "more than the limit", model, K::LimitExceeded, 1 << 20);
    row("overlapping entries", stored, OverlappingEntries, "overlaps entry 'stored/data/0'",
        "stored/data.pkl", K::Corrupt);
    row("entry overlaps the directory", stored, OverlapsDirectory,
        "overlaps the central directory", "stored/version", K::Corrupt);
    row("data past EOF", stored, DataPastEof, "runs past the end of the file", "stored/version",
        K::Truncated);
    row("duplicate names", stored, DuplicateName, "duplicate entry name", "stored/data/0",
        K::Corrupt);
    row("dot-dot name", stored, DotDotName, "'..' path component", "stored/../x/0", K::Corrupt);
    row("bad local signature", stored, BadLocalSignature,
        "expected a local file header signature (PK\\3\\4)", "stored/data/0", K::Corrupt);
    row("local name differs", stored, LocalNameDiffers, "differs from the central directory",
        "stored/data/0", K::Corrupt);
    row("corrupt deflate stream", deflated, CorruptDeflate,
        "corrupt deflate stream: invalid block type", model, K::Corrupt);
    row("truncated deflate stream", deflated, TruncatedDeflate, "deflate stream ends early",
        model, K::Corrupt);
    row("deflate longer than declared", deflated, DeflateLongerThanDeclared,
        "inflates to more than the declared 1000 bytes", model, K::Corrupt);
    row("deflate shorter than declared", deflated, DeflateShorterThanDeclared,
        "deflate stream produced 2000 bytes, the central directory declares 2500", model,
        K::Corrupt);
    row("crc mismatch", deflated, CrcMismatch, "CRC-32 mismatch", model, K::Corrupt);
    row("unknown method", deflated, UnknownMethod, "compression method 12 (bzip2) is not supported",
        model, K::Unsupported);
    row("encrypted", stored, Encrypted, "encrypted entries are not supported", "stored/data.pkl",
        K::Unsupported);
    row("stored size mismatch", stored, StoredSizeMismatch,
        "stored entry has compressed size 24 but uncompressed size 25", "stored/data/0",
        K::Corrupt);
    row("zip64 extra too short", zip64, Zip64ExtraTooShort,
        "ZIP64 extra field has 8 bytes, the saturated fields need 24", "zip64/data/2",
        K::Corrupt);
    row("zip64 extra missing", zip64, Zip64ExtraMissing,
        "size field is 0xFFFFFFFF but the entry has no ZIP64 extra field", "zip64/data/0",
        K::Corrupt);
}

void TestZipReader::damaged()
{
    QFETCH(QString, file);
    QFETCH(int, mutation);
    QFETCH(quint64, maxInflated);
    QFETCH(QString, error);
    QFETCH(QString, record);
    QFETCH(int, kind);

    const QByteArray bytes = mutate(readFixture(file), Mutation(mutation));
    const Buffer buf(bytes);
    const std::optional<FormatError> e = openAndReadAll(buf.view(), maxInflated);
    if (error.isNull()) {
        if (e)
            QFAIL(e->what());
        return;
    }
    QVERIFY2(e.has_value(), "expected an error");
    const QString what = QString::fromUtf8(e->what());
    QVERIFY2(what.contains(error), qPrintable(what));
    QCOMPARE(QString::fromStdString(e->record()), record);
    QVERIFY2(errorIsLocated(*e, buf.size), qPrintable(what));
    QVERIFY2(what.contains(QStringLiteral("record '") + record + QLatin1Char('\'')),
             qPrintable(what));
    QCOMPARE(int(e->kind()), kind);
}

void TestZipReader::truncatedEverywhere_data()
{
    QTest::addColumn<QString>("file");
    for (const char *f : {"stored.zip", "deflated.zip", "force_zip64.zip", "comment.zip",
                          "sfx.zip", "zip64_cd.zip", "torch_arange.pt"})
        QTest::newRow(f) << QString::fromLatin1(f);
}

void TestZipReader::truncatedEverywhere()
{
    // Keep the first n bytes for every n: each prefix either fails with a located
    // FormatError or (only when just comment bytes were cut) reads completely.
    QFETCH(QString, file);
    const QByteArray bytes = readFixture(file);
    const Buffer full(bytes);
    const std::uint64_t eocdEnd = ZipReader(full.view()).directory().eocdOffset + 22;
    int failures = 0;
    for (qsizetype n = 0; n < bytes.size(); ++n) {
        const Buffer buf(bytes.left(n));
        // The end-records-only count never throws; cut before its end record, it knows none.
        if (std::uint64_t(n) < eocdEnd - 22)
            QCOMPARE(ZipReader::declaredEntryCount(buf.view()), std::uint64_t(0));
        const std::optional<FormatError> e = openAndReadAll(buf.view());
        if (e) {
            ++failures;
            QVERIFY2(errorIsLocated(*e, buf.size), e->what());
        } else {
            QVERIFY2(std::uint64_t(n) >= eocdEnd,
                     qPrintable(QStringLiteral("truncation to %1 bytes was accepted").arg(n)));
        }
    }
    QVERIFY(failures > 0);
}

void TestZipReader::flippedBytes_data()
{
    QTest::addColumn<QString>("file");
    for (const char *f : {"stored.zip", "deflated.zip", "force_zip64.zip", "sfx.zip",
                          "zip64_cd.zip", "torch_arange.pt", "comment.zip"})
        QTest::newRow(f) << QString::fromLatin1(f);
}

void TestZipReader::flippedBytes()
{
    // Every byte of the file (directory, end records, headers and payloads) flipped with a few
    // masks: no crash, no read out of bounds, and any error is located.
    QFETCH(QString, file);
    const QByteArray bytes = readFixture(file);
    int errors = 0;
    int accepted = 0;
    for (qsizetype i = 0; i < bytes.size(); ++i) {
        for (const int mask : {0xFF, 0x01, 0x80, 0x10}) {
            QByteArray b = bytes;
            b[i] = char(b[i] ^ mask);
            const Buffer buf(b);
            const std::optional<FormatError> e = openAndReadAll(buf.view());
            if (e) {
                ++errors;
                QVERIFY2(errorIsLocated(*e, buf.size),
                         qPrintable(QStringLiteral("flip %1 at byte %2: offset %3: ")
                                        .arg(mask).arg(i).arg(e->offset())
                                    + QString::fromUtf8(e->what()).toHtmlEscaped()));
            } else {
                ++accepted;
            }
        }
    }
    qInfo("%s: %d flips rejected, %d accepted", qPrintable(file), errors, accepted);
    QVERIFY(errors > 0);
}

void TestZipReader::concurrentReads()
{
    const Buffer buf(readFixture(QStringLiteral("deflated.zip")));
    const ZipReader zip(buf.view());
    const RecordBytes reference = zip.read(*zip.findRelative("code/model.py"));
    std::atomic<int> mismatches{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 200; ++i)
                for (const ZipEntry &e : zip.entries()) {
                    const RecordBytes r = zip.read(e);
                    if (e.name == "deflated/code/model.py"
                        && (r.view.size != reference.view.size
                            || std::memcmp(r.view.data, reference.view.data,
                                           static_cast<std::size_t>(r.view.size)) != 0))
                        ++mismatches;
                }
        });
    for (auto &t : threads)
        t.join();
    QCOMPARE(mismatches.load(), 0);
}

void TestZipReader::entryNames_data()
{
    QTest::addColumn<QByteArrayList>("names");
    QTest::addColumn<QString>("error");
    QTest::addColumn<QString>("prefix");
    QTest::newRow("torch layout") << QByteArrayList{"a/data.pkl", "a/version"} << QString()
                                  << QStringLiteral("a");
    QTest::newRow("no folder") << QByteArrayList{"data.pkl", "x/version"} << QString()
                               << QString();
    QTest::newRow("dots inside names") << QByteArrayList{"p/..a", "p/a..", "p/.../b", "p/a..b/c"}
                                       << QString() << QStringLiteral("p");
    QTest::newRow("leading ..") << QByteArrayList{"../evil"} << QStringLiteral("'..'")
                                << QString();
    QTest::newRow("trailing ..") << QByteArrayList{"p/ok", "p/.."} << QStringLiteral("'..'")
                                 << QString();
    QTest::newRow("backslash ..") << QByteArrayList{"p\\..\\x"} << QStringLiteral("'..'")
                                  << QString();
    QTest::newRow("only ..") << QByteArrayList{".."} << QStringLiteral("'..'") << QString();
    QTest::newRow("duplicate") << QByteArrayList{"p/a", "p/b", "p/a"}
                               << QStringLiteral("duplicate entry name") << QString();
    QTest::newRow("empty name") << QByteArrayList{"p/a", ""} << QStringLiteral("empty name")
                                << QString();
}

void TestZipReader::entryNames()
{
    QFETCH(QByteArrayList, names);
    QFETCH(QString, error);
    QFETCH(QString, prefix);
    const Buffer buf(buildZip(names, false));
    try {
        const ZipReader zip(buf.view());
        QVERIFY2(error.isNull(), "expected an error");
        QCOMPARE(QString::fromStdString(zip.prefix()), prefix);
        QCOMPARE(zip.entries().size(), std::size_t(names.size()));
        for (int i = 0; i < names.size(); ++i) {
            const ZipEntry *e = zip.find(names[i].toStdString());
            QVERIFY(e);
            QCOMPARE(loadLe32(zip.read(*e).view.data), std::uint32_t(i));
        }
    } catch (const FormatError &e) {
        QVERIFY2(!error.isNull(), e.what());
        QVERIFY2(QString::fromUtf8(e.what()).contains(error), e.what());
        QVERIFY(errorIsLocated(e, buf.size));
    }
}

void TestZipReader::hundredThousandEntries()
{
    // A torch-shaped directory of 100,000 records (ZIP64 end record, 4-byte stored payloads).
    constexpr int kCount = 100'000;
    QByteArrayList names;
    names.reserve(kCount);
    for (int i = 0; i < kCount; ++i)
        names.append("archive/data/" + QByteArray::number(i));
    const Buffer buf(buildZip(names, true));
    qint64 best = std::numeric_limits<qint64>::max();
    for (int run = 0; run < 5; ++run) {
        QElapsedTimer timer;
        timer.start();
        const ZipReader zip(buf.view());
        best = std::min(best, timer.nsecsElapsed());
        QCOMPARE(zip.entries().size(), std::size_t(kCount));
        QVERIFY(zip.directory().zip64);
        QCOMPARE(zip.prefix(), std::string("archive"));
        const ZipEntry *last = zip.findRelative("data/99999");
        QVERIFY(last);
        QCOMPARE(loadLe32(zip.read(*last).view.data), 99999u);
        QCOMPARE(zip.findRelative("data/100000"), nullptr);
        if (run == 0) {
            for (int i = 0; i < kCount; i += 997)
                QCOMPARE(zip.find(names[i].toStdString()), &zip.entries()[std::size_t(i)]);
            // findAfter: the next entry when it is the one, else a lookup like find()
            const ZipEntry *first = &zip.entries().front();
            const ZipEntry *lastEntry = &zip.entries().back();
            QCOMPARE(zip.findAfter(names[1].toStdString(), first), first + 1);
            QCOMPARE(zip.findAfter(names[1].toStdString(), nullptr), first + 1);
            QCOMPARE(zip.findAfter(names[500].toStdString(), first), first + 500);
            QCOMPARE(zip.findAfter(names[0].toStdString(), lastEntry), first);
            QCOMPARE(zip.findAfter("archive/data/100000", lastEntry), nullptr);
        }
    }
    qInfo("100,000 entries parsed in %.1f ms (best of 5)", double(best) / 1e6);
#if defined(NDEBUG) && !defined(__SANITIZE_ADDRESS__)
    QVERIFY2(best < 100'000'000, "directory of 100,000 entries took 100 ms or more");
#endif
}

namespace {
/// Whether the page holding `p` is mapped in this process (/proc/self/pagemap, bit 63).
bool pageMapped(const void *p)
{
    QFile map(QStringLiteral("/proc/self/pagemap"));
    if (!map.open(QIODevice::ReadOnly) || !map.seek(qint64(reinterpret_cast<std::uintptr_t>(p) / 4096 * 8)))
        qFatal("cannot read /proc/self/pagemap");
    std::uint64_t entry = 0;
    if (map.read(reinterpret_cast<char *>(&entry), 8) != 8)
        qFatal("short read of /proc/self/pagemap");
    return entry >> 63;
}
} // namespace

void TestZipReader::headerPagesReleased()
{
    // Local headers read from a mapped file are unmapped again (a file cached in large folios
    // mapped 2 MiB per header); the central directory and every entry still read correctly.
    constexpr std::uint32_t kPayload = 9u << 20;
    const QByteArrayList names = {"ckpt/data/0", "ckpt/data/1", "ckpt/data/2", "ckpt/data/3"};
    QTemporaryFile file;
    QVERIFY(file.open());
    file.write(buildZip(names, false, kPayload));
    file.close();
    const auto mapped = MappedFile::open(file.fileName().toStdString());
    const ZipReader zip(mapped->bytes());
    QCOMPARE(zip.entries().size(), std::size_t(4));
    for (const ZipEntry &e : zip.entries())
        QVERIFY2(!pageMapped(mapped->bytes().data + e.localHeaderOffset), e.name.c_str());
    QVERIFY(pageMapped(mapped->bytes().data + zip.directory().cdOffset));
    for (std::uint32_t i = 0; i < 4; ++i) {
        const RecordBytes r = zip.read(zip.entries()[i]);
        QCOMPARE(r.view.size, std::uint64_t(kPayload));
        QCOMPARE(loadLe32(r.view.data), i);
        QCOMPARE(int(r.view.data[kPayload - 1]), 0);
    }
}

QTEST_GUILESS_MAIN(TestZipReader)
#include "tst_zipreader.moc"
