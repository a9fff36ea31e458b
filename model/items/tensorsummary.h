// SPDX-License-Identifier: MIT
#pragma once

#include <QList>
#include <QMetaType>
#include <QString>

#include <optional>

namespace ckpt {

/// L2 norm and mean of one tensor (PRODUCT.md 4 definitions: finite values, in double); for a
/// 0-d tensor the mean is its value.
struct TensorSummary
{
    int tensor = -1;
    std::optional<double> norm;
    std::optional<double> mean;
    QString error;         ///< why there is nothing (no data, undecodable dtype)
};

} // namespace ckpt

Q_DECLARE_METATYPE(ckpt::TensorSummary)
