// SPDX-License-Identifier: MIT
// The comparison models (issue 5): DiffModel, DiffValueModel, DiffFilterProxyModel and DiffJob,
// checked against what torch computed for the pairs of tests/fixtures/make_diff_fixtures.py
// (tests/fixtures/expected_diff/*.json).
#include "diffengine.h"

#include "checkpointloadjob.h"
#include "difffilterproxymodel.h"
#include "diffjob.h"
#include "diffmodel.h"
#include "diffvaluemodel.h"
#include "guitestutils.h"
#include "modelroles.h"

#include <QAbstractItemModelTester>
#include <QSignalSpy>
#include <QTest>

#include <cmath>
#include <functional>
#include <map>
#include <set>

using namespace ckpt;
using nlohmann::json;

namespace {

QString diffFile(const std::string &name)
{
    return QStringLiteral(CKPT_FIXTURES_DIR "/files/diff/") + QString::fromStdString(name);
}

json expectedDiff(const QString &pair)
{
    std::ifstream in((QStringLiteral(CKPT_FIXTURES_DIR "/expected_diff/") + pair + QStringLiteral(".json")).toStdString());
    return in ? json::parse(in, nullptr, false) : json();
}

struct Pair
{
    json expected;
    CheckpointPtr a, b;
    DiffOptions options;
};

Pair loadPair(const QString &name)
{
    Pair p;
    p.expected = expectedDiff(name);
    if (p.expected.is_discarded() || p.expected.is_null())
        return p;
    p.a = CheckpointLoadJob::load(diffFile(p.expected["a"].get<std::string>())).data;
    p.b = CheckpointLoadJob::load(diffFile(p.expected["b"].get<std::string>())).data;
    if (p.expected.contains("strip_prefix") && p.expected["strip_prefix"].is_string())
        p.options.stripPrefix = p.expected["strip_prefix"].get<std::string>();
    return p;
}

bool close(double got, double want, double rel)
{
    if (std::isnan(want))
        return std::isnan(got);
    return std::fabs(got - want) <= rel * std::max(std::fabs(want), 1e-300) + 1e-300;
}

QString sideText(const json &side)
{
    QStringList dims;
    for (const auto &d : side["shape"])
        dims << QString::number(d.get<long long>());
    return QString::fromStdString(side["dtype"].get<std::string>()) + QStringLiteral(" [")
        + dims.join(QStringLiteral(", ")) + QLatin1Char(']');
}

/// Leaves (rows without children) of a model, depth-first.
QList<QModelIndex> leaves(const QAbstractItemModel *model, const QModelIndex &parent = {})
{
    QList<QModelIndex> out;
    for (int r = 0; r < model->rowCount(parent); ++r) {
        const QModelIndex idx = model->index(r, 0, parent);
        if (model->rowCount(idx) == 0)
            out << idx;
        else
            out << leaves(model, idx);
    }
    return out;
}

const char *const kMetrics[] = {"max_abs_diff", "mean_abs_diff", "rel_l2", "cosine"};
const int kMetricColumns[] = {DiffModel::MaxAbsColumn, DiffModel::MeanAbsColumn, DiffModel::RelL2Column,
                              DiffModel::CosineColumn};

} // namespace

class TestDiffModel : public QObject
{
    Q_OBJECT

private slots:
    void statusesAndMetrics_data();
    void statusesAndMetrics();
    void moduleHierarchyAndRollUp();
    void streamedUpdates();
    void jobCancel();
    void onlyDifferences_data();
    void onlyDifferences();
    void filterKeepsModuleRows();
    void sortByRelativeChange();
    void optimizerStateNamedByParameter();
    void wholeModuleAlignsWithStateDict();
    void valueTable();
};

void TestDiffModel::statusesAndMetrics_data()
{
    QTest::addColumn<QString>("pair");
    for (const char *p : {"epochs", "epochs_self", "finetune", "bf16", "zip_legacy", "module_raw", "module_strip"})
        QTest::newRow(p) << QString::fromLatin1(p);
}

