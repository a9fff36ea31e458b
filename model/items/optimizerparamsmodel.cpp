// SPDX-License-Identifier: MIT
#include "optimizerparamsmodel.h"
#include "themecolors.h"

#include "displayformat.h"
#include "kindicons.h"
#include "modelroles.h"

#include <QColor>

#include <algorithm>

namespace ckpt {

OptimizerParamsModel::OptimizerParamsModel(QObject *parent)
    : QAbstractTableModel(parent)
{
}

void OptimizerParamsModel::setOptimizer(std::shared_ptr<const TrainingOverview> overview, int index)
{
    beginResetModel();
    m_overview = std::move(overview);
    m_optimizer = nullptr;
    m_summaries.clear();
    m_wanted = 0;
    if (m_overview && index >= 0 && static_cast<std::size_t>(index) < m_overview->optimizers.size()) {
        m_optimizer = &m_overview->optimizers[static_cast<std::size_t>(index)];
        m_wanted = static_cast<int>(m_optimizer->statTensors().size());
    }
    endResetModel();
}

void OptimizerParamsModel::setSummaries(const QList<TensorSummary> &summaries)
{
    if (!m_optimizer || summaries.isEmpty())
        return;
    for (const TensorSummary &s : summaries)
        m_summaries.insert(s.tensor, s);
    if (rowCount() > 0)
        emit dataChanged(index(0, StepColumn), index(rowCount() - 1, columnCount() - 1));
}

int OptimizerParamsModel::pendingCount() const
{
    return std::max(0, m_wanted - static_cast<int>(m_summaries.size()));
}

QString OptimizerParamsModel::stateKey(int column) const
{
    if (!m_optimizer || column < FirstStateColumn)
        return {};
    const qsizetype k = (column - FirstStateColumn) / 2;
    return k < m_optimizer->stateKeys.size() ? m_optimizer->stateKeys[k] : QString();
}

const OptimizerParamInfo *OptimizerParamsModel::param(int row) const
{
    if (!m_optimizer || row < 0 || static_cast<std::size_t>(row) >= m_optimizer->params.size())
        return nullptr;
    return &m_optimizer->params[static_cast<std::size_t>(row)];
}

int OptimizerParamsModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() || !m_optimizer ? 0 : static_cast<int>(m_optimizer->params.size());
}

int OptimizerParamsModel::columnCount(const QModelIndex &parent) const
{
    if (parent.isValid())
        return 0;
    return FirstStateColumn + (m_optimizer ? 2 * static_cast<int>(m_optimizer->stateKeys.size()) : 0);
}

std::optional<double> OptimizerParamsModel::stepOf(const OptimizerParamInfo &p, bool *pending) const
{
    const OptimizerStateEntry *e = p.entry(QStringLiteral("step"));
    if (!e)
        return std::nullopt;
    if (e->tensor < 0)
        return e->number;
    const auto it = m_summaries.constFind(e->tensor);
    if (it == m_summaries.constEnd()) {
        if (pending)
            *pending = true;
        return std::nullopt;
    }
    return it->mean;
}

QVariant OptimizerParamsModel::stateData(const OptimizerParamInfo &p, int column, int role) const
{
    const QString key = stateKey(column);
    const bool norm = isNormColumn(column);
    const OptimizerStateEntry *e = p.entry(key);
    if (!e) {
        if (role == Qt::ToolTipRole)
            return tr("Parameter %1 has no %2 state").arg(p.id).arg(key);
        return {};
    }
    if (e->tensor < 0) {
        // A stored non-tensor (SGD with momentum 0 keeps momentum_buffer None).
        if (role == Qt::DisplayRole)
            return norm ? e->text : QString();
        if (role == Qt::ToolTipRole)
            return QStringLiteral("%1 = %2").arg(key, e->text);
        if (role == PathRole)
            return e->path;
        if (role == Qt::ForegroundRole)
            return QColor(Qt::gray);
        return {};
    }
    const auto it = m_summaries.constFind(e->tensor);
    const bool known = it != m_summaries.constEnd();
    const std::optional<double> value = known ? (norm ? it->norm : it->mean) : std::nullopt;
    switch (role) {
    case Qt::DisplayRole:
        if (!known)
            return QStringLiteral("…");
        if (!it->error.isEmpty())
            return tr("n/a");
        return numberText(value, 6);
    case SortRole:
        return value ? QVariant(*value) : QVariant();
    case Qt::ToolTipRole: {
        QString tip = QStringLiteral("%1 %2 %3\n%4").arg(key, e->dtype, e->shapeText, e->path);
        if (known && !it->error.isEmpty())
            tip += QLatin1Char('\n') + it->error;
        else if (value)
            tip += tr("\n%1 = %2 (double-click for its statistics)").arg(norm ? tr("L2 norm") : tr("mean"),
                                                                        numberText(value, 12));
        return tip;
    }
    case TensorKeyRole: return e->tensor;
    case PathRole: return e->path;
    case Qt::TextAlignmentRole: return QVariant::fromValue(Qt::AlignRight | Qt::AlignVCenter);
    default: return {};
    }
}

