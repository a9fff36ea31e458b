// SPDX-License-Identifier: MIT
// Issue 4 GUI, as a user reaches it: selecting an optimizer state dict in the tree shows the
// optimizer panel with torch's names, shapes, steps and norms (expected_optim/*.json, made by
// tests/fixtures/make_optim_fixtures.py); selecting a row selects the parameter in the tree;
// double-clicking a state cell shows that state tensor's statistics; the file's row shows the
// training summary, whose rows lead to their nodes; whole modules are browsable by the names
// of named_parameters().

#include "checkpointpanel.h"
#include "checkpointtreeview.h"
#include "guitestutils.h"
#include "modelroles.h"
#include "modulepanel.h"
#include "optimizerpanel.h"
#include "optimizerparamsmodel.h"
#include "paramgroupsmodel.h"
#include "summarypanel.h"
#include "tensordetailspanel.h"
#include "tensorsummaryjob.h"
#include "trainingsummarymodel.h"
#include "trainingsummarypanel.h"

#include <QAbstractItemModelTester>
#include <QIcon>
#include <QLabel>
#include <QLineEdit>
#include <QSignalSpy>
#include <QSortFilterProxyModel>
#include <QStackedWidget>
#include <QTabWidget>
#include <QTableView>
#include <QTest>
#include <QTreeView>

#include <cmath>
#include <fstream>

using namespace ckpt;
using nlohmann::json;

namespace {

QString optimFile(const QString &name)
{
    return QStringLiteral(CKPT_FIXTURES_DIR "/files/optim/") + name;
}

json expectedOptim(const QString &name)
{
    std::ifstream in((QStringLiteral(CKPT_FIXTURES_DIR "/expected_optim/") + name + QStringLiteral(".json")).toStdString());
    return json::parse(in, nullptr, false);
}

bool openAndWait(CheckpointPanel &panel, const QString &path)
{
    QSignalSpy loaded(&panel, &CheckpointPanel::loadFinished);
    panel.open(path);
    return loaded.wait(20000) || loaded.count() > 0;
}

bool close(double a, double b)
{
    return std::abs(a - b) <= 1e-9 * std::max(std::abs(a), std::abs(b)) + 1e-300;
}

int columnOf(const QAbstractItemModel *m, const QString &header)
{
    for (int c = 0; c < m->columnCount(); ++c)
        if (m->headerData(c, Qt::Horizontal).toString() == header)
            return c;
    return -1;
}

/// The proxy row showing parameter `id`.
int rowOfId(const QAbstractItemModel *m, qint64 id)
{
    for (int r = 0; r < m->rowCount(); ++r)
        if (m->index(r, OptimizerParamsModel::IdColumn).data().toLongLong() == id)
            return r;
    return -1;
}

} // namespace

class TestOptimizerPanel : public QObject
{
    Q_OBJECT
private slots:
    void optimizerPanelShowsTorchsState_data();
    void optimizerPanelShowsTorchsState();
    void uncertainNamesAreIdsWithWarning();
    void rowSelectsParameterAndStateTensorShowsStatistics();
    void trainingSummaryOnTheRoot();
    void wholeModuleByDottedName();
};

void TestOptimizerPanel::optimizerPanelShowsTorchsState_data()
{
    QTest::addColumn<QString>("name");
    QTest::addColumn<QString>("optimizerPath");
    QTest::newRow("adam_amsgrad") << QStringLiteral("adam_amsgrad.pt") << QStringLiteral("optimizer");
    QTest::newRow("adamw two groups") << QStringLiteral("adamw_groups.pt") << QStringLiteral("optimizer_state_dict");
    QTest::newRow("sgd momentum") << QStringLiteral("sgd_momentum.pt") << QStringLiteral("optimizer_state_dict");
    QTest::newRow("lightning") << QStringLiteral("lightning.ckpt") << QStringLiteral("optimizer_states/0");
    QTest::newRow("module. prefix") << QStringLiteral("module_prefix.pt") << QStringLiteral("optimizer_state_dict");
}

