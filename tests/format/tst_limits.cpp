// SPDX-License-Identifier: MIT
// Issue 6, part 3 (PRODUCT.md section 6): bounded resources. No input smaller than 1 MB makes
// the reader allocate more than 256 MB or work longer than 2 s; declared lengths, counts,
// shapes, strides and offsets are validated before use; recursion depth and memo size are
// capped. Each case is a hand-made hostile input; the test measures the time and the peak of
// what the reader allocates (a counting operator new in this binary) for each.
// tst_damaged covers truncation, flipped bytes, a BINUNICODE claiming 2 GiB, a missing data.pkl,
// short records and an off-by-one legacy count; this file covers the resource limits.
#include "checkpointreader.h"
#include "formaterror.h"
#include "tensorstats.h"

#include <QElapsedTimer>
#include <QFile>
#include <QTest>

#include <zlib.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include <malloc.h>

#include "allocationcounter.h"

using namespace ckpt::format;
using namespace std::string_literals;

namespace {

constexpr std::int64_t kMaxAlloc = 256ll << 20;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr qint64 kMaxMs = 2000 * 8; // the sanitizer pass runs everything several times slower
#else
constexpr qint64 kMaxMs = 2000;
#endif

std::string le(std::uint64_t v, int bytes)
{
    std::string out;
    for (int i = 0; i < bytes; ++i)
        out += static_cast<char>((v >> (8 * i)) & 0xFF);
    return out;
}

// --- pickle pieces ---------------------------------------------------------------------------
std::string str(const std::string &s) { return "X" + le(s.size(), 4) + s; }      // BINUNICODE
std::string intOp(std::int64_t v)                                                  // LONG1
{
    std::string b;
    std::int64_t x = v;
    for (int i = 0; i < 8; ++i)
        b += static_cast<char>((static_cast<std::uint64_t>(x) >> (8 * i)) & 0xFF);
    return "\x8a\x08" + b;
}
std::string tuple(const std::vector<std::int64_t> &v)
{
    std::string out = "(";
    for (auto x : v)
        out += intOp(x);
    return out + "t";
}
/// torch._utils._rebuild_tensor_v2(storage 'key' of `numel` floats, offset, shape, stride)
std::string tensorPickle(const std::string &key, std::int64_t numel, std::int64_t offset,
                         const std::vector<std::int64_t> &shape, const std::vector<std::int64_t> &stride)
{
    return "ctorch._utils\n_rebuild_tensor_v2\n(" + std::string("(") + str("storage")
           + "ctorch\nFloatStorage\n" + str(key) + str("cpu") + intOp(numel) + "tQ" + intOp(offset)
           + tuple(shape) + tuple(stride) + "\x89" + "ccollections\nOrderedDict\n)Rt" + "R";
}
std::string stateDict(const std::string &tensor)
{
    return "\x80\x02}(" + str("w") + tensor + "u.";
}

// --- a stored zip in torch's layout ------------------------------------------------------------
struct Member
{
    Member(std::string n, std::string d, bool def = false) : name(std::move(n)), data(std::move(d)), deflate(def) {}
    std::string name;
    std::string data;
    bool deflate = false;
    // Set instead of `data` for huge records: deflated bytes, inflated size and CRC.
    std::string payload;
    std::uint64_t rawSize = 0;
    std::uint32_t rawCrc = 0;
};

/// `head`, then `zeros` zero bytes, then `tail`, deflated without ever holding the whole.
Member deflatedZeros(const std::string &name, const std::string &head, std::uint64_t zeros, const std::string &tail)
{
    Member m(name, {}, true);
    m.rawSize = head.size() + zeros + tail.size();
    z_stream zs{};
    deflateInit2(&zs, 1, Z_DEFLATED, -MAX_WBITS, 9, Z_RLE); // RLE: as small as level 9 on zeros, many times faster
    const std::string chunk(1u << 20, '\0');
    std::string out(1u << 16, '\0');
    uLong crc = crc32(0, nullptr, 0);
    auto feed = [&](const char *p, std::size_t n, int flush) {
        crc = crc32(crc, reinterpret_cast<const Bytef *>(p), static_cast<uInt>(n));
        zs.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(p));
        zs.avail_in = static_cast<uInt>(n);
        do {
            zs.next_out = reinterpret_cast<Bytef *>(out.data());
            zs.avail_out = static_cast<uInt>(out.size());
            deflate(&zs, flush);
            m.payload.append(out.data(), out.size() - zs.avail_out);
        } while (zs.avail_out == 0);
    };
    feed(head.data(), head.size(), Z_NO_FLUSH);
    for (std::uint64_t left = zeros; left > 0;) {
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, chunk.size()));
        feed(chunk.data(), n, Z_NO_FLUSH);
        left -= n;
    }
    feed(tail.data(), tail.size(), Z_FINISH);
    deflateEnd(&zs);
    m.rawCrc = static_cast<std::uint32_t>(crc);
    return m;
}

