// SPDX-License-Identifier: MIT
#pragma once

// Internal to ckpt_format: the statistics kernels that computeStats() (tensorstats.cpp, which
// plans the chunks, runs them on the workers and assembles TensorStats) calls block by block.
//   momentkernels.cpp     pass 1: counts, extremes and moments of one block
//   histogramkernels.cpp  torch's histogram rule and the per-block histogram kernels

#include "runningmoments.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__)
#define CKPT_X86_DISPATCH 1
#include <immintrin.h>
#else
#define CKPT_X86_DISPATCH 0
#endif

namespace ckpt::format::statskernels {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kMaxFinite = std::numeric_limits<double>::max();
constexpr std::size_t kBlock = 2048;                 // decoded doubles per block (16 KiB, in L1)

using Partial = RunningMoments;

/// Merges the statistics of the n decoded values at x (n <= kBlock) into p.
void accumulateBlock(Partial &p, const double *x, std::size_t n);

// ---- histogram --------------------------------------------------------------------------

// torch.linspace(lo, hi, bins + 1, dtype=float64)[-1] as torch 1.13's AVX2 CPU kernel computes
// it: the last element is hi unless it falls in the vectorised part of the fill (steps a
// multiple of 8: two 4-wide vectors per iteration), where it is (hi - 3*step fused) + 3*step.
double torchRightEdge(double lo, double hi, int bins) noexcept;

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


#if CKPT_X86_DISPATCH
__attribute__((target("avx2"))) inline __m256 loadF32x8(const std::uint8_t *p) noexcept
{
    return _mm256_loadu_ps(reinterpret_cast<const float *>(p));
}

// accumulateBlock() for 0 < n <= kBlock floats at p; `scratch` (kBlock doubles) for a block with
// a NaN or infinity, which goes through the generic masked path.
void accumulateBlockF32(Partial &part, const std::uint8_t *p, std::size_t n, double *scratch);

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

    explicit F32HistRule(const HistRule &rule);
};
#endif

// A worker's histogram: bins + a spare slot for values outside the range, and (AVX2, up to
// kMaxPairBins bins) the pair table, flushed into the histogram after each chunk.
constexpr int kMaxPairBins = 128;

struct HistAccumulator
{
    std::vector<std::uint64_t> hist;
    std::vector<std::uint32_t> pairs;
    std::size_t bins = 0;

    HistAccumulator(std::size_t n, bool usePairs);
    /// Counts the n decoded values at x.
    void add(const HistRule &rule, const double *x, std::size_t n);
#if CKPT_X86_DISPATCH
    // n floats read in place (the caller checked fr.usable and AVX2).
    void addF32(const HistRule &rule, const F32HistRule &fr, const std::uint8_t *p, std::size_t n);
#endif
    void flushPairs();
};

} // namespace ckpt::format::statskernels
