// SPDX-License-Identifier: MIT
// ckpt-inspect as a user runs it: the real binary on every fixture, its JSON compared with
// torch's expected values, its exit status, its tables and its usage errors.

#include "expectedcheck.h"

#include <QDir>
#include <QDirIterator>
#include <QFileInfo>
#include <QProcess>
#include <QTest>

using namespace ckpt;

namespace {

struct Run
{
    int exitCode = -1;
    QByteArray out;
    QByteArray err;
};

Run inspect(const QStringList &args)
{
    QProcess p;
    p.start(QStringLiteral(CKPT_INSPECT_EXE), args);
    Run r;
    if (!p.waitForFinished(120000) || p.exitStatus() != QProcess::NormalExit)
        return r;
    r.exitCode = p.exitCode();
    r.out = p.readAllStandardOutput();
    r.err = p.readAllStandardError();
    return r;
}

test::Json parse(const QByteArray &out)
{
    return test::Json::parse(out.constData(), out.constData() + out.size(), nullptr, false);
}

QString fixture(const QString &name)
{
    for (const QString &dir : {QStringLiteral(CKPT_FIXTURES_DIR "/files"), QStringLiteral(CKPT_SOURCE_DIR "/resources/samples")})
        if (QFileInfo::exists(dir + QLatin1Char('/') + name))
            return dir + QLatin1Char('/') + name;
    return {};
}

} // namespace

