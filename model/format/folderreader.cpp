// SPDX-License-Identifier: MIT
#include "folderreader.h"

#include "torchlayout.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <limits>

namespace ckpt::format {

namespace fs = std::filesystem;
using Kind = FormatError::Kind;

std::vector<FolderFile> trainerFolderFiles(const std::string &dir)
{
    std::error_code ec;
    auto file = [&](const char *name) {
        const fs::path p = fs::path(dir) / name;
        return fs::is_regular_file(p, ec) ? p.string() : std::string();
    };
    // rng_state.pth, or rng_state_<rank>.pth from each process of a distributed run.
    std::vector<std::string> rng;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (name.starts_with("rng_state") && name.ends_with(".pth") && it->is_regular_file(ec))
            rng.push_back(it->path().string());
    }
    std::sort(rng.begin(), rng.end(), [](const std::string &a, const std::string &b) {
        // rng_state_2 before rng_state_10
        return a.size() != b.size() ? a.size() < b.size() : a < b;
    });
    const std::string optimizer = file("optimizer.pt"), scheduler = file("scheduler.pt"), scaler = file("scaler.pt"),
                      state = file("trainer_state.json"), args = file("training_args.bin");
    if (optimizer.empty() && scheduler.empty() && scaler.empty() && state.empty() && args.empty() && rng.empty())
        return {};
    std::vector<FolderFile> out;
    if (const std::string weights = weightsInFolder(dir); !weights.empty())
        out.push_back({"model", weights, false});
    for (const auto &[key, path] : {std::pair{"optimizer", optimizer}, {"scheduler", scheduler}, {"scaler", scaler}})
        if (!path.empty())
            out.push_back({key, path, false});
    for (const std::string &r : rng)
        out.push_back({fs::path(r).stem().string(), r, false});
    if (!state.empty())
        out.push_back({"trainer_state", state, true});
    if (!args.empty())
        out.push_back({"training_args", args, false});
    if (const std::string config = file("config.json"); !config.empty())
        out.push_back({"config", config, true});
    return out;
}

namespace {

std::string prefixed(const std::string &name, std::string_view record)
{
    return record.empty() ? name : name + ": " + std::string(record);
}

/// Builds value nodes from nlohmann's SAX events. A SAX consumer rather than nlohmann's DOM:
/// the nodes go straight into the graph (no second tree), key order and duplicate keys are
/// kept, and depth and node count are checked as the text is read.
class JsonValueBuilder
{
public:
    using Json = nlohmann::json;

    JsonValueBuilder(ValueGraph &graph, const ReadLimits &limits) : m_graph(graph), m_limits(limits) {}

    Value *root = nullptr;
    std::optional<FormatError> error;

