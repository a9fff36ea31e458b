// SPDX-License-Identifier: MIT
// The compare view (issue 5): ComparePanel on real checkpoint pairs, its overlaid histograms
// against torch.histc on the same bins (tests/fixtures/expected_compare/, made by
// tests/fixtures/make_compare_fixtures.py), the statuses against tests/fixtures/expected_diff/,
// the main window's compare tab and `ckpt-browser --compare A B` from the command line.
#include "checkpointtreeview.h"
#include "comparehistogramplot.h"
#include "comparepanel.h"
#include "comparetensorpanel.h"
#include "difffilterproxymodel.h"
#include "diffmodel.h"
#include "diffvaluemodel.h"
#include "heatmapplot.h"
#include "histogramplot.h"
#include "mainwindow.h"
#include "modelroles.h"

#include <nlohmann/json.hpp>

#include <QAbstractItemModelTester>
#include <QCheckBox>
#include <QElapsedTimer>
#include <QFile>
#include <QTimer>
#include <QComboBox>
#include <QImage>
#include <QLabel>
#include <QLineEdit>
#include <QProcess>
#include <QSignalSpy>
#include <QTabWidget>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>

#include <cmath>
#include <fstream>
#include <memory>
#include <set>

using namespace ckpt;
using nlohmann::json;

namespace {

const QString kSampleA = QStringLiteral(CKPT_SOURCE_DIR "/resources/samples/sample_epoch1.pt");
const QString kSampleB = QStringLiteral(CKPT_SOURCE_DIR "/resources/samples/sample_epoch2.pt");

QString diffFile(const QString &name)
{
    return QStringLiteral(CKPT_FIXTURES_DIR "/files/diff/") + name;
}

json loadJson(const QString &path)
{
    std::ifstream in(path.toStdString());
    return in ? json::parse(in, nullptr, false) : json();
}

json expectedCompare(const QString &pair)
{
    return loadJson(QStringLiteral(CKPT_FIXTURES_DIR "/expected_compare/") + pair + QStringLiteral(".json"));
}

json expectedDiff(const QString &pair)
{
    return loadJson(QStringLiteral(CKPT_FIXTURES_DIR "/expected_diff/") + pair + QStringLiteral(".json"));
}

std::vector<std::uint64_t> counts(const json &j)
{
    std::vector<std::uint64_t> out;
    for (const auto &c : j)
        out.push_back(c.get<std::uint64_t>());
    return out;
}

bool close(double got, double want, double rel = 1e-12)
{
    return std::fabs(got - want) <= rel * std::max(1.0, std::fabs(want));
}

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

/// A panel with item-model testers on all four models, made before anything is loaded.
struct Fixture
{
    std::unique_ptr<ComparePanel> panel = std::make_unique<ComparePanel>();
    QAbstractItemModelTester t1{panel->model(), QAbstractItemModelTester::FailureReportingMode::QtTest};
    QAbstractItemModelTester t2{panel->proxy(), QAbstractItemModelTester::FailureReportingMode::QtTest};
    QAbstractItemModelTester t3{panel->valueModel(), QAbstractItemModelTester::FailureReportingMode::QtTest};
    QAbstractItemModelTester t4{panel->valueProxy(), QAbstractItemModelTester::FailureReportingMode::QtTest};
};

bool openAndWait(ComparePanel *panel, const QString &a, const QString &b)
{
    QSignalSpy compared(panel, &ComparePanel::compared);
    panel->resize(1400, 900);
    panel->show();
    panel->open(a, b);
    return compared.wait(60000) || panel->isComplete();
}

} // namespace

class TestComparePanel : public QObject
{
    Q_OBJECT

private slots:
    void alignedViewShowsTorchStatuses();
    void overlaidHistogramsMatchTorch_data();
    void overlaidHistogramsMatchTorch();
    void dcpStepsCompareSplitTensors();
    void shapeChangeOverlayWithoutDifference();
    void onlyDifferencesAndFilter();
    void sortByChangeButton();
    void selfCompareIsAllSame();
    void prefixDetection();
    void valuesTableSelectsTreeRow();
    void mainWindowCompareTab();
    void commandLineCompare();
    void responsiveOnBigPair();
    void fileChangeComparesAgain();
};

