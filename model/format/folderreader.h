// SPDX-License-Identifier: MIT
#pragma once

// Internal to ckpt_format: training folders read as one checkpoint (FORMAT.md section 12), and
// the merging of one read's tables into another that shard indexes and folders share.

#include "checkpointreader.h"

#include <string>
#include <string_view>
#include <vector>

namespace ckpt::format {

/// readCheckpoint() of one file (never a folder), mutable: the folder reader merges it.
std::shared_ptr<CheckpointData> readCheckpointFile(const std::string &path, const ReadLimits &limits,
                                                   const ProgressFn &progress) noexcept;

/// readCheckpointBytes(), mutable (DCP records are merged into the directory's checkpoint);
/// `scan` false: no security scan (`security` stays null: a DCP record read for its values).
std::shared_ptr<CheckpointData> readCheckpointBytesMutable(ByteView bytes, const std::string &name,
                                                           const ReadLimits &limits, bool scan = true) noexcept;

/// A file of a training folder and the top-level key it is shown under.
struct FolderFile
{
    std::string key;  ///< "model", "optimizer", "scheduler", "trainer_state", ...
    std::string path;
    bool json = false; ///< trainer_state.json, config.json: read as values
};

/// The files of a transformers Trainer checkpoint folder (`checkpoint-N/`): the model weights
/// (weightsInFolder()), optimizer.pt, scheduler.pt, scaler.pt, rng_state*.pth,
/// trainer_state.json, training_args.bin and config.json, those present. Empty when `dir` has
/// none of the Trainer's own files (a save_pretrained folder is read as its weights).
std::vector<FolderFile> trainerFolderFiles(const std::string &dir);

/// Reads `files` into `data` (format Folder, file = `dir`): root = {key: that file's root},
/// tensors, storages, paths, globals and security scan of every file merged, each record and
/// warning named after its file. A file that cannot be read is the error (naming the file);
/// the other files are still read. Never throws FormatError; `progress` counts files.
void readTrainerFolder(CheckpointData &data, const std::string &dir, const std::vector<FolderFile> &files,
                       const ReadLimits &limits, const ProgressFn &progress);

/// What mergeTables() added: offsets of the part's entries in the merged tables.
struct MergedBase
{
    int file = 0;
    int storage = 0;
    int tensor = 0;
};
/// Appends `part`'s files, storages and tensors to `into` (storage keys and records prefixed
/// with `name`, texts copied into `into`'s graph, indexes between the tables shifted), and its
/// warnings and globals with their records prefixed with `name`. Value nodes are not touched.
MergedBase mergeTables(CheckpointData &into, CheckpointData &part, const std::string &name);

/// mergeTables(), and the part's value nodes (which stay in its graph: keep the part alive)
/// pointed at the merged tables, and its globals merged (mergeGlobal()).
MergedBase mergePart(CheckpointData &into, CheckpointData &part, const std::string &name);

/// Adds global `g` of file `name` to `data.globals`, merged by name (counts add up, the
/// stronger role and a dangerous class win; a new one's record is prefixed with `name`).
void mergeGlobal(CheckpointData &data, GlobalUse g, const std::string &name);

/// Adds the pickles, warnings and weights-only verdict of `part` (a scan of file `name`) to
/// `into`; decideVerdict() afterwards.
void mergeScan(SecurityScan &into, const SecurityScan &part, const std::string &name);

/// JSON text as value-graph nodes: objects become dicts with str keys (file order, duplicates
/// kept as JSON parsers differ on them), arrays lists, numbers Int (Float beyond int64), ...
/// Throws FormatError(Corrupt) naming `record` and the byte offset (`base` + position) of
/// invalid JSON, FormatError(LimitExceeded) past `limits.maxDepth` or `limits.maxNodes`.
Value *jsonToValues(ValueGraph &graph, std::string_view text, std::uint64_t base, const std::string &record,
                    const ReadLimits &limits);

} // namespace ckpt::format