    bool null() { return add(m_graph.none()); }
    bool boolean(bool b) { return add(m_graph.boolean(b)); }
    bool number_integer(Json::number_integer_t i)
    {
        Value *v = make(ValueKind::Int);
        return v && (v->integer = i, add(v));
    }
    bool number_unsigned(Json::number_unsigned_t u)
    {
        if (u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
            return number_integer(static_cast<std::int64_t>(u));
        // Python's json gives an int: a BigInt, 8 little-endian bytes and a zero sign byte.
        Value *v = make(ValueKind::BigInt);
        if (!v)
            return false;
        char bytes[9] = {};
        for (int i = 0; i < 8; ++i)
            bytes[i] = static_cast<char>((u >> (8 * i)) & 0xff);
        m_graph.setText(v, std::string_view(bytes, sizeof bytes));
        return add(v);
    }
    bool number_float(Json::number_float_t d, const Json::string_t &)
    {
        Value *v = make(ValueKind::Float);
        return v && (v->real = d, add(v));
    }
    bool string(Json::string_t &s)
    {
        Value *v = make(ValueKind::Str);
        return v && (m_graph.setText(v, s), add(v));
    }
    bool binary(Json::binary_t &) { return false; } // not in JSON text
    bool start_object(std::size_t) { return open(ValueKind::Dict); }
    bool key(Json::string_t &s)
    {
        Value *k = make(ValueKind::Str);
        if (!k)
            return false;
        m_graph.setText(k, s);
        m_stack.back()->items.push_back(k);
        return true;
    }
    bool end_object() { return close(); }
    bool start_array(std::size_t) { return open(ValueKind::List); }
    bool end_array() { return close(); }
    bool parse_error(std::size_t position, const std::string &, const nlohmann::detail::exception &e)
    {
        // nlohmann's message starts "[json.exception.parse_error.101] parse error at line 1, ...".
        std::string what = e.what();
        if (const auto at = what.find("] "); at != std::string::npos)
            what.erase(0, at + 2);
        m_errorAt = position > 0 ? position - 1 : 0;
        error = FormatError(Kind::Corrupt, "invalid JSON: " + what);
        return false;
    }
    std::uint64_t errorAt() const noexcept { return m_errorAt; }

private:
    Value *make(ValueKind kind)
    {
        if (++m_nodes > m_limits.maxNodes) {
            error = FormatError(Kind::LimitExceeded, "JSON has more than " + std::to_string(m_limits.maxNodes) + " values");
            return nullptr;
        }
        return m_graph.make(kind);
    }
    bool add(Value *v)
    {
        if (m_stack.empty())
            root = v;
        else
            m_stack.back()->items.push_back(v);
        return true;
    }
    bool open(ValueKind kind)
    {
        if (m_stack.size() >= m_limits.maxDepth) {
            error = FormatError(Kind::LimitExceeded, "JSON nested deeper than " + std::to_string(m_limits.maxDepth) + " levels");
            return false;
        }
        Value *v = make(kind);
        if (!v)
            return false;
        add(v);
        m_stack.push_back(v);
        return true;
    }
    bool close()
    {
        m_stack.pop_back();
        return true;
    }

    ValueGraph &m_graph;
    const ReadLimits &m_limits;
    std::vector<Value *> m_stack;
    std::uint64_t m_nodes = 0;
    std::uint64_t m_errorAt = 0;
};

} // namespace

Value *jsonToValues(ValueGraph &graph, std::string_view text, std::uint64_t base, const std::string &record,
                    const ReadLimits &limits)
{
    // nlohmann stops at a NUL as if the input ended there; JSON text never holds one.
    if (const auto nul = text.find('\0'); nul != std::string_view::npos)
        throw FormatError(Kind::Corrupt, "invalid JSON: NUL byte (JSON text cannot contain one)", record, base + nul);
    JsonValueBuilder builder(graph, limits);
    nlohmann::json::sax_parse(text.data(), text.data() + text.size(), &builder);
    if (builder.error)
        throw FormatError(builder.error->kind(), builder.error->message(), record,
                          builder.error->kind() == Kind::Corrupt ? base + builder.errorAt() : FormatError::kNoOffset);
    return builder.root;
}

void mergeGlobal(CheckpointData &data, GlobalUse g, const std::string &name)
{
    for (GlobalUse &mine : data.globals)
        if (mine.module == g.module && mine.name == g.name) {
            mine.count += g.count;
            if (static_cast<int>(g.role) > static_cast<int>(mine.role))
                mine.role = g.role;
            if (g.cls == GlobalClass::Dangerous && mine.cls != GlobalClass::Dangerous) {
                mine.cls = GlobalClass::Dangerous;
                mine.reason = g.reason;
            }
            mine.torchReads = mine.torchReads || g.torchReads;
            return;
        }
    g.record = prefixed(name, g.record);
    data.globals.push_back(std::move(g));
}

MergedBase mergeTables(CheckpointData &into, CheckpointData &part, const std::string &name)
{
    MergedBase base{static_cast<int>(into.files.size()), static_cast<int>(into.storages.size()),
                    static_cast<int>(into.tensors.size())};
    for (const ReadWarning &w : part.warnings)
        into.warnings.push_back({w.message, prefixed(name, w.record), w.offset});
    into.files.insert(into.files.end(), part.files.begin(), part.files.end());
    // No exact reserve here: a DCP directory merges one record at a time (40,000 of them), and
    // reserving size + 1 each time would defeat the vectors' geometric growth (quadratic copies).
    for (StorageInfo &s : part.storages) {
        s.fileIndex += base.file;
        s.key = name + ":" + s.key; // keys are per file: "0" recurs in every .bin shard
        s.record = into.graph.copyText(prefixed(name, s.record));
        s.location = into.graph.copyText(s.location);
        into.storages.push_back(std::move(s));
    }
    for (TensorInfo &t : part.tensors) {
        t.device = into.graph.copyText(t.device);
        if (t.storage >= 0)
            t.storage += base.storage;
        for (int &c : t.components)
            c += base.tensor;
        if (t.quant && t.quant->scalesTensor >= 0) {
            auto q = std::make_shared<QuantParams>(*t.quant);
            q->scalesTensor += base.tensor;
            q->zeroPointsTensor += base.tensor;
            t.quant = std::move(q);
        }
        into.tensors.push_back(std::move(t));
    }
    part.storages.clear();
    part.tensors.clear();
    return base;
}

MergedBase mergePart(CheckpointData &into, CheckpointData &part, const std::string &name)
{
    const MergedBase base = mergeTables(into, part, name);
    for (std::size_t n = 0; n < part.graph.size(); ++n) {
        Value *v = part.graph.at(n);
        if (v->kind == ValueKind::Tensor && v->integer >= 0)
            v->integer += base.tensor;
        else if (v->kind == ValueKind::Storage && v->integer >= 0)
            v->integer += base.storage;
    }
    for (const GlobalUse &g : part.globals)
        mergeGlobal(into, g, name);
    return base;
}

void mergeScan(SecurityScan &into, const SecurityScan &part, const std::string &name)
{
    for (PickleScan p : part.pickles) {
        p.record = prefixed(name, p.record);
        into.pickles.push_back(std::move(p));
    }
    for (const std::string &w : part.warnings)
        into.warnings.push_back(name + ": " + w);
    into.incomplete = into.incomplete || part.incomplete || part.verdict == ScanVerdict::Unknown;
    if (into.weightsOnlyAccepted && !part.weightsOnlyAccepted) {
        into.weightsOnlyAccepted = false;
        into.weightsOnlyReason = part.weightsOnlyReason;
        into.weightsOnlyRecord = prefixed(name, part.weightsOnlyRecord);
        into.weightsOnlyOffset = part.weightsOnlyOffset;
    }
}

void readTrainerFolder(CheckpointData &data, const std::string &dir, const std::vector<FolderFile> &files,
                       const ReadLimits &limits, const ProgressFn &progress)
{
    data.format = ContainerFormat::Folder;
    data.file = dir;
    auto scan = std::make_shared<SecurityScan>();
    scan->file = dir;
    scan->container = "folder";
    scan->weightsOnlyAccepted = true;
    Value *root = data.graph.make(ValueKind::Dict);
    data.root = root;
    auto fail = [&](Kind kind, const std::string &message, const std::string &record, std::uint64_t offset,
                    bool inRecord) {
        if (!data.error)
            data.error = ReadError{kind, message, record, offset, inRecord};
    };
    for (std::size_t i = 0; i < files.size(); ++i) {
        const FolderFile &f = files[i];
        const std::string name = fs::path(f.path).filename().string();
        if (progress && !progress(i, files.size())) {
            fail(Kind::Cancelled, "cancelled", {}, FormatError::kNoOffset, false);
            break;
        }
        Value *value = nullptr;
        ContainerFormat format = ContainerFormat::Json;
        if (f.json) {
            try {
                auto mapped = MappedFile::open(f.path);
                const ByteView bytes = mapped->bytes();
                if (bytes.size > limits.maxPickleBytes)
                    throw FormatError(Kind::LimitExceeded, "JSON file of " + std::to_string(bytes.size)
                                                               + " bytes is over the limit of "
                                                               + std::to_string(limits.maxPickleBytes));
                value = jsonToValues(data.graph, {reinterpret_cast<const char *>(bytes.data), bytes.size}, 0, name,
                                     limits);
                data.files.push_back(std::move(mapped));
            } catch (const FormatError &e) {
                fail(e.kind(), e.message(), e.record().empty() ? name : e.record(), e.offset(), false);
            } catch (const std::bad_alloc &) {
                fail(Kind::LimitExceeded, "out of memory while reading", name, FormatError::kNoOffset, false);
            }
        } else {
            std::shared_ptr<CheckpointData> part = readCheckpointFile(f.path, limits, {});
            if (!part) {
                fail(Kind::LimitExceeded, "out of memory while reading", name, FormatError::kNoOffset, false);
                continue;
            }
            format = part->format;
            if (part->error)
                fail(part->error->kind, part->error->message, prefixed(name, part->error->record),
                     part->error->offset, part->error->offsetInRecord); // the record names the file
            // The part's nodes stay in its graph (kept in data.parts); their table indexes move
            // to the merged tables.
            const MergedBase base = mergePart(data, *part, name);
            if (!part->shardOfTensor.empty()) {
                data.shardOfTensor.resize(data.tensors.size());
                for (std::size_t t = 0; t < part->shardOfTensor.size(); ++t)
                    data.shardOfTensor[static_cast<std::size_t>(base.tensor) + t] = part->shardOfTensor[t];
            }
            if (part->security)
                mergeScan(*scan, *part->security, name);
            else
                scan->incomplete = true;
            for (const auto &[prefix, extra] : part->extraRoots)
                data.extraRoots.emplace_back(f.key + "/" + prefix, extra);
            value = part->root;
            data.parts.push_back(std::move(part));
        }
        Value *key = data.graph.make(ValueKind::Str);
        data.graph.setText(key, f.key);
        root->items.push_back(key);
        root->items.push_back(value ? value : data.graph.none());
        data.members.push_back({f.key, f.path, format});
    }
    if (!data.shardOfTensor.empty())
        data.shardOfTensor.resize(data.tensors.size());
    decideVerdict(*scan);
    if (limits.scan)
        data.security = std::move(scan);
    collectTensorPaths(data, root, {}, limits.maxDepth);
    for (const auto &[prefix, extra] : data.extraRoots)
        collectTensorPaths(data, extra, {prefix}, limits.maxDepth);
}

} // namespace ckpt::format
