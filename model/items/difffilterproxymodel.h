// SPDX-License-Identifier: MIT
#pragma once

#include "tensorfilterproxymodel.h"

namespace ckpt {

/// Filters and sorts the comparison tree and the values table: the checkpoint tree's text
/// filter (names, wildcards, paths; a matching module keeps its rows below) and "only
/// differences", which hides every row that is `same` (modules stay while anything below them
/// differs). Sorting as TensorFilterProxyModel: numbers as numbers, missing metrics last when
/// sorting descending.
class DiffFilterProxyModel : public TensorFilterProxyModel
{
    Q_OBJECT
public:
    explicit DiffFilterProxyModel(QObject *parent = nullptr);

    void setOnlyDifferences(bool only);
    bool onlyDifferences() const { return m_onlyDifferences; }

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const override;
    /// By a change metric: the model's weights before optimizer state before the rest, in
    /// either order (Adam's moments change by more than any weight), then by the metric.
    bool lessThan(const QModelIndex &left, const QModelIndex &right) const override;

private:
    bool m_onlyDifferences = false;
};

} // namespace ckpt
