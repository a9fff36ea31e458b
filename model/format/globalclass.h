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

/// `module.name` is on the deny list in any use (FORMAT.md 6.3): a module or name that runs
/// code, reaches the system or arbitrary attributes, also when reached through a dotted path
/// (`torch.os.system`, `numpy.__builtins__`).
bool globalIsDenyListed(std::string_view module, std::string_view name) noexcept;

/// What loading a pickle would do with a global (the strongest use wins).
enum class GlobalRole : std::uint8_t {
    Referenced,   ///< only pushed: an argument, a dtype, a storage type
    SetState,     ///< an instance of it receives BUILD state (its __setstate__ runs)
    Instantiated, ///< NEWOBJ / copyreg.__newobj__ / _reconstructor: cls.__new__ only
    Called,       ///< REDUCE, INST, OBJ, or invoked by a callee we model: the callable runs
};

std::string_view globalRoleName(GlobalRole role) noexcept; ///< "referenced", "called", ...

/// One global referenced by a pickle, with how often it occurs.
struct GlobalUse
{
    std::string module;
    std::string name;
    std::uint64_t count = 0;
    std::uint64_t firstOffset = 0; ///< file offset of the first GLOBAL/STACK_GLOBAL/INST
    std::string record;            ///< the pickle it occurs in (first occurrence)
    GlobalClass cls = GlobalClass::Opaque;
    GlobalRole role = GlobalRole::Referenced; ///< from the security scan
    bool torchReads = true;        ///< in a pickle torch.load reads (false: other .pkl members, ...)
    std::string reason;            ///< why it is dangerous (cls == Dangerous)
};

} // namespace ckpt::format
