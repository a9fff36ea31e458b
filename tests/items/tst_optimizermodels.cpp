// SPDX-License-Identifier: MIT
// Issue 4 GUI models: the optimizer's param_groups and per-parameter tables and the training
// summary, against what torch knew when it built each optimizer (expected_optim/*.json, made by
// tests/fixtures/make_optim_fixtures.py: names, shapes, steps, L2 norms and means computed by
// torch in double); module folding of whole pickled and TorchScript modules against torch's
// named_parameters()/named_buffers() (expected_optim/modules/*.json).

#include "checkpointtree.h"
#include "checkpointtreemodel.h"
#include "displayformat.h"
#include "guitestutils.h"
#include "modelroles.h"
#include "optimizerparamsmodel.h"
#include "paramgroupsmodel.h"
#include "tensorsummaryjob.h"
#include "trainingoverview.h"
#include "trainingsummarymodel.h"

#include <QAbstractItemModelTester>
#include <QIcon>
#include <QSignalSpy>
#include <QSortFilterProxyModel>
#include <QTest>

#include <cmath>
#include <fstream>
#include <set>

using namespace ckpt;
using nlohmann::json;

namespace {

QString expectedDir()
{
    return QStringLiteral(CKPT_FIXTURES_DIR "/expected_optim");
}

QString fileFor(const QString &base)
{
    if (base == QLatin1String("sample_epoch1.pt"))
        return QStringLiteral(CKPT_SOURCE_DIR "/resources/samples/sample_epoch1.pt");
    return QStringLiteral(CKPT_FIXTURES_DIR "/files/optim/") + base;
}

json loadJson(const QString &path)
{
    std::ifstream in(path.toStdString());
    return json::parse(in, nullptr, false);
}

bool close(double a, double b)
{
    return std::abs(a - b) <= 1e-9 * std::max(std::abs(a), std::abs(b)) + 1e-300;
}

QString shapeString(const json &shape)
{
    QStringList parts;
    for (const auto &d : shape)
        parts << QString::number(d.get<qint64>());
    return QLatin1Char('[') + parts.join(QStringLiteral(", ")) + QLatin1Char(']');
}

CheckpointPtr read(const QString &path)
{
    return format::readCheckpoint(path.toStdString());
}

int columnOf(const QAbstractItemModel &m, const QString &header)
{
    for (int c = 0; c < m.columnCount(); ++c)
        if (m.headerData(c, Qt::Horizontal).toString() == header)
            return c;
    return -1;
}

} // namespace

class TestOptimizerModels : public QObject
{
    Q_OBJECT
private slots:
    void optimizerTables_data();
    void optimizerTables();
    void sortsNumbersAsNumbers();
    void trainingSummary();
    void summaryJobStreamsAndCancels();
    void moduleFolding_data();
    void moduleFolding();
    void rawPathsStayFindable();
};

void TestOptimizerModels::optimizerTables_data()
{
    QTest::addColumn<QString>("name");
    for (const QString &f : QDir(expectedDir()).entryList({QStringLiteral("*.json")}, QDir::Files, QDir::Name))
        QTest::newRow(qPrintable(f)) << f.chopped(5);
}

