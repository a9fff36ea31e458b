// SPDX-License-Identifier: MIT
// A training run as a series (issue 20): the members of the real runs that
// tests/fixtures/make_series_fixtures.py writes, found in their folder and put in run order with
// the step and epoch torch reads from each (tests/fixtures/expected_series/*.json).

#include "expectedcheck.h"
#include "series.h"

#include <QProcess>
#include <QTest>

#include <algorithm>
#include <filesystem>

using namespace ckpt;
using ckpt::test::Json;
using ckpt::test::loadJson;

class TestSeries : public QObject
{
    Q_OBJECT

private slots:
    void naturalOrder()
    {
        QVERIFY(naturalLess("epoch_2.pt", "epoch_10.pt"));
        QVERIFY(!naturalLess("epoch_10.pt", "epoch_2.pt"));
        QVERIFY(naturalLess("checkpoint-500", "checkpoint-20000"));
        QVERIFY(naturalLess("epoch=5-step=24.ckpt", "last.ckpt"));
        QVERIFY(naturalLess("a007", "a10"));
        QVERIFY(!naturalLess("a", "a"));
    }

    void runOrder_data()
    {
        QTest::addColumn<QString>("run");
        QTest::newRow("torch loop, 24 epochs") << QStringLiteral("run");
        QTest::newRow("Lightning ModelCheckpoint") << QStringLiteral("lightning");
    }
    void runOrder()
    {
        QFETCH(QString, run);
        const Json expected = loadJson((QStringLiteral(CKPT_FIXTURES_DIR "/expected_series/") + run + ".json").toStdString());
        QVERIFY(expected.is_object());
        const std::string dir = CKPT_FIXTURES_DIR "/files/series/" + run.toStdString();
        format::ReadLimits limits;
        limits.scan = false;
        const Series series = openSeries({dir}, limits);
        QCOMPARE(series.orderedBy, std::string("step"));
        QCOMPARE(series.members.size(), expected["members"].size());
        for (std::size_t i = 0; i < series.members.size(); ++i) {
            const SeriesMember &m = series.members[i];
            const Json &e = expected["members"][i];
            QCOMPARE(std::filesystem::path(m.file).filename().string(), e["file"].get<std::string>());
            QVERIFY(m.data && m.data->ok());
            QVERIFY(m.step && e["step"].is_number());
            QCOMPARE(*m.step, e["step"].get<std::int64_t>());
            QVERIFY(m.epoch && e["epoch"].is_number());
            QCOMPARE(*m.epoch, e["epoch"].get<double>());
        }
    }

    // Every tensor's statistics and change from the previous and the first member, and the run's
    // scalars, against what torch computes over the same files.
    void metricsMatchTorch_data() { runOrder_data(); }
    void metricsMatchTorch()
    {
        QFETCH(QString, run);
        const Json expected = loadJson((QStringLiteral(CKPT_FIXTURES_DIR "/expected_series/") + run + ".json").toStdString());
        QVERIFY(expected.is_object());
        const Series series = openSeries({CKPT_FIXTURES_DIR "/files/series/" + run.toStdString()});
        const Json got = seriesReport(series, seriesTensors(series), seriesScalars(series));
        auto same = [](const Json &a, const Json &b) {
            if (a.is_null() || b.is_null())
                return a.is_null() && b.is_null();
            return ckpt::test::closeTo(a.get<double>(), b.get<double>(), 1e-9, 1e-12);
        };
        QCOMPARE(got["tensors"].size(), expected["tensors"].size());
        std::size_t checked = 0;
        for (std::size_t t = 0; t < got["tensors"].size(); ++t) {
            const Json &g = got["tensors"][t], &e = expected["tensors"][t];
            QCOMPARE(g["path"].get<std::string>(), e["path"].get<std::string>());
            QCOMPARE(g["points"].size(), e["points"].size());
            for (std::size_t p = 0; p < g["points"].size(); ++p)
                for (const char *key : {"member", "l2", "mean", "std", "min", "max", "nan", "inf", "rel_l2_prev", "cos_prev",
                                        "rel_l2_first", "cos_first"}) {
                    QVERIFY2(same(g["points"][p][key], e["points"][p][key]),
                             qPrintable(QStringLiteral("%1 member %2 %3: %4, torch %5")
                                            .arg(QString::fromStdString(g["path"].get<std::string>()))
                                            .arg(p)
                                            .arg(QLatin1String(key))
                                            .arg(QString::fromStdString(g["points"][p][key].dump()),
                                                 QString::fromStdString(e["points"][p][key].dump()))));
                    ++checked;
                }
        }
        QVERIFY(checked > 1000);
        QCOMPARE(got["scalars"].size(), expected["scalars"].size());
        for (std::size_t i = 0; i < got["scalars"].size(); ++i) {
            const Json &g = got["scalars"][i], &e = expected["scalars"][i];
            QCOMPARE(g["name"].get<std::string>(), e["name"].get<std::string>());
            QCOMPARE(g["path"].get<std::string>(), e["path"].get<std::string>());
            QCOMPARE(g["points"].size(), e["points"].size());
            for (std::size_t p = 0; p < g["points"].size(); ++p) {
                QCOMPARE(g["points"][p]["member"].get<int>(), e["points"][p]["member"].get<int>());
                QVERIFY(same(g["points"][p]["value"], e["points"][p]["value"]));
            }
        }
        if (run == QLatin1String("run")) {
            // What the run did, as a user would read it from the series: fc1 frozen from epoch 13
            // (member 12) on, the probe buffer NaN from epoch 20 (member 19).
            for (const Json &t : got["tensors"]) {
                if (t["path"] == "model_state_dict/fc1.weight")
                    for (const Json &p : t["points"])
                        QCOMPARE(p["rel_l2_prev"].is_number() && p["rel_l2_prev"].get<double>() == 0.0,
                                 p["member"].get<int>() >= 12);
                if (t["path"] == "model_state_dict/probe")
                    for (const Json &p : t["points"])
                        QCOMPARE(p["nan"].get<int>() > 0, p["member"].get<int>() >= 19);
            }
        }
    }

