// SPDX-License-Identifier: MIT
// The security scan (issue 16): the allow-list and every verdict of torch's default load against
// what torch 2.13 says (tests/fixtures/security/*.json, written by torch itself), the peers'
// public test samples against what the peers' own tests say, and our own samples of the
// bypasses reported against pickle scanners, built here byte by byte (nothing is ever executed:
// the bytes are only scanned).

#include "expectedcheck.h"
#include "inspectreport.h"

#include "securityscan.h"
#include "weightsonly.h"

#include <QDir>
#include <QFileInfo>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

#include <cstring>
#include <string>
#include <vector>

using namespace ckpt;
using namespace ckpt::format;
using namespace std::string_literals;

namespace {

using Bytes = std::string;

SecurityScan scan(const Bytes &b, const std::string &name = "sample.pt")
{
    return scanCheckpointBytes({reinterpret_cast<const std::uint8_t *>(b.data()), b.size()}, name);
}

Bytes le(std::uint64_t v, int n)
{
    Bytes out;
    for (int i = 0; i < n; ++i)
        out += static_cast<char>((v >> (8 * i)) & 0xFF);
    return out;
}

/// Protocol 2 pickle pieces.
Bytes unicode(const std::string &s) { return "X" + le(s.size(), 4) + s; }
Bytes shortUnicode(const std::string &s) { return "\x8c" + le(s.size(), 1) + s; }
Bytes global(const std::string &m, const std::string &n) { return "c" + m + "\n" + n + "\n"; }

/// `module.name(arg)` as protocol 2 REDUCE.
Bytes call(const std::string &m, const std::string &n, const std::string &arg)
{
    return global(m, n) + unicode(arg) + "\x85R";
}

Bytes p2(const Bytes &body) { return "\x80\x02" + body + "."; }

/// A stored zip of `members` (name, bytes), with or without its central directory.
Bytes zip(const std::vector<std::pair<std::string, Bytes>> &members, bool centralDirectory = true)
{
    Bytes out;
    Bytes central;
    for (const auto &[name, data] : members) {
        const std::uint64_t offset = out.size();
        Bytes common = le(20, 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(data.size(), 4)
                       + le(data.size(), 4) + le(name.size(), 2) + le(0, 2);
        out += "PK\x03\x04" + common + name + data;
        central += "PK\x01\x02" + le(20, 2) + common + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(offset, 4) + name;
    }
    if (!centralDirectory)
        return out;
    const std::uint64_t cdOffset = out.size();
    out += central;
    out += "PK\x05\x06" + le(0, 2) + le(0, 2) + le(members.size(), 2) + le(members.size(), 2) + le(central.size(), 4)
           + le(cdOffset, 4) + le(0, 2);
    return out;
}

/// torch's legacy magic number pickle.
const Bytes kMagic = p2("\x8a\x0a" + Bytes("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10));

bool mentions(const SecurityScan &s, const std::string &module, const std::string &name)
{
    for (const PickleScan &p : s.pickles)
        for (const ScannedGlobal &g : p.globals)
            if (g.module == module && g.name == name && g.dangerous)
                return true;
    return false;
}

QString peersDir()
{
    const QByteArray env = qgetenv("CKPT_PEERS_CORPUS");
    if (!env.isEmpty())
        return QString::fromLocal8Bit(env);
    return QStringLiteral(CKPT_SOURCE_DIR "/../shared/corpus/peers");
}

} // namespace

class TestSecurityScan : public QObject
{
    Q_OBJECT

private slots:
    void allowListIsTorchs()
    {
        const test::Json j = test::loadJson(CKPT_FIXTURES_DIR "/security/weights_only_globals.json");
        std::vector<std::string> theirs = j["allowed"].get<std::vector<std::string>>();
        std::vector<std::string> ours;
        for (std::string_view s : weightsOnlyAllowedGlobals())
            ours.emplace_back(s);
        QCOMPARE(ours.size(), theirs.size());
        QVERIFY(ours == theirs);
        for (const auto &m : j["blocked_modules"])
            QVERIFY(weightsOnlyBlocksModule(m.get<std::string>()));
        QVERIFY(!weightsOnlyBlocksModule("torch"));
    }

    void weightsOnlyAgreesWithTorch_data()
    {
        QTest::addColumn<QString>("file");
        QTest::addColumn<bool>("accepted");
        QTest::addColumn<QString>("error");
        const test::Json j = test::loadJson(CKPT_FIXTURES_DIR "/security/weights_only_expected.json");
        QVERIFY(j["files"].size() >= 60);
        for (const auto &[rel, v] : j["files"].items())
            QTest::newRow(rel.c_str()) << QString::fromStdString(rel) << v["accepted"].get<bool>()
                                       << QString::fromStdString(v.value("error", std::string()));
    }

    void weightsOnlyAgreesWithTorch()
    {
        QFETCH(QString, file);
        QFETCH(bool, accepted);
        QFETCH(QString, error);
        const SecurityScan s = scanCheckpointFile((QStringLiteral(CKPT_FIXTURES_DIR "/files/") + file).toStdString());
        QVERIFY2(s.weightsOnlyAccepted == accepted, s.weightsOnlyReason.c_str());
        if (accepted)
            return;
        // Where torch names the global or opcode it stops at, we name the same one.
        const QString reason = QString::fromStdString(s.weightsOnlyReason);
        const qsizetype g = error.indexOf(QLatin1String("GLOBAL "));
        if (g >= 0) {
            const QString name = error.mid(g + 7).section(QLatin1Char(' '), 0, 0);
            QVERIFY2(reason.contains(QLatin1String("GLOBAL ") + name), qPrintable(reason + QStringLiteral(" / ") + error));
        }
        const qsizetype o = error.indexOf(QLatin1String("Unsupported operand "));
        if (o >= 0)
            QVERIFY2(reason.contains(error.mid(o)), qPrintable(reason + QStringLiteral(" / ") + error));
        if (error.contains(QLatin1String("TorchScript")) || error.contains(QLatin1String(".tar format")))
            QVERIFY2(reason.contains(QLatin1String("Cannot use weights_only=True")), qPrintable(reason));
    }

    void peersSamples_data()
    {
        QTest::addColumn<QString>("file");
        QTest::addColumn<QString>("expect");
        const QString dir = peersDir();
        if (!QFileInfo::exists(dir))
            QSKIP("../shared/corpus/peers is not on this machine (the samples are not committed)");
        const test::Json j = test::loadJson(CKPT_FIXTURES_DIR "/security/peers_manifest.json");
        // every sample in the folder is in the manifest, and the other way round
        int onDisk = 0;
        for (const QString &peer : QDir(dir).entryList(QDir::Dirs | QDir::NoDotAndDotDot))
            for (const QString &f : QDir(dir + QLatin1Char('/') + peer).entryList(QDir::Files)) {
                ++onDisk;
                QVERIFY2(j.contains((peer + QLatin1Char('/') + f).toStdString()), qPrintable(peer + QLatin1Char('/') + f));
            }
        QCOMPARE(onDisk, static_cast<int>(j.size()));
        for (const auto &[rel, v] : j.items())
            QTest::newRow(rel.c_str()) << dir + QLatin1Char('/') + QString::fromStdString(rel)
                                       << QString::fromStdString(v["expect"].get<std::string>());
    }

    void peersSamples()
    {
        QFETCH(QString, file);
        QFETCH(QString, expect);
        const SecurityScan s = scanCheckpointFile(file.toStdString());
        const std::string verdict(scanVerdictName(s.verdict));
        if (expect == QLatin1String("dangerous"))
            QVERIFY2(s.verdict == ScanVerdict::Dangerous, (verdict + ": " + s.verdictReason).c_str());
        else if (expect == QLatin1String("unknown"))
            QVERIFY2(s.verdict == ScanVerdict::Unknown, (verdict + ": " + s.verdictReason).c_str());
        else
            QVERIFY2(s.verdict != ScanVerdict::Dangerous, (verdict + ": " + s.verdictReason).c_str());
    }

    // --- our own samples of the reported bypasses -----------------------------------------------

    void headerlessProtocol0IsAPickle()
    {
        // text GLOBAL + REDUCE, no PROTO: torch.load unpickles it (as its "magic number") at once
        const SecurityScan s = scan(global("os", "system") + "(S'echo pwned'\ntR.");
        QCOMPARE(s.verdict, ScanVerdict::Dangerous);
        QVERIFY(mentions(s, "os", "system"));
        QVERIFY(s.pickles.front().torchReads);
        QVERIFY(!s.weightsOnlyAccepted);
        // INST (protocol 0) of an unknown callable
        const SecurityScan inst = scan("(S'x'\nisomepackage.tools\nrun_all\n.");
        QCOMPARE(inst.verdict, ScanVerdict::Dangerous);
    }

    void dangerousWinsOverAParseError()
    {
        Bytes b = p2(call("builtins", "eval", "print(1)"));
        b.resize(b.size() - 1); // no STOP
        b += "\xff";            // and a bad opcode
        const SecurityScan s = scan(b);
        QCOMPARE(s.verdict, ScanVerdict::Dangerous);
        QVERIFY(s.pickles.front().error.has_value());
    }

    void unreadableIsNeverSafe()
    {
        QCOMPARE(scan("").verdict, ScanVerdict::Unknown);
        QCOMPARE(scan("\x89PNG\r\n\x1a\nxxxxxxxxxxxxxxx").verdict, ScanVerdict::Unknown);
        Bytes cut = p2(global("collections", "OrderedDict") + ")R");
        cut.resize(cut.size() - 1);
        QCOMPARE(scan(cut).verdict, ScanVerdict::Unknown);
    }

    void callsOfUnlistedCallablesAreDangerous()
    {
        for (const auto &[m, n] : std::vector<std::pair<std::string, std::string>>{
                 {"torch.utils.collect_env", "run"}, {"uuid", "_get_command_stdout"}, {"_osx_support", "_read_output"},
                 {"logging", "FileHandler"}, {"requests.api", "get"}, {"torch._inductor.codecache", "compile_file"},
                 {"somepackage", "anything"}}) {
            const SecurityScan s = scan(p2(call(m, n, "x")));
            QVERIFY2(s.verdict == ScanVerdict::Dangerous, (m + "." + n).c_str());
            QVERIFY2(mentions(s, m, n), (m + "." + n).c_str());
        }
        // calls of values made while loading: getattr-free gadgets
        const Bytes callResult = p2(global("collections", "OrderedDict") + ")R" + unicode("x") + "\x85R");
        QCOMPARE(scan(callResult).verdict, ScanVerdict::Dangerous);
    }

    void knownReconstructorsAreSafe()
    {
        // an OrderedDict of a rebuilt tensor, as torch.save writes it
        const Bytes persistent = "(" + unicode("storage") + global("torch", "FloatStorage") + unicode("0") + unicode("cpu")
                                 + "K\x04tQ";
        const Bytes tensor = global("torch._utils", "_rebuild_tensor_v2") + "(" + persistent + "K\x00K\x04\x85K\x01\x85\x89"s
                             + global("collections", "OrderedDict") + ")Rt" + "R";
        const Bytes sd = global("collections", "OrderedDict") + ")R" + unicode("w") + tensor + "s";
        const SecurityScan s = scan(zip({{"a/data.pkl", p2(sd)}, {"a/version", "3\n"}, {"a/data/0", Bytes(16, '\0')}}));
        QCOMPARE(s.verdict, ScanVerdict::Safe);
        QVERIFY2(s.weightsOnlyAccepted, s.weightsOnlyReason.c_str());
        // a class of the training script, instantiated and given state: opaque, not dangerous
        const Bytes custom = global("__main__", "TrainState") + ")\x81}" + unicode("epoch") + "K\x03sb";
        const SecurityScan c = scan(zip({{"a/data.pkl", p2(custom)}, {"a/version", "3\n"}}));
        QCOMPARE(c.verdict, ScanVerdict::Safe);
        QVERIFY(!c.weightsOnlyAccepted);
        QVERIFY(c.weightsOnlyReason.find("GLOBAL __main__.TrainState") != std::string::npos);
    }

    void computedNamesAreDangerous()
    {
        // STACK_GLOBAL fed by a call's result
        const Bytes stack = "\x80\x04" + shortUnicode("o") + shortUnicode("s") + "\x86" + global("builtins", "str")
                            + ")R" + shortUnicode("system") + "\x93" + shortUnicode("ls") + "\x85R.";
        QCOMPARE(scan(stack).verdict, ScanVerdict::Dangerous);
        // the copyreg extension registry
        QCOMPARE(scan("\x80\x02\x82\x2a" + unicode("ls") + "\x85R.").verdict, ScanVerdict::Dangerous);
        // attribute paths that reach what their first name does not say
        const Bytes dotted = "\x80\x04" + shortUnicode("torch") + shortUnicode("os.system") + "\x93" + shortUnicode("ls")
                             + "\x85R.";
        const SecurityScan d = scan(dotted);
        QCOMPARE(d.verdict, ScanVerdict::Dangerous);
        QVERIFY(mentions(d, "torch", "os.system"));
        QVERIFY(globalIsDenyListed("__main__", "os.system"));
        QVERIFY(globalIsDenyListed("numpy", "__builtins__"));
        QVERIFY(globalIsDenyListed("builtins", "eval.__call__"));
        QVERIFY(!globalIsDenyListed("torch.nn.modules.linear", "Linear"));
    }

    void changingAGlobalIsDangerous()
    {
        // BUILD on a function of torch: monkeypatching what later loads call
        const Bytes patch = global("torch._utils", "_rebuild_tensor_v2") + "N}" + unicode("__code__") + "K\x01s\x86" "b";
        QCOMPARE(scan(p2(patch)).verdict, ScanVerdict::Dangerous);
    }

    void everyPickleIsScanned()
    {
        // a second pickle after STOP
        const SecurityScan after = scan(p2("N") + p2(call("builtins", "exec", "1")));
        QCOMPARE(after.verdict, ScanVerdict::Dangerous);
        QCOMPARE(after.pickles.size(), std::size_t(2));
        QVERIFY(after.pickles[0].torchReads);
        QVERIFY(!after.pickles[1].torchReads);
        // a .pkl member other than data.pkl, in a nested folder
        const SecurityScan member = scan(zip({{"a/data.pkl", p2("}")},
                                              {"a/version", "3\n"},
                                              {"a/extra/deep/evil.pkl", p2(call("os", "system", "ls"))}}));
        QCOMPARE(member.verdict, ScanVerdict::Dangerous);
        QVERIFY(member.weightsOnlyAccepted); // torch's default load reads data.pkl only
        // an archive appended to a pickle
        const SecurityScan appended = scan(p2("}") + zip({{"x/evil.pkl", p2(call("os", "system", "ls"))}}));
        QCOMPARE(appended.verdict, ScanVerdict::Dangerous);
        // a zip whose central directory is gone: the local headers still give the pickle
        const SecurityScan cut = scan(zip({{"a/data.pkl", p2(call("os", "system", "ls"))}, {"a/version", "3\n"}}, false));
        QCOMPARE(cut.verdict, ScanVerdict::Dangerous);
        // a nested torch.load through torch.storage._load_from_bytes
        const Bytes inner = kMagic + p2(call("os", "system", "ls"));
        const Bytes outer = p2(global("torch.storage", "_load_from_bytes") + "C" + le(inner.size(), 1) + inner + "\x85R");
        const SecurityScan nested = scan(outer);
        QCOMPARE(nested.verdict, ScanVerdict::Dangerous);
        QVERIFY(nested.pickles.size() >= 3);
    }

    void framingViolationsAreDangerous()
    {
        // BINBYTES declares more bytes than its frame holds (cpython#154848)
        const Bytes straddle = "\x80\x05\x95" + le(5, 8) + "B" + le(20, 4) + Bytes(20, 'A') + ".";
        QCOMPARE(scan(straddle).verdict, ScanVerdict::Dangerous);
        const Bytes inside = "\x80\x05\x95" + le(30, 8) + "N\x95" + le(2, 8) + "N0.";
        QCOMPARE(scan(inside).verdict, ScanVerdict::Dangerous);
        // well-formed frames, and bytes written between frames, are fine
        const Bytes ok = "\x80\x05\x95" + le(3, 8) + "]K\x01" + "a" + ".";
        QCOMPARE(scan(ok).verdict, ScanVerdict::Safe);
    }

    void cliExitStatusFollowsTheVerdict()
    {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const auto write = [&](const QString &name, const Bytes &b) {
            QFile f(dir.filePath(name));
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write(b.data(), static_cast<qint64>(b.size()));
        };
        Bytes broken = p2(call("builtins", "eval", "1"));
        broken.resize(broken.size() - 1);
        write(QStringLiteral("broken_evil.pt"), broken);
        write(QStringLiteral("proto0_evil.pkl"), global("os", "system") + "(S'ls'\ntR.");
        write(QStringLiteral("png.pt"), "\x89PNG\r\n\x1a\n0000000000");
        const auto run = [&](const QString &name, const QStringList &extra = {}) {
            QProcess p;
            p.start(QStringLiteral(CKPT_INSPECT_EXE), QStringList{QStringLiteral("scan")} + extra + QStringList{dir.filePath(name)});
            p.waitForFinished(60000);
            return std::make_pair(p.exitCode(), test::Json::parse(p.readAllStandardOutput().toStdString(), nullptr, false));
        };
        const auto [rc1, j1] = run(QStringLiteral("broken_evil.pt"), {QStringLiteral("--json")});
        QCOMPARE(rc1, 1);
        QCOMPARE(j1["verdict"].get<std::string>(), std::string("dangerous"));
        QCOMPARE(j1["weights_only"].get<std::string>(), std::string("refused"));
        const auto [rc2, j2] = run(QStringLiteral("proto0_evil.pkl"), {QStringLiteral("--json")});
        QCOMPARE(rc2, 1);
        QVERIFY(j2["pickles"][0]["torch_reads"].get<bool>());
        const auto [rc3, j3] = run(QStringLiteral("png.pt"), {QStringLiteral("--json")});
        QCOMPARE(rc3, 2);
        QCOMPARE(j3["verdict"].get<std::string>(), std::string("unknown"));
    }
};

QTEST_GUILESS_MAIN(TestSecurityScan)
#include "tst_securityscan.moc"
