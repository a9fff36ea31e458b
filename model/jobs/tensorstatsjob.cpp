// SPDX-License-Identifier: MIT
#include "tensorstatsjob.h"

#include "jobsupport.h"

#include "checkpointtree.h"
#include "displayformat.h"

#include <QElapsedTimer>
#include <QPromise>
#include <QtConcurrent/QtConcurrentRun>

#include <algorithm>
#include <atomic>
#include <cmath>

namespace ckpt {

using format::StatsOptions;
using format::TensorStats;

int healthFlags(const TensorStats &s)
{
    int flags = HealthKnown;
    if (s.nan > 0)
        flags |= HealthNaN;
    if (s.posinf > 0 || s.neginf > 0)
        flags |= HealthInf;
    if (s.numel > 0 && s.zeros == s.numel)
        flags |= HealthAllZero;
    return flags;
}

namespace {

struct Source
{
    int tensor;
    format::StridedView view;
};

using format::mergeStats;

} // namespace

StatsResult TensorStatsJob::compute(const StatsRequest &request,
                                    const std::function<bool(std::uint64_t, std::uint64_t)> &progress)
{
    QElapsedTimer timer;
    timer.start();
    StatsResult result;
    result.request = request;
    if (!request.data) {
        result.error = QStringLiteral("No checkpoint");
        return result;
    }
    const int bins = std::clamp(request.bins, 1, 1 << 16);
    std::vector<Source> sources;
    QString firstError;
    for (int t : request.tensors) {
        if (t < 0 || static_cast<std::size_t>(t) >= request.data->tensors.size()) {
            ++result.skipped;
            continue;
        }
        const auto &info = request.data->tensors[static_cast<std::size_t>(t)];
        if (!format::isDecodable(info.dtype)) {
            ++result.skipped;
            if (firstError.isEmpty())
                firstError = QStringLiteral("Values of dtype %1 cannot be decoded")
                                 .arg(qs(format::dtypeName(info.dtype)));
            continue;
        }
        format::TensorViewResult tv = format::tensorView(*request.data, t);
        if (!tv.pieces.empty()) {
            // A DCP tensor split among writers: its pieces, as several tensors are merged.
            for (std::size_t p = 0; p < tv.pieces.size(); ++p)
                sources.push_back({tv.pieceTensors[p], std::move(tv.pieces[p])});
            continue;
        }
        if (!tv.view) {
            ++result.skipped;
            if (firstError.isEmpty())
                firstError = qs(tv.error);
            continue;
        }
        sources.push_back({t, std::move(*tv.view)});
    }
    if (sources.empty()) {
        result.error = firstError.isEmpty() ? QStringLiteral("No tensor data to analyse")
                                            : firstError;
        return result;
    }
    result.used = static_cast<int>(sources.size());
    std::uint64_t perPass = 0;
    for (const auto &s : sources)
        perPass += s.view.numel();
    const bool single = sources.size() == 1;
    const bool needsSecondPass = request.range == HistogramRange::Symmetric || !single;
    const int passes = needsSecondPass && request.range != HistogramRange::Custom ? 2 : 1;
    // The CRC-32 check counts as one more pass in the progress bar.
    const std::uint64_t grandTotal = std::max<std::uint64_t>(1, perPass * static_cast<std::uint64_t>(passes + 1));
    std::atomic<std::uint64_t> base{0};

    // Each record is checked once against its CRC-32 (issue 16): the statistics read every byte
    // of it anyway, so this costs a second pass over pages that are then in memory. It runs on
    // the statistics' workers, reports progress and stops on Cancel like them.
    {
        std::vector<int> checked;
        std::uint64_t crcBytes = 0;
        for (const auto &s : sources) {
            // (A DCP chunk's record is in no table of the checkpoint: s.tensor is -1.)
            const int storage = s.tensor < 0 ? -1 : request.data->tensors[static_cast<std::size_t>(s.tensor)].storage;
            if (storage < 0 || std::find(checked.begin(), checked.end(), storage) != checked.end())
                continue;
            checked.push_back(storage);
            crcBytes += request.data->storages[static_cast<std::size_t>(storage)].bytes.view.size;
        }
        std::uint64_t crcDone = 0;
        for (const int storage : checked) {
            format::CrcOptions options;
            options.background = true;
            if (progress) {
                options.progress = [&progress, &crcDone, crcBytes, perPass, grandTotal](std::uint64_t done, std::uint64_t) {
                    const double part = static_cast<double>(crcDone + done) / static_cast<double>(std::max<std::uint64_t>(1, crcBytes));
                    return progress(static_cast<std::uint64_t>(part * static_cast<double>(perPass)), grandTotal);
                };
            }
            const std::string problem = format::checkStorageCrc(*request.data, storage, options);
            crcDone += request.data->storages[static_cast<std::size_t>(storage)].bytes.view.size;
            if (!problem.empty()) {
                result.integrityError = qs(problem);
                break;
            }
        }
        // A DCP tensor's chunks: each record is a torch.save archive with a CRC-32 of its own.
        for (int t : request.tensors) {
            const auto i = static_cast<std::size_t>(t);
            if (!result.integrityError.isEmpty() || t < 0 || i >= request.data->chunksOfTensor.size()
                || request.data->chunksOfTensor[i].empty())
                continue;
            format::CrcOptions options;
            options.background = true;
            if (progress)
                options.progress = [&progress, perPass, grandTotal](std::uint64_t, std::uint64_t) {
                    return progress(perPass / 2, grandTotal);
                };
            result.integrityError = qs(format::checkTensorCrc(*request.data, t, options));
        }
        base = perPass;
    }

    auto run = [&](const format::StridedView &view, StatsOptions options) {
        const std::uint64_t offset = base.load();
        options.background = true; // never starve the UI thread (StatsOptions::background)
        if (progress) {
            options.progress = [&progress, offset, grandTotal](std::uint64_t done, std::uint64_t) {
                return progress(offset + done, grandTotal);
            };
        }
        TensorStats s = format::computeStats(view, options);
        base += view.numel();
        return s;
    };

    // Pass 1: statistics (and, when the range is known up front, the histogram).
    StatsOptions first;
    first.bins = bins;
    if (request.range == HistogramRange::Custom) {
        first.rangeLo = std::min(request.customLo, request.customHi);
        first.rangeHi = std::max(request.customLo, request.customHi);
    }
    TensorStats total;
    std::vector<std::uint64_t> counts;
    for (const auto &s : sources) {
        TensorStats one = run(s.view, first);
        if (single) {
            total = std::move(one);
        } else {
            mergeStats(total, one);
            if (request.range == HistogramRange::Custom && !one.hist.empty()) {
                counts.resize(one.hist.size());
                for (std::size_t i = 0; i < one.hist.size(); ++i)
                    counts[i] += one.hist[i];
            }
        }
    }
    if (!single && request.range == HistogramRange::Custom) {
        total.hist = counts;
        total.histLo = *first.rangeLo;
        total.histHi = *first.rangeHi;
    }

    // Pass 2: the histogram over a range only known after pass 1.
    if (passes == 2 && total.finite > 0) {
        double lo = total.min.value_or(0), hi = total.max.value_or(0);
        if (request.range == HistogramRange::Symmetric) {
            const double m = std::max(std::fabs(lo), std::fabs(hi));
            lo = m > 0 ? -m : -0.5;
            hi = m > 0 ? m : 0.5;
        } else if (lo == hi) {
            lo -= 0.5;
            hi += 0.5;
        }
        StatsOptions second;
        second.bins = bins;
        second.rangeLo = lo;
        second.rangeHi = hi;
        std::vector<std::uint64_t> sum(static_cast<std::size_t>(bins), 0);
        for (const auto &s : sources) {
            TensorStats one = run(s.view, second);
            for (std::size_t i = 0; i < one.hist.size() && i < sum.size(); ++i)
                sum[i] += one.hist[i];
        }
        total.hist = std::move(sum);
        total.histLo = lo;
        total.histHi = hi;
    } else if (!single && total.finite == 0) {
        total.hist.clear();
    }
    result.stats = std::move(total);
    result.elapsedMs = timer.elapsed();
    return result;
}

TensorStatsJob::TensorStatsJob(QObject *parent)
    : QObject(parent)
{
    qRegisterMetaType<StatsResult>();
}

TensorStatsJob::~TensorStatsJob()
{
    cancel();
    if (m_watcher)
        m_watcher->waitForFinished();
}

quint64 TensorStatsJob::start(const StatsRequest &request)
{
    cancel();
    const quint64 generation = ++m_generation;
    m_running = true;
    retireWatcher(m_watcher, this);
    m_watcher = std::make_unique<QFutureWatcher<StatsResult>>();
    auto *watcher = m_watcher.get();
    connect(watcher, &QFutureWatcherBase::progressValueChanged, this,
            [this, generation](int value) {
                if (generation == m_generation)
                    emit progressChanged(value);
            });
    connect(watcher, &QFutureWatcherBase::finished, this, [this, watcher, generation] {
        if (generation != m_generation)
            return;
        m_running = false;
        if (watcher->isCanceled() || watcher->future().resultCount() == 0) {
            emit canceled();
            return;
        }
        StatsResult result = watcher->result();
        result.generation = generation;
        emit finished(result);
    });
    watcher->setFuture(QtConcurrent::run([request](QPromise<StatsResult> &promise) {
        std::atomic<int> last{-1};
        auto progress = permilleProgress(promise, last);
        try {
            StatsResult result = compute(request, progress);
            if (!promise.isCanceled())
                promise.addResult(std::move(result));
        } catch (const format::FormatError &e) {
            if (e.kind() != format::FormatError::Kind::Cancelled && !promise.isCanceled()) {
                StatsResult failed;
                failed.request = request;
                failed.error = qs(e.what());
                promise.addResult(std::move(failed));
            }
        } catch (const std::exception &e) {
            StatsResult failed;
            failed.request = request;
            failed.error = qs(e.what());
            promise.addResult(std::move(failed));
        }
    }));
    return generation;
}

void TensorStatsJob::cancel()
{
    if (m_watcher && !m_watcher->isFinished())
        m_watcher->cancel();
}

bool TensorStatsJob::isRunning() const
{
    // True until the result (or the cancellation) of the current generation has been reported.
    return m_running;
}

} // namespace ckpt
