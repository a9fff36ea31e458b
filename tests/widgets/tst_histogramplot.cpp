// SPDX-License-Identifier: MIT
#include "heatmapplot.h"
#include "histogrampanel.h"
#include "histogramplot.h"

#include <QFile>
#include <QImage>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <limits>

#include <qcustomplot.h>

#include <cmath>

using namespace ckpt;

class TestHistogramPlot : public QObject
{
    Q_OBJECT
private slots:
    void barsAndLogScale()
    {
        HistogramPlot plot;
        plot.setHistogram(-1.0, 1.0, {1, 0, 3, 2});
        auto bars = plot.plottedBars();
        QCOMPARE(bars.size(), std::size_t(4));
        QCOMPARE(bars[0].first, -0.75);
        QCOMPARE(bars[2].second, 3.0);
        plot.setLogScale(true);
        bars = plot.plottedBars();
        QCOMPARE(bars.size(), std::size_t(3)); // the empty bin has no bar on a log axis
        plot.setLogScale(false);
        QCOMPARE(plot.plottedBars().size(), std::size_t(4));
        plot.clear(QStringLiteral("nothing"));
        QCOMPARE(plot.plottedBars().size(), std::size_t(0));
        QCOMPARE(plot.binCount(), 0);
    }

    void binsAndReadout()
    {
        HistogramPlot plot;
        plot.setHistogram(-1.0, 1.0, {1, 0, 3, 2});
        QCOMPARE(plot.binAt(-1.0), 0);
        QCOMPARE(plot.binAt(0.0), 2);
        QCOMPARE(plot.binAt(1.0), 3); // the maximum falls in the last bin (torch.histc)
        QCOMPARE(plot.binAt(1.5), -1);
        QSignalSpy spy(&plot, &HistogramPlot::readoutChanged);
        plot.showReadout(2);
        QCOMPARE(spy.count(), 1);
        QVERIFY2(plot.readout().contains(QStringLiteral("[0, 0.5)")), qPrintable(plot.readout()));
        QVERIFY(plot.readout().contains(QStringLiteral("3 values")));
        plot.showReadout(3);
        QVERIFY2(plot.readout().contains(QStringLiteral("[0.5, 1]")), qPrintable(plot.readout()));
        plot.showReadout(-1);
        QVERIFY(plot.readout().isEmpty());
    }

    /// Moving the mouse over a bar shows that bin's range and count.
    void hover()
    {
        HistogramPlot plot;
        plot.resize(600, 400);
        plot.show();
        QVERIFY(QTest::qWaitForWindowExposed(&plot));
        plot.setHistogram(0.0, 4.0, {5, 6, 7, 8});
        auto *qcp = plot.findChild<QCustomPlot *>();
        QVERIFY(qcp);
        qcp->replot();
        const int x = int(qcp->xAxis->coordToPixel(2.5));
        const int y = int(qcp->yAxis->coordToPixel(1.0));
        QMouseEvent move(QEvent::MouseMove, QPointF(x, y), qcp->mapToGlobal(QPointF(x, y)), Qt::NoButton,
                         Qt::NoButton, Qt::NoModifier);
        QApplication::sendEvent(qcp, &move);
        QVERIFY2(plot.readout().contains(QStringLiteral("bin 2")), qPrintable(plot.readout()));
        QVERIFY(plot.readout().contains(QStringLiteral("7 values")));
    }

    void exports()
    {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        HistogramPlot plot;
        plot.resize(500, 300);
        plot.setHistogram(-2.0, 2.0, {4, 5, 6, 7});
        const QString png = dir.filePath(QStringLiteral("h.png"));
        QVERIFY(plot.savePng(png, 640, 360));
        QCOMPARE(QImage(png).size(), QSize(640, 360));
        const QString pdf = dir.filePath(QStringLiteral("h.pdf"));
        QVERIFY(plot.savePdf(pdf, 640, 360));
        QFile pf(pdf);
        QVERIFY(pf.open(QIODevice::ReadOnly));
        QVERIFY(pf.read(4) == "%PDF");
        const QString svg = dir.filePath(QStringLiteral("h.svg"));
        QVERIFY(plot.saveSvg(svg, 640, 360));
        QFile sf(svg);
        QVERIFY(sf.open(QIODevice::ReadOnly));
        QVERIFY(sf.readAll().contains("<svg"));
        const QString csv = dir.filePath(QStringLiteral("h.csv"));
        QVERIFY(plot.saveCsv(csv));
        QFile cf(csv);
        QVERIFY(cf.open(QIODevice::ReadOnly | QIODevice::Text));
        const QStringList lines = QString::fromUtf8(cf.readAll()).split(QLatin1Char('\n'), Qt::SkipEmptyParts);
        QCOMPARE(lines.size(), 5);
        QCOMPARE(lines[0], QStringLiteral("bin,lo,hi,count"));
        QCOMPARE(lines[1], QStringLiteral("0,-2,-1,4"));
        QCOMPARE(lines[4], QStringLiteral("3,1,2,7"));
    }

    void panelControls()
    {
        HistogramPanel panel;
        QSignalSpy spy(&panel, &HistogramPanel::requestChanged);
        panel.setBins(16);
        QTRY_COMPARE_WITH_TIMEOUT(spy.count(), 1, 3000);
        StatsRequest r;
        panel.applyTo(r);
        QCOMPARE(r.bins, 16);
        QCOMPARE(r.range, HistogramRange::Auto);
        panel.setRangeMode(HistogramRange::Symmetric);
        QTRY_COMPARE_WITH_TIMEOUT(spy.count(), 2, 3000);
        panel.applyTo(r);
        QCOMPARE(r.range, HistogramRange::Symmetric);
        panel.setRangeMode(HistogramRange::Custom);
        panel.setCustomRange(-0.5, 0.25);
        QTRY_VERIFY_WITH_TIMEOUT(spy.count() >= 3, 3000);
        panel.applyTo(r);
        QCOMPARE(r.range, HistogramRange::Custom);
        QCOMPARE(r.customLo, -0.5);
        QCOMPARE(r.customHi, 0.25);
        // An empty/invalid custom range falls back to Auto.
        panel.setCustomRange(1, 1);
        panel.applyTo(r);
        QCOMPARE(r.range, HistogramRange::Auto);
    }

