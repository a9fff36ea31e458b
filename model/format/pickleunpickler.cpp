// SPDX-License-Identifier: MIT
#include "pickleunpickler.h"

#include "pickleops.h"
#include "pythonnames.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <string_view>
#include <unordered_map>

// Choices the spec leaves open (FORMAT.md 6.2):
//  * Python 2 `STRING`/`BINSTRING`/`SHORT_BINSTRING` bytes become a Str: kept as they are when
//    they are valid UTF-8 (torch.load's default encoding), else decoded as Latin-1.
//  * `BINUNICODE`-style text is kept byte for byte (WTF-8 with lone surrogates, or even invalid
//    UTF-8); nothing is replaced, pyStrRepr() shows invalid bytes as `\udcXX`.
//  * Text integers (`INT`, `LONG`) are decimal with an optional sign; like CPython
//    (sys.int_max_str_digits) more than 4300 digits are refused.
//  * Python 2 -> 3 names (CPython's _compat_pickle tables) are mapped only while the current
//    protocol is < 3, as `fix_imports` does; torch's `torch.tensor` -> `torch._tensor` module
//    rename is applied whatever the protocol, as torch.load does.
//  * Like CPython, STOP takes the value on top of the stack; marks or values left below it are
//    ignored.
//  * Duplicate dict keys (and set items) are detected for str/bytes/int/bool/float keys by value
//    (1 == True == 1.0 as in Python), for any other key by identity.

namespace ckpt::format {

namespace {

using Kind = FormatError::Kind;
using namespace pickle;

// --- text helpers ---------------------------------------------------------------------------------

bool isUtf8(std::string_view s) noexcept
{
    std::size_t i = 0;
    const std::size_t n = s.size();
    const auto *p = reinterpret_cast<const std::uint8_t *>(s.data());
    while (i < n) {
        const std::uint8_t c = p[i];
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t len = 0;
        std::uint8_t lo = 0x80;
        std::uint8_t hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0)
                lo = 0xA0;
            else if (c == 0xED)
                hi = 0x9F; // no surrogates (strict UTF-8, as torch.load's decode)
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;
        } else {
            return false;
        }
        if (n - i < len || p[i + 1] < lo || p[i + 1] > hi)
            return false;
        for (std::size_t k = 2; k < len; ++k)
            if ((p[i + k] & 0xC0) != 0x80)
                return false;
        i += len;
    }
    return true;
}

void appendUtf8(std::string &out, std::uint32_t cp)
{
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) { // surrogates end up here too (WTF-8)
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

/// Python 2 byte strings: UTF-8 if valid, else Latin-1.
void assignPython2String(std::string &out, std::string_view bytes)
{
    if (isUtf8(bytes)) {
        out.assign(bytes);
        return;
    }
    out.clear();
    out.reserve(bytes.size() * 2);
    for (char c : bytes)
        appendUtf8(out, static_cast<std::uint8_t>(c));
}

int hexValue(char c) noexcept
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

std::string_view trimSpaces(std::string_view s) noexcept
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

/// Two's-complement little-endian bytes -> minimal length (drops redundant sign bytes).
std::size_t minimalLength(const std::uint8_t *p, std::size_t n) noexcept
{
    while (n > 1) {
        const std::uint8_t last = p[n - 1];
        const bool prevNeg = (p[n - 2] & 0x80) != 0;
        if ((last == 0x00 && !prevNeg) || (last == 0xFF && prevNeg))
            --n;
        else
            break;
    }
    return n;
}

std::int64_t signExtend(const std::uint8_t *p, std::size_t n) noexcept
{
    std::uint64_t v = 0;
    for (std::size_t i = n; i-- > 0;)
        v = (v << 8) | p[i];
    if (n < 8 && n > 0 && (p[n - 1] & 0x80))
        v |= ~std::uint64_t(0) << (8 * n);
    return static_cast<std::int64_t>(v);
}

// --- dict keys ----------------------------------------------------------------------------------

enum KeyClass : std::uint8_t { kIdentity, kNumber, kFloatBits, kStr, kBytes, kBigInt };

struct KeyId
{
    KeyClass cls;
    std::int64_t num;
    std::string_view text;
    bool operator==(const KeyId &o) const noexcept
    {
        return cls == o.cls && num == o.num && text == o.text;
    }
};

KeyId keyOf(const Value *k) noexcept
{
    switch (k->kind) {
    case ValueKind::Int:
        return {kNumber, k->integer, {}};
    case ValueKind::Bool:
        return {kNumber, k->boolean ? 1 : 0, {}};
    case ValueKind::Float: {
        const double d = k->real;
        if (std::isnan(d))
            break; // NaN equals only itself
        if (d == std::trunc(d) && d >= -9.2233720368547758e18 && d < 9.2233720368547758e18)
            return {kNumber, static_cast<std::int64_t>(d), {}};
        return {kFloatBits, std::bit_cast<std::int64_t>(d), {}};
    }
    case ValueKind::Str:
        return {kStr, 0, k->text};
    case ValueKind::Bytes:
        return {kBytes, 0, k->text};
    case ValueKind::BigInt:
        return {kBigInt, 0, k->text};
    default:
        break;
    }
    return {kIdentity, static_cast<std::int64_t>(reinterpret_cast<std::uintptr_t>(k)), {}};
}

std::uint64_t hashKey(const KeyId &id) noexcept
{
    std::uint64_t h;
    if (id.cls == kStr || id.cls == kBytes || id.cls == kBigInt) {
        h = std::hash<std::string_view>{}(id.text);
    } else {
        h = static_cast<std::uint64_t>(id.num); // splitmix64 finaliser
        h ^= h >> 30;
        h *= 0xbf58476d1ce4e5b9ULL;
        h ^= h >> 27;
        h *= 0x94d049bb133111ebULL;
        h ^= h >> 31;
    }
    h += id.cls * 0x9e3779b97f4a7c15ULL;
    return h ^ (h << 32); // both halves matter: the low one picks the slot, the high one is the tag
}

/// Open-addressing index over the keys of one dict (or the items of one set) being built.
/// A slot holds entry index + 1 (low 32 bits; 0 = empty) and the upper half of the key's hash,
/// so that probing rarely has to touch the key nodes themselves.
struct KeyIndex
{
    std::vector<std::uint64_t> slots;
    std::size_t used = 0;
};

constexpr std::size_t kIndexThreshold = 16; ///< entries before a container gets a hash index

/// The machine's value stack: a vector whose hot operations stay inline in run() (a
/// std::vector's push_back was an out-of-line call per opcode there).
class ValueStack
{
public:
    [[gnu::always_inline]] std::size_t size() const noexcept { return m_size; }
    bool empty() const noexcept { return m_size == 0; }
    [[gnu::always_inline]] void push_back(Value *v)
    {
        if (m_size == m_data.size()) [[unlikely]]
            grow();
        m_data[m_size++] = v;
    }
    [[gnu::always_inline]] void pop_back() noexcept { --m_size; }
    [[gnu::always_inline]] Value *&back() noexcept { return m_data[m_size - 1]; }
    Value *front() const noexcept { return m_data[0]; }
    [[gnu::always_inline]] Value *&operator[](std::size_t i) noexcept { return m_data[i]; }
    Value **begin() noexcept { return m_data.data(); }
    Value **end() noexcept { return m_data.data() + m_size; }
    void resize(std::size_t n)
    {
        while (n > m_data.size())
            grow();
        for (std::size_t i = m_size; i < n; ++i)
            m_data[i] = nullptr;
        m_size = n;
    }
    void reserve(std::size_t n)
    {
        if (n > m_data.size())
            m_data.resize(n);
    }

private:
    [[gnu::noinline]] void grow() { m_data.resize(m_data.empty() ? 256 : m_data.size() * 2); }

    std::vector<Value *> m_data;
    std::size_t m_size = 0;
};

} // namespace

