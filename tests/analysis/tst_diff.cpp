// SPDX-License-Identifier: MIT
// The diff engine and `ckpt-inspect diff` (issue 5, PRODUCT.md 4) against what torch computes
// for the pairs tests/fixtures/make_diff_fixtures.py writes (tests/fixtures/expected_diff/):
// every entry's path, status, dtypes, shapes, values and metrics; self-diffs of every fixture;
// different architectures; cancel; thread-count independence; damaged inputs; and fresh random
// pairs made by torch at test time (tests/oracle/torch_diff_oracle.py) when torch is installed.

#include "diffengine.h"
#include "expectedcheck.h"
#include "safetensorswriter.h"

#include "format/formaterror.h"
#include "format/parallelwork.h"

#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

#include <bit>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include <sys/resource.h>
#include <unistd.h>

using namespace ckpt;
using ckpt::test::closeTo;
using ckpt::test::loadJson;
using ckpt::test::Mismatches;

namespace {

QString diffDir()
{
    return QStringLiteral(CKPT_FIXTURES_DIR "/files/diff");
}

QString expectedDir()
{
    return QStringLiteral(CKPT_FIXTURES_DIR "/expected_diff");
}

Json loadExpected(const QString &pair)
{
    return loadJson(QString(expectedDir() + QLatin1Char('/') + pair).toStdString());
}

std::shared_ptr<const format::CheckpointData> read(const QString &path)
{
    return format::readCheckpoint(path.toStdString());
}

bool numberClose(const Json &ours, const Json &torch)
{
    if (torch.is_null() || ours.is_null())
        return torch.is_null() && ours.is_null();
    // Both sides sum in double in different orders: a few ulps per element at most.
    return closeTo(ours.get<double>(), torch.get<double>(), 1e-9, 1e-300);
}

/// Our diff report against torch's expected document: entries in the same order, every field
/// torch wrote (metrics within 1e-9 relative), and the summary.
void compareDiff(const Json &ours, const Json &expected, Mismatches &m)
{
    const Json &oe = ours["entries"];
    const Json &ee = expected["entries"];
    if (oe.size() != ee.size())
        m.add("entries", std::to_string(oe.size()) + " entries, torch has " + std::to_string(ee.size()));
    for (std::size_t i = 0; i < std::min(oe.size(), ee.size()); ++i) {
        const Json &o = oe[i];
        const Json &e = ee[i];
        const std::string where = e["path"].get<std::string>();
        if (o["path"] != e["path"]) {
            m.add(where, "entry " + std::to_string(i) + " is " + o["path"].dump());
            continue;
        }
        // The parameter an optimizer state belongs to, as torch's named_parameters() orders it.
        // (strings compared as strings: nlohmann 3.11.3 has no string != json in C++20)
        if (e.contains("group") && (!e["group"].is_string() || o.value("group", std::string("other")) != e["group"].get<std::string>()))
            m.add(where, "group " + o.value("group", std::string("other")) + ", expected " + e["group"].dump());
        for (const char *k : {"status", "a", "b", "value_a", "value_b", "differing", "param_name"})
            if (e.contains(k) != o.contains(k) || (e.contains(k) && o[k] != e[k]))
                m.add(where, std::string(k) + ": " + (o.contains(k) ? o[k].dump() : "absent") + ", torch "
                                 + (e.contains(k) ? e[k].dump() : "absent"));
        if (o.value("nan_mismatch", 0) != e.value("nan_mismatch", 0))
            m.add(where, "nan_mismatch " + std::to_string(o.value("nan_mismatch", 0)));
        for (const char *k : {"max_abs_diff", "mean_abs_diff", "rel_l2", "cosine"}) {
            if (!e.contains(k)) {
                if (o.contains(k) && !o[k].is_null())
                    m.add(where, std::string(k) + " where torch has none");
                continue;
            }
            if (!o.contains(k) || !numberClose(o[k], e[k]))
                m.add(where, std::string(k) + " " + (o.contains(k) ? o[k].dump() : "absent") + ", torch " + e[k].dump());
        }
    }
    if (ours["summary"] != expected["summary"])
        m.add("summary", ours["summary"].dump() + ", torch " + expected["summary"].dump());
}

Json runDiff(const QString &pair, const Json &expected)
{
    const auto a = read(diffDir() + QLatin1Char('/') + QString::fromStdString(expected["a"].get<std::string>()));
    const auto b = read(diffDir() + QLatin1Char('/') + QString::fromStdString(expected["b"].get<std::string>()));
    if (!a->ok() || !b->ok())
        qWarning() << pair << "read errors";
    DiffOptions options;
    if (expected["strip_prefix"].is_string())
        options.stripPrefix = expected["strip_prefix"].get<std::string>();
    return diffReport(*a, *b, diffCheckpoints(*a, *b, options));
}

QStringList expectedPairs()
{
    return QDir(expectedDir()).entryList({QStringLiteral("*.json")}, QDir::Files, QDir::Name);
}

/// Runs ckpt-inspect; returns exit code (-1 when it did not exit normally).
int inspect(const QStringList &args, QByteArray *out, QByteArray *err = nullptr)
{
    QProcess p;
    p.start(QStringLiteral(CKPT_INSPECT_EXE), args);
    if (!p.waitForFinished(120000) || p.exitStatus() != QProcess::NormalExit)
        return -1;
    *out = p.readAllStandardOutput();
    if (err)
        *err = p.readAllStandardError();
    return p.exitCode();
}

using test::writeSafetensors;
using Tensors = test::NamedFloats;

/// Two safetensors files, A and B, in a folder of their own, read back.
struct FilePair
{
    QTemporaryDir dir;
    std::shared_ptr<const format::CheckpointData> a, b;
};

std::unique_ptr<FilePair> writePair(const Tensors &a, const Tensors &b)
{
    auto pair = std::make_unique<FilePair>();
    if (!writeSafetensors(pair->dir.filePath(QStringLiteral("a.safetensors")), a)
        || !writeSafetensors(pair->dir.filePath(QStringLiteral("b.safetensors")), b))
        qFatal("cannot write the safetensors pair in %s", qPrintable(pair->dir.path()));
    pair->a = read(pair->dir.filePath(QStringLiteral("a.safetensors")));
    pair->b = read(pair->dir.filePath(QStringLiteral("b.safetensors")));
    return pair;
}

/// A = N(0, 1), B = A + small noise, a few NaNs and infinities.
std::pair<std::vector<float>, std::vector<float>> randomPair(std::size_t n, unsigned seed)
{
    std::mt19937 gen(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> a(n), b(n);
    for (std::size_t i = 0; i < n; ++i) {
        a[i] = normal(gen);
        b[i] = i % 5 == 0 ? a[i] : a[i] + 0.01f * normal(gen);
    }
    a[17] = std::numeric_limits<float>::quiet_NaN();
    b[33] = std::numeric_limits<float>::quiet_NaN();
    b[99] = std::numeric_limits<float>::infinity();
    return {a, b};
}

bool sameBits(const std::optional<double> &x, const std::optional<double> &y)
{
    if (!x || !y)
        return !x && !y;
    return std::bit_cast<std::uint64_t>(*x) == std::bit_cast<std::uint64_t>(*y);
}

/// The metrics of every entry agree bit for bit.
bool sameMetrics(const DiffResult &x, const DiffResult &y)
{
    if (x.entries.size() != y.entries.size())
        return false;
    for (std::size_t i = 0; i < x.entries.size(); ++i) {
        const DiffEntry &p = x.entries[i], &q = y.entries[i];
        if (!sameBits(p.maxAbsDiff, q.maxAbsDiff) || !sameBits(p.meanAbsDiff, q.meanAbsDiff)
            || !sameBits(p.relL2, q.relL2) || !sameBits(p.cosine, q.cosine) || p.differing != q.differing)
            return false;
    }
    return true;
}

} // namespace

class TestDiff : public QObject
{
    Q_OBJECT

private slots:
    void fixturesPresent()
    {
        QVERIFY2(expectedPairs().size() >= 7, "run /usr/bin/python3 tests/fixtures/make_diff_fixtures.py");
    }

