// SPDX-License-Identifier: MIT
#include "screenshotter.h"

#include "mainwindow.h"

#include <QDateTime>
#include <QPixmap>
#include <QTimer>

namespace ckpt {

Screenshotter::Screenshotter(MainWindow *window, const QString &fileName, int timeoutMs)
    : QObject(window)
    , m_window(window)
    , m_fileName(fileName)
    , m_timeoutMs(timeoutMs)
    , m_poll(new QTimer(this))
{
    m_poll->setInterval(100);
    connect(m_poll, &QTimer::timeout, this, &Screenshotter::poll);
}

void Screenshotter::start()
{
    m_started = QDateTime::currentMSecsSinceEpoch();
    m_poll->start();
}

void Screenshotter::poll()
{
    if (QDateTime::currentMSecsSinceEpoch() - m_started > m_timeoutMs) {
        capture(true);
        return;
    }
    // Idle for a few consecutive ticks: queued replots and layouts have settled.
    m_idleTicks = m_window->isBusy() ? 0 : m_idleTicks + 1;
    if (m_idleTicks >= 3)
        capture(false);
}

void Screenshotter::capture(bool timedOut)
{
    m_poll->stop();
    const QPixmap pixmap = m_window->grab();
    const bool saved = !pixmap.isNull() && pixmap.save(m_fileName, "PNG");
    QString message;
    if (!saved)
        message = tr("could not write %1").arg(m_fileName);
    else if (timedOut)
        message = tr("timed out waiting for work to finish; wrote %1 anyway").arg(m_fileName);
    emit done(saved, message);
}

} // namespace ckpt
