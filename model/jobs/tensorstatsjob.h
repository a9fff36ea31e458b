// SPDX-License-Identifier: MIT
#pragma once

#include "modeltypes.h"
#include "tensorstats.h"

#include <QFutureWatcher>
#include <QObject>
#include <QString>

#include <functional>
#include <memory>
#include <vector>

namespace ckpt {

enum class HistogramRange { Auto, Symmetric, Custom };

/// Statistics of one tensor, or the aggregate of several (a module's weights).
struct StatsRequest
{
    CheckpointPtr data;
    std::vector<int> tensors;  ///< one: that tensor; several: their aggregate
    int bins = 64;
    HistogramRange range = HistogramRange::Auto;
    double customLo = 0;       ///< HistogramRange::Custom
    double customHi = 0;
};

struct StatsResult
{
    StatsRequest request;
    format::TensorStats stats;
    int used = 0;              ///< tensors that contributed
    int skipped = 0;           ///< tensors without readable data or not decodable
    QString error;             ///< set when nothing could be computed
    /// Set when a record the statistics read fails its zip CRC-32 check (the values are shown,
    /// but they are not what was saved).
    QString integrityError;
    qint64 elapsedMs = 0;
    quint64 generation = 0;
    bool ok() const { return error.isEmpty(); }
};

/// Computes statistics and histograms off the UI thread (QtConcurrent::run + QPromise, progress
/// 0–1000, cancellable). Starting a new request cancels the running one; stale results are
/// dropped by a generation counter. Thread affinity: the GUI thread.
class TensorStatsJob : public QObject
{
    Q_OBJECT
public:
    explicit TensorStatsJob(QObject *parent = nullptr);
    ~TensorStatsJob() override;

    quint64 start(const StatsRequest &request);
    void cancel();
    bool isRunning() const;
    quint64 generation() const noexcept { return m_generation; }

    /// The computation itself, synchronous. `progress(done, total)` may be called from several
    /// threads; returning false cancels (then this throws FormatError(Cancelled)).
    static StatsResult compute(const StatsRequest &request,
                               const std::function<bool(std::uint64_t, std::uint64_t)> &progress = {});

signals:
    void progressChanged(int permille);
    void finished(const ckpt::StatsResult &result);
    void canceled();

private:
    quint64 m_generation = 0;
    bool m_running = false;
    std::unique_ptr<QFutureWatcher<StatsResult>> m_watcher;
};

/// TensorHealth flags (checkpointtree.h) derived from statistics.
int healthFlags(const format::TensorStats &stats);

} // namespace ckpt

Q_DECLARE_METATYPE(ckpt::StatsResult)
