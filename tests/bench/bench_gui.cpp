// SPDX-License-Identifier: MIT
// B5 of docs/BENCHMARKS.md: how the desktop application feels with big files. Runs the real
// CheckpointPanel (the content of one ckpt-browser tab: tree, details, statistics job) in a
// QApplication, offscreen or under xvfb-run, and prints one JSON line:
//   tree_ms    process start -> the tree of FILE painted (with CKPT_BENCH_T0_NS, the
//              CLOCK_REALTIME of the parent just before it started us, fork/exec included;
//              otherwise from the start of main());
//   stall_ms   the longest gap between ticks of a 1 ms heartbeat QTimer on the UI thread while the
//              statistics of TENSOR (selected in the tree, as a click does) are computed, selection
//              and showing the result included;
//   stall_cpu_ms the UI thread's CPU time within that longest gap (the rest it waited for a core);
//   stats_ms   how long those statistics took;
//   cancel_ms  statistics of TENSOR2 started, Cancel clicked after 150 ms: time until the panel
//              is idle (not busy, no pool thread running).
//
//   bench_gui FILE TENSOR TENSOR2

#include "checkpointpanel.h"
#include "checkpointtreemodel.h"
#include "checkpointtreeview.h"
#include "histogrampanel.h"
#include "tensordetailspanel.h"

#include <QApplication>
#include <QElapsedTimer>
#include <QEvent>
#include <QThreadPool>
#include <QTimer>
#include <QToolButton>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>