QVariant OptimizerParamsModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid) || !m_optimizer)
        return {};
    const OptimizerParamInfo &p = m_optimizer->params[static_cast<std::size_t>(index.row())];
    const int col = index.column();
    if (col >= FirstStateColumn)
        return stateData(p, col, role);
    if (role == PathRole)
        return p.tensorPath.isEmpty() ? p.statePath : p.tensorPath;
    if (role == TensorKeyRole)
        return -1;
    const bool numeric = col == IdColumn || col == GroupColumn || col == StepColumn;
    if (role == Qt::TextAlignmentRole && numeric)
        return QVariant::fromValue(Qt::AlignRight | Qt::AlignVCenter);
    switch (col) {
    case IdColumn:
        if (role == Qt::DisplayRole || role == SortRole)
            return p.id;
        break;
    case NameColumn:
        if (p.name.isNull()) {
            if (role == Qt::DisplayRole)
                return tr("id %1").arg(p.id);
            if (role == Qt::DecorationRole)
                return warningIcon();
            if (role == Qt::ToolTipRole)
                return p.mapping == QLatin1String("no-model")
                           ? tr("No model state dict in this file to map id %1 to a name.").arg(p.id)
                           : tr("The file does not determine which parameter id %1 is (mapping: %2): "
                                "no name is shown rather than a possibly wrong one.")
                                 .arg(p.id)
                                 .arg(p.mapping);
            if (role == SortRole)
                return QStringLiteral("\uffff%1").arg(p.id, 12, 10, QLatin1Char('0'));
            if (role == Qt::ForegroundRole)
                return toneColor(Tone::Warning);
        } else {
            if (role == Qt::DisplayRole || role == SortRole)
                return p.name;
            if (role == Qt::ToolTipRole)
                return tr("%1\nmapped by %2%3")
                    .arg(p.name, p.mapping,
                         p.tensorPath.isEmpty() ? QString() : tr("\nselect the row to show %1 in the tree").arg(p.tensorPath));
        }
        break;
    case ShapeColumn:
        if (role == Qt::DisplayRole)
            return p.shapeText;
        if (role == SortRole) {
            qint64 n = p.shape.empty() && p.shapeText.isEmpty() ? -1 : 1;
            for (auto d : p.shape)
                n *= d;
            return n;
        }
        break;
    case GroupColumn:
        if (role == Qt::DisplayRole || role == SortRole)
            return p.group;
        break;
    case StepColumn: {
        bool pending = false;
        const auto step = stepOf(p, &pending);
        if (role == Qt::DisplayRole)
            return pending ? QStringLiteral("…") : (step ? numberText(step, 10) : QString());
        if (role == SortRole)
            return step ? QVariant(*step) : QVariant();
        break;
    }
    case MappingColumn:
        if (role == Qt::DisplayRole || role == SortRole)
            return p.mapping;
        if (role == Qt::ToolTipRole) {
            if (p.mapping == QLatin1String("param_names"))
                return tr("Named by the param_names list stored in the group");
            if (p.mapping == QLatin1String("order+shape"))
                return tr("The only assignment in which every group lists its parameters in the model's order "
                          "and every state tensor has its parameter's shape");
            if (p.mapping == QLatin1String("ambiguous"))
                return tr("Several parameters fit this id (frozen or filtered parameters, equal shapes)");
            return tr("No model state dict found");
        }
        break;
    default: break;
    }
    return {};
}

QVariant OptimizerParamsModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || section < 0 || section >= columnCount())
        return {};
    if (role == Qt::DisplayRole) {
        switch (section) {
        case IdColumn: return tr("Id");
        case NameColumn: return tr("Name");
        case ShapeColumn: return tr("Shape");
        case GroupColumn: return tr("Group");
        case StepColumn: return tr("Step");
        case MappingColumn: return tr("Mapping");
        default:
            return isNormColumn(section) ? tr("%1 ‖·‖").arg(stateKey(section)) : tr("%1 mean").arg(stateKey(section));
        }
    }
    if (role == Qt::ToolTipRole && section >= FirstStateColumn)
        return isNormColumn(section) ? tr("L2 norm of %1 (finite values, in double)").arg(stateKey(section))
                                     : tr("Mean of %1").arg(stateKey(section));
    return {};
}

} // namespace ckpt
