// SPDX-License-Identifier: MIT
// Every committed fixture, read by the reader and reported as `ls`/`stats`/`scan` would,
// against what torch said about it (tests/fixtures/expected/*.json, made by make_fixtures.py).

#include "expectedcheck.h"
#include "inspectreport.h"

#include <QDir>
#include <QDirIterator>
#include <QFileInfo>
#include <QTest>

using namespace ckpt;

namespace {

QString fixturePath(const QString &file)
{
    for (const QString &dir : {QStringLiteral(CKPT_FIXTURES_DIR "/files"), QStringLiteral(CKPT_SOURCE_DIR "/resources/samples")}) {
        const QString p = dir + QLatin1Char('/') + file;
        if (QFileInfo::exists(p))
            return p;
    }
    return {};
}

} // namespace

class TestCheckpointReader : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void fixtures_data()
    {
        QTest::addColumn<QString>("expectedPath");
        const QDir dir(QStringLiteral(CKPT_FIXTURES_DIR "/expected"));
        QStringList files;
        QDirIterator it(dir.path(), {QStringLiteral("*.json")}, QDir::Files, QDirIterator::Subdirectories);
        while (it.hasNext())
            files.push_back(dir.relativeFilePath(it.next()));
        files.sort();
        QVERIFY2(files.size() >= 30, qPrintable(QStringLiteral("only %1 expected files").arg(files.size())));
        for (const QString &f : files)
            QTest::newRow(qPrintable(f)) << dir.filePath(f);
    }

    void fixtures()
    {
        QFETCH(QString, expectedPath);
        const test::Json expected = test::loadJson(expectedPath.toStdString());
        QVERIFY2(expected.is_object(), "expected JSON does not parse");
        const QString file = fixturePath(QString::fromStdString(expected["file"].get<std::string>()));
        QVERIFY2(!file.isEmpty(), "fixture file not found");

        const auto data = format::readCheckpoint(file.toStdString());
        QVERIFY(data);
        const Json ls = lsReport(*data);
        StatsSelection request;
        const Json stats = statsReport(*data, request);
        const Json scan = scanReport(*data);

        test::Mismatches m;
        test::compareError(ls, expected, m);
        test::compareListing(ls, expected, m);
        test::compareStats(stats, expected, m);
        test::compareGlobals(scan, expected, m);
        QVERIFY2(m.empty(), qPrintable(m.text()));
        // The test must have compared something real.
        QVERIFY(expected["tensors"].is_array());
        if (data->ok() && !expected["tensors"].empty())
            QCOMPARE(ls["tensors"].size(), expected["tensors"].size());
    }

    void pathsOfSharedTensorsAreListedAtEachPath()
    {
        // A tensor reached through two keys (tied weights) is listed at both (PRODUCT.md 4).
        const QString file = fixturePath(QStringLiteral("shared_views.pt"));
        QVERIFY(!file.isEmpty());
        const auto data = format::readCheckpoint(file.toStdString());
        QVERIFY(data && data->ok());
        std::map<int, int> uses;
        for (const auto &p : data->paths)
            ++uses[p.tensor];
        QVERIFY(std::any_of(uses.begin(), uses.end(), [](const auto &u) { return u.second >= 2; }));
    }

    void openingDoesNotTouchTensorBytes()
    {
        // Opening reads the directory and the pickle only: storages are views into the map
        // (stored records), never copies.
        const QString file = fixturePath(QStringLiteral("state_dict.pt"));
        const auto data = format::readCheckpoint(file.toStdString());
        QVERIFY(data && data->ok());
        QVERIFY(!data->storages.empty());
        const auto map = data->files.at(0)->bytes();
        for (const auto &s : data->storages) {
            QVERIFY(!s.bytes.owned);
            QVERIFY(s.bytes.view.data >= map.data && s.bytes.view.data + s.bytes.view.size <= map.data + map.size);
            QCOMPARE(s.bytes.fileOffset % 64, 0u); // torch aligns records to 64 bytes
        }
    }
};

QTEST_GUILESS_MAIN(TestCheckpointReader)
#include "tst_checkpointreader.moc"