// Every entry torch knows about is a row showing torch's status, both sides and the metrics.
void TestDiffModel::statusesAndMetrics()
{
    QFETCH(QString, pair);
    const Pair p = loadPair(pair);
    if (p.expected.is_null() || p.expected.is_discarded())
        QSKIP("expected diff missing (tests/fixtures/make_diff_fixtures.py)");
    QVERIFY(p.a && p.b);
    DiffModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setResult(diffCheckpoints(*p.a, *p.b, p.options));

    const json &entries = p.expected["entries"];
    QCOMPARE(leaves(&model).size(), static_cast<qsizetype>(entries.size()));
    for (const json &e : entries) {
        const QString path = QString::fromStdString(e["path"].get<std::string>());
        const QModelIndex idx = model.indexForPath(path);
        QVERIFY2(idx.isValid(), qPrintable(path));
        QCOMPARE(idx.siblingAtColumn(DiffModel::StatusColumn).data().toString(),
                 QString::fromStdString(e["status"].get<std::string>()));
        QCOMPARE(idx.data(PathRole).toString(), path);
        if (e.contains("value_a") || e.contains("value_b")) {
            const QString a = e.contains("value_a") && e["value_a"].is_string()
                ? QString::fromStdString(e["value_a"].get<std::string>()) : QStringLiteral("—");
            const QString b = e.contains("value_b") && e["value_b"].is_string()
                ? QString::fromStdString(e["value_b"].get<std::string>()) : QStringLiteral("—");
            QCOMPARE(idx.siblingAtColumn(DiffModel::AColumn).data().toString(), a);
            QCOMPARE(idx.siblingAtColumn(DiffModel::BColumn).data().toString(), b);
            continue;
        }
        QCOMPARE(idx.siblingAtColumn(DiffModel::AColumn).data().toString(),
                 e.contains("a") && e["a"].is_object() ? sideText(e["a"]) : QStringLiteral("—"));
        QCOMPARE(idx.siblingAtColumn(DiffModel::BColumn).data().toString(),
                 e.contains("b") && e["b"].is_object() ? sideText(e["b"]) : QStringLiteral("—"));
        for (int m = 0; m < 4; ++m) {
            const QModelIndex cell = idx.siblingAtColumn(kMetricColumns[m]);
            if (!e.contains(kMetrics[m]) || e[kMetrics[m]].is_null()) {
                QVERIFY2(cell.data().toString().isEmpty(), qPrintable(path + QLatin1Char(' ') + QLatin1String(kMetrics[m])));
                continue;
            }
            const double want = e[kMetrics[m]].get<double>();
            // The sort key is the value; the text shows it to 4 significant digits.
            QVERIFY2(close(cell.data(SortRole).toDouble(), want, 1e-9),
                     qPrintable(QStringLiteral("%1 %2: %3 vs torch %4").arg(path, QLatin1String(kMetrics[m]))
                                    .arg(cell.data(SortRole).toDouble(), 0, 'g', 17).arg(want, 0, 'g', 17)));
            bool ok = false;
            const double shown = cell.data().toString().toDouble(&ok);
            QVERIFY2(ok && close(shown, want, 1e-3), qPrintable(path + QStringLiteral(": shown ") + cell.data().toString()));
        }
    }
    const json &s = p.expected["summary"];
    const DiffSummary got = model.summary();
    QCOMPARE(got.same, s["same"].get<std::uint64_t>());
    QCOMPARE(got.changed, s["changed"].get<std::uint64_t>());
    QCOMPARE(got.added, s["added"].get<std::uint64_t>());
    QCOMPARE(got.removed, s["removed"].get<std::uint64_t>());
    QCOMPARE(got.shape, s["shape"].get<std::uint64_t>());
    QCOMPARE(got.dtype, s["dtype"].get<std::uint64_t>());
}

