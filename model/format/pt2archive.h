// SPDX-License-Identifier: MIT
#pragma once

// torch.export's PT2 archive (`torch.export.save`, a `.pt2` zip; FORMAT.md): its weights and
// constants are raw records under data/weights/ and data/constants/, described by JSON configs
// (`<model>_weights_config.json`, `<model>_constants_config.json`) that give each tensor's
// fully qualified name, record, dtype (torch/_export/serde/schema.py's ScalarType), sizes,
// strides, storage offset and requires_grad. The graph itself (models/<model>.json) is not read.

#include "dtype.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ckpt::format {

struct Pt2Tensor
{
    std::string name;     ///< the fully qualified name ("l.weight")
    std::string record;   ///< the record's name in its folder ("weight_0")
    bool isParameter = false;
    DType dtype = DType::Unknown;
    std::vector<std::int64_t> shape, stride;
    std::int64_t storageOffset = 0;
    bool requiresGrad = false;
    std::string device = "cpu";
    bool pickled = false; ///< use_pickle: torch.export.load unpickles the record (weights_only=False)
    /// Why this entry is not read as a tensor (pickled tensor subclasses, symbolic sizes, an
    /// unknown dtype or layout); "" when it is.
    std::string problem;
};

/// The entries of one config JSON. Throws FormatError(Malformed) naming `record` when the JSON
/// does not parse or has no "config" object.
std::vector<Pt2Tensor> parsePt2Config(std::string_view json, const std::string &record);

/// DType of the export schema's ScalarType number, Unknown when there is none.
DType pt2ScalarType(std::int64_t code) noexcept;

} // namespace ckpt::format
