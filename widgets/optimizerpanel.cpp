// SPDX-License-Identifier: MIT
#include "optimizerpanel.h"
#include "themecolors.h"

#include "displayformat.h"
#include "modelroles.h"
#include "optimizerparamsmodel.h"
#include "paramgroupsmodel.h"
#include "tensorsummaryjob.h"

#include <QAction>
#include <QClipboard>
#include <QGuiApplication>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QProgressBar>
#include <QScrollBar>
#include <QRegularExpression>
#include <QSortFilterProxyModel>
#include <QSplitter>
#include <QTableView>
#include <QToolButton>
#include <QVBoxLayout>

#include <algorithm>

namespace ckpt {

namespace {

void setupTable(QTableView *view)
{
    view->setEditTriggers(QAbstractItemView::NoEditTriggers);
    view->setSelectionBehavior(QAbstractItemView::SelectRows);
    view->setSelectionMode(QAbstractItemView::SingleSelection);
    view->setAlternatingRowColors(true);
    view->setWordWrap(false);
    view->verticalHeader()->hide();
    view->verticalHeader()->setDefaultSectionSize(view->fontMetrics().height() + 6);
    view->horizontalHeader()->setHighlightSections(false);
    view->horizontalHeader()->setStretchLastSection(false);
}

} // namespace

OptimizerPanel::OptimizerPanel(QWidget *parent)
    : QWidget(parent)
    , m_title(new QLabel(this))
    , m_summary(new QLabel(this))
    , m_splitter(new QSplitter(Qt::Vertical, this))
    , m_groupsModel(new ParamGroupsModel(this))
    , m_groupsView(new QTableView(this))
    , m_paramsModel(new OptimizerParamsModel(this))
    , m_paramsProxy(new QSortFilterProxyModel(this))
    , m_paramsView(new QTableView(this))
    , m_filter(new QLineEdit(this))
    , m_progressRow(new QWidget(this))
    , m_progressLabel(new QLabel(m_progressRow))
    , m_progress(new QProgressBar(m_progressRow))
    , m_cancel(new QToolButton(m_progressRow))
    , m_job(new TensorSummaryJob(this))
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
    m_summary->setTextFormat(Qt::RichText);
    layout->addWidget(m_title);
    layout->addWidget(m_summary);

    auto *progressLayout = new QHBoxLayout(m_progressRow);
    progressLayout->setContentsMargins(0, 0, 0, 0);
    m_progress->setRange(0, 1000);
    m_progress->setTextVisible(false);
    m_progress->setMaximumHeight(14);
    m_cancel->setText(tr("Cancel"));
    progressLayout->addWidget(m_progressLabel);
    progressLayout->addWidget(m_progress, 1);
    progressLayout->addWidget(m_cancel);
    m_progressRow->hide();
    layout->addWidget(m_progressRow);

    setupTable(m_groupsView);
    m_groupsView->setModel(m_groupsModel);
    m_groupsView->setToolTip(tr("param_groups: double-click a cell to select it in the tree"));

    m_paramsProxy->setSourceModel(m_paramsModel);
    m_paramsProxy->setSortRole(SortRole);
    m_paramsProxy->setFilterKeyColumn(OptimizerParamsModel::NameColumn);
    m_paramsProxy->setFilterCaseSensitivity(Qt::CaseInsensitive);
    setupTable(m_paramsView);
    m_paramsView->setModel(m_paramsProxy);
    m_paramsView->setSortingEnabled(true);
    m_paramsView->sortByColumn(OptimizerParamsModel::IdColumn, Qt::AscendingOrder);
    m_paramsView->setContextMenuPolicy(Qt::CustomContextMenu);
    m_paramsView->horizontalHeader()->setSectionsMovable(true);

    m_filter->setPlaceholderText(tr("Filter parameters by name (* ? wildcards)"));
    m_filter->setClearButtonEnabled(true);
    connect(m_filter, &QLineEdit::textChanged, this, [this](const QString &text) {
        m_paramsProxy->setFilterRegularExpression(QRegularExpression(
            QRegularExpression::wildcardToRegularExpression(text.contains(QLatin1Char('*')) || text.contains(QLatin1Char('?'))
                                                                 ? text
                                                                 : QLatin1Char('*') + text + QLatin1Char('*'),
                                                             QRegularExpression::UnanchoredWildcardConversion),
            QRegularExpression::CaseInsensitiveOption));
    });

