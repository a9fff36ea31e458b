// SPDX-License-Identifier: MIT
// The diff engine, part 1 of 3: alignment (diffengine.h). Walks both value graphs, names
// optimizer state and groups entries, matches paths in three rounds; reads no tensor bytes.
#include "diffengine.h"

#include "inspectreport.h"
#include "trainingstate.h"

#include "format/torchlayout.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <unordered_map>
#include <unordered_set>

namespace ckpt {

using namespace ckpt::format;

namespace {

constexpr std::uint32_t kMaxDepth = 2000;         // as ReadLimits::maxDepth
constexpr std::uint64_t kMaxVisits = 20'000'000;  // as collectTensorPaths
constexpr std::size_t kShownItems = 64;           // items of a plain sequence shown in `value`
const char *const kWrapperPrefixes[] = {"module.", "_orig_mod."};

// ---- alignment ------------------------------------------------------------------------------

bool isScalar(const Value *v) noexcept
{
    switch (v->kind) {
    case ValueKind::None:
    case ValueKind::Bool:
    case ValueKind::Int:
    case ValueKind::BigInt:
    case ValueKind::Float:
    case ValueKind::Complex:
    case ValueKind::Str:
    case ValueKind::Bytes:
    case ValueKind::ByteArray:
    case ValueKind::Global:
        return true;
    default:
        return false;
    }
}

enum class LeafKind : std::uint8_t { Tensor, Plain, Walk, Skip };

// Plain values are scalars, sequences of scalars (compared as one value: `betas`, `params`),
// and empty containers; tensors are leaves; other containers and objects with attributes are
// walked; opaque objects, storages and persistent ids are left out (their repr would name
// table indices that differ between files).
LeafKind classify(const Value *v) noexcept
{
    if (v->kind == ValueKind::Tensor)
        return LeafKind::Tensor;
    if (isScalar(v))
        return LeafKind::Plain;
    switch (v->kind) {
    case ValueKind::List:
    case ValueKind::Tuple:
    case ValueKind::Set:
    case ValueKind::FrozenSet:
        if (std::all_of(v->items.begin(), v->items.end(), [](const Value *i) { return i && isScalar(i); }))
            return LeafKind::Plain;
        return v->kind == ValueKind::List || v->kind == ValueKind::Tuple ? LeafKind::Walk : LeafKind::Skip;
    case ValueKind::Dict:
        return v->items.empty() ? LeafKind::Plain : LeafKind::Walk;
    case ValueKind::Object:
        return LeafKind::Walk;
    default:
        return LeafKind::Skip;
    }
}

struct Leaf
{
    std::vector<std::string> keys;    // as stored
    std::vector<std::string> matchKeys; // after stripping
    const Value *value = nullptr;     // plain value
    int tensor = -1;
    DiffGroup group = DiffGroup::Other;
    std::string paramName;            // optimizer state: the parameter's name, when known
    int paramKey = -1;                // the index of its id in keys
    bool moduleAttribute = false;     // a plain attribute of a module pickled whole (training, hooks)
};

// An nn.Module pickled whole: an object whose state has `_parameters` and `_modules` dicts.
bool isTorchModule(const Value *v) noexcept
{
    if (!v || v->kind != ValueKind::Object || !v->state || v->state->kind != ValueKind::Dict)
        return false;
    const Value *params = v->state->get("_parameters");
    const Value *modules = v->state->get("_modules");
    return params && params->kind == ValueKind::Dict && modules && modules->kind == ValueKind::Dict;
}

Leaf makeLeaf(const std::vector<std::string> &keys, const Value *value, int tensor)
{
    Leaf l;
    l.keys = keys;
    l.value = value;
    l.tensor = tensor;
    return l;
}

// Every tensor and plain value at every path, in walk order: the path rule of
// collectTensorPaths() (format::pathChildren), so tensors come at the paths of
// CheckpointData::paths, with the plain values in between.
void collectLeaves(const Value *root, const std::vector<std::string> &prefix, std::vector<Leaf> &out,
                   bool &sharedCut)
{
    if (!root)
        return;
    const LeafKind rootKind = classify(root);
    if (rootKind == LeafKind::Tensor || rootKind == LeafKind::Plain) {
        out.push_back(makeLeaf(prefix, rootKind == LeafKind::Plain ? root : nullptr,
                               rootKind == LeafKind::Tensor ? static_cast<int>(root->integer) : -1));
        return;
    }
    if (rootKind == LeafKind::Skip)
        return;
    struct Frame
    {
        const Value *node;
        std::vector<std::pair<std::string, Value *>> children;
        std::size_t next = 0;
        bool repeat = false;
    };
    std::vector<Frame> stack;
    std::unordered_set<const Value *> onPath;
    // Shared containers are compared at their every path within a budget, as they are listed
    // (collectTensorPaths), with a smaller budget: each leaf holds two copies of its keys, and
    // both files are walked.
    format::SharedWalkGuard guard(250'000);
    guard.enter(root);
    std::vector<std::string> keys = prefix;
    stack.push_back({root, pathChildren(root)});
    onPath.insert(root);
    std::uint64_t visits = 0;
    while (!stack.empty()) {
        Frame &top = stack.back();
        if (top.next >= top.children.size() || guard.abandonRepeat()) {
            onPath.erase(top.node);
            if (top.repeat)
                guard.leaveRepeat();
            stack.pop_back();
            if (keys.size() > prefix.size())
                keys.pop_back();
            continue;
        }
        auto &[key, child] = top.children[top.next++];
        if (!child)
            continue;
        if (++visits > kMaxVisits)
            return;
        guard.charge(1);
        switch (classify(child)) {
        case LeafKind::Tensor:
        case LeafKind::Plain: {
            const bool tensor = child->kind == ValueKind::Tensor;
            guard.charge(keys.size() + 1);
            keys.push_back(key);
            out.push_back(makeLeaf(keys, tensor ? nullptr : child, tensor ? static_cast<int>(child->integer) : -1));
            out.back().moduleAttribute = !tensor && isTorchModule(top.node);
            keys.pop_back();
            break;
        }
        case LeafKind::Skip:
            break;
        case LeafKind::Walk: {
            if (onPath.count(child) || stack.size() >= kMaxDepth)
                break;
            auto children = pathChildren(child);
            if (children.empty())
                break;
            const auto entered = guard.enter(child);
            if (entered == format::SharedWalkGuard::Enter::Skip)
                break;
            keys.push_back(key);
            onPath.insert(child);
            stack.push_back({child, std::move(children), 0, entered == format::SharedWalkGuard::Enter::Repeat});
            break;
        }
        }
    }
    sharedCut = sharedCut || guard.spent();
}

bool startsWith(const std::vector<std::string> &keys, const std::vector<std::string> &prefix)
{
    return keys.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), keys.begin());
}

bool isModuleLevel(const std::string &key)
{
    return key == "_modules" || key == "_parameters" || key == "_buffers";
}

// Sets each leaf's group and, for optimizer state, its parameter's name: the training state
// the `optim` command finds (trainingstate.h), with its id-to-name mapping.
void assignGroups(const CheckpointData &data, std::vector<Leaf> &leaves)
{
    const std::vector<TrainingItem> items = findTrainingState(data);
    const OptimizerStateNames names = optimizerStateNames(data, items);
    std::vector<const std::vector<std::string> *> models;
    for (const TrainingItem &item : items)
        if (item.kind == TrainingKind::ModelStateDict)
            models.push_back(&item.keys);
    for (Leaf &l : leaves) {
        if (names.inOptimizer(l.keys)) {
            l.group = DiffGroup::Optimizer;
            std::size_t idKey = 0;
            if (const std::string *name = names.nameOf(l.keys, &idKey); name && l.keys.size() > idKey + 1) {
                l.paramName = *name;
                l.paramKey = static_cast<int>(idKey);
            }
            continue;
        }
        if (std::any_of(models.begin(), models.end(), [&](const auto *m) { return startsWith(l.keys, *m); })) {
            l.group = DiffGroup::Model;
        } else if (l.tensor >= 0 && l.keys.size() >= 2) {
            // A module pickled whole: its parameters and buffers.
            const std::string &level = l.keys[l.keys.size() - 2];
            if (level == "_parameters" || level == "_buffers")
                l.group = DiffGroup::Model;
        }
    }
}

std::vector<Leaf> collectLeaves(const CheckpointData &data, bool &sharedCut)
{
    std::vector<Leaf> out;
    collectLeaves(data.root, {}, out, sharedCut);
    for (const auto &[name, value] : data.extraRoots)
        collectLeaves(value, {name}, out, sharedCut);
    for (Leaf &l : out)
        l.matchKeys = l.keys;
    assignGroups(data, out);
    return out;
}

// Removes `prefix` from the start of every key component that is longer than it; true when
// anything was removed.
bool stripKeys(std::vector<std::string> &keys, const std::string &prefix)
{
    bool any = false;
    if (prefix.empty())
        return false;
    for (std::string &k : keys)
        if (k.size() > prefix.size() && k.compare(0, prefix.size(), prefix) == 0) {
            k.erase(0, prefix.size());
            any = true;
        }
    return any;
}

// True when some dict of tensors (the tensors sharing a parent path) has every key starting
// with `prefix`: a DataParallel / torch.compile state dict.
bool carriesPrefix(const std::vector<Leaf> &leaves, const std::string &prefix)
{
    std::map<std::vector<std::string>, bool> allCarry;
    for (const Leaf &l : leaves) {
        if (l.tensor < 0 || l.matchKeys.empty())
            continue;
        const std::string &last = l.matchKeys.back();
        const bool carries = last.size() > prefix.size() && last.compare(0, prefix.size(), prefix) == 0;
        const std::vector<std::string> parent(l.matchKeys.begin(), l.matchKeys.end() - 1);
        auto [it, inserted] = allCarry.emplace(parent, carries);
        if (!inserted)
            it->second = it->second && carries;
    }
    return std::any_of(allCarry.begin(), allCarry.end(), [](const auto &e) { return e.second; });
}

std::string joinKeys(const std::vector<std::string> &keys, char sep)
{
    std::string s;
    for (std::size_t i = 0; i < keys.size(); ++i) {
        if (i)
            s += sep;
        s += keys[i];
    }
    return s;
}

// A state-dict key that names a module path (`layer1.0.conv1.weight`), split as the tree does.
bool dottedKey(const std::string &key)
{
    return !key.empty() && key.front() != '.' && key.back() != '.' && key.find("..") == std::string::npos
        && key.find('.') != std::string::npos;
}

DiffSide makeSide(const CheckpointData &data, const Leaf &leaf)
{
    DiffSide side;
    side.keys = leaf.keys;
    side.tensor = leaf.tensor;
    side.paramName = leaf.paramName;
    side.paramKey = leaf.paramKey;
    side.group = leaf.group;
    if (leaf.tensor >= 0 && static_cast<std::size_t>(leaf.tensor) < data.tensors.size()) {
        const TensorInfo &t = data.tensors[static_cast<std::size_t>(leaf.tensor)];
        side.dtype = std::string(dtypeName(t.dtype));
        side.shape = t.shape;
    } else if (leaf.value) {
        side.value = pyRepr(leaf.value, 8, kShownItems);
    }
    return side;
}

// The text plain values are compared by: the full repr (the shown one elides long sequences).
std::string compareText(const Leaf &leaf)
{
    return pyRepr(leaf.value, 8, std::numeric_limits<std::size_t>::max());
}

} // namespace