std::string deflated(const std::string &raw)
{
    z_stream zs{};
    deflateInit2(&zs, 1, Z_DEFLATED, -MAX_WBITS, 9, Z_RLE); // RLE: as small as level 9 on zeros, many times faster
    std::string out(deflateBound(&zs, raw.size()), '\0');
    zs.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(raw.data()));
    zs.avail_in = static_cast<uInt>(raw.size());
    zs.next_out = reinterpret_cast<Bytef *>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    deflate(&zs, Z_FINISH);
    out.resize(zs.total_out);
    deflateEnd(&zs);
    return out;
}

std::string makeZip(const std::vector<Member> &members)
{
    std::string file, central;
    for (const Member &m : members) {
        const bool huge = !m.payload.empty();
        const std::string payload = huge ? m.payload : m.deflate ? deflated(m.data) : m.data;
        const auto crc = huge ? m.rawCrc
                              : static_cast<std::uint32_t>(crc32(0, reinterpret_cast<const Bytef *>(m.data.data()),
                                                                 static_cast<uInt>(m.data.size())));
        const std::uint64_t rawSize = huge ? m.rawSize : m.data.size();
        const std::uint16_t method = m.deflate ? 8 : 0;
        const std::uint64_t at = file.size();
        file += "PK\x03\x04" + le(20, 2) + le(0, 2) + le(method, 2) + le(0, 4) + le(crc, 4) + le(payload.size(), 4)
                + le(rawSize, 4) + le(m.name.size(), 2) + le(0, 2) + m.name + payload;
        central += "PK\x01\x02" + le(20, 2) + le(20, 2) + le(0, 2) + le(method, 2) + le(0, 4) + le(crc, 4)
                   + le(payload.size(), 4) + le(rawSize, 4) + le(m.name.size(), 2) + le(0, 2) + le(0, 2)
                   + le(0, 2) + le(0, 2) + le(0, 4) + le(at, 4) + m.name;
    }
    const std::uint64_t cd = file.size();
    file += central;
    if (members.size() > 0xFFFF) {
        // ZIP64 end record and locator for the count that does not fit 16 bits.
        const std::uint64_t z64 = file.size();
        file += "PK\x06\x06" + le(44, 8) + le(45, 2) + le(45, 2) + le(0, 4) + le(0, 4) + le(members.size(), 8)
                + le(members.size(), 8) + le(central.size(), 8) + le(cd, 8);
        file += "PK\x06\x07" + le(0, 4) + le(z64, 8) + le(1, 4);
        file += "PK\x05\x06" + le(0, 2) + le(0, 2) + le(0xFFFF, 2) + le(0xFFFF, 2) + le(central.size(), 4)
                + le(cd, 4) + le(0, 2);
        return file;
    }
    file += "PK\x05\x06" + le(0, 2) + le(0, 2) + le(members.size(), 2) + le(members.size(), 2)
            + le(central.size(), 4) + le(cd, 4) + le(0, 2);
    return file;
}

std::string torchZip(const std::string &pickle, const std::vector<Member> &records = {})
{
    std::vector<Member> m{{"archive/data.pkl", pickle}};
    m.insert(m.end(), records.begin(), records.end());
    m.push_back({"archive/version", "3\n"});
    return makeZip(m);
}

struct Measured
{
    std::shared_ptr<const CheckpointData> data;
    qint64 ms = 0;
    std::int64_t peak = 0;
};

/// Reads `bytes` (and touches what a user could ask for: every tensor's view, and statistics
/// of the small ones) measuring time and peak allocation.
Measured measure(const std::string &bytes, const ReadLimits &limits = {})
{
    Measured m;
    const std::int64_t base = g_current.load();
    g_peak.store(base);
    QElapsedTimer timer;
    timer.start();
    m.data = readCheckpointBytes({reinterpret_cast<const std::uint8_t *>(bytes.data()), bytes.size()}, "hostile",
                                 limits);
    if (m.data) {
        for (std::size_t i = 0; i < m.data->tensors.size(); ++i) {
            const TensorViewResult v = tensorView(*m.data, static_cast<int>(i));
            if (v.view && v.view->numel() < (1u << 20)) {
                StatsOptions o;
                o.threads = 2;
                computeStats(*v.view, o);
            }
        }
    }
    m.ms = timer.elapsed();
    m.peak = g_peak.load() - base;
    return m;
}

