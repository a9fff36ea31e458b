// SPDX-License-Identifier: MIT
#include "modulepanel.h"
#include "themecolors.h"

#include "checkpointtreemodel.h"
#include "displayformat.h"
#include "dtypemixmodel.h"
#include "histogrampanel.h"
#include "histogramplot.h"
#include "tensorfilterproxymodel.h"

#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QScrollBar>
#include <QTimer>
#include <QSplitter>
#include <QTableView>
#include <QTreeView>
#include <QVBoxLayout>

namespace ckpt {

ModulePanel::ModulePanel(CheckpointTreeModel *treeModel, QWidget *parent)
    : QWidget(parent)
    , m_treeModel(treeModel)
    , m_title(new QLabel(this))
    , m_summary(new QLabel(this))
    , m_splitter(new QSplitter(Qt::Vertical, this))
    , m_proxy(new TensorFilterProxyModel(this))
    , m_children(new QTreeView(this))
    , m_dtypeModel(new DTypeMixModel(this))
    , m_dtypeView(new QTableView(this))
    , m_histogram(new HistogramPanel(this))
    , m_compute(new QPushButton(this))
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
    m_summary->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_summary->setWordWrap(true);
    layout->addWidget(m_title);
    layout->addWidget(m_summary);

    m_proxy->setSourceModel(treeModel);
    m_children->setModel(m_proxy);
    m_children->setUniformRowHeights(true);
    m_children->setAlternatingRowColors(true);
    m_children->setSortingEnabled(true);
    m_children->header()->setSortIndicator(-1, Qt::AscendingOrder);
    m_children->header()->setSortIndicatorClearable(true);
    m_children->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_children->setColumnWidth(0, 220);
    m_children->setColumnWidth(1, 95);
    m_children->setColumnWidth(2, 130);
    m_children->setColumnWidth(3, 95);
    connect(m_children, &QTreeView::activated, this, [this](const QModelIndex &index) {
        emit childActivated(m_proxy->mapToSource(index.siblingAtColumn(0)));
    });

    m_dtypeView->setModel(m_dtypeModel);
    m_dtypeView->verticalHeader()->hide();
    m_dtypeView->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_dtypeView->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_dtypeView->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_dtypeView->verticalHeader()->setDefaultSectionSize(m_dtypeView->fontMetrics().height() + 6);

    auto *bottom = new QSplitter(Qt::Horizontal, this);
    auto *mix = new QWidget(bottom);
    auto *mixLayout = new QVBoxLayout(mix);
    mixLayout->setContentsMargins(0, 0, 0, 0);
    auto *mixLabel = new QLabel(tr("<b>DType mix</b>"), mix);
    mixLayout->addWidget(mixLabel);
    mixLayout->addWidget(m_dtypeView, 1);
    auto *histo = new QWidget(bottom);
    auto *histoLayout = new QVBoxLayout(histo);
    histoLayout->setContentsMargins(0, 0, 0, 0);
    auto *histoLabel = new QLabel(tr("<b>Histogram of all floating-point weights below this node</b>"), histo);
    histoLabel->setWordWrap(true);
    histoLayout->addWidget(histoLabel);
    histoLayout->addWidget(m_histogram, 1);
    histoLayout->addWidget(m_compute, 0, Qt::AlignLeft);
    m_compute->hide();
    bottom->addWidget(mix);
    bottom->addWidget(histo);
    bottom->setStretchFactor(0, 0);
    bottom->setStretchFactor(1, 1);
    bottom->setSizes({390, 560});
    bottom->setChildrenCollapsible(false);

    m_splitter->addWidget(m_children);
    m_splitter->addWidget(bottom);
    m_splitter->setStretchFactor(0, 1);
    m_splitter->setStretchFactor(1, 1);
    m_splitter->setChildrenCollapsible(false);
    layout->addWidget(m_splitter, 1);

    connect(m_compute, &QPushButton::clicked, this, [this] {
        m_compute->hide();
        startHistogram();
    });
    connect(m_histogram, &HistogramPanel::requestChanged, this, [this] {
        if (!m_compute->isVisible())
            startHistogram();
    });
    connect(m_histogram, &HistogramPanel::cancelRequested, m_job, &TensorStatsJob::cancel);
    connect(m_job, &TensorStatsJob::progressChanged, m_histogram, &HistogramPanel::setProgress);
    connect(m_job, &TensorStatsJob::canceled, this, [this] {
        m_histogram->setBusy(false);
        m_histogram->plot()->clear(tr("Cancelled"));
        m_compute->setText(tr("Compute the histogram"));
        m_compute->show();
        emit busyChanged(false);
    });
    connect(m_job, &TensorStatsJob::finished, this, [this](const StatsResult &result) {
        m_histogram->setBusy(false);
        if (!result.ok()) {
            m_histogram->plot()->clear(result.error);
        } else if (result.stats.hist.empty()) {
            m_histogram->plot()->clear(tr("No finite values"));
        } else {
            m_histogram->plot()->setHistogram(result.stats.histLo, result.stats.histHi, result.stats.hist);
        }
        emit aggregateComputed(result);
        emit busyChanged(false);
    });
    clear();
}

ModulePanel::~ModulePanel() = default;

void ModulePanel::clear()
{
    m_job->cancel();
    m_tree.reset();
    m_node = nullptr;
    m_weights.clear();
    m_title->clear();
    m_summary->clear();
    m_dtypeModel->setShares({});
    m_histogram->plot()->clear();
    m_compute->hide();
}

void ModulePanel::cancelWork()
{
    m_job->cancel();
}

bool ModulePanel::isBusy() const
{
    return m_job->isRunning();
}

