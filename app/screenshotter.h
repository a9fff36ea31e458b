// SPDX-License-Identifier: MIT
#pragma once

#include <QObject>
#include <QString>

class QTimer;

namespace ckpt {

class MainWindow;

/// Renders the main window to a PNG once every tab has loaded and nothing is being computed
/// (statistics, histograms, heat-maps), then reports. Works under QT_QPA_PLATFORM=offscreen.
class Screenshotter : public QObject
{
    Q_OBJECT
public:
    Screenshotter(MainWindow *window, const QString &fileName, int timeoutMs = 120'000);

    void start();

signals:
    void done(bool ok, const QString &message);

private:
    void poll();
    void capture(bool timedOut);

    MainWindow *m_window;
    QString m_fileName;
    int m_timeoutMs;
    QTimer *m_poll;
    int m_idleTicks = 0;
    qint64 m_started = 0;
};

} // namespace ckpt