class TestInspect : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void jsonAgreesWithTorch_data()
    {
        QTest::addColumn<QString>("expectedPath");
        const QDir dir(QStringLiteral(CKPT_FIXTURES_DIR "/expected"));
        QStringList files;
        QDirIterator it(dir.path(), {QStringLiteral("*.json")}, QDir::Files, QDirIterator::Subdirectories);
        while (it.hasNext())
            files.push_back(dir.relativeFilePath(it.next()));
        files.sort();
        QVERIFY(!files.isEmpty());
        for (const QString &f : files)
            QTest::newRow(qPrintable(f)) << dir.filePath(f);
    }

    void jsonAgreesWithTorch()
    {
        QFETCH(QString, expectedPath);
        const test::Json expected = test::loadJson(expectedPath.toStdString());
        const QString file = fixture(QString::fromStdString(expected["file"].get<std::string>()));
        QVERIFY(!file.isEmpty());
        const bool broken = !expected.value("expect_error", test::Json()).is_null();
        const bool dangerous = expected.value("dangerous", false);

        const Run ls = inspect({QStringLiteral("ls"), QStringLiteral("--json"), file});
        QCOMPARE(ls.exitCode, broken ? 2 : 0);
        const Run stats = inspect({QStringLiteral("stats"), file, QStringLiteral("--json")});
        QCOMPARE(stats.exitCode, broken ? 2 : 0);
        const Run scan = inspect({QStringLiteral("scan"), QStringLiteral("--json"), file});
        QCOMPARE(scan.exitCode, broken ? 2 : dangerous ? 1 : 0);
        if (broken) {
            // One line on stderr naming the file.
            QCOMPARE(ls.err.count('\n'), 1);
            QVERIFY2(ls.err.contains(QFileInfo(file).fileName().toUtf8()), ls.err.constData());
        } else {
            QVERIFY2(ls.err.isEmpty(), ls.err.constData());
        }

        const test::Json lsJson = parse(ls.out);
        const test::Json statsJson = parse(stats.out);
        const test::Json scanJson = parse(scan.out);
        QVERIFY(lsJson.is_object() && statsJson.is_object() && scanJson.is_object());
        QCOMPARE(QString::fromStdString(lsJson["file"].get<std::string>()), file);
        test::Mismatches m;
        test::compareError(lsJson, expected, m);
        test::compareListing(lsJson, expected, m);
        test::compareStats(statsJson, expected, m);
        test::compareGlobals(scanJson, expected, m);
        QVERIFY2(m.empty(), qPrintable(m.text()));
    }

    void tablesWithoutJson()
    {
        const QString file = fixture(QStringLiteral("sample_epoch1.pt"));
        QVERIFY(!file.isEmpty());
        const Run ls = inspect({QStringLiteral("ls"), file});
        QCOMPARE(ls.exitCode, 0);
        const QList<QByteArray> lines = ls.out.split('\n');
        QVERIFY(lines.first().startsWith("PATH"));
        QVERIFY(lines.first().contains("DTYPE") && lines.first().contains("SHAPE"));
        const test::Json json = parse(inspect({QStringLiteral("ls"), QStringLiteral("--json"), file}).out);
        for (const auto &t : json["tensors"])
            QVERIFY2(ls.out.contains(QByteArray::fromStdString(t["path"].get<std::string>())),
                     t["path"].get<std::string>().c_str());
        const Run stats = inspect({QStringLiteral("stats"), file});
        QCOMPARE(stats.exitCode, 0);
        QVERIFY(stats.out.startsWith("PATH"));
        QVERIFY(stats.out.contains("MEAN"));
        const Run scan = inspect({QStringLiteral("scan"), file});
        QCOMPARE(scan.exitCode, 0);
        QVERIFY(scan.out.contains("verdict:"));
    }

    // Lightning's sharded checkpoint: the scan lists every pickle dcp.load and Lightning read
    // (meta.pt's too) and says that dcp.load has no weights-only mode; ls shows meta.pt's keys
    // over the state dict, as Lightning's loader lays them.
    void lightningShardedCheckpoint()
    {
        const QString dir = QStringLiteral(CKPT_FIXTURES_DIR "/files/torch2/lightning_sharded/epoch=1-step=4.ckpt");
        const Run scan = inspect({QStringLiteral("scan"), dir});
        QCOMPARE(scan.exitCode, 0);
        QVERIFY2(scan.out.contains("pickle meta.pt: ") && scan.out.contains("pickle .metadata: "), scan.out.constData());
        QVERIFY2(scan.out.contains("dcp.load (no weights_only mode): "), scan.out.constData());
        QVERIFY(!scan.out.contains("torch.load default"));
        const test::Json ls = parse(inspect({QStringLiteral("ls"), QStringLiteral("--json"), dir}).out);
        QCOMPARE(ls["format"].get<std::string>(), std::string("dcp"));
        const test::Json expected = test::loadJson(CKPT_FIXTURES_DIR "/expected/torch2/lightning_sharded/epoch=1-step=4.ckpt.json");
        QCOMPARE(ls["tensors"].size(), expected["tensors"].size());
    }

    void statsSelectsPathsAndBins()
    {
        const QString file = fixture(QStringLiteral("sample_epoch1.pt"));
        const test::Json all = parse(inspect({QStringLiteral("ls"), QStringLiteral("--json"), file}).out);
        std::vector<std::string> weights;
        for (const auto &t : all["tensors"]) {
            const std::string p = t["path"].get<std::string>();
            if (p.rfind("model_state_dict/", 0) == 0 && p.size() > 7 && p.compare(p.size() - 7, 7, ".weight") == 0)
                weights.push_back(p);
        }
        QVERIFY(weights.size() >= 2);
        const Run r = inspect({QStringLiteral("stats"), QStringLiteral("--json"), QStringLiteral("--bins"),
                               QStringLiteral("10"), file, QStringLiteral("model_state_dict/*.weight"),
                               QString::fromStdString(weights.front())});
        QCOMPARE(r.exitCode, 0);
        const test::Json j = parse(r.out);
        QCOMPARE(j["stats"].size(), weights.size());
        for (const auto &s : j["stats"]) {
            QCOMPARE(s["hist"]["counts"].size(), 10u);
            std::uint64_t sum = 0;
            for (const auto &c : s["hist"]["counts"])
                sum += c.get<std::uint64_t>();
            QCOMPARE(sum, s["finite"].get<std::uint64_t>());
        }
        const Run none = inspect({QStringLiteral("stats"), QStringLiteral("--json"), file, QStringLiteral("no/such/path")});
        QCOMPARE(none.exitCode, 2);
        QVERIFY(none.err.contains("no tensor matches"));
    }

    void usageErrors_data()
    {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<QByteArray>("message");
        QTest::newRow("no command") << QStringList{} << QByteArray("no command");
        QTest::newRow("unknown command") << QStringList{QStringLiteral("frobnicate"), QStringLiteral("x")}
                                         << QByteArray("unknown command");
        QTest::newRow("no file") << QStringList{QStringLiteral("ls")} << QByteArray("needs a FILE");
        QTest::newRow("bad bins") << QStringList{QStringLiteral("stats"), QStringLiteral("--bins"), QStringLiteral("0"),
                                                 QStringLiteral("x")}
                                  << QByteArray("--bins");
        QTest::newRow("missing file") << QStringList{QStringLiteral("ls"), QStringLiteral("/nonexistent/file.pt")}
                                      << QByteArray("/nonexistent/file.pt");
    }

    void usageErrors()
    {
        QFETCH(QStringList, args);
        QFETCH(QByteArray, message);
        const Run r = inspect(args);
        QCOMPARE(r.exitCode, 2);
        QVERIFY2(r.err.contains(message), r.err.constData());
    }

    void help()
    {
        const Run r = inspect({QStringLiteral("--help")});
        QCOMPARE(r.exitCode, 0);
        QVERIFY(r.out.contains("Usage: ckpt-inspect"));
    }
};

QTEST_GUILESS_MAIN(TestInspect)
#include "tst_inspect.moc"
