// SPDX-License-Identifier: MIT
#include "tensorstats.h"

#include "compensatedsum.h"
#include "formaterror.h"
#include "mappedfile.h"
#include "parallelwork.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstring>
#include <exception>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>

// Hot loops get an AVX2 clone next to the baseline one, picked at load time (no FMA in either,
// so both give bit-identical results).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CKPT_HOT __attribute__((target_clones("avx2", "default")))
#else
#define CKPT_HOT
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#define CKPT_X86_DISPATCH 1
#include <immintrin.h>
#else
#define CKPT_X86_DISPATCH 0
#endif


namespace ckpt::format {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kMaxFinite = std::numeric_limits<double>::max();
constexpr std::size_t kBlock = 2048;                 // decoded doubles per block (16 KiB, in L1)
constexpr std::uint64_t kMinChunk = 32 * kBlock;     // elements per work item
constexpr std::uint64_t kMaxChunks = 1 << 16;        // bounds the per-chunk partial results
constexpr int kMaxBins = 1 << 24;
constexpr std::uint64_t kProgressBytes = 4u << 20;   // report at most every 4 MiB
constexpr std::uint64_t kStepElements = 32 * kBlock;  // within a chunk, check for cancel this often

// Statistics of a chunk (or of everything, after merging chunks in order).
struct Partial
{
    std::uint64_t nan = 0, posinf = 0, neginf = 0, zeros = 0, finite = 0;
    double min = kInf, max = -kInf;
    CompensatedSum sum, sumSq;
    double mean = 0, m2 = 0; // Chan et al. running mean and sum of squared deviations

    void mergeMoments(std::uint64_t n, double blockMean, double blockM2) noexcept
    {
        if (n == 0)
            return;
        if (finite == 0) {
            mean = blockMean;
            m2 = blockM2;
        } else {
            const double na = static_cast<double>(finite);
            const double nb = static_cast<double>(n);
            const double total = na + nb;
            const double delta = blockMean - mean;
            mean += delta * (nb / total);
            m2 += blockM2 + delta * delta * (na * nb / total);
        }
        finite += n;
    }
    void merge(const Partial &o) noexcept
    {
        nan += o.nan;
        posinf += o.posinf;
        neginf += o.neginf;
        zeros += o.zeros;
        min = std::min(min, o.min);
        max = std::max(max, o.max);
        sum.add(o.sum);
        sumSq.add(o.sumSq);
        mergeMoments(o.finite, o.mean, o.m2);
    }
};

// ---- pass 1 kernels: one block of decoded values ----------------------------------------

typedef double V4d __attribute__((vector_size(32)));
typedef std::int64_t V4i __attribute__((vector_size(32)));

inline double hsum(const V4d &v) noexcept
{
    return (v[0] + v[1]) + (v[2] + v[3]);
}

// One pass over a block of all-finite values: the sum S and the sum of squares Q of x - c, with
// the shift c = the block's first value, plus extremes and zeros. From them the block's mean
// (c + S/n), its sum of squared deviations (Q - S^2/n) and its sum of squares (M2 + n mean^2, two
// terms that cannot cancel) follow without a second pass over the values (8 % of B3's profile).
// The shift keeps the subtraction harmless: c is one of the values, so n (mean - c)^2
// is at most n M2, and Q - S^2/n loses at most log2(n + 1) bits of M2 (11 for a block of 2048,
// which still leaves M2 good to ~1e-12); for data whose spread is not far below its offset it
// loses about one.
struct BlockMoments
{
    double c = 0, s = 0, q = 0, min = kInf, max = -kInf;
    std::uint64_t zeros = 0;

    bool finite() const noexcept { return std::isfinite(s) && std::isfinite(q); }
    double mean(std::size_t n) const noexcept { return c + s / static_cast<double>(n); }
    double m2(std::size_t n) const noexcept { return std::max(0.0, q - s * (s / static_cast<double>(n))); }
};

// The elements after a kernel's last full vector, and the result: one piece of code, so that
// every kernel does the same arithmetic in the same order (their results are compared bit for bit).
template <class ValueAt>
inline void finishBlockMoments(std::size_t i, std::size_t n, ValueAt valueAt, double c, double s,
                               double q, double mn, double mx, std::int64_t z, BlockMoments &r) noexcept
{
    for (; i < n; ++i) {
        const double v = valueAt(i);
        const double d = v - c;
        s += d;
        q += d * d;
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
        z += v == 0.0;
    }
    r.c = c;
    r.s = s;
    r.q = q;
    r.min = mn;
    r.max = mx;
    r.zeros = static_cast<std::uint64_t>(z);
}

// Moments assuming every value is finite: a NaN or infinity (or an overflowing square) makes
// `s`/`q` non-finite, and the caller then uses blockMomentsMasked(). n > 0.
CKPT_HOT void blockMomentsFast(const double *x, std::size_t n, BlockMoments &r) noexcept
{
    const double c = x[0];
    const V4d cv = V4d{} + c;
    V4d s0{}, s1{}, q0{}, q1{};
    V4d mn0 = V4d{} + kInf, mn1 = mn0, mx0 = V4d{} - kInf, mx1 = mx0;
    V4i z0{}, z1{};
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        V4d a, b;
        std::memcpy(&a, x + i, sizeof a);
        std::memcpy(&b, x + i + 4, sizeof b);
        const V4d da = a - cv, db = b - cv;
        s0 += da;
        s1 += db;
        q0 += da * da;
        q1 += db * db;
        mn0 = a < mn0 ? a : mn0;
        mn1 = b < mn1 ? b : mn1;
        mx0 = a > mx0 ? a : mx0;
        mx1 = b > mx1 ? b : mx1;
        z0 -= (a == 0.0);
        z1 -= (b == 0.0);
    }
    double s = hsum(s0) + hsum(s1), q = hsum(q0) + hsum(q1);
    double mn = kInf, mx = -kInf;
    std::int64_t z = 0;
    for (int j = 0; j < 4; ++j) {
        mn = std::min({mn, mn0[j], mn1[j]});
        mx = std::max({mx, mx0[j], mx1[j]});
        z += z0[j] + z1[j];
    }
    finishBlockMoments(i, n, [x](std::size_t k) { return x[k]; }, c, s, q, mn, mx, z, r);
}