// Two epochs of one run: every row torch knows, with its status, in one tree with A and B.
void TestComparePanel::alignedViewShowsTorchStatuses()
{
    const json expected = expectedDiff(QStringLiteral("epochs"));
    if (expected.is_null() || expected.is_discarded())
        QSKIP("expected diff missing");
    Fixture f;
    QVERIFY(openAndWait(f.panel.get(), diffFile(QStringLiteral("epoch1.pt")), diffFile(QStringLiteral("epoch2.pt"))));
    QVERIFY(!f.panel->isLoading());
    auto *proxy = f.panel->proxy();
    QCOMPARE(leaves(proxy).size(), static_cast<qsizetype>(expected["entries"].size()));
    for (const json &e : expected["entries"]) {
        const QString path = QString::fromStdString(e["path"].get<std::string>());
        const QModelIndex idx = proxy->mapFromSource(f.panel->model()->indexForPath(path));
        QVERIFY2(idx.isValid(), qPrintable(path));
        // A and B of the same path sit on one row.
        QCOMPARE(idx.siblingAtColumn(DiffModel::StatusColumn).data().toString(),
                 QString::fromStdString(e["status"].get<std::string>()));
        if (e.contains("rel_l2") && e["rel_l2"].is_number())
            QVERIFY(close(idx.siblingAtColumn(DiffModel::RelL2Column).data(SortRole).toDouble(),
                          e["rel_l2"].get<double>(), 1e-9));
        // The status has its colour.
        const auto colour = idx.siblingAtColumn(DiffModel::StatusColumn).data(Qt::ForegroundRole).value<QBrush>().color();
        QCOMPARE(colour, diffStatusColor(e["status"] == "same" ? DiffStatus::Same : DiffStatus::Changed));
    }
    // The summary line counts what torch counts.
    const QString summary = f.panel->summaryLabel()->text();
    QVERIFY2(summary.contains(QStringLiteral("<b>%1</b> changed").arg(expected["summary"]["changed"].get<int>())),
             qPrintable(summary));
    QVERIFY2(summary.contains(QStringLiteral("<b>%1</b> same").arg(expected["summary"]["same"].get<int>())),
             qPrintable(summary));
    // Hyperparameters: lr 0.001 -> 0.0005 in the values table.
    const int lr = f.panel->valueModel()->rowForPath(QStringLiteral("optimizer_state_dict/param_groups/0/lr"));
    QVERIFY(lr >= 0);
    QCOMPARE(f.panel->valueModel()->index(lr, DiffValueModel::AColumn).data().toString(), QStringLiteral("0.001"));
    QCOMPARE(f.panel->valueModel()->index(lr, DiffValueModel::BColumn).data().toString(), QStringLiteral("0.0005"));
}

void TestComparePanel::overlaidHistogramsMatchTorch_data()
{
    QTest::addColumn<QString>("path");
    const json expected = expectedCompare(QStringLiteral("sample"));
    if (expected.is_null() || expected.is_discarded())
        return;
    for (const json &e : expected["entries"])
        QTest::newRow(e["path"].get<std::string>().c_str()) << QString::fromStdString(e["path"].get<std::string>());
}

