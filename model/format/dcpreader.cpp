// SPDX-License-Identifier: MIT
#include "dcpreader.h"

#include "folderreader.h"
#include "torchlayout.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <unordered_map>

namespace ckpt::format {

namespace fs = std::filesystem;
using Kind = FormatError::Kind;

bool isDcpFolder(const std::string &dir)
{
    std::error_code ec;
    return fs::is_directory(dir, ec) && fs::is_regular_file(fs::path(dir) / ".metadata", ec);
}

namespace {

// --- reading the .metadata values (torch/distributed/checkpoint/metadata.py) --------------------

/// A dataclass field: the attribute of an object (its BUILD state dict), or a dict's key.
const Value *field(const Value *v, std::string_view name)
{
    if (!v)
        return nullptr;
    if (v->kind == ValueKind::Object && v->state && v->state->kind == ValueKind::Dict)
        return v->state->get(name);
    if (v->kind == ValueKind::Dict)
        return v->get(name);
    return nullptr;
}

std::string_view className(const Value *v)
{
    return v && v->kind == ValueKind::Object && v->cls && v->cls->kind == ValueKind::Global ? v->cls->name()
                                                                                             : std::string_view();
}

/// A torch.Size (the tuple it is interpreted as, or the call torch.Size([...])), tuple or list
/// of ints.
std::optional<std::vector<std::int64_t>> ints(const Value *v, int depth = 0)
{
    if (!v || depth > 2)
        return std::nullopt;
    if (v->kind == ValueKind::Tuple || v->kind == ValueKind::List) {
        std::vector<std::int64_t> out;
        for (const Value *i : v->items) {
            std::int64_t x = 0;
            if (!i || !i->toInt(x))
                return std::nullopt;
            out.push_back(x);
        }
        return out;
    }
    if (v->kind == ValueKind::Object && v->args && v->args->kind == ValueKind::Tuple && v->args->items.size() == 1)
        return ints(v->args->items[0], depth + 1);
    return std::nullopt;
}

std::optional<std::int64_t> integer(const Value *v)
{
    std::int64_t x = 0;
    if (v && v->toInt(x))
        return x;
    return std::nullopt;
}

/// TensorProperties' dtype: the first item of its __getstate__ tuple (a torch.<dtype> global).
std::optional<DType> propertiesDType(const Value *properties, bool &requiresGrad)
{
    if (!properties || properties->kind != ValueKind::Object || !properties->state)
        return std::nullopt;
    const Value *state = properties->state;
    const Value *dtype = nullptr;
    if (state->kind == ValueKind::Tuple && !state->items.empty()) {
        dtype = state->items[0];
        if (state->items.size() > 2 && state->items[2]->kind == ValueKind::Bool)
            requiresGrad = state->items[2]->boolean;
    } else {
        dtype = field(properties, "dtype"); // (a dict state, as older versions wrote it)
    }
    if (!dtype || dtype->kind != ValueKind::Global || dtype->module() != "torch")
        return std::nullopt;
    return dtypeFromName(dtype->name());
}

/// The rank in a file name written by FileSystemWriter: __<rank>_<n>.distcp; -1 otherwise.
int rankOf(std::string_view file)
{
    if (!file.starts_with("__"))
        return -1;
    int rank = 0;
    std::size_t i = 2;
    for (; i < file.size() && file[i] >= '0' && file[i] <= '9' && rank < 10'000'000; ++i)
        rank = rank * 10 + (file[i] - '0');
    return i > 2 && i < file.size() && file[i] == '_' ? rank : -1;
}

struct StorageRef
{
    std::optional<std::vector<std::int64_t>> offsets; ///< MetadataIndex.offset (None for bytes)
    std::string file;
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
    bool transformed = false; ///< transform_descriptors (compression, ...) present
    /// "__0_0.distcp@5044" for messages (made when needed: 40,000 strings cost 10 % of opening)
    std::string record() const { return file + "@" + std::to_string(offset); }
};

class DcpReader
{
public:
    DcpReader(CheckpointData &data, const std::string &dir, const ReadLimits &limits)
        : m_d(data), m_dir(dir), m_limits(limits)
    {
    }