#define CHECK_BOUNDS(m, inputSize)                                                                          \
    do {                                                                                                    \
        QVERIFY((m).data);                                                                                  \
        QVERIFY2((m).ms <= kMaxMs, qPrintable(QStringLiteral("took %1 ms").arg((m).ms)));                   \
        QVERIFY2((m).peak <= kMaxAlloc,                                                                     \
                 qPrintable(QStringLiteral("allocated %1 MB at peak").arg((m).peak >> 20)));                \
        QVERIFY((inputSize) < (1u << 20));                                                                  \
    } while (false)


} // namespace

class TestLimits : public QObject
{
    Q_OBJECT
private slots:
    void counterCountsAllocations()
    {
        // The measuring instrument itself: a 64 MB vector shows as >= 64 MB at peak.
        const std::int64_t base = g_current.load();
        g_peak.store(base);
        {
            std::vector<char> v(64u << 20);
            v[123] = 1;
            QVERIFY(v[123] == 1);
        }
        QVERIFY(g_peak.load() - base >= (64 << 20));
        QVERIFY(g_current.load() - base < (1 << 20));
    }

    /// Declared lengths far beyond the input: rejected at the opcode, nothing allocated.
    void hugeDeclaredLengths_data()
    {
        QTest::addColumn<QByteArray>("pickle");
        QTest::addColumn<qint64>("opcodeAt");
        const std::uint64_t e60 = 1ull << 60;
        auto row = [](const char *name, const std::string &p, qint64 at) {
            QTest::newRow(name) << QByteArray(p.data(), static_cast<qsizetype>(p.size())) << at;
        };
        row("BINUNICODE8 2^60", "\x80\x04\x8d" + le(e60, 8) + "abc.", 2);
        row("BINBYTES8 2^60", "\x80\x04\x8e" + le(e60, 8) + "abc.", 2);
        row("BYTEARRAY8 2^60", "\x80\x05\x96" + le(e60, 8) + "abc.", 2);
        row("FRAME 2^60", "\x80\x04\x95" + le(e60, 8) + "N.", 2);
        row("BINUNICODE8 2^64-1", "\x80\x04\x8d" + le(~0ull, 8) + "abc.", 2);
        row("BINUNICODE 4 GiB", "\x80\x02X" + le(0xFFFFFFFFu, 4) + "abc.", 2);
        row("LONG4 2 GiB", "\x80\x02\x8b" + le(0x7FFFFFFFu, 4) + "abc.", 2);
        row("BINSTRING 2 GiB", "\x80\x02T" + le(0x7FFFFFFFu, 4) + "abc.", 2);
    }
    void hugeDeclaredLengths()
    {
        QFETCH(QByteArray, pickle);
        QFETCH(qint64, opcodeAt);
        const std::string bytes(pickle.constData(), static_cast<std::size_t>(pickle.size()));
        for (const std::string &input : {bytes, torchZip(bytes)}) {
            const Measured m = measure(input);
            CHECK_BOUNDS(m, input.size());
            QVERIFY(m.data->error);
            QVERIFY(m.peak < (1 << 20));
            if (input.size() == bytes.size()) {
                QCOMPARE(m.data->error->offset, static_cast<std::uint64_t>(opcodeAt));
            } else {
                QVERIFY2(m.data->error->record.find("data.pkl") != std::string::npos, m.data->error->text().c_str());
            }
        }
    }

    /// A pickle whose integers are huge (LONG4 of 900 KB): parsed in bounded time.
    void hugeIntegers()
    {
        const std::string digits(900000, '\x7f');
        const std::string input = "\x80\x02\x8b" + le(digits.size(), 4) + digits + ".";
        const Measured m = measure(input);
        CHECK_BOUNDS(m, input.size());
    }

