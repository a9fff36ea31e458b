// SPDX-License-Identifier: MIT
#include "checkpointloadjob.h"
#include "checkpointtreemodel.h"
#include "guitestutils.h"
#include "modelroles.h"
#include "torchlayout.h"

#include <QAbstractItemModelTester>
#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QIcon>
#include <QSet>
#include <QSignalSpy>
#include <QTest>

#include <map>
#include <set>

using namespace ckpt;
using format::Value;
using format::ValueKind;

namespace {

/// A hand-built training checkpoint:
/// {'epoch': 3, 'model': OrderedDict{conv1.weight, conv1.bias, bn1.running_mean,
///  layer1.0.conv.weight, fc.weight (tied to conv1.weight)}, 'hist': [1.0, 2.0],
///  'args': Namespace(lr=0.1), 0: 'int key'}
std::shared_ptr<format::CheckpointData> handBuilt()
{
    auto d = std::make_shared<format::CheckpointData>();
    d->file = "/tmp/hand.pt";
    d->format = format::ContainerFormat::TorchZip;
    auto &g = d->graph;
    auto str = [&](const char *s) {
        Value *v = g.make(ValueKind::Str);
        g.setText(v, s);
        return v;
    };
    auto tensor = [&](format::DType dt, std::vector<std::int64_t> shape) {
        format::TensorInfo t;
        t.dtype = dt;
        t.shape = shape;
        t.stride = format::TensorInfo::contiguousStrides(shape);
        d->tensors.push_back(t);
        Value *v = g.make(ValueKind::Tensor);
        v->integer = static_cast<std::int64_t>(d->tensors.size() - 1);
        return v;
    };
    Value *root = g.make(ValueKind::Dict);
    Value *epoch = g.make(ValueKind::Int);
    epoch->integer = 3;
    root->items = {str("epoch"), epoch};

    Value *model = g.make(ValueKind::Dict);
    Value *od = g.make(ValueKind::Global);
    od->text = "collections\nOrderedDict";
    model->cls = od;
    Value *w = tensor(format::DType::Float32, {16, 3, 3, 3});
    model->items = {str("conv1.weight"), w,
                    str("conv1.bias"), tensor(format::DType::Float32, {16}),
                    str("bn1.running_mean"), tensor(format::DType::Float32, {16}),
                    str("layer1.0.conv.weight"), tensor(format::DType::Float16, {8, 16, 1, 1}),
                    str("fc.weight"), w};
    root->items.push_back(str("model"));
    root->items.push_back(model);

    Value *hist = g.make(ValueKind::List);
    for (double x : {1.0, 2.0}) {
        Value *f = g.make(ValueKind::Float);
        f->real = x;
        hist->items.push_back(f);
    }
    root->items.push_back(str("hist"));
    root->items.push_back(hist);

    Value *args = g.make(ValueKind::Object);
    Value *ns = g.make(ValueKind::Global);
    ns->text = "argparse\nNamespace";
    args->cls = ns;
    Value *state = g.make(ValueKind::Dict);
    Value *lr = g.make(ValueKind::Float);
    lr->real = 0.1;
    state->items = {str("lr"), lr};
    args->state = state;
    root->items.push_back(str("args"));
    root->items.push_back(args);

    Value *zero = g.make(ValueKind::Int);
    zero->integer = 0;
    root->items.push_back(zero);
    root->items.push_back(str("int key"));

    d->root = root;
    format::collectTensorPaths(*d, root, {}, 100); // as the reader does
    return d;
}

QStringList childNames(const QAbstractItemModel &m, const QModelIndex &parent)
{
    QStringList out;
    for (int r = 0; r < m.rowCount(parent); ++r)
        out << m.index(r, 0, parent).data().toString();
    return out;
}

} // namespace

