// SPDX-License-Identifier: MIT
#include "series.h"

#include "trainingstate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <unordered_map>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <string_view>
#include <filesystem>
#include <iterator>
#include <utility>

namespace ckpt {

namespace fs = std::filesystem;
using format::Value;
using format::ValueKind;

namespace {

std::vector<std::int64_t> numbersIn(const std::string &name)
{
    std::vector<std::int64_t> out;
    for (std::size_t i = 0; i < name.size();) {
        if (!std::isdigit(static_cast<unsigned char>(name[i]))) {
            ++i;
            continue;
        }
        std::int64_t n = 0;
        for (; i < name.size() && std::isdigit(static_cast<unsigned char>(name[i])); ++i)
            n = n < (INT64_MAX - 9) / 10 ? n * 10 + (name[i] - '0') : n;
        out.push_back(n);
    }
    return out;
}

/// A counter's number: an int, a float, or a 0-d tensor's one element.
std::optional<double> numberOf(const format::CheckpointData &data, const Value *v)
{
    if (!v)
        return std::nullopt;
    if (v->kind == ValueKind::Int)
        return static_cast<double>(v->integer);
    if (v->kind == ValueKind::Float)
        return v->real;
    if (v->kind == ValueKind::Tensor) {
        const format::TensorViewResult t = format::tensorView(data, static_cast<int>(v->integer));
        if (t.view && t.view->numel() == 1 && format::isDecodable(t.view->dtype))
            return format::elementAt(*t.view, std::vector<std::int64_t>(t.view->shape.size(), 0)).re;
    }
    return std::nullopt;
}

bool isCheckpointFile(const fs::path &p)
{
    static const char *const kExtensions[] = {".pt", ".pth", ".ckpt", ".bin", ".safetensors", ".pkl", ".tar"};
    const std::string ext = p.extension().string();
    return std::any_of(std::begin(kExtensions), std::end(kExtensions), [&](const char *e) { return ext == e; });
}

bool isCheckpointFolder(const fs::path &p)
{
    std::error_code ec;
    return fs::is_regular_file(p / ".metadata", ec) || fs::is_regular_file(p / "trainer_state.json", ec)
           || !format::weightsInFolder(p.string()).empty();
}

} // namespace

bool naturalLess(const std::string &a, const std::string &b)
{
    std::size_t i = 0, j = 0;
    while (i < a.size() && j < b.size()) {
        const bool da = std::isdigit(static_cast<unsigned char>(a[i])), db = std::isdigit(static_cast<unsigned char>(b[j]));
        if (da && db) {
            std::size_t ei = i, ej = j;
            while (ei < a.size() && std::isdigit(static_cast<unsigned char>(a[ei])))
                ++ei;
            while (ej < b.size() && std::isdigit(static_cast<unsigned char>(b[ej])))
                ++ej;
            // Compare the runs as numbers of any length: without leading zeros, longer is larger.
            std::string_view x(a.data() + i, ei - i), y(b.data() + j, ej - j);
            x.remove_prefix(std::min(x.find_first_not_of('0'), x.size()));
            y.remove_prefix(std::min(y.find_first_not_of('0'), y.size()));
            if (x.size() != y.size())
                return x.size() < y.size();
            if (x != y)
                return x < y;
            i = ei;
            j = ej;
        } else {
            if (a[i] != b[j])
                return a[i] < b[j];
            ++i;
            ++j;
        }
    }
    return a.size() - i < b.size() - j || (a.size() - i == b.size() - j && a < b);
}

std::vector<std::string> seriesCandidates(const std::string &dir)
{
    std::vector<std::string> out;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const fs::path p = it->path();
        if (p.filename().string().starts_with("."))
            continue;
        std::error_code e2;
        if ((it->is_regular_file(e2) && isCheckpointFile(p)) || (it->is_directory(e2) && isCheckpointFolder(p)))
            out.push_back(p.string());
    }
    std::sort(out.begin(), out.end(), [](const std::string &a, const std::string &b) {
        return naturalLess(fs::path(a).filename().string(), fs::path(b).filename().string());
    });
    return out;
}

