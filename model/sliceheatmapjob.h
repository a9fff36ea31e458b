// SPDX-License-Identifier: MIT
#pragma once

#include "tensorslicemodel.h"

#include <QFutureWatcher>
#include <QObject>

#include <memory>
#include <vector>

namespace ckpt {

/// A (possibly sampled) grid of one slice's values, for the heat-map.
struct HeatmapGrid
{
    int tensor = -1;
    SliceSpec slice;
    std::int64_t fullRows = 0;  ///< the slice's extent
    std::int64_t fullCols = 0;
    int rows = 0;               ///< grid extent (≤ maxCells per side)
    int cols = 0;
    std::int64_t rowStep = 1;   ///< grid cell (r, c) = slice element (r*rowStep, c*colStep)
    std::int64_t colStep = 1;
    std::vector<double> values; ///< rows*cols, row-major; magnitude for complex
    double min = 0;             ///< over the finite values
    double max = 0;
    bool hasFinite = false;
    QString error;
    quint64 generation = 0;
};

/// Reads a slice for the heat-map off the UI thread, sampling every rowStep-th/colStep-th
/// element so that the grid stays at most `maxSide` per side. Thread affinity: the GUI thread.
class SliceHeatmapJob : public QObject
{
    Q_OBJECT
public:
    explicit SliceHeatmapJob(QObject *parent = nullptr);
    ~SliceHeatmapJob() override;

    quint64 start(CheckpointPtr data, int tensor, const SliceSpec &slice, int maxSide = 512);
    void cancel();
    bool isRunning() const;

    static HeatmapGrid compute(const CheckpointPtr &data, int tensor, const SliceSpec &slice,
                               int maxSide, const std::function<bool()> &canceled = {});

signals:
    void finished(const ckpt::HeatmapGrid &grid);
    void canceled();

private:
    quint64 m_generation = 0;
    bool m_running = false;
    std::unique_ptr<QFutureWatcher<HeatmapGrid>> m_watcher;
};

} // namespace ckpt

Q_DECLARE_METATYPE(ckpt::HeatmapGrid)
