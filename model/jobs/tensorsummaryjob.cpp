// SPDX-License-Identifier: MIT
#include "tensorsummaryjob.h"

#include "inspectreport.h"
#include "jobsupport.h"

#include <QPromise>
#include <QtConcurrent/QtConcurrentRun>

namespace ckpt {

namespace {
/// Tensors per reported batch: small enough for the table to fill visibly, big enough that the
/// per-batch thread start-up of computeAllStats does not dominate.
constexpr std::size_t kBatch = 48;
}

TensorSummaryJob::TensorSummaryJob(QObject *parent)
    : QObject(parent)
{
    qRegisterMetaType<TensorSummary>();
    qRegisterMetaType<QList<TensorSummary>>();
}

TensorSummaryJob::~TensorSummaryJob()
{
    cancel();
    if (m_watcher)
        m_watcher->waitForFinished();
}

QList<TensorSummary> TensorSummaryJob::compute(const format::CheckpointData &data, const std::vector<int> &tensors)
{
    StatsSelection request;
    request.bins = 1;
    request.background = true; // behind the window: the UI thread comes first
    const auto stats = computeAllStats(data, tensors, request);
    QList<TensorSummary> out;
    out.reserve(static_cast<qsizetype>(tensors.size()));
    for (std::size_t i = 0; i < tensors.size(); ++i) {
        TensorSummary s;
        s.tensor = tensors[i];
        if (stats[i].stats) {
            s.norm = stats[i].stats->l2;
            s.mean = stats[i].stats->mean;
        } else {
            s.error = QString::fromStdString(stats[i].error);
        }
        out << s;
    }
    return out;
}

quint64 TensorSummaryJob::start(CheckpointPtr data, std::vector<int> tensors)
{
    cancel();
    const quint64 generation = ++m_generation;
    retireWatcher(m_watcher, this);
    m_running = !tensors.empty() && data;
    if (!m_running) {
        emit finished();
        return generation;
    }
    m_watcher = std::make_unique<QFutureWatcher<QList<TensorSummary>>>();
    auto *watcher = m_watcher.get();
    connect(watcher, &QFutureWatcherBase::progressValueChanged, this, [this, generation](int value) {
        if (generation == m_generation)
            emit progressChanged(value);
    });
    connect(watcher, &QFutureWatcherBase::resultReadyAt, this, [this, watcher, generation](int index) {
        if (generation == m_generation)
            emit resultsReady(watcher->resultAt(index));
    });
    connect(watcher, &QFutureWatcherBase::finished, this, [this, watcher, generation] {
        if (generation != m_generation)
            return;
        m_running = false;
        if (watcher->isCanceled())
            emit canceled();
        else
            emit finished();
    });
    watcher->setFuture(QtConcurrent::run(
        [data = std::move(data), tensors = std::move(tensors)](QPromise<QList<TensorSummary>> &promise) {
            promise.setProgressRange(0, 1000);
            for (std::size_t at = 0; at < tensors.size(); at += kBatch) {
                if (promise.isCanceled())
                    return;
                const std::vector<int> batch(tensors.begin() + static_cast<std::ptrdiff_t>(at),
                                             tensors.begin()
                                                 + static_cast<std::ptrdiff_t>(std::min(tensors.size(), at + kBatch)));
                try {
                    promise.addResult(compute(*data, batch));
                } catch (const std::exception &e) {
                    QList<TensorSummary> failed;
                    for (int t : batch)
                        failed << TensorSummary{t, std::nullopt, std::nullopt, QString::fromUtf8(e.what())};
                    promise.addResult(failed);
                }
                promise.setProgressValue(
                    static_cast<int>((at + batch.size()) * 1000 / tensors.size()));
            }
        }));
    return generation;
}

void TensorSummaryJob::cancel()
{
    if (m_watcher && !m_watcher->isFinished())
        m_watcher->cancel();
}

} // namespace ckpt
