// SPDX-License-Identifier: MIT
#pragma once

#include "diffengine.h"
#include "modeltypes.h"

#include <QAbstractTableModel>
#include <QHash>

#include <optional>
#include <vector>

namespace ckpt {

/// The hyperparameter and scalar side of a comparison as a table: every plain value (epoch,
/// lr, args, scheduler and scaler fields) and every 0-d tensor (a saved loss, an optimizer
/// step), with A, B, the numeric change (B − A and B / A) and the status. Rows use the roles
/// of DiffModel (DiffStatusRole, DiffersRole, PathRole, ...) so DiffFilterProxyModel filters
/// them the same way. Thread affinity: the GUI thread.
class DiffValueModel : public QAbstractTableModel
{
    Q_OBJECT
public:
    enum Column { PathColumn, AColumn, BColumn, ChangeColumn, StatusColumn, ColumnCount };

    explicit DiffValueModel(QObject *parent = nullptr);

    /// Picks the value rows of `result`; 0-d tensors are read from `a` and `b` (one element
    /// each through the memory map).
    void setResult(const DiffResult &result, CheckpointPtr a, CheckpointPtr b);
    void clear();
    /// Status updates of entries computed later (0-d tensors).
    void updateEntries(const std::vector<std::pair<int, DiffEntry>> &batch);
    /// The row of an entry path, -1 when it is not a value row.
    int rowForPath(const QString &path) const;

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation,
                        int role = Qt::DisplayRole) const override;

private:
    struct Row
    {
        int entry = -1;
        QString path;
        QString a, b; ///< "—" when missing
        std::optional<double> numA, numB;
        DiffStatus status = DiffStatus::Pending;
        int group = 0;
    };
    QString changeText(const Row &r) const;

    std::vector<Row> m_rows;
    QHash<int, int> m_rowOfEntry;
};

} // namespace ckpt
