// SPDX-License-Identifier: MIT
#include "checkpointloadjob.h"
#include "chunkgrid.h"
#include "chunktablemodel.h"
#include "guitestutils.h"
#include "heatmapplot.h"
#include "histogrampanel.h"
#include "histogramplot.h"
#include "modelroles.h"
#include "statstablemodel.h"
#include "tensordetailspanel.h"
#include "tensorvaluespanel.h"

#include <QAbstractItemModelTester>
#include <QComboBox>
#include <QLabel>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTabWidget>
#include <QTableView>
#include <QTest>

#include <cmath>
#include <fstream>

using namespace ckpt;

namespace {

const TreeNode *nodeAt(const LoadedCheckpoint &l, const QString &path)
{
    for (std::size_t t = 0; t < l.data->tensors.size(); ++t)
        for (const TreeNode *n : l.tree->nodesForTensor(int(t)))
            if (n->path() == path)
                return n;
    return nullptr;
}

const nlohmann::json *statsOf(const nlohmann::json &expected, const QString &path)
{
    for (const auto &s : expected["stats"])
        if (test::qstr(s["path"]) == path)
            return &s;
    return nullptr;
}

double shown(const TensorDetailsPanel &p, int row)
{
    return p.statsModel()->index(row, StatsTableModel::ValueColumn).data(RawValueRole).toDouble();
}

} // namespace

class TestTensorDetailsPanel : public QObject
{
    Q_OBJECT
private:
    LoadedCheckpoint m_loaded;
    nlohmann::json m_expected;

private slots:
    void initTestCase()
    {
        m_loaded = CheckpointLoadJob::load(test::fixturePath(QStringLiteral("state_dict.pt")));
        m_expected = test::expectedJson(QStringLiteral("state_dict.pt"));
        QVERIFY(m_loaded.data && m_loaded.data->ok());
    }

    void statisticsMatchTorch_data()
    {
        QTest::addColumn<QString>("path");
        const auto expected = test::expectedJson(QStringLiteral("state_dict.pt"));
        for (const auto &s : expected["stats"])
            QTest::newRow(s["path"].get<std::string>().c_str()) << test::qstr(s["path"]);
    }

    /// Selecting a tensor shows torch's statistics and its 64-bin histogram.
    void statisticsMatchTorch()
    {
        QFETCH(QString, path);
        TensorDetailsPanel panel;
        panel.resize(1000, 700);
        QSignalSpy computed(&panel, &TensorDetailsPanel::statsComputed);
        const TreeNode *node = nodeAt(m_loaded, path);
        QVERIFY(node);
        panel.setTensor(m_loaded.tree, node);
        QVERIFY(panel.header()->text().contains(QStringLiteral("Strides")));
        QTRY_VERIFY_WITH_TIMEOUT(panel.statsModel()->hasStats(), 10000);
        QCOMPARE(computed.count(), 1);
        QVERIFY(!panel.isBusy() || panel.values()->isBusy());
        const auto &e = *statsOf(m_expected, path);
        QCOMPARE(panel.statsModel()->index(StatsTableModel::ElementsRow, 1).data(RawValueRole).toULongLong(),
                 e["numel"].get<quint64>());
        QCOMPARE(panel.statsModel()->index(StatsTableModel::ZerosRow, 1).data(RawValueRole).toULongLong(),
                 e["zeros"].get<quint64>());
        QCOMPARE(shown(panel, StatsTableModel::MinRow), e["min"].get<double>());
        QCOMPARE(shown(panel, StatsTableModel::MaxRow), e["max"].get<double>());
        QVERIFY(std::fabs(shown(panel, StatsTableModel::MeanRow) - e["mean"].get<double>())
                <= 1e-9 * std::max(1.0, std::fabs(e["mean"].get<double>())));
        if (!e["std"].is_null())
            QVERIFY(std::fabs(shown(panel, StatsTableModel::StdRow) - e["std"].get<double>()) <= 1e-9);
        QVERIFY(std::fabs(shown(panel, StatsTableModel::L2Row) - e["l2"].get<double>()) <= 1e-9);
        // Plotted counts are torch's histogram.
        const auto bars = panel.histogram()->plot()->plottedBars();
        const auto &counts = e["hist"]["counts"];
        QCOMPARE(bars.size(), counts.size());
        for (std::size_t i = 0; i < bars.size(); ++i)
            QCOMPARE(bars[i].second, counts[i].get<double>());
        QCOMPARE(panel.histogram()->plot()->lo(), e["hist"]["lo"].get<double>());
        QCOMPARE(panel.histogram()->plot()->hi(), e["hist"]["hi"].get<double>());
    }