class TestCheckpointTreeModel : public QObject
{
    Q_OBJECT
private slots:
    void handBuiltTree()
    {
        CheckpointTreeModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.setCheckpoint(handBuilt());

        QCOMPARE(model.rowCount(), 1);
        const QModelIndex file = model.index(0, 0);
        QCOMPARE(file.data().toString(), QStringLiteral("hand.pt"));
        QCOMPARE(file.data(NodeKindRole).toInt(), int(NodeKind::File));
        QCOMPARE(childNames(model, file),
                 (QStringList{QStringLiteral("epoch"), QStringLiteral("model"), QStringLiteral("hist"),
                              QStringLiteral("args"), QStringLiteral("0")}));

        const QModelIndex epoch = model.index(0, 0, file);
        QCOMPARE(model.index(0, CheckpointTreeModel::ShapeColumn, file).data().toString(), QStringLiteral("3"));
        QCOMPARE(model.index(0, CheckpointTreeModel::KindColumn, file).data().toString(), QStringLiteral("int"));
        QCOMPARE(epoch.data(PathRole).toString(), QStringLiteral("epoch"));

        // Dotted state-dict keys are split into module nodes.
        const QModelIndex modelDict = model.index(1, 0, file);
        QCOMPARE(childNames(model, modelDict),
                 (QStringList{QStringLiteral("conv1"), QStringLiteral("bn1"), QStringLiteral("layer1"),
                              QStringLiteral("fc")}));
        QCOMPARE(model.index(1, CheckpointTreeModel::KindColumn, file).data().toString(),
                 QStringLiteral("OrderedDict"));
        const QModelIndex conv1 = model.index(0, 0, modelDict);
        QCOMPARE(conv1.data(NodeKindRole).toInt(), int(NodeKind::Module));
        QCOMPARE(childNames(model, conv1), (QStringList{QStringLiteral("weight"), QStringLiteral("bias")}));
        // Module totals: 432 + 16 elements, float32.
        QCOMPARE(model.index(0, CheckpointTreeModel::ElementsColumn, modelDict).data(SortRole).toULongLong(), 448ull);
        QCOMPARE(model.index(0, CheckpointTreeModel::SizeColumn, modelDict).data(SortRole).toULongLong(), 448ull * 4);
        QCOMPARE(model.index(0, CheckpointTreeModel::ElementsColumn, modelDict).data().toString(), QStringLiteral("448"));
        QCOMPARE(model.index(0, CheckpointTreeModel::SizeColumn, modelDict).data().toString(), QStringLiteral("1.75 KiB"));
        QCOMPARE(model.index(0, CheckpointTreeModel::SizeColumn, modelDict).data(Qt::TextAlignmentRole).toInt(),
                 int(Qt::AlignRight | Qt::AlignVCenter));

        const QModelIndex weight = model.index(0, 0, conv1);
        QCOMPARE(weight.data(PathRole).toString(), QStringLiteral("model/conv1.weight"));
        QCOMPARE(weight.data(TreePathRole).toString(), QStringLiteral("model/conv1/weight"));
        QCOMPARE(weight.data(NodeKindRole).toInt(), int(NodeKind::Parameter));
        QCOMPARE(weight.data(TensorKeyRole).toInt(), 0);
        QCOMPARE(model.index(0, CheckpointTreeModel::KindColumn, conv1).data().toString(), QStringLiteral("float32"));
        QCOMPARE(model.index(0, CheckpointTreeModel::ShapeColumn, conv1).data().toString(), QStringLiteral("[16, 3, 3, 3]"));
        QVERIFY(!weight.data(Qt::DecorationRole).value<QIcon>().isNull());

        const QModelIndex runningMean = model.index(0, 0, model.index(1, 0, modelDict));
        QCOMPARE(runningMean.data(NodeKindRole).toInt(), int(NodeKind::Buffer));

        // Nested modules: layer1 -> 0 -> conv -> weight, raw path joined with dots.
        const QModelIndex deep = model.indexForPath(QStringLiteral("model/layer1.0.conv.weight"));
        QVERIFY(deep.isValid());
        QCOMPARE(deep.data(TreePathRole).toString(), QStringLiteral("model/layer1/0/conv/weight"));
        QCOMPARE(model.indexForPath(QStringLiteral("model/layer1/0/conv/weight")), deep);
        QCOMPARE(model.indexForPath(QStringLiteral("/model/layer1/0/conv/weight/")), deep);
        QCOMPARE(model.indexForPath(QString()), file);
        QVERIFY(!model.indexForPath(QStringLiteral("model/nope")).isValid());

        // Object attributes; non-str keys as repr.
        const QModelIndex args = model.index(3, 0, file);
        QCOMPARE(model.index(3, CheckpointTreeModel::KindColumn, file).data().toString(),
                 QStringLiteral("argparse.Namespace"));
        QCOMPARE(childNames(model, args), QStringList{QStringLiteral("lr")});
        QCOMPARE(model.index(0, 0, args).data(PathRole).toString(), QStringLiteral("args/lr"));
        QCOMPARE(model.index(0, CheckpointTreeModel::ShapeColumn, args).data().toString(), QStringLiteral("0.1"));
        QCOMPARE(model.index(4, CheckpointTreeModel::ShapeColumn, file).data().toString(), QStringLiteral("'int key'"));

        // Tied weights appear at both paths; totals count paths, unique totals count tensors.
        QCOMPARE(model.tree()->nodesForTensor(0).size(), std::size_t(2));
        QCOMPARE(model.tree()->uniqueElements(), 432ull + 16 + 16 + 128);
        // The state dict under "model" is the model: its running_mean is a buffer, and the tied
        // conv1.weight / fc.weight are one parameter (as model.parameters() counts it).
        const CheckpointTotals &t = model.tree()->totals();
        QCOMPARE(t.paths, std::size_t(5));
        QCOMPARE(t.tensors, std::size_t(4));
        QVERIFY(t.hasModel);
        QCOMPARE(t.modelPath, std::string("model"));
        QCOMPARE(t.parameters.tensors, std::size_t(3));
        QCOMPARE(t.parameters.elements, 432ull + 16 + 128);
        QCOMPARE(t.buffers.tensors, std::size_t(1));
    }

