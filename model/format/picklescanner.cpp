// SPDX-License-Identifier: MIT
#include "picklescanner.h"

#include "globalclass.h"
#include "pickleops.h"
#include "pythonnames.h"
#include "weightsonly.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <iterator>
#include <optional>
#include <unordered_map>

// Why a second machine beside PickleUnpickler: the unpickler builds the value graph the views
// show and refuses what torch never writes (EXT codes, out-of-band buffers) or what it cannot
// represent; a scanner must instead follow every stream CPython would run, keep going where the
// graph builder gives up, and know for every value which global it came from. It is a symbolic
// stack machine: each stack slot is a small tag (a literal string, a global, the result of a
// call of a global, an instance of a class, a tuple of tags), nothing is allocated per value
// beyond the tag, and nothing is ever called.

namespace ckpt::format {

namespace {

using namespace pickle;
using Kind = FormatError::Kind;

enum SymKind : std::uint8_t {
    kOther,    ///< a value whose origin does not matter (numbers, None, sets, persistent ids)
    kMark,     ///< never on the stack: marks are kept apart
    kStr,      ///< literal text; a = index into m_strings
    kBytes,    ///< literal bytes; a = index into m_bytes
    kLong,     ///< a literal integer; a = index into m_strings ("b:" raw LE bytes or "d:" digits)
    kGlobal,   ///< a = index into out.globals
    kResult,   ///< what calling global a returned
    kInstance, ///< a new instance of class global a (NEWOBJ, copyreg.__newobj__, ...)
    kTuple,    ///< a = index into m_tuples
    kList,
    kDict,
};

struct Sym
{
    SymKind kind = kOther;
    std::uint32_t a = 0;
};

constexpr char kTorchMagicLE[] = "\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";
constexpr std::string_view kTorchMagicDecimal = "119547037146038801333356";

bool startsWith(std::string_view s, std::string_view p) noexcept
{
    return s.substr(0, p.size()) == p;
}

/// Callables whose call runs no code chosen by the file: torch's weights-only allow-list plus
/// the reconstructors of the library value types checkpoints hold (numpy arrays and scalars,
/// datetime, paths, collections) and the copyreg helpers pickle itself emits. Their arguments
/// are modelled in Scanner::call().
bool knownSafeCall(std::string_view module, std::string_view name, std::string_view full) noexcept
{
    if (weightsOnlyAllows(full))
        return true;
    if (module == "torch._utils")
        return startsWith(name, "_rebuild_");
    struct Q
    {
        std::string_view module;
        std::string_view name;
    };
    static constexpr Q kSafe[] = {
        {"torch._tensor", "_rebuild_from_type"},
        // torch 2.x's jagged nested tensor from the dict of its tensors; torch's weights-only
        // unpickler allows it once torch.nested and torch._dynamo are imported
        {"torch.nested._internal.nested_tensor", "_rebuild_njt"},
        {"torch.storage", "_load_from_bytes"}, // a nested torch.load: its bytes are scanned
        {"torch", "Size"}, {"torch", "device"},
        {"torch.serialization", "_get_layout"},
        // torch.distributed.checkpoint's .metadata: TensorProperties keeps its memory format as
        // this Enum, pickled as a call with the member's value (an Enum lookup, no code)
        {"torch.distributed.checkpoint.metadata", "_MEM_FORMAT_ENCODING"},
        {"collections", "OrderedDict"}, {"collections", "defaultdict"}, {"collections", "Counter"},
        {"collections", "deque"},
        {"builtins", "set"}, {"builtins", "frozenset"}, {"builtins", "bytearray"}, {"builtins", "bytes"},
        {"builtins", "complex"}, {"builtins", "int"}, {"builtins", "float"}, {"builtins", "bool"},
        {"builtins", "tuple"}, {"builtins", "list"}, {"builtins", "dict"}, {"builtins", "slice"},
        {"builtins", "range"}, {"builtins", "object"},
        // pure functions of their arguments (REDUCE passes no keyword arguments, so no key=)
        {"builtins", "len"}, {"builtins", "abs"}, {"builtins", "round"}, {"builtins", "divmod"},
        {"builtins", "chr"}, {"builtins", "ord"}, {"builtins", "hex"}, {"builtins", "oct"}, {"builtins", "bin"},
        {"builtins", "min"}, {"builtins", "max"}, {"builtins", "sum"}, {"builtins", "all"}, {"builtins", "any"},
        {"builtins", "sorted"}, {"builtins", "reversed"}, {"builtins", "enumerate"}, {"builtins", "zip"},
        {"_codecs", "encode"}, {"codecs", "encode"},
        {"copyreg", "_reconstructor"}, {"copyreg", "__newobj__"}, {"copyreg", "__newobj_ex__"},
        {"numpy.core.multiarray", "_reconstruct"}, {"numpy._core.multiarray", "_reconstruct"},
        {"numpy.core.multiarray", "scalar"}, {"numpy._core.multiarray", "scalar"},
        {"numpy.core.numeric", "_frombuffer"}, {"numpy._core.numeric", "_frombuffer"},
        {"numpy", "dtype"},
        {"numpy.random._pickle", "__randomstate_ctor"}, {"numpy.random._pickle", "__bit_generator_ctor"},
        {"numpy.random._pickle", "__generator_ctor"},
        {"datetime", "datetime"}, {"datetime", "date"}, {"datetime", "time"}, {"datetime", "timedelta"},
        {"datetime", "timezone"},
        {"pathlib", "PosixPath"}, {"pathlib", "WindowsPath"}, {"pathlib", "PurePosixPath"},
        {"pathlib", "PureWindowsPath"}, {"pathlib", "Path"},
        {"argparse", "Namespace"},
        {"functools", "partial"}, // builds a callable; calling the result is flagged
        {"decimal", "Decimal"}, {"fractions", "Fraction"}, {"uuid", "UUID"},
    };
    for (const Q &q : kSafe)
        if (q.module == module && q.name == name)
            return true;
    return module == "torch.jit._pickle" && startsWith(name, "build_");
}

/// opName() as a table: the loop's validity check per opcode.
const auto kIsOpcode = [] {
    std::array<bool, 256> t{};
    for (int i = 0; i < 256; ++i)
        t[static_cast<std::size_t>(i)] = opName(static_cast<std::uint8_t>(i)) != nullptr;
    return t;
}();

class Scanner
{
public:
    Scanner(ByteView data, std::uint64_t start, std::uint64_t baseOffset, PickleScan &result, PickleScanLimits budget)
        : d(data), p(start), base(baseOffset), out(result), limits(budget)
    {
    }

