// SPDX-License-Identifier: MIT
#pragma once

// What a file holds, counted as torch counts it (issue 16 item 4): distinct tensors and
// storages, the model's parameters and buffers apart from everything else.

#include "trainingstate.h"

#include <cstdint>
#include <string>
#include <vector>

namespace ckpt {

/// Tensors of one kind, counted once each.
struct TensorCount
{
    std::size_t tensors = 0;
    std::uint64_t elements = 0;
};

/// What a file holds, counted as torch counts it (issue 16 item 4); the GUI's summary and status
/// bar and `ckpt-inspect ls` all show these numbers.
struct CheckpointTotals
{
    std::size_t paths = 0;      ///< tensors at every path (the listing's rows)
    /// Distinct tensors: identical views (storage, offset, shape, stride, dtype) count once, as
    /// `model.parameters()` counts a tied weight once; tensors without storage count by object.
    std::size_t tensors = 0;
    std::size_t storages = 0;   ///< distinct storages of those tensors (sparse: its components')
    std::uint64_t elements = 0; ///< numel over the distinct tensors
    std::uint64_t bytes = 0;    ///< bytes of the distinct storages: the tensor data the file holds
    /// The model, where the file says which tensors are its parameters: a module pickled whole
    /// (its `_parameters` and `_buffers`, recursively through `_modules`), else the main model
    /// state dict (known buffer names and integer tensors are buffers).
    bool hasModel = false;
    std::string modelPath;      ///< "" for the root
    TensorCount parameters;     ///< what `sum(p.numel() for p in model.parameters())` says
    TensorCount buffers;        ///< the model's buffers
    TensorCount other;          ///< everything else: optimizer state, EMA copies, RNG states, ...
};

/// The totals of `data` (bounded: each container is visited once).
CheckpointTotals checkpointTotals(const format::CheckpointData &data);
CheckpointTotals checkpointTotals(const format::CheckpointData &data, const std::vector<TrainingItem> &items);

} // namespace ckpt
