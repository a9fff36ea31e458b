// SPDX-License-Identifier: MIT
#include "mainwindow.h"

#include "checkpointpanel.h"
#include "checkpointtreemodel.h"
#include "checkpointtreeview.h"
#include "comparepanel.h"
#include "displayformat.h"
#include "kindicons.h"
#include "messagebar.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QPushButton>
#include <QSettings>
#include <QStackedWidget>
#include <QStatusBar>
#include <QTabBar>
#include <QTabWidget>
#include <QVBoxLayout>

namespace ckpt {

namespace {
const char *const kRecentKey = "recentFiles";
const char *const kGeometryKey = "window/geometry";
const char *const kStateKey = "window/state";
const char *const kPanelKey = "window/panelLayout";
const char *const kLastDirKey = "lastDirectory";

QLabel *statusField(QWidget *parent, const QString &tip)
{
    auto *l = new QLabel(parent);
    l->setToolTip(tip);
    l->setContentsMargins(6, 0, 6, 0);
    return l;
}
} // namespace

MainWindow::MainWindow(QWidget *parent)
    : QMainWindow(parent)
    , m_stack(new QStackedWidget(this))
    , m_welcome(new QWidget(this))
    , m_welcomeText(new QLabel(m_welcome))
    , m_tabs(new QTabWidget(this))
    , m_formatLabel(statusField(this, tr("Container format")))
    , m_tensorsLabel(statusField(this, tr("Distinct tensors in the file")))
    , m_paramsLabel(statusField(this, tr("Total elements of all distinct tensors")))
    , m_bytesLabel(statusField(this, tr("Bytes of all distinct storages: the tensor data the file holds")))
    , m_timeLabel(statusField(this, tr("Time to read the container and the pickle")))
{
    setWindowTitle(tr("Checkpoint Browser"));
    setWindowIcon(appIcon());
    setAcceptDrops(true);
    resize(1400, 900);

    // Welcome page (no file open).
    auto *welcomeLayout = new QVBoxLayout(m_welcome);
    welcomeLayout->addStretch(2);
    auto *logo = new QLabel(m_welcome);
    logo->setPixmap(appIcon().pixmap(96, 96));
    logo->setAlignment(Qt::AlignCenter);
    welcomeLayout->addWidget(logo);
    m_welcomeText->setAlignment(Qt::AlignCenter);
    m_welcomeText->setWordWrap(true);
    m_welcomeText->setTextFormat(Qt::RichText);
    connect(m_welcomeText, &QLabel::linkActivated, this, [this](const QString &link) {
        if (link == QLatin1String("open:"))
            openDialog();
        else
            openFile(link);
    });
    welcomeLayout->addWidget(m_welcomeText);
    auto *openButton = new QPushButton(tr("Open a Checkpoint…"), m_welcome);
    openButton->setDefault(true);
    connect(openButton, &QPushButton::clicked, this, &MainWindow::openDialog);
    welcomeLayout->addWidget(openButton, 0, Qt::AlignCenter);
    welcomeLayout->addStretch(3);

    m_tabs->setDocumentMode(true);
    m_tabs->setTabsClosable(true);
    m_tabs->setMovable(true);
    m_tabs->tabBar()->setExpanding(false);
    m_tabs->tabBar()->setElideMode(Qt::ElideMiddle);
    connect(m_tabs, &QTabWidget::tabCloseRequested, this, &MainWindow::closeTab);
    connect(m_tabs, &QTabWidget::currentChanged, this, [this] {
        updateStatus();
        updateActions();
    });
    m_stack->addWidget(m_welcome);
    m_stack->addWidget(m_tabs);
    setCentralWidget(m_stack);

    statusBar()->addPermanentWidget(m_formatLabel);
    statusBar()->addPermanentWidget(m_tensorsLabel);
    statusBar()->addPermanentWidget(m_paramsLabel);
    statusBar()->addPermanentWidget(m_bytesLabel);
    statusBar()->addPermanentWidget(m_timeLabel);

    createActions();
    updateWelcome();
    updateStatus();
    updateActions();
}

MainWindow::~MainWindow() = default;

void MainWindow::createActions()
{
    QMenu *file = menuBar()->addMenu(tr("&File"));
    QAction *open = file->addAction(tr("&Open…"), this, &MainWindow::openDialog);
    open->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_O));
    QAction *openFolder = file->addAction(tr("Open &Folder…"), this, &MainWindow::openFolderDialog);
    openFolder->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_O));
    openFolder->setStatusTip(tr("Open a folder as one checkpoint: a transformers Trainer checkpoint-N/ folder "
                                "(weights, optimizer, scheduler, trainer state) or a save_pretrained folder"));
    m_recentMenu = file->addMenu(tr("Open &Recent"));
    m_compareAction = file->addAction(tr("Co&mpare with…"), this, &MainWindow::compareDialog);
    m_compareAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_D));
    m_compareAction->setStatusTip(tr("Compare the current checkpoint with another one: aligned rows, change "
                                     "metrics, overlaid histograms, hyperparameter differences"));
    file->addSeparator();
    m_reloadAction = file->addAction(tr("&Reload"), this, &MainWindow::reloadCurrent);
    m_reloadAction->setShortcuts({QKeySequence(Qt::Key_F5), QKeySequence(Qt::CTRL | Qt::Key_R)});
    m_closeAction = file->addAction(tr("&Close Tab"), this, &MainWindow::closeCurrentTab);
    m_closeAction->setShortcuts({QKeySequence(Qt::CTRL | Qt::Key_W), QKeySequence(Qt::CTRL | Qt::Key_F4)});
    file->addSeparator();
    QAction *quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Q));
    quit->setMenuRole(QAction::QuitRole);

    QMenu *edit = menuBar()->addMenu(tr("&Edit"));
    m_copyPathAction = edit->addAction(tr("&Copy Path"), this, [this] {
        if (CheckpointPanel *p = currentPanel())
            p->copyCurrentPath();
        else if (ComparePanel *c = currentCompare())
            c->treeView()->copyCurrentPath();
    });
    // The tree handles Ctrl+C itself; the menu only shows the shortcut, so that text fields
    // keep their own Copy.
    m_copyPathAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_C));
    m_copyPathAction->setShortcutContext(Qt::WidgetShortcut);
    m_findAction = edit->addAction(tr("&Filter…"), this, [this] {
        if (CheckpointPanel *p = currentPanel())
            p->focusFilter();
        else if (ComparePanel *c = currentCompare())
            c->focusFilter();
    });
    m_findAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_F));

    QMenu *view = menuBar()->addMenu(tr("&View"));
    m_expandAction = view->addAction(tr("&Expand All"), this, [this] {
        if (CheckpointPanel *p = currentPanel())
            p->treeView()->expandAll();
        else if (ComparePanel *c = currentCompare())
            c->treeView()->expandAll();
    });
    m_collapseAction = view->addAction(tr("&Collapse All"), this, [this] {
        if (CheckpointPanel *p = currentPanel()) {
            p->treeView()->collapseAll();
            p->treeView()->expand(p->treeView()->model()->index(0, 0));
        } else if (ComparePanel *c = currentCompare()) {
            c->treeView()->collapseAll();
        }
    });
    view->addSeparator();
    m_checkAction = view->addAction(tr("C&heck All Tensors (NaN, Inf, Zeros)"), this, [this] {
        if (CheckpointPanel *p = currentPanel())
            p->checkAllTensors();
    });
    m_checkAction->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_H));
    m_checkAction->setStatusTip(tr("Computes every tensor's statistics in the background and marks "
                                   "tensors with NaN, ±Inf or only zeros in the tree"));
    view->addSeparator();
    QAction *nextTab = view->addAction(tr("&Next Tab"), this, [this] {
        if (m_tabs->count() > 1)
            m_tabs->setCurrentIndex((m_tabs->currentIndex() + 1) % m_tabs->count());
    });
    nextTab->setShortcut(QKeySequence::NextChild);
    QAction *prevTab = view->addAction(tr("&Previous Tab"), this, [this] {
        if (m_tabs->count() > 1)
            m_tabs->setCurrentIndex((m_tabs->currentIndex() + m_tabs->count() - 1) % m_tabs->count());
    });
    prevTab->setShortcut(QKeySequence::PreviousChild);

    QMenu *help = menuBar()->addMenu(tr("&Help"));
    QAction *about = help->addAction(tr("&About Checkpoint Browser"), this, &MainWindow::showAbout);
    about->setMenuRole(QAction::AboutRole);
    help->addAction(tr("About &Qt"), qApp, &QApplication::aboutQt);
}