    void run()
    {
        out.offset = base + p;
        try {
            loop();
        } catch (const FormatError &e) {
            out.error = e;
        }
        out.end = base + p;
        finish();
    }

private:
    ByteView d;
    std::uint64_t p;
    std::uint64_t base;
    PickleScan &out;
    PickleScanLimits limits;
    std::uint64_t opPos = 0;
    std::uint8_t op = 0;
    int proto = 0;
    std::uint64_t frameEnd = 0; ///< end of the current FRAME (0: none)

    std::vector<Sym> stack;
    std::vector<std::size_t> marks;
    std::vector<Sym> memo;                            ///< dense memo (indices < kDenseMemo)
    std::vector<bool> memoSet;
    std::unordered_map<std::uint64_t, Sym> sparseMemo; ///< larger indices
    std::uint64_t memoCount = 0;
    static constexpr std::uint64_t kDenseMemo = 1u << 24;
    std::vector<std::string_view> strings;
    std::deque<std::string> owned; ///< decoded text that is not a view into `d`
    std::vector<std::pair<std::uint64_t, std::uint64_t>> bytes; ///< (pos, size) in d
    std::vector<Sym> tupleItems;                               ///< every tuple's items, in a row
    std::vector<std::pair<std::uint32_t, std::uint32_t>> tuples; ///< (first item, count)
    std::unordered_map<std::string, std::uint32_t> globalIndex;
    std::uint64_t values = 0;

    // --- errors and reading ---------------------------------------------------------------

    [[noreturn]] void fail(Kind kind, const std::string &message) const
    {
        throw FormatError(kind, message, out.record, base + opPos);
    }

    void need(std::uint64_t n) const
    {
        if (n > d.size - p)
            fail(Kind::Truncated, std::string("pickle ends inside the argument of ") + (opName(op) ? opName(op) : "?"));
    }

    std::uint64_t le(std::size_t n)
    {
        need(n);
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < n; ++i)
            v |= std::uint64_t(d.data[p + i]) << (8 * i);
        p += n;
        return v;
    }

