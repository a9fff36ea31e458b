// SPDX-License-Identifier: MIT
#pragma once

#include "modeltypes.h"

#include <QAbstractTableModel>

namespace ckpt {

/// Every Python global a checkpoint's pickles reference, with its class (tensor, value, known,
/// opaque, dangerous), count and first occurrence. Thread affinity: the GUI thread.
class GlobalsModel : public QAbstractTableModel
{
    Q_OBJECT
public:
    enum Column { GlobalColumn, ClassColumn, CountColumn, RecordColumn, OffsetColumn, ColumnCount };

    explicit GlobalsModel(QObject *parent = nullptr);

    void setCheckpoint(CheckpointPtr data);
    int dangerousCount() const;
    /// "module.name" of the dangerous globals.
    QStringList dangerousNames() const;

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation,
                        int role = Qt::DisplayRole) const override;

    /// What a class means, for tooltips.
    static QString classDescription(format::GlobalClass cls);

private:
    CheckpointPtr m_data;
};

} // namespace ckpt
