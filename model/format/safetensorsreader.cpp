// SPDX-License-Identifier: MIT
#include "safetensorsreader.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <unordered_map>
#include <unordered_set>

namespace ckpt::format {

namespace {

using Kind = FormatError::Kind;
using Json = nlohmann::json;

constexpr std::uint64_t kMaxHeader = 100'000'000;
const char *const kHeaderRecord = "safetensors header";
const char *const kMetadataKey = "__metadata__";

/// "[json.exception.parse_error.101] parse error at ..." -> "parse error at ...".
std::string jsonMessage(const std::exception &e)
{
    std::string_view w = e.what();
    if (w.starts_with("[json.exception.")) {
        const auto close = w.find("] ");
        if (close != std::string_view::npos)
            w.remove_prefix(close + 2);
    }
    return std::string(w);
}

/// Keys in file order, with the first duplicate remembered; for the top-level object and for
/// the objects under a few watched top-level keys.
struct KeyOrder
{
    std::vector<std::string> keys;
    std::unordered_set<std::string> seen;
    std::string duplicate;
    std::size_t duplicateIndex = 0;
    bool hasDuplicate = false;

    void add(const std::string &key)
    {
        if (!seen.insert(key).second && !hasDuplicate) {
            hasDuplicate = true;
            duplicate = key;
            duplicateIndex = keys.size();
        }
        keys.push_back(key);
    }
};

struct ParsedJson
{
    Json root;
    KeyOrder top;
    std::unordered_map<std::string, KeyOrder> nested; ///< watched top-level key -> its keys
};

/// Records the keys of the top-level object and of the objects under watched top-level keys.
struct KeyOrderSax
{
    ParsedJson &out;
    KeyOrder *current;
    int depth;

    bool null() { return true; }
    bool boolean(bool) { return true; }
    bool number_integer(Json::number_integer_t) { return true; }
    bool number_unsigned(Json::number_unsigned_t) { return true; }
    bool number_float(Json::number_float_t, const Json::string_t &) { return true; }
    bool string(Json::string_t &) { return true; }
    bool binary(Json::binary_t &) { return true; }
    bool start_object(std::size_t)
    {
        ++depth;
        return true;
    }
    bool end_object()
    {
        if (--depth == 1)
            current = nullptr;
        return true;
    }
    bool start_array(std::size_t)
    {
        ++depth;
        return true;
    }
    bool end_array()
    {
        --depth;
        return true;
    }
    bool key(Json::string_t &key)
    {
        if (depth == 1) {
            out.top.add(key);
            const auto it = out.nested.find(key);
            current = it == out.nested.end() ? nullptr : &it->second;
        } else if (depth == 2 && current) {
            current->add(key);
        }
        return true;
    }
    bool parse_error(std::size_t, const std::string &, const nlohmann::detail::exception &) { return false; }
};

/// Parses `text` (at file offset `base`), recording key order. nlohmann errors become
/// FormatError(Corrupt) with the file offset of the offending byte when nlohmann gives one.
ParsedJson parseJson(std::string_view text, std::uint64_t base, const std::string &record,
                     std::initializer_list<const char *> watched)
{
    ParsedJson out;
    for (const char *w : watched)
        out.nested.emplace(w, KeyOrder{});
    // nlohmann stops at a NUL as if the input ended there; JSON text never holds one.
    if (const auto nul = text.find('\0'); nul != std::string_view::npos)
        throw FormatError(Kind::Corrupt, "invalid JSON: NUL byte (JSON text cannot contain one)",
                          record, base + nul);
    try {
        out.root = Json::parse(text.data(), text.data() + text.size());
    } catch (const Json::parse_error &e) {
        throw FormatError(Kind::Corrupt, "invalid JSON: " + jsonMessage(e), record,
                          base + (e.byte > 0 ? e.byte - 1 : 0));
    } catch (const Json::exception &e) {
        throw FormatError(Kind::Corrupt, "invalid JSON: " + jsonMessage(e), record, base);
    }
    // Key order and duplicates from a second, SAX pass over the (now known valid) text. Not
    // nlohmann's parser callback: its DOM builder rescans the whole parent object at the end
    // of every member object, quadratic in the number of tensors (issue 6: 20,000 entries took
    // 25 s).
    KeyOrderSax sax{out, nullptr, 0};
    Json::sax_parse(text.data(), text.data() + text.size(), &sax);
    return out;
}

/// Byte positions (in `text`) of the opening quotes of the direct member keys of the object
/// starting at `start`, in file order. `text` is known to be valid JSON.
std::vector<std::uint64_t> memberKeyOffsets(std::string_view text, std::size_t start)
{
    std::vector<std::uint64_t> out;
    int depth = 0;
    bool expectKey = false;
    for (std::size_t i = start; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '"') {
            if (depth == 1 && expectKey) {
                out.push_back(i);
                expectKey = false;
            }
            for (++i; i < text.size() && text[i] != '"'; ++i)
                if (text[i] == '\\')
                    ++i;
        } else if (c == '{' || c == '[') {
            if (++depth == 1)
                expectKey = true;
        } else if (c == '}' || c == ']') {
            if (--depth == 0)
                break;
        } else if (c == ',' && depth == 1) {
            expectKey = true;
        }
    }
    return out;
}

/// Position of the value that follows the key whose opening quote is at `keyPos`.
std::size_t valueAfterKey(std::string_view text, std::size_t keyPos)
{
    std::size_t i = keyPos + 1;
    for (; i < text.size() && text[i] != '"'; ++i)
        if (text[i] == '\\')
            ++i;
    ++i;
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n'
                               || text[i] == '\r' || text[i] == ':'))
        ++i;
    return i;
}

