// SPDX-License-Identifier: MIT
// Totals as torch counts them (checkpointtotals.h).
#include "checkpointtotals.h"
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
                // A PT2 archive says which weights are parameters (is_param); the rest are buffers.
                const bool exportBuffer = info.builder == "torch.export" && !info.isParameter;
                if ((d.isFloat || d.isComplex || d.isQuantized) && !exportBuffer)
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
        // A DCP tensor split into chunks has no storage of its own: its chunks hold its bytes.
        if (t.storage < 0 && static_cast<std::size_t>(tensor) < data.chunksOfTensor.size()
            && !data.chunksOfTensor[static_cast<std::size_t>(tensor)].empty())
            out.bytes += t.nbytes();
        TensorCount &kind = params.count(tensor) ? out.parameters : buffers.count(tensor) ? out.buffers : out.other;
        ++kind.tensors;
        kind.elements += numel;
    }
    out.storages = storages.size();
    for (int s : storages)
        out.bytes += data.storages[static_cast<std::size_t>(s)].nbytes();
    return out;
}

} // namespace ckpt