// The bundled pair: A and B on the same bins are torch.histc's counts over [min, max] of both,
// and B - A is torch.histc of the float64 difference over its own range.
void TestComparePanel::overlaidHistogramsMatchTorch()
{
    QFETCH(QString, path);
    const json expected = expectedCompare(QStringLiteral("sample"));
    json e;
    for (const json &x : expected["entries"])
        if (x["path"] == path.toStdString())
            e = x;
    QVERIFY(!e.is_null());
    Fixture f;
    QVERIFY(openAndWait(f.panel.get(), kSampleA, kSampleB));
    CompareTensorPanel *details = f.panel->tensorPanel();
    QSignalSpy computed(details, &CompareTensorPanel::computed);
    QVERIFY(f.panel->selectPath(path));
    QTRY_VERIFY_WITH_TIMEOUT(!details->isBusy() && computed.size() >= 1, 30000);

    // Status and metrics shown for the pair are torch's.
    const DiffEntry &entry = details->entry();
    QCOMPARE(QString::fromUtf8(diffStatusName(entry.status).data()), QString::fromStdString(e["status"].get<std::string>()));
    QVERIFY(entry.relL2 && close(*entry.relL2, e["rel_l2"].get<double>(), 1e-9));
    QVERIFY(entry.cosine && close(*entry.cosine, e["cosine"].get<double>(), 1e-9));
    QVERIFY(entry.maxAbsDiff && close(*entry.maxAbsDiff, e["max_abs_diff"].get<double>(), 1e-9));
    QVERIFY(entry.meanAbsDiff && close(*entry.meanAbsDiff, e["mean_abs_diff"].get<double>(), 1e-9));

    const json &ov = e["overlay"];
    CompareHistogramPlot *overlay = details->overlay();
    QCOMPARE(overlay->binCount(), ov["bins"].get<int>());
    QVERIFY(close(overlay->lo(), ov["lo"].get<double>()));
    QVERIFY(close(overlay->hi(), ov["hi"].get<double>()));
    QCOMPARE(overlay->countsA(), counts(ov["a"]));
    QCOMPARE(overlay->countsB(), counts(ov["b"]));
    const QStringList legend = overlay->legendTexts();
    QCOMPARE(legend.size(), 2);
    QVERIFY(legend[0].contains(QStringLiteral("sample_epoch1.pt")));
    QVERIFY(legend[1].contains(QStringLiteral("sample_epoch2.pt")));
    QVERIFY(overlay->binText(0).contains(QStringLiteral("A %1").arg(ov["a"][0].get<std::uint64_t>())));

    const json &d = e["diff"];
    HistogramPlot *diff = details->differencePlot();
    QVERIFY(close(diff->lo(), d["lo"].get<double>()));
    QVERIFY(close(diff->hi(), d["hi"].get<double>()));
    QCOMPARE(diff->counts(), counts(d["counts"]));
    QVERIFY(close(details->comparison().diff->mean.value_or(0), d["mean"].get<double>(), 1e-9));

    // The heat-map shows B - A: its range lies within the difference's.
    HeatmapPlot *heat = details->heatmap();
    QVERIFY(heat->hasData());
    QVERIFY(heat->grid().min >= d["min"].get<double>() && heat->grid().max <= d["max"].get<double>());
}

// Two steps of an FSDP2 run saved with DCP: tensors split among ranks compare as the logical
// tensors torch's dcp_to_torch_save makes (metrics and B - A from make_dcp_fixtures.py).
void TestComparePanel::dcpStepsCompareSplitTensors()
{
    const json expected = expectedDiff(QStringLiteral("dcp_steps"));
    QVERIFY(expected.is_object());
    Fixture f;
    QVERIFY(openAndWait(f.panel.get(), diffFile(QStringLiteral("../torch2/dcp/fsdp")),
                        diffFile(QStringLiteral("../torch2/dcp/fsdp_step2"))));
    int checked = 0;
    for (const char *path : {"tp/col", "model/l1.weight", "optim/state/l2.weight/exp_avg"}) {
        json e;
        for (const json &x : expected["entries"])
            if (x["path"] == path)
                e = x;
        QVERIFY2(!e.is_null(), path);
        CompareTensorPanel *details = f.panel->tensorPanel();
        QSignalSpy computed(details, &CompareTensorPanel::computed);
        QVERIFY(f.panel->selectPath(QString::fromUtf8(path)));
        QTRY_VERIFY_WITH_TIMEOUT(!details->isBusy() && computed.size() >= 1, 30000);
        const DiffEntry &entry = details->entry();
        QCOMPARE(QString::fromUtf8(diffStatusName(entry.status).data()), QString::fromStdString(e["status"].get<std::string>()));
        QVERIFY2(entry.relL2 && close(*entry.relL2, e["rel_l2"].get<double>(), 1e-9), path);
        QVERIFY2(entry.maxAbsDiff && close(*entry.maxAbsDiff, e["max_abs_diff"].get<double>(), 1e-9), path);
        QVERIFY2(details->comparison().diff, path);
        QVERIFY2(close(details->comparison().diff->mean.value_or(0), e["diff_stats"]["mean"].get<double>(), 1e-9), path);
        HeatmapPlot *heat = details->heatmap();
        QVERIFY2(heat->hasData() && heat->grid().error.isEmpty(), path);
        QVERIFY(heat->grid().min >= e["diff_stats"]["min"].get<double>() - 1e-12
                && heat->grid().max <= e["diff_stats"]["max"].get<double>() + 1e-12);
        ++checked;
    }
    QCOMPARE(checked, 3);
}