    void healthMarks()
    {
        CheckpointTreeModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.setCheckpoint(handBuilt());
        QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
        const QModelIndex a = model.indexForPath(QStringLiteral("model/conv1.weight"));
        const QModelIndex b = model.indexForPath(QStringLiteral("model/fc.weight"));
        const QIcon before = a.data(Qt::DecorationRole).value<QIcon>();
        model.setTensorHealth(0, HealthNaN);
        // Both paths of the tied tensor change, and every ancestor row of them.
        QSet<QModelIndex> rows;
        for (const auto &args : changed)
            rows.insert(args.at(0).toModelIndex().siblingAtColumn(0));
        QVERIFY(rows.contains(a) && rows.contains(b));
        QVERIFY(rows.contains(model.indexForPath(QStringLiteral("model/conv1"))));
        QVERIFY(rows.contains(model.indexForPath(QStringLiteral("model"))));
        QCOMPARE(rows.size(), 2 + 4); // conv1, fc, model, file
        QVERIFY(model.indexForPath(QStringLiteral("model/fc")).data(HealthRole).toInt() & HealthBadBelow);
        QVERIFY(!(model.indexForPath(QStringLiteral("model/bn1")).data(HealthRole).toInt() & HealthBadBelow));
        const int signalsSoFar = int(changed.count());
        QCOMPARE(a.data(HealthRole).toInt(), HealthKnown | HealthNaN);
        QCOMPARE(b.data(HealthRole).toInt(), HealthKnown | HealthNaN);
        QVERIFY(a.data(Qt::DecorationRole).value<QIcon>().cacheKey() != before.cacheKey());
        QVERIFY(a.data(Qt::ToolTipRole).toString().contains(QStringLiteral("NaN")));
        model.setTensorHealth(0, HealthNaN); // unchanged: no signal
        QCOMPARE(changed.count(), signalsSoFar);
        model.setTensorHealth(0, 0); // fixed: the ancestors are clean again
        QVERIFY(!(model.indexForPath(QStringLiteral("model")).data(HealthRole).toInt() & HealthBadBelow));
        model.setTensorHealth(1, HealthAllZero);
        QVERIFY(model.indexForPath(QStringLiteral("model/conv1.bias")).data(Qt::FontRole).value<QFont>().italic());
    }

    void fixtures_data()
    {
        QTest::addColumn<QString>("name");
        for (const QString &name : test::fixturesWithExpected())
            QTest::newRow(qPrintable(name)) << name;
    }

    /// The tree lists exactly the tensors torch lists, at the same paths, with the same dtype,
    /// shape and element count; every path resolves through indexForPath in both forms.
    void fixtures()
    {
        QFETCH(QString, name);
        const auto expected = test::expectedJson(name);
        QVERIFY(expected.is_object());
        CheckpointTreeModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        LoadedCheckpoint loaded = CheckpointLoadJob::load(test::fixturePath(name));
        QVERIFY(loaded.data);
        model.setTree(loaded.tree);
        QCOMPARE(model.rowCount(), 1);

        std::map<QString, QModelIndex> ours;
        test::forEachIndex(&model, [&](const QModelIndex &idx) {
            if (idx.data(TensorKeyRole).toInt() >= 0)
                ours.emplace(idx.data(PathRole).toString(), idx);
        });
        std::set<QString> theirs;
        QStringList problems;
        for (const auto &t : expected["tensors"]) {
            const QString path = test::qstr(t["path"]);
            theirs.insert(path);
            auto it = ours.find(path);
            if (it == ours.end()) {
                problems << path + QStringLiteral(": missing from the tree");
                continue;
            }
            const QModelIndex idx = it->second;
            const QString dtype = model.index(idx.row(), CheckpointTreeModel::KindColumn, idx.parent()).data().toString();
            if (!dtype.endsWith(test::qstr(t["dtype"])))
                problems << path + QStringLiteral(": dtype ") + dtype;
            QList<qint64> shape;
            for (const auto &d : t["shape"])
                shape << d.get<qint64>();
            if (idx.data(ShapeRole).value<QList<qint64>>() != shape)
                problems << path + QStringLiteral(": shape differs");
            if (idx.data(ElementCountRole).toULongLong() != t["numel"].get<quint64>())
                problems << path + QStringLiteral(": numel differs");
            if (model.indexForPath(path) != idx && model.indexForPath(path).data(PathRole).toString() != path)
                problems << path + QStringLiteral(": indexForPath(raw) fails");
            const QString treePath = idx.data(TreePathRole).toString();
            if (model.indexForPath(treePath).data(PathRole).toString() != path)
                problems << path + QStringLiteral(": indexForPath(tree) fails for ") + treePath;
        }
        for (const auto &[path, idx] : ours)
            if (!theirs.count(path))
                problems << path + QStringLiteral(": in the tree, not listed by torch");
        if (!problems.isEmpty())
            QFAIL(qPrintable(problems.join(QLatin1Char('\n')) + QStringLiteral("\n\nTree:\n")
                             + test::dumpModel(&model, 3).left(4000)));
    }

