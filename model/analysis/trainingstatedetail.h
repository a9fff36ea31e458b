// SPDX-License-Identifier: MIT
#pragma once

// Helpers the training-state sources share (trainingstate.cpp, checkpointtotals.cpp,
// optimreport.cpp); not part of the analysis layer's interface.

#include "checkpointreader.h"

#include <string>
#include <vector>

namespace ckpt::detail {

struct ModelParam
{
    std::string key;
    int tensor = -1;
    const std::vector<std::int64_t> *shape = nullptr;
};

/// The parameters of a model state dict in order: buffers skipped, shared tensors once.
std::vector<ModelParam> modelParams(const format::CheckpointData &data, const format::Value *dict);
/// The tensor a value stands for, or nullptr.
const format::TensorInfo *tensorOf(const format::CheckpointData &data, const format::Value *v);
/// Path keys joined with '/'.
std::string joinKeys(const std::vector<std::string> &keys);

} // namespace ckpt::detail