// A replaced head (shape change): both histograms on common bins, no B - A.
void TestComparePanel::shapeChangeOverlayWithoutDifference()
{
    const json expected = expectedCompare(QStringLiteral("finetune"));
    const json statuses = expectedDiff(QStringLiteral("finetune"));
    if (expected.is_null() || statuses.is_null())
        QSKIP("expected values missing");
    Fixture f;
    QVERIFY(openAndWait(f.panel.get(), diffFile(QStringLiteral("base.pt")), diffFile(QStringLiteral("finetuned.pt"))));
    // Added, removed and shape rows are there, with their statuses.
    std::set<std::string> kinds;
    for (const json &e : statuses["entries"]) {
        const QModelIndex idx = f.panel->model()->indexForPath(QString::fromStdString(e["path"].get<std::string>()));
        QVERIFY(idx.isValid());
        QCOMPARE(idx.siblingAtColumn(DiffModel::StatusColumn).data().toString().toStdString(),
                 e["status"].get<std::string>());
        kinds.insert(e["status"].get<std::string>());
    }
    QVERIFY(kinds.count("shape") && kinds.count("added") && kinds.count("removed"));

    for (const json &e : expected["entries"]) {
        if (e["a"]["shape"] == e["b"]["shape"])
            continue;
        CompareTensorPanel *details = f.panel->tensorPanel();
        QVERIFY(f.panel->selectPath(QString::fromStdString(e["path"].get<std::string>())));
        QTRY_VERIFY_WITH_TIMEOUT(!details->isBusy(), 30000);
        QCOMPARE(details->overlay()->countsA(), counts(e["overlay"]["a"]));
        QCOMPARE(details->overlay()->countsB(), counts(e["overlay"]["b"]));
        QVERIFY(details->differencePlot()->counts().empty());
        QVERIFY(!details->comparison().diff);
        QVERIFY(!details->heatmap()->hasData());
    }
}

void TestComparePanel::onlyDifferencesAndFilter()
{
    const json expected = expectedDiff(QStringLiteral("epochs"));
    if (expected.is_null())
        QSKIP("expected diff missing");
    Fixture f;
    QVERIFY(openAndWait(f.panel.get(), diffFile(QStringLiteral("epoch1.pt")), diffFile(QStringLiteral("epoch2.pt"))));
    std::set<std::string> differing;
    for (const json &e : expected["entries"])
        if (e["status"] != "same")
            differing.insert(e["path"].get<std::string>());
    f.panel->onlyDifferencesBox()->setChecked(true);
    std::set<std::string> shown;
    for (const QModelIndex &idx : leaves(f.panel->proxy()))
        shown.insert(idx.data(PathRole).toString().toStdString());
    QCOMPARE(shown, differing);
    for (int r = 0; r < f.panel->valueProxy()->rowCount(); ++r)
        QVERIFY(f.panel->valueProxy()->index(r, 0).data(DiffersRole).toBool());

    // The filter box (debounced) narrows both the tree and the values table.
    f.panel->filterEdit()->setText(QStringLiteral("exp_avg_sq"));
    QTRY_COMPARE_WITH_TIMEOUT(f.panel->proxy()->filterText(), QStringLiteral("exp_avg_sq"), 5000);
    const auto rows = leaves(f.panel->proxy());
    QVERIFY(!rows.isEmpty());
    for (const QModelIndex &idx : rows)
        QVERIFY(idx.data().toString() == QStringLiteral("exp_avg_sq"));
    QCOMPARE(f.panel->valueProxy()->rowCount(), 0);
    f.panel->onlyDifferencesBox()->setChecked(false);
    f.panel->setFilterText(QString());
    QCOMPARE(leaves(f.panel->proxy()).size(), static_cast<qsizetype>(expected["entries"].size()));
}

