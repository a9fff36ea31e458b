// SPDX-License-Identifier: MIT
#pragma once

#include "checkpointtree.h"

#include <QAbstractTableModel>

#include <vector>

namespace ckpt {

/// The dtype mix below a tree node: one row per dtype with tensor count, elements, bytes and
/// share of the bytes. Thread affinity: the GUI thread.
class DTypeMixModel : public QAbstractTableModel
{
    Q_OBJECT
public:
    enum Column { DTypeColumn, TensorsColumn, ElementsColumn, BytesColumn, ShareColumn, ColumnCount };

    explicit DTypeMixModel(QObject *parent = nullptr);

    void setShares(std::vector<DTypeShare> shares);

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation,
                        int role = Qt::DisplayRole) const override;

private:
    std::vector<DTypeShare> m_shares;
    std::uint64_t m_totalBytes = 0;
};

} // namespace ckpt