// Dotted state-dict keys become module rows whose status and metrics roll up what is below.
void TestDiffModel::moduleHierarchyAndRollUp()
{
    const Pair p = loadPair(QStringLiteral("finetune"));
    if (p.expected.is_null())
        QSKIP("expected diff missing");
    DiffModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setResult(diffCheckpoints(*p.a, *p.b, p.options));
    // Expected per module (first dotted component of the top-level keys): the statuses below.
    std::map<std::string, std::map<std::string, int>> below;
    std::map<std::string, double> maxRel;
    for (const json &e : p.expected["entries"]) {
        const std::string path = e["path"].get<std::string>();
        const auto dot = path.find('.');
        if (dot == std::string::npos || path.find('/') != std::string::npos)
            continue;
        const std::string module = path.substr(0, dot);
        below[module][e["status"].get<std::string>()] += 1;
        const bool zeroDim = e.contains("a") && e["a"].is_object() && e["a"]["shape"].empty();
        if (e.contains("rel_l2") && e["rel_l2"].is_number() && !zeroDim)
            maxRel[module] = std::max(maxRel.count(module) ? maxRel[module] : 0.0, e["rel_l2"].get<double>());
    }
    QVERIFY(!below.empty());
    for (const auto &[module, statuses] : below) {
        const QModelIndex idx = model.indexForPath(QString::fromStdString(module));
        QVERIFY2(idx.isValid(), module.c_str());
        QVERIFY(model.rowCount(idx) > 0);
        QCOMPARE(idx.data(DiffEntryRole).toInt(), -1);
        int total = 0, differing = 0;
        for (const auto &[status, n] : statuses) {
            total += n;
            differing += status == "same" ? 0 : n;
        }
        const QString text = idx.siblingAtColumn(DiffModel::StatusColumn).data().toString();
        if (differing == 0) {
            QCOMPARE(text, QStringLiteral("same"));
        } else {
            QVERIFY2(text.endsWith(QStringLiteral(" %1/%2").arg(differing).arg(total)), qPrintable(text));
            const QString word = statuses.size() - (statuses.count("same") ? 1 : 0) > 1
                ? QStringLiteral("mixed")
                : QString::fromStdString(std::find_if(statuses.begin(), statuses.end(), [](const auto &kv) {
                                             return kv.first != "same";
                                         })->first);
            QVERIFY2(text.startsWith(word), qPrintable(text));
        }
        QCOMPARE(idx.data(DiffersRole).toBool(), differing > 0);
        if (maxRel.count(module))
            QVERIFY(close(idx.siblingAtColumn(DiffModel::RelL2Column).data(SortRole).toDouble(), maxRel[module], 1e-9));
    }
}

// The job delivers the alignment first, then computed entries; the model ends where the
// one-shot diff ends.
void TestDiffModel::streamedUpdates()
{
    const Pair p = loadPair(QStringLiteral("epochs"));
    if (p.expected.is_null())
        QSKIP("expected diff missing");
    DiffModel model;
    DiffValueModel values;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QAbstractItemModelTester valuesTester(&values, QAbstractItemModelTester::FailureReportingMode::QtTest);
    DiffJob job;
    int alignedCount = 0, batches = 0;
    bool batchBeforeAlign = false;
    connect(&job, &DiffJob::aligned, this, [&](std::shared_ptr<const DiffResult> r) {
        ++alignedCount;
        model.setResult(*r);
        values.setResult(*r, p.a, p.b);
        QVERIFY(model.summary().pending > 0);
    });
    connect(&job, &DiffJob::entriesComputed, this, [&](const std::vector<std::pair<int, DiffEntry>> &batch) {
        batchBeforeAlign = batchBeforeAlign || alignedCount == 0;
        ++batches;
        model.updateEntries(batch);
        values.updateEntries(batch);
    });
    QSignalSpy finished(&job, &DiffJob::finished);
    QSignalSpy progress(&job, &DiffJob::progressChanged);
    job.start(p.a, p.b, p.options);
    QVERIFY(job.isRunning());
    QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 1, 30000);
    QVERIFY(!job.isRunning());
    QCOMPARE(alignedCount, 1);
    QVERIFY(!batchBeforeAlign);
    QVERIFY(batches >= 1);
    QCOMPARE(progress.last().at(0).toInt(), 1000);
    QCOMPARE(model.summary().pending, 0u);
    for (const json &e : p.expected["entries"]) {
        const QModelIndex idx = model.indexForPath(QString::fromStdString(e["path"].get<std::string>()));
        QVERIFY(idx.isValid());
        QCOMPARE(idx.siblingAtColumn(DiffModel::StatusColumn).data().toString(),
                 QString::fromStdString(e["status"].get<std::string>()));
    }
}

void TestDiffModel::jobCancel()
{
    const Pair p = loadPair(QStringLiteral("epochs"));
    if (p.expected.is_null())
        QSKIP("expected diff missing");
    DiffJob job;
    QSignalSpy finished(&job, &DiffJob::finished);
    QSignalSpy canceled(&job, &DiffJob::canceled);
    job.start(p.a, p.b);
    job.cancel();
    // Tiny files may be done before the cancel arrives: either way the job ends and says so.
    QTRY_VERIFY_WITH_TIMEOUT(finished.size() + canceled.size() == 1, 30000);
    QVERIFY(!job.isRunning());
    // A new start supersedes the old one; only its signals arrive.
    job.start(p.a, p.b);
    job.start(p.a, p.b);
    QTRY_VERIFY_WITH_TIMEOUT(finished.size() + canceled.size() == 2, 30000);
    QVERIFY(!job.isRunning());
}

