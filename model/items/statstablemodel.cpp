// SPDX-License-Identifier: MIT
#include "statstablemodel.h"
#include "themecolors.h"

#include "displayformat.h"
#include "modelroles.h"

#include <QBrush>
#include <QColor>

namespace ckpt {

StatsTableModel::StatsTableModel(QObject *parent)
    : QAbstractTableModel(parent)
{
}

void StatsTableModel::setStats(const format::TensorStats &stats)
{
    beginResetModel();
    m_stats = stats;
    endResetModel();
}

void StatsTableModel::clear()
{
    if (!m_stats)
        return;
    beginResetModel();
    m_stats.reset();
    endResetModel();
}

int StatsTableModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() || !m_stats ? 0 : RowCount;
}

int StatsTableModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QString StatsTableModel::rowName(int row)
{
    switch (row) {
    case ElementsRow: return tr("Elements");
    case FiniteRow: return tr("Finite");
    case NaNRow: return tr("NaN");
    case PosInfRow: return tr("+Inf");
    case NegInfRow: return tr("−Inf");
    case ZerosRow: return tr("Zeros");
    case MinRow: return tr("Min");
    case MaxRow: return tr("Max");
    case MeanRow: return tr("Mean");
    case StdRow: return tr("Std (n−1)");
    case L2Row: return tr("L2 norm");
    }
    return {};
}

QVariant StatsTableModel::value(int row, int role) const
{
    const auto &s = *m_stats;
    const bool display = role == Qt::DisplayRole;
    auto count = [&](std::uint64_t n, bool percent) -> QVariant {
        if (!display)
            return QVariant::fromValue<qulonglong>(n);
        QString text = groupedCount(n);
        if (percent && s.numel > 0 && n > 0)
            text += QStringLiteral("  (%1%)").arg(100.0 * static_cast<double>(n)
                                                      / static_cast<double>(s.numel),
                                                  0, 'g', 3);
        return text;
    };
    auto real = [&](const std::optional<double> &v) -> QVariant {
        if (!v)
            return display ? QVariant(QStringLiteral("—")) : QVariant();
        if (role == Qt::ToolTipRole)
            return QString::number(*v, 'g', 17);
        return display ? QVariant(numberText(*v, 7)) : QVariant(*v);
    };
    switch (row) {
    case ElementsRow: return count(s.numel, false);
    case FiniteRow: return count(s.finite, true);
    case NaNRow: return count(s.nan, true);
    case PosInfRow: return count(s.posinf, true);
    case NegInfRow: return count(s.neginf, true);
    case ZerosRow: return count(s.zeros, true);
    case MinRow: return real(s.min);
    case MaxRow: return real(s.max);
    case MeanRow: return real(s.mean);
    case StdRow: return real(s.std);
    case L2Row: return real(s.l2);
    }
    return {};
}

QVariant StatsTableModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || !m_stats || index.row() >= RowCount)
        return {};
    const int row = index.row();
    if (index.column() == NameColumn) {
        if (role == Qt::DisplayRole || role == SortRole)
            return rowName(row);
        return {};
    }
    switch (role) {
    case Qt::DisplayRole: return value(row, Qt::DisplayRole);
    case SortRole:
    case RawValueRole: return value(row, RawValueRole);
    case Qt::ToolTipRole:
        return row >= MinRow ? value(row, Qt::ToolTipRole) : QVariant();
    case Qt::TextAlignmentRole: return QVariant::fromValue<int>(Qt::AlignRight | Qt::AlignVCenter);
    case Qt::ForegroundRole:
        if ((row == NaNRow && m_stats->nan) || (row == PosInfRow && m_stats->posinf)
            || (row == NegInfRow && m_stats->neginf))
            return QBrush(toneColor(Tone::Danger));
        if (row == ZerosRow && m_stats->numel && m_stats->zeros == m_stats->numel)
            return QBrush(toneColor(Tone::Danger));
        return {};
    default: return {};
    }
}

QVariant StatsTableModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    return section == NameColumn ? tr("Statistic") : tr("Value");
}

} // namespace ckpt
