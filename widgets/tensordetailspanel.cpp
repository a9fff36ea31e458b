// SPDX-License-Identifier: MIT
#include "tensordetailspanel.h"
#include "themecolors.h"
#include "themesupport.h"

#include "chunkgrid.h"
#include "chunktablemodel.h"
#include "displayformat.h"
#include "histogrampanel.h"
#include "histogramplot.h"
#include "statstablemodel.h"
#include "tensorvaluespanel.h"

#include <QHeaderView>
#include <QLabel>
#include <QSplitter>
#include <QTabWidget>
#include <QTableView>
#include <QVBoxLayout>

namespace ckpt {

namespace {

QString esc(const QString &s)
{
    return s.toHtmlEscaped();
}

QString row(const QString &k1, const QString &v1, const QString &k2 = {}, const QString &v2 = {})
{
    return QStringLiteral("<tr><td class='k'>%1</td><td class='v'>%2</td><td class='k'>%3</td><td class='v'>%4</td></tr>")
        .arg(k1, v1, k2, v2);
}

/// Cache key of a single-tensor request: tensor, bins and range.
QString keyOf(const StatsRequest &r)
{
    return QStringLiteral("%1/%2/%3/%4/%5")
        .arg(r.tensors.empty() ? -1 : r.tensors.front())
        .arg(r.bins)
        .arg(int(r.range))
        .arg(r.customLo, 0, 'g', 17)
        .arg(r.customHi, 0, 'g', 17);
}

} // namespace

TensorDetailsPanel::TensorDetailsPanel(QWidget *parent)
    : QWidget(parent)
    , m_title(new QLabel(this))
    , m_header(new QLabel(this))
    , m_tabs(new QTabWidget(this))
    , m_statsSplitter(new QSplitter(Qt::Horizontal, this))
    , m_statsModel(new StatsTableModel(this))
    , m_statsView(new QTableView(this))
    , m_statsNote(new QLabel(this))
    , m_histogram(new HistogramPanel(this))
    , m_values(new TensorValuesPanel(this))
    , m_chunkGrid(new ChunkGrid(this))
    , m_chunkModel(new ChunkTableModel(this))
    , m_chunkView(new QTableView(this))
    , m_chunkNote(new QLabel(this))
    , m_job(new TensorStatsJob(this))
{
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(8, 6, 8, 6);
    layout->setSpacing(6);

    QFont titleFont = m_title->font();
    titleFont.setPointSizeF(titleFont.pointSizeF() * 1.2);
    titleFont.setBold(true);
    m_title->setFont(titleFont);
    m_title->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_title->setWordWrap(true);
    m_header->setTextFormat(Qt::RichText);
    m_header->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_header->setWordWrap(true);
    layout->addWidget(m_title);
    layout->addWidget(m_header);

    // Statistics tab: table | histogram.
    auto *statsPage = new QWidget(this);
    auto *statsLayout = new QVBoxLayout(statsPage);
    statsLayout->setContentsMargins(0, 4, 0, 0);
    auto *left = new QWidget(statsPage);
    auto *leftLayout = new QVBoxLayout(left);
    leftLayout->setContentsMargins(0, 0, 0, 0);
    m_statsView->setModel(m_statsModel);
    m_statsView->verticalHeader()->hide();
    m_statsView->horizontalHeader()->setSectionResizeMode(0, QHeaderView::ResizeToContents);
    m_statsView->horizontalHeader()->setSectionResizeMode(1, QHeaderView::Stretch);
    m_statsView->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_statsView->setAlternatingRowColors(true);
    m_statsView->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_statsView->verticalHeader()->setDefaultSectionSize(m_statsView->fontMetrics().height() + 6);
    m_statsNote->setWordWrap(true);
    useMutedText(m_statsNote);
    leftLayout->addWidget(m_statsView, 1);
    leftLayout->addWidget(m_statsNote);
    m_statsSplitter->addWidget(left);
    m_statsSplitter->addWidget(m_histogram);
    m_statsSplitter->setStretchFactor(0, 0);
    m_statsSplitter->setStretchFactor(1, 1);
    m_statsSplitter->setSizes({270, 600});
    m_statsSplitter->setChildrenCollapsible(false);
    left->setMinimumWidth(200);
    statsLayout->addWidget(m_statsSplitter);
    m_tabs->addTab(statsPage, tr("&Statistics"));
    m_tabs->addTab(m_values, tr("&Values"));

    // Chunks tab (a DCP tensor): the grid of who holds what over the table of its chunks.
    auto *chunksPage = new QSplitter(Qt::Vertical, this);
    m_chunkView->setModel(m_chunkModel);
    m_chunkView->verticalHeader()->hide();
    m_chunkView->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_chunkView->horizontalHeader()->setStretchLastSection(true);
    m_chunkView->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_chunkView->setSelectionMode(QAbstractItemView::SingleSelection);
    m_chunkView->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_chunkView->setAlternatingRowColors(true);
    m_chunkView->verticalHeader()->setDefaultSectionSize(m_chunkView->fontMetrics().height() + 6);
    auto *gridBox = new QWidget(chunksPage);
    auto *gridLayout = new QVBoxLayout(gridBox);
    gridLayout->setContentsMargins(0, 4, 0, 0);
    gridLayout->addWidget(m_chunkGrid, 1);
    m_chunkNote->setWordWrap(true);
    useMutedText(m_chunkNote);
    gridLayout->addWidget(m_chunkNote);
    chunksPage->addWidget(gridBox);
    chunksPage->addWidget(m_chunkView);
    chunksPage->setChildrenCollapsible(false);
    m_tabs->addTab(chunksPage, tr("Ch&unks"));
    m_tabs->setTabVisible(ChunksTab, false);
    connect(m_chunkGrid, &ChunkGrid::chunkClicked, this, [this](int chunk) {
        m_chunkView->selectRow(chunk);
    });
    connect(m_chunkView->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            [this](const QModelIndex &current) { m_chunkGrid->setHighlighted(current.isValid() ? current.row() : -1); });
    layout->addWidget(m_tabs, 1);

    connect(m_tabs, &QTabWidget::currentChanged, this, [this](int index) {
        m_values->setActive(index == ValuesTab);
        if (!m_fallingBack)
            m_preferredTab = static_cast<Tab>(index);
    });
    connect(m_histogram, &HistogramPanel::requestChanged, this, &TensorDetailsPanel::startStats);
    connect(m_histogram, &HistogramPanel::cancelRequested, this, [this] {
        m_job->cancel();
    });
    connect(m_job, &TensorStatsJob::progressChanged, m_histogram, &HistogramPanel::setProgress);
    connect(m_job, &TensorStatsJob::canceled, this, [this] {
        m_histogram->setBusy(false);
        if (!m_statsModel->hasStats())
            m_histogram->plot()->clear(tr("Cancelled. Change a setting or reselect the tensor to compute again."));
        emit busyChanged(false);
    });
    connect(m_job, &TensorStatsJob::finished, this, [this](const StatsResult &result) {
        m_histogram->setBusy(false);
        if (result.request.tensors.size() != 1 || result.request.data != (m_tree ? m_tree->data() : nullptr)) {
            emit busyChanged(false);
            return;
        }
        const int t = result.request.tensors.front();
        if (result.ok()) {
            m_cache.insert(keyOf(result.request), result);
            emit statsComputed(t, result.stats);
        }
        if (t == m_tensor)
            showResult(result);
        emit busyChanged(false);
    });
    connect(m_values, &TensorValuesPanel::busyChanged, this, &TensorDetailsPanel::busyChanged);
    clear();
}

TensorDetailsPanel::~TensorDetailsPanel() = default;

void TensorDetailsPanel::clear()
{
    m_job->cancel();
    m_tree.reset();
    m_tensor = -1;
    m_cache.clear();
    m_shownKey.clear();
    m_title->setText(tr("No tensor selected"));
    m_header->clear();
    m_statsModel->clear();
    m_statsNote->clear();
    m_histogram->plot()->clear(tr("Select a tensor to see its statistics"));
    m_values->clear();
    showChunks();
}

void TensorDetailsPanel::showChunks()
{
    std::vector<format::TensorChunk> chunks;
    std::vector<std::int64_t> shape;
    if (m_tree && m_tensor >= 0) {
        const auto &cp = *m_tree->data();
        if (static_cast<std::size_t>(m_tensor) < cp.chunksOfTensor.size())
            chunks = cp.chunksOfTensor[static_cast<std::size_t>(m_tensor)];
        shape = cp.tensors[static_cast<std::size_t>(m_tensor)].shape;
    }
    const bool has = !chunks.empty();
    m_chunkModel->setChunks(chunks);
    m_chunkGrid->setChunks(has ? shape : std::vector<std::int64_t>{}, std::move(chunks));
    m_chunkNote->setText(m_chunkGrid->note());
    m_chunkNote->setVisible(!m_chunkGrid->note().isEmpty());
    // Leaving a DCP tensor on the Chunks tab falls back to Statistics; the next DCP tensor
    // shows its chunks again (the tab the user chose is kept).
    m_fallingBack = true;
    if (!has && m_tabs->currentIndex() == ChunksTab)
        m_tabs->setCurrentIndex(StatisticsTab);
    m_tabs->setTabVisible(ChunksTab, has);
    if (has && m_preferredTab == ChunksTab)
        m_tabs->setCurrentIndex(ChunksTab);
    m_fallingBack = false;
}

void TensorDetailsPanel::cancelWork()
{
    m_job->cancel();
    m_values->cancelWork();
}

bool TensorDetailsPanel::isBusy() const
{
    return m_job->isRunning() || m_values->isBusy();
}

void TensorDetailsPanel::setCurrentTab(Tab tab)
{
    m_preferredTab = tab; // the Chunks tab: shown as soon as a DCP tensor is selected
    if (m_tabs->isTabVisible(tab))
        m_tabs->setCurrentIndex(tab);
}

const StatsResult *TensorDetailsPanel::currentResult() const
{
    auto it = m_cache.constFind(m_shownKey);
    return it == m_cache.constEnd() ? nullptr : &*it;
}

QString TensorDetailsPanel::headerHtml(const TreeNode *node) const
{
    const auto &cp = *m_tree->data();
    const auto &t = cp.tensors[static_cast<std::size_t>(node->tensor)];
    QString dtype = qs(format::dtypeName(t.dtype));
    if (t.layout != format::Layout::Strided)
        dtype += QStringLiteral(" (%1)").arg(qs(format::layoutName(t.layout)));
    if (t.quant) {
        const auto &q = *t.quant;
        dtype += QStringLiteral(", %1").arg(qs(q.scheme));
        if (!q.perChannel())
            dtype += QStringLiteral(" scale=%1 zero_point=%2").arg(numberText(q.scale, 6)).arg(q.zeroPoint);
        else
            dtype += QStringLiteral(" axis=%1").arg(q.axis);
    }
    if (!t.subclass.empty())
        dtype += QStringLiteral(" — subclass %1").arg(esc(qs(t.subclass)));

    const bool contiguous = t.stride == format::TensorInfo::contiguousStrides(t.shape);
    QString strides = shapeText(t.stride) + (contiguous ? tr(" (contiguous)") : tr(" (non-contiguous view)"));
    QString storage = tr("none");
    if (t.storage >= 0 && static_cast<std::size_t>(t.storage) < cp.storages.size()) {
        const auto &s = cp.storages[static_cast<std::size_t>(t.storage)];
        storage = QStringLiteral("'%1' · offset %2 · %3 × %4 (%5)")
                      .arg(esc(qs(s.key)))
                      .arg(groupedCount(static_cast<std::uint64_t>(t.storageOffset)))
                      .arg(groupedCount(s.numel), qs(format::dtypeName(s.dtype)), humanBytes(s.nbytes()));
        if (!s.present && !s.problem.empty())
            storage += QStringLiteral(" <span style='color:%1'>— %2</span>").arg(toneColor(Tone::Danger).name(), esc(qs(s.problem)));
        if (!s.record.empty())
            storage += QStringLiteral("<br><span style='color:%1'>%2</span>").arg(toneColor(Tone::Muted).name(), esc(qs(s.record)));
    }
    if (static_cast<std::size_t>(node->tensor) < cp.chunksOfTensor.size()
        && !cp.chunksOfTensor[static_cast<std::size_t>(node->tensor)].empty()) {
        // DCP: a tensor split among writers; each chunk: its rank, file and where it lies.
        const auto &chunks = cp.chunksOfTensor[static_cast<std::size_t>(node->tensor)];
        storage = tr("%n chunk(s):", nullptr, static_cast<int>(chunks.size()));
        for (std::size_t i = 0; i < chunks.size(); ++i) {
            const auto &c = chunks[i];
            if (i == 3 && chunks.size() > 4) {
                storage += QStringLiteral("<br>") + tr("… %n more: see the Chunks tab", nullptr, static_cast<int>(chunks.size() - 3));
                break;
            }
            QString at;
            for (std::size_t d = 0; d < c.offsets.size(); ++d)
                at += (d ? QStringLiteral(", ") : QString())
                      + QStringLiteral("%1:%2").arg(c.offsets[d]).arg(c.offsets[d] + c.sizes[d]);
            storage += QStringLiteral("<br>[%1] %2 %3 · %4")
                           .arg(at, c.rank >= 0 ? tr("rank %1").arg(c.rank) : QString(), esc(qs(c.file)),
                                humanBytes(c.byteLength));
        }
    }
    if (!cp.shardOfTensor.empty() && static_cast<std::size_t>(node->tensor) < cp.shardOfTensor.size())
        storage += QStringLiteral("<br>shard %1").arg(esc(qs(cp.shardOfTensor[static_cast<std::size_t>(node->tensor)])));

    // Other paths: the same tensor (tied weights, memo references) and tensors on the same storage.
    QStringList shared;
    for (const TreeNode *other : m_tree->nodesForTensor(node->tensor))
        if (other != node)
            shared << esc(other->path()) + tr(" (same tensor)");
    if (t.storage >= 0) {
        for (std::size_t i = 0; i < cp.tensors.size() && shared.size() < 12; ++i) {
            if (static_cast<int>(i) == node->tensor || cp.tensors[i].storage != t.storage)
                continue;
            const auto &nodes = m_tree->nodesForTensor(static_cast<int>(i));
            if (!nodes.empty())
                shared << esc(nodes.front()->path()) + tr(" (same storage)");
        }
    }
    if (shared.size() > 10)
        shared = shared.mid(0, 10) << QStringLiteral("…");

    QString html = QStringLiteral(
        "<style>td.k { color: %1; padding-right: 6px; white-space: nowrap; }"
        " td.v { padding-right: 18px; }</style><table cellspacing='0' cellpadding='1'>")
                       .arg(toneColor(Tone::Muted).name());
    html += row(tr("DType"), QStringLiteral("<b>%1</b>").arg(dtype), tr("Shape"),
                QStringLiteral("<b>%1</b>").arg(shapeText(t.shape)));
    html += row(tr("Elements"), groupedCount(t.numel()), tr("Size"),
                humanBytes(t.nbytes()) + QStringLiteral(" (%1 bytes)").arg(groupedCount(t.nbytes())));
    html += row(tr("Strides"), strides, tr("Device"), esc(qs(t.device)));
    html += row(tr("Storage"), storage, tr("requires_grad"),
                (t.requiresGrad ? QStringLiteral("True") : QStringLiteral("False"))
                    + (t.isParameter ? tr(" (Parameter)") : QString()));
    if (!shared.isEmpty())
        html += QStringLiteral("<tr><td class='k'>%1</td><td class='v' colspan='3'>%2</td></tr>")
                    .arg(tr("Shared with"), shared.join(QStringLiteral("<br>")));
    html += QStringLiteral("</table>");
    return html;
}

void TensorDetailsPanel::setTensor(std::shared_ptr<const CheckpointTree> tree, const TreeNode *node)
{
    if (!tree || !node || node->tensor < 0) {
        clear();
        return;
    }
    if (tree != m_tree) {
        m_job->cancel();
        m_cache.clear();
    }
    m_tree = std::move(tree);
    m_tensor = node->tensor;
    m_path = node->path();
    m_title->setText(m_path.isEmpty() ? node->name : m_path);
    m_title->setToolTip(node->treePath() != m_path ? tr("Tree path: %1").arg(node->treePath()) : QString());
    m_header->setText(headerHtml(node));
    m_histogram->setExportName(m_path.isEmpty() ? QStringLiteral("tensor") : m_path);
    m_values->setTensor(m_tree->data(), m_tensor);
    m_values->setActive(m_tabs->currentIndex() == ValuesTab);
    showChunks();
    startStats();
}

QString TensorDetailsPanel::requestKey() const
{
    StatsRequest r;
    r.tensors = {m_tensor};
    m_histogram->applyTo(r);
    return keyOf(r);
}

void TensorDetailsPanel::startStats()
{
    if (!m_tree || m_tensor < 0)
        return;
    const QString key = requestKey();
    auto it = m_cache.constFind(key);
    if (it != m_cache.constEnd()) {
        m_job->cancel();
        m_histogram->setBusy(false);
        showResult(*it);
        return;
    }
    StatsRequest request;
    request.data = m_tree->data();
    request.tensors = {m_tensor};
    m_histogram->applyTo(request);
    // Keep the previous histogram of the same tensor while re-binning; otherwise start empty.
    if (!m_shownKey.startsWith(QString::number(m_tensor) + QLatin1Char('/'))) {
        m_statsModel->clear();
        m_statsNote->setText(tr("Computing…"));
        m_histogram->plot()->clear(tr("Computing statistics…"));
        m_shownKey.clear();
    }
    m_histogram->setBusy(true);
    m_job->start(request);
    emit busyChanged(true);
}

void TensorDetailsPanel::showResult(const StatsResult &result)
{
    if (!result.ok()) {
        m_shownKey.clear();
        m_statsModel->clear();
        m_statsNote->setText(result.error);
        m_histogram->plot()->clear(tr("No statistics: %1").arg(result.error));
        return;
    }
    m_shownKey = keyOf(result.request);
    m_statsModel->setStats(result.stats);
    QString note = tr("Computed in %1.").arg(durationText(result.elapsedMs));
    const auto &info = result.request.data->tensors[static_cast<std::size_t>(result.request.tensors.front())];
    if (format::dtypeInfo(info.dtype).isComplex)
        note += tr(" Statistics of the magnitude.");
    else if (format::dtypeInfo(info.dtype).isQuantized)
        note += tr(" Dequantized values.");
    else if (info.dtype == format::DType::Bool)
        note += tr(" Booleans as 0/1.");
    if (!result.integrityError.isEmpty())
        note = QStringLiteral("<b style='color:%1'>%2</b> %3")
                   .arg(palette().color(QPalette::Link).name(), result.integrityError.toHtmlEscaped(), note.toHtmlEscaped());
    m_statsNote->setText(note);
    if (result.stats.hist.empty())
        m_histogram->plot()->clear(result.stats.numel == 0 ? tr("The tensor is empty")
                                                          : tr("No finite values to plot"));
    else
        m_histogram->plot()->setHistogram(result.stats.histLo, result.stats.histHi, result.stats.hist);
}

} // namespace ckpt