void seriesCounters(const format::CheckpointData &data, std::optional<std::int64_t> &step,
                    std::optional<double> &epoch)
{
    step.reset();
    epoch.reset();
    std::size_t stepDepth = SIZE_MAX, stepRank = SIZE_MAX, epochDepth = SIZE_MAX;
    for (const TrainingItem &item : findTrainingState(data)) {
        if (item.kind != TrainingKind::Counter || item.keys.empty())
            continue;
        const std::string &key = item.keys.back();
        const std::optional<double> n = numberOf(data, item.value);
        if (!n)
            continue;
        static const char *const kStepKeys[] = {"global_step", "step", "iteration", "iter"};
        const auto rank = static_cast<std::size_t>(
            std::find_if(std::begin(kStepKeys), std::end(kStepKeys), [&](const char *k) { return key == k; })
            - std::begin(kStepKeys));
        if (rank < std::size(kStepKeys)
            && std::make_pair(item.keys.size(), rank) < std::make_pair(stepDepth, stepRank)) {
            step = static_cast<std::int64_t>(*n);
            stepDepth = item.keys.size();
            stepRank = rank;
        } else if (key == "epoch" && item.keys.size() < epochDepth) {
            epoch = *n;
            epochDepth = item.keys.size();
        }
    }
}

Series openSeries(const std::vector<std::string> &inputs, const format::ReadLimits &limits)
{
    std::vector<std::string> files;
    for (const std::string &in : inputs) {
        std::error_code ec;
        if (fs::is_directory(in, ec) && !isCheckpointFolder(in)) {
            const std::vector<std::string> found = seriesCandidates(in);
            files.insert(files.end(), found.begin(), found.end());
        } else {
            files.push_back(in);
        }
    }
    Series series;
    for (const std::string &f : files) {
        SeriesMember m;
        m.file = f;
        m.nameNumbers = numbersIn(fs::path(f).filename().string());
        std::error_code ec;
        if (fs::is_regular_file(f, ec))
            m.size = fs::file_size(f, ec);
        const auto t = fs::last_write_time(f, ec);
        if (!ec)
            m.mtimeNs = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
        m.data = format::readCheckpoint(f, limits);
        if (m.data)
            seriesCounters(*m.data, m.step, m.epoch);
        series.members.push_back(std::move(m));
    }
    auto all = [&](auto has) { return std::all_of(series.members.begin(), series.members.end(), has); };
    const bool bySteps = all([](const SeriesMember &m) { return m.step.has_value(); });
    const bool byEpochs = all([](const SeriesMember &m) { return m.epoch.has_value(); });
    const bool byNames = all([](const SeriesMember &m) { return !m.nameNumbers.empty(); });
    series.orderedBy = bySteps ? "step" : byEpochs ? "epoch" : byNames ? "name" : "mtime";
    std::stable_sort(series.members.begin(), series.members.end(), [&](const SeriesMember &a, const SeriesMember &b) {
        if (bySteps && *a.step != *b.step)
            return *a.step < *b.step;
        if (byEpochs && *a.epoch != *b.epoch)
            return *a.epoch < *b.epoch;
        if (byNames && a.nameNumbers != b.nameNumbers)
            return a.nameNumbers < b.nameNumbers;
        if (!bySteps && !byEpochs && !byNames && a.mtimeNs != b.mtimeNs)
            return a.mtimeNs < b.mtimeNs;
        return naturalLess(fs::path(a.file).filename().string(), fs::path(b.file).filename().string());
    });
    return series;
}

} // namespace ckpt

