// SPDX-License-Identifier: MIT
#pragma once

#include "modeltypes.h"
#include "tensorsummary.h"

#include <QFutureWatcher>
#include <QList>
#include <QObject>
#include <QString>

#include <memory>
#include <optional>
#include <vector>

namespace ckpt {

/// Computes TensorSummary values for many small tensors off the UI thread (optimizer state,
/// 0-d counters), in batches that are reported as they finish, so tables fill progressively.
/// Progress 0-1000 over tensors, cancellable; starting again cancels the running work and drops
/// its late results (generation counter). Thread affinity: the GUI thread.
class TensorSummaryJob : public QObject
{
    Q_OBJECT
public:
    explicit TensorSummaryJob(QObject *parent = nullptr);
    ~TensorSummaryJob() override;

    quint64 start(CheckpointPtr data, std::vector<int> tensors);
    void cancel();
    bool isRunning() const { return m_running; }
    quint64 generation() const noexcept { return m_generation; }

    /// The computation of one batch, synchronous (used by the job and by tests).
    static QList<TensorSummary> compute(const format::CheckpointData &data, const std::vector<int> &tensors);

signals:
    void progressChanged(int permille);
    void resultsReady(const QList<ckpt::TensorSummary> &results);
    void finished();
    void canceled();

private:
    quint64 m_generation = 0;
    bool m_running = false;
    std::unique_ptr<QFutureWatcher<QList<TensorSummary>>> m_watcher;
};

} // namespace ckpt

