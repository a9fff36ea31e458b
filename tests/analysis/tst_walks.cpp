// SPDX-License-Identifier: MIT
// Issue 16, item 5: every walk of the value graph is bounded. torch.save memoizes containers,
// so a file of a few hundred bytes can hold 64 levels of `x = (x, x)`: 2^64 paths to one tensor.
// The fixtures (tests/fixtures/make_walk_fixtures.py, torch 1.13; what torch says about them in
// walks/expected.json) go through every walk the programs make: reading, the listing (table and
// JSON), statistics, the training-state search, the optimizer mapping, the comparison and the
// GUI's tree. Each must stay under 2 s and 256 MB of allocations, list every distinct tensor, and
// say that shared paths were cut. A state dict shared by two keys of a real checkpoint
// (`{'model': sd, 'ema': sd}`) is no bomb: it must still be listed at every path.
#include "checkpointreader.h"
#include "checkpointtree.h"
#include "diffengine.h"
#include "inspectreport.h"
#include "trainingstate.h"

#include <QElapsedTimer>
#include <QFile>
#include <QTest>

#include <nlohmann/json.hpp>

#include <functional>
#include <set>
#include <string>

#include "allocationcounter.h"

using namespace ckpt;
using namespace ckpt::format;

namespace {

constexpr std::int64_t kMaxAlloc = 256ll << 20;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr qint64 kMaxMs = 2000 * 8; // the sanitizer pass runs everything several times slower
#else
constexpr qint64 kMaxMs = 2000;
#endif

QString fixture(const char *name) { return QStringLiteral(CKPT_FIXTURES_DIR "/walks/") + QLatin1String(name); }

nlohmann::json expected()
{
    QFile f(fixture("expected.json"));
    if (!f.open(QIODevice::ReadOnly))
        return {};
    return nlohmann::json::parse(f.readAll().toStdString());
}

/// Runs `step`, fails the test when it takes longer than kMaxMs or allocates more than kMaxAlloc
/// at its peak (beyond what was live before it).
#define BOUNDED(label, ...)                                                                       \
    do {                                                                                          \
        const std::int64_t before = g_current.load();                                             \
        g_peak.store(before);                                                                     \
        QElapsedTimer timer;                                                                      \
        timer.start();                                                                            \
        __VA_ARGS__;                                                                              \
        const qint64 ms = timer.elapsed();                                                        \
        const std::int64_t peak = g_peak.load() - before;                                         \
        qInfo("%s: %s %lld ms, peak %lld KiB", qPrintable(file), label, static_cast<long long>(ms), \
              static_cast<long long>(peak >> 10));                                                \
        QVERIFY2(ms < kMaxMs, label);                                                             \
        QVERIFY2(peak < kMaxAlloc, label);                                                        \
    } while (false)

bool hasSharedWarning(const CheckpointData &data)
{
    for (const auto &w : data.warnings)
        if (w.message.find("shared by very many paths") != std::string::npos)
            return true;
    return false;
}

} // namespace

class TestWalks : public QObject
{
    Q_OBJECT

private slots:
    void bombs_data();
    void bombs();
    void sharedStateDictListedAtEveryPath();
    void optimizerStateThroughSharedMoments();
};

void TestWalks::bombs_data()
{
    QTest::addColumn<QString>("name");
    QTest::newRow("tuples") << "shared64.pt";      // 2^64 paths to one tensor
    QTest::newRow("ints") << "shared64_int.pt";    // 2^64 paths to an int under "model"
    QTest::newRow("dicts") << "shared64_dict.pt";  // {'a': d, 'b': d} 64 deep beside a model
    QTest::newRow("optimizer") << "shared64_opt.pt"; // 2^40 paths in an optimizer's moments
}

