// SPDX-License-Identifier: MIT
#pragma once

#include <QCollator>
#include <QRegularExpression>
#include <QSortFilterProxyModel>

namespace ckpt {

/// Filters and sorts the checkpoint tree. The filter matches a row's name (case-insensitive
/// substring, or a wildcard pattern when it contains * or ?); a filter containing '/' or '.'
/// matches against the raw and tree paths instead. Matching rows keep their ancestors and
/// their descendants. Sorting uses SortRole: numbers as numbers, names in natural order
/// ("layer2" before "layer10"), shapes dimension by dimension.
class TensorFilterProxyModel : public QSortFilterProxyModel
{
    Q_OBJECT
public:
    explicit TensorFilterProxyModel(QObject *parent = nullptr);

    void setFilterText(const QString &text);
    QString filterText() const { return m_text; }
    /// Shows only tensors whose statistics found NaN, ±Inf or only zeros (and their ancestors).
    void setFlaggedOnly(bool flaggedOnly);
    bool flaggedOnly() const { return m_flaggedOnly; }
    /// The column whose rows sort by ShapeRole (CheckpointTreeModel::ShapeColumn by default).
    void setShapeColumn(int column) { m_shapeColumn = column; }

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const override;
    bool lessThan(const QModelIndex &left, const QModelIndex &right) const override;

private:
    QString m_text;
    bool m_matchPaths = false;
    QRegularExpression m_pattern; ///< valid when the text is a wildcard pattern
    QCollator m_collator;
    int m_shapeColumn = 2;
    bool m_flaggedOnly = false;
};

} // namespace ckpt