// ---- public API -------------------------------------------------------------------------------

std::string_view diffStatusName(DiffStatus s) noexcept
{
    switch (s) {
    case DiffStatus::Same: return "same";
    case DiffStatus::Changed: return "changed";
    case DiffStatus::Added: return "added";
    case DiffStatus::Removed: return "removed";
    case DiffStatus::Shape: return "shape";
    case DiffStatus::DType: return "dtype";
    case DiffStatus::Pending: return "pending";
    }
    return "pending";
}

std::string_view diffGroupName(DiffGroup g) noexcept
{
    switch (g) {
    case DiffGroup::Other: return "other";
    case DiffGroup::Optimizer: return "optimizer";
    case DiffGroup::Model: return "model";
    }
    return "other";
}

std::string DiffSide::path() const
{
    return joinKeys(keys, '/');
}

std::string DiffEntry::path() const
{
    return joinKeys(keys, '/');
}

DiffSummary DiffResult::summary() const
{
    DiffSummary s;
    for (const DiffEntry &e : entries) {
        switch (e.status) {
        case DiffStatus::Same: ++s.same; break;
        case DiffStatus::Changed: ++s.changed; break;
        case DiffStatus::Added: ++s.added; break;
        case DiffStatus::Removed: ++s.removed; break;
        case DiffStatus::Shape: ++s.shape; break;
        case DiffStatus::DType: ++s.dtype; break;
        case DiffStatus::Pending: ++s.pending; break;
        }
    }
    return s;
}

