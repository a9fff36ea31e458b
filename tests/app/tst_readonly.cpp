// SPDX-License-Identifier: MIT
// Issue 6, part 5 (PRODUCT.md section 6): the program never writes to the files it opens.
// Every fixture (every format: zip, legacy, tar, TorchScript, safetensors, sharded indexes,
// plain pickles, optimizer checkpoints, malicious files) is copied into a directory, the files
// made 0444 and the directories 0555; then every ckpt-inspect command runs on every file and
// the GUI opens each one (CheckpointPanel in-process: tree, statistics, values, the tensor
// check; and ckpt-browser --screenshot as a subprocess). Afterwards every byte (SHA-256), size
// and modification time must be unchanged and no file may have appeared or disappeared.
//
// The tests run as root in CI, and root ignores file modes (CAP_DAC_OVERRIDE): a write would
// succeed there, so the modes alone prove nothing and the hashes are the real check. Dropping
// privileges is not an option: the test cannot assume a spare unprivileged account that may
// read the build tree, and setuid() in a multi-threaded Qt process is unsafe.
#include "checkpointreader.h"
#include "tensorstats.h"

#ifdef CKPT_WITH_GUI
#include "checkpointpanel.h"
#include "tensordetailspanel.h"
#include "tensorfilterproxymodel.h"

#include <QAbstractItemModelTester>
#include <QApplication>
#endif

#include <QCryptographicHash>
#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QProcess>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <map>

#include <sys/stat.h>

namespace {

struct FileState
{
    QByteArray sha256;
    qint64 size = -1;
    qint64 mtimeNs = 0;
    mode_t mode = 0;
    bool operator==(const FileState &o) const
    {
        return sha256 == o.sha256 && size == o.size && mtimeNs == o.mtimeNs && mode == o.mode;
    }
};

/// Every file and directory under `root`, with hash, size, mtime (ns) and mode.
std::map<QString, FileState> snapshot(const QString &root)
{
    std::map<QString, FileState> out;
    QDirIterator it(root, QDir::AllEntries | QDir::Hidden | QDir::System | QDir::NoDotAndDotDot,
                    QDirIterator::Subdirectories);
    while (it.hasNext()) {
        const QString path = it.next();
        FileState s;
        struct stat st {};
        if (::lstat(QFile::encodeName(path).constData(), &st) == 0) {
            s.size = static_cast<qint64>(st.st_size);
            s.mtimeNs = static_cast<qint64>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
            s.mode = st.st_mode;
        }
        if (S_ISREG(st.st_mode)) {
            QFile f(path);
            if (f.open(QIODevice::ReadOnly)) {
                QCryptographicHash h(QCryptographicHash::Sha256);
                h.addData(&f);
                s.sha256 = h.result();
            }
        }
        out[QDir(root).relativeFilePath(path)] = s;
    }
    return out;
}

void setModes(const QString &root, bool readOnly)
{
    QDirIterator it(root, QDir::AllEntries | QDir::NoDotAndDotDot, QDirIterator::Subdirectories);
    QStringList dirs{root};
    while (it.hasNext()) {
        const QString path = it.next();
        if (it.fileInfo().isDir())
            dirs << path;
        else
            ::chmod(QFile::encodeName(path).constData(), readOnly ? 0444 : 0644);
    }
    for (const QString &d : dirs)
        ::chmod(QFile::encodeName(d).constData(), readOnly ? 0555 : 0755);
}

bool copyTree(const QString &from, const QString &to)
{
    QDir().mkpath(to);
    QDirIterator it(from, QDir::AllEntries | QDir::NoDotAndDotDot, QDirIterator::Subdirectories);
    while (it.hasNext()) {
        const QString path = it.next();
        const QString target = to + QLatin1Char('/') + QDir(from).relativeFilePath(path);
        if (it.fileInfo().isDir()) {
            if (!QDir().mkpath(target))
                return false;
        } else if (!QFile::copy(path, target)) {
            return false;
        }
    }
    return true;
}

/// The checkpoints in the copy: single files and, for sharded ones, the index.
QStringList checkpoints(const QString &root)
{
    QStringList out;
    QDirIterator it(root, QDir::Files, QDirIterator::Subdirectories);
    while (it.hasNext()) {
        const QString path = it.next();
        const bool shard = path.contains(QLatin1String("sharded_")) && !path.endsWith(QLatin1String(".index.json"));
        if (!shard)
            out << path;
    }
    out.sort();
    return out;
}

} // namespace

