// SPDX-License-Identifier: MIT
// A training run as a series (issue 20): the members of the real runs that
// tests/fixtures/make_series_fixtures.py writes, found in their folder and put in run order with
// the step and epoch torch reads from each (tests/fixtures/expected_series/*.json).

#include "expectedcheck.h"
#include "series.h"

#include <QTest>

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
