// SPDX-License-Identifier: MIT
#include "checkpointpanel.h"
#include "guitestutils.h"
#include "mainwindow.h"
#include "messagebar.h"
#include "tensordetailspanel.h"
#include "statstablemodel.h"

#include <QAction>
#include <QLineEdit>
#include <QMenuBar>
#include <QMimeData>
#include <QSettings>
#include <QSignalSpy>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QTest>
#include <QUrl>

using namespace ckpt;

class TestMainWindow : public QObject
{
    Q_OBJECT
private:
    QTemporaryDir m_settingsDir;

private slots:
    void initTestCase()
    {
        QCoreApplication::setOrganizationName(QStringLiteral("CheckpointBrowserTest"));
        QCoreApplication::setApplicationName(QStringLiteral("tst_mainwindow"));
        QSettings::setDefaultFormat(QSettings::IniFormat);
        QSettings::setPath(QSettings::IniFormat, QSettings::UserScope, m_settingsDir.path());
    }

    void tabsAndStatusBar()
    {
        MainWindow w;
        w.setPersistSettings(false);
        w.show();
        QCOMPARE(w.tabs()->count(), 0);
        CheckpointPanel *a = w.openFile(test::fixturePath(QStringLiteral("training_ckpt.pt")));
        QVERIFY(w.isBusy() || a->hasCheckpoint());
        QTRY_VERIFY_WITH_TIMEOUT(!w.isBusy(), 20000);
        const QStringList status = w.statusFields();
        QCOMPARE(status[0], QStringLiteral("torch-zip"));
        QCOMPARE(status[1], QStringLiteral("29 tensors"));
        QCOMPARE(status[2], QStringLiteral("5,801 parameters"));
        QVERIFY(status[4].startsWith(QStringLiteral("loaded in")));
        QVERIFY(w.windowTitle().startsWith(QStringLiteral("training_ckpt.pt")));

        CheckpointPanel *b = w.openFile(test::fixturePath(QStringLiteral("dtypes.safetensors")));
        QTRY_VERIFY_WITH_TIMEOUT(!w.isBusy(), 20000);
        QCOMPARE(w.tabs()->count(), 2);
        QCOMPARE(w.statusFields()[0], QStringLiteral("safetensors"));
        // Opening the same file again shows its tab.
        QCOMPARE(w.openFile(test::fixturePath(QStringLiteral("training_ckpt.pt"))), a);
        QCOMPARE(w.tabs()->count(), 2);
        QCOMPARE(w.currentPanel(), a);
        QCOMPARE(w.statusFields()[0], QStringLiteral("torch-zip"));
        // Recent files, most recent first, no duplicates.
        QCOMPARE(w.recentFiles().first(), a->filePath());
        QCOMPARE(w.recentFiles().size(), 2);
        // Ctrl+W closes the current tab.
        w.closeCurrentTab();
        QCOMPARE(w.tabs()->count(), 1);
        QCOMPARE(w.currentPanel(), b);
        w.closeCurrentTab();
        QCOMPARE(w.tabs()->count(), 0);
        QVERIFY(w.windowTitle() == QStringLiteral("Checkpoint Browser"));
    }

    void shortcuts()
    {
        MainWindow w;
        w.setPersistSettings(false);
        w.show();
        QVERIFY(QTest::qWaitForWindowActive(&w));
        CheckpointPanel *p = w.openFile(test::fixturePath(QStringLiteral("state_dict.pt")));
        QTRY_VERIFY_WITH_TIMEOUT(!w.isBusy(), 20000);
        QStringList shortcuts;
        for (QAction *menu : w.menuBar()->actions())
            for (QAction *a : menu->menu()->actions())
                if (!a->shortcut().isEmpty())
                    shortcuts << a->shortcut().toString();
        for (const char *s : {"Ctrl+O", "Ctrl+W", "Ctrl+Q", "Ctrl+F", "F5", "Ctrl+C"})
            QVERIFY2(shortcuts.contains(QLatin1String(s)), s);
        QTest::keyClick(&w, Qt::Key_F, Qt::ControlModifier);
        QTRY_VERIFY(p->filterEdit()->hasFocus());
        // F5 reloads and keeps the selection.
        QVERIFY(p->selectPath(QStringLiteral("head.weight")));
        QSignalSpy loaded(p, &CheckpointPanel::loadFinished);
        QTest::keyClick(&w, Qt::Key_F5);
        QTRY_COMPARE_WITH_TIMEOUT(loaded.count(), 1, 10000);
        QCOMPARE(p->currentPath(), QStringLiteral("head.weight"));
    }

    void dropFiles()
    {
        MainWindow w;
        w.setPersistSettings(false);
        w.show();
        auto *mime = new QMimeData;
        mime->setUrls({QUrl::fromLocalFile(test::fixturePath(QStringLiteral("legacy.pt"))),
                       QUrl::fromLocalFile(test::fixturePath(QStringLiteral("parameter.pt")))});
        QDragEnterEvent enter(QPoint(50, 50), Qt::CopyAction, mime, Qt::LeftButton, Qt::NoModifier);
        QCoreApplication::sendEvent(&w, &enter);
        QVERIFY(enter.isAccepted());
        QDropEvent drop(QPointF(50, 50), Qt::CopyAction, mime, Qt::LeftButton, Qt::NoModifier);
        QCoreApplication::sendEvent(&w, &drop);
        QCOMPARE(w.tabs()->count(), 2);
        QTRY_VERIFY_WITH_TIMEOUT(!w.isBusy(), 20000);
        delete mime;
    }

    void settingsRoundTrip()
    {
        {
            MainWindow w;
            w.restoreSettings();
            w.resize(1111, 777);
            w.openFile(test::fixturePath(QStringLiteral("legacy.pt")));
            QTRY_VERIFY_WITH_TIMEOUT(!w.isBusy(), 20000);
            w.saveSettings();
        }
        MainWindow w2;
        w2.restoreSettings();
        QVERIFY(w2.recentFiles().contains(QFileInfo(test::fixturePath(QStringLiteral("legacy.pt"))).absoluteFilePath()));
        QCOMPARE(w2.size(), QSize(1111, 777));
        QSettings s;
        QVERIFY(!s.value(QStringLiteral("window/panelLayout")).toByteArray().isEmpty());
    }

    void damagedFileInTab()
    {
        MainWindow w;
        w.setPersistSettings(false);
        CheckpointPanel *p = w.openFile(test::fixturePath(QStringLiteral("failed_save.pt")));
        QTRY_VERIFY_WITH_TIMEOUT(!w.isBusy(), 20000);
        QVERIFY(p->errorBar()->isVisibleTo(p));
        QVERIFY(p->errorBar()->text().contains(QStringLiteral("data.pkl")));
        QVERIFY(w.statusFields()[0].contains(QStringLiteral("incomplete")));
    }
};

QTEST_MAIN(TestMainWindow)
#include "tst_mainwindow.moc"
