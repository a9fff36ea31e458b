// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <new>
#include <stdexcept>
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

struct Value;

/// The `items` of a node: a vector of Value pointers in 16 bytes (a std::vector takes 24, and
/// a graph holds over a million nodes). The items of a tuple are usually written once, into
/// memory the ValueGraph owns (adopt(); no allocation of their own, a checkpoint has 100,000s
/// of tuples); a list that grows past that moves to a buffer of its own, like a std::vector.
/// Copies are deep (own buffer), moves transfer the buffer.
class ValueList
{
public:
    using value_type = Value *;
    using iterator = Value **;
    using const_iterator = Value *const *;

    ValueList() noexcept = default;
    ValueList(std::initializer_list<Value *> items) { assign(items.begin(), items.end()); }
    ValueList(const ValueList &other) { assign(other.begin(), other.end()); }
    ValueList(ValueList &&other) noexcept
        : m_data(other.m_data), m_size(other.m_size), m_capacity(other.m_capacity)
    {
        other.m_data = nullptr;
        other.m_size = other.m_capacity = 0;
    }
    ValueList &operator=(const ValueList &other)
    {
        if (this != &other)
            assign(other.begin(), other.end());
        return *this;
    }
    ValueList &operator=(ValueList &&other) noexcept
    {
        if (this != &other) {
            release();
            m_data = other.m_data;
            m_size = other.m_size;
            m_capacity = other.m_capacity;
            other.m_data = nullptr;
            other.m_size = other.m_capacity = 0;
        }
        return *this;
    }
    ValueList &operator=(std::initializer_list<Value *> items)
    {
        assign(items.begin(), items.end());
        return *this;
    }
    ~ValueList() { release(); }

    std::size_t size() const noexcept { return m_size; }
    bool empty() const noexcept { return m_size == 0; }
    std::size_t capacity() const noexcept { return m_capacity & ~kOwned; }
    Value *&operator[](std::size_t i) noexcept { return m_data[i]; }
    Value *operator[](std::size_t i) const noexcept { return m_data[i]; }
    Value *&front() noexcept { return m_data[0]; }
    Value *front() const noexcept { return m_data[0]; }
    Value *&back() noexcept { return m_data[m_size - 1]; }
    Value *back() const noexcept { return m_data[m_size - 1]; }
    Value **data() noexcept { return m_data; }
    Value *const *data() const noexcept { return m_data; }
    iterator begin() noexcept { return m_data; }
    iterator end() noexcept { return m_data + m_size; }
    const_iterator begin() const noexcept { return m_data; }
    const_iterator end() const noexcept { return m_data + m_size; }

    void clear() noexcept { m_size = 0; }
    void pop_back() noexcept { --m_size; }
    void push_back(Value *v)
    {
        if (m_size == capacity()) [[unlikely]]
            grow(std::size_t(m_size) + 1);
        m_data[m_size++] = v;
    }
    void reserve(std::size_t n)
    {
        if (n > capacity())
            reallocate(n);
    }
    template <class It>
    void assign(It first, It last)
    {
        const auto n = static_cast<std::size_t>(last - first);
        if (n > capacity()) { // (the source may be our own items: read before releasing)
            ValueList fresh;
            fresh.reallocate(n);
            std::copy(first, last, fresh.m_data);
            fresh.m_size = static_cast<std::uint32_t>(n);
            *this = std::move(fresh);
            return;
        }
        std::copy(first, last, m_data);
        m_size = static_cast<std::uint32_t>(n);
    }
    /// Inserts [first, last) before `pos`; the range may not be part of this list.
    template <class It>
    void insert(const_iterator pos, It first, It last)
    {
        const auto at = static_cast<std::size_t>(pos - m_data);
        const auto n = static_cast<std::size_t>(last - first);
        if (n == 0)
            return;
        if (std::size_t(m_size) + n > capacity())
            grow(std::size_t(m_size) + n);
        std::memmove(m_data + at + n, m_data + at, (m_size - at) * sizeof(Value *));
        std::copy(first, last, m_data + at);
        m_size += static_cast<std::uint32_t>(n);
    }
    /// Takes `n` items the ValueGraph stores (ValueGraph::allocItems()); not freed by the list.
    void adopt(Value **items, std::size_t n) noexcept
    {
        release();
        m_data = items;
        m_size = m_capacity = static_cast<std::uint32_t>(n);
    }