    void engineAgainstTorch_data()
    {
        QTest::addColumn<QString>("pair");
        for (const QString &p : expectedPairs())
            QTest::newRow(qPrintable(p)) << p;
    }
    void engineAgainstTorch()
    {
        QFETCH(QString, pair);
        const Json expected = loadExpected(pair);
        QVERIFY(expected.is_object());
        Mismatches m;
        compareDiff(runDiff(pair, expected), expected, m);
        QVERIFY2(m.empty(), qPrintable(m.text()));
    }

    void cliAgainstTorch_data() { engineAgainstTorch_data(); }
    void cliAgainstTorch()
    {
        QFETCH(QString, pair);
        const Json expected = loadExpected(pair);
        QStringList args{QStringLiteral("diff"), QStringLiteral("--json")};
        if (expected["strip_prefix"].is_string())
            args << QStringLiteral("--strip-prefix") << QString::fromStdString(expected["strip_prefix"].get<std::string>());
        args << diffDir() + QLatin1Char('/') + QString::fromStdString(expected["a"].get<std::string>())
             << diffDir() + QLatin1Char('/') + QString::fromStdString(expected["b"].get<std::string>());
        QByteArray out, err;
        QCOMPARE(inspect(args, &out, &err), 0);
        const Json ours = Json::parse(out.toStdString(), nullptr, false);
        QVERIFY2(ours.is_object(), out.constData());
        Mismatches m;
        compareDiff(ours, expected, m);
        QVERIFY2(m.empty(), qPrintable(m.text()));
        // The module_raw pair: the CLI strips nothing by itself but says what would match.
        if (pair == QLatin1String("module_raw.json"))
            QVERIFY2(err.contains("--strip-prefix module."), err.constData());
        else
            QVERIFY2(err.isEmpty(), err.constData());
    }

