// SPDX-License-Identifier: MIT
// Every input the fuzzers found crashing, leaking, hanging or slow (tests/fixtures/fuzz/<harness>/,
// docs/FUZZING.md) goes through the same code its harness ran (tests/fuzz/fuzzsupport.h) in the
// normal GCC build, and must end with a result or a clean error that names what was wrong, fast
// (PRODUCT.md section 6: an input under 1 MB never takes longer than 2 s), without an exception
// escaping.

#include "fuzzsupport.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QTest>

#include <sys/resource.h>

using namespace ckpt;

namespace {

const char *const kHarnesses[] = {"zip", "pickle", "legacy", "tar", "safetensors", "index", "checkpoint", "dcp"};

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr qint64 kLimitMs = 10'000; // the sanitizer pass of scripts/test.sh runs several times slower
constexpr bool kMeasureMemory = false;
#else
constexpr qint64 kLimitMs = 2'000;
constexpr bool kMeasureMemory = true;
#endif

QString fuzzDir()
{
    return QStringLiteral(CKPT_FIXTURES_DIR "/fuzz");
}

long maxRssKb()
{
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss;
}

/// The harness's function, by name.
void runHarness(const QString &harness, format::ByteView bytes)
{
    if (harness == QLatin1String("zip"))
        fuzz::runZip(bytes);
    else if (harness == QLatin1String("pickle"))
        fuzz::runPickle(bytes);
    else if (harness == QLatin1String("legacy"))
        fuzz::runLegacy(bytes);
    else if (harness == QLatin1String("tar"))
        fuzz::runTar(bytes);
    else if (harness == QLatin1String("safetensors"))
        fuzz::runSafetensors(bytes);
    else if (harness == QLatin1String("index"))
        fuzz::runIndex(bytes);
    else if (harness == QLatin1String("dcp"))
        fuzz::runDcp(bytes);
    else
        fuzz::runCheckpoint(bytes);
}

/// The bytes the whole loader sees for this harness's input (the legacy harness prepends the
/// magic-number pickle), or empty when the harness does not go through the loader.
std::optional<std::vector<std::uint8_t>> loaderInput(const QString &harness, const QByteArray &file)
{
    const auto *p = reinterpret_cast<const std::uint8_t *>(file.constData());
    std::vector<std::uint8_t> bytes(p, p + file.size());
    if (harness == QLatin1String("legacy")) {
        bytes.insert(bytes.begin(), std::begin(fuzz::kLegacyHeader), std::end(fuzz::kLegacyHeader));
        return bytes;
    }
    if (harness == QLatin1String("tar")) {
        fuzz::fixTarChecksums(bytes);
        return bytes;
    }
    if (harness == QLatin1String("checkpoint") || harness == QLatin1String("safetensors"))
        return bytes;
    return std::nullopt;
}

} // namespace

class TestFuzzRegressions : public QObject
{
    Q_OBJECT

private slots:
    void layout();
    void inputs_data();
    void inputs();
};

void TestFuzzRegressions::layout()
{
    // Every folder is a harness name (a typo would silently skip its inputs) and every input is
    // under the 1 MB the promise is about.
    const QDir dir(fuzzDir());
    QVERIFY2(dir.exists(), qPrintable(fuzzDir()));
    QStringList known;
    for (const char *h : kHarnesses)
        known << QLatin1String(h);
    int files = 0;
    for (const QFileInfo &sub : dir.entryInfoList(QDir::Dirs | QDir::NoDotAndDotDot)) {
        QVERIFY2(known.contains(sub.fileName()), qPrintable(sub.fileName()));
        for (const QFileInfo &f : QDir(sub.filePath()).entryInfoList(QDir::Files)) {
            QVERIFY2(f.size() < (1 << 20), qPrintable(f.filePath()));
            ++files;
        }
    }
    QVERIFY(files > 0);
}

void TestFuzzRegressions::inputs_data()
{
    QTest::addColumn<QString>("harness");
    QTest::addColumn<QString>("path");
    for (const char *h : kHarnesses) {
        const QDir dir(fuzzDir() + QLatin1Char('/') + QLatin1String(h));
        for (const QFileInfo &f : dir.entryInfoList(QDir::Files, QDir::Name))
            QTest::addRow("%s/%s", h, qPrintable(f.fileName())) << QString::fromLatin1(h) << f.filePath();
    }
    // CKPT_FUZZ_REPLAY=DIR[:DIR...]: also every file of these folders, each named after its
    // harness (e.g. build-fuzz/work/corpus/checkpoint): a whole fuzzing corpus timed in this
    // build, without sanitizers (docs/FUZZING.md).
    const QStringList extra = qEnvironmentVariable("CKPT_FUZZ_REPLAY").split(QLatin1Char(':'), Qt::SkipEmptyParts);
    for (const QString &d : extra) {
        const QDir dir(d);
        for (const QFileInfo &f : dir.entryInfoList(QDir::Files, QDir::Name))
            QTest::addRow("replay %s/%s", qPrintable(dir.dirName()), qPrintable(f.fileName()))
                << dir.dirName() << f.filePath();
    }
}

void TestFuzzRegressions::inputs()
{
    QFETCH(QString, harness);
    QFETCH(QString, path);
    QFile file(path);
    QVERIFY(file.open(QIODevice::ReadOnly));
    const QByteArray bytes = file.readAll();
    const format::ByteView view{reinterpret_cast<const std::uint8_t *>(bytes.constData()),
                                static_cast<std::uint64_t>(bytes.size())};

    const long rssBefore = maxRssKb();
    QElapsedTimer timer;
    timer.start();
    try {
        runHarness(harness, view);
    } catch (const std::exception &e) {
        QFAIL(qPrintable(QStringLiteral("exception escaped: ") + QString::fromUtf8(e.what())));
    }
    const qint64 ms = timer.elapsed();
    QVERIFY2(ms < kLimitMs, qPrintable(QStringLiteral("took %1 ms").arg(ms)));
    if (kMeasureMemory) {
        // The high-water mark of the process cannot rise by more than the input's allowance.
        const long grownMb = (maxRssKb() - rssBefore) / 1024;
        QVERIFY2(grownMb <= 256, qPrintable(QStringLiteral("resident memory grew by %1 MB").arg(grownMb)));
    }

    // Through the loader the outcome is a result or an error with a message (and, when the error
    // points into the file, an offset inside it).
    if (const auto input = loaderInput(harness, bytes)) {
        const auto data = format::readCheckpointBytes(format::ByteView{input->data(), input->size()}, "fuzz.pt");
        QVERIFY(data);
        if (data->error) {
            QVERIFY(!data->error->message.empty());
            QVERIFY(!data->error->text().empty());
            if (data->error->offset != format::FormatError::kNoOffset && !data->error->offsetInRecord)
                QVERIFY2(data->error->offset <= input->size(), data->error->text().c_str());
        }
        // Every tensor listed has a decodable view or says why not.
        for (std::size_t i = 0; i < data->tensors.size(); ++i) {
            const format::TensorViewResult r = format::tensorView(*data, static_cast<int>(i));
            QVERIFY(r.view.has_value() || !r.error.empty());
        }
    }
}

QTEST_GUILESS_MAIN(TestFuzzRegressions)
#include "tst_fuzzregressions.moc"