// Over the finite values only (compensated sums of x and x^2, as the block may hold values whose
// spread overflows); also counts them.
struct MaskedMoments
{
    double sum = 0, sumSq = 0, min = kInf, max = -kInf;
    std::uint64_t zeros = 0, finite = 0;
};

MaskedMoments blockMomentsMasked(const double *x, std::size_t n) noexcept
{
    CompensatedSum s, q;
    MaskedMoments r;
    for (std::size_t i = 0; i < n; ++i) {
        const double v = x[i];
        r.zeros += v == 0.0;
        if (!(std::fabs(v) <= kMaxFinite))
            continue;
        ++r.finite;
        s.add(v);
        q.add(v * v);
        r.min = std::min(r.min, v);
        r.max = std::max(r.max, v);
    }
    r.sum = s.value();
    r.sumSq = q.value();
    return r;
}

double blockM2Masked(const double *x, std::size_t n, double mean) noexcept
{
    double m = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (std::fabs(x[i]) <= kMaxFinite) {
            const double d = x[i] - mean;
            m += d * d;
        }
    }
    return m;
}

// Merges a fast block (all n values finite).
void mergeBlock(Partial &p, const BlockMoments &b, std::size_t n) noexcept
{
    const double count = static_cast<double>(n);
    const double mean = b.mean(n);
    const double m2 = b.m2(n);
    p.zeros += b.zeros;
    p.min = std::min(p.min, b.min);
    p.max = std::max(p.max, b.max);
    p.sum.add(count * b.c + b.s);
    p.sumSq.add(m2 + count * mean * mean);
    p.mergeMoments(n, mean, m2);
}

void accumulateBlock(Partial &p, const double *x, std::size_t n)
{
    if (n == 0)
        return;
    BlockMoments b;
    blockMomentsFast(x, n, b);
    if (b.finite())
        return mergeBlock(p, b, n);
    const MaskedMoments m = blockMomentsMasked(x, n);
    for (std::size_t i = 0; i < n; ++i) {
        const double v = x[i];
        if (std::isnan(v))
            ++p.nan;
        else if (v == kInf)
            ++p.posinf;
        else if (v == -kInf)
            ++p.neginf;
    }
    p.zeros += m.zeros;
    if (m.finite == 0)
        return;
    p.min = std::min(p.min, m.min);
    p.max = std::max(p.max, m.max);
    p.sum.add(m.sum);
    p.sumSq.add(m.sumSq);
    const double mean = m.sum / static_cast<double>(m.finite);
    p.mergeMoments(m.finite, mean, blockM2Masked(x, n, mean));
}

// ---- histogram --------------------------------------------------------------------------

// torch.linspace(lo, hi, bins + 1, dtype=float64)[-1] as torch 1.13's AVX2 CPU kernel computes
// it: the last element is hi unless it falls in the vectorised part of the fill (steps a
// multiple of 8: two 4-wide vectors per iteration), where it is (hi - 3*step fused) + 3*step.
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("fp-contract=off")))
#endif
double torchRightEdge(double lo, double hi, int bins) noexcept
{
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
    const int steps = bins + 1;
    if (steps < 8 || steps % 8 != 0)
        return hi;
    const double step = (hi - lo) / static_cast<double>(bins);
    if (!std::isfinite(step))
        return hi; // hi - lo overflows: torch is undefined there
    return std::fma(-step, 3.0, hi) + 3.0 * step;
}

struct HistRule
{
    double lo = 0, right = 0, width = 0, bins = 0, inverse = 0;
    int binCount = 0;
    bool halve = false; // hi - lo overflows: work on halved values
    // edgeMin[k]: the smallest x that exact() puts in bin k or above (k = 1 .. bins - 1), so
    // that values next to an edge are resolved with one comparison instead of a division.
    std::vector<double> edgeMin;

    // `withEdges`: prepare bin() (the edge table costs O(bins log)); exact() works without.
    HistRule(double l, double h, int n, bool withEdges = true)
        : lo(l), right(torchRightEdge(l, h, n)), bins(static_cast<double>(n)), binCount(n)
    {
        width = right - lo;
        halve = !std::isfinite(width);
        if (halve)
            width = right * 0.5 - lo * 0.5;
        const double inv = bins / width;
        // The fast path needs a finite, non-degenerate scale; otherwise always go exact.
        const bool fast = !halve && std::isfinite(inv) && width > 0;
        inverse = fast ? inv : std::numeric_limits<double>::quiet_NaN();
        if (withEdges && fast && n <= (1 << 16)) {
            edgeMin.resize(static_cast<std::size_t>(n) + 1, lo);
            for (int k = 1; k < n; ++k)
                edgeMin[static_cast<std::size_t>(k)] = findEdge(k);
        }
    }

    int exact(double x) const noexcept
    {
        if (!(x >= lo && x <= right))
            return -1;
        const double t = halve ? (x * 0.5 - lo * 0.5) / width * bins : (x - lo) / width * bins;
        std::int64_t pos;
        if (!(t >= 0))
            pos = binCount / 2; // 0/0: degenerate range, x == lo == right
        else if (t >= bins)
            pos = binCount;
        else
            pos = static_cast<std::int64_t>(t);
        if (pos >= binCount)
            pos = binCount - 1;
        return static_cast<int>(pos);
    }

