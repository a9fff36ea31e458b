// SPDX-License-Identifier: MIT
#pragma once

// A training run over time (issue 20): the checkpoints of one run, as a folder, a glob or several
// files, opened lazily (no tensor bytes) and put in run order. No Qt: used by ckpt-inspect and
// the GUI.

#include "format/checkpointreader.h"

#include <cstdint>
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