    // A module pickled whole against its state dict (and its DataParallel wrapper's, with the
    // prefix stripped): aligned on the module tree's names, every tensor at torch's raw paths.
    void alignsModuleTreeAcrossLayouts_data()
    {
        QTest::addColumn<QString>("pair");
        QTest::addColumn<bool>("cli");
        for (const QString &p : QDir(expectedDir() + QStringLiteral("/aligned")).entryList({QStringLiteral("*.json")}))
            for (bool cli : {false, true})
                QTest::newRow(qPrintable(p + (cli ? QStringLiteral(" cli") : QStringLiteral(" engine")))) << p << cli;
    }
    void alignsModuleTreeAcrossLayouts()
    {
        QFETCH(QString, pair);
        QFETCH(bool, cli);
        const Json expected = loadExpected(QStringLiteral("aligned/") + pair);
        QVERIFY(expected.is_object());
        const QString fa = diffDir() + QLatin1Char('/') + QString::fromStdString(expected["a"].get<std::string>());
        const QString fb = diffDir() + QLatin1Char('/') + QString::fromStdString(expected["b"].get<std::string>());
        const std::string prefix = expected["prefix"].get<std::string>();
        Json ours;
        if (cli) {
            QStringList args{QStringLiteral("diff"), QStringLiteral("--json")};
            if (!prefix.empty())
                args << QStringLiteral("--strip-prefix") << QString::fromStdString(prefix);
            QByteArray out;
            QCOMPARE(inspect(args << fa << fb, &out), 0);
            ours = Json::parse(out.toStdString(), nullptr, false);
        } else {
            const auto a = read(fa), b = read(fb);
            DiffOptions options;
            options.detectPrefix = true; // the compare view's setting
            ours = diffReport(*a, *b, diffCheckpoints(*a, *b, options));
        }
        QVERIFY(ours.is_object());
        std::map<std::string, const Json *> byPathA;
        for (const Json &e : ours["entries"]) {
            const std::string pathA = e.value("path_a", e["path"].get<std::string>());
            if (e.contains("a"))
                byPathA[pathA] = &e;
            // Every tensor of the state dict found its counterpart.
            QVERIFY2(!(e.contains("b") && !e.contains("a")), e.dump().c_str());
        }
        for (const Json &t : expected["tensors"]) {
            const std::string pathA = t["path_a"].get<std::string>();
            QVERIFY2(byPathA.count(pathA), pathA.c_str());
            const Json &e = *byPathA[pathA];
            QCOMPARE(e["status"].get<std::string>(), t["status"].get<std::string>());
            QCOMPARE(e.value("path_b", e["path"].get<std::string>()), t["path_b"].get<std::string>());
            QCOMPARE(e["a"]["dtype"].get<std::string>(), t["dtype"].get<std::string>());
            QCOMPARE(e["group"].get<std::string>(), std::string("model"));
        }
        QCOMPARE(ours["summary"]["same"].get<std::size_t>(), expected["tensors"].size());
        QCOMPARE(ours["summary"]["added"].get<std::size_t>(), std::size_t(0));
    }

    // The text table: one row per entry, the summary line with torch's counts.
    void cliTable()
    {
        const Json expected = loadExpected(QStringLiteral("finetune.json"));
        QByteArray out;
        QCOMPARE(inspect({QStringLiteral("diff"), diffDir() + QStringLiteral("/base.pt"),
                          diffDir() + QStringLiteral("/finetuned.pt")},
                         &out),
                 0);
        const QList<QByteArray> lines = out.trimmed().split('\n');
        QCOMPARE(static_cast<std::size_t>(lines.size()), expected["entries"].size() + 2);
        QVERIFY(lines[0].startsWith("STATUS"));
        for (std::size_t i = 0; i < expected["entries"].size(); ++i) {
            const QList<QByteArray> cols = lines[static_cast<int>(i + 1)].simplified().split(' ');
            QCOMPARE(cols[0].toStdString(), expected["entries"][i]["status"].get<std::string>());
            QCOMPARE(cols[1].toStdString(), expected["entries"][i]["path"].get<std::string>());
        }
        const Json &s = expected["summary"];
        const std::string summary = std::to_string(s["same"].get<int>()) + " same, " + std::to_string(s["changed"].get<int>())
                                    + " changed, " + std::to_string(s["added"].get<int>()) + " added, "
                                    + std::to_string(s["removed"].get<int>()) + " removed, "
                                    + std::to_string(s["shape"].get<int>()) + " shape, "
                                    + std::to_string(s["dtype"].get<int>()) + " dtype";
        QCOMPARE(lines.last().toStdString(), summary);
    }

    void cliUsage()
    {
        QByteArray out, err;
        QCOMPARE(inspect({QStringLiteral("diff"), diffDir() + QStringLiteral("/base.pt")}, &out, &err), 2);
        QVERIFY(err.contains("diff takes two files"));
        QCOMPARE(inspect({QStringLiteral("ls"), QStringLiteral("--strip-prefix"), QStringLiteral("module."),
                          diffDir() + QStringLiteral("/base.pt")},
                         &out, &err),
                 2);
        QCOMPARE(inspect({QStringLiteral("--help")}, &out), 0);
        QVERIFY(out.contains("diff A B"));
        QVERIFY(out.contains("--strip-prefix"));
    }

