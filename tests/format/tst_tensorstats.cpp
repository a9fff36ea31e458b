// SPDX-License-Identifier: MIT
// Decoding and statistics against torch's own numbers (tests/fixtures/stats, made by
// make_stats_vectors.py with torch 1.13), plus threading, progress and cancellation.
#include "formaterror.h"
#include "mappedfile.h"
#include "tensordecode.h"
#include "tensorstats.h"

#include <QTemporaryDir>
#include <QTest>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <bit>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <sys/resource.h>
#include <unistd.h>

using namespace ckpt::format;
using json = nlohmann::json;

namespace {

const std::string kDir = std::string(CKPT_FIXTURES_DIR) + "/stats/";

std::vector<std::uint8_t> readFile(const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw std::runtime_error("cannot open " + path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

double num(const json &j)
{
    if (j.is_string()) {
        const auto s = j.get<std::string>();
        if (s == "nan")
            return std::numeric_limits<double>::quiet_NaN();
        if (s == "inf")
            return std::numeric_limits<double>::infinity();
        if (s == "-inf")
            return -std::numeric_limits<double>::infinity();
        throw std::runtime_error("bad number " + s);
    }
    return j.get<double>();
}

bool sameDouble(double a, double b)
{
    return (std::isnan(a) && std::isnan(b)) || a == b;
}

bool close(double got, double want, double scale, double rel = 1e-12)
{
    if (std::isnan(want) || std::isinf(want))
        return sameDouble(got, want);
    return std::fabs(got - want) <= rel * std::max(std::fabs(want), scale);
}

std::string str(double v)
{
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
}

// Byte-swaps every element (complex: each half) as a big-endian writer would have stored it.
std::vector<std::uint8_t> swapped(const std::vector<std::uint8_t> &bytes, DType dtype)
{
    const auto &info = dtypeInfo(dtype);
    std::size_t unit = info.elementSize;
    if (info.isComplex)
        unit /= 2;
    if (info.valuesPerElement > 1)
        unit = 1;
    std::vector<std::uint8_t> out = bytes;
    if (unit > 1)
        for (std::size_t i = 0; i + unit <= out.size(); i += unit)
            std::reverse(out.begin() + static_cast<std::ptrdiff_t>(i),
                         out.begin() + static_cast<std::ptrdiff_t>(i + unit));
    return out;
}

struct Loaded
{
    json spec;
    std::vector<std::uint8_t> bytes;
    StridedView view;
    StatsOptions options;
};

StridedView viewOf(const json &c, const std::vector<std::uint8_t> &bytes)
{
    StridedView v;
    v.storage = {bytes.data(), bytes.size()};
    const auto d = dtypeFromName(c["dtype"].get<std::string>());
    if (!d)
        throw std::runtime_error("unknown dtype " + c["dtype"].get<std::string>());
    v.dtype = *d;
    v.shape = c["shape"].get<std::vector<std::int64_t>>();
    v.stride = c["stride"].get<std::vector<std::int64_t>>();
    v.offset = c["offset"].get<std::int64_t>();
    v.conj = c["conj"].get<bool>();
    v.neg = c["neg"].get<bool>();
    if (c.contains("scale")) {
        v.scale = c["scale"].get<double>();
        v.zeroPoint = c["zero_point"].get<std::int64_t>();
    }
    if (c.contains("axis")) {
        v.quantAxis = c["axis"].get<std::int64_t>();
        v.scales = c["scales"].get<std::vector<double>>();
        v.zeroPoints = c["zero_points"].get<std::vector<std::int64_t>>();
    }
    return v;
}

// Identical results (used for byte order and thread-count comparisons).
void compareIdentical(const TensorStats &a, const TensorStats &b, const char *what)
{
    QVERIFY2(a.numel == b.numel && a.finite == b.finite && a.nan == b.nan && a.posinf == b.posinf
                 && a.neginf == b.neginf && a.zeros == b.zeros,
             what);
    auto same = [](const std::optional<double> &x, const std::optional<double> &y) {
        return x.has_value() == y.has_value() && (!x || sameDouble(*x, *y));
    };
    QVERIFY2(same(a.min, b.min) && same(a.max, b.max) && same(a.mean, b.mean)
                 && same(a.std, b.std) && same(a.l2, b.l2),
             what);
    QVERIFY2(a.hist == b.hist && sameDouble(a.histLo, b.histLo) && sameDouble(a.histHi, b.histHi),
             what);
}

// Deterministic test data: xorshift.
struct XorShift
{
    std::uint64_t s = 0x9e3779b97f4a7c15ull;
    std::uint64_t next()
    {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return s;
    }
    double uniform() { return static_cast<double>(next() >> 11) * 0x1p-53; }
};

std::vector<std::uint8_t> makeFloat32Buffer(std::size_t count)
{
    std::vector<std::uint8_t> bytes(count * 4);
    XorShift rng;
    for (std::size_t i = 0; i < count; ++i) {
        // skewed, non-zero-mean values with a few specials sprinkled in
        float f = static_cast<float>(std::tan((rng.uniform() - 0.4) * 3.0) * 2.0 + 0.75);
        const auto r = rng.next() % 100000;
        if (r == 0)
            f = std::numeric_limits<float>::quiet_NaN();
        else if (r == 1)
            f = std::numeric_limits<float>::infinity();
        else if (r == 2)
            f = -std::numeric_limits<float>::infinity();
        else if (r < 50)
            f = 0.0f;
        std::memcpy(&bytes[i * 4], &f, 4);
    }
    return bytes;
}

StridedView float32View(const std::vector<std::uint8_t> &bytes)
{
    StridedView v;
    v.storage = {bytes.data(), bytes.size()};
    v.dtype = DType::Float32;
    v.shape = {static_cast<std::int64_t>(bytes.size() / 4)};
    v.stride = {1};
    return v;
}

// Significant digits of a decimal string ("-1.250e-05" -> "125").
std::string significantDigits(std::string s)
{
    if (!s.empty() && s[0] == '-')
        s.erase(0, 1);
    const auto e = s.find_first_of("eE");
    if (e != std::string::npos)
        s.erase(e);
    s.erase(std::remove(s.begin(), s.end(), '.'), s.end());
    const auto first = s.find_first_not_of('0');
    if (first == std::string::npos)
        return "0";
    s.erase(0, first);
    s.erase(s.find_last_not_of('0') + 1);
    return s;
}

// Nearest value of a sign-magnitude format with monotone positive patterns [0, maxMag],
// ties to the even pattern. Independent of the code under test (brute force / bisection).
template <class Decode>
std::uint32_t nearestPattern(double d, std::uint32_t signBit, std::uint32_t maxMag, Decode decode)
{
    const std::uint32_t sign = std::signbit(d) ? signBit : 0;
    const double a = std::fabs(d);
    // Values past the largest finite one round to a virtual next pattern (inf / NaN).
    const double top = decode(maxMag) + (decode(maxMag) - decode(maxMag - 1));
    auto value = [&](std::uint32_t m) { return m > maxMag ? top : decode(m); };
    std::uint32_t lo = 0, hi = maxMag + 1;
    while (lo < hi) { // first pattern with value >= a
        const std::uint32_t mid = (lo + hi) / 2;
        if (value(mid) < a)
            lo = mid + 1;
        else
            hi = mid;
    }
    std::uint32_t best = std::min(lo, maxMag + 1);
    if (lo > 0 && lo <= maxMag + 1) {
        const double up = value(lo) - a, down = a - value(lo - 1);
        if (down < up || (down == up && (lo - 1) % 2 == 0))
            best = lo - 1;
    }
    return sign | best;
}

} // namespace

class TestTensorStats : public QObject
{
    Q_OBJECT

private:
    json m_expected;
    std::map<std::string, std::vector<std::uint8_t>> m_files;

    const std::vector<std::uint8_t> &file(const std::string &name)
    {
        auto it = m_files.find(name);
        if (it == m_files.end())
            it = m_files.emplace(name, readFile(kDir + name)).first;
        return it->second;
    }
    const json &caseNamed(const std::string &name)
    {
        for (const auto &c : m_expected["cases"])
            if (c["name"] == name)
                return c;
        throw std::runtime_error("no case " + name);
    }

private slots:
    void initTestCase()
    {
        const auto text = readFile(kDir + "expected.json");
        m_expected = json::parse(text.begin(), text.end());
        QVERIFY(m_expected["cases"].size() > 50);
    }

    // ---- scalar conversions -----------------------------------------------------------------

    void halfAllPatterns()
    {
        // Reference straight from the IEEE binary16 definition.
        for (std::uint32_t b = 0; b < 65536; ++b) {
            const int e = (b >> 10) & 0x1f;
            const int m = b & 0x3ff;
            const double s = (b & 0x8000) ? -1.0 : 1.0;
            double want;
            if (e == 31)
                want = m ? std::numeric_limits<double>::quiet_NaN()
                         : s * std::numeric_limits<double>::infinity();
            else if (e == 0)
                want = s * std::ldexp(m, -24);
            else
                want = s * std::ldexp(1024 + m, e - 25);
            const float got = halfToFloat(static_cast<std::uint16_t>(b));
            QVERIFY2(sameDouble(got, want)
                         && (std::isnan(want) || std::signbit(got) == std::signbit(want)),
                     qPrintable(QString::number(b, 16)));
            const float bf = bfloat16ToFloat(static_cast<std::uint16_t>(b));
            std::uint32_t bits = std::bit_cast<std::uint32_t>(bf);
            QCOMPARE(bits, b << 16);
        }
    }

    void float8AllPatterns_data()
    {
        QTest::addColumn<QString>("dtype");
        for (const char *d : {"float8_e5m2", "float8_e4m3fn", "float8_e5m2fnuz",
                              "float8_e4m3fnuz", "float8_e8m0fnu"})
            QTest::newRow(d) << QString::fromLatin1(d);
    }
    void float8AllPatterns()
    {
        QFETCH(QString, dtype);
        const auto &c = caseNamed(dtype.toStdString() + "_all");
        const DType d = *dtypeFromName(dtype.toStdString());
        QVERIFY(isDecodable(d));
        // The case's elements are a sample; check all 256 through decodeRange as well.
        const auto &bytes = file(c["file"].get<std::string>());
        StridedView v = viewOf(c, bytes);
        std::vector<double> all(256);
        decodeRange(v, 0, 256, all.data(), false);
        for (unsigned b = 0; b < 256; ++b)
            QVERIFY2(sameDouble(all[b], float8ToFloat(static_cast<std::uint8_t>(b), d)),
                     qPrintable(QString::number(b)));
        for (const auto &e : c["elements"]) {
            const auto b = e["linear"].get<unsigned>();
            QVERIFY2(sameDouble(float8ToFloat(static_cast<std::uint8_t>(b), d), num(e["re"])),
                     qPrintable(QStringLiteral("pattern %1").arg(b)));
        }
        // Spot checks from the format definitions.
        if (d == DType::Float8_e4m3fn) {
            QCOMPARE(float8ToFloat(0x7e, d), 448.0f);
            QVERIFY(std::isnan(float8ToFloat(0x7f, d)) && std::isnan(float8ToFloat(0xff, d)));
            QCOMPARE(float8ToFloat(0x01, d), std::ldexp(1.0f, -9));
        } else if (d == DType::Float8_e5m2) {
            QCOMPARE(float8ToFloat(0x7c, d), std::numeric_limits<float>::infinity());
            QCOMPARE(float8ToFloat(0x7b, d), 57344.0f);
        } else if (d == DType::Float8_e8m0fnu) {
            QCOMPARE(float8ToFloat(127, d), 1.0f);
            QVERIFY(std::isnan(float8ToFloat(0xff, d)));
        } else {
            QVERIFY(std::isnan(float8ToFloat(0x80, d)));
            QCOMPARE(float8ToFloat(0x00, d), 0.0f);
        }
    }

    // ---- every case: stats, byte order, elements -------------------------------------------

    void cases_data()
    {
        QTest::addColumn<int>("index");
        int i = 0;
        for (const auto &c : m_expected["cases"]) {
            const auto name = c["name"].get<std::string>();
            QTest::newRow(name.c_str()) << i++;
        }
    }
    void cases()
    {
        QFETCH(int, index);
        const json &c = m_expected["cases"][static_cast<std::size_t>(index)];
        const auto &bytes = file(c["file"].get<std::string>());
        const StridedView view = viewOf(c, bytes);
        QVERIFY(isDecodable(view.dtype));
        StatsOptions options;
        options.bins = c["bins"].get<int>();
        if (c.contains("range")) {
            options.rangeLo = c["range"][0].get<double>();
            options.rangeHi = c["range"][1].get<double>();
        }
        const TensorStats s = computeStats(view, options);
        const json &w = c["stats"];
        QCOMPARE(s.numel, w["numel"].get<std::uint64_t>());
        QCOMPARE(s.finite, w["finite"].get<std::uint64_t>());
        QCOMPARE(s.nan, w["nan"].get<std::uint64_t>());
        QCOMPARE(s.posinf, w["posinf"].get<std::uint64_t>());
        QCOMPARE(s.neginf, w["neginf"].get<std::uint64_t>());
        QCOMPARE(s.zeros, w["zeros"].get<std::uint64_t>());
        auto checkOpt = [&](const std::optional<double> &got, const char *key, double scale,
                            double rel) {
            const json &want = w[key];
            if (want.is_null()) {
                QVERIFY2(!got.has_value(), key);
                return;
            }
            QVERIFY2(got.has_value(), key);
            QVERIFY2(close(*got, num(want), scale, rel),
                     qPrintable(QStringLiteral("%1: got %2, torch %3")
                                    .arg(QLatin1String(key), QString::fromStdString(str(*got)),
                                         QString::fromStdString(str(num(want))))));
        };
        checkOpt(s.min, "min", 0, 0);
        checkOpt(s.max, "max", 0, 0);
        const double scale = w["min"].is_null()
                                 ? 0
                                 : std::max(std::fabs(num(w["min"])), std::fabs(num(w["max"])));
        checkOpt(s.mean, "mean", scale, 1e-12);
        checkOpt(s.std, "std", 0, 1e-12);
        checkOpt(s.l2, "l2", 0, 1e-12);
        if (w["hist"].is_null()) {
            QVERIFY(s.hist.empty());
        } else {
            QCOMPARE(s.hist, w["hist"].get<std::vector<std::uint64_t>>());
            QCOMPARE(s.histLo, w["hist_lo"].get<double>());
            QCOMPARE(s.histHi, w["hist_hi"].get<double>());
        }

        // Big-endian storage with the same values: identical statistics.
        const auto be = swapped(bytes, view.dtype);
        StridedView beView = view;
        beView.storage = {be.data(), be.size()};
        beView.byteSwap = true;
        compareIdentical(computeStats(beView, options), s, "byte-swapped storage differs");

        // Elements: elementAt and decodeRange give torch's values exactly.
        const bool isComplex = dtypeInfo(view.dtype).isComplex;
        for (const auto &e : c["elements"]) {
            const auto multi = e["index"].get<std::vector<std::int64_t>>();
            const auto linear = e["linear"].get<std::uint64_t>();
            const QByteArray where = QByteArray::number(static_cast<qulonglong>(linear));
            for (const StridedView *v : {&view, static_cast<const StridedView *>(&beView)}) {
                const ElementValue ev = elementAt(*v, multi);
                QVERIFY2(sameDouble(ev.re, num(e["re"])), where + " re " + QByteArray::number(ev.re));
                QVERIFY2(sameDouble(ev.im, num(e["im"])), where + " im " + QByteArray::number(ev.im));
                double re = 0, mag = 0;
                decodeRange(*v, linear, 1, &re, false);
                decodeRange(*v, linear, 1, &mag, true);
                QVERIFY2(sameDouble(re, num(e["re"])), where);
                QVERIFY2(sameDouble(mag, isComplex ? num(e["abs"]) : num(e["re"])), where);
            }
        }
        // A whole-tensor decodeRange agrees with element-wise decoding (row-major order).
        const std::uint64_t n = view.numel();
        std::vector<double> all(n);
        decodeRange(view, 0, n, all.data(), false);
        std::vector<std::int64_t> idx(view.shape.size(), 0);
        for (std::uint64_t i = 0; i < n; ++i) {
            QVERIFY(sameDouble(all[i], elementAt(view, idx).re));
            for (std::size_t k = idx.size(); k-- > 0;) {
                if (++idx[k] < view.shape[k])
                    break;
                idx[k] = 0;
            }
        }
    }

    // ---- histogram rule ----------------------------------------------------------------------

    void histc_data()
    {
        QTest::addColumn<int>("index");
        int i = 0;
        for (const auto &h : m_expected["histc"])
            QTest::newRow(h["name"].get<std::string>().c_str()) << i++;
    }
    void histc()
    {
        QFETCH(int, index);
        const json &h = m_expected["histc"][static_cast<std::size_t>(index)];
        const auto &bytes = file(h["file"].get<std::string>());
        const auto count = h["count"].get<std::size_t>();
        QCOMPARE(bytes.size(), count * 8);
        const double lo = h["lo"].get<double>(), hi = h["hi"].get<double>();
        const int bins = h["bins"].get<int>();
        const auto perValue = h["bins_of_values"].get<std::vector<int>>();
        for (std::size_t i = 0; i < count; ++i) {
            double x;
            std::memcpy(&x, &bytes[i * 8], 8);
            const int got = histBin(x, lo, hi, bins);
            QVERIFY2(got == perValue[i],
                     qPrintable(QStringLiteral("x=%1: bin %2, torch %3")
                                    .arg(QString::fromStdString(str(x))).arg(got).arg(perValue[i])));
        }
        StridedView v;
        v.storage = {bytes.data(), bytes.size()};
        v.dtype = DType::Float64;
        v.shape = {static_cast<std::int64_t>(count)};
        v.stride = {1};
        for (unsigned threads : {1u, 3u}) {
            StatsOptions o;
            o.bins = bins;
            o.rangeLo = lo;
            o.rangeHi = hi;
            o.threads = threads;
            const TensorStats s = computeStats(v, o);
            QCOMPARE(s.hist, h["counts"].get<std::vector<std::uint64_t>>());
        }
    }

    void histBinBasics()
    {
        QCOMPARE(histBin(0.0, 0.0, 1.0, 4), 0);
        QCOMPARE(histBin(1.0, 0.0, 1.0, 4), 3);   // max falls in the last bin
        QCOMPARE(histBin(0.5, 0.0, 1.0, 4), 2);
        QCOMPARE(histBin(-0.1, 0.0, 1.0, 4), -1); // outside
        QCOMPARE(histBin(1.1, 0.0, 1.0, 4), -1);
        QCOMPARE(histBin(std::numeric_limits<double>::quiet_NaN(), 0.0, 1.0, 4), -1);
        QCOMPARE(histBin(0.5, 0.0, 1.0, 0), -1);
        // Ranges whose width overflows (torch is undefined there): still sane.
        const double big = std::numeric_limits<double>::max();
        QCOMPARE(histBin(-big, -big, big, 2), 0);
        QCOMPARE(histBin(big, -big, big, 2), 1);
        QCOMPARE(histBin(1.0, -big, big, 2), 1);
        QCOMPARE(histBin(-1e300, -big, big, 2), 0);
    }

    // The vectorised/table-driven histogram path against histBin() (which the torch vectors
    // above pin down), on many random ranges with values on and around the edges.
    void fastPathMatchesRule()
    {
        XorShift rng;
        const int binChoices[] = {1, 2, 3, 7, 8, 10, 15, 31, 63, 64, 100, 127, 255, 1000, 1023};
        for (int config = 0; config < 300; ++config) {
            const double lo = (rng.uniform() - 0.5) * std::pow(10.0, int(rng.next() % 13) - 6);
            const double hi = lo + rng.uniform() * std::pow(10.0, int(rng.next() % 13) - 6) + 1e-300;
            const int bins = binChoices[rng.next() % std::size(binChoices)];
            std::vector<double> xs;
            for (int k = 0; k <= bins && xs.size() < 4000; k += 1 + bins / 200) {
                double e = lo + (hi - lo) * (double(k) / bins);
                xs.push_back(e);
                double up = e, down = e;
                for (int u = 0; u < 3; ++u) {
                    up = std::nextafter(up, 1e308);
                    down = std::nextafter(down, -1e308);
                    xs.push_back(up);
                    xs.push_back(down);
                }
            }
            for (int r = 0; r < 100; ++r)
                xs.push_back(lo + (hi - lo) * (rng.uniform() * 1.2 - 0.1));
            std::vector<std::uint64_t> want(static_cast<std::size_t>(bins));
            for (double x : xs)
                if (const int b = histBin(x, lo, hi, bins); b >= 0)
                    ++want[static_cast<std::size_t>(b)];
            StridedView v;
            v.storage = {reinterpret_cast<const std::uint8_t *>(xs.data()), xs.size() * 8};
            v.dtype = DType::Float64;
            v.shape = {static_cast<std::int64_t>(xs.size())};
            v.stride = {1};
            StatsOptions o;
            o.bins = bins;
            o.rangeLo = lo;
            o.rangeHi = hi;
            const TensorStats s = computeStats(v, o);
            QVERIFY2(s.hist == want, qPrintable(QStringLiteral("lo %1 hi %2 bins %3")
                                                    .arg(QString::fromStdString(str(lo)),
                                                         QString::fromStdString(str(hi)))
                                                    .arg(bins)));
        }
    }

    // Contiguous native float32 is read in place by its own kernels (single-precision
    // histogram with an exact fallback near the edges); byte-swapped storage with the same
    // values takes the generic decode path. Both must agree bit for bit, and the histogram must
    // be histBin()'s, for values on and around every bin edge (as floats), for ranges that float
    // cannot represent, at unaligned addresses and with lengths that are not a multiple of 8.
    void float32InPlaceMatchesGeneric()
    {
        XorShift rng;
        const int binChoices[] = {1, 2, 3, 7, 8, 15, 63, 64, 100, 127, 128, 255, 1000, 4096, 70000};
        for (int config = 0; config < 240; ++config) {
            const int bins = binChoices[rng.next() % std::size(binChoices)];
            const int kind = config % 4; // 0: [min, max]; 1: fixed range; 2: wide fixed range; 3: constant
            double lo = (rng.uniform() - 0.5) * std::pow(10.0, int(rng.next() % 13) - 6);
            double hi = lo + rng.uniform() * std::pow(10.0, int(rng.next() % 13) - 6) + 1e-30;
            if (config % 16 == 5) { // tiny width far from zero: float cannot resolve the bins
                lo = 1000.0 + rng.uniform();
                hi = lo + 1e-9;
            }
            std::vector<float> xs;
            if (kind == 3) {
                xs.assign(37 + rng.next() % 50, static_cast<float>(lo));
            } else {
                for (int k = 0; k <= bins && xs.size() < 6000; k += 1 + bins / 300) {
                    float e = static_cast<float>(lo + (hi - lo) * (double(k) / bins));
                    xs.push_back(e);
                    float up = e, down = e;
                    for (int u = 0; u < 3; ++u) {
                        up = std::nextafter(up, 1e30f);
                        down = std::nextafter(down, -1e30f);
                        xs.push_back(up);
                        xs.push_back(down);
                    }
                }
                for (int r = 0; r < 3000; ++r)
                    xs.push_back(static_cast<float>(lo + (hi - lo) * (rng.uniform() * 1.2 - 0.1)));
                if (config % 5 == 1) {
                    xs.push_back(std::numeric_limits<float>::quiet_NaN());
                    xs.push_back(std::numeric_limits<float>::infinity());
                    xs.push_back(-0.0f);
                }
                if (config % 7 == 2)
                    xs.push_back(0.0f);
                xs.resize(xs.size() - rng.next() % 8); // any tail length
            }
            // Unaligned: the floats start one byte into the buffer, one element in.
            const std::size_t n = xs.size();
            std::vector<std::uint8_t> native(1 + 4 * (n + 1));
            std::memcpy(native.data() + 5, xs.data(), 4 * n);
            StridedView v;
            v.storage = {native.data() + 1, 4 * (n + 1)};
            v.dtype = DType::Float32;
            v.shape = {static_cast<std::int64_t>(n)};
            v.stride = {1};
            v.offset = 1;
            std::vector<std::uint8_t> be(native.begin() + 1, native.end());
            be = swapped(be, DType::Float32);
            StridedView bv = v;
            bv.storage = {be.data(), be.size()};
            bv.byteSwap = true;

            StatsOptions o;
            o.bins = bins;
            if (kind == 1) {
                o.rangeLo = lo;
                o.rangeHi = hi;
            } else if (kind == 2) {
                o.rangeLo = -1e39; // beyond float
                o.rangeHi = hi;
            }
            const QByteArray what = QByteArray("config ") + QByteArray::number(config) + " lo "
                                    + QByteArray::number(lo, 'g', 17) + " hi "
                                    + QByteArray::number(hi, 'g', 17) + " bins " + QByteArray::number(bins);
            const TensorStats s = computeStats(v, o);
            compareIdentical(s, computeStats(bv, o), what.constData());
            if (s.hist.empty())
                continue;
            std::vector<std::uint64_t> want(static_cast<std::size_t>(bins));
            for (float x : xs)
                if (const int b = histBin(x, s.histLo, s.histHi, bins); b >= 0 && std::isfinite(x))
                    ++want[static_cast<std::size_t>(b)];
            QVERIFY2(s.hist == want, what.constData());
        }
    }

    // releasePages drops mapped pages only: statistics of ordinary memory with it set leave the
    // memory intact (MADV_DONTNEED would zero it).
    void releasePagesKeepsHeapMemory()
    {
        const auto bytes = makeFloat32Buffer(3'000'000);
        const auto copy = bytes;
        const StridedView v = float32View(bytes);
        StatsOptions o;
        const TensorStats plain = computeStats(v, o);
        o.releasePages = true;
        compareIdentical(computeStats(v, o), plain, "releasePages changed the result");
        compareIdentical(computeStats(v, o), plain, "releasePages changed the memory");
        QVERIFY(bytes == copy);

        // A mapped file: its pages are dropped and read again from the page cache.
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const std::string path = dir.filePath(QStringLiteral("f32.bin")).toStdString();
        {
            std::ofstream out(path, std::ios::binary);
            out.write(reinterpret_cast<const char *>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
        }
        const auto file = MappedFile::open(path);
        StridedView mv = v;
        mv.storage = file->bytes();
        compareIdentical(computeStats(mv, o), plain, "mapped, pages released");
        compareIdentical(computeStats(mv, o), plain, "mapped, read again after release");
        MappedFile::releasePages(file->bytes());
        QVERIFY(std::memcmp(file->bytes().data, copy.data(), copy.size()) == 0);
    }

    void constantHugeValues()
    {
        // min == max where +-0.5 vanishes: one count, in the middle bin.
        const double vals[3] = {1e20, 1e20, std::numeric_limits<double>::quiet_NaN()};
        StridedView v;
        v.storage = {reinterpret_cast<const std::uint8_t *>(vals), sizeof vals};
        v.dtype = DType::Float64;
        v.shape = {3};
        v.stride = {1};
        StatsOptions o;
        o.bins = 8;
        const TensorStats s = computeStats(v, o);
        QCOMPARE(s.finite, 2u);
        QCOMPARE(s.hist.size(), 8u);
        QCOMPARE(s.hist[4], 2u);
        QVERIFY(s.histLo < 1e20 && s.histHi > 1e20);
        QCOMPARE(*s.std, 0.0);
    }

    // ---- text ----------------------------------------------------------------------------

    void formatSpecials()
    {
        const double nan = std::numeric_limits<double>::quiet_NaN();
        const double inf = std::numeric_limits<double>::infinity();
        for (DType d : {DType::Float64, DType::Float32, DType::Float16, DType::BFloat16,
                        DType::Float8_e5m2}) {
            QCOMPARE(formatElement({nan, 0}, d), std::string("nan"));
            QCOMPARE(formatElement({inf, 0}, d), std::string("inf"));
            QCOMPARE(formatElement({-inf, 0}, d), std::string("-inf"));
        }
        QCOMPARE(formatElement({1, 0}, DType::Bool), std::string("True"));
        QCOMPARE(formatElement({0, 0}, DType::Bool), std::string("False"));
        QCOMPARE(formatElement({-128, 0}, DType::Int8), std::string("-128"));
        QCOMPARE(formatElement({4294967295.0, 0}, DType::UInt32), std::string("4294967295"));
        QCOMPARE(formatElement({0.1f, 0}, DType::Float32), std::string("0.1"));
        QCOMPARE(formatElement({0.1, 0}, DType::Float64), std::string("0.1"));
        QCOMPARE(formatElement({double(halfToFloat(0x2e66)), 0}, DType::Float16), std::string("0.1"));
        QCOMPARE(formatElement({double(bfloat16ToFloat(0x3dcd)), 0}, DType::BFloat16),
                 std::string("0.1"));
        QCOMPARE(formatElement({65504, 0}, DType::Float16), std::string("65500.0"));
        QCOMPARE(formatElement({448, 0}, DType::Float8_e4m3fn), std::string("450.0"));
        QCOMPARE(formatElement({1, 0}, DType::Float32), std::string("1.0"));
        QCOMPARE(formatElement({-0.0, 0}, DType::Float64), std::string("-0.0"));
        QCOMPARE(formatElement({1e16, 0}, DType::Float64), std::string("1e+16"));
        QCOMPARE(formatElement({1234567.0, 0}, DType::Float64), std::string("1234567.0"));
        QCOMPARE(formatElement({0.0001, 0}, DType::Float64), std::string("0.0001"));
        QCOMPARE(formatElement({1.5e-05, 0}, DType::Float64), std::string("1.5e-05"));
        QCOMPARE(formatElement({double(-424300576.0f), 0}, DType::Float32), std::string("-424300580.0"));
        QCOMPARE(formatElement({3e38f, 0}, DType::Float32), std::string("3e+38"));
        QCOMPARE(formatElement({-2.5, 0}, DType::Float32), std::string("-2.5"));
        QCOMPARE(formatElement({1, 2}, DType::Complex128), std::string("(1+2j)"));
        QCOMPARE(formatElement({1, -2}, DType::Complex64), std::string("(1-2j)"));
        QCOMPARE(formatElement({-0.5, nan}, DType::Complex128), std::string("(-0.5+nanj)"));
        QCOMPARE(formatElement({inf, -inf}, DType::Complex64), std::string("(inf-infj)"));
        QCOMPARE(formatElement({0.30000001192092896, 0}, DType::QInt8), std::string("0.3"));

        // 64-bit integers exactly, through formatElementAt.
        const std::int64_t ints[3] = {std::numeric_limits<std::int64_t>::min(),
                                      9007199254740993, -1};
        StridedView v;
        v.storage = {reinterpret_cast<const std::uint8_t *>(ints), sizeof ints};
        v.dtype = DType::Int64;
        v.shape = {3};
        v.stride = {1};
        QCOMPARE(formatElementAt(v, {0}), std::string("-9223372036854775808"));
        QCOMPARE(formatElementAt(v, {1}), std::string("9007199254740993"));
        v.dtype = DType::UInt64;
        QCOMPARE(formatElementAt(v, {2}), std::string("18446744073709551615"));
        v.dtype = DType::Int64;
        v.neg = true;
        QCOMPARE(formatElementAt(v, {1}), std::string("-9007199254740993"));
        QCOMPARE(formatElementAt(v, {0}), std::string("-9223372036854775808")); // wraps, as torch
    }

    void formatShortestDigits_data()
    {
        QTest::addColumn<QString>("dtype");
        for (const char *d : {"float16", "float32", "float64"})
            QTest::newRow(d) << QString::fromLatin1(d);
    }
    void formatShortestDigits()
    {
        QFETCH(QString, dtype);
        const DType d = *dtypeFromName(dtype.toStdString());
        const auto &table = m_expected["format_digits"][dtype.toStdString()];
        QVERIFY(table.size() > 50);
        for (const auto &row : table) {
            const double v = row[0].get<double>();
            const std::string text = formatElement({v, 0}, d);
            QVERIFY2(significantDigits(text) == row[1].get<std::string>(),
                     qPrintable(QStringLiteral("%1: %2, numpy digits %3")
                                    .arg(QString::fromStdString(str(v)), QString::fromStdString(text),
                                         QString::fromStdString(row[1].get<std::string>()))));
        }
    }

    // Every finite pattern of the narrow formats: the text reads back as the same pattern and
    // one digit fewer would not.
    void formatRoundTripNarrow()
    {
        struct Fmt
        {
            DType dtype;
            std::uint32_t patterns, signBit, maxMag;
            std::function<double(std::uint32_t)> decode;
        };
        const std::vector<Fmt> formats = {
            {DType::Float16, 65536, 0x8000, 0x7bff,
             [](std::uint32_t b) { return double(halfToFloat(static_cast<std::uint16_t>(b))); }},
            {DType::BFloat16, 65536, 0x8000, 0x7f7f,
             [](std::uint32_t b) { return double(bfloat16ToFloat(static_cast<std::uint16_t>(b))); }},
            {DType::Float8_e4m3fn, 256, 0x80, 0x7e,
             [](std::uint32_t b) { return double(float8ToFloat(static_cast<std::uint8_t>(b), DType::Float8_e4m3fn)); }},
            {DType::Float8_e5m2, 256, 0x80, 0x7b,
             [](std::uint32_t b) { return double(float8ToFloat(static_cast<std::uint8_t>(b), DType::Float8_e5m2)); }},
            {DType::Float8_e4m3fnuz, 256, 0x80, 0x7f,
             [](std::uint32_t b) { return double(float8ToFloat(static_cast<std::uint8_t>(b), DType::Float8_e4m3fnuz)); }},
        };
        for (const Fmt &f : formats) {
            for (std::uint32_t b = 0; b < f.patterns; ++b) {
                const double v = f.decode(b);
                if (!std::isfinite(v) || v == 0 || (b & (f.signBit - 1)) > f.maxMag)
                    continue;
                const std::string text = formatElement({v, 0}, f.dtype);
                double back = 0;
                std::from_chars(text.data(), text.data() + text.size(), back);
                const std::uint32_t got = nearestPattern(back, f.signBit, f.maxMag, f.decode);
                QVERIFY2(got == b, qPrintable(QStringLiteral("%1 pattern %2 -> %3")
                                                  .arg(QString::fromLatin1(dtypeName(f.dtype).data()))
                                                  .arg(b, 0, 16)
                                                  .arg(QString::fromStdString(text))));
                const int digits = static_cast<int>(significantDigits(text).size());
                if (digits > 1) {
                    char buf[64];
                    auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general,
                                           digits - 1);
                    double shorter = 0;
                    std::from_chars(buf, r.ptr, shorter);
                    QVERIFY2(nearestPattern(shorter, f.signBit, f.maxMag, f.decode) != b,
                             qPrintable(QString::fromStdString(text) + QStringLiteral(" not shortest")));
                }
            }
        }
    }

    // ---- errors ----------------------------------------------------------------------------

    /// StatsOptions::background: every worker runs at nice >= 10 (the caller's nice value is
    /// untouched) and the statistics are bit-identical to a foreground pass.
    void backgroundWorkersRunAtLowPriority()
    {
        std::vector<float> values(1u << 22);
        for (std::size_t i = 0; i < values.size(); ++i)
            values[i] = static_cast<float>(std::sin(static_cast<double>(i)) * 3.0);
        StridedView v;
        v.storage = ByteView{reinterpret_cast<const std::uint8_t *>(values.data()), values.size() * sizeof(float)};
        v.dtype = DType::Float32;
        v.shape = {static_cast<std::int64_t>(values.size())};
        v.stride = {1};
        const int callerNice = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()));
        auto run = [&](bool background, std::vector<int> &nices) {
            StatsOptions o;
            o.threads = 2;
            o.background = background;
            std::mutex m;
            o.progress = [&](std::uint64_t done, std::uint64_t total) {
                if (done < total) { // worker calls; the final one comes from the caller
                    std::lock_guard lock(m);
                    nices.push_back(::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid())));
                }
                return true;
            };
            return computeStats(v, o);
        };
        std::vector<int> fg, bg;
        const TensorStats a = run(false, fg);
        const TensorStats b = run(true, bg);
        QVERIFY(!bg.empty());
        for (int n : bg)
            QVERIFY2(n >= 10, qPrintable(QString::number(n)));
        for (int n : fg)
            QCOMPARE(n, callerNice);
        QCOMPARE(::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid())), callerNice);
        QCOMPARE(*a.mean, *b.mean);
        QCOMPARE(*a.std, *b.std);
        QCOMPARE(a.hist, b.hist);
    }

    void undecodable()
    {
        const std::uint8_t bytes[4] = {1, 2, 3, 4};
        for (DType d : {DType::Bits8, DType::Bits16, DType::Bits1x8, DType::Float4_e2m1fn_x2,
                        DType::Unknown}) {
            QVERIFY(!isDecodable(d));
            StridedView v;
            v.storage = {bytes, 4};
            v.dtype = d;
            v.shape = {1};
            v.stride = {1};
            try {
                computeStats(v);
                QFAIL("no exception");
            } catch (const FormatError &e) {
                QCOMPARE(e.kind(), FormatError::Kind::Unsupported);
            }
        }
        for (DType d : {DType::Float32, DType::QUInt4x2, DType::Float8_e8m0fnu, DType::UInt64,
                        DType::Complex32})
            QVERIFY(isDecodable(d));
    }

    // ---- threads, progress, cancellation ---------------------------------------------------

    void threadsIdentical()
    {
        const auto bytes = makeFloat32Buffer(12'500'000); // 50 MB
        const StridedView v = float32View(bytes);
        StatsOptions o;
        o.bins = 100;
        o.threads = 1;
        const TensorStats one = computeStats(v, o);
        QCOMPARE(one.numel, 12'500'000u);
        QVERIFY(one.nan > 0 && one.posinf > 0 && one.neginf > 0 && one.zeros > 0);
        for (unsigned t : {2u, 7u}) {
            o.threads = t;
            const TensorStats s = computeStats(v, o);
            QCOMPARE(s.finite, one.finite);
            QCOMPARE(s.nan, one.nan);
            QCOMPARE(s.zeros, one.zeros);
            QCOMPARE(s.hist, one.hist);
            QCOMPARE(*s.min, *one.min);
            QCOMPARE(*s.max, *one.max);
            QVERIFY(close(*s.mean, *one.mean, 0, 1e-12));
            QVERIFY(close(*s.std, *one.std, 0, 1e-12));
            QVERIFY(close(*s.l2, *one.l2, 0, 1e-12));
            compareIdentical(s, one, "thread count changed the result"); // chunking is fixed
        }

        // Accuracy against a long double Neumaier reference, two-pass std.
        long double sum = 0, comp = 0, sq = 0;
        std::uint64_t n = 0;
        const float *f = reinterpret_cast<const float *>(bytes.data());
        for (std::size_t i = 0; i < bytes.size() / 4; ++i) {
            if (!std::isfinite(f[i]))
                continue;
            const long double x = f[i];
            const long double t = sum + x;
            comp += std::fabs(sum) >= std::fabs(x) ? (sum - t) + x : (x - t) + sum;
            sum = t;
            sq += x * x;
            ++n;
        }
        const long double mean = (sum + comp) / n;
        long double m2 = 0;
        for (std::size_t i = 0; i < bytes.size() / 4; ++i)
            if (std::isfinite(f[i]))
                m2 += (f[i] - mean) * (f[i] - mean);
        QCOMPARE(one.finite, n);
        QVERIFY2(close(*one.mean, double(mean), 0, 1e-12), qPrintable(QString::number(double(mean))));
        QVERIFY(close(*one.std, double(std::sqrt(m2 / (n - 1))), 0, 1e-12));
        QVERIFY(close(*one.l2, double(std::sqrt(sq)), 0, 1e-12));

        // The same values through a transposed view: same counts and histogram.
        StridedView t = v;
        t.shape = {2500, 5000};
        t.stride = {1, 2500};
        o.threads = 2;
        const TensorStats ts = computeStats(t, o);
        QCOMPARE(ts.hist, one.hist);
        QCOMPARE(ts.nan, one.nan);
        QCOMPARE(*ts.min, *one.min);
        QVERIFY(close(*ts.mean, *one.mean, 0, 1e-12));
        QVERIFY(close(*ts.std, *one.std, 0, 1e-12));
        // ... and a genuinely strided walk (every other column): counts add up.
        StridedView half = v;
        half.shape = {2500, 2500};
        half.stride = {5000, 2};
        const TensorStats hs = computeStats(half, o);
        QCOMPARE(hs.numel, 6'250'000u);
        QCOMPARE(hs.finite + hs.nan + hs.posinf + hs.neginf, hs.numel);
    }

    // Large 2-byte tensors take the pattern-counting path (small fixtures do not): check it
    // against a plain per-element reference built on the scalar conversions and histBin().
    void patternPath_data()
    {
        QTest::addColumn<int>("dtype");
        QTest::addColumn<bool>("swap");
        QTest::addColumn<bool>("neg");
        QTest::addColumn<bool>("strided");
        QTest::newRow("f16") << int(DType::Float16) << false << false << false;
        QTest::newRow("f16 swapped strided") << int(DType::Float16) << true << false << true;
        QTest::newRow("bf16") << int(DType::BFloat16) << false << false << false;
        QTest::newRow("bf16 neg strided") << int(DType::BFloat16) << false << true << true;
        QTest::newRow("i16 swapped") << int(DType::Int16) << true << false << false;
        QTest::newRow("u16 neg") << int(DType::UInt16) << false << true << false;
        QTest::newRow("u8 strided") << int(DType::UInt8) << false << false << true;
    }
    void patternPath()
    {
        QFETCH(int, dtype);
        QFETCH(bool, swap);
        QFETCH(bool, neg);
        QFETCH(bool, strided);
        const DType d = static_cast<DType>(dtype);
        const std::size_t esize = elementSize(d);
        const std::size_t count = 600'000;
        std::vector<std::uint8_t> bytes(count * esize);
        XorShift rng;
        std::vector<std::uint32_t> patterns(count);
        for (std::size_t i = 0; i < count; ++i) {
            // mostly "weights" (sign, small exponents), some arbitrary patterns
            std::uint32_t p = static_cast<std::uint32_t>(rng.next());
            if (esize == 2 && (p >> 28) != 0)
                p = (p & 0x83ff) | (d == DType::BFloat16 ? 0x3c00 : 0x3000);
            p &= esize == 2 ? 0xffffu : 0xffu;
            patterns[i] = p;
            if (esize == 2) {
                const std::uint16_t w = static_cast<std::uint16_t>(swap ? ((p >> 8) | (p << 8)) : p);
                std::memcpy(&bytes[2 * i], &w, 2);
            } else {
                bytes[i] = static_cast<std::uint8_t>(p);
            }
        }
        StridedView v;
        v.storage = {bytes.data(), bytes.size()};
        v.dtype = d;
        v.byteSwap = swap;
        v.neg = neg;
        v.shape = {static_cast<std::int64_t>(count)};
        v.stride = {1};
        if (strided) {
            v.shape = {static_cast<std::int64_t>(count / 600), 300};
            v.stride = {600, 2};
        }
        auto value = [&](std::uint32_t p) -> double {
            double x = 0;
            switch (d) {
            case DType::Float16: x = halfToFloat(static_cast<std::uint16_t>(p)); break;
            case DType::BFloat16: x = bfloat16ToFloat(static_cast<std::uint16_t>(p)); break;
            case DType::Int16: x = static_cast<std::int16_t>(p); break;
            case DType::UInt16: x = neg ? (p ? 65536.0 - p : 0.0) : p; return x;
            default: x = p; break;
            }
            return neg ? -x : x;
        };
        std::vector<double> xs;
        for (std::size_t i = 0; i < count; ++i)
            if (!strided || ((i % 600) % 2 == 0))
                xs.push_back(value(patterns[i]));
        QCOMPARE(static_cast<std::uint64_t>(xs.size()), v.numel());
        StatsOptions o;
        o.bins = 50;
        const TensorStats s = computeStats(v, o);
        std::uint64_t nan = 0, pinf = 0, ninf = 0, zeros = 0, finite = 0;
        long double sum = 0, sq = 0;
        double mn = std::numeric_limits<double>::infinity(), mx = -mn;
        for (double x : xs) {
            if (std::isnan(x)) { ++nan; continue; }
            if (std::isinf(x)) { ++(x > 0 ? pinf : ninf); continue; }
            zeros += x == 0;
            ++finite;
            sum += x;
            sq += static_cast<long double>(x) * x;
            mn = std::min(mn, x);
            mx = std::max(mx, x);
        }
        const long double mean = sum / finite;
        long double m2 = 0;
        for (double x : xs)
            if (std::isfinite(x))
                m2 += (x - mean) * (x - mean);
        QCOMPARE(s.nan, nan);
        QCOMPARE(s.posinf, pinf);
        QCOMPARE(s.neginf, ninf);
        QCOMPARE(s.zeros, zeros);
        QCOMPARE(s.finite, finite);
        QCOMPARE(*s.min, mn);
        QCOMPARE(*s.max, mx);
        const double scale = std::max(std::fabs(mn), std::fabs(mx));
        QVERIFY(close(*s.mean, double(mean), scale, 1e-12));
        QVERIFY(close(*s.std, double(std::sqrt(m2 / (finite - 1))), 0, 1e-12));
        QVERIFY(close(*s.l2, double(std::sqrt(sq)), 0, 1e-12));
        std::vector<std::uint64_t> hist(50);
        for (double x : xs)
            if (std::isfinite(x))
                if (const int b = histBin(x, mn, mx, 50); b >= 0)
                    ++hist[static_cast<std::size_t>(b)];
        QCOMPARE(s.hist, hist);
        o.threads = 3;
        compareIdentical(computeStats(v, o), s, "thread count changed the result");
    }

    void progressMonotone()
    {
        const auto bytes = makeFloat32Buffer(12'500'000);
        const StridedView v = float32View(bytes);
        std::mutex mutex;
        std::vector<std::pair<std::uint64_t, std::uint64_t>> calls;
        StatsOptions o;
        o.threads = 2;
        o.progress = [&](std::uint64_t done, std::uint64_t total) {
            std::lock_guard lock(mutex);
            calls.emplace_back(done, total);
            return true;
        };
        computeStats(v, o);
        QVERIFY(calls.size() >= 3);
        QVERIFY(calls.size() < 200); // "every few MB", not per chunk
        for (std::size_t i = 1; i < calls.size(); ++i) {
            QVERIFY(calls[i].first > calls[i - 1].first);
            QCOMPARE(calls[i].second, calls[0].second);
        }
        QCOMPARE(calls.back().first, calls.back().second);
        QCOMPARE(calls.back().second, 2 * v.numel());
    }

    void cancelQuickly()
    {
        const auto bytes = makeFloat32Buffer(12'500'000);
        const StridedView v = float32View(bytes);
        for (unsigned threads : {1u, 2u}) {
            std::atomic<bool> cancelled{false};
            std::chrono::steady_clock::time_point when;
            StatsOptions o;
            o.threads = threads;
            o.progress = [&](std::uint64_t, std::uint64_t) {
                if (!cancelled.exchange(true))
                    when = std::chrono::steady_clock::now();
                return false;
            };
            try {
                computeStats(v, o);
                QFAIL("not cancelled");
            } catch (const FormatError &e) {
                QCOMPARE(e.kind(), FormatError::Kind::Cancelled);
            }
            const auto latency = std::chrono::duration<double, std::milli>(
                                     std::chrono::steady_clock::now() - when)
                                     .count();
            qDebug("threads %u: cancel took %.2f ms", threads, latency);
            QVERIFY2(latency < 250, qPrintable(QString::number(latency)));
        }
    }

    void workerExceptionPropagates()
    {
        const auto bytes = makeFloat32Buffer(2'000'000);
        const StridedView v = float32View(bytes);
        StatsOptions o;
        o.threads = 3;
        std::atomic<int> calls{0};
        o.progress = [&](std::uint64_t, std::uint64_t) -> bool {
            if (calls++ == 0)
                throw std::runtime_error("callback failed");
            return true;
        };
        try {
            computeStats(v, o);
            QFAIL("no exception");
        } catch (const std::runtime_error &e) {
            QCOMPARE(std::string(e.what()), std::string("callback failed"));
        }
    }

    void emptyAndTooManyBins()
    {
        StridedView v;
        v.dtype = DType::Float32;
        v.shape = {0};
        v.stride = {1};
        std::vector<std::pair<std::uint64_t, std::uint64_t>> calls;
        StatsOptions o;
        o.progress = [&](std::uint64_t d, std::uint64_t t) {
            calls.emplace_back(d, t);
            return true;
        };
        const TensorStats s = computeStats(v, o);
        QCOMPARE(s.numel, 0u);
        QVERIFY(!s.min && !s.mean && s.hist.empty());
        o.bins = 1 << 25;
        try {
            computeStats(v, o);
            QFAIL("no exception");
        } catch (const FormatError &e) {
            QCOMPARE(e.kind(), FormatError::Kind::LimitExceeded);
        }
    }

    /// A view with a size-0 dim touches no element, so any strides and sizes pass its extent
    /// check; folding its dims must not overflow (fuzzing: a stride of 8e18 next to a size 0;
    /// the sanitizer pass of scripts/test.sh stops on the signed overflow this used to be).
    void emptyViewWithHugeStridesAndSizes()
    {
        const float one = 1.0f;
        const std::vector<std::pair<std::vector<std::int64_t>, std::vector<std::int64_t>>> views = {
            // a size 0 with stride 0 goes outermost; the next dim's stride * size overflows
            {{0, 3}, {0, 7957662674171687535LL}},
            // two dims of 2^40 that fold into one of 2^80 elements
            {{std::int64_t(1) << 40, std::int64_t(1) << 40, 0}, {std::int64_t(1) << 40, 1, 1}},
            {{3, 0}, {std::numeric_limits<std::int64_t>::max(), 1}},
            // contiguous-looking strides whose expected product overflows before the 0 is seen
            {{0, std::int64_t(1) << 40, std::int64_t(1) << 40}, {5, std::int64_t(1) << 40, 1}},
        };
        for (const auto &[shape, stride] : views) {
            StridedView v;
            v.storage = {reinterpret_cast<const std::uint8_t *>(&one), sizeof one};
            v.dtype = DType::Float32;
            v.shape = shape;
            v.stride = stride;
            QCOMPARE(v.numel(), 0u);
            QVERIFY(v.contiguous()); // empty: trivially, as torch's is_contiguous()
            const TensorStats s = computeStats(v);
            QCOMPARE(s.numel, 0u);
            QVERIFY(!s.min && !s.mean && s.finite == 0);
        }
    }
};

QTEST_GUILESS_MAIN(TestTensorStats)
#include "tst_tensorstats.moc"
