// SPDX-License-Identifier: MIT
#include "checkpointloadjob.h"
#include "checkpointtreemodel.h"
#include "guitestutils.h"
#include "modelroles.h"
#include "tensorfilterproxymodel.h"

#include <QAbstractItemModelTester>
#include <QTest>

using namespace ckpt;

namespace {

QStringList visibleTensorPaths(const QAbstractItemModel &m)
{
    QStringList out;
    test::forEachIndex(&m, [&](const QModelIndex &idx) {
        if (idx.data(TensorKeyRole).toInt() >= 0)
            out << idx.data(PathRole).toString();
    });
    return out;
}

QStringList names(const QAbstractItemModel &m, const QModelIndex &parent, int column = 0)
{
    QStringList out;
    for (int r = 0; r < m.rowCount(parent); ++r)
        out << m.index(r, column, parent).data().toString();
    return out;
}

} // namespace

class TestTensorFilterProxyModel : public QObject
{
    Q_OBJECT
private:
    CheckpointTreeModel *m_model = nullptr;
    TensorFilterProxyModel *m_proxy = nullptr;
    QAbstractItemModelTester *m_sourceTester = nullptr;
    QAbstractItemModelTester *m_proxyTester = nullptr;

private slots:
    void init()
    {
        m_model = new CheckpointTreeModel(this);
        m_proxy = new TensorFilterProxyModel(this);
        m_sourceTester = new QAbstractItemModelTester(m_model, QAbstractItemModelTester::FailureReportingMode::QtTest, this);
        m_proxy->setSourceModel(m_model);
        m_proxyTester = new QAbstractItemModelTester(m_proxy, QAbstractItemModelTester::FailureReportingMode::QtTest, this);
        m_model->setTree(CheckpointLoadJob::load(test::fixturePath(QStringLiteral("state_dict.pt"))).tree);
        QCOMPARE(m_proxy->rowCount(), 1);
    }

    void cleanup()
    {
        delete m_proxyTester;
        delete m_sourceTester;
        delete m_proxy;
        delete m_model;
    }

    void noFilterShowsEverything()
    {
        const auto expected = test::expectedJson(QStringLiteral("state_dict.pt"));
        QCOMPARE(visibleTensorPaths(*m_proxy).size(), qsizetype(expected["tensors"].size()));
    }

    void nameFilterKeepsAncestors()
    {
        m_proxy->setFilterText(QStringLiteral("WEIGHT"));
        const QStringList paths = visibleTensorPaths(*m_proxy);
        QVERIFY(!paths.isEmpty());
        for (const QString &p : paths)
            QVERIFY2(p.endsWith(QStringLiteral("weight")), qPrintable(p));
        // Every torch path ending in .weight is still reachable (ancestors kept).
        int weights = 0;
        const auto expected = test::expectedJson(QStringLiteral("state_dict.pt"));
        for (const auto &t : expected["tensors"])
            weights += test::qstr(t["path"]).endsWith(QStringLiteral("weight"));
        QCOMPARE(paths.size(), weights);
    }

    void moduleMatchKeepsChildren()
    {
        m_proxy->setFilterText(QStringLiteral("stem"));
        const QStringList paths = visibleTensorPaths(*m_proxy);
        QVERIFY(!paths.isEmpty());
        for (const QString &p : paths)
            QVERIFY2(p.startsWith(QStringLiteral("stem.")), qPrintable(p));
        QVERIFY(paths.contains(QStringLiteral("stem.conv.weight")));
    }

    void pathAndWildcardFilters()
    {
        m_proxy->setFilterText(QStringLiteral("layers/0/"));
        QStringList paths = visibleTensorPaths(*m_proxy);
        QVERIFY(!paths.isEmpty());
        for (const QString &p : paths)
            QVERIFY2(p.startsWith(QStringLiteral("layers.0.")), qPrintable(p));
        m_proxy->setFilterText(QStringLiteral("layers.0.conv"));
        QCOMPARE(visibleTensorPaths(*m_proxy).size(), paths.filter(QStringLiteral("layers.0.conv")).size());
        m_proxy->setFilterText(QStringLiteral("run*mean"));
        paths = visibleTensorPaths(*m_proxy);
        QVERIFY(!paths.isEmpty());
        for (const QString &p : paths)
            QVERIFY2(p.endsWith(QStringLiteral("running_mean")), qPrintable(p));
        m_proxy->setFilterText(QStringLiteral("no-such-thing"));
        QCOMPARE(m_proxy->rowCount(), 0);
        m_proxy->setFilterText(QString());
        QCOMPARE(m_proxy->rowCount(), 1);
    }

    void sortsNumbersAsNumbers()
    {
        const QModelIndex file = m_proxy->index(0, 0);
        m_proxy->sort(CheckpointTreeModel::SizeColumn, Qt::DescendingOrder);
        quint64 previous = ~0ull;
        for (int r = 0; r < m_proxy->rowCount(file); ++r) {
            const quint64 bytes = m_proxy->index(r, CheckpointTreeModel::SizeColumn, file).data(SortRole).toULongLong();
            QVERIFY(bytes <= previous);
            previous = bytes;
        }
        m_proxy->sort(CheckpointTreeModel::ElementsColumn, Qt::AscendingOrder);
        quint64 last = 0;
        for (int r = 0; r < m_proxy->rowCount(file); ++r) {
            const quint64 n = m_proxy->index(r, CheckpointTreeModel::ElementsColumn, file).data(SortRole).toULongLong();
            QVERIFY(n >= last);
            last = n;
        }
    }

    void sortsNamesNaturally()
    {
        // Module "layers" has children 0, 1, ...: natural order keeps 2 before 10; here check
        // the numeric collation on synthetic names through the proxy's lessThan.
        const QModelIndex layers = m_proxy->mapFromSource(m_model->indexForPath(QStringLiteral("layers")));
        QVERIFY(layers.isValid());
        m_proxy->sort(CheckpointTreeModel::NameColumn, Qt::DescendingOrder);
        const QStringList desc = names(*m_proxy, layers);
        m_proxy->sort(CheckpointTreeModel::NameColumn, Qt::AscendingOrder);
        const QStringList asc = names(*m_proxy, layers);
        QStringList reversed(desc.rbegin(), desc.rend());
        QCOMPARE(asc, reversed);
        for (qsizetype i = 1; i < asc.size(); ++i)
            QVERIFY(asc[i - 1].toInt() < asc[i].toInt());
        // Back to file order.
        m_proxy->sort(-1);
        QCOMPARE(names(*m_proxy, layers), names(*m_model, m_model->indexForPath(QStringLiteral("layers"))));
    }

    void sortsShapesDimensionByDimension()
    {
        const QModelIndex conv = m_proxy->mapFromSource(m_model->indexForPath(QStringLiteral("stem/conv")));
        QVERIFY(conv.isValid());
        m_proxy->sort(CheckpointTreeModel::ShapeColumn, Qt::AscendingOrder);
        QList<qint64> previous;
        for (int r = 0; r < m_proxy->rowCount(conv); ++r) {
            const auto shape = m_proxy->index(r, 0, conv).data(ShapeRole).value<QList<qint64>>();
            if (!previous.isEmpty() && !shape.isEmpty())
                QVERIFY(!std::lexicographical_compare(shape.begin(), shape.end(), previous.begin(), previous.end()));
            previous = shape;
        }
    }
};

QTEST_MAIN(TestTensorFilterProxyModel)
#include "tst_tensorfilterproxymodel.moc"
