// SPDX-License-Identifier: MIT
#include "tensorhealthscanjob.h"

#include "jobsupport.h"

#include "checkpointtree.h"
#include "tensorstats.h"
#include "tensorstatsjob.h"

#include <QPromise>
#include <QtConcurrent/QtConcurrentRun>

namespace ckpt {

TensorHealthScanJob::TensorHealthScanJob(QObject *parent)
    : QObject(parent)
{
}

TensorHealthScanJob::~TensorHealthScanJob()
{
    cancel();
    if (m_watcher)
        m_watcher->waitForFinished();
}

void TensorHealthScanJob::start(CheckpointPtr data)
{
    cancel();
    const quint64 generation = ++m_generation;
    m_running = true;
    m_checked = 0;
    m_flagged = 0;
    retireWatcher(m_watcher, this);
    m_watcher = std::make_unique<QFutureWatcher<TensorHealthResult>>();
    auto *watcher = m_watcher.get();
    connect(watcher, &QFutureWatcherBase::progressValueChanged, this, [this, generation](int value) {
        if (generation == m_generation)
            emit progressChanged(value);
    });
    connect(watcher, &QFutureWatcherBase::resultsReadyAt, this, [this, watcher, generation](int first, int end) {
        if (generation != m_generation)
            return;
        for (int i = first; i < end; ++i) {
            const TensorHealthResult r = watcher->resultAt(i);
            ++m_checked;
            if (r.flags & (HealthNaN | HealthInf | HealthAllZero))
                ++m_flagged;
            emit tensorChecked(r.tensor, r.flags);
        }
    });
    connect(watcher, &QFutureWatcherBase::finished, this, [this, watcher, generation] {
        if (generation != m_generation)
            return;
        m_running = false;
        if (watcher->isCanceled())
            emit canceled();
        else
            emit finished(m_checked, m_flagged);
    });
    watcher->setFuture(QtConcurrent::run([data = std::move(data)](QPromise<TensorHealthResult> &promise) {
        if (!data)
            return;
        promise.setProgressRange(0, 1000);
        std::uint64_t total = 0;
        for (const auto &t : data->tensors)
            total += t.numel();
        total = std::max<std::uint64_t>(total, 1);
        std::uint64_t done = 0;
        for (std::size_t i = 0; i < data->tensors.size(); ++i) {
            if (promise.isCanceled())
                return;
            const auto &info = data->tensors[i];
            const std::uint64_t n = info.numel();
            if (format::isDecodable(info.dtype)) {
                auto tv = format::tensorView(*data, static_cast<int>(i));
                if (tv.view) {
                    format::StatsOptions options;
                    options.bins = 1;
                    const std::uint64_t base = done;
                    options.progress = [&promise, base, total](std::uint64_t d, std::uint64_t) {
                        promise.setProgressValue(static_cast<int>((base + d) * 1000 / total));
                        return !promise.isCanceled();
                    };
                    try {
                        const format::TensorStats s = format::computeStats(*tv.view, options);
                        promise.addResult(TensorHealthResult{static_cast<int>(i), healthFlags(s)});
                    } catch (const std::exception &) {
                        if (promise.isCanceled())
                            return;
                    }
                }
            }
            done += n;
            promise.setProgressValue(static_cast<int>(done * 1000 / total));
        }
    }));
}

void TensorHealthScanJob::cancel()
{
    if (m_watcher && !m_watcher->isFinished())
        m_watcher->cancel();
}

} // namespace ckpt