    void read(const ProgressFn &progress);

private:
    void fail(Kind kind, const std::string &message, const std::string &record,
              std::uint64_t offset = FormatError::kNoOffset)
    {
        if (!m_d.error)
            m_d.error = ReadError{kind, message, record, offset, false};
    }
    /// The mapped file of the record's relative_path, or -1 (an error naming the record is set)
    /// when the name leaves the directory, is not a regular file inside it or cannot be mapped.
    int fileOf(const StorageRef &ref);
    /// The record's bytes, or nullopt (error set) when it lies past its file's end.
    std::optional<ByteView> recordBytes(const StorageRef &ref);
    /// Reads a record (a torch.save archive) into a part of its own; scanned and merged into
    /// the directory's scan and globals. nullptr when it cannot be read at all.
    std::shared_ptr<CheckpointData> readRecord(const StorageRef &ref);
    /// The dict at `keys` below the root (made as needed) and the last key's node.
    Value *place(const std::vector<const Value *> &keys, Value *value);

    void tensorEntry(const std::string &fqn, const Value *md, const std::vector<const StorageRef *> &refs,
                     const std::vector<const Value *> &keys);
    void bytesEntry(const std::string &fqn, const StorageRef *ref, const std::vector<const Value *> &keys);
    /// Lightning's meta.pt beside .metadata, merged over the root.
    void lightningMeta();

