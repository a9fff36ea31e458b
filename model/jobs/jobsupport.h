// SPDX-License-Identifier: MIT
#pragma once

// Shared mechanics of the background jobs (CheckpointLoadJob, TensorStatsJob, SliceHeatmapJob,
// TensorHealthScanJob): retiring a superseded watcher and reporting byte progress as permille.

#include <QFutureWatcher>
#include <QPromise>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>

namespace ckpt {

/// Detaches `watcher` from `receiver` so its late result is never seen (the job's generation
/// counter has moved on), and lets it delete itself once its computation ends.
template <typename T>
void retireWatcher(std::unique_ptr<QFutureWatcher<T>> &watcher, QObject *receiver)
{
    if (!watcher)
        return;
    watcher->disconnect(receiver);
    auto *old = watcher.release();
    QObject::connect(old, &QFutureWatcherBase::finished, old, &QObject::deleteLater);
    if (old->isFinished())
        old->deleteLater();
}

/// A format-layer progress callback (done of total; false cancels) that forwards progress to
/// `promise` on a 0-1000 scale, only when it grows, and cancels when the promise is canceled.
/// Safe to call from several worker threads. `last` must outlive the callback.
template <typename T>
auto permilleProgress(QPromise<T> &promise, std::atomic<int> &last)
{
    promise.setProgressRange(0, 1000);
    return [&promise, &last](std::uint64_t done, std::uint64_t total) {
        if (promise.isCanceled())
            return false;
        const int permille = total ? static_cast<int>(std::min<std::uint64_t>(1000, done * 1000 / total)) : 0;
        int previous = last.load();
        while (permille > previous && !last.compare_exchange_weak(previous, permille)) {
        }
        if (permille > previous)
            promise.setProgressValue(permille);
        return true;
    };
}

} // namespace ckpt
