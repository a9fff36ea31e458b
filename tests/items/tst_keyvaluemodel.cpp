// SPDX-License-Identifier: MIT
#include "checkpointloadjob.h"
#include "guitestutils.h"
#include "keyvaluemodel.h"
#include "modelroles.h"

#include <QAbstractItemModelTester>
#include <QTest>

using namespace ckpt;

namespace {
QModelIndex findKey(KeyValueModel &m, const QString &key, const QModelIndex &parent = {})
{
    for (int r = 0; r < m.rowCount(parent); ++r)
        if (m.index(r, 0, parent).data().toString() == key)
            return m.index(r, 0, parent);
    return {};
}
} // namespace

class TestKeyValueModel : public QObject
{
    Q_OBJECT
private slots:
    void trainingCheckpointValues()
    {
        const LoadedCheckpoint l = CheckpointLoadJob::load(test::fixturePath(QStringLiteral("training_ckpt.pt")));
        KeyValueModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.setValue(l.data, l.data->root);
        const QModelIndex epoch = findKey(model, QStringLiteral("epoch"));
        QVERIFY(epoch.isValid());
        QCOMPARE(epoch.siblingAtColumn(KeyValueModel::TypeColumn).data().toString(), QStringLiteral("int"));

        // argparse.Namespace: its attributes are rows.
        const QModelIndex args = findKey(model, QStringLiteral("args"));
        QVERIFY(args.isValid());
        QCOMPARE(args.siblingAtColumn(KeyValueModel::TypeColumn).data().toString(), QStringLiteral("argparse.Namespace"));
        QVERIFY(model.hasChildren(args));
        QVERIFY(findKey(model, QStringLiteral("(class)"), args).isValid());

        // A 0-d tensor shows its value.
        const QModelIndex loss = findKey(model, QStringLiteral("loss"));
        QVERIFY(loss.isValid());
        QVERIFY(loss.siblingAtColumn(KeyValueModel::ValueColumn).data().toString().contains(QStringLiteral("float32")));
        QVERIFY(loss.data(TensorKeyRole).toInt() >= 0);

        // Optimizer param_groups: a list of dicts with lr.
        const QModelIndex opt = findKey(model, QStringLiteral("optimizer_state_dict"));
        const QModelIndex groups = findKey(model, QStringLiteral("param_groups"), opt);
        QVERIFY(groups.isValid());
        const QModelIndex g0 = findKey(model, QStringLiteral("0"), groups);
        QVERIFY(findKey(model, QStringLiteral("lr"), g0).isValid());
    }

    void scalarRoot()
    {
        format::CheckpointData d;
        format::Value *v = d.graph.make(format::ValueKind::Float);
        v->real = 0.25;
        KeyValueModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.setValue(nullptr, v, QStringLiteral("loss"));
        QCOMPARE(model.rowCount(), 1);
        QCOMPARE(model.index(0, KeyValueModel::KeyColumn).data().toString(), QStringLiteral("loss"));
        QCOMPARE(model.index(0, KeyValueModel::ValueColumn).data().toString(), QStringLiteral("0.25"));
        model.clear();
        QCOMPARE(model.rowCount(), 0);
    }

    void cyclesStop()
    {
        format::CheckpointData d;
        format::Value *list = d.graph.make(format::ValueKind::List);
        list->items.push_back(list); // l = [l]
        KeyValueModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.setValue(nullptr, list);
        QCOMPARE(model.rowCount(), 1);
        const QModelIndex self = model.index(0, 0);
        QVERIFY(!model.hasChildren(self));
        QCOMPARE(model.index(0, KeyValueModel::ValueColumn).data().toString(), QStringLiteral("(recursive reference)"));
    }
};

QTEST_MAIN(TestKeyValueModel)
#include "tst_keyvaluemodel.moc"