CheckpointPanel *MainWindow::openFile(const QString &path)
{
    const QString absolute = QFileInfo(path).absoluteFilePath();
    for (int i = 0; i < m_tabs->count(); ++i) {
        auto *p = qobject_cast<CheckpointPanel *>(m_tabs->widget(i));
        if (p && p->filePath() == absolute) {
            m_tabs->setCurrentIndex(i);
            addRecent(absolute);
            return p;
        }
    }
    auto *panel = new CheckpointPanel(m_tabs);
    if (!m_panelLayout.isEmpty())
        panel->restoreLayout(m_panelLayout);
    connect(panel, &CheckpointPanel::statusChanged, this, [this, panel] {
        updateTabTitle(panel);
        if (panel == currentPanel()) {
            updateStatus();
            updateActions();
        }
    });
    connect(panel, &CheckpointPanel::message, this, [this](const QString &text) {
        statusBar()->showMessage(text, 4000);
    });
    connect(panel, &CheckpointPanel::busyChanged, this, [this] {
        const bool busy = isBusy();
        if (busy != m_lastBusy) {
            m_lastBusy = busy;
            emit busyChanged(busy);
        }
    });
    connect(panel, &CheckpointPanel::loadFinished, this, [this, panel] {
        const bool busy = isBusy();
        if (busy != m_lastBusy) {
            m_lastBusy = busy;
            emit busyChanged(busy);
        }
        if (panel->loaded().data && panel->loaded().data->error)
            statusBar()->showMessage(tr("%1: %2").arg(QFileInfo(panel->filePath()).fileName(),
                                                      qs(panel->loaded().data->error->text())),
                                     8000);
    });
    const int index = m_tabs->addTab(panel, QFileInfo(absolute).fileName());
    m_tabs->setTabToolTip(index, absolute);
    m_tabs->setCurrentIndex(index);
    m_stack->setCurrentWidget(m_tabs);
    panel->open(absolute);
    if (!m_lastBusy) {
        m_lastBusy = true;
        emit busyChanged(true);
    }
    addRecent(absolute);
    updateTabTitle(panel);
    updateActions();
    return panel;
}

