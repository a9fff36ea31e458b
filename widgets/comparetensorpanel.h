// SPDX-License-Identifier: MIT
#pragma once

#include "diffengine.h"
#include "tensorcomparejob.h"

#include <QWidget>

#include <vector>

class QCheckBox;
class QComboBox;
class QHBoxLayout;
class QLabel;
class QProgressBar;
class QSpinBox;
class QSplitter;
class QTimer;
class QToolButton;

namespace ckpt {

class CompareHistogramPlot;
class HeatmapPlot;
class HistogramPlot;

/// One tensor of a comparison: status and change metrics, both histograms overlaid on the same
/// bins, the histogram of B − A, and B − A on a 2-D slice as a heat-map (pick the row and
/// column axes and the index of every other axis). Everything is computed in the background
/// with progress and Cancel.
class CompareTensorPanel : public QWidget
{
    Q_OBJECT
public:
    explicit CompareTensorPanel(QWidget *parent = nullptr);
    ~CompareTensorPanel() override;

    void setNames(const QString &a, const QString &b);
    /// Shows `entry` (a tensor entry of a comparison of `a` and `b`) and starts computing.
    void setEntry(CheckpointPtr a, CheckpointPtr b, const DiffEntry &entry);
    /// The same entry with its metrics computed: updates the header only.
    void updateEntry(const DiffEntry &entry);
    const DiffEntry &entry() const { return m_entry; }
    void clear();
    bool isBusy() const;
    void cancelWork();
    void setBins(int bins);
    void setSlice(const SliceSpec &slice);
    SliceSpec slice() const { return m_slice; }
    /// The default heat-map slice: the two longest axes (conv weights: out × in channels).
    static SliceSpec defaultSlice(const std::vector<std::int64_t> &shape);

    const TensorComparison &comparison() const { return m_result; }
    CompareHistogramPlot *overlay() const { return m_overlay; }
    HistogramPlot *differencePlot() const { return m_diffPlot; }
    HeatmapPlot *heatmap() const { return m_heatmap; }
    QLabel *headerLabel() const { return m_header; }
    QLabel *metricsLabel() const { return m_metrics; }

signals:
    void busyChanged(bool busy);
    /// Histograms and heat-map of the current entry are shown.
    void computed();

private:
    void startHistograms();
    void startHeatmap();
    void onFinished(const TensorComparison &result);
    void onHeatmapFinished(const TensorComparison &result);
    void rebuildSliceControls();
    void applySliceControls();
    void updateHeader();
    void updateBusy();

    TensorCompareJob *m_job;
    TensorCompareJob *m_heatmapJob;
    QLabel *m_header;
    QLabel *m_metrics;
    QSpinBox *m_bins;
    QCheckBox *m_log;
    QProgressBar *m_progress;
    QToolButton *m_cancel;
    QSplitter *m_splitter;
    CompareHistogramPlot *m_overlay;
    HistogramPlot *m_diffPlot;
    QLabel *m_diffStats;
    HeatmapPlot *m_heatmap;
    QComboBox *m_rowAxis;
    QComboBox *m_colAxis;
    QHBoxLayout *m_indexLayout;
    std::vector<QSpinBox *> m_indices;
    QTimer *m_debounce;

    CheckpointPtr m_a, m_b;
    DiffEntry m_entry;
    TensorComparison m_result;
    SliceSpec m_slice;
    std::vector<std::int64_t> m_shape; ///< the shape B − A is shown on (equal shapes only)
    QString m_nameA = QStringLiteral("A"), m_nameB = QStringLiteral("B");
    bool m_updating = false;
    bool m_lastBusy = false;
};

} // namespace ckpt
