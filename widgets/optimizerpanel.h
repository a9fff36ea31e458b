// SPDX-License-Identifier: MIT
#pragma once

#include "trainingoverview.h"

#include <QWidget>

class QLabel;
class QLineEdit;
class QProgressBar;
class QSortFilterProxyModel;
class QSplitter;
class QTableView;
class QToolButton;

namespace ckpt {

class OptimizerParamsModel;
class ParamGroupsModel;
class TensorSummaryJob;

/// An optimizer state dict: its `param_groups` as a table (one row per group, a column per
/// hyper-parameter, the number of parameters) and the per-parameter state (id, name or a
/// warned id, shape, group, step, norm and mean of every state tensor) in a sortable,
/// filterable table. Norms and means are computed in the background (progress, Cancel) and
/// fill the columns as they arrive. Selecting a row asks for the parameter to be selected in
/// the tree (parameterSelected); double-click or the context menu on a state cell asks for that
/// state tensor to be shown (tensorRequested). Thread affinity: GUI thread.
class OptimizerPanel : public QWidget
{
    Q_OBJECT
public:
    explicit OptimizerPanel(QWidget *parent = nullptr);
    ~OptimizerPanel() override;

    /// Shows optimizer `index` of `overview`; starts computing its state tensors' norms.
    void setOptimizer(std::shared_ptr<const TrainingOverview> overview, int index);
    void clear();
    bool isBusy() const;
    void cancelWork();

    ParamGroupsModel *groupsModel() const { return m_groupsModel; }
    OptimizerParamsModel *paramsModel() const { return m_paramsModel; }
    QSortFilterProxyModel *paramsProxy() const { return m_paramsProxy; }
    QTableView *groupsView() const { return m_groupsView; }
    QTableView *paramsView() const { return m_paramsView; }
    QLineEdit *filterEdit() const { return m_filter; }
    QLabel *summary() const { return m_summary; }
    QSplitter *splitter() const { return m_splitter; }
    TensorSummaryJob *job() const { return m_job; }

signals:
    /// The user selected a parameter row: `path` is the model parameter's raw path (or the
    /// parameter's optimizer state when the name is not certain).
    void parameterSelected(const QString &path);
    /// Show this tensor's statistics/histogram (raw path of a state tensor or a parameter).
    void tensorRequested(const QString &path);
    /// Select this node in the tree (a group row, an entry).
    void pathActivated(const QString &path);
    void busyChanged(bool busy);

private:
    void onParamsCurrentChanged(const QModelIndex &current);
    void showContextMenu(const QPoint &pos);
    void updateProgress();

    std::shared_ptr<const TrainingOverview> m_overview;
    int m_index = -1;
    QString m_summaryText;
    QLabel *m_title;
    QLabel *m_summary;
    QSplitter *m_splitter;
    ParamGroupsModel *m_groupsModel;
    QTableView *m_groupsView;
    QLabel *m_groupsLabel = nullptr;
    OptimizerParamsModel *m_paramsModel;
    QSortFilterProxyModel *m_paramsProxy;
    QTableView *m_paramsView;
    QLineEdit *m_filter;
    QWidget *m_progressRow;
    QLabel *m_progressLabel;
    QProgressBar *m_progress;
    QToolButton *m_cancel;
    TensorSummaryJob *m_job;
};

} // namespace ckpt