CheckpointPanel *MainWindow::currentPanel() const
{
    return qobject_cast<CheckpointPanel *>(m_tabs->currentWidget());
}

QList<CheckpointPanel *> MainWindow::panels() const
{
    QList<CheckpointPanel *> out;
    for (int i = 0; i < m_tabs->count(); ++i)
        if (auto *p = qobject_cast<CheckpointPanel *>(m_tabs->widget(i)))
            out << p;
    return out;
}

ComparePanel *MainWindow::openCompare(const QString &a, const QString &b)
{
    const QString absA = QFileInfo(a).absoluteFilePath();
    const QString absB = QFileInfo(b).absoluteFilePath();
    for (ComparePanel *c : comparePanels()) {
        if (c->pathA() == absA && c->pathB() == absB) {
            m_tabs->setCurrentWidget(c);
            return c;
        }
    }
    auto *panel = new ComparePanel(m_tabs);
    connect(panel, &ComparePanel::statusChanged, this, [this, panel] {
        updateCompareTitle(panel);
        if (panel == currentCompare()) {
            updateStatus();
            updateActions();
        }
    });
    connect(panel, &ComparePanel::message, this, [this](const QString &text) {
        statusBar()->showMessage(text, 4000);
    });
    connect(panel, &ComparePanel::busyChanged, this, &MainWindow::onBusyMaybeChanged);
    const int index = m_tabs->addTab(panel, QString());
    m_tabs->setCurrentIndex(index);
    m_stack->setCurrentWidget(m_tabs);
    panel->open(absA, absB);
    onBusyMaybeChanged();
    addRecent(absA);
    addRecent(absB);
    updateCompareTitle(panel);
    updateStatus();
    updateActions();
    return panel;
}

ComparePanel *MainWindow::currentCompare() const
{
    return qobject_cast<ComparePanel *>(m_tabs->currentWidget());
}

QList<ComparePanel *> MainWindow::comparePanels() const
{
    QList<ComparePanel *> out;
    for (int i = 0; i < m_tabs->count(); ++i)
        if (auto *c = qobject_cast<ComparePanel *>(m_tabs->widget(i)))
            out << c;
    return out;
}

void MainWindow::updateCompareTitle(ComparePanel *panel)
{
    const int index = m_tabs->indexOf(panel);
    if (index < 0)
        return;
    m_tabs->setTabText(index, panel->isLoading() ? panel->title() + QStringLiteral(" …") : panel->title());
    m_tabs->setTabToolTip(index, tr("A: %1\nB: %2").arg(panel->pathA(), panel->pathB()));
    m_tabs->setTabIcon(index, nodeIcon(NodeKind::Module));
    if (panel == currentCompare())
        setWindowTitle(tr("%1 — Checkpoint Browser").arg(panel->title()));
}

