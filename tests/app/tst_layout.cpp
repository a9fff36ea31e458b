// SPDX-License-Identifier: MIT
// Layout and palette at 1280x720 (issue 16 item 9), light and dark: the main window on the
// bundled sample and on its comparison. Nothing essential cut (every compare column on screen,
// numbers never elided, names elided in the middle with the full path in the tooltip), the
// splitter stays where it is when the selection changes, plot tick labels do not overlap, the
// legend does not cover the bars, and every colour comes from the palette (plot backgrounds and
// axes, readable status and value colours). Screenshots of each state are saved beside the test
// (screenshots/layout-*.png) for a human to look at.
#include "checkpointpanel.h"
#include "checkpointtreemodel.h"
#include "checkpointtreeview.h"
#include "comparehistogramplot.h"
#include "comparepanel.h"
#include "comparetensorpanel.h"
#include "diffmodel.h"
#include "histogrampanel.h"
#include "heatmapplot.h"
#include "histogramplot.h"
#include "mainwindow.h"
#include "modelroles.h"
#include "tensordetailspanel.h"
#include "themesupport.h"

#include <QApplication>
#include <QDir>
#include <QHeaderView>
#include <QSignalSpy>
#include <QSplitter>
#include <QStyle>
#include <QTest>

#include <functional>

#include <qcustomplot.h>

using namespace ckpt;

namespace {

const QString kSampleA = QStringLiteral(CKPT_SOURCE_DIR "/resources/samples/sample_epoch1.pt");
const QString kSampleB = QStringLiteral(CKPT_SOURCE_DIR "/resources/samples/sample_epoch2.pt");

void usePalette(bool dark)
{
    QApplication::setStyle(QStringLiteral("Fusion"));
    QApplication::setPalette(dark ? darkPalette() : QApplication::style()->standardPalette());
}

void saveScreenshot(QWidget *w, const QString &name)
{
    QDir().mkpath(QStringLiteral("screenshots"));
    w->grab().save(QStringLiteral("screenshots/layout-%1.png").arg(name));
}

/// Every row of `model` (depth first), as `view` shows them (expanded rows only).
QList<QModelIndex> shownRows(const QTreeView *view, const QModelIndex &parent = {})
{
    QList<QModelIndex> out;
    const QAbstractItemModel *m = view->model();
    for (int r = 0; r < m->rowCount(parent); ++r) {
        const QModelIndex i = m->index(r, 0, parent);
        out << i;
        if (view->isExpanded(i))
            out << shownRows(view, i);
    }
    return out;
}

/// The text of a cell is drawn whole (not elided) in its column.
bool fitsInColumn(const QTreeView *view, const QModelIndex &cell)
{
    const QString text = cell.data().toString();
    if (text.isEmpty())
        return true;
    const int margin = view->style()->pixelMetric(QStyle::PM_FocusFrameHMargin, nullptr, view) + 1;
    return view->fontMetrics().horizontalAdvance(text) + 2 * margin <= view->columnWidth(cell.column());
}

/// Tick labels of the x axis do not overlap their neighbours.
bool ticksApart(QCPAxis *axis, QString *why)
{
    const QVector<double> ticks = axis->tickVector();
    const QVector<QString> labels = axis->tickVectorLabels();
    const QFontMetrics fm(axis->tickLabelFont());
    for (int i = 0; i + 1 < ticks.size() && i + 1 < labels.size(); ++i) {
        const double gap = std::abs(axis->coordToPixel(ticks[i + 1]) - axis->coordToPixel(ticks[i]));
        const double need = (fm.horizontalAdvance(labels[i]) + fm.horizontalAdvance(labels[i + 1])) / 2.0 + 2;
        if (gap < need) {
            *why = QStringLiteral("'%1' and '%2' are %3 px apart, need %4").arg(labels[i], labels[i + 1]).arg(gap).arg(need);
            return false;
        }
    }
    return true;
}

QColor brushColor(const QVariant &v, const QColor &fallback)
{
    return v.canConvert<QBrush>() && v.value<QBrush>().style() != Qt::NoBrush ? v.value<QBrush>().color() : fallback;
}

/// The plot follows the palette: background, axis labels and (when shown) legend text.
void checkPlotPalette(QCustomPlot *plot, const QPalette &palette, const char *what)
{
    QVERIFY2(plot, what);
    const QImage image = plot->grab().toImage();
    QVERIFY2(!image.isNull(), what);
    const QColor corner = image.pixelColor(2, 2);
    QVERIFY2(corner == palette.color(QPalette::Base),
             qPrintable(QStringLiteral("%1: background %2, base %3").arg(QLatin1String(what), corner.name(),
                                                                         palette.color(QPalette::Base).name())));
    QCOMPARE(plot->xAxis->tickLabelColor(), palette.color(QPalette::Text));
    QCOMPARE(plot->yAxis->labelColor(), palette.color(QPalette::Text));
    QVERIFY(contrastRatio(plot->xAxis->basePen().color(), palette.color(QPalette::Base)) >= 3.0);
    if (plot->legend && plot->legend->visible())
        QCOMPARE(plot->legend->textColor(), palette.color(QPalette::Text));
}

} // namespace

