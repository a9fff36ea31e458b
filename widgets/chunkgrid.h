// SPDX-License-Identifier: MIT
#pragma once

#include "checkpointreader.h"

#include <QWidget>

#include <vector>

namespace ckpt {

/// Who holds what of a DCP tensor: the tensor's extent along dims 0 and 1 (a 1-D tensor as one
/// row) with each chunk's box painted in its writer's colour (ChunkTableModel::colorOfRank) and
/// labelled with its rank. Each axis is scaled to the widget on its own, so a 4096 x 8 weight
/// stays readable. Hovering a chunk shows its box, file and bytes; clicking it emits
/// chunkClicked; setHighlighted outlines one chunk (the selected row of the chunk table).
class ChunkGrid : public QWidget
{
    Q_OBJECT
public:
    explicit ChunkGrid(QWidget *parent = nullptr);

    void setChunks(std::vector<std::int64_t> shape, std::vector<format::TensorChunk> chunks);
    void clear();
    void setHighlighted(int chunk);
    int highlighted() const { return m_highlighted; }
    /// The chunk painted at `pos` (widget coordinates), or -1.
    int chunkAt(const QPointF &pos) const;
    /// The rectangle chunk `chunk` is painted in.
    QRectF chunkRect(int chunk) const;
    /// What the grid cannot show: "" or e.g. "Chunks are also split along dim 2: the grid shows dims 0 and 1".
    QString note() const { return m_note; }

    QSize sizeHint() const override { return {420, 220}; }
    QSize minimumSizeHint() const override { return {160, 90}; }

signals:
    void chunkClicked(int chunk);

protected:
    void paintEvent(QPaintEvent *event) override;
    void mousePressEvent(QMouseEvent *event) override;
    bool event(QEvent *event) override;

private:
    QRectF plotArea() const;

    std::vector<std::int64_t> m_shape;
    std::vector<format::TensorChunk> m_chunks;
    int m_highlighted = -1;
    QString m_note;
};

} // namespace ckpt
