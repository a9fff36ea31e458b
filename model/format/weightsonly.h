// SPDX-License-Identifier: MIT
#pragma once

#include <span>
#include <string_view>

namespace ckpt::format {

/// What torch's default load (`torch.load(weights_only=True)`, the default since torch 2.6)
/// lets a pickle name: torch 2.13's allow-list (torch/_weights_only_unpickler.py,
/// _get_allowed_globals) and its blocked modules. Used to say per file whether today's torch
/// accepts it or where it stops.

/// The allowed "module.name" globals, sorted.
std::span<const std::string_view> weightsOnlyAllowedGlobals() noexcept;
/// `fullName` ("torch._utils._rebuild_tensor_v2") is on the allow-list.
bool weightsOnlyAllows(std::string_view fullName) noexcept;
/// GLOBAL of any name in `module` is refused before the allow-list is looked at.
bool weightsOnlyBlocksModule(std::string_view module) noexcept;

} // namespace ckpt::format