    // The B - A statistics the compare view shows, against torch's (16 bins, torch.histc).
    void differenceStatsAgainstTorch_data()
    {
        QTest::addColumn<QString>("pair");
        QTest::newRow("epochs") << QStringLiteral("epochs.json");
        QTest::newRow("bf16") << QStringLiteral("bf16.json");
        QTest::newRow("dcp_steps") << QStringLiteral("dcp_steps.json"); // tensors split among ranks
    }
    void differenceStatsAgainstTorch()
    {
        QFETCH(QString, pair);
        const Json expected = loadExpected(pair);
        const auto a = read(diffDir() + QLatin1Char('/') + QString::fromStdString(expected["a"].get<std::string>()));
        const auto b = read(diffDir() + QLatin1Char('/') + QString::fromStdString(expected["b"].get<std::string>()));
        const DiffResult result = alignCheckpoints(*a, *b);
        int checked = 0;
        Mismatches m;
        for (const Json &e : expected["entries"]) {
            if (!e.contains("diff_stats"))
                continue;
            const auto it = std::find_if(result.entries.begin(), result.entries.end(),
                                         [&](const DiffEntry &d) { return d.path() == e["path"].get<std::string>(); });
            QVERIFY(it != result.entries.end());
            const auto va = format::tensorView(*a, it->a->tensor);
            const auto vb = format::tensorView(*b, it->b->tensor);
            QVERIFY(va.view && vb.view);
            format::StatsOptions options;
            options.bins = 16;
            const format::TensorStats s = computeDifferenceStats(*va.view, *vb.view, options);
            const Json &t = e["diff_stats"];
            const std::string where = e["path"].get<std::string>();
            for (const char *k : {"numel", "finite", "nan", "posinf", "neginf", "zeros"}) {
                const std::uint64_t ours = std::string(k) == "numel" ? s.numel
                                           : std::string(k) == "finite" ? s.finite
                                           : std::string(k) == "nan"    ? s.nan
                                           : std::string(k) == "posinf" ? s.posinf
                                           : std::string(k) == "neginf" ? s.neginf
                                                                        : s.zeros;
                if (ours != t[k].get<std::uint64_t>())
                    m.add(where, std::string(k) + " " + std::to_string(ours));
            }
            const std::pair<const char *, std::optional<double>> values[] = {
                {"min", s.min}, {"max", s.max}, {"mean", s.mean}, {"std", s.std}, {"l2", s.l2}};
            for (const auto &[k, v] : values)
                if (!numberClose(v ? Json(*v) : Json(nullptr), t[k]))
                    m.add(where, std::string(k) + " " + (v ? std::to_string(*v) : "null") + ", torch " + t[k].dump());
            if (t["hist"].is_null() != s.hist.empty())
                m.add(where, "hist presence");
            else if (!s.hist.empty() && (Json(s.hist) != t["hist"]["counts"] || s.histLo != t["hist"]["lo"].get<double>()
                                         || s.histHi != t["hist"]["hi"].get<double>()))
                m.add(where, "hist " + Json(s.hist).dump() + ", torch " + t["hist"].dump());
            ++checked;
        }
        QVERIFY2(m.empty(), qPrintable(m.text()));
        QVERIFY(checked >= 8);
    }

    // Every fixture checkpoint (every format and dtype the reader knows) against itself.
    void selfDiffAllSame()
    {
        QDirIterator it(QStringLiteral(CKPT_FIXTURES_DIR "/files"), QDir::Files, QDirIterator::Subdirectories);
        int files = 0, tensors = 0;
        while (it.hasNext()) {
            const QString path = it.next();
            if (path.contains(QLatin1String("/sharded_")) && !path.endsWith(QLatin1String(".index.json")))
                continue;
            const auto d = read(path);
            if (!d->ok())
                continue;
            DiffOptions options;
            options.detectPrefix = true; // nothing to detect against itself
            const DiffResult r = diffCheckpoints(*d, *d, options);
            QVERIFY2(r.strippedA.empty() && r.strippedB.empty(), qPrintable(path));
            for (const DiffEntry &e : r.entries) {
                const QString where = path + QLatin1Char(' ') + QString::fromStdString(e.path());
                if (e.status == DiffStatus::Pending) { // no data (meta, missing storage): says why
                    QVERIFY2(!e.error.empty(), qPrintable(where));
                    continue;
                }
                QVERIFY2(e.status == DiffStatus::Same, qPrintable(where + QLatin1String(" is ")
                                                                  + QLatin1String(diffStatusName(e.status).data())));
                if (e.isTensor) {
                    ++tensors;
                    QCOMPARE(e.differing, 0u);
                    QCOMPARE(e.nanMismatch, 0u);
                    if (e.maxAbsDiff) {
                        QCOMPARE(*e.maxAbsDiff, 0.0);
                        QCOMPARE(*e.meanAbsDiff, 0.0);
                    }
                    if (e.relL2)
                        QCOMPARE(*e.relL2, 0.0);
                    if (e.cosine)
                        QVERIFY2(std::fabs(*e.cosine - 1) < 1e-12, qPrintable(where));
                }
            }
            ++files;
        }
        QVERIFY(files >= 30);
        QVERIFY(tensors >= 200);
    }