// ---------------------------------------------------------------------------------------------

struct PickleUnpickler::Impl
{
    Impl(PickleUnpickler &owner, ByteView view, std::uint64_t start, std::uint64_t baseOffset,
         const std::string &recordName, bool offsetInRecord)
        : self(owner)
        , graph(owner.m_graph)
        , limits(owner.m_limits)
        , data(view.data)
        , size(view.size)
        , pos(start)
        , base(baseOffset)
        , record(recordName)
        , inRecord(offsetInRecord)
    {
        stack.reserve(256);
        marks.reserve(64);
    }

    PickleUnpickler &self;
    ValueGraph &graph;
    const UnpickleLimits &limits;
    const std::uint8_t *data;
    std::uint64_t size;
    std::uint64_t pos;
    std::uint64_t opPos = 0;
    std::uint64_t base;
    const std::string &record;
    bool inRecord;
    std::uint8_t op = 0;
    int proto = 0;

    ValueStack stack;
    std::vector<std::size_t> marks;
    std::vector<Value *> memo;                         ///< dense part
    std::unordered_map<std::uint64_t, Value *> sparse; ///< indices far beyond the dense part
    std::uint64_t memoCount = 0;                       ///< distinct memo entries (len(memo))
    std::unordered_map<const Value *, KeyIndex> keyIndexes;
    std::string scratch; ///< text being decoded before it goes to the graph (setText())

    // --- errors ---------------------------------------------------------------------------------

    [[noreturn]] void fail(Kind kind, const std::string &message) const
    {
        throw FormatError(kind, message, record, base + opPos, inRecord);
    }

    std::string name() const
    {
        const char *n = opName(op);
        return n ? std::string(n) : std::string("opcode");
    }

    // --- reading --------------------------------------------------------------------------------

    // The hot checks below stay tiny (inlined into run()); their messages are built in cold
    // out-of-line functions.
    [[gnu::always_inline]] void need(std::uint64_t n, const char *what)
    {
        if (n > size - pos) [[unlikely]]
            failNeed(n, what);
    }
    [[noreturn, gnu::cold, gnu::noinline]] void failNeed(std::uint64_t n, const char *what) const
    {
        fail(Kind::Truncated, name() + " " + what + " needs " + std::to_string(n)
                                  + " bytes, only " + std::to_string(size - pos) + " remain");
    }
    std::uint8_t readU1()
    {
        need(1, "argument");
        return data[pos++];
    }
    std::uint16_t readU2()
    {
        need(2, "argument");
        const auto v = loadLe16(data + pos);
        pos += 2;
        return v;
    }
    std::uint32_t readU4()
    {
        need(4, "argument");
        const auto v = loadLe32(data + pos);
        pos += 4;
        return v;
    }
    std::uint64_t readU8()
    {
        need(8, "argument");
        const auto v = loadLe64(data + pos);
        pos += 8;
        return v;
    }
    /// `n` bytes of payload, checked against what remains before anything is allocated.
    std::string_view readBytes(std::uint64_t n)
    {
        need(n, "payload");
        const std::string_view v(reinterpret_cast<const char *>(data + pos), static_cast<std::size_t>(n));
        pos += n;
        return v;
    }
    std::uint64_t readLength4Signed()
    {
        const auto len = static_cast<std::int32_t>(readU4());
        if (len < 0)
            fail(Kind::Corrupt, name() + " with negative length " + std::to_string(len));
        return static_cast<std::uint64_t>(len);
    }
    /// Text argument up to '\n' (not included).
    std::string_view readLine()
    {
        const auto *start = data + pos;
        const auto *nl = static_cast<const std::uint8_t *>(std::memchr(start, '\n', static_cast<std::size_t>(size - pos)));
        if (!nl)
            fail(Kind::Truncated, name() + " argument is not terminated by a newline before the end of the pickle");
        pos = static_cast<std::uint64_t>(nl - data) + 1;
        return {reinterpret_cast<const char *>(start), static_cast<std::size_t>(nl - start)};
    }

    // --- nodes and stack ------------------------------------------------------------------------

