// SPDX-License-Identifier: MIT
// `ckpt-inspect optim` (PRODUCT.md 4) and the training-state recognition behind it, against
// what torch knew when it built each optimizer (tests/fixtures/make_optim_fixtures.py writes
// the checkpoints and tests/fixtures/expected_optim/*.json). The rule the mapping must keep:
// a name is either torch's name or null, never a wrong one.

#include "expectedcheck.h"
#include "trainingstate.h"

#include <QDir>
#include <QFileInfo>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

#include <map>

using namespace ckpt;
using ckpt::test::closeTo;
using ckpt::test::loadJson;
using ckpt::test::Mismatches;

namespace {

QString optimDir()
{
    return QStringLiteral(CKPT_FIXTURES_DIR "/files/optim");
}

QString expectedDir()
{
    return QStringLiteral(CKPT_FIXTURES_DIR "/expected_optim");
}

QString fileFor(const QString &expectedName)
{
    const QString base = expectedName.chopped(5); // ".json"
    if (base == QLatin1String("sample_epoch1.pt"))
        return QStringLiteral(CKPT_SOURCE_DIR "/resources/samples/sample_epoch1.pt");
    return optimDir() + QLatin1Char('/') + base;
}

/// JSON equality with a relative tolerance for numbers (ints and floats compare as numbers).
bool jsonClose(const Json &a, const Json &b)
{
    if (a.is_number() && b.is_number())
        return closeTo(a.get<double>(), b.get<double>(), 1e-12);
    if (a.is_array() && b.is_array()) {
        if (a.size() != b.size())
            return false;
        for (std::size_t i = 0; i < a.size(); ++i)
            if (!jsonClose(a[i], b[i]))
                return false;
        return true;
    }
    if (a.is_object() && b.is_object()) {
        if (a.size() != b.size())
            return false;
        for (const auto &[k, v] : b.items())
            if (!a.contains(k) || !jsonClose(a[k], v))
                return false;
        return true;
    }
    return a == b;
}

void compareReport(const Json &ours, const Json &expected, Mismatches &m)
{
    const bool mustMap = expected.value("must_map", false);
    if (ours["optimizers"].size() != expected["optimizers"].size()) {
        m.add("optimizers", "ours " + std::to_string(ours["optimizers"].size()) + ", torch "
                                + std::to_string(expected["optimizers"].size()));
        return;
    }
    for (std::size_t o = 0; o < expected["optimizers"].size(); ++o) {
        const Json &e = expected["optimizers"][o];
        const Json &u = ours["optimizers"][o];
        const std::string where = e["path"].get<std::string>();
        if (u["path"] != e["path"])
            m.add(where, "path " + u["path"].dump());
        if (u["model_path"] != e["model_path"])
            m.add(where, "model_path " + u["model_path"].dump() + ", expected " + e["model_path"].dump());
        if (u["groups"].size() != e["groups"].size()) {
            m.add(where, "group count");
        } else {
            for (std::size_t g = 0; g < e["groups"].size(); ++g) {
                if (!jsonClose(u["groups"][g]["hyper"], e["groups"][g]["hyper"]))
                    m.add(where + " group " + std::to_string(g), "hyper " + u["groups"][g]["hyper"].dump()
                                                                   + " vs " + e["groups"][g]["hyper"].dump());
                if (u["groups"][g]["params"] != e["groups"][g]["params"] || u["groups"][g]["index"] != g)
                    m.add(where + " group " + std::to_string(g), "params/index");
            }
        }
        if (u["params"].size() != e["params"].size()) {
            m.add(where, "param count");
            continue;
        }
        for (std::size_t i = 0; i < e["params"].size(); ++i) {
            const Json &ep = e["params"][i];
            const Json &up = u["params"][i];
            const std::string pw = where + " id " + ep["id"].dump();
            if (up["id"] != ep["id"] || up["group"] != ep["group"])
                m.add(pw, "id/group " + up["id"].dump() + "/" + up["group"].dump());
            if (!up["name"].is_null() && up["name"] != ep["name"])
                m.add(pw, "WRONG NAME " + up["name"].dump() + ", torch " + ep["name"].dump());
            if (up["name"].is_null() && mustMap)
                m.add(pw, "not mapped (torch: " + ep["name"].dump() + ", mapping " + up["mapping"].dump() + ")");
            // Null names say why: several candidates, or (a bare optimizer file such as a
            // transformers Trainer's optimizer.pt) no model in the file to map against.
            if (up["name"].is_null() && up["mapping"] != "ambiguous"
                && !(e["model_path"].is_null() && up["mapping"] == "no-model"))
                m.add(pw, "null name with mapping " + up["mapping"].dump());
            if (!up["name"].is_null()) {
                const std::string tp = e["model_path"].get<std::string>() + "/" + ep["name"].get<std::string>();
                // Files that store param_names (torch 2.x, an optimizer built from
                // named_parameters()) are mapped by them; others by order and shape.
                if (up["tensor_path"] != tp || up["mapping"] != e.value("mapping", std::string("order+shape")))
                    m.add(pw, "tensor_path/mapping " + up["tensor_path"].dump() + " " + up["mapping"].dump());
            }
            const Json &es = ep["state"];
            const Json &us = up["state"];
            if (es.size() != us.size())
                m.add(pw, "state keys " + us.dump());
            for (const auto &[k, v] : es.items()) {
                if (!us.contains(k)) {
                    m.add(pw, "state lacks " + k);
                    continue;
                }
                const Json &x = us[k];
                if (!v.is_object()) {
                    if (!jsonClose(x, v))
                        m.add(pw + " " + k, x.dump() + " vs torch " + v.dump());
                    continue;
                }
                if (!x.is_object() || x["shape"] != v["shape"] || x["dtype"] != v["dtype"]) {
                    m.add(pw + " " + k, "shape/dtype " + x.dump());
                    continue;
                }
                if (!closeTo(x["norm"].get<double>(), v["norm"].get<double>(), 1e-9, 1e-15)
                    || !closeTo(x["mean"].get<double>(), v["mean"].get<double>(), 1e-9, 1e-15))
                    m.add(pw + " " + k, "norm/mean " + x.dump() + " vs torch " + v.dump());
            }
        }
    }
}

const TrainingItem *findKind(const std::vector<TrainingItem> &items, TrainingKind kind, const std::string &path)
{
    for (const auto &i : items)
        if (i.kind == kind && i.path() == path)
            return &i;
    return nullptr;
}

} // namespace

