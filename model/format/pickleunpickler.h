// SPDX-License-Identifier: MIT
#pragma once

#include "bytes.h"
#include "globalclass.h"
#include "pyvalue.h"

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace ckpt::format {

struct UnpickleLimits
{
    std::uint64_t maxNodes = 50'000'000;  ///< nodes in the graph (all pickles of one file)
    std::uint64_t maxMemo = 50'000'000;   ///< memo entries of one pickle
    std::uint64_t maxStack = 50'000'000;  ///< stack + mark stack entries
};

/// A pickle virtual machine that never executes anything (FORMAT.md section 6). All 68 opcodes
/// of protocols 0-5 build a value graph: GLOBAL/STACK_GLOBAL push Global nodes (Python 2 names
/// mapped to Python 3), REDUCE/NEWOBJ/NEWOBJ_EX/INST/OBJ make Object nodes, BUILD stores the
/// state on the object, BINPERSID/PERSID make PersistentId nodes. APPEND(S)/SETITEM(S) onto an
/// Object go to its listItems/dictItems. NEXT_BUFFER/READONLY_BUFFER and the EXT opcodes are
/// rejected (torch never writes them). Every length is checked against the remaining bytes
/// before anything is allocated.
///
/// One instance may load several pickles in sequence (legacy streams); the node budget is
/// shared. Not thread-safe.
class PickleUnpickler
{
public:
    PickleUnpickler(ValueGraph &graph, UnpickleLimits limits = {});

    /// Runs the pickle in `data` from byte `pos` to STOP. `baseOffset` is the file offset of
    /// data[0] (for messages and Value::offset); `record` names the pickle in messages.
    /// Returns the result; `*endPos` receives the position after STOP.
    /// Throws FormatError (truncation, bad opcode, stack underflow, unbalanced mark, missing
    /// memo entry, limits). After a throw, partialRoot() gives the bottom of the stack.
    Value *load(ByteView data, std::uint64_t pos, std::uint64_t baseOffset, const std::string &record,
                std::uint64_t *endPos = nullptr, bool offsetInRecord = false);

    /// Globals referenced so far (all loads), by first occurrence, with counts.
    const std::vector<GlobalUse> &globals() const noexcept { return m_globals; }
    /// After a failed load: the first value on the stack (a partly built top-level object), or
    /// nullptr.
    Value *partialRoot() const noexcept { return m_partialRoot; }
    /// Highest protocol seen (PROTO opcode) in the last load; 0 when none.
    int protocol() const noexcept { return m_protocol; }

private:
    struct Impl;
    ValueGraph &m_graph;
    UnpickleLimits m_limits;
    std::vector<GlobalUse> m_globals;
    std::unordered_map<std::string, std::size_t> m_globalIndex; ///< "module\nname" -> m_globals
    Value *m_emptyTuple = nullptr; ///< shared by every EMPTY_TUPLE (immutable)
    /// Tuples of shared leaves (small ints, None, booleans) by content: a direct-mapped cache of
    /// kTupleCache slots, made on first use (see Impl::makeTuple()).
    static constexpr std::size_t kTupleCache = 4096;
    std::unique_ptr<Value *[]> m_tuples;
    std::uint64_t m_sharedNodes = 0; ///< values that reused a shared node (node budget)
    Value *m_partialRoot = nullptr;
    int m_protocol = 0;
};

} // namespace ckpt::format
