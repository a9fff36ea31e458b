// SPDX-License-Identifier: MIT
#include "paramgroupsmodel.h"

#include "modelroles.h"

namespace ckpt {

ParamGroupsModel::ParamGroupsModel(QObject *parent)
    : QAbstractTableModel(parent)
{
}

void ParamGroupsModel::setOptimizer(std::shared_ptr<const TrainingOverview> overview, int index)
{
    beginResetModel();
    m_overview = std::move(overview);
    m_optimizer = nullptr;
    m_keys.clear();
    if (m_overview && index >= 0 && static_cast<std::size_t>(index) < m_overview->optimizers.size()) {
        m_optimizer = &m_overview->optimizers[static_cast<std::size_t>(index)];
        for (const auto &g : m_optimizer->groups)
            for (const QString &k : g.keys)
                if (!m_keys.contains(k))
                    m_keys << k;
    }
    endResetModel();
}

int ParamGroupsModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() || !m_optimizer ? 0 : static_cast<int>(m_optimizer->groups.size());
}

int ParamGroupsModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : FirstHyperColumn + static_cast<int>(m_keys.size());
}

QVariant ParamGroupsModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid) || !m_optimizer)
        return {};
    const OptimizerGroupInfo &g = m_optimizer->groups[static_cast<std::size_t>(index.row())];
    const int col = index.column();
    if (col == GroupColumn) {
        switch (role) {
        case Qt::DisplayRole: return g.index;
        case SortRole: return g.index;
        case PathRole: return g.path;
        default: return {};
        }
    }
    if (col == ParamsColumn) {
        switch (role) {
        case Qt::DisplayRole:
        case SortRole: return g.paramCount;
        case PathRole: return QString(g.path + QStringLiteral("/params"));
        case Qt::TextAlignmentRole: return QVariant::fromValue(Qt::AlignRight | Qt::AlignVCenter);
        default: return {};
        }
    }
    const QString &key = m_keys[col - FirstHyperColumn];
    const qsizetype at = g.keys.indexOf(key);
    if (at < 0)
        return role == Qt::ToolTipRole ? QVariant(tr("Group %1 has no %2").arg(g.index).arg(key)) : QVariant();
    const auto &number = g.numbers[static_cast<std::size_t>(at)];
    switch (role) {
    case Qt::DisplayRole: return g.texts[at];
    case Qt::ToolTipRole: return QStringLiteral("%1 = %2").arg(key, g.texts[at]);
    case SortRole: return number ? QVariant(*number) : QVariant(g.texts[at]);
    case PathRole: return QString(g.path + QLatin1Char('/') + key);
    case Qt::TextAlignmentRole:
        return number ? QVariant::fromValue(Qt::AlignRight | Qt::AlignVCenter) : QVariant();
    default: return {};
    }
}

QVariant ParamGroupsModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || section < 0 || section >= columnCount())
        return {};
    if (role == Qt::DisplayRole) {
        if (section == GroupColumn)
            return tr("Group");
        if (section == ParamsColumn)
            return tr("Params");
        return m_keys[section - FirstHyperColumn];
    }
    if (role == Qt::ToolTipRole && section == ParamsColumn)
        return tr("Number of parameters in the group");
    return {};
}

} // namespace ckpt
