// SPDX-License-Identifier: MIT
#include "chunkgrid.h"

#include "chunktablemodel.h"
#include "displayformat.h"
#include "themecolors.h"

#include <QHelpEvent>
#include <QMouseEvent>
#include <QPainter>
#include <QToolTip>

namespace ckpt {

ChunkGrid::ChunkGrid(QWidget *parent)
    : QWidget(parent)
{
    setMouseTracking(true);
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
}

void ChunkGrid::setChunks(std::vector<std::int64_t> shape, std::vector<format::TensorChunk> chunks)
{
    m_shape = std::move(shape);
    m_chunks = std::move(chunks);
    m_highlighted = -1;
    m_note.clear();
    // The grid is dims 0 and 1; a chunk that does not hold a later dim whole cannot be told
    // apart from its neighbours there.
    for (const auto &c : m_chunks)
        for (std::size_t d = 2; d < m_shape.size() && d < c.offsets.size() && m_note.isEmpty(); ++d)
            if (c.offsets[d] != 0 || c.sizes[d] != m_shape[d])
                m_note = tr("Chunks are also split along dim %1: the grid shows dims 0 and 1, the table every dim.").arg(d);
    update();
}

void ChunkGrid::clear()
{
    setChunks({}, {});
}

void ChunkGrid::setHighlighted(int chunk)
{
    m_highlighted = chunk >= 0 && static_cast<std::size_t>(chunk) < m_chunks.size() ? chunk : -1;
    update();
}

QRectF ChunkGrid::plotArea() const
{
    const int label = fontMetrics().height();
    return QRectF(rect()).adjusted(label * 2 + 8, label + 8, -8, -8);
}

QRectF ChunkGrid::chunkRect(int chunk) const
{
    if (chunk < 0 || static_cast<std::size_t>(chunk) >= m_chunks.size() || m_shape.empty())
        return {};
    const auto &c = m_chunks[static_cast<std::size_t>(chunk)];
    const QRectF area = plotArea();
    // 1-D: one row, dim 0 across. 2-D and more: dim 0 down, dim 1 across.
    const bool oneD = m_shape.size() == 1;
    const double rows = oneD ? 1.0 : static_cast<double>(std::max<std::int64_t>(1, m_shape[0]));
    const double cols = static_cast<double>(std::max<std::int64_t>(1, m_shape[oneD ? 0 : 1]));
    const double r0 = oneD ? 0.0 : static_cast<double>(c.offsets[0]);
    const double r1 = oneD ? 1.0 : static_cast<double>(c.offsets[0] + c.sizes[0]);
    const double c0 = static_cast<double>(c.offsets[oneD ? 0 : 1]);
    const double c1 = static_cast<double>(c.offsets[oneD ? 0 : 1] + c.sizes[oneD ? 0 : 1]);
    return QRectF(area.left() + area.width() * c0 / cols, area.top() + area.height() * r0 / rows,
                  area.width() * (c1 - c0) / cols, area.height() * (r1 - r0) / rows);
}

int ChunkGrid::chunkAt(const QPointF &pos) const
{
    for (std::size_t i = 0; i < m_chunks.size(); ++i)
        if (chunkRect(static_cast<int>(i)).contains(pos))
            return static_cast<int>(i);
    return -1;
}

void ChunkGrid::paintEvent(QPaintEvent *)
{
    QPainter p(this);
    p.setRenderHint(QPainter::Antialiasing, false);
    const QPalette pal = palette();
    p.fillRect(rect(), pal.base());
    if (m_shape.empty() || m_chunks.empty()) {
        p.setPen(toneColor(Tone::Muted, pal));
        p.drawText(rect(), Qt::AlignCenter | Qt::TextWordWrap, tr("This tensor is not split into chunks"));
        return;
    }
    const QRectF area = plotArea();
    const bool oneD = m_shape.size() == 1;
    p.setPen(toneColor(Tone::Muted, pal));
    const QString across = oneD ? tr("dim 0 (%1)").arg(m_shape[0]) : tr("dim 1 (%1)").arg(m_shape[1]);
    p.drawText(QRectF(area.left(), 2, area.width(), area.top() - 4), Qt::AlignCenter, across);
    if (!oneD) {
        p.save();
        p.translate(area.left() - 6, area.center().y());
        p.rotate(-90);
        p.drawText(QRectF(-area.height() / 2, -fontMetrics().height() - 2, area.height(), fontMetrics().height()),
                   Qt::AlignCenter, tr("dim 0 (%1)").arg(m_shape[0]));
        p.restore();
    }
    for (std::size_t i = 0; i < m_chunks.size(); ++i) {
        const QRectF r = chunkRect(static_cast<int>(i));
        const QColor fill = ChunkTableModel::colorOfRank(m_chunks[i].rank);
        p.fillRect(r, fill);
        p.setPen(QPen(pal.color(QPalette::Base), 1));
        p.drawRect(r);
        const QString label = m_chunks[i].rank >= 0 ? tr("rank %1").arg(m_chunks[i].rank) : qs(m_chunks[i].file);
        if (fontMetrics().horizontalAdvance(label) + 4 < r.width() && fontMetrics().height() < r.height()) {
            p.setPen(Qt::black); // on the light rank colours, in both palettes
            p.drawText(r, Qt::AlignCenter, label);
        }
    }
    if (m_highlighted >= 0) {
        p.setPen(QPen(pal.color(QPalette::Highlight), 3));
        p.drawRect(chunkRect(m_highlighted).adjusted(1, 1, -1, -1));
    }
    p.setPen(QPen(pal.color(QPalette::Text), 1));
    p.drawRect(area);
}

void ChunkGrid::mousePressEvent(QMouseEvent *event)
{
    const int chunk = chunkAt(event->position());
    if (chunk >= 0 && event->button() == Qt::LeftButton) {
        setHighlighted(chunk);
        emit chunkClicked(chunk);
    }
    QWidget::mousePressEvent(event);
}

bool ChunkGrid::event(QEvent *event)
{
    if (event->type() == QEvent::ToolTip) {
        auto *help = static_cast<QHelpEvent *>(event);
        const int chunk = chunkAt(help->pos());
        if (chunk < 0) {
            QToolTip::hideText();
            event->ignore();
            return true;
        }
        const auto &c = m_chunks[static_cast<std::size_t>(chunk)];
        QToolTip::showText(help->globalPos(),
                           tr("Rank %1: [%2]\n%3, bytes %4 – %5 (%6)")
                               .arg(c.rank)
                               .arg(ChunkTableModel::boxText(c), qs(c.file), groupedCount(c.byteOffset),
                                    groupedCount(c.byteOffset + c.byteLength), humanBytes(c.byteLength)),
                           this);
        return true;
    }
    return QWidget::event(event);
}

} // namespace ckpt
