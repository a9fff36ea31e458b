// SPDX-License-Identifier: MIT
#pragma once

#include "diffengine.h"
#include "modeltypes.h"

#include <QFutureWatcher>
#include <QMetaType>
#include <QObject>

#include <memory>
#include <utility>
#include <vector>

namespace ckpt {

/// One delivery of a running comparison: the aligned result first (metrics pending), then
/// batches of entries whose metrics are done.
struct DiffUpdate
{
    std::shared_ptr<const DiffResult> aligned;          ///< set in the first update only
    std::vector<std::pair<int, DiffEntry>> computed;    ///< (index into entries, entry)
};

/// Compares two loaded checkpoints off the UI thread: aligns them (paths and metadata only),
/// delivers that at once, then computes the metrics of every pending tensor pair, streaming the
/// finished entries in batches (at most ~10 per second, so the view never stalls however many
/// tensors there are). Progress 0–1000 over the elements of all pending tensors; cancellable.
/// A new start() cancels the running one and stale deliveries are dropped (generation counter).
/// Thread affinity: the GUI thread.
class DiffJob : public QObject
{
    Q_OBJECT
public:
    /// Entries finished within this many milliseconds are delivered together.
    static constexpr int kBatchMs = 100;

    explicit DiffJob(QObject *parent = nullptr);
    ~DiffJob() override;

    quint64 start(CheckpointPtr a, CheckpointPtr b, const DiffOptions &options = {});
    void cancel();
    bool isRunning() const { return m_running; }
    quint64 generation() const noexcept { return m_generation; }

signals:
    void aligned(std::shared_ptr<const ckpt::DiffResult> result);
    void entriesComputed(const std::vector<std::pair<int, ckpt::DiffEntry>> &batch);
    void progressChanged(int permille);
    /// All metrics computed; `elapsedMs` since start().
    void finished(qint64 elapsedMs);
    void canceled();

private:
    quint64 m_generation = 0;
    bool m_running = false;
    std::unique_ptr<QFutureWatcher<DiffUpdate>> m_watcher;
};

} // namespace ckpt

Q_DECLARE_METATYPE(ckpt::DiffUpdate)
