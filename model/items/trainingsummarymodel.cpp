// SPDX-License-Identifier: MIT
#include "trainingsummarymodel.h"

#include "displayformat.h"
#include "modelroles.h"

#include <QFont>

#include <set>

namespace ckpt {

namespace {
// internalId: 0 for sections, section + 1 for facts.
constexpr quintptr kSectionId = 0;
}

TrainingSummaryModel::TrainingSummaryModel(QObject *parent)
    : QAbstractItemModel(parent)
{
}

void TrainingSummaryModel::setOverview(std::shared_ptr<const TrainingOverview> overview)
{
    beginResetModel();
    m_overview = std::move(overview);
    m_values.clear();
    endResetModel();
}

std::vector<int> TrainingSummaryModel::wantedTensors() const
{
    std::vector<int> out;
    std::set<int> seen;
    if (m_overview)
        for (const auto &s : m_overview->sections)
            for (const auto &f : s.facts)
                if (f.tensor >= 0 && seen.insert(f.tensor).second)
                    out.push_back(f.tensor);
    return out;
}

void TrainingSummaryModel::setSummaries(const QList<TensorSummary> &summaries)
{
    if (!m_overview)
        return;
    for (const auto &s : summaries)
        m_values.insert(s.tensor, s);
    for (int s = 0; s < rowCount(); ++s) {
        const QModelIndex section = index(s, 0);
        const int n = rowCount(section);
        if (n > 0)
            emit dataChanged(index(0, ValueColumn, section), index(n - 1, ValueColumn, section));
    }
}

QModelIndex TrainingSummaryModel::index(int row, int column, const QModelIndex &parent) const
{
    if (!hasIndex(row, column, parent))
        return {};
    if (!parent.isValid())
        return createIndex(row, column, kSectionId);
    return createIndex(row, column, static_cast<quintptr>(parent.row()) + 1);
}

QModelIndex TrainingSummaryModel::parent(const QModelIndex &child) const
{
    if (!child.isValid() || child.internalId() == kSectionId)
        return {};
    return createIndex(static_cast<int>(child.internalId() - 1), 0, kSectionId);
}

int TrainingSummaryModel::rowCount(const QModelIndex &parent) const
{
    if (!m_overview)
        return 0;
    if (!parent.isValid())
        return static_cast<int>(m_overview->sections.size());
    if (parent.column() != 0 || parent.internalId() != kSectionId)
        return 0;
    return static_cast<int>(m_overview->sections[static_cast<std::size_t>(parent.row())].facts.size());
}

int TrainingSummaryModel::columnCount(const QModelIndex &) const
{
    return ColumnCount;
}

QVariant TrainingSummaryModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid) || !m_overview)
        return {};
    if (index.internalId() == kSectionId) {
        const TrainingSection &s = m_overview->sections[static_cast<std::size_t>(index.row())];
        switch (role) {
        case Qt::DisplayRole:
            if (index.column() == NameColumn)
                return s.title;
            return s.hint;
        case Qt::FontRole: {
            QFont f;
            f.setBold(index.column() == NameColumn);
            return f;
        }
        case Qt::ToolTipRole:
            return s.path.isEmpty() ? QVariant() : tr("%1\nDouble-click to select it in the tree").arg(s.path);
        case PathRole: return s.path;
        case SortRole: return index.row();
        default: return {};
        }
    }
    const TrainingSection &s = m_overview->sections[static_cast<std::size_t>(index.internalId() - 1)];
    const TrainingFact &f = s.facts[static_cast<std::size_t>(index.row())];
    QString value = f.value;
    std::optional<double> number;
    if (f.tensor >= 0) {
        const auto it = m_values.constFind(f.tensor);
        if (it == m_values.constEnd())
            value = QStringLiteral("…");
        else if (!it->error.isEmpty())
            value = tr("n/a (%1)").arg(it->error);
        else {
            number = it->mean;
            value = numberText(it->mean, 10);
        }
    }
    switch (role) {
    case Qt::DisplayRole:
        return index.column() == NameColumn ? f.name : value;
    case Qt::ToolTipRole: {
        QString tip = f.path;
        if (!f.detail.isEmpty())
            tip += QLatin1Char('\n') + f.detail;
        return QString(tip + tr("\nDouble-click to select it in the tree"));
    }
    case PathRole: return f.path;
    case TensorKeyRole: return f.tensor;
    case SortRole: return number ? QVariant(*number) : QVariant(value);
    default: return {};
    }
}

QVariant TrainingSummaryModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    return section == NameColumn ? tr("Name") : section == ValueColumn ? tr("Value") : QVariant();
}

} // namespace ckpt
