// SPDX-License-Identifier: MIT
// A 4.4 GB ZIP64 checkpoint laid out byte for byte as torch.save writes one (FORMAT.md 1.2 and
// the dump in section 9: `torch.save({'big': torch.zeros(4_400_000_000, dtype=torch.uint8),
// 'small': torch.arange(4, dtype=torch.int32)})`). The 4.4 GB record is a hole in a sparse file,
// so the test writes a few KB and runs in well under a second. (The benchmark makes the real
// one with torch.)

#include "inspectreport.h"

#include <QFile>
#include <QTemporaryDir>
#include <QTest>

#include <fcntl.h>
#include <unistd.h>

using namespace ckpt;

namespace {

constexpr std::uint64_t kBig = 4'400'000'000ull;

void le(std::string &b, std::uint64_t v, int n)
{
    for (int i = 0; i < n; ++i)
        b.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

/// The protocol-2 pickle torch writes for {'big': uint8[4.4e9], 'small': int32[4]}
/// (FORMAT.md 1.4), assembled opcode by opcode.
std::string pickle()
{
    std::string p;
    auto op = [&](char c) { p.push_back(c); };
    auto put = [&](int memo) { op('q'); op(static_cast<char>(memo)); };
    auto str = [&](const std::string &s) { op('X'); le(p, s.size(), 4); p += s; };
    auto global = [&](const std::string &module, const std::string &name) { op('c'); p += module + '\n' + name + '\n'; };
    auto small = [&](int v) { op('K'); op(static_cast<char>(v)); };
    // LONG1 with 5 bytes: 4,400,000,000 = 0x01_0642_AC00, little-endian two's complement.
    auto bigInt = [&]() { op('\x8a'); op('\x05'); le(p, kBig, 5); };
    auto tensor = [&](const std::string &storage, const std::string &key, bool big) {
        global("torch._utils", "_rebuild_tensor_v2");
        put(2);
        op('(');
        op('(');
        str("storage");
        put(3);
        global("torch", storage);
        put(4);
        str(key);
        str("cpu");
        put(5);
        big ? bigInt() : small(4);
        op('t');
        put(6);
        op('Q');
        small(0);
        big ? bigInt() : small(4);
        op('\x85');
        put(7);
        small(1);
        op('\x85');
        put(8);
        op('\x89');
        global("collections", "OrderedDict");
        put(9);
        op(')');
        op('R');
        put(10);
        op('t');
        put(11);
        op('R');
        put(12);
    };
    op('\x80');
    op('\x02');
    op('}');
    put(0);
    op('(');
    str("big");
    put(1);
    tensor("ByteStorage", "0", true);
    str("small");
    put(13);
    tensor("IntStorage", "1", false);
    op('u');
    op('.');
    return p;
}

struct Record
{
    std::string name;
    std::uint64_t size = 0;
    std::string data; // empty for the hole
    std::uint64_t lho = 0;
    std::uint32_t crc = 0;
};

/// Appends a local header whose data starts 64-byte aligned, as torch's writer does
/// (ZIP64 extra first when needed, then the 'FB' padding extra).
void localHeader(std::string &out, std::uint64_t base, Record &r)
{
    r.lho = base + out.size();
    std::string extra;
    if (r.size >= 0xFFFFFFFFull) {
        le(extra, 0x0001, 2);
        le(extra, 16, 2);
        le(extra, r.size, 8);
        le(extra, 0, 8);
    } else if (r.lho >= 0xFFFFFFFFull) {
        le(extra, 0x0001, 2);
        le(extra, 8, 2);
        le(extra, r.lho, 8);
    }
    const std::uint64_t before = r.lho + 30 + r.name.size() + extra.size() + 4;
    const std::uint64_t pad = (64 - before % 64) % 64;
    le(extra, 0x4246, 2);
    le(extra, pad, 2);
    extra.append(pad, 'Z');
    le(out, 0x04034b50, 4);
    le(out, 0, 2);
    le(out, 0x0808, 2);
    le(out, 0, 2);
    le(out, 0, 4);
    le(out, 0, 4);
    le(out, 0, 4);
    le(out, 0, 4);
    le(out, r.name.size(), 2);
    le(out, extra.size(), 2);
    out += r.name;
    out += extra;
}

void descriptor(std::string &out, const Record &r)
{
    le(out, 0x08074b50, 4);
    le(out, r.crc, 4);
    const int n = r.size >= 0xFFFFFFFFull ? 8 : 4;
    le(out, r.size, n);
    le(out, r.size, n);
}

bool writeAt(int fd, std::uint64_t offset, const std::string &bytes)
{
    return ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset)) == static_cast<ssize_t>(bytes.size());
}

