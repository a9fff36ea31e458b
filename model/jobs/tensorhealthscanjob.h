// SPDX-License-Identifier: MIT
#pragma once

#include "modeltypes.h"

#include <QFutureWatcher>
#include <QObject>
#include <QStringList>

#include <memory>

namespace ckpt {

/// One tensor's statistics-derived flags (TensorHealth in checkpointtree.h).
struct TensorHealthResult
{
    int tensor = -1;
    int flags = 0;
    bool failed = false; ///< its bytes could not be read (damaged record, file changed on disk)
    QString crcProblem;  ///< its record fails its zip CRC-32 check (format::checkStorageCrc)
};

/// Checks every tensor of a checkpoint for NaN, ±Inf and all-zero values off the UI thread,
/// reporting each tensor as soon as it is done (progress 0–1000 by elements, cancellable).
/// Tensors of dtypes without statistics are skipped; tensors whose bytes cannot be read are
/// counted (failedCount()) and reported with flags 0. Thread affinity: the GUI thread.
class TensorHealthScanJob : public QObject
{
    Q_OBJECT
public:
    explicit TensorHealthScanJob(QObject *parent = nullptr);
    ~TensorHealthScanJob() override;

    void start(CheckpointPtr data);
    void cancel();
    bool isRunning() const { return m_running; }
    /// Tensors of the last scan whose bytes could not be read.
    int failedCount() const { return m_failed; }
    /// What checkStorageCrc said of each record that fails its CRC-32 check, in scan order.
    const QStringList &crcProblems() const { return m_crcProblems; }

signals:
    void progressChanged(int permille);
    void tensorChecked(int tensor, int flags);
    /// All tensors checked: how many, and how many were flagged (NaN/Inf/all zeros).
    void finished(int checked, int flagged);
    void canceled();

private:
    quint64 m_generation = 0;
    bool m_running = false;
    int m_checked = 0;
    int m_flagged = 0;
    int m_failed = 0;
    QStringList m_crcProblems;
    std::unique_ptr<QFutureWatcher<TensorHealthResult>> m_watcher;
};

} // namespace ckpt