namespace ckpt {

namespace {

std::string numberText(const std::optional<double> &v)
{
    if (!v)
        return "-";
    char text[32];
    std::snprintf(text, sizeof text, "%.6g", *v);
    return text;
}

} // namespace

std::vector<SeriesTensor> seriesTensors(const Series &series, const SeriesOptions &options)
{
    std::vector<SeriesTensor> out;
    std::unordered_map<std::string, std::size_t> index;
    // Per path, the tensor of each member (-1 where absent).
    std::vector<std::vector<int>> tensorOf;
    const std::size_t n = series.members.size();
    for (std::size_t m = 0; m < n; ++m) {
        const auto &data = series.members[m].data;
        if (!data)
            continue;
        for (const format::TensorPath *tp : matchingPaths(*data, options.patterns)) {
            const format::TensorPath &p = *tp;
            const std::string path = p.path();
            auto [it, fresh] = index.try_emplace(path, out.size());
            if (fresh) {
                SeriesTensor t;
                t.path = path;
                const format::TensorInfo &info = data->tensors[static_cast<std::size_t>(p.tensor)];
                t.dtype = std::string(format::dtypeName(info.dtype));
                t.shape = info.shape;
                out.push_back(std::move(t));
                tensorOf.emplace_back(n, -1);
            }
            if (tensorOf[it->second][m] < 0)
                tensorOf[it->second][m] = p.tensor;
        }
    }
    format::StatsOptions stats;
    stats.bins = 1;
    stats.threads = options.threads;
    DiffOptions diff;
    diff.threads = options.threads;
    auto change = [&](std::size_t a, int ta, std::size_t b, int tb, std::optional<double> &relL2,
                      std::optional<double> &cosine) {
        const format::CheckpointData &da = *series.members[a].data, &db = *series.members[b].data;
        DiffEntry e;
        e.isTensor = true;
        e.a = DiffSide{};
        e.a->tensor = ta;
        e.a->shape = da.tensors[static_cast<std::size_t>(ta)].shape;
        e.b = DiffSide{};
        e.b->tensor = tb;
        e.b->shape = db.tensors[static_cast<std::size_t>(tb)].shape;
        if (!needsMetrics(e))
            return;
        computeTensorDiff(da, db, e, diff);
        if (e.error.empty()) {
            relL2 = e.relL2;
            cosine = e.cosine;
        }
    };
    for (std::size_t m = 0; m < n; ++m) {
        if (options.progress && !options.progress(m, n))
            throw format::FormatError(format::FormatError::Kind::Cancelled, "cancelled");
        for (std::size_t t = 0; t < out.size(); ++t) {
            const int tensor = tensorOf[t][m];
            if (tensor < 0)
                continue;
            SeriesPoint point;
            point.member = static_cast<int>(m);
            const format::CheckpointData &data = *series.members[m].data;
            const format::TensorViewResult view = format::tensorView(data, tensor);
            if (!view.view || !format::isDecodable(view.view->dtype)) {
                point.error = view.view ? "values of this dtype are not decoded" : view.error;
            } else {
                const format::TensorStats s = format::computeStats(*view.view, stats);
                point.l2 = s.l2;
                point.mean = s.mean;
                point.std = s.std;
                point.min = s.min;
                point.max = s.max;
                point.nan = s.nan;
                point.inf = s.posinf + s.neginf;
                // The previous member holding the tensor (its own previous point) and the first.
                if (!out[t].points.empty()) {
                    const auto prev = static_cast<std::size_t>(out[t].points.back().member);
                    const auto first = static_cast<std::size_t>(out[t].points.front().member);
                    change(prev, tensorOf[t][prev], m, tensor, point.relL2Prev, point.cosPrev);
                    change(first, tensorOf[t][first], m, tensor, point.relL2First, point.cosFirst);
                }
            }
            out[t].points.push_back(std::move(point));
        }
    }
    return out;
}

std::vector<SeriesScalar> seriesScalars(const Series &series)
{
    std::vector<SeriesScalar> out;
    std::unordered_map<std::string, std::size_t> index;
    auto add = [&](const std::string &name, const std::string &path, int member, double value) {
        auto [it, fresh] = index.try_emplace(name, out.size());
        if (fresh)
            out.push_back({name, path, {}});
        out[it->second].points.emplace_back(member, value);
    };
    for (std::size_t m = 0; m < series.members.size(); ++m) {
        const auto &data = series.members[m].data;
        if (!data)
            continue;
        const std::vector<TrainingItem> items = findTrainingState(*data);
        std::vector<const TrainingItem *> optimizers;
        for (const TrainingItem &item : items) {
            if (item.kind == TrainingKind::Optimizer)
                optimizers.push_back(&item);
            if (item.kind != TrainingKind::Counter || item.keys.size() != 1)
                continue;
            const std::string &key = item.keys.front();
            if (key == "epoch" || key == "global_step" || key == "loss")
                if (const std::optional<double> v = numberOf(*data, item.value))
                    add(key, key, static_cast<int>(m), *v);
        }
        for (const TrainingItem *o : optimizers) {
            const Value *groups = o->value ? o->value->get("param_groups") : nullptr;
            if (!groups || (groups->kind != ValueKind::List && groups->kind != ValueKind::Tuple))
                continue;
            for (std::size_t g = 0; g < groups->items.size(); ++g) {
                const Value *group = groups->items[g];
                const std::optional<double> lr
                    = group && group->kind == ValueKind::Dict ? numberOf(*data, group->get("lr")) : std::nullopt;
                if (!lr)
                    continue;
                const std::string path = o->path() + "/param_groups/" + std::to_string(g) + "/lr";
                const std::string name
                    = (optimizers.size() == 1 ? std::string() : o->path() + "/") + "lr/" + std::to_string(g);
                add(name, path, static_cast<int>(m), *lr);
            }
        }
    }
    return out;
}

Json seriesReport(const Series &series, const std::vector<SeriesTensor> &tensors,
                  const std::vector<SeriesScalar> &scalars)
{
    Json j;
    j["order_by"] = series.orderedBy;
    Json members = Json::array();
    for (const SeriesMember &m : series.members) {
        Json e;
        e["file"] = m.file;
        e["step"] = m.step ? Json(*m.step) : Json(nullptr);
        e["epoch"] = m.epoch ? Json(*m.epoch) : Json(nullptr);
        if (m.data && m.data->error)
            e["error"] = m.data->error->text();
        members.push_back(std::move(e));
    }
    j["members"] = std::move(members);
    Json ts = Json::array();
    for (const SeriesTensor &t : tensors) {
        Json e;
        e["path"] = t.path;
        e["dtype"] = t.dtype;
        e["shape"] = t.shape;
        Json points = Json::array();
        for (const SeriesPoint &p : t.points) {
            Json q;
            q["member"] = p.member;
            q["l2"] = optionalNumber(p.l2);
            q["mean"] = optionalNumber(p.mean);
            q["std"] = optionalNumber(p.std);
            q["min"] = optionalNumber(p.min);
            q["max"] = optionalNumber(p.max);
            q["nan"] = p.nan;
            q["inf"] = p.inf;
            q["rel_l2_prev"] = optionalNumber(p.relL2Prev);
            q["cos_prev"] = optionalNumber(p.cosPrev);
            q["rel_l2_first"] = optionalNumber(p.relL2First);
            q["cos_first"] = optionalNumber(p.cosFirst);
            if (!p.error.empty())
                q["error"] = p.error;
            points.push_back(std::move(q));
        }
        e["points"] = std::move(points);
        ts.push_back(std::move(e));
    }
    j["tensors"] = std::move(ts);
    Json sc = Json::array();
    for (const SeriesScalar &s : scalars) {
        Json points = Json::array();
        for (const auto &[member, value] : s.points)
            points.push_back({{"member", member}, {"value", value}});
        sc.push_back({{"name", s.name}, {"path", s.path}, {"points", std::move(points)}});
    }
    j["scalars"] = std::move(sc);
    return j;
}

std::string seriesTable(const Json &report)
{
    std::string out = "order: " + report["order_by"].get<std::string>() + "\n";
    const Json &members = report["members"];
    for (std::size_t i = 0; i < members.size(); ++i) {
        const Json &m = members[i];
        out += "member " + std::to_string(i) + ": " + m["file"].get<std::string>();
        if (m["step"].is_number())
            out += "  step " + std::to_string(m["step"].get<std::int64_t>());
        if (m["epoch"].is_number())
            out += "  epoch " + numberText(m["epoch"].get<double>());
        out += '\n';
    }
    auto num = [](const Json &v) { return v.is_number() ? numberText(v.get<double>()) : std::string("-"); };
    char line[512];
    std::snprintf(line, sizeof line, "%-6s %12s %12s %12s %8s %12s %12s  %s\n", "MEMBER", "L2", "MEAN", "STD", "NAN",
                  "REL_L2_PREV", "COS_PREV", "PATH");
    out += line;
    for (const Json &t : report["tensors"])
        for (const Json &p : t["points"]) {
            std::snprintf(line, sizeof line, "%-6d %12s %12s %12s %8llu %12s %12s  %s\n", p["member"].get<int>(),
                          num(p["l2"]).c_str(), num(p["mean"]).c_str(), num(p["std"]).c_str(),
                          static_cast<unsigned long long>(p["nan"].get<std::uint64_t>()), num(p["rel_l2_prev"]).c_str(),
                          num(p["cos_prev"]).c_str(), t["path"].get<std::string>().c_str());
            out += line;
        }
    for (const Json &s : report["scalars"]) {
        out += "scalar " + s["name"].get<std::string>() + ":";
        for (const Json &p : s["points"])
            out += " " + num(p["value"]);
        out += '\n';
    }
    return out;
}

} // namespace ckpt
