// SPDX-License-Identifier: MIT
// `ckpt-inspect optim` (PRODUCT.md 4): the optimizers a file holds, their groups and each
// parameter's mapping and state, as JSON and as a text table.
#include "trainingstate.h"
#include "trainingstatedetail.h"

#include "torchlayout.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

namespace ckpt {

using format::CheckpointData;
using format::Value;
using format::ValueKind;
using detail::ModelParam;
using detail::joinKeys;
using detail::modelParams;
using detail::tensorOf;

namespace {

// A plain value as JSON, at most kValueJsonBudget values in all: a shared value is written at
// each place it occurs, so nested sharing (each level holding the one below twice) would
// otherwise grow as 2^depth. What is cut becomes the string "...".
constexpr std::size_t kValueJsonBudget = 10'000;

Json valueJson(const Value *v, std::size_t &budget, int depth = 0)
{
    if (!v || depth > 20)
        return nullptr;
    if (budget == 0)
        return "...";
    --budget;
    switch (v->kind) {
    case ValueKind::None: return nullptr;
    case ValueKind::Bool: return v->boolean;
    case ValueKind::Int: return v->integer;
    case ValueKind::Float: return v->real;
    case ValueKind::Str: return v->text;
    case ValueKind::Tuple:
    case ValueKind::List: {
        Json a = Json::array();
        for (const Value *x : v->items)
            a.push_back(valueJson(x, budget, depth + 1));
        return a;
    }
    case ValueKind::Dict: {
        Json o = Json::object();
        for (std::size_t i = 0; i < v->dictSize(); ++i)
            o[format::pathKey(v->dictKey(i))] = valueJson(v->dictValue(i), budget, depth + 1);
        return o;
    }
    default: return format::pyRepr(v);
    }
}

Json valueJson(const Value *v)
{
    std::size_t budget = kValueJsonBudget;
    return valueJson(v, budget);
}

Json shapeJson(const std::vector<std::int64_t> &shape)
{
    Json a = Json::array();
    for (auto d : shape)
        a.push_back(d);
    return a;
}

} // namespace

Json optimReport(const CheckpointData &data)
{
    const auto items = findTrainingState(data);
    std::vector<OptimizerMapping> maps;
    for (const TrainingItem &item : items)
        if (item.kind == TrainingKind::Optimizer)
            maps.push_back(mapOptimizer(data, item, items));

    // Statistics of every state tensor, computed once.
    std::vector<int> wanted;
    std::map<int, std::size_t> slot;
    for (const auto &m : maps)
        for (const auto &p : m.params)
            for (std::size_t i = 0; p.state && p.state->kind == ValueKind::Dict && i < p.state->dictSize(); ++i) {
                const Value *v = p.state->dictValue(i);
                if (tensorOf(data, v) && slot.emplace(static_cast<int>(v->integer), wanted.size()).second)
                    wanted.push_back(static_cast<int>(v->integer));
            }
    StatsSelection request;
    request.bins = 1;
    const auto stats = computeAllStats(data, wanted, request);
    auto statOf = [&](const Value *v) -> const TensorStatsResult & { return stats[slot.at(static_cast<int>(v->integer))]; };
    auto opt = [](const std::optional<double> &d) -> Json { return d ? Json(*d) : Json(nullptr); };

    Json j;
    j["file"] = data.file;
    Json optimizers = Json::array();
    for (const auto &m : maps) {
        Json o;
        o["path"] = m.optimizer->path();
        o["model_path"] = m.model ? Json(m.model->path()) : Json(nullptr);
        Json groups = Json::array();
        const Value *pg = m.optimizer->value->get("param_groups");
        for (std::size_t g = 0; g < pg->items.size(); ++g) {
            const Value *group = pg->items[g];
            Json gj;
            gj["index"] = g;
            Json hyper = Json::object();
            for (std::size_t i = 0; i < group->dictSize(); ++i) {
                const std::string key = format::pathKey(group->dictKey(i));
                if (key != "params" && key != "param_names")
                    hyper[key] = valueJson(group->dictValue(i));
            }
            gj["hyper"] = std::move(hyper);
            gj["params"] = valueJson(group->get("params"));
            groups.push_back(std::move(gj));
        }
        o["groups"] = std::move(groups);
        Json params = Json::array();
        for (const auto &p : m.params) {
            Json pj;
            pj["id"] = p.id;
            if (p.key != std::to_string(p.id))
                pj["state_key"] = p.key; // state keyed by name (get_state_dict): id is the position
            pj["group"] = p.group;
            pj["name"] = p.name ? Json(*p.name) : Json(nullptr);
            pj["tensor_path"] = p.tensorPath ? Json(*p.tensorPath) : Json(nullptr);
            pj["mapping"] = p.mapping;
            Json state = Json::object();
            for (std::size_t i = 0; p.state && p.state->kind == ValueKind::Dict && i < p.state->dictSize(); ++i) {
                const std::string key = format::pathKey(p.state->dictKey(i));
                const Value *v = p.state->dictValue(i);
                const format::TensorInfo *t = tensorOf(data, v);
                if (!t) {
                    state[key] = valueJson(v);
                    continue;
                }
                const TensorStatsResult &r = statOf(v);
                if (key == "step" && t->shape.empty()) {
                    state[key] = r.stats ? opt(r.stats->mean) : Json(nullptr);
                    continue;
                }
                Json s;
                s["dtype"] = std::string(format::dtypeName(t->dtype));
                s["shape"] = shapeJson(t->shape);
                s["norm"] = r.stats ? opt(r.stats->l2) : Json(nullptr);
                s["mean"] = r.stats ? opt(r.stats->mean) : Json(nullptr);
                if (!r.error.empty())
                    s["error"] = r.error;
                state[key] = std::move(s);
            }
            pj["state"] = std::move(state);
            params.push_back(std::move(pj));
        }
        o["params"] = std::move(params);
        optimizers.push_back(std::move(o));
    }
    j["optimizers"] = std::move(optimizers);
    return j;
}

std::string optimTable(const Json &report)
{
    std::ostringstream out;
    if (report["optimizers"].empty())
        out << "no optimizer state found\n";
    for (const Json &o : report["optimizers"]) {
        out << "optimizer " << o["path"].get<std::string>() << "  (model: "
            << (o["model_path"].is_null() ? std::string("none") : o["model_path"].get<std::string>()) << ")\n";
        std::vector<std::array<std::string, 6>> rows{{"ID", "GROUP", "NAME", "SHAPE", "STEP", "MAPPING"}};
        for (const Json &p : o["params"]) {
            std::string shape = "-";
            std::string step = "-";
            for (const auto &[k, v] : p["state"].items()) {
                if (k == "step" && v.is_number()) {
                    char buf[32];
                    std::snprintf(buf, sizeof buf, "%g", v.get<double>());
                    step = buf;
                } else if (shape == "-" && v.is_object() && v.contains("shape") && !v["shape"].empty()) {
                    shape.clear();
                    for (std::size_t i = 0; i < v["shape"].size(); ++i)
                        shape += (i ? "x" : "") + std::to_string(v["shape"][i].get<std::int64_t>());
                }
            }
            rows.push_back({std::to_string(p["id"].get<std::int64_t>()), std::to_string(p["group"].get<int>()),
                            p["name"].is_null() ? std::string("?") : p["name"].get<std::string>(), shape, step,
                            p["mapping"].get<std::string>()});
        }
        std::array<std::size_t, 6> width{};
        for (const auto &r : rows)
            for (std::size_t c = 0; c < 6; ++c)
                width[c] = std::max(width[c], r[c].size());
        for (const auto &r : rows) {
            std::string line;
            for (std::size_t c = 0; c < 6; ++c) {
                line += r[c];
                if (c + 1 < 6)
                    line += std::string(width[c] - r[c].size() + 2, ' ');
            }
            out << line << '\n';
        }
    }
    return out.str();
}

} // namespace ckpt