class TestLayout : public QObject
{
    Q_OBJECT

private slots:
    void cleanup() { usePalette(false); }

    void singleViewAt1280x720_data()
    {
        QTest::addColumn<bool>("dark");
        QTest::newRow("light") << false;
        QTest::newRow("dark") << true;
    }
    void singleViewAt1280x720()
    {
        QFETCH(bool, dark);
        usePalette(dark);
        const QPalette palette = QApplication::palette();
        QCOMPARE(isDarkPalette(palette), dark);
        MainWindow w;
        w.setPersistSettings(false);
        w.resize(1280, 720);
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        CheckpointPanel *p = w.openFile(kSampleA);
        QSignalSpy loaded(p, &CheckpointPanel::loadFinished);
        QTRY_COMPARE_WITH_TIMEOUT(loaded.count(), 1, 20000);
        QVERIFY(p->selectPath(QStringLiteral("model_state_dict/conv1.weight")));
        HistogramPlot *hist = p->tensorDetails()->histogram()->plot();
        QTRY_VERIFY_WITH_TIMEOUT(hist->binCount() > 0, 20000);
        QTest::qWait(50);
        saveScreenshot(&w, dark ? QStringLiteral("single-dark") : QStringLiteral("single-light"));

        // The tree: every column on screen, numbers whole, names elided in the middle.
        CheckpointTreeView *tree = p->treeView();
        QCOMPARE(tree->textElideMode(), Qt::ElideMiddle);
        QVERIFY2(tree->header()->length() <= tree->viewport()->width() + 1,
                 qPrintable(QStringLiteral("%1 > %2").arg(tree->header()->length()).arg(tree->viewport()->width())));
        int numbers = 0;
        for (const QModelIndex &row : shownRows(tree)) {
            for (int c : {CheckpointTreeModel::ElementsColumn, CheckpointTreeModel::SizeColumn}) {
                const QModelIndex cell = row.siblingAtColumn(c);
                QVERIFY2(fitsInColumn(tree, cell), qPrintable(cell.data().toString()));
                numbers += !cell.data().toString().isEmpty();
            }
            // The whole path is in the tooltip of every name.
            QVERIFY(row.data(Qt::ToolTipRole).toString().contains(row.data(PathRole).toString()));
            // Values and flags stay readable on the base colour.
            const QColor fg = brushColor(row.siblingAtColumn(CheckpointTreeModel::ShapeColumn).data(Qt::ForegroundRole),
                                         palette.color(QPalette::Text));
            QVERIFY2(contrastRatio(fg, palette.color(QPalette::Base)) >= 4.5, qPrintable(fg.name()));
        }
        QVERIFY(numbers > 10);

        // The splitter keeps its place whatever the selection shows.
        const QList<int> sizes = p->splitter()->sizes();
        for (const char *path : {"model_state_dict/conv1", "epoch", "optimizer_state_dict", "", "model_state_dict/fc.weight"}) {
            QVERIFY(p->selectPath(QString::fromLatin1(path)));
            QTest::qWait(30);
            QCOMPARE(p->splitter()->sizes(), sizes);
        }
        QVERIFY(p->selectPath(QStringLiteral("model_state_dict/conv1.weight")));
        QTRY_VERIFY_WITH_TIMEOUT(!p->tensorDetails()->isBusy() && hist->binCount() > 0, 20000);
        QTest::qWait(100); // the queued replots (ticks follow the new range and width)

        // The histogram: the palette's colours, tick labels apart.
        auto *plot = hist->findChild<QCustomPlot *>();
        checkPlotPalette(plot, palette, "histogram");
        QString why;
        QVERIFY2(ticksApart(plot->xAxis, &why), qPrintable(why));
    }

