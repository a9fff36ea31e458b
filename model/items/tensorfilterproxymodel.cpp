// SPDX-License-Identifier: MIT
#include "tensorfilterproxymodel.h"

#include "checkpointtree.h"
#include "modelroles.h"

#include <QList>

namespace ckpt {

TensorFilterProxyModel::TensorFilterProxyModel(QObject *parent)
    : QSortFilterProxyModel(parent)
{
    setRecursiveFilteringEnabled(true);
    setAutoAcceptChildRows(true);
    setSortRole(SortRole);
    setFilterCaseSensitivity(Qt::CaseInsensitive);
    m_collator.setNumericMode(true);
    m_collator.setCaseSensitivity(Qt::CaseInsensitive);
}

void TensorFilterProxyModel::setFilterText(const QString &text)
{
    const QString trimmed = text.trimmed();
    if (trimmed == m_text)
        return;
    m_text = trimmed;
    m_matchPaths = m_text.contains(QLatin1Char('/')) || m_text.contains(QLatin1Char('.'));
    if (m_text.contains(QLatin1Char('*')) || m_text.contains(QLatin1Char('?'))) {
        m_pattern = QRegularExpression(
            QRegularExpression::wildcardToRegularExpression(
                m_text, QRegularExpression::UnanchoredWildcardConversion),
            QRegularExpression::CaseInsensitiveOption);
    } else {
        m_pattern = QRegularExpression();
    }
    invalidateRowsFilter();
}

void TensorFilterProxyModel::setFlaggedOnly(bool flaggedOnly)
{
    if (flaggedOnly == m_flaggedOnly)
        return;
    m_flaggedOnly = flaggedOnly;
    invalidateRowsFilter();
}

bool TensorFilterProxyModel::filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const
{
    const QModelIndex idx = sourceModel()->index(sourceRow, 0, sourceParent);
    if (m_flaggedOnly) {
        const int health = idx.data(HealthRole).toInt();
        if (!(health & (HealthNaN | HealthInf | HealthAllZero)) || idx.data(TensorKeyRole).toInt() < 0)
            return false;
    }
    if (m_text.isEmpty())
        return true;
    QStringList candidates;
    if (m_matchPaths) {
        candidates << idx.data(PathRole).toString() << idx.data(TreePathRole).toString();
    } else {
        candidates << idx.data(FilterRole).toString();
    }
    for (const QString &c : std::as_const(candidates)) {
        if (m_pattern.isValid() && !m_pattern.pattern().isEmpty()) {
            if (m_pattern.match(c).hasMatch())
                return true;
        } else if (c.contains(m_text, Qt::CaseInsensitive)) {
            return true;
        }
    }
    return false;
}

bool TensorFilterProxyModel::lessThan(const QModelIndex &left, const QModelIndex &right) const
{
    const QVariant l = left.data(sortRole());
    const QVariant r = right.data(sortRole());
    const int lt = l.typeId();
    if (lt == QMetaType::ULongLong || lt == QMetaType::LongLong || lt == QMetaType::Double
        || lt == QMetaType::Int) {
        const double a = l.toDouble();
        const double b = r.toDouble();
        if (a != b)
            return a < b;
        return left.row() < right.row();
    }
    // Shapes: dimension by dimension, then by rank; non-tensors after tensors.
    const QVariant ls = left.column() == m_shapeColumn ? left.data(ShapeRole) : QVariant();
    const QVariant rs = right.column() == m_shapeColumn ? right.data(ShapeRole) : QVariant();
    if (ls.isValid() || rs.isValid()) {
        if (!ls.isValid() || !rs.isValid())
            return ls.isValid();
        const auto a = ls.value<QList<qint64>>();
        const auto b = rs.value<QList<qint64>>();
        const qsizetype n = std::min(a.size(), b.size());
        for (qsizetype i = 0; i < n; ++i)
            if (a[i] != b[i])
                return a[i] < b[i];
        if (a.size() != b.size())
            return a.size() < b.size();
        return left.row() < right.row();
    }
    const int c = m_collator.compare(l.toString(), r.toString());
    if (c != 0)
        return c < 0;
    return left.row() < right.row();
}

} // namespace ckpt