bool needsMetrics(const DiffEntry &e) noexcept
{
    return e.isTensor && e.a && e.b && e.a->shape == e.b->shape
           && (e.status == DiffStatus::Pending || e.status == DiffStatus::DType);
}

DiffResult alignCheckpoints(const CheckpointData &a, const CheckpointData &b, const DiffOptions &options)
{
    DiffResult result;
    std::vector<Leaf> la = collectLeaves(a, result.sharedCutA);
    std::vector<Leaf> lb = collectLeaves(b, result.sharedCutB);

    if (!options.stripPrefix.empty()) {
        bool anyA = false, anyB = false;
        for (Leaf &l : la)
            anyA = stripKeys(l.matchKeys, options.stripPrefix) || anyA;
        for (Leaf &l : lb)
            anyB = stripKeys(l.matchKeys, options.stripPrefix) || anyB;
        result.strippedA = anyA ? options.stripPrefix : std::string();
        result.strippedB = anyB ? options.stripPrefix : std::string();
    }
    // Wrapper prefixes one side has and the other has not; repeated for nested wrappers
    // (`_orig_mod.module.`: torch.compile of a DataParallel model).
    std::vector<Leaf> da = la, db = lb;
    for (int round = 0; round < 4; ++round) {
        bool progress = false;
        for (const char *prefix : kWrapperPrefixes) {
            const bool ca = carriesPrefix(da, prefix), cb = carriesPrefix(db, prefix);
            if (ca == cb)
                continue;
            for (Leaf &l : ca ? da : db)
                stripKeys(l.matchKeys, prefix);
            (ca ? result.detectedA : result.detectedB) += prefix;
            progress = true;
        }
        if (!progress)
            break;
    }
    if (options.detectPrefix) {
        la = std::move(da);
        lb = std::move(db);
        result.strippedA += result.detectedA;
        result.strippedB += result.detectedB;
    }

    // Three rounds over what is still unmatched (see the header); a key may occur several times
    // (a sequence with repeated paths is not possible, but stripping can make two keys equal):
    // the n-th A leaf of a key takes the n-th B leaf.
    std::vector<std::ptrdiff_t> matchOfA(la.size(), -1);
    std::vector<bool> usedB(lb.size(), false);
    const auto matchRound = [&](const std::function<std::optional<std::string>(const Leaf &, bool isA)> &keyOf) {
        std::unordered_map<std::string, std::vector<std::size_t>> indexB;
        for (std::size_t i = 0; i < lb.size(); ++i)
            if (!usedB[i])
                if (auto k = keyOf(lb[i], false))
                    indexB[*k].push_back(i);
        if (indexB.empty())
            return;
        std::unordered_map<std::string, std::size_t> usedOfKey;
        for (std::size_t i = 0; i < la.size(); ++i) {
            if (matchOfA[i] >= 0)
                continue;
            const auto k = keyOf(la[i], true);
            if (!k)
                continue;
            auto it = indexB.find(*k);
            if (it == indexB.end())
                continue;
            std::size_t &used = usedOfKey[*k];
            if (used < it->second.size()) {
                const std::size_t j = it->second[used++];
                usedB[j] = true;
                matchOfA[i] = static_cast<std::ptrdiff_t>(j);
            }
        }
    };
    const bool namedA = std::any_of(la.begin(), la.end(), [](const Leaf &l) { return l.paramKey >= 0; });
    const bool namedB = std::any_of(lb.begin(), lb.end(), [](const Leaf &l) { return l.paramKey >= 0; });
    if (namedA && namedB)
        matchRound([](const Leaf &l, bool) -> std::optional<std::string> {
            if (l.paramKey < 0)
                return std::nullopt;
            std::vector<std::string> keys = l.matchKeys;
            keys[static_cast<std::size_t>(l.paramKey)] = "\x01" + l.paramName;
            return joinKeys(keys, '\0');
        });
    matchRound([](const Leaf &l, bool) -> std::optional<std::string> { return joinKeys(l.matchKeys, '\0'); });
    // The module tree's names; a wrapper level only one side's leftovers all have is dropped.
    const auto moduleKeys = [](const Leaf &l) {
        std::vector<std::string> out;
        for (std::size_t k = 0; k < l.matchKeys.size(); ++k) {
            const std::string &key = l.matchKeys[k];
            if (isModuleLevel(key) && k + 1 < l.matchKeys.size())
                continue;
            if (l.tensor >= 0 && dottedKey(key)) {
                std::size_t from = 0;
                for (std::size_t dot; (dot = key.find('.', from)) != std::string::npos; from = dot + 1)
                    out.push_back(key.substr(from, dot - from));
                out.push_back(key.substr(from));
            } else {
                out.push_back(key);
            }
        }
        return out;
    };
    const auto wrapperOfLeftovers = [&](const std::vector<Leaf> &leaves, const auto &unmatched) -> std::string {
        std::string wrapper;
        bool any = false;
        for (std::size_t i = 0; i < leaves.size(); ++i) {
            if (!unmatched(i) || leaves[i].tensor < 0)
                continue;
            const std::vector<std::string> keys = moduleKeys(leaves[i]);
            const std::string first = keys.size() > 1 ? keys.front() : std::string();
            if (first != "module" && first != "_orig_mod")
                return {};
            if (any && first != wrapper)
                return {};
            wrapper = first;
            any = true;
        }
        return wrapper;
    };
    const std::string wrapA = wrapperOfLeftovers(la, [&](std::size_t i) { return matchOfA[i] < 0; });
    const std::string wrapB = wrapperOfLeftovers(lb, [&](std::size_t i) { return !usedB[i]; });
    matchRound([&](const Leaf &l, bool isA) -> std::optional<std::string> {
        std::vector<std::string> keys = moduleKeys(l);
        const std::string &wrap = isA ? wrapA : wrapB;
        // As prefixes of keys: dropped when the GUI detects wrappers or the user strips it.
        const bool drop = options.detectPrefix || options.stripPrefix == wrap + ".";
        if (drop && wrapA != wrapB && !wrap.empty() && !keys.empty() && keys.front() == wrap)
            keys.erase(keys.begin());
        return joinKeys(keys, '\0');
    });

    // A module pickled whole against a file without one (a state dict): its attributes
    // (training, hooks, in_channels) have no counterpart by nature and are left out, counted.
    const auto hasAttributes = [](const std::vector<Leaf> &leaves) {
        return std::any_of(leaves.begin(), leaves.end(), [](const Leaf &l) { return l.moduleAttribute; });
    };
    const bool dropA = hasAttributes(la) && !hasAttributes(lb);
    const bool dropB = hasAttributes(lb) && !hasAttributes(la);

    result.entries.reserve(la.size() + lb.size());
    const auto setNames = [](DiffEntry &e, const Leaf &l) {
        e.paramName = l.paramName;
        e.paramKey = l.paramKey;
    };
    for (std::size_t i = 0; i < la.size(); ++i) {
        const Leaf &l = la[i];
        DiffEntry e;
        e.keys = l.matchKeys;
        e.a = makeSide(a, l);
        setNames(e, l);
        e.group = l.group;
        const Leaf *m = matchOfA[i] >= 0 ? &lb[static_cast<std::size_t>(matchOfA[i])] : nullptr;
        if (!m && dropA && l.moduleAttribute) {
            ++result.attributesLeftOutA;
            continue;
        }
        if (!m) {
            e.isTensor = l.tensor >= 0;
            e.status = DiffStatus::Removed;
            result.entries.push_back(std::move(e));
            continue;
        }
        e.b = makeSide(b, *m);
        e.group = std::max(l.group, m->group);
        if (e.paramKey < 0 && m->paramKey >= 0 && m->matchKeys.size() == e.keys.size()) {
            // Named only in B (A's file has no model to name it by): the id is the same key.
            e.paramName = m->paramName;
            e.paramKey = m->paramKey;
        }
        if (l.tensor >= 0 && m->tensor >= 0) {
            e.isTensor = true;
            e.status = e.a->shape != e.b->shape   ? DiffStatus::Shape
                       : e.a->dtype != e.b->dtype ? DiffStatus::DType
                                                  : DiffStatus::Pending;
        } else if (l.tensor < 0 && m->tensor < 0) {
            e.status = compareText(l) == compareText(*m) ? DiffStatus::Same : DiffStatus::Changed;
        } else {
            e.status = DiffStatus::DType; // a tensor on one side, a plain value on the other
        }
        result.entries.push_back(std::move(e));
    }
    for (std::size_t i = 0; i < lb.size(); ++i) {
        if (usedB[i])
            continue;
        if (dropB && lb[i].moduleAttribute) {
            ++result.attributesLeftOutB;
            continue;
        }
        DiffEntry e;
        e.keys = lb[i].matchKeys;
        e.isTensor = lb[i].tensor >= 0;
        e.b = makeSide(b, lb[i]);
        setNames(e, lb[i]);
        e.group = lb[i].group;
        e.status = DiffStatus::Added;
        result.entries.push_back(std::move(e));
    }
    return result;
}

} // namespace ckpt
