// SPDX-License-Identifier: MIT
#pragma once

// A training run over time (issue 20): the checkpoints of one run, as a folder, a glob or several
// files, opened lazily (no tensor bytes) and put in run order. No Qt: used by ckpt-inspect and
// the GUI.

#include "diffengine.h"
#include "format/checkpointreader.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ckpt {

struct SeriesMember
{
    std::string file;                          ///< as given or found (a file or a checkpoint folder)
    std::optional<std::int64_t> step;          ///< global_step (else step, iteration) found inside
    std::optional<double> epoch;               ///< epoch found inside
    std::vector<std::int64_t> nameNumbers;     ///< the numbers in the file name, in order
    std::int64_t mtimeNs = 0;
    std::uint64_t size = 0;                    ///< bytes (a folder: 0)
    std::shared_ptr<const format::CheckpointData> data; ///< its own lazy reader
};

struct Series
{
    std::vector<SeriesMember> members;         ///< in run order
    /// What the order rests on: "step" (every member has one), "epoch", "name" (every file name
    /// holds a number) or "mtime". Ties go to the next criterion, then to the name.
    std::string orderedBy;
};

/// One member's numbers for one tensor: statistics as `stats` defines them (PRODUCT.md 4, over
/// the finite values) and the change from the previous member holding the tensor and from the
/// first, as `diff` defines rel_l2 and cosine (null where they do not apply or the shapes differ).
struct SeriesPoint
{
    int member = -1;                           ///< index into Series::members
    std::optional<double> l2, mean, std, min, max;
    std::uint64_t nan = 0, inf = 0;
    std::optional<double> relL2Prev, cosPrev, relL2First, cosFirst;
    std::string error;                         ///< why its values could not be read
};

struct SeriesTensor
{
    std::string path;                          ///< as `ls` gives it; aligned by path across members
    std::string dtype;                         ///< in the first member holding it
    std::vector<std::int64_t> shape;
    std::vector<SeriesPoint> points;           ///< members holding it, in run order
};

/// A number of the run per member: epoch, global_step, loss (top-level counters) and the lr of
/// each optimizer's param groups ("lr/<g>"; with several optimizers "<path>/lr/<g>").
struct SeriesScalar
{
    std::string name;
    std::string path;                          ///< its path in the checkpoint
    std::vector<std::pair<int, double>> points; ///< (member, value)
};

struct SeriesOptions
{
    unsigned threads = 0;                      ///< 0: all cores
    std::vector<std::string> patterns;         ///< only these paths (exact or shell globs); empty: all
    /// Progress over members (done of total); return false to cancel (throws FormatError Cancelled).
    std::function<bool(std::uint64_t done, std::uint64_t total)> progress;
};

/// Every tensor path of the series (first-seen order) with its points: statistics of each member
/// and the change from its previous member and from the first. Reads each member's tensors, the
/// previous and the first member's again for the change; pages are released as they are done.
std::vector<SeriesTensor> seriesTensors(const Series &series, const SeriesOptions &options = {});
/// The run's scalars (SeriesScalar), in first-seen order. Reads no tensor bytes but 0-d ones.
std::vector<SeriesScalar> seriesScalars(const Series &series);

/// `ckpt-inspect series --json`: {"order_by", "members": [{"file", "step", "epoch"}], "tensors":
/// [{"path", "dtype", "shape", "points": [{"member", "l2", "mean", "std", "min", "max", "nan",
/// "inf", "rel_l2_prev", "cos_prev", "rel_l2_first", "cos_first"}]}], "scalars": [{"name",
/// "path", "points": [{"member", "value"}]}]}.
Json seriesReport(const Series &series, const std::vector<SeriesTensor> &tensors,
                  const std::vector<SeriesScalar> &scalars);
/// Its text table: one row per tensor and member.
std::string seriesTable(const Json &report);

/// The checkpoints of folder `dir`: files named *.pt, *.pth, *.ckpt, *.bin, *.safetensors, *.pkl,
/// *.tar and checkpoint folders (a DCP directory, a transformers `checkpoint-N/`, a save_pretrained
/// folder), hidden names left out; in natural name order (numbers compared as numbers).
std::vector<std::string> seriesCandidates(const std::string &dir);

/// Opens every input (a folder stands for its seriesCandidates()) with `limits` and orders them.
Series openSeries(const std::vector<std::string> &inputs, const format::ReadLimits &limits = {});

/// The step and epoch a checkpoint records (the shallowest counters of trainingstate.h's walk).
void seriesCounters(const format::CheckpointData &data, std::optional<std::int64_t> &step,
                    std::optional<double> &epoch);

/// Natural order of names: digit runs compare as numbers ("epoch_2" before "epoch_10").
bool naturalLess(const std::string &a, const std::string &b);

} // namespace ckpt
