// SPDX-License-Identifier: MIT
#include "histogramplot.h"
#include "themesupport.h"

#include "displayformat.h"

#include <QFile>
#include <QSvgGenerator>
#include <QTextStream>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include <cmath>

namespace ckpt {

namespace {
const QColor kBarColor(0x3b, 0x7d, 0xd8);

/// Counts are whole numbers: no 2.5 or 0.5 ticks.
class CountTicker : public QCPAxisTicker
{
protected:
    double getTickStep(const QCPRange &range) override
    {
        return std::max(1.0, std::floor(QCPAxisTicker::getTickStep(range)));
    }
};
const QColor kHighlightColor(0xf2, 0x8c, 0x28);
} // namespace

HistogramPlot::HistogramPlot(QWidget *parent)
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
    m_plot->axisRect()->setupFullAxesBox(false);
    m_plot->xAxis2->setVisible(false);
    m_plot->yAxis2->setVisible(false);
    m_plot->xAxis->grid()->setSubGridVisible(false);
    m_plot->setNoAntialiasingOnDrag(true);
    // A replot marks the widget for the next paint (update()) instead of repainting the whole
    // window on the spot (QCustomPlot's default phImmediateRefresh): the window is then painted
    // once per event-loop turn with everything else that changed (B5, UI stall).
    m_plot->setPlottingHint(QCP::phImmediateRefresh, false);
    m_plot->setMouseTracking(true);

    m_bars = new QCPBars(m_plot->xAxis, m_plot->yAxis);
    m_bars->setPen(Qt::NoPen);
    m_bars->setBrush(kBarColor);
    m_bars->setWidthType(QCPBars::wtPlotCoords);
    m_bars->setAntialiased(false);

    m_highlight = new QCPItemRect(m_plot);
    m_highlight->setPen(QPen(kHighlightColor.darker(130)));
    m_highlight->setBrush(kHighlightColor);
    m_highlight->setVisible(false);
    m_highlight->setClipToAxisRect(true);

    m_zeroLine = new QCPItemStraightLine(m_plot);
    m_zeroLine->setPen(QPen(QColor(0x88, 0x88, 0x88), 1, Qt::DashLine));
    m_zeroLine->point1->setCoords(0, 0);
    m_zeroLine->point2->setCoords(0, 1);
    m_zeroLine->setVisible(false);

    m_readoutItem = new QCPItemText(m_plot);
    m_readoutItem->setPositionAlignment(Qt::AlignTop | Qt::AlignRight);
    m_readoutItem->position->setType(QCPItemPosition::ptAxisRectRatio);
    m_readoutItem->position->setCoords(0.99, 0.02);
    m_readoutItem->setTextAlignment(Qt::AlignRight);
    m_readoutItem->setPadding(QMargins(6, 3, 6, 3));
    m_readoutItem->setBrush(QColor(255, 255, 255, 225));
    m_readoutItem->setPen(QPen(QColor(0xb0, 0xb0, 0xb0)));
    m_readoutItem->setVisible(false);
    m_readoutItem->setClipToAxisRect(false);

    m_messageItem = new QCPItemText(m_plot);
    m_messageItem->setPositionAlignment(Qt::AlignCenter);
    m_messageItem->position->setType(QCPItemPosition::ptAxisRectRatio);
    m_messageItem->position->setCoords(0.5, 0.5);
    m_messageItem->setColor(QColor(0x70, 0x70, 0x70));
    m_messageItem->setVisible(false);

    connect(m_plot, &QCustomPlot::mouseMove, this, &HistogramPlot::onMouseMove);
    m_plot->xAxis->setNumberPrecision(4);
    connect(m_plot, &QCustomPlot::afterLayout, this, [this] { fitValueTicks(m_plot); });
    followPalette(m_plot); // also restyles the read-out and message items
    clear();
}

HistogramPlot::~HistogramPlot() = default;

