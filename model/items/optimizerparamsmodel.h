// SPDX-License-Identifier: MIT
#pragma once

#include "tensorsummary.h"
#include "trainingoverview.h"

#include <QAbstractTableModel>
#include <QHash>

namespace ckpt {

/// An optimizer's per-parameter state: id, name (or, when the mapping is not certain, the id
/// with a warning icon: never a guessed name), shape, group, step, mapping, then the norm and
/// the mean of each state tensor (`exp_avg`, `exp_avg_sq`, `momentum_buffer`, ...). Norms,
/// means and tensor steps arrive later through setSummaries() (computed off the UI thread).
/// SortRole gives numbers; TensorKeyRole the state tensor of a state cell; PathRole the raw path
/// a cell links to (state cells: the state tensor; other cells: the model parameter, else the
/// parameter's state dict). Thread affinity: GUI thread.
class OptimizerParamsModel : public QAbstractTableModel
{
    Q_OBJECT
public:
    enum Column { IdColumn, NameColumn, ShapeColumn, GroupColumn, StepColumn, MappingColumn, FirstStateColumn };

    explicit OptimizerParamsModel(QObject *parent = nullptr);

    void setOptimizer(std::shared_ptr<const TrainingOverview> overview, int index);
    const OptimizerInfo *optimizer() const { return m_optimizer; }
    /// Norms and means of state tensors (and values of 0-d `step` tensors) as they arrive.
    void setSummaries(const QList<TensorSummary> &summaries);
    /// Tensors still waiting for their summary.
    int pendingCount() const;

    /// The state key shown in `column` (state columns only), and whether it is the norm.
    QString stateKey(int column) const;
    bool isNormColumn(int column) const { return column >= FirstStateColumn && (column - FirstStateColumn) % 2 == 0; }
    /// The parameter shown in `row`.
    const OptimizerParamInfo *param(int row) const;

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

private:
    std::optional<double> stepOf(const OptimizerParamInfo &p, bool *pending = nullptr) const;
    QVariant stateData(const OptimizerParamInfo &p, int column, int role) const;

    std::shared_ptr<const TrainingOverview> m_overview;
    const OptimizerInfo *m_optimizer = nullptr;
    QHash<int, TensorSummary> m_summaries;
    int m_wanted = 0;
};

} // namespace ckpt
