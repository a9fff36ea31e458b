// SPDX-License-Identifier: MIT
// Issue 6, part 4: files that are truncated or rewritten while they are open (a training loop
// overwriting last.ckpt). Reading a memory-mapped page past the new end of a file raises SIGBUS;
// none of this may crash, every pass must end in a clear "changed on disk" error instead of
// numbers made from whatever the pages held, and the GUI must offer the reload.
#include "checkpointreader.h"
#include "formaterror.h"
#include "mappedfile.h"
#include "tensorstats.h"

#ifdef CKPT_WITH_GUI
#include "checkpointpanel.h"
#include "messagebar.h"
#include "tensordetailspanel.h"
#include "tensorfilterproxymodel.h"

#include <QAbstractItemModelTester>
#include <QApplication>
#include <QToolButton>
#endif

#include <nlohmann/json.hpp>

#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QProcess>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <atomic>
#include <cstring>
#include <fstream>
#include <thread>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace ckpt::format;

namespace {

// 8,000,000 float32 values (32 MB): value(i) = (i % 1000) * 0.5. Every statistic follows from the
// formula, so a pass that read pages of zeros cannot pass for a correct one.
constexpr std::uint64_t kCount = 8000000;
float valueAt(std::uint64_t i)
{
    return static_cast<float>(i % 1000) * 0.5f;
}

std::string safetensorsHeader(std::uint64_t count)
{
    std::string json = R"({"w":{"dtype":"F32","shape":[)" + std::to_string(count)
                       + R"(],"data_offsets":[0,)" + std::to_string(count * 4) + "]}}";
    while ((json.size() + 8) % 8)
        json += ' ';
    std::string out(8, '\0');
    const std::uint64_t n = json.size();
    std::memcpy(out.data(), &n, 8); // little-endian host (x86-64, as the project targets)
    return out + json;
}

std::string fileContents(std::uint64_t count, float scale = 1.0f)
{
    std::string out = safetensorsHeader(count);
    const std::size_t at = out.size();
    out.resize(at + count * 4);
    for (std::uint64_t i = 0; i < count; ++i) {
        const float v = valueAt(i) * scale;
        std::memcpy(out.data() + at + i * 4, &v, 4);
    }
    return out;
}

#ifdef CKPT_WITH_GUI
/// Copies the files of folder `from` (dot files too) into a new folder `to`.
bool copyFolder(const QString &from, const QString &to)
{
    if (!QDir().mkpath(to))
        return false;
    for (const QString &f : QDir(from).entryList(QDir::Files | QDir::Hidden))
        if (!QFile::copy(from + QLatin1Char('/') + f, to + QLatin1Char('/') + f))
            return false;
    return true;
}
/// Shows `panel`, opens `path` and waits until it is loaded (the first loadFinished).
bool openAndWait(ckpt::CheckpointPanel &panel, QSignalSpy &loaded, const QString &path)
{
    panel.resize(1200, 800);
    panel.show();
    panel.open(path);
    return QTest::qWaitFor([&] { return loaded.count() == 1 && !panel.isBusy(); }, 30000);
}
#endif

/// Writes in place the way torch.save does (open with truncation, then write), which is what
/// hurts a reader that has the file mapped.
void writeInPlace(const std::string &path, const std::string &bytes)
{
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    QVERIFY(fd >= 0);
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        QVERIFY(n > 0);
        done += static_cast<std::size_t>(n);
    }
    ::close(fd);
}