    // Same answer as exact(): the product with the reciprocal differs from torch's quotient by
    // a few ulps at most, so it decides every x that is not within ~1e-14 of a bin edge; the
    // others are within that of edge r, so they are in bin r - 1 or r, which edgeMin tells.
    int bin(double x) const noexcept
    {
        if (!(x >= lo && x <= right))
            return -1;
        const double t = (x - lo) * inverse;
        if (t < bins) {
            const auto k = static_cast<std::int64_t>(t);
            const double f = t - static_cast<double>(k);
            const double tol = t * 1e-14;
            if (f > tol && f < 1.0 - tol)
                return static_cast<int>(k);
        }
        if (!edgeMin.empty() && t < bins + 0.5) {
            const auto r = static_cast<int>(std::nearbyint(t));
            if (r <= 0)
                return 0;
            if (r >= binCount)
                return binCount - 1;
            return x >= edgeMin[static_cast<std::size_t>(r)] ? r : r - 1;
        }
        return exact(x);
    }

private:
    // exact() is monotone in x (every step rounds monotonically): gallop from the ideal edge
    // position over the ordered doubles to bracket the change to bin k, then bisect.
    static std::uint64_t key(double v) noexcept
    {
        const auto u = std::bit_cast<std::uint64_t>(v);
        return (u >> 63) ? ~u : u | (std::uint64_t(1) << 63);
    }
    static double fromKey(std::uint64_t k) noexcept
    {
        return std::bit_cast<double>((k >> 63) ? k & ~(std::uint64_t(1) << 63) : ~k);
    }
    double findEdge(int k) const noexcept
    {
        const std::uint64_t first = key(lo), last = key(right);
        const double guess = std::clamp(lo + width * (static_cast<double>(k) / bins), lo, right);
        std::uint64_t g = key(guess);
        auto atLeast = [&](std::uint64_t kk) { return exact(fromKey(kk)) >= k; };
        std::uint64_t a, b; // exact < k at a (or a == first), >= k at b
        if (atLeast(g)) {
            b = g;
            std::uint64_t step = 1;
            for (;;) {
                if (g - first <= step) {
                    a = first;
                    break;
                }
                if (!atLeast(g - step)) {
                    a = g - step;
                    break;
                }
                b = g - step;
                step *= 2;
            }
            if (a == first && atLeast(first))
                return lo;
        } else {
            a = g;
            std::uint64_t step = 1;
            for (;;) {
                if (last - g <= step) {
                    b = last;
                    break;
                }
                if (atLeast(g + step)) {
                    b = g + step;
                    break;
                }
                a = g + step;
                step *= 2;
            }
        }
        while (b - a > 1) {
            const std::uint64_t mid = a + (b - a) / 2;
            if (atLeast(mid))
                b = mid;
            else
                a = mid;
        }
        return fromKey(b);
    }
};

// Histogram of a block; hist has a spare slot at [bins] that nothing reads.
void histogramBlockScalar(const HistRule &rule, const double *x, std::size_t n,
                          std::uint64_t *hist) noexcept
{
    for (std::size_t i = 0; i < n; ++i) {
        const int b = rule.bin(x[i]);
        ++hist[b < 0 ? rule.binCount : b];
    }
}

#if CKPT_X86_DISPATCH
// AVX2: four values at a time. t + 2^52 rounds t to the nearest integer r (in the low mantissa
// bits); a lane is clear when |t - r| is well above the ulp noise, and then the bin is r or
// r - 1. A vector whose in-range lanes are all clear is counted straight away, anything else
// goes through the scalar rule.
// With `pairs` (bins x bins 32-bit counters), two values of a clean vector share one increment
// of pairs[k0 * bins + k1]: half the scattered read-modify-writes; flushPairs() marginalises.
__attribute__((target("avx2"))) void histogramBlockAvx2(const HistRule &rule, const double *x,
                                                        std::size_t n, std::uint64_t *hist,
                                                        std::uint32_t *pairs) noexcept
{
    const __m256i pairScale = _mm256_setr_epi64x(rule.binCount, 1, rule.binCount, 1);
    const __m256d lo = _mm256_set1_pd(rule.lo);
    const __m256d right = _mm256_set1_pd(rule.right);
    const __m256d inv = _mm256_set1_pd(rule.inverse);
    const __m256d rel = _mm256_set1_pd(1e-14);
    const __m256d magic = _mm256_set1_pd(4503599627370496.0); // 2^52
    const __m256d absMask = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7fffffffffffffff));
    const __m256d zero = _mm256_setzero_pd();
    std::size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const __m256d v = _mm256_loadu_pd(x + i);
        const __m256d inRange = _mm256_and_pd(_mm256_cmp_pd(v, lo, _CMP_GE_OQ),
                                              _mm256_cmp_pd(v, right, _CMP_LE_OQ));
        const __m256d t = _mm256_mul_pd(_mm256_sub_pd(v, lo), inv);
        const __m256d biased = _mm256_add_pd(t, magic);
        const __m256d f = _mm256_sub_pd(t, _mm256_sub_pd(biased, magic));
        const __m256d clear = _mm256_cmp_pd(_mm256_and_pd(f, absMask), _mm256_mul_pd(t, rel),
                                            _CMP_GT_OQ);
        const int inMask = _mm256_movemask_pd(inRange);
        const int okMask = _mm256_movemask_pd(_mm256_and_pd(clear, inRange));
        // bin = r - (f < 0), from the integer bits of t + 2^52
        const __m256i k = _mm256_add_epi64(_mm256_castpd_si256(biased),
                                           _mm256_castpd_si256(_mm256_cmp_pd(f, zero, _CMP_LT_OQ)));
        if (okMask == 0xf && pairs) [[likely]] {
            const __m256i m = _mm256_mul_epu32(k, pairScale); // low 32 bits of k: the bin
            const __m256i sum = _mm256_add_epi64(m, _mm256_shuffle_epi32(m, _MM_SHUFFLE(1, 0, 3, 2)));
            ++pairs[static_cast<std::uint32_t>(_mm_cvtsi128_si32(_mm256_castsi256_si128(sum)))];
            ++pairs[static_cast<std::uint32_t>(_mm_cvtsi128_si32(_mm256_extracti128_si256(sum, 1)))];
            continue;
        }
        alignas(32) std::uint64_t kk[4];
        _mm256_store_si256(reinterpret_cast<__m256i *>(kk), k);
        if (okMask == 0xf) {
            ++hist[static_cast<std::uint32_t>(kk[0])];
            ++hist[static_cast<std::uint32_t>(kk[1])];
            ++hist[static_cast<std::uint32_t>(kk[2])];
            ++hist[static_cast<std::uint32_t>(kk[3])];
        } else {
            for (int j = 0; j < 4; ++j) {
                if (okMask & (1 << j)) {
                    ++hist[static_cast<std::uint32_t>(kk[j])];
                } else if (inMask & (1 << j)) {
                    const int b = rule.bin(x[i + static_cast<std::size_t>(j)]);
                    ++hist[b < 0 ? rule.binCount : b];
                }
            }
        }
    }
    histogramBlockScalar(rule, x + i, n - i, hist);
}
#endif

