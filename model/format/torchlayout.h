// SPDX-License-Identifier: MIT
#pragma once

#include "checkpointreader.h"

#include <functional>
#include <string>
#include <string_view>

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

/// Lists every tensor reachable from `root` at every path (PRODUCT.md 4 "Paths"), appending to
/// `data.paths`; `prefix` keys are put in front. Iterative; cycles are cut and depth is capped
/// at `maxDepth` (a warning is recorded).
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