void MainWindow::onBusyMaybeChanged()
{
    const bool busy = isBusy();
    if (busy != m_lastBusy) {
        m_lastBusy = busy;
        emit busyChanged(busy);
    }
}

QString MainWindow::chooseFile(const QString &title)
{
    QSettings settings;
    const QString dir = settings.value(QLatin1String(kLastDirKey)).toString();
    const QString file = QFileDialog::getOpenFileName(
        this, title, dir,
        tr("Checkpoints (*.pt *.pth *.ckpt *.bin *.safetensors *.index.json *.ptl *.pkl *.pickle *.tar);;"
           "All files (*)"));
    if (!file.isEmpty() && m_persist)
        settings.setValue(QLatin1String(kLastDirKey), QFileInfo(file).absolutePath());
    return file;
}

void MainWindow::compareDialog()
{
    QString a;
    if (CheckpointPanel *p = currentPanel())
        a = p->filePath();
    else if (ComparePanel *c = currentCompare())
        a = c->pathB();
    if (a.isEmpty()) {
        a = chooseFile(tr("Compare: Choose the First Checkpoint (A)"));
        if (a.isEmpty())
            return;
    }
    const QString b = chooseFile(tr("Compare %1 with… (B)").arg(QFileInfo(a).fileName()));
    if (!b.isEmpty())
        openCompare(a, b);
}

bool MainWindow::isBusy() const
{
    for (CheckpointPanel *p : panels())
        if (p->isBusy())
            return true;
    for (ComparePanel *c : comparePanels())
        if (c->isBusy())
            return true;
    return false;
}

void MainWindow::openDialog()
{
    QSettings settings;
    const QString dir = settings.value(QLatin1String(kLastDirKey)).toString();
    const QStringList files = QFileDialog::getOpenFileNames(
        this, tr("Open Checkpoint"), dir,
        tr("Checkpoints (*.pt *.pth *.ckpt *.bin *.safetensors *.index.json *.ptl *.pkl *.pickle *.tar);;"
           "All files (*)"));
    for (const QString &f : files)
        openFile(f);
    if (!files.isEmpty() && m_persist)
        settings.setValue(QLatin1String(kLastDirKey), QFileInfo(files.last()).absolutePath());
}

void MainWindow::openFolderDialog()
{
    QSettings settings;
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Open Checkpoint Folder"),
                                                          settings.value(QLatin1String(kLastDirKey)).toString());
    if (dir.isEmpty())
        return;
    openFile(dir);
    if (m_persist)
        settings.setValue(QLatin1String(kLastDirKey), QFileInfo(dir).absolutePath());
}

void MainWindow::closeTab(int index)
{
    if (auto *compare = qobject_cast<ComparePanel *>(m_tabs->widget(index))) {
        m_tabs->removeTab(index);
        compare->cancel();
        compare->deleteLater();
        if (m_tabs->count() == 0) {
            m_stack->setCurrentWidget(m_welcome);
            updateWelcome();
        }
        updateStatus();
        updateActions();
        onBusyMaybeChanged();
        return;
    }
    auto *panel = qobject_cast<CheckpointPanel *>(m_tabs->widget(index));
    if (!panel)
        return;
    m_panelLayout = panel->saveLayout();
    m_tabs->removeTab(index);
    panel->cancelLoad();
    panel->deleteLater();
    if (m_tabs->count() == 0) {
        m_stack->setCurrentWidget(m_welcome);
        updateWelcome();
    }
    updateStatus();
    updateActions();
    const bool busy = isBusy();
    if (busy != m_lastBusy) {
        m_lastBusy = busy;
        emit busyChanged(busy);
    }
}

void MainWindow::closeCurrentTab()
{
    if (m_tabs->count() > 0)
        closeTab(m_tabs->currentIndex());
}

void MainWindow::reloadCurrent()
{
    if (CheckpointPanel *p = currentPanel())
        p->reload();
    else if (ComparePanel *c = currentCompare())
        c->reload();
}