// "Most Changed First" sorts by rel L2, largest first, in every level.
void TestComparePanel::sortByChangeButton()
{
    Fixture f;
    QVERIFY(openAndWait(f.panel.get(), kSampleA, kSampleB));
    f.panel->sortByChange();
    auto *proxy = f.panel->proxy();
    QCOMPARE(proxy->sortColumn(), static_cast<int>(DiffModel::RelL2Column));
    QCOMPARE(proxy->sortOrder(), Qt::DescendingOrder);
    std::function<void(const QModelIndex &)> check = [&](const QModelIndex &parent) {
        // Weights first, then optimizer state, then the rest; by rel L2 within each.
        double previous = std::numeric_limits<double>::infinity();
        int previousGroup = std::numeric_limits<int>::max();
        for (int r = 0; r < proxy->rowCount(parent); ++r) {
            const QModelIndex idx = proxy->index(r, DiffModel::RelL2Column, parent);
            const double v = idx.data(SortRole).toDouble();
            const int group = idx.data(DiffGroupRole).toInt();
            QVERIFY2(group <= previousGroup, qPrintable(idx.siblingAtColumn(0).data(PathRole).toString()));
            if (group < previousGroup)
                previous = std::numeric_limits<double>::infinity();
            QVERIFY2(v <= previous, qPrintable(idx.siblingAtColumn(0).data(PathRole).toString()));
            previous = v;
            previousGroup = group;
            check(idx.siblingAtColumn(0));
        }
    };
    check({});
    // The bundled pair: among the listed weights torch ranks fc.weight > conv2.weight > conv1.weight;
    // the modules fc, conv2, conv1 come in that order.
    const QModelIndex sd = proxy->mapFromSource(f.panel->model()->indexForPath(QStringLiteral("model_state_dict")));
    auto rowOf = [&](const char *module) {
        return proxy->mapFromSource(f.panel->model()->indexForPath(QStringLiteral("model_state_dict/") + QLatin1String(module))).row();
    };
    QVERIFY(sd.isValid());
    const QModelIndex optimizer = proxy->mapFromSource(f.panel->model()->indexForPath(QStringLiteral("optimizer_state_dict")));
    QVERIFY(optimizer.isValid());
    QVERIFY2(sd.row() < optimizer.row(), "the model's weights rank before the optimizer's moments");
    QVERIFY(rowOf("fc") < rowOf("conv2"));
    QVERIFY(rowOf("conv2") < rowOf("conv1"));
}

// A file against itself: every row is `same`, and "only differences" leaves nothing.
void TestComparePanel::selfCompareIsAllSame()
{
    Fixture f;
    QVERIFY(openAndWait(f.panel.get(), kSampleA, kSampleA));
    const DiffSummary s = f.panel->model()->summary();
    QVERIFY(s.same > 0);
    QCOMPARE(s.changed + s.added + s.removed + s.shape + s.dtype + s.pending, 0u);
    for (const QModelIndex &idx : leaves(f.panel->proxy()))
        QCOMPARE(idx.siblingAtColumn(DiffModel::StatusColumn).data().toString(), QStringLiteral("same"));
    f.panel->setOnlyDifferences(true);
    QCOMPARE(f.panel->proxy()->rowCount(), 0);
    QCOMPARE(f.panel->valueProxy()->rowCount(), 0);
}

