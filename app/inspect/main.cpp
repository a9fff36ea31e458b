// SPDX-License-Identifier: MIT
// ckpt-inspect: the command-line companion (PRODUCT.md section 4). Links no QtWidgets.

#include "diffengine.h"
#include "inspectreport.h"
#include "trainingstate.h"

#include <QCommandLineParser>
#include <QCoreApplication>

#include <cstdio>
#include <cstdlib>
#include <iostream>

namespace {

constexpr int kExitOk = 0;
constexpr int kExitDangerous = 1;
constexpr int kExitUnreadable = 2;

const char *const kUsage =
    "Usage: ckpt-inspect COMMAND [options] FILE [PATH...]\n"
    "       ckpt-inspect diff [options] A B\n"
    "\n"
    "Inspect PyTorch checkpoints without Python and without executing anything from the file.\n"
    "\n"
    "Commands:\n"
    "  ls FILE              list every tensor: path, dtype, shape, elements, bytes\n"
    "  stats FILE [PATH...] statistics and histograms (PATH: exact paths or shell globs)\n"
    "  scan FILE            the Python globals the file references; exit status 1 if any\n"
    "                       would run code under torch.load\n"
    "  optim FILE           optimizer state: per-parameter state mapped to parameter names\n"
    "  diff A B             compare two checkpoints by path: status (same, changed, added,\n"
    "                       removed, shape, dtype) and change metrics per tensor, plain\n"
    "                       values (epoch, lr, loss, args) too; any two formats\n"
    "\n"
    "Options:\n"
    "  --json               machine-readable output (PRODUCT.md section 4)\n"
    "  --bins N             histogram bins for stats (default 64)\n"
    "  --threads N          worker threads for stats and diff (default: all cores)\n"
    "  --strip-prefix P     diff: remove P from the start of every key on both sides before\n"
    "                       matching (e.g. module. of DataParallel checkpoints)\n"
    "  -h, --help           this help\n"
    "  -v, --version        the version\n"
    "\n"
    "Exit status: 0 success, 1 scan found dangerous globals, 2 the file could not be read\n"
    "(what could be read is still printed).\n";

void printJson(const ckpt::Json &j)
{
    std::cout << ckpt::dumpJson(j) << '\n';
}

int usageError(const QString &message)
{
    std::cerr << "ckpt-inspect: " << message.toStdString() << "\n\n" << kUsage;
    return kExitUnreadable;
}

// `diff A B`: exit status 2 when either file could not be read completely (then the diff covers
// what was read, and the entries whose tensors could not be read say why).
int runDiff(const std::string &fileA, const std::string &fileB, bool json, unsigned threads,
            const std::string &stripPrefix)
{
    const auto a = ckpt::format::readCheckpoint(fileA);
    const auto b = ckpt::format::readCheckpoint(fileB);
    if (!a || !b) {
        std::cerr << "ckpt-inspect: " << (a ? fileB : fileA) << ": out of memory\n";
        return kExitUnreadable;
    }
    ckpt::DiffOptions options;
    options.stripPrefix = stripPrefix;
    options.threads = threads;
    try {
        const ckpt::DiffResult result = ckpt::diffCheckpoints(*a, *b, options);
        if (stripPrefix.empty()) {
            for (const auto &[file, prefix] : {std::pair{fileA, result.detectedA}, std::pair{fileB, result.detectedB}})
                if (!prefix.empty())
                    std::cerr << "ckpt-inspect: note: the state-dict keys of " << file << " start with '" << prefix
                              << "'; --strip-prefix " << prefix << " matches them with the other file's\n";
        }
        const ckpt::Json report = ckpt::diffReport(*a, *b, result);
        if (json)
            printJson(report);
        else
            std::cout << ckpt::diffTable(report);
    } catch (const std::exception &e) {
        std::cerr << "ckpt-inspect: " << fileA << " vs " << fileB << ": " << e.what() << '\n';
        return kExitUnreadable;
    }
    int status = kExitOk;
    for (const auto *data : {a.get(), b.get()}) {
        if (!data->ok()) {
            std::cerr << "ckpt-inspect: " << ckpt::errorLine(*data) << '\n';
            status = kExitUnreadable;
            continue;
        }
        for (const auto &f : data->files)
            if (f->changedOnDisk()) {
                std::cerr << "ckpt-inspect: " << f->path() << ": " << ckpt::format::kFileChangedMessage << '\n';
                status = kExitUnreadable;
                break;
            }
    }
    return status;
}

} // namespace

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("ckpt-inspect"));
    QCoreApplication::setApplicationVersion(QStringLiteral(CKPT_VERSION));

    QCommandLineParser parser;
    parser.setOptionsAfterPositionalArgumentsMode(QCommandLineParser::ParseAsOptions);
    const QCommandLineOption jsonOption(QStringLiteral("json"));
    const QCommandLineOption binsOption(QStringLiteral("bins"), QString(), QStringLiteral("N"), QStringLiteral("64"));
    const QCommandLineOption threadsOption(QStringLiteral("threads"), QString(), QStringLiteral("N"),
                                           QStringLiteral("0"));
    const QCommandLineOption helpOption(QStringList{QStringLiteral("h"), QStringLiteral("help")});
    const QCommandLineOption versionOption(QStringList{QStringLiteral("v"), QStringLiteral("version")});
    const QCommandLineOption stripOption(QStringLiteral("strip-prefix"), QString(), QStringLiteral("P"));
    parser.addOptions({jsonOption, binsOption, threadsOption, stripOption, helpOption, versionOption});
    if (!parser.parse(QCoreApplication::arguments()))
        return usageError(parser.errorText());
    if (parser.isSet(helpOption)) {
        std::cout << kUsage;
        return kExitOk;
    }
    if (parser.isSet(versionOption)) {
        std::cout << "ckpt-inspect " << CKPT_VERSION << '\n';
        return kExitOk;
    }
    const QStringList args = parser.positionalArguments();
    if (args.isEmpty())
        return usageError(QStringLiteral("no command given"));
    const QString command = args.first();
    if (command != QLatin1String("ls") && command != QLatin1String("stats") && command != QLatin1String("scan")
        && command != QLatin1String("optim") && command != QLatin1String("diff"))
        return usageError(QStringLiteral("unknown command '%1'").arg(command));
    const bool diff = command == QLatin1String("diff");
    if (diff && args.size() != 3)
        return usageError(QStringLiteral("diff takes two files: diff A B"));
    if (!diff && parser.isSet(stripOption))
        return usageError(QStringLiteral("--strip-prefix is an option of diff"));
    if (args.size() < 2)
        return usageError(QStringLiteral("%1 needs a FILE").arg(command));
    if (command != QLatin1String("stats") && !diff && args.size() > 2)
        return usageError(QStringLiteral("%1 takes one FILE").arg(command));

    bool ok = false;
    const int bins = parser.value(binsOption).toInt(&ok);
    if (!ok || bins < 1 || bins > 1'000'000)
        return usageError(QStringLiteral("--bins takes a number from 1 to 1000000"));
    const int threads = parser.value(threadsOption).toInt(&ok);
    if (!ok || threads < 0 || threads > 1024)
        return usageError(QStringLiteral("--threads takes a number from 0 to 1024"));
    const bool json = parser.isSet(jsonOption);
    if (diff) {
        const int status = runDiff(args.at(1).toStdString(), args.at(2).toStdString(), json,
                                   static_cast<unsigned>(threads), parser.value(stripOption).toStdString());
        // As below: the value graphs go back to the system with the process.
        std::cout.flush();
        std::cerr.flush();
        std::_Exit(status);
    }

    const std::string file = args.at(1).toStdString();
    const auto data = ckpt::format::readCheckpoint(file);
    if (!data) {
        std::cerr << "ckpt-inspect: " << file << ": out of memory\n";
        return kExitUnreadable;
    }

    int status = kExitOk;
    try {
        if (command == QLatin1String("ls")) {
            if (json)
                printJson(ckpt::lsReport(*data));
            else
                std::cout << ckpt::lsTable(*data);
        } else if (command == QLatin1String("stats")) {
            ckpt::StatsSelection request;
            for (qsizetype i = 2; i < args.size(); ++i)
                request.patterns.push_back(args.at(i).toStdString());
            request.bins = bins;
            request.threads = static_cast<unsigned>(threads);
            const ckpt::Json report = ckpt::statsReport(*data, request);
            if (!request.patterns.empty() && report["stats"].empty() && data->ok()) {
                std::cerr << "ckpt-inspect: " << file << ": no tensor matches the given paths\n";
                status = kExitUnreadable;
            }
            if (json)
                printJson(report);
            else
                std::cout << ckpt::statsTable(report);
        } else if (command == QLatin1String("optim")) {
            const ckpt::Json report = ckpt::optimReport(*data);
            if (json)
                printJson(report);
            else
                std::cout << ckpt::optimTable(report);
        } else {
            if (json)
                printJson(ckpt::scanReport(*data));
            else
                std::cout << ckpt::scanTable(*data);
            if (data->hasDangerousGlobals())
                status = kExitDangerous;
        }
    } catch (const std::exception &e) {
        std::cerr << "ckpt-inspect: " << file << ": " << e.what() << '\n';
        return kExitUnreadable;
    }
    if (!data->ok()) {
        std::cerr << "ckpt-inspect: " << ckpt::errorLine(*data) << '\n';
        status = kExitUnreadable;
    } else {
        // Issue 6: a file truncated or rewritten while its tensors were read.
        for (const auto &f : data->files)
            if (f->changedOnDisk()) {
                std::cerr << "ckpt-inspect: " << f->path() << ": " << ckpt::format::kFileChangedMessage << '\n';
                status = kExitUnreadable;
                break;
            }
    }
    // Tearing down a graph of millions of nodes costs more than reading it; the process is
    // about to end, so the memory goes back to the system without it.
    std::cout.flush();
    std::cerr.flush();
    std::_Exit(status);
}