void HistogramPlot::setValueLabel(const QString &label)
{
    m_plot->xAxis->setLabel(label);
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

void HistogramPlot::setHistogram(double lo, double hi, const std::vector<std::uint64_t> &counts)
{
    m_lo = lo;
    m_hi = hi > lo ? hi : lo + 1;
    m_counts = counts;
    m_messageItem->setVisible(false);
    m_hoverBin = -1;
    rebuild();
}

void HistogramPlot::clear(const QString &message)
{
    m_counts.clear();
    m_hoverBin = -1;
    // Broken into lines of about 48 characters: a long reason ("the tensor is split into ...")
    // would otherwise run past both sides of the plot.
    QString wrapped;
    qsizetype lineStart = 0;
    for (const QString &word : message.split(QLatin1Char(' '))) {
        if (!wrapped.isEmpty()) {
            if (wrapped.size() - lineStart + word.size() > 48) {
                wrapped += QLatin1Char('\n');
                lineStart = wrapped.size();
            } else {
                wrapped += QLatin1Char(' ');
            }
        }
        wrapped += word;
    }
    m_messageItem->setText(wrapped);
    m_messageItem->setTextAlignment(Qt::AlignCenter);
    m_messageItem->setVisible(!message.isEmpty());
    rebuild();
}

void HistogramPlot::setLogScale(bool log)
{
    if (log == m_log)
        return;
    m_log = log;
    rebuild();
}

std::vector<std::pair<double, double>> HistogramPlot::plottedBars() const
{
    std::vector<std::pair<double, double>> out;
    for (auto it = m_bars->data()->constBegin(); it != m_bars->data()->constEnd(); ++it)
        out.emplace_back(it->key, it->value);
    return out;
}

int HistogramPlot::binAt(double x) const
{
    const int n = binCount();
    if (n == 0 || !(x >= m_lo) || !(x <= m_hi))
        return -1;
    const double w = (m_hi - m_lo) / n;
    int bin = static_cast<int>(std::floor((x - m_lo) / w));
    return std::clamp(bin, 0, n - 1);
}

QString HistogramPlot::binText(int bin) const
{
    const int n = binCount();
    if (bin < 0 || bin >= n)
        return {};
    const double w = (m_hi - m_lo) / n;
    const double a = m_lo + bin * w;
    const double b = bin == n - 1 ? m_hi : m_lo + (bin + 1) * w;
    const std::uint64_t c = m_counts[static_cast<std::size_t>(bin)];
    return QStringLiteral("bin %1: [%2, %3%4\n%5 %6")
        .arg(bin)
        .arg(numberText(a, 5), numberText(b, 5), bin == n - 1 ? QStringLiteral("]") : QStringLiteral(")"),
             groupedCount(c), c == 1 ? tr("value") : tr("values"));
}

void HistogramPlot::showReadout(int bin)
{
    if (bin == m_hoverBin)
        return;
    m_hoverBin = bin;
    const int n = binCount();
    if (bin < 0 || bin >= n) {
        m_readout.clear();
        m_highlight->setVisible(false);
        m_readoutItem->setVisible(false);
    } else {
        const double w = (m_hi - m_lo) / n;
        const double c = static_cast<double>(m_counts[static_cast<std::size_t>(bin)]);
        const double base = m_log ? 0.5 : 0.0;
        m_highlight->topLeft->setCoords(m_lo + bin * w, std::max(c, base));
        m_highlight->bottomRight->setCoords(m_lo + (bin + 1) * w, base);
        m_highlight->setVisible(c > 0);
        m_readout = binText(bin);
        m_readoutItem->setText(m_readout);
        m_readoutItem->setVisible(true);
    }
    m_plot->replot(QCustomPlot::rpQueuedReplot);
    emit readoutChanged(m_readout);
}

void HistogramPlot::onMouseMove(QMouseEvent *event)
{
    if (m_counts.empty())
        return;
    const QPointF pos = event->position();
    if (!m_plot->axisRect()->rect().contains(pos.toPoint())) {
        showReadout(-1);
        return;
    }
    showReadout(binAt(m_plot->xAxis->pixelToCoord(pos.x())));
}

void HistogramPlot::rebuild()
{
    m_highlight->setVisible(false);
    m_readoutItem->setVisible(false);
    m_readout.clear();
    QVector<double> keys, values;
    const int n = binCount();
    const double w = n ? (m_hi - m_lo) / n : 1;
    double maxCount = 0;
    for (int i = 0; i < n; ++i) {
        const double c = static_cast<double>(m_counts[static_cast<std::size_t>(i)]);
        maxCount = std::max(maxCount, c);
        if (m_log && c <= 0)
            continue;
        keys << m_lo + (i + 0.5) * w;
        values << c;
    }
    m_bars->setData(keys, values, true);
    m_bars->setWidth(w);
    m_bars->setBaseValue(m_log ? 0.5 : 0.0);
    // Many thin bins: outline-free bars; few bins: a thin separating outline.
    m_bars->setPen(n <= 80 ? QPen(kBarColor.darker(140), 0.6) : QPen(Qt::NoPen));

    if (m_log) {
        m_plot->yAxis->setScaleType(QCPAxis::stLogarithmic);
        m_plot->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>::create());
        m_plot->yAxis->setNumberFormat(QStringLiteral("eb"));
        m_plot->yAxis->setNumberPrecision(0);
        m_plot->yAxis->setRange(0.5, std::max(10.0, maxCount * 2.0));
    } else {
        m_plot->yAxis->setScaleType(QCPAxis::stLinear);
        m_plot->yAxis->setTicker(QSharedPointer<CountTicker>::create());
        m_plot->yAxis->setNumberFormat(QStringLiteral("gb"));
        m_plot->yAxis->setNumberPrecision(6);
        m_plot->yAxis->setRange(0, std::max(1.0, maxCount * 1.08));
    }
    if (n) {
        const double pad = (m_hi - m_lo) * 0.02;
        m_plot->xAxis->setRange(m_lo - pad, m_hi + pad);
        m_zeroLine->setVisible(m_lo < 0 && m_hi > 0);
    } else {
        m_plot->xAxis->setRange(0, 1);
        m_zeroLine->setVisible(false);
    }
    // Queued: the "Computing…" state on selection and the result a moment later are each drawn
    // once, in an event of their own, not inside the selection or result handler (B5, UI stall).
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

bool HistogramPlot::savePng(const QString &fileName, int width, int height)
{
    return m_plot->savePng(fileName, width, height);
}

bool HistogramPlot::savePdf(const QString &fileName, int width, int height)
{
    return m_plot->savePdf(fileName, width, height);
}

bool HistogramPlot::saveSvg(const QString &fileName, int width, int height)
{
    const int w = width > 0 ? width : m_plot->width();
    const int h = height > 0 ? height : m_plot->height();
    QSvgGenerator generator;
    generator.setFileName(fileName);
    generator.setSize(QSize(w, h));
    generator.setViewBox(QRect(0, 0, w, h));
    generator.setTitle(tr("Histogram"));
    QCPPainter painter;
    if (!painter.begin(&generator))
        return false;
    m_plot->toPainter(&painter, w, h);
    painter.end();
    return QFile::exists(fileName);
}

bool HistogramPlot::saveCsv(const QString &fileName) const
{
    QFile file(fileName);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate | QIODevice::Text))
        return false;
    QTextStream out(&file);
    out << "bin,lo,hi,count\n";
    const int n = binCount();
    const double w = n ? (m_hi - m_lo) / n : 0;
    for (int i = 0; i < n; ++i) {
        const double a = m_lo + i * w;
        const double b = i == n - 1 ? m_hi : m_lo + (i + 1) * w;
        out << i << ',' << QString::number(a, 'g', 17) << ',' << QString::number(b, 'g', 17) << ','
            << m_counts[static_cast<std::size_t>(i)] << '\n';
    }
    return out.status() == QTextStream::Ok;
}

} // namespace ckpt
