// SPDX-License-Identifier: MIT
#include "checkpointpanel.h"
#include "themesupport.h"

#include "checkpointtreemodel.h"
#include "checkpointtreeview.h"
#include "displayformat.h"
#include "keyvaluepanel.h"
#include "messagebar.h"
#include "modelroles.h"
#include "modulepanel.h"
#include "optimizerpanel.h"
#include "summarypanel.h"
#include "tensordetailspanel.h"
#include "tensorfilterproxymodel.h"
#include "tensorhealthscanjob.h"
#include "tensorvaluespanel.h"
#include "trainingsummarypanel.h"

#include <QAction>
#include <QApplication>
#include <QDataStream>
#include <QFileInfo>
#include <QFileSystemWatcher>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QIODevice>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QSplitter>
#include <QStackedWidget>
#include <QTimer>
#include <QToolButton>
#include <QVBoxLayout>

#include <functional>

namespace ckpt {

namespace {
constexpr int kWarmUpDelayMs = 50; // after the first load; see warmUpDetails()
// A file that changed on disk is read again once its writer has been quiet this long.
constexpr int kWriterQuietMs = 800;
}

namespace {
// 1: main, tree header, statistics, values, module and summary splitters; 2: + the Optimizer
// tab's splitter (version 1 layouts are still restored).
constexpr quint32 kLayoutVersion = 2;
}

CheckpointPanel::CheckpointPanel(QWidget *parent)
    : QWidget(parent)
    , m_job(new CheckpointLoadJob(this))
    , m_model(new CheckpointTreeModel(this))
    , m_proxy(new TensorFilterProxyModel(this))
    , m_errorBar(new MessageBar(this))
    , m_loadingRow(new QWidget(this))
    , m_loadingLabel(new QLabel(m_loadingRow))
    , m_progress(new QProgressBar(m_loadingRow))
    , m_cancel(new QToolButton(m_loadingRow))
    , m_splitter(new QSplitter(Qt::Horizontal, this))
    , m_filter(new QLineEdit(this))
    , m_filterTimer(new QTimer(this))
    , m_tree(new CheckpointTreeView(this))
    , m_details(new QStackedWidget(this))
    , m_placeholder(new QLabel(this))
    , m_tensorPanel(new TensorDetailsPanel(this))
    , m_modulePanel(new ModulePanel(m_model, this))
    , m_keyValuePanel(new KeyValuePanel(this))
    , m_summaryPanel(new SummaryPanel(this))
    , m_optimizerPanel(new OptimizerPanel(this))
    , m_scan(new TensorHealthScanJob(this))
    , m_watcher(new QFileSystemWatcher(this))
    , m_reloadTimer(new QTimer(this))
{
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->setSpacing(4);
    layout->addWidget(m_errorBar);

    auto *loadingLayout = new QHBoxLayout(m_loadingRow);
    loadingLayout->setContentsMargins(4, 0, 4, 0);
    m_progress->setRange(0, 1000);
    m_progress->setTextVisible(false);
    m_progress->setMaximumHeight(14);
    m_cancel->setText(tr("Cancel"));
    loadingLayout->addWidget(m_loadingLabel);
    loadingLayout->addWidget(m_progress, 1);
    loadingLayout->addWidget(m_cancel);
    m_loadingRow->hide();
    layout->addWidget(m_loadingRow);

    auto *left = new QWidget(this);
    auto *leftLayout = new QVBoxLayout(left);
    leftLayout->setContentsMargins(0, 0, 0, 0);
    leftLayout->setSpacing(4);
    m_filter->setPlaceholderText(tr("Filter (Ctrl+F): name, * ? wildcards, or a path with / or ."));
    m_filter->setClearButtonEnabled(true);
    m_filter->setToolTip(tr("Shows matching rows with their parents and children.\n"
                            "Text without '/' or '.' matches names; with them, full paths."));
    leftLayout->addWidget(m_filter);
    m_proxy->setSourceModel(m_model);
    m_tree->setModel(m_proxy);
    m_tree->applyDefaultColumnWidths();
    leftLayout->addWidget(m_tree, 1);

    auto *placeholder = static_cast<QLabel *>(m_placeholder);
    placeholder->setAlignment(Qt::AlignCenter);
    placeholder->setWordWrap(true);
    placeholder->setMargin(24);
    useMutedText(placeholder, QStringLiteral("font-size: 11pt;"));
    placeholder->setText(tr("Select a row in the tree.\n\nA tensor shows its statistics, histogram and values;"
                            " a module its totals and children; the file its summary and security report."));
    m_details->addWidget(m_placeholder);
    m_details->addWidget(m_summaryPanel);
    m_details->addWidget(m_tensorPanel);
    m_details->addWidget(m_modulePanel);
    m_details->addWidget(m_keyValuePanel);
    m_details->addWidget(m_optimizerPanel);

    m_splitter->addWidget(left);
    m_splitter->addWidget(m_details);
    m_splitter->setStretchFactor(0, 0);
    m_splitter->setStretchFactor(1, 1);
    m_splitter->setSizes({620, 780});
    m_splitter->setChildrenCollapsible(false);
    // The details pane does not push the splitter around when the selection changes its page.
    m_details->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
    m_details->setMinimumWidth(420);
    left->setMinimumWidth(260);
    layout->addWidget(m_splitter, 1);

    m_filterTimer->setSingleShot(true);
    m_filterTimer->setInterval(300);
    connect(m_filter, &QLineEdit::textChanged, m_filterTimer, qOverload<>(&QTimer::start));
    connect(m_filterTimer, &QTimer::timeout, this, &CheckpointPanel::applyFilter);
    connect(m_filter, &QLineEdit::returnPressed, this, [this] {
        m_filterTimer->stop();
        applyFilter();
        m_tree->setFocus();
    });

    connect(m_cancel, &QToolButton::clicked, this, [this] {
        cancelLoad();
        m_scan->cancel();
    });
    connect(m_scan, &TensorHealthScanJob::progressChanged, m_progress, &QProgressBar::setValue);
    connect(m_scan, &TensorHealthScanJob::tensorChecked, this, [this](int tensor, int flags) {
        m_model->setTensorHealth(tensor, flags);
        m_scanNonFinite += (flags & (HealthNaN | HealthInf)) ? 1 : 0;
        if (flags & HealthAllZero) {
            if (startsAtZero(tensor))
                ++m_scanExpectedZero;
            else
                ++m_scanZero;
        }
    });
    connect(m_scan, &TensorHealthScanJob::finished, this, &CheckpointPanel::onScanFinished);
    connect(m_scan, &TensorHealthScanJob::canceled, this, [this] {
        m_loadingRow->hide();
        emit message(tr("Tensor check cancelled"));
        updateBusy();
    });
    connect(m_job, &CheckpointLoadJob::progressChanged, m_progress, &QProgressBar::setValue);
    connect(m_job, &CheckpointLoadJob::finished, this, &CheckpointPanel::onLoaded);
    connect(m_job, &CheckpointLoadJob::canceled, this, [this] {
        m_loadingRow->hide();
        if (!m_loaded.data)
            m_errorBar->showMessage(MessageBar::Type::Warning, tr("Opening was cancelled."));
        updateBusy();
        emit statusChanged();
    });
    connect(m_tree->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            [this](const QModelIndex &current) { onCurrentChanged(current); });
    connect(m_tree, &CheckpointTreeView::pathCopied, this, [this](const QString &path) {
        emit message(tr("Copied %1").arg(path));
    });

    connect(m_tensorPanel, &TensorDetailsPanel::statsComputed, this,
            [this](int tensor, const format::TensorStats &stats) {
                m_model->setTensorHealth(tensor, healthFlags(stats));
            });
    connect(m_tensorPanel, &TensorDetailsPanel::busyChanged, this, &CheckpointPanel::updateBusy);
    connect(m_modulePanel, &ModulePanel::busyChanged, this, &CheckpointPanel::updateBusy);
    connect(m_modulePanel, &ModulePanel::childActivated, this, [this](const QModelIndex &source) {
        const QModelIndex idx = m_proxy->mapFromSource(source);
        if (idx.isValid()) {
            m_tree->setCurrentIndex(idx);
            m_tree->scrollTo(idx);
        }
    });
    connect(m_keyValuePanel, &KeyValuePanel::tensorActivated, this, [this](int tensor) {
        if (!m_loaded.tree)
            return;
        const auto &nodes = m_loaded.tree->nodesForTensor(tensor);
        if (!nodes.empty())
            selectPath(nodes.front()->path());
    });

    connect(m_optimizerPanel, &OptimizerPanel::busyChanged, this, &CheckpointPanel::updateBusy);
    connect(m_optimizerPanel, &OptimizerPanel::parameterSelected, this, &CheckpointPanel::selectPathKeepingDetails);
    connect(m_optimizerPanel, &OptimizerPanel::tensorRequested, this, [this](const QString &path) { selectPath(path); });
    connect(m_optimizerPanel, &OptimizerPanel::pathActivated, this, [this](const QString &path) { selectPath(path); });
    connect(m_summaryPanel->training(), &TrainingSummaryPanel::busyChanged, this, &CheckpointPanel::updateBusy);
    connect(m_summaryPanel->training(), &TrainingSummaryPanel::pathActivated, this,
            [this](const QString &path) { selectPath(path); });

    m_reloadTimer->setSingleShot(true);
    m_reloadTimer->setInterval(kWriterQuietMs);
    connect(m_watcher, &QFileSystemWatcher::fileChanged, this, [this] {
        if (!m_watching)
            return;
        // The bytes under the memory map are changing: stop reading them now, reload when the
        // writer has gone quiet.
        m_scan->cancel();
        m_tensorPanel->cancelWork();
        m_modulePanel->cancelWork();
        m_optimizerPanel->cancelWork();
        m_summaryPanel->training()->cancelWork();
        m_reloadTimer->start(kWriterQuietMs); // (a missing file sets 2000 below)
    });
    connect(m_reloadTimer, &QTimer::timeout, this, [this] {
        if (!QFileInfo::exists(m_path)) {
            m_errorBar->showMessage(MessageBar::Type::Warning,
                                    tr("The file was deleted or moved on disk. What was read is still shown."));
            m_reloadTimer->start(2000); // it may come back (an atomic replace)
            return;
        }
        emit message(tr("%1 changed on disk: reloading").arg(QFileInfo(m_path).fileName()));
        reload();
    });
    onCurrentChanged({});
}

CheckpointPanel::~CheckpointPanel() = default;

void CheckpointPanel::open(const QString &path)
{
    m_path = QFileInfo(path).absoluteFilePath();
    m_reloading = false;
    startLoad();
}

void CheckpointPanel::reload()
{
    if (m_path.isEmpty())
        return;
    if (!isLoading() && m_loaded.tree) {
        const QString current = currentPath();
        if (m_pendingSelection.isEmpty() && m_tree->currentIndex().isValid())
            m_pendingSelection = current.isEmpty() ? QStringLiteral("/") : current;
        m_pendingExpanded = expandedPaths();
    }
    m_reloading = true;
    startLoad();
}

void CheckpointPanel::startLoad()
{
    m_scan->cancel();
    m_proxy->setFlaggedOnly(false);
    m_errorBar->clearButtons();
    m_errorBar->setClosable(false);
    m_errorBar->hide();
    m_loadingLabel->setText(m_reloading ? tr("Reloading %1…").arg(QFileInfo(m_path).fileName())
                                        : tr("Reading %1…").arg(QFileInfo(m_path).fileName()));
    m_progress->setValue(0);
    m_loadingRow->show();
    m_job->start(m_path);
    updateBusy();
    emit statusChanged();
}

void CheckpointPanel::cancelLoad()
{
    m_job->cancel();
}

bool CheckpointPanel::isLoading() const
{
    return m_job->isRunning();
}

bool CheckpointPanel::isBusy() const
{
    return isLoading() || m_scan->isRunning() || m_tensorPanel->isBusy() || m_modulePanel->isBusy()
        || m_optimizerPanel->isBusy() || m_summaryPanel->training()->isBusy();
}

bool CheckpointPanel::isCheckingTensors() const
{
    return m_scan->isRunning();
}

void CheckpointPanel::checkAllTensors()
{
    if (!m_loaded.data || isLoading())
        return;
    m_scanNonFinite = 0;
    m_scanZero = 0;
    m_scanExpectedZero = 0;
    m_loadingLabel->setText(tr("Checking %1 for NaN, ±Inf and zeros…")
                                .arg(countNoun(m_loaded.data->tensors.size(), "tensor", "tensors")));
    m_progress->setValue(0);
    m_loadingRow->show();
    m_scan->start(m_loaded.data);
    updateBusy();
}

void CheckpointPanel::setShowFlaggedOnly(bool flaggedOnly)
{
    m_proxy->setFlaggedOnly(flaggedOnly);
    if (flaggedOnly)
        m_tree->expandAll();
}

bool CheckpointPanel::startsAtZero(int tensor) const
{
    // Buffers (BatchNorm's running_mean, num_batches_tracked, ...) and biases start at zero in a
    // freshly initialised model: every path of the tensor must be one of them.
    if (!m_loaded.tree)
        return false;
    const auto &nodes = m_loaded.tree->nodesForTensor(tensor);
    if (nodes.empty())
        return false;
    for (const TreeNode *n : nodes)
        if (n->kind != NodeKind::Buffer && n->name != QLatin1String("bias") && !n->name.endsWith(QLatin1String(".bias")))
            return false;
    return true;
}

void CheckpointPanel::onScanFinished(int checked, int flagged)
{
    m_loadingRow->hide();
    QString text = tr("Checked %1 tensors: %2 with NaN or ±Inf, %3 all zeros")
                       .arg(checked)
                       .arg(m_scanNonFinite)
                       .arg(m_scanZero + m_scanExpectedZero);
    if (m_scanExpectedZero)
        text += tr(" (%1 of them buffers or biases, which start at zero)").arg(m_scanExpectedZero);
    if (const int failed = m_scan->failedCount())
        text += tr("; %n could not be read", nullptr, failed);
    const QStringList &crc = m_scan->crcProblems();
    if (!crc.isEmpty())
        text += crc.size() == 1 ? tr("; 1 record fails its CRC-32 check")
                                : tr("; %1 records fail their CRC-32 check").arg(crc.size());
    emit message(text);
    // Zeros where a fresh model has them (running means, step counters, biases) are no finding;
    // a record failing its CRC-32 is.
    const bool findings = (m_scanNonFinite + m_scanZero > 0 && flagged > 0) || !crc.isEmpty();
    if (findings && (m_errorBar->isHidden() || m_errorBar->type() == MessageBar::Type::Info)) {
        QStringList parts;
        if (!crc.isEmpty())
            parts << (crc.size() == 1 ? crc.front()
                                      : tr("%1 records fail their CRC-32 check, the first: %2").arg(crc.size()).arg(crc.front()));
        if (m_scanNonFinite)
            parts << (m_scanNonFinite == 1 ? tr("1 tensor contains NaN or ±Inf")
                                           : tr("%1 tensors contain NaN or ±Inf").arg(m_scanNonFinite));
        if (m_scanZero)
            parts << (m_scanZero == 1 ? tr("1 tensor is all zeros") : tr("%1 tensors are all zeros").arg(m_scanZero));
        m_errorBar->clearButtons();
        // Non-finite values and damaged records are problems; all-zero tensors are often fine.
        m_errorBar->showMessage(m_scanNonFinite || !crc.isEmpty() ? MessageBar::Type::Warning : MessageBar::Type::Info,
                                parts.join(tr("; ")) + (flagged > 0 ? tr(" (marked in the tree).") : QString()));
        if (flagged > 0) {
            QToolButton *show = m_errorBar->addButton(tr("Show Only These"));
            show->setCheckable(true);
            connect(show, &QToolButton::toggled, this, &CheckpointPanel::setShowFlaggedOnly);
        }
        m_errorBar->setClosable(true);
    }
    updateBusy();
}

void CheckpointPanel::updateBusy()
{
    const bool busy = isBusy();
    if (busy != m_lastBusy) {
        m_lastBusy = busy;
        emit busyChanged(busy);
    }
}

void CheckpointPanel::onLoaded(const LoadedCheckpoint &result)
{
    m_loadingRow->hide();
    // Drop every view of the old data before showing the new one.
    m_tensorPanel->clear();
    m_modulePanel->clear();
    m_keyValuePanel->clear();
    m_optimizerPanel->clear();
    m_loaded = result;
    m_model->setTree(result.tree);
    m_summaryPanel->setTree(result.tree, result.elapsedMs);
    // Recognition walks the value graph only (no tensor bytes): cheap enough for this thread.
    m_training = analyzeTraining(result.data);
    m_summaryPanel->setTraining(m_training);
    if (m_watching)
        watchFiles();

    const auto &cp = *result.data;
    if (cp.error) {
        const bool nothing = cp.root == nullptr && cp.tensors.empty();
        m_errorBar->showMessage(
            MessageBar::Type::Error,
            tr("<b>%1 could not be read completely.</b> %2<br>%3")
                .arg(QFileInfo(m_path).fileName().toHtmlEscaped(), qs(cp.error->text()).toHtmlEscaped(),
                     nothing ? tr("Nothing could be read before the problem.")
                             : tr("Everything read before the problem is shown below.")));
        // A file caught half-written (or changed while it was read, issue 6) reads fine later.
        QToolButton *reloadButton = m_errorBar->addButton(tr("Reload"));
        reloadButton->setToolTip(tr("Read the file again (F5)"));
        connect(reloadButton, &QToolButton::clicked, this, &CheckpointPanel::reload);
    } else if (cp.hasDangerousGlobals()) {
        const QString member = qs(cp.dangerousMember()).toHtmlEscaped();
        m_errorBar->showMessage(MessageBar::Type::Error,
                                (member.isEmpty() ? tr("<b>This file would run code when loaded with torch.load.</b> ")
                                                  : tr("<b>%1 in this folder would run code when loaded with "
                                                       "torch.load.</b> ").arg(member))
                                    + (member.isEmpty() ? tr("Browsing it here is safe; see the security report on the file's row.")
                                                        : tr("Browsing it here is safe; see the security report on the folder's row.")));
    } else if (m_reloading) {
        m_errorBar->showMessage(MessageBar::Type::Info,
                                tr("Reloaded from disk at %1.").arg(QTime::currentTime().toString(QStringLiteral("HH:mm:ss"))));
        m_errorBar->setClosable(true);
        QTimer::singleShot(6000, m_errorBar, [bar = m_errorBar] {
            if (bar->type() == MessageBar::Type::Info)
                bar->hide();
        });
    } else {
        m_errorBar->hide();
    }

    if (!m_filter->text().trimmed().isEmpty())
        applyFilter();
    if (!m_pendingExpanded.isEmpty()) {
        restoreExpanded(m_pendingExpanded);
        m_pendingExpanded.clear();
    } else {
        expandDefault();
    }
    // Numbers are never elided: the widest sums sit in the rows shown first.
    m_tree->fitColumnsToContents({CheckpointTreeModel::ElementsColumn, CheckpointTreeModel::SizeColumn});
    QString target = m_pendingSelection;
    m_pendingSelection.clear();
    bool selected = false;
    if (!target.isEmpty())
        selected = selectPath(target == QStringLiteral("/") ? QString() : target);
    if (!selected && m_proxy->rowCount() > 0) {
        m_tree->setCurrentIndex(m_proxy->index(0, 0));
    }
    m_reloading = false;
    if (m_loaded.tree->uniqueBytes() <= kAutoCheckBytes && !cp.tensors.empty())
        checkAllTensors();
    updateBusy();
    emit statusChanged();
    emit loadFinished();
    if (!m_warmedUp)
        QTimer::singleShot(kWarmUpDelayMs, this, &CheckpointPanel::warmUpDetails);
}

// The first show of a details page polishes and lays out its whole widget tree: 16-36 ms for
// the tensor page (tabs, statistics table, plot, values view), inside the first click on a
// tensor (B5 measured it as most of the longest UI stall). Done once, shortly after the first
// load, while the user is still looking at the tree: each page is made current and the
// previous page restored within this one event, with updates off, so nothing is painted.
void CheckpointPanel::warmUpDetails()
{
    if (m_warmedUp || !isVisible())
        return;
    QWidget *focus = QApplication::focusWidget();
    if (focus && m_details->isAncestorOf(focus))
        return; // switching pages would move the keyboard focus
    m_warmedUp = true;
    QWidget *current = m_details->currentWidget();
    m_details->setUpdatesEnabled(false);
    for (QWidget *page : {static_cast<QWidget *>(m_tensorPanel), static_cast<QWidget *>(m_modulePanel)})
        if (page != current)
            m_details->setCurrentWidget(page);
    m_details->setCurrentWidget(current);
    m_details->setUpdatesEnabled(true);
}

void CheckpointPanel::expandDefault()
{
    if (m_proxy->rowCount() == 0)
        return;
    const QModelIndex file = m_proxy->index(0, 0);
    m_tree->expand(file);
    // Open small top-level containers and the (usually single) state dict's first level.
    const int rows = m_proxy->rowCount(file);
    for (int r = 0; r < rows && r < 40; ++r) {
        const QModelIndex child = m_proxy->index(r, 0, file);
        const int n = m_proxy->rowCount(child);
        const QModelIndex src = m_proxy->mapToSource(child);
        const TreeNode *node = m_model->node(src);
        if (n > 0 && (rows == 1 || (node && node->stateDict && n <= 60)))
            m_tree->expand(child);
    }
}

QStringList CheckpointPanel::expandedPaths() const
{
    QStringList out;
    std::function<void(const QModelIndex &)> walk = [&](const QModelIndex &parent) {
        for (int r = 0; r < m_proxy->rowCount(parent); ++r) {
            const QModelIndex idx = m_proxy->index(r, 0, parent);
            if (m_tree->isExpanded(idx)) {
                out << QStringLiteral("/") + idx.data(TreePathRole).toString();
                walk(idx);
            }
        }
    };
    walk({});
    return out;
}

void CheckpointPanel::restoreExpanded(const QStringList &paths)
{
    for (const QString &p : paths) {
        const QModelIndex src = m_model->indexForPath(p);
        const QModelIndex idx = m_proxy->mapFromSource(src);
        if (idx.isValid())
            m_tree->expand(idx);
    }
}

bool CheckpointPanel::selectPath(const QString &path)
{
    if (isLoading() || !m_loaded.tree) {
        m_pendingSelection = path.isEmpty() ? QStringLiteral("/") : path;
        return true;
    }
    const QModelIndex src = m_model->indexForPath(path);
    if (!src.isValid())
        return false;
    QModelIndex idx = m_proxy->mapFromSource(src);
    if (!idx.isValid()) {
        // Hidden by the filter: clear it so the row can be shown.
        m_filter->clear();
        m_filterTimer->stop();
        applyFilter();
        idx = m_proxy->mapFromSource(src);
    }
    if (!idx.isValid())
        return false;
    for (QModelIndex p = idx.parent(); p.isValid(); p = p.parent())
        m_tree->expand(p);
    m_tree->setCurrentIndex(idx);
    m_tree->scrollTo(idx, QAbstractItemView::PositionAtCenter);
    return true;
}

bool CheckpointPanel::selectPathKeepingDetails(const QString &path)
{
    m_keepDetails = true;
    const bool selected = selectPath(path);
    m_keepDetails = false;
    return selected;
}

QString CheckpointPanel::currentPath() const
{
    const QModelIndex idx = m_tree->currentIndex();
    return idx.isValid() ? idx.siblingAtColumn(0).data(PathRole).toString() : QString();
}

void CheckpointPanel::focusFilter()
{
    m_filter->setFocus(Qt::ShortcutFocusReason);
    m_filter->selectAll();
}

void CheckpointPanel::setFilterText(const QString &text)
{
    m_filter->setText(text);
    m_filterTimer->stop();
    applyFilter();
}

QString CheckpointPanel::copyCurrentPath()
{
    return m_tree->copyCurrentPath();
}

void CheckpointPanel::setWatchingFile(bool watch)
{
    m_watching = watch;
    if (!watch && !m_watcher->files().isEmpty())
        m_watcher->removePaths(m_watcher->files());
    else if (watch && m_watcher->files().isEmpty())
        watchFiles();
}

void CheckpointPanel::watchFiles()
{
    if (!m_watcher->files().isEmpty())
        m_watcher->removePaths(m_watcher->files());
    // Every file read: the checkpoint, the shards of an index, each file of a folder.
    QStringList files;
    if (m_loaded.data)
        for (const auto &f : m_loaded.data->files)
            files << QFile::decodeName(QByteArray::fromStdString(f->path()));
    if (files.isEmpty() && QFileInfo(m_path).isFile())
        files << m_path;
    if (!files.isEmpty())
        m_watcher->addPaths(files);
}

void CheckpointPanel::showTensorTab(int tab)
{
    m_tensorPanel->setCurrentTab(static_cast<TensorDetailsPanel::Tab>(tab));
}

void CheckpointPanel::showValuesTab(bool values)
{
    m_tensorPanel->setCurrentTab(values ? TensorDetailsPanel::ValuesTab : TensorDetailsPanel::StatisticsTab);
}

void CheckpointPanel::applyFilter()
{
    const QString current = currentPath();
    const bool hadCurrent = m_tree->currentIndex().isValid();
    m_proxy->setFilterText(m_filter->text());
    if (!m_proxy->filterText().isEmpty()) {
        // Show every match: expand fully when that stays reasonable.
        int visible = 0;
        std::function<void(const QModelIndex &, int)> expandAll = [&](const QModelIndex &parent, int depth) {
            for (int r = 0; r < m_proxy->rowCount(parent) && visible < 5000; ++r) {
                const QModelIndex idx = m_proxy->index(r, 0, parent);
                ++visible;
                if (m_proxy->hasChildren(idx) && depth < 12) {
                    m_tree->expand(idx);
                    expandAll(idx, depth + 1);
                }
            }
        };
        expandAll({}, 0);
    }
    if (hadCurrent) {
        const QModelIndex idx = m_proxy->mapFromSource(m_model->indexForPath(current));
        if (idx.isValid())
            m_tree->scrollTo(idx);
    }
}

void CheckpointPanel::onCurrentChanged(const QModelIndex &current)
{
    if (m_keepDetails)
        return;
    const TreeNode *node = m_model->node(m_proxy->mapToSource(current.siblingAtColumn(0)));
    const auto &tree = m_loaded.tree;
    if (!node || !tree) {
        m_details->setCurrentWidget(m_placeholder);
        updateBusy();
        return;
    }
    switch (node->kind) {
    case NodeKind::File:
        m_details->setCurrentWidget(m_summaryPanel);
        break;
    case NodeKind::Parameter:
    case NodeKind::Buffer:
    case NodeKind::Tensor:
        if (node->tensor >= 0) {
            m_tensorPanel->setTensor(tree, node);
            m_details->setCurrentWidget(m_tensorPanel);
        } else {
            m_keyValuePanel->setNode(tree, node);
            m_details->setCurrentWidget(m_keyValuePanel);
        }
        break;
    case NodeKind::Module:
        m_modulePanel->setNode(tree, node);
        m_details->setCurrentWidget(m_modulePanel);
        break;
    case NodeKind::Dict:
        if (const OptimizerInfo *o = m_training ? m_training->optimizerAt(node->path()) : nullptr) {
            m_optimizerPanel->setOptimizer(m_training, static_cast<int>(o - m_training->optimizers.data()));
            m_details->setCurrentWidget(m_optimizerPanel);
        } else if (node->stateDict || !node->value) {
            m_modulePanel->setNode(tree, node);
            m_details->setCurrentWidget(m_modulePanel);
        } else {
            m_keyValuePanel->setNode(tree, node);
            m_details->setCurrentWidget(m_keyValuePanel);
        }
        break;
    case NodeKind::More:
        m_details->setCurrentWidget(m_placeholder);
        break;
    default:
        m_keyValuePanel->setNode(tree, node);
        m_details->setCurrentWidget(m_keyValuePanel);
        break;
    }
    updateBusy();
    emit statusChanged();
}

QByteArray CheckpointPanel::saveLayout() const
{
    QByteArray out;
    QDataStream s(&out, QIODevice::WriteOnly);
    s << kLayoutVersion << m_splitter->saveState() << m_tree->header()->saveState()
      << m_tensorPanel->statsSplitter()->saveState() << m_tensorPanel->values()->splitter()->saveState()
      << m_modulePanel->splitter()->saveState() << m_summaryPanel->splitter()->saveState()
      << m_optimizerPanel->splitter()->saveState();
    return out;
}

void CheckpointPanel::restoreLayout(const QByteArray &state)
{
    if (state.isEmpty())
        return;
    QDataStream s(state);
    quint32 version = 0;
    QByteArray main, header, stats, values, module, summary, optimizer;
    s >> version;
    if (version < 1 || version > kLayoutVersion)
        return;
    s >> main >> header >> stats >> values >> module >> summary;
    if (version >= 2)
        s >> optimizer;
    if (s.status() != QDataStream::Ok)
        return;
    m_splitter->restoreState(main);
    m_tree->header()->restoreState(header);
    m_tensorPanel->statsSplitter()->restoreState(stats);
    m_tensorPanel->values()->splitter()->restoreState(values);
    m_modulePanel->splitter()->restoreState(module);
    m_summaryPanel->splitter()->restoreState(summary);
    if (!optimizer.isEmpty())
        m_optimizerPanel->splitter()->restoreState(optimizer);
}

} // namespace ckpt
