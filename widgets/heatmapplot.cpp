// SPDX-License-Identifier: MIT
#include "heatmapplot.h"
#include "themesupport.h"

#include "displayformat.h"

#include <QVBoxLayout>

#include <qcustomplot.h>

#include <cmath>
#include <limits>

namespace ckpt {

namespace {
/// Ticks on whole indices only, and only on indices the slice has: square cells widen the
/// axis of a narrow slice (16 x 3) far beyond its columns, where "-10" would name no column.
class IndexTicker : public QCPAxisTicker
{
public:
    void setIndexRange(double first, double last)
    {
        m_first = first;
        m_last = last;
    }

protected:
    double getTickStep(const QCPRange &range) override
    {
        // Spaced for the indices in view, not for the empty margins around them.
        QCPRange shown(std::max(range.lower, m_first), std::min(range.upper, m_last));
        if (!(shown.size() > 0))
            shown = range;
        return std::max(1.0, std::floor(QCPAxisTicker::getTickStep(shown)));
    }
    QVector<double> createTickVector(double tickStep, const QCPRange &range) override
    {
        QVector<double> ticks = QCPAxisTicker::createTickVector(tickStep, range);
        ticks.removeIf([this](double t) { return t < m_first - 1e-9 || t > m_last + 1e-9 || t != std::round(t); });
        return ticks;
    }

private:
    double m_first = -std::numeric_limits<double>::infinity();
    double m_last = std::numeric_limits<double>::infinity();
};

void setIndexRange(QCPAxis *axis, double first, double last)
{
    if (auto ticker = qSharedPointerDynamicCast<IndexTicker>(axis->ticker()))
        ticker->setIndexRange(first, last);
}
} // namespace

HeatmapPlot::HeatmapPlot(QWidget *parent)
    : QWidget(parent)
    , m_plot(new QCustomPlot(this))
{
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_plot);
    setMinimumSize(200, 160);

    m_plot->setBackground(palette().base());
    m_plot->xAxis->setLabel(tr("column"));
    m_plot->yAxis->setLabel(tr("row"));
    m_plot->yAxis->setRangeReversed(true);
    // A replot marks the widget for the next paint (update()) instead of repainting the whole
    // window on the spot (QCustomPlot's default phImmediateRefresh): the window is then painted
    // once per event-loop turn with everything else that changed (B5, UI stall).
    m_plot->setPlottingHint(QCP::phImmediateRefresh, false);
    auto xTicker = QSharedPointer<IndexTicker>::create();
    xTicker->setTickCount(4); // wide labels ("12500") on a narrow axis
    m_plot->xAxis->setTicker(xTicker);
    m_plot->yAxis->setTicker(QSharedPointer<IndexTicker>::create());
    m_plot->xAxis->setNumberPrecision(8);
    m_plot->yAxis->setNumberPrecision(8);
    m_plot->xAxis->grid()->setVisible(false);
    m_plot->yAxis->grid()->setVisible(false);
    m_plot->setMouseTracking(true);

    m_map = new QCPColorMap(m_plot->xAxis, m_plot->yAxis);
    m_map->setInterpolate(false);
    m_map->setTightBoundary(false);
    m_scale = new QCPColorScale(m_plot);
    m_scale->setType(QCPAxis::atRight);
    m_scale->setBarWidth(12);
    m_plot->plotLayout()->addElement(0, 1, m_scale);
    m_map->setColorScale(m_scale);
    auto *group = new QCPMarginGroup(m_plot);
    m_plot->axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, group);
    m_scale->setMarginGroup(QCP::msBottom | QCP::msTop, group);

    m_message = new QCPItemText(m_plot);
    m_message->setPositionAlignment(Qt::AlignCenter);
    m_message->position->setType(QCPItemPosition::ptAxisRectRatio);
    m_message->position->setCoords(0.5, 0.5);
    m_message->setColor(QColor(0x70, 0x70, 0x70));
    m_message->setVisible(false);

    connect(m_plot, &QCustomPlot::mouseMove, this, &HeatmapPlot::onMouseMove);
    // The axis rect's size is known after layout: fix the aspect ratio there, before drawing.
    connect(m_plot, &QCustomPlot::afterLayout, this, &HeatmapPlot::keepSquareCells);
    followPalette(m_plot);
    clear();
}

