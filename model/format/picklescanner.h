// SPDX-License-Identifier: MIT
#pragma once

#include "bytes.h"
#include "formaterror.h"
#include "globalclass.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ckpt::format {


/// One global of one pickle, as the scanner saw it.
struct ScannedGlobal
{
    std::string module;            ///< Python 3 name (after _compat_pickle, like the loaders)
    std::string name;
    std::uint64_t count = 0;
    std::uint64_t firstOffset = 0; ///< file offset of the first GLOBAL / STACK_GLOBAL / INST
    GlobalRole role = GlobalRole::Referenced;
    bool computed = false;         ///< name made at run time (STACK_GLOBAL of non-literals, EXT)
    bool dangerous = false;
    std::string reason;            ///< why it is dangerous ("called, and not known to be safe")
};

/// Something the pickle does that runs code whatever the globals are (calling a value made
/// during loading, setting attributes of a class or module).
struct ScanFinding
{
    std::uint64_t offset = 0; ///< file offset of the opcode
    std::string text;
};

/// The result of scanning one pickle without executing it (FORMAT.md 6.4).
struct PickleScan
{
    std::string record;           ///< names the pickle: "archive/data.pkl", "pickle 2 at 1234"
    std::uint64_t offset = 0;     ///< file offset of its first byte
    std::uint64_t end = 0;        ///< file offset after STOP (or where scanning stopped)
    int protocol = 0;             ///< highest PROTO seen; 0 when none (protocol 0/1)
    bool complete = false;        ///< reached STOP
    bool torchReads = false;      ///< torch.load would unpickle it (set by the file scan)
    bool stopValueIsTorchMagic = false; ///< STOP returned torch's legacy magic number
    std::optional<FormatError> error; ///< where CPython's unpickler would stop too
    std::vector<ScannedGlobal> globals;
    std::vector<ScanFinding> findings;
    /// torch 2.13's weights_only unpickler: the first thing it refuses (empty when accepted).
    std::string weightsOnlyRefusal;
    std::uint64_t weightsOnlyOffset = 0;
    /// Payloads of torch.storage._load_from_bytes calls (a nested torch.load): positions in
    /// the scanned bytes (not file offsets), scanned again as files by the caller.
    struct Nested
    {
        std::uint64_t pos = 0;
        std::uint64_t size = 0;
    };
    std::vector<Nested> nested;

    bool dangerous() const noexcept;
};

struct PickleScanLimits
{
    std::uint64_t maxValues = 20'000'000; ///< stack, memo and tuple entries together
};

/// Scans the pickle in `data` from `pos` to its STOP with a symbolic stack machine: it follows
/// every opcode of protocols 0-5 and tracks which global each value came from, but builds no
/// values and runs nothing. A global is dangerous when loading would call it and it is not
/// known to be safe (torch's weights-only allow-list, the reconstructors of known library value
/// types), when its name is on the deny list whatever its use, or when its name is computed.
/// Never throws: the first error is in `error` (what came before it is kept). `baseOffset` is
/// the file offset of data[0].
PickleScan scanPickle(ByteView data, std::uint64_t pos, std::uint64_t baseOffset, std::string record,
                      PickleScanLimits limits = {});

} // namespace ckpt::format