void TestOptimizerModels::optimizerTables()
{
    QFETCH(QString, name);
    const json expected = loadJson(expectedDir() + QLatin1Char('/') + name + QStringLiteral(".json"));
    QVERIFY(expected.is_object());
    const CheckpointPtr data = read(fileFor(name));
    QVERIFY(data && !data->error);
    const auto overview = analyzeTraining(data);
    QCOMPARE(overview->optimizers.size(), expected["optimizers"].size());

    for (std::size_t o = 0; o < overview->optimizers.size(); ++o) {
        const json &eo = expected["optimizers"][o];
        ParamGroupsModel groups;
        OptimizerParamsModel params;
        QAbstractItemModelTester groupsTester(&groups, QAbstractItemModelTester::FailureReportingMode::QtTest);
        QAbstractItemModelTester paramsTester(&params, QAbstractItemModelTester::FailureReportingMode::QtTest);
        groups.setOptimizer(overview, static_cast<int>(o));
        params.setOptimizer(overview, static_cast<int>(o));
        QCOMPARE(overview->optimizers[o].path, test::qstr(eo["path"]));

        // param_groups: one row per group, the number of parameters, each hyper-parameter.
        QCOMPARE(groups.rowCount(), static_cast<int>(eo["groups"].size()));
        for (int g = 0; g < groups.rowCount(); ++g) {
            const json &eg = eo["groups"][static_cast<std::size_t>(g)];
            QCOMPARE(groups.index(g, ParamGroupsModel::ParamsColumn).data().toInt(), static_cast<int>(eg["params"].size()));
            for (const auto &[key, value] : eg["hyper"].items()) {
                const int c = columnOf(groups, QString::fromStdString(key));
                QVERIFY2(c >= 0, key.c_str());
                const QModelIndex cell = groups.index(g, c);
                if (value.is_number() && !value.is_boolean()) {
                    QVERIFY2(close(cell.data(SortRole).toDouble(), value.get<double>()), key.c_str());
                } else if (value.is_boolean()) {
                    QCOMPARE(cell.data().toString(), value.get<bool>() ? QStringLiteral("True") : QStringLiteral("False"));
                } else if (value.is_null()) {
                    QCOMPARE(cell.data().toString(), QStringLiteral("None"));
                }
            }
        }

        // Per-parameter state: ids, groups, shapes; names equal torch's or are withheld.
        const bool mustMap = expected["must_map"].get<bool>();
        QCOMPARE(params.rowCount(), static_cast<int>(eo["params"].size()));
        QCOMPARE(params.pendingCount() > 0, !overview->optimizers[o].statTensors().empty());
        params.setSummaries(TensorSummaryJob::compute(*data, overview->optimizers[o].statTensors()));
        QCOMPARE(params.pendingCount(), 0);
        int checkedNorms = 0;
        for (int r = 0; r < params.rowCount(); ++r) {
            const json &ep = eo["params"][static_cast<std::size_t>(r)];
            const QString id = QString::number(ep["id"].get<qint64>());
            QCOMPARE(params.index(r, OptimizerParamsModel::IdColumn).data().toLongLong(), ep["id"].get<qint64>());
            QCOMPARE(params.index(r, OptimizerParamsModel::GroupColumn).data().toInt(), ep["group"].get<int>());
            const QModelIndex nameCell = params.index(r, OptimizerParamsModel::NameColumn);
            const QString torchName = test::qstr(ep["name"]);
            const OptimizerParamInfo *p = params.param(r);
            if (p->name.isNull()) {
                QVERIFY2(!mustMap, qPrintable(QStringLiteral("id %1 unnamed but the file determines it").arg(id)));
                QCOMPARE(nameCell.data().toString(), QStringLiteral("id ") + id);
                QVERIFY(!nameCell.data(Qt::DecorationRole).value<QIcon>().isNull());
                QVERIFY(!nameCell.data(Qt::ToolTipRole).toString().isEmpty());
            } else {
                QCOMPARE(nameCell.data().toString(), torchName); // never a wrong name
                QVERIFY(nameCell.data(PathRole).toString().endsWith(torchName));
            }
            for (const auto &[key, value] : ep["state"].items()) {
                const QString k = QString::fromStdString(key);
                if (k == QLatin1String("step")) {
                    QVERIFY(close(params.index(r, OptimizerParamsModel::StepColumn).data(SortRole).toDouble(),
                                  value.get<double>()));
                    continue;
                }
                const int normCol = columnOf(params, k + QStringLiteral(" ‖·‖"));
                const int meanCol = columnOf(params, k + QStringLiteral(" mean"));
                if (!value.is_object()) {
                    // momentum_buffer None (SGD without momentum): shown as stored, no statistics.
                    if (normCol >= 0)
                        QCOMPARE(params.index(r, normCol).data().toString(), QStringLiteral("None"));
                    continue;
                }
                QVERIFY2(normCol >= 0 && meanCol >= 0, key.c_str());
                QCOMPARE(params.index(r, OptimizerParamsModel::ShapeColumn).data().toString(), shapeString(value["shape"]));
                const double norm = params.index(r, normCol).data(SortRole).toDouble();
                const double mean = params.index(r, meanCol).data(SortRole).toDouble();
                QVERIFY2(close(norm, value["norm"].get<double>()),
                         qPrintable(QStringLiteral("%1 %2 norm %3 vs torch %4").arg(id, k).arg(norm).arg(value["norm"].get<double>())));
                QVERIFY2(close(mean, value["mean"].get<double>()),
                         qPrintable(QStringLiteral("%1 %2 mean %3 vs torch %4").arg(id, k).arg(mean).arg(value["mean"].get<double>())));
                QCOMPARE(params.index(r, normCol).data(PathRole).toString(),
                         overview->optimizers[o].path + QStringLiteral("/state/") + id + QLatin1Char('/') + k);
                QVERIFY(params.index(r, normCol).data(TensorKeyRole).toInt() >= 0);
                ++checkedNorms;
            }
        }
        if (name != QLatin1String("sgd_plain.pt"))
            QVERIFY(checkedNorms > 0);
    }
}

