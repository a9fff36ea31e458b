// SPDX-License-Identifier: MIT
#pragma once

#include "trainingoverview.h"

#include <QAbstractTableModel>

namespace ckpt {

/// An optimizer's `param_groups`: one row per group, a column per hyper-parameter (the union of
/// every group's keys, in stored order) and the number of parameters. SortRole gives numbers
/// for numeric cells; PathRole the raw path of the cell's value. Thread affinity: GUI thread.
class ParamGroupsModel : public QAbstractTableModel
{
    Q_OBJECT
public:
    enum Column { GroupColumn, ParamsColumn, FirstHyperColumn };

    explicit ParamGroupsModel(QObject *parent = nullptr);

    /// Shows optimizer `index` of `overview` (nullptr or an invalid index: empty).
    void setOptimizer(std::shared_ptr<const TrainingOverview> overview, int index);
    const OptimizerInfo *optimizer() const { return m_optimizer; }
    QStringList hyperKeys() const { return m_keys; }

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

private:
    std::shared_ptr<const TrainingOverview> m_overview;
    const OptimizerInfo *m_optimizer = nullptr;
    QStringList m_keys;
};

} // namespace ckpt