void MainWindow::showAbout()
{
    QString text;
    QFile f(QStringLiteral(":/about.html"));
    if (f.open(QIODevice::ReadOnly))
        text = QString::fromUtf8(f.readAll());
    text.replace(QStringLiteral("%VERSION%"), QStringLiteral(CKPT_VERSION));
    text.replace(QStringLiteral("%QT%"), QString::fromLatin1(qVersion()));
    QMessageBox box(this);
    box.setWindowTitle(tr("About Checkpoint Browser"));
    box.setIconPixmap(appIcon().pixmap(64, 64));
    box.setTextFormat(Qt::RichText);
    box.setText(text);
    box.exec();
}

void MainWindow::addRecent(const QString &path)
{
    m_recent.removeAll(path);
    m_recent.prepend(path);
    while (m_recent.size() > kMaxRecentFiles)
        m_recent.removeLast();
    if (m_persist)
        QSettings().setValue(QLatin1String(kRecentKey), m_recent);
    updateRecentMenu();
}

void MainWindow::updateRecentMenu()
{
    m_recentMenu->clear();
    int n = 0;
    for (const QString &path : std::as_const(m_recent)) {
        ++n;
        const QString label = n <= 9 ? QStringLiteral("&%1 %2").arg(n).arg(QFileInfo(path).fileName())
                                     : QFileInfo(path).fileName();
        QAction *a = m_recentMenu->addAction(label, this, [this, path] {
            if (!QFileInfo::exists(path)) {
                QMessageBox::warning(this, tr("Open Recent"), tr("%1 no longer exists.").arg(path));
                m_recent.removeAll(path);
                if (m_persist)
                    QSettings().setValue(QLatin1String(kRecentKey), m_recent);
                updateRecentMenu();
                return;
            }
            openFile(path);
        });
        a->setToolTip(path);
        a->setStatusTip(path);
    }
    if (m_recent.isEmpty()) {
        m_recentMenu->addAction(tr("(none)"))->setEnabled(false);
    } else {
        m_recentMenu->addSeparator();
        m_recentMenu->addAction(tr("Clear List"), this, [this] {
            m_recent.clear();
            if (m_persist)
                QSettings().setValue(QLatin1String(kRecentKey), m_recent);
            updateRecentMenu();
        });
    }
    updateWelcome();
}

void MainWindow::updateWelcome()
{
    QString html = tr("<h2>Checkpoint Browser</h2>"
                      "<p>Open a PyTorch checkpoint with <b>File ▸ Open</b> (Ctrl+O), a training folder with<br>"
                      "<b>File ▸ Open Folder</b> (Ctrl+Shift+O), or drop files or folders here;<br>"
                      "compare two with <b>File ▸ Compare with…</b> (Ctrl+D).<br>"
                      "Nothing from the file is executed; tensor data is read lazily.</p>");
    if (!m_recent.isEmpty()) {
        html += tr("<p><b>Recent files</b></p><p>");
        for (const QString &path : std::as_const(m_recent).mid(0, 6))
            html += QStringLiteral("<a href=\"%1\">%2</a><br>").arg(path.toHtmlEscaped(), path.toHtmlEscaped());
        html += QStringLiteral("</p>");
    }
    m_welcomeText->setText(html);
}

void MainWindow::updateTabTitle(CheckpointPanel *panel)
{
    const int index = m_tabs->indexOf(panel);
    if (index < 0)
        return;
    const QString name = QFileInfo(panel->filePath()).fileName();
    m_tabs->setTabText(index, panel->isLoading() ? name + QStringLiteral(" …") : name);
    QIcon icon = nodeIcon(NodeKind::File);
    const auto &cp = panel->loaded().data;
    if (cp && cp->hasDangerousGlobals())
        icon = dangerIcon();
    else if (cp && cp->error)
        icon = warningIcon();
    m_tabs->setTabIcon(index, icon);
    if (panel == currentPanel())
        setWindowTitle(tr("%1 — Checkpoint Browser").arg(name));
}

QStringList MainWindow::statusFields() const
{
    return {m_formatLabel->text(), m_tensorsLabel->text(), m_paramsLabel->text(), m_bytesLabel->text(),
            m_timeLabel->text()};
}

