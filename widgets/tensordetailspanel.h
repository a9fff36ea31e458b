// SPDX-License-Identifier: MIT
#pragma once

#include "checkpointtree.h"
#include "tensorstatsjob.h"

#include <QHash>
#include <QWidget>

class QLabel;
class QSplitter;
class QTabWidget;
class QTableView;

namespace ckpt {

class ChunkGrid;
class ChunkTableModel;
class HistogramPanel;
class StatsTableModel;
class TensorValuesPanel;

/// Everything about one tensor: a header (path, dtype, shape, strides, storage and offset,
/// device, requires_grad, other paths sharing the storage), a Statistics tab (table and
/// histogram, computed in the background with progress and cancel) and a Values tab (2-D slice
/// table and heat-map). A result for a tensor no longer shown is dropped.
class TensorDetailsPanel : public QWidget
{
    Q_OBJECT
public:
    enum Tab { StatisticsTab, ValuesTab, ChunksTab };

    explicit TensorDetailsPanel(QWidget *parent = nullptr);
    ~TensorDetailsPanel() override;

    void setTensor(std::shared_ptr<const CheckpointTree> tree, const TreeNode *node);
    void clear();
    /// Stops background work (the file is about to change under the map).
    void cancelWork();
    int tensor() const { return m_tensor; }
    bool isBusy() const;
    void setCurrentTab(Tab tab);

    QLabel *header() const { return m_header; }
    StatsTableModel *statsModel() const { return m_statsModel; }
    QTableView *statsView() const { return m_statsView; }
    HistogramPanel *histogram() const { return m_histogram; }
    TensorValuesPanel *values() const { return m_values; }
    QTabWidget *tabs() const { return m_tabs; }
    QSplitter *statsSplitter() const { return m_statsSplitter; }
    /// The Chunks tab (DCP tensors only): who holds what.
    ChunkGrid *chunkGrid() const { return m_chunkGrid; }
    ChunkTableModel *chunkModel() const { return m_chunkModel; }
    QTableView *chunkView() const { return m_chunkView; }
    /// The last statistics shown (for tests and the status bar).
    const StatsResult *currentResult() const;

signals:
    /// Statistics of `tensor` became known (health flags for the tree).
    void statsComputed(int tensor, const ckpt::format::TensorStats &stats);
    void busyChanged(bool busy);

private:
    void startStats();
    void showChunks();
    void showResult(const StatsResult &result);
    QString requestKey() const;
    QString headerHtml(const TreeNode *node) const;

    std::shared_ptr<const CheckpointTree> m_tree;
    int m_tensor = -1;
    QString m_path;
    QLabel *m_title;
    QLabel *m_header;
    QTabWidget *m_tabs;
    QSplitter *m_statsSplitter;
    StatsTableModel *m_statsModel;
    QTableView *m_statsView;
    QLabel *m_statsNote;
    HistogramPanel *m_histogram;
    TensorValuesPanel *m_values;
    ChunkGrid *m_chunkGrid;
    ChunkTableModel *m_chunkModel;
    QTableView *m_chunkView;
    QLabel *m_chunkNote;
    Tab m_preferredTab = StatisticsTab;
    bool m_fallingBack = false;
    TensorStatsJob *m_job;
    QHash<QString, StatsResult> m_cache;
    QString m_shownKey;
};

} // namespace ckpt