void TestDiffModel::onlyDifferences_data()
{
    QTest::addColumn<QString>("pair");
    for (const char *p : {"epochs", "epochs_self", "finetune", "module_raw"})
        QTest::newRow(p) << QString::fromLatin1(p);
}

// "Only differences" leaves exactly the entries torch found different, with their ancestors.
void TestDiffModel::onlyDifferences()
{
    QFETCH(QString, pair);
    const Pair p = loadPair(pair);
    if (p.expected.is_null())
        QSKIP("expected diff missing");
    DiffModel model;
    DiffFilterProxyModel proxy;
    QAbstractItemModelTester tester(&proxy, QAbstractItemModelTester::FailureReportingMode::QtTest);
    proxy.setSourceModel(&model);
    model.setResult(diffCheckpoints(*p.a, *p.b, p.options));
    std::set<std::string> differing;
    for (const json &e : p.expected["entries"])
        if (e["status"].get<std::string>() != "same")
            differing.insert(e["path"].get<std::string>());
    QCOMPARE(leaves(&proxy).size(), static_cast<qsizetype>(p.expected["entries"].size()));
    proxy.setOnlyDifferences(true);
    std::set<std::string> shown;
    for (const QModelIndex &idx : leaves(&proxy)) {
        QVERIFY2(idx.data(DiffEntryRole).toInt() >= 0, qPrintable(idx.data(PathRole).toString())); // no empty modules
        shown.insert(idx.data(PathRole).toString().toStdString());
    }
    QCOMPARE(shown, differing);
    proxy.setOnlyDifferences(false);
    QCOMPARE(leaves(&proxy).size(), static_cast<qsizetype>(p.expected["entries"].size()));
}

// Text matching a module keeps its rows; "only differences" still applies below it.
void TestDiffModel::filterKeepsModuleRows()
{
    const Pair p = loadPair(QStringLiteral("epochs"));
    if (p.expected.is_null())
        QSKIP("expected diff missing");
    DiffModel model;
    DiffFilterProxyModel proxy;
    QAbstractItemModelTester tester(&proxy, QAbstractItemModelTester::FailureReportingMode::QtTest);
    proxy.setSourceModel(&model);
    model.setResult(diffCheckpoints(*p.a, *p.b, p.options));
    std::set<std::string> underBn, params;
    for (const json &e : p.expected["entries"]) {
        const std::string path = e["path"].get<std::string>();
        // The bn module's tensors, and the optimizer state of its parameters (named by them).
        if (path.rfind("model_state_dict/bn.", 0) == 0 || e.value("param_name", std::string()).rfind("bn.", 0) == 0)
            underBn.insert(path);
        if (path.rfind("optimizer_state_dict/param_groups/", 0) == 0)
            params.insert(path);
    }
    proxy.setFilterText(QStringLiteral("bn"));
    std::set<std::string> shown;
    for (const QModelIndex &idx : leaves(&proxy))
        shown.insert(idx.data(PathRole).toString().toStdString());
    QCOMPARE(shown, underBn);

    // param_groups holds same and changed values: with only differences, only the changed.
    proxy.setFilterText(QStringLiteral("param_groups"));
    shown.clear();
    for (const QModelIndex &idx : leaves(&proxy))
        shown.insert(idx.data(PathRole).toString().toStdString());
    QCOMPARE(shown, params);
    proxy.setOnlyDifferences(true);
    std::set<std::string> changed;
    for (const json &e : p.expected["entries"])
        if (params.count(e["path"].get<std::string>()) && e["status"].get<std::string>() != "same")
            changed.insert(e["path"].get<std::string>());
    QVERIFY(!changed.empty() && changed.size() < params.size());
    shown.clear();
    for (const QModelIndex &idx : leaves(&proxy))
        shown.insert(idx.data(PathRole).toString().toStdString());
    QCOMPARE(shown, changed);
}

