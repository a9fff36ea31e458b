// SPDX-License-Identifier: MIT
#include "trainingstate.h"
#include "trainingstatedetail.h"

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
using detail::ModelParam;
using detail::joinKeys;
using detail::modelParams;
using detail::tensorOf;

namespace {

bool endsWith(std::string_view s, std::string_view suffix)
{
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool isStrKey(const Value *k)
{
    return k && k->kind == ValueKind::Str;
}

// torch's optimizer state dict: `state` keyed by int ids that `param_groups[*].params` list; or,
// as torch.distributed.checkpoint.state_dict.get_state_dict gives it, keyed by parameter name
// (params then list the names).
bool isOptimizerDict(const Value *v)
{
    if (!v || v->kind != ValueKind::Dict)
        return false;
    const Value *state = v->get("state");
    const Value *groups = v->get("param_groups");
    if (!state || state->kind != ValueKind::Dict || !groups || groups->kind != ValueKind::List)
        return false;
    bool named = false;
    for (std::size_t i = 0; i < state->dictSize(); ++i) {
        const ValueKind k = state->dictKey(i)->kind;
        if (k != ValueKind::Int && k != ValueKind::Str)
            return false;
        if (k == ValueKind::Str)
            named = true;
        else if (named)
            return false; // mixed keys
    }
    for (const Value *g : groups->items) {
        if (!g || g->kind != ValueKind::Dict)
            return false;
        const Value *params = g->get("params");
        if (!params || params->kind != ValueKind::List)
            return false;
        if (named) // then every params entry is a name
            for (const Value *p : params->items)
                if (!p || p->kind != ValueKind::Str)
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

} // namespace

std::vector<detail::ModelParam> detail::modelParams(const CheckpointData &data, const Value *dict)
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

namespace {

// `visited` holds every container walked so far, never erased: a value shared by many paths is
// classified once, at its first path (a memo bomb of 2^64 paths costs 64 steps, issue 16).
// `inList`: below a list or tuple, where counters are not looked for (a Trainer's log_history
// repeats `epoch`, `step` and `loss` for every logged step; the run's own are elsewhere).
void walk(const Value *v, std::vector<std::string> &keys, std::vector<TrainingItem> &out,
          std::unordered_set<const Value *> &visited, const CheckpointData &data, bool inList = false)
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
            if (plain && !inList && isStrKey(v->dictKey(i)) && isCounterKey(v->dictKey(i)->text)) {
                TrainingItem item;
                item.kind = TrainingKind::Counter;
                item.keys = keys;
                item.value = child;
                out.push_back(std::move(item));
            } else {
                walk(child, keys, out, visited, data, inList);
            }
            keys.pop_back();
        }
    } else if (v->kind == ValueKind::List || v->kind == ValueKind::Tuple) {
        for (std::size_t i = 0; i < v->items.size(); ++i) {
            keys.push_back(std::to_string(i));
            walk(v->items[i], keys, out, visited, data, true);
            keys.pop_back();
        }
    } else if (v->kind == ValueKind::Object && v->state && v->state->kind == ValueKind::Dict) {
        // Attributes by name (no extra level for the state dict itself).
        for (std::size_t i = 0; i < v->state->dictSize(); ++i) {
            keys.push_back(format::pathKey(v->state->dictKey(i)));
            walk(v->state->dictValue(i), keys, out, visited, data, inList);
            keys.pop_back();
        }
    }
}

} // namespace

std::string detail::joinKeys(const std::vector<std::string> &keys)
{
    std::string s;
    for (std::size_t i = 0; i < keys.size(); ++i) {
        if (i)
            s += '/';
        s += keys[i];
    }
    return s;
}

namespace {

/// The per-parameter state under `key` (an id as text, or a parameter name).
const Value *stateOf(const Value *optimizer, const std::string &key)
{
    const Value *state = optimizer->get("state");
    for (std::size_t i = 0; state && i < state->dictSize(); ++i)
        if (format::pathKey(state->dictKey(i)) == key)
            return state->dictValue(i);
    return nullptr;
}

} // namespace

const format::TensorInfo *detail::tensorOf(const CheckpointData &data, const Value *v)
{
    if (!v || v->kind != ValueKind::Tensor || v->integer < 0 || static_cast<std::size_t>(v->integer) >= data.tensors.size())
        return nullptr;
    return &data.tensors[static_cast<std::size_t>(v->integer)];
}

namespace {

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
    std::map<std::int64_t, std::string> keyById;
    std::set<std::int64_t> seen;
    std::set<std::string_view> seenNames;
    for (std::size_t g = 0; g < groups->items.size(); ++g) {
        const Value *group = groups->items[g];
        const Value *params = group->get("params");
        const Value *names = group->get("param_names");
        const bool useNames = names && (names->kind == ValueKind::List || names->kind == ValueKind::Tuple)
                              && names->items.size() == params->items.size();
        for (std::size_t i = 0; i < params->items.size(); ++i) {
            const Value *p = params->items[i];
            if (p->kind == ValueKind::Str) {
                // State keyed by name (get_state_dict): the name is the key; ids are positions.
                if (!seenNames.insert(p->text).second)
                    continue;
                const auto id = static_cast<std::int64_t>(ids.size());
                ids.emplace_back(id, static_cast<int>(g));
                namesById[id] = std::string(p->text);
                keyById[id] = std::string(p->text);
                continue;
            }
            std::int64_t id = 0;
            if (!p->toInt(id) || !seen.insert(id).second)
                continue;
            ids.emplace_back(id, static_cast<int>(g));
            keyById[id] = std::to_string(id);
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
        pm.key = keyById[id];
        pm.group = g;
        pm.state = stateOf(opt, pm.key);
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
    // A safetensors file (and a shard index) lists its tensors sorted by name, not in the
    // model's order, so the order convention cannot name anything (a Trainer folder's
    // model.safetensors beside its optimizer.pt).
    const format::ContainerFormat source = data.formatAt(model->keys);
    if (source == format::ContainerFormat::Safetensors || source == format::ContainerFormat::Index) {
        for (ParamMapping &pm : result.params)
            pm.mapping = "ambiguous";
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
                o.names.emplace_back(p.key, *p.name);
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
