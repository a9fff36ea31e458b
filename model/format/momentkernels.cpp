// SPDX-License-Identifier: MIT
#include "statskernels.h"

#include <algorithm>
#include <cstring>

// Hot loops get an AVX2 clone next to the baseline one, picked at load time (no FMA in either,
// so both give bit-identical results).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CKPT_HOT __attribute__((target_clones("avx2", "default")))
#else
#define CKPT_HOT
#endif

namespace ckpt::format::statskernels {

namespace {

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


} // namespace

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

#if CKPT_X86_DISPATCH
// Contiguous native float32 is the commonest tensor by far (issue 7, B3): its floats are read
// where they lie instead of being widened into a buffer of doubles first, which was a third of
// the time. Pass 1 sums the same lanes in the same order as blockMomentsFast() does
// on the widened values (element i in lane i % 8, multiply then add, no FMA), so its results are
// bit-identical to the generic path's.

namespace {

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

} // namespace

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
#endif

} // namespace ckpt::format::statskernels