    /// Shapes whose element count overflows 64 bits, negative dimensions, and strides or
    /// offsets that point outside the storage: the listing shows the tensor, but no view is
    /// ever made (so nothing reads outside the record).
    void shapesAndStridesValidated_data()
    {
        QTest::addColumn<QByteArray>("tensor");
        auto row = [](const char *name, const std::string &t) {
            QTest::newRow(name) << QByteArray(t.data(), static_cast<qsizetype>(t.size()));
        };
        const std::int64_t e32 = 1ll << 32;
        row("shape product 2^32*2^32*16", tensorPickle("0", 16, 0, {e32, e32, 16}, {0, 0, 1}));
        row("shape product 2^63 * 2", tensorPickle("0", 16, 0, {1ll << 62, 4}, {1, 1}));
        row("negative dimension", tensorPickle("0", 16, 0, {-4, 4}, {4, 1}));
        row("stride past the storage", tensorPickle("0", 16, 0, {4, 4}, {1000, 1}));
        row("huge stride", tensorPickle("0", 16, 0, {2, 2}, {1ll << 62, 1}));
        row("negative stride", tensorPickle("0", 16, 0, {4, 4}, {-4, 1}));
        row("offset past the storage", tensorPickle("0", 16, 17, {1}, {1}));
        row("offset 2^62", tensorPickle("0", 16, 1ll << 62, {2}, {1}));
        row("offset + extent overflows", tensorPickle("0", 16, INT64_MAX - 1, {4}, {1ll << 61}));
        row("storage numel 2^62", tensorPickle("0", 1ll << 62, 0, {4}, {1}));
        row("storage numel negative", tensorPickle("0", -5, 0, {4}, {1}));
    }
    void shapesAndStridesValidated()
    {
        QFETCH(QByteArray, tensor);
        const std::string record(64, '\0'); // 16 floats
        const std::string input = torchZip(stateDict(std::string(tensor.constData(), static_cast<std::size_t>(tensor.size()))),
                                           {{"archive/data/0", record}});
        const Measured m = measure(input);
        CHECK_BOUNDS(m, input.size());
        QVERIFY(m.peak < (4 << 20));
        for (std::size_t i = 0; i < m.data->tensors.size(); ++i) {
            const TensorViewResult v = tensorView(*m.data, static_cast<int>(i));
            QVERIFY2(!v.view, "a view was made of a tensor that does not fit its storage");
            QVERIFY(!v.error.empty());
        }
        // Either the tensor is listed (without data) or the file is reported.
        QVERIFY(m.data->error || !m.data->tensors.empty() || !m.data->warnings.empty());
    }

    /// A million nested lists, built two ways (MARK ... LIST chains and EMPTY_LIST + APPEND
    /// chains): no stack overflow in the pickle machine or in any walk over the result.
    void millionNestedLists_data()
    {
        QTest::addColumn<int>("how");
        QTest::newRow("MARK/LIST") << 0;
        QTest::newRow("EMPTY_LIST/APPEND") << 1;
        QTest::newRow("EMPTY_DICT/SETITEM") << 2;
        QTest::newRow("MARK/TUPLE") << 3;
    }
    void millionNestedLists()
    {
        QFETCH(int, how);
        // 500,000 levels keep each input under 1 MB; the 1,000,000-level form follows.
        for (const int levels : {500000, 1000000}) {
            std::string p = "\x80\x02";
            switch (how) {
            case 0:
                p += std::string(static_cast<std::size_t>(levels), '(') + std::string(static_cast<std::size_t>(levels), 'l');
                break;
            case 1:
                p += std::string(static_cast<std::size_t>(levels), ']') + std::string(static_cast<std::size_t>(levels - 1), 'a');
                break;
            case 2:
                // key 'K\x00' then the inner dict: {0: {0: {...}}}
                for (int i = 0; i < levels / 2; ++i)
                    p += "}K\x00"s;
                p += "}";
                p += std::string(static_cast<std::size_t>(levels / 2), 's');
                break;
            case 3:
                p += std::string(static_cast<std::size_t>(levels), '(') + std::string(static_cast<std::size_t>(levels), 't');
                break;
            }
            p += ".";
            const Measured m = measure(p);
            if (p.size() < (1u << 20)) {
                CHECK_BOUNDS(m, p.size());
            } else {
                // Over 1 MB the bounds are not promised; it must still finish, sanely.
                QVERIFY(m.data);
                QVERIFY2(m.ms <= 3 * kMaxMs, qPrintable(QStringLiteral("took %1 ms").arg(m.ms)));
                QVERIFY(m.peak <= 2 * kMaxAlloc);
            }
            QVERIFY(m.data->root || m.data->error);
        }
    }