/// An old modification time, so that a rewrite within the same clock tick still shows.
void backdate(const std::string &path)
{
    struct timespec times[2] = {{1500000000, 0}, {1500000000, 0}};
    QCOMPARE(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
}

enum class Change { Truncate, TruncateToZero, RewriteSameSize, RewriteShorter };

void applyChange(Change change, const std::string &path, std::uint64_t size)
{
    switch (change) {
    case Change::Truncate:
        QCOMPARE(::truncate(path.c_str(), static_cast<off_t>(size / 3)), 0);
        break;
    case Change::TruncateToZero:
        QCOMPARE(::truncate(path.c_str(), 0), 0);
        break;
    case Change::RewriteSameSize:
        writeInPlace(path, fileContents(kCount, 2.0f));
        break;
    case Change::RewriteShorter:
        writeInPlace(path, fileContents(kCount / 4, 2.0f));
        break;
    }
}

/// The statistics every correct pass over fileContents(kCount) must give (exact: each value is
/// a multiple of 0.5 below 500, so sums in double are exact).
void checkTrueStats(const TensorStats &s)
{
    QCOMPARE(s.numel, kCount);
    QCOMPARE(s.finite, kCount);
    QCOMPARE(s.zeros, kCount / 1000);
    QCOMPARE(*s.min, 0.0);
    QCOMPARE(*s.max, 499.5);
    QCOMPARE(*s.mean, 249.75);
    std::uint64_t histTotal = 0;
    for (auto c : s.hist)
        histTotal += c;
    QCOMPARE(histTotal, kCount);
    QCOMPARE(s.hist.front(), kCount / 1000 * 16); // 0, 0.5, ... 7.5 below 499.5/64 = 7.8
}

bool isChangedError(const FormatError &e)
{
    return e.kind() == FormatError::Kind::Io && e.message() == kFileChangedMessage;
}

} // namespace