// Sorting by rel L2, largest first: within every level the rows follow torch's relative
// changes (modules by the largest change of a tensor below them, 0-d counters left out).
void TestDiffModel::sortByRelativeChange()
{
    const Pair p = loadPair(QStringLiteral("epochs"));
    if (p.expected.is_null())
        QSKIP("expected diff missing");
    DiffModel model;
    DiffFilterProxyModel proxy;
    QAbstractItemModelTester tester(&proxy, QAbstractItemModelTester::FailureReportingMode::QtTest);
    proxy.setSourceModel(&model);
    model.setResult(diffCheckpoints(*p.a, *p.b, p.options));
    proxy.sort(DiffModel::RelL2Column, Qt::DescendingOrder);

    // Torch's order of the model's modules and of the tensors in each.
    std::map<std::string, std::vector<std::pair<double, std::string>>> children;
    std::map<std::string, double> moduleMax;
    for (const json &e : p.expected["entries"]) {
        const std::string path = e["path"].get<std::string>();
        if (path.rfind("model_state_dict/", 0) != 0 || !e.contains("rel_l2") || !e["rel_l2"].is_number())
            continue;
        const std::string key = path.substr(std::string("model_state_dict/").size());
        const std::string module = key.substr(0, key.find('.'));
        const double rel = e["rel_l2"].get<double>();
        children[module].emplace_back(rel, key.substr(key.find('.') + 1));
        if (!e["a"]["shape"].empty())
            moduleMax[module] = std::max(moduleMax.count(module) ? moduleMax[module] : 0.0, rel);
    }
    std::vector<std::pair<double, std::string>> modules;
    for (const auto &[m, v] : moduleMax)
        modules.emplace_back(v, m);
    std::sort(modules.rbegin(), modules.rend());

    const QModelIndex sd = proxy.mapFromSource(model.indexForPath(QStringLiteral("model_state_dict")));
    QVERIFY(sd.isValid());
    QCOMPARE(proxy.rowCount(sd), static_cast<int>(modules.size()));
    for (int r = 0; r < proxy.rowCount(sd); ++r) {
        const QModelIndex m = proxy.index(r, 0, sd);
        QCOMPARE(m.data().toString().toStdString(), modules[static_cast<std::size_t>(r)].second);
        auto expected = children[modules[static_cast<std::size_t>(r)].second];
        std::sort(expected.rbegin(), expected.rend());
        QCOMPARE(proxy.rowCount(m), static_cast<int>(expected.size()));
        for (int c = 0; c < proxy.rowCount(m); ++c)
            QCOMPARE(proxy.index(c, 0, m).data().toString().toStdString(), expected[static_cast<std::size_t>(c)].second);
    }
    // Ascending puts rows without a metric (plain values) first and reverses the rest.
    proxy.sort(DiffModel::RelL2Column, Qt::AscendingOrder);
    const QModelIndex first =
        proxy.index(0, 0, proxy.mapFromSource(model.indexForPath(QStringLiteral("model_state_dict"))));
    QCOMPARE(first.data().toString().toStdString(), modules.back().second);

    // Weights rank before optimizer state in either order, although Adam's moments moved more
    // than any weight (torch's numbers: the test means something only then).
    double modelMax = 0, optimizerMax = 0;
    for (const json &e : p.expected["entries"])
        if (e.contains("rel_l2") && e["rel_l2"].is_number() && !e["a"]["shape"].empty())
            (e["group"] == "model" ? modelMax : optimizerMax)
                = std::max(e["group"] == "model" ? modelMax : optimizerMax,
                           e["group"] == "optimizer" || e["group"] == "model" ? e["rel_l2"].get<double>() : 0.0);
    QVERIFY2(optimizerMax > modelMax, "the fixture's optimizer state should move more than its weights");
    for (Qt::SortOrder order : {Qt::DescendingOrder, Qt::AscendingOrder}) {
        proxy.sort(DiffModel::RelL2Column, order);
        int modelRow = -1, optimizerRow = -1;
        for (int r = 0; r < proxy.rowCount(); ++r) {
            const QString name = proxy.index(r, 0).data().toString();
            if (name == QLatin1String("model_state_dict"))
                modelRow = r;
            if (name == QLatin1String("optimizer_state_dict"))
                optimizerRow = r;
        }
        QVERIFY(modelRow >= 0 && optimizerRow >= 0);
        QVERIFY2(modelRow < optimizerRow, order == Qt::DescendingOrder ? "descending" : "ascending");
    }
    // A container of both shows its weights' largest change.
    proxy.sort(DiffModel::RelL2Column, Qt::DescendingOrder);
    const QModelIndex sdRel = model.indexForPath(QStringLiteral("model_state_dict")).siblingAtColumn(DiffModel::RelL2Column);
    QVERIFY(close(sdRel.data(SortRole).toDouble(), modelMax, 1e-9));
}

