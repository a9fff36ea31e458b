// SPDX-License-Identifier: MIT
#include "diffjob.h"

#include "jobsupport.h"

#include <QElapsedTimer>
#include <QPromise>
#include <QtConcurrent/QtConcurrentRun>

#include <atomic>

namespace ckpt {

namespace {

void computeAll(QPromise<DiffUpdate> &promise, const CheckpointPtr &a, const CheckpointPtr &b,
                DiffOptions options)
{
    auto result = std::make_shared<DiffResult>(alignCheckpoints(*a, *b, options));
    std::vector<int> pending;
    std::vector<std::uint64_t> numel;
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < result->entries.size(); ++i) {
        const DiffEntry &e = result->entries[i];
        if (!needsMetrics(e))
            continue;
        std::uint64_t n = 1;
        for (auto d : e.a->shape)
            n *= static_cast<std::uint64_t>(std::max<std::int64_t>(d, 0));
        pending.push_back(static_cast<int>(i));
        numel.push_back(n);
        total += n;
    }
    promise.addResult(DiffUpdate{result, {}});
    if (pending.empty())
        return;

    std::atomic<int> last{-1};
    auto overall = permilleProgress(promise, last);
    std::uint64_t base = 0;
    DiffUpdate batch;
    QElapsedTimer sinceFlush;
    sinceFlush.start();
    for (std::size_t p = 0; p < pending.size(); ++p) {
        if (promise.isCanceled())
            return;
        DiffEntry entry = result->entries[static_cast<std::size_t>(pending[p])];
        DiffOptions perEntry = options;
        const std::uint64_t n = numel[p];
        // The engine reports this entry's own done/total; scale it into the whole comparison.
        perEntry.progress = [&overall, base, n, total](std::uint64_t done, std::uint64_t of) {
            const std::uint64_t scaled = of ? static_cast<std::uint64_t>(static_cast<double>(done) / static_cast<double>(of) * static_cast<double>(n)) : 0;
            return overall(base + std::min(scaled, n), total);
        };
        // Small tensors: threads would cost more than they save.
        if (n < (1u << 18))
            perEntry.threads = 1;
        try {
            computeTensorDiff(*a, *b, entry, perEntry);
        } catch (const format::FormatError &e) {
            if (e.kind() == format::FormatError::Kind::Cancelled || promise.isCanceled())
                return;
            entry.error = e.what();
        } catch (const std::exception &e) {
            entry.error = e.what();
        }
        base += n;
        overall(base, total);
        batch.computed.emplace_back(pending[p], std::move(entry));
        if (sinceFlush.elapsed() >= DiffJob::kBatchMs) {
            promise.addResult(std::move(batch));
            batch = DiffUpdate{};
            sinceFlush.restart();
        }
    }
    if (!batch.computed.empty())
        promise.addResult(std::move(batch));
}

} // namespace

DiffJob::DiffJob(QObject *parent)
    : QObject(parent)
{
    qRegisterMetaType<DiffUpdate>();
}

DiffJob::~DiffJob()
{
    cancel();
    if (m_watcher)
        m_watcher->waitForFinished();
}

quint64 DiffJob::start(CheckpointPtr a, CheckpointPtr b, const DiffOptions &options)
{
    cancel();
    const quint64 generation = ++m_generation;
    m_running = true;
    retireWatcher(m_watcher, this);
    m_watcher = std::make_unique<QFutureWatcher<DiffUpdate>>();
    auto *watcher = m_watcher.get();
    auto timer = std::make_shared<QElapsedTimer>();
    timer->start();
    connect(watcher, &QFutureWatcherBase::progressValueChanged, this, [this, generation](int value) {
        if (generation == m_generation)
            emit progressChanged(value);
    });
    connect(watcher, &QFutureWatcherBase::resultsReadyAt, this, [this, watcher, generation](int begin, int end) {
        if (generation != m_generation)
            return;
        for (int i = begin; i < end; ++i) {
            const DiffUpdate update = watcher->resultAt(i);
            if (update.aligned)
                emit aligned(update.aligned);
            if (!update.computed.empty())
                emit entriesComputed(update.computed);
            if (generation != m_generation) // a slot started another comparison
                return;
        }
    });
    connect(watcher, &QFutureWatcherBase::finished, this, [this, watcher, generation, timer] {
        if (generation != m_generation)
            return;
        m_running = false;
        if (watcher->isCanceled()) {
            emit canceled();
            return;
        }
        emit progressChanged(1000);
        emit finished(timer->elapsed());
    });
    if (!a || !b) {
        a = a ? a : std::make_shared<format::CheckpointData>();
        b = b ? b : std::make_shared<format::CheckpointData>();
    }
    DiffOptions opts = options;
    opts.progress = nullptr;
    opts.background = true; // never starve the UI thread (DiffOptions::background)
    watcher->setFuture(QtConcurrent::run([a, b, opts](QPromise<DiffUpdate> &promise) {
        computeAll(promise, a, b, opts);
    }));
    return generation;
}

void DiffJob::cancel()
{
    if (m_watcher && !m_watcher->isFinished())
        m_watcher->cancel();
}

} // namespace ckpt