class TestOptim : public QObject
{
    Q_OBJECT

private slots:
    void matchesTorch_data()
    {
        QTest::addColumn<QString>("file");
        QTest::addColumn<QString>("expected");
        // The files of torch 1.13 and, in torch2/, those of torch 2.13 (make_torch2_fixtures.py).
        QStringList names = QDir(expectedDir()).entryList({QStringLiteral("*.json")}, QDir::Files, QDir::Name);
        for (const QString &n : QDir(expectedDir() + QStringLiteral("/torch2")).entryList({QStringLiteral("*.json")}, QDir::Files, QDir::Name))
            names << QStringLiteral("torch2/") + n;
        QVERIFY(names.size() >= 12);
        for (const QString &n : names)
            QTest::newRow(qPrintable(n)) << fileFor(n) << expectedDir() + QLatin1Char('/') + n;
    }
    void matchesTorch()
    {
        QFETCH(QString, file);
        QFETCH(QString, expected);
        const Json e = loadJson(expected.toStdString());
        QVERIFY(e.is_object());
        const auto data = format::readCheckpoint(file.toStdString());
        QVERIFY(data && data->ok());
        const Json ours = optimReport(*data);
        QCOMPARE(ours["file"].get<std::string>(), file.toStdString());
        Mismatches m;
        compareReport(ours, e, m);
        if (!m.empty())
            QFAIL(qPrintable(m.text()));
    }

    // `ls --json` names each optimizer state tensor by its parameter: torch's name where the
    // expected document has one, nothing where the mapping is not certain (issue 16 item 8).
    void lsNamesOptimizerState_data() { matchesTorch_data(); }
    void lsNamesOptimizerState()
    {
        QFETCH(QString, file);
        QFETCH(QString, expected);
        const Json e = loadJson(expected.toStdString());
        const auto data = format::readCheckpoint(file.toStdString());
        QVERIFY(data && data->ok());
        std::map<std::string, Json> nameOfState; // "<optimizer path>/state/<id>/" -> name or null
        for (const Json &o : e["optimizers"]) {
            // State keyed by name (torch.distributed.checkpoint's get_state_dict): the groups
            // list names, and the state's key is the name.
            const bool byName = !o["groups"].empty() && !o["groups"][0]["params"].empty()
                                && o["groups"][0]["params"][0].is_string();
            for (const Json &p : o["params"]) {
                const std::string base = o["path"].get<std::string>();
                const std::string key = byName ? p["name"].get<std::string>() : std::to_string(p["id"].get<long long>());
                nameOfState[(base.empty() ? "" : base + "/") + "state/" + key + "/"] = p["name"];
            }
        }
        const Json ls = lsReport(*data);
        int named = 0;
        for (const Json &t : ls["tensors"]) {
            const std::string path = t["path"].get<std::string>();
            for (const auto &[prefix, name] : nameOfState) {
                if (path.rfind(prefix, 0) != 0)
                    continue;
                if (name.is_string()) {
                    // Where the file determines the mapping the name is there; elsewhere it
                    // may be absent, never another parameter's.
                    if (e.value("must_map", false) || t.contains("param_name"))
                        QCOMPARE(t.value("param_name", std::string("(none)")), name.get<std::string>());
                    named += t.contains("param_name");
                } else {
                    QVERIFY2(!t.contains("param_name"), path.c_str()); // never a guessed name
                }
            }
        }
        // Files whose optimizer holds state tensors (not plain SGD) name some of them.
        if (e.value("must_map", false) && !file.endsWith(QLatin1String("sgd_plain.pt")))
            QVERIFY(named > 0);
    }

