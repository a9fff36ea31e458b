// SPDX-License-Identifier: MIT
#include "trainingstate.h"

#include "torchlayout.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <unordered_map>
#include <set>
#include <sstream>
#include <tuple>
#include <unordered_set>

namespace ckpt {

using format::CheckpointData;
using format::Value;
using format::ValueKind;

namespace {

bool endsWith(std::string_view s, std::string_view suffix)
{
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool isStrKey(const Value *k)
{
    return k && k->kind == ValueKind::Str;
}

bool isOptimizerDict(const Value *v)
{
    if (!v || v->kind != ValueKind::Dict)
        return false;
    const Value *state = v->get("state");
    const Value *groups = v->get("param_groups");
    if (!state || state->kind != ValueKind::Dict || !groups || groups->kind != ValueKind::List)
        return false;
    for (std::size_t i = 0; i < state->dictSize(); ++i)
        if (state->dictKey(i)->kind != ValueKind::Int)
            return false;
    for (const Value *g : groups->items) {
        if (!g || g->kind != ValueKind::Dict)
            return false;
        const Value *params = g->get("params");
        if (!params || params->kind != ValueKind::List)
            return false;
    }
    return true;
}

bool isModelDict(const Value *v)
{
    if (!v || v->kind != ValueKind::Dict || v->dictSize() == 0)
        return false;
    std::size_t tensors = 0;
    std::size_t dotted = 0;
    for (std::size_t i = 0; i < v->dictSize(); ++i) {
        const Value *k = v->dictKey(i);
        if (!isStrKey(k))
            return false;
        if (v->dictValue(i)->kind == ValueKind::Tensor)
            ++tensors;
        if (k->text.find('.') != std::string::npos)
            ++dotted;
    }
    // Mostly tensors; dotted keys unless it is a tiny dict of tensors only.
    return tensors * 2 > v->dictSize() && (dotted * 2 >= v->dictSize() || tensors == v->dictSize());
}

bool isSchedulerDict(const Value *v)
{
    return v && v->kind == ValueKind::Dict && v->get("last_epoch")
           && (v->get("_last_lr") || v->get("base_lrs"));
}

bool isScalerDict(const Value *v)
{
    return v && v->kind == ValueKind::Dict && v->get("scale") && v->get("growth_factor");
}

bool isCounterKey(std::string_view k)
{
    static const std::set<std::string_view> keys{"epoch", "global_step", "step", "iteration", "iter",
                                                 "loss", "best_acc", "best_loss", "best_metric"};
    return keys.count(k) > 0;
}

std::string commonPrefix(const Value *dict)
{
    static const char *const kPrefixes[] = {"module.", "_orig_mod.", "model."};
    for (const char *p : kPrefixes) {
        bool all = dict->dictSize() > 0;
        for (std::size_t i = 0; all && i < dict->dictSize(); ++i)
            all = dict->dictKey(i)->text.rfind(p, 0) == 0;
        if (all)
            return p;
    }
    return {};
}

struct ModelParam
{
    std::string key;
    int tensor = -1;
    const std::vector<std::int64_t> *shape = nullptr;
};

/// The parameters of a model state dict in order: buffers skipped, shared tensors once.
std::vector<ModelParam> modelParams(const CheckpointData &data, const Value *dict)
{
    std::vector<ModelParam> out;
    std::set<std::tuple<int, std::int64_t, std::vector<std::int64_t>, std::vector<std::int64_t>>> seen;
    std::unordered_set<int> seenTensor;
    for (std::size_t i = 0; i < dict->dictSize(); ++i) {
        const Value *v = dict->dictValue(i);
        if (v->kind != ValueKind::Tensor || isBufferName(dict->dictKey(i)->text))
            continue;
        const int t = static_cast<int>(v->integer);
        if (t < 0 || static_cast<std::size_t>(t) >= data.tensors.size() || !seenTensor.insert(t).second)
            continue;
        const auto &info = data.tensors[static_cast<std::size_t>(t)];
        if (info.storage >= 0 && !seen.insert({info.storage, info.storageOffset, info.shape, info.stride}).second)
            continue; // tied weights: named_parameters() lists them once
        out.push_back({std::string(dict->dictKey(i)->text), t, &info.shape});
    }
    return out;
}

// `visited` holds every container walked so far, never erased: a value shared by many paths is
// classified once, at its first path (a memo bomb of 2^64 paths costs 64 steps, issue 16).
void walk(const Value *v, std::vector<std::string> &keys, std::vector<TrainingItem> &out,
          std::unordered_set<const Value *> &visited, const CheckpointData &data)
{
    if (!v || keys.size() > 200 || !visited.insert(v).second)
        return;
    auto add = [&](TrainingKind kind) {
        TrainingItem item;
        item.kind = kind;
        item.keys = keys;
        item.value = v;
        out.push_back(std::move(item));
        return &out.back();
    };
    if (isOptimizerDict(v)) {
        add(TrainingKind::Optimizer);
    } else if (isModelDict(v)) {
        TrainingItem *item = add(TrainingKind::ModelStateDict);
        item->prefix = commonPrefix(v);
        item->parameters = modelParams(data, v).size();
    } else if (isSchedulerDict(v)) {
        add(TrainingKind::Scheduler);
    } else if (isScalerDict(v)) {
        add(TrainingKind::Scaler);
    } else if (v->kind == ValueKind::Dict) {
        for (std::size_t i = 0; i < v->dictSize(); ++i) {
            const Value *child = v->dictValue(i);
            keys.push_back(format::pathKey(v->dictKey(i)));
            const bool plain = child->kind == ValueKind::Int || child->kind == ValueKind::Float
                               || (child->kind == ValueKind::Tensor && child->integer >= 0
                                   && static_cast<std::size_t>(child->integer) < data.tensors.size()
                                   && data.tensors[static_cast<std::size_t>(child->integer)].shape.empty());
            if (plain && isStrKey(v->dictKey(i)) && isCounterKey(v->dictKey(i)->text)) {
                TrainingItem item;
                item.kind = TrainingKind::Counter;
                item.keys = keys;
                item.value = child;
                out.push_back(std::move(item));
            } else {
                walk(child, keys, out, visited, data);
            }
            keys.pop_back();
        }
    } else if (v->kind == ValueKind::List || v->kind == ValueKind::Tuple) {
        for (std::size_t i = 0; i < v->items.size(); ++i) {
            keys.push_back(std::to_string(i));
            walk(v->items[i], keys, out, visited, data);
            keys.pop_back();
        }
    } else if (v->kind == ValueKind::Object && v->state && v->state->kind == ValueKind::Dict) {
        // Attributes by name (no extra level for the state dict itself).
        for (std::size_t i = 0; i < v->state->dictSize(); ++i) {
            keys.push_back(format::pathKey(v->state->dictKey(i)));
            walk(v->state->dictValue(i), keys, out, visited, data);
            keys.pop_back();
        }
    }
}

std::string joinKeys(const std::vector<std::string> &keys)
{
    std::string s;
    for (std::size_t i = 0; i < keys.size(); ++i) {
        if (i)
            s += '/';
        s += keys[i];
    }
    return s;
}

const Value *stateOf(const Value *optimizer, std::int64_t id)
{
    const Value *state = optimizer->get("state");
    for (std::size_t i = 0; state && i < state->dictSize(); ++i) {
        std::int64_t k = 0;
        if (state->dictKey(i)->toInt(k) && k == id)
            return state->dictValue(i);
    }
    return nullptr;
}

const format::TensorInfo *tensorOf(const CheckpointData &data, const Value *v)
{
    if (!v || v->kind != ValueKind::Tensor || v->integer < 0 || static_cast<std::size_t>(v->integer) >= data.tensors.size())
        return nullptr;
    return &data.tensors[static_cast<std::size_t>(v->integer)];
}

/// Every assignment of optimizer params to model params such that each group takes a
/// subsequence of the model's parameters in order, groups are disjoint and known shapes agree.
/// For each param: the candidate all solutions agree on, or -1.
class SubsequenceSearch
{
public:
    struct Item
    {
        int group;
        std::optional<std::vector<std::int64_t>> shape; ///< known shape; conflicting = nothing fits
        bool conflict = false;
    };

    SubsequenceSearch(const std::vector<Item> &items, const std::vector<ModelParam> &cands)
        : m_items(items), m_cands(cands), m_used(cands.size(), false), m_current(items.size(), -1),
          m_agreed(items.size(), -2)
    {
        for (std::size_t i = 0; i < items.size(); ++i)
            m_lastGroup = std::max(m_lastGroup, items[i].group);
    }

    /// False when the search was cut short or found nothing.
    bool run()
    {
        if (m_items.size() > m_cands.size())
            return false;
        m_slack = m_cands.size() - m_items.size();
        search();
        return !m_aborted && m_solutions > 0;
    }
    int agreed(std::size_t i) const { return m_agreed[i] >= 0 ? m_agreed[i] : -1; }

private:
    bool fits(const Item &item, const ModelParam &c) const
    {
        if (item.conflict)
            return false;
        return !item.shape || *item.shape == *c.shape;
    }
    void recordSolution()
    {
        ++m_solutions;
        for (std::size_t k = 0; k < m_items.size(); ++k) {
            if (m_agreed[k] == -2)
                m_agreed[k] = m_current[k];
            else if (m_agreed[k] != m_current[k])
                m_agreed[k] = -1;
        }
    }

    // Depth-first over the items in order: item i takes an unused fitting candidate after the
    // previous item's (from the start in a new group). An explicit stack, not recursion: the
    // depth is the number of optimizer parameters (25,000 in a deep model's state overflowed
    // the stack under ASan, and would in any thread with a few times that).
    void search()
    {
        constexpr std::size_t kNone = static_cast<std::size_t>(-1);
        struct Frame
        {
            std::size_t next;   ///< next candidate to try for this item
            std::size_t skips;  ///< unused candidates of the last group left behind so far
            std::size_t placed; ///< candidate this item holds while deeper items are searched
        };
        std::vector<Frame> stack;
        stack.reserve(m_items.size()); // references into it stay valid while it grows
        // Entering item i (after item i - 1 took `prev`); false when nothing was pushed.
        auto enter = [&](std::size_t i, int prev, std::size_t permanentSkips) {
            if (m_aborted)
                return false;
            if (++m_steps > 2'000'000 || m_solutions > 100'000) {
                m_aborted = true;
                return false;
            }
            if (i == m_items.size()) {
                recordSolution();
                return false;
            }
            if (i > 0 && m_items[i - 1].group != m_items[i].group)
                prev = -1; // a new group starts from the beginning
            stack.push_back({static_cast<std::size_t>(prev + 1), permanentSkips, kNone});
            return true;
        };
        enter(0, -1, 0);
        while (!stack.empty() && !m_aborted) {
            const std::size_t i = stack.size() - 1;
            Frame &f = stack.back();
            const Item &item = m_items[i];
            const bool last = item.group == m_lastGroup;
            if (f.placed != kNone) { // back from the items after this one
                m_used[f.placed] = false;
                f.placed = kNone;
                // Skipping an unused candidate in the last group leaves it unused for good.
                if (last && ++f.skips > m_slack) {
                    stack.pop_back();
                    continue;
                }
                ++f.next;
            }
            bool deeper = false;
            for (; f.next < m_cands.size(); ++f.next) {
                const std::size_t j = f.next;
                if (m_used[j])
                    continue;
                if (fits(item, m_cands[j])) {
                    m_used[j] = true;
                    m_current[i] = static_cast<int>(j);
                    f.placed = j;
                    if (enter(i + 1, static_cast<int>(j), f.skips)) {
                        deeper = true;
                        break;
                    }
                    m_used[j] = false;
                    f.placed = kNone;
                    if (m_aborted)
                        break;
                }
                if (last && ++f.skips > m_slack)
                    break;
            }
            if (!deeper)
                stack.pop_back();
        }
    }

    const std::vector<Item> &m_items;
    const std::vector<ModelParam> &m_cands;
    std::vector<bool> m_used;
    std::vector<int> m_current;
    std::vector<int> m_agreed; ///< -2: no solution yet, -1: solutions disagree
    int m_lastGroup = 0;
    std::size_t m_slack = 0;
    std::uint64_t m_steps = 0;
    std::uint64_t m_solutions = 0;
    bool m_aborted = false;
};

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

std::string_view trainingKindName(TrainingKind k) noexcept
{
    switch (k) {
    case TrainingKind::ModelStateDict: return "model";
    case TrainingKind::Optimizer: return "optimizer";
    case TrainingKind::Scheduler: return "scheduler";
    case TrainingKind::Scaler: return "scaler";
    case TrainingKind::Counter: return "counter";
    }
    return "counter";
}

std::string TrainingItem::path() const
{
    return joinKeys(keys);
}

bool isBufferName(std::string_view key)
{
    static const char *const kSuffixes[] = {"running_mean", "running_var", "num_batches_tracked",
                                            "running_avg", "running_std", "_float_tensor", "position_ids",
                                            "masked_bias", "inv_freq", "_packed_params._packed_params"};
    for (const char *s : kSuffixes)
        if (endsWith(key, s))
            return true;
    return false;
}

std::vector<TrainingItem> findTrainingState(const CheckpointData &data)
{
    std::vector<TrainingItem> out;
    std::vector<std::string> keys;
    std::unordered_set<const Value *> visited;
    walk(data.root, keys, out, visited, data);
    for (const auto &[prefix, value] : data.extraRoots) {
        keys = {prefix};
        walk(value, keys, out, visited, data);
    }
    return out;
}

OptimizerMapping mapOptimizer(const CheckpointData &data, const TrainingItem &optimizer,
                              const std::vector<TrainingItem> &items)
{
    OptimizerMapping result;
    result.optimizer = &optimizer;
    const Value *opt = optimizer.value;
    const Value *groups = opt->get("param_groups");

    // Ids: groups in order, each group's list in order, first occurrence wins.
    std::vector<std::pair<std::int64_t, int>> ids;
    std::map<std::int64_t, std::optional<std::string>> namesById;
    std::set<std::int64_t> seen;
    for (std::size_t g = 0; g < groups->items.size(); ++g) {
        const Value *group = groups->items[g];
        const Value *params = group->get("params");
        const Value *names = group->get("param_names");
        const bool useNames = names && (names->kind == ValueKind::List || names->kind == ValueKind::Tuple)
                              && names->items.size() == params->items.size();
        for (std::size_t i = 0; i < params->items.size(); ++i) {
            std::int64_t id = 0;
            if (!params->items[i]->toInt(id) || !seen.insert(id).second)
                continue;
            ids.emplace_back(id, static_cast<int>(g));
            if (useNames && names->items[i]->kind == ValueKind::Str)
                namesById[id] = names->items[i]->text;
        }
    }

    // The model: the state dict whose parameter count fits best; preferred names, then nearness.
    const TrainingItem *model = nullptr;
    auto score = [&](const TrainingItem &m) {
        const auto n = static_cast<std::int64_t>(ids.size());
        const auto p = static_cast<std::int64_t>(m.parameters);
        const std::int64_t fit = p >= n ? p - n : 1'000'000 + (n - p);
        static const std::set<std::string> preferred{"model_state_dict", "state_dict", "model", "net"};
        const int pref = !m.keys.empty() && preferred.count(m.keys.back()) ? 0 : 1;
        std::size_t common = 0;
        while (common < m.keys.size() && common < optimizer.keys.size() && m.keys[common] == optimizer.keys[common])
            ++common;
        return std::make_tuple(fit, pref, -static_cast<std::int64_t>(common));
    };
    for (const TrainingItem &m : items)
        if (m.kind == TrainingKind::ModelStateDict && (!model || score(m) < score(*model)))
            model = &m;
    result.model = model;

    std::vector<ModelParam> cands;
    std::map<std::string, int> modelKeys;
    if (model) {
        cands = modelParams(data, model->value);
        for (std::size_t i = 0; i < model->value->dictSize(); ++i)
            if (model->value->dictValue(i)->kind == ValueKind::Tensor)
                modelKeys.emplace(model->value->dictKey(i)->text, 0);
    }

    // Known shapes from the per-parameter state.
    std::vector<SubsequenceSearch::Item> searchItems;
    for (const auto &[id, g] : ids) {
        ParamMapping pm;
        pm.id = id;
        pm.group = g;
        pm.state = stateOf(opt, id);
        result.params.push_back(pm);
        SubsequenceSearch::Item item{g, std::nullopt, false};
        if (pm.state && pm.state->kind == ValueKind::Dict) {
            for (std::size_t i = 0; i < pm.state->dictSize(); ++i) {
                const format::TensorInfo *t = tensorOf(data, pm.state->dictValue(i));
                if (!t || t->shape.empty())
                    continue;
                if (item.shape && *item.shape != t->shape)
                    item.conflict = true;
                item.shape = t->shape;
            }
        }
        searchItems.push_back(std::move(item));
    }

    const bool allNamed = !ids.empty() && namesById.size() == ids.size();
    if (allNamed || !namesById.empty()) {
        for (ParamMapping &pm : result.params) {
            auto it = namesById.find(pm.id);
            if (it == namesById.end()) {
                pm.mapping = "ambiguous";
                continue;
            }
            pm.name = it->second;
            pm.mapping = "param_names";
            if (model && modelKeys.count(*pm.name))
                pm.tensorPath = model->path() + "/" + *pm.name;
        }
        return result;
    }
    if (!model) {
        for (ParamMapping &pm : result.params)
            pm.mapping = "no-model";
        return result;
    }
    SubsequenceSearch search(searchItems, cands);
    const bool found = search.run();
    for (std::size_t i = 0; i < result.params.size(); ++i) {
        ParamMapping &pm = result.params[i];
        const int c = found ? search.agreed(i) : -1;
        if (c < 0) {
            pm.mapping = "ambiguous";
            continue;
        }
        pm.name = cands[static_cast<std::size_t>(c)].key;
        pm.tensorPath = model->path() + "/" + *pm.name;
        pm.mapping = "order+shape";
    }
    return result;
}

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

namespace {

/// Identical views of one storage are one tensor (a tied weight saved from a state dict is two
/// tensor objects over the same storage); anything else is itself. canonical() gives the first
/// tensor index of each class (hashed: a 4.4 GB checkpoint has 100,000 tensors).
class DistinctViews
{
public:
    explicit DistinctViews(const CheckpointData &data) : m_data(data) { m_byHash.reserve(data.tensors.size()); }

    int canonical(int tensor)
    {
        const auto &t = m_data.tensors[static_cast<std::size_t>(tensor)];
        if (t.storage < 0 || t.layout != format::Layout::Strided)
            return tensor;
        std::size_t h = std::hash<std::int64_t>{}(t.storage) * 1000003u ^ std::hash<std::int64_t>{}(t.storageOffset);
        for (auto x : t.shape)
            h = h * 31 + std::hash<std::int64_t>{}(x);
        for (auto x : t.stride)
            h = h * 37 + std::hash<std::int64_t>{}(x);
        h = h * 41 + static_cast<std::size_t>(t.dtype);
        for (auto [it, end] = m_byHash.equal_range(h); it != end; ++it) {
            const auto &o = m_data.tensors[static_cast<std::size_t>(it->second)];
            if (o.storage == t.storage && o.storageOffset == t.storageOffset && o.dtype == t.dtype && o.shape == t.shape
                && o.stride == t.stride)
                return it->second;
        }
        m_byHash.emplace(h, tensor);
        return tensor;
    }

private:
    const CheckpointData &m_data;
    std::unordered_multimap<std::size_t, int> m_byHash;
};

bool isTensorIndex(const CheckpointData &data, const Value *v)
{
    return v && v->kind == ValueKind::Tensor && v->integer >= 0
           && static_cast<std::size_t>(v->integer) < data.tensors.size();
}

bool isModuleObject(const Value *v)
{
    return v && v->kind == ValueKind::Object && v->state && v->state->kind == ValueKind::Dict
           && v->state->get("_parameters") && v->state->get("_modules");
}

bool isContainer(const Value *v)
{
    return v && (v->kind == ValueKind::Dict || v->kind == ValueKind::List || v->kind == ValueKind::Tuple
                 || (v->kind == ValueKind::Object && v->state && v->state->kind == ValueKind::Dict));
}

/// The first module pickled whole, depth first from the roots (each container once; only
/// containers are stacked and the path text is made for the module found alone).
const Value *findWholeModule(const CheckpointData &data, std::string &path)
{
    struct Node
    {
        const Value *v;
        int parent;         ///< index into nodes, -1 for a root
        const Value *key;   ///< dict key or attribute name, or nullptr
        std::size_t index;  ///< list/tuple index, or the root's extraRoots index + 1
        int depth;
    };
    std::vector<Node> nodes;
    std::vector<int> stack;
    std::unordered_set<const Value *> visited;
    for (std::size_t r = data.extraRoots.size(); r-- > 0;) {
        nodes.push_back({data.extraRoots[r].second, -1, nullptr, r + 1, 1});
        stack.push_back(static_cast<int>(nodes.size() - 1));
    }
    nodes.push_back({data.root, -1, nullptr, 0, 0});
    stack.push_back(static_cast<int>(nodes.size() - 1));
    while (!stack.empty()) {
        const int at = stack.back();
        stack.pop_back();
        const Node n = nodes[static_cast<std::size_t>(at)];
        if (!isContainer(n.v) || n.depth > 200 || !visited.insert(n.v).second)
            continue;
        if (isModuleObject(n.v)) {
            std::vector<std::string> keys;
            for (int i = at; i >= 0; i = nodes[static_cast<std::size_t>(i)].parent) {
                const Node &k = nodes[static_cast<std::size_t>(i)];
                if (k.key)
                    keys.push_back(format::pathKey(k.key));
                else if (k.parent >= 0)
                    keys.push_back(std::to_string(k.index));
                else if (k.index > 0)
                    keys.push_back(data.extraRoots[k.index - 1].first);
            }
            std::reverse(keys.begin(), keys.end());
            path = joinKeys(keys);
            return n.v;
        }
        const std::size_t first = stack.size();
        const Value *dict = n.v->kind == ValueKind::Object ? n.v->state : n.v;
        if (dict->kind == ValueKind::Dict) {
            for (std::size_t i = 0; i < dict->dictSize(); ++i)
                if (isContainer(dict->dictValue(i))) {
                    nodes.push_back({dict->dictValue(i), at, dict->dictKey(i), 0, n.depth + 1});
                    stack.push_back(static_cast<int>(nodes.size() - 1));
                }
        } else {
            for (std::size_t i = 0; i < dict->items.size(); ++i)
                if (isContainer(dict->items[i])) {
                    nodes.push_back({dict->items[i], at, nullptr, i, n.depth + 1});
                    stack.push_back(static_cast<int>(nodes.size() - 1));
                }
        }
        std::reverse(stack.begin() + static_cast<std::ptrdiff_t>(first), stack.end()); // first child on top
    }
    return nullptr;
}

void collectModule(const CheckpointData &data, const Value *module, std::unordered_set<int> &params,
                   std::unordered_set<int> &buffers, std::unordered_set<const Value *> &visited,
                   DistinctViews &views)
{
    if (!isModuleObject(module) || !visited.insert(module).second)
        return;
    auto take = [&](const Value *dict, std::unordered_set<int> &into) {
        for (std::size_t i = 0; dict && dict->kind == ValueKind::Dict && i < dict->dictSize(); ++i)
            if (const Value *t = dict->dictValue(i); isTensorIndex(data, t))
                into.insert(views.canonical(static_cast<int>(t->integer)));
    };
    take(module->state->get("_parameters"), params);
    take(module->state->get("_buffers"), buffers);
    const Value *modules = module->state->get("_modules");
    for (std::size_t i = 0; modules && modules->kind == ValueKind::Dict && i < modules->dictSize(); ++i)
        collectModule(data, modules->dictValue(i), params, buffers, visited, views);
}

} // namespace

CheckpointTotals checkpointTotals(const CheckpointData &data)
{
    return checkpointTotals(data, findTrainingState(data));
}

CheckpointTotals checkpointTotals(const CheckpointData &data, const std::vector<TrainingItem> &items)
{
    CheckpointTotals out;
    out.paths = data.paths.size();
    DistinctViews views(data);
    std::vector<int> distinct; // the distinct tensors at paths, in walk order
    {
        std::vector<bool> seen(data.tensors.size(), false);
        for (const auto &p : data.paths) {
            if (p.tensor < 0 || static_cast<std::size_t>(p.tensor) >= data.tensors.size())
                continue;
            const int c = views.canonical(p.tensor);
            if (!seen[static_cast<std::size_t>(c)]) {
                seen[static_cast<std::size_t>(c)] = true;
                distinct.push_back(c);
            }
        }
    }
    std::set<int> storages;
    std::function<void(int, int)> addStorages = [&](int tensor, int depth) {
        const auto &t = data.tensors[static_cast<std::size_t>(tensor)];
        if (t.storage >= 0 && static_cast<std::size_t>(t.storage) < data.storages.size())
            storages.insert(t.storage);
        if (depth < 4)
            for (int c : t.components)
                if (c >= 0 && static_cast<std::size_t>(c) < data.tensors.size())
                    addStorages(c, depth + 1);
    };

    // The model's parameters and buffers.
    std::unordered_set<int> params, buffers;
    std::string wholePath;
    if (const Value *module = findWholeModule(data, wholePath)) {
        std::unordered_set<const Value *> visited;
        collectModule(data, module, params, buffers, visited, views);
        out.hasModel = true;
        out.modelPath = wholePath;
    } else {
        // The main state dict: the root or one under a model's usual name (the one with the most
        // parameters), else the only state dict of the file. Several state dicts under other
        // names (an encoder's and a decoder's) do not say which is the model: none is.
        static const std::set<std::string> preferred{"model_state_dict", "state_dict", "model", "net", "module"};
        const TrainingItem *model = nullptr;
        const TrainingItem *only = nullptr;
        std::size_t stateDicts = 0;
        for (const TrainingItem &m : items) {
            if (m.kind != TrainingKind::ModelStateDict)
                continue;
            ++stateDicts;
            only = &m;
            const bool pref = m.keys.empty() || preferred.count(m.keys.back());
            if (pref && (!model || m.parameters > model->parameters))
                model = &m;
        }
        if (!model && stateDicts == 1)
            model = only;
        if (model) {
            out.hasModel = true;
            out.modelPath = model->path();
            for (const ModelParam &p : modelParams(data, model->value)) {
                const auto &info = data.tensors[static_cast<std::size_t>(p.tensor)];
                const auto &d = format::dtypeInfo(info.dtype);
                if (d.isFloat || d.isComplex || d.isQuantized)
                    params.insert(views.canonical(p.tensor));
            }
            for (std::size_t i = 0; i < model->value->dictSize(); ++i)
                if (const Value *t = model->value->dictValue(i); isTensorIndex(data, t)) {
                    const int c = views.canonical(static_cast<int>(t->integer));
                    if (!params.count(c))
                        buffers.insert(c);
                }
        }
    }

    for (const int tensor : distinct) {
        const auto &t = data.tensors[static_cast<std::size_t>(tensor)];
        const std::uint64_t numel = t.numel();
        ++out.tensors;
        out.elements += numel;
        addStorages(tensor, 0);
        TensorCount &kind = params.count(tensor) ? out.parameters : buffers.count(tensor) ? out.buffers : out.other;
        ++kind.tensors;
        kind.elements += numel;
    }
    out.storages = storages.size();
    for (int s : storages)
        out.bytes += data.storages[static_cast<std::size_t>(s)].nbytes();
    return out;
}

OptimizerStateNames optimizerStateNames(const CheckpointData &data, const std::vector<TrainingItem> &items)
{
    OptimizerStateNames out;
    for (const TrainingItem &item : items) {
        if (item.kind != TrainingKind::Optimizer)
            continue;
        OptimizerStateNames::Optimizer o;
        o.keys = item.keys;
        for (const ParamMapping &p : mapOptimizer(data, item, items).params)
            if (p.name)
                o.names.emplace_back(std::to_string(p.id), *p.name);
        std::sort(o.names.begin(), o.names.end());
        out.optimizers.push_back(std::move(o));
    }
    return out;
}

namespace {

template <typename Key>
bool hasPrefix(const std::vector<Key> &keys, const std::vector<std::string> &prefix)
{
    return keys.size() > prefix.size() && std::equal(prefix.begin(), prefix.end(), keys.begin());
}

template <typename Key>
const std::string *nameOfState(const std::vector<OptimizerStateNames::Optimizer> &optimizers,
                               const std::vector<Key> &keys, std::size_t *idKey)
{
    for (const auto &o : optimizers) {
        const std::size_t n = o.keys.size();
        if (!hasPrefix(keys, o.keys) || keys.size() < n + 2 || keys[n] != "state")
            continue;
        const std::string id(keys[n + 1]);
        const auto it = std::lower_bound(o.names.begin(), o.names.end(), std::make_pair(id, std::string()));
        if (it == o.names.end() || it->first != id)
            return nullptr;
        if (idKey)
            *idKey = n + 1;
        return &it->second;
    }
    return nullptr;
}

} // namespace

bool OptimizerStateNames::inOptimizer(const std::vector<std::string> &keys) const
{
    return std::any_of(optimizers.begin(), optimizers.end(), [&](const Optimizer &o) { return hasPrefix(keys, o.keys); });
}

const std::string *OptimizerStateNames::nameOf(const std::vector<std::string> &keys, std::size_t *idKey) const
{
    return nameOfState(optimizers, keys, idKey);
}

const std::string *OptimizerStateNames::nameOf(const std::vector<std::string_view> &keys, std::size_t *idKey) const
{
    return nameOfState(optimizers, keys, idKey);
}

} // namespace ckpt
