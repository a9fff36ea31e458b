// SPDX-License-Identifier: MIT
// TarReader against the facts Python's tarfile reports about tests/fixtures/containers/*.tar
// (make_containers.py), plus damaged and hand-made headers.
#include "tarreader.h"

#include <nlohmann/json.hpp>

#include <QCryptographicHash>
#include <QFile>
#include <QtTest>

#include <memory>
#include <optional>

using namespace ckpt::format;
using Json = nlohmann::json;

namespace {

QByteArray readFixture(const QString &name)
{
    QFile f(QStringLiteral(CKPT_FIXTURES_DIR "/containers/") + name);
    if (!f.open(QIODevice::ReadOnly))
        qFatal("cannot open fixture %s", qPrintable(f.fileName()));
    return f.readAll();
}

/// An exactly-sized heap copy: AddressSanitizer flags any read past its end.
struct Buffer
{
    explicit Buffer(const QByteArray &bytes)
        : data(new std::uint8_t[static_cast<std::size_t>(bytes.size())])
        , size(static_cast<std::uint64_t>(bytes.size()))
    {
        if (size)
            std::memcpy(data.get(), bytes.constData(), static_cast<std::size_t>(size));
    }
    ByteView view() const { return {data.get(), size}; }
    std::unique_ptr<std::uint8_t[]> data;
    std::uint64_t size;
};

QByteArray toQt(ByteView v)
{
    return QByteArray(reinterpret_cast<const char *>(v.data), qsizetype(v.size));
}

/// Overwrites bytes in place (QByteArray::replace with a C string would stop at its first NUL).
void put(QByteArray &b, qsizetype pos, const QByteArray &data)
{
    for (qsizetype i = 0; i < data.size(); ++i)
        b[pos + i] = data[i];
}

/// Recomputes the (unsigned) checksum of the 512-byte header at `pos`.
void fixChecksum(QByteArray &b, qsizetype pos)
{
    put(b, pos + 148, QByteArray(8, ' '));
    unsigned sum = 0;
    for (qsizetype i = 0; i < 512; ++i)
        sum += static_cast<unsigned char>(b[pos + i]);
    put(b, pos + 148, QByteArray::number(sum, 8).rightJustified(6, '0') + QByteArray("\0 ", 2));
}

/// A POSIX ustar header block.
QByteArray header(const QByteArray &name, std::uint64_t size, char type = '0')
{
    QByteArray h(512, '\0');
    put(h, 0, name.left(100));
    put(h, 100, QByteArray("0000644"));
    put(h, 124, QByteArray::number(qulonglong(size), 8).rightJustified(11, '0'));
    put(h, 136, QByteArray("00000000000"));
    h[156] = type;
    put(h, 257, QByteArray("ustar\0" "00", 8));
    fixChecksum(h, 0);
    return h;
}

QByteArray padded(QByteArray data)
{
    data.append(QByteArray((512 - data.size() % 512) % 512, '\0'));
    return data;
}

QByteArray paxRecord(const QByteArray &key, const QByteArray &value)
{
    // "<len> key=value\n" where len counts itself
    const QByteArray body = ' ' + key + '=' + value + '\n';
    qsizetype len = body.size() + 1;
    while (QByteArray::number(len).size() + body.size() != len)
        ++len;
    return QByteArray::number(len) + body;
}

std::optional<FormatError> openAll(ByteView v, std::vector<TarMember> *members = nullptr)
{
    try {
        const TarReader tar(v, "test.tar");
        for (const TarMember &m : tar.members())
            if (m.offset + m.size > v.size || tar.bytes(m).size != m.size)
                qFatal("member '%s' reaches past the end of the file", m.name.c_str());
        if (members)
            *members = tar.members();
    } catch (const FormatError &e) {
        return e;
    } catch (const std::exception &e) {
        qFatal("unexpected exception (not FormatError): %s", e.what());
    }
    return std::nullopt;
}

bool errorIsLocated(const FormatError &e, std::uint64_t fileSize)
{
    return !e.record().empty() && e.hasOffset() && e.offset() <= fileSize
           && std::string(e.what()).find("at byte ") != std::string::npos;
}

} // namespace