    /// Changing the bin count replots: 32 bins are pairs of torch's 64.
    void changingBinsReplots()
    {
        const QString path = QStringLiteral("layers.1.conv.weight");
        TensorDetailsPanel panel;
        panel.setTensor(m_loaded.tree, nodeAt(m_loaded, path));
        QTRY_VERIFY_WITH_TIMEOUT(panel.statsModel()->hasStats(), 10000);
        QCOMPARE(panel.histogram()->plot()->binCount(), 64);
        panel.histogram()->setBins(32);
        QTRY_COMPARE_WITH_TIMEOUT(panel.histogram()->plot()->binCount(), 32, 10000);
        const auto &counts = (*statsOf(m_expected, path))["hist"]["counts"];
        const auto bars = panel.histogram()->plot()->plottedBars();
        QCOMPARE(bars.size(), std::size_t(32));
        for (int i = 0; i < 32; ++i)
            QCOMPARE(bars[std::size_t(i)].second,
                     counts[2 * i].get<double>() + counts[2 * i + 1].get<double>());
        // Back to 64: served from the cache, identical to torch again.
        panel.histogram()->setBins(64);
        QTRY_COMPARE_WITH_TIMEOUT(panel.histogram()->plot()->binCount(), 64, 10000);
        QCOMPARE(panel.histogram()->plot()->plottedBars()[5].second, counts[5].get<double>());
        // Symmetric range: [-m, m].
        panel.histogram()->setRangeMode(HistogramRange::Symmetric);
        QTRY_COMPARE_WITH_TIMEOUT(panel.histogram()->plot()->lo(), -panel.histogram()->plot()->hi(), 10000);
        QVERIFY(panel.histogram()->plot()->lo() < 0);
    }

    /// A result for a tensor no longer selected is dropped.
    void staleResultDropped()
    {
        TensorDetailsPanel panel;
        QSignalSpy computed(&panel, &TensorDetailsPanel::statsComputed);
        panel.setTensor(m_loaded.tree, nodeAt(m_loaded, QStringLiteral("stem.conv.weight")));
        panel.setTensor(m_loaded.tree, nodeAt(m_loaded, QStringLiteral("head.weight")));
        QTRY_VERIFY_WITH_TIMEOUT(panel.statsModel()->hasStats(), 10000);
        QTRY_VERIFY_WITH_TIMEOUT(!panel.isBusy(), 10000);
        const auto &e = *statsOf(m_expected, QStringLiteral("head.weight"));
        QCOMPARE(shown(panel, StatsTableModel::MinRow), e["min"].get<double>());
        QCOMPARE(panel.statsModel()->index(StatsTableModel::ElementsRow, 1).data(RawValueRole).toULongLong(), 30ull);
        for (const auto &args : computed)
            QCOMPARE(args.at(0).toInt(), panel.tensor());
    }

