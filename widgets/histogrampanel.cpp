// SPDX-License-Identifier: MIT
#include "histogrampanel.h"

#include "histogramplot.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QDoubleValidator>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QMessageBox>
#include <QProgressBar>
#include <QSpinBox>
#include <QTimer>
#include <QToolButton>
#include <QVBoxLayout>

namespace ckpt {

HistogramPanel::HistogramPanel(QWidget *parent)
    : QWidget(parent)
    , m_plot(new HistogramPlot(this))
    , m_bins(new QSpinBox(this))
    , m_log(new QCheckBox(tr("Log counts"), this))
    , m_range(new QComboBox(this))
    , m_lo(new QLineEdit(this))
    , m_hi(new QLineEdit(this))
    , m_export(new QToolButton(this))
    , m_progress(new QProgressBar(this))
    , m_cancel(new QToolButton(this))
    , m_debounce(new QTimer(this))
{
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(4);

    auto *controls = new QHBoxLayout;
    controls->setSpacing(6);
    auto *binsLabel = new QLabel(tr("&Bins:"), this);
    binsLabel->setBuddy(m_bins);
    m_bins->setRange(1, 4096);
    m_bins->setValue(64);
    m_bins->setKeyboardTracking(false);
    m_bins->setAccelerated(true);
    m_bins->setToolTip(tr("Number of equal-width bins"));
    auto *rangeLabel = new QLabel(tr("&Range:"), this);
    rangeLabel->setBuddy(m_range);
    m_range->addItem(tr("Auto (min – max)"));
    m_range->addItem(tr("Symmetric (± max |x|)"));
    m_range->addItem(tr("Custom"));
    m_range->setToolTip(tr("The interval the bins cover; values outside a custom range are not counted"));
    for (QLineEdit *e : {m_lo, m_hi}) {
        auto *v = new QDoubleValidator(e);
        v->setNotation(QDoubleValidator::ScientificNotation);
        v->setLocale(QLocale::c());
        e->setValidator(v);
        e->setMaximumWidth(90);
        e->setVisible(false);
    }
    m_lo->setPlaceholderText(tr("from"));
    m_hi->setPlaceholderText(tr("to"));
    m_log->setToolTip(tr("Logarithmic count axis: makes rare values and outliers visible"));
    m_export->setText(tr("Export"));
    m_export->setPopupMode(QToolButton::InstantPopup);
    m_export->setToolButtonStyle(Qt::ToolButtonTextOnly);
    auto *menu = new QMenu(m_export);
    menu->addAction(tr("PNG Image…"), this, [this] { exportAs(QStringLiteral("png")); });
    menu->addAction(tr("PDF Document…"), this, [this] { exportAs(QStringLiteral("pdf")); });
    menu->addAction(tr("SVG Image…"), this, [this] { exportAs(QStringLiteral("svg")); });
    menu->addAction(tr("CSV (bin, lo, hi, count)…"), this, [this] { exportAs(QStringLiteral("csv")); });
    m_export->setMenu(menu);
    m_progress->setRange(0, 1000);
    m_progress->setTextVisible(false);
    m_progress->setMaximumWidth(140);
    m_progress->setMaximumHeight(14);
    m_progress->setVisible(false);
    m_cancel->setText(tr("Cancel"));
    m_cancel->setVisible(false);
    connect(m_cancel, &QToolButton::clicked, this, &HistogramPanel::cancelRequested);

    controls->addWidget(binsLabel);
    controls->addWidget(m_bins);
    controls->addSpacing(6);
    controls->addWidget(rangeLabel);
    controls->addWidget(m_range);
    controls->addWidget(m_lo);
    controls->addWidget(m_hi);
    controls->addSpacing(6);
    controls->addWidget(m_log);
    controls->addStretch(1);
    controls->addWidget(m_progress);
    controls->addWidget(m_cancel);
    controls->addWidget(m_export);
    layout->addLayout(controls);
    layout->addWidget(m_plot, 1);

    m_debounce->setSingleShot(true);
    m_debounce->setInterval(250);
    connect(m_debounce, &QTimer::timeout, this, &HistogramPanel::requestChanged);
    connect(m_bins, &QSpinBox::valueChanged, m_debounce, qOverload<>(&QTimer::start));
    connect(m_log, &QCheckBox::toggled, m_plot, &HistogramPlot::setLogScale);
    connect(m_range, &QComboBox::currentIndexChanged, this, [this](int index) {
        const bool custom = index == int(HistogramRange::Custom);
        m_lo->setVisible(custom);
        m_hi->setVisible(custom);
        if (custom && m_lo->text().isEmpty() && m_plot->binCount() > 0) {
            m_lo->setText(QString::number(m_plot->lo(), 'g', 6));
            m_hi->setText(QString::number(m_plot->hi(), 'g', 6));
        }
        m_debounce->start();
    });
    for (QLineEdit *e : {m_lo, m_hi})
        connect(e, &QLineEdit::editingFinished, m_debounce, qOverload<>(&QTimer::start));
}

int HistogramPanel::bins() const
{
    return m_bins->value();
}

void HistogramPanel::setBins(int bins)
{
    m_bins->setValue(bins);
}

HistogramRange HistogramPanel::rangeMode() const
{
    return static_cast<HistogramRange>(m_range->currentIndex());
}

void HistogramPanel::setRangeMode(HistogramRange mode)
{
    m_range->setCurrentIndex(static_cast<int>(mode));
}

double HistogramPanel::customLo() const
{
    return QLocale::c().toDouble(m_lo->text());
}

double HistogramPanel::customHi() const
{
    return QLocale::c().toDouble(m_hi->text());
}

void HistogramPanel::setCustomRange(double lo, double hi)
{
    m_lo->setText(QString::number(lo, 'g', 17));
    m_hi->setText(QString::number(hi, 'g', 17));
    m_debounce->start();
}

void HistogramPanel::applyTo(StatsRequest &request) const
{
    request.bins = bins();
    request.range = rangeMode();
    request.customLo = customLo();
    request.customHi = customHi();
    if (request.range == HistogramRange::Custom && !(request.customHi > request.customLo))
        request.range = HistogramRange::Auto;
}

void HistogramPanel::setBusy(bool busy)
{
    m_busy = busy;
    m_progress->setVisible(busy);
    m_cancel->setVisible(busy);
    if (busy)
        m_progress->setValue(0);
}

void HistogramPanel::setProgress(int permille)
{
    m_progress->setValue(permille);
}

void HistogramPanel::exportAs(const QString &suffix)
{
    if (m_plot->binCount() == 0) {
        QMessageBox::information(this, tr("Export Histogram"), tr("There is no histogram to export yet."));
        return;
    }
    QString filter;
    if (suffix == QLatin1String("png"))
        filter = tr("PNG images (*.png)");
    else if (suffix == QLatin1String("pdf"))
        filter = tr("PDF documents (*.pdf)");
    else if (suffix == QLatin1String("svg"))
        filter = tr("SVG images (*.svg)");
    else
        filter = tr("CSV files (*.csv)");
    QString safe = m_exportName;
    safe.replace(QLatin1Char('/'), QLatin1Char('_'));
    const QString suggested = QDir::home().filePath(safe + QLatin1Char('.') + suffix);
    QString file = QFileDialog::getSaveFileName(this, tr("Export Histogram"), suggested, filter);
    if (file.isEmpty())
        return;
    if (!file.endsWith(QLatin1Char('.') + suffix, Qt::CaseInsensitive))
        file += QLatin1Char('.') + suffix;
    bool ok = false;
    if (suffix == QLatin1String("png"))
        ok = m_plot->savePng(file, 1200, 700);
    else if (suffix == QLatin1String("pdf"))
        ok = m_plot->savePdf(file, 1200, 700);
    else if (suffix == QLatin1String("svg"))
        ok = m_plot->saveSvg(file, 1200, 700);
    else
        ok = m_plot->saveCsv(file);
    if (!ok)
        QMessageBox::warning(this, tr("Export Histogram"), tr("Could not write %1.").arg(file));
}

} // namespace ckpt