    /// A list containing itself, two containers containing each other, and a memo "bomb":
    /// 100 levels of lists holding the level below twice (2^100 paths to the tensor at the
    /// bottom). Walks terminate and the listing is capped with a warning.
    void memoSelfReferencesAndCycles()
    {
        // l = []; l.append(l)
        const std::string self = "\x80\x02]q\x00h\x00" "a."s;
        // d = {}; l = [d]; d['l'] = l
        const std::string cycle = "\x80\x02}q\x00]q\x01h\x00" "a" "h\x00"s + str("l") + "h\x01" "s" "h\x01."s;
        for (const std::string &p : {self, cycle}) {
            const Measured m = measure(p);
            CHECK_BOUNDS(m, p.size());
            QVERIFY2(m.data->ok(), m.data->ok() ? "" : m.data->error->text().c_str());
            QVERIFY(m.data->root);
        }

        // Memo bomb with a tensor at the bottom.
        std::string bomb = "\x80\x02" + tensorPickle("0", 16, 0, {16}, {1}) + "r" + le(0, 4) + "0";
        for (std::uint32_t level = 1; level <= 100; ++level)
            bomb += "(j" + le(level - 1, 4) + "j" + le(level - 1, 4) + "lr" + le(level, 4) + "0";
        bomb += "}" + str("w") + "j" + le(100, 4) + "s.";
        const std::string input = torchZip(bomb, {{"archive/data/0", std::string(64, '\0')}});
        const Measured m = measure(input);
        CHECK_BOUNDS(m, input.size());
        QCOMPARE(m.data->tensors.size(), std::size_t(1));
        QVERIFY(!m.data->paths.empty());
        QVERIFY(m.data->paths.size() < 100000000);
        bool capped = m.data->error.has_value();
        for (const auto &w : m.data->warnings)
            capped = capped || w.message.find("stopped") != std::string::npos
                     || w.message.find("shared by very many paths") != std::string::npos;
        QVERIFY2(capped, "2^100 paths were not reported as capped");
    }

    /// A memo index of 2^32-1 and a memo that grows past the limit: refused, not allocated.
    void memoSize()
    {
        // LONG_BINPUT 0xFFFFFFFF then LONG_BINGET of it: a sparse memo must not allocate 4G slots.
        const std::string sparse = "\x80\x02Nr" + le(0xFFFFFFFFu, 4) + "j" + le(0xFFFFFFFFu, 4) + ".";
        Measured m = measure(sparse);
        CHECK_BOUNDS(m, sparse.size());
        QVERIFY(m.peak < (1 << 20));

        // 100,000 MEMOIZE with a memo limit of 1,000.
        std::string many = "\x80\x04" "]";
        for (int i = 0; i < 100000; ++i)
            many += "N\x94" "a";
        many += ".";
        ReadLimits limits;
        limits.maxMemo = 1000;
        m = measure(many, limits);
        CHECK_BOUNDS(m, many.size());
        QVERIFY(m.data->error);
        QCOMPARE(m.data->error->kind, FormatError::Kind::LimitExceeded);
    }

    /// A zip whose end record claims 10^6 (and 2^64-1, via ZIP64) directory entries in a
    /// 1 KB file; one whose directory really has 20,000 entries; and one with 10^6 real
    /// entries (53 MB, over the 1 MB of the promise: it must still finish).
    void hugeZipDirectories()
    {
        std::string small = torchZip(stateDict(tensorPickle("0", 16, 0, {16}, {1})), {{"archive/data/0", std::string(64, '\0')}});
        // Patch the classic end record's counts to 10^6 does not fit 16 bits: claim 65535 with a
        // directory size of 10^6 * 46 bytes.
        {
            std::string bad = small;
            const std::size_t eocd = bad.rfind("PK\x05\x06");
            bad.replace(eocd + 8, 4, le(0xFFFF, 2) + le(0xFFFF, 2));
            bad.replace(eocd + 12, 4, le(46000000, 4));
            const Measured m = measure(bad);
            CHECK_BOUNDS(m, bad.size());
            QVERIFY(m.data->error);
            QVERIFY(m.peak < (1 << 20));
        }
        {
            // ZIP64 end record claiming 10^6 and 2^64-1 entries.
            for (const std::uint64_t claimed : {std::uint64_t(1000000), ~std::uint64_t(0)}) {
                std::string bad = small;
                const std::size_t eocd = bad.rfind("PK\x05\x06");
                const std::string classic = bad.substr(eocd);
                const std::uint64_t cdSize = loadLe32(classic, 12);
                const std::uint64_t cdOffset = loadLe32(classic, 16);
                bad.resize(eocd);
                const std::uint64_t z64 = bad.size();
                bad += "PK\x06\x06" + le(44, 8) + le(45, 2) + le(45, 2) + le(0, 4) + le(0, 4) + le(claimed, 8)
                       + le(claimed, 8) + le(cdSize, 8) + le(cdOffset, 8);
                bad += "PK\x06\x07" + le(0, 4) + le(z64, 8) + le(1, 4);
                bad += "PK\x05\x06" + le(0, 2) + le(0, 2) + le(0xFFFF, 2) + le(0xFFFF, 2) + le(0xFFFFFFFFu, 4)
                       + le(0xFFFFFFFFu, 4) + le(0, 2);
                const Measured m = measure(bad);
                CHECK_BOUNDS(m, bad.size());
                QVERIFY(m.data->error);
                QVERIFY(m.peak < (1 << 20));
            }
        }
        auto manyEntries = [](int n) {
            std::vector<Member> records;
            records.reserve(static_cast<std::size_t>(n));
            for (int i = 0; i < n; ++i)
                records.push_back({"archive/x/" + std::to_string(i), {}});
            return torchZip(stateDict(tensorPickle("0", 0, 0, {0}, {1})), records);
        };
        {
            const std::string input = manyEntries(10000);
            const Measured m = measure(input);
            CHECK_BOUNDS(m, input.size());
            QVERIFY2(m.data->ok(), m.data->ok() ? "" : m.data->error->text().c_str());
        }
        {
            const std::string input = manyEntries(1000000);
            const Measured m = measure(input);
            QVERIFY(m.data);
            QVERIFY2(m.ms <= 5 * kMaxMs, qPrintable(QStringLiteral("took %1 ms").arg(m.ms)));
            QVERIFY2(m.peak <= 2 * kMaxAlloc, qPrintable(QStringLiteral("allocated %1 MB").arg(m.peak >> 20)));
        }
    }

