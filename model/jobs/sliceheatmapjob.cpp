// SPDX-License-Identifier: MIT
#include "sliceheatmapjob.h"

#include "displayformat.h"
#include "jobsupport.h"
#include "mappedfile.h"

#include <QPromise>
#include <QtConcurrent/QtConcurrentRun>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

namespace ckpt {

namespace {

/// Checks tensor `tensor`, normalises the slice and sets the grid's extent and steps; returns
/// the view to read, or none (then grid.error says why, or the slice is empty).
std::optional<format::StridedView> prepareGrid(const CheckpointPtr &data, int tensor, const SliceSpec &slice,
                                               int maxSide, HeatmapGrid &grid)
{
    grid.tensor = tensor;
    grid.slice = slice;
    if (!data || tensor < 0 || static_cast<std::size_t>(tensor) >= data->tensors.size()) {
        grid.error = QStringLiteral("No tensor");
        return std::nullopt;
    }
    const auto &info = data->tensors[static_cast<std::size_t>(tensor)];
    if (!format::isDecodable(info.dtype)) {
        grid.error = QStringLiteral("Values of dtype %1 cannot be shown").arg(qs(format::dtypeName(info.dtype)));
        return std::nullopt;
    }
    auto tv = format::tensorView(*data, tensor);
    if (!tv.view) {
        grid.error = qs(tv.error);
        return std::nullopt;
    }
    const auto &shape = info.shape;
    SliceSpec spec = slice;
    spec.normalize(shape);
    grid.slice = spec;
    grid.fullRows = spec.rowAxis >= 0 ? shape[static_cast<std::size_t>(spec.rowAxis)] : 1;
    grid.fullCols = spec.colAxis >= 0 ? shape[static_cast<std::size_t>(spec.colAxis)] : 1;
    if (grid.fullRows <= 0 || grid.fullCols <= 0)
        return std::nullopt;
    maxSide = std::max(1, maxSide);
    grid.rowStep = (grid.fullRows + maxSide - 1) / maxSide;
    grid.colStep = (grid.fullCols + maxSide - 1) / maxSide;
    grid.rows = static_cast<int>((grid.fullRows + grid.rowStep - 1) / grid.rowStep);
    grid.cols = static_cast<int>((grid.fullCols + grid.colStep - 1) / grid.colStep);
    grid.values.resize(static_cast<std::size_t>(grid.rows) * static_cast<std::size_t>(grid.cols));
    return std::move(tv.view);
}

/// Fills the prepared grid: each cell the value of largest magnitude of its block, NaN winning
/// (`valueAt` gives the element at a full index). Returns false when cancelled. Throws what
/// reading throws.
bool reduceGrid(HeatmapGrid &grid, const std::function<double(const std::vector<std::int64_t> &)> &valueAt,
                const std::function<bool()> &canceled)
{
    const SliceSpec &spec = grid.slice;
    // Every element of the slice is read up to SliceHeatmapJob::kExhaustiveElements; beyond, each block is read
    // on a regular sub-grid (subRow x subCol apart) that keeps the total near that budget.
    std::int64_t subRow = 1, subCol = 1;
    const double total = static_cast<double>(grid.fullRows) * static_cast<double>(grid.fullCols);
    if (total > static_cast<double>(SliceHeatmapJob::kExhaustiveElements)) {
        const double f = std::sqrt(total / static_cast<double>(SliceHeatmapJob::kExhaustiveElements));
        subRow = std::clamp<std::int64_t>(static_cast<std::int64_t>(std::ceil(f)), 1, grid.rowStep);
        subCol = std::clamp<std::int64_t>(
            static_cast<std::int64_t>(std::ceil(total / (static_cast<double>(SliceHeatmapJob::kExhaustiveElements) * static_cast<double>(subRow)))),
            1, grid.colStep);
        grid.sampled = subRow > 1 || subCol > 1;
    }
    double lo = std::numeric_limits<double>::infinity();
    double hi = -lo;
    std::vector<std::int64_t> idx = spec.index;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    {
        for (int r = 0; r < grid.rows; ++r) {
            if (canceled && canceled())
                return false;
            double *row = grid.values.data() + static_cast<std::size_t>(r) * static_cast<std::size_t>(grid.cols);
            for (int c = 0; c < grid.cols; ++c)
                row[c] = 0;
            std::vector<bool> any(static_cast<std::size_t>(grid.cols), false);
            const std::int64_t rowEnd = std::min(grid.fullRows, (r + 1) * grid.rowStep);
            for (std::int64_t y = r * grid.rowStep; y < rowEnd; y += subRow) {
                if (spec.rowAxis >= 0)
                    idx[static_cast<std::size_t>(spec.rowAxis)] = y;
                for (std::int64_t x = 0; x < grid.fullCols; x += subCol) {
                    if (spec.colAxis >= 0)
                        idx[static_cast<std::size_t>(spec.colAxis)] = x;
                    const double v = valueAt(idx);
                    const auto cell = static_cast<std::size_t>(x / grid.colStep);
                    double &out = row[cell];
                    if (std::isnan(v)) {
                        ++grid.nanCount;
                        out = nan;
                    } else {
                        if (std::isinf(v)) {
                            ++grid.infCount;
                        } else {
                            lo = std::min(lo, v);
                            hi = std::max(hi, v);
                        }
                        if (!std::isnan(out) && (!any[cell] || std::abs(v) > std::abs(out)))
                            out = v;
                    }
                    any[cell] = true;
                }
            }
        }
    }
    grid.hasFinite = lo <= hi;
    grid.min = grid.hasFinite ? lo : 0;
    grid.max = grid.hasFinite ? hi : 0;
    return true;
}

double magnitude(const format::ElementValue &e, bool complex)
{
    return complex ? std::hypot(e.re, e.im) : e.re;
}

} // namespace

HeatmapGrid SliceHeatmapJob::compute(const CheckpointPtr &data, int tensor, const SliceSpec &slice,
                                     int maxSide, const std::function<bool()> &canceled)
{
    HeatmapGrid grid;
    const auto view = prepareGrid(data, tensor, slice, maxSide, grid);
    if (!view)
        return grid;
    const bool complex = format::dtypeInfo(data->tensors[static_cast<std::size_t>(tensor)].dtype).isComplex;
    try {
        reduceGrid(grid, [&](const std::vector<std::int64_t> &idx) { return magnitude(format::elementAt(*view, idx), complex); },
                   canceled);
        // Values read after the file was truncated or rewritten are meaningless (issue 6).
        format::throwIfViewChanged(*view);
    } catch (const std::exception &e) {
        grid.error = qs(e.what());
    }
    return grid;
}

HeatmapGrid SliceHeatmapJob::computeDifference(const CheckpointPtr &a, int tensorA, const CheckpointPtr &b, int tensorB,
                                               const SliceSpec &slice, int maxSide,
                                               const std::function<bool()> &canceled)
{
    HeatmapGrid ga, grid;
    const auto viewA = prepareGrid(a, tensorA, slice, maxSide, ga);
    const auto viewB = prepareGrid(b, tensorB, slice, maxSide, grid);
    if (!viewA || !viewB || ga.fullRows != grid.fullRows || ga.fullCols != grid.fullCols) {
        if (grid.error.isEmpty())
            grid.error = !ga.error.isEmpty() ? ga.error : QStringLiteral("The slices differ in shape");
        grid.rows = grid.cols = 0;
        grid.values.clear();
        return grid;
    }
    const bool complexA = format::dtypeInfo(a->tensors[static_cast<std::size_t>(tensorA)].dtype).isComplex;
    const bool complexB = format::dtypeInfo(b->tensors[static_cast<std::size_t>(tensorB)].dtype).isComplex;
    try {
        reduceGrid(grid,
                   [&](const std::vector<std::int64_t> &idx) {
                       return magnitude(format::elementAt(*viewB, idx), complexB)
                           - magnitude(format::elementAt(*viewA, idx), complexA);
                   },
                   canceled);
        format::throwIfViewChanged(*viewA);
        format::throwIfViewChanged(*viewB);
    } catch (const std::exception &e) {
        grid.error = qs(e.what());
    }
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
