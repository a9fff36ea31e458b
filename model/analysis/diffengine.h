// SPDX-License-Identifier: MIT
#pragma once

// Comparison of two checkpoints (PRODUCT.md section 3 "Compare", section 4 `diff`).
// Alignment is cheap (paths and tensor metadata only); metrics stream through both memory maps
// in double, in parallel, with progress and cancel. No Qt: used by ckpt-inspect and the GUI.

#include "format/checkpointreader.h"
#include "format/tensorstats.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ckpt {

// The same alias as inspectreport.h's, which the engine needs nothing else of.
using Json = nlohmann::ordered_json;

/// PRODUCT.md 4: same (bit-identical values), changed, added (only in B), removed (only in A),
/// shape, dtype. Pending: aligned, equal dtype and shape, metrics not computed yet (or, with
/// `error` set, they could not be: `ckpt-inspect diff` calls that status "unknown"). A tensor
/// on one side and a plain value on the other is DType.
enum class DiffStatus : std::uint8_t { Same, Changed, Added, Removed, Shape, DType, Pending };
std::string_view diffStatusName(DiffStatus s) noexcept; ///< "same", "changed", ... "pending"

/// What an entry belongs to, for ranking (the compare view lists the model's weights before
/// optimizer state, whose moments change by more than any weight) and naming. Ordered: a
/// container holding several takes the largest.
enum class DiffGroup : std::uint8_t { Other, Optimizer, Model };
std::string_view diffGroupName(DiffGroup g) noexcept; ///< "other", "optimizer", "model"

struct DiffOptions
{
    /// Removed from the start of every key (each component of a path) on both sides before
    /// matching (`--strip-prefix module.`). Empty: none.
    std::string stripPrefix;
    /// Also strip a wrapper prefix ("module.", "_orig_mod.") that every state-dict key of one
    /// side carries and the other side's keys do not (the GUI turns this on; the CLI only
    /// strips what the user asks for, and warns when it detects a prefix).
    bool detectPrefix = false;
    unsigned threads = 0; ///< 0: std::thread::hardware_concurrency()
    /// Progress over all tensor metrics: done of total (elements); return false to cancel
    /// (then the computing function throws format::FormatError(Cancelled)).
    std::function<bool(std::uint64_t done, std::uint64_t total)> progress;
    /// Background work (the compare view): the workers run at a lower scheduling priority
    /// while the calling thread waits, as format::StatsOptions::background.
    bool background = false;
    /// One-shot reading (ckpt-inspect diff): when the last chunk of a pair of tensors is done,
    /// the workers drop both tensors' pages from the process's memory map, as
    /// format::StatsOptions::releasePages. Off by default: the compare view keeps browsing them.
    bool releasePages = false;
};

struct DiffSide
{
    std::vector<std::string> keys; ///< the path in this file (before stripping)
    int tensor = -1;               ///< index into CheckpointData::tensors, or -1 (plain value)
    std::string dtype;             ///< tensors: torch dtype name
    std::vector<std::int64_t> shape;
    std::string value;             ///< plain values: Python repr (`1`, `0.001`, `'adam'`, `None`)
    /// Optimizer state: the parameter it belongs to (optim's mapping: `param_names` or
    /// order+shape; "" when the file does not determine it) and the index in `keys` of its id.
    std::string paramName;
    int paramKey = -1;
    DiffGroup group = DiffGroup::Other;
    std::string path() const; ///< keys joined with '/'
};

struct DiffEntry
{
    std::vector<std::string> keys; ///< matching key (after stripping); also the tree position
    DiffStatus status = DiffStatus::Pending;
    /// Optimizer state: the parameter's name and the index in `keys` of its id (from the side
    /// `keys` come from; "" and -1 otherwise).
    std::string paramName;
    int paramKey = -1;
    DiffGroup group = DiffGroup::Other; ///< the larger of both sides' groups
    bool isTensor = false;        ///< a tensor on every side it is present on
    std::optional<DiffSide> a, b; ///< absent on the side it is missing from
    // Tensor metrics (double): max and mean |B-A|, ||B-A||2 / ||A||2 (null when ||A|| = 0),
    // cosine of the flattened tensors (null when either norm is 0), over the elements finite on
    // both sides (an element NaN or +-Inf on either side is left out; `nanMismatch` counts
    // those NaN on only one side). All null when no element is finite on both sides.
    std::optional<double> maxAbsDiff, meanAbsDiff, relL2, cosine;
    std::uint64_t differing = 0;   ///< elements whose values differ
    std::uint64_t nanMismatch = 0;
    std::string error;             ///< why metrics could not be computed (no data, damaged, ...)
    std::string path() const;      ///< keys joined with '/'
};

struct DiffSummary
{
    std::uint64_t same = 0, changed = 0, added = 0, removed = 0, shape = 0, dtype = 0, pending = 0;
};