// Optimizer state rows are named by their parameter (torch's named_parameters() order of the
// fixture's Adam optimizer), in the name column, the tooltip and the filter.
void TestDiffModel::optimizerStateNamedByParameter()
{
    const Pair p = loadPair(QStringLiteral("epochs"));
    if (p.expected.is_null())
        QSKIP("expected diff missing");
    DiffModel model;
    DiffFilterProxyModel proxy;
    QAbstractItemModelTester tester(&proxy, QAbstractItemModelTester::FailureReportingMode::QtTest);
    proxy.setSourceModel(&model);
    model.setResult(alignCheckpoints(*p.a, *p.b, p.options));
    int named = 0;
    for (const json &e : p.expected["entries"]) {
        if (!e.contains("param_name"))
            continue;
        const QString path = QString::fromStdString(e["path"].get<std::string>());
        const QString idPath = path.section(QLatin1Char('/'), 0, 2); // optimizer_state_dict/state/<id>
        const QModelIndex row = model.indexForPath(idPath);
        QVERIFY2(row.isValid(), qPrintable(idPath));
        const QString name = QString::fromStdString(e["param_name"].get<std::string>());
        QCOMPARE(row.data().toString(), QStringLiteral("%1 (id %2)").arg(name, path.section(QLatin1Char('/'), 2, 2)));
        const QModelIndex leaf = model.indexForPath(path);
        QVERIFY(leaf.isValid());
        QVERIFY2(leaf.data(Qt::ToolTipRole).toString().contains(name), qPrintable(leaf.data(Qt::ToolTipRole).toString()));
        ++named;
    }
    QVERIFY(named >= 8);
    // Filtering by a parameter's name finds its optimizer state too.
    proxy.setFilterText(QStringLiteral("fc")); // a name (with a '.' it is a path)
    bool foundState = false;
    std::function<void(const QModelIndex &)> walk = [&](const QModelIndex &parent) {
        for (int r = 0; r < proxy.rowCount(parent); ++r) {
            const QModelIndex i = proxy.index(r, 0, parent);
            foundState = foundState || i.data(PathRole).toString().startsWith(QLatin1String("optimizer_state_dict/state/"));
            walk(i);
        }
    };
    walk({});
    QVERIFY(foundState);
}

// A module pickled whole against its DataParallel state dict: one tree, every tensor `same`
// (issue 16 item 8; torch's names and raw paths in expected_diff/aligned/).
void TestDiffModel::wholeModuleAlignsWithStateDict()
{
    const json expected = expectedDiff(QStringLiteral("aligned/whole_vs_dataparallel"));
    if (expected.is_null() || expected.is_discarded())
        QSKIP("expected diff missing");
    const auto a = CheckpointLoadJob::load(diffFile(expected["a"].get<std::string>())).data;
    const auto b = CheckpointLoadJob::load(diffFile(expected["b"].get<std::string>())).data;
    DiffOptions options;
    options.detectPrefix = true; // as the compare view
    DiffModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setResult(diffCheckpoints(*a, *b, options));
    for (const json &t : expected["tensors"]) {
        const QString name = QString::fromStdString(t["name"].get<std::string>());
        const QModelIndex row = model.indexForPath(QString(name).replace(QLatin1Char('.'), QLatin1Char('/')));
        QVERIFY2(row.isValid(), qPrintable(name));
        QCOMPARE(row.siblingAtColumn(DiffModel::StatusColumn).data().toString().toStdString(), t["status"].get<std::string>());
        const DiffEntry *e = model.entry(row);
        QVERIFY(e && e->a && e->b);
        QStringList ka, kb;
        for (const auto &k : e->a->keys)
            ka << QString::fromStdString(k);
        for (const auto &k : e->b->keys)
            kb << QString::fromStdString(k);
        QCOMPARE(ka.join(QLatin1Char('/')).toStdString(), t["path_a"].get<std::string>());
        QCOMPARE(kb.join(QLatin1Char('/')).toStdString(), t["path_b"].get<std::string>());
    }
    // No tensor sits below a `_modules` / `_parameters` level, and none is left unmatched (the
    // module's other attributes, such as `training`, are only in A: removed).
    int tensors = 0;
    for (const QModelIndex &leaf : leaves(&model)) {
        const DiffEntry *e = model.entry(leaf);
        if (!e || !e->isTensor)
            continue;
        ++tensors;
        QVERIFY2(!leaf.data(TreePathRole).toString().contains(QLatin1String("_modules"))
                     && !leaf.data(TreePathRole).toString().contains(QLatin1String("_parameters")),
                 qPrintable(leaf.data(TreePathRole).toString()));
        QVERIFY2(e->a && e->b, qPrintable(leaf.data(TreePathRole).toString()));
    }
    QCOMPARE(tensors, static_cast<int>(expected["tensors"].size()));
    QCOMPARE(model.summary().same, static_cast<std::uint64_t>(expected["tensors"].size()));
}