// A `module.`-prefixed copy: detected and stripped by default (all `same`, as torch says after
// stripping); with "None" the keys do not match (torch's unstripped statuses).
void TestComparePanel::prefixDetection()
{
    const json stripped = expectedDiff(QStringLiteral("module_strip"));
    const json raw = expectedDiff(QStringLiteral("module_raw"));
    if (stripped.is_null() || raw.is_null())
        QSKIP("expected diff missing");
    Fixture f;
    QVERIFY(openAndWait(f.panel.get(), diffFile(QStringLiteral("base.pt")), diffFile(QStringLiteral("module.pt"))));
    QCOMPARE(f.panel->stripPrefix(), ComparePanel::kAutoPrefix);
    QVERIFY2(f.panel->prefixLabel()->text().contains(QStringLiteral("module.")), qPrintable(f.panel->prefixLabel()->text()));
    auto checkAgainst = [&](const json &expected) {
        QCOMPARE(leaves(f.panel->model()).size(), static_cast<qsizetype>(expected["entries"].size()));
        for (const json &e : expected["entries"]) {
            const QModelIndex idx = f.panel->model()->indexForPath(QString::fromStdString(e["path"].get<std::string>()));
            QVERIFY2(idx.isValid(), e["path"].get<std::string>().c_str());
            QCOMPARE(idx.siblingAtColumn(DiffModel::StatusColumn).data().toString().toStdString(),
                     e["status"].get<std::string>());
        }
    };
    checkAgainst(stripped);
    QSignalSpy compared(f.panel.get(), &ComparePanel::compared);
    f.panel->setStripPrefix(QString());
    QVERIFY(compared.wait(30000));
    QCOMPARE(f.panel->prefixLabel()->text(), QStringLiteral("no prefix stripped"));
    checkAgainst(raw);
}

// Clicking a hyperparameter selects its row in the tree (and the other way round).
void TestComparePanel::valuesTableSelectsTreeRow()
{
    Fixture f;
    QVERIFY(openAndWait(f.panel.get(), kSampleA, kSampleB));
    auto *values = f.panel->valueModel();
    const int epoch = values->rowForPath(QStringLiteral("epoch"));
    QVERIFY(epoch >= 0);
    QCOMPARE(values->index(epoch, DiffValueModel::AColumn).data().toString(), QStringLiteral("1"));
    QCOMPARE(values->index(epoch, DiffValueModel::BColumn).data().toString(), QStringLiteral("2"));
    f.panel->valuesView()->setCurrentIndex(f.panel->valueProxy()->mapFromSource(values->index(epoch, 0)));
    QCOMPARE(f.panel->currentPath(), QStringLiteral("epoch"));
    QVERIFY(f.panel->selectPath(QStringLiteral("global_step")));
    QCOMPARE(f.panel->valuesView()->currentIndex().data(PathRole).toString(), QStringLiteral("global_step"));
}

