// SPDX-License-Identifier: MIT
#include "statskernels.h"

#include <algorithm>
#include <cstring>

namespace ckpt::format::statskernels {

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

namespace {

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

} // namespace

#if CKPT_X86_DISPATCH
F32HistRule::F32HistRule(const HistRule &rule)
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
#endif

HistAccumulator::HistAccumulator(std::size_t n, bool usePairs) : hist(n + 1), bins(n)
{
#if CKPT_X86_DISPATCH
    if (usePairs && n <= kMaxPairBins && __builtin_cpu_supports("avx2"))
        pairs.assign(n * n, 0);
#else
    (void)usePairs;
#endif
}

void HistAccumulator::add(const HistRule &rule, const double *x, std::size_t n)
{
#if CKPT_X86_DISPATCH
    static const bool avx2 = __builtin_cpu_supports("avx2");
    if (avx2)
        return histogramBlockAvx2(rule, x, n, hist.data(), pairs.empty() ? nullptr : pairs.data());
#endif
    histogramBlockScalar(rule, x, n, hist.data());
}

#if CKPT_X86_DISPATCH
void HistAccumulator::addF32(const HistRule &rule, const F32HistRule &fr, const std::uint8_t *p, std::size_t n)
{
    std::uint32_t *pp = pairs.empty() ? nullptr : pairs.data();
    if (fr.allIn)
        histogramBlockF32<true>(rule, fr, p, n, hist.data(), pp);
    else
        histogramBlockF32<false>(rule, fr, p, n, hist.data(), pp);
}
#endif

void HistAccumulator::flushPairs()
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

} // namespace ckpt::format::statskernels
