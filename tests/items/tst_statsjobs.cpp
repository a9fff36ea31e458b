// SPDX-License-Identifier: MIT
#include "checkpointloadjob.h"
#include "displayformat.h"
#include "dtypemixmodel.h"
#include "guitestutils.h"
#include "modelroles.h"
#include "statstablemodel.h"
#include "tensorstatsjob.h"

#include <QAbstractItemModelTester>
#include <QSignalSpy>
#include <QTest>

#include <cmath>

using namespace ckpt;

namespace {

bool close(double a, double b, double rel)
{
    if (std::isnan(a) || std::isnan(b))
        return std::isnan(a) && std::isnan(b);
    return a == b || std::fabs(a - b) <= rel * std::max(std::fabs(a), std::fabs(b));
}

int tensorAt(const LoadedCheckpoint &l, const QString &path)
{
    for (std::size_t t = 0; t < l.data->tensors.size(); ++t)
        for (const TreeNode *n : l.tree->nodesForTensor(int(t)))
            if (n->path() == path)
                return int(t);
    return -1;
}

} // namespace

class TestStatsJobs : public QObject
{
    Q_OBJECT
private slots:
    void matchesTorch_data()
    {
        QTest::addColumn<QString>("name");
        for (const QString &name : test::fixturesWithExpected())
            if (!test::expectedJson(name)["stats"].empty())
                QTest::newRow(qPrintable(name)) << name;
    }

    /// TensorStatsJob::compute gives torch's statistics and 64-bin histogram for every tensor
    /// torch computed them for.
    void matchesTorch()
    {
        QFETCH(QString, name);
        const auto expected = test::expectedJson(name);
        const LoadedCheckpoint l = CheckpointLoadJob::load(test::fixturePath(name));
        QStringList problems;
        for (const auto &e : expected["stats"]) {
            const QString path = test::qstr(e["path"]);
            const int t = tensorAt(l, path);
            if (t < 0) {
                problems << path + QStringLiteral(": not in the tree");
                continue;
            }
            StatsRequest req;
            req.data = l.data;
            req.tensors = {t};
            const StatsResult r = TensorStatsJob::compute(req);
            if (!r.ok()) {
                problems << path + QStringLiteral(": ") + r.error;
                continue;
            }
            const bool quantized = e.value("dtype", "").rfind("q", 0) == 0;
            if (r.stats.numel != e["numel"].get<quint64>() || r.stats.nan != e["nan"].get<quint64>()
                || r.stats.zeros != e["zeros"].get<quint64>())
                problems << path + QStringLiteral(": counts differ");
            for (const char *f : {"min", "max", "mean", "std", "l2"}) {
                const std::optional<double> ours = std::string(f) == "min" ? r.stats.min
                    : std::string(f) == "max"                              ? r.stats.max
                    : std::string(f) == "mean"                             ? r.stats.mean
                    : std::string(f) == "std"                              ? r.stats.std
                                                                           : r.stats.l2;
                if (e[f].is_null() != !ours.has_value()
                    || (ours && !close(*ours, e[f].get<double>(), quantized ? 1e-6 : 1e-9)))
                    problems << path + QStringLiteral(": ") + QLatin1String(f);
            }
            if (!e["hist"].is_null()) {
                std::vector<std::uint64_t> counts;
                for (const auto &c : e["hist"]["counts"])
                    counts.push_back(c.get<std::uint64_t>());
                if (counts != r.stats.hist)
                    problems << path + QStringLiteral(": histogram counts");
            }
        }
        if (!problems.isEmpty())
            QFAIL(qPrintable(problems.join(QLatin1Char('\n'))));
    }

    /// 32 bins over the same range are pairs of torch's 64 bins.
    void rebinning()
    {
        const auto expected = test::expectedJson(QStringLiteral("state_dict.pt"));
        const LoadedCheckpoint l = CheckpointLoadJob::load(test::fixturePath(QStringLiteral("state_dict.pt")));
        for (const auto &e : expected["stats"]) {
            if (e["hist"].is_null() || e["numel"].get<int>() < 20)
                continue;
            StatsRequest req;
            req.data = l.data;
            req.tensors = {tensorAt(l, test::qstr(e["path"]))};
            req.bins = 32;
            const StatsResult r = TensorStatsJob::compute(req);
            QVERIFY(r.ok());
            QCOMPARE(r.stats.hist.size(), std::size_t(32));
            const auto &c64 = e["hist"]["counts"];
            for (int i = 0; i < 32; ++i)
                QCOMPARE(r.stats.hist[std::size_t(i)], c64[2 * i].get<std::uint64_t>() + c64[2 * i + 1].get<std::uint64_t>());
        }
    }

    void symmetricAndCustomRanges()
    {
        const LoadedCheckpoint l = CheckpointLoadJob::load(test::fixturePath(QStringLiteral("state_dict.pt")));
        StatsRequest req;
        req.data = l.data;
        req.tensors = {tensorAt(l, QStringLiteral("layers.1.conv.weight"))};
        req.bins = 10;
        req.range = HistogramRange::Symmetric;
        StatsResult r = TensorStatsJob::compute(req);
        QVERIFY(r.ok());
        QCOMPARE(r.stats.histLo, -r.stats.histHi);
        QCOMPARE(r.stats.histHi, std::max(std::fabs(*r.stats.min), std::fabs(*r.stats.max)));
        std::uint64_t sum = 0;
        for (auto c : r.stats.hist)
            sum += c;
        QCOMPARE(sum, r.stats.finite);

        req.range = HistogramRange::Custom;
        req.customLo = 0;
        req.customHi = 1;
        r = TensorStatsJob::compute(req);
        QCOMPARE(r.stats.histLo, 0.0);
        QCOMPARE(r.stats.histHi, 1.0);
        sum = 0;
        for (auto c : r.stats.hist)
            sum += c;
        QVERIFY(sum < r.stats.finite); // negative values are outside
    }

