// SPDX-License-Identifier: MIT
#pragma once

// Compares our `ls`/`stats`/`scan` JSON reports with what torch said about the same file
// (the expected JSON written by tests/fixtures/make_fixtures.py and tests/oracle/torch_oracle.py).
// Used by the fixture test, the oracle test and the CLI test, so every path to the JSON is held
// to the same truth.

#include <nlohmann/json.hpp>

#include <QString>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

namespace ckpt::test {

using Json = nlohmann::ordered_json;

inline Json loadJson(const std::string &path)
{
    std::ifstream in(path);
    if (!in)
        return Json();
    return Json::parse(in, nullptr, false);
}

struct Mismatches
{
    std::vector<std::string> lines;
    void add(const std::string &where, const std::string &what)
    {
        if (lines.size() < 40)
            lines.push_back(where + ": " + what);
    }
    bool empty() const { return lines.empty(); }
    QString text() const
    {
        std::string out;
        for (const auto &l : lines)
            out += l + '\n';
        return QString::fromStdString(out);
    }
};

inline bool closeTo(double a, double b, double rel, double abs = 0)
{
    if (std::isnan(a) || std::isnan(b))
        return std::isnan(a) && std::isnan(b);
    if (a == b)
        return true;
    return std::fabs(a - b) <= std::max(abs, rel * std::max(std::fabs(a), std::fabs(b)));
}

inline std::string show(const Json &j)
{
    return j.dump();
}

/// Compares `ls` output with torch's tensor listing: the same set of paths, and for each the
/// fields torch reports; storages shared exactly where torch shares them.
inline void compareListing(const Json &ours, const Json &expected, Mismatches &m)
{
    if (expected.contains("format") && ours.value("format", "") != expected["format"].get<std::string>())
        m.add("format", "ours " + ours.value("format", "") + ", torch " + show(expected["format"]));
    std::map<std::string, const Json *> mine;
    for (const Json &t : ours["tensors"])
        mine[t["path"].get<std::string>()] = &t;
    std::set<std::string> theirs;
    for (const Json &e : expected["tensors"]) {
        const std::string path = e["path"].get<std::string>();
        theirs.insert(path);
        auto it = mine.find(path);
        if (it == mine.end()) {
            m.add(path, "missing (torch lists it)");
            continue;
        }
        const Json &t = *it->second;
        for (const char *field : {"keys", "dtype", "shape", "stride", "storage_offset", "numel", "nbytes", "layout",
                                  "requires_grad"}) {
            if (!e.contains(field) || e[field].is_null())
                continue;
            if (std::string(field) == "stride" && e["stride"].empty() && e.value("layout", "strided") != "strided")
                continue;
            if (!t.contains(field) || t[field] != e[field])
                m.add(path, std::string(field) + ": ours " + (t.contains(field) ? show(t[field]) : "absent")
                                + ", torch " + show(e[field]));
        }
    }
    for (const auto &[path, t] : mine)
        if (!theirs.count(path))
            m.add(path, "listed by us but not by torch");

    // Storage sharing: every torch group shares one storage key with us, and every storage key
    // we share between paths lies inside one torch group (empty tensors excluded: torch reports
    // data_ptr 0 for all of them).
    if (!expected.contains("storage_groups"))
        return;
    std::map<std::string, std::string> keyOf;
    for (const auto &[path, t] : mine)
        if (!(*t)["storage"].is_null() && (*t)["numel"].get<std::uint64_t>() > 0)
            keyOf[path] = (*t)["storage"].get<std::string>();
    std::map<std::string, int> groupOf;
    int g = 0;
    for (const Json &group : expected["storage_groups"]) {
        std::set<std::string> keys;
        for (const Json &p : group) {
            groupOf[p.get<std::string>()] = g;
            if (keyOf.count(p.get<std::string>()))
                keys.insert(keyOf[p.get<std::string>()]);
        }
        if (keys.size() > 1)
            m.add("storage group " + show(group), "torch shares one storage, we see " + std::to_string(keys.size()));
        ++g;
    }
    std::map<std::string, std::vector<std::string>> pathsOfKey;
    for (const auto &[path, key] : keyOf)
        pathsOfKey[key].push_back(path);
    for (const auto &[key, paths] : pathsOfKey) {
        if (paths.size() < 2)
            continue;
        std::set<int> groups;
        for (const auto &p : paths)
            groups.insert(groupOf.count(p) ? groupOf[p] : -1 - static_cast<int>(groups.size()));
        if (groups.size() > 1)
            m.add("storage " + key, "shared by paths torch keeps apart: " + show(Json(paths)));
    }
}

/// Compares `stats` output with torch's statistics for every path torch computed.
inline void compareStats(const Json &ours, const Json &expected, Mismatches &m)
{
    if (!expected.contains("stats"))
        return;
    std::map<std::string, const Json *> mine;
    for (const Json &s : ours["stats"])
        mine[s["path"].get<std::string>()] = &s;
    for (const Json &e : expected["stats"]) {
        const std::string path = e["path"].get<std::string>();
        auto it = mine.find(path);
        if (it == mine.end()) {
            m.add(path, "no statistics (torch has them)");
            continue;
        }
        const Json &s = *it->second;
        if (s.contains("error") && s["finite"].is_null()) {
            m.add(path, "statistics failed: " + show(s["error"]));
            continue;
        }
        const bool quantized = e.value("dtype", "").rfind("q", 0) == 0;
        // Extremes are element values (exact) except for quantized tensors, where torch
        // dequantizes in float32 arithmetic. Sums depend on summation order.
        const double extremeTol = quantized ? 1e-6 : 1e-12;
        for (const char *field : {"numel", "finite", "nan", "posinf", "neginf", "zeros"})
            if (s[field] != e[field])
                m.add(path, std::string(field) + ": ours " + show(s[field]) + ", torch " + show(e[field]));
        // Sums (mean, std, l2) may differ from torch's by rounding in the summation order: on
        // the scale of the values themselves (a constant tensor has std 0 for us and ~1e-18 for
        // torch), hence an absolute tolerance relative to the largest magnitude.
        double scale = 0;
        for (const char *field : {"min", "max"})
            if (e[field].is_number())
                scale = std::max(scale, std::fabs(e[field].get<double>()));
        for (const char *field : {"min", "max", "mean", "std", "l2"}) {
            const Json &a = s[field];
            const Json &b = e[field];
            if (a.is_null() != b.is_null()) {
                m.add(path, std::string(field) + ": ours " + show(a) + ", torch " + show(b));
                continue;
            }
            if (b.is_null())
                continue;
            const bool extreme = std::string(field) == "min" || std::string(field) == "max";
            const double rel = extreme ? extremeTol : (quantized ? 1e-6 : 1e-9);
            if (!closeTo(a.get<double>(), b.get<double>(), rel, extreme ? 1e-300 : std::max(1e-300, 1e-12 * scale)))
                m.add(path, std::string(field) + ": ours " + show(a) + ", torch " + show(b));
        }
        const Json &ha = s["hist"];
        const Json &hb = e["hist"];
        if (ha.is_null() != hb.is_null()) {
            m.add(path, "hist: ours " + show(ha) + ", torch " + show(hb));
            continue;
        }
        if (hb.is_null())
            continue;
        if (!closeTo(ha["lo"].get<double>(), hb["lo"].get<double>(), extremeTol, 1e-300)
            || !closeTo(ha["hi"].get<double>(), hb["hi"].get<double>(), extremeTol, 1e-300))
            m.add(path, "hist range: ours " + show(ha["lo"]) + ".." + show(ha["hi"]) + ", torch " + show(hb["lo"])
                            + ".." + show(hb["hi"]));
        if (ha["counts"] != hb["counts"])
            m.add(path, "hist counts: ours " + show(ha["counts"]) + ", torch " + show(hb["counts"]));
    }
}

/// Compares `scan` output with the globals CPython's unpickler resolved (find_class calls).
inline void compareGlobals(const Json &ours, const Json &expected, Mismatches &m)
{
    if (expected.contains("globals")) {
        std::map<std::string, std::uint64_t> mine;
        std::map<std::string, std::uint64_t> theirs;
        for (const Json &g : ours["globals"])
            mine[g["module"].get<std::string>() + "." + g["name"].get<std::string>()] += g["count"].get<std::uint64_t>();
        for (const Json &g : expected["globals"])
            theirs[g["module"].get<std::string>() + "." + g["name"].get<std::string>()] += g["count"].get<std::uint64_t>();
        if (mine != theirs) {
            for (const auto &[name, count] : theirs)
                if (mine[name] != count)
                    m.add("global " + name, "count ours " + std::to_string(mine[name]) + ", CPython " + std::to_string(count));
            for (const auto &[name, count] : mine)
                if (!theirs.count(name))
                    m.add("global " + name, "seen by us only (" + std::to_string(count) + ")");
        }
    }
    if (expected.contains("dangerous") && expected["dangerous"].is_boolean()
        && ours["dangerous"] != expected["dangerous"])
        m.add("dangerous", "ours " + show(ours["dangerous"]) + ", expected " + show(expected["dangerous"]));
}

/// The error expectation: null = must read cleanly; else a substring of our error text.
inline void compareError(const Json &lsReport, const Json &expected, Mismatches &m)
{
    const Json want = expected.value("expect_error", Json());
    if (want.is_null()) {
        if (lsReport.contains("error"))
            m.add("error", "unexpected: " + lsReport["error"]["text"].get<std::string>());
        return;
    }
    if (!lsReport.contains("error")) {
        m.add("error", "expected an error containing " + show(want) + ", read cleanly");
        return;
    }
    std::string text = lsReport["error"]["text"].get<std::string>();
    std::string needle = want.get<std::string>();
    std::transform(text.begin(), text.end(), text.begin(), ::tolower);
    std::transform(needle.begin(), needle.end(), needle.begin(), ::tolower);
    if (text.find(needle) == std::string::npos)
        m.add("error", "'" + text + "' does not contain '" + needle + "'");
}

} // namespace ckpt::test