void TestOptimizerPanel::optimizerPanelShowsTorchsState()
{
    QFETCH(QString, name);
    QFETCH(QString, optimizerPath);
    const json expected = expectedOptim(name)["optimizers"][0];
    CheckpointPanel panel;
    panel.resize(1400, 900);
    OptimizerPanel *op = panel.optimizerPanel();
    QAbstractItemModelTester groupsTester(op->groupsModel(), QAbstractItemModelTester::FailureReportingMode::QtTest);
    QAbstractItemModelTester paramsTester(op->paramsProxy(), QAbstractItemModelTester::FailureReportingMode::QtTest);
    QVERIFY(openAndWait(panel, optimFile(name)));
    QVERIFY(panel.selectPath(optimizerPath));
    QCOMPARE(panel.details()->currentWidget(), op);
    QTRY_VERIFY_WITH_TIMEOUT(!op->isBusy(), 20000);
    // Other background work started by the load (the Training tab's job) may still be running
    // on a loaded machine; it settles on its own. Only the NaN/Inf scan may outlast it.
    QTRY_VERIFY_WITH_TIMEOUT(!panel.isBusy() || panel.isCheckingTensors(), 20000);

    QCOMPARE(op->groupsView()->model()->rowCount(), static_cast<int>(expected["groups"].size()));
    const QAbstractItemModel *m = op->paramsView()->model();
    QCOMPARE(m->rowCount(), static_cast<int>(expected["params"].size()));
    for (const auto &p : expected["params"]) {
        const int r = rowOfId(m, p["id"].get<qint64>());
        QVERIFY(r >= 0);
        QCOMPARE(m->index(r, OptimizerParamsModel::NameColumn).data().toString(), test::qstr(p["name"]));
        QCOMPARE(m->index(r, OptimizerParamsModel::GroupColumn).data().toInt(), p["group"].get<int>());
        for (const auto &[key, v] : p["state"].items()) {
            const QString k = QString::fromStdString(key);
            if (k == QLatin1String("step")) {
                QCOMPARE(m->index(r, OptimizerParamsModel::StepColumn).data().toString(),
                         QString::number(v.get<double>()));
                continue;
            }
            const int col = columnOf(m, k + QStringLiteral(" ‖·‖"));
            QVERIFY(col >= 0);
            // What the user reads: 6 significant digits of torch's norm.
            QCOMPARE(m->index(r, col).data().toString().toDouble(),
                     QString::number(v["norm"].get<double>(), 'g', 6).toDouble());
            QVERIFY(close(m->index(r, col).data(SortRole).toDouble(), v["norm"].get<double>()));
        }
    }
}

void TestOptimizerPanel::uncertainNamesAreIdsWithWarning()
{
    // frozen.pt: l1 frozen; the file cannot say which two of l1/l2 the first ids are.
    const json expected = expectedOptim(QStringLiteral("frozen.pt"))["optimizers"][0];
    CheckpointPanel panel;
    QVERIFY(openAndWait(panel, optimFile(QStringLiteral("frozen.pt"))));
    QVERIFY(panel.selectPath(QStringLiteral("optimizer_state_dict")));
    OptimizerPanel *op = panel.optimizerPanel();
    QCOMPARE(panel.details()->currentWidget(), op);
    const QAbstractItemModel *m = op->paramsView()->model();
    int unnamed = 0;
    for (const auto &p : expected["params"]) {
        const int r = rowOfId(m, p["id"].get<qint64>());
        const QModelIndex cell = m->index(r, OptimizerParamsModel::NameColumn);
        const QString shown = cell.data().toString();
        if (shown == QStringLiteral("id %1").arg(p["id"].get<qint64>())) {
            ++unnamed;
            QVERIFY(!cell.data(Qt::DecorationRole).value<QIcon>().isNull());
            QVERIFY(cell.data(Qt::ToolTipRole).toString().contains(QLatin1String("not")));
        } else {
            QCOMPARE(shown, test::qstr(p["name"])); // never a wrong name
        }
    }
    QVERIFY(unnamed > 0);
    QVERIFY(op->summary()->text().contains(QLatin1String("not certain")));
    QTRY_VERIFY_WITH_TIMEOUT(!op->isBusy(), 20000);
}

void TestOptimizerPanel::rowSelectsParameterAndStateTensorShowsStatistics()
{
    CheckpointPanel panel;
    panel.resize(1400, 900);
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    QVERIFY(openAndWait(panel, optimFile(QStringLiteral("adam_amsgrad.pt"))));
    QVERIFY(panel.selectPath(QStringLiteral("optimizer")));
    OptimizerPanel *op = panel.optimizerPanel();
    QTRY_VERIFY_WITH_TIMEOUT(!op->isBusy(), 20000);
    QTableView *view = op->paramsView();

    // Id 4 is fc.weight (torch's name); selecting its row selects state_dict/fc.weight in the
    // tree and keeps the optimizer panel in view.
    const int r = rowOfId(view->model(), 4);
    view->setCurrentIndex(view->model()->index(r, OptimizerParamsModel::NameColumn));
    QCOMPARE(panel.currentPath(), QStringLiteral("state_dict/fc.weight"));
    QCOMPARE(panel.details()->currentWidget(), op);

    // Sorting by a norm does not change what a row is.
    view->sortByColumn(columnOf(view->model(), QStringLiteral("exp_avg_sq ‖·‖")), Qt::DescendingOrder);
    const int r2 = rowOfId(view->model(), 1);
    view->setCurrentIndex(view->model()->index(r2, 0));
    QCOMPARE(panel.currentPath(), QStringLiteral("state_dict/conv.bias"));

    // Double-click (activation) on a state cell: that state tensor, with its statistics.
    const int col = columnOf(view->model(), QStringLiteral("max_exp_avg_sq mean"));
    QVERIFY(col >= 0);
    const QModelIndex cell = view->model()->index(r2, col);
    view->scrollTo(cell);
    const QRect rect = view->visualRect(cell);
    QVERIFY(rect.isValid());
    // A real double-click: press, release, then the double-click event.
    QTest::mouseClick(view->viewport(), Qt::LeftButton, {}, rect.center());
    QTest::mouseDClick(view->viewport(), Qt::LeftButton, {}, rect.center());
    QCOMPARE(panel.currentPath(), QStringLiteral("optimizer/state/1/max_exp_avg_sq"));
    QCOMPARE(panel.details()->currentWidget(), panel.tensorDetails());
    QTRY_VERIFY_WITH_TIMEOUT(!panel.tensorDetails()->isBusy(), 20000);

    // Back to the optimizer: the tables are there again.
    QVERIFY(panel.selectPath(QStringLiteral("optimizer")));
    QCOMPARE(panel.details()->currentWidget(), op);
    QCOMPARE(view->model()->rowCount(), 6);
}