    std::string_view take(std::uint64_t n)
    {
        need(n);
        const std::string_view s(reinterpret_cast<const char *>(d.data + p), static_cast<std::size_t>(n));
        p += n;
        return s;
    }

    /// A text argument up to '\n' (the newline is consumed, not returned).
    std::string_view line()
    {
        const auto *start = d.data + p;
        const auto *nl = static_cast<const std::uint8_t *>(std::memchr(start, '\n', static_cast<std::size_t>(d.size - p)));
        if (!nl)
            fail(Kind::Truncated, std::string("pickle ends inside the text argument of ") + opName(op));
        const std::string_view s(reinterpret_cast<const char *>(start), static_cast<std::size_t>(nl - start));
        p += static_cast<std::uint64_t>(nl - start) + 1;
        return s;
    }

    // --- the stack ------------------------------------------------------------------------------

    void count()
    {
        if (++values > limits.maxValues)
            fail(Kind::LimitExceeded, "more than " + std::to_string(limits.maxValues) + " values in one pickle");
    }

    void push(Sym s)
    {
        count();
        stack.push_back(s);
    }

    Sym pop()
    {
        if (stack.size() <= (marks.empty() ? 0 : marks.back()))
            fail(Kind::Corrupt, std::string("unpickling stack underflow at ") + opName(op));
        const Sym s = stack.back();
        stack.pop_back();
        return s;
    }

    Sym &top()
    {
        if (stack.size() <= (marks.empty() ? 0 : marks.back()))
            fail(Kind::Corrupt, std::string("unpickling stack underflow at ") + opName(op));
        return stack.back();
    }

    /// Pops the topmost mark; the items above it are stack[result ...]. The caller resizes.
    std::size_t popMarkIndex()
    {
        if (marks.empty())
            fail(Kind::Corrupt, std::string("could not find MARK for ") + opName(op));
        const std::size_t m = marks.back();
        marks.pop_back();
        return m;
    }

    /// Pops the mark and drops the items above it.
    void dropMark() { stack.resize(popMarkIndex()); }

    std::vector<Sym> popMark()
    {
        if (marks.empty())
            fail(Kind::Corrupt, std::string("could not find MARK for ") + opName(op));
        const std::size_t m = marks.back();
        marks.pop_back();
        std::vector<Sym> items(stack.begin() + static_cast<std::ptrdiff_t>(m), stack.end());
        stack.resize(m);
        return items;
    }

    Sym text(std::string_view s)
    {
        strings.push_back(s);
        return {kStr, static_cast<std::uint32_t>(strings.size() - 1)};
    }

    Sym ownedText(std::string s)
    {
        owned.push_back(std::move(s));
        return text(owned.back());
    }

    Sym tuple(const Sym *first, std::size_t n)
    {
        values += n;
        if (tupleItems.size() + n > 0xFFFFFFFFu)
            fail(Kind::LimitExceeded, "too many tuple items in one pickle");
        tuples.emplace_back(static_cast<std::uint32_t>(tupleItems.size()), static_cast<std::uint32_t>(n));
        tupleItems.insert(tupleItems.end(), first, first + n);
        return {kTuple, static_cast<std::uint32_t>(tuples.size() - 1)};
    }

    Sym tuple(const std::vector<Sym> &items) { return tuple(items.data(), items.size()); }

    /// The items of a tuple (a view into tupleItems: valid until the next tuple is made).
    struct Items
    {
        const Sym *first = nullptr;
        std::size_t n = 0;
        std::size_t size() const { return n; }
        bool empty() const { return n == 0; }
        const Sym &operator[](std::size_t i) const { return first[i]; }
    };

    std::optional<Items> items(Sym s) const
    {
        if (s.kind != kTuple)
            return std::nullopt;
        return Items{tupleItems.data() + tuples[s.a].first, tuples[s.a].second};
    }

    std::string_view str(Sym s) const { return s.kind == kStr ? strings[s.a] : std::string_view(); }

    // --- weights_only ---------------------------------------------------------------------------

    void refuse(std::string why)
    {
        if (out.weightsOnlyRefusal.empty()) {
            out.weightsOnlyRefusal = std::move(why);
            out.weightsOnlyOffset = base + opPos;
        }
    }

