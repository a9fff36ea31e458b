// SPDX-License-Identifier: MIT
#pragma once

#include "tensordecode.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace ckpt::format {

/// Statistics exactly as PRODUCT.md section 4 defines them: min, max, mean, std (sample, n-1)
/// and l2 over the finite values only, accumulated in double; counts of NaN, +Inf, -Inf and
/// zeros; an equal-width histogram over [min, max] of the finite values with torch.histc
/// semantics (a value equal to max falls in the last bin; min == max -> [min-0.5, max+0.5]).
/// Complex: statistics of the magnitude. Bool: 0/1. Quantized: dequantized values.
struct TensorStats
{
    std::uint64_t numel = 0;
    std::uint64_t finite = 0;
    std::uint64_t nan = 0;
    std::uint64_t posinf = 0;
    std::uint64_t neginf = 0;
    std::uint64_t zeros = 0;
    std::optional<double> min, max, mean, std, l2; ///< nullopt when they do not apply
    double histLo = 0;
    double histHi = 0;
    std::vector<std::uint64_t> hist; ///< empty when there are no finite values
};

struct StatsOptions
{
    int bins = 64;
    unsigned threads = 0; ///< 0: std::thread::hardware_concurrency()
    /// Optional fixed histogram range (the GUI's symmetric/custom ranges); values outside are
    /// not counted. Unset: [min, max] of the finite values.
    std::optional<double> rangeLo, rangeHi;
    /// Called from worker threads (one at a time, with growing `done`, at most every ~4 MiB of
    /// data, and finally with done == total from the calling thread) with the work done of
    /// total; total = 2 * numel (each element is visited by a moments pass and a histogram
    /// pass; one-pass cases count 2 per element). Return false to cancel: the workers stop
    /// within one chunk (>= 64K elements, well under 10 ms) and computeStats throws.
    std::function<bool(std::uint64_t done, std::uint64_t total)> progress;
    /// Background work (the GUI's jobs): every worker runs on a thread of its own at a lower
    /// scheduling priority (Linux: nice +10 for those threads only) while the calling thread
    /// waits, so that a UI thread never shares its core with a worker on equal terms.
    bool background = false;
    /// One-shot reading (ckpt-inspect stats): the workers drop the pages of a contiguous view
    /// from the process's memory map as soon as they have read them for the last time
    /// (MappedFile::releasePages), so that peak RSS stays small and the page-table teardown is
    /// done in parallel rather than at exit. Off by default: a view being browsed keeps its pages.
    bool releasePages = false;
};

/// Computes the statistics of `view` reading through its bytes without copying the tensor.
/// Multi-threaded (options.threads workers, the calling thread being one of them); the work is
/// split into chunks that do not depend on the thread count, so results are identical for any
/// number of threads. Throws FormatError(Cancelled) when the progress callback returns false,
/// FormatError(Unsupported) for a dtype that is not decodable, FormatError(LimitExceeded) for
/// more than 2^24 bins; an exception thrown in a worker (e.g. by the callback) is rethrown here.
/// FormatError(Io, kFileChangedMessage) when the view's file changed on disk during the pass.
/// The caller has validated the extent of the view.
TensorStats computeStats(const StridedView &view, const StatsOptions &options = {});

/// Merges the statistics of `b` into `a` (counts, extrema, Chan's parallel mean and variance,
/// L2); histograms are left alone.
void mergeStats(TensorStats &a, const TensorStats &b) noexcept;

/// The statistics of the elements of all `pieces` together, as computeStats() gives them for
/// one tensor holding them (a DCP tensor split among writers): a pass over every piece, then,
/// when options fix no range, a histogram pass over [min, max] of them all. Progress totals
/// 2 * the elements of all pieces; throws as computeStats().
TensorStats computeStatsOfPieces(const std::vector<StridedView> &pieces, const StatsOptions &options = {});

/// Histogram bin index of `x` exactly as torch 1.13's CPU `torch.histc(float64, bins, lo, hi)`
/// assigns it (lo < hi), or -1 when torch does not count it. Rule: R = the last element of
/// torch.linspace(lo, hi, bins + 1) (= hi, except when bins + 1 is a multiple of 8, where
/// torch's vectorised fill gives fl(fma(-s, 3, hi) + 3s) with s = (hi - lo) / bins, which can be
/// an ulp off hi); x is counted iff lo <= x <= R, in bin trunc(fl(fl(fl(x - lo) / fl(R - lo)) *
/// bins)), clamped to bins - 1. No search against the bin edges. Not defined by torch (and
/// made sane here) when hi - lo overflows or lo == hi.
int histBin(double x, double lo, double hi, int bins) noexcept;

} // namespace ckpt::format