    // Different architectures: added/removed/shape rows without metrics; detection of the
    // DataParallel prefix.
    void differentArchitectures()
    {
        const auto a = read(diffDir() + QStringLiteral("/base.pt"));
        const auto b = read(diffDir() + QStringLiteral("/finetuned.pt"));
        const DiffResult r = alignCheckpoints(*a, *b);
        std::map<std::string, const DiffEntry *> byPath;
        for (const DiffEntry &e : r.entries)
            byPath[e.path()] = &e;
        QCOMPARE(byPath.at("fc.weight")->status, DiffStatus::Shape);
        QCOMPARE(byPath.at("fc.weight")->a->shape, (std::vector<std::int64_t>{5, 16}));
        QCOMPARE(byPath.at("fc.weight")->b->shape, (std::vector<std::int64_t>{3, 16}));
        QVERIFY(!needsMetrics(*byPath.at("fc.weight")));
        QCOMPARE(byPath.at("aux.weight")->status, DiffStatus::Removed);
        QVERIFY(!byPath.at("aux.weight")->b);
        QCOMPARE(byPath.at("head2.weight")->status, DiffStatus::Added);
        QVERIFY(!byPath.at("head2.weight")->a);
        QCOMPARE(byPath.at("conv.weight")->status, DiffStatus::Pending);
        // B-only entries come last.
        QCOMPARE(r.entries.back().path(), std::string("head2.weight"));
        // One entry computed on its own gives what the whole diff gives.
        DiffEntry one = *byPath.at("conv.weight");
        computeTensorDiff(*a, *b, one);
        const DiffResult all = diffCheckpoints(*a, *b);
        const auto it = std::find_if(all.entries.begin(), all.entries.end(),
                                     [](const DiffEntry &e) { return e.path() == "conv.weight"; });
        QCOMPARE(one.status, DiffStatus::Changed);
        QVERIFY(sameBits(one.relL2, it->relL2) && sameBits(one.cosine, it->cosine));

        const auto m = read(diffDir() + QStringLiteral("/module.pt"));
        const DiffResult raw = alignCheckpoints(*a, *m);
        QCOMPARE(raw.detectedB, std::string("module."));
        QVERIFY(raw.detectedA.empty() && raw.strippedB.empty());
        QCOMPARE(raw.summary().added, 10u);
        DiffOptions detect;
        detect.detectPrefix = true;
        const DiffResult stripped = diffCheckpoints(*a, *m, detect);
        QCOMPARE(stripped.strippedB, std::string("module."));
        QCOMPARE(stripped.summary().same, 10u);
        QCOMPARE(stripped.entries.front().b->keys.front(), std::string("module.conv.weight"));
        // Symmetric: the prefixed file as A.
        const DiffResult reversed = diffCheckpoints(*m, *a, detect);
        QCOMPARE(reversed.strippedA, std::string("module."));
        QCOMPARE(reversed.summary().same, 10u);
    }

    // torch.compile of a DataParallel model: `_orig_mod.module.` on every key of one side.
    void wrapperPrefixes()
    {
        QTemporaryDir dir;
        QVERIFY(writeSafetensors(dir.filePath(QStringLiteral("a.safetensors")),
                                 {{"_orig_mod.module.l.weight", {1, 2}}, {"_orig_mod.module.l.bias", {3}}}));
        QVERIFY(writeSafetensors(dir.filePath(QStringLiteral("b.safetensors")), {{"l.weight", {1, 2}}, {"l.bias", {3}}}));
        const auto a = read(dir.filePath(QStringLiteral("a.safetensors")));
        const auto b = read(dir.filePath(QStringLiteral("b.safetensors")));
        const DiffResult raw = alignCheckpoints(*a, *b);
        QCOMPARE(raw.detectedA, std::string("_orig_mod.module."));
        QVERIFY(raw.strippedA.empty() && raw.detectedB.empty());
        QCOMPARE(raw.summary().removed, 2u);
        QCOMPARE(raw.summary().added, 2u);
        DiffOptions options;
        options.detectPrefix = true;
        const DiffResult detected = diffCheckpoints(*a, *b, options);
        QCOMPARE(detected.strippedA, std::string("_orig_mod.module."));
        QCOMPARE(detected.summary().same, 2u);
        QCOMPARE(detected.entries.size(), 2u);
        // What the user strips comes first; detection strips the rest.
        options.stripPrefix = "_orig_mod.";
        const DiffResult both = diffCheckpoints(*a, *b, options);
        QCOMPARE(both.strippedA, std::string("_orig_mod.module."));
        QVERIFY(both.strippedB.empty());
        QCOMPARE(both.summary().same, 2u);
        // Only the user's prefix: nothing matches yet, and detection names what would.
        options.detectPrefix = false;
        const DiffResult user = alignCheckpoints(*a, *b, options);
        QCOMPARE(user.strippedA, std::string("_orig_mod."));
        QCOMPARE(user.detectedA, std::string("module."));
        QCOMPARE(user.entries.front().path(), std::string("module.l.weight"));
    }

