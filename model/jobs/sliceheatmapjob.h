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
    /// Grid cell (r, c) covers the slice's rows [r*rowStep, (r+1)*rowStep) and columns
    /// [c*colStep, (c+1)*colStep) and holds the value of largest magnitude among them (sign
    /// kept; NaN wins over everything, then ±Inf): an outlier or a NaN is never sampled away.
    std::int64_t rowStep = 1;
    std::int64_t colStep = 1;
    std::vector<double> values; ///< rows*cols, row-major; magnitude for complex
    /// Slices beyond kExhaustiveElements are read on a regular sub-grid of each block (then an
    /// outlier between the sampled elements can be missed, and the view says so).
    bool sampled = false;
    std::int64_t nanCount = 0;  ///< NaN / ±Inf among the elements read
    std::int64_t infCount = 0;
    double min = 0;             ///< over the finite values
    double max = 0;
    bool hasFinite = false;
    QString error;
    quint64 generation = 0;
};

/// Reads a slice for the heat-map off the UI thread, reducing blocks of rowStep x colStep
/// elements to their value of largest magnitude so that the grid stays at most `maxSide` per
/// side. Thread affinity: the GUI thread.
class SliceHeatmapJob : public QObject
{
    Q_OBJECT
public:
    explicit SliceHeatmapJob(QObject *parent = nullptr);
    ~SliceHeatmapJob() override;

    /// Up to this many elements of a slice are all read; beyond, each block is sampled.
    static constexpr std::int64_t kExhaustiveElements = 16'000'000;

    quint64 start(CheckpointPtr data, int tensor, const SliceSpec &slice, int maxSide = 512);
    void cancel();
    bool isRunning() const;

    static HeatmapGrid compute(const CheckpointPtr &data, int tensor, const SliceSpec &slice,
                               int maxSide, const std::function<bool()> &canceled = {});
    /// B - A element by element on the same slice of two tensors of equal slice extent, reduced
    /// like compute() (each cell the difference of largest magnitude in its block).
    static HeatmapGrid computeDifference(const CheckpointPtr &a, int tensorA, const CheckpointPtr &b, int tensorB,
                                         const SliceSpec &slice, int maxSide,
                                         const std::function<bool()> &canceled = {});

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