#if CKPT_X86_DISPATCH
// ---- float32 in place (AVX2) -----------------------------------------------------------------
// Contiguous native float32 is the commonest tensor by far (issue 7, B3): its floats are read
// where they lie instead of being widened into a buffer of doubles first, which was a third of
// the time. Pass 1 sums the same lanes in the same order as blockMomentsFast() does
// on the widened values (element i in lane i % 8, multiply then add, no FMA), so its results are
// bit-identical to the generic path's.

__attribute__((target("avx2"))) inline __m256 loadF32x8(const std::uint8_t *p) noexcept
{
    return _mm256_loadu_ps(reinterpret_cast<const float *>(p));
}

__attribute__((target("avx2"))) void blockMomentsF32(const std::uint8_t *p, std::size_t n,
                                                     BlockMoments &r) noexcept
{
    float first;
    std::memcpy(&first, p, 4);
    const double c = first;
    const __m256d cv = _mm256_set1_pd(c);
    __m256d s0 = _mm256_setzero_pd(), s1 = s0, q0 = s0, q1 = s0;
    __m256 mn = _mm256_set1_ps(std::numeric_limits<float>::infinity());
    __m256 mx = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
    __m256i z = _mm256_setzero_si256();
    const __m256 zero = _mm256_setzero_ps();
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = loadF32x8(p + 4 * i);
        const __m256d a = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), cv);
        const __m256d b = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), cv);
        s0 = _mm256_add_pd(s0, a);
        s1 = _mm256_add_pd(s1, b);
        q0 = _mm256_add_pd(q0, _mm256_mul_pd(a, a));
        q1 = _mm256_add_pd(q1, _mm256_mul_pd(b, b));
        mn = _mm256_min_ps(v, mn); // v < mn ? v : mn, as the generic kernel
        mx = _mm256_max_ps(v, mx);
        z = _mm256_sub_epi32(z, _mm256_castps_si256(_mm256_cmp_ps(v, zero, _CMP_EQ_OQ)));
    }
    alignas(32) double sv0[4], sv1[4], qv0[4], qv1[4];
    alignas(32) float mnv[8], mxv[8];
    alignas(32) std::int32_t zv[8];
    _mm256_store_pd(sv0, s0);
    _mm256_store_pd(sv1, s1);
    _mm256_store_pd(qv0, q0);
    _mm256_store_pd(qv1, q1);
    _mm256_store_ps(mnv, mn);
    _mm256_store_ps(mxv, mx);
    _mm256_store_si256(reinterpret_cast<__m256i *>(zv), z);
    double s = ((sv0[0] + sv0[1]) + (sv0[2] + sv0[3])) + ((sv1[0] + sv1[1]) + (sv1[2] + sv1[3]));
    double q = ((qv0[0] + qv0[1]) + (qv0[2] + qv0[3])) + ((qv1[0] + qv1[1]) + (qv1[2] + qv1[3]));
    double lo = kInf, hi = -kInf;
    std::int64_t zeros = 0;
    for (int j = 0; j < 4; ++j) {
        lo = std::min({lo, double(mnv[j]), double(mnv[j + 4])});
        hi = std::max({hi, double(mxv[j]), double(mxv[j + 4])});
        zeros += zv[j] + zv[j + 4];
    }
    finishBlockMoments(i, n, [p](std::size_t k) {
        float f;
        std::memcpy(&f, p + 4 * k, 4);
        return static_cast<double>(f);
    }, c, s, q, lo, hi, zeros, r);
}

void widenF32(const std::uint8_t *p, std::size_t n, double *out) noexcept
{
    for (std::size_t i = 0; i < n; ++i) {
        float f;
        std::memcpy(&f, p + 4 * i, 4);
        out[i] = f;
    }
}

// accumulateBlock() for 0 < n <= kBlock floats at p; `scratch` (kBlock doubles) for a block with
// a NaN or infinity, which goes through the generic masked path.
void accumulateBlockF32(Partial &part, const std::uint8_t *p, std::size_t n, double *scratch)
{
    BlockMoments b;
    blockMomentsF32(p, n, b);
    if (b.finite())
        return mergeBlock(part, b, n);
    widenF32(p, n, scratch);
    accumulateBlock(part, scratch, n);
}

// The histogram rule in single precision, eight floats at a time. t = (x - lo) * (bins / width)
// in float differs from the exact position by at most `tol` bins (three float roundings of at
// most 2^-24 relative each on t <= bins + 1, the rounding of lo to float scaled by
// bins / width, and float underflow; 8 * 2^-24 * (bins + 1) + 2 * |lo - float(lo)| * bins / width
// + 2^-20 covers all of them with room to spare). A lane whose t is further than that from an
// integer is in bin floor(t) by the exact rule too; the others, and everything when the range
// does not fit float, take HistRule::bin() in double. The range test is exact: for a float x,
// x >= lo <=> x >= the smallest float >= lo (and likewise for the right edge).
struct F32HistRule
{
    bool usable = false;
    float lo = 0, loIn = 0, hiIn = 0, inverse = 0, tol = 0;
    int bins = 0;
    bool allIn = false; ///< set by the caller: every value is known to be in [loIn, hiIn]

