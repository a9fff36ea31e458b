// SPDX-License-Identifier: MIT
#include "checkpointloadjob.h"
#include "globalsmodel.h"
#include "guitestutils.h"
#include "modelroles.h"

#include <QAbstractItemModelTester>
#include <QTest>

#include <set>

using namespace ckpt;

class TestGlobalsModel : public QObject
{
    Q_OBJECT
private slots:
    void fixtures_data()
    {
        QTest::addColumn<QString>("name");
        for (const QString &name : test::fixturesWithExpected())
            if (test::expectedJson(name).contains("globals"))
                QTest::newRow(qPrintable(name)) << name;
    }

    /// Every global CPython resolved is listed; dangerous exactly when torch's check says so.
    void fixtures()
    {
        QFETCH(QString, name);
        const auto expected = test::expectedJson(name);
        const LoadedCheckpoint l = CheckpointLoadJob::load(test::fixturePath(name));
        GlobalsModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.setCheckpoint(l.data);
        std::set<QString> ours;
        for (int r = 0; r < model.rowCount(); ++r)
            ours.insert(model.index(r, GlobalsModel::GlobalColumn).data().toString());
        for (const auto &g : expected["globals"]) {
            const QString full = test::qstr(g["module"]) + QLatin1Char('.') + test::qstr(g["name"]);
            QVERIFY2(ours.count(full), qPrintable(full + QStringLiteral(" not listed")));
        }
        if (expected.contains("dangerous") && expected["dangerous"].is_boolean())
            QCOMPARE(model.dangerousCount() > 0, expected["dangerous"].get<bool>());
    }

    void dangerousRowsStandOut()
    {
        const LoadedCheckpoint l = CheckpointLoadJob::load(test::fixturePath(QStringLiteral("malicious_zip.pt")));
        GlobalsModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.setCheckpoint(l.data);
        QVERIFY(model.dangerousCount() > 0);
        bool found = false;
        for (int r = 0; r < model.rowCount(); ++r) {
            if (model.index(r, GlobalsModel::ClassColumn).data().toString() != QLatin1String("dangerous"))
                continue;
            found = true;
            QVERIFY(model.index(r, 0).data(Qt::BackgroundRole).isValid());
            QVERIFY(model.index(r, 0).data(Qt::ToolTipRole).toString().contains(QStringLiteral("torch.load")));
            QVERIFY(model.dangerousNames().contains(model.index(r, 0).data().toString()));
        }
        QVERIFY(found);
    }
};

QTEST_MAIN(TestGlobalsModel)
#include "tst_globalsmodel.moc"