std::size_t skipWhitespace(std::string_view text, std::size_t i = 0)
{
    while (i < text.size()
           && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
        ++i;
    return i;
}

/// File offsets of the keys of `order`, or `fallback` for each when the scan disagrees.
std::vector<std::uint64_t> keyFileOffsets(std::string_view text, std::size_t objectStart,
                                          std::uint64_t base, std::size_t count,
                                          std::uint64_t fallback)
{
    std::vector<std::uint64_t> offsets = memberKeyOffsets(text, objectStart);
    if (offsets.size() != count)
        return std::vector<std::uint64_t>(count, fallback);
    for (auto &o : offsets)
        o += base;
    return offsets;
}

std::string shapeText(const std::vector<std::int64_t> &shape)
{
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (i)
            s += ", ";
        s += std::to_string(shape[i]);
    }
    return s + "]";
}

/// Bits per element for codes the dtype table does not know but whose size is documented
/// (FORMAT.md 7.1: sub-byte floats of safetensors 0.6+).
std::uint64_t extraCodeBits(std::string_view code) noexcept
{
    if (code == "F4")
        return 4;
    if (code == "F6_E2M3" || code == "F6_E3M2")
        return 6;
    return 0;
}


bool mulOverflows(std::uint64_t a, std::uint64_t b, std::uint64_t &out) noexcept
{
    return __builtin_mul_overflow(a, b, &out);
}

[[noreturn]] void throwAt(Kind kind, const std::string &message, const std::string &record,
                          std::uint64_t offset)
{
    throw FormatError(kind, message, shownName(record), offset);
}

bool hasDotDotComponent(std::string_view name) noexcept
{
    std::size_t start = 0;
    while (start <= name.size()) {
        std::size_t end = name.find_first_of("/\\", start);
        if (end == std::string_view::npos)
            end = name.size();
        if (name.substr(start, end - start) == "..")
            return true;
        start = end + 1;
    }
    return false;
}