    explicit F32HistRule(const HistRule &rule)
    {
        constexpr double fmax = std::numeric_limits<float>::max();
        if (rule.halve || !(rule.inverse > 0) || !std::isfinite(rule.inverse) || rule.binCount > (1 << 16)
            || !(std::fabs(rule.lo) <= fmax) || !(std::fabs(rule.right) <= fmax) || rule.inverse > fmax)
            return;
        lo = static_cast<float>(rule.lo);
        loIn = lo;
        if (static_cast<double>(loIn) < rule.lo)
            loIn = std::nextafter(loIn, std::numeric_limits<float>::infinity());
        hiIn = static_cast<float>(rule.right);
        if (static_cast<double>(hiIn) > rule.right)
            hiIn = std::nextafter(hiIn, -std::numeric_limits<float>::infinity());
        inverse = static_cast<float>(rule.inverse);
        const double t = 8.0 * std::ldexp(1.0, -24) * (rule.bins + 1.0)
                         + 2.0 * std::fabs(rule.lo - static_cast<double>(lo)) * rule.inverse
                         + std::ldexp(1.0, -20);
        if (!(t < 1e-3))
            return; // too close to float's resolution: most values would go the slow way
        tol = std::nextafter(static_cast<float>(t), 1.0f);
        bins = rule.binCount;
        usable = true;
    }
};

// Histogram of n floats at p under `fr` (usable); hist/pairs as in histogramBlockAvx2().
// kAllIn: every value is known to be in range (the [min, max] histogram of a tensor without
// NaN/Inf), so the range test is left out.
template <bool kAllIn>
__attribute__((target("avx2"))) void histogramBlockF32(const HistRule &rule, const F32HistRule &fr,
                                                       const std::uint8_t *p, std::size_t n,
                                                       std::uint64_t *hist,
                                                       std::uint32_t *pairs) noexcept
{
    const __m256 lo = _mm256_set1_ps(fr.lo);
    const __m256 loIn = _mm256_set1_ps(fr.loIn);
    const __m256 hiIn = _mm256_set1_ps(fr.hiIn);
    const __m256 inv = _mm256_set1_ps(fr.inverse);
    const __m256 tol = _mm256_set1_ps(fr.tol);
    const __m256 oneMinusTol = _mm256_set1_ps(1.0f - fr.tol);
    const __m256i lastBin = _mm256_set1_epi32(fr.bins - 1);
    const __m256i pairScale = _mm256_set1_epi64x(fr.bins);
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = loadF32x8(p + 4 * i);
        const __m256 t = _mm256_mul_ps(_mm256_sub_ps(v, lo), inv);
        // k = trunc(t); a lane is clear when its fraction is more than tol from 0 and from 1
        __m256i k = _mm256_cvttps_epi32(t);
        const __m256 f = _mm256_sub_ps(t, _mm256_cvtepi32_ps(k));
        __m256 clear = _mm256_and_ps(_mm256_cmp_ps(f, tol, _CMP_GT_OQ),
                                     _mm256_cmp_ps(f, oneMinusTol, _CMP_LT_OQ));
        __m256 inRange;
        if constexpr (!kAllIn) {
            inRange = _mm256_and_ps(_mm256_cmp_ps(v, loIn, _CMP_GE_OQ), _mm256_cmp_ps(v, hiIn, _CMP_LE_OQ));
            clear = _mm256_and_ps(clear, inRange);
        }
        const int okMask = _mm256_movemask_ps(clear);
        // in [0, bins - 1] for a clear lane by construction; clamped so that no lane can index
        // outside the tables whatever the arithmetic did
        k = _mm256_min_epi32(_mm256_max_epi32(k, _mm256_setzero_si256()), lastBin);
        if (okMask == 0xff && pairs) [[likely]] {
            // even lane * bins + odd lane, in each 64-bit lane
            const __m256i idx = _mm256_add_epi64(_mm256_mul_epu32(k, pairScale), _mm256_srli_epi64(k, 32));
            alignas(32) std::uint64_t pi[4];
            _mm256_store_si256(reinterpret_cast<__m256i *>(pi), idx);
            ++pairs[static_cast<std::uint32_t>(pi[0])];
            ++pairs[static_cast<std::uint32_t>(pi[1])];
            ++pairs[static_cast<std::uint32_t>(pi[2])];
            ++pairs[static_cast<std::uint32_t>(pi[3])];
            continue;
        }
        alignas(32) std::int32_t kk[8];
        _mm256_store_si256(reinterpret_cast<__m256i *>(kk), k);
        if (okMask == 0xff) {
            for (int j = 0; j < 8; ++j)
                ++hist[kk[j]];
            continue;
        }
        const int inMask = kAllIn ? 0xff : _mm256_movemask_ps(inRange);
        for (int j = 0; j < 8; ++j) {
            if (okMask & (1 << j)) {
                ++hist[kk[j]];
            } else if (inMask & (1 << j)) {
                float x;
                std::memcpy(&x, p + 4 * (i + static_cast<std::size_t>(j)), 4);
                const int b = rule.bin(x);
                ++hist[b < 0 ? rule.binCount : b];
            }
        }
    }
    for (; i < n; ++i) {
        float x;
        std::memcpy(&x, p + 4 * i, 4);
        const int b = rule.bin(x);
        ++hist[b < 0 ? rule.binCount : b];
    }
}
#endif

// A worker's histogram: bins + a spare slot for values outside the range, and (AVX2, up to
// kMaxPairBins bins) the pair table, flushed into the histogram after each chunk.
constexpr int kMaxPairBins = 128;

