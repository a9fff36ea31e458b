// SPDX-License-Identifier: MIT
#include "comparetensorpanel.h"
#include "themecolors.h"

#include "comparehistogramplot.h"
#include "diffmodel.h"
#include "displayformat.h"
#include "heatmapplot.h"
#include "histogramplot.h"

#include <QCheckBox>
#include <QComboBox>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QSignalBlocker>
#include <QSpinBox>
#include <QSplitter>
#include <QTimer>
#include <QToolButton>
#include <QVBoxLayout>

namespace ckpt {

namespace {

QGroupBox *framed(const QString &title, QWidget *content, QWidget *parent, QWidget *above = nullptr)
{
    auto *box = new QGroupBox(title, parent);
    auto *l = new QVBoxLayout(box);
    l->setContentsMargins(4, 4, 4, 4);
    l->setSpacing(2);
    if (above)
        l->addWidget(above);
    l->addWidget(content, 1);
    return box;
}

} // namespace

SliceSpec CompareTensorPanel::defaultSlice(const std::vector<std::int64_t> &shape)
{
    SliceSpec spec;
    spec.index.assign(shape.size(), 0);
    if (shape.empty())
        return spec;
    if (shape.size() == 1) {
        spec.rowAxis = 0;
        return spec;
    }
    // The two longest axes, in their order (ties: the earlier axis).
    int first = 0;
    for (int i = 1; i < static_cast<int>(shape.size()); ++i)
        if (shape[static_cast<std::size_t>(i)] > shape[static_cast<std::size_t>(first)])
            first = i;
    int second = -1;
    for (int i = 0; i < static_cast<int>(shape.size()); ++i)
        if (i != first && (second < 0 || shape[static_cast<std::size_t>(i)] > shape[static_cast<std::size_t>(second)]))
            second = i;
    spec.rowAxis = std::min(first, second);
    spec.colAxis = std::max(first, second);
    return spec;
}

CompareTensorPanel::CompareTensorPanel(QWidget *parent)
    : QWidget(parent)
    , m_job(new TensorCompareJob(this))
    , m_heatmapJob(new TensorCompareJob(this))
    , m_header(new QLabel(this))
    , m_metrics(new QLabel(this))
    , m_bins(new QSpinBox(this))
    , m_log(new QCheckBox(tr("Log counts"), this))
    , m_progress(new QProgressBar(this))
    , m_cancel(new QToolButton(this))
    , m_splitter(new QSplitter(Qt::Vertical, this))
    , m_overlay(new CompareHistogramPlot(this))
    , m_diffPlot(new HistogramPlot(this))
    , m_diffStats(new QLabel(this))
    , m_heatmap(new HeatmapPlot(this))
    , m_rowAxis(new QComboBox(this))
    , m_colAxis(new QComboBox(this))
    , m_debounce(new QTimer(this))
{
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(4);
    m_header->setTextFormat(Qt::RichText);
    m_header->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_header->setWordWrap(true);
    m_metrics->setTextFormat(Qt::RichText);
    m_metrics->setWordWrap(true);
    m_metrics->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(m_header);
    layout->addWidget(m_metrics);

    auto *controls = new QHBoxLayout;
    controls->addWidget(new QLabel(tr("Bins:"), this));
    m_bins->setRange(4, 4096);
    m_bins->setValue(64);
    m_bins->setToolTip(tr("Both histograms use the same bins over the range of both tensors"));
    controls->addWidget(m_bins);
    controls->addWidget(m_log);
    controls->addStretch(1);
    m_progress->setRange(0, 1000);
    m_progress->setTextVisible(false);
    m_progress->setMaximumHeight(14);
    m_progress->setMaximumWidth(220);
    m_progress->hide();
    m_cancel->setText(tr("Cancel"));
    m_cancel->hide();
    controls->addWidget(m_progress);
    controls->addWidget(m_cancel);
    layout->addLayout(controls);

    m_diffPlot->setValueLabel(tr("B − A"));
    m_diffStats->setWordWrap(true);
    m_diffStats->setTextInteractionFlags(Qt::TextSelectableByMouse);
    auto *sliceControls = new QWidget(this);
    auto *sliceLayout = new QHBoxLayout(sliceControls);
    sliceLayout->setContentsMargins(0, 0, 0, 0);
    sliceLayout->addWidget(new QLabel(tr("Rows: axis"), sliceControls));
    sliceLayout->addWidget(m_rowAxis);
    sliceLayout->addWidget(new QLabel(tr("Columns: axis"), sliceControls));
    sliceLayout->addWidget(m_colAxis);
    m_indexLayout = new QHBoxLayout;
    m_indexLayout->setContentsMargins(0, 0, 0, 0);
    sliceLayout->addLayout(m_indexLayout);
    sliceLayout->addStretch(1);

    auto *diffBox = new QWidget(this);
    auto *diffLayout = new QVBoxLayout(diffBox);
    diffLayout->setContentsMargins(0, 0, 0, 0);
    diffLayout->addWidget(m_diffPlot, 1);
    diffLayout->addWidget(m_diffStats);

    auto *bottom = new QSplitter(Qt::Horizontal, this);
    bottom->addWidget(framed(tr("Histogram of B − A"), diffBox, bottom));
    bottom->addWidget(framed(tr("B − A on a 2-D slice"), m_heatmap, bottom, sliceControls));
    bottom->setChildrenCollapsible(false);
    m_splitter->addWidget(framed(tr("A and B on the same bins"), m_overlay, m_splitter));
    m_splitter->addWidget(bottom);
    m_splitter->setChildrenCollapsible(false);
    m_splitter->setStretchFactor(0, 1);
    m_splitter->setStretchFactor(1, 1);
    layout->addWidget(m_splitter, 1);

    m_debounce->setSingleShot(true);
    m_debounce->setInterval(250);
    connect(m_bins, &QSpinBox::valueChanged, m_debounce, qOverload<>(&QTimer::start));
    connect(m_debounce, &QTimer::timeout, this, &CompareTensorPanel::startHistograms);
    connect(m_log, &QCheckBox::toggled, this, [this](bool on) {
        m_overlay->setLogScale(on);
        m_diffPlot->setLogScale(on);
    });
    connect(m_cancel, &QToolButton::clicked, this, &CompareTensorPanel::cancelWork);
    connect(m_job, &TensorCompareJob::progressChanged, m_progress, &QProgressBar::setValue);
    connect(m_job, &TensorCompareJob::finished, this, &CompareTensorPanel::onFinished);
    connect(m_job, &TensorCompareJob::canceled, this, [this] {
        m_overlay->clear(tr("Cancelled"));
        m_diffPlot->clear(tr("Cancelled"));
        updateBusy();
    });
    connect(m_heatmapJob, &TensorCompareJob::finished, this, &CompareTensorPanel::onHeatmapFinished);
    connect(m_heatmapJob, &TensorCompareJob::canceled, this, [this] {
        m_heatmap->clear(tr("Cancelled"));
        updateBusy();
    });
    auto axisChanged = [this] {
        if (!m_updating)
            applySliceControls();
    };
    connect(m_rowAxis, &QComboBox::currentIndexChanged, this, axisChanged);
    connect(m_colAxis, &QComboBox::currentIndexChanged, this, axisChanged);
    clear();
}

CompareTensorPanel::~CompareTensorPanel() = default;

void CompareTensorPanel::setNames(const QString &a, const QString &b)
{
    m_nameA = a;
    m_nameB = b;
    m_overlay->setNames(a, b);
}

void CompareTensorPanel::clear()
{
    m_job->cancel();
    m_heatmapJob->cancel();
    m_a.reset();
    m_b.reset();
    m_entry = DiffEntry{};
    m_result = TensorComparison{};
    m_shape.clear();
    m_header->setText(tr("<i>Select a tensor to compare its values.</i>"));
    m_metrics->clear();
    m_overlay->clear();
    m_diffPlot->clear();
    m_diffStats->clear();
    m_heatmap->clear();
    rebuildSliceControls();
    updateBusy();
}

void CompareTensorPanel::setEntry(CheckpointPtr a, CheckpointPtr b, const DiffEntry &entry)
{
    m_a = std::move(a);
    m_b = std::move(b);
    m_entry = entry;
    m_result = TensorComparison{};
    const bool sameShape = entry.a && entry.b && entry.a->shape == entry.b->shape;
    m_shape = sameShape ? entry.a->shape : std::vector<std::int64_t>{};
    m_slice = defaultSlice(m_shape);
    rebuildSliceControls();
    updateHeader();
    startHistograms();
    startHeatmap();
}

void CompareTensorPanel::updateEntry(const DiffEntry &entry)
{
    if (entry.keys != m_entry.keys)
        return;
    m_entry = entry;
    updateHeader();
}

void CompareTensorPanel::setBins(int bins)
{
    m_bins->setValue(bins);
    m_debounce->stop();
    if (m_a || m_b)
        startHistograms();
}

void CompareTensorPanel::setSlice(const SliceSpec &slice)
{
    m_slice = slice;
    m_slice.normalize(m_shape);
    rebuildSliceControls();
    startHeatmap();
}

bool CompareTensorPanel::isBusy() const
{
    return m_job->isRunning() || m_heatmapJob->isRunning();
}

void CompareTensorPanel::cancelWork()
{
    m_job->cancel();
    m_heatmapJob->cancel();
}

void CompareTensorPanel::startHistograms()
{
    if (!m_a && !m_b)
        return;
    TensorCompareRequest r;
    r.a = m_a;
    r.b = m_b;
    r.tensorA = m_entry.a ? m_entry.a->tensor : -1;
    r.tensorB = m_entry.b ? m_entry.b->tensor : -1;
    r.bins = m_bins->value();
    r.heatmap = false;
    m_overlay->clear(tr("Computing…"));
    m_diffPlot->clear(tr("Computing…"));
    m_job->start(r);
    updateBusy();
}

void CompareTensorPanel::startHeatmap()
{
    if (m_shape.empty() || !m_a || !m_b || !m_entry.a || !m_entry.b) {
        m_heatmapJob->cancel();
        const QString why = !m_entry.a ? tr("Only in B") : !m_entry.b ? tr("Only in A")
                          : m_entry.a->shape != m_entry.b->shape ? tr("Shapes differ")
                                                                 : tr("A 0-d tensor: see the values table");
        m_heatmap->clear(why);
        updateBusy();
        return;
    }
    TensorCompareRequest r;
    r.a = m_a;
    r.b = m_b;
    r.tensorA = m_entry.a->tensor;
    r.tensorB = m_entry.b->tensor;
    r.slice = m_slice;
    r.histograms = false;
    m_heatmap->clear(tr("Computing…"));
    m_heatmapJob->start(r);
    updateBusy();
}

void CompareTensorPanel::onFinished(const TensorComparison &result)
{
    const auto heatmap = m_result.heatmap;
    m_result = result;
    m_result.heatmap = heatmap;
    const auto &ha = result.a.stats.hist;
    const auto &hb = result.b.stats.hist;
    if (ha.empty() && hb.empty()) {
        QString why = !result.a.ok() ? result.a.error : result.b.error;
        if (why.isEmpty())
            why = result.diffError.isEmpty() ? tr("No finite values") : result.diffError;
        m_overlay->clear(why);
    } else {
        m_overlay->setHistograms(result.lo, result.hi, ha, hb);
    }
    if (result.diff && !result.diff->hist.empty()) {
        m_diffPlot->setHistogram(result.diff->histLo, result.diff->histHi, result.diff->hist);
        const auto &d = *result.diff;
        m_diffStats->setText(tr("B − A: min %1 · max %2 · mean %3 · std %4 · zeros %5 of %6")
                                 .arg(numberText(d.min, 4), numberText(d.max, 4), numberText(d.mean, 4),
                                      numberText(d.std, 4), groupedCount(d.zeros), groupedCount(d.numel)));
    } else {
        m_diffPlot->clear(result.diffError.isEmpty() ? tr("No finite differences") : result.diffError);
        m_diffStats->clear();
    }
    updateBusy();
    if (!isBusy())
        emit computed();
}

void CompareTensorPanel::onHeatmapFinished(const TensorComparison &result)
{
    m_result.heatmap = result.heatmap;
    if (!result.heatmap.error.isEmpty() || result.heatmap.rows == 0)
        m_heatmap->clear(result.heatmap.error.isEmpty() ? result.diffError : result.heatmap.error);
    else
        m_heatmap->setGrid(result.heatmap);
    updateBusy();
    if (!isBusy())
        emit computed();
}

void CompareTensorPanel::rebuildSliceControls()
{
    m_updating = true;
    const QSignalBlocker b1(m_rowAxis), b2(m_colAxis);
    m_rowAxis->clear();
    m_colAxis->clear();
    for (QSpinBox *s : m_indices)
        delete s;
    m_indices.clear();
    const int rank = static_cast<int>(m_shape.size());
    m_colAxis->addItem(tr("—"), -1);
    for (int i = 0; i < rank; ++i) {
        const QString text = tr("%1 (%2)").arg(i).arg(m_shape[static_cast<std::size_t>(i)]);
        m_rowAxis->addItem(text, i);
        m_colAxis->addItem(text, i);
    }
    m_rowAxis->setCurrentIndex(std::max(0, m_rowAxis->findData(m_slice.rowAxis)));
    m_colAxis->setCurrentIndex(std::max(0, m_colAxis->findData(m_slice.colAxis)));
    m_rowAxis->setEnabled(rank > 1);
    m_colAxis->setEnabled(rank > 1);
    for (int i = 0; i < rank; ++i) {
        if (i == m_slice.rowAxis || i == m_slice.colAxis)
            continue;
        auto *spin = new QSpinBox(this);
        spin->setPrefix(tr("[%1]=").arg(i));
        spin->setRange(0, static_cast<int>(std::min<std::int64_t>(m_shape[static_cast<std::size_t>(i)] - 1, INT_MAX)));
        spin->setValue(static_cast<int>(m_slice.index[static_cast<std::size_t>(i)]));
        spin->setToolTip(tr("Index along axis %1").arg(i));
        spin->setProperty("axis", i);
        connect(spin, &QSpinBox::valueChanged, this, [this] {
            if (!m_updating)
                applySliceControls();
        });
        m_indexLayout->addWidget(spin);
        m_indices.push_back(spin);
    }
    m_updating = false;
}

void CompareTensorPanel::applySliceControls()
{
    SliceSpec spec = m_slice;
    spec.rowAxis = m_rowAxis->currentData().toInt();
    spec.colAxis = m_colAxis->currentData().toInt();
    if (spec.colAxis == spec.rowAxis)
        spec.colAxis = -1;
    for (QSpinBox *s : m_indices)
        spec.index[static_cast<std::size_t>(s->property("axis").toInt())] = s->value();
    const bool axesChanged = spec.rowAxis != m_slice.rowAxis || spec.colAxis != m_slice.colAxis;
    m_slice = spec;
    m_slice.normalize(m_shape);
    if (axesChanged)
        QTimer::singleShot(0, this, &CompareTensorPanel::rebuildSliceControls);
    startHeatmap();
}

void CompareTensorPanel::updateHeader()
{
    const DiffEntry &e = m_entry;
    const QColor colour = diffStatusColor(e.status);
    m_header->setText(QStringLiteral("<b>%1</b> &nbsp; <span style=\"color:%2\"><b>%3</b></span>")
                          .arg(qs(e.path()).toHtmlEscaped(), colour.name(), qs(diffStatusName(e.status))));
    auto side = [](const std::optional<DiffSide> &s) -> QString {
        return s ? QString(qs(s->dtype) + QLatin1Char(' ') + shapeText(s->shape)).toHtmlEscaped() : QStringLiteral("—");
    };
    QString text = tr("A: %1 &nbsp;·&nbsp; B: %2").arg(side(e.a), side(e.b));
    if (!e.paramName.empty())
        text = tr("Optimizer state of <b>%1</b>").arg(qs(e.paramName).toHtmlEscaped()) + QStringLiteral("<br>") + text;
    if (e.maxAbsDiff || e.relL2 || e.cosine) {
        text += QStringLiteral("<br>")
            + tr("max |Δ| <b>%1</b> · mean |Δ| <b>%2</b> · rel L2 <b>%3</b> · cosine <b>%4</b> · %5 elements differ")
                  .arg(numberText(e.maxAbsDiff, 5), numberText(e.meanAbsDiff, 5), numberText(e.relL2, 5),
                       numberText(e.cosine, 6), groupedCount(e.differing));
    } else if (e.status == DiffStatus::Pending) {
        text += QStringLiteral("<br><i>") + tr("Change metrics are being computed…") + QStringLiteral("</i>");
    }
    if (e.nanMismatch)
        text += QStringLiteral("<br>") + tr("%1 elements are NaN on one side only").arg(groupedCount(e.nanMismatch));
    if (!e.error.empty())
        text += QStringLiteral("<br><span style=\"color:%1\">%2</span>").arg(toneColor(Tone::Danger).name(), qs(e.error).toHtmlEscaped());
    m_metrics->setText(text);
}

void CompareTensorPanel::updateBusy()
{
    const bool busy = isBusy();
    m_progress->setVisible(m_job->isRunning());
    m_cancel->setVisible(busy);
    if (busy != m_lastBusy) {
        m_lastBusy = busy;
        emit busyChanged(busy);
    }
}

} // namespace ckpt