HeatmapPlot::~HeatmapPlot() = default;

void HeatmapPlot::setGrid(const HeatmapGrid &grid)
{
    m_grid = grid;
    m_readout.clear();
    if (grid.rows <= 0 || grid.cols <= 0) {
        clear(grid.error.isEmpty() ? tr("Empty slice") : grid.error);
        return;
    }
    m_message->setVisible(false);
    m_map->setVisible(true);
    m_scale->setVisible(true);
    auto *cells = m_map->data();
    const double lastCol = static_cast<double>((grid.cols - 1) * grid.colStep);
    const double lastRow = static_cast<double>((grid.rows - 1) * grid.rowStep);
    // QCPColorMap draws nothing along an axis of one cell (its range has no extent, so a cell
    // has no size): a 1-D tensor's single row is given as two equal rows a quarter apart, which
    // the non-tight boundary widens to exactly one row of height 1 around index 0.
    // The colour scale's ends (diverging scales are symmetric about zero).
    const bool diverging = grid.min < 0 && grid.max > 0;
    const double extent = std::max(-grid.min, grid.max);
    const double bottom = diverging ? -extent : grid.min == grid.max ? grid.min - 0.5 : grid.min;
    const double top = diverging ? extent : grid.min == grid.max ? grid.max + 0.5 : grid.max;
    const int mapCols = grid.cols == 1 ? 2 : grid.cols;
    const int mapRows = grid.rows == 1 ? 2 : grid.rows;
    cells->setSize(mapCols, mapRows);
    cells->setRange(grid.cols == 1 ? QCPRange(-0.25, 0.25) : QCPRange(0, lastCol),
                    grid.rows == 1 ? QCPRange(-0.25, 0.25) : QCPRange(0, lastRow));
    setIndexRange(m_plot->xAxis, 0, lastCol);
    setIndexRange(m_plot->yAxis, 0, lastRow);
    for (int r = 0; r < mapRows; ++r)
        for (int c = 0; c < mapCols; ++c) {
            double v = grid.values[static_cast<std::size_t>(std::min(r, grid.rows - 1)) * static_cast<std::size_t>(grid.cols)
                                   + static_cast<std::size_t>(std::min(c, grid.cols - 1))];
            // ±Inf at the ends of the scale (QCPColorGradient turns an infinite value into an
            // arbitrary colour); a finite value beyond the data range is clamped to its end.
            if (std::isinf(v))
                v = v > 0 ? top : bottom;
            cells->setCell(c, r, v);
        }
    QCPColorGradient gradient;
    gradient.clearColorStops();
    if (diverging) {
        // Diverging blue–white–red, centred on zero.
        gradient.setColorStopAt(0.0, QColor(0x21, 0x66, 0xac));
        gradient.setColorStopAt(0.25, QColor(0x67, 0xa9, 0xcf));
        gradient.setColorStopAt(0.5, QColor(0xf7, 0xf7, 0xf7));
        gradient.setColorStopAt(0.75, QColor(0xef, 0x8a, 0x62));
        gradient.setColorStopAt(1.0, QColor(0xb2, 0x18, 0x2b));
    } else {
        // Viridis (perceptually uniform).
        gradient.setColorStopAt(0.0, QColor(0x44, 0x01, 0x54));
        gradient.setColorStopAt(0.25, QColor(0x3b, 0x52, 0x8b));
        gradient.setColorStopAt(0.5, QColor(0x21, 0x91, 0x8c));
        gradient.setColorStopAt(0.75, QColor(0x5e, 0xc9, 0x62));
        gradient.setColorStopAt(1.0, QColor(0xfd, 0xe7, 0x25));
    }
    gradient.setColorInterpolation(QCPColorGradient::ciRGB);
    gradient.setNanHandling(QCPColorGradient::nhNanColor);
    gradient.setNanColor(QColor(255, 0, 255));
    m_map->setGradient(gradient);
    m_map->setDataRange(QCPRange(bottom, top));
    const double padX = std::max(0.5, static_cast<double>(grid.colStep) / 2);
    const double padY = std::max(0.5, static_cast<double>(grid.rowStep) / 2);
    m_plot->xAxis->setRange(-padX, lastCol + padX);
    m_plot->yAxis->setRange(-padY, lastRow + padY);
    keepSquareCells();
    m_plot->replot(QCustomPlot::rpQueuedReplot); // drawn once, in an event of its own
}