    // Optimizer state rows carry their parameter's name: torch's names for every optimizer
    // fixture of make_optim_fixtures.py whose mapping the file determines.
    void optimizerStateNamedByParameter()
    {
        const QDir dir(QStringLiteral(CKPT_FIXTURES_DIR "/expected_optim"));
        int named = 0;
        for (const QString &f : dir.entryList({QStringLiteral("*.json")}, QDir::Files)) {
            QFile in(dir.filePath(f));
            QVERIFY(in.open(QIODevice::ReadOnly));
            const QJsonObject doc = QJsonDocument::fromJson(in.readAll()).object();
            if (!doc.value(QStringLiteral("must_map")).toBool())
                continue;
            const QString file = doc.value(QStringLiteral("file")).toString();
            LoadedCheckpoint loaded = CheckpointLoadJob::load(
                file == QLatin1String("sample_epoch1.pt") ? QStringLiteral(CKPT_SOURCE_DIR "/resources/samples/") + file
                                                          : QStringLiteral(CKPT_FIXTURES_DIR "/files/optim/") + file);
            QVERIFY2(loaded.tree && loaded.data->ok(), qPrintable(f));
            CheckpointTreeModel model;
            QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
            model.setTree(loaded.tree);
            for (const QJsonValue &o : doc.value(QStringLiteral("optimizers")).toArray()) {
                const QString base = o[QStringLiteral("path")].toString();
                for (const QJsonValue &p : o[QStringLiteral("params")].toArray()) {
                    if (!p[QStringLiteral("name")].isString() || p[QStringLiteral("state")].toObject().isEmpty())
                        continue;
                    const QString id = QString::number(p[QStringLiteral("id")].toInt());
                    const QString path = (base.isEmpty() ? QString() : base + QLatin1Char('/')) + QStringLiteral("state/") + id;
                    const TreeNode *node = loaded.tree->findPath(path);
                    QVERIFY2(node, qPrintable(f + QStringLiteral(": ") + path));
                    const QString name = p[QStringLiteral("name")].toString();
                    QCOMPARE(node->alias, name);
                    QCOMPARE(model.indexForNode(node, CheckpointTreeModel::NameColumn).data().toString(),
                             QStringLiteral("%1 (id %2)").arg(name, id));
                    ++named;
                }
            }
        }
        QVERIFY2(named >= 20, qPrintable(QString::number(named)));
    }

    void damagedFileKeepsReadablePart()
    {
        LoadedCheckpoint loaded = CheckpointLoadJob::load(test::fixturePath(QStringLiteral("failed_save.pt")));
        QVERIFY(loaded.data->error.has_value());
        CheckpointTreeModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.setTree(loaded.tree);
        QCOMPARE(model.rowCount(), 1);
    }

    void asyncLoad()
    {
        CheckpointLoadJob job;
        QSignalSpy finished(&job, &CheckpointLoadJob::finished);
        job.start(test::fixturePath(QStringLiteral("state_dict.pt")));
        // A second start drops the first result (generation counter).
        const quint64 gen = job.start(test::fixturePath(QStringLiteral("training_ckpt.pt")));
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 10000);
        const auto result = finished.at(0).at(0).value<LoadedCheckpoint>();
        QCOMPARE(result.generation, gen);
        QVERIFY(result.path.endsWith(QStringLiteral("training_ckpt.pt")));
        QVERIFY(result.data->ok());
        QVERIFY(result.tree->root()->tensorCount > 0);
    }
};

QTEST_MAIN(TestCheckpointTreeModel)
#include "tst_checkpointtreemodel.moc"