void TestOptimizerModels::sortsNumbersAsNumbers()
{
    const CheckpointPtr data = read(fileFor(QStringLiteral("adam_amsgrad.pt")));
    const auto overview = analyzeTraining(data);
    QCOMPARE(overview->optimizers.size(), std::size_t(1));
    OptimizerParamsModel params;
    QSortFilterProxyModel proxy;
    QAbstractItemModelTester tester(&proxy, QAbstractItemModelTester::FailureReportingMode::QtTest);
    proxy.setSourceModel(&params);
    proxy.setSortRole(SortRole);
    params.setOptimizer(overview, 0);
    params.setSummaries(TensorSummaryJob::compute(*data, overview->optimizers[0].statTensors()));
    const json expected = loadJson(expectedDir() + QStringLiteral("/adam_amsgrad.pt.json"));
    std::vector<double> norms;
    for (const auto &p : expected["optimizers"][0]["params"])
        norms.push_back(p["state"]["exp_avg"]["norm"].get<double>());
    std::sort(norms.begin(), norms.end());
    const int col = columnOf(params, QStringLiteral("exp_avg ‖·‖"));
    QVERIFY(col >= 0);
    proxy.sort(col, Qt::AscendingOrder);
    for (int r = 0; r < proxy.rowCount(); ++r)
        QVERIFY(close(proxy.index(r, col).data(SortRole).toDouble(), norms[static_cast<std::size_t>(r)]));
    // Shapes by element count: [4] < [5] < [5, 16] < [4, 3, 3, 3] (80 < 108).
    proxy.sort(OptimizerParamsModel::ShapeColumn, Qt::AscendingOrder);
    QCOMPARE(proxy.index(proxy.rowCount() - 1, OptimizerParamsModel::ShapeColumn).data().toString(),
             QStringLiteral("[4, 3, 3, 3]"));
    QCOMPARE(proxy.index(proxy.rowCount() - 2, OptimizerParamsModel::ShapeColumn).data().toString(),
             QStringLiteral("[5, 16]"));
}

