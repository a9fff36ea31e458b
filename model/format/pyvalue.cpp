// SPDX-License-Identifier: MIT
#include "pyvalue.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <iterator>
#include <new>
#include <utility>

#include <sys/mman.h>

namespace ckpt::format {

// ---------------------------------------------------------------------------------------------
// Value

bool Value::isContainer() const noexcept
{
    // Python containers holding `items`; Objects keep their children in args/state/... instead.
    switch (kind) {
    case ValueKind::Tuple:
    case ValueKind::List:
    case ValueKind::Dict:
    case ValueKind::Set:
    case ValueKind::FrozenSet:
        return true;
    default:
        return false;
    }
}

std::string_view Value::module() const noexcept
{
    if (kind != ValueKind::Global)
        return {};
    const std::string_view t(text);
    const auto nl = t.find('\n');
    return nl == std::string_view::npos ? t : t.substr(0, nl);
}

std::string_view Value::name() const noexcept
{
    if (kind != ValueKind::Global)
        return {};
    const std::string_view t(text);
    const auto nl = t.find('\n');
    return nl == std::string_view::npos ? std::string_view() : t.substr(nl + 1);
}

bool Value::isGlobal(std::string_view mod, std::string_view nm) const noexcept
{
    return kind == ValueKind::Global && text.size() == mod.size() + 1 + nm.size()
           && module() == mod && name() == nm;
}

bool Value::isCallOf(std::string_view mod, std::string_view nm) const noexcept
{
    return kind == ValueKind::Object && cls && cls->isGlobal(mod, nm);
}

Value *Value::get(std::string_view key) const noexcept
{
    if (kind != ValueKind::Dict)
        return nullptr;
    for (std::size_t i = 0; i + 1 < items.size(); i += 2) {
        const Value *k = items[i];
        if (k && k->kind == ValueKind::Str && k->text == key)
            return items[i + 1];
    }
    return nullptr;
}

bool Value::toInt(std::int64_t &out) const noexcept
{
    if (kind == ValueKind::Int) {
        out = integer;
        return true;
    }
    if (kind == ValueKind::Bool) {
        out = boolean ? 1 : 0;
        return true;
    }
    return false;
}

bool Value::toDouble(double &out) const noexcept
{
    switch (kind) {
    case ValueKind::Int:
        out = static_cast<double>(integer);
        return true;
    case ValueKind::Float:
        out = real;
        return true;
    case ValueKind::Bool:
        out = boolean ? 1.0 : 0.0;
        return true;
    default:
        return false;
    }
}

// ---------------------------------------------------------------------------------------------
// ValueGraph

ValueGraph::~ValueGraph()
{
    release();
}

ValueGraph::ValueGraph(ValueGraph &&other) noexcept
    : m_blocks(std::move(other.m_blocks))
    , m_size(std::exchange(other.m_size, 0))
    , m_next(std::exchange(other.m_next, nullptr))
    , m_end(std::exchange(other.m_end, nullptr))
    , m_none(std::exchange(other.m_none, nullptr))
    , m_true(std::exchange(other.m_true, nullptr))
    , m_false(std::exchange(other.m_false, nullptr))
    , m_ints(std::move(other.m_ints))
    , m_itemBlocks(std::move(other.m_itemBlocks))
    , m_itemsNext(std::exchange(other.m_itemsNext, nullptr))
    , m_itemsEnd(std::exchange(other.m_itemsEnd, nullptr))
    , m_itemBlockItems(std::exchange(other.m_itemBlockItems, 0))
    , m_textBlocks(std::move(other.m_textBlocks))
    , m_textNext(std::exchange(other.m_textNext, nullptr))
    , m_textEnd(std::exchange(other.m_textEnd, nullptr))
    , m_textBlockBytes(std::exchange(other.m_textBlockBytes, 0))
{
    other.m_blocks.clear();
    other.m_itemBlocks.clear();
    other.m_textBlocks.clear();
}

ValueGraph &ValueGraph::operator=(ValueGraph &&other) noexcept
{
    if (this != &other) {
        release();
        m_blocks = std::move(other.m_blocks);
        other.m_blocks.clear();
        m_size = std::exchange(other.m_size, 0);
        m_next = std::exchange(other.m_next, nullptr);
        m_end = std::exchange(other.m_end, nullptr);
        m_none = std::exchange(other.m_none, nullptr);
        m_true = std::exchange(other.m_true, nullptr);
        m_false = std::exchange(other.m_false, nullptr);
        m_ints = std::move(other.m_ints);
        m_itemBlocks = std::move(other.m_itemBlocks);
        other.m_itemBlocks.clear();
        m_itemsNext = std::exchange(other.m_itemsNext, nullptr);
        m_itemsEnd = std::exchange(other.m_itemsEnd, nullptr);
        m_itemBlockItems = std::exchange(other.m_itemBlockItems, 0);
        m_textBlocks = std::move(other.m_textBlocks);
        other.m_textBlocks.clear();
        m_textNext = std::exchange(other.m_textNext, nullptr);
        m_textEnd = std::exchange(other.m_textEnd, nullptr);
        m_textBlockBytes = std::exchange(other.m_textBlockBytes, 0);
    }
    return *this;
}

namespace {

// Node blocks come straight from mmap, 2 MiB-aligned so that each can be one huge page.
// Aligned operator new (memalign) carved them out of a larger heap chunk and gave the rest
// back as free chunks, whose headers, written into the huge pages of the heap, kept up to
// 2 MiB resident per block (about 20 MB for 100,000 tensors).
void *mapAlignedBlock(std::size_t bytes)
{
    void *p = ::mmap(nullptr, 2 * bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        throw std::bad_alloc();
    const auto at = reinterpret_cast<std::uintptr_t>(p);
    const std::uintptr_t aligned = (at + bytes - 1) & ~(static_cast<std::uintptr_t>(bytes) - 1);
    if (aligned > at)
        ::munmap(p, aligned - at);
    if (const std::size_t tail = bytes - (aligned - at))
        ::munmap(reinterpret_cast<void *>(aligned + bytes), tail);
    return reinterpret_cast<void *>(aligned);
}

/// One freed first block per thread (see ValueGraph::addBlock()).
constexpr std::size_t kSpareBlockBytes = std::size_t(2) << 20;
struct SpareBlock
{
    Value *block = nullptr;
    ~SpareBlock()
    {
        if (block)
            ::munmap(static_cast<void *>(block), kSpareBlockBytes);
    }
};
thread_local SpareBlock t_spareBlock;

} // namespace

void ValueGraph::release() noexcept
{
    static_assert(kBlockBytes == kSpareBlockBytes);
    for (std::size_t i = 0; i < m_size; ++i)
        at(i)->~Value();
    for (std::size_t b = 0; b < m_blocks.size(); ++b) {
        if (b == 0 && !t_spareBlock.block)
            t_spareBlock.block = m_blocks[b]; // kept for this thread's next graph
        else
            ::munmap(static_cast<void *>(m_blocks[b]), kBlockBytes);
    }
    m_blocks.clear();
    m_size = 0;
    m_next = m_end = nullptr;
    m_none = m_true = m_false = nullptr;
    m_ints.reset();
    for (Value **block : m_itemBlocks) // after the nodes: their lists may point in here
        ::operator delete(static_cast<void *>(block));
    m_itemBlocks.clear();
    m_itemsNext = m_itemsEnd = nullptr;
    m_itemBlockItems = 0;
    for (char *block : m_textBlocks)
        ::operator delete(static_cast<void *>(block));
    m_textBlocks.clear();
    m_textNext = m_textEnd = nullptr;
    m_textBlockBytes = 0;
}

void ValueGraph::addBlock()
{
    m_blocks.reserve(m_blocks.size() + 1);
    // A graph's first block keeps 4 KiB pages, touched as used; each thread keeps one such
    // block when its graph goes, for its next graph: a DCP directory's 40,000 records are as
    // many small graphs, and mapping and unmapping 2 MiB for each took a third of reading them.
    // Later blocks are backed by transparent huge pages.
    void *block = nullptr;
    if (m_blocks.empty() && t_spareBlock.block)
        block = std::exchange(t_spareBlock.block, nullptr);
    else
        block = mapAlignedBlock(kBlockBytes);
#ifdef MADV_HUGEPAGE
    if (!m_blocks.empty())
        ::madvise(block, kBlockBytes, MADV_HUGEPAGE);
#endif
    m_blocks.push_back(static_cast<Value *>(block));
    m_next = m_blocks.back();
    m_end = m_next + kChunk;
}

Value **ValueGraph::allocItemsSlow(std::size_t n)
{
    constexpr std::size_t kFirst = 4096 / sizeof(Value *);
    constexpr std::size_t kLargest = (std::size_t(1) << 20) / sizeof(Value *);
    m_itemBlocks.reserve(m_itemBlocks.size() + 1);
    if (n > kLargest / 4) { // a block of its own; the current one stays in use
        auto *own = static_cast<Value **>(::operator new(n * sizeof(Value *)));
        m_itemBlocks.push_back(own);
        return own;
    }
    const std::size_t items
        = std::max(n, m_itemBlockItems == 0 ? kFirst : std::min(m_itemBlockItems * 2, kLargest));
    auto *block = static_cast<Value **>(::operator new(items * sizeof(Value *)));
    m_itemBlocks.push_back(block);
    m_itemBlockItems = items;
    m_itemsNext = block + n;
    m_itemsEnd = block + items;
    return block;
}

std::string_view ValueGraph::copyTextSlow(std::string_view s)
{
    constexpr std::size_t kFirst = 4096;
    constexpr std::size_t kLargest = std::size_t(1) << 20;
    m_textBlocks.reserve(m_textBlocks.size() + 1);
    if (s.size() > kLargest / 4) { // a block of its own; the current one stays in use
        auto *own = static_cast<char *>(::operator new(s.size()));
        m_textBlocks.push_back(own);
        std::memcpy(own, s.data(), s.size());
        return {own, s.size()};
    }
    const std::size_t bytes
        = std::max(s.size(), m_textBlockBytes == 0 ? kFirst : std::min(m_textBlockBytes * 2, kLargest));
    auto *block = static_cast<char *>(::operator new(bytes));
    m_textBlocks.push_back(block);
    m_textBlockBytes = bytes;
    if (!s.empty())
        std::memcpy(block, s.data(), s.size());
    m_textNext = block + s.size();
    m_textEnd = block + bytes;
    return {block, s.size()};
}

void ValueGraph::cacheInt(Value *v)
{
    if (!m_ints)
        m_ints = std::make_unique<Value *[]>(kIntCache);
    m_ints[static_cast<std::uint64_t>(v->integer) & (kIntCache - 1)] = v;
}

Value *ValueGraph::none()
{
    if (!m_none)
        m_none = make(ValueKind::None);
    return m_none;
}

Value *ValueGraph::boolean(bool b)
{
    Value *&slot = b ? m_true : m_false;
    if (!slot) {
        slot = make(ValueKind::Bool);
        slot->boolean = b;
    }
    return slot;
}

} // namespace ckpt::format
