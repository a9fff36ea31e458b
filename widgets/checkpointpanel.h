// SPDX-License-Identifier: MIT
#pragma once

#include "checkpointloadjob.h"
#include "trainingoverview.h"

#include <QWidget>

class QFileSystemWatcher;
class QLabel;
class QLineEdit;
class QProgressBar;
class QSplitter;
class QStackedWidget;
class QTimer;
class QToolButton;

namespace ckpt {

class CheckpointTreeModel;
class CheckpointTreeView;
class TensorHealthScanJob;
class KeyValuePanel;
class MessageBar;
class ModulePanel;
class OptimizerPanel;
class SummaryPanel;
class TensorDetailsPanel;
class TensorFilterProxyModel;

/// One open checkpoint: reading in the background with progress, an error bar naming record
/// and offset (with the readable part still browsable), the filterable tree and the details of
/// the selected row. Reloads when the file changes on disk, keeping selection and expansion.
class CheckpointPanel : public QWidget
{
    Q_OBJECT
public:
    explicit CheckpointPanel(QWidget *parent = nullptr);
    ~CheckpointPanel() override;

    void open(const QString &path);
    void reload();
    void cancelLoad();
    QString filePath() const { return m_path; }
    bool isLoading() const;
    /// Loading, or computing statistics / histograms / heat-maps for what is shown.
    bool isBusy() const;
    bool hasCheckpoint() const { return m_loaded.data != nullptr; }
    const LoadedCheckpoint &loaded() const { return m_loaded; }

    /// Selects the row at `path` (raw `a/conv1.weight` or tree form `a/conv1/weight`), now or
    /// once loading has finished. Returns false when a loaded tree has no such row.
    bool selectPath(const QString &path);
    QString currentPath() const;
    void focusFilter();
    void setFilterText(const QString &text);
    QString copyCurrentPath();
    void setWatchingFile(bool watch);
    /// Shows the Values tab (true) or the Statistics tab of tensor details.
    void showValuesTab(bool values);
    /// The tensor details tab to show (the Chunks tab once a DCP tensor is selected).
    void showTensorTab(int tab);
    /// Checks every tensor for NaN, ±Inf and all zeros in the background and marks the tree.
    void checkAllTensors();
    bool isCheckingTensors() const;
    /// Shows only the tensors found with NaN, ±Inf or only zeros.
    void setShowFlaggedOnly(bool flaggedOnly);
    /// Files whose tensors total at most this many bytes are checked right after opening.
    static constexpr std::uint64_t kAutoCheckBytes = 64ull << 20;

    QByteArray saveLayout() const;
    void restoreLayout(const QByteArray &state);

    CheckpointTreeModel *model() const { return m_model; }
    TensorFilterProxyModel *proxy() const { return m_proxy; }
    CheckpointTreeView *treeView() const { return m_tree; }
    QLineEdit *filterEdit() const { return m_filter; }
    MessageBar *errorBar() const { return m_errorBar; }
    QStackedWidget *details() const { return m_details; }
    TensorDetailsPanel *tensorDetails() const { return m_tensorPanel; }
    ModulePanel *modulePanel() const { return m_modulePanel; }
    KeyValuePanel *keyValuePanel() const { return m_keyValuePanel; }
    SummaryPanel *summaryPanel() const { return m_summaryPanel; }
    OptimizerPanel *optimizerPanel() const { return m_optimizerPanel; }
    /// Training state recognised in the loaded file (optimizers, counters, ...), or nullptr.
    const std::shared_ptr<const TrainingOverview> &training() const { return m_training; }
    QWidget *placeholder() const { return m_placeholder; }
    QSplitter *splitter() const { return m_splitter; }

signals:
    void loadFinished();
    void busyChanged(bool busy);
    /// Status-bar facts or the tab title changed.
    void statusChanged();
    /// A transient message for the status bar.
    void message(const QString &text);

private:
    void startLoad();
    void onLoaded(const LoadedCheckpoint &result);
    void onCurrentChanged(const QModelIndex &current);
    void applyFilter();
    void expandDefault();
    void warmUpDetails();
    void updateBusy();
    void onScanFinished(int checked, int flagged);
    bool startsAtZero(int tensor) const;
    QStringList expandedPaths() const;
    void restoreExpanded(const QStringList &paths);
    /// Selects `path` in the tree but leaves the details area as it is (optimizer rows).
    bool selectPathKeepingDetails(const QString &path);

    void watchFiles(); ///< watches every file the checkpoint was read from

    QString m_path;
    LoadedCheckpoint m_loaded;
    CheckpointLoadJob *m_job;
    CheckpointTreeModel *m_model;
    TensorFilterProxyModel *m_proxy;

    MessageBar *m_errorBar;
    QWidget *m_loadingRow;
    QLabel *m_loadingLabel;
    QProgressBar *m_progress;
    QToolButton *m_cancel;
    QSplitter *m_splitter;
    QLineEdit *m_filter;
    QTimer *m_filterTimer;
    CheckpointTreeView *m_tree;
    QStackedWidget *m_details;
    QWidget *m_placeholder;
    TensorDetailsPanel *m_tensorPanel;
    ModulePanel *m_modulePanel;
    KeyValuePanel *m_keyValuePanel;
    SummaryPanel *m_summaryPanel;
    OptimizerPanel *m_optimizerPanel;
    std::shared_ptr<const TrainingOverview> m_training;
    bool m_keepDetails = false;
    bool m_warmedUp = false;

    TensorHealthScanJob *m_scan;
    int m_scanNonFinite = 0;
    int m_scanZero = 0;          ///< all-zero tensors that a fresh model would not have
    int m_scanExpectedZero = 0;  ///< all-zero buffers and biases (they start at zero)
    QFileSystemWatcher *m_watcher;
    QTimer *m_reloadTimer;
    bool m_watching = true;
    QString m_pendingSelection;
    QStringList m_pendingExpanded;
    bool m_reloading = false;
    bool m_lastBusy = false;
};

} // namespace ckpt
