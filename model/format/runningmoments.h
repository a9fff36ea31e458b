// SPDX-License-Identifier: MIT
#pragma once

#include "compensatedsum.h"

#include <algorithm>
#include <cstdint>
#include <limits>

namespace ckpt::format {

/// Counts, extremes and moments of a run of values, mergeable in order: the statistics of a chunk
/// (or of everything, after merging chunks in order) for computeStats() and for the difference
/// statistics of a diff.
struct RunningMoments
{
    std::uint64_t nan = 0, posinf = 0, neginf = 0, zeros = 0, finite = 0;
    double min = std::numeric_limits<double>::infinity(), max = -std::numeric_limits<double>::infinity();
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
    void merge(const RunningMoments &o) noexcept
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

} // namespace ckpt::format