void TestOptimizerPanel::trainingSummaryOnTheRoot()
{
    CheckpointPanel panel;
    QVERIFY(openAndWait(panel, optimFile(QStringLiteral("adam_amsgrad.pt"))));
    QVERIFY(panel.selectPath(QString()));
    SummaryPanel *summary = panel.summaryPanel();
    QCOMPARE(panel.details()->currentWidget(), summary);
    QCOMPARE(summary->tabs()->currentWidget(), summary->training());
    TrainingSummaryPanel *training = summary->training();
    QAbstractItemModelTester tester(training->model(), QAbstractItemModelTester::FailureReportingMode::QtTest);
    QTRY_VERIFY_WITH_TIMEOUT(!training->isBusy(), 20000);
    QTreeView *view = training->view();
    const QAbstractItemModel *m = view->model();
    QModelIndex optimizerRow, schedulerRow;
    for (int s = 0; s < m->rowCount(); ++s) {
        const QString title = m->index(s, 0).data().toString();
        if (title == QLatin1String("Optimizer optimizer"))
            optimizerRow = m->index(s, 0);
        if (title == QLatin1String("Scheduler scheduler"))
            schedulerRow = m->index(s, 0);
    }
    QVERIFY(optimizerRow.isValid() && schedulerRow.isValid());
    QCOMPARE(schedulerRow.siblingAtColumn(1).data().toString(), QStringLiteral("StepLR"));
    // The 0-d loss tensor was read in the background.
    const QModelIndex progress = m->index(0, 0);
    bool sawLoss = false;
    for (int r = 0; r < m->rowCount(progress); ++r)
        if (m->index(r, 0, progress).data().toString() == QLatin1String("loss")) {
            sawLoss = true;
            bool ok = false;
            m->index(r, 1, progress).data().toString().toDouble(&ok);
            QVERIFY(ok);
        }
    QVERIFY(sawLoss);

    // Activating the optimizer row opens the optimizer panel (reachable from the summary).
    emit view->activated(optimizerRow);
    QCOMPARE(panel.currentPath(), QStringLiteral("optimizer"));
    QCOMPARE(panel.details()->currentWidget(), panel.optimizerPanel());

    // A plain file has no Training tab.
    QVERIFY(openAndWait(panel, test::fixturePath(QStringLiteral("state_dict.pt"))));
    QCOMPARE(summary->tabs()->indexOf(training), -1);
}

void TestOptimizerPanel::wholeModuleByDottedName()
{
    CheckpointPanel panel;
    QVERIFY(openAndWait(panel, optimFile(QStringLiteral("whole_model.pt"))));
    // torch's named_parameters() name reaches the row; copy/--select keep the raw path.
    QVERIFY(panel.selectPath(QStringLiteral("features.0.weight")));
    QCOMPARE(panel.currentPath(), QStringLiteral("_modules/features/_modules/0/_parameters/weight"));
    QCOMPARE(panel.details()->currentWidget(), panel.tensorDetails());
    QVERIFY(panel.selectPath(QStringLiteral("features/1")));
    QCOMPARE(panel.treeView()->currentIndex().data(Qt::DisplayRole).toString(), QStringLiteral("1"));
    QCOMPARE(panel.currentPath(), QStringLiteral("_modules/features/_modules/1"));
    QVERIFY(panel.details()->currentWidget() != panel.tensorDetails());
    // The module's heading is the name users know, the raw path is in its tooltip.
    QCOMPARE(panel.modulePanel()->titleLabel()->text(), QStringLiteral("features/1"));
    QVERIFY(panel.modulePanel()->titleLabel()->toolTip().contains(QStringLiteral("_modules/features/_modules/1")));
    QTRY_VERIFY_WITH_TIMEOUT(!panel.isBusy(), 20000);
}

QTEST_MAIN(TestOptimizerPanel)
#include "tst_optimizerpanel.moc"