class TestTarReader : public QObject
{
    Q_OBJECT

private slots:
    void fixtures_data();
    void fixtures();
    void probe_data();
    void probe();
    void handMade_data();
    void handMade();
    void truncatedEverywhere_data();
    void truncatedEverywhere();
    void flippedHeaderBytes();
};

void TestTarReader::fixtures_data()
{
    QTest::addColumn<QString>("file");
    for (const char *f : {"ustar.tar", "gnu.tar", "pax.tar", "base256.tar", "v7.tar",
                          "signed_checksum.tar"})
        QTest::newRow(f) << QString::fromLatin1(f);
}

void TestTarReader::fixtures()
{
    QFETCH(QString, file);
    const Json facts = Json::parse(readFixture(file + QStringLiteral(".json")).toStdString());
    const Buffer buf(readFixture(file));
    QCOMPARE(buf.size, facts["size"].get<std::uint64_t>());
    const TarReader tar(buf.view(), file.toStdString());
    const Json &expected = facts["members"];
    QCOMPARE(tar.members().size(), expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
        const Json &x = expected[i];
        const TarMember &m = tar.members()[i];
        QCOMPARE(QString::fromStdString(m.name),
                 QString::fromStdString(x["name"].get<std::string>()));
        QCOMPARE(m.size, x["size"].get<std::uint64_t>());
        QCOMPARE(m.offset, x["offset"].get<std::uint64_t>());
        QCOMPARE(QString(QLatin1Char(m.type)),
                 QString::fromStdString(x["type"].get<std::string>()));
        QCOMPARE(tar.find(m.name), &m);
        const QByteArray data = toQt(tar.bytes(m));
        QCOMPARE(QCryptographicHash::hash(data, QCryptographicHash::Sha256).toHex(),
                 QByteArray::fromStdString(x["sha256"].get<std::string>()));
        if (x.contains("payloadHex"))
            QCOMPARE(data.toHex(), QByteArray::fromStdString(x["payloadHex"].get<std::string>()));
    }
    QCOMPARE(tar.find("no-such-member"), nullptr);
}

void TestTarReader::probe_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<bool>("expected");
    for (const char *f : {"ustar.tar", "gnu.tar", "pax.tar", "base256.tar", "v7.tar",
                          "signed_checksum.tar"})
        QTest::newRow(f) << readFixture(QString::fromLatin1(f)) << true;
    QByteArray bad = readFixture(QStringLiteral("ustar.tar"));
    bad[0] = char(bad[0] ^ 1);
    QTest::newRow("bad checksum") << bad << false;
    QTest::newRow("zip") << readFixture(QStringLiteral("stored.zip")) << false;
    QTest::newRow("zeros") << QByteArray(1024, '\0') << false;
    QTest::newRow("short") << readFixture(QStringLiteral("ustar.tar")).left(511) << false;
    QTest::newRow("empty") << QByteArray() << false;
    QTest::newRow("text") << QByteArray(600, 'a') << false;
}

void TestTarReader::probe()
{
    QFETCH(QByteArray, bytes);
    QFETCH(bool, expected);
    const Buffer buf(bytes);
    QCOMPARE(TarReader::probe(buf.view()), expected);
}

