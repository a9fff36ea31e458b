// SPDX-License-Identifier: MIT
#include "tensorhealthscanjob.h"

#include "jobsupport.h"

#include "checkpointtree.h"
#include "tensorstats.h"
#include "tensorstatsjob.h"

#include <QPromise>
#include <QtConcurrent/QtConcurrentRun>

#include <unordered_set>

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
    m_failed = 0;
    m_crcProblems.clear();
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
            if (!r.crcProblem.isEmpty())
                m_crcProblems << r.crcProblem;
            if (r.failed) {
                ++m_failed;
                continue;
            }
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
        std::unordered_set<int> checkedStorages;
        for (std::size_t i = 0; i < data->tensors.size(); ++i) {
            if (promise.isCanceled())
                return;
            const auto &info = data->tensors[i];
            const std::uint64_t n = info.numel();
            if (format::isDecodable(info.dtype)) {
                auto tv = format::tensorView(*data, static_cast<int>(i));
                if (tv.view || !tv.pieces.empty()) {
                    format::StatsOptions options;
                    options.bins = 1;
                    options.background = true;
                    const std::uint64_t base = done;
                    // computeStats reports two visits per element (its `of`): scale by this tensor's
                    // share of all elements; in double, 1000 * 2^60 would overflow.
                    options.progress = [&promise, base, n, total](std::uint64_t d, std::uint64_t of) {
                        const double part = of ? static_cast<double>(d) / static_cast<double>(of) : 1.0;
                        const double at = static_cast<double>(base) + part * static_cast<double>(n);
                        promise.setProgressValue(static_cast<int>(at * 1000.0 / static_cast<double>(total)));
                        return !promise.isCanceled();
                    };
                    try {
                        const format::TensorStats s = tv.pieces.empty() ? format::computeStats(*tv.view, options)
                                                                        : format::computeStatsOfPieces(tv.pieces, options);
                        TensorHealthResult r{static_cast<int>(i), healthFlags(s), false, {}};
                        // The record's CRC-32, once per storage, while its pages are in memory.
                        const format::CrcOptions crcOptions{
                            [&promise](std::uint64_t, std::uint64_t) { return !promise.isCanceled(); }, 0, true};
                        if (info.storage >= 0 && checkedStorages.insert(info.storage).second)
                            r.crcProblem = QString::fromStdString(format::checkStorageCrc(*data, info.storage, crcOptions));
                        else if (i < data->chunksOfTensor.size() && !data->chunksOfTensor[i].empty())
                            r.crcProblem = QString::fromStdString(
                                format::checkTensorCrc(*data, static_cast<int>(i), crcOptions)); // each chunk's record
                        promise.addResult(std::move(r));
                    } catch (const std::exception &) {
                        if (promise.isCanceled())
                            return;
                        promise.addResult(TensorHealthResult{static_cast<int>(i), 0, true, {}});
                    }
                } else {
                    promise.addResult(TensorHealthResult{static_cast<int>(i), 0, true, {}});
                }
            }
            done += n;
            promise.setProgressValue(static_cast<int>(static_cast<double>(done) * 1000.0 / static_cast<double>(total)));
        }
    }));
}

void TensorHealthScanJob::cancel()
{
    if (m_watcher && !m_watcher->isFinished())
        m_watcher->cancel();
}

} // namespace ckpt