    /// The aggregate of several tensors equals the statistics of all their values together.
    void aggregate()
    {
        const auto expected = test::expectedJson(QStringLiteral("state_dict.pt"));
        const LoadedCheckpoint l = CheckpointLoadJob::load(test::fixturePath(QStringLiteral("state_dict.pt")));
        StatsRequest req;
        req.data = l.data;
        double sum = 0, lo = INFINITY, hi = -INFINITY, l2sq = 0;
        std::uint64_t n = 0;
        for (const QString &p : {QStringLiteral("stem.conv.weight"), QStringLiteral("layers.0.conv.weight"),
                                QStringLiteral("head.weight")}) {
            req.tensors.push_back(tensorAt(l, p));
            for (const auto &e : expected["stats"])
                if (test::qstr(e["path"]) == p) {
                    const auto k = e["finite"].get<std::uint64_t>();
                    n += k;
                    sum += e["mean"].get<double>() * double(k);
                    lo = std::min(lo, e["min"].get<double>());
                    hi = std::max(hi, e["max"].get<double>());
                    l2sq += std::pow(e["l2"].get<double>(), 2);
                }
        }
        const StatsResult r = TensorStatsJob::compute(req);
        QVERIFY(r.ok());
        QCOMPARE(r.used, 3);
        QCOMPARE(r.stats.finite, n);
        QCOMPARE(*r.stats.min, lo);
        QCOMPARE(*r.stats.max, hi);
        QVERIFY(close(*r.stats.mean, sum / double(n), 1e-9));
        QVERIFY(close(*r.stats.l2, std::sqrt(l2sq), 1e-9));
        std::uint64_t total = 0;
        for (auto c : r.stats.hist)
            total += c;
        QCOMPARE(total, n);
    }

    void asyncJobDropsStaleResults()
    {
        const LoadedCheckpoint l = CheckpointLoadJob::load(test::fixturePath(QStringLiteral("state_dict.pt")));
        TensorStatsJob job;
        QSignalSpy finished(&job, &TensorStatsJob::finished);
        StatsRequest a;
        a.data = l.data;
        a.tensors = {tensorAt(l, QStringLiteral("stem.conv.weight"))};
        StatsRequest b = a;
        b.tensors = {tensorAt(l, QStringLiteral("head.weight"))};
        job.start(a);
        const quint64 gen = job.start(b);
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 10000);
        const auto r = finished.at(0).at(0).value<StatsResult>();
        QCOMPARE(r.generation, gen);
        QCOMPARE(r.request.tensors.front(), b.tensors.front());
        QVERIFY(!job.isRunning());
    }

    /// How the status bar, the summary and the statistics note give a measured time: never
    /// "0 ms" (a load or a statistic of a few bytes takes less than a millisecond).
    void durationText()
    {
        QCOMPARE(ckpt::durationText(0), QStringLiteral("< 1 ms"));
        QCOMPARE(ckpt::durationText(1), QStringLiteral("1 ms"));
        QCOMPARE(ckpt::durationText(999), QStringLiteral("999 ms"));
        QCOMPARE(ckpt::durationText(1000), QStringLiteral("1.00 s"));
        QCOMPARE(ckpt::durationText(1234), QStringLiteral("1.23 s"));
        QCOMPARE(ckpt::durationText(9999), QStringLiteral("10.0 s"));
        QCOMPARE(ckpt::durationText(12345), QStringLiteral("12.3 s"));
    }

    void statsTableModel()
    {
        StatsTableModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        QCOMPARE(model.rowCount(), 0);
        format::TensorStats s;
        s.numel = 10;
        s.finite = 9;
        s.nan = 1;
        s.zeros = 2;
        s.min = -1.5;
        s.max = 2;
        s.mean = 0.25;
        model.setStats(s);
        QCOMPARE(model.rowCount(), int(StatsTableModel::RowCount));
        QCOMPARE(model.index(StatsTableModel::MinRow, 1).data().toString(), QStringLiteral("-1.5"));
        QCOMPARE(model.index(StatsTableModel::MinRow, 1).data(RawValueRole).toDouble(), -1.5);
        QCOMPARE(model.index(StatsTableModel::StdRow, 1).data().toString(), QStringLiteral("—"));
        QVERIFY(model.index(StatsTableModel::NaNRow, 1).data().toString().startsWith(QStringLiteral("1  (10%)")));
        QVERIFY(model.index(StatsTableModel::NaNRow, 1).data(Qt::ForegroundRole).isValid());
        model.clear();
        QCOMPARE(model.rowCount(), 0);
    }

    void dtypeMixModel()
    {
        const LoadedCheckpoint l = CheckpointLoadJob::load(test::fixturePath(QStringLiteral("state_dict.pt")));
        DTypeMixModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.setShares(dtypeMix(*l.tree, l.tree->root()));
        QCOMPARE(model.rowCount(), 2); // float32 and int64 (num_batches_tracked)
        QCOMPARE(model.index(0, 0).data().toString(), QStringLiteral("float32"));
        QCOMPARE(model.index(1, DTypeMixModel::TensorsColumn).data(SortRole).toUInt(), 3u);
    }
};

QTEST_MAIN(TestStatsJobs)
#include "tst_statsjobs.moc"
