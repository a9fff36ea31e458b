// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <vector>

namespace ckpt::format {

/// Kinds of node in the value graph built by the pickle machine (and rewritten in place by
/// the torch interpretation pass, see torchlayout.h).
enum class ValueKind : std::uint8_t {
    None,
    Bool,         ///< boolean
    Int,          ///< integer fits int64
    BigInt,       ///< text = two's-complement little-endian bytes (as LONG1/LONG4 carry them)
    Float,        ///< real
    Complex,      ///< real + imag (builtins.complex)
    Str,          ///< text = UTF-8 (lone surrogates encoded as WTF-8)
    Bytes,        ///< text = raw bytes
    ByteArray,    ///< text = raw bytes
    Tuple,        ///< items
    List,         ///< items
    Dict,         ///< items = k0, v0, k1, v1, ... (insertion order); cls = class for
                  ///< OrderedDict/defaultdict/Counter (nullptr for plain dict); state = BUILD state
    Set,          ///< items
    FrozenSet,    ///< items
    Global,       ///< text = "module\nname" (after Python 2 -> 3 name mapping); see module()/name()
    Object,       ///< result of REDUCE/NEWOBJ/NEWOBJ_EX/INST/OBJ: cls, args, kwargs, state,
                  ///< listItems (APPEND onto it), dictItems (SETITEM onto it)
    PersistentId, ///< args = the persistent id value (BINPERSID/PERSID); resolved by the container
    Storage,      ///< interpreted: integer = index into the reader's storage table
    Tensor,       ///< interpreted: integer = index into the reader's tensor table
};

/// How an Object node came to be.
enum class ObjectOrigin : std::uint8_t { Reduce, NewObj, NewObjEx, Inst, Obj };

/// One node of the value graph. Nodes reference each other by raw pointer; all nodes are owned
/// by a ValueGraph, so shared references (memo) and cycles are fine. Plain struct on purpose:
/// the unpickler and the interpretation pass fill it directly.
struct Value
{
    ValueKind kind = ValueKind::None;
    ObjectOrigin origin = ObjectOrigin::Reduce; ///< Object only
    bool boolean = false;                       ///< Bool
    std::int64_t integer = 0;                   ///< Int; Storage/Tensor: table index
    double real = 0;                            ///< Float; Complex real part
    double imag = 0;                            ///< Complex imaginary part
    std::uint64_t offset = 0;                   ///< byte offset (file) of the creating opcode
    std::string text;                           ///< Str/Bytes/ByteArray/BigInt/Global
    std::vector<Value *> items;                 ///< Tuple/List/Set/FrozenSet; Dict: k,v pairs
    Value *cls = nullptr;                       ///< Object: callable/class; Dict: dict class
    Value *args = nullptr;                      ///< Object: argument tuple; PersistentId: the id
    Value *kwargs = nullptr;                    ///< Object (NEWOBJ_EX): keyword dict
    Value *state = nullptr;                     ///< Object/Dict/Tensor: BUILD state (last wins)
    Value *listItems = nullptr;                 ///< Object: a List node collecting APPEND(S)
    Value *dictItems = nullptr;                 ///< Object: a Dict node collecting SETITEM(S)

    bool isContainer() const noexcept;
    /// Global: module and name parts of `text`.
    std::string_view module() const noexcept;
    std::string_view name() const noexcept;
    bool isGlobal(std::string_view module, std::string_view name) const noexcept;
    /// Object whose class is the given global.
    bool isCallOf(std::string_view module, std::string_view name) const noexcept;
    /// Dict entries.
    std::size_t dictSize() const noexcept { return items.size() / 2; }
    Value *dictKey(std::size_t i) const noexcept { return items[2 * i]; }
    Value *dictValue(std::size_t i) const noexcept { return items[2 * i + 1]; }
    /// Dict lookup by string key (nullptr when absent or not a dict).
    Value *get(std::string_view key) const noexcept;
    /// Int (or Bool) as int64; false when the node is not an integer.
    bool toInt(std::int64_t &out) const noexcept;
    /// Int/Float/Bool as double.
    bool toDouble(double &out) const noexcept;
};

/// Owns every node of one parse. Addresses are stable (chunked storage), nodes are never freed
/// individually. Not thread-safe while being built; immutable afterwards.
class ValueGraph
{
public:
    ValueGraph() = default;
    ~ValueGraph();
    ValueGraph(const ValueGraph &) = delete;
    ValueGraph &operator=(const ValueGraph &) = delete;
    ValueGraph(ValueGraph &&other) noexcept;
    ValueGraph &operator=(ValueGraph &&other) noexcept;

    Value *make(ValueKind kind)
    {
        if (m_next == m_end) [[unlikely]]
            addBlock();
        Value *v = ::new (static_cast<void *>(m_next++)) Value;
        ++m_size;
        v->kind = kind;
        return v;
    }
    std::size_t size() const noexcept { return m_size; }
    /// The i-th node made (creation order = pickle order).
    Value *at(std::size_t i) noexcept { return m_blocks[i / kChunk] + i % kChunk; }

    /// Shared immutable nodes (None, True, False, the empty tuple) to keep graphs small.
    Value *none();
    Value *boolean(bool b);

private:
    void release() noexcept;
    void addBlock();

    // Nodes live in 2 MiB blocks (stable addresses, one allocation per ~14,000 nodes), each
    // node constructed when made. Blocks after the first are backed by transparent huge pages
    // where available: a 100,000-tensor checkpoint makes over a million nodes, and 4 KiB page
    // faults were a third of its reading time.
    static constexpr std::size_t kBlockBytes = std::size_t(2) << 20;
    static constexpr std::size_t kChunk = kBlockBytes / sizeof(Value);
    std::vector<Value *> m_blocks;
    std::size_t m_size = 0;
    Value *m_next = nullptr; ///< where the next node goes in the last block
    Value *m_end = nullptr;  ///< end of the last block
    Value *m_none = nullptr;
    Value *m_true = nullptr;
    Value *m_false = nullptr;
};

/// Python's repr() of a value, as PRODUCT.md section 4 uses for non-str dict keys and as the
/// key/value views show plain values: `0`, `1.5`, `True`, `None`, `'a'`, `('a', 1)`, `b'x'`.
/// Containers deeper than `maxDepth` or longer than `maxItems` are elided with `...`.
std::string pyRepr(const Value *v, int maxDepth = 8, std::size_t maxItems = 64);
/// Python's repr() of a float (shortest round-trip, `1.0`, `1e-05`, `inf`, `nan`).
std::string pyFloatRepr(double d);
/// Python's repr() of a str.
std::string pyStrRepr(std::string_view utf8);
/// Decimal text of a BigInt node's two's-complement bytes.
std::string bigIntToDecimal(std::string_view twosComplementLe);

} // namespace ckpt::format
