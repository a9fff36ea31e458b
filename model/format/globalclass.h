// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ckpt::format {

/// Classes of Python globals referenced by a pickle (PRODUCT.md section 4 `scan`, FORMAT.md 6.3).
/// Nothing is ever executed whatever the class; the class drives interpretation and warnings.
enum class GlobalClass : std::uint8_t {
    Tensor,    ///< tensor builders and storage types
    Value,     ///< plain value types (OrderedDict, Size, device, dtypes, set, complex, ...)
    Known,     ///< structures we display structurally (numpy, argparse.Namespace, nn.Module, ...)
    Opaque,    ///< anything else: shown as an object with its arguments and state
    Dangerous, ///< would run code under torch.load (os.system, eval, subprocess, ...)
};

std::string_view globalClassName(GlobalClass c) noexcept; ///< "tensor", "value", ...

/// Classifies `module.name` (already mapped from Python 2 names).
GlobalClass classifyGlobal(std::string_view module, std::string_view name) noexcept;

/// One global referenced by a pickle, with how often it occurs.
struct GlobalUse
{
    std::string module;
    std::string name;
    std::uint64_t count = 0;
    std::uint64_t firstOffset = 0; ///< file offset of the first GLOBAL/STACK_GLOBAL/INST
    std::string record;            ///< the pickle it occurs in (first occurrence)
    GlobalClass cls = GlobalClass::Opaque;
};

} // namespace ckpt::format
