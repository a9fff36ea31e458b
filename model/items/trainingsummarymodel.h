// SPDX-License-Identifier: MIT
#pragma once

#include "tensorsummary.h"
#include "trainingoverview.h"

#include <QAbstractItemModel>
#include <QHash>

namespace ckpt {

/// The training summary of a file as a two-level tree: sections (progress counters, each
/// optimizer with the lr of each group, schedulers with their type hint and last lr, grad
/// scalers, arguments / hyper-parameters) and their facts. Every row has the raw PathRole of the
/// tree node it stands for. Values of 0-d tensors (a loss saved as a tensor) arrive through
/// setSummaries(). Thread affinity: GUI thread.
class TrainingSummaryModel : public QAbstractItemModel
{
    Q_OBJECT
public:
    enum Column { NameColumn, ValueColumn, ColumnCount };

    explicit TrainingSummaryModel(QObject *parent = nullptr);

    void setOverview(std::shared_ptr<const TrainingOverview> overview);
    const std::shared_ptr<const TrainingOverview> &overview() const { return m_overview; }
    /// 0-d tensors whose values the summary shows.
    std::vector<int> wantedTensors() const;
    void setSummaries(const QList<TensorSummary> &summaries);

    QModelIndex index(int row, int column, const QModelIndex &parent = {}) const override;
    QModelIndex parent(const QModelIndex &child) const override;
    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

private:
    std::shared_ptr<const TrainingOverview> m_overview;
    QHash<int, TensorSummary> m_values;
};

} // namespace ckpt
