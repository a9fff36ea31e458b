// SPDX-License-Identifier: MIT
#pragma once

#include <QMainWindow>
#include <QStringList>

class QAction;
class QLabel;
class QMenu;
class QStackedWidget;
class QTabWidget;

namespace ckpt {

class CheckpointPanel;
class ComparePanel;

/// The main window: one tab per open checkpoint or comparison, File/Edit/View/Help menus, drag-and-drop,
/// a status bar with format, tensor count, parameters, bytes and load time, and window
/// geometry, splitters and recent files kept in QSettings.
class MainWindow : public QMainWindow
{
    Q_OBJECT
public:
    static constexpr int kMaxRecentFiles = 10;

    explicit MainWindow(QWidget *parent = nullptr);
    ~MainWindow() override;

    /// Opens `path` in a new tab (or shows its tab when already open).
    CheckpointPanel *openFile(const QString &path);
    CheckpointPanel *currentPanel() const;
    QList<CheckpointPanel *> panels() const;
    /// Opens a tab comparing `a` with `b` (or shows the tab that already does).
    ComparePanel *openCompare(const QString &a, const QString &b);
    ComparePanel *currentCompare() const;
    QList<ComparePanel *> comparePanels() const;
    QTabWidget *tabs() const { return m_tabs; }
    /// Any tab loading or computing.
    bool isBusy() const;
    QStringList recentFiles() const { return m_recent; }
    /// Off for screenshots and tests that must not touch the user's settings.
    void setPersistSettings(bool persist) { m_persist = persist; }
    void restoreSettings();
    void saveSettings();
    /// The status-bar fields, for tests: format, tensors, parameters, bytes, load time.
    QStringList statusFields() const;

public slots:
    void openDialog();
    void openFolderDialog();
    /// File ▸ Compare with…: compares the current tab's file with a chosen one (or asks for
    /// both files when no checkpoint tab is current).
    void compareDialog();
    void closeTab(int index);
    void closeCurrentTab();
    void reloadCurrent();
    void showAbout();

signals:
    void busyChanged(bool busy);

protected:
    void dragEnterEvent(QDragEnterEvent *event) override;
    void dropEvent(QDropEvent *event) override;
    void closeEvent(QCloseEvent *event) override;

private:
    void createActions();
    void addRecent(const QString &path);
    void updateRecentMenu();
    void updateWelcome();
    void updateStatus();
    void updateTabTitle(CheckpointPanel *panel);
    void updateCompareTitle(ComparePanel *panel);
    void onBusyMaybeChanged();
    QString chooseFile(const QString &title);
    void updateActions();

    QStackedWidget *m_stack;
    QWidget *m_welcome;
    QLabel *m_welcomeText;
    QTabWidget *m_tabs;
    QMenu *m_recentMenu = nullptr;
    QAction *m_compareAction = nullptr;
    QAction *m_reloadAction = nullptr;
    QAction *m_closeAction = nullptr;
    QAction *m_copyPathAction = nullptr;
    QAction *m_findAction = nullptr;
    QAction *m_expandAction = nullptr;
    QAction *m_collapseAction = nullptr;
    QAction *m_checkAction = nullptr;
    QLabel *m_formatLabel;
    QLabel *m_tensorsLabel;
    QLabel *m_paramsLabel;
    QLabel *m_bytesLabel;
    QLabel *m_timeLabel;
    QStringList m_recent;
    QByteArray m_panelLayout;
    bool m_persist = true;
    bool m_lastBusy = false;
};

} // namespace ckpt