    void compareViewAt1280x720_data() { singleViewAt1280x720_data(); }
    void compareViewAt1280x720()
    {
        QFETCH(bool, dark);
        usePalette(dark);
        const QPalette palette = QApplication::palette();
        MainWindow w;
        w.setPersistSettings(false);
        w.resize(1280, 720);
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        ComparePanel *c = w.openCompare(kSampleA, kSampleB);
        QSignalSpy compared(c, &ComparePanel::compared);
        QTRY_VERIFY_WITH_TIMEOUT(compared.count() > 0 || c->isComplete(), 30000);
        QSignalSpy computed(c->tensorPanel(), &CompareTensorPanel::computed);
        QVERIFY(c->selectPath(QStringLiteral("model_state_dict/conv1.weight")));
        QTRY_VERIFY_WITH_TIMEOUT(computed.count() > 0 && !c->tensorPanel()->isBusy(), 30000);
        QTest::qWait(50);
        saveScreenshot(&w, dark ? QStringLiteral("compare-dark") : QStringLiteral("compare-light"));

        // Every column of the aligned tree is on screen; the change metrics are whole.
        CheckpointTreeView *tree = c->treeView();
        QHeaderView *header = tree->header();
        for (int col = 0; col < header->count(); ++col) {
            const int right = header->sectionViewportPosition(col) + header->sectionSize(col);
            QVERIFY2(right <= tree->viewport()->width() + 1,
                     qPrintable(QStringLiteral("column %1 ends at %2 of %3")
                                    .arg(tree->model()->headerData(col, Qt::Horizontal).toString())
                                    .arg(right)
                                    .arg(tree->viewport()->width())));
        }
        QVERIFY(header->visualIndex(DiffModel::RelL2Column) < header->visualIndex(DiffModel::AColumn));
        int metrics = 0;
        for (const QModelIndex &row : shownRows(tree)) {
            for (int col : {DiffModel::RelL2Column, DiffModel::CosineColumn, DiffModel::MaxAbsColumn, DiffModel::MeanAbsColumn}) {
                const QModelIndex cell = row.siblingAtColumn(col);
                QVERIFY2(fitsInColumn(tree, cell), qPrintable(cell.data().toString()));
                metrics += !cell.data().toString().isEmpty();
            }
            // The status colours are readable on their background, in either palette.
            const QModelIndex status = row.siblingAtColumn(DiffModel::StatusColumn);
            const QColor bg = brushColor(status.data(Qt::BackgroundRole), palette.color(QPalette::Base));
            const QColor fg = brushColor(status.data(Qt::ForegroundRole), palette.color(QPalette::Text));
            QVERIFY2(contrastRatio(fg, bg) >= 4.5,
                     qPrintable(QStringLiteral("%1 on %2: %3").arg(fg.name(), bg.name()).arg(contrastRatio(fg, bg))));
        }
        QVERIFY(metrics > 20);

        // The splitter stays put when the details change from placeholder to tensor and back.
        const QList<int> sizes = c->findChild<QSplitter *>()->sizes();
        for (const char *path : {"model_state_dict/conv1", "epoch", "model_state_dict/fc.weight"}) {
            QVERIFY(c->selectPath(QString::fromLatin1(path)));
            QTest::qWait(30);
            QCOMPARE(c->findChild<QSplitter *>()->sizes(), sizes);
        }
        computed.clear();
        QVERIFY(c->selectPath(QStringLiteral("model_state_dict/conv1.weight")));
        QTRY_VERIFY_WITH_TIMEOUT(computed.count() > 0 && !c->tensorPanel()->isBusy(), 30000);
        QTest::qWait(100); // the queued replots

        // The overlay: legend above the bars, ticks apart; B - A: ticks apart. Palette colours.
        auto *overlay = c->tensorPanel()->overlay()->findChild<QCustomPlot *>();
        checkPlotPalette(overlay, palette, "overlay");
        QVERIFY(overlay->legend->visible());
        QVERIFY2(!overlay->legend->outerRect().intersects(overlay->axisRect()->rect()), "the legend covers the bars");
        QString why;
        QVERIFY2(ticksApart(overlay->xAxis, &why), qPrintable(why));
        auto *difference = c->tensorPanel()->differencePlot()->findChild<QCustomPlot *>();
        checkPlotPalette(difference, palette, "B - A");
        QVERIFY2(ticksApart(difference->xAxis, &why), qPrintable(why));
        checkPlotPalette(c->tensorPanel()->heatmap()->findChild<QCustomPlot *>(), palette, "heat-map");
    }
};

QTEST_MAIN(TestLayout)
#include "tst_layout.moc"
