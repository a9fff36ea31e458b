// SPDX-License-Identifier: MIT
#pragma once

#include "sliceheatmapjob.h"
#include "tensorslicemodel.h"

#include <QWidget>

#include <vector>

class QComboBox;
class QHBoxLayout;
class QLabel;
class QSpinBox;
class QSplitter;
class QTableView;

namespace ckpt {

class HeatmapPlot;

/// The values of a tensor: a 2-D slice of any N-D tensor (pick the row and column axes and an
/// index for every other axis) in a table that reads only the visible cells, and a heat-map of
/// the same slice computed in the background.
class TensorValuesPanel : public QWidget
{
    Q_OBJECT
public:
    explicit TensorValuesPanel(QWidget *parent = nullptr);
    ~TensorValuesPanel() override;

    void setTensor(CheckpointPtr checkpoint, int tensor);
    void clear();
    void setSlice(const SliceSpec &spec);
    SliceSpec slice() const { return m_model->slice(); }
    /// The heat-map is only computed while the panel is active (visible tab).
    void setActive(bool active);
    bool isBusy() const;
    void cancelWork();

    TensorSliceModel *model() const { return m_model; }
    QTableView *table() const { return m_table; }
    HeatmapPlot *heatmap() const { return m_heatmap; }
    QComboBox *rowAxisBox() const { return m_rowAxis; }
    QComboBox *columnAxisBox() const { return m_colAxis; }
    /// The index spin box of `axis` (nullptr for the row/column axes).
    QSpinBox *indexBox(int axis) const;
    QSplitter *splitter() const { return m_splitter; }

signals:
    void busyChanged(bool busy);

private:
    void rebuildControls();
    void syncControls();
    void applyControls();
    void refreshHeatmap();
    void updateInfo();

    TensorSliceModel *m_model;
    SliceHeatmapJob *m_job;
    QComboBox *m_rowAxis;
    QComboBox *m_colAxis;
    QWidget *m_indexBox;
    QHBoxLayout *m_indexLayout;
    std::vector<QSpinBox *> m_indices;
    QLabel *m_info;
    QLabel *m_message;
    QSplitter *m_splitter;
    QTableView *m_table;
    HeatmapPlot *m_heatmap;
    CheckpointPtr m_data;
    int m_tensor = -1;
    bool m_active = false;
    bool m_heatmapStale = true;
    bool m_updating = false;
};

} // namespace ckpt