void TestWalks::bombs()
{
    QFETCH(QString, name);
    const nlohmann::json want = expected()[name.toStdString()];
    QVERIFY(want.is_object());
    const QString file = fixture(name.toLatin1().constData());
    QCOMPARE(QFile(file).size(), want["bytes"].get<qint64>());

    std::shared_ptr<const CheckpointData> data;
    BOUNDED("read", data = readCheckpoint(file.toStdString()));
    QVERIFY(data);
    QVERIFY2(data->ok(), data->error ? data->error->message.c_str() : "");

    // torch's own count of distinct tensors and storages.
    QCOMPARE(data->tensors.size(), want["unique_tensors"].get<std::size_t>());
    std::set<int> storageKeys;
    for (const auto &t : data->tensors)
        if (t.storage >= 0)
            storageKeys.insert(t.storage);
    QCOMPARE(storageKeys.size(), want["unique_storages"].get<std::size_t>());

    // Every tensor is listed at least once, and the cut is said.
    std::set<int> listed;
    for (const auto &p : data->paths)
        listed.insert(p.tensor);
    QCOMPARE(listed.size(), data->tensors.size());
    QVERIFY(hasSharedWarning(*data));

    std::string text;
    BOUNDED("ls --json", text = dumpJson(lsReport(*data)));
    QVERIFY(nlohmann::json::parse(text).is_object());
    std::size_t tableBytes = 0;
    BOUNDED("ls", writeLsTable(*data, [&](std::string_view piece) { tableBytes += piece.size(); }));
    QVERIFY(tableBytes > 0);

    StatsSelection all;
    all.threads = 2;
    Json stats;
    BOUNDED("stats", stats = statsReport(*data, all));
    QVERIFY(stats.contains("stats"));
    // Statistics are computed per distinct tensor, not per path.
    QVERIFY(stats["stats"].size() <= data->paths.size());

    std::vector<TrainingItem> items;
    BOUNDED("training state", items = findTrainingState(*data));
    Json optim;
    BOUNDED("optim", optim = optimReport(*data));
    QVERIFY(optim.is_object());

    DiffResult diff;
    BOUNDED("diff self", diff = diffCheckpoints(*data, *data));
    for (const auto &entry : diff.entries)
        QVERIFY2(entry.status == DiffStatus::Same, entry.a && !entry.a->keys.empty() ? entry.a->keys.back().c_str() : "");
    QVERIFY(diff.sharedCutA);

    std::shared_ptr<const CheckpointTree> tree;
    BOUNDED("tree", tree = CheckpointTree::build(data));
    QVERIFY(tree);
    QVERIFY(tree->nodeCount() < 400'000);
    QVERIFY(!tree->truncated());
    for (int i = 0; i < static_cast<int>(data->tensors.size()); ++i)
        QVERIFY(!tree->nodesForTensor(i).empty());
}

void TestWalks::sharedStateDictListedAtEveryPath()
{
    const QString file = fixture("shared_state_dict.pt");
    const nlohmann::json want = expected()["shared_state_dict.pt"];
    const auto data = readCheckpoint(file.toStdString());
    QVERIFY(data && data->ok());
    QCOMPARE(data->tensors.size(), want["unique_tensors"].get<std::size_t>());
    QVERIFY(!hasSharedWarning(*data));

    std::vector<std::string> paths;
    for (const auto &p : data->paths)
        paths.push_back(p.path());
    QCOMPARE(paths, want["tensor_paths"].get<std::vector<std::string>>());

    const auto tree = CheckpointTree::build(data);
    QVERIFY(!tree->sharedCut());
    for (int i = 0; i < static_cast<int>(data->tensors.size()); ++i)
        QCOMPARE(tree->nodesForTensor(i).size(), std::size_t{2}); // under model/ and under ema/

    const DiffResult diff = diffCheckpoints(*data, *data);
    QVERIFY(!diff.sharedCutA);
    std::size_t tensorEntries = 0;
    for (const auto &entry : diff.entries) {
        if (entry.a && entry.a->tensor >= 0)
            ++tensorEntries;
        QCOMPARE(entry.status, DiffStatus::Same);
    }
    QCOMPARE(tensorEntries, want["tensor_paths"].size());
}

void TestWalks::optimizerStateThroughSharedMoments()
{
    const auto data = readCheckpoint(fixture("shared64_opt.pt").toStdString());
    QVERIFY(data && data->ok());
    const Json report = optimReport(*data);
    QCOMPARE(report["optimizers"].size(), std::size_t{1});
    const Json &param = report["optimizers"][0]["params"][0];
    QCOMPARE(param["id"].get<int>(), 0);
    QCOMPARE(param["name"].get<std::string>(), std::string("a"));
    QCOMPARE(param["tensor_path"].get<std::string>(), std::string("state_dict/a"));
    QCOMPARE(param["state"]["step"].get<int>(), 1);
    // The 2^40 paths of the shared moments are written within a budget, cut values as "...".
    QVERIFY(dumpJson(report).find("\"...\"") != std::string::npos);
}

QTEST_GUILESS_MAIN(TestWalks)
#include "tst_walks.moc"