void TestOptimizerModels::trainingSummary()
{
    // adam_amsgrad.pt: {'epoch': 3, 'global_step': 12, ..., 'loss': 0-d tensor,
    // 'scheduler': StepLR(step_size=1, gamma=0.5) never stepped, 'scaler': {'scale': 65536.0, ...,
    // '_growth_tracker': 2}} (make_optim_fixtures.py).
    const CheckpointPtr data = read(fileFor(QStringLiteral("adam_amsgrad.pt")));
    TrainingSummaryModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setOverview(analyzeTraining(data));
    QHash<QString, QModelIndex> sections;
    for (int s = 0; s < model.rowCount(); ++s)
        sections.insert(model.index(s, 0).data().toString(), model.index(s, 0));
    auto value = [&](const QString &section, const QString &name) -> QModelIndex {
        const QModelIndex sec = sections.value(section);
        for (int r = 0; r < model.rowCount(sec); ++r)
            if (model.index(r, 0, sec).data().toString() == name)
                return model.index(r, TrainingSummaryModel::ValueColumn, sec);
        return {};
    };
    QVERIFY2(sections.contains(QStringLiteral("Progress")), qPrintable(test::dumpModel(&model, 2)));
    QCOMPARE(value(QStringLiteral("Progress"), QStringLiteral("epoch")).data().toString(), QStringLiteral("3"));
    QCOMPARE(value(QStringLiteral("Progress"), QStringLiteral("global_step")).data().toString(), QStringLiteral("12"));
    const QModelIndex loss = value(QStringLiteral("Progress"), QStringLiteral("loss"));
    QVERIFY(loss.isValid());
    QCOMPARE(loss.data().toString(), QStringLiteral("…")); // read in the background
    model.setSummaries(TensorSummaryJob::compute(*data, model.wantedTensors()));
    bool ok = false;
    QVERIFY(loss.data().toString().toDouble(&ok) > 0 && ok); // mean of squares

    const QString opt = QStringLiteral("Optimizer optimizer");
    QVERIFY(sections.contains(opt));
    QCOMPARE(sections[opt].siblingAtColumn(1).data().toString(), QStringLiteral("Adam or AdamW"));
    QCOMPARE(value(opt, QStringLiteral("lr (group 0)")).data().toString(), QStringLiteral("0.001"));
    QCOMPARE(value(opt, QStringLiteral("lr (group 0)")).siblingAtColumn(0).data(PathRole).toString(),
             QStringLiteral("optimizer/param_groups/0/lr"));

    const QString sched = QStringLiteral("Scheduler scheduler");
    QVERIFY(sections.contains(sched));
    QCOMPARE(sections[sched].siblingAtColumn(1).data().toString(), QStringLiteral("StepLR"));
    QCOMPARE(value(sched, QStringLiteral("_last_lr")).data().toString(), QStringLiteral("[0.001]"));
    QCOMPARE(value(sched, QStringLiteral("last_epoch")).data().toString(), QStringLiteral("0"));

    const QString scaler = QStringLiteral("Grad scaler scaler");
    QVERIFY(sections.contains(scaler));
    QCOMPARE(value(scaler, QStringLiteral("scale")).data().toString(), QStringLiteral("65536.0"));
    QCOMPARE(value(scaler, QStringLiteral("_growth_tracker")).data().toString(), QStringLiteral("2"));

    // Lightning: optimizer_states list, lr_schedulers stepped once (1e-3 * 0.5), hyper_parameters.
    const CheckpointPtr lightning = read(fileFor(QStringLiteral("lightning.ckpt")));
    model.setOverview(analyzeTraining(lightning));
    sections.clear();
    for (int s = 0; s < model.rowCount(); ++s)
        sections.insert(model.index(s, 0).data().toString(), model.index(s, 0));
    QVERIFY2(sections.contains(QStringLiteral("Optimizer optimizer_states/0")), qPrintable(test::dumpModel(&model, 2)));
    QCOMPARE(value(QStringLiteral("Scheduler lr_schedulers/0"), QStringLiteral("_last_lr")).data().toString(),
             QStringLiteral("[0.0005]"));
    QCOMPARE(value(QStringLiteral("Arguments hyper_parameters"), QStringLiteral("lr")).data().toString(),
             QStringLiteral("0.001"));
    QCOMPARE(value(QStringLiteral("Progress"), QStringLiteral("global_step")).data().toString(), QStringLiteral("2"));
    const QString rng = QStringLiteral("Random number generators");
    QVERIFY(!sections.contains(rng));

    // RNG states, recognised by structure: training_ckpt.pt (make_fixtures.py) stores
    // torch.get_rng_state(), np.random.get_state() and random.getstate(), and nothing else is one.
    const CheckpointPtr training = read(test::fixturePath(QStringLiteral("training_ckpt.pt")));
    model.setOverview(analyzeTraining(training));
    sections.clear();
    for (int s = 0; s < model.rowCount(); ++s)
        sections.insert(model.index(s, 0).data().toString(), model.index(s, 0));
    QVERIFY2(sections.contains(rng), qPrintable(test::dumpModel(&model, 2)));
    QCOMPARE(model.rowCount(sections[rng]), 3);
    const QModelIndex torchRng = value(rng, QStringLiteral("torch_rng_state"));
    QVERIFY(torchRng.data().toString().startsWith(QStringLiteral("torch CPU generator")));
    QCOMPARE(torchRng.siblingAtColumn(0).data(PathRole).toString(), QStringLiteral("torch_rng_state"));
    QVERIFY(value(rng, QStringLiteral("numpy_rng_state")).data().toString().startsWith(QStringLiteral("NumPy RandomState")));
    QCOMPARE(value(rng, QStringLiteral("python_rng_state")).data().toString(),
             QStringLiteral("Python random (Mersenne Twister, version 3)"));
}

void TestOptimizerModels::summaryJobStreamsAndCancels()
{
    const CheckpointPtr data = read(fileFor(QStringLiteral("sample_epoch1.pt")));
    const auto overview = analyzeTraining(data);
    QVERIFY(!overview->optimizers.empty());
    const std::vector<int> tensors = overview->optimizers[0].statTensors();
    TensorSummaryJob job;
    QSignalSpy results(&job, &TensorSummaryJob::resultsReady);
    QSignalSpy finished(&job, &TensorSummaryJob::finished);
    job.start(data, tensors);
    QVERIFY(job.isRunning());
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 30000);
    int got = 0;
    for (const auto &args : results)
        got += static_cast<int>(args.at(0).value<QList<TensorSummary>>().size());
    QCOMPARE(got, static_cast<int>(tensors.size()));
    QVERIFY(!job.isRunning());

    // A second start drops the first run's late results.
    QSignalSpy canceled(&job, &TensorSummaryJob::canceled);
    results.clear();
    finished.clear();
    job.start(data, tensors);
    job.cancel();
    job.start(data, {tensors.front()});
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 30000);
    QCOMPARE(results.count(), 1);
    QCOMPARE(results.front().at(0).value<QList<TensorSummary>>().front().tensor, tensors.front());
}

