// SPDX-License-Identifier: MIT
#include "trainingsummarypanel.h"

#include "modelroles.h"
#include "tensorsummaryjob.h"
#include "trainingsummarymodel.h"

#include <QHeaderView>
#include <QLabel>
#include <QTreeView>
#include <QVBoxLayout>

namespace ckpt {

TrainingSummaryPanel::TrainingSummaryPanel(QWidget *parent)
    : QWidget(parent)
    , m_hint(new QLabel(this))
    , m_model(new TrainingSummaryModel(this))
    , m_view(new QTreeView(this))
    , m_job(new TensorSummaryJob(this))
{
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 4, 0, 0);
    layout->setSpacing(4);
    m_hint->setWordWrap(true);
    m_hint->setStyleSheet(QStringLiteral("color: palette(dark);"));
    m_hint->setText(tr("Double-click a row to select it in the tree; an optimizer opens its parameter tables."));
    layout->addWidget(m_hint);
    m_view->setModel(m_model);
    m_view->setUniformRowHeights(true);
    m_view->setAlternatingRowColors(true);
    m_view->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_view->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_view->header()->setStretchLastSection(true);
    m_view->setColumnWidth(TrainingSummaryModel::NameColumn, 300);
    layout->addWidget(m_view, 1);

    connect(m_view, &QTreeView::activated, this, [this](const QModelIndex &index) {
        const QString path = index.siblingAtColumn(0).data(PathRole).toString();
        if (!path.isEmpty())
            emit pathActivated(path);
    });
    connect(m_job, &TensorSummaryJob::resultsReady, m_model, &TrainingSummaryModel::setSummaries);
    connect(m_job, &TensorSummaryJob::finished, this, [this] { emit busyChanged(false); });
    connect(m_job, &TensorSummaryJob::canceled, this, [this] { emit busyChanged(false); });
}

TrainingSummaryPanel::~TrainingSummaryPanel() = default;

void TrainingSummaryPanel::setOverview(std::shared_ptr<const TrainingOverview> overview)
{
    m_job->cancel();
    m_model->setOverview(overview);
    m_view->expandAll();
    const std::vector<int> tensors = m_model->wantedTensors();
    if (overview && !tensors.empty()) {
        m_job->start(overview->data, tensors);
        emit busyChanged(true);
    }
}

bool TrainingSummaryPanel::isEmpty() const
{
    return m_model->rowCount() == 0;
}

bool TrainingSummaryPanel::isBusy() const
{
    return m_job->isRunning();
}

void TrainingSummaryPanel::cancelWork()
{
    m_job->cancel();
}

} // namespace ckpt
