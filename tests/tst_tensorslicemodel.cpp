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
};

QTEST_MAIN(TestTensorSliceModel)
#include "tst_tensorslicemodel.moc"