class TestReadOnly : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase()
    {
        QVERIFY(m_tmp.isValid());
        m_root = m_tmp.path() + QStringLiteral("/fixtures");
        QVERIFY(copyTree(QStringLiteral(CKPT_FIXTURES_DIR "/files"), m_root));
        m_files = checkpoints(m_root);
        QVERIFY(m_files.size() >= 40);
        setModes(m_root, true);
        m_before = snapshot(m_root);
        QVERIFY(m_before.size() > static_cast<std::size_t>(m_files.size()));
        for (const auto &[path, state] : m_before)
            if (S_ISREG(state.mode))
                QCOMPARE(state.mode & 0777, mode_t(0444));
    }

    void cleanupTestCase()
    {
        setModes(m_root, false); // so that QTemporaryDir can remove it
    }

    /// Every ckpt-inspect command on every file (and diff on neighbouring pairs).
    void everyInspectCommand()
    {
        int runs = 0;
        auto run = [&](const QStringList &args) {
            QProcess p;
            p.setWorkingDirectory(m_root); // a read-only working directory: nothing lands there
            p.start(QStringLiteral(CKPT_INSPECT_EXE), args);
            QVERIFY(p.waitForFinished(60000));
            QCOMPARE(p.exitStatus(), QProcess::NormalExit);
            QVERIFY2(p.exitCode() >= 0 && p.exitCode() <= 2, qPrintable(args.join(QLatin1Char(' '))));
            ++runs;
        };
        for (const QString &file : m_files) {
            for (const char *command : {"ls", "stats", "scan", "optim"}) {
                run({QLatin1String(command), file});
                run({QLatin1String(command), QStringLiteral("--json"), file});
            }
        }
        for (qsizetype i = 0; i + 1 < m_files.size(); ++i)
            run({QStringLiteral("diff"), QStringLiteral("--json"), m_files[i], m_files[i + 1]});
        QVERIFY(runs > 8 * m_files.size());
        QVERIFY(snapshot(m_root) == m_before);
    }

    /// The reader itself, with statistics of every tensor.
    void readerAndStatistics()
    {
        for (const QString &file : m_files) {
            const auto data = ckpt::format::readCheckpoint(file.toStdString());
            QVERIFY(data);
            for (std::size_t i = 0; i < data->tensors.size(); ++i) {
                const auto view = ckpt::format::tensorView(*data, static_cast<int>(i));
                if (view.view && view.view->numel() > 0) {
                    try {
                        ckpt::format::computeStats(*view.view);
                    } catch (const ckpt::format::FormatError &) {
                        // undecodable dtypes: not this test's concern
                    }
                }
            }
        }
        QVERIFY(snapshot(m_root) == m_before);
    }

#ifdef CKPT_WITH_GUI
    /// The GUI: every file opened in a CheckpointPanel (reading, tree, the tensor check, the
    /// statistics and values of the first tensor), then closed.
    void panelOpensEveryFile()
    {
        for (const QString &file : m_files) {
            ckpt::CheckpointPanel panel;
            QAbstractItemModelTester tester(panel.proxy(), QAbstractItemModelTester::FailureReportingMode::QtTest);
            QSignalSpy loaded(&panel, &ckpt::CheckpointPanel::loadFinished);
            panel.open(file);
            QTRY_VERIFY_WITH_TIMEOUT(loaded.count() == 1, 30000);
            if (!panel.loaded().data->paths.empty()) {
                QVERIFY(panel.selectPath(QString::fromStdString(panel.loaded().data->paths.front().path())));
                panel.showValuesTab(true);
            }
            panel.checkAllTensors();
            QTRY_VERIFY_WITH_TIMEOUT(!panel.isBusy(), 30000);
        }
        QVERIFY(snapshot(m_root) == m_before);
    }

#ifdef CKPT_BROWSER_EXE
    /// ckpt-browser --select ... --screenshot on a few kinds (the screenshot goes elsewhere).
    void browserScreenshot()
    {
        QTemporaryDir out;
        const QStringList picks{QStringLiteral("/training_ckpt.pt"), QStringLiteral("/legacy.pt"),
                                QStringLiteral("/dtypes.safetensors"), QStringLiteral("/sharded_st/model.safetensors.index.json")};
        for (const QString &pick : picks) {
            QStringList args{m_root + pick, QStringLiteral("--screenshot"), out.path() + QStringLiteral("/shot.png")};
            const auto data = ckpt::format::readCheckpoint((m_root + pick).toStdString());
            if (!data->paths.empty())
                args << QStringLiteral("--select") << QString::fromStdString(data->paths.front().path());
            QProcess p;
            p.setWorkingDirectory(m_root);
            p.start(QStringLiteral(CKPT_BROWSER_EXE), args);
            QVERIFY(p.waitForFinished(60000));
            QCOMPARE(p.exitStatus(), QProcess::NormalExit);
            QCOMPARE(p.exitCode(), 0);
            QVERIFY(QFile::exists(out.path() + QStringLiteral("/shot.png")));
        }
        QVERIFY(snapshot(m_root) == m_before);
    }
#endif
#endif

private:
    QTemporaryDir m_tmp;
    QString m_root;
    QStringList m_files;
    std::map<QString, FileState> m_before;
};

#ifdef CKPT_WITH_GUI
QTEST_MAIN(TestReadOnly)
#else
QTEST_GUILESS_MAIN(TestReadOnly)
#endif
#include "tst_readonly.moc"
