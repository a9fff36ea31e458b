// SPDX-License-Identifier: MIT
#include "checkpointloadjob.h"
#include "guitestutils.h"
#include "modelroles.h"
#include "sliceheatmapjob.h"
#include "tensorslicemodel.h"

#include <QAbstractItemModelTester>
#include <QSignalSpy>
#include <QTest>

#include <cmath>

using namespace ckpt;

namespace {

int tensorAt(const LoadedCheckpoint &l, const QString &path)
{
    for (std::size_t t = 0; t < l.data->tensors.size(); ++t)
        for (const TreeNode *n : l.tree->nodesForTensor(int(t)))
            if (n->path() == path)
                return int(t);
    return -1;
}

const nlohmann::json *statsOf(const nlohmann::json &expected, const QString &path)
{
    for (const auto &s : expected["stats"])
        if (test::qstr(s["path"]) == path)
            return &s;
    return nullptr;
}

} // namespace

class TestTensorSliceModel : public QObject
{
    Q_OBJECT
private slots:
    void sliceSpec()
    {
        SliceSpec s = SliceSpec::defaultFor({4, 1, 3, 3});
        QCOMPARE(s.rowAxis, 2);
        QCOMPARE(s.colAxis, 3);
        QCOMPARE(s.index.size(), std::size_t(4));
        s.rowAxis = 3; // same as colAxis: normalize picks another column axis
        s.index = {9, 9, 9, 9};
        s.normalize({4, 1, 3, 3});
        QCOMPARE(s.rowAxis, 3);
        QVERIFY(s.colAxis != 3 && s.colAxis >= 0);
        QCOMPARE(s.index[0], std::int64_t(3));
        QCOMPARE(s.index[1], std::int64_t(0));
        SliceSpec one = SliceSpec::defaultFor({7});
        QCOMPARE(one.rowAxis, 0);
        QCOMPARE(one.colAxis, -1);
        SliceSpec zero = SliceSpec::defaultFor({});
        QCOMPARE(zero.rowAxis, -1);
    }

    /// Walking every slice of a 4-D tensor through the model gives torch's min, max and mean.
    void everySliceOf4dTensor()
    {
        const LoadedCheckpoint l = CheckpointLoadJob::load(test::fixturePath(QStringLiteral("state_dict.pt")));
        const int t = tensorAt(l, QStringLiteral("layers.1.conv.weight"));
        QVERIFY(t >= 0);
        TensorSliceModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.setTensor(l.data, t);
        QVERIFY2(model.error().isEmpty(), qPrintable(model.error()));
        QCOMPARE(model.shape(), (std::vector<std::int64_t>{6, 4, 3, 3}));
        QCOMPARE(model.rowCount(), 3);
        QCOMPARE(model.columnCount(), 3);

        // Rows = axis 0, columns = axis 1, walk axes 2 and 3.
        SliceSpec s = model.slice();
        s.rowAxis = 0;
        s.colAxis = 1;
        model.setSlice(s);
        QCOMPARE(model.rowCount(), 6);
        QCOMPARE(model.columnCount(), 4);
        double lo = INFINITY, hi = -INFINITY, sum = 0;
        int n = 0;
        for (int i = 0; i < 3; ++i) {
            for (int j = 0; j < 3; ++j) {
                s.index = {0, 0, i, j};
                model.setSlice(s);
                for (int r = 0; r < model.rowCount(); ++r)
                    for (int c = 0; c < model.columnCount(); ++c) {
                        const double v = model.index(r, c).data(RawValueRole).toDouble();
                        lo = std::min(lo, v);
                        hi = std::max(hi, v);
                        sum += v;
                        ++n;
                    }
            }
        }
        QCOMPARE(n, 6 * 4 * 3 * 3);
        const auto expected = test::expectedJson(QStringLiteral("state_dict.pt"));
        const auto *st = statsOf(expected, QStringLiteral("layers.1.conv.weight"));
        QVERIFY(st);
        QCOMPARE(lo, (*st)["min"].get<double>());
        QCOMPARE(hi, (*st)["max"].get<double>());
        QVERIFY(std::fabs(sum / n - (*st)["mean"].get<double>()) < 1e-7);
        // Display text and tooltip name the full index.
        QVERIFY(!model.index(0, 0).data().toString().isEmpty());
        QVERIFY(model.index(5, 3).data(Qt::ToolTipRole).toString().startsWith(QStringLiteral("[5, 3, 2, 2] = ")));
    }

    void oneAndZeroDims()
    {
        const LoadedCheckpoint l = CheckpointLoadJob::load(test::fixturePath(QStringLiteral("training_ckpt.pt")));
        TensorSliceModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.setTensor(l.data, tensorAt(l, QStringLiteral("model_state_dict/0.bias")));
        QCOMPARE(model.rowCount(), 4);
        QCOMPARE(model.columnCount(), 1);
        model.setTensor(l.data, tensorAt(l, QStringLiteral("loss")));
        QCOMPARE(model.rowCount(), 1);
        QCOMPARE(model.columnCount(), 1);
        const auto expected = test::expectedJson(QStringLiteral("training_ckpt.pt"));
        QCOMPARE(model.index(0, 0).data(RawValueRole).toDouble(), (*statsOf(expected, QStringLiteral("loss")))["min"].get<double>());
        model.clear();
        QCOMPARE(model.rowCount(), 0);
    }