    [[gnu::always_inline]] void chargeNode()
    {
        // Shared int and tuple nodes count as the nodes they stand for: the budget is unchanged
        // by sharing.
        if (graph.size() + self.m_sharedNodes >= limits.maxNodes) [[unlikely]]
            failNodes();
    }
    [[gnu::always_inline]] Value *make(ValueKind kind)
    {
        chargeNode();
        Value *v = graph.make(kind);
        v->setOffset(base + opPos);
        return v;
    }
    [[noreturn, gnu::cold, gnu::noinline]] void failNodes() const
    {
        fail(Kind::LimitExceeded, name() + ": the value graph exceeds " + std::to_string(limits.maxNodes) + " nodes");
    }

    [[gnu::always_inline]] void push(Value *v)
    {
        if (stack.size() + marks.size() >= limits.maxStack) [[unlikely]]
            failStack();
        stack.push_back(v);
    }
    [[noreturn, gnu::cold, gnu::noinline]] void failStack() const
    {
        fail(Kind::LimitExceeded, name() + ": the stack exceeds " + std::to_string(limits.maxStack) + " entries");
    }

    std::size_t fence() const noexcept { return marks.empty() ? 0 : marks.back(); }

    /// Requires `n` values above the last mark.
    [[gnu::always_inline]] void requireStack(std::size_t n)
    {
        if (stack.size() - fence() < n) [[unlikely]]
            failRequire(n);
    }
    [[noreturn, gnu::cold, gnu::noinline]] void failRequire(std::size_t n) const
    {
        const std::size_t have = stack.size() - fence();
        fail(Kind::Corrupt, name() + " needs " + std::to_string(n) + (n == 1 ? " value" : " values")
                                    + " on the stack" + (marks.empty() ? "" : " above the last MARK")
                                    + ", found " + std::to_string(have));
    }

    Value *pop()
    {
        requireStack(1);
        Value *v = stack.back();
        stack.pop_back();
        return v;
    }

    Value *top()
    {
        requireStack(1);
        return stack.back();
    }

    /// Pops the last mark; returns the stack position it recorded.
    std::size_t popMark()
    {
        if (marks.empty())
            fail(Kind::Corrupt, name() + " without a MARK (unbalanced MARK)");
        const std::size_t m = marks.back();
        marks.pop_back();
        return m;
    }

