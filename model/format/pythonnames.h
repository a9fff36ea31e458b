// SPDX-License-Identifier: MIT
#pragma once

#include <string>

namespace ckpt::format {

/// Rewrites `text` ("module\nname") in place with its Python 3 name: CPython's
/// Lib/_compat_pickle.py tables (IMPORT_MAPPING, NAME_MAPPING, the `exceptions` module), as
/// `fix_imports` applies them to pickles of protocol < 3. Reimplemented (no Python at run time).
void mapPython2Name(std::string &text);

} // namespace ckpt::format
