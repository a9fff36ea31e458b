// SPDX-License-Identifier: MIT
#include "sliceheatmapjob.h"

#include "displayformat.h"
#include "jobsupport.h"
#include "mappedfile.h"

#include <QPromise>
#include <QtConcurrent/QtConcurrentRun>

#include <cmath>
#include <limits>

namespace ckpt {

HeatmapGrid SliceHeatmapJob::compute(const CheckpointPtr &data, int tensor, const SliceSpec &slice,
                                     int maxSide, const std::function<bool()> &canceled)
{
    HeatmapGrid grid;
    grid.tensor = tensor;
    grid.slice = slice;
    if (!data || tensor < 0 || static_cast<std::size_t>(tensor) >= data->tensors.size()) {
        grid.error = QStringLiteral("No tensor");
        return grid;
    }
    const auto &info = data->tensors[static_cast<std::size_t>(tensor)];
    if (!format::isDecodable(info.dtype)) {
        grid.error = QStringLiteral("Values of dtype %1 cannot be shown").arg(qs(format::dtypeName(info.dtype)));
        return grid;
    }
    auto tv = format::tensorView(*data, tensor);
    if (!tv.view) {
        grid.error = qs(tv.error);
        return grid;
    }
    const auto &shape = info.shape;
    SliceSpec spec = slice;
    spec.normalize(shape);
    grid.slice = spec;
    grid.fullRows = spec.rowAxis >= 0 ? shape[static_cast<std::size_t>(spec.rowAxis)] : 1;
    grid.fullCols = spec.colAxis >= 0 ? shape[static_cast<std::size_t>(spec.colAxis)] : 1;
    if (grid.fullRows <= 0 || grid.fullCols <= 0)
        return grid;
    maxSide = std::max(1, maxSide);
    grid.rowStep = (grid.fullRows + maxSide - 1) / maxSide;
    grid.colStep = (grid.fullCols + maxSide - 1) / maxSide;
    grid.rows = static_cast<int>((grid.fullRows + grid.rowStep - 1) / grid.rowStep);
    grid.cols = static_cast<int>((grid.fullCols + grid.colStep - 1) / grid.colStep);
    grid.values.resize(static_cast<std::size_t>(grid.rows) * static_cast<std::size_t>(grid.cols));
    const bool complex = format::dtypeInfo(info.dtype).isComplex;
    double lo = std::numeric_limits<double>::infinity();
    double hi = -lo;
    std::vector<std::int64_t> idx = spec.index;
    try {
        for (int r = 0; r < grid.rows; ++r) {
            if (canceled && (r % 16) == 0 && canceled())
                return grid;
            if (spec.rowAxis >= 0)
                idx[static_cast<std::size_t>(spec.rowAxis)] = r * grid.rowStep;
            for (int c = 0; c < grid.cols; ++c) {
                if (spec.colAxis >= 0)
                    idx[static_cast<std::size_t>(spec.colAxis)] = c * grid.colStep;
                const format::ElementValue e = format::elementAt(*tv.view, idx);
                const double v = complex ? std::hypot(e.re, e.im) : e.re;
                grid.values[static_cast<std::size_t>(r) * static_cast<std::size_t>(grid.cols)
                            + static_cast<std::size_t>(c)] = v;
                if (std::isfinite(v)) {
                    lo = std::min(lo, v);
                    hi = std::max(hi, v);
                }
            }
        }
        // Values read after the file was truncated or rewritten are meaningless (issue 6).
        format::MappedFile::throwIfChanged(tv.view->storage);
    } catch (const std::exception &e) {
        grid.error = qs(e.what());
        return grid;
    }
    grid.hasFinite = lo <= hi;
    grid.min = grid.hasFinite ? lo : 0;
    grid.max = grid.hasFinite ? hi : 0;
    return grid;
}

SliceHeatmapJob::SliceHeatmapJob(QObject *parent)
    : QObject(parent)
{
    qRegisterMetaType<HeatmapGrid>();
}

SliceHeatmapJob::~SliceHeatmapJob()
{
    cancel();
    if (m_watcher)
        m_watcher->waitForFinished();
}

quint64 SliceHeatmapJob::start(CheckpointPtr data, int tensor, const SliceSpec &slice, int maxSide)
{
    cancel();
    const quint64 generation = ++m_generation;
    m_running = true;
    retireWatcher(m_watcher, this);
    m_watcher = std::make_unique<QFutureWatcher<HeatmapGrid>>();
    auto *watcher = m_watcher.get();
    connect(watcher, &QFutureWatcherBase::finished, this, [this, watcher, generation] {
        if (generation != m_generation)
            return;
        m_running = false;
        if (watcher->isCanceled() || watcher->future().resultCount() == 0) {
            emit canceled();
            return;
        }
        HeatmapGrid grid = watcher->result();
        grid.generation = generation;
        emit finished(grid);
    });
    watcher->setFuture(QtConcurrent::run(
        [data = std::move(data), tensor, slice, maxSide](QPromise<HeatmapGrid> &promise) {
            HeatmapGrid grid = compute(data, tensor, slice, maxSide,
                                       [&promise] { return promise.isCanceled(); });
            if (!promise.isCanceled())
                promise.addResult(std::move(grid));
        }));
    return generation;
}

void SliceHeatmapJob::cancel()
{
    if (m_watcher && !m_watcher->isFinished())
        m_watcher->cancel();
}

bool SliceHeatmapJob::isRunning() const
{
    // True until the result (or the cancellation) of the current generation has been reported.
    return m_running;
}

} // namespace ckpt