    /// The heat-map's axes name only indices the slice has: square cells widen the column axis
    /// of a 16 x 3 slice far beyond column 2, and no tick may say "-10" or "12" there.
    void heatmapTicksNameOnlyIndicesOfTheSlice()
    {
        HeatmapPlot plot;
        plot.resize(500, 400);
        plot.show();
        QVERIFY(QTest::qWaitForWindowExposed(&plot));
        HeatmapGrid grid;
        grid.fullRows = grid.rows = 16;
        grid.fullCols = grid.cols = 3;
        for (int i = 0; i < 48; ++i)
            grid.values.push_back(i % 7 - 3.0);
        grid.min = -3;
        grid.max = 3;
        grid.hasFinite = true;
        plot.setGrid(grid);
        auto *qcp = plot.findChild<QCustomPlot *>();
        QVERIFY(qcp);
        qcp->replot();
        // The visible column range is wider than the slice (square cells)...
        QVERIFY2(qcp->xAxis->range().lower < -1 && qcp->xAxis->range().upper > 3,
                 qPrintable(QStringLiteral("%1..%2").arg(qcp->xAxis->range().lower).arg(qcp->xAxis->range().upper)));
        // ...but the ticks are the three columns.
        QCOMPARE(qcp->xAxis->tickVector(), QVector<double>({0, 1, 2}));
        const QVector<double> rows = qcp->yAxis->tickVector();
        QVERIFY(rows.size() >= 2);
        for (double r : rows)
            QVERIFY2(r >= 0 && r <= 15 && r == std::round(r), qPrintable(QString::number(r)));
    }

    /// Issue 16 item 6: a 1-D tensor's heat-map (one row) and a single column are drawn: the
    /// middle of the plot shows the map's colours, not the background. A NaN cell is magenta.
    void heatmapDrawsOneRowAndOneColumn_data()
    {
        QTest::addColumn<int>("rows");
        QTest::addColumn<int>("cols");
        QTest::newRow("1 x 5") << 1 << 5;
        QTest::newRow("5 x 1") << 5 << 1;
        QTest::newRow("1 x 1") << 1 << 1;
        QTest::newRow("3 x 4") << 3 << 4;
    }

    void heatmapDrawsOneRowAndOneColumn()
    {
        QFETCH(int, rows);
        QFETCH(int, cols);
        HeatmapPlot plot;
        plot.resize(500, 400);
        plot.show();
        QVERIFY(QTest::qWaitForWindowExposed(&plot));
        HeatmapGrid grid;
        grid.fullRows = grid.rows = rows;
        grid.fullCols = grid.cols = cols;
        for (int i = 0; i < rows * cols; ++i)
            grid.values.push_back(i == 0 && rows * cols > 1 ? std::numeric_limits<double>::quiet_NaN() : 1.0 + i);
        grid.min = 1;
        grid.max = rows * cols;
        grid.hasFinite = true;
        plot.setGrid(grid);
        auto *qcp = plot.findChild<QCustomPlot *>();
        QVERIFY(qcp);
        qcp->replot();
        const QImage image = qcp->toPixmap(qcp->width(), qcp->height()).toImage();
        const QColor background = qcp->palette().color(QPalette::Base);
        // The last cell (not NaN) at its centre, and the first (NaN) cell.
        auto pixelOf = [&](int r, int c) {
            return image.pixelColor(qRound(qcp->xAxis->coordToPixel(c)), qRound(qcp->yAxis->coordToPixel(r)));
        };
        const QColor last = pixelOf(rows - 1, cols - 1);
        QVERIFY2(last != background && last != Qt::white, qPrintable(last.name()));
        if (rows * cols > 1)
            QCOMPARE(pixelOf(0, 0), QColor(255, 0, 255));
    }

    /// +Inf is drawn as the top of the scale and -Inf as its bottom (QCPColorGradient left alone
    /// gives an infinite value an arbitrary colour).
    void heatmapDrawsInfinitiesAtTheEndsOfTheScale()
    {
        HeatmapPlot plot;
        plot.resize(500, 400);
        plot.show();
        QVERIFY(QTest::qWaitForWindowExposed(&plot));
        HeatmapGrid grid;
        grid.fullRows = grid.rows = 4;
        grid.fullCols = grid.cols = 1;
        const double inf = std::numeric_limits<double>::infinity();
        grid.values = {-3.0, inf, -inf, 3.0};
        grid.min = -3;
        grid.max = 3;
        grid.hasFinite = true;
        plot.setGrid(grid);
        auto *qcp = plot.findChild<QCustomPlot *>();
        qcp->replot();
        const QImage image = qcp->toPixmap(qcp->width(), qcp->height()).toImage();
        auto pixelOf = [&](int r) {
            return image.pixelColor(qRound(qcp->xAxis->coordToPixel(0)), qRound(qcp->yAxis->coordToPixel(r)));
        };
        QCOMPARE(pixelOf(1), pixelOf(3)); // +Inf as the largest value
        QCOMPARE(pixelOf(2), pixelOf(0)); // -Inf as the smallest
        QVERIFY(pixelOf(1) != pixelOf(2));
    }
};

QTEST_MAIN(TestHistogramPlot)
#include "tst_histogramplot.moc"