    /// Records that overlap each other or the directory, and a deflate "bomb" (a data.pkl of
    /// under 1 MB that inflates to 1 GB): refused before the allocation.
    void overlappingRecordsAndBombs()
    {
        const std::string good = torchZip(stateDict(tensorPickle("0", 16, 0, {16}, {1})), {{"archive/data/0", std::string(64, '\0')}});
        {
            // Point the directory entry of data/0 at data.pkl's local header.
            std::string bad = good;
            const std::size_t cd = bad.find("PK\x01\x02");
            const std::size_t second = bad.find("PK\x01\x02", cd + 4);
            bad.replace(second + 42, 4, le(0, 4));
            const Measured m = measure(bad);
            CHECK_BOUNDS(m, bad.size());
            QVERIFY(m.data->error);
            QVERIFY2(m.data->error->record.find("archive/data") != std::string::npos, m.data->error->text().c_str());
        }
        {
            // data/0's compressed size reaching into the central directory.
            std::string bad = good;
            const std::size_t cd = bad.find("PK\x01\x02");
            const std::size_t second = bad.find("PK\x01\x02", cd + 4);
            bad.replace(second + 20, 4, le(64 + 100, 4));
            const Measured m = measure(bad);
            CHECK_BOUNDS(m, bad.size());
            QVERIFY(m.data->error);
        }
        {
            // 1 GB of pickle (one BINBYTES8 of zeros) deflated to about 1 MB.
            const std::uint64_t n = 1ull << 30;
            const std::string input = makeZip({deflatedZeros("archive/data.pkl", "\x80\x04\x8e" + le(n, 8), n, "."),
                                               {"archive/version", "3\n"}});
            const Measured m = measure(input);
            CHECK_BOUNDS(m, input.size());
            QVERIFY(m.data->error);
        }
        {
            // A tensor record of 1 GB of zeros deflated to about 1 MB (a "re-zipped" checkpoint).
            const std::uint64_t n = 1ull << 30;
            const std::string input = torchZip(stateDict(tensorPickle("0", static_cast<std::int64_t>(n / 4), 0,
                                                                      {static_cast<std::int64_t>(n / 4)}, {1})),
                                               {deflatedZeros("archive/data/0", {}, n, {})});
            const Measured m = measure(input);
            CHECK_BOUNDS(m, input.size());
            QVERIFY(m.data->error);
        }
    }