struct HistAccumulator
{
    std::vector<std::uint64_t> hist;
    std::vector<std::uint32_t> pairs;
    std::size_t bins = 0;

    HistAccumulator(std::size_t n, bool usePairs) : hist(n + 1), bins(n)
    {
#if CKPT_X86_DISPATCH
        if (usePairs && n <= kMaxPairBins && __builtin_cpu_supports("avx2"))
            pairs.assign(n * n, 0);
#else
        (void)usePairs;
#endif
    }

    void add(const HistRule &rule, const double *x, std::size_t n)
    {
#if CKPT_X86_DISPATCH
        static const bool avx2 = __builtin_cpu_supports("avx2");
        if (avx2)
            return histogramBlockAvx2(rule, x, n, hist.data(), pairs.empty() ? nullptr : pairs.data());
#endif
        histogramBlockScalar(rule, x, n, hist.data());
    }

#if CKPT_X86_DISPATCH
    // n floats read in place (the caller checked fr.usable and AVX2).
    void addF32(const HistRule &rule, const F32HistRule &fr, const std::uint8_t *p, std::size_t n)
    {
        std::uint32_t *pp = pairs.empty() ? nullptr : pairs.data();
        if (fr.allIn)
            histogramBlockF32<true>(rule, fr, p, n, hist.data(), pp);
        else
            histogramBlockF32<false>(rule, fr, p, n, hist.data(), pp);
    }
#endif

    void flushPairs()
    {
        if (pairs.empty())
            return;
        for (std::size_t a = 0; a < bins; ++a) {
            const std::uint32_t *row = &pairs[a * bins];
            std::uint64_t rowSum = 0;
            for (std::size_t b = 0; b < bins; ++b) {
                rowSum += row[b];
                hist[b] += row[b];
            }
            hist[a] += rowSum;
        }
        std::fill(pairs.begin(), pairs.end(), 0u);
    }
};

} // namespace

int histBin(double x, double lo, double hi, int bins) noexcept
{
    if (bins <= 0)
        return -1;
    return HistRule(lo, hi, bins, false).exact(x);
}

namespace {

// The histogram range of PRODUCT.md 4 (explicit or [min, max], widened when empty); false when
// there is no usable range.
bool histogramRange(const StatsOptions &options, double min, double max, double &lo, double &hi)
{
    lo = options.rangeLo.value_or(min);
    hi = options.rangeHi.value_or(max);
    if (lo > hi)
        std::swap(lo, hi);
    if (lo == hi) {
        lo -= 0.5;
        hi += 0.5;
        if (lo == hi) { // |value| so large that 0.5 vanishes
            lo = std::nextafter(lo, -kInf);
            hi = std::nextafter(hi, kInf);
        }
    }
    return std::isfinite(lo) && std::isfinite(hi);
}

void finishMoments(TensorStats &stats, const Partial &all)
{
    stats.nan = all.nan;
    stats.posinf = all.posinf;
    stats.neginf = all.neginf;
    stats.zeros = all.zeros;
    stats.finite = all.finite;
    if (all.finite > 0) {
        stats.min = all.min;
        stats.max = all.max;
        stats.mean = all.sum.value() / static_cast<double>(all.finite);
        stats.l2 = std::sqrt(all.sumSq.value());
    }
    if (all.finite > 1)
        stats.std = std::sqrt(std::max(0.0, all.m2) / static_cast<double>(all.finite - 1));
}

// 2-byte dtypes switch to pattern counting from this many elements on (below, the 64K-entry
// tables cost more than they save); 1-byte dtypes always count patterns.
constexpr std::uint64_t kPatternMinElements = 1 << 18;

} // namespace