    static bool weightsOnlyOpcode(std::uint8_t op) noexcept
    {
        switch (op) {
        case GLOBAL: case NEWOBJ: case REDUCE: case BUILD: case APPEND: case APPENDS: case SETITEM:
        case SETITEMS: case MARK: case TUPLE: case TUPLE1: case TUPLE2: case TUPLE3: case NONE:
        case NEWFALSE: case NEWTRUE: case EMPTY_TUPLE: case EMPTY_LIST: case EMPTY_DICT: case EMPTY_SET:
        case BININT: case BININT1: case BININT2: case BINFLOAT: case BINUNICODE: case SHORT_BINSTRING:
        case BINPERSID: case BINGET: case LONG_BINGET: case BINPUT: case LONG_BINPUT: case LONG1:
        case PROTO: case STOP:
            return true;
        default:
            return false;
        }
    }

    std::string fullName(std::uint32_t g) const
    {
        return out.globals[g].module + "." + out.globals[g].name;
    }

    bool isDictLike(Sym s) const
    {
        if (s.kind == kDict)
            return true;
        if (s.kind != kResult && s.kind != kInstance)
            return false;
        const std::string full = fullName(s.a);
        return full == "collections.OrderedDict" || full == "collections.Counter";
    }

    // --- globals --------------------------------------------------------------------------------

    std::uint32_t global(std::string_view module, std::string_view name, bool computed)
    {
        std::string key;
        key.reserve(module.size() + name.size() + 1);
        key.append(module);
        key += '\n';
        key.append(name);
        if (!computed && proto < 3)
            mapPython2Name(key);
        if (startsWith(key, "torch.tensor\n"))
            key.replace(0, 12, "torch._tensor");
        auto [it, inserted] = globalIndex.try_emplace(key, static_cast<std::uint32_t>(out.globals.size()));
        if (inserted) {
            ScannedGlobal g;
            const auto nl = key.find('\n');
            g.module = key.substr(0, nl);
            g.name = key.substr(nl + 1);
            g.firstOffset = base + opPos;
            g.computed = computed;
            out.globals.push_back(std::move(g));
        }
        ++out.globals[it->second].count;
        return it->second;
    }

    void raise(std::uint32_t g, GlobalRole role)
    {
        ScannedGlobal &sg = out.globals[g];
        if (static_cast<int>(role) > static_cast<int>(sg.role))
            sg.role = role;
    }

    void finding(std::string text)
    {
        if (out.findings.size() < 100)
            out.findings.push_back({base + opPos, std::move(text)});
    }

    std::string describe(Sym s) const
    {
        switch (s.kind) {
        case kResult: return "the result of calling " + fullName(s.a);
        case kInstance: return "an instance of " + fullName(s.a);
        case kStr: return "a string";
        case kTuple: return "a tuple";
        case kList: return "a list";
        case kDict: return "a dict";
        default: return "a value made while loading";
        }
    }

    /// `s` is called by the loader (REDUCE's callable, OBJ's class, or an argument a modelled
    /// callee calls).
    void invoke(Sym s, const char *how)
    {
        if (s.kind == kGlobal) {
            raise(s.a, GlobalRole::Called);
            return;
        }
        finding(std::string(how) + " calls " + describe(s) + ": code that no name on any list describes");
    }

    void instantiate(Sym s)
    {
        if (s.kind == kGlobal)
            raise(s.a, GlobalRole::Instantiated);
        else
            finding("creates an instance of " + describe(s));
    }

