// SPDX-License-Identifier: MIT
#include "checkpointloadjob.h"

#include "jobsupport.h"

#include <QElapsedTimer>
#include <QFile>
#include <QPromise>
#include <QtConcurrent/QtConcurrentRun>

namespace ckpt {

namespace {

LoadedCheckpoint loadWith(const QString &path, const format::ProgressFn &progress)
{
    QElapsedTimer timer;
    timer.start();
    LoadedCheckpoint result;
    result.path = path;
    // A DCP directory opens from its .metadata alone: tensor records are read when a view needs
    // their values (File & Security says how many are not read yet).
    format::ReadLimits limits;
    limits.dcpRecordsOnOpen = false;
    result.data = format::readCheckpoint(QFile::encodeName(path).toStdString(), limits, progress);
    if (!result.data) {
        auto empty = std::make_shared<format::CheckpointData>();
        empty->file = QFile::encodeName(path).toStdString();
        empty->error = format::ReadError{format::FormatError::Kind::Io, "could not be read", {},
                                         format::FormatError::kNoOffset, false};
        result.data = std::move(empty);
    }
    result.tree = CheckpointTree::build(result.data);
    result.elapsedMs = timer.elapsed();
    return result;
}

} // namespace

CheckpointLoadJob::CheckpointLoadJob(QObject *parent)
    : QObject(parent)
{
    qRegisterMetaType<LoadedCheckpoint>();
}

CheckpointLoadJob::~CheckpointLoadJob()
{
    cancel();
    if (m_watcher)
        m_watcher->waitForFinished();
}

LoadedCheckpoint CheckpointLoadJob::load(const QString &path)
{
    return loadWith(path, {});
}

quint64 CheckpointLoadJob::start(const QString &path)
{
    cancel();
    const quint64 generation = ++m_generation;
    m_running = true;
    retireWatcher(m_watcher, this);
    m_watcher = std::make_unique<QFutureWatcher<LoadedCheckpoint>>();
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
        LoadedCheckpoint result = watcher->result();
        result.generation = generation;
        emit finished(result);
    });
    QFuture<LoadedCheckpoint> future = QtConcurrent::run([path](QPromise<LoadedCheckpoint> &promise) {
        std::atomic<int> last{-1};
        const format::ProgressFn progress = permilleProgress(promise, last);
        LoadedCheckpoint result = loadWith(path, progress);
        if (promise.isCanceled())
            return;
        promise.setProgressValue(1000);
        promise.addResult(std::move(result));
    });
    watcher->setFuture(future);
    return generation;
}

void CheckpointLoadJob::cancel()
{
    if (m_watcher && !m_watcher->isFinished())
        m_watcher->cancel();
}

bool CheckpointLoadJob::isRunning() const
{
    // True until the result (or the cancellation) of the current generation has been reported.
    return m_running;
}

} // namespace ckpt
