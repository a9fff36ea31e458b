// SPDX-License-Identifier: MIT
// ckpt-browser --screenshot: runs the real executable offscreen and checks the PNG it writes.
#include <QImage>
#include <QProcess>
#include <QSet>
#include <QTemporaryDir>
#include <QTest>

class TestScreenshot : public QObject
{
    Q_OBJECT
private:
    static QImage shoot(const QStringList &args, const QString &out, QString *errors = nullptr)
    {
        QProcess p;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
        p.setProcessEnvironment(env);
        p.start(QStringLiteral(CKPT_BROWSER_EXE), args + QStringList{QStringLiteral("--screenshot"), out});
        if (!p.waitForFinished(120000))
            return {};
        if (errors)
            *errors = QString::fromLocal8Bit(p.readAllStandardError());
        if (p.exitStatus() != QProcess::NormalExit || p.exitCode() != 0)
            return {};
        return QImage(out);
    }

    static int distinctColours(const QImage &img, const QRect &area)
    {
        QSet<QRgb> colours;
        for (int y = area.top(); y <= area.bottom(); y += 3)
            for (int x = area.left(); x <= area.right(); x += 3)
                colours.insert(img.pixel(x, y));
        return int(colours.size());
    }

private slots:
    void sampleWithSelectedTensor()
    {
        QTemporaryDir dir;
        const QString out = dir.filePath(QStringLiteral("shot.png"));
        QString errors;
        const QImage img = shoot({QStringLiteral(CKPT_SOURCE_DIR "/resources/samples/sample_epoch1.pt"),
                                  QStringLiteral("--select"), QStringLiteral("model_state_dict/conv1/weight"),
                                  QStringLiteral("--size"), QStringLiteral("1280x800")},
                                 out, &errors);
        QVERIFY2(!img.isNull(), qPrintable(errors));
        QCOMPARE(img.size(), QSize(1280, 800));
        QVERIFY2(!errors.contains(QStringLiteral("no row at path")), qPrintable(errors));
        // Not blank: the tree (left) and the details with the histogram (right) have content.
        QVERIFY(distinctColours(img, QRect(0, 0, 1280, 800)) > 40);
        QVERIFY(distinctColours(img, QRect(700, 300, 560, 450)) > 8);
        QVERIFY(distinctColours(img, QRect(0, 100, 500, 300)) > 8);
    }

    void defaultSizeAndDamagedFile()
    {
        QTemporaryDir dir;
        const QString out = dir.filePath(QStringLiteral("damaged.png"));
        const QImage img = shoot({QStringLiteral(CKPT_FIXTURES_DIR "/files/failed_save.pt")}, out);
        QVERIFY(!img.isNull());
        QCOMPARE(img.size(), QSize(1440, 900));
    }
};

QTEST_GUILESS_MAIN(TestScreenshot)
#include "tst_screenshot.moc"