    void frozenCertainNames()
    {
        // l1 frozen: l2's ids could be l1's by shape (ambiguous), head's shapes are unique.
        const auto data = format::readCheckpoint((optimDir() + QStringLiteral("/frozen.pt")).toStdString());
        QVERIFY(data && data->ok());
        const Json r = optimReport(*data);
        const Json &p = r["optimizers"][0]["params"];
        QCOMPARE(p.size(), std::size_t(4));
        QVERIFY(p[0]["name"].is_null());
        QVERIFY(p[1]["name"].is_null());
        QCOMPARE(p[0]["mapping"].get<std::string>(), std::string("ambiguous"));
        QCOMPARE(p[2]["name"].get<std::string>(), std::string("head.weight"));
        QCOMPARE(p[3]["name"].get<std::string>(), std::string("head.bias"));
    }

    void recognition_data()
    {
        QTest::addColumn<QString>("file");
        QTest::addColumn<QString>("model");
        QTest::addColumn<QString>("prefix");
        QTest::addColumn<QString>("optimizer");
        QTest::addColumn<QString>("scheduler");
        QTest::addColumn<QString>("scaler");
        QTest::addColumn<QStringList>("counters");
        QTest::newRow("adam+scheduler+scaler") << optimDir() + "/adam_amsgrad.pt" << "state_dict" << "" << "optimizer"
                                               << "scheduler" << "scaler"
                                               << QStringList{"epoch", "global_step", "loss"};
        QTest::newRow("module prefix") << optimDir() + "/module_prefix.pt" << "model_state_dict" << "module."
                                       << "optimizer_state_dict" << "" << "" << QStringList{"epoch"};
        QTest::newRow("lightning") << optimDir() + "/lightning.ckpt" << "state_dict" << "model."
                                   << "optimizer_states/0" << "lr_schedulers/0" << ""
                                   << QStringList{"epoch", "global_step"};
        QTest::newRow("sample") << QStringLiteral(CKPT_SOURCE_DIR "/resources/samples/sample_epoch1.pt")
                                << "model_state_dict" << "" << "optimizer_state_dict" << "scheduler" << "scaler"
                                << QStringList{"epoch", "global_step", "loss", "best_acc"};
    }
    void recognition()
    {
        QFETCH(QString, file);
        QFETCH(QString, model);
        QFETCH(QString, prefix);
        QFETCH(QString, optimizer);
        QFETCH(QString, scheduler);
        QFETCH(QString, scaler);
        QFETCH(QStringList, counters);
        const auto data = format::readCheckpoint(file.toStdString());
        QVERIFY(data && data->ok());
        const auto items = findTrainingState(*data);
        const TrainingItem *m = findKind(items, TrainingKind::ModelStateDict, model.toStdString());
        QVERIFY(m);
        QCOMPARE(QString::fromStdString(m->prefix), prefix);
        QVERIFY(findKind(items, TrainingKind::Optimizer, optimizer.toStdString()));
        if (!scheduler.isEmpty())
            QVERIFY(findKind(items, TrainingKind::Scheduler, scheduler.toStdString()));
        if (!scaler.isEmpty())
            QVERIFY(findKind(items, TrainingKind::Scaler, scaler.toStdString()));
        for (const QString &c : counters)
            QVERIFY2(findKind(items, TrainingKind::Counter, c.toStdString()), qPrintable(c));
        int models = 0;
        for (const auto &i : items)
            models += i.kind == TrainingKind::ModelStateDict;
        QCOMPARE(models, 1);
    }