    friend bool operator==(const ValueList &a, const ValueList &b) noexcept
    {
        return a.m_size == b.m_size && std::equal(a.begin(), a.end(), b.begin());
    }

    /// Most items a list can hold (its size is 32 bits; torch pickles stay far below).
    static constexpr std::size_t kMaxItems = 0x7FFFFFFF;

private:
    static constexpr std::uint32_t kOwned = 0x80000000u; ///< m_capacity flag: m_data is ours

    void grow(std::size_t needed)
    {
        if (needed > kMaxItems)
            throw std::length_error("a list of more than 2^31 - 1 items");
        reallocate(std::min(std::max({capacity() * 2, std::size_t(4), needed}), kMaxItems));
    }
    void reallocate(std::size_t n)
    {
        if (n > kMaxItems)
            throw std::length_error("a list of more than 2^31 - 1 items");
        auto *fresh = static_cast<Value **>(::operator new(n * sizeof(Value *)));
        if (m_size)
            std::memcpy(fresh, m_data, m_size * sizeof(Value *));
        if (m_capacity & kOwned)
            ::operator delete(static_cast<void *>(m_data));
        m_data = fresh;
        m_capacity = static_cast<std::uint32_t>(n) | kOwned;
    }
    void release() noexcept
    {
        if (m_capacity & kOwned)
            ::operator delete(static_cast<void *>(m_data));
        m_data = nullptr;
        m_size = m_capacity = 0;
    }

    Value **m_data = nullptr;
    std::uint32_t m_size = 0;
    std::uint32_t m_capacity = 0; ///< items m_data holds; kOwned set when we allocated it
};

/// One node of the value graph. Nodes reference each other by raw pointer; all nodes are owned
/// by a ValueGraph, so shared references (memo) and cycles are fine. Plain struct on purpose:
/// the unpickler and the interpretation pass fill it directly.
struct Value
{
    // A graph holds up to millions of nodes, and their memory is most of the time it takes to
    // read a checkpoint of many small tensors (every fresh page costs a fault and a clear):
    // the small fields share one 8-byte word, the numbers of the numeric kinds share one
    // word, and a Complex's imaginary part takes the place of `text`, which it never has.
    static constexpr std::uint64_t kMaxOffset = (std::uint64_t(1) << 48) - 1;
    std::uint64_t offset : 48 = 0;              ///< byte offset (file) of the creating opcode
                                                ///< (set with setOffset())
    ValueKind kind : 8 = ValueKind::None;
    ObjectOrigin origin : 7 = ObjectOrigin::Reduce; ///< Object only
    bool boolean : 1 = false;                   ///< Bool
    union {
        std::int64_t integer = 0;               ///< Int; Storage/Tensor: table index
        double real;                            ///< Float; Complex real part
    };
    union {
        /// Str/Bytes/ByteArray/BigInt/Global: the bytes, in memory the graph owns (set with
        /// ValueGraph::setText(); a std::string here was 32 bytes per node and an allocation
        /// per long name) or static text.
        std::string_view text{};
        double imag;                            ///< Complex imaginary part
    };
    ValueList items;                            ///< Tuple/List/Set/FrozenSet; Dict: k,v pairs
    Value *cls = nullptr;                       ///< Object: callable/class; Dict: dict class
    Value *args = nullptr;                      ///< Object: argument tuple; PersistentId: the id
    Value *state = nullptr;                     ///< Object/Dict/Tensor: BUILD state (last wins)
    /// kwargs, listItems, dictItems (in that order) of the few Objects that have any, in
    /// memory the graph owns (ValueGraph::extra()); nullptr for all other nodes.
    Value **extra = nullptr;