/// Writes the archive; returns the data offset of the small record.
bool writeArchive(const QString &path)
{
    const int fd = ::open(QFile::encodeName(path).constData(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return false;
    std::vector<Record> records{{"zip64/data.pkl", 0, pickle()},
                                {"zip64/data/0", kBig, {}},
                                {"zip64/data/1", 16, std::string("\0\0\0\0\1\0\0\0\2\0\0\0\3\0\0\0", 16)},
                                {"zip64/version", 2, "3\n"}};
    records[0].size = records[0].data.size();
    std::uint64_t at = 0;
    bool ok = true;
    for (Record &r : records) {
        std::string head;
        localHeader(head, at, r);
        ok = ok && writeAt(fd, at, head);
        at += head.size();
        if (!r.data.empty())
            ok = ok && writeAt(fd, at, r.data);
        at += r.size; // the big record stays a hole
        std::string tail;
        descriptor(tail, r);
        ok = ok && writeAt(fd, at, tail);
        at += tail.size();
    }
    const std::uint64_t cdStart = at;
    std::string cd;
    for (const Record &r : records) {
        std::string extra;
        const bool bigSize = r.size >= 0xFFFFFFFFull;
        const bool farAway = r.lho >= 0xFFFFFFFFull;
        if (bigSize || farAway) {
            le(extra, 0x0001, 2);
            le(extra, (bigSize ? 16 : 0) + (farAway ? 8 : 0), 2);
            if (bigSize) {
                le(extra, r.size, 8);
                le(extra, r.size, 8);
            }
            if (farAway)
                le(extra, r.lho, 8);
        }
        le(cd, 0x02014b50, 4);
        le(cd, 0, 2);
        le(cd, 0, 2);
        le(cd, 0x0808, 2);
        le(cd, 0, 2);
        le(cd, 0, 4);
        le(cd, r.crc, 4);
        le(cd, bigSize ? 0xFFFFFFFFull : r.size, 4);
        le(cd, bigSize ? 0xFFFFFFFFull : r.size, 4);
        le(cd, r.name.size(), 2);
        le(cd, extra.size(), 2);
        le(cd, 0, 2);
        le(cd, 0, 2);
        le(cd, 0, 2);
        le(cd, 0, 4);
        le(cd, farAway ? 0xFFFFFFFFull : r.lho, 4);
        cd += r.name;
        cd += extra;
    }
    const std::uint64_t eocd64 = cdStart + cd.size();
    le(cd, 0x06064b50, 4);
    le(cd, 44, 8);
    le(cd, 0, 2);
    le(cd, 0, 2);
    le(cd, 0, 4);
    le(cd, 0, 4);
    le(cd, records.size(), 8);
    le(cd, records.size(), 8);
    le(cd, eocd64 - cdStart, 8);
    le(cd, cdStart, 8);
    le(cd, 0x07064b50, 4);
    le(cd, 0, 4);
    le(cd, eocd64, 8);
    le(cd, 1, 4);
    le(cd, 0x06054b50, 4);
    le(cd, 0, 2);
    le(cd, 0, 2);
    le(cd, records.size(), 2);
    le(cd, records.size(), 2);
    le(cd, eocd64 - cdStart, 4);
    le(cd, 0xFFFFFFFFull, 4);
    le(cd, 0, 2);
    ok = ok && writeAt(fd, cdStart, cd);
    ::close(fd);
    return ok;
}

} // namespace

class TestZip64 : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void bigArchive()
    {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const QString path = dir.filePath(QStringLiteral("zip64.pt"));
        QVERIFY(writeArchive(path));
        QVERIFY(QFile(path).size() > static_cast<qint64>(kBig));

        const auto data = format::readCheckpoint(path.toStdString());
        QVERIFY(data);
        QVERIFY2(data->ok(), data->error ? data->error->text().c_str() : "");
        QCOMPARE(data->format, format::ContainerFormat::TorchZip);
        QCOMPARE(data->archivePrefix, std::string("zip64"));
        const Json ls = lsReport(*data);
        QCOMPARE(ls["tensors"].size(), 2u);
        const Json &big = ls["tensors"][0];
        QCOMPARE(big["path"].get<std::string>(), std::string("big"));
        QCOMPARE(big["dtype"].get<std::string>(), std::string("uint8"));
        QCOMPARE(big["shape"][0].get<std::uint64_t>(), kBig);
        QCOMPARE(big["nbytes"].get<std::uint64_t>(), kBig);
        // The small record lies beyond 4 GiB: its offset came from a ZIP64 extra.
        const auto &small = data->storages.at(1);
        QVERIFY(small.bytes.fileOffset > 0xFFFFFFFFull);
        QCOMPARE(small.bytes.fileOffset % 64, 0u);
        QCOMPARE(data->storages.at(0).bytes.fileOffset % 64, 0u);

        StatsSelection request;
        request.patterns = {"small"};
        const Json stats = statsReport(*data, request);
        QCOMPARE(stats["stats"].size(), 1u);
        const Json &s = stats["stats"][0];
        QCOMPARE(s["min"].get<double>(), 0.0);
        QCOMPARE(s["max"].get<double>(), 3.0);
        QCOMPARE(s["mean"].get<double>(), 1.5);
        QCOMPARE(s["zeros"].get<int>(), 1);
    }
};

QTEST_GUILESS_MAIN(TestZip64)
#include "tst_zip64.moc"