    /// safetensors headers with absurd lengths, offsets and shapes.
    void safetensorsAbsurdHeaders_data()
    {
        QTest::addColumn<QByteArray>("file");
        auto row = [](const char *name, const std::string &json, std::uint64_t declared = 0, std::size_t data = 64) {
            std::string f = le(declared ? declared : json.size(), 8) + json + std::string(data, '\0');
            QTest::newRow(name) << QByteArray(f.data(), static_cast<qsizetype>(f.size()));
        };
        row("header length 2^63", "{}", 1ull << 63);
        row("header length 2^64-1", "{}", ~0ull);
        row("header length past the end", "{}", 100000);
        row("data_offsets end 2^64-1", R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,18446744073709551615]}})");
        row("data_offsets begin > end", R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[16,0]}})");
        row("data_offsets past the file", R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[1000000,1000016]}})");
        row("shape product overflows", R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,16]}})");
        row("shape with 2^64", R"({"w":{"dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,16]}})");
        row("negative dimension", R"({"w":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}})");
        row("deep JSON", std::string(100000, 0x5B) + std::string(100000, 0x5D) /* [[[...]]] */);
        std::string many = "{";
        for (int i = 0; i < 10000; ++i)
            many += (i ? "," : "") + std::string("\"t") + std::to_string(i)
                    + "\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,16]}";
        many += "}";
        row("10,000 overflowing tensors", many);
    }
    void safetensorsAbsurdHeaders()
    {
        QFETCH(QByteArray, file);
        const std::string input(file.constData(), static_cast<std::size_t>(file.size()));
        const Measured m = measure(input);
        CHECK_BOUNDS(m, input.size());
        QVERIFY(m.data->error);
        for (std::size_t i = 0; i < m.data->tensors.size(); ++i)
            QVERIFY(!tensorView(*m.data, static_cast<int>(i)).view);
    }

    /// Legacy streams whose storage element counts are 2^62, 2^64-1 and 2^63 (negative as
    /// int64): refused at the count, nothing allocated for the storage.
    void legacyHugeCounts_data()
    {
        QTest::addColumn<quint64>("count");
        QTest::newRow("2^62") << (quint64(1) << 62);
        QTest::newRow("2^64-1") << ~quint64(0);
        QTest::newRow("2^63") << (quint64(1) << 63);
    }
    void legacyHugeCounts()
    {
        QFETCH(quint64, count);
        QFile f(QStringLiteral(CKPT_FIXTURES_DIR "/files/legacy.pt"));
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QByteArray clean = f.readAll();
        const std::string original(clean.constData(), static_cast<std::size_t>(clean.size()));
        const Measured ref = measure(original);
        QVERIFY(ref.data->ok());
        std::uint64_t countAt = ~0ull;
        for (const auto &s : ref.data->storages)
            if (s.bytes.fileOffset != FormatError::kNoOffset)
                countAt = std::min(countAt, s.bytes.fileOffset - 8);
        QVERIFY(countAt != ~0ull);
        std::string bad = original;
        bad.replace(countAt, 8, le(count, 8));
        const Measured m = measure(bad);
        CHECK_BOUNDS(m, bad.size());
        QVERIFY(m.data->error);
        QCOMPARE(m.data->error->offset, countAt);
        QVERIFY(m.peak < (4 << 20));
    }

    /// A broadcast view (stride 0, what `expand` saves) of 3 stored floats claiming 3 * 2^40
    /// elements: summarised from the 3 values, each counted 2^40 times, in one step. Expected
    /// values from the definitions (PRODUCT.md 4: sample std over the finite values).
    void broadcastStatisticsAreExactAndImmediate()
    {
        const std::vector<float> stored{1.5f, -2.0f, 3.0f};
        StridedView v;
        v.storage = ByteView{reinterpret_cast<const std::uint8_t *>(stored.data()), stored.size() * sizeof(float)};
        v.dtype = DType::Float32;
        const std::uint64_t k = 1ull << 40;
        v.shape = {static_cast<std::int64_t>(k), 3};
        v.stride = {0, 1};
        StatsOptions o;
        o.bins = 5;
        const TensorStats s = computeStats(v, o);
        const long double n = 3.0L * static_cast<long double>(k);
        const long double mean = (1.5L - 2.0L + 3.0L) / 3.0L;
        long double m2 = 0;
        for (float x : stored)
            m2 += static_cast<long double>(k) * (x - mean) * (x - mean);
        QCOMPARE(s.numel, 3 * k);
        QCOMPARE(s.finite, 3 * k);
        QCOMPARE(s.zeros, 0u);
        QCOMPARE(*s.min, -2.0);
        QCOMPARE(*s.max, 3.0);
        QVERIFY(qAbs(*s.mean - static_cast<double>(mean)) < 1e-12);
        QVERIFY(qAbs(*s.std - static_cast<double>(std::sqrt(m2 / (n - 1)))) < 1e-12);
        QVERIFY(qAbs(*s.l2 - static_cast<double>(std::sqrt(static_cast<long double>(k) * (2.25L + 4.0L + 9.0L)))) < 1e-6);
        // [-2, 3] in 5 bins of width 1: -2 -> bin 0, 1.5 -> bin 3, 3 -> the last bin.
        QCOMPARE(s.hist, (std::vector<std::uint64_t>{k, 0, 0, k, k}));
    }

    /// Overlapping strides (legal in torch: as_strided) let 12 MB of storage claim 2^60
    /// elements; such statistics are real work, but Cancel must stop them at once, not at the
    /// end of a chunk of 2^44 elements (the fuzzers' tar timeout).
    void cancelInsideHugeChunks()
    {
        std::vector<float> stored(3u << 20, 0.5f);
        StridedView v;
        v.storage = ByteView{reinterpret_cast<const std::uint8_t *>(stored.data()), stored.size() * sizeof(float)};
        v.dtype = DType::Float32;
        v.shape = {1 << 20, 1 << 20, 1 << 20};
        v.stride = {1, 1, 1};
        StatsOptions o;
        o.threads = 2;
        std::atomic<int> calls{0};
        std::atomic<std::uint64_t> lastDone{0};
        o.progress = [&](std::uint64_t done, std::uint64_t) {
            ++calls;
            lastDone = done;
            return false;
        };
        bool cancelled = false;
        try {
            computeStats(v, o);
        } catch (const FormatError &e) {
            cancelled = e.kind() == FormatError::Kind::Cancelled;
        }
        QVERIFY(cancelled);
        QVERIFY(calls.load() >= 1);
        QVERIFY2(lastDone.load() < (1ull << 26), qPrintable(QString::number(lastDone.load())));
    }

    /// A record of 20 MiB + 12 bytes is checked in 8 MiB pieces on any number of workers and
    /// agrees with zlib's one-shot CRC-32 of the whole (what makeZip records); one flipped byte
    /// in the short last piece is found; Cancel stops the check within a piece.
    void crcOfLargeRecordInPieces()
    {
        const std::uint64_t numel = (5u << 20) + 3;
        std::string raw(numel * 4, '\0');
        std::uint32_t x = 12345;
        for (char &c : raw) {
            x = x * 1664525u + 1013904223u;
            c = static_cast<char>(x >> 24);
        }
        const std::string pickle = stateDict(tensorPickle("0", static_cast<std::int64_t>(numel), 0,
                                                          {static_cast<std::int64_t>(numel)}, {1}));
        const std::string intact = torchZip(pickle, {{"archive/data/0", raw}});
        const auto data = readCheckpointBytes({reinterpret_cast<const std::uint8_t *>(intact.data()), intact.size()},
                                              "large-record");
        QVERIFY(data && data->ok());
        QCOMPARE(data->storages.size(), std::size_t(1));
        QVERIFY(data->storages[0].hasCrc);
        for (unsigned threads : {1u, 2u, 3u}) {
            CrcOptions o;
            o.threads = threads;
            std::uint64_t last = 0, total = 0;
            o.progress = [&](std::uint64_t done, std::uint64_t of) {
                last = done;
                total = of;
                return true;
            };
            QVERIFY2(checkStorageCrc(*data, 0, o).empty(), qPrintable(QString::number(threads)));
            QCOMPARE(total, raw.size());
            QCOMPARE(last, raw.size());
        }

        // The same archive with its recorded CRC kept and one byte past the last 8 MiB boundary
        // changed: the tensor's bytes sit at the end of the record in the file.
        std::string flipped = intact;
        const std::size_t at = flipped.find(raw.substr(raw.size() - 64)) + 60;
        QVERIFY(at != std::string::npos + 60);
        flipped[at] = static_cast<char>(flipped[at] ^ 0x01);
        const auto bad = readCheckpointBytes({reinterpret_cast<const std::uint8_t *>(flipped.data()), flipped.size()},
                                             "large-record");
        QVERIFY(bad && bad->ok());
        const std::string problem = checkStorageCrc(*bad, 0, {{}, 2, false});
        QVERIFY2(problem.find("archive/data/0") != std::string::npos && problem.find("CRC-32") != std::string::npos,
                 problem.c_str());

        CrcOptions cancel;
        cancel.threads = 2;
        std::atomic<std::uint64_t> seen{0};
        cancel.progress = [&](std::uint64_t done, std::uint64_t) {
            seen = done;
            return false;
        };
        bool cancelled = false;
        try {
            checkStorageCrc(*data, 0, cancel);
        } catch (const FormatError &e) {
            cancelled = e.kind() == FormatError::Kind::Cancelled;
        }
        QVERIFY(cancelled);
        QVERIFY2(seen.load() < raw.size(), qPrintable(QString::number(seen.load())));
    }

private:
    static std::uint64_t loadLe32(const std::string &s, std::size_t at)
    {
        std::uint64_t v = 0;
        for (int i = 3; i >= 0; --i)
            v = (v << 8) | static_cast<std::uint8_t>(s[at + static_cast<std::size_t>(i)]);
        return v;
    }
};

QTEST_GUILESS_MAIN(TestLimits)
#include "tst_limits.moc"
