// SPDX-License-Identifier: MIT
// The diff engine, part 3 of 3: `ckpt-inspect diff --json` and its text table (diffengine.h).
#include "diffengine.h"

#include "inspectreport.h"

#include <cstdio>
#include <string>

namespace ckpt {

using namespace ckpt::format;

// ---- reports ------------------------------------------------------------------------------------

namespace {

Json metric(const std::optional<double> &v)
{
    if (!v || !std::isfinite(*v))
        return nullptr;
    return *v;
}

Json sideJson(const DiffSide &s)
{
    Json j;
    j["dtype"] = s.dtype;
    j["shape"] = s.shape;
    return j;
}

std::string sideText(const std::optional<DiffSide> &s)
{
    if (!s)
        return "-";
    if (s->tensor >= 0)
        return s->dtype + " " + shapeString(s->shape);
    constexpr std::size_t kMax = 48;
    if (s->value.size() <= kMax)
        return s->value;
    return s->value.substr(0, kMax - 3) + "...";
}

std::string numberText(const Json &v)
{
    if (v.is_null())
        return "-";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", v.get<double>());
    return buf;
}

} // namespace

Json diffReport(const CheckpointData &a, const CheckpointData &b, const DiffResult &result)
{
    Json j;
    j["a"] = a.file;
    j["b"] = b.file;
    j["format_a"] = formatName(a.format);
    j["format_b"] = formatName(b.format);
    if (!result.strippedA.empty() || !result.strippedB.empty())
        j["strip_prefix"] = Json{{"a", result.strippedA}, {"b", result.strippedB}};
    if (result.attributesLeftOutA || result.attributesLeftOutB)
        j["module_attributes_left_out"] = Json{{"a", result.attributesLeftOutA}, {"b", result.attributesLeftOutB}};
    Json entries = Json::array();
    std::uint64_t unknown = 0;
    for (const DiffEntry &e : result.entries) {
        Json o;
        o["path"] = e.path();
        o["keys"] = e.keys;
        const bool failed = e.status == DiffStatus::Pending;
        unknown += failed;
        o["status"] = failed ? std::string_view("unknown") : diffStatusName(e.status);
        if (!e.paramName.empty())
            o["param_name"] = e.paramName;
        if (e.group != DiffGroup::Other)
            o["group"] = diffGroupName(e.group);
        if (e.a && e.a->keys != e.keys)
            o["path_a"] = e.a->path();
        if (e.b && e.b->keys != e.keys)
            o["path_b"] = e.b->path();
        if (e.a)
            o[e.a->tensor >= 0 ? "a" : "value_a"] = e.a->tensor >= 0 ? sideJson(*e.a) : Json(e.a->value);
        if (e.b)
            o[e.b->tensor >= 0 ? "b" : "value_b"] = e.b->tensor >= 0 ? sideJson(*e.b) : Json(e.b->value);
        if (e.isTensor && e.a && e.b) {
            o["max_abs_diff"] = metric(e.maxAbsDiff);
            o["mean_abs_diff"] = metric(e.meanAbsDiff);
            o["rel_l2"] = metric(e.relL2);
            o["cosine"] = metric(e.cosine);
            if (e.error.empty() && e.a->shape == e.b->shape)
                o["differing"] = e.differing;
            if (e.nanMismatch)
                o["nan_mismatch"] = e.nanMismatch;
        }
        if (!e.error.empty())
            o["error"] = e.error;
        entries.push_back(std::move(o));
    }
    j["entries"] = std::move(entries);
    const DiffSummary s = result.summary();
    Json sum;
    sum["same"] = s.same;
    sum["changed"] = s.changed;
    sum["added"] = s.added;
    sum["removed"] = s.removed;
    sum["shape"] = s.shape;
    sum["dtype"] = s.dtype;
    if (unknown)
        sum["unknown"] = unknown;
    j["summary"] = std::move(sum);
    if (a.error)
        j["error_a"] = errorLine(a);
    if (b.error)
        j["error_b"] = errorLine(b);
    return j;
}

std::string diffTable(const Json &report)
{
    std::vector<std::vector<std::string>> rows{
        {"STATUS", "PATH", "A", "B", "MAX|B-A|", "MEAN|B-A|", "REL_L2", "COSINE"}};
    const auto side = [](const Json &e, const char *tensorKey, const char *valueKey) {
        DiffSide s;
        if (e.contains(tensorKey)) {
            s.tensor = 0;
            s.dtype = e[tensorKey]["dtype"].get<std::string>();
            s.shape = e[tensorKey]["shape"].get<std::vector<std::int64_t>>();
            return sideText(s);
        }
        if (e.contains(valueKey)) {
            s.value = e[valueKey].get<std::string>();
            return sideText(s);
        }
        return sideText(std::nullopt);
    };
    for (const Json &e : report["entries"]) {
        const auto num = [&](const char *k) { return e.contains(k) ? numberText(e[k]) : std::string("-"); };
        std::string path = e["path"].get<std::string>();
        if (e.contains("param_name"))
            path += " [" + e["param_name"].get<std::string>() + "]";
        rows.push_back({e["status"].get<std::string>(), std::move(path), side(e, "a", "value_a"),
                        side(e, "b", "value_b"), num("max_abs_diff"), num("mean_abs_diff"), num("rel_l2"),
                        num("cosine")});
        if (e.contains("error"))
            rows.back().back() += "  (" + e["error"].get<std::string>() + ")";
    }
    std::string out = textTable(rows, {false, false, false, false, true, true, true, true});
    const Json &s = report["summary"];
    out += std::to_string(s["same"].get<std::uint64_t>()) + " same, " + std::to_string(s["changed"].get<std::uint64_t>())
           + " changed, " + std::to_string(s["added"].get<std::uint64_t>()) + " added, "
           + std::to_string(s["removed"].get<std::uint64_t>()) + " removed, "
           + std::to_string(s["shape"].get<std::uint64_t>()) + " shape, " + std::to_string(s["dtype"].get<std::uint64_t>())
           + " dtype";
    if (s.contains("unknown"))
        out += ", " + std::to_string(s["unknown"].get<std::uint64_t>()) + " unknown";
    out += '\n';
    if (report.contains("module_attributes_left_out")) {
        for (const char *k : {"a", "b"}) {
            const auto n = report["module_attributes_left_out"][k].get<std::uint64_t>();
            if (n)
                out += std::to_string(n) + " attributes of the module pickled whole in " + report[k].get<std::string>()
                       + " are not compared: the other file holds no module object\n";
        }
    }
    if (report.contains("strip_prefix")) {
        for (const char *k : {"a", "b"}) {
            const std::string p = report["strip_prefix"][k].get<std::string>();
            if (!p.empty())
                out += "prefix '" + p + "' stripped from the keys of " + report[k].get<std::string>() + '\n';
        }
    }
    return out;
}

} // namespace ckpt