struct DiffResult
{
    std::vector<DiffEntry> entries; ///< A's walk order, then B-only entries in B's order
    std::string strippedA, strippedB; ///< the prefix actually stripped on each side ("" if none)
    /// The wrapper prefix detection found on each side ("module.", "_orig_mod.", or both in a
    /// row), also when options.detectPrefix is off and nothing was stripped for it (the CLI
    /// suggests --strip-prefix then). "" if none.
    std::string detectedA, detectedB;
    /// True when a side holds containers shared by so many paths that only the first of those
    /// paths are compared (format::SharedWalkGuard; a memo bomb).
    bool sharedCutA = false, sharedCutB = false;
    /// Plain attributes of a module pickled whole (training, hooks, in_channels) on one side
    /// when the other side holds no module object (a state dict): not compared, counted here.
    std::size_t attributesLeftOutA = 0, attributesLeftOutB = 0;
    DiffSummary summary() const;
};

/// True for an entry whose tensor metrics are (still) to be computed by computeTensorDiff:
/// two tensors of equal shape that are Pending, or DType (bf16 vs float32 of one model: the
/// metrics say how much the conversion changed; the status stays DType).
bool needsMetrics(const DiffEntry &entry) noexcept;

/// Matches tensors and plain values (numbers, strings, bools, None) of `a` and `b` by path, in
/// three rounds over what is still unmatched: (1) by path, with optimizer state keyed by its
/// parameter's name where both files name it (an id that moved with a new layer still finds its
/// parameter); (2) by path; (3) by the dotted module name the tree shows (`features.0.weight`
/// for a state-dict key and for `_modules/features/_modules/0/_parameters/weight` of a module
/// pickled whole; a `module.` / `_orig_mod.` wrapper level that only one side has is dropped).
/// Plain values compare by their full repr; a list/tuple/set of plain values is one entry
/// (`betas`, `params`), an empty container too; opaque objects without attributes are left out.
/// Paths are walked like CheckpointData::paths (format::pathChildren), root then extraRoots.
/// Reads no tensor bytes: equal-dtype-and-shape tensor pairs are Pending; plain values get
/// their final status. Never throws for damaged inputs (works on what was read).
DiffResult alignCheckpoints(const format::CheckpointData &a, const format::CheckpointData &b,
                            const DiffOptions &options = {});

/// Computes the metrics of one entry with needsMetrics() and sets a Pending one to Same or
/// Changed (a DType one keeps its status), or records `error` (then a Pending entry stays
/// Pending). Streams through both maps; multi-threaded. Throws FormatError(Cancelled) on cancel.
/// Same = every element bit-identical (for equal dtypes; values compared through double for
/// 64-bit integers beyond 2^53 that are not laid out alike in both files). Complex tensors:
/// |B-A| is the modulus, cosine = Re<A,B> / (|A| |B|). Elements where either side is NaN or
/// +-Inf are left out of the metrics (nanMismatch counts those where only one side is NaN).
void computeTensorDiff(const format::CheckpointData &a, const format::CheckpointData &b,
                       DiffEntry &entry, const DiffOptions &options = {});

/// alignCheckpoints + computeTensorDiff of every entry with needsMetrics(), as one parallel
/// pass (progress over all of them; a tensor reached through several paths is read once).
/// Per-entry problems (no data, damaged storage) go to the entry's `error`.
DiffResult diffCheckpoints(const format::CheckpointData &a, const format::CheckpointData &b,
                           const DiffOptions &options = {});

/// Statistics and histogram of the element-wise difference B - A of two views of equal shape
/// (the GUI's "B - A" histogram and its heat-map use the same values). Same conventions as
/// format::computeStats (complex: |B - A|; histogram bins by format::histBin; progress total
/// 2 * numel). Throws FormatError(Unsupported) when the shapes differ or a dtype is not
/// decodable, FormatError(Cancelled) on cancel.
format::TensorStats computeDifferenceStats(const format::StridedView &a, const format::StridedView &b,
                                           const format::StatsOptions &options = {});

/// `ckpt-inspect diff --json` (PRODUCT.md 4) and its text table. Beyond PRODUCT.md: `keys`;
/// `module_attributes_left_out` {"a", "b"} when not 0; `param_name` for optimizer state whose parameter the file names (the table shows it after
/// the path); `group` ("model", "optimizer") for entries that are not "other";
/// `path_a`/`path_b` when a prefix was stripped; `differing` (and `nan_mismatch` when not 0)
/// for compared tensors; `error` and status "unknown" for a tensor whose values could not be
/// read (summary key `unknown` when not 0); top-level `format_a`/`format_b`, `strip_prefix`,
/// and `error_a`/`error_b` when a file could not be read completely (the entries then cover
/// what could be read).
Json diffReport(const format::CheckpointData &a, const format::CheckpointData &b,
                const DiffResult &result);
std::string diffTable(const Json &report);

} // namespace ckpt