bool isAbsolutePath(std::string_view name) noexcept
{
    if (!name.empty() && (name[0] == '/' || name[0] == '\\'))
        return true;
    return name.size() >= 2 && name[1] == ':'
           && ((name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z'));
}

} // namespace

bool probeSafetensors(ByteView file) noexcept
{
    if (file.size < 10)
        return false;
    const std::uint64_t n = loadLe64(file.data);
    return n >= 2 && n <= kMaxHeader && n <= file.size - 8 && file.data[8] == '{';
}

SafetensorsHeader readSafetensorsHeader(ByteView file, const std::string &fileName)
{
    (void)fileName;
    if (file.size < 8)
        throw FormatError(Kind::Truncated,
                          "file has " + std::to_string(file.size)
                              + " bytes, too short for the 8-byte safetensors header length",
                          kHeaderRecord, 0);
    SafetensorsHeader h;
    h.headerSize = loadLe64(file.data);
    if (h.headerSize > kMaxHeader)
        throw FormatError(Kind::LimitExceeded,
                          "header length " + std::to_string(h.headerSize)
                              + " exceeds the limit of 100000000 bytes",
                          kHeaderRecord, 0);
    if (h.headerSize > file.size - 8)
        throw FormatError(Kind::Truncated,
                          "header length " + std::to_string(h.headerSize)
                              + " runs past the end of the file (" + std::to_string(file.size)
                              + " bytes; truncated?)",
                          kHeaderRecord, 0);
    h.dataStart = 8 + h.headerSize;
    const std::uint64_t dataSize = file.size - h.dataStart;
    const std::string_view text = file.sub(8, h.headerSize).str();

    ParsedJson parsed = parseJson(text, 8, kHeaderRecord, {kMetadataKey});
    const Json &root = parsed.root;
    const std::size_t objectStart = skipWhitespace(text);
    if (!root.is_object())
        throw FormatError(Kind::Corrupt,
                          std::string("header is not a JSON object (found ") + root.type_name()
                              + ")",
                          kHeaderRecord, 8 + objectStart);
    const std::vector<std::uint64_t> keyOffsets =
        keyFileOffsets(text, objectStart, 8, parsed.top.keys.size(), 8 + objectStart);
    if (parsed.top.hasDuplicate)
        throw FormatError(Kind::Corrupt, "duplicate tensor name in the header",
                          shownName(parsed.top.duplicate), keyOffsets[parsed.top.duplicateIndex]);

    h.tensors.reserve(parsed.top.keys.size());
    for (std::size_t i = 0; i < parsed.top.keys.size(); ++i) {
        const std::string &name = parsed.top.keys[i];
        const std::uint64_t at = keyOffsets[i];
        const Json &v = root.find(name).value();
        auto fail = [&](Kind kind, const std::string &msg) { throwAt(kind, msg, name, at); };

        if (name == kMetadataKey) {
            if (!v.is_object())
                fail(Kind::Corrupt, std::string("__metadata__ must be an object of strings, found ")
                                        + v.type_name());
            const KeyOrder &order = parsed.nested.at(kMetadataKey);
            if (order.hasDuplicate)
                fail(Kind::Corrupt, "duplicate __metadata__ key '" + shownName(order.duplicate) + "'");
            for (const std::string &key : order.keys) {
                const Json &value = v.find(key).value();
                if (!value.is_string())
                    fail(Kind::Corrupt, "__metadata__ value of '" + shownName(key) + "' is a "
                                            + value.type_name() + ", only strings are allowed");
                h.metadata.emplace_back(key, value.get<std::string>());
            }
            continue;
        }

        if (!v.is_object())
            fail(Kind::Corrupt, std::string("tensor entry must be an object, found ")
                                    + v.type_name());
        SafetensorsEntry t;
        t.name = name;

        const auto dt = v.find("dtype");
        if (dt == v.end() || !dt->is_string())
            fail(Kind::Corrupt, "tensor entry has no \"dtype\" string");
        t.dtypeCode = dt->get<std::string>();

        const auto sh = v.find("shape");
        if (sh == v.end() || !sh->is_array())
            fail(Kind::Corrupt, "tensor entry has no \"shape\" array");
        std::uint64_t numel = 1;
        bool numelOverflow = false;
        bool zeroDim = false;
        t.shape.reserve(sh->size());
        for (const Json &dim : *sh) {
            if (!dim.is_number_integer())
                fail(Kind::Corrupt, "shape entry " + dim.dump() + " is not an integer");
            if (!dim.is_number_unsigned())
                fail(Kind::Corrupt, "shape has a negative dimension (" + dim.dump() + ")");
            const auto d = dim.get<std::uint64_t>();
            if (d > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
                fail(Kind::Corrupt, "shape dimension " + dim.dump() + " is too large");
            t.shape.push_back(static_cast<std::int64_t>(d));
            if (d == 0)
                zeroDim = true;
            else if (std::uint64_t product = 0; !numelOverflow) {
                numelOverflow = mulOverflows(numel, d, product);
                numel = product;
            }
        }
        if (zeroDim) {
            numel = 0;
            numelOverflow = false;
        }

        const auto offs = v.find("data_offsets");
        if (offs == v.end() || !offs->is_array() || offs->size() != 2
            || !(*offs)[0].is_number_unsigned() || !(*offs)[1].is_number_unsigned())
            fail(Kind::Corrupt, "\"data_offsets\" must be two non-negative integers [begin, end]");
        t.begin = (*offs)[0].get<std::uint64_t>();
        t.end = (*offs)[1].get<std::uint64_t>();
        if (t.begin > t.end)
            fail(Kind::Corrupt, "data_offsets [" + std::to_string(t.begin) + ", "
                                    + std::to_string(t.end) + "] end before they begin");

        std::uint64_t bits = 0;
        if (const auto known = dtypeFromSafetensors(t.dtypeCode)) {
            t.dtype = *known;
            bits = std::uint64_t(elementSize(*known)) * 8u;
        } else if ((bits = extraCodeBits(t.dtypeCode)) != 0) {
            t.dtype = DType::Unknown;
        } else {
            fail(Kind::Unsupported, "unknown dtype '" + t.dtypeCode
                                        + "': its element size is unknown, so its data cannot "
                                          "be checked");
        }
        // numel * bits, rounded up to bytes; a zero dimension means zero bytes however large
        // the other dimensions are
        std::uint64_t totalBits = 0;
        if (numelOverflow || mulOverflows(numel, bits, totalBits))
            fail(Kind::Corrupt, "shape " + shapeText(t.shape)
                                    + " has too many elements (the byte size overflows 64 bits)");
        const std::uint64_t needed = totalBits / 8 + (totalBits % 8 ? 1 : 0);
        if (t.end - t.begin != needed)
            fail(Kind::Corrupt, "data_offsets [" + std::to_string(t.begin) + ", "
                                    + std::to_string(t.end) + "] span "
                                    + std::to_string(t.end - t.begin) + " bytes, but "
                                    + t.dtypeCode + " " + shapeText(t.shape) + " needs "
                                    + std::to_string(needed));
        if (t.end > dataSize)
            fail(Kind::Truncated, "data_offsets [" + std::to_string(t.begin) + ", "
                                      + std::to_string(t.end)
                                      + "] run past the end of the data area ("
                                      + std::to_string(dataSize) + " bytes; truncated?)");
        h.tensors.push_back(std::move(t));
    }

    // No two spans may share a byte; gaps are accepted (the reference validator is stricter).
    std::vector<std::size_t> order(h.tensors.size());
    for (std::size_t i = 0; i < order.size(); ++i)
        order[i] = i;
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        const auto &ta = h.tensors[a];
        const auto &tb = h.tensors[b];
        return ta.begin != tb.begin ? ta.begin < tb.begin : ta.end < tb.end;
    });
    const SafetensorsEntry *reach = nullptr; // non-empty span that reaches furthest so far
    for (std::size_t idx : order) {
        const SafetensorsEntry &t = h.tensors[idx];
        if (t.begin == t.end)
            continue;
        if (reach && t.begin < reach->end) {
            std::size_t keyIndex = 0;
            while (keyIndex < parsed.top.keys.size() && parsed.top.keys[keyIndex] != t.name)
                ++keyIndex;
            throw FormatError(Kind::Corrupt,
                              "data [" + std::to_string(t.begin) + ", " + std::to_string(t.end)
                                  + ") overlaps tensor '" + shownName(reach->name) + "' ["
                                  + std::to_string(reach->begin) + ", "
                                  + std::to_string(reach->end) + ")",
                              shownName(t.name), keyOffsets[std::min(keyIndex, keyOffsets.size() - 1)]);
        }
        if (!reach || t.end > reach->end)
            reach = &t;
    }
    return h;
}

