// SPDX-License-Identifier: MIT
#pragma once

#include <cmath>

namespace ckpt::format {

/// Neumaier-compensated sum; falls back to the plain sum once it is not finite. Used by the
/// statistics (mean, l2 over 2^30-element tensors) and the diff engine (rel_l2 of nearly equal
/// tensors, where ||B-A|| is tiny next to ||A||).
struct CompensatedSum
{
    double sum = 0;
    double comp = 0;
    void add(double x) noexcept
    {
        const double t = sum + x;
        if (std::isfinite(t)) {
            if (std::fabs(sum) >= std::fabs(x))
                comp += (sum - t) + x;
            else
                comp += (x - t) + sum;
        }
        sum = t;
    }
    void add(const CompensatedSum &o) noexcept
    {
        add(o.sum);
        add(o.comp);
    }
    double value() const noexcept { return std::isfinite(sum) ? sum + comp : sum; }
};

} // namespace ckpt::format
