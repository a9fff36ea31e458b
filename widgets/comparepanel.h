// SPDX-License-Identifier: MIT
#pragma once

#include "checkpointloadjob.h"
#include "diffengine.h"

#include <QWidget>

class QCheckBox;
class QComboBox;
class QFileSystemWatcher;
class QLabel;
class QLineEdit;
class QProgressBar;
class QSplitter;
class QStackedWidget;
class QTableView;
class QTimer;
class QToolButton;

namespace ckpt {

class CheckpointTreeView;
class CompareTensorPanel;
class DiffFilterProxyModel;
class DiffJob;
class DiffModel;
class DiffValueModel;
class MessageBar;

/// A comparison of two checkpoints (PRODUCT.md 3, "Compare"): both files read in the
/// background, aligned by path (a wrapper prefix such as `module.` stripped when detected or
/// given), then the change metrics computed with progress and Cancel, rows filling in as they
/// finish. One tree with A and B columns (rows aligned by construction), a status column with
/// colours and module roll-ups, "only differences", a filter, sortable metric columns; the
/// hyperparameter and scalar differences in a table; for a selected tensor the overlaid
/// histograms, the histogram of B − A and its heat-map (CompareTensorPanel).
class ComparePanel : public QWidget
{
    Q_OBJECT
public:
    explicit ComparePanel(QWidget *parent = nullptr);
    ~ComparePanel() override;

    void open(const QString &pathA, const QString &pathB);
    /// Reads both files again and compares them anew, keeping the selection.
    void reload();
    /// Reload when A or B changes on disk (on by default; PRODUCT.md 3: a training run
    /// overwriting `last.ckpt`): the work reading the files stops at once, and both are read
    /// again when the writer has been quiet for 0.8 s.
    void setWatchingFiles(bool watch);
    void cancel();
    QString pathA() const { return m_pathA; }
    QString pathB() const { return m_pathB; }
    /// "a.pt ⇄ b.pt".
    QString title() const;
    bool isLoading() const;
    /// Loading, comparing, or computing the selected tensor's histograms.
    bool isBusy() const;
    /// All metrics computed (false while loading or comparing, or after Cancel).
    bool isComplete() const { return m_complete; }

    /// Prefix handling: kAutoPrefix detects a wrapper prefix, "" strips nothing, anything else
    /// is stripped from the keys of both files.
    static const QString kAutoPrefix;
    void setStripPrefix(const QString &prefix);
    QString stripPrefix() const;
    void setOnlyDifferences(bool only);
    void setFilterText(const QString &text);
    void focusFilter();
    /// Selects the row of an entry path (`model_state_dict/conv1.weight`) or tree path, now or
    /// once the comparison is aligned. False when an aligned comparison has no such row.
    bool selectPath(const QString &path);
    QString currentPath() const;
    /// Sorts the tree by relative L2 change, largest first.
    void sortByChange();

    const LoadedCheckpoint &loadedA() const { return m_a; }
    const LoadedCheckpoint &loadedB() const { return m_b; }
    DiffModel *model() const { return m_model; }
    DiffFilterProxyModel *proxy() const { return m_proxy; }
    DiffValueModel *valueModel() const { return m_values; }
    DiffFilterProxyModel *valueProxy() const { return m_valueProxy; }
    CheckpointTreeView *treeView() const { return m_tree; }
    QTableView *valuesView() const { return m_valuesView; }
    CompareTensorPanel *tensorPanel() const { return m_tensorPanel; }
    QCheckBox *onlyDifferencesBox() const { return m_onlyDiff; }
    QLineEdit *filterEdit() const { return m_filter; }
    QComboBox *prefixBox() const { return m_prefix; }
    QLabel *prefixLabel() const { return m_prefixInfo; }
    QLabel *summaryLabel() const { return m_summary; }
    /// What the comparison is doing ("Reading both files…", "compared in 12 ms", ...).
    QLabel *stageLabel() const { return m_stage; }
    MessageBar *errorBar() const { return m_errorBar; }

signals:
    /// Both files read and aligned (metrics may still be running).
    void aligned();
    /// Every metric computed.
    void compared();
    void busyChanged(bool busy);
    /// The tab title or status-bar facts changed.
    void statusChanged();
    void message(const QString &text);

protected:
    /// The first time the panel has its size, the aligned tree gets 62 % of it.
    void resizeEvent(QResizeEvent *event) override;

private:
    void startLoad();
    void onLoaded(bool isB, const LoadedCheckpoint &result);
    void startDiff();
    void onAligned(std::shared_ptr<const DiffResult> result);
    void onEntriesComputed(const std::vector<std::pair<int, DiffEntry>> &batch);
    void onCurrentChanged(const QModelIndex &current);
    void updateSummary();
    void updateBusy();
    QString changedText() const;
    void showDetailsFor(const QModelIndex &source);

    QString m_pathA, m_pathB;
    LoadedCheckpoint m_a, m_b;
    CheckpointLoadJob *m_jobA;
    CheckpointLoadJob *m_jobB;
    DiffJob *m_diff;
    DiffModel *m_model;
    DiffFilterProxyModel *m_proxy;
    DiffValueModel *m_values;
    DiffFilterProxyModel *m_valueProxy;
    int m_progressA = 0, m_progressB = 0;

    MessageBar *m_errorBar;
    QLabel *m_files;
    QComboBox *m_prefix;
    QLabel *m_prefixInfo;
    QLabel *m_summary;
    QLabel *m_stage;
    QProgressBar *m_progress;
    QToolButton *m_cancel;
    QSplitter *m_splitter;
    QLineEdit *m_filter;
    QTimer *m_filterTimer;
    QCheckBox *m_onlyDiff;
    CheckpointTreeView *m_tree;
    bool m_splitterPlaced = false;
    QTableView *m_valuesView;
    QStackedWidget *m_details;
    QLabel *m_placeholder;
    CompareTensorPanel *m_tensorPanel;

    QFileSystemWatcher *m_watcher;
    QTimer *m_reloadTimer;
    bool m_watching = true;

    QString m_pendingSelection;
    bool m_complete = false;
    bool m_lastBusy = false;
};

} // namespace ckpt
