// SPDX-License-Identifier: MIT
#pragma once

#include "sliceheatmapjob.h"

#include <QWidget>

class QCustomPlot;
class QCPColorMap;
class QCPColorScale;
class QCPItemText;
class QMouseEvent;

namespace ckpt {

/// A heat-map of one 2-D slice (QCPColorMap with a colour scale): row 0 at the top, a diverging
/// palette when the values straddle zero, hover read-out "[row, col] = value".
class HeatmapPlot : public QWidget
{
    Q_OBJECT
public:
    explicit HeatmapPlot(QWidget *parent = nullptr);
    ~HeatmapPlot() override;

    void setGrid(const HeatmapGrid &grid);
    void clear(const QString &message = {});
    bool hasData() const { return m_grid.rows > 0; }
    const HeatmapGrid &grid() const { return m_grid; }
    QString readout() const { return m_readout; }
    bool savePng(const QString &fileName, int width = 0, int height = 0);

signals:
    void readoutChanged(const QString &text);

private:
    void onMouseMove(QMouseEvent *event);
    void keepSquareCells();

    QCustomPlot *m_plot;
    QCPColorMap *m_map;
    QCPColorScale *m_scale;
    QCPItemText *m_message;
    HeatmapGrid m_grid;
    QString m_readout;
};

} // namespace ckpt