    /// The slice picker on a 4-D tensor: axes and indices select the cells shown.
    void slicePicker4d()
    {
        const TreeNode *node = nodeAt(m_loaded, QStringLiteral("layers.1.conv.weight")); // [6, 4, 3, 3]
        TensorDetailsPanel panel;
        panel.resize(1100, 700);
        panel.show();
        panel.setTensor(m_loaded.tree, node);
        panel.setCurrentTab(TensorDetailsPanel::ValuesTab);
        TensorValuesPanel *values = panel.values();
        QCOMPARE(values->model()->rowCount(), 3);
        QCOMPARE(values->model()->columnCount(), 3);
        QVERIFY(values->indexBox(0) && values->indexBox(1));
        QVERIFY(!values->indexBox(2) && !values->indexBox(3));

        // Rows = axis 0, columns = axis 1; fix axis 2 = 1 and axis 3 = 2.
        values->rowAxisBox()->setCurrentIndex(values->rowAxisBox()->findData(0));
        values->columnAxisBox()->setCurrentIndex(values->columnAxisBox()->findData(1));
        QCOMPARE(values->model()->rowCount(), 6);
        QCOMPARE(values->model()->columnCount(), 4);
        QVERIFY(values->indexBox(2) && values->indexBox(3));
        values->indexBox(2)->setValue(1);
        values->indexBox(3)->setValue(2);
        QCOMPARE(values->slice().index[2], std::int64_t(1));
        QCOMPARE(values->slice().index[3], std::int64_t(2));
        auto view = format::tensorView(*m_loaded.data, node->tensor).view;
        QVERIFY(view);
        for (int r = 0; r < 6; ++r)
            for (int c = 0; c < 4; ++c)
                QCOMPARE(values->model()->index(r, c).data(RawValueRole).toDouble(),
                         format::elementAt(*view, {r, c, 1, 2}).re);
        // Picking the column axis as rows swaps the two.
        values->rowAxisBox()->setCurrentIndex(values->rowAxisBox()->findData(1));
        QCOMPARE(values->slice().rowAxis, 1);
        QCOMPARE(values->slice().colAxis, 0);
        QCOMPARE(values->model()->rowCount(), 4);
        // The heat-map of the slice arrives in the background.
        QTRY_COMPARE_WITH_TIMEOUT(values->heatmap()->grid().rows, 4, 10000);
        QCOMPARE(values->heatmap()->grid().cols, 6);
        QTRY_VERIFY_WITH_TIMEOUT(!panel.isBusy(), 10000);
    }