    auto *groupsBox = new QWidget(this);
    auto *groupsLayout = new QVBoxLayout(groupsBox);
    groupsLayout->setContentsMargins(0, 0, 0, 0);
    m_groupsLabel = new QLabel(tr("<b>Parameter groups</b>"), groupsBox);
    groupsLayout->addWidget(m_groupsLabel);
    groupsLayout->addWidget(m_groupsView, 1);
    groupsLayout->addStretch(0);
    auto *paramsBox = new QWidget(this);
    auto *paramsLayout = new QVBoxLayout(paramsBox);
    paramsLayout->setContentsMargins(0, 0, 0, 0);
    auto *paramsHeader = new QHBoxLayout;
    paramsHeader->addWidget(new QLabel(tr("<b>Per-parameter state</b>"), paramsBox));
    paramsHeader->addWidget(m_filter, 1);
    paramsLayout->addLayout(paramsHeader);
    paramsLayout->addWidget(m_paramsView, 1);
    m_splitter->addWidget(groupsBox);
    m_splitter->addWidget(paramsBox);
    m_splitter->setStretchFactor(0, 0);
    m_splitter->setStretchFactor(1, 1);
    m_splitter->setSizes({150, 600});
    m_splitter->setChildrenCollapsible(false);
    layout->addWidget(m_splitter, 1);

    connect(m_paramsView->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            [this](const QModelIndex &current) { onParamsCurrentChanged(current); });
    connect(m_paramsView, &QTableView::activated, this, [this](const QModelIndex &index) {
        const QString path = index.data(PathRole).toString();
        if (!path.isEmpty())
            emit tensorRequested(path);
    });
    connect(m_paramsView, &QWidget::customContextMenuRequested, this, &OptimizerPanel::showContextMenu);
    connect(m_groupsView, &QTableView::activated, this, [this](const QModelIndex &index) {
        const QString path = index.data(PathRole).toString();
        if (!path.isEmpty())
            emit pathActivated(path);
    });

    connect(m_cancel, &QToolButton::clicked, m_job, &TensorSummaryJob::cancel);
    connect(m_job, &TensorSummaryJob::progressChanged, m_progress, &QProgressBar::setValue);
    connect(m_job, &TensorSummaryJob::resultsReady, this, [this](const QList<TensorSummary> &results) {
        m_paramsModel->setSummaries(results);
        updateProgress();
    });
    connect(m_job, &TensorSummaryJob::finished, this, [this] {
        m_progressRow->hide();
        emit busyChanged(false);
    });
    connect(m_job, &TensorSummaryJob::canceled, this, [this] {
        m_progressRow->hide();
        m_summary->setText(m_summaryText + tr("<br><i>Norms cancelled: %1 state tensors not computed "
                                              "(select the optimizer again to compute them).</i>")
                                               .arg(m_paramsModel->pendingCount()));
        emit busyChanged(false);
    });
}

OptimizerPanel::~OptimizerPanel() = default;