    /// REDUCE/INST/OBJ of `callee` with `args`: the result, and what the callees we know do
    /// with their arguments.
    Sym call(Sym callee, Sym args, const char *how)
    {
        invoke(callee, how);
        if (callee.kind != kGlobal)
            return {kOther, 0};
        const std::uint32_t g = callee.a;
        const std::string &module = out.globals[g].module;
        const std::string &name = out.globals[g].name;
        const std::optional<Items> a = items(args);
        const auto arg = [&](std::size_t i) { return a && i < a->size() ? (*a)[i] : Sym{}; };
        if (module == "copyreg" && (name == "__newobj__" || name == "__newobj_ex__" || name == "_reconstructor")) {
            instantiate(arg(0));
            if (name == "_reconstructor") {
                // base.__new__(cls, state) and, unless base is object, base.__init__(obj, state)
                const Sym b = arg(1);
                if (!(b.kind == kGlobal && fullName(b.a) == "builtins.object"))
                    invoke(b, "copyreg._reconstructor");
            }
            return arg(0).kind == kGlobal ? Sym{kInstance, arg(0).a} : Sym{kOther, 0};
        }
        if ((module == "numpy.core.multiarray" || module == "numpy._core.multiarray") && name == "_reconstruct") {
            instantiate(arg(0));
            return arg(0).kind == kGlobal ? Sym{kInstance, arg(0).a} : Sym{kOther, 0};
        }
        if (module == "torch._tensor" && (name == "_rebuild_from_type_v2" || name == "_rebuild_from_type")) {
            invoke(arg(0), "torch._tensor._rebuild_from_type_v2"); // func(*args)
            instantiate(arg(1));                                   // .as_subclass(new_type)
            if (arg(1).kind == kGlobal)
                raise(arg(1).a, GlobalRole::SetState);
        } else if (module == "torch._utils" && name == "_rebuild_wrapper_subclass") {
            instantiate(arg(0));
        } else if (module == "torch.storage" && name == "_load_from_bytes") {
            const Sym b = arg(0);
            if (b.kind == kBytes)
                out.nested.push_back({bytes[b.a].first, bytes[b.a].second});
            else
                finding("torch.storage._load_from_bytes (a nested torch.load) of " + describe(b));
        }
        return {kResult, g};
    }

    /// APPEND(S)/SETITEM(S)/BUILD/ADDITEMS onto `target`.
    void mutate(Sym target, const char *what)
    {
        if (target.kind == kGlobal) {
            finding(std::string(what) + " changes " + fullName(target.a)
                    + " itself (a class, function or module of the loading program)");
            raise(target.a, GlobalRole::SetState);
        } else if (target.kind == kInstance) {
            raise(target.a, GlobalRole::SetState);
        }
    }

    // --- the loop -------------------------------------------------------------------------------

    void loop()
    {
        for (;;) {
            opPos = p;
            if (p >= d.size)
                fail(Kind::Truncated, "pickle ends before STOP");
            op = d.data[p++];
            if (!kIsOpcode[op])
                fail(Kind::Corrupt, "invalid pickle opcode 0x" + hex(op));
            if (!weightsOnlyOpcode(op))
                refuse(std::string("Unsupported operand ") + std::to_string(op) + " (" + opName(op) + ")");
            if (frameEnd && opPos >= frameEnd)
                frameEnd = 0; // the frame was read to its end: what follows is unframed
            if (op == FRAME && frameEnd)
                finding("a FRAME opens inside another FRAME: CPython's file and bytes unpicklers read the "
                        "rest differently (cpython#154848)");
            const std::uint64_t open = frameEnd;
            if (step())
                return;
            // An opcode whose argument runs past the end of its frame: `pickle.load(file)` reads
            // on from the file while a scanner of the frame's bytes sees something else, so what
            // the loader runs is not what any scanner of these bytes shows (cpython#154848).
            if (open && op != FRAME && p > open) {
                finding(std::string(opName(op)) + " runs past the end of its FRAME: the loader reads other opcodes "
                        "than the ones shown");
                frameEnd = 0;
            }
        }
    }

    static std::string hex(std::uint8_t b)
    {
        static constexpr char digits[] = "0123456789abcdef";
        return {digits[b >> 4], digits[b & 15]};
    }

    void memoPut(std::uint64_t index)
    {
        count();
        const Sym v = top();
        if (index < kDenseMemo) {
            if (index >= memo.size()) {
                memo.resize(std::max<std::size_t>(static_cast<std::size_t>(index) + 1, memo.size() * 2));
                memoSet.resize(memo.size());
            }
            memoCount += !memoSet[index];
            memo[index] = v;
            memoSet[index] = true;
        } else {
            memoCount += sparseMemo.insert_or_assign(index, v).second;
        }
    }

    void memoGet(std::uint64_t index)
    {
        if (index < memo.size() && memoSet[index]) {
            push(memo[index]);
            return;
        }
        const auto it = sparseMemo.find(index);
        if (it == sparseMemo.end())
            fail(Kind::Corrupt, "memo entry " + std::to_string(index) + " is missing");
        push(it->second);
    }

