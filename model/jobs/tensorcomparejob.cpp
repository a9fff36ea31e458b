// SPDX-License-Identifier: MIT
#include "tensorcomparejob.h"

#include "diffengine.h"
#include "displayformat.h"
#include "jobsupport.h"

#include <QElapsedTimer>
#include <QPromise>
#include <QtConcurrent/QtConcurrentRun>

#include <cmath>
#include <limits>

namespace ckpt {

namespace {

constexpr std::uint64_t kStages = 6; ///< own-range stats A, B; common-range A, B; B − A; heat-map
constexpr std::uint64_t kStageUnits = 1000;

bool validTensor(const CheckpointPtr &data, int tensor)
{
    return data && tensor >= 0 && static_cast<std::size_t>(tensor) < data->tensors.size();
}

} // namespace

TensorComparison TensorCompareJob::compute(const TensorCompareRequest &request,
                                           const std::function<bool(std::uint64_t, std::uint64_t)> &progress)
{
    QElapsedTimer timer;
    timer.start();
    TensorComparison out;
    out.request = request;
    auto stageProgress = [&progress](int stage) -> std::function<bool(std::uint64_t, std::uint64_t)> {
        if (!progress)
            return {};
        return [&progress, stage](std::uint64_t done, std::uint64_t total) {
            const std::uint64_t part = total ? std::min<std::uint64_t>(kStageUnits, done * kStageUnits / total) : 0;
            return progress(static_cast<std::uint64_t>(stage) * kStageUnits + part, kStages * kStageUnits);
        };
    };
    auto checkCanceled = [&progress](int stage) {
        if (progress && !progress(static_cast<std::uint64_t>(stage) * kStageUnits, kStages * kStageUnits))
            throw format::FormatError(format::FormatError::Kind::Cancelled, "cancelled");
    };

    StatsRequest base;
    base.bins = std::clamp(request.bins, 1, 1 << 16);
    auto stats = [&](const CheckpointPtr &data, int tensor, int stage) {
        StatsRequest r = base;
        r.data = data;
        r.tensors.assign(1, tensor); // not = {tensor}: GCC 14 warns (-Warray-bounds, a false positive)
        return TensorStatsJob::compute(r, stageProgress(stage));
    };
    out.hasA = validTensor(request.a, request.tensorA);
    out.hasB = validTensor(request.b, request.tensorB);
    if (out.hasA && request.histograms)
        out.a = stats(request.a, request.tensorA, 0);
    checkCanceled(1);
    if (out.hasB && request.histograms)
        out.b = stats(request.b, request.tensorB, 1);
    checkCanceled(2);

    // The common range, by torch.histc's rule for min == max.
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (const StatsResult *s : {&out.a, &out.b}) {
        if (request.histograms && s->ok() && s->stats.min && s->stats.max) {
            lo = std::min(lo, *s->stats.min);
            hi = std::max(hi, *s->stats.max);
        }
    }
    if (lo <= hi) {
        if (lo == hi) {
            lo -= 0.5;
            hi += 0.5;
        }
        out.lo = lo;
        out.hi = hi;
        int stage = 2;
        for (auto [has, res, data, tensor] : {std::tuple{out.hasA, &out.a, request.a, request.tensorA},
                                              std::tuple{out.hasB, &out.b, request.b, request.tensorB}}) {
            if (has && res->ok() && !res->stats.hist.empty() && (res->stats.histLo != lo || res->stats.histHi != hi)) {
                StatsRequest r = base;
                r.data = data;
                r.tensors.assign(1, tensor);
                r.range = HistogramRange::Custom;
                r.customLo = lo;
                r.customHi = hi;
                StatsResult again = TensorStatsJob::compute(r, stageProgress(stage));
                if (again.ok()) {
                    res->stats.hist = std::move(again.stats.hist);
                    res->stats.histLo = lo;
                    res->stats.histHi = hi;
                }
            }
            checkCanceled(++stage);
        }
    }

    // B − A.
    std::optional<format::StridedView> viewA, viewB;
    if (!out.hasA || !out.hasB) {
        out.diffError = out.hasA ? QStringLiteral("Only in A") : QStringLiteral("Only in B");
    } else {
        const auto &ia = request.a->tensors[static_cast<std::size_t>(request.tensorA)];
        const auto &ib = request.b->tensors[static_cast<std::size_t>(request.tensorB)];
        if (ia.shape != ib.shape) {
            out.diffError = QStringLiteral("Shapes differ: %1 in A, %2 in B").arg(shapeText(ia.shape), shapeText(ib.shape));
        } else if (!format::isDecodable(ia.dtype) || !format::isDecodable(ib.dtype)) {
            out.diffError = QStringLiteral("Values of this dtype cannot be decoded");
        } else {
            auto ta = format::tensorView(*request.a, request.tensorA);
            auto tb = format::tensorView(*request.b, request.tensorB);
            if (!ta.view || !tb.view) {
                out.diffError = qs(!ta.view ? ta.error : tb.error);
            } else {
                viewA = std::move(ta.view);
                viewB = std::move(tb.view);
                format::StatsOptions options;
                options.bins = base.bins;
                options.progress = stageProgress(4);
                options.background = true; // as the statistics job: never starve the UI thread
                if (request.histograms)
                    out.diff = computeDifferenceStats(*viewA, *viewB, options);
            }
        }
    }
    checkCanceled(5);

    // B − A on a 2-D slice: both sides sampled on the same grid, subtracted.
    if (viewA && viewB && request.heatmap) {
        const auto &ia = request.a->tensors[static_cast<std::size_t>(request.tensorA)];
        const auto &ib = request.b->tensors[static_cast<std::size_t>(request.tensorB)];
        if (format::dtypeInfo(ia.dtype).isComplex || format::dtypeInfo(ib.dtype).isComplex) {
            out.heatmap.error = QStringLiteral("The difference heat-map is not shown for complex tensors");
        } else {
            auto canceled = [&progress] { return progress && !progress(5 * kStageUnits, kStages * kStageUnits); };
            // Element by element, then reduced: a cell is the largest |B - A| of its block.
            HeatmapGrid d = SliceHeatmapJob::computeDifference(request.a, request.tensorA, request.b, request.tensorB,
                                                               request.slice, request.maxSide, canceled);
            if (canceled())
                throw format::FormatError(format::FormatError::Kind::Cancelled, "cancelled");
            out.heatmap = std::move(d);
        }
    }
    if (progress)
        progress(kStages * kStageUnits, kStages * kStageUnits);
    out.elapsedMs = timer.elapsed();
    return out;
}

TensorCompareJob::TensorCompareJob(QObject *parent)
    : QObject(parent)
{
    qRegisterMetaType<TensorComparison>();
}

TensorCompareJob::~TensorCompareJob()
{
    cancel();
    if (m_watcher)
        m_watcher->waitForFinished();
}

quint64 TensorCompareJob::start(const TensorCompareRequest &request)
{
    cancel();
    const quint64 generation = ++m_generation;
    m_running = true;
    retireWatcher(m_watcher, this);
    m_watcher = std::make_unique<QFutureWatcher<TensorComparison>>();
    auto *watcher = m_watcher.get();
    connect(watcher, &QFutureWatcherBase::progressValueChanged, this, [this, generation](int value) {
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
        TensorComparison result = watcher->result();
        result.generation = generation;
        emit finished(result);
    });
    watcher->setFuture(QtConcurrent::run([request](QPromise<TensorComparison> &promise) {
        std::atomic<int> last{-1};
        auto progress = permilleProgress(promise, last);
        try {
            TensorComparison result = compute(request, progress);
            if (!promise.isCanceled())
                promise.addResult(std::move(result));
        } catch (const format::FormatError &e) {
            if (e.kind() != format::FormatError::Kind::Cancelled && !promise.isCanceled()) {
                TensorComparison failed;
                failed.request = request;
                failed.diffError = qs(e.what());
                promise.addResult(std::move(failed));
            }
        } catch (const std::exception &e) {
            TensorComparison failed;
            failed.request = request;
            failed.diffError = qs(e.what());
            promise.addResult(std::move(failed));
        }
    }));
    return generation;
}

void TensorCompareJob::cancel()
{
    if (m_watcher && !m_watcher->isFinished())
        m_watcher->cancel();
}

} // namespace ckpt
