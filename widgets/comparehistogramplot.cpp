// SPDX-License-Identifier: MIT
#include "comparehistogramplot.h"
#include "themesupport.h"

#include "displayformat.h"

#include <QVBoxLayout>

#include <qcustomplot.h>

#include <cmath>

namespace ckpt {

namespace {
const QColor kColorA(0x3b, 0x7d, 0xd8);
const QColor kColorB(0xe0, 0x6c, 0x10);
} // namespace

CompareHistogramPlot::CompareHistogramPlot(QWidget *parent)
    : QWidget(parent)
    , m_plot(new QCustomPlot(this))
{
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_plot);
    setMinimumSize(240, 160);

    m_plot->setBackground(palette().base());
    m_plot->xAxis->setLabel(tr("value"));
    m_plot->yAxis->setLabel(tr("count"));
    m_plot->xAxis->grid()->setSubGridVisible(false);
    // As HistogramPlot: a replot marks the widget for the next paint instead of repainting the
    // whole window on the spot (QCustomPlot's default phImmediateRefresh).
    m_plot->setPlottingHint(QCP::phImmediateRefresh, false);
    m_plot->setMouseTracking(true);

    m_barsA = new QCPBars(m_plot->xAxis, m_plot->yAxis);
    m_barsA->setPen(Qt::NoPen);
    QColor fillA = kColorA;
    fillA.setAlpha(150);
    m_barsA->setBrush(fillA);
    m_barsA->setWidthType(QCPBars::wtPlotCoords);
    m_barsA->setAntialiased(false);

    m_stepB = m_plot->addGraph(m_plot->xAxis, m_plot->yAxis);
    m_stepB->setLineStyle(QCPGraph::lsStepLeft);
    m_stepB->setPen(QPen(kColorB, 1.8));
    QColor fillB = kColorB;
    fillB.setAlpha(45);
    m_stepB->setBrush(fillB);

    // The legend in a row of its own above the plot: inside the axis rect it covered the bars.
    m_plot->legend->setVisible(true);
    m_plot->axisRect()->insetLayout()->take(m_plot->legend);
    m_plot->axisRect()->insetLayout()->simplify();
    m_plot->plotLayout()->insertRow(0);
    m_plot->plotLayout()->addElement(0, 0, m_plot->legend);
    m_plot->plotLayout()->setRowStretchFactor(0, 0.001);
    m_plot->plotLayout()->setRowSpacing(0);
    m_plot->legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
    m_plot->legend->setMargins(QMargins(0, 4, 0, 0));
    m_plot->legend->setBrush(QColor(255, 255, 255, 215)); // palette-styled by followPalette()

    m_message = new QCPItemText(m_plot);
    m_message->setPositionAlignment(Qt::AlignCenter);
    m_message->position->setType(QCPItemPosition::ptAxisRectRatio);
    m_message->position->setCoords(0.5, 0.5);
    m_message->setColor(QColor(0x70, 0x70, 0x70));
    m_message->setVisible(false);

    m_readoutItem = new QCPItemText(m_plot);
    m_readoutItem->setPositionAlignment(Qt::AlignTop | Qt::AlignRight);
    m_readoutItem->position->setType(QCPItemPosition::ptAxisRectRatio);
    m_readoutItem->position->setCoords(0.99, 0.02);
    m_readoutItem->setTextAlignment(Qt::AlignRight);
    m_readoutItem->setPadding(QMargins(6, 3, 6, 3));
    m_readoutItem->setBrush(QColor(255, 255, 255, 225));
    m_readoutItem->setPen(QPen(QColor(0xb0, 0xb0, 0xb0)));
    m_readoutItem->setVisible(false);

    connect(m_plot, &QCustomPlot::mouseMove, this, &CompareHistogramPlot::onMouseMove);
    m_plot->xAxis->setNumberPrecision(4);
    connect(m_plot, &QCustomPlot::afterLayout, this, [this] { fitValueTicks(m_plot); });
    followPalette(m_plot);
    setNames(m_nameA, m_nameB);
    clear();
}

CompareHistogramPlot::~CompareHistogramPlot() = default;

int CompareHistogramPlot::binCount() const
{
    return static_cast<int>(std::max(m_a.size(), m_b.size()));
}