    static std::uint64_t decimal(std::string_view s)
    {
        std::uint64_t v = 0;
        for (char c : s) {
            if (c < '0' || c > '9')
                return ~std::uint64_t(0);
            v = v * 10 + static_cast<std::uint64_t>(c - '0');
        }
        return v;
    }

    /// Python's repr-quoted STRING argument, unescaped enough to name a module.
    std::string unquote(std::string_view s)
    {
        while (!s.empty() && (s.back() == ' ' || s.back() == '\r'))
            s.remove_suffix(1);
        if (s.size() < 2 || (s.front() != '\'' && s.front() != '"') || s.back() != s.front())
            fail(Kind::Corrupt, "the STRING opcode argument must be quoted");
        s = s.substr(1, s.size() - 2);
        std::string r;
        for (std::size_t i = 0; i < s.size(); ++i) {
            if (s[i] != '\\' || i + 1 == s.size()) {
                r += s[i];
                continue;
            }
            const char c = s[++i];
            switch (c) {
            case 'n': r += '\n'; break;
            case 't': r += '\t'; break;
            case 'r': r += '\r'; break;
            case 'x':
                if (i + 2 < s.size()) {
                    const std::string h(s.substr(i + 1, 2));
                    r += static_cast<char>(std::strtol(h.c_str(), nullptr, 16));
                    i += 2;
                }
                break;
            default: r += c;
            }
        }
        return r;
    }

