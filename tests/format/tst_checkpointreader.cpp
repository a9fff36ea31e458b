// SPDX-License-Identifier: MIT
// Every committed fixture, read by the reader and reported as `ls`/`stats`/`scan` would,
// against what torch said about it (tests/fixtures/expected/*.json, made by make_fixtures.py).

#include "expectedcheck.h"
#include "diffengine.h"
#include "inspectreport.h"
#include "trainingstate.h"
#include "safetensorswriter.h"

#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QFileInfo>
#include <QTemporaryDir>
#include <QTest>

#include <cmath>
#include <cstring>
#include <mutex>

#include <sys/resource.h>
#include <unistd.h>

using namespace ckpt;

namespace {

QString fixturePath(const QString &file)
{
    for (const QString &dir : {QStringLiteral(CKPT_FIXTURES_DIR "/files"), QStringLiteral(CKPT_SOURCE_DIR "/resources/samples")}) {
        const QString p = dir + QLatin1Char('/') + file;
        if (QFileInfo::exists(p))
            return p;
    }
    return {};
}

/// x_i = ((i * 7919 + t) mod 1000) - 499.5 for tensor t: exact in float32.
float knownValue(std::uint64_t i, std::size_t t)
{
    return float(double((i * 7919 + t) % 1000) - 499.5);
}

/// A safetensors file of float32 tensors "t0", "t1", ... of these sizes, holding knownValue().
bool writeKnownValues(const QString &path, const std::vector<std::uint64_t> &sizes)
{
    test::NamedFloats tensors;
    for (std::size_t t = 0; t < sizes.size(); ++t) {
        std::vector<float> v(sizes[t]);
        for (std::uint64_t i = 0; i < sizes[t]; ++i)
            v[i] = knownValue(i, t);
        tensors.emplace_back(std::string("t").append(std::to_string(t)), std::move(v));
    }
    return test::writeSafetensors(path, tensors);
}

/// `value` (read by our JSON reader) holds what nlohmann's parser reads from the same text;
/// `where` names the first difference.
bool sameJson(const test::Json &json, const format::Value *value, const std::string &at, std::string &where)
{
    using format::ValueKind;
    auto differ = [&](const std::string &what) {
        where = at + ": " + what;
        return false;
    };
    if (!value)
        return differ("missing");
    switch (json.type()) {
    case test::Json::value_t::object: {
        if (value->kind != ValueKind::Dict || value->dictSize() != json.size())
            return differ("not a dict of " + std::to_string(json.size()) + " keys");
        for (const auto &[k, v] : json.items())
            if (!sameJson(v, value->get(k), at + "/" + k, where))
                return false;
        return true;
    }
    case test::Json::value_t::array:
        if (value->kind != ValueKind::List || value->items.size() != json.size())
            return differ("not a list of " + std::to_string(json.size()));
        for (std::size_t i = 0; i < json.size(); ++i)
            if (!sameJson(json[i], value->items[i], at + "/" + std::to_string(i), where))
                return false;
        return true;
    case test::Json::value_t::string:
        return (value->kind == ValueKind::Str && value->text == json.get<std::string>()) || differ("string differs");
    case test::Json::value_t::boolean:
        return (value->kind == ValueKind::Bool && value->boolean == json.get<bool>()) || differ("bool differs");
    case test::Json::value_t::null:
        return value->kind == ValueKind::None || differ("not None");
    case test::Json::value_t::number_integer:
    case test::Json::value_t::number_unsigned:
        return (value->kind == ValueKind::Int && value->integer == json.get<std::int64_t>()) || differ("int differs");
    case test::Json::value_t::number_float:
        return (value->kind == ValueKind::Float && value->real == json.get<double>()) || differ("float differs");
    default:
        return differ("unexpected JSON type");
    }
}

} // namespace