    // `ckpt-inspect series --json DIR PATH`: the engine's report for the selected path.
    void commandLine()
    {
        QProcess p;
        p.start(QStringLiteral(CKPT_INSPECT_EXE),
                {QStringLiteral("series"), QStringLiteral("--json"), QStringLiteral(CKPT_FIXTURES_DIR "/files/series/run"),
                 QStringLiteral("model_state_dict/head.*")});
        QVERIFY(p.waitForFinished(60000));
        QCOMPARE(p.exitCode(), 0);
        const Json got = Json::parse(p.readAllStandardOutput().toStdString(), nullptr, false);
        QVERIFY(got.is_object());
        SeriesOptions options;
        options.patterns = {"model_state_dict/head.*"};
        const Series series = openSeries({CKPT_FIXTURES_DIR "/files/series/run"});
        const Json engine = seriesReport(series, seriesTensors(series, options), seriesScalars(series));
        QCOMPARE(got["tensors"].size(), std::size_t(2)); // head.weight, head.bias
        QCOMPARE(got["tensors"].dump(), engine["tensors"].dump());
        QCOMPARE(got["members"].size(), std::size_t(24));
        QCOMPARE(got["order_by"].get<std::string>(), std::string("step"));
        QCOMPARE(got["scalars"].dump(), engine["scalars"].dump());
    }

    // A series of DCP step folders, given out of order: run order by the step inside, and each
    // tensor's change between the steps as torch computed it (expected_diff/dcp_steps.json).
    void dcpStepFolders()
    {
        const Json expected = loadJson(CKPT_FIXTURES_DIR "/expected_diff/dcp_steps.json");
        QVERIFY(expected.is_object());
        const std::string base = CKPT_FIXTURES_DIR "/files/torch2/dcp/";
        format::ReadLimits limits;
        limits.dcpRecordsOnOpen = false;
        const Series series = openSeries({base + "fsdp_step2", base + "fsdp"}, limits);
        QCOMPARE(series.members.size(), std::size_t(2));
        QCOMPARE(std::filesystem::path(series.members[0].file).filename().string(), std::string("fsdp"));
        QCOMPARE(*series.members[0].step, std::int64_t(7)); // torch: step 7 -> 8
        QCOMPARE(*series.members[1].step, std::int64_t(8));
        const std::vector<SeriesTensor> tensors = seriesTensors(series);
        std::size_t checked = 0;
        for (const Json &e : expected["entries"]) {
            if (!e.contains("rel_l2") || e["rel_l2"].is_null())
                continue;
            const auto t = std::find_if(tensors.begin(), tensors.end(), [&](const SeriesTensor &s) { return s.path == e["path"]; });
            QVERIFY2(t != tensors.end(), e["path"].get<std::string>().c_str());
            QCOMPARE(t->points.size(), std::size_t(2));
            QVERIFY(t->points[1].relL2Prev && t->points[1].cosPrev);
            QVERIFY(ckpt::test::closeTo(*t->points[1].relL2Prev, e["rel_l2"].get<double>(), 1e-9));
            QVERIFY(ckpt::test::closeTo(*t->points[1].cosPrev, e["cosine"].get<double>(), 1e-9));
            QVERIFY(ckpt::test::closeTo(*t->points[1].relL2First, e["rel_l2"].get<double>(), 1e-9));
            ++checked;
        }
        QVERIFY(checked >= 10);
    }

    // Several files on the command line, given out of order: the same run order.
    void filesGivenOutOfOrder()
    {
        const std::string dir = CKPT_FIXTURES_DIR "/files/series/run/";
        const Series series = openSeries({dir + "epoch_10.pt", dir + "epoch_2.pt", dir + "epoch_1.pt"});
        QCOMPARE(series.members.size(), std::size_t(3));
        QCOMPARE(std::filesystem::path(series.members[0].file).filename().string(), std::string("epoch_1.pt"));
        QCOMPARE(std::filesystem::path(series.members[1].file).filename().string(), std::string("epoch_2.pt"));
        QCOMPARE(std::filesystem::path(series.members[2].file).filename().string(), std::string("epoch_10.pt"));
        QCOMPARE(*series.members[2].step, std::int64_t(40));
    }
};

QTEST_GUILESS_MAIN(TestSeries)
#include "tst_series.moc"