// Hyperparameters and scalars: plain values and 0-d tensors with the numeric change.
void TestDiffModel::valueTable()
{
    const Pair p = loadPair(QStringLiteral("epochs"));
    if (p.expected.is_null())
        QSKIP("expected diff missing");
    DiffValueModel values;
    DiffFilterProxyModel proxy;
    QAbstractItemModelTester tester(&values, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QAbstractItemModelTester proxyTester(&proxy, QAbstractItemModelTester::FailureReportingMode::QtTest);
    proxy.setSourceModel(&values);
    values.setResult(diffCheckpoints(*p.a, *p.b, p.options), p.a, p.b);
    int plain = 0, scalars = 0;
    for (const json &e : p.expected["entries"]) {
        const QString path = QString::fromStdString(e["path"].get<std::string>());
        const int row = values.rowForPath(path);
        const bool isValue = e.contains("value_a") || e.contains("value_b");
        const bool zeroDim = e.contains("a") && e["a"].is_object() && e["a"]["shape"].empty();
        if (!isValue && !zeroDim) {
            QVERIFY2(row < 0, qPrintable(path));
            continue;
        }
        QVERIFY2(row >= 0, qPrintable(path));
        QCOMPARE(values.index(row, DiffValueModel::StatusColumn).data().toString(),
                 QString::fromStdString(e["status"].get<std::string>()));
        if (isValue) {
            ++plain;
            QCOMPARE(values.index(row, DiffValueModel::AColumn).data().toString(),
                     QString::fromStdString(e["value_a"].get<std::string>()));
            QCOMPARE(values.index(row, DiffValueModel::BColumn).data().toString(),
                     QString::fromStdString(e["value_b"].get<std::string>()));
            bool okA = false, okB = false;
            const double a = QString::fromStdString(e["value_a"].get<std::string>()).toDouble(&okA);
            const double b = QString::fromStdString(e["value_b"].get<std::string>()).toDouble(&okB);
            if (okA && okB && a != b)
                QVERIFY(close(values.index(row, DiffValueModel::ChangeColumn).data(SortRole).toDouble(), b - a, 1e-12));
        } else {
            // 0-d tensors: the values are read from the files; |B - A| is torch's max |Δ|.
            ++scalars;
            const double d = values.index(row, DiffValueModel::ChangeColumn).data(SortRole).toDouble();
            QVERIFY(close(std::fabs(d), e["max_abs_diff"].get<double>(), 1e-9));
        }
    }
    QVERIFY(plain > 0 && scalars > 0);
    QCOMPARE(values.rowCount(), plain + scalars);
    // lr 0.001 -> 0.0005: "-0.0005  (×0.5)".
    const int lr = values.rowForPath(QStringLiteral("optimizer_state_dict/param_groups/0/lr"));
    QVERIFY(lr >= 0);
    QVERIFY2(values.index(lr, DiffValueModel::ChangeColumn).data().toString().contains(QStringLiteral("×0.5")),
             qPrintable(values.index(lr, DiffValueModel::ChangeColumn).data().toString()));
    proxy.setOnlyDifferences(true);
    for (int r = 0; r < proxy.rowCount(); ++r)
        QVERIFY(proxy.index(r, 0).data(DiffersRole).toBool());
    QVERIFY(proxy.rowCount() > 0 && proxy.rowCount() < values.rowCount());
}

QTEST_MAIN(TestDiffModel)
#include "tst_diffmodel.moc"
