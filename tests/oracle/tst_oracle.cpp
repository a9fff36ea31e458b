// SPDX-License-Identifier: MIT
// The oracle: fresh random checkpoints made by real torch at test time (tests/oracle/
// torch_oracle.py), read by us and compared with what torch reports about them.

#include "expectedcheck.h"
#include "inspectreport.h"

#include <QDir>
#include <QFile>
#include <QProcess>
#include <QRandomGenerator>
#include <QTemporaryDir>
#include <QTest>

using namespace ckpt;

/// The torch version Debian's python3-torch must have here: "1.13" on Debian 12 (the machine's
/// second oracle), "" (any, reported) on other releases.
QString debianTorch()
{
    QFile release(QStringLiteral("/etc/os-release"));
    if (release.open(QIODevice::ReadOnly) && release.readAll().contains("VERSION_ID=\"12\""))
        return QStringLiteral("1.13");
    return {};
}

class TestOracle : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    // Under both oracles: Debian's torch 1.13 and today's torch 2.13 (the venv that
    // scripts/test.sh makes with scripts/oracle_env.sh). Each writes its own random files.
    void randomCheckpointsAgreeWithTorch_data()
    {
        QTest::addColumn<QString>("python");
        QTest::addColumn<QString>("version");
        // Debian's torch: 1.13 on Debian 12; Debian 13 ships 2.6, which is then the older oracle.
        QTest::newRow("Debian's torch") << QStringLiteral("/usr/bin/python3") << debianTorch();
        QTest::newRow("torch 2.13") << QStringLiteral(CKPT_SOURCE_DIR "/.venv-oracle/bin/python") << QStringLiteral("2.13");
    }
    void randomCheckpointsAgreeWithTorch()
    {
        QFETCH(QString, python);
        QFETCH(QString, version);
        QProcess probe;
        probe.start(python, {QStringLiteral("-c"), QStringLiteral("import torch; print(torch.__version__)")});
        if (!probe.waitForFinished(120000) || probe.exitStatus() != QProcess::NormalExit || probe.exitCode() != 0)
            QSKIP(qPrintable(QStringLiteral("no torch for %1 (scripts/setup.sh installs Debian's, scripts/oracle_env.sh "
                                            "the venv): oracle test skipped").arg(python)));
        const QString found = QString::fromLatin1(probe.readAllStandardOutput()).trimmed();
        QVERIFY2(found.startsWith(version), qPrintable(python + QStringLiteral(" has torch ") + found));
        qInfo("%s: torch %s", qPrintable(python), qPrintable(found));

        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const QByteArray seedEnv = qgetenv("CKPT_ORACLE_SEED");
        const quint32 seed = seedEnv.isEmpty() ? QRandomGenerator::global()->bounded(1u << 30) : seedEnv.toUInt();
        const QByteArray countEnv = qgetenv("CKPT_ORACLE_COUNT");
        const int count = countEnv.isEmpty() ? 16 : countEnv.toInt();
        qInfo("oracle seed %u (set CKPT_ORACLE_SEED to repeat), %d checkpoints", seed, count);

        QProcess gen;
        gen.setProcessChannelMode(QProcess::MergedChannels);
        gen.start(python, {QStringLiteral(CKPT_SOURCE_DIR "/tests/oracle/torch_oracle.py"), QStringLiteral("--out"),
                           dir.path(), QStringLiteral("--seed"), QString::number(seed), QStringLiteral("--count"),
                           QString::number(count)});
        QVERIFY(gen.waitForFinished(300000));
        QVERIFY2(gen.exitStatus() == QProcess::NormalExit && gen.exitCode() == 0, gen.readAll().constData());

        const QStringList expected = QDir(dir.path()).entryList({QStringLiteral("*.json")}, QDir::Files, QDir::Name);
        QCOMPARE(expected.size(), count);
        int tensors = 0;
        for (const QString &e : expected) {
            const test::Json want = test::loadJson(QDir(dir.path()).filePath(e).toStdString());
            QVERIFY2(want.is_object(), qPrintable(e));
            const QString file = QDir(dir.path()).filePath(e.chopped(5)); // strip ".json"
            const auto data = format::readCheckpoint(file.toStdString());
            QVERIFY(data);
            test::Mismatches m;
            const Json ls = lsReport(*data);
            test::compareError(ls, want, m);
            test::compareListing(ls, want, m);
            test::compareStats(statsReport(*data, StatsSelection{}), want, m);
            test::compareGlobals(scanReport(*data), want, m);
            QVERIFY2(m.empty(), qPrintable(QStringLiteral("%1 (seed %2):\n%3").arg(file).arg(seed).arg(m.text())));
            tensors += static_cast<int>(want["tensors"].size());
        }
        qInfo("compared %d tensors in %d random checkpoints with torch", tensors, count);
        QVERIFY(tensors > 0);
    }
};

QTEST_GUILESS_MAIN(TestOracle)
#include "tst_oracle.moc"