void MainWindow::updateStatus()
{
    CheckpointPanel *p = currentPanel();
    const bool loaded = p && p->hasCheckpoint();
    for (QLabel *l : {m_formatLabel, m_tensorsLabel, m_paramsLabel, m_bytesLabel, m_timeLabel})
        l->setVisible(loaded);
    if (!p) {
        ComparePanel *c = currentCompare();
        setWindowTitle(c ? tr("%1 — Checkpoint Browser").arg(c->title()) : tr("Checkpoint Browser"));
        return;
    }
    setWindowTitle(tr("%1 — Checkpoint Browser").arg(QFileInfo(p->filePath()).fileName()));
    if (!loaded)
        return;
    const auto &l = p->loaded();
    const auto &cp = *l.data;
    m_formatLabel->setText(qs(format::formatName(cp.format)) + (cp.error ? tr(" (incomplete)") : QString()));
    const CheckpointTotals &t = l.tree->totals();
    m_tensorsLabel->setText(t.tensors == 1 ? tr("1 tensor") : tr("%1 tensors").arg(groupedCount(t.tensors)));
    m_tensorsLabel->setToolTip(tr("%1 distinct tensors at %2 paths, in %3 storages")
                                   .arg(groupedCount(t.tensors), groupedCount(t.paths), groupedCount(t.storages)));
    if (t.hasModel) {
        // The model's parameters, as model.parameters() counts them: buffers and optimizer
        // state are not parameters (issue 16).
        m_paramsLabel->setText(tr("%1 parameters").arg(shortCount(t.parameters.elements)));
        m_paramsLabel->setToolTip(
            tr("Model %1: %2 parameters in %3 tensors; buffers: %4 elements in %5 tensors; "
               "other tensors (optimizer state, ...): %6 elements in %7")
                .arg(t.modelPath.empty() ? tr("(the root)") : qs(t.modelPath), groupedCount(t.parameters.elements),
                     groupedCount(t.parameters.tensors), groupedCount(t.buffers.elements),
                     groupedCount(t.buffers.tensors), groupedCount(t.other.elements), groupedCount(t.other.tensors)));
    } else {
        m_paramsLabel->setText(tr("%1 elements").arg(shortCount(t.elements)));
        m_paramsLabel->setToolTip(tr("%1 elements in all distinct tensors; the file does not say which of them "
                                     "are a model's parameters")
                                      .arg(groupedCount(t.elements)));
    }
    m_bytesLabel->setText(humanBytes(t.bytes));
    m_timeLabel->setText(tr("loaded in %1").arg(durationText(l.elapsedMs)));
}

void MainWindow::updateActions()
{
    const bool hasTab = currentPanel() != nullptr;
    const bool hasCompare = currentCompare() != nullptr;
    for (QAction *a : {m_reloadAction, m_closeAction, m_copyPathAction, m_findAction, m_expandAction,
                       m_collapseAction})
        if (a)
            a->setEnabled(hasTab || hasCompare);
    if (m_checkAction)
        m_checkAction->setEnabled(hasTab);
}

void MainWindow::restoreSettings()
{
    QSettings settings;
    restoreGeometry(settings.value(QLatin1String(kGeometryKey)).toByteArray());
    restoreState(settings.value(QLatin1String(kStateKey)).toByteArray());
    m_panelLayout = settings.value(QLatin1String(kPanelKey)).toByteArray();
    m_recent = settings.value(QLatin1String(kRecentKey)).toStringList();
    updateRecentMenu();
}

void MainWindow::saveSettings()
{
    if (!m_persist)
        return;
    QSettings settings;
    settings.setValue(QLatin1String(kGeometryKey), saveGeometry());
    settings.setValue(QLatin1String(kStateKey), saveState());
    if (CheckpointPanel *p = currentPanel())
        m_panelLayout = p->saveLayout();
    if (!m_panelLayout.isEmpty())
        settings.setValue(QLatin1String(kPanelKey), m_panelLayout);
    settings.setValue(QLatin1String(kRecentKey), m_recent);
}

void MainWindow::dragEnterEvent(QDragEnterEvent *event)
{
    if (!event->mimeData()->hasUrls())
        return;
    for (const QUrl &url : event->mimeData()->urls()) {
        if (url.isLocalFile()) {
            event->acceptProposedAction();
            return;
        }
    }
}

void MainWindow::dropEvent(QDropEvent *event)
{
    bool any = false;
    for (const QUrl &url : event->mimeData()->urls()) {
        const QFileInfo info(url.toLocalFile());
        if (url.isLocalFile() && (info.isFile() || info.isDir())) { // a folder opens as one checkpoint
            openFile(url.toLocalFile());
            any = true;
        }
    }
    if (any)
        event->acceptProposedAction();
}

void MainWindow::closeEvent(QCloseEvent *event)
{
    saveSettings();
    for (CheckpointPanel *p : panels())
        p->cancelLoad();
    for (ComparePanel *c : comparePanels())
        c->cancel();
    QMainWindow::closeEvent(event);
}

} // namespace ckpt
