// SPDX-License-Identifier: MIT
#pragma once

// Internal to ckpt_format: torch.distributed.checkpoint (DCP) directories read as one
// checkpoint (docs/FORMAT-DCP.md).

#include "checkpointreader.h"

#include <string>

namespace ckpt::format {

/// `dir` holds a DCP `.metadata` file.
bool isDcpFolder(const std::string &dir);

/// Reads the DCP directory `dir` into `data` (format Dcp, file = `dir`): `.metadata` with the
/// non-executing pickle machine; every state-dict key as a tree path (the nesting of
/// `planner_data`); each tensor with its logical dtype and shape and its chunks
/// (CheckpointData::chunksOfTensor); a tensor held in one chunk reads its values from that
/// chunk's torch.save record; non-tensor values (BytesStorageMetadata) read from their records.
/// Records whose path leaves the directory, that lie past a file's end or that use transforms
/// we do not read are errors or warnings naming the record; nothing outside `dir` is opened.
/// Never throws FormatError.
void readDcpFolder(CheckpointData &data, const std::string &dir, const ReadLimits &limits,
                   const ProgressFn &progress);

} // namespace ckpt::format