    /// Returns true at STOP.
    bool step()
    {
        switch (op) {
        case PROTO: {
            const auto v = static_cast<int>(le(1));
            if (v > 5)
                fail(Kind::Unsupported, "unsupported pickle protocol " + std::to_string(v));
            proto = v;
            out.protocol = std::max(out.protocol, v);
            return false;
        }
        case FRAME: {
            const std::uint64_t n = le(8);
            frameEnd = n > d.size - p ? d.size : p + n;
            return false;
        }
        case STOP: {
            const Sym r = pop();
            if (r.kind == kLong) {
                const std::string_view v = strings[r.a];
                static const std::string kBinary = "b:" + std::string(kTorchMagicLE, 10);
                static const std::string kText = "d:" + std::string(kTorchMagicDecimal);
                out.stopValueIsTorchMagic = v == kBinary || v == kText;
            }
            out.complete = true;
            return true;
        }
        // --- numbers and constants
        case INT: {
            const std::string_view s = line();
            push(ownedText("d:" + std::string(s.substr(s.starts_with('+') ? 1 : 0))));
            stack.back().kind = kLong;
            return false;
        }
        case LONG: {
            std::string_view s = line();
            if (!s.empty() && s.back() == 'L')
                s.remove_suffix(1);
            push(ownedText("d:" + std::string(s)));
            stack.back().kind = kLong;
            return false;
        }
        case LONG1: case LONG4: {
            const std::uint64_t n = le(op == LONG1 ? 1 : 4);
            const std::string_view raw = take(n);
            if (n <= 64) {
                push(ownedText("b:" + std::string(raw)));
                stack.back().kind = kLong;
            } else {
                push({kOther, 0});
            }
            return false;
        }
        case BININT: le(4); push({}); return false;
        case BININT1: le(1); push({}); return false;
        case BININT2: le(2); push({}); return false;
        case BINFLOAT: le(8); push({}); return false;
        case FLOAT: line(); push({}); return false;
        case NONE: case NEWTRUE: case NEWFALSE: push({}); return false;
        // --- text and bytes
        case STRING: push(ownedText(unquote(line()))); return false;
        case BINSTRING: {
            const std::uint64_t n = le(4);
            if (n & 0x80000000u)
                fail(Kind::Corrupt, "BINSTRING pickle has negative byte count");
            push(text(take(n)));
            return false;
        }
        case SHORT_BINSTRING: push(text(take(le(1)))); return false;
        case UNICODE: push(ownedText(std::string(line()))); return false;
        case SHORT_BINUNICODE: push(text(take(le(1)))); return false;
        case BINUNICODE: push(text(take(le(4)))); return false;
        case BINUNICODE8: push(text(take(le(8)))); return false;
        case SHORT_BINBYTES: case BINBYTES: case BINBYTES8: case BYTEARRAY8: {
            const std::uint64_t n = le(op == SHORT_BINBYTES ? 1 : op == BINBYTES ? 4 : 8);
            need(n);
            bytes.emplace_back(p, n);
            p += n;
            push({kBytes, static_cast<std::uint32_t>(bytes.size() - 1)});
            return false;
        }
        case NEXT_BUFFER:
            fail(Kind::Corrupt, "pickle stream refers to out-of-band data but no buffers were given");
        case READONLY_BUFFER: top(); return false;
        // --- containers
        case EMPTY_TUPLE: push(tuple(nullptr, 0)); return false;
        case TUPLE: {
            const std::size_t m = popMarkIndex();
            const Sym t = tuple(stack.data() + m, stack.size() - m);
            stack.resize(m);
            push(t);
            return false;
        }
        case TUPLE1: case TUPLE2: case TUPLE3: {
            const std::size_t n = op == TUPLE1 ? 1 : op == TUPLE2 ? 2 : 3;
            Sym t[3];
            for (std::size_t i = n; i-- > 0;)
                t[i] = pop();
            push(tuple(t, n));
            return false;
        }
        case EMPTY_LIST: push({kList, 0}); return false;
        case LIST: dropMark(); push({kList, 0}); return false;
        case EMPTY_DICT: push({kDict, 0}); return false;
        case DICT: dropMark(); push({kDict, 0}); return false;
        case EMPTY_SET: push({}); return false;
        case FROZENSET: dropMark(); push({}); return false;
        case APPEND: {
            pop();
            const Sym t = top();
            if (t.kind != kList)
                refuse("Can only append to lists, but got " + describe(t));
            mutate(t, "APPEND");
            return false;
        }
        case APPENDS: {
            dropMark();
            const Sym t = top();
            if (t.kind != kList)
                refuse("Can only extend lists, but got " + describe(t));
            mutate(t, "APPENDS");
            return false;
        }
        case SETITEM: case SETITEMS: {
            if (op == SETITEM) {
                pop();
                pop();
            } else {
                dropMark();
            }
            const Sym t = top();
            if (!isDictLike(t))
                refuse(std::string("Can only ") + opName(op) + " for dict, collections.OrderedDict, collections.Counter, but got "
                       + describe(t));
            mutate(t, opName(op));
            return false;
        }
        case ADDITEMS: dropMark(); mutate(top(), "ADDITEMS"); return false;
        // --- stack and memo
        case MARK: marks.push_back(stack.size()); count(); return false;
        case POP:
            if (stack.size() > (marks.empty() ? 0 : marks.back()))
                stack.pop_back();
            else
                dropMark();
            return false;
        case POP_MARK: dropMark(); return false;
        case DUP: push(top()); return false;
        case PUT: {
            const std::uint64_t i = decimal(line());
            if (i == ~std::uint64_t(0))
                fail(Kind::Corrupt, "PUT argument is not a number");
            memoPut(i);
            return false;
        }
        case BINPUT: memoPut(le(1)); return false;
        case LONG_BINPUT: memoPut(le(4)); return false;
        case MEMOIZE: memoPut(memoCount); return false;
        case GET: {
            const std::uint64_t i = decimal(line());
            if (i == ~std::uint64_t(0))
                fail(Kind::Corrupt, "GET argument is not a number");
            memoGet(i);
            return false;
        }
        case BINGET: memoGet(le(1)); return false;
        case LONG_BINGET: memoGet(le(4)); return false;
        // --- persistent ids
        case PERSID: line(); push({}); return false;
        case BINPERSID: {
            const Sym pid = pop();
            const std::optional<Items> t = items(pid);
            if (pid.kind == kTuple) {
                if (!t->empty() && !((*t)[0].kind == kStr && str((*t)[0]) == "storage"))
                    refuse("Only persistent_load of storage is allowed");
            } else if (pid.kind != kLong && pid.kind != kOther) {
                refuse("persistent_load id must be tuple or int, but got " + describe(pid));
            }
            // torch's legacy persistent_load returns the class of a ('module', cls, file,
            // source) id: that class is what NEWOBJ then instantiates.
            if (t && t->size() >= 2 && (*t)[0].kind == kStr && str((*t)[0]) == "module" && (*t)[1].kind == kGlobal)
                push((*t)[1]);
            else
                push({});
            return false;
        }
        // --- globals
        case GLOBAL: {
            const std::string_view module = line();
            const std::string_view name = line();
            const std::uint32_t g = global(module, name, false);
            // torch's weights-only unpickler maps Python 2 names whatever the protocol
            std::string key = std::string(module) + '\n' + std::string(name);
            mapPython2Name(key);
            const std::string woModule = key.substr(0, key.find('\n'));
            std::string full = key;
            full[key.find('\n')] = '.';
            if (weightsOnlyBlocksModule(woModule))
                refuse("Trying to load unsupported GLOBAL " + full + " whose module " + woModule + " is blocked");
            else if (!weightsOnlyAllows(full))
                refuse("Unsupported global: GLOBAL " + full + " was not an allowed global by default");
            push({kGlobal, g});
            return false;
        }
        case STACK_GLOBAL: {
            const Sym name = pop();
            const Sym module = pop();
            const bool literal = module.kind == kStr && name.kind == kStr;
            push({kGlobal, global(module.kind == kStr ? str(module) : "<computed>",
                                  name.kind == kStr ? str(name) : "<computed>", !literal)});
            return false;
        }
        case EXT1: case EXT2: case EXT4: {
            const std::uint64_t code = le(op == EXT1 ? 1 : op == EXT2 ? 2 : 4);
            push({kGlobal, global("<copyreg extension registry>", "code " + std::to_string(code), true)});
            return false;
        }
        // --- calls and objects
        case REDUCE: {
            const Sym args = pop();
            const Sym callee = pop();
            if (callee.kind != kGlobal)
                refuse("Trying to call reduce for unrecognized function (" + describe(callee) + ")");
            push(call(callee, args, "REDUCE"));
            return false;
        }
        case INST: {
            const std::string_view module = line();
            const std::string_view name = line();
            const Sym cls{kGlobal, global(module, name, false)};
            std::vector<Sym> args = popMark();
            push(call(cls, tuple(args), "INST"));
            return false;
        }
        case OBJ: {
            std::vector<Sym> all = popMark();
            if (all.empty())
                fail(Kind::Corrupt, "OBJ without a class");
            const Sym cls = all.front();
            all.erase(all.begin());
            push(call(cls, tuple(all), "OBJ"));
            return false;
        }
        case NEWOBJ: case NEWOBJ_EX: {
            if (op == NEWOBJ_EX)
                pop(); // kwargs
            pop();     // args
            const Sym cls = pop();
            if (cls.kind != kGlobal)
                refuse("Can only create new object for nn.Parameter or classes allowlisted via `add_safe_globals`");
            instantiate(cls);
            push(cls.kind == kGlobal ? Sym{kInstance, cls.a} : Sym{});
            return false;
        }
        case BUILD: {
            pop(); // state
            const Sym t = top();
            if (t.kind != kResult && t.kind != kInstance)
                refuse("Can only build Tensor, Parameter, OrderedDict or types allowlisted via `add_safe_globals`, but got "
                       + describe(t));
            mutate(t, "BUILD");
            return false;
        }
        default:
            fail(Kind::Corrupt, std::string("unhandled opcode ") + opName(op));
        }
    }