class TestCheckpointReader : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void fixtures_data()
    {
        QTest::addColumn<QString>("expectedPath");
        const QDir dir(QStringLiteral(CKPT_FIXTURES_DIR "/expected"));
        QStringList files;
        QDirIterator it(dir.path(), {QStringLiteral("*.json")}, QDir::Files, QDirIterator::Subdirectories);
        while (it.hasNext())
            files.push_back(dir.relativeFilePath(it.next()));
        files.sort();
        QVERIFY2(files.size() >= 30, qPrintable(QStringLiteral("only %1 expected files").arg(files.size())));
        for (const QString &f : files)
            QTest::newRow(qPrintable(f)) << dir.filePath(f);
    }

    void fixtures()
    {
        QFETCH(QString, expectedPath);
        const test::Json expected = test::loadJson(expectedPath.toStdString());
        QVERIFY2(expected.is_object(), "expected JSON does not parse");
        const QString file = fixturePath(QString::fromStdString(expected["file"].get<std::string>()));
        QVERIFY2(!file.isEmpty(), "fixture file not found");

        const auto data = format::readCheckpoint(file.toStdString());
        QVERIFY(data);
        const Json ls = lsReport(*data);
        StatsSelection request;
        const Json stats = statsReport(*data, request);
        const Json scan = scanReport(*data);

        test::Mismatches m;
        test::compareError(ls, expected, m);
        test::compareListing(ls, expected, m);
        test::compareStats(stats, expected, m);
        test::compareGlobals(scan, expected, m);
        QVERIFY2(m.empty(), qPrintable(m.text()));
        // The test must have compared something real.
        QVERIFY(expected["tensors"].is_array());
        if (data->ok() && !expected["tensors"].empty())
            QCOMPARE(ls["tensors"].size(), expected["tensors"].size());
    }

    // torch 2.13's nested tensors (strided: _rebuild_nested_tensor; jagged: NestedTensor through
    // _rebuild_njt) are listed as the tensors they are made of (their listing and statistics are
    // checked against torch by fixtures()), with no warning, and a jagged one is not dangerous.
    void nestedTensorsAreRead_data()
    {
        QTest::addColumn<QString>("file");
        QTest::addColumn<QString>("values");
        QTest::newRow("nested") << QStringLiteral("torch2/nested.pt") << QStringLiteral("nested/values");
        QTest::newRow("jagged") << QStringLiteral("torch2/jagged.pt") << QStringLiteral("jagged/values");
    }
    void nestedTensorsAreRead()
    {
        QFETCH(QString, file);
        QFETCH(QString, values);
        const QString path = fixturePath(file);
        QVERIFY2(!path.isEmpty(), "run tests/fixtures/make_torch2_fixtures.py");
        const auto data = format::readCheckpoint(path.toStdString());
        QVERIFY(data && data->ok());
        const std::string firstWarning = data->warnings.empty() ? std::string() : data->warnings.front().text();
        QVERIFY2(data->warnings.empty(), firstWarning.c_str());
        bool found = false;
        for (const auto &p : data->paths)
            found = found || (p.path() == values.toStdString() && p.tensor >= 0);
        QVERIFY(found);
        QCOMPARE(data->scanVerdict(), format::ScanVerdict::Safe);
    }

    // A save_pretrained folder opens as the weights in it; a folder without one set of weights
    // (and none of a Trainer's files) is a clear error naming what was looked for.
    void foldersOpenTheirWeights_data()
    {
        QTest::addColumn<QString>("folder");
        QTest::addColumn<QString>("weights");
        QTest::newRow("sharded") << QStringLiteral("torch2/transformers/sharded")
                                 << QStringLiteral("model.safetensors.index.json");
        QTest::newRow("single") << QStringLiteral("torch2/transformers/single") << QStringLiteral("model.safetensors");
        // transformers 4's save_pretrained(safe_serialization=False) (make_transformers4_fixtures.py)
        QTest::newRow("bin") << QStringLiteral("torch2/transformers4/bin") << QStringLiteral("pytorch_model.bin");
        QTest::newRow("bin sharded") << QStringLiteral("torch2/transformers4/bin_sharded")
                                     << QStringLiteral("pytorch_model.bin.index.json");
    }
    void foldersOpenTheirWeights()
    {
        QFETCH(QString, folder);
        QFETCH(QString, weights);
        const QString dir = QStringLiteral(CKPT_FIXTURES_DIR "/files/") + folder;
        const auto viaFolder = format::readCheckpoint(dir.toStdString());
        const auto viaFile = format::readCheckpoint((dir + QLatin1Char('/') + weights).toStdString());
        QVERIFY(viaFolder && viaFolder->ok() && viaFile && viaFile->ok());
        QCOMPARE(QString::fromStdString(viaFolder->file), dir + QLatin1Char('/') + weights);
        QVERIFY(!viaFolder->tensors.empty());
        QVERIFY(lsReport(*viaFolder) == lsReport(*viaFile));
    }

    // A transformers Trainer folder (checkpoint-N/) opens as one checkpoint, each file under its
    // key: every file's tensors, statistics and globals as torch 2.13 reads that file (the
    // expected documents of make_torch2_fixtures.py), trainer_state.json's values as a JSON
    // parser reads them, the verdict of its most dangerous file, and optimizer ids unnamed
    // (model.safetensors keeps its tensors sorted by name, not in the model's order).
    void trainerFolderIsOneCheckpoint()
    {
        const std::string rel = "torch2/transformers/trainer/checkpoint-4";
        const std::string dir = CKPT_FIXTURES_DIR "/files/" + rel;
        const auto data = format::readCheckpoint(dir);
        QVERIFY(data);
        QVERIFY2(data->ok(), data->error ? data->error->text().c_str() : "");
        QCOMPARE(data->format, format::ContainerFormat::Folder);
        QCOMPARE(data->file, dir);
        std::vector<std::string> keys;
        for (const auto &m : data->members)
            keys.push_back(m.key);
        const std::vector<std::string> wantKeys{"model", "optimizer", "scheduler", "rng_state",
                                                "trainer_state", "training_args", "config"};
        QVERIFY(keys == wantKeys);

        const Json ls = lsReport(*data);
        const Json stats = statsReport(*data, StatsSelection{});
        QVERIFY2(ls["format"] == "folder" && ls["members"].size() == wantKeys.size(), ls["members"].dump().c_str());
        // The entries under `key`, with the key taken off their paths.
        auto under = [](const Json &list, const std::string &key) {
            Json out = Json::array();
            for (Json e : list) {
                const std::string path = e["path"].get<std::string>();
                if (path.rfind(key + "/", 0) != 0)
                    continue;
                e["path"] = path.substr(key.size() + 1);
                if (e.contains("keys"))
                    e["keys"].erase(0);
                out.push_back(std::move(e));
            }
            return out;
        };
        test::Json merged = {{"globals", test::Json::array()}, {"dangerous", false}};
        std::size_t compared = 0;
        for (const auto &[key, file] : {std::pair<std::string, std::string>{"model", "model.safetensors"},
                                        {"optimizer", "optimizer.pt"}, {"scheduler", "scheduler.pt"},
                                        {"rng_state", "rng_state.pth"}, {"training_args", "training_args.bin"}}) {
            const test::Json expected = test::loadJson(CKPT_FIXTURES_DIR "/expected/" + rel + "/" + file + ".json");
            QVERIFY2(expected.is_object(), file.c_str());
            const Json ours = {{"format", expected["format"]}, {"tensors", under(ls["tensors"], key)}};
            const Json ourStats = {{"stats", under(stats["stats"], key)}};
            test::Mismatches m;
            test::compareListing(ours, expected, m);
            test::compareStats(ourStats, expected, m);
            QVERIFY2(m.empty(), qPrintable(QString::fromStdString(file + ": ") + m.text()));
            QCOMPARE(ours["tensors"].size(), expected["tensors"].size());
            compared += expected["tensors"].size();
            for (const auto &g : expected["globals"])
                merged["globals"].push_back(g);
            merged["dangerous"] = merged["dangerous"].get<bool>() || expected["dangerous"].get<bool>();
        }
        QCOMPARE(compared, ls["tensors"].size()); // nothing else has tensors
        test::Mismatches m;
        test::compareGlobals(scanReport(*data), merged, m);
        QVERIFY2(m.empty(), qPrintable(m.text()));
        QVERIFY(merged["dangerous"].get<bool>());
        QCOMPARE(data->dangerousMember(), std::string("training_args.bin"));

        // trainer_state.json and config.json: the same values as a JSON parser gives.
        for (const auto &[key, file] : {std::pair<std::string, std::string>{"trainer_state", "trainer_state.json"},
                                        {"config", "config.json"}}) {
            const test::Json json = test::loadJson(dir + "/" + file);
            const format::Value *value = data->root->get(key);
            QVERIFY(json.is_object() && value);
            std::string where;
            QVERIFY2(sameJson(json, value, key, where), where.c_str());
        }
        QVERIFY(data->root->get("trainer_state")->get("log_history")->items.size() == 4);

        // The optimizer is found beside the model, but no id can be named.
        const Json optim = optimReport(*data);
        QCOMPARE(optim["optimizers"].size(), std::size_t(1));
        const Json &o = optim["optimizers"][0];
        QVERIFY2(o["model_path"] == "model", o.dump().c_str());
        QCOMPARE(o["params"].size(), std::size_t(41));
        for (const Json &p : o["params"])
            QVERIFY2(p["name"].is_null() && p["mapping"] == "ambiguous", p.dump().c_str());
    }
    // A damaged file of a Trainer folder is the error, naming the file and the byte offset; the
    // other files are still read. Hostile JSON (nesting 100,000 deep, a NUL) is refused, not
    // followed.
    void damagedTrainerFolderShowsTheRest_data()
    {
        QTest::addColumn<QByteArray>("json");
        QTest::addColumn<QString>("error");
        QTest::newRow("cut") << QByteArray("{\"global_step\": 4, \"log_history\": [{\"loss\": 0.5")
                             << QStringLiteral("record 'trainer_state.json' at byte 47: invalid JSON");
        QTest::newRow("bad byte") << QByteArray("{\"global_step\": 4, \"epoch\": x}")
                                  << QStringLiteral("record 'trainer_state.json' at byte 28: invalid JSON");
        QTest::newRow("deep") << (QByteArray(100000, '[') + QByteArray(100000, ']'))
                              << QStringLiteral("JSON nested deeper than 2000 levels");
        QTest::newRow("nul") << QByteArray("{\"a\": \"\0\"}", 10) << QStringLiteral("NUL byte");
    }
    void damagedTrainerFolderShowsTheRest()
    {
        QFETCH(QByteArray, json);
        QFETCH(QString, error);
        QTemporaryDir dir;
        const QString from = QStringLiteral(CKPT_FIXTURES_DIR "/files/torch2/transformers/trainer/checkpoint-4/");
        QVERIFY(QFile::copy(from + QStringLiteral("optimizer.pt"), dir.filePath(QStringLiteral("optimizer.pt"))));
        QFile state(dir.filePath(QStringLiteral("trainer_state.json")));
        QVERIFY(state.open(QIODevice::WriteOnly) && state.write(json) == json.size());
        state.close();
        const auto data = format::readCheckpoint(dir.path().toStdString());
        QVERIFY(data && data->error);
        const QString text = QString::fromStdString(data->error->text());
        QVERIFY2(text.contains(error) && text.contains(QLatin1String("trainer_state.json")), qPrintable(text));
        QCOMPARE(data->format, format::ContainerFormat::Folder);
        QCOMPARE(data->members.size(), std::size_t(2));
        std::size_t optimizerTensors = 0;
        for (const auto &p : data->paths)
            optimizerTensors += p.keys.front() == "optimizer";
        QCOMPARE(optimizerTensors, std::size_t(41 * 3));
    }

    // torch.distributed.checkpoint directories (make_dcp_fixtures.py; their listing, statistics
    // and globals are checked against dcp_to_torch_save by fixtures()): every tensor's chunks,
    // files, ranks and byte ranges as torch's FileSystemReader reads .metadata, and a tensor
    // split across ranks is one view over its pieces.
    void dcpChunksAsTorchReadsThem_data()
    {
        QTest::addColumn<QString>("name");
        QTest::addColumn<int>("split");
        QTest::newRow("single") << QStringLiteral("single") << 0;
        QTest::newRow("fsdp") << QStringLiteral("fsdp") << 13;
        QTest::newRow("fsdp_step2") << QStringLiteral("fsdp_step2") << 13;
    }
    void dcpChunksAsTorchReadsThem()
    {
        QFETCH(QString, name);
        QFETCH(int, split);
        const std::string dir = CKPT_FIXTURES_DIR "/files/torch2/dcp/" + name.toStdString();
        const test::Json expected = test::loadJson(CKPT_FIXTURES_DIR "/expected/torch2/dcp/" + name.toStdString() + ".chunks");
        QVERIFY2(expected.is_object() && !expected.empty(), "run tests/fixtures/make_dcp_fixtures.py");
        const auto data = format::readCheckpoint(dir);
        QVERIFY(data);
        QVERIFY2(data->ok(), data->error ? data->error->text().c_str() : "");
        QCOMPARE(data->format, format::ContainerFormat::Dcp);
        const Json ls = lsReport(*data);
        std::size_t seen = 0;
        int splitSeen = 0;
        for (const Json &t : ls["tensors"]) {
            const std::string path = t["path"].get<std::string>();
            QVERIFY2(expected.contains(path) && t.contains("chunks"), path.c_str());
            const test::Json &want = expected[path];
            QCOMPARE(t["chunks"].size(), want.size());
            for (std::size_t c = 0; c < want.size(); ++c) {
                const Json &got = t["chunks"][c];
                QVERIFY2(got["offsets"] == want[c]["offsets"] && got["sizes"] == want[c]["sizes"]
                             && got["file"] == want[c]["file"] && got["offset"] == want[c]["offset"]
                             && got["length"] == want[c]["length"],
                         (path + ": " + got.dump() + " vs " + want[c].dump()).c_str());
                // __<rank>_<n>.distcp
                QCOMPARE(got["rank"].get<int>(), want[c]["file"].get<std::string>()[2] - '0');
            }
            ++seen;
            if (want.size() > 1) {
                ++splitSeen;
                const auto &p = data->paths[seen - 1];
                const auto view = format::tensorView(*data, p.tensor);
                // One piecewise view over both chunks (values: dcpSplitTensorsHoldTorchsValues);
                // statistics read both pieces (fixtures() checks them).
                QVERIFY2(view.view && view.view->pieces && view.error.empty(), view.error.c_str());
                QCOMPARE(view.view->pieces->size(), std::size_t(2));
                QCOMPARE(view.pieces.size(), std::size_t(2));
            }
        }
        QCOMPARE(seen, expected.size());
        QCOMPARE(splitSeen, split);
    }

    // Hostile .metadata (make_dcp_fixtures.py rewrites single/'s with the DCP classes): each is
    // an error naming what is wrong, and no file outside the case's directory is opened.
    void dcpHostileMetadata_data()
    {
        QTest::addColumn<QString>("name");
        QTest::addColumn<QString>("error");
        const test::Json cases = test::loadJson(CKPT_FIXTURES_DIR "/files/torch2/dcp/hostile/errors.json");
        QVERIFY2(cases.is_object() && cases.size() >= 7, "run tests/fixtures/make_dcp_fixtures.py");
        for (const auto &[name, error] : cases.items())
            QTest::newRow(name.c_str()) << QString::fromStdString(name) << QString::fromStdString(error.get<std::string>());
    }
    void dcpHostileMetadata()
    {
        QFETCH(QString, name);
        QFETCH(QString, error);
        const std::string dir = CKPT_FIXTURES_DIR "/files/torch2/dcp/hostile/" + name.toStdString();
        const auto data = format::readCheckpoint(dir);
        QVERIFY(data && data->error);
        const QString text = QString::fromStdString(data->error->text());
        QVERIFY2(text.contains(error), qPrintable(text));
        for (const auto &f : data->files)
            QVERIFY2(f->path().rfind(dir + "/", 0) == 0, f->path().c_str());
        // What could be read is shown: the other tensors and values.
        QVERIFY2(data->paths.size() >= 15, qPrintable(QString::number(data->paths.size())));
    }

    // Diff across layouts: the DCP directory against the file dcp_to_torch_save makes of it.
    void dcpAgainstItsTorchSaveIsSame()
    {
        const std::string base = CKPT_FIXTURES_DIR "/files/torch2/dcp/";
        const auto a = format::readCheckpoint(base + "single");
        const auto b = format::readCheckpoint(base + "single.pt");
        QVERIFY(a && a->ok() && b && b->ok());
        const Json diff = diffReport(*a, *b, diffCheckpoints(*a, *b));
        int tensors = 0;
        for (const Json &e : diff["entries"]) {
            QVERIFY2(e["status"] == "same", e.dump().c_str());
            tensors += e.contains("max_abs_diff");
        }
        QCOMPARE(tensors, 16);
        // And the FSDP run's directory against its file: its tensors split among ranks compare
        // element by element (the full check against torch is tst_diff's dcp_layouts pair).
        const auto c = format::readCheckpoint(base + "fsdp");
        const auto d = format::readCheckpoint(base + "fsdp.pt");
        QVERIFY(c && c->ok() && d && d->ok());
        const Json fsdp = diffReport(*c, *d, diffCheckpoints(*c, *d));
        tensors = 0;
        for (const Json &e : fsdp["entries"]) {
            QVERIFY2(e["status"] == "same" && !e.contains("error"), e.dump().c_str());
            tensors += e.contains("max_abs_diff");
        }
        QCOMPARE(tensors, 17);
    }

    // Tensors split among ranks (FSDP2 along dim 0, a DTensor along dim 1) read element by
    // element, run by run and as the values view reads them: what torch's dcp_to_torch_save
    // wrote for the same directory, bit for bit.
    void dcpSplitTensorsHoldTorchsValues()
    {
        const std::string base = CKPT_FIXTURES_DIR "/files/torch2/dcp/";
        const auto a = format::readCheckpoint(base + "fsdp");
        const auto b = format::readCheckpoint(base + "fsdp.pt");
        QVERIFY(a && a->ok() && b && b->ok());
        const DiffResult aligned = alignCheckpoints(*a, *b);
        int split = 0;
        bool alongDim1 = false;
        for (const DiffEntry &e : aligned.entries) {
            if (!e.a || !e.b || e.a->tensor < 0)
                continue;
            const auto &chunks = a->chunksOfTensor.at(static_cast<std::size_t>(e.a->tensor));
            if (chunks.size() < 2)
                continue;
            ++split;
            for (const auto &c : chunks)
                alongDim1 = alongDim1 || (c.offsets.size() == 2 && c.offsets[1] != 0);
            const std::string where = e.path();
            const auto va = format::tensorView(*a, e.a->tensor);
            const auto vb = format::tensorView(*b, e.b->tensor);
            QVERIFY2(va.view && va.view->pieces && va.error.empty(), where.c_str());
            QVERIFY2(vb.view && !vb.view->pieces, where.c_str());
            QCOMPARE(va.view->shape, vb.view->shape);
            const std::uint64_t n = vb.view->numel();
            // Every element by its index (the values view's and heat-map's way).
            std::vector<std::int64_t> index(vb.view->shape.size(), 0);
            for (std::uint64_t i = 0; i < n; ++i) {
                std::uint64_t rest = i;
                for (std::size_t k = index.size(); k-- > 0;) {
                    index[k] = static_cast<std::int64_t>(rest % static_cast<std::uint64_t>(vb.view->shape[k]));
                    rest /= static_cast<std::uint64_t>(vb.view->shape[k]);
                }
                QCOMPARE(format::formatElementAt(*va.view, index), format::formatElementAt(*vb.view, index));
            }
            // Every range [first, first + count) decoded at once (the diff's way): runs that
            // cross from one piece to the next.
            std::vector<double> all(n), part(n);
            format::ElementDecoder(*vb.view).decode(0, n, all.data(), false);
            const format::ElementDecoder pieces(*va.view);
            QCOMPARE(pieces.numel(), n);
            QCOMPARE(pieces.patternCount(), 0u);
            for (std::uint64_t first = 0; first < n; first += 1 + first / 3)
                for (const std::uint64_t count : {std::uint64_t(1), std::uint64_t(7), n - first}) {
                    const std::uint64_t m = std::min(count, n - first);
                    pieces.decode(first, m, part.data(), false);
                    QVERIFY2(std::memcmp(part.data(), all.data() + first, m * sizeof(double)) == 0,
                             (where + " from " + std::to_string(first) + " count " + std::to_string(m)).c_str());
                }
        }
        QCOMPARE(split, 13);
        QVERIFY(alongDim1);
    }

    // Opened from .metadata alone (the GUI and ckpt-inspect ls/stats/diff): no record is read
    // until a view needs it; then each gives what it gives when read on open, and a record
    // that lies gives its tensor's error, naming it.
    // ReadLimits::scan false (ckpt-inspect ls, stats, optim, diff): the same read without the
    // security scan, for every container kind that scans (a file, a dangerous pickle, a shard
    // index, a training folder, a DCP directory).
    void readWithoutScan_data()
    {
        QTest::addColumn<QString>("path");
        const QString base = QStringLiteral(CKPT_FIXTURES_DIR "/files/");
        for (const char *name : {"state_dict.pt", "malicious_zip.pt", "legacy.pt", "sharded_bin/pytorch_model.bin.index.json",
                                 "torch2/transformers/trainer/checkpoint-4", "torch2/dcp/fsdp"})
            QTest::newRow(name) << base + QString::fromLatin1(name);
    }
    void readWithoutScan()
    {
        QFETCH(QString, path);
        format::ReadLimits noScan;
        noScan.scan = false;
        const auto with = format::readCheckpoint(path.toStdString());
        const auto without = format::readCheckpoint(path.toStdString(), noScan);
        QVERIFY(with && without);
        QVERIFY(with->security);
        QVERIFY(!without->security);
        QCOMPARE(without->scanVerdict(), format::ScanVerdict::Unknown);
        QCOMPARE(without->ok(), with->ok());
        QCOMPARE(without->tensors.size(), with->tensors.size());
        QCOMPARE(without->paths.size(), with->paths.size());
        for (std::size_t i = 0; i < with->paths.size(); ++i) {
            QCOMPARE(without->paths[i].path(), with->paths[i].path());
            const auto &a = with->tensors[static_cast<std::size_t>(with->paths[i].tensor)];
            const auto &b = without->tensors[static_cast<std::size_t>(without->paths[i].tensor)];
            QVERIFY(a.dtype == b.dtype && a.shape == b.shape && a.stride == b.stride);
        }
        QCOMPARE(lsReport(*without).dump(), lsReport(*with).dump());
    }

    // Each chunk record of a DCP directory is a torch.save archive with its own CRC-32: a byte
    // changed in a rank's file after the save is caught, naming the record.
    void dcpChunkCrc()
    {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const QString from = QStringLiteral(CKPT_FIXTURES_DIR "/files/torch2/dcp/fsdp");
        for (const QString &name : QDir(from).entryList(QDir::Files | QDir::Hidden))
            QVERIFY(QFile::copy(from + '/' + name, dir.filePath(name)));
        format::ReadLimits lazy;
        lazy.dcpRecordsOnOpen = false;
        const auto clean = format::readCheckpoint(dir.path().toStdString(), lazy);
        QVERIFY(clean && clean->ok());
        int split = -1;
        for (std::size_t t = 0; t < clean->tensors.size(); ++t) {
            QVERIFY(format::checkTensorCrc(*clean, static_cast<int>(t)).empty());
            if (split < 0 && clean->chunksOfTensor[t].size() > 1)
                split = static_cast<int>(t);
        }
        QVERIFY(split >= 0);
        // Change one byte of the second chunk's values in its rank file.
        const format::TensorChunk &chunk = clean->chunksOfTensor[static_cast<std::size_t>(split)][1];
        const auto whole = format::tensorView(*clean, split);
        QVERIFY(whole.view && whole.view->pieces && whole.view->pieces->size() > 1);
        const format::ViewPiece *piece = nullptr;
        for (const auto &p : *whole.view->pieces)
            if (p.offsets == chunk.offsets)
                piece = &p;
        QVERIFY(piece);
        const std::uint8_t *start = nullptr;
        for (const auto &f : clean->files)
            if (f->path().ends_with(chunk.file))
                start = f->bytes().data;
        QVERIFY(start);
        const qint64 at = static_cast<qint64>(piece->view.storage.data - start) + 1;
        QVERIFY(static_cast<std::uint64_t>(at) > chunk.byteOffset
                && static_cast<std::uint64_t>(at) < chunk.byteOffset + chunk.byteLength);
        QFile rank(dir.filePath(QString::fromStdString(chunk.file)));
        QVERIFY(rank.open(QIODevice::ReadWrite));
        QVERIFY(rank.seek(at));
        char byte = 0;
        QVERIFY(rank.getChar(&byte));
        QVERIFY(rank.seek(at));
        QVERIFY(rank.putChar(static_cast<char>(byte ^ 0x40)));
        rank.close();
        const auto damaged = format::readCheckpoint(dir.path().toStdString(), lazy);
        QVERIFY(damaged && damaged->ok());
        const std::string problem = format::checkTensorCrc(*damaged, split);
        QVERIFY2(problem.find(chunk.file + "@" + std::to_string(chunk.byteOffset) + ": record '") == 0, problem.c_str());
        QVERIFY2(problem.find("fails its CRC-32 check") != std::string::npos, problem.c_str());
        for (std::size_t t = 0; t < damaged->tensors.size(); ++t)
            if (static_cast<int>(t) != split)
                QVERIFY(format::checkTensorCrc(*damaged, static_cast<int>(t)).empty());
    }

    void dcpRecordsReadWhenNeeded()
    {
        const std::string base = CKPT_FIXTURES_DIR "/files/torch2/dcp/";
        format::ReadLimits lazy;
        lazy.dcpRecordsOnOpen = false;
        const auto eager = format::readCheckpoint(base + "fsdp");
        const auto later = format::readCheckpoint(base + "fsdp", lazy);
        QVERIFY(eager && eager->ok() && later && later->ok());
        QCOMPARE(eager->security->deferredRecords, std::uint64_t(0));
        std::uint64_t records = 0;
        for (const auto &chunks : later->chunksOfTensor)
            records += chunks.size();
        QCOMPARE(later->security->deferredRecords, records);
        QCOMPARE(later->scanVerdict(), eager->scanVerdict());
        // The records' own pickles are not scanned yet: fewer pickles, the same verdict.
        QVERIFY(later->security->pickles.size() + records == eager->security->pickles.size());
        QVERIFY(scanTable(*later).find(std::to_string(records) + " tensor records not read yet") != std::string::npos);
        QCOMPARE(later->paths.size(), eager->paths.size());
        for (std::size_t i = 0; i < eager->paths.size(); ++i) {
            const auto a = format::tensorView(*eager, eager->paths[i].tensor);
            const auto b = format::tensorView(*later, later->paths[i].tensor);
            QVERIFY2(a.view && b.view, (a.error + b.error).c_str());
            const std::uint64_t n = a.view->numel();
            std::vector<double> x(n), y(n);
            format::ElementDecoder(*a.view).decode(0, n, x.data(), false);
            format::ElementDecoder(*b.view).decode(0, n, y.data(), false);
            QVERIFY(std::memcmp(x.data(), y.data(), n * sizeof(double)) == 0);
        }
        // A record of another shape than its chunk: on open an error, later that tensor's.
        const auto lying = format::readCheckpoint(base + "hostile/huge_chunk", lazy);
        QVERIFY(lying);
        bool found = false;
        for (const auto &p : lying->paths) {
            const auto v = format::tensorView(*lying, p.tensor);
            if (p.tensor >= 0 && !v.view && v.error.find("__0_0.distcp@") != std::string::npos
                && v.error.find("another shape") != std::string::npos)
                found = true;
        }
        QVERIFY(found);
    }

    void trainerFoldersDiffByPath()
    {
        const std::string base = CKPT_FIXTURES_DIR "/files/torch2/transformers/trainer/";
        const auto a = format::readCheckpoint(base + "checkpoint-2");
        const auto b = format::readCheckpoint(base + "checkpoint-4");
        QVERIFY(a && a->ok() && b && b->ok());
        const Json diff = diffReport(*a, *b, diffCheckpoints(*a, *b));
        std::map<std::string, std::string> status;
        for (const Json &e : diff["entries"])
            status[e["path"].get<std::string>()] = e["status"].get<std::string>();
        // Two more steps: the weights moved, the step count is 4, two log entries were added,
        // and the configuration is the same.
        QCOMPARE(status["model/classifier.weight"], std::string("changed"));
        QCOMPARE(status["trainer_state/global_step"], std::string("changed"));
        QCOMPARE(status["trainer_state/log_history/3/loss"], std::string("added"));
        QCOMPARE(status["config/hidden_size"], std::string("same"));
        QCOMPARE(diff["summary"]["removed"].get<int>(), 0);
    }
    void folderWithoutWeightsIsAnError()
    {
        const QString dir = QStringLiteral(CKPT_FIXTURES_DIR "/files/torch2/transformers");
        const auto data = format::readCheckpoint(dir.toStdString());
        QVERIFY(data && data->error);
        QVERIFY2(data->error->message.find("directory") != std::string::npos
                     && data->error->message.find("model.safetensors") != std::string::npos,
                 data->error->message.c_str());
    }

    // torch 2.13 under torch.serialization.skip_data writes every storage record at full size with
    // a CRC-32 of 0 and no bytes: the tensors are listed as torch lists them, with no values (not
    // zeros), and a warning says why.
    void skipDataTensorsHaveNoValues()
    {
        const QString expectedPath = QStringLiteral(CKPT_FIXTURES_DIR "/expected/torch2/unread/skip_data.pt.json");
        const test::Json expected = test::loadJson(expectedPath.toStdString());
        QVERIFY2(expected.is_object(), "run tests/fixtures/make_torch2_fixtures.py");
        const auto data = format::readCheckpoint(fixturePath(QStringLiteral("torch2/unread/skip_data.pt")).toStdString());
        QVERIFY(data && data->ok());
        const Json ls = lsReport(*data);
        QCOMPARE(ls["tensors"].size(), expected["tensors"].size());
        for (std::size_t i = 0; i < expected["tensors"].size(); ++i) {
            QVERIFY2(ls["tensors"][i]["path"] == expected["tensors"][i]["path"], ls["tensors"][i].dump().c_str());
            QVERIFY2(ls["tensors"][i]["dtype"] == expected["tensors"][i]["dtype"], ls["tensors"][i].dump().c_str());
            QVERIFY2(ls["tensors"][i]["shape"] == expected["tensors"][i]["shape"], ls["tensors"][i].dump().c_str());
        }
        for (std::size_t i = 0; i < data->tensors.size(); ++i) {
            const auto view = format::tensorView(*data, static_cast<int>(i));
            QVERIFY2(view.error.find("skip_data") != std::string::npos, view.error.c_str());
        }
        bool warned = false;
        for (const auto &w : data->warnings)
            warned = warned || w.text().find("skip_data") != std::string::npos;
        QVERIFY(warned);
    }

    void pathsOfSharedTensorsAreListedAtEachPath()
    {
        // A tensor reached through two keys (tied weights) is listed at both (PRODUCT.md 4).
        const QString file = fixturePath(QStringLiteral("shared_views.pt"));
        QVERIFY(!file.isEmpty());
        const auto data = format::readCheckpoint(file.toStdString());
        QVERIFY(data && data->ok());
        std::map<int, int> uses;
        for (const auto &p : data->paths)
            ++uses[p.tensor];
        QVERIFY(std::any_of(uses.begin(), uses.end(), [](const auto &u) { return u.second >= 2; }));
    }

    void openingDoesNotTouchTensorBytes()
    {
        // Opening reads the directory and the pickle only: storages are views into the map
        // (stored records), never copies.
        const QString file = fixturePath(QStringLiteral("state_dict.pt"));
        const auto data = format::readCheckpoint(file.toStdString());
        QVERIFY(data && data->ok());
        QVERIFY(!data->storages.empty());
        const auto map = data->files.at(0)->bytes();
        for (const auto &s : data->storages) {
            QVERIFY(!s.bytes.owned);
            QVERIFY(s.bytes.view.data >= map.data && s.bytes.view.data + s.bytes.view.size <= map.data + map.size);
            QCOMPARE(s.bytes.fileOffset % 64, 0u); // torch aligns records to 64 bytes
        }
    }

    // computeAllStats' plan: whole tensors one per thread where the threads stay evenly loaded,
    // all threads on one tensor where that ends sooner.
    void statsScheduleBalancesThreads()
    {
        constexpr std::uint64_t M = 1u << 20;
        // 64 equal tensors on two threads: all side by side (32 each). 63: the odd one alone.
        StatsSchedule plan = statsSchedule(std::vector<std::uint64_t>(64, 4 * M), 2);
        QCOMPARE(plan.order.size(), 64u);
        for (std::size_t k = 0; k < 64; ++k) {
            QCOMPARE(plan.order[k], k);
            QVERIFY(!plan.alone[k]);
        }
        plan = statsSchedule(std::vector<std::uint64_t>(63, 4 * M), 2);
        for (std::size_t k = 0; k < 63; ++k)
            QCOMPARE(bool(plan.alone[k]), k == 62);
        // Largest first. 100M outweighs the 8M after it: alone. Then 3M and 3M side by side and
        // 2M alone end at 3M + 1M, as all three alone do (4M); side by side wins the tie. Five
        // elements are never split.
        plan = statsSchedule({2 * M, 100 * M, 3 * M, 5, 3 * M}, 2);
        QCOMPARE(plan.order, (std::vector<std::size_t>{1, 2, 4, 0, 3}));
        QCOMPARE(plan.alone, (std::vector<bool>{true, true, false, false, false}));
        // Four threads: four 3M side by side, then the 2M alone (3M + 0.5M).
        plan = statsSchedule({2 * M, 100 * M, 3 * M, 3 * M, 3 * M, 3 * M}, 4);
        QCOMPARE(plan.alone, (std::vector<bool>{true, true, false, false, false, false}));
        // Three of 4M and one 1M on two threads: 4+4 | 4+1 ends at 8M; 4 | 4 then 4 and 1 alone
        // at 4M + 2.5M.
        plan = statsSchedule({4 * M, 4 * M, 4 * M, M}, 2);
        QCOMPARE(plan.alone, (std::vector<bool>{false, false, true, true}));
        // One thread: nothing to split.
        plan = statsSchedule({2 * M, 100 * M, 3 * M}, 1);
        QCOMPARE(plan.alone, (std::vector<bool>{false, false, false}));
    }

    // However computeAllStats schedules them (one tensor per thread or all threads on one), every
    // tensor gets the same statistics, and they are those of its known values.
    void statsAnyScheduleSameResults()
    {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const std::vector<std::uint64_t> sizes = {5 * (1u << 20) + 7, (1u << 20) + 1000, 5000, (1u << 20) + 1000, 17};
        const QString path = dir.filePath(QStringLiteral("schedule.safetensors"));
        QVERIFY(writeKnownValues(path, sizes));
        const auto data = format::readCheckpoint(path.toStdString());
        QVERIFY(data && data->ok());

        // On two threads the first runs alone, the others side by side; on three, all alone but
        // the small ones (5M+7 against 2M+2000 for two threads, then 1M+1000 with no partner).
        QCOMPARE(statsSchedule(sizes, 2).alone, (std::vector<bool>{true, false, false, false, false}));
        QCOMPARE(statsSchedule(sizes, 3).alone, (std::vector<bool>{true, true, false, true, false}));

        std::string first;
        for (unsigned threads : {1u, 2u, 3u}) {
            StatsSelection request;
            request.threads = threads;
            const Json stats = statsReport(*data, request);
            QCOMPARE(stats["stats"].size(), sizes.size());
            for (const Json &e : stats["stats"]) {
                const std::size_t t = std::stoul(e["path"].get<std::string>().substr(1));
                long double sum = 0;
                double lo = INFINITY, hi = -INFINITY;
                for (std::uint64_t i = 0; i < sizes[t]; ++i) {
                    const double x = knownValue(i, t);
                    sum += x;
                    lo = std::min(lo, x);
                    hi = std::max(hi, x);
                }
                const double mean = double(sum / sizes[t]);
                QCOMPARE(e["numel"].get<std::uint64_t>(), sizes[t]);
                QCOMPARE(e["min"].get<double>(), lo);
                QCOMPARE(e["max"].get<double>(), hi);
                QVERIFY2(std::fabs(e["mean"].get<double>() - mean) <= 1e-12 * 500, e.dump().substr(0, 300).c_str());
                std::uint64_t counted = 0;
                for (const Json &c : e["hist"]["counts"])
                    counted += c.get<std::uint64_t>();
                QCOMPARE(counted, sizes[t]);
            }
            const std::string text = stats.dump();
            if (first.empty())
                first = text;
            QVERIFY2(text == first, qPrintable(QStringLiteral("threads %1 differ").arg(threads)));
        }
    }

    // StatsSelection::background: every worker runs at low priority, and the calling thread
    // (a window's thread pool) keeps its own.
    void statsBackgroundWorkersRunAtLowPriority()
    {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const QString path = dir.filePath(QStringLiteral("small.safetensors"));
        QVERIFY(writeKnownValues(path, std::vector<std::uint64_t>(12, 3000)));
        const auto data = format::readCheckpoint(path.toStdString());
        QVERIFY(data && data->ok());
        const auto nice = [] { return ::getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid())); };
        const int callerNice = nice();
        for (bool background : {false, true}) {
            std::mutex m;
            std::vector<int> seen;
            StatsSelection request;
            request.threads = 2;
            request.background = background;
            request.progress = [&](std::size_t, std::size_t) {
                std::lock_guard lock(m);
                seen.push_back(nice());
                return true;
            };
            const Json stats = statsReport(*data, request);
            QCOMPARE(stats["stats"].size(), 12u);
            QCOMPARE(seen.size(), 12u); // one call per tensor, from the thread that computed it
            for (int n : seen)
                QVERIFY2(background ? n >= 10 : n == callerNice, qPrintable(QString::number(n)));
            QCOMPARE(nice(), callerNice);
        }
    }
};

QTEST_GUILESS_MAIN(TestCheckpointReader)
#include "tst_checkpointreader.moc"