namespace {

double realtimeMs()
{
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// Calls `onPaint` after each paint of the watched widget.
class PaintWatcher : public QObject
{
public:
    std::function<void()> onPaint;
    bool eventFilter(QObject *watched, QEvent *event) override
    {
        if (event->type() == QEvent::Paint && onPaint)
            QTimer::singleShot(0, this, [this] { if (onPaint) onPaint(); });
        return QObject::eventFilter(watched, event);
    }
};

double threadCpuMs()
{
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// The longest interval between ticks of a 1 ms timer on the thread it lives on, and the CPU time
// that thread used within that interval (the rest of it the thread waited for a core: on a loaded
// machine the UI thread shares two cores with the statistics workers and everything else).
class Heartbeat : public QObject
{
public:
    Heartbeat()
    {
        m_timer.setTimerType(Qt::PreciseTimer);
        m_timer.setInterval(1);
        connect(&m_timer, &QTimer::timeout, this, [this] { tick(); });
    }
    void start()
    {
        m_maxGap = 0;
        m_maxGapCpu = 0;
        m_last = realtimeMs();
        m_lastCpu = threadCpuMs();
        m_timer.start();
    }
    double stop()
    {
        m_timer.stop();
        tick();
        return m_maxGap;
    }
    double maxGapCpu() const { return m_maxGapCpu; }
    double maxGapAt() const { return m_maxGapAt; } ///< CLOCK_REALTIME ms when it began

private:
    void tick()
    {
        const double now = realtimeMs();
        const double cpu = threadCpuMs();
        if (now - m_last > m_maxGap) {
            m_maxGap = now - m_last;
            m_maxGapCpu = cpu - m_lastCpu;
            m_maxGapAt = m_last;
        }
        m_last = now;
        m_lastCpu = cpu;
    }

    QTimer m_timer;
    double m_last = 0;
    double m_lastCpu = 0;
    double m_maxGap = 0;
    double m_maxGapCpu = 0;
    double m_maxGapAt = 0;
};

QToolButton *cancelButton(ckpt::CheckpointPanel &panel)
{
    const auto buttons = panel.tensorDetails()->histogram()->findChildren<QToolButton *>();
    for (QToolButton *b : buttons)
        if (b->text() == QLatin1String("Cancel") && b->isVisible())
            return b;
    return nullptr;
}

bool poolIdle()
{
    return QThreadPool::globalInstance()->activeThreadCount() == 0;
}

// With CKPT_BENCH_TRACE_MS=N: every event the UI thread takes more than N ms to handle is
// printed to stderr (type, receiver class and name, nesting depth), to find what a stall is.
class TracingApp : public QApplication
{
public:
    TracingApp(int &argc, char **argv) : QApplication(argc, argv)
    {
        if (const char *env = std::getenv("CKPT_BENCH_TRACE_MS"))
            m_thresholdMs = std::strtod(env, nullptr);
    }
    bool notify(QObject *receiver, QEvent *event) override
    {
        if (m_thresholdMs < 0)
            return QApplication::notify(receiver, event);
        const double start = realtimeMs();
        const int type = event->type();
        // The receiver may be deleted while it handles the event (DeferredDelete): names first.
        const char *cls = receiver->metaObject()->className();
        const QByteArray name = receiver->objectName().toUtf8();
        const char *parent = receiver->parent() ? receiver->parent()->metaObject()->className() : "-";
        ++m_depth;
        const bool r = QApplication::notify(receiver, event);
        --m_depth;
        const double ms = realtimeMs() - start;
        if (ms > m_thresholdMs)
            std::fprintf(stderr, "slow event: %.1f ms at %.1f, type %d, %s '%s' in %s, depth %d\n", ms,
                         std::fmod(start, 100000.0), type, cls, name.constData(), parent, m_depth);
        return r;
    }

private:
    double m_thresholdMs = -1;
    int m_depth = 0;
};

} // namespace

int main(int argc, char **argv)
{
    double t0 = realtimeMs();
    if (const char *env = std::getenv("CKPT_BENCH_T0_NS"))
        t0 = std::strtod(env, nullptr) / 1e6;
    TracingApp app(argc, argv);
    const QStringList args = QApplication::arguments();
    if (args.size() != 4) {
        std::fprintf(stderr, "usage: bench_gui FILE TENSOR TENSOR2\n");
        return 2;
    }
    const QString file = args.at(1), tensor = args.at(2), tensor2 = args.at(3);

    ckpt::CheckpointPanel panel;
    panel.resize(1280, 800);
    panel.show();
    double treeMs = -1, loadMs = -1, stallMs = -1, stallCpuMs = -1, statsMs = -1, cancelMs = -1;
    QString failure;
    Heartbeat heartbeat;
    QElapsedTimer clock;

    PaintWatcher paints;
    panel.treeView()->viewport()->installEventFilter(&paints);
    auto fail = [&](const QString &why) {
        failure = why;
        QApplication::exit(1);
    };
    // Step 3: Cancel clicked 150 ms into the statistics of tensor2; idle = not busy, pool empty.
    auto cancelStep = [&] {
        if (!panel.selectPath(tensor2))
            return fail(QStringLiteral("no tensor ") + tensor2);
        QTimer::singleShot(150, &panel, [&] {
            QToolButton *cancel = cancelButton(panel);
            if (!cancel || !panel.isBusy())
                return fail(QStringLiteral("statistics of the second tensor finished in under 150 ms"));
            clock.start();
            cancel->click();
            auto *poll = new QTimer(&panel);
            poll->setTimerType(Qt::PreciseTimer);
            poll->start(0);
            QObject::connect(poll, &QTimer::timeout, &panel, [&, poll] {
                if (std::getenv("CKPT_BENCH_TRACE_MS")) {
                    static double notBusyAt = -1;
                    if (notBusyAt < 0 && !panel.isBusy()) {
                        notBusyAt = static_cast<double>(clock.nsecsElapsed()) / 1e6;
                        std::fprintf(stderr, "panel not busy %.1f ms after Cancel, %d pool threads active\n",
                                     notBusyAt, QThreadPool::globalInstance()->activeThreadCount());
                    }
                }
                if (!panel.isBusy() && poolIdle()) {
                    cancelMs = static_cast<double>(clock.nsecsElapsed()) / 1e6;
                    poll->stop();
                    QApplication::exit(0);
                } else if (clock.elapsed() > 10000) {
                    poll->stop();
                    fail(QStringLiteral("not idle 10 s after Cancel"));
                }
            });
        });
    };
    // Step 2: select the tensor (as a click would) and watch the UI thread until its
    // statistics are shown.
    auto statsStep = [&] {
        heartbeat.start();
        clock.start();
        if (!panel.selectPath(tensor))
            return fail(QStringLiteral("no tensor ") + tensor);
        QObject::connect(panel.tensorDetails(), &ckpt::TensorDetailsPanel::busyChanged, &panel, [&](bool busy) {
            if (busy || statsMs >= 0)
                return;
            statsMs = static_cast<double>(clock.nsecsElapsed()) / 1e6;
            // Let the result be laid out and painted before the heartbeat stops.
            QTimer::singleShot(50, &panel, [&] {
                stallMs = heartbeat.stop();
                stallCpuMs = heartbeat.maxGapCpu();
                if (std::getenv("CKPT_BENCH_TRACE_MS"))
                    std::fprintf(stderr, "longest gap: %.1f ms at %.1f\n", stallMs,
                                 std::fmod(heartbeat.maxGapAt(), 100000.0));
                if (!panel.tensorDetails()->currentResult())
                    return fail(QStringLiteral("no statistics shown"));
                QTimer::singleShot(0, &panel, cancelStep);
            });
        });
    };
    // Step 1: the tree painted with the loaded file in it.
    QObject::connect(&panel, &ckpt::CheckpointPanel::loadFinished, &panel, [&] {
        loadMs = realtimeMs() - t0;
        if (!panel.hasCheckpoint() || !panel.loaded().data->ok())
            return fail(QStringLiteral("could not read ") + file);
        paints.onPaint = [&] {
            if (treeMs >= 0 || panel.model()->rowCount() == 0)
                return;
            // Only once (treeMs is set). Not `paints.onPaint = nullptr` here: that destroyed this
            // closure while it ran, and the next line read `panel` through a freed capture.
            treeMs = realtimeMs() - t0;
            QTimer::singleShot(200, &panel, statsStep); // let the first-load work settle
        };
        panel.treeView()->viewport()->update();
    });
    QTimer::singleShot(120000, &app, [&] { fail(QStringLiteral("timed out")); });
    panel.open(file);
    const int rc = QApplication::exec();
    if (rc != 0) {
        std::fprintf(stderr, "bench_gui: %s\n", qPrintable(failure));
        return rc;
    }
    std::printf("{\"tree_ms\": %.1f, \"load_ms\": %.1f, \"stall_ms\": %.1f, \"stall_cpu_ms\": %.1f, \"stats_ms\": %.1f, "
                "\"cancel_ms\": %.1f}\n",
                treeMs, loadMs, stallMs, stallCpuMs, statsMs, cancelMs);
    std::fflush(stdout);
    // Like ckpt-inspect: skip tearing down the graph of a big file at exit.
    std::_Exit(0);
}
