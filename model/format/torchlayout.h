// SPDX-License-Identifier: MIT
#pragma once

#include "checkpointreader.h"

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_set>

namespace ckpt::format {

/// Finds (or creates) the storage a persistent id names and returns its index in
/// `data.storages`, or -1 when it cannot be resolved (then a warning/error has been recorded).
/// Arguments: storage key, storage dtype, declared numel, location, pickle offset of the id.
/// `location` is text the graph owns or static text: a StorageInfo may keep the view.
using StorageResolver = std::function<int(std::string_view key, DType dtype, std::uint64_t numel,
                                          std::string_view location, std::uint64_t offset)>;

/// The interpretation pass (FORMAT.md 1.4-1.9, 6.3): rewrites, in place, the nodes of
/// `data.graph` created from index `firstNode` on:
///  - `('storage', type, key, location, numel[, view])` persistent ids -> Storage nodes
///    (through `resolve`), `('module', cls, ...)` ids -> the class;
///  - `torch._utils._rebuild_*` calls -> Tensor nodes appended to `data.tensors`;
///  - OrderedDict/Counter/defaultdict calls -> Dict, set/frozenset/complex/bytes/bytearray/
///    `_codecs.encode` -> plain values, `torch.Size` -> Tuple, TorchScript list/type-tag helpers
///    -> their value.
/// Everything else stays an Object (opaque); nothing is executed. Problems become warnings.
/// `pickleName` names the pickle in warnings.
/// `plainId`, when set, resolves persistent ids that are plain strings (the tar format's
/// object keys) by rewriting the node into a Tensor or Storage node; returns false if unknown.
using PlainIdResolver = std::function<bool(std::string_view id, Value *node)>;
void interpretGraph(CheckpointData &data, std::size_t firstNode, const StorageResolver &resolve,
                    const std::string &pickleName, const PlainIdResolver &plainId = {});

/// Bounds a walk of the value graph that lists values at every path (issue 16). A container is
/// expanded in full the first time a walk reaches it. Reached again through another path (shared,
/// not a cycle: `{'model': sd, 'ema': sd}`), it is expanded again while a budget for such repeats
/// lasts, so shared subtrees of real files keep all their paths, while a memo "bomb" (each level
/// holding the one below twice, 2^n paths from n objects) costs a bounded amount. Every value is
/// still reached once through its first path.
class SharedWalkGuard
{
public:
    /// `repeatBudget`: values visited, plus keys of paths emitted, inside repeated expansions.
    explicit SharedWalkGuard(std::uint64_t repeatBudget = kDefaultRepeatBudget)
        : m_budget(repeatBudget)
    {}

    static constexpr std::uint64_t kDefaultRepeatBudget = 1'000'000;

    enum class Enter { First, Repeat, Skip };
    /// Before a walk descends into container `v` (not on the current path).
    Enter enter(const Value *v)
    {
        if (m_expanded.insert(v).second)
            return Enter::First;
        if (m_spent) {
            ++m_skipped;
            return Enter::Skip;
        }
        ++m_repeatDepth;
        return Enter::Repeat;
    }
    /// After the walk leaves a container entered as Repeat.
    void leaveRepeat() noexcept
    {
        if (m_repeatDepth)
            --m_repeatDepth;
    }
    /// Charges `cost` (1 per value, the key count per emitted path) when inside a repeat.
    void charge(std::uint64_t cost) noexcept
    {
        if (m_repeatDepth && (m_used += cost) > m_budget)
            m_spent = true;
    }
    /// True when the walk should abandon the repeated expansion it is in.
    bool abandonRepeat() const noexcept { return m_spent && m_repeatDepth; }
    bool spent() const noexcept { return m_spent; }
    /// Repeated expansions refused after the budget was spent.
    std::uint64_t skipped() const noexcept { return m_skipped; }

private:
    std::unordered_set<const Value *> m_expanded;
    std::uint64_t m_budget;
    std::uint64_t m_used = 0;
    std::uint64_t m_repeatDepth = 0;
    std::uint64_t m_skipped = 0;
    bool m_spent = false;
};

/// Lists every tensor reachable from `root` at every path (PRODUCT.md 4 "Paths"), appending to
/// `data.paths`; `prefix` keys are put in front. Iterative; cycles are cut, depth is capped
/// at `maxDepth` and shared containers are re-listed within a SharedWalkGuard budget (a warning
/// is recorded for each).
void collectTensorPaths(CheckpointData &data, Value *root, const std::vector<std::string> &prefix,
                        std::uint32_t maxDepth);

/// The key text of a dict key as a path component: str keys as they are, others as repr.
std::string pathKey(const Value *key);

/// The children a path walk descends into, with their path keys (PRODUCT.md 4 "Paths"): dict
/// items, list/tuple elements, an object's attributes. The rule collectTensorPaths() uses; for
/// walks that also want the plain values (the diff engine).
std::vector<std::pair<std::string, Value *>> pathChildren(const Value *v);

/// Storage type global -> dtype (`torch FloatStorage`, `torch.cuda HalfStorage`,
/// `torch.storage UntypedStorage` -> UInt8).
std::optional<DType> storageTypeDType(const Value *global);

} // namespace ckpt::format