static TensorStats computeStatsOfView(const StridedView &view, const StatsOptions &options)
{
    if (!isDecodable(view.dtype))
        throw FormatError(FormatError::Kind::Unsupported,
                          "no statistics for dtype " + std::string(dtypeName(view.dtype)));
    if (options.bins > kMaxBins)
        throw FormatError(FormatError::Kind::LimitExceeded,
                          "too many histogram bins (" + std::to_string(options.bins) + ")");
    const ElementDecoder decoder(view, /*anyOrder=*/true);
    TensorStats stats;
    const std::uint64_t n = decoder.numel();
    stats.numel = n;

    std::uint64_t chunk = std::max(kMinChunk, (n + kMaxChunks - 1) / kMaxChunks);
    chunk = (chunk + kBlock - 1) / kBlock * kBlock;
    const std::uint64_t chunks = (n + chunk - 1) / chunk;
    unsigned threads = options.threads ? options.threads : std::thread::hardware_concurrency();
    threads = static_cast<unsigned>(std::clamp<std::uint64_t>(chunks, 1, std::max(1u, threads)));

    const std::uint64_t esize = std::max<std::uint64_t>(1, elementSize(view.dtype));
    ParallelWork::Options work;
    work.progress = &options.progress;
    work.total = 2 * n;
    work.reportStep = kProgressBytes / esize;
    work.what = "statistics";
    work.background = options.background;
    ParallelWork runner(work);
    // releasePages: the view's pages go when its statistics are done (one call per tensor;
    // dropping them chunk by chunk from the workers cost more in TLB shootdowns than it saved).
    struct PageRelease
    {
        const std::uint8_t *run;
        std::uint64_t bytes;
        ~PageRelease()
        {
            if (run)
                MappedFile::releasePages({run, bytes});
        }
    } pageRelease{options.releasePages ? decoder.contiguousRun() : nullptr, n * esize};

    // 1- and 2-byte dtypes: count the storage patterns in one pass and derive everything from
    // the table (each distinct value weighted by its count; the histogram bins each distinct
    // value with the same rule).
    const std::uint32_t patterns = decoder.patternCount();
    if (patterns == 256 || (patterns > 0 && n >= kPatternMinElements)) {
        // 2-byte dtypes count into 32-bit tables (see countPatterns), moved into a worker's
        // 64-bit one (made then) before 2^31 elements.
        const bool narrow = patterns == 65536;
        constexpr std::uint64_t kNarrowFlush = std::uint64_t(1) << 31;
        std::vector<std::vector<std::uint64_t>> tables(threads);
        std::vector<std::vector<std::uint32_t>> narrowTables(threads);
        std::vector<std::uint64_t> narrowCounted(threads, 0);
        for (unsigned w = 0; w < threads; ++w) {
            if (narrow)
                narrowTables[w].assign(patterns, 0u);
            else
                tables[w].assign(patterns, 0);
        }
        auto flushNarrow = [&](unsigned worker) {
            std::vector<std::uint64_t> &wide = tables[worker];
            wide.resize(patterns, 0);
            std::vector<std::uint32_t> &t = narrowTables[worker];
            for (std::uint32_t p = 0; p < patterns; ++p)
                wide[p] += t[p];
            std::fill(t.begin(), t.end(), 0u);
            narrowCounted[worker] = 0;
        };
        runner.run(chunks, threads, [&](std::uint64_t c, unsigned worker) {
            const std::uint64_t begin = c * chunk;
            const std::uint64_t end = std::min(n, begin + chunk);
            for (std::uint64_t b = begin; b < end; b += kStepElements) {
                const std::uint64_t len = std::min(kStepElements, end - b);
                if (narrow) {
                    if (narrowCounted[worker] + len > kNarrowFlush)
                        flushNarrow(worker);
                    decoder.countPatterns(b, len, narrowTables[worker].data());
                    narrowCounted[worker] += len;
                } else {
                    decoder.countPatterns(b, len, tables[worker].data());
                }
                if (!runner.step(2 * len))
                    return;
            }
        });
        std::vector<std::uint64_t> table(patterns, 0);
        for (unsigned w = 0; w < threads; ++w) {
            for (std::uint32_t p = 0; p < tables[w].size(); ++p)
                table[p] += tables[w][p];
            for (std::uint32_t p = 0; p < narrowTables[w].size(); ++p)
                table[p] += narrowTables[w][p];
        }
        std::vector<double> values(patterns);
        Partial all;
        for (std::uint32_t p = 0; p < patterns; ++p) {
            const std::uint64_t c = table[p];
            if (c == 0)
                continue;
            const double v = values[p] = decoder.patternValue(p, true);
            const double weight = static_cast<double>(c);
            if (std::isnan(v)) {
                all.nan += c;
            } else if (v == kInf) {
                all.posinf += c;
            } else if (v == -kInf) {
                all.neginf += c;
            } else {
                if (v == 0)
                    all.zeros += c;
                all.finite += c;
                all.min = std::min(all.min, v);
                all.max = std::max(all.max, v);
                all.sum.add(weight * v);
                all.sumSq.add(weight * v * v);
            }
        }
        if (all.finite > 0) {
            const double mean = all.sum.value() / static_cast<double>(all.finite);
            CompensatedSum m2;
            for (std::uint32_t p = 0; p < patterns; ++p)
                if (table[p] != 0 && std::isfinite(values[p]))
                    m2.add(static_cast<double>(table[p]) * (values[p] - mean) * (values[p] - mean));
            all.m2 = m2.value();
        }
        finishMoments(stats, all);
        double lo = 0, hi = 0;
        if (all.finite > 0 && options.bins > 0) {
            const bool usable = histogramRange(options, all.min, all.max, lo, hi);
            stats.histLo = lo;
            stats.histHi = hi;
            if (usable) {
                const HistRule rule(lo, hi, options.bins, false);
                stats.hist.assign(static_cast<std::size_t>(options.bins), 0);
                for (std::uint32_t p = 0; p < patterns; ++p) {
                    if (table[p] == 0 || !std::isfinite(values[p]))
                        continue;
                    const int b = rule.exact(values[p]);
                    if (b >= 0)
                        stats.hist[static_cast<std::size_t>(b)] += table[p];
                }
            }
        }
        runner.finish();
        return stats;
    }

    // A fixed histogram range is known up front: the histogram goes along with pass 1.
    double lo = 0, hi = 0;
    const bool fixedRange = options.rangeLo && options.rangeHi && options.bins > 0;
    const bool fixedUsable = fixedRange && histogramRange(options, 0, 0, lo, hi);
    std::optional<HistRule> rule;
    const auto bins = static_cast<std::size_t>(std::max(0, options.bins));
    // Pair counters hold up to a chunk's count: only when that fits 32 bits.
    std::vector<HistAccumulator> hists(threads, HistAccumulator(bins, chunk < (1ull << 31)));

    // Contiguous native float32 with AVX2: read in place (see blockMomentsF32).
    const std::uint8_t *f32 = nullptr;
#if CKPT_X86_DISPATCH
    static const bool avx2 = __builtin_cpu_supports("avx2");
    if (avx2)
        f32 = decoder.contiguousFloat32();
    std::optional<F32HistRule> f32Rule;
    auto setRule = [&](double l, double h) {
        rule.emplace(l, h, options.bins);
        f32Rule.emplace(*rule);
    };
    // Histogram of `len` elements from `b`: in place when the float rule allows it.
    auto histBlock = [&](HistAccumulator &acc, std::uint64_t b, std::size_t len, double *buf, bool decoded) {
        if (f32 && f32Rule->usable)
            return acc.addF32(*rule, *f32Rule, f32 + 4 * b, len);
        if (!decoded)
            decoder.decode(b, len, buf, true);
        acc.add(*rule, buf, len);
    };
#else
    auto setRule = [&](double l, double h) { rule.emplace(l, h, options.bins); };
    auto histBlock = [&](HistAccumulator &acc, std::uint64_t b, std::size_t len, double *buf, bool decoded) {
        if (!decoded)
            decoder.decode(b, len, buf, true);
        acc.add(*rule, buf, len);
    };
#endif
    if (fixedUsable)
        setRule(lo, hi);

    // Pass 1: counts, extremes, sums and (per block, merged with Chan's formula) the sum of
    // squared deviations.
    std::vector<Partial> partials(chunks);
    std::vector<std::vector<double>> buffers(threads, std::vector<double>(kBlock));
    runner.run(chunks, threads, [&](std::uint64_t c, unsigned worker) {
        double *buf = buffers[worker].data();
        Partial p;
        const std::uint64_t begin = c * chunk;
        const std::uint64_t end = std::min(n, begin + chunk);
        std::uint64_t sinceStep = 0;
        for (std::uint64_t b = begin; b < end; b += kBlock) {
            const auto len = static_cast<std::size_t>(std::min<std::uint64_t>(kBlock, end - b));
#if CKPT_X86_DISPATCH
            if (f32) {
                accumulateBlockF32(p, f32 + 4 * b, len, buf);
                if (rule)
                    histBlock(hists[worker], b, len, buf, false);
            } else
#endif
            {
                decoder.decode(b, len, buf, true);
                accumulateBlock(p, buf, len);
                if (rule)
                    histBlock(hists[worker], b, len, buf, true);
            }
            if ((sinceStep += len) >= kStepElements) {
                if (!runner.step((fixedRange ? 2 : 1) * sinceStep))
                    return;
                sinceStep = 0;
            }
        }
        if (rule)
            hists[worker].flushPairs();
        partials[c] = p;
        runner.advance((fixedRange ? 2 : 1) * sinceStep);
    });
    Partial all;
    for (const Partial &p : partials)
        all.merge(p);
    finishMoments(stats, all);

    // Pass 2: the histogram over [lo, hi] = [min, max] (or whatever of it is not fixed).
    if (all.finite > 0 && options.bins > 0) {
        bool usable = fixedUsable;
        if (!fixedRange) {
            usable = histogramRange(options, all.min, all.max, lo, hi);
            if (usable) {
                setRule(lo, hi);
#if CKPT_X86_DISPATCH
                // [min, max] of a tensor without NaN/Inf: nothing can fall outside
                f32Rule->allIn = all.nan == 0 && all.posinf == 0 && all.neginf == 0
                                 && static_cast<double>(f32Rule->loIn) <= all.min
                                 && static_cast<double>(f32Rule->hiIn) >= all.max;
#endif
                runner.run(chunks, threads, [&](std::uint64_t c, unsigned worker) {
                    double *buf = buffers[worker].data();
                    const std::uint64_t begin = c * chunk;
                    const std::uint64_t end = std::min(n, begin + chunk);
                    std::uint64_t sinceStep = 0;
                    for (std::uint64_t b = begin; b < end; b += kBlock) {
                        const auto len = static_cast<std::size_t>(std::min<std::uint64_t>(kBlock, end - b));
                        histBlock(hists[worker], b, len, buf, false);
                        if ((sinceStep += len) >= kStepElements) {
                            if (!runner.step(sinceStep))
                                return;
                            sinceStep = 0;
                        }
                    }
                    hists[worker].flushPairs();
                    runner.advance(sinceStep);
                });
            }
        }
        stats.histLo = lo;
        stats.histHi = hi;
        if (usable) {
            stats.hist.assign(bins, 0);
            for (const auto &h : hists)
                for (std::size_t i = 0; i < bins; ++i)
                    stats.hist[i] += h.hist[i];
        }
    }
    runner.finish();
    return stats;
}