    /// A tuple of up to kMaxSharedTuple shared leaves (ValueGraph::isSharedLeaf()) is itself
    /// shared by content, like the leaves: a torch pickle writes a size and a stride tuple per
    /// tensor, mostly the same few ((64, 3, 3, 3), (27, 9, 3, 1)), and they were two of the nine
    /// nodes of each tensor. A tuple is immutable (no opcode changes one, the interpretation
    /// pass only reads them), so only its identity and `offset` (that of its first occurrence)
    /// tell the difference.
    static constexpr std::size_t kMaxSharedTuple = 6;
    Value **sharedTupleSlot(std::size_t from)
    {
        const std::size_t n = stack.size() - from;
        if (n == 0 || n > kMaxSharedTuple)
            return nullptr;
        std::uint64_t h = n;
        for (std::size_t i = from; i < stack.size(); ++i) {
            if (!graph.isSharedLeaf(stack[i]))
                return nullptr;
            h = (h ^ static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(stack[i]))) * 0x9E3779B97F4A7C15ULL;
        }
        if (!self.m_tuples)
            self.m_tuples = std::make_unique<Value *[]>(PickleUnpickler::kTupleCache);
        return &self.m_tuples[(h >> 32) & (PickleUnpickler::kTupleCache - 1)];
    }

    Value *makeTuple(std::size_t from)
    {
        const std::size_t n = stack.size() - from;
        if (n > ValueList::kMaxItems) [[unlikely]]
            fail(Kind::LimitExceeded, name() + ": a tuple of more than " + std::to_string(ValueList::kMaxItems) + " items");
        Value **slot = sharedTupleSlot(from);
        if (slot && *slot && (*slot)->items.size() == n
            && std::equal(stack.begin() + static_cast<std::ptrdiff_t>(from), stack.end(), (*slot)->items.begin())) {
            chargeNode();
            ++self.m_sharedNodes;
            stack.resize(from);
            return *slot;
        }
        Value *t = make(ValueKind::Tuple);
        if (slot) // (direct-mapped: the newest tuple of a slot is the one shared)
            *slot = t;
        if (n) { // items in the graph's memory: no allocation per tuple
            Value **items = graph.allocItems(n);
            std::copy(stack.begin() + static_cast<std::ptrdiff_t>(from), stack.end(), items);
            t->items.adopt(items, n);
        }
        stack.resize(from);
        return t;
    }

    /// Int nodes are shared by value (ValueGraph::cachedInt()): their offset is 0, as for
    /// None and the booleans, since one node stands for every occurrence.
    Value *makeInt(std::int64_t i)
    {
        if (Value *shared = graph.cachedInt(i)) {
            chargeNode();
            ++self.m_sharedNodes;
            return shared;
        }
        Value *v = make(ValueKind::Int);
        v->integer = i;
        v->setOffset(0);
        graph.cacheInt(v);
        return v;
    }

    /// Int from two's-complement little-endian bytes (BigInt beyond int64).
    Value *makeLong(const std::uint8_t *p, std::size_t n)
    {
        if (n == 0)
            return makeInt(0);
        n = minimalLength(p, n);
        if (n <= 8)
            return makeInt(signExtend(p, n));
        Value *v = make(ValueKind::BigInt);
        graph.setText(v, std::string_view(reinterpret_cast<const char *>(p), n));
        return v;
    }

    Value *makeStr(std::string_view s)
    {
        Value *v = make(ValueKind::Str);
        graph.setText(v, s);
        return v;
    }

    // --- memo -----------------------------------------------------------------------------------

    [[gnu::always_inline]] void memoPut(std::uint64_t idx, Value *v)
    {
        if (idx == memo.size() && sparse.empty() && memoCount == idx && memoCount < limits.maxMemo
            && memo.size() < memo.capacity()) [[likely]] {
            // The usual case (pickler numbering): the next dense index (inline in run()).
            ++memoCount;
            memo.push_back(v);
            return;
        }
        memoPutSlow(idx, v);
    }
    [[gnu::noinline]] void memoPutSlow(std::uint64_t idx, Value *v)
    {
        if (idx == memo.size() && sparse.empty() && memoCount == idx) {
            newMemoEntry();
            memo.push_back(v);
            return;
        }
        if (idx < memo.size()) {
            if (!memo[idx])
                countNewDenseEntry(idx);
            memo[idx] = v;
            return;
        }
        // Grow the dense part only in proportion to what is stored, so that one huge index
        // (LONG_BINPUT 4000000000) cannot allocate billions of slots.
        if (idx <= 2 * memoCount + 4096) {
            countNewDenseEntry(idx);
            memo.resize(static_cast<std::size_t>(idx) + 1, nullptr);
            memo[idx] = v;
            return;
        }
        auto [it, inserted] = sparse.try_emplace(idx, v);
        if (inserted)
            newMemoEntry();
        else
            it->second = v;
    }

    /// A dense slot gets filled: a new entry unless the index lived in the sparse part.
    void countNewDenseEntry(std::uint64_t idx)
    {
        if (sparse.empty() || sparse.erase(idx) == 0)
            newMemoEntry();
    }

    void newMemoEntry()
    {
        if (++memoCount > limits.maxMemo) [[unlikely]]
            fail(Kind::LimitExceeded, name() + ": the memo exceeds " + std::to_string(limits.maxMemo) + " entries");
    }

    Value *memoGet(std::uint64_t idx)
    {
        if (idx < memo.size() && memo[idx])
            return memo[idx];
        if (!sparse.empty())
            if (const auto it = sparse.find(idx); it != sparse.end())
                return it->second;
        fail(Kind::Corrupt, name() + " of memo index " + std::to_string(idx) + " that was never stored");
    }

    // --- text integers and floats ---------------------------------------------------------------

    Value *parseTextInt(std::string_view text)
    {
        text = trimSpaces(text);
        bool negative = false;
        if (!text.empty() && (text.front() == '-' || text.front() == '+')) {
            negative = text.front() == '-';
            text.remove_prefix(1);
        }
        if (text.empty() || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
            fail(Kind::Corrupt, name() + " argument is not a decimal integer");
        while (text.size() > 1 && text.front() == '0')
            text.remove_prefix(1);
        if (text.size() > 4300)
            fail(Kind::LimitExceeded, name() + " argument has more than 4300 digits");
        if (text.size() <= 18) {
            std::int64_t v = 0;
            for (char c : text)
                v = v * 10 + (c - '0');
            return makeInt(negative ? -v : v);
        }
        // Arbitrary precision: base 2^32 limbs, little-endian.
        std::vector<std::uint32_t> limbs;
        limbs.reserve(text.size() / 9 + 2);
        for (std::size_t i = 0; i < text.size();) {
            const std::size_t chunk = std::min<std::size_t>(9, text.size() - i);
            std::uint32_t part = 0;
            std::uint32_t scale = 1;
            for (std::size_t k = 0; k < chunk; ++k) {
                part = part * 10 + static_cast<std::uint32_t>(text[i + k] - '0');
                scale *= 10;
            }
            i += chunk;
            std::uint64_t carry = part;
            for (auto &l : limbs) {
                const std::uint64_t cur = static_cast<std::uint64_t>(l) * scale + carry;
                l = static_cast<std::uint32_t>(cur);
                carry = cur >> 32;
            }
            if (carry)
                limbs.push_back(static_cast<std::uint32_t>(carry));
        }
        std::vector<std::uint8_t> bytes;
        bytes.reserve(limbs.size() * 4 + 1);
        for (std::uint32_t l : limbs)
            for (int k = 0; k < 4; ++k)
                bytes.push_back(static_cast<std::uint8_t>(l >> (8 * k)));
        bytes.push_back(0); // sign byte: the magnitude is non-negative
        if (negative) {
            unsigned carry = 1;
            for (auto &b : bytes) {
                const unsigned s = static_cast<std::uint8_t>(~b) + carry;
                b = static_cast<std::uint8_t>(s);
                carry = s >> 8;
            }
        }
        return makeLong(bytes.data(), bytes.size());
    }

    /// Decimal memo index of GET/PUT.
    std::uint64_t parseTextIndex(std::string_view text)
    {
        text = trimSpaces(text);
        if (!text.empty() && text.front() == '+')
            text.remove_prefix(1);
        std::uint64_t v = 0;
        const auto res = std::from_chars(text.data(), text.data() + text.size(), v);
        if (text.empty() || res.ptr != text.data() + text.size())
            fail(Kind::Corrupt, name() + " argument is not a memo index");
        if (res.ec == std::errc::result_out_of_range)
            fail(Kind::Corrupt, name() + " of a memo index too large to exist");
        return v;
    }

    /// Rough decimal exponent of a float literal (digits before the point + exponent), to tell
    /// an overflow from an underflow.
    static std::int64_t decimalMagnitude(std::string_view t) noexcept
    {
        std::int64_t mag = 0;
        std::size_t i = 0;
        bool seenNonZero = false;
        for (; i < t.size() && t[i] >= '0' && t[i] <= '9'; ++i) {
            seenNonZero |= t[i] != '0';
            if (seenNonZero)
                ++mag;
        }
        if (i < t.size() && t[i] == '.') {
            for (++i; i < t.size() && t[i] >= '0' && t[i] <= '9'; ++i) {
                if (seenNonZero)
                    continue;
                if (t[i] != '0')
                    seenNonZero = true;
                else
                    --mag;
            }
        }
        if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
            ++i;
            bool neg = false;
            if (i < t.size() && (t[i] == '+' || t[i] == '-'))
                neg = t[i++] == '-';
            std::int64_t e = 0;
            for (; i < t.size() && t[i] >= '0' && t[i] <= '9'; ++i)
                e = std::min<std::int64_t>(e * 10 + (t[i] - '0'), 1'000'000'000);
            mag += neg ? -e : e;
        }
        return mag;
    }

    double parseTextFloat(std::string_view text)
    {
        text = trimSpaces(text);
        bool negative = false;
        if (!text.empty() && (text.front() == '+' || text.front() == '-')) {
            negative = text.front() == '-';
            text.remove_prefix(1);
        }
        double d = 0;
        const auto res = std::from_chars(text.data(), text.data() + text.size(), d);
        if (text.empty() || res.ec == std::errc::invalid_argument || res.ptr != text.data() + text.size()
            || text.front() == '-' || text.front() == '+')
            fail(Kind::Corrupt, name() + " argument is not a float");
        if (res.ec == std::errc::result_out_of_range) {
            // CPython's load_float raises on overflow; underflow gives 0.
            if (decimalMagnitude(text) > 0)
                fail(Kind::Corrupt, name() + " argument overflows a double");
            d = 0.0;
        }
        return negative ? -d : d;
    }

    /// Python's escape_decode of a STRING argument (between the quotes).
    std::string decodeStringEscapes(std::string_view s)
    {
        std::string out;
        out.reserve(s.size());
        for (std::size_t i = 0; i < s.size(); ++i) {
            const char c = s[i];
            if (c != '\\') {
                out += c;
                continue;
            }
            if (++i >= s.size())
                fail(Kind::Corrupt, name() + " argument ends with a lone backslash");
            const char e = s[i];
            switch (e) {
            case '\n': break;
            case '\\': out += '\\'; break;
            case '\'': out += '\''; break;
            case '"': out += '"'; break;
            case 'a': out += '\a'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case 'v': out += '\v'; break;
            case 'x': {
                const int hi = i + 1 < s.size() ? hexValue(s[i + 1]) : -1;
                const int lo = i + 2 < s.size() ? hexValue(s[i + 2]) : -1;
                if (hi < 0 || lo < 0)
                    fail(Kind::Corrupt, name() + " argument has an invalid \\x escape");
                out += static_cast<char>(hi * 16 + lo);
                i += 2;
                break;
            }
            default:
                if (e >= '0' && e <= '7') {
                    unsigned v = static_cast<unsigned>(e - '0');
                    for (int k = 0; k < 2 && i + 1 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '7'; ++k)
                        v = v * 8 + static_cast<unsigned>(s[++i] - '0');
                    out += static_cast<char>(v & 0xFF);
                } else { // unknown escapes are kept as they are
                    out += '\\';
                    out += e;
                }
            }
        }
        return out;
    }

    /// raw-unicode-escape (UNICODE): bytes are Latin-1 code points except `\uXXXX` and
    /// `\UXXXXXXXX` after an odd number of backslashes.
    void decodeRawUnicodeEscape(std::string_view s, std::string &out)
    {
        out.reserve(s.size());
        std::size_t i = 0;
        while (i < s.size()) {
            const auto c = static_cast<std::uint8_t>(s[i]);
            if (c != '\\') {
                appendUtf8(out, c);
                ++i;
                continue;
            }
            std::size_t run = 0;
            while (i < s.size() && s[i] == '\\') {
                out += '\\';
                ++run;
                ++i;
            }
            if ((run & 1) == 0 || i >= s.size() || (s[i] != 'u' && s[i] != 'U'))
                continue;
            out.pop_back();
            const std::size_t digits = s[i] == 'u' ? 4 : 8;
            ++i;
            if (s.size() - i < digits)
                fail(Kind::Corrupt, name() + " argument has a truncated \\u escape");
            std::uint32_t cp = 0;
            for (std::size_t k = 0; k < digits; ++k) {
                const int h = hexValue(s[i + k]);
                if (h < 0)
                    fail(Kind::Corrupt, name() + " argument has a truncated \\u escape");
                cp = cp * 16 + static_cast<std::uint32_t>(h);
            }
            if (cp > 0x10FFFF)
                fail(Kind::Corrupt, name() + " argument has a \\U escape out of range");
            i += digits;
            appendUtf8(out, cp);
        }
    }

    // --- globals --------------------------------------------------------------------------------

    /// Makes the Global node for "module\nname" (mapping Python 2 names) and records it.
    Value *makeGlobal(std::string_view module, std::string_view nm)
    {
        Value *g = make(ValueKind::Global);
        std::string &text = scratch;
        text.reserve(module.size() + nm.size() + 1);
        text.assign(module);
        text += '\n';
        text.append(nm);
        if (proto < 3)
            mapPython2Name(text);
        if (text.starts_with("torch.tensor\n"))
            text.replace(0, 12, "torch._tensor");
        graph.setText(g, text);
        auto [it, inserted] = self.m_globalIndex.try_emplace(std::string(g->text), self.m_globals.size());
        if (inserted) {
            GlobalUse use;
            use.module = std::string(g->module());
            use.name = std::string(g->name());
            use.count = 1;
            use.firstOffset = base + opPos;
            use.record = record;
            use.cls = classifyGlobal(use.module, use.name);
            self.m_globals.push_back(std::move(use));
        } else {
            ++self.m_globals[it->second].count;
        }
        return g;
    }

    // --- containers -----------------------------------------------------------------------------

    /// Adds `key` (and `value` for a dict, stride 2) to `c` unless an equal key is present; a
    /// dict then gets the new value in place (Python keeps the first key object).
    void addKeyed(Value *c, unsigned stride, KeyIndex *&index, Value *key, Value *value)
    {
        auto &items = c->items;
        const std::size_t n = items.size() / stride;
        const KeyId id = keyOf(key);
        if (!index && n >= kIndexThreshold)
            index = &indexFor(c, stride);
        if (!index) {
            for (std::size_t e = 0; e < n; ++e) {
                const Value *k = items[e * stride];
                if (k == key || keyOf(k) == id) {
                    if (stride == 2)
                        items[e * 2 + 1] = value;
                    return;
                }
            }
            items.push_back(key);
            if (stride == 2)
                items.push_back(value);
            return;
        }
        const std::size_t mask = index->slots.size() - 1;
        const std::uint64_t h = hashKey(id);
        const std::uint64_t tag = h & 0xFFFFFFFF00000000ULL;
        std::size_t slot = static_cast<std::size_t>(h) & mask;
        for (;; slot = (slot + 1) & mask) {
            const std::uint64_t s = index->slots[slot];
            if (!s)
                break;
            if ((s & 0xFFFFFFFF00000000ULL) != tag)
                continue;
            const std::size_t e = static_cast<std::uint32_t>(s) - 1;
            const Value *k = items[e * stride];
            if (k == key || keyOf(k) == id) {
                if (stride == 2)
                    items[e * 2 + 1] = value;
                return;
            }
        }
        items.push_back(key);
        if (stride == 2)
            items.push_back(value);
        index->slots[slot] = tag | static_cast<std::uint32_t>(n + 1);
        if (++index->used * 2 > index->slots.size())
            rehash(c, stride, *index, index->slots.size() * 4);
    }

    KeyIndex &indexFor(Value *c, unsigned stride)
    {
        auto [it, inserted] = keyIndexes.try_emplace(c);
        if (inserted)
            rehash(c, stride, it->second, 64);
        return it->second;
    }

    void rehash(const Value *c, unsigned stride, KeyIndex &index, std::size_t slots)
    {
        const std::size_t n = c->items.size() / stride;
        while (slots < 2 * n + 2)
            slots *= 2;
        index.slots.assign(slots, 0);
        index.used = n;
        const std::size_t mask = slots - 1;
        for (std::size_t e = 0; e < n; ++e) {
            const std::uint64_t h = hashKey(keyOf(c->items[e * stride]));
            std::size_t slot = static_cast<std::size_t>(h) & mask;
            while (index.slots[slot])
                slot = (slot + 1) & mask;
            index.slots[slot] = (h & 0xFFFFFFFF00000000ULL) | static_cast<std::uint32_t>(e + 1);
        }
    }

    /// The Dict that SETITEM(S) fill: a dict itself, or an Object's lazy dictItems.
    Value *dictTarget(Value *target)
    {
        if (target->kind == ValueKind::Dict)
            return target;
        if (target->kind == ValueKind::Object) {
            if (!target->dictItems()) {
                Value *items = make(ValueKind::Dict);
                graph.extra(target)[2] = items;
            }
            return target->dictItems();
        }
        fail(Kind::Corrupt, name() + " onto " + kindText(target) + ", which is not a dict");
    }

    /// The List that APPEND(S) fill.
    Value *listTarget(Value *target)
    {
        if (target->kind == ValueKind::List)
            return target;
        if (target->kind == ValueKind::Object) {
            if (!target->listItems()) {
                Value *items = make(ValueKind::List);
                graph.extra(target)[1] = items;
            }
            return target->listItems();
        }
        fail(Kind::Corrupt, name() + " onto " + kindText(target) + ", which is not a list");
    }

    static std::string kindText(const Value *v)
    {
        switch (v->kind) {
        case ValueKind::None: return "None";
        case ValueKind::Bool: return "a bool";
        case ValueKind::Int:
        case ValueKind::BigInt: return "an int";
        case ValueKind::Float: return "a float";
        case ValueKind::Complex: return "a complex";
        case ValueKind::Str: return "a str";
        case ValueKind::Bytes: return "bytes";
        case ValueKind::ByteArray: return "a bytearray";
        case ValueKind::Tuple: return "a tuple";
        case ValueKind::List: return "a list";
        case ValueKind::Dict: return "a dict";
        case ValueKind::Set: return "a set";
        case ValueKind::FrozenSet: return "a frozenset";
        case ValueKind::Global: return "a global";
        case ValueKind::Object: return "an object";
        case ValueKind::PersistentId: return "a persistent id";
        default: return "a value";
        }
    }

    void setItems(Value *dict, std::size_t from)
    {
        if ((stack.size() - from) % 2)
            fail(Kind::Corrupt, name() + " with an odd number of items");
        KeyIndex *index = nullptr;
        for (std::size_t i = from; i < stack.size(); i += 2)
            addKeyed(dict, 2, index, stack[i], stack[i + 1]);
        stack.resize(from);
    }

    void addItems(Value *set, std::size_t from)
    {
        KeyIndex *index = nullptr;
        for (std::size_t i = from; i < stack.size(); ++i)
            addKeyed(set, 1, index, stack[i], nullptr);
        stack.resize(from);
    }

    Value *makeObject(Value *cls, Value *args, ObjectOrigin origin)
    {
        Value *o = make(ValueKind::Object);
        o->cls = cls;
        o->args = args;
        o->origin = origin;
        return o;
    }

    // --- the machine ----------------------------------------------------------------------------

    Value *run(std::uint64_t *endPos)
    {
        if (pos > size) {
            opPos = size;
            fail(Kind::Truncated, "pickle starts past the end of the data");
        }
        for (;;) {
            if (pos >= size) {
                opPos = size;
                fail(Kind::Truncated, "pickle ends before STOP");
            }
            opPos = pos;
            op = data[pos++];
            switch (op) {
            case MARK:
                if (stack.size() + marks.size() >= limits.maxStack)
                    fail(Kind::LimitExceeded, "MARK: the stack exceeds " + std::to_string(limits.maxStack) + " entries");
                marks.push_back(stack.size());
                break;
            case STOP: {
                Value *result = pop();
                if (endPos)
                    *endPos = pos;
                return result;
            }
            case POP:
                // CPython: POP right after a MARK discards the mark.
                if (!marks.empty() && marks.back() == stack.size())
                    marks.pop_back();
                else
                    pop();
                break;
            case POP_MARK:
                stack.resize(popMark());
                break;
            case DUP:
                push(top());
                break;

            // --- numbers ------------------------------------------------------------------------
            case INT: {
                const std::string_view line = readLine();
                if (line == "00" || line == "01")
                    push(graph.boolean(line == "01"));
                else
                    push(parseTextInt(line));
                break;
            }
            case LONG: {
                std::string_view line = trimSpaces(readLine());
                if (!line.empty() && line.back() == 'L')
                    line.remove_suffix(1);
                push(parseTextInt(line));
                break;
            }
            case BININT:
                push(makeInt(static_cast<std::int32_t>(readU4())));
                break;
            case BININT1:
                push(makeInt(readU1()));
                break;
            case BININT2:
                push(makeInt(readU2()));
                break;
            case LONG1: {
                const std::uint8_t n = readU1();
                const std::string_view b = readBytes(n);
                push(makeLong(reinterpret_cast<const std::uint8_t *>(b.data()), b.size()));
                break;
            }
            case LONG4: {
                const std::uint64_t n = readLength4Signed();
                const std::string_view b = readBytes(n);
                push(makeLong(reinterpret_cast<const std::uint8_t *>(b.data()), b.size()));
                break;
            }
            case FLOAT: {
                const double d = parseTextFloat(readLine());
                Value *v = make(ValueKind::Float);
                v->real = d;
                push(v);
                break;
            }
            case BINFLOAT: {
                need(8, "argument");
                std::uint64_t bits = 0;
                for (int i = 0; i < 8; ++i)
                    bits = (bits << 8) | data[pos + static_cast<std::uint64_t>(i)];
                pos += 8;
                Value *v = make(ValueKind::Float);
                v->real = std::bit_cast<double>(bits);
                push(v);
                break;
            }
            case NONE:
                push(graph.none());
                break;
            case NEWTRUE:
                push(graph.boolean(true));
                break;
            case NEWFALSE:
                push(graph.boolean(false));
                break;

            // --- strings and bytes --------------------------------------------------------------
            case STRING: {
                const std::string_view line = readLine();
                if (line.size() < 2 || line.front() != line.back() || (line.front() != '\'' && line.front() != '"'))
                    fail(Kind::Corrupt, "the STRING opcode argument must be quoted");
                const std::string raw = decodeStringEscapes(line.substr(1, line.size() - 2));
                Value *v = make(ValueKind::Str);
                assignPython2String(scratch, raw);
                graph.setText(v, scratch);
                push(v);
                break;
            }
            case BINSTRING:
            case SHORT_BINSTRING: {
                const std::uint64_t n = op == BINSTRING ? readLength4Signed() : readU1();
                const std::string_view b = readBytes(n);
                Value *v = make(ValueKind::Str);
                assignPython2String(scratch, b);
                graph.setText(v, scratch);
                push(v);
                break;
            }
            case UNICODE: {
                const std::string_view line = readLine();
                Value *v = make(ValueKind::Str);
                scratch.clear();
                decodeRawUnicodeEscape(line, scratch);
                graph.setText(v, scratch);
                push(v);
                break;
            }
            case BINUNICODE:
                push(makeStr(readBytes(readU4())));
                break;
            case SHORT_BINUNICODE:
                push(makeStr(readBytes(readU1())));
                break;
            case BINUNICODE8:
                push(makeStr(readBytes(readU8())));
                break;
            case BINBYTES:
            case SHORT_BINBYTES:
            case BINBYTES8:
            case BYTEARRAY8: {
                const std::uint64_t n = op == SHORT_BINBYTES ? readU1() : op == BINBYTES ? readU4() : readU8();
                const std::string_view b = readBytes(n);
                Value *v = make(op == BYTEARRAY8 ? ValueKind::ByteArray : ValueKind::Bytes);
                graph.setText(v, b);
                push(v);
                break;
            }

            // --- containers ---------------------------------------------------------------------
            case EMPTY_TUPLE:
                if (!self.m_emptyTuple)
                    self.m_emptyTuple = make(ValueKind::Tuple);
                push(self.m_emptyTuple);
                break;
            case TUPLE:
                push(makeTuple(popMark()));
                break;
            case TUPLE1:
            case TUPLE2:
            case TUPLE3: {
                const std::size_t n = static_cast<std::size_t>(op - TUPLE1) + 1;
                requireStack(n);
                push(makeTuple(stack.size() - n));
                break;
            }
            case EMPTY_LIST:
                push(make(ValueKind::List));
                break;
            case LIST: {
                const std::size_t from = popMark();
                Value *l = make(ValueKind::List);
                l->items.assign(stack.begin() + static_cast<std::ptrdiff_t>(from), stack.end());
                stack.resize(from);
                push(l);
                break;
            }
            case EMPTY_DICT:
                push(make(ValueKind::Dict));
                break;
            case DICT: {
                const std::size_t from = popMark();
                Value *d = make(ValueKind::Dict);
                setItems(d, from);
                push(d);
                break;
            }
            case EMPTY_SET:
                push(make(ValueKind::Set));
                break;
            case FROZENSET: {
                const std::size_t from = popMark();
                Value *s = make(ValueKind::FrozenSet);
                addItems(s, from);
                push(s);
                break;
            }
            case APPEND: {
                requireStack(2);
                Value *item = stack.back();
                stack.pop_back();
                listTarget(stack.back())->items.push_back(item);
                break;
            }
            case APPENDS: {
                const std::size_t from = popMark();
                if (from <= fence())
                    fail(Kind::Corrupt, "APPENDS without a list below its MARK");
                if (from < stack.size()) { // like CPython, an empty batch checks nothing
                    Value *list = listTarget(stack[from - 1]);
                    list->items.insert(list->items.end(), stack.begin() + static_cast<std::ptrdiff_t>(from), stack.end());
                    stack.resize(from);
                }
                break;
            }
            case SETITEM: {
                requireStack(3);
                Value *target = dictTarget(stack[stack.size() - 3]);
                KeyIndex *index = nullptr;
                addKeyed(target, 2, index, stack[stack.size() - 2], stack[stack.size() - 1]);
                stack.resize(stack.size() - 2);
                break;
            }
            case SETITEMS: {
                const std::size_t from = popMark();
                if (from <= fence())
                    fail(Kind::Corrupt, "SETITEMS without a dict below its MARK");
                if ((stack.size() - from) % 2)
                    fail(Kind::Corrupt, "SETITEMS with an odd number of items");
                if (from < stack.size())
                    setItems(dictTarget(stack[from - 1]), from);
                break;
            }
            case ADDITEMS: {
                const std::size_t from = popMark();
                if (from <= fence())
                    fail(Kind::Corrupt, "ADDITEMS without a set below its MARK");
                Value *target = stack[from - 1];
                if (from == stack.size())
                    break;
                if (target->kind == ValueKind::Set) {
                    addItems(target, from);
                } else if (target->kind == ValueKind::Object) {
                    Value *list = listTarget(target);
                    list->items.insert(list->items.end(), stack.begin() + static_cast<std::ptrdiff_t>(from), stack.end());
                    stack.resize(from);
                } else {
                    fail(Kind::Corrupt, "ADDITEMS onto " + kindText(target) + ", which is not a set");
                }
                break;
            }

            // --- memo ---------------------------------------------------------------------------
            case PUT:
            case BINPUT:
            case LONG_BINPUT: {
                std::uint64_t idx = 0;
                if (op == PUT) {
                    idx = parseTextIndex(readLine());
                } else {
                    idx = op == BINPUT ? readU1() : readU4();
                }
                memoPut(idx, top());
                break;
            }
            case MEMOIZE:
                memoPut(memoCount, top());
                break;
            case GET:
            case BINGET:
            case LONG_BINGET: {
                std::uint64_t idx = 0;
                if (op == GET) {
                    idx = parseTextIndex(readLine());
                } else {
                    idx = op == BINGET ? readU1() : readU4();
                }
                push(memoGet(idx));
                break;
            }

            // --- globals, calls, objects --------------------------------------------------------
            case GLOBAL: {
                const std::string_view module = readLine();
                const std::string_view nm = readLine();
                push(makeGlobal(module, nm));
                break;
            }
            case STACK_GLOBAL: {
                requireStack(2);
                Value *nm = stack[stack.size() - 1];
                Value *module = stack[stack.size() - 2];
                if (module->kind != ValueKind::Str || nm->kind != ValueKind::Str)
                    fail(Kind::Corrupt, "STACK_GLOBAL requires two str values (module, name), got "
                                            + kindText(module) + " and " + kindText(nm));
                stack.resize(stack.size() - 2);
                push(makeGlobal(module->text, nm->text));
                break;
            }
            case REDUCE:
            case NEWOBJ: {
                requireStack(2);
                Value *args = stack.back();
                stack.pop_back();
                Value *callable = stack.back();
                stack.back() = makeObject(callable, args, op == REDUCE ? ObjectOrigin::Reduce : ObjectOrigin::NewObj);
                break;
            }
            case NEWOBJ_EX: {
                requireStack(3);
                Value *kwargs = stack.back();
                stack.pop_back();
                Value *args = stack.back();
                stack.pop_back();
                Value *o = makeObject(stack.back(), args, ObjectOrigin::NewObjEx);
                graph.extra(o)[0] = kwargs;
                stack.back() = o;
                break;
            }
            case INST: {
                const std::string_view module = readLine();
                const std::string_view nm = readLine();
                const std::size_t from = popMark();
                Value *cls = makeGlobal(module, nm);
                Value *args = makeTuple(from);
                push(makeObject(cls, args, ObjectOrigin::Inst));
                break;
            }
            case OBJ: {
                const std::size_t from = popMark();
                if (stack.size() - from < 1)
                    fail(Kind::Corrupt, "OBJ needs a class after its MARK, found nothing");
                Value *cls = stack[from];
                Value *args = makeTuple(from + 1);
                stack.pop_back(); // the class
                push(makeObject(cls, args, ObjectOrigin::Obj));
                break;
            }
            case BUILD: {
                requireStack(2);
                Value *state = stack.back();
                stack.pop_back();
                Value *target = stack.back();
                // Only objects and dicts take a state; shared singletons, numbers etc. are never
                // mutated (torch.load would call __setstate__ or fail).
                if (target->kind == ValueKind::Object || target->kind == ValueKind::Dict)
                    target->state = state;
                break;
            }
            case PERSID: {
                const std::string_view line = readLine();
                Value *pid = make(ValueKind::PersistentId);
                pid->args = makeStr(line);
                push(pid);
                break;
            }
            case BINPERSID: {
                Value *id = pop();
                Value *pid = make(ValueKind::PersistentId);
                pid->args = id;
                push(pid);
                break;
            }

            // --- protocol, framing, rejected ----------------------------------------------------
            case PROTO: {
                const std::uint8_t v = readU1();
                if (v > 5)
                    fail(Kind::Unsupported, "unsupported pickle protocol " + std::to_string(v) + " (PROTO; 0-5 are known)");
                proto = v;
                self.m_protocol = std::max(self.m_protocol, static_cast<int>(v));
                break;
            }
            case FRAME: {
                const std::uint64_t n = readU8();
                if (n > size - pos)
                    fail(Kind::Truncated, "FRAME of " + std::to_string(n) + " bytes, only "
                                              + std::to_string(size - pos) + " remain");
                break;
            }
            case EXT1:
            case EXT2:
            case EXT4:
                fail(Kind::Unsupported, name() + ": the copyreg extension registry is not supported (nothing in it can be resolved without Python)");
            case NEXT_BUFFER:
            case READONLY_BUFFER:
                fail(Kind::Unsupported, name() + ": out-of-band buffers (pickle protocol 5) are not supported");
            default: {
                static constexpr char kHexDigits[] = "0123456789abcdef";
                std::string msg = "invalid opcode 0x";
                msg += kHexDigits[op >> 4];
                msg += kHexDigits[op & 0xF];
                fail(Kind::Corrupt, msg);
            }
            }
        }
    }
};

PickleUnpickler::PickleUnpickler(ValueGraph &graph, UnpickleLimits limits)
    : m_graph(graph), m_limits(limits)
{
}

Value *PickleUnpickler::load(ByteView data, std::uint64_t pos, std::uint64_t baseOffset,
                             const std::string &record, std::uint64_t *endPos, bool offsetInRecord)
{
    m_partialRoot = nullptr;
    m_protocol = 0;
    Impl impl(*this, data, pos, baseOffset, record, offsetInRecord);
    try {
        return impl.run(endPos);
    } catch (...) {
        m_partialRoot = impl.stack.empty() ? nullptr : impl.stack.front();
        throw;
    }
}

} // namespace ckpt::format