class TestFileChange : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
    }

    /// A statistics pass on 8 threads over a tensor whose file is truncated or rewritten in
    /// the middle of the pass (from inside the pass: the progress callback runs on a worker
    /// after the first ~4 MB): no crash, and FormatError(Io, "changed on disk") instead of
    /// statistics.
    void statsPassWhileFileChanges_data()
    {
        QTest::addColumn<int>("change");
        QTest::addColumn<bool>("faults"); // reading past the new end must have raised SIGBUS
        QTest::newRow("truncated to a third") << int(Change::Truncate) << true;
        QTest::newRow("truncated to zero") << int(Change::TruncateToZero) << true;
        QTest::newRow("rewritten, same size") << int(Change::RewriteSameSize) << false;
        QTest::newRow("rewritten, shorter") << int(Change::RewriteShorter) << true;
    }
    void statsPassWhileFileChanges()
    {
        QFETCH(int, change);
        QFETCH(bool, faults);
        const std::string path = (m_dir.path() + QStringLiteral("/pass.safetensors")).toStdString();
        const std::string bytes = fileContents(kCount);
        writeInPlace(path, bytes);
        backdate(path);

        const auto data = readCheckpoint(path);
        QVERIFY(data->ok());
        QCOMPARE(data->tensors.size(), std::size_t(1));
        const TensorViewResult tv = tensorView(*data, 0);
        QVERIFY(tv.view);
        {
            // Unchanged, the same pass gives the true statistics.
            StatsOptions options;
            options.threads = 8;
            checkTrueStats(computeStats(*tv.view, options));
            QVERIFY(!data->files[0]->changedOnDisk());
        }

        const std::uint64_t faultsBefore = MappedFile::faultCount();
        std::atomic<bool> changed{false};
        StatsOptions options;
        options.threads = 8;
        options.progress = [&](std::uint64_t done, std::uint64_t total) {
            if (done < total && !changed.exchange(true))
                applyChange(static_cast<Change>(change), path, bytes.size());
            return true;
        };
        bool threw = false;
        try {
            computeStats(*tv.view, options);
        } catch (const FormatError &e) {
            threw = true;
            QVERIFY2(isChangedError(e), e.what());
        }
        QVERIFY(changed);
        QVERIFY2(threw, "statistics of a file that changed during the pass were returned");
        QVERIFY(data->files[0]->changedOnDisk());
        if (faults)
            QVERIFY(MappedFile::faultCount() > faultsBefore);

        // The reader answers the same for the file it still holds, and a fresh read sees the
        // new file.
        const auto again = readCheckpoint(path);
        if (static_cast<Change>(change) == Change::RewriteSameSize) {
            QVERIFY(again->ok());
            StatsOptions plain;
            const TensorStats s = computeStats(*tensorView(*again, 0).view, plain);
            QCOMPARE(*s.max, 999.0);
        } else {
            QVERIFY(!again->ok() || again->tensors.size() == 1);
        }
    }

    /// A writer that keeps truncating and restoring the file while statistics run again and
    /// again: every pass either gives the true statistics or fails with "changed on disk".
    void racingWriterNeverYieldsGarbage()
    {
        const std::string path = (m_dir.path() + QStringLiteral("/race.safetensors")).toStdString();
        const std::string bytes = fileContents(kCount);
        writeInPlace(path, bytes);
        backdate(path);
        const auto data = readCheckpoint(path);
        QVERIFY(data->ok());
        const TensorViewResult tv = tensorView(*data, 0);
        QVERIFY(tv.view);

        std::atomic<bool> stop{false};
        std::thread writer([&] {
            while (!stop) {
                (void)::truncate(path.c_str(), static_cast<off_t>(bytes.size() / 2));
                std::this_thread::sleep_for(std::chrono::milliseconds(3));
                (void)::truncate(path.c_str(), static_cast<off_t>(bytes.size()));
                std::this_thread::sleep_for(std::chrono::milliseconds(3));
            }
        });
        int failed = 0;
        int succeeded = 0;
        for (int round = 0; round < 12; ++round) {
            StatsOptions options;
            options.threads = 8;
            try {
                const TensorStats s = computeStats(*tv.view, options);
                ++succeeded;
                checkTrueStats(s);
            } catch (const FormatError &e) {
                QVERIFY2(isChangedError(e), e.what());
                ++failed;
            }
        }
        stop = true;
        writer.join();
        // The mapping has been changed under it from the first round on: all rounds fail.
        QCOMPARE(succeeded, 0);
        QCOMPARE(failed, 12);
    }

    /// The file shrinks while the reader parses its directory and pickle (truncated from the
    /// first progress report): the read fails with the "changed on disk" error, not a crash
    /// and not a misleading "corrupt file" message.
    void openWhileFileTruncated()
    {
        const QString copy = m_dir.path() + QStringLiteral("/open.pt");
        QFile::remove(copy);
        QVERIFY(QFile::copy(QStringLiteral(CKPT_FIXTURES_DIR "/files/training_ckpt.pt"), copy));
        const std::string path = copy.toStdString();
        bool truncated = false;
        const auto data = readCheckpoint(path, {}, [&](std::uint64_t, std::uint64_t) {
            if (!truncated)
                truncated = ::truncate(path.c_str(), 100) == 0;
            return true;
        });
        QVERIFY(truncated);
        QVERIFY(data->error);
        QCOMPARE(data->error->message, std::string(kFileChangedMessage));
        QCOMPARE(data->error->kind, FormatError::Kind::Io);
    }

    /// `ckpt-inspect stats` on a file that a writer keeps truncating and restoring: the process
    /// never dies of a signal; when it saw the change it exits 2 with a one-line message
    /// naming the file. At least one run must have seen a change mid-read.
    void inspectStatsWhileFileChanges()
    {
        const QString file = m_dir.path() + QStringLiteral("/cli.safetensors");
        const std::string path = file.toStdString();
        const std::string bytes = fileContents(kCount);
        int sawChange = 0;
        for (int attempt = 0; attempt < 6 && sawChange == 0; ++attempt) {
            writeInPlace(path, bytes);
            backdate(path);
            QProcess p;
            p.start(QStringLiteral(CKPT_INSPECT_EXE), {QStringLiteral("stats"), QStringLiteral("--json"),
                                                       QStringLiteral("--threads"), QStringLiteral("4"), file});
            QVERIFY(p.waitForStarted());
            std::atomic<bool> stop{false};
            const QString maps = QStringLiteral("/proc/%1/maps").arg(p.processId());
            std::thread writer([&] {
                // Wait until it has mapped the file (its /proc maps list it), then keep
                // changing the file under it.
                for (int i = 0; i < 20000 && !stop; ++i) {
                    QFile m(maps);
                    if (m.open(QIODevice::ReadOnly) && m.readAll().contains(QFile::encodeName(file)))
                        break;
                    std::this_thread::sleep_for(std::chrono::microseconds(200));
                }
                while (!stop) {
                    (void)::truncate(path.c_str(), static_cast<off_t>(bytes.size() / 5));
                    std::this_thread::sleep_for(std::chrono::milliseconds(2));
                    (void)::truncate(path.c_str(), static_cast<off_t>(bytes.size()));
                    std::this_thread::sleep_for(std::chrono::milliseconds(2));
                }
            });
            const bool finished = p.waitForFinished(120000);
            stop = true;
            writer.join();
            QVERIFY(finished);
            const QString err = QString::fromUtf8(p.readAllStandardError());
            QCOMPARE(p.exitStatus(), QProcess::NormalExit); // not killed by SIGBUS
            if (p.exitCode() == 0) {
                // Finished before the writer started: then the numbers are the true ones.
                const auto json = nlohmann::json::parse(p.readAllStandardOutput().toStdString());
                QCOMPARE(json["stats"][0]["max"].get<double>(), 499.5);
                QCOMPARE(json["stats"][0]["zeros"].get<std::uint64_t>(), kCount / 1000);
                continue;
            }
            QVERIFY2(p.exitCode() == 2, qPrintable(err));
            QVERIFY2(err.contains(file), qPrintable(err));
            QCOMPARE(err.count(QLatin1Char('\n')), 1);
            if (err.contains(QLatin1String(kFileChangedMessage)))
                ++sawChange;
        }
        QVERIFY2(sawChange > 0, "no run of ckpt-inspect saw the file change while reading it");
    }