    // Chunks do not depend on the thread count: bit-identical metrics for any count.
    void threadCountIndependence()
    {
        const auto [x, y] = randomPair(1'234'567, 7);
        const auto files = writePair({{"w", x}, {"small", {1, 2, 3}}}, {{"w", y}, {"small", {1, 2, 4}}});
        const auto &a = files->a, &b = files->b;
        std::optional<DiffResult> first;
        for (unsigned threads : {1u, 2u, 3u, 8u}) {
            DiffOptions options;
            options.threads = threads;
            const DiffResult r = diffCheckpoints(*a, *b, options);
            QCOMPARE(r.entries.size(), 2u);
            if (!first) {
                first = r;
                continue;
            }
            QVERIFY(sameMetrics(*first, r));
        }
        // Independent reasoning: B = A except every element not a multiple of 5 (noise is almost
        // never exactly 0), one NaN on each side (17 in A, 33 in B) and +inf at 99 in B.
        const DiffEntry &w = first->entries[0];
        QCOMPARE(w.status, DiffStatus::Changed);
        QCOMPARE(w.nanMismatch, 2u);
        std::uint64_t differing = 0;
        double maxAbs = 0;
        for (std::size_t i = 0; i < x.size(); ++i) {
            differing += std::bit_cast<std::uint32_t>(x[i]) != std::bit_cast<std::uint32_t>(y[i]);
            if (std::isfinite(x[i]) && std::isfinite(y[i]))
                maxAbs = std::max(maxAbs, std::fabs(double(y[i]) - double(x[i])));
        }
        QCOMPARE(w.differing, differing);
        QCOMPARE(*w.maxAbsDiff, maxAbs);
        QCOMPARE(first->entries[1].differing, 1u);
        QCOMPARE(*first->entries[1].maxAbsDiff, 1.0);

        // The difference statistics too.
        const auto va = format::tensorView(*a, 0), vb = format::tensorView(*b, 0);
        format::StatsOptions s1, s2;
        s1.threads = 1;
        s2.threads = 5;
        const auto d1 = computeDifferenceStats(*va.view, *vb.view, s1);
        const auto d2 = computeDifferenceStats(*va.view, *vb.view, s2);
        QVERIFY(sameBits(d1.mean, d2.mean) && sameBits(d1.std, d2.std) && d1.hist == d2.hist);
        QCOMPARE(d1.nan, 2u); // x - NaN (17) and NaN - x (33)
        QCOMPARE(d1.posinf, 1u); // inf - x (99)
        QCOMPARE(d1.numel, x.size());
    }

    void cancelAndProgress()
    {
        const auto [x, y] = randomPair(3'000'000, 3);
        const auto files = writePair({{"w", x}, {"v", y}}, {{"w", y}, {"v", x}});
        const auto &a = files->a, &b = files->b;

        std::vector<std::pair<std::uint64_t, std::uint64_t>> calls;
        DiffOptions options;
        options.progress = [&](std::uint64_t done, std::uint64_t total) {
            calls.emplace_back(done, total);
            return true;
        };
        const DiffResult r = diffCheckpoints(*a, *b, options);
        QVERIFY(calls.size() >= 3);
        for (std::size_t i = 1; i < calls.size(); ++i)
            QVERIFY(calls[i].first >= calls[i - 1].first);
        QCOMPARE(calls.back().first, 6'000'000u);
        QCOMPARE(calls.back().second, 6'000'000u);
        QCOMPARE(r.summary().changed, 2u);

        int seen = 0;
        options.progress = [&](std::uint64_t, std::uint64_t) { return ++seen < 2; };
        bool cancelled = false;
        try {
            diffCheckpoints(*a, *b, options);
        } catch (const format::FormatError &e) {
            cancelled = e.kind() == format::FormatError::Kind::Cancelled;
        }
        QVERIFY(cancelled);

        const auto va = format::tensorView(*a, 0), vb = format::tensorView(*b, 0);
        format::StatsOptions so;
        seen = 0;
        so.progress = [&](std::uint64_t, std::uint64_t) { return ++seen < 2; };
        cancelled = false;
        try {
            computeDifferenceStats(*va.view, *vb.view, so);
        } catch (const format::FormatError &e) {
            cancelled = e.kind() == format::FormatError::Kind::Cancelled;
        }
        QVERIFY(cancelled);
    }

