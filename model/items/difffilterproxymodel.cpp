// SPDX-License-Identifier: MIT
#include "difffilterproxymodel.h"

#include "diffmodel.h"

namespace ckpt {

DiffFilterProxyModel::DiffFilterProxyModel(QObject *parent)
    : TensorFilterProxyModel(parent)
{
    // Rows below a matching module are accepted here (not by auto-accept, which would let
    // `same` rows through "only differences").
    setAutoAcceptChildRows(false);
    setShapeColumn(-1);
}

void DiffFilterProxyModel::setOnlyDifferences(bool only)
{
    if (only == m_onlyDifferences)
        return;
    m_onlyDifferences = only;
    invalidateRowsFilter();
}

bool DiffFilterProxyModel::filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const
{
    const QModelIndex idx = sourceModel()->index(sourceRow, 0, sourceParent);
    if (m_onlyDifferences) {
        // Leaves decide; a module is shown through recursive filtering when a row below it is.
        if (sourceModel()->hasChildren(idx) || !idx.data(DiffersRole).toBool())
            return false;
    }
    if (filterText().isEmpty())
        return true;
    for (QModelIndex at = idx; at.isValid(); at = at.parent())
        if (TensorFilterProxyModel::filterAcceptsRow(at.row(), at.parent()))
            return true;
    return false;
}

bool DiffFilterProxyModel::lessThan(const QModelIndex &left, const QModelIndex &right) const
{
    if (left.column() >= DiffModel::MaxAbsColumn) {
        const int l = left.data(DiffGroupRole).toInt();
        const int r = right.data(DiffGroupRole).toInt();
        if (l != r)
            return sortOrder() == Qt::DescendingOrder ? l < r : l > r;
    }
    return TensorFilterProxyModel::lessThan(left, right);
}

} // namespace ckpt