    void bufferNames()
    {
        QVERIFY(isBufferName("bn1.running_mean"));
        QVERIFY(isBufferName("module.bn.num_batches_tracked"));
        QVERIFY(!isBufferName("bn1.weight"));
        QVERIFY(!isBufferName("fc.bias"));
    }

    void cli()
    {
        const QString exe = QStringLiteral(CKPT_INSPECT_EXE);
        QVERIFY2(QFileInfo::exists(exe), "ckpt-inspect is not built");
        QProcess p;
        p.start(exe, {QStringLiteral("optim"), QStringLiteral(CKPT_SOURCE_DIR "/resources/samples/sample_epoch1.pt"),
                      QStringLiteral("--json")});
        QVERIFY(p.waitForFinished(60000));
        QCOMPARE(p.exitCode(), 0);
        const Json ours = Json::parse(p.readAllStandardOutput().toStdString(), nullptr, false);
        QVERIFY(ours.is_object());
        const Json e = loadJson((expectedDir() + QStringLiteral("/sample_epoch1.pt.json")).toStdString());
        Mismatches m;
        compareReport(ours, e, m);
        if (!m.empty())
            QFAIL(qPrintable(m.text()));

        p.start(exe, {QStringLiteral("optim"), QStringLiteral(CKPT_SOURCE_DIR "/resources/samples/sample_epoch1.pt")});
        QVERIFY(p.waitForFinished(60000));
        QCOMPARE(p.exitCode(), 0);
        const QString table = QString::fromUtf8(p.readAllStandardOutput());
        QVERIFY(table.contains(QLatin1String("MAPPING")));
        QVERIFY(table.contains(QLatin1String("conv2.weight")));

        p.start(exe, {QStringLiteral("optim"), QStringLiteral("/nonexistent/file.pt"), QStringLiteral("--json")});
        QVERIFY(p.waitForFinished(60000));
        QCOMPARE(p.exitCode(), 2);
    }

    // An optimizer over 30,000 parameters (a deep model's) mapped by order: the search once
    // recursed per parameter and overflowed small stacks (SIGSEGV under a 256 KiB limit with
    // 25,000). torch writes the file at test time; its parameter i is the model's p<i>.
    void deepOptimizerWithSmallStack()
    {
        const QString python = QStringLiteral("/usr/bin/python3");
        QProcess probe;
        probe.start(python, {QStringLiteral("-c"), QStringLiteral("import torch")});
        if (!probe.waitForFinished(60000) || probe.exitCode() != 0)
            QSKIP("torch is not installed for /usr/bin/python3 (apt-get install python3-torch)");
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const QString file = dir.filePath(QStringLiteral("deep.pt"));
        constexpr int kParams = 30000;
        QProcess gen;
        gen.start(python, {QStringLiteral("-c"),
                           QStringLiteral("import collections, sys, torch\n"
                                          "n = int(sys.argv[2])\n"
                                          "base = torch.zeros(n)\n"
                                          "model = collections.OrderedDict((f'p{i}', base[i:i + 1]) for i in range(n))\n"
                                          "opt = {'state': {}, 'param_groups': [{'lr': 0.1, 'params': list(range(n))}]}\n"
                                          "torch.save({'model_state_dict': model, 'optimizer_state_dict': opt}, sys.argv[1])\n"),
                           file, QString::number(kParams)});
        QVERIFY(gen.waitForFinished(300000));
        QVERIFY2(gen.exitCode() == 0, gen.readAllStandardError().constData());

        QProcess p;
        p.start(QStringLiteral("/bin/sh"), {QStringLiteral("-c"), QStringLiteral("ulimit -s 256 && exec \"$0\" optim --json \"$1\""),
                                            QStringLiteral(CKPT_INSPECT_EXE), file});
        QVERIFY(p.waitForFinished(120000));
        QVERIFY2(p.exitStatus() == QProcess::NormalExit && p.exitCode() == 0, p.readAllStandardError().constData());
        const Json ours = Json::parse(p.readAllStandardOutput().toStdString(), nullptr, false);
        QVERIFY(ours.is_object());
        const Json &params = ours["optimizers"][0]["params"];
        QCOMPARE(static_cast<int>(params.size()), kParams);
        for (int i : {0, 1, kParams / 2, kParams - 1}) {
            const Json &pm = params[static_cast<std::size_t>(i)];
            QCOMPARE(pm["id"].get<int>(), i);
            QCOMPARE(QString::fromStdString(pm["name"].get<std::string>()), QStringLiteral("p%1").arg(i));
        }
    }
};

QTEST_GUILESS_MAIN(TestOptim)
#include "tst_optim.moc"