    /// DiffOptions::background / StatsOptions::background (the compare view): every worker
    /// runs at nice >= 10, the calling thread's nice value is untouched, and the metrics are
    /// bit-identical to a foreground run. Work too small for a thread of its own
    /// (ParallelWork::kBackgroundFrom) runs on the calling thread.
    void backgroundWorkersRunAtLowPriority()
    {
        const auto [x, y] = randomPair(2'000'000, 11);
        const auto files = writePair({{"w", x}, {"small", {1, 2, 3}}}, {{"w", y}, {"small", {1, 2, 4}}});
        const auto &a = files->a, &b = files->b;
        const auto tid = [] { return static_cast<id_t>(::gettid()); };
        const int callerNice = ::getpriority(PRIO_PROCESS, tid());
        std::mutex m;
        auto recordNice = [&](std::vector<int> &nices) {
            return [&m, &tid, &nices](std::uint64_t done, std::uint64_t total) {
                if (done < total) { // worker calls; the final one comes from the caller
                    std::lock_guard lock(m);
                    nices.push_back(::getpriority(PRIO_PROCESS, tid()));
                }
                return true;
            };
        };

        std::vector<int> fg, bg;
        DiffOptions options;
        options.threads = 2;
        options.progress = recordNice(fg);
        const DiffResult plain = diffCheckpoints(*a, *b, options);
        options.background = true;
        options.progress = recordNice(bg);
        const DiffResult low = diffCheckpoints(*a, *b, options);
        QVERIFY(!bg.empty());
        for (int n : bg)
            QVERIFY2(n >= 10, qPrintable(QString::number(n)));
        for (int n : fg)
            QCOMPARE(n, callerNice);
        QCOMPARE(::getpriority(PRIO_PROCESS, tid()), callerNice);
        QVERIFY(sameMetrics(plain, low));

        // The difference statistics of the compare view's tensor pane.
        const auto va = format::tensorView(*a, 0), vb = format::tensorView(*b, 0);
        std::vector<int> sfg, sbg;
        format::StatsOptions so;
        so.threads = 2;
        so.progress = recordNice(sfg);
        const auto d1 = computeDifferenceStats(*va.view, *vb.view, so);
        so.background = true;
        so.progress = recordNice(sbg);
        const auto d2 = computeDifferenceStats(*va.view, *vb.view, so);
        QVERIFY(!sbg.empty());
        for (int n : sbg)
            QVERIFY2(n >= 10, qPrintable(QString::number(n)));
        for (int n : sfg)
            QCOMPARE(n, callerNice);
        QVERIFY(sameBits(d1.mean, d2.mean) && sameBits(d1.std, d2.std) && d1.hist == d2.hist);

        // Three elements: below kBackgroundFrom, computed on the calling thread (whose nice
        // value a worker would have reported as 10), with the same result.
        static_assert(format::ParallelWork::kBackgroundFrom > 3);
        std::vector<int> tiny;
        std::vector<std::thread::id> threads;
        const auto vs = format::tensorView(*a, 1), ws = format::tensorView(*b, 1);
        so.progress = [&](std::uint64_t, std::uint64_t) {
            threads.push_back(std::this_thread::get_id());
            tiny.push_back(::getpriority(PRIO_PROCESS, tid()));
            return true;
        };
        const auto small = computeDifferenceStats(*vs.view, *ws.view, so);
        QVERIFY(!threads.empty());
        for (std::size_t i = 0; i < threads.size(); ++i) {
            QCOMPARE(threads[i], std::this_thread::get_id());
            QCOMPARE(tiny[i], callerNice);
        }
        QCOMPARE(small.numel, 3u);
        QCOMPARE(*small.max, 1.0);
    }

    /// DiffOptions::releasePages (ckpt-inspect diff): the same metrics, and the pages of both
    /// files leave the process once their pair is done (peak RSS at one pair of tensors, not
    /// both files: /proc/self/smaps of each mapping).
    void releasePagesKeepsResultsDropsPages()
    {
        const auto [x, y] = randomPair(3'000'000, 5);
        const auto files = writePair({{"w", x}, {"v", y}}, {{"w", y}, {"v", x}});
        const auto &a = files->a, &b = files->b;
        // Resident KiB of the mapping that holds p.
        auto residentKiB = [](const void *p) -> long {
            std::ifstream smaps("/proc/self/smaps");
            const auto at = reinterpret_cast<std::uintptr_t>(p);
            bool inside = false;
            for (std::string line; std::getline(smaps, line);) {
                unsigned long long lo = 0, hi = 0;
                if (std::sscanf(line.c_str(), "%llx-%llx ", &lo, &hi) == 2 && line.find(' ') > line.find('-'))
                    inside = at >= lo && at < hi;
                else if (inside && line.rfind("Rss:", 0) == 0)
                    return std::stol(line.substr(4));
            }
            return -1;
        };
        const void *mapA = a->files.at(0)->bytes().data;
        const void *mapB = b->files.at(0)->bytes().data;

        DiffOptions options;
        const DiffResult plain = diffCheckpoints(*a, *b, options);
        const long kib = static_cast<long>(2 * x.size() * sizeof(float) / 1024);
        QVERIFY2(residentKiB(mapA) > kib / 2 && residentKiB(mapB) > kib / 2,
                 qPrintable(QString::number(residentKiB(mapA))));
        options.releasePages = true;
        const DiffResult released = diffCheckpoints(*a, *b, options);
        QVERIFY2(residentKiB(mapA) >= 0 && residentKiB(mapA) < 64, qPrintable(QString::number(residentKiB(mapA))));
        QVERIFY2(residentKiB(mapB) >= 0 && residentKiB(mapB) < 64, qPrintable(QString::number(residentKiB(mapB))));
        QVERIFY(sameMetrics(plain, released));
        for (const DiffEntry &e : plain.entries)
            QVERIFY(e.differing > 0);
        // The bytes are read again from the page cache when asked for.
        const DiffResult again = diffCheckpoints(*a, *b, options);
        QCOMPARE(again.entries[0].differing, plain.entries[0].differing);
    }