    // A DCP tensor split along dim 1 between two ranks: the Chunks tab shows who holds what,
    // the values view and its heat-map show the logical tensor, as torch's dcp_to_torch_save
    // wrote it.
    void dcpSplitTensor()
    {
        const LoadedCheckpoint dcp = CheckpointLoadJob::load(test::fixturePath(QStringLiteral("torch2/dcp/fsdp")));
        const LoadedCheckpoint file = CheckpointLoadJob::load(test::fixturePath(QStringLiteral("torch2/dcp/fsdp.pt")));
        QVERIFY(dcp.data && dcp.data->ok() && file.data && file.data->ok());
        const TreeNode *node = nodeAt(dcp, QStringLiteral("tp/col"));
        const TreeNode *truthNode = nodeAt(file, QStringLiteral("tp/col"));
        QVERIFY(node && truthNode);
        TensorDetailsPanel panel;
        panel.resize(1100, 700);
        panel.show();
        QAbstractItemModelTester tester(panel.chunkModel(), QAbstractItemModelTester::FailureReportingMode::QtTest);

        // A tensor of a single file has no Chunks tab.
        panel.setTensor(file.tree, truthNode);
        QVERIFY(!panel.tabs()->isTabVisible(TensorDetailsPanel::ChunksTab));
        QCOMPARE(panel.chunkModel()->rowCount(), 0);

        panel.setTensor(dcp.tree, node);
        QVERIFY(panel.tabs()->isTabVisible(TensorDetailsPanel::ChunksTab));
        panel.setCurrentTab(TensorDetailsPanel::ChunksTab);
        QCOMPARE(panel.chunkModel()->rowCount(), 2);
        const auto expectedChunks = [] {
            std::ifstream in(CKPT_FIXTURES_DIR "/expected/torch2/dcp/fsdp.chunks");
            return nlohmann::json::parse(in, nullptr, false);
        }()["tp/col"];
        QCOMPARE(expectedChunks.size(), std::size_t(2));
        for (int r = 0; r < 2; ++r) {
            const auto &e = expectedChunks[static_cast<std::size_t>(r)];
            const QString box = QStringLiteral("0:5, %1:%2").arg(e["offsets"][1].get<int>()).arg(e["offsets"][1].get<int>() + 3);
            QCOMPARE(panel.chunkModel()->index(r, ChunkTableModel::BoxColumn).data().toString(), box);
            QCOMPARE(panel.chunkModel()->index(r, ChunkTableModel::FileColumn).data().toString(), test::qstr(e["file"]));
            QCOMPARE(panel.chunkModel()->index(r, ChunkTableModel::RankColumn).data().toInt(), r);
        }
        // The grid: rank 0 holds the left half, rank 1 the right; a click selects the row.
        ChunkGrid *grid = panel.chunkGrid();
        QTRY_VERIFY(grid->isVisible());
        const QRectF left = grid->chunkRect(0), right = grid->chunkRect(1);
        QVERIFY(left.isValid() && right.isValid());
        QVERIFY(left.right() <= right.left() + 1);
        QCOMPARE(left.top(), right.top());
        QCOMPARE(grid->chunkAt(right.center()), 1);
        QTest::mouseClick(grid, Qt::LeftButton, {}, right.center().toPoint());
        QCOMPARE(grid->highlighted(), 1);
        QCOMPARE(panel.chunkView()->currentIndex().row(), 1);
        QVERIFY(grid->note().isEmpty());

        // Values: the logical 5 x 6 tensor, each element as torch wrote it.
        panel.setCurrentTab(TensorDetailsPanel::ValuesTab);
        TensorValuesPanel *values = panel.values();
        QVERIFY2(values->model()->error().isEmpty(), qPrintable(values->model()->error()));
        QCOMPARE(values->model()->rowCount(), 5);
        QCOMPARE(values->model()->columnCount(), 6);
        const auto truth = format::tensorView(*file.data, truthNode->tensor).view;
        QVERIFY(truth);
        for (int r = 0; r < 5; ++r)
            for (int c = 0; c < 6; ++c)
                QCOMPARE(values->model()->index(r, c).data().toString(),
                         QString::fromStdString(format::formatElementAt(*truth, {r, c})));
        QTRY_COMPARE_WITH_TIMEOUT(values->heatmap()->grid().rows, 5, 10000);
        QCOMPARE(values->heatmap()->grid().cols, 6);
        QVERIFY(values->heatmap()->grid().error.isEmpty());
        // Statistics over both chunks.
        QTRY_VERIFY_WITH_TIMEOUT(panel.statsModel()->hasStats(), 10000);
        QTRY_VERIFY_WITH_TIMEOUT(!panel.isBusy(), 10000);

        // On the Chunks tab, a tensor of a single file falls back to Statistics; the next DCP
        // tensor shows its chunks again.
        panel.setCurrentTab(TensorDetailsPanel::ChunksTab);
        panel.setTensor(file.tree, truthNode);
        QCOMPARE(panel.tabs()->currentIndex(), int(TensorDetailsPanel::StatisticsTab));
        panel.setTensor(dcp.tree, nodeAt(dcp, QStringLiteral("model/l1.weight")));
        QCOMPARE(panel.tabs()->currentIndex(), int(TensorDetailsPanel::ChunksTab));
        QCOMPARE(panel.chunkModel()->rowCount(), 2);
        QTRY_VERIFY_WITH_TIMEOUT(!panel.isBusy(), 10000);
    }

    void tensorWithoutData()
    {
        const LoadedCheckpoint meta = CheckpointLoadJob::load(test::fixturePath(QStringLiteral("meta.pt")));
        const TreeNode *node = nullptr;
        for (std::size_t t = 0; t < meta.data->tensors.size() && !node; ++t)
            if (meta.data->tensors[t].storage < 0 && !meta.tree->nodesForTensor(int(t)).empty())
                node = meta.tree->nodesForTensor(int(t)).front();
        if (!node)
            QSKIP("meta.pt has no tensor without data");
        TensorDetailsPanel panel;
        panel.setTensor(meta.tree, node);
        QTRY_VERIFY_WITH_TIMEOUT(!panel.isBusy(), 10000);
        QVERIFY(!panel.statsModel()->hasStats());
        QCOMPARE(panel.histogram()->plot()->binCount(), 0);
        QVERIFY(!panel.values()->model()->error().isEmpty());
    }
};

QTEST_MAIN(TestTensorDetailsPanel)
#include "tst_tensordetailspanel.moc"
