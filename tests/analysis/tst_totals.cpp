// SPDX-License-Identifier: MIT
// Issue 16, item 4: the totals every view shows (the GUI's summary and status bar, `ls` and
// `ls --json`) agree with torch. expected_totals/totals.json is torch 1.13's count of every fixture
// (tests/fixtures/make_totals.py): distinct tensors and storages, their elements and bytes, and
// for the fixtures where torch can say (a module pickled whole, or a state dict that
// load_state_dict(strict=True) accepts into the model it came from) model.parameters() and
// model.buffers(). tst_mainwindow checks that the GUI shows the same numbers as `ls --json`.
#include "checkpointreader.h"
#include "inspectreport.h"
#include "checkpointtotals.h"
#include "trainingstate.h"

#include <QFile>
#include <QTest>

#include <nlohmann/json.hpp>

using namespace ckpt;

class TestTotals : public QObject
{
    Q_OBJECT

private slots:
    void agreeWithTorch_data()
    {
        QTest::addColumn<QString>("name");
        QFile f(QStringLiteral(CKPT_FIXTURES_DIR "/expected_totals/totals.json"));
        QVERIFY(f.open(QIODevice::ReadOnly));
        m_expected = nlohmann::json::parse(f.readAll().toStdString());
        QVERIFY(m_expected.size() >= 50);
        for (const auto &[name, _] : m_expected.items())
            QTest::newRow(name.c_str()) << QString::fromStdString(name);
    }

    void agreeWithTorch()
    {
        QFETCH(QString, name);
        const nlohmann::json &want = m_expected[name.toStdString()];
        const auto data = format::readCheckpoint(CKPT_FIXTURES_DIR "/files/" + name.toStdString());
        QVERIFY(data);
        const CheckpointTotals t = checkpointTotals(*data);
        QCOMPARE(t.paths, want["paths"].get<std::size_t>());
        QCOMPARE(t.tensors, want["tensors"].get<std::size_t>());
        QCOMPARE(t.storages, want["storages"].get<std::size_t>());
        QCOMPARE(t.elements, want["elements"].get<std::uint64_t>());
        QCOMPARE(t.bytes, want["bytes"].get<std::uint64_t>());
        if (want.contains("model")) {
            const auto &m = want["model"];
            QVERIFY(t.hasModel);
            QCOMPARE(t.modelPath, m["path"].get<std::string>());
            QCOMPARE(t.parameters.tensors, m["parameters"].get<std::size_t>());
            QCOMPARE(t.parameters.elements, m["parameter_elements"].get<std::uint64_t>());
            QCOMPARE(t.buffers.tensors, m["buffers"].get<std::size_t>());
            QCOMPARE(t.buffers.elements, m["buffer_elements"].get<std::uint64_t>());
            QCOMPARE(t.other.tensors, t.tensors - t.parameters.tensors - t.buffers.tensors);
        }
        // `ls --json` carries the same numbers.
        const Json ls = lsReport(*data);
        QCOMPARE(ls["totals"]["tensors"].get<std::size_t>(), t.tensors);
        QCOMPARE(ls["totals"]["bytes"].get<std::uint64_t>(), t.bytes);
        QCOMPARE(ls["totals"]["model"].is_null(), !t.hasModel);
    }

private:
    nlohmann::json m_expected;
};

QTEST_GUILESS_MAIN(TestTotals)
#include "tst_totals.moc"
