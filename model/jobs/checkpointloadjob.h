// SPDX-License-Identifier: MIT
#pragma once

#include "checkpointtree.h"

#include <QFutureWatcher>
#include <QObject>
#include <QString>

#include <memory>

namespace ckpt {

/// What a finished load hands over: the checkpoint (with `error` set if reading stopped early,
/// whatever was read still in it) and its tree, both built on the worker thread.
struct LoadedCheckpoint
{
    QString path;
    CheckpointPtr data;
    std::shared_ptr<const CheckpointTree> tree;
    qint64 elapsedMs = 0;
    quint64 generation = 0;
};

/// Reads a checkpoint off the UI thread (QtConcurrent::run + QPromise) and reports progress on
/// a 0–1000 scale. Starting a new load cancels the running one; results of older generations
/// are dropped. Thread affinity: the thread that created it (the GUI thread).
class CheckpointLoadJob : public QObject
{
    Q_OBJECT
public:
    explicit CheckpointLoadJob(QObject *parent = nullptr);
    ~CheckpointLoadJob() override;

    /// Starts reading `path`; returns the generation of this load.
    quint64 start(const QString &path);
    void cancel();
    bool isRunning() const;
    quint64 generation() const noexcept { return m_generation; }

    /// Blocking variant for tests and the command line (no signals).
    static LoadedCheckpoint load(const QString &path);

signals:
    void progressChanged(int permille);
    void finished(const ckpt::LoadedCheckpoint &result);
    void canceled();

private:
    quint64 m_generation = 0;
    bool m_running = false;
    std::unique_ptr<QFutureWatcher<LoadedCheckpoint>> m_watcher;
};

} // namespace ckpt

Q_DECLARE_METATYPE(ckpt::LoadedCheckpoint)