// A training run overwrites B while it is compared (PRODUCT.md 3, "reload when the file changes
// on disk"): the compare tab reads both files again and shows torch's statuses for the new pair,
// keeping the selection; with watching off, nothing happens.
void TestComparePanel::fileChangeComparesAgain()
{
    const json expected = expectedDiff(QStringLiteral("epochs"));
    if (expected.is_null() || expected.is_discarded())
        QSKIP("expected diff missing");
    auto bytesOf = [](const QString &path) {
        QFile f(path);
        return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
    };
    auto writeInPlace = [](const QString &path, const QByteArray &bytes) {
        QFile f(path);
        return f.open(QIODevice::WriteOnly | QIODevice::Truncate) && f.write(bytes) == bytes.size();
    };
    const QByteArray epoch1 = bytesOf(diffFile(QStringLiteral("epoch1.pt")));
    const QByteArray epoch2 = bytesOf(diffFile(QStringLiteral("epoch2.pt")));
    QVERIFY(!epoch1.isEmpty() && !epoch2.isEmpty());
    QTemporaryDir dir;
    const QString a = dir.filePath(QStringLiteral("a.pt")), b = dir.filePath(QStringLiteral("last.pt"));
    QVERIFY(writeInPlace(a, epoch1) && writeInPlace(b, epoch1));

    Fixture f;
    QVERIFY(openAndWait(f.panel.get(), a, b));
    DiffSummary s = f.panel->model()->summary();
    QVERIFY(s.same > 0);
    QCOMPARE(s.changed, 0u);
    const QString selected = QStringLiteral("model_state_dict/conv.weight");
    QVERIFY(f.panel->selectPath(selected));

    QSignalSpy compared(f.panel.get(), &ComparePanel::compared);
    QSignalSpy messages(f.panel.get(), &ComparePanel::message);
    QVERIFY(writeInPlace(b, epoch2));
    // While the writer may still be at it, the panel says what is going on.
    QTRY_VERIFY_WITH_TIMEOUT(f.panel->stageLabel()->text().contains(QStringLiteral("changed on disk")), 5000);
    QVERIFY(compared.wait(30000));
    QTRY_VERIFY_WITH_TIMEOUT(!f.panel->isBusy(), 30000);
    bool announced = false;
    for (const auto &m : messages)
        announced = announced || m.at(0).toString().contains(QStringLiteral("changed on disk"));
    QVERIFY(announced);
    for (const json &e : expected["entries"]) {
        const QString path = QString::fromStdString(e["path"].get<std::string>());
        const QModelIndex idx = f.panel->model()->indexForPath(path);
        QVERIFY2(idx.isValid(), qPrintable(path));
        QCOMPARE(idx.siblingAtColumn(DiffModel::StatusColumn).data().toString(),
                 QString::fromStdString(e["status"].get<std::string>()));
    }
    QVERIFY(f.panel->model()->summary().changed > 0);
    QCOMPARE(f.panel->currentPath(), selected);

    // Watching off: B goes back to epoch 1, the comparison stays as it is.
    f.panel->setWatchingFiles(false);
    const qsizetype before = compared.count();
    QVERIFY(writeInPlace(b, epoch1));
    QTest::qWait(2000); // more than the 0.8 s the watcher waits for a writer to go quiet
    QCOMPARE(compared.count(), before);
    QVERIFY(f.panel->model()->summary().changed > 0);
}

void TestComparePanel::mainWindowCompareTab()
{
    MainWindow w;
    w.setPersistSettings(false);
    w.resize(1400, 900);
    w.show();
    ComparePanel *c = w.openCompare(kSampleA, kSampleB);
    QVERIFY(c);
    QCOMPARE(w.currentCompare(), c);
    QCOMPARE(w.currentPanel(), nullptr);
    QVERIFY(w.tabs()->tabText(w.tabs()->currentIndex()).contains(QStringLiteral("sample_epoch1.pt")));
    QVERIFY(w.tabs()->tabText(w.tabs()->currentIndex()).contains(QStringLiteral("sample_epoch2.pt")));
    QVERIFY(w.isBusy());
    QTRY_VERIFY_WITH_TIMEOUT(!w.isBusy(), 60000);
    QVERIFY(c->isComplete());
    // The same pair again shows the existing tab.
    QCOMPARE(w.openCompare(kSampleA, kSampleB), c);
    QCOMPARE(w.comparePanels().size(), 1);
    QVERIFY(w.windowTitle().contains(QStringLiteral("⇄")));
    w.closeCurrentTab();
    QTRY_COMPARE(w.comparePanels().size(), 0);
}