    void finish()
    {
        for (ScannedGlobal &g : out.globals) {
            const std::string full = g.module + "." + g.name;
            if (g.computed) {
                g.dangerous = true;
                g.reason = "its name is computed while loading";
            } else if (globalIsDenyListed(g.module, g.name)) {
                g.dangerous = true;
                g.reason = "on the deny list (runs code, reaches the system or arbitrary attributes)";
            } else if (g.name.find('.') != std::string::npos) {
                // protocol 4 attribute paths: what `a.b.c` reaches depends on what the loading
                // program's modules import, not on the names
                g.dangerous = true;
                g.reason = "an attribute path: what it reaches depends on the loading program's modules";
            } else if (g.role == GlobalRole::Called && !knownSafeCall(g.module, g.name, full)) {
                g.dangerous = true;
                g.reason = "called, and not known to be safe";
            }
        }
    }
};

} // namespace

bool PickleScan::dangerous() const noexcept
{
    return !findings.empty()
           || std::any_of(globals.begin(), globals.end(), [](const ScannedGlobal &g) { return g.dangerous; });
}

PickleScan scanPickle(ByteView data, std::uint64_t pos, std::uint64_t baseOffset, std::string record,
                      PickleScanLimits limits)
{
    PickleScan out;
    out.record = std::move(record);
    Scanner(data, pos, baseOffset, out, limits).run();
    return out;
}

} // namespace ckpt::format