    /// Object (NEWOBJ_EX): keyword dict.
    Value *kwargs() const noexcept { return extra ? extra[0] : nullptr; }
    /// Object: a List node collecting APPEND(S).
    Value *listItems() const noexcept { return extra ? extra[1] : nullptr; }
    /// Object: a Dict node collecting SETITEM(S).
    Value *dictItems() const noexcept { return extra ? extra[2] : nullptr; }

    /// Offsets beyond 256 TiB (no real file) are kept as kMaxOffset.
    void setOffset(std::uint64_t o) noexcept { offset = (o < kMaxOffset ? o : kMaxOffset) & kMaxOffset; }

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

static_assert(sizeof(Value) <= 80, "Value grew: every byte is a megabyte in large checkpoints");

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
    /// The shared Int node of `i` if one is cached (offset 0, like none()), else nullptr. A
    /// torch pickle is mostly small ints (sizes, strides, offsets, numels: 5 of the 13 nodes of a
    /// tensor); see cacheInt().
    Value *cachedInt(std::int64_t i) const noexcept
    {
        if (!m_ints) [[unlikely]]
            return nullptr;
        Value *v = m_ints[static_cast<std::uint64_t>(i) & (kIntCache - 1)];
        return v && v->integer == i ? v : nullptr;
    }
    /// True for the shared None, True, False and cached Int nodes: leaves no opcode changes,
    /// each standing for every occurrence of its value.
    bool isSharedLeaf(const Value *v) const noexcept
    {
        return v && (v == m_none || v == m_true || v == m_false
                     || (v->kind == ValueKind::Int && cachedInt(v->integer) == v));
    }
    /// Makes the Int node of `i` the shared one for its value (a direct-mapped cache: it may
    /// displace another value, whose node simply stays unshared). Nodes handed out by
    /// cachedInt() must never be mutated.
    void cacheInt(Value *v);

    /// The extra fields of `v` (Value::extra), made on first use: [0] kwargs, [1] listItems,
    /// [2] dictItems.
    Value **extra(Value *v)
    {
        if (!v->extra) {
            v->extra = allocItems(3);
            v->extra[0] = v->extra[1] = v->extra[2] = nullptr;
        }
        return v->extra;
    }

    /// A copy of `s` in memory the graph owns (stable; freed with the graph).
    std::string_view copyText(std::string_view s)
    {
        if (s.size() > static_cast<std::size_t>(m_textEnd - m_textNext)) [[unlikely]]
            return copyTextSlow(s);
        char *p = m_textNext;
        if (!s.empty())
            std::memcpy(p, s.data(), s.size());
        m_textNext += s.size();
        return {p, s.size()};
    }
    /// v->text = a copy of `s` (copyText()).
    void setText(Value *v, std::string_view s) { v->text = copyText(s); }

    /// Memory for `n` item pointers, owned by the graph (for ValueList::adopt()): tuples get
    /// their items without an allocation each.
    Value **allocItems(std::size_t n)
    {
        if (n > static_cast<std::size_t>(m_itemsEnd - m_itemsNext)) [[unlikely]]
            return allocItemsSlow(n);
        Value **p = m_itemsNext;
        m_itemsNext += n;
        return p;
    }

private:
    void release() noexcept;
    void addBlock();
    Value **allocItemsSlow(std::size_t n);
    std::string_view copyTextSlow(std::string_view s);

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

    static constexpr std::size_t kIntCache = 4096; ///< slots of the shared-int cache
    std::unique_ptr<Value *[]> m_ints;             ///< made on first use (small graphs stay small)

    // Item arrays: bump allocation in blocks that double from 4 KiB to 1 MiB; a request too big
    // for that gets a block of its own (the size the std::vector would have had).
    std::vector<Value **> m_itemBlocks;
    Value **m_itemsNext = nullptr;
    Value **m_itemsEnd = nullptr;
    std::size_t m_itemBlockItems = 0; ///< size of the last regular block, in items

    // Text bytes (Value::text): bump allocation like the item arrays, in blocks of 4 KiB to
    // 1 MiB; a longer text gets a block of its own.
    std::vector<char *> m_textBlocks;
    char *m_textNext = nullptr;
    char *m_textEnd = nullptr;
    std::size_t m_textBlockBytes = 0; ///< size of the last regular block
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