    // Damaged B: truncated at many points and with flipped bytes. The diff covers what was
    // read, never crashes, and the CLI exits 2 with one line naming the file.
    void damagedInput()
    {
        QFile src(diffDir() + QStringLiteral("/epoch2.pt"));
        QVERIFY(src.open(QIODevice::ReadOnly));
        const QByteArray bytes = src.readAll();
        const auto a = read(diffDir() + QStringLiteral("/epoch1.pt"));
        QTemporaryDir dir;
        int variants = 0, cliChecked = 0;
        for (int cut = 0; cut < bytes.size(); cut += 517) {
            for (int flip = 0; flip < 2; ++flip) {
                QByteArray damaged = flip ? bytes : bytes.left(cut);
                if (flip) {
                    for (int i = cut; i < std::min<int>(cut + 8, static_cast<int>(damaged.size())); ++i)
                        damaged[i] = static_cast<char>(damaged[i] ^ 0x5a);
                }
                const QString path = dir.filePath(QStringLiteral("d%1_%2.pt").arg(cut).arg(flip));
                QFile f(path);
                QVERIFY(f.open(QIODevice::WriteOnly));
                f.write(damaged);
                f.close();
                const auto b = read(path);
                const DiffResult r = diffCheckpoints(*a, *b);
                const Json report = diffReport(*a, *b, r);
                QVERIFY(!diffTable(report).empty());
                QCOMPARE(report.contains("error_b"), !b->ok());
                for (const DiffEntry &e : r.entries)
                    QVERIFY(e.status != DiffStatus::Pending || !e.error.empty());
                ++variants;
                if (!b->ok() && cut % (517 * 4) == 0) {
                    QByteArray out, err;
                    QCOMPARE(inspect({QStringLiteral("diff"), QStringLiteral("--json"), diffDir() + QStringLiteral("/epoch1.pt"),
                                      path},
                                     &out, &err),
                             2);
                    QVERIFY(Json::parse(out.toStdString(), nullptr, false).is_object());
                    QVERIFY2(err.count('\n') == 1 && err.contains(path.toUtf8()), err.constData());
                    ++cliChecked;
                }
            }
        }
        QVERIFY(variants > 30);
        QVERIFY(cliChecked > 3);
        QByteArray out, err;
        QCOMPARE(inspect({QStringLiteral("diff"), diffDir() + QStringLiteral("/epoch1.pt"), dir.filePath(QStringLiteral("missing.pt"))},
                         &out, &err),
                 2);
        QVERIFY(err.contains("missing.pt"));
    }

    // Fresh random pairs made by torch now, every metric against torch's.
    void oracle()
    {
        const QString python = QStringLiteral("/usr/bin/python3");
        QProcess probe;
        probe.start(python, {QStringLiteral("-c"), QStringLiteral("import torch")});
        if (!probe.waitForFinished(120000) || probe.exitStatus() != QProcess::NormalExit || probe.exitCode() != 0)
            QSKIP("torch is not installed for /usr/bin/python3 (apt-get install python3-torch): oracle skipped");
        QTemporaryDir dir;
        const int seed = static_cast<int>(QDateTime::currentMSecsSinceEpoch() % 100000);
        QProcess gen;
        gen.setProcessChannelMode(QProcess::MergedChannels);
        gen.start(python, {QStringLiteral(CKPT_SOURCE_DIR "/tests/oracle/torch_diff_oracle.py"), QStringLiteral("--out"),
                           dir.path(), QStringLiteral("--seed"), QString::number(seed), QStringLiteral("--count"),
                           QStringLiteral("4")});
        QVERIFY(gen.waitForFinished(300000));
        QVERIFY2(gen.exitStatus() == QProcess::NormalExit && gen.exitCode() == 0, gen.readAll().constData());
        const QStringList docs = QDir(dir.path()).entryList({QStringLiteral("*.json")}, QDir::Files, QDir::Name);
        QCOMPARE(docs.size(), 4);
        for (const QString &doc : docs) {
            const Json expected = loadJson(dir.filePath(doc).toStdString());
            const auto a = read(dir.filePath(QString::fromStdString(expected["a"].get<std::string>())));
            const auto b = read(dir.filePath(QString::fromStdString(expected["b"].get<std::string>())));
            QVERIFY(a->ok() && b->ok());
            Mismatches m;
            compareDiff(diffReport(*a, *b, diffCheckpoints(*a, *b)), expected, m);
            QVERIFY2(m.empty(), qPrintable(QStringLiteral("seed %1, %2:\n").arg(seed).arg(doc) + m.text()));
        }
    }
};

QTEST_GUILESS_MAIN(TestDiff)
#include "tst_diff.moc"
