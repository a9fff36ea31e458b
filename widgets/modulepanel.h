// SPDX-License-Identifier: MIT
#pragma once

#include "checkpointtree.h"
#include "tensorstatsjob.h"

#include <QWidget>

class QLabel;
class QPushButton;
class QSplitter;
class QTableView;
class QTreeView;

namespace ckpt {

class CheckpointTreeModel;
class DTypeMixModel;
class HistogramPanel;
class TensorFilterProxyModel;

/// A module node (or a state dict): parameter and byte totals, the dtype mix, a table of its
/// children, and an aggregate histogram of all its floating-point weights (background job).
class ModulePanel : public QWidget
{
    Q_OBJECT
public:
    /// The heading above the module's summary (tests).
    QLabel *titleLabel() const { return m_title; }
    /// Aggregate histograms of more elements than this wait for a click.
    static constexpr std::uint64_t kAutoHistogramElements = 50'000'000;

    explicit ModulePanel(CheckpointTreeModel *treeModel, QWidget *parent = nullptr);
    ~ModulePanel() override;

    void setNode(std::shared_ptr<const CheckpointTree> tree, const TreeNode *node);
    void clear();
    bool isBusy() const;
    void cancelWork();

    QTreeView *childrenView() const { return m_children; }
    DTypeMixModel *dtypeModel() const { return m_dtypeModel; }
    HistogramPanel *histogram() const { return m_histogram; }
    QSplitter *splitter() const { return m_splitter; }
    /// Tensors the aggregate histogram covers.
    const std::vector<int> &weightTensors() const { return m_weights; }

signals:
    /// A child row was activated (double-click/Enter): source index of the tree model.
    void childActivated(const QModelIndex &sourceIndex);
    void busyChanged(bool busy);
    /// Statistics of the aggregate are known.
    void aggregateComputed(const ckpt::StatsResult &result);

private:
    void startHistogram();
    void fitSplitter();

    CheckpointTreeModel *m_treeModel;
    std::shared_ptr<const CheckpointTree> m_tree;
    const TreeNode *m_node = nullptr;
    QLabel *m_title;
    QLabel *m_summary;
    QSplitter *m_splitter;
    TensorFilterProxyModel *m_proxy;
    QTreeView *m_children;
    DTypeMixModel *m_dtypeModel;
    QTableView *m_dtypeView;
    HistogramPanel *m_histogram;
    QPushButton *m_compute;
    TensorStatsJob *m_job;
    std::vector<int> m_weights;
    std::uint64_t m_weightElements = 0;
    int m_childRows = 0;
};

} // namespace ckpt