void TestTarReader::handMade_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<QString>("error");          // null: must succeed
    QTest::addColumn<QString>("record");
    QTest::addColumn<QByteArrayList>("names");    // expected members when it succeeds
    QTest::addColumn<QByteArrayList>("payloads");

    const QByteArray end(1024, '\0');
    const QByteArray ustar = readFixture(QStringLiteral("ustar.tar"));

    QTest::newRow("minimal") << header("a", 3) + padded("xyz") + end << QString() << QString()
                             << QByteArrayList{"a"} << QByteArrayList{"xyz"};
    QTest::newRow("no end blocks") << header("a", 3) + padded("xyz") << QString() << QString()
                                   << QByteArrayList{"a"} << QByteArrayList{"xyz"};
    QTest::newRow("empty archive") << end << QString() << QString() << QByteArrayList{}
                                   << QByteArrayList{};
    QTest::newRow("last padding cut") << header("a", 3) + "xyz" << QString() << QString()
                                      << QByteArrayList{"a"} << QByteArrayList{"xyz"};
    {
        const QByteArray pax = paxRecord("path", "long/" + QByteArray(200, 'n'))
                               + paxRecord("size", "5") + paxRecord("mtime", "1.5");
        QTest::newRow("pax path and size override")
            << header("././@PaxHeader", quint64(pax.size()), 'x') + padded(pax)
                   + header("short", 0) + padded("12345") + header("b", 1) + padded("!") + end
            << QString() << QString()
            << QByteArrayList{"long/" + QByteArray(200, 'n'), "b"}
            << QByteArrayList{"12345", "!"};
    }
    {
        QByteArray h = header("big", 0);
        put(h, 124, QByteArray("\x80\0\0\0\0\0\0\0\0\0\0\x04", 12));
        fixChecksum(h, 0);
        QTest::newRow("base-256 size") << h + padded("abcd") + end << QString() << QString()
                                       << QByteArrayList{"big"} << QByteArrayList{"abcd"};
    }
    {
        QByteArray h = header("prefixed", 2);
        put(h, 345, "dir/sub");
        fixChecksum(h, 0);
        QTest::newRow("ustar prefix field") << h + padded("ok") + end << QString() << QString()
                                            << QByteArrayList{"dir/sub/prefixed"}
                                            << QByteArrayList{"ok"};
    }
    QTest::newRow("non-regular members skipped")
        << header("d/", 0, '5') + header("l", 999, '2') + header("f", 1) + padded("z") + end
        << QString() << QString() << QByteArrayList{"f"} << QByteArrayList{"z"};

    QByteArray badSum = ustar;
    badSum[0] = 't'; // 'storages' -> 'ttorages', checksum not updated
    QTest::newRow("bad checksum") << badSum << QStringLiteral("tar header checksum mismatch")
                                  << QStringLiteral("ttorages") << QByteArrayList{}
                                  << QByteArrayList{};
    QByteArray sumText = ustar;
    put(sumText, 148, "zzzzzz");
    QTest::newRow("checksum not octal") << sumText << QStringLiteral("not an octal number")
                                        << QStringLiteral("storages") << QByteArrayList{}
                                        << QByteArrayList{};
    {
        QByteArray h = header("s", 0);
        put(h, 124, "12x45678901");
        fixChecksum(h, 0);
        QTest::newRow("size not octal") << h + end << QStringLiteral("size is not an octal number")
                                        << QStringLiteral("s") << QByteArrayList{}
                                        << QByteArrayList{};
    }
    {
        QByteArray h = header("neg", 0);
        put(h, 124, QByteArray(12, '\xFF'));
        fixChecksum(h, 0);
        QTest::newRow("base-256 negative") << h + end << QStringLiteral("negative")
                                           << QStringLiteral("neg") << QByteArrayList{}
                                           << QByteArrayList{};
    }
    {
        QByteArray h = header("huge", 0);
        put(h, 124, QByteArray(1, '\x80') + QByteArray(11, '\xFF'));
        fixChecksum(h, 0);
        QTest::newRow("base-256 overflow") << h + end << QStringLiteral("does not fit in 64 bits")
                                           << QStringLiteral("huge") << QByteArrayList{}
                                           << QByteArrayList{};
    }
    QTest::newRow("truncated member")
        << ustar.left(1536 + 300) << QStringLiteral("runs past the end of the file")
        << QStringLiteral("tensors") << QByteArrayList{} << QByteArrayList{};
    QTest::newRow("8 GiB member") << header("big", 0x1FFFFFFFFull) + end
                                  << QStringLiteral("tar member data (8589934591 bytes) runs past")
                                  << QStringLiteral("big") << QByteArrayList{}
                                  << QByteArrayList{};
    QTest::newRow("partial header") << header("a", 1) + padded("z") + QByteArray(100, 'q')
                                    << QStringLiteral("tar header needs 512 bytes")
                                    << QStringLiteral("tar header") << QByteArrayList{}
                                    << QByteArrayList{};
    {
        const QByteArray pax = "99 path=x\n";
        QTest::newRow("malformed pax record")
            << header("p", quint64(pax.size()), 'x') + padded(pax) + header("f", 0) + end
            << QStringLiteral("malformed PAX") << QStringLiteral("p") << QByteArrayList{}
            << QByteArrayList{};
    }
    {
        const QByteArray pax = paxRecord("size", "12z");
        QTest::newRow("pax size not a number")
            << header("p", quint64(pax.size()), 'x') + padded(pax) + header("f", 0) + end
            << QStringLiteral("PAX size '12z' is not a number") << QStringLiteral("p")
            << QByteArrayList{} << QByteArrayList{};
    }
    {
        const QByteArray pax = paxRecord("size", "100000");
        QTest::newRow("pax size past EOF")
            << header("p", quint64(pax.size()), 'x') + padded(pax) + header("f", 0) + end
            << QStringLiteral("runs past the end of the file") << QStringLiteral("f")
            << QByteArrayList{} << QByteArrayList{};
    }
    QTest::newRow("GNU long name past EOF")
        << header("././@LongLink", 4096, 'L') + QByteArray(100, 'x')
        << QStringLiteral("runs past the end of the file") << QStringLiteral("././@LongLink")
        << QByteArrayList{} << QByteArrayList{};
}

