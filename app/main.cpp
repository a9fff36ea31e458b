// SPDX-License-Identifier: MIT
#include "checkpointpanel.h"
#include "comparepanel.h"
#include "kindicons.h"
#include "mainwindow.h"
#include "screenshotter.h"
#include "tensordetailspanel.h"
#include "themesupport.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QFileInfo>
#include <QRegularExpression>
#include <QStyle>
#include <QTimer>

#include <cstdio>
#include <cstring>

using namespace ckpt;

int main(int argc, char *argv[])
{
    // --screenshot, --help and --version need no display: fall back to the offscreen platform
    // when there is none (QApplication would abort before the parser runs).
    for (int i = 1; i < argc; ++i) {
        const bool headless = std::strncmp(argv[i], "--screenshot", 12) == 0 || std::strcmp(argv[i], "--help") == 0
                              || std::strcmp(argv[i], "-h") == 0 || std::strcmp(argv[i], "--help-all") == 0
                              || std::strcmp(argv[i], "--version") == 0 || std::strcmp(argv[i], "-v") == 0;
        if (headless && qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM") && qEnvironmentVariableIsEmpty("DISPLAY")
            && qEnvironmentVariableIsEmpty("WAYLAND_DISPLAY"))
            qputenv("QT_QPA_PLATFORM", "offscreen");
    }
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("ckpt-browser"));
    QApplication::setApplicationDisplayName(QStringLiteral("Checkpoint Browser"));
    QApplication::setOrganizationName(QStringLiteral("CheckpointBrowser"));
    QApplication::setApplicationVersion(QStringLiteral(CKPT_VERSION));
    QApplication::setDesktopFileName(QStringLiteral("ckpt-browser"));
    QApplication::setWindowIcon(appIcon());

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Browse PyTorch checkpoints safely (nothing is executed) and instantly (tensor bytes are read "
        "lazily)."));
    parser.addHelpOption();
    parser.addVersionOption();
    parser.addPositionalArgument(QStringLiteral("FILE"), QStringLiteral("Checkpoints to open, one tab each."),
                                 QStringLiteral("[FILE...]"));
    QCommandLineOption select(QStringLiteral("select"),
                              QStringLiteral("Select PATH in the last file's tree once loaded. Both the raw "
                                             "path (model_state_dict/conv1.weight) and the tree path "
                                             "(model_state_dict/conv1/weight) are accepted; \"\" selects the file."),
                              QStringLiteral("PATH"));
    QCommandLineOption screenshot(QStringLiteral("screenshot"),
                                  QStringLiteral("Render the window to OUT.png once everything is loaded and "
                                                 "computed, then exit. Works without a display."),
                                  QStringLiteral("OUT.png"));
    QCommandLineOption tab(QStringLiteral("tab"),
                           QStringLiteral("Tensor details tab to show: statistics (default), values or "
                                          "chunks (a DCP tensor's)."),
                           QStringLiteral("NAME"));
    QCommandLineOption size(QStringLiteral("size"),
                            QStringLiteral("Window size for --screenshot (default 1440x900)."),
                            QStringLiteral("WxH"));
    QCommandLineOption paletteOption(QStringLiteral("palette"),
                                     QStringLiteral("Colours: system (default), light or dark (the Fusion style "
                                                    "with a light or dark palette)."),
                                     QStringLiteral("NAME"), QStringLiteral("system"));
    QCommandLineOption filter(QStringLiteral("filter"), QStringLiteral("Filter the tree by TEXT."),
                              QStringLiteral("TEXT"));
    // `--compare A B` takes two values, which QCommandLineParser cannot: they are taken out of
    // the arguments here and the option is only declared for --help.
    QCommandLineOption compare(QStringLiteral("compare"),
                               QStringLiteral("Compare checkpoint A with checkpoint B in a compare tab "
                                              "(--select, --filter then apply to it)."),
                               QStringLiteral("A B"));
    QStringList arguments = QCoreApplication::arguments();
    QStringList comparePair;
    for (qsizetype i = 1; i < arguments.size(); ++i) {
        if (arguments[i] != QLatin1String("--compare") && arguments[i] != QLatin1String("-compare"))
            continue;
        if (i + 2 >= arguments.size()) {
            std::fprintf(stderr, "ckpt-browser: --compare needs two files: --compare A B\n");
            return 2;
        }
        comparePair = arguments.mid(i + 1, 2);
        arguments.remove(i, 3);
        break;
    }
    parser.addOption(select);
    parser.addOption(screenshot);
    parser.addOption(tab);
    parser.addOption(size);
    parser.addOption(filter);
    parser.addOption(compare);
    parser.addOption(paletteOption);
    parser.process(arguments);
    const QString paletteName = parser.value(paletteOption);
    if (paletteName == QLatin1String("dark") || paletteName == QLatin1String("light")) {
        QApplication::setStyle(QStringLiteral("Fusion"));
        QApplication::setPalette(paletteName == QLatin1String("dark") ? darkPalette()
                                                                        : QApplication::style()->standardPalette());
    } else if (paletteName != QLatin1String("system")) {
        std::fprintf(stderr, "ckpt-browser: --palette takes system, light or dark\n");
        return 2;
    }

    const bool shooting = parser.isSet(screenshot);
    MainWindow window;
    window.setPersistSettings(!shooting);
    if (shooting) {
        int w = 1440, h = 900;
        const auto m = QRegularExpression(QStringLiteral("^(\\d+)x(\\d+)$")).match(parser.value(size));
        if (m.hasMatch()) {
            w = std::clamp(m.captured(1).toInt(), 400, 8000);
            h = std::clamp(m.captured(2).toInt(), 300, 8000);
        }
        window.resize(w, h);
    } else {
        window.restoreSettings();
    }
    window.show();

    CheckpointPanel *last = nullptr;
    for (const QString &file : parser.positionalArguments()) {
        // A missing or unreadable file gets its tab too, showing why (issue 16): the reader
        // names the file and the error.
        if (!QFileInfo::exists(file))
            std::fprintf(stderr, "ckpt-browser: %s: no such file\n", qPrintable(file));
        last = window.openFile(file);
        if (shooting)
            last->setWatchingFile(false);
    }
    if (!comparePair.isEmpty()) {
        bool ok = true;
        for (const QString &f : std::as_const(comparePair)) {
            if (!QFileInfo::exists(f)) {
                std::fprintf(stderr, "ckpt-browser: %s: no such file\n", qPrintable(f));
                ok = false;
            }
        }
        if (!ok)
            return 2;
        ComparePanel *c = window.openCompare(comparePair[0], comparePair[1]);
        if (parser.isSet(filter))
            c->setFilterText(parser.value(filter));
        if (parser.isSet(select)) {
            const QString path = parser.value(select);
            QObject::connect(c, &ComparePanel::aligned, c, [c, path] {
                if (c->currentPath() != path && !c->selectPath(path))
                    std::fprintf(stderr, "ckpt-browser: no row at path '%s' in the comparison\n",
                                 qPrintable(path));
            }, Qt::SingleShotConnection);
            c->selectPath(path);
        }
        last = nullptr; // --select, --filter and --tab went to the comparison
    }
    if (last) {
        if (parser.isSet(filter))
            last->setFilterText(parser.value(filter));
        if (parser.value(tab) == QLatin1String("values"))
            last->showValuesTab(true);
        else if (parser.value(tab) == QLatin1String("chunks"))
            last->showTensorTab(TensorDetailsPanel::ChunksTab);
        if (parser.isSet(select)) {
            const QString path = parser.value(select);
            QObject::connect(last, &CheckpointPanel::loadFinished, last, [last, path] {
                if (last->currentPath() != path && !last->selectPath(path))
                    std::fprintf(stderr, "ckpt-browser: no row at path '%s' in %s\n", qPrintable(path),
                                 qPrintable(last->filePath()));
            }, Qt::SingleShotConnection);
            last->selectPath(path);
        }
    }

    if (shooting) {
        auto *shooter = new Screenshotter(&window, parser.value(screenshot));
        QObject::connect(shooter, &Screenshotter::done, &app, [](bool ok, const QString &message) {
            if (!message.isEmpty())
                std::fprintf(stderr, "ckpt-browser: %s\n", qPrintable(message));
            QCoreApplication::exit(ok ? 0 : 1);
        });
        shooter->start();
    }
    return app.exec();
}
