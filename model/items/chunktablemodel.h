// SPDX-License-Identifier: MIT
#pragma once

#include "checkpointreader.h"

#include <QAbstractTableModel>
#include <QColor>

#include <vector>

namespace ckpt {

/// The chunks of one DCP tensor (who holds what): one row per chunk with the writer's rank, its
/// box in the logical tensor ("0:3, 0:8"), its elements, the file and the byte range of its
/// record. Qt::DecorationRole of the rank column is the rank's colour (colorOfRank), as the
/// chunk grid paints it. Thread affinity: the GUI thread.
class ChunkTableModel : public QAbstractTableModel
{
    Q_OBJECT
public:
    enum Column { RankColumn, BoxColumn, ElementsColumn, FileColumn, RecordColumn, BytesColumn, ColumnCount };

    explicit ChunkTableModel(QObject *parent = nullptr);

    void setChunks(std::vector<format::TensorChunk> chunks);
    const std::vector<format::TensorChunk> &chunks() const { return m_chunks; }

    /// A colour per rank, distinct for neighbouring ranks (golden-angle hues); grey for -1.
    static QColor colorOfRank(int rank);
    /// "0:3, 0:8": the chunk's extent along every dim.
    static QString boxText(const format::TensorChunk &chunk);

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation,
                        int role = Qt::DisplayRole) const override;

private:
    std::vector<format::TensorChunk> m_chunks;
};

} // namespace ckpt