// `ckpt-browser --compare A B --select PATH --screenshot OUT` opens the compare tab, selects
// the tensor there and renders it.
void TestComparePanel::commandLineCompare()
{
    QTemporaryDir dir;
    auto run = [&](const QStringList &args, QString *errors) {
        QProcess p;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
        p.setProcessEnvironment(env);
        p.start(QStringLiteral(CKPT_BROWSER_EXE), args);
        if (!p.waitForFinished(120000))
            return -1;
        *errors = QString::fromLocal8Bit(p.readAllStandardError());
        return p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    };
    const QString out = dir.filePath(QStringLiteral("compare.png"));
    QString errors;
    QCOMPARE(run({QStringLiteral("--compare"), kSampleA, kSampleB, QStringLiteral("--select"),
                  QStringLiteral("model_state_dict/conv2.weight"), QStringLiteral("--size"), QStringLiteral("1280x800"),
                  QStringLiteral("--screenshot"), out},
                 &errors),
             0);
    QVERIFY2(!errors.contains(QStringLiteral("no row")), qPrintable(errors));
    const QImage img(out);
    QCOMPARE(img.size(), QSize(1280, 800));
    // The compare view's "changed" status background is in the picture.
    const QRgb changed = diffStatusBackground(DiffStatus::Changed).rgb();
    int hits = 0;
    for (int y = 0; y < img.height(); y += 2)
        for (int x = 0; x < img.width(); x += 2)
            hits += img.pixel(x, y) == changed ? 1 : 0;
    QVERIFY2(hits > 200, qPrintable(QString::number(hits)));

    // A path the comparison does not have is reported by the compare tab.
    QCOMPARE(run({QStringLiteral("--compare"), kSampleA, kSampleB, QStringLiteral("--select"),
                  QStringLiteral("no/such/path"), QStringLiteral("--screenshot"), dir.filePath(QStringLiteral("x.png"))},
                 &errors),
             0);
    QVERIFY2(errors.contains(QStringLiteral("no row at path 'no/such/path' in the comparison")), qPrintable(errors));
    // Missing second file: a usage error.
    QCOMPARE(run({QStringLiteral("--compare"), kSampleA}, &errors), 2);
    QVERIFY(errors.contains(QStringLiteral("--compare A B")));
}

// Measurement on a big pair of your own (not committed: hundreds of MB):
// CKPT_COMPARE_BENCH="a.pt b.pt" tst_comparepanel responsiveOnBigPair. Reports how long reading
// and comparing took and the longest time the event loop was not served meanwhile.
void TestComparePanel::responsiveOnBigPair()
{
    const QStringList files = qEnvironmentVariable("CKPT_COMPARE_BENCH").split(QLatin1Char(' '), Qt::SkipEmptyParts);
    if (files.size() != 2)
        QSKIP("set CKPT_COMPARE_BENCH=\"A B\" to measure");
    // No item-model testers here: they re-check the whole tree on every signal.
    struct
    {
        std::unique_ptr<ComparePanel> panel = std::make_unique<ComparePanel>();
    } f;
    QElapsedTimer total, tick;
    qint64 longest = 0, aligned = -1;
    QTimer probe;
    probe.setInterval(5);
    connect(&probe, &QTimer::timeout, this, [&] {
        longest = std::max(longest, tick.restart());
    });
    connect(f.panel.get(), &ComparePanel::aligned, this, [&] { aligned = total.elapsed(); });
    total.start();
    tick.start();
    probe.start();
    QVERIFY(openAndWait(f.panel.get(), files[0], files[1]));
    const qint64 compared = total.elapsed();
    // Select the biggest tensor: histograms and heat-map in the background.
    QVERIFY(f.panel->selectPath(f.panel->model()->index(0, 0).data(PathRole).toString()));
    f.panel->sortByChange();
    QTRY_VERIFY_WITH_TIMEOUT(!f.panel->isBusy(), 120000);
    probe.stop();
    qInfo("entries %zu: aligned after %lld ms, all metrics after %lld ms; longest event-loop gap %lld ms",
          f.panel->model()->result().entries.size(), aligned, compared, longest);
    QVERIFY(longest < 500);
}

QTEST_MAIN(TestComparePanel)
#include "tst_comparepanel.moc"