void TestTarReader::handMade()
{
    QFETCH(QByteArray, bytes);
    QFETCH(QString, error);
    QFETCH(QString, record);
    QFETCH(QByteArrayList, names);
    QFETCH(QByteArrayList, payloads);
    const Buffer buf(bytes);
    std::vector<TarMember> members;
    const std::optional<FormatError> e = openAll(buf.view(), &members);
    if (error.isNull()) {
        if (e)
            QFAIL(e->what());
        QCOMPARE(members.size(), std::size_t(names.size()));
        for (std::size_t i = 0; i < members.size(); ++i) {
            QCOMPARE(QByteArray::fromStdString(members[i].name), names[qsizetype(i)]);
            QCOMPARE(toQt(buf.view().sub(members[i].offset, members[i].size)),
                     payloads[qsizetype(i)]);
        }
        return;
    }
    QVERIFY2(e.has_value(), "expected an error");
    QVERIFY2(QString::fromUtf8(e->what()).contains(error), e->what());
    QCOMPARE(QString::fromStdString(e->record()), record);
    QVERIFY2(errorIsLocated(*e, buf.size), e->what());
}

void TestTarReader::truncatedEverywhere_data()
{
    QTest::addColumn<QString>("file");
    for (const char *f : {"ustar.tar", "gnu.tar", "pax.tar"})
        QTest::newRow(f) << QString::fromLatin1(f);
}

void TestTarReader::truncatedEverywhere()
{
    // Every prefix either fails with a located error or lists a prefix of the members, each
    // complete.
    QFETCH(QString, file);
    const QByteArray bytes = readFixture(file);
    std::vector<TarMember> all;
    QVERIFY(!openAll(Buffer(bytes).view(), &all));
    int failures = 0;
    for (qsizetype n = 0; n < bytes.size(); ++n) {
        const Buffer buf(bytes.left(n));
        std::vector<TarMember> members;
        const std::optional<FormatError> e = openAll(buf.view(), &members);
        if (e) {
            ++failures;
            QVERIFY2(errorIsLocated(*e, buf.size), e->what());
            continue;
        }
        QVERIFY(members.size() <= all.size());
        for (std::size_t i = 0; i < members.size(); ++i) {
            QCOMPARE(members[i].name, all[i].name);
            QCOMPARE(members[i].size, all[i].size);
        }
    }
    QVERIFY(failures > 0);
}

void TestTarReader::flippedHeaderBytes()
{
    // Every byte of every header block of gnu.tar (long names) and pax.tar flipped.
    for (const char *f : {"gnu.tar", "pax.tar", "ustar.tar"}) {
        const QByteArray bytes = readFixture(QString::fromLatin1(f));
        const qsizetype limit = qMin<qsizetype>(bytes.size(), 6144);
        for (qsizetype i = 0; i < limit; ++i) {
            for (const int mask : {0xFF, 0x01, 0x80}) {
                QByteArray b = bytes;
                b[i] = char(b[i] ^ mask);
                const Buffer buf(b);
                const std::optional<FormatError> e = openAll(buf.view());
                if (e)
                    QVERIFY2(errorIsLocated(*e, buf.size), e->what());
            }
        }
    }
}

QTEST_GUILESS_MAIN(TestTarReader)
#include "tst_tarreader.moc"
