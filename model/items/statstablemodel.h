// SPDX-License-Identifier: MIT
#pragma once

#include "tensorstats.h"

#include <QAbstractTableModel>

#include <optional>

namespace ckpt {

/// The statistics of a tensor (or an aggregate) as a two-column table: Statistic, Value.
/// Empty until setStats(). Thread affinity: the GUI thread.
class StatsTableModel : public QAbstractTableModel
{
    Q_OBJECT
public:
    enum Column { NameColumn, ValueColumn, ColumnCount };
    enum Row {
        ElementsRow, FiniteRow, NaNRow, PosInfRow, NegInfRow, ZerosRow,
        MinRow, MaxRow, MeanRow, StdRow, L2Row, RowCount
    };

    explicit StatsTableModel(QObject *parent = nullptr);

    void setStats(const format::TensorStats &stats);
    void clear();
    bool hasStats() const { return m_stats.has_value(); }
    const std::optional<format::TensorStats> &stats() const { return m_stats; }

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation,
                        int role = Qt::DisplayRole) const override;

    static QString rowName(int row);

private:
    QVariant value(int row, int role) const;
    std::optional<format::TensorStats> m_stats;
};

} // namespace ckpt