namespace {

/// Statistics of a view with broadcast dimensions (stride 0, as `expand` makes) are those of the
/// view without them, each element counted k times (k = the product of those dimensions): a
/// 1-element storage expanded to 2^40 elements is summarised in one step instead of a loop over
/// 2^40 copies of one value (issue 6: a few bytes must not buy hours of work). Counts and the
/// histogram scale by k, mean/min/max stay, l2 scales by sqrt(k), and the sum of squared
/// deviations by k (std = sqrt(k M2 / (k n - 1))). A quantisation axis is never collapsed: its
/// scales differ along it even with stride 0.
TensorStats statsOfBroadcast(const StridedView &view, const StatsOptions &options)
{
    StridedView reduced = view;
    std::uint64_t k = 1;
    for (std::size_t d = 0; d < view.shape.size() && d < view.stride.size(); ++d) {
        if (view.stride[d] == 0 && view.shape[d] > 1 && static_cast<std::int64_t>(d) != view.quantAxis) {
            k *= static_cast<std::uint64_t>(view.shape[d]); // numel <= 2^63 - 1 was validated
            reduced.shape[d] = 1;
        }
    }
    if (k == 1)
        return computeStatsOfView(view, options);
    TensorStats r = computeStatsOfView(reduced, options);
    const std::uint64_t reducedFinite = r.finite;
    r.numel *= k;
    r.finite *= k;
    r.nan *= k;
    r.posinf *= k;
    r.neginf *= k;
    r.zeros *= k;
    for (auto &c : r.hist)
        c *= k;
    if (r.l2)
        r.l2 = *r.l2 * std::sqrt(static_cast<double>(k));
    if (r.finite > 1) {
        const double m2 = r.std ? *r.std * *r.std * static_cast<double>(reducedFinite - 1) : 0.0;
        r.std = std::sqrt(static_cast<double>(k) * m2 / static_cast<double>(r.finite - 1));
    }
    return r;
}

} // namespace

TensorStats computeStats(const StridedView &view, const StatsOptions &options)
{
    TensorStats stats = statsOfBroadcast(view, options);
    // Issue 6: values read from a file that was truncated or rewritten meanwhile are meaningless
    // (pages past its new end read as zeros, see MappedFile).
    MappedFile::throwIfChanged(view.storage);
    return stats;
}

} // namespace ckpt::format