void ModulePanel::setNode(std::shared_ptr<const CheckpointTree> tree, const TreeNode *node)
{
    m_job->cancel();
    m_histogram->setBusy(false);
    m_tree = std::move(tree);
    m_node = node;
    if (!m_tree || !node) {
        clear();
        return;
    }
    const QString path = node->path();
    // Inside a whole pickled nn.Module the raw path (`_modules/features/_modules/0`) is not what
    // users call the module: title it by its tree path (`features/0`), raw path in the tooltip.
    bool folded = false;
    for (const TreeNode *n = node; n && !folded; n = n->parent)
        folded = !n->rawPrefix.isEmpty();
    if (folded) {
        m_title->setText(node->treePath());
        m_title->setToolTip(tr("Path in the file: %1").arg(path));
    } else {
        m_title->setText(path.isEmpty() ? node->name : path);
        m_title->setToolTip(node->treePath() != path ? tr("Tree path: %1").arg(node->treePath()) : QString());
    }
    m_histogram->setExportName(path.isEmpty() ? QStringLiteral("module") : path + QStringLiteral("_weights"));

    const auto &cp = *m_tree->data();
    const std::vector<int> all = tensorsBelow(node);
    std::uint64_t elements = 0, bytes = 0, paramElements = 0;
    int params = 0, buffers = 0;
    std::vector<int> parameterTensors, floatTensors;
    std::vector<const TreeNode *> stack{node};
    std::vector<bool> seen(cp.tensors.size());
    while (!stack.empty()) {
        const TreeNode *n = stack.back();
        stack.pop_back();
        if (n->tensor >= 0 && !seen[static_cast<std::size_t>(n->tensor)]) {
            seen[static_cast<std::size_t>(n->tensor)] = true;
            const auto &t = cp.tensors[static_cast<std::size_t>(n->tensor)];
            const auto &info = format::dtypeInfo(t.dtype);
            const bool floating = info.isFloat || info.isQuantized;
            if (n->kind == NodeKind::Parameter) {
                ++params;
                paramElements += t.numel();
                if (floating)
                    parameterTensors.push_back(n->tensor);
            } else if (n->kind == NodeKind::Buffer) {
                ++buffers;
            }
            if (floating)
                floatTensors.push_back(n->tensor);
        }
        for (auto it = n->children.rbegin(); it != n->children.rend(); ++it)
            stack.push_back(it->get());
    }
    for (int t : all) {
        elements += cp.tensors[static_cast<std::size_t>(t)].numel();
        bytes += cp.tensors[static_cast<std::size_t>(t)].nbytes();
    }
    QString summary = tr("<b>%1</b> tensors · <b>%2</b> elements (%3) · <b>%4</b>")
                          .arg(groupedCount(all.size()), groupedCount(elements), shortCount(elements),
                               humanBytes(bytes));
    if (params || buffers)
        summary += tr("<br>%1 parameters with %2 elements (%3) · %4 buffers")
                       .arg(groupedCount(static_cast<std::uint64_t>(params)), groupedCount(paramElements),
                            shortCount(paramElements), groupedCount(static_cast<std::uint64_t>(buffers)));
    if (all.size() != node->tensorCount)
        summary += tr("<br><span style='color:%2'>Tied or shared tensors are counted once; the tree "
                      "columns count every path (%1 rows).</span>")
                       .arg(node->tensorCount)
                       .arg(toneColor(Tone::Muted).name());
    m_summary->setText(summary);
    m_dtypeModel->setShares(dtypeMix(*m_tree, node));
    m_dtypeView->resizeColumnsToContents();
    m_dtypeView->setMinimumWidth(m_dtypeView->horizontalHeader()->length() + 2 * m_dtypeView->frameWidth()
                                 + m_dtypeView->verticalScrollBar()->sizeHint().width());

    const QModelIndex src = m_treeModel->indexForNode(node);
    m_children->setRootIndex(m_proxy->mapFromSource(src));
    m_childRows = static_cast<int>(node->children.size());
    fitSplitter();
    if (!isVisible() || m_splitter->height() < 100)
        QTimer::singleShot(0, this, &ModulePanel::fitSplitter); // sizes are known once laid out

    m_weights = parameterTensors.empty() ? floatTensors : parameterTensors;
    m_weightElements = 0;
    for (int t : m_weights)
        m_weightElements += cp.tensors[static_cast<std::size_t>(t)].numel();
    if (m_weights.empty()) {
        m_compute->hide();
        m_histogram->plot()->clear(tr("No floating-point weights below this node"));
    } else if (m_weightElements > kAutoHistogramElements) {
        m_histogram->plot()->clear(tr("%1 values: click Compute to build the histogram").arg(shortCount(m_weightElements)));
        m_compute->setText(tr("Compute the histogram of %1 values").arg(shortCount(m_weightElements)));
        m_compute->show();
    } else {
        m_compute->hide();
        startHistogram();
    }
}

void ModulePanel::fitSplitter()
{
    // The children table gets the rows it needs (3 to 14), the histogram the rest.
    const int rowHeight = m_children->fontMetrics().height() + 8;
    const int wanted = std::clamp(m_childRows, 3, 14) * rowHeight + m_children->header()->sizeHint().height() + 8;
    const int total = m_splitter->height() > 100 ? m_splitter->height() : 600;
    const int top = std::min(wanted, total / 2);
    m_splitter->setSizes({top, total - top});
}

void ModulePanel::startHistogram()
{
    if (!m_tree || m_weights.empty())
        return;
    StatsRequest request;
    request.data = m_tree->data();
    request.tensors = m_weights;
    m_histogram->applyTo(request);
    m_histogram->plot()->clear(tr("Computing the histogram of %1 values…").arg(shortCount(m_weightElements)));
    m_histogram->setBusy(true);
    m_job->start(request);
    emit busyChanged(true);
}

} // namespace ckpt
