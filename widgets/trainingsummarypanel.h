// SPDX-License-Identifier: MIT
#pragma once

#include "trainingoverview.h"

#include <QWidget>

class QLabel;
class QTreeView;

namespace ckpt {

class TensorSummaryJob;
class TrainingSummaryModel;

/// The training state of a file at a glance: epoch / step / loss counters, every optimizer with
/// the lr of each group, schedulers (type hint, last lr), grad scalers and the arguments /
/// hyper-parameters. Values of 0-d tensors are read in the background. Activating a row asks
/// for its tree node (an optimizer row opens the optimizer panel). Thread affinity: GUI thread.
class TrainingSummaryPanel : public QWidget
{
    Q_OBJECT
public:
    explicit TrainingSummaryPanel(QWidget *parent = nullptr);
    ~TrainingSummaryPanel() override;

    void setOverview(std::shared_ptr<const TrainingOverview> overview);
    bool isEmpty() const;
    bool isBusy() const;
    void cancelWork();

    TrainingSummaryModel *model() const { return m_model; }
    QTreeView *view() const { return m_view; }
    TensorSummaryJob *job() const { return m_job; }

signals:
    /// Select the node at this raw path in the tree.
    void pathActivated(const QString &path);
    void busyChanged(bool busy);

private:
    QLabel *m_hint;
    TrainingSummaryModel *m_model;
    QTreeView *m_view;
    TensorSummaryJob *m_job;
};

} // namespace ckpt