    void heatmapGrid()
    {
        const LoadedCheckpoint l = CheckpointLoadJob::load(test::fixturePath(QStringLiteral("state_dict.pt")));
        const int t = tensorAt(l, QStringLiteral("layers.1.conv.weight"));
        SliceSpec s = SliceSpec::defaultFor(l.data->tensors[std::size_t(t)].shape);
        HeatmapGrid g = SliceHeatmapJob::compute(l.data, t, s, 512);
        QVERIFY(g.error.isEmpty());
        QCOMPARE(g.rows, 3);
        QCOMPARE(g.cols, 3);
        QVERIFY(g.hasFinite && g.min <= g.max);
        // Sampling keeps the grid small.
        g = SliceHeatmapJob::compute(l.data, t, s, 2);
        QCOMPARE(g.rows, 2);
        QCOMPARE(g.rowStep, std::int64_t(2));

        SliceHeatmapJob job;
        QSignalSpy spy(&job, &SliceHeatmapJob::finished);
        job.start(l.data, t, s);
        QTRY_COMPARE_WITH_TIMEOUT(spy.count(), 1, 10000);
        QCOMPARE(spy.at(0).at(0).value<HeatmapGrid>().rows, 3);
    }

    /// Issue 16 item 6: a reduced heat-map keeps extremes. Each cell of a coarse grid is the
    /// value of largest magnitude of its block of the exact grid (every element, as the reader
    /// decodes it: tst_checkpointreader checks those against torch); NaN wins over everything,
    /// and the NaN/Inf counts are torch's.
    void heatmapReductionKeepsExtremes_data()
    {
        QTest::addColumn<QString>("file");
        QTest::addColumn<QString>("path");
        QTest::addColumn<int>("maxSide");
        QTest::newRow("1-D with NaN and Inf") << "dtypes.pt" << "special/float32" << 4;
        QTest::newRow("1-D float64 into 1 cell") << "dtypes.pt" << "special/float64" << 1;
        QTest::newRow("1-D float16") << "dtypes.pt" << "special/float16" << 3;
        QTest::newRow("2-D conv slice") << "state_dict.pt" << "layers.1.conv.weight" << 2;
        QTest::newRow("2-D linear") << "state_dict.pt" << "head.weight" << 2;
    }

    void heatmapReductionKeepsExtremes()
    {
        QFETCH(QString, file);
        QFETCH(QString, path);
        QFETCH(int, maxSide);
        const LoadedCheckpoint l = CheckpointLoadJob::load(test::fixturePath(file));
        const int t = tensorAt(l, path);
        QVERIFY(t >= 0);
        const SliceSpec s = SliceSpec::defaultFor(l.data->tensors[std::size_t(t)].shape);
        const HeatmapGrid exact = SliceHeatmapJob::compute(l.data, t, s, 1 << 20);
        QCOMPARE(exact.rowStep, std::int64_t(1));
        QCOMPARE(exact.colStep, std::int64_t(1));
        const HeatmapGrid g = SliceHeatmapJob::compute(l.data, t, s, maxSide);
        QVERIFY(g.error.isEmpty());
        QVERIFY(!g.sampled);
        QVERIFY(g.rows <= maxSide && g.cols <= maxSide);
        for (int r = 0; r < g.rows; ++r) {
            for (int c = 0; c < g.cols; ++c) {
                double want = 0;
                bool any = false, nan = false;
                for (std::int64_t y = r * g.rowStep; y < std::min<std::int64_t>(exact.rows, (r + 1) * g.rowStep); ++y)
                    for (std::int64_t x = c * g.colStep; x < std::min<std::int64_t>(exact.cols, (c + 1) * g.colStep); ++x) {
                        const double v = exact.values[std::size_t(y * exact.cols + x)];
                        nan = nan || std::isnan(v);
                        if (!any || std::abs(v) > std::abs(want))
                            want = v;
                        any = true;
                    }
                const double got = g.values[std::size_t(r * g.cols + c)];
                if (nan)
                    QVERIFY2(std::isnan(got), qPrintable(QStringLiteral("cell %1,%2").arg(r).arg(c)));
                else
                    QCOMPARE(got, want);
            }
        }
        // NaN and ±Inf as torch counts them.
        const auto expected = test::expectedJson(file);
        const auto *stats = statsOf(expected, path);
        QVERIFY(stats);
        QCOMPARE(g.nanCount, (*stats)["nan"].get<std::int64_t>());
        QCOMPARE(g.infCount, (*stats)["posinf"].get<std::int64_t>() + (*stats)["neginf"].get<std::int64_t>());
        QCOMPARE(g.nanCount, exact.nanCount);

        // B - A is taken element by element before the reduction: a tensor minus itself is 0
        // in every cell (a difference of two reduced grids would not be), NaN where it has NaN.
        const HeatmapGrid self = SliceHeatmapJob::computeDifference(l.data, t, l.data, t, s, maxSide);
        QVERIFY(self.error.isEmpty());
        QCOMPARE(self.values.size(), g.values.size());
        for (std::size_t i = 0; i < g.values.size(); ++i) {
            if (std::isnan(g.values[i]))
                QVERIFY(std::isnan(self.values[i]));
            else if (!std::isinf(g.values[i]) && !std::isnan(self.values[i]))
                QCOMPARE(self.values[i], 0.0);
        }
    }
};

QTEST_MAIN(TestTensorSliceModel)
#include "tst_tensorslicemodel.moc"