void OptimizerPanel::setOptimizer(std::shared_ptr<const TrainingOverview> overview, int index)
{
    if (overview && overview == m_overview && index == m_index && m_paramsModel->optimizer()) {
        // Shown again (back from a parameter): keep sorting, selection and computed norms.
        if (m_paramsModel->pendingCount() > 0 && !m_job->isRunning()) {
            m_summary->setText(m_summaryText);
            m_progressRow->show();
            m_job->start(m_overview->data, m_paramsModel->optimizer()->statTensors());
            emit busyChanged(true);
        }
        return;
    }
    m_job->cancel();
    m_overview = std::move(overview);
    m_index = index;
    m_groupsModel->setOptimizer(m_overview, index);
    m_paramsModel->setOptimizer(m_overview, index);
    const OptimizerInfo *o = m_paramsModel->optimizer();
    if (!o) {
        clear();
        return;
    }
    m_title->setText(o->typeHint.isEmpty() ? tr("Optimizer %1").arg(o->path)
                                           : tr("Optimizer %1 — %2").arg(o->path, o->typeHint));
    const int unnamed = static_cast<int>(o->params.size()) - o->namedCount;
    QString text = tr("%1 in %2. ").arg(countNoun(o->params.size(), "parameter", "parameters"),
                                       countNoun(o->groups.size(), "group", "groups"));
    if (o->modelPath.isEmpty())
        text += tr("No model state dict was found to map the ids to names.");
    else
        text += tr("Ids mapped against <b>%1</b>: %2 named").arg(o->modelPath.toHtmlEscaped()).arg(o->namedCount);
    if (unnamed > 0 && !o->modelPath.isEmpty())
        text += tr("; <span style='color:%2'>%1 not certain (shown by id, never by a guessed name)</span>")
                    .arg(unnamed)
                    .arg(toneColor(Tone::Warning).name());
    text += QLatin1Char('.');
    m_summaryText = text;
    m_summary->setText(text);

    for (int c = 0; c < m_groupsModel->columnCount(); ++c)
        m_groupsView->resizeColumnToContents(c);
    // The groups table as tall as its rows (up to 8), the parameters below get the rest.
    const int groupsHeight = m_groupsView->horizontalHeader()->sizeHint().height()
                             + m_groupsView->verticalHeader()->defaultSectionSize()
                                   * std::max(1, std::min(m_groupsModel->rowCount(), 8))
                             + 2 * m_groupsView->frameWidth() + 2
                             + (m_groupsView->horizontalScrollBar()->isVisible()
                                    ? m_groupsView->horizontalScrollBar()->sizeHint().height() : 0);
    m_groupsView->setMaximumHeight(groupsHeight + 24);
    const int total = m_splitter->height() > 100 ? m_splitter->height() : 700;
    const int top = groupsHeight + m_groupsLabel->sizeHint().height() + 8;
    m_splitter->setSizes({top, std::max(100, total - top)});
    m_paramsView->sortByColumn(OptimizerParamsModel::IdColumn, Qt::AscendingOrder);
    for (int c = 0; c < OptimizerParamsModel::FirstStateColumn; ++c)
        m_paramsView->resizeColumnToContents(c);
    m_paramsView->setColumnWidth(OptimizerParamsModel::NameColumn,
                                 std::clamp(m_paramsView->columnWidth(OptimizerParamsModel::NameColumn), 120, 320));
    const QFontMetrics fm = m_paramsView->horizontalHeader()->fontMetrics();
    for (int c = OptimizerParamsModel::FirstStateColumn; c < m_paramsModel->columnCount(); ++c)
        m_paramsView->setColumnWidth(
            c, std::max(96, fm.horizontalAdvance(m_paramsModel->headerData(c, Qt::Horizontal).toString()) + 28));

    const std::vector<int> tensors = o->statTensors();
    if (!tensors.empty()) {
        m_progress->setValue(0);
        m_progressLabel->setText(tr("Computing norms of %1…").arg(countNoun(tensors.size(), "state tensor", "state tensors")));
        m_progressRow->show();
        m_job->start(m_overview->data, tensors);
        emit busyChanged(true);
    } else {
        m_progressRow->hide();
    }
}

void OptimizerPanel::clear()
{
    m_job->cancel();
    m_overview.reset();
    m_index = -1;
    m_groupsModel->setOptimizer(nullptr, -1);
    m_paramsModel->setOptimizer(nullptr, -1);
    m_title->clear();
    m_summary->clear();
    m_progressRow->hide();
}

bool OptimizerPanel::isBusy() const
{
    return m_job->isRunning();
}

void OptimizerPanel::cancelWork()
{
    m_job->cancel();
}

void OptimizerPanel::updateProgress()
{
    const int pending = m_paramsModel->pendingCount();
    if (pending > 0)
        m_progressLabel->setText(tr("Computing norms: %1 to go…").arg(countNoun(pending, "state tensor", "state tensors")));
}

void OptimizerPanel::onParamsCurrentChanged(const QModelIndex &current)
{
    if (!current.isValid())
        return;
    const QString path = current.siblingAtColumn(OptimizerParamsModel::NameColumn).data(PathRole).toString();
    if (!path.isEmpty())
        emit parameterSelected(path);
}

void OptimizerPanel::showContextMenu(const QPoint &pos)
{
    const QModelIndex index = m_paramsView->indexAt(pos);
    if (!index.isValid())
        return;
    const OptimizerParamInfo *p = m_paramsModel->param(m_paramsProxy->mapToSource(index).row());
    if (!p)
        return;
    QMenu menu(this);
    const QString statePath = index.data(PathRole).toString();
    const int stateTensor = index.data(TensorKeyRole).toInt();
    if (stateTensor >= 0) {
        const QString key = m_paramsModel->stateKey(m_paramsProxy->mapToSource(index).column());
        menu.addAction(tr("Show Statistics of %1").arg(key), this, [this, statePath] { emit tensorRequested(statePath); });
    }
    if (!p->tensorPath.isEmpty())
        menu.addAction(tr("Show Parameter %1").arg(p->name), this, [this, p] { emit tensorRequested(p->tensorPath); });
    if (!p->statePath.isEmpty())
        menu.addAction(tr("Select Optimizer State in Tree"), this, [this, p] { emit pathActivated(p->statePath); });
    menu.addSeparator();
    const QString cell = index.data(Qt::DisplayRole).toString();
    menu.addAction(tr("Copy Value"), this, [cell] { QGuiApplication::clipboard()->setText(cell); });
    menu.exec(m_paramsView->viewport()->mapToGlobal(pos));
}

} // namespace ckpt