void HeatmapPlot::keepSquareCells()
{
    if (m_grid.rows <= 0)
        return;
    // Square cells unless the slice is very elongated (then fill the plot).
    const double ratio = static_cast<double>(m_grid.fullRows) / static_cast<double>(std::max<std::int64_t>(1, m_grid.fullCols));
    if (ratio > 8 || ratio < 1.0 / 8)
        return;
    const double padX = std::max(0.5, static_cast<double>(m_grid.colStep) / 2);
    const double padY = std::max(0.5, static_cast<double>(m_grid.rowStep) / 2);
    const double lastCol = static_cast<double>((m_grid.cols - 1) * m_grid.colStep);
    const double lastRow = static_cast<double>((m_grid.rows - 1) * m_grid.rowStep);
    m_plot->xAxis->setRange(-padX, lastCol + padX);
    m_plot->yAxis->setRange(-padY, lastRow + padY);
    const QRect r = m_plot->axisRect()->rect();
    if (r.width() <= 0 || r.height() <= 0)
        return;
    const double xPerPixel = m_plot->xAxis->range().size() / r.width();
    const double yPerPixel = m_plot->yAxis->range().size() / r.height();
    if (xPerPixel > yPerPixel)
        m_plot->yAxis->setScaleRatio(m_plot->xAxis, 1.0);
    else
        m_plot->xAxis->setScaleRatio(m_plot->yAxis, 1.0);
}

void HeatmapPlot::clear(const QString &message)
{
    m_grid = HeatmapGrid{};
    m_readout.clear();
    m_map->data()->clear();
    m_map->setVisible(false);
    m_scale->setVisible(false);
    m_message->setText(message);
    m_message->setVisible(!message.isEmpty());
    m_plot->xAxis->setRange(0, 1);
    m_plot->yAxis->setRange(0, 1);
    // Queued: selecting a tensor clears the (usually hidden) Values tab's map; drawing it inline
    // made every selection slower (B5).
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

void HeatmapPlot::onMouseMove(QMouseEvent *event)
{
    if (m_grid.rows <= 0)
        return;
    const QPointF pos = event->position();
    QString text;
    if (m_plot->axisRect()->rect().contains(pos.toPoint())) {
        const double x = m_plot->xAxis->pixelToCoord(pos.x());
        const double y = m_plot->yAxis->pixelToCoord(pos.y());
        const int c = static_cast<int>(std::lround(x / static_cast<double>(m_grid.colStep)));
        const int r = static_cast<int>(std::lround(y / static_cast<double>(m_grid.rowStep)));
        if (r >= 0 && r < m_grid.rows && c >= 0 && c < m_grid.cols) {
            const double v = m_grid.values[static_cast<std::size_t>(r) * static_cast<std::size_t>(m_grid.cols)
                                           + static_cast<std::size_t>(c)];
            if (m_grid.rowStep == 1 && m_grid.colStep == 1) {
                text = QStringLiteral("[%1, %2] = %3").arg(r).arg(c).arg(numberText(v, 7));
            } else {
                // A cell stands for a block: name it, and that the value is its largest.
                auto span = [](std::int64_t first, std::int64_t step, std::int64_t extent) {
                    const std::int64_t last = std::min(extent, first + step) - 1;
                    return last > first ? QStringLiteral("%1–%2").arg(first).arg(last) : QString::number(first);
                };
                text = tr("[%1, %2] largest |x| = %3%4")
                           .arg(span(r * m_grid.rowStep, m_grid.rowStep, m_grid.fullRows),
                                span(c * m_grid.colStep, m_grid.colStep, m_grid.fullCols), numberText(v, 7),
                                m_grid.sampled ? tr(" (sampled)") : QString());
            }
        }
    }
    if (text != m_readout) {
        m_readout = text;
        m_plot->setToolTip(text);
        emit readoutChanged(text);
    }
}

bool HeatmapPlot::savePng(const QString &fileName, int width, int height)
{
    return m_plot->savePng(fileName, width, height);
}

} // namespace ckpt