    CheckpointData &m_d;
    std::string m_dir;
    fs::path m_canonicalDir;
    const ReadLimits &m_limits;
    std::shared_ptr<SecurityScan> m_scan;
    std::shared_ptr<DcpRecords> m_records;
    std::unordered_map<std::string, int> m_fileIndex;
    std::unordered_map<int, int> m_recordFile; ///< CheckpointData::files index -> DcpRecords file
    std::map<std::pair<const Value *, std::string>, Value *> m_children;
};

int DcpReader::fileOf(const StorageRef &ref)
{
    const std::string &relative = ref.file;
    if (const auto it = m_fileIndex.find(relative); it != m_fileIndex.end())
        return it->second;
    const std::string record = ref.record();
    int index = -1;
    // torch's FileSystemWriter writes plain names (__<rank>_<n>.distcp) next to .metadata: a
    // name with a directory part, an absolute path or a link out of the directory is refused.
    if (relative.empty() || relative == "." || relative == ".." || relative.find('/') != std::string::npos
        || relative.find('\\') != std::string::npos || relative.find('\0') != std::string::npos) {
        fail(Kind::Unsupported, "relative_path '" + relative + "' is not a file name in the checkpoint directory",
             record);
    } else {
        std::error_code ec;
        const fs::path p = fs::path(m_dir) / relative;
        const fs::path target = fs::canonical(p, ec);
        if (ec || !fs::is_regular_file(target, ec)) {
            fail(Kind::Missing, "file '" + relative + "' is missing from the checkpoint directory", record);
        } else if (target.parent_path() != m_canonicalDir) {
            fail(Kind::Unsupported, "file '" + relative + "' links outside the checkpoint directory (to "
                                        + target.string() + "): not opened", record);
        } else {
            try {
                m_d.files.push_back(MappedFile::open(p.string()));
                index = static_cast<int>(m_d.files.size() - 1);
                m_recordFile.emplace(index, m_records->addFile(m_d.files.back(), relative));
            } catch (const FormatError &e) {
                fail(e.kind(), "file '" + relative + "': " + e.message(), record);
            }
        }
    }
    m_fileIndex.emplace(relative, index);
    return index;
}

std::optional<ByteView> DcpReader::recordBytes(const StorageRef &ref)
{
    const int f = fileOf(ref);
    if (f < 0)
        return std::nullopt;
    const ByteView bytes = m_d.files[static_cast<std::size_t>(f)]->bytes();
    if (ref.offset > bytes.size || ref.length > bytes.size - ref.offset) {
        fail(Kind::Truncated, "record of " + std::to_string(ref.length) + " bytes at byte " + std::to_string(ref.offset)
                                  + " runs past the end of '" + ref.file + "' (" + std::to_string(bytes.size) + " bytes)",
             ref.record());
        return std::nullopt;
    }
    return ByteView{bytes.data + ref.offset, ref.length};
}

std::shared_ptr<CheckpointData> DcpReader::readRecord(const StorageRef &ref)
{
    if (ref.transformed) {
        m_d.warnings.push_back({"the record is stored through a transform (transform_descriptors: compression or an "
                                "extension), which is not read: its value is not shown",
                                ref.record(), FormatError::kNoOffset});
        m_scan->incomplete = true;
        return nullptr;
    }
    const std::optional<ByteView> bytes = recordBytes(ref);
    if (!bytes)
        return nullptr;
    std::shared_ptr<CheckpointData> part = readCheckpointBytesMutable(*bytes, ref.record(), m_limits);
    if (!part)
        return nullptr;
    if (part->error)
        fail(part->error->kind, part->error->message,
             ref.record() + (part->error->record.empty() ? "" : ": " + part->error->record), part->error->offset);
    if (part->security)
        mergeScan(*m_scan, *part->security, ref.record());
    else
        m_scan->incomplete = true;
    return part;
}

Value *DcpReader::place(const std::vector<const Value *> &keys, Value *value)
{
    // Containers as dcp_to_torch_save rebuilds them (torch's _traverse.set_element): a list
    // where the next key is an int (param_groups/0/lr), else a dict.
    auto put = [&](Value *container, const Value *key, Value *child) {
        if (container->kind == ValueKind::List) {
            const auto at = static_cast<std::size_t>(key->integer);
            while (container->items.size() <= at)
                container->items.push_back(m_d.graph.none());
            container->items[at] = child;
            return;
        }
        Value *k = m_d.graph.make(key->kind);
        if (key->kind == ValueKind::Str)
            m_d.graph.setText(k, key->text);
        else
            k->integer = key->integer;
        container->items.push_back(k);
        container->items.push_back(child);
    };
    Value *container = m_d.root;
    for (std::size_t i = 0; i < keys.size(); ++i) {
        const Value *key = keys[i];
        // A list index must be a small int (a hostile one would make a list of 2^60 Nones).
        if (container->kind == ValueKind::List
            && (key->kind != ValueKind::Int || key->integer < 0 || key->integer > 1'000'000)) {
            fail(Kind::Corrupt, "planner_data puts '" + pathKey(key) + "' in a list", ".metadata");
            return value;
        }
        if (i + 1 == keys.size()) {
            put(container, key, value);
            return value;
        }
        auto [it, inserted] = m_children.try_emplace({container, pathKey(key)}, nullptr);
        if (inserted) {
            it->second = m_d.graph.make(keys[i + 1]->kind == ValueKind::Int ? ValueKind::List : ValueKind::Dict);
            put(container, key, it->second);
        }
        container = it->second;
    }
    return value;
}

void DcpReader::tensorEntry(const std::string &fqn, const Value *md, const std::vector<const StorageRef *> &refs,
                            const std::vector<const Value *> &keys)
{
    bool requiresGrad = false;
    const std::optional<DType> dtype = propertiesDType(field(md, "properties"), requiresGrad);
    const std::optional<std::vector<std::int64_t>> size = ints(field(md, "size"));
    const Value *chunks = field(md, "chunks");
    if (!dtype || !size || !chunks || chunks->kind != ValueKind::List) {
        fail(Kind::Corrupt, "tensor '" + fqn + "' has no dtype, size or chunk list in .metadata", ".metadata");
        return;
    }
    TensorInfo logical;
    logical.shape = *size;
    logical.stride = TensorInfo::contiguousStrides(logical.shape);
    logical.dtype = *dtype;
    logical.requiresGrad = requiresGrad;
    logical.builder = "torch.distributed.checkpoint";
    std::vector<TensorChunk> pieces;
    std::uint64_t covered = 0;
    for (const Value *c : chunks->items) {
        const auto offsets = ints(field(c, "offsets"));
        const auto sizes = ints(field(c, "sizes"));
        if (!offsets || !sizes || offsets->size() != size->size() || sizes->size() != size->size()) {
            fail(Kind::Corrupt, "a chunk of tensor '" + fqn + "' has no offsets/sizes of its rank", ".metadata");
            return;
        }
        TensorChunk piece;
        piece.offsets = *offsets;
        piece.sizes = *sizes;
        std::uint64_t numel = 1;
        for (std::size_t d = 0; d < size->size(); ++d) {
            const std::int64_t o = (*offsets)[d], n = (*sizes)[d];
            if (o < 0 || n < 0 || o > (*size)[d] || n > (*size)[d] - o) {
                fail(Kind::Corrupt, "a chunk of tensor '" + fqn + "' lies outside its shape", ".metadata");
                return;
            }
            numel *= static_cast<std::uint64_t>(n);
        }
        covered += numel;
        const auto ref = std::find_if(refs.begin(), refs.end(), [&](const StorageRef *r) { return r->offsets == offsets; });
        if (ref == refs.end()) {
            fail(Kind::Missing, "a chunk of tensor '" + fqn + "' has no record in storage_data", ".metadata");
            return;
        }
        piece.file = (*ref)->file;
        piece.rank = rankOf(piece.file);
        piece.byteOffset = (*ref)->offset;
        piece.byteLength = (*ref)->length;
        pieces.push_back(std::move(piece));
    }
    // The chunks must tile the tensor: no two overlap and together they hold every element.
    if (pieces.size() <= 4096) {
        for (std::size_t a = 0; a < pieces.size(); ++a)
            for (std::size_t b = a + 1; b < pieces.size(); ++b) {
                bool overlap = true;
                for (std::size_t d = 0; d < size->size() && overlap; ++d)
                    overlap = pieces[a].offsets[d] < pieces[b].offsets[d] + pieces[b].sizes[d]
                              && pieces[b].offsets[d] < pieces[a].offsets[d] + pieces[a].sizes[d];
                if (overlap && !size->empty()) {
                    fail(Kind::Corrupt, "chunks " + std::to_string(a) + " and " + std::to_string(b) + " of tensor '"
                                            + fqn + "' overlap", ".metadata");
                    return;
                }
            }
    } else {
        fail(Kind::LimitExceeded, "tensor '" + fqn + "' has " + std::to_string(pieces.size())
                                      + " chunks (more than 4096 are not read)", ".metadata");
        return;
    }
    if (covered != logical.numel()) {
        fail(Kind::Missing, "the chunks of tensor '" + fqn + "' hold " + std::to_string(covered) + " of its "
                                + std::to_string(logical.numel()) + " elements", ".metadata");
    }

    // The records: registered now, read on open (scanned, checked against the chunk) or when
    // their values are first needed (tensorView through CheckpointData::dcpRecords).
    for (TensorChunk &piece : pieces) {
        const StorageRef *ref = *std::find_if(refs.begin(), refs.end(),
                                             [&](const StorageRef *r) { return r->offsets == piece.offsets; });
        if (ref->transformed) {
            m_d.warnings.push_back({"the record is stored through a transform (transform_descriptors: compression or an "
                                    "extension), which is not read: its values are not shown",
                                    ref->record(), FormatError::kNoOffset});
            m_scan->incomplete = true;
            continue;
        }
        if (!recordBytes(*ref))
            continue;
        const int file = m_fileIndex[ref->file];
        piece.record = m_records->add({m_recordFile.at(file), logical.dtype, ref->offset, ref->length, piece.sizes});
        if (!m_limits.dcpRecordsOnOpen) {
            ++m_scan->deferredRecords;
            continue;
        }
        const std::shared_ptr<const CheckpointData> part = m_records->readNow(piece.record);
        if (part) {
            if (part->security)
                mergeScan(*m_scan, *part->security, ref->record());
            else
                m_scan->incomplete = true;
            for (const GlobalUse &g : part->globals)
                mergeGlobal(m_d, g, ref->record());
        }
        if (const TensorViewResult v = m_records->view(piece.record); !v.view)
            fail(part && part->error ? part->error->kind : Kind::Corrupt,
                 v.error.substr(v.error.find(": ") == std::string::npos ? 0 : v.error.find(": ") + 2), ref->record(),
                 part && part->error ? part->error->offset : FormatError::kNoOffset);
    }
    logical.storage = -1;
    m_d.tensors.push_back(std::move(logical));
    const int index = static_cast<int>(m_d.tensors.size() - 1);
    m_d.chunksOfTensor.resize(m_d.tensors.size());
    m_d.chunksOfTensor[static_cast<std::size_t>(index)] = std::move(pieces);
    Value *node = m_d.graph.make(ValueKind::Tensor);
    node->integer = index;
    place(keys, node);
}

void DcpReader::bytesEntry(const std::string &fqn, const StorageRef *ref, const std::vector<const Value *> &keys)
{
    Value *value = nullptr;
    if (!ref) {
        fail(Kind::Missing, "value '" + fqn + "' has no record in storage_data", ".metadata");
    } else if (std::shared_ptr<CheckpointData> part = readRecord(*ref)) {
        const MergedBase base = mergePart(m_d, *part, ref->record()); // (a value may hold tensors)
        for (std::size_t s = static_cast<std::size_t>(base.storage); s < m_d.storages.size(); ++s)
            m_d.storages[s].fileIndex = m_fileIndex[ref->file];
        value = part->root;
        m_d.parts.push_back(std::move(part));
    }
    place(keys, value ? value : m_d.graph.none());
}

void DcpReader::lightningMeta()
{
    // Lightning's sharded checkpoint (ModelParallelStrategy, FSDPStrategy with
    // state_dict_type="sharded") keeps the rest of the Trainer's state (epoch, global_step,
    // loops, callbacks, hyper-parameters, schedulers) in meta.pt, a torch.save file beside
    // .metadata; Lightning's _load_distributed_checkpoint lays its top-level keys over the
    // state dict (checkpoint.update(meta)), and so do we.
    const fs::path path = fs::path(m_dir) / "meta.pt";
    std::error_code ec;
    if (!fs::is_regular_file(fs::symlink_status(path, ec)))
        return;
    std::shared_ptr<CheckpointData> part = readCheckpointFile(path.string(), m_limits, {});
    if (!part) {
        fail(Kind::LimitExceeded, "out of memory while reading", "meta.pt");
        return;
    }
    if (part->error)
        fail(part->error->kind, part->error->message,
             "meta.pt" + (part->error->record.empty() ? std::string() : ": " + part->error->record), part->error->offset);
    mergePart(m_d, *part, "meta.pt");
    if (part->security)
        mergeScan(*m_scan, *part->security, "meta.pt");
    else
        m_scan->incomplete = true;
    Value *root = m_d.root;
    if (part->root && part->root->kind == ValueKind::Dict) {
        for (std::size_t i = 0; i < part->root->dictSize(); ++i) {
            Value *key = part->root->dictKey(i);
            Value *value = part->root->dictValue(i);
            bool replaced = false;
            for (std::size_t j = 0; key && key->kind == ValueKind::Str && j < root->dictSize() && !replaced; ++j) {
                const Value *existing = root->dictKey(j);
                if (existing && existing->kind == ValueKind::Str && existing->text == key->text) {
                    root->items[2 * j + 1] = value;
                    replaced = true;
                }
            }
            if (!replaced) {
                root->items.push_back(key);
                root->items.push_back(value);
            }
        }
    } else if (part->root) {
        m_d.warnings.push_back({"meta.pt does not hold a dict: its value is shown under meta.pt", "meta.pt"});
        Value *key = m_d.graph.make(ValueKind::Str);
        m_d.graph.setText(key, "meta.pt");
        root->items.push_back(key);
        root->items.push_back(part->root);
    }
    m_d.parts.push_back(std::move(part));
}

void DcpReader::read(const ProgressFn &progress)
{
    m_d.format = ContainerFormat::Dcp;
    m_d.file = m_dir;
    std::error_code ec;
    m_canonicalDir = fs::canonical(m_dir, ec);
    m_scan = std::make_shared<SecurityScan>();
    m_records = std::make_shared<DcpRecords>(m_limits);
    m_d.dcpRecords = m_records;
    m_scan->file = m_dir;
    m_scan->container = "dcp";
    m_scan->weightsOnlyAccepted = false;
    m_scan->weightsOnlyReason = "dcp.load reads .metadata with pickle.load and every non-tensor value with "
                                "torch.load(weights_only=False): nothing restricts what they import or call";
    m_d.root = m_d.graph.make(ValueKind::Dict);

    // .metadata: a plain pickle of a Metadata dataclass, read as any pickle (and scanned).
    ReadLimits metaLimits = m_limits;
    metaLimits.tensorPaths = false;
    std::shared_ptr<CheckpointData> meta = readCheckpointFile((fs::path(m_dir) / ".metadata").string(), metaLimits, {});
    if (!meta) {
        fail(Kind::LimitExceeded, "out of memory while reading", ".metadata");
        m_d.security = m_scan;
        return;
    }
    if (meta->error)
        fail(meta->error->kind, meta->error->message,
             ".metadata" + (meta->error->record.empty() || meta->error->record == "pickle" ? std::string()
                                                                                        : ": " + meta->error->record),
             meta->error->offset);
    if (meta->security)
        mergeScan(*m_scan, *meta->security, ".metadata");
    for (const GlobalUse &g : meta->globals)
        mergeGlobal(m_d, g, ".metadata");
    m_d.files.insert(m_d.files.end(), meta->files.begin(), meta->files.end());
    const Value *root = meta->root;
    m_d.parts.push_back(meta);
    if (className(root) != "Metadata") {
        fail(Kind::Unsupported, ".metadata does not hold a torch.distributed.checkpoint Metadata object", ".metadata");
    } else if (const std::string_view version = [&] {
                   const Value *v = field(root, "version");
                   return v && v->kind == ValueKind::Str ? v->text : std::string_view();
               }();
               !version.empty()) {
        m_d.version = std::string(version);
    }
    const Value *entries = field(root, "state_dict_metadata");
    const Value *storage = field(root, "storage_data");
    const Value *planner = field(root, "planner_data");
    if (!m_d.error && (!entries || entries->kind != ValueKind::Dict)) {
        fail(Kind::Corrupt, "Metadata has no state_dict_metadata dict", ".metadata");
    }

    // storage_data: MetadataIndex(fqn, offset) -> _StorageInfo(relative_path, offset, length, ...)
    std::unordered_map<std::string_view, std::vector<StorageRef>> refsOf; // keys: the graph's text
    for (std::size_t i = 0; storage && storage->kind == ValueKind::Dict && i < storage->dictSize(); ++i) {
        const Value *index = storage->dictKey(i);
        const Value *info = storage->dictValue(i);
        const Value *fqn = field(index, "fqn");
        const Value *rel = field(info, "relative_path");
        const auto offset = integer(field(info, "offset"));
        const auto length = integer(field(info, "length"));
        if (!fqn || fqn->kind != ValueKind::Str || !rel || rel->kind != ValueKind::Str || !offset || !length
            || *offset < 0 || *length < 0) {
            fail(Kind::Corrupt, "storage_data entry " + std::to_string(i) + " is not a MetadataIndex with a _StorageInfo",
                 ".metadata");
            continue;
        }
        StorageRef ref;
        ref.offsets = ints(field(index, "offset"));
        ref.file = std::string(rel->text);
        ref.offset = static_cast<std::uint64_t>(*offset);
        ref.length = static_cast<std::uint64_t>(*length);
        const Value *transforms = field(info, "transform_descriptors");
        ref.transformed = transforms && transforms->kind != ValueKind::None
                          && !((transforms->kind == ValueKind::List || transforms->kind == ValueKind::Tuple)
                               && transforms->items.empty());
                refsOf[fqn->text].push_back(std::move(ref));
    }
    if (storage && storage->kind == ValueKind::Dict)
        m_records->reserve(storage->dictSize());

    // planner_data by key, once: a Value::get() per entry is quadratic (10,000 tensors spent
    // 60 % of opening in it).
    std::unordered_map<std::string_view, const Value *> plannerOf;
    for (std::size_t i = 0; planner && planner->kind == ValueKind::Dict && i < planner->dictSize(); ++i)
        if (const Value *key = planner->dictKey(i); key && key->kind == ValueKind::Str)
            plannerOf.try_emplace(key->text, planner->dictValue(i));
    const std::size_t count = entries && entries->kind == ValueKind::Dict ? entries->dictSize() : 0;
    for (std::size_t i = 0; i < count; ++i) {
        if (progress && !progress(i, count)) {
            fail(Kind::Cancelled, "cancelled", {});
            break;
        }
        const Value *k = entries->dictKey(i);
        const Value *md = entries->dictValue(i);
        if (!k || k->kind != ValueKind::Str)
            continue;
        const std::string fqn(k->text);
        // The state dict's nesting: planner_data maps each flattened key to its path of keys.
        std::vector<const Value *> keys;
        const auto found = plannerOf.find(k->text);
        const Value *path = found == plannerOf.end() ? nullptr : found->second;
        if (path && (path->kind == ValueKind::Tuple || path->kind == ValueKind::List) && !path->items.empty()
            && std::all_of(path->items.begin(), path->items.end(), [](const Value *p) {
                   return p && (p->kind == ValueKind::Str || p->kind == ValueKind::Int);
               }))
            keys.assign(path->items.begin(), path->items.end());
        else
            keys = {k};
        std::vector<const StorageRef *> refs;
        if (const auto it = refsOf.find(fqn); it != refsOf.end())
            for (const StorageRef &r : it->second)
                refs.push_back(&r);
        const std::string_view kind = className(md);
        if (kind == "TensorStorageMetadata")
            tensorEntry(fqn, md, refs, keys);
        else if (kind == "BytesStorageMetadata")
            bytesEntry(fqn, refs.empty() ? nullptr : refs.front(), keys);
        else
            fail(Kind::Unsupported, "entry '" + fqn + "' is a " + std::string(kind.empty() ? "value" : kind)
                                        + ", not tensor or bytes metadata", ".metadata");
    }
    lightningMeta();
    m_d.chunksOfTensor.resize(m_d.tensors.size());
    decideVerdict(*m_scan);
    if (m_limits.scan)
        m_d.security = m_scan;
    collectTensorPaths(m_d, m_d.root, {}, m_limits.maxDepth);
}

} // namespace

int DcpRecords::addFile(std::shared_ptr<const MappedFile> file, std::string relative)
{
    m_files.push_back(std::move(file));
    m_fileNames.push_back(std::move(relative));
    return static_cast<int>(m_files.size() - 1);
}

void DcpRecords::reserve(std::size_t records)
{
    m_records.reserve(records);
    m_read.reserve(records);
}

int DcpRecords::add(Record record)
{
    m_records.push_back(std::move(record));
    m_read.emplace_back();
    return static_cast<int>(m_records.size() - 1);
}

std::string DcpRecords::name(int index) const
{
    const Record &r = record(index);
    return m_fileNames.at(static_cast<std::size_t>(r.file)) + "@" + std::to_string(r.offset);
}

std::shared_ptr<const CheckpointData> DcpRecords::readInto(std::size_t i, Read &out, bool scan) const
{
    const Record &r = m_records[i];
    const ByteView all = m_files[static_cast<std::size_t>(r.file)]->bytes();
    if (r.offset > all.size || r.length > all.size - r.offset) {
        out.error = "the record runs past the end of its file (" + std::to_string(all.size) + " bytes)";
        return nullptr;
    }
    std::shared_ptr<CheckpointData> part
        = readCheckpointBytesMutable({all.data + r.offset, r.length}, name(static_cast<int>(i)), m_limits, scan);
    if (!part) {
        out.error = "out of memory while reading";
        return nullptr;
    }
    if (part->error)
        out.error = (part->error->record.empty() ? std::string() : part->error->record + ": ") + part->error->message;
    else if (!part->root || part->root->kind != ValueKind::Tensor || part->tensors.size() != 1)
        out.error = "record is not a torch.save of one tensor";
    else if (part->tensors[0].dtype != r.dtype || part->tensors[0].shape != r.sizes)
        out.error = "record holds a " + std::string(dtypeName(part->tensors[0].dtype))
                    + " tensor of another shape than .metadata gives its chunk";
    if (out.error.empty()) {
        // The view's bytes lie in the mapped file (kept by the checkpoint), not in the read.
        TensorViewResult v = tensorView(*part, 0);
        if (v.view)
            out.view = std::move(v.view);
        else
            out.error = v.error;
        const int storage = part->tensors[0].storage;
        if (storage >= 0 && static_cast<std::size_t>(storage) < part->storages.size()) {
            const StorageInfo &s = part->storages[static_cast<std::size_t>(storage)];
            // Only bytes in the mapped file outlive the read (an inflated record would not).
            const ByteView file = m_files[static_cast<std::size_t>(r.file)]->bytes();
            if (s.hasCrc && s.present && s.bytes.view.data >= file.data
                && s.bytes.view.data + s.bytes.view.size <= file.data + file.size) {
                out.hasCrc = true;
                out.crc32 = s.crc32;
                out.bytes = s.bytes.view;
                out.storage = std::string(s.record);
            }
        }
    }
    return part;
}

std::shared_ptr<const CheckpointData> DcpRecords::readNow(int index) const
{
    if (index < 0 || static_cast<std::size_t>(index) >= m_records.size())
        return nullptr;
    auto fresh = std::make_unique<Read>();
    std::shared_ptr<const CheckpointData> part = readInto(static_cast<std::size_t>(index), *fresh, true);
    std::lock_guard lock(m_mutex);
    m_read[static_cast<std::size_t>(index)] = std::move(fresh);
    return part;
}

TensorViewResult DcpRecords::view(int index) const
{
    TensorViewResult r;
    if (index < 0 || static_cast<std::size_t>(index) >= m_records.size()) {
        r.error = "the chunk has no record that can be read";
        return r;
    }
    const auto i = static_cast<std::size_t>(index);
    auto fill = [&](const Read &got) {
        if (got.view)
            r.view = got.view;
        else
            r.error = "chunk " + name(index) + ": " + got.error;
    };
    {
        std::lock_guard lock(m_mutex);
        if (m_read[i]) {
            fill(*m_read[i]);
            return r;
        }
    }
    // Read without the lock (workers read different records at once); two threads reading the
    // same record get the same answer, and the first one kept wins.
    auto fresh = std::make_unique<Read>();
    readInto(i, *fresh, false); // for its values: dcp.load reads it with weights_only=True
    std::lock_guard lock(m_mutex);
    if (!m_read[i])
        m_read[i] = std::move(fresh);
    fill(*m_read[i]);
    return r;
}

std::string DcpRecords::checkCrc(int index, const CrcOptions &options) const
{
    if (index < 0 || static_cast<std::size_t>(index) >= m_records.size())
        return {};
    if (!view(index).view)
        return {}; // (why is the tensor's error)
    ByteView bytes;
    std::uint32_t crc = 0;
    std::string storage;
    {
        std::lock_guard lock(m_mutex);
        const Read &got = *m_read[static_cast<std::size_t>(index)];
        if (!got.hasCrc)
            return {};
        bytes = got.bytes;
        crc = got.crc32;
        storage = got.storage;
    }
    std::string problem = checkBytesCrc(bytes, crc, storage, options);
    return problem.empty() ? problem : name(index) + ": " + problem;
}

void readDcpFolder(CheckpointData &data, const std::string &dir, const ReadLimits &limits, const ProgressFn &progress)
{
    try {
        DcpReader(data, dir, limits).read(progress);
    } catch (const FormatError &e) {
        if (!data.error)
            data.error = ReadError{e.kind(), e.message(), e.record(), e.offset(), e.offsetInRecord()};
    }
}

} // namespace ckpt::format
