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
    /// Called from worker threads with elements done of total; return false to cancel.
    std::function<bool(std::uint64_t done, std::uint64_t total)> progress;
};

/// Computes the statistics of `view` reading through its bytes without copying the tensor.
/// Multi-threaded. Throws FormatError(Cancelled) when the progress callback returns false.
/// The caller has validated the extent of the view.
TensorStats computeStats(const StridedView &view, const StatsOptions &options = {});

/// Histogram bin index with torch.histc semantics for a finite `x` in [lo, hi].
int histBin(double x, double lo, double hi, int bins) noexcept;

} // namespace ckpt::format