#ifdef CKPT_WITH_GUI
    /// The GUI: a file is truncated while its tensors are being checked and its statistics
    /// computed. No crash; the panel notices, reloads, shows the error of what it now finds
    /// with a Reload button, and that button reads the file again once it is whole.
    void panelOffersReload()
    {
        const QString file = m_dir.path() + QStringLiteral("/gui.safetensors");
        const std::string path = file.toStdString();
        const std::string bytes = fileContents(kCount);
        writeInPlace(path, bytes);
        backdate(path);

        ckpt::CheckpointPanel panel;
        QAbstractItemModelTester tester(panel.proxy(), QAbstractItemModelTester::FailureReportingMode::QtTest);
        panel.resize(1200, 800);
        panel.show();
        QSignalSpy loaded(&panel, &ckpt::CheckpointPanel::loadFinished);
        panel.open(file);
        QTRY_VERIFY_WITH_TIMEOUT(loaded.count() == 1, 30000);
        QVERIFY(panel.loaded().data->ok());
        QVERIFY(panel.selectPath(QStringLiteral("w")));

        // Busy with the tensor (auto check and statistics): cut the file under it.
        QVERIFY(::truncate(path.c_str(), static_cast<off_t>(bytes.size() / 3)) == 0);
        // The watcher reloads; what it finds now is a truncated file: an error naming it,
        // with the reload offered.
        QTRY_VERIFY_WITH_TIMEOUT(loaded.count() >= 2 && !panel.isBusy(), 30000);
        ckpt::MessageBar *bar = panel.errorBar();
        auto findReload = [bar]() -> QToolButton * {
            for (QToolButton *b : bar->findChildren<QToolButton *>())
                if (b->text() == QLatin1String("Reload") && !b->isHidden())
                    return b;
            return nullptr;
        };
        // The watcher may see the change more than once: wait for the last reload's bar.
        QTRY_VERIFY_WITH_TIMEOUT(findReload() && !panel.isBusy(), 30000);
        QToolButton *reloadButton = findReload();
        QVERIFY(bar->isVisible());
        QCOMPARE(bar->type(), ckpt::MessageBar::Type::Error);
        QVERIFY2(bar->text().contains(QLatin1String("gui.safetensors")), qPrintable(bar->text()));
        // Part 6: the bar names the record and the byte offset of the problem.
        QVERIFY2(bar->text().contains(QLatin1String("record 'w' at byte 9")), qPrintable(bar->text()));
        QVERIFY2(reloadButton, qPrintable(bar->text()));

        // The training run finishes writing; the user reloads (the watcher may beat them to it).
        panel.setWatchingFile(false);
        writeInPlace(path, bytes);
        const int before = static_cast<int>(loaded.count());
        reloadButton->click();
        QTRY_VERIFY_WITH_TIMEOUT(loaded.count() > before && !panel.isBusy(), 30000);
        QVERIFY(panel.loaded().data->ok());
        QVERIFY(bar->isHidden() || bar->type() == ckpt::MessageBar::Type::Info);
        QCOMPARE(panel.loaded().data->tensors.size(), std::size_t(1));
    }

    /// A Trainer folder opened as one checkpoint is watched file by file: when the run rewrites
    /// one of its files (here trainer_state.json, two steps on), the panel reloads the folder.
    void folderReloadsWhenItsFileIsRewritten()
    {
        const QString from = QStringLiteral(CKPT_FIXTURES_DIR "/files/torch2/transformers/trainer/");
        const QString dir = m_dir.path() + QStringLiteral("/checkpoint-2");
        QVERIFY(copyFolder(from + QStringLiteral("checkpoint-2"), dir));
        ckpt::CheckpointPanel panel;
        QAbstractItemModelTester tester(panel.proxy(), QAbstractItemModelTester::FailureReportingMode::QtTest);
        QSignalSpy loaded(&panel, &ckpt::CheckpointPanel::loadFinished);
        QVERIFY(openAndWait(panel, loaded, dir));
        auto globalStep = [&panel]() -> std::int64_t {
            const auto *state = panel.loaded().data->root->get("trainer_state");
            const auto *step = state ? state->get("global_step") : nullptr;
            return step ? step->integer : -1;
        };
        QCOMPARE(panel.loaded().data->format, ckpt::format::ContainerFormat::Folder);
        QCOMPARE(globalStep(), std::int64_t(2));

        QFile next(from + QStringLiteral("checkpoint-4/trainer_state.json"));
        QVERIFY(next.open(QIODevice::ReadOnly));
        writeInPlace((dir + QStringLiteral("/trainer_state.json")).toStdString(), next.readAll().toStdString());
        QTRY_VERIFY_WITH_TIMEOUT(loaded.count() >= 2 && !panel.isBusy() && globalStep() == 4, 30000);
        QVERIFY(panel.loaded().data->ok());
    }

    // A DCP directory reloads when its writers rewrite their files in place (the next step
    // saved over the same directory): the ranks' files first, then .metadata.
    void dcpReloadsWhenARankRewritesItsFile()
    {
        const QString from = QStringLiteral(CKPT_FIXTURES_DIR "/files/torch2/dcp/");
        const QString dir = m_dir.path() + QStringLiteral("/dcp-run");
        const QStringList files{QStringLiteral("__0_0.distcp"), QStringLiteral("__1_0.distcp"), QStringLiteral(".metadata")};
        QVERIFY(copyFolder(from + QStringLiteral("fsdp"), dir));
        ckpt::CheckpointPanel panel;
        QAbstractItemModelTester tester(panel.proxy(), QAbstractItemModelTester::FailureReportingMode::QtTest);
        QSignalSpy loaded(&panel, &ckpt::CheckpointPanel::loadFinished);
        QVERIFY(openAndWait(panel, loaded, dir));
        auto step = [&panel]() -> std::int64_t {
            const auto *v = panel.loaded().data ? panel.loaded().data->root->get("step") : nullptr;
            return v ? v->integer : -1;
        };
        QCOMPARE(panel.loaded().data->format, ckpt::format::ContainerFormat::Dcp);
        QCOMPARE(step(), std::int64_t(7));
        for (const QString &f : files) {
            QFile next(from + QStringLiteral("fsdp_step2/") + f);
            QVERIFY(next.open(QIODevice::ReadOnly));
            writeInPlace((dir + QLatin1Char('/') + f).toStdString(), next.readAll().toStdString());
        }
        QTRY_VERIFY_WITH_TIMEOUT(loaded.count() >= 2 && !panel.isBusy() && step() == 8, 30000);
        QVERIFY(panel.loaded().data->ok());
        // The values now are step 2's, as torch reads that directory.
        const auto truth = ckpt::format::readCheckpoint((from + QStringLiteral("fsdp_step2")).toStdString());
        QVERIFY(truth && truth->ok());
        const auto &a = *panel.loaded().data;
        for (std::size_t i = 0; i < a.paths.size(); ++i) {
            const auto va = ckpt::format::tensorView(a, a.paths[i].tensor);
            const auto vb = ckpt::format::tensorView(*truth, truth->paths[i].tensor);
            QVERIFY2(va.view && vb.view, (va.error + vb.error).c_str());
            QCOMPARE(ckpt::format::formatElementAt(*va.view, std::vector<std::int64_t>(va.view->shape.size(), 0)),
                     ckpt::format::formatElementAt(*vb.view, std::vector<std::int64_t>(vb.view->shape.size(), 0)));
        }
    }
#endif

private:
    QTemporaryDir m_dir;
};

#ifdef CKPT_WITH_GUI
QTEST_MAIN(TestFileChange)
#else
QTEST_GUILESS_MAIN(TestFileChange)
#endif
#include "tst_filechange.moc"