void CompareHistogramPlot::setNames(const QString &a, const QString &b)
{
    m_nameA = a;
    m_nameB = b;
    m_barsA->setName(tr("A: %1").arg(a));
    m_stepB->setName(tr("B: %1").arg(b));
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

QStringList CompareHistogramPlot::legendTexts() const
{
    QStringList out;
    for (int i = 0; i < m_plot->legend->itemCount(); ++i)
        if (auto *item = qobject_cast<QCPPlottableLegendItem *>(m_plot->legend->item(i)))
            if (item->plottable()->visible())
                out << item->plottable()->name();
    return out;
}

void CompareHistogramPlot::setHistograms(double lo, double hi, const std::vector<std::uint64_t> &countsA,
                                         const std::vector<std::uint64_t> &countsB)
{
    m_lo = lo;
    m_hi = hi > lo ? hi : lo + 1;
    m_a = countsA;
    m_b = countsB;
    m_message->setVisible(false);
    rebuild();
}

void CompareHistogramPlot::clear(const QString &message)
{
    m_a.clear();
    m_b.clear();
    m_message->setText(message);
    m_message->setVisible(!message.isEmpty());
    rebuild();
}

void CompareHistogramPlot::setLogScale(bool log)
{
    if (log == m_log)
        return;
    m_log = log;
    rebuild();
}

QString CompareHistogramPlot::binText(int bin) const
{
    const int n = binCount();
    if (bin < 0 || bin >= n)
        return {};
    const double w = (m_hi - m_lo) / n;
    const double a = m_lo + bin * w;
    const double b = bin == n - 1 ? m_hi : m_lo + (bin + 1) * w;
    auto count = [bin](const std::vector<std::uint64_t> &c) {
        return static_cast<std::size_t>(bin) < c.size() ? groupedCount(c[static_cast<std::size_t>(bin)])
                                                        : QStringLiteral("—");
    };
    return QStringLiteral("bin %1: [%2, %3%4\nA %5 · B %6")
        .arg(bin)
        .arg(numberText(a, 5), numberText(b, 5), bin == n - 1 ? QStringLiteral("]") : QStringLiteral(")"),
             count(m_a), count(m_b));
}

void CompareHistogramPlot::showReadout(int bin)
{
    if (bin == m_hoverBin)
        return;
    m_hoverBin = bin;
    m_readout = binText(bin);
    m_readoutItem->setText(m_readout);
    m_readoutItem->setVisible(!m_readout.isEmpty());
    m_plot->replot(QCustomPlot::rpQueuedReplot);
    emit readoutChanged(m_readout);
}

void CompareHistogramPlot::onMouseMove(QMouseEvent *event)
{
    const int n = binCount();
    const QPointF pos = event->position();
    if (n == 0 || !m_plot->axisRect()->rect().contains(pos.toPoint())) {
        showReadout(-1);
        return;
    }
    const double x = m_plot->xAxis->pixelToCoord(pos.x());
    if (!(x >= m_lo) || !(x <= m_hi)) {
        showReadout(-1);
        return;
    }
    showReadout(std::clamp(static_cast<int>(std::floor((x - m_lo) / ((m_hi - m_lo) / n))), 0, n - 1));
}

void CompareHistogramPlot::rebuild()
{
    m_hoverBin = -1;
    m_readout.clear();
    m_readoutItem->setVisible(false);
    const int n = binCount();
    const double w = n ? (m_hi - m_lo) / n : 1;
    const double base = m_log ? 0.5 : 0.0;
    double maxCount = 0;
    QVector<double> keys, values;
    for (std::size_t i = 0; i < m_a.size(); ++i) {
        const double c = static_cast<double>(m_a[i]);
        maxCount = std::max(maxCount, c);
        if (m_log && c <= 0)
            continue;
        keys << m_lo + (static_cast<double>(i) + 0.5) * w;
        values << c;
    }
    m_barsA->setData(keys, values, true);
    m_barsA->setWidth(w);
    m_barsA->setBaseValue(base);
    m_barsA->setVisible(!m_a.empty());
    // B as a step outline: one point per bin edge, the last repeated to close the final bin.
    QVector<double> edges, heights;
    for (std::size_t i = 0; i < m_b.size(); ++i) {
        const double c = static_cast<double>(m_b[i]);
        maxCount = std::max(maxCount, c);
        edges << m_lo + static_cast<double>(i) * w;
        heights << std::max(c, base);
    }
    if (!m_b.empty()) {
        edges << m_hi;
        heights << heights.back();
    }
    m_stepB->setData(edges, heights, true);
    m_stepB->setVisible(!m_b.empty());
    m_stepB->setChannelFillGraph(nullptr);

    if (m_log) {
        m_plot->yAxis->setScaleType(QCPAxis::stLogarithmic);
        m_plot->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>::create());
        m_plot->yAxis->setNumberFormat(QStringLiteral("eb"));
        m_plot->yAxis->setNumberPrecision(0);
        m_plot->yAxis->setRange(0.5, std::max(10.0, maxCount * 2.0));
    } else {
        m_plot->yAxis->setScaleType(QCPAxis::stLinear);
        m_plot->yAxis->setTicker(QSharedPointer<QCPAxisTicker>::create());
        m_plot->yAxis->setNumberFormat(QStringLiteral("gb"));
        m_plot->yAxis->setNumberPrecision(6);
        m_plot->yAxis->setRange(0, std::max(1.0, maxCount * 1.12));
    }
    if (n) {
        const double pad = (m_hi - m_lo) * 0.02;
        m_plot->xAxis->setRange(m_lo - pad, m_hi + pad);
    } else {
        m_plot->xAxis->setRange(0, 1);
    }
    m_plot->legend->setVisible(n > 0);
    m_plot->replot(QCustomPlot::rpQueuedReplot); // drawn once, in an event of its own
}

bool CompareHistogramPlot::savePng(const QString &fileName, int width, int height)
{
    return m_plot->savePng(fileName, width, height);
}

} // namespace ckpt