ShardIndex readShardIndex(ByteView json, const std::string &fileName)
{
    const std::string record = fileName.empty() ? std::string("shard index") : fileName;
    std::string_view text = json.str();
    std::uint64_t base = 0;
    if (text.starts_with("\xEF\xBB\xBF")) {
        text.remove_prefix(3);
        base = 3;
    }
    ParsedJson parsed = parseJson(text, base, record, {"weight_map", "metadata"});
    const Json &root = parsed.root;
    const std::size_t objectStart = skipWhitespace(text);
    if (!root.is_object())
        throw FormatError(Kind::Corrupt,
                          std::string("index is not a JSON object (found ") + root.type_name()
                              + ")",
                          record, base + objectStart);
    const std::vector<std::uint64_t> topOffsets
        = keyFileOffsets(text, objectStart, base, parsed.top.keys.size(), base + objectStart);
    if (parsed.top.hasDuplicate)
        throw FormatError(Kind::Corrupt, "duplicate key '" + shownName(parsed.top.duplicate) + "'",
                          record, topOffsets[parsed.top.duplicateIndex]);
    auto topIndex = [&](std::string_view key) {
        for (std::size_t i = 0; i < parsed.top.keys.size(); ++i)
            if (parsed.top.keys[i] == key)
                return i;
        return parsed.top.keys.size();
    };

    ShardIndex index;
    const std::size_t wmIndex = topIndex("weight_map");
    if (wmIndex == parsed.top.keys.size())
        throw FormatError(Kind::Missing, "index has no \"weight_map\"", record,
                          base + objectStart);
    const Json &wm = root.find("weight_map").value();
    const std::uint64_t wmKeyAt = topOffsets[wmIndex];
    if (!wm.is_object())
        throw FormatError(Kind::Corrupt,
                          std::string("\"weight_map\" must be an object, found ") + wm.type_name(),
                          record, wmKeyAt);
    const KeyOrder &wmOrder = parsed.nested.at("weight_map");
    const std::vector<std::uint64_t> wmOffsets =
        keyFileOffsets(text, valueAfterKey(text, static_cast<std::size_t>(wmKeyAt - base)), base,
                       wmOrder.keys.size(), wmKeyAt);
    if (wmOrder.hasDuplicate)
        throw FormatError(Kind::Corrupt, "tensor listed twice in \"weight_map\"",
                          shownName(wmOrder.duplicate), wmOffsets[wmOrder.duplicateIndex]);

    std::unordered_set<std::string> seenShards;
    index.weightMap.reserve(wmOrder.keys.size());
    for (std::size_t i = 0; i < wmOrder.keys.size(); ++i) {
        const std::string &tensor = wmOrder.keys[i];
        const Json &v = wm.find(tensor).value();
        if (!v.is_string())
            throw FormatError(Kind::Corrupt,
                              std::string("shard name must be a string, found ") + v.type_name(),
                              shownName(tensor), wmOffsets[i]);
        std::string shard = v.get<std::string>();
        if (shard.empty())
            throw FormatError(Kind::Corrupt, "empty shard name", shownName(tensor), wmOffsets[i]);
        if (isAbsolutePath(shard))
            throw FormatError(Kind::Corrupt,
                              "shard name '" + shownName(shard)
                                  + "' is an absolute path; shards must be "
                                    "relative to the index",
                              shownName(tensor), wmOffsets[i]);
        if (hasDotDotComponent(shard))
            throw FormatError(Kind::Corrupt,
                              "shard name '" + shownName(shard) + "' contains a '..' path component",
                              shownName(tensor), wmOffsets[i]);
        if (seenShards.insert(shard).second)
            index.shards.push_back(shard);
        index.weightMap.emplace_back(tensor, std::move(shard));
    }

    const std::size_t mdIndex = topIndex("metadata");
    if (mdIndex != parsed.top.keys.size()) {
        const Json &md = root.find("metadata").value();
        if (md.is_object()) {
            for (const std::string &key : parsed.nested.at("metadata").keys) {
                const Json &value = md.find(key).value();
                index.metadata.emplace_back(key, value.is_string() ? value.get<std::string>()
                                                                   : value.dump());
            }
        } else if (!md.is_null()) {
            throw FormatError(Kind::Corrupt,
                              std::string("\"metadata\" must be an object, found ")
                                  + md.type_name(),
                              record, topOffsets[mdIndex]);
        }
    }
    return index;
}

bool probeShardIndex(ByteView file) noexcept
{
    std::string_view text = file.str();
    if (text.starts_with("\xEF\xBB\xBF"))
        text.remove_prefix(3);
    const std::size_t i = skipWhitespace(text);
    return i < text.size() && text[i] == '{'
           && text.find("\"weight_map\"") != std::string_view::npos;
}

} // namespace ckpt::format
