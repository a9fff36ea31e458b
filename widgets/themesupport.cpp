// SPDX-License-Identifier: MIT
#include "themesupport.h"

#include <QEvent>
#include <QPointer>
#include <QWidget>

#include <qcustomplot.h>

namespace ckpt {

namespace {

/// Re-applies a style when the palette of the watched widget (or the application's) changes.
class PaletteFollower : public QObject
{
public:
    PaletteFollower(QWidget *watched, std::function<void()> apply)
        : QObject(watched), m_apply(std::move(apply))
    {
        watched->installEventFilter(this);
        m_apply();
    }

protected:
    bool eventFilter(QObject *watched, QEvent *event) override
    {
        if ((event->type() == QEvent::PaletteChange || event->type() == QEvent::ApplicationPaletteChange) && !m_busy) {
            m_busy = true; // applying may itself send a PaletteChange
            m_apply();
            m_busy = false;
        }
        return QObject::eventFilter(watched, event);
    }

private:
    std::function<void()> m_apply;
    bool m_busy = false;
};

void styleAxis(QCPAxis *axis, const QPalette &p)
{
    const QColor text = p.color(QPalette::Text);
    const QColor line = mixColors(p.color(QPalette::Base), text, 0.6);
    axis->setBasePen(QPen(line));
    axis->setTickPen(QPen(line));
    axis->setSubTickPen(QPen(line));
    axis->setTickLabelColor(text);
    axis->setLabelColor(text);
    QPen grid(mixColors(p.color(QPalette::Base), text, 0.18), 0, Qt::DotLine);
    axis->grid()->setPen(grid);
    axis->grid()->setSubGridPen(QPen(mixColors(p.color(QPalette::Base), text, 0.1), 0, Qt::DotLine));
    axis->grid()->setZeroLinePen(QPen(mixColors(p.color(QPalette::Base), text, 0.3)));
}

} // namespace

QPalette darkPalette()
{
    QPalette p;
    const QColor window(0x2b, 0x2d, 0x30), base(0x1e, 0x1f, 0x22), text(0xdf, 0xe1, 0xe5);
    const QColor disabled(0x7a, 0x7c, 0x80);
    p.setColor(QPalette::Window, window);
    p.setColor(QPalette::WindowText, text);
    p.setColor(QPalette::Base, base);
    p.setColor(QPalette::AlternateBase, QColor(0x26, 0x28, 0x2b));
    p.setColor(QPalette::ToolTipBase, QColor(0x3a, 0x3d, 0x41));
    p.setColor(QPalette::ToolTipText, text);
    p.setColor(QPalette::PlaceholderText, disabled);
    p.setColor(QPalette::Text, text);
    p.setColor(QPalette::Button, window);
    p.setColor(QPalette::ButtonText, text);
    p.setColor(QPalette::BrightText, QColor(0xff, 0x6b, 0x6b));
    p.setColor(QPalette::Light, QColor(0x3c, 0x3f, 0x43));
    p.setColor(QPalette::Midlight, QColor(0x34, 0x37, 0x3a));
    p.setColor(QPalette::Mid, QColor(0x4a, 0x4d, 0x52));
    p.setColor(QPalette::Dark, QColor(0x18, 0x19, 0x1b));
    p.setColor(QPalette::Shadow, QColor(0x0e, 0x0e, 0x10));
    p.setColor(QPalette::Highlight, QColor(0x35, 0x74, 0xc4));
    p.setColor(QPalette::HighlightedText, Qt::white);
    p.setColor(QPalette::Link, QColor(0x79, 0xb8, 0xff));
    p.setColor(QPalette::LinkVisited, QColor(0xb3, 0x92, 0xf0));
    for (QPalette::ColorRole role : {QPalette::WindowText, QPalette::Text, QPalette::ButtonText})
        p.setColor(QPalette::Disabled, role, disabled);
    return p;
}

void applyPlotPalette(QCustomPlot *plot)
{
    const QPalette p = plot->palette();
    const QColor base = p.color(QPalette::Base);
    const QColor text = p.color(QPalette::Text);
    plot->setBackground(base);
    for (QCPAxisRect *rect : plot->axisRects())
        for (QCPAxis *axis : rect->axes())
            styleAxis(axis, p);
    for (int i = 0; i < plot->plotLayout()->elementCount(); ++i)
        if (auto *scale = qobject_cast<QCPColorScale *>(plot->plotLayout()->elementAt(i)))
            styleAxis(scale->axis(), p);
    if (plot->legend) {
        QColor fill = base;
        fill.setAlpha(215);
        plot->legend->setBrush(fill);
        plot->legend->setBorderPen(QPen(mixColors(base, text, 0.35)));
        plot->legend->setTextColor(text);
    }
    for (int i = 0; i < plot->itemCount(); ++i) {
        auto *item = qobject_cast<QCPItemText *>(plot->item(i));
        if (!item)
            continue;
        // Read-outs (boxed) in the text colour; messages (unboxed) muted.
        const bool boxed = item->brush().style() != Qt::NoBrush;
        item->setColor(boxed ? text : toneColor(Tone::Muted, p));
        if (boxed) {
            QColor fill = base;
            fill.setAlpha(225);
            item->setBrush(fill);
            item->setPen(QPen(mixColors(base, text, 0.35)));
        }
    }
}

/// As many x tick labels as fit side by side (long labels such as "-0.0005007" overlapped).
void fitValueTicks(QCustomPlot *plot)
{
    // Ticks are placed before the layout is known: when the count changes, replot once more.
    const int count = std::clamp(plot->axisRect()->width() / 75, 3, 12);
    if (plot->xAxis->ticker()->tickCount() != count) {
        plot->xAxis->ticker()->setTickCount(count);
        plot->replot(QCustomPlot::rpQueuedReplot);
    }
}

void followPalette(QCustomPlot *plot)
{
    QPointer<QCustomPlot> guarded(plot);
    new PaletteFollower(plot, [guarded] {
        if (!guarded)
            return;
        applyPlotPalette(guarded);
        guarded->replot(QCustomPlot::rpQueuedReplot);
    });
}

void useMutedText(QWidget *label, const QString &css)
{
    QPointer<QWidget> guarded(label);
    new PaletteFollower(label, [guarded, css] {
        if (guarded)
            guarded->setStyleSheet(css + QStringLiteral(" color: %1;").arg(toneColor(Tone::Muted, guarded->palette()).name()));
    });
}

} // namespace ckpt