void TestOptimizerModels::moduleFolding_data()
{
    QTest::addColumn<QString>("name");
    QTest::newRow("pickled nn.Module") << QStringLiteral("whole_model.pt");
    QTest::newRow("TorchScript") << QStringLiteral("whole_model_script.pt");
}

void TestOptimizerModels::moduleFolding()
{
    QFETCH(QString, name);
    const json expected = loadJson(expectedDir() + QStringLiteral("/modules/") + name + QStringLiteral(".json"));
    QVERIFY(expected.is_object());
    const CheckpointPtr data = read(fileFor(name));
    QVERIFY(data && !data->error);
    CheckpointTreeModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    const auto tree = CheckpointTree::build(data);
    model.setTree(tree);
    const bool script = name.contains(QLatin1String("script"));
    std::set<const TreeNode *> tensorsSeen;
    for (const auto &e : expected["tensors"]) {
        const QString dotted = test::qstr(e["name"]);
        QString treePath = dotted;
        treePath.replace(QLatin1Char('.'), QLatin1Char('/'));
        const TreeNode *n = tree->findPath(treePath);
        QVERIFY2(n, qPrintable(dotted + QStringLiteral(" not in the tree:\n") + test::dumpModel(&model, 2)));
        QCOMPARE(n->treePath(), treePath);
        QVERIFY(n->isTensor());
        QCOMPARE(n->shapeText, shapeString(e["shape"]));
        QCOMPARE(tree->findPath(dotted), n); // --select features.0.weight
        if (e["kind"] == "parameter")
            QCOMPARE(n->kind, NodeKind::Parameter);
        else
            QVERIFY2(n->kind == NodeKind::Buffer || (script && n->kind == NodeKind::Tensor), qPrintable(dotted));
        // The raw path (ckpt-inspect's) is unchanged: where pickle put the tensor.
        const QString raw = e.contains("raw_path") ? test::qstr(e["raw_path"]) : treePath;
        QCOMPARE(n->path(), raw);
        QCOMPARE(tree->findPath(raw), n);
        bool listed = false;
        for (const auto &p : data->paths)
            listed = listed || qs(p.path()) == raw;
        QVERIFY2(listed, qPrintable(raw));
        tensorsSeen.insert(n);
        // Every ancestor is a module node (features, features/0), as in the module tree.
        for (const TreeNode *a = n->parent; a && a->kind != NodeKind::File; a = a->parent)
            QCOMPARE(a->kind, NodeKind::Module);
    }
    // Nothing else holds tensors (bias=False leaves no row), bookkeeping sits under (attributes).
    QCOMPARE(tree->root()->tensorCount, static_cast<std::uint32_t>(expected["tensors"].size()));
    const TreeNode *features = tree->findPath(QStringLiteral("features"));
    QVERIFY(features && features->kind == NodeKind::Module);
    QCOMPARE(features->typeText, QStringLiteral("Sequential"));
    // bias=False: no tensor row (TorchScript keeps a `bias = None` attribute).
    const TreeNode *bias = tree->findPath(QStringLiteral("classifier/1/bias"));
    QVERIFY(!bias || !bias->isTensor());
    const TreeNode *attrs = tree->findPath(QStringLiteral("features/0/(attributes)/training"));
    QVERIFY(attrs);
    QCOMPARE(attrs->path(), script ? QStringLiteral("features/0/training") : QStringLiteral("_modules/features/_modules/0/training"));
}

void TestOptimizerModels::rawPathsStayFindable()
{
    // Folding must not change any raw path: every path the reader lists is found again and the
    // row it finds reports that same path (PRODUCT.md 4).
    QStringList files = test::fixturesWithExpected();
    for (QString &f : files)
        f = test::fixturePath(f);
    files << fileFor(QStringLiteral("whole_model.pt")) << fileFor(QStringLiteral("whole_model_script.pt"));
    for (const QString &file : std::as_const(files)) {
        const CheckpointPtr data = read(file);
        const auto tree = CheckpointTree::build(data);
        for (const auto &p : data->paths) {
            const QString raw = qs(p.path());
            const TreeNode *n = tree->findPath(raw);
            QVERIFY2(n, qPrintable(file + QStringLiteral(": ") + raw));
            QVERIFY2(n->path() == raw, qPrintable(file + QStringLiteral(": ") + raw + QStringLiteral(" -> ") + n->path()));
        }
    }
}

QTEST_MAIN(TestOptimizerModels)
#include "tst_optimizermodels.moc"
