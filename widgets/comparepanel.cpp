// SPDX-License-Identifier: MIT
#include "comparepanel.h"
#include "themesupport.h"

#include "checkpointtreeview.h"
#include "comparetensorpanel.h"
#include "difffilterproxymodel.h"
#include "diffjob.h"
#include "diffmodel.h"
#include "diffvaluemodel.h"
#include "displayformat.h"
#include "messagebar.h"
#include "modelroles.h"

#include <QCheckBox>
#include <QComboBox>
#include <QFileInfo>
#include <QFileSystemWatcher>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QSplitter>
#include <QStackedWidget>
#include <QTableView>
#include <QTimer>
#include <QToolButton>
#include <QVBoxLayout>

namespace ckpt {

const QString ComparePanel::kAutoPrefix = QStringLiteral("\x01" "auto");

namespace {
const QString kAutoText = QStringLiteral("Auto-detect");
const QString kNoneText = QStringLiteral("None");
// A file that changed on disk is read again once its writer has been quiet this long.
constexpr int kWriterQuietMs = 800;
} // namespace

ComparePanel::ComparePanel(QWidget *parent)
    : QWidget(parent)
    , m_jobA(new CheckpointLoadJob(this))
    , m_jobB(new CheckpointLoadJob(this))
    , m_diff(new DiffJob(this))
    , m_model(new DiffModel(this))
    , m_proxy(new DiffFilterProxyModel(this))
    , m_values(new DiffValueModel(this))
    , m_valueProxy(new DiffFilterProxyModel(this))
    , m_errorBar(new MessageBar(this))
    , m_files(new QLabel(this))
    , m_prefix(new QComboBox(this))
    , m_prefixInfo(new QLabel(this))
    , m_summary(new QLabel(this))
    , m_stage(new QLabel(this))
    , m_progress(new QProgressBar(this))
    , m_cancel(new QToolButton(this))
    , m_splitter(new QSplitter(Qt::Horizontal, this))
    , m_filter(new QLineEdit(this))
    , m_filterTimer(new QTimer(this))
    , m_onlyDiff(new QCheckBox(tr("Only differences"), this))
    , m_tree(new CheckpointTreeView(this))
    , m_valuesView(new QTableView(this))
    , m_details(new QStackedWidget(this))
    , m_placeholder(new QLabel(this))
    , m_tensorPanel(new CompareTensorPanel(this))
    , m_watcher(new QFileSystemWatcher(this))
    , m_reloadTimer(new QTimer(this))
{
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->setSpacing(4);
    m_errorBar->hide();
    layout->addWidget(m_errorBar);

    auto *top = new QHBoxLayout;
    m_files->setTextFormat(Qt::RichText);
    m_files->setTextInteractionFlags(Qt::TextSelectableByMouse);
    top->addWidget(m_files, 1);
    auto *prefixLabel = new QLabel(tr("Strip prefix:"), this);
    top->addWidget(prefixLabel);
    m_prefix->setEditable(true);
    m_prefix->addItems({kAutoText, kNoneText, QStringLiteral("module."), QStringLiteral("_orig_mod.")});
    m_prefix->setInsertPolicy(QComboBox::NoInsert);
    m_prefix->setMinimumContentsLength(12);
    m_prefix->setToolTip(tr("Removed from the start of the keys of both files before matching.\n"
                            "Auto-detect strips a wrapper prefix (module., _orig_mod.) that every key of one "
                            "file carries and the other's do not. Type any prefix and press Enter."));
    prefixLabel->setBuddy(m_prefix);
    top->addWidget(m_prefix);
    m_prefixInfo->setToolTip(tr("The prefix actually stripped from each file"));
    top->addWidget(m_prefixInfo);
    layout->addLayout(top);

    auto *status = new QHBoxLayout;
    m_summary->setTextFormat(Qt::RichText);
    status->addWidget(m_summary, 1);
    status->addWidget(m_stage);
    m_progress->setRange(0, 1000);
    m_progress->setTextVisible(false);
    m_progress->setMaximumHeight(14);
    m_progress->setMaximumWidth(260);
    status->addWidget(m_progress);
    m_cancel->setText(tr("Cancel"));
    m_cancel->setToolTip(tr("Stop reading or comparing (what is computed stays shown)"));
    status->addWidget(m_cancel);
    layout->addLayout(status);

    // Left: the aligned tree and, under it, the values table.
    auto *treeBox = new QWidget(this);
    auto *treeLayout = new QVBoxLayout(treeBox);
    treeLayout->setContentsMargins(0, 0, 0, 0);
    treeLayout->setSpacing(4);
    auto *filterRow = new QHBoxLayout;
    m_filter->setPlaceholderText(tr("Filter (Ctrl+F): name, * ? wildcards, or a path with / or ."));
    m_filter->setClearButtonEnabled(true);
    filterRow->addWidget(m_filter, 1);
    m_onlyDiff->setToolTip(tr("Hide rows whose values are bit-identical in both files"));
    filterRow->addWidget(m_onlyDiff);
    auto *sortButton = new QToolButton(this);
    sortButton->setText(tr("Most Changed First"));
    sortButton->setToolTip(tr("Sort by relative L2 change, largest first (click a column header to sort by it)"));
    connect(sortButton, &QToolButton::clicked, this, &ComparePanel::sortByChange);
    filterRow->addWidget(sortButton);
    treeLayout->addLayout(filterRow);
    m_proxy->setSourceModel(m_model);
    m_tree->setModel(m_proxy);
    treeLayout->addWidget(m_tree, 1);

    m_valueProxy->setSourceModel(m_values);
    m_valuesView->setModel(m_valueProxy);
    m_valuesView->setSortingEnabled(true);
    m_valuesView->sortByColumn(-1, Qt::AscendingOrder);
    m_valuesView->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_valuesView->setSelectionMode(QAbstractItemView::SingleSelection);
    m_valuesView->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_valuesView->setAlternatingRowColors(true);
    m_valuesView->verticalHeader()->hide();
    m_valuesView->verticalHeader()->setDefaultSectionSize(m_valuesView->fontMetrics().height() + 6);
    m_valuesView->horizontalHeader()->setStretchLastSection(true);
    m_valuesView->horizontalHeader()->setSortIndicatorClearable(true);
    m_valuesView->setWordWrap(false);
    auto *valuesBox = new QGroupBox(tr("Hyperparameters and scalars"), this);
    auto *valuesLayout = new QVBoxLayout(valuesBox);
    valuesLayout->setContentsMargins(4, 4, 4, 4);
    valuesLayout->addWidget(m_valuesView);

    auto *left = new QSplitter(Qt::Vertical, this);
    left->addWidget(treeBox);
    left->addWidget(valuesBox);
    left->setStretchFactor(0, 3);
    left->setStretchFactor(1, 2);
    left->setChildrenCollapsible(false);

    m_placeholder->setAlignment(Qt::AlignCenter);
    m_placeholder->setWordWrap(true);
    m_placeholder->setMargin(24);
    m_placeholder->setTextFormat(Qt::RichText);
    useMutedText(m_placeholder, QStringLiteral("font-size: 11pt;"));
    m_details->addWidget(m_placeholder);
    m_details->addWidget(m_tensorPanel);

    m_splitter->addWidget(left);
    m_splitter->addWidget(m_details);
    m_splitter->setStretchFactor(0, 3);
    m_splitter->setStretchFactor(1, 2);
    m_splitter->setSizes({900, 600});
    m_splitter->setChildrenCollapsible(false);
    left->setMinimumWidth(300);
    layout->addWidget(m_splitter, 1);

    const QFontMetrics fm(font());
    const int digit = fm.horizontalAdvance(QLatin1Char('0'));
    // What matters first is shown first: the change metrics right after the status, the
    // dtypes and shapes last (elided in the middle, whole in the tooltip). At 1280 px every
    // column fits; the Name column takes what is left.
    QHeaderView *header = m_tree->header();
    for (int c : {DiffModel::RelL2Column, DiffModel::CosineColumn, DiffModel::MaxAbsColumn, DiffModel::MeanAbsColumn})
        header->moveSection(header->visualIndex(c), header->count() - 1);
    for (int c : {DiffModel::AColumn, DiffModel::BColumn})
        header->moveSection(header->visualIndex(c), header->count() - 1);
    m_tree->setColumnWidth(DiffModel::NameColumn, 26 * digit);
    m_tree->setColumnWidth(DiffModel::StatusColumn, fm.horizontalAdvance(QStringLiteral("changed 99/99")) + 14);
    m_tree->setColumnWidth(DiffModel::AColumn, 11 * digit);
    m_tree->setColumnWidth(DiffModel::BColumn, 11 * digit);
    // numberText(v, 4) is at most 9 characters ("0.0005007", "1.234e-05").
    for (int c = DiffModel::MaxAbsColumn; c <= DiffModel::CosineColumn; ++c)
        m_tree->setColumnWidth(c, fm.horizontalAdvance(QStringLiteral("0.0005007")) + 12);
    m_tree->setNameColumnMinimum(150);
    m_tree->refitNameColumn();
    // The details pane does not push the splitter around when its content changes.
    m_details->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
    m_details->setMinimumWidth(360);
    m_valuesView->setColumnWidth(DiffValueModel::PathColumn, 40 * digit);
    m_valuesView->setColumnWidth(DiffValueModel::AColumn, 16 * digit);
    m_valuesView->setColumnWidth(DiffValueModel::BColumn, 16 * digit);
    m_valuesView->setColumnWidth(DiffValueModel::ChangeColumn, 18 * digit);

    m_filterTimer->setSingleShot(true);
    m_filterTimer->setInterval(300);
    connect(m_filter, &QLineEdit::textChanged, m_filterTimer, qOverload<>(&QTimer::start));
    connect(m_filterTimer, &QTimer::timeout, this, [this] { setFilterText(m_filter->text()); });
    connect(m_filter, &QLineEdit::returnPressed, this, [this] {
        m_filterTimer->stop();
        setFilterText(m_filter->text());
        m_tree->setFocus();
    });
    connect(m_onlyDiff, &QCheckBox::toggled, this, &ComparePanel::setOnlyDifferences);
    connect(m_prefix, &QComboBox::activated, this, [this] { startDiff(); });
    connect(m_prefix->lineEdit(), &QLineEdit::returnPressed, this, [this] { startDiff(); });

    connect(m_cancel, &QToolButton::clicked, this, &ComparePanel::cancel);
    auto loadProgress = [this] { m_progress->setValue((m_progressA + m_progressB) / 2); };
    connect(m_jobA, &CheckpointLoadJob::progressChanged, this, [this, loadProgress](int p) {
        m_progressA = p;
        loadProgress();
    });
    connect(m_jobB, &CheckpointLoadJob::progressChanged, this, [this, loadProgress](int p) {
        m_progressB = p;
        loadProgress();
    });
    connect(m_jobA, &CheckpointLoadJob::finished, this, [this](const LoadedCheckpoint &r) { onLoaded(false, r); });
    connect(m_jobB, &CheckpointLoadJob::finished, this, [this](const LoadedCheckpoint &r) { onLoaded(true, r); });
    for (CheckpointLoadJob *job : {m_jobA, m_jobB}) {
        connect(job, &CheckpointLoadJob::canceled, this, [this] {
            m_stage->setText(m_reloadTimer->isActive() ? changedText() : tr("Reading cancelled"));
            m_progress->hide();
            updateBusy();
        });
    }
    connect(m_diff, &DiffJob::aligned, this, &ComparePanel::onAligned);
    connect(m_diff, &DiffJob::entriesComputed, this, &ComparePanel::onEntriesComputed);
    connect(m_diff, &DiffJob::progressChanged, m_progress, &QProgressBar::setValue);
    connect(m_diff, &DiffJob::finished, this, [this](qint64 ms) {
        m_complete = true;
        m_progress->hide();
        m_stage->setText(tr("compared in %1 ms").arg(ms));
        updateSummary();
        updateBusy();
        emit statusChanged();
        emit compared();
    });
    connect(m_diff, &DiffJob::canceled, this, [this] {
        m_progress->hide();
        m_stage->setText(m_reloadTimer->isActive() ? changedText()
                                                   : tr("Comparison cancelled: rows still “pending” were not computed"));
        updateBusy();
    });
    connect(m_tree->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            [this](const QModelIndex &current) { onCurrentChanged(current); });
    connect(m_tree, &CheckpointTreeView::pathCopied, this, [this](const QString &path) {
        emit message(tr("Copied %1").arg(path));
    });
    connect(m_valuesView->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            [this](const QModelIndex &current) {
                if (!current.isValid())
                    return;
                const QString path = current.data(PathRole).toString();
                if (path != currentPath())
                    selectPath(path);
            });
    connect(m_tensorPanel, &CompareTensorPanel::busyChanged, this, &ComparePanel::updateBusy);

    // As a checkpoint tab: stop reading bytes that are changing, read both files again when the
    // writer has gone quiet.
    m_reloadTimer->setSingleShot(true);
    m_reloadTimer->setInterval(kWriterQuietMs);
    connect(m_watcher, &QFileSystemWatcher::fileChanged, this, [this] {
        if (!m_watching)
            return;
        m_reloadTimer->start(kWriterQuietMs); // first: the cancel messages read it (2000 after a missing file)
        cancel();
        m_stage->setText(changedText());
    });
    connect(m_reloadTimer, &QTimer::timeout, this, [this] {
        QStringList missing;
        for (const QString &path : {m_pathA, m_pathB})
            if (!QFileInfo::exists(path))
                missing << QFileInfo(path).fileName();
        if (!missing.isEmpty()) {
            m_errorBar->showMessage(MessageBar::Type::Warning,
                                    tr("%1 was deleted or moved on disk. What was read is still shown.")
                                        .arg(missing.join(tr(" and "))));
            m_reloadTimer->start(2000); // it may come back (an atomic replace)
            return;
        }
        emit message(tr("%1 changed on disk: comparing again").arg(title()));
        reload();
    });
    onCurrentChanged({});
}

ComparePanel::~ComparePanel()
{
    // The editable prefix box emits activated() when its line edit loses focus, and that happens
    // while QWidget's destructor tears the children down, when this is no longer a ComparePanel
    // (UBSan: member call on a QWidget).
    m_prefix->disconnect(this);
    m_prefix->lineEdit()->disconnect(this);
}

QString ComparePanel::title() const
{
    return QFileInfo(m_pathA).fileName() + QStringLiteral(" ⇄ ") + QFileInfo(m_pathB).fileName();
}

void ComparePanel::open(const QString &pathA, const QString &pathB)
{
    m_pathA = QFileInfo(pathA).absoluteFilePath();
    m_pathB = QFileInfo(pathB).absoluteFilePath();
    const QString nameA = QFileInfo(m_pathA).fileName();
    QString nameB = QFileInfo(m_pathB).fileName();
    m_files->setText(tr("<b>A</b> %1 &nbsp;⇄&nbsp; <b>B</b> %2")
                         .arg(m_pathA.toHtmlEscaped(), m_pathB.toHtmlEscaped()));
    m_files->setToolTip(tr("A: %1\nB: %2").arg(m_pathA, m_pathB));
    m_tensorPanel->setNames(nameA, nameB == nameA ? m_pathB : nameB);
    startLoad();
}

void ComparePanel::reload()
{
    if (m_pathA.isEmpty())
        return;
    if (m_pendingSelection.isEmpty())
        m_pendingSelection = currentPath();
    startLoad();
}

void ComparePanel::startLoad()
{
    m_diff->cancel();
    m_tensorPanel->clear();
    m_errorBar->hide();
    m_complete = false;
    m_a = {};
    m_b = {};
    m_progressA = m_progressB = 0;
    m_progress->setValue(0);
    m_progress->show();
    m_stage->setText(tr("Reading both files…"));
    m_jobA->start(m_pathA);
    m_jobB->start(m_pathB);
    updateBusy();
    emit statusChanged();
}

void ComparePanel::cancel()
{
    m_jobA->cancel();
    m_jobB->cancel();
    m_diff->cancel();
    m_tensorPanel->cancelWork();
}

bool ComparePanel::isLoading() const
{
    return m_jobA->isRunning() || m_jobB->isRunning();
}

bool ComparePanel::isBusy() const
{
    return isLoading() || m_diff->isRunning() || m_tensorPanel->isBusy();
}

QString ComparePanel::changedText() const
{
    return tr("A file changed on disk: comparing again when it is written…");
}

void ComparePanel::setWatchingFiles(bool watch)
{
    m_watching = watch;
    if (!m_watcher->files().isEmpty())
        m_watcher->removePaths(m_watcher->files());
    if (!watch) {
        m_reloadTimer->stop();
        return;
    }
    for (const QString &path : {m_pathA, m_pathB})
        if (QFileInfo(path).isFile() && !m_watcher->files().contains(path))
            m_watcher->addPath(path);
}

void ComparePanel::onLoaded(bool isB, const LoadedCheckpoint &result)
{
    (isB ? m_b : m_a) = result;
    if (isLoading() || !m_a.data || !m_b.data) {
        updateBusy();
        return;
    }
    // Watched from here on: an atomic replace (write elsewhere, rename over) drops the watch.
    if (m_watching)
        setWatchingFiles(true);
    QStringList errors;
    for (const auto *l : {&m_a, &m_b}) {
        if (l->data->error)
            errors << tr("%1 (%2): %3")
                          .arg(l == &m_a ? QStringLiteral("A") : QStringLiteral("B"),
                               QFileInfo(l->path).fileName(), qs(l->data->error->text()));
    }
    if (!errors.isEmpty())
        m_errorBar->showMessage(MessageBar::Type::Warning,
                                errors.join(QLatin1Char('\n')) + tr("\nWhat could be read is compared."));
    startDiff();
}

QString ComparePanel::stripPrefix() const
{
    const QString text = m_prefix->currentText();
    if (text == kAutoText)
        return kAutoPrefix;
    if (text == kNoneText)
        return {};
    return text;
}

void ComparePanel::setStripPrefix(const QString &prefix)
{
    const QString text = prefix == kAutoPrefix ? kAutoText : (prefix.isEmpty() ? kNoneText : prefix);
    if (text == m_prefix->currentText())
        return;
    m_prefix->setCurrentText(text);
    startDiff();
}

void ComparePanel::startDiff()
{
    if (!m_a.data || !m_b.data || isLoading())
        return;
    if (m_pendingSelection.isEmpty())
        m_pendingSelection = currentPath();
    DiffOptions options;
    const QString prefix = stripPrefix();
    options.detectPrefix = prefix == kAutoPrefix;
    if (!options.detectPrefix)
        options.stripPrefix = prefix.toStdString();
    m_complete = false;
    m_progress->setValue(0);
    m_progress->show();
    m_stage->setText(tr("Comparing…"));
    m_diff->start(m_a.data, m_b.data, options);
    updateBusy();
}

void ComparePanel::onAligned(std::shared_ptr<const DiffResult> result)
{
    m_tensorPanel->clear();
    m_model->setResult(*result);
    m_values->setResult(*result, m_a.data, m_b.data);
    m_valuesView->resizeColumnToContents(DiffValueModel::PathColumn);
    // Long paths are elided in the middle: the values and the change stay in view.
    m_valuesView->setTextElideMode(Qt::ElideMiddle);
    if (const int cap = m_valuesView->viewport()->width() * 2 / 5; cap > 120
        && m_valuesView->columnWidth(DiffValueModel::PathColumn) > cap)
        m_valuesView->setColumnWidth(DiffValueModel::PathColumn, cap);
    auto prefixText = [](const std::string &p) {
        return p.empty() ? tr("nothing") : QStringLiteral("“%1”").arg(qs(p));
    };
    if (result->strippedA.empty() && result->strippedB.empty())
        m_prefixInfo->setText(tr("no prefix stripped"));
    else
        m_prefixInfo->setText(tr("stripped %1 from A, %2 from B").arg(prefixText(result->strippedA),
                                                                      prefixText(result->strippedB)));
    if (result->sharedCutA || result->sharedCutB)
        m_prefixInfo->setText(m_prefixInfo->text() + tr("; %1 holds values shared by very many paths: only the first "
                                                         "of those paths are compared")
                                                          .arg(result->sharedCutA && result->sharedCutB ? tr("each file")
                                                               : result->sharedCutA ? tr("A") : tr("B")));
    // Small comparisons open with their modules visible; big ones with the top level only.
    m_tree->expandToDepth(result->entries.size() < 200 ? 1 : 0);
    updateSummary();
    if (!m_pendingSelection.isEmpty()) {
        const QString path = m_pendingSelection;
        m_pendingSelection.clear();
        if (!selectPath(path))
            emit message(tr("No row at %1 in this comparison").arg(path));
    }
    m_stage->setText(tr("Comparing %1…").arg(countNoun(result->summary().pending, "tensor", "tensors")));
    emit aligned();
    emit statusChanged();
}

void ComparePanel::onEntriesComputed(const std::vector<std::pair<int, DiffEntry>> &batch)
{
    m_model->updateEntries(batch);
    m_values->updateEntries(batch);
    const QModelIndex current = m_proxy->mapToSource(m_tree->currentIndex());
    const int entry = current.siblingAtColumn(0).data(DiffEntryRole).toInt();
    for (const auto &[index, e] : batch)
        if (index == entry)
            m_tensorPanel->updateEntry(e);
    updateSummary();
}

void ComparePanel::updateSummary()
{
    const DiffSummary s = m_model->summary();
    QStringList parts;
    auto part = [&](std::uint64_t n, DiffStatus st) {
        if (n == 0 && st != DiffStatus::Same && st != DiffStatus::Changed)
            return;
        // Still pending once everything ran: the metrics could not be computed.
        const QString name = st == DiffStatus::Pending && m_complete ? tr("unknown") : qs(diffStatusName(st));
        parts << QStringLiteral("<span style=\"color:%1\"><b>%2</b> %3</span>")
                     .arg(diffStatusColor(st).name(), groupedCount(n), name);
    };
    part(s.same, DiffStatus::Same);
    part(s.changed, DiffStatus::Changed);
    part(s.added, DiffStatus::Added);
    part(s.removed, DiffStatus::Removed);
    part(s.shape, DiffStatus::Shape);
    part(s.dtype, DiffStatus::DType);
    part(s.pending, DiffStatus::Pending);
    const DiffResult &r = m_model->result();
    if (const std::size_t left = r.attributesLeftOutA + r.attributesLeftOutB) {
        parts << QStringLiteral("<span title=\"%1\">%2</span>")
                     .arg(tr("A module pickled whole has attributes (training, hooks, layer settings) that a state "
                             "dict does not hold: they have no counterpart and are not compared"),
                          tr("%1 module attributes not compared").arg(groupedCount(left)));
    }
    m_summary->setText(m_model->result().entries.empty() && isLoading() ? QString()
                                                                        : parts.join(QStringLiteral(" &nbsp;·&nbsp; ")));
}

void ComparePanel::setOnlyDifferences(bool only)
{
    if (m_onlyDiff->isChecked() != only)
        m_onlyDiff->setChecked(only); // re-enters through toggled
    m_proxy->setOnlyDifferences(only);
    m_valueProxy->setOnlyDifferences(only);
    if (only)
        m_tree->expandAll();
}

void ComparePanel::setFilterText(const QString &text)
{
    if (m_filter->text() != text)
        m_filter->setText(text);
    m_filterTimer->stop();
    m_proxy->setFilterText(text);
    m_valueProxy->setFilterText(text);
    if (!text.trimmed().isEmpty())
        m_tree->expandAll();
}

void ComparePanel::focusFilter()
{
    m_filter->setFocus();
    m_filter->selectAll();
}

bool ComparePanel::selectPath(const QString &path)
{
    if (m_model->result().entries.empty() && (isLoading() || m_diff->isRunning())) {
        m_pendingSelection = path;
        return true;
    }
    const QModelIndex source = m_model->indexForPath(path);
    if (!source.isValid())
        return false;
    QModelIndex idx = m_proxy->mapFromSource(source);
    if (!idx.isValid()) {
        // Hidden by the filter or "only differences": show everything again.
        setFilterText(QString());
        setOnlyDifferences(false);
        idx = m_proxy->mapFromSource(source);
    }
    if (!idx.isValid())
        return false;
    m_tree->setCurrentIndex(idx);
    m_tree->scrollTo(idx);
    return true;
}

QString ComparePanel::currentPath() const
{
    const QModelIndex idx = m_tree->currentIndex();
    return idx.isValid() ? idx.siblingAtColumn(0).data(PathRole).toString() : QString();
}

void ComparePanel::resizeEvent(QResizeEvent *event)
{
    QWidget::resizeEvent(event);
    if (!m_splitterPlaced && width() > 0 && isVisible()) {
        m_splitterPlaced = true;
        const int w = m_splitter->width();
        m_splitter->setSizes({w * 62 / 100, w - w * 62 / 100});
    }
}

void ComparePanel::sortByChange()
{
    m_tree->sortByColumn(DiffModel::RelL2Column, Qt::DescendingOrder);
}

void ComparePanel::onCurrentChanged(const QModelIndex &current)
{
    showDetailsFor(m_proxy->mapToSource(current).siblingAtColumn(0));
    const QString path = current.siblingAtColumn(0).data(PathRole).toString();
    const int row = m_values->rowForPath(path);
    if (row >= 0) {
        const QModelIndex v = m_valueProxy->mapFromSource(m_values->index(row, 0));
        if (v.isValid() && m_valuesView->currentIndex().row() != v.row()) {
            m_valuesView->setCurrentIndex(v);
            m_valuesView->scrollTo(v);
        }
    }
}

void ComparePanel::showDetailsFor(const QModelIndex &source)
{
    const DiffEntry *e = m_model->entry(source);
    if (e && e->isTensor) {
        if (m_tensorPanel->entry().keys != e->keys || m_details->currentWidget() != m_tensorPanel)
            m_tensorPanel->setEntry(m_a.data, m_b.data, *e);
        m_details->setCurrentWidget(m_tensorPanel);
        return;
    }
    m_tensorPanel->cancelWork();
    QString html;
    if (!source.isValid()) {
        html = tr("Select a tensor to see both histograms on the same bins, the histogram of B − A and "
                  "B − A as a heat-map.<br><br>Sort by <b>rel L2</b> to find the layers that moved most; "
                  "tick <b>Only differences</b> to hide what is identical.");
    } else if (e) {
        html = tr("<b>%1</b><br><br>A: %2<br>B: %3<br><br>%4")
                   .arg(qs(e->path()).toHtmlEscaped(),
                        e->a ? qs(e->a->value).toHtmlEscaped() : tr("(not in A)"),
                        e->b ? qs(e->b->value).toHtmlEscaped() : tr("(not in B)"),
                        qs(diffStatusName(e->status)));
    } else {
        html = tr("<b>%1</b><br><br>%2").arg(source.data(PathRole).toString().toHtmlEscaped(),
                                            source.siblingAtColumn(DiffModel::StatusColumn).data().toString());
    }
    m_placeholder->setText(html);
    m_details->setCurrentWidget(m_placeholder);
}

void ComparePanel::updateBusy()
{
    const bool busy = isBusy();
    m_cancel->setVisible(isLoading() || m_diff->isRunning());
    if (!isLoading() && !m_diff->isRunning())
        m_progress->hide();
    if (busy != m_lastBusy) {
        m_lastBusy = busy;
        emit busyChanged(busy);
    }
}

} // namespace ckpt
