// SPDX-License-Identifier: MIT
#pragma once

#include "sliceheatmapjob.h"
#include "tensorstatsjob.h"

#include <QFutureWatcher>
#include <QObject>

#include <memory>
#include <optional>

namespace ckpt {

/// One tensor of a comparison: its A and B sides (either may be missing).
struct TensorCompareRequest
{
    CheckpointPtr a, b;
    int tensorA = -1; ///< index into a->tensors, -1 when A has no such tensor
    int tensorB = -1;
    int bins = 64;
    SliceSpec slice;  ///< the 2-D slice of the difference heat-map
    int maxSide = 256;
    bool histograms = true; ///< both histograms and B − A statistics
    bool heatmap = true;    ///< the heat-map of B − A
};

/// What the compare panel shows for a tensor: both histograms over the same bins, the
/// statistics and histogram of B − A, and B − A on a 2-D slice.
struct TensorComparison
{
    TensorCompareRequest request;
    StatsResult a, b;             ///< histograms over [lo, hi] with `bins` bins (both sides)
    bool hasA = false, hasB = false;
    double lo = 0, hi = 1;        ///< the common range: min and max of both sides' finite values
    std::optional<format::TensorStats> diff; ///< B − A (equal shapes only)
    QString diffError;            ///< why there is no B − A
    HeatmapGrid heatmap;          ///< values are B − A; error set when not shown
    qint64 elapsedMs = 0;
    quint64 generation = 0;
};

/// Computes a TensorComparison off the UI thread (progress 0–1000, cancellable, stale results
/// dropped by a generation counter). The histograms reuse TensorStatsJob::compute (first over
/// each side's own range, then both over the common range when it differs) and the heat-map
/// SliceHeatmapJob::compute on both sides, subtracted. Thread affinity: the GUI thread.
class TensorCompareJob : public QObject
{
    Q_OBJECT
public:
    explicit TensorCompareJob(QObject *parent = nullptr);
    ~TensorCompareJob() override;

    quint64 start(const TensorCompareRequest &request);
    void cancel();
    bool isRunning() const { return m_running; }

    /// Synchronous; `progress` as in TensorStatsJob::compute (false cancels: throws
    /// FormatError(Cancelled)).
    static TensorComparison compute(const TensorCompareRequest &request,
                                    const std::function<bool(std::uint64_t, std::uint64_t)> &progress = {});

signals:
    void progressChanged(int permille);
    void finished(const ckpt::TensorComparison &result);
    void canceled();

private:
    quint64 m_generation = 0;
    bool m_running = false;
    std::unique_ptr<QFutureWatcher<TensorComparison>> m_watcher;
};

} // namespace ckpt

Q_DECLARE_METATYPE(ckpt::TensorComparison)
