// SPDX-License-Identifier: MIT
#pragma once

#include "checkpointreader.h"
#include "tensorstats.h"

#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ckpt {

using Json = nlohmann::ordered_json;

/// `ckpt-inspect ls --json` (PRODUCT.md 4): file, format, tensors (one entry per path), warnings,
/// and `error` when reading stopped early.
Json lsReport(const format::CheckpointData &data);
struct CheckpointTotals;
/// `ls --json`'s "totals" object, and the footer of the `ls` table (one or two lines).
Json totalsJson(const CheckpointTotals &totals);
std::string totalsText(const CheckpointTotals &totals, std::string_view format);

struct StatsSelection
{
    std::vector<std::string> patterns; ///< exact paths or shell-style globs; empty = all
    int bins = 64;
    unsigned threads = 0;              ///< 0 = all cores
    /// Workers at low priority (format::lowerThreadPriority), for jobs behind a window: the
    /// calling thread only waits and keeps its own priority.
    bool background = false;
    /// Tensors done of total; return false to cancel (then FormatError(Cancelled) is thrown).
    std::function<bool(std::size_t done, std::size_t total)> progress;
};

/// One tensor's statistics, or why there are none.
struct TensorStatsResult
{
    std::optional<format::TensorStats> stats;
    std::string error;
};

/// How computeAllStats() runs tensors of these sizes (element counts) on `cores` threads.
struct StatsSchedule
{
    std::vector<std::size_t> order; ///< largest first (ties in their given order)
    /// true: runs alone, with every thread (it outweighs all the tensors after it in `order` put
    /// together); false: runs on one thread, beside others.
    std::vector<bool> alone;
};
StatsSchedule statsSchedule(const std::vector<std::uint64_t> &numel, unsigned cores);

/// Statistics of the given tensors (indices into data.tensors), computed once per tensor:
/// whole tensors side by side, one per thread, except a tensor that outweighs the rest, which
/// gets all threads.
std::vector<TensorStatsResult> computeAllStats(const format::CheckpointData &data, const std::vector<int> &tensors,
                                               const StatsSelection &request);

/// `ckpt-inspect stats --json`: one entry per matching path. Throws FormatError(Cancelled).
Json statsReport(const format::CheckpointData &data, const StatsSelection &request);
/// A number for the JSON reports: null when absent or not finite.
Json optionalNumber(const std::optional<double> &v);
/// Paths matched by the request's patterns (all when empty), in listing order.
std::vector<const format::TensorPath *> matchingPaths(const format::CheckpointData &data,
                                                      const std::vector<std::string> &patterns);

/// `ckpt-inspect scan --json`: every global with class and count, and a verdict.
Json scanReport(const format::CheckpointData &data);

/// The statistics entry of one tensor (PRODUCT.md 4 field names; null where not applicable).
Json statsJson(const std::string &path, const format::TensorInfo &tensor, const TensorStatsResult &result);

/// Serialises a report. Names from a file may hold invalid UTF-8 (a damaged or hostile pickle);
/// such bytes become U+FFFD instead of failing.
std::string dumpJson(const Json &json, int indent = 1);

/// Human-readable tables for the same reports (aligned columns).
std::string lsTable(const format::CheckpointData &data);
/// lsTable() handed to `write` in pieces of about 64 KiB (the CLI writes a 100,000-row table
/// without holding all of it).
void writeLsTable(const format::CheckpointData &data, const std::function<void(std::string_view)> &write);
std::string statsTable(const Json &statsReport);
std::string scanTable(const format::CheckpointData &data);

/// "12.5 KiB"
std::string humanBytesText(std::uint64_t bytes);
/// Aligned text table (two spaces between columns; the first row is the header; the last column
/// is left unpadded), as every command's table uses.
std::string textTable(const std::vector<std::vector<std::string>> &rows, const std::vector<bool> &rightAlign);
/// "[16, 3, 3, 3]"
std::string shapeString(const std::vector<std::int64_t> &shape);
/// One-line error message: "FILE: record 'x' at byte N: what".
std::string errorLine(const format::CheckpointData &data);

} // namespace ckpt
