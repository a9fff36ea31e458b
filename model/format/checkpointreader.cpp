// SPDX-License-Identifier: MIT
#include "checkpointreader.h"
#include "pt2archive.h"

#include "picklescanner.h"
#include "pickleunpickler.h"
#include "safetensorsreader.h"
#include "tarreader.h"
#include "torchlayout.h"
#include "zipreader.h"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <future>
#include <new>
#include <unordered_map>

namespace ckpt::format {

std::string_view formatName(ContainerFormat f) noexcept
{
    switch (f) {
    case ContainerFormat::TorchZip: return "torch-zip";
    case ContainerFormat::TorchLegacy: return "torch-legacy";
    case ContainerFormat::TorchTar: return "torch-tar";
    case ContainerFormat::TorchScript: return "torchscript";
    case ContainerFormat::Safetensors: return "safetensors";
    case ContainerFormat::Index: return "index";
    case ContainerFormat::Pickle: return "pickle";
    case ContainerFormat::TorchExport: return "torch-export";
    case ContainerFormat::Unknown: return "unknown";
    }
    return "unknown";
}

std::string TensorPath::path() const
{
    std::size_t length = keys.empty() ? 0 : keys.size() - 1;
    for (std::string_view k : keys)
        length += k.size();
    std::string out;
    out.reserve(length);
    for (std::size_t i = 0; i < keys.size(); ++i) {
        if (i)
            out += '/';
        out += keys[i];
    }
    return out;
}

bool CheckpointData::hasDangerousGlobals() const noexcept
{
    return scanVerdict() == ScanVerdict::Dangerous;
}

ScanVerdict CheckpointData::scanVerdict() const noexcept
{
    return security ? security->verdict : ScanVerdict::Unknown;
}

namespace {

/// Runs the security scan over the file (and each shard of an index) and folds its verdicts
/// into `data.globals`: a global the scanner calls dangerous is dangerous in every view, and
/// globals of pickles the reader does not read (other .pkl members, pickles after STOP) are
/// listed too.
void attachSecurityScan(CheckpointData &data, std::shared_ptr<SecurityScan> scan)
{
    if (data.format == ContainerFormat::Index) {
        scan->pickles.clear();
        scan->container = "index";
        scan->incomplete = false;
        scan->weightsOnlyAccepted = true;
        for (std::size_t i = 1; i < data.files.size(); ++i) {
            const SecurityScan shard = scanCheckpointBytes(data.files[i]->bytes(), data.files[i]->path());
            const std::string shardName = std::filesystem::path(data.files[i]->path()).filename().string();
            for (PickleScan p : shard.pickles) {
                p.record = shardName + ": " + p.record;
                scan->pickles.push_back(std::move(p));
            }
            for (const std::string &w : shard.warnings)
                scan->warnings.push_back(w);
            scan->incomplete = scan->incomplete || shard.incomplete || shard.verdict == ScanVerdict::Unknown;
            if (scan->weightsOnlyAccepted && !shard.weightsOnlyAccepted) {
                scan->weightsOnlyAccepted = false;
                scan->weightsOnlyReason = shard.weightsOnlyReason;
                scan->weightsOnlyRecord = shardName + (shard.weightsOnlyRecord.empty() ? "" : ": " + shard.weightsOnlyRecord);
                scan->weightsOnlyOffset = shard.weightsOnlyOffset;
            }
        }
        if (data.files.size() > 1 && scan->pickles.empty())
            scan->container = "safetensors";
        decideVerdict(*scan);
    }
    std::unordered_map<std::string, std::size_t> index;
    for (std::size_t i = 0; i < data.globals.size(); ++i)
        index.emplace(data.globals[i].module + '\n' + data.globals[i].name, i);
    for (const PickleScan &p : scan->pickles)
        for (const ScannedGlobal &g : p.globals) {
            const auto [it, inserted] = index.try_emplace(g.module + '\n' + g.name, data.globals.size());
            if (inserted) {
                GlobalUse use;
                use.module = g.module;
                use.name = g.name;
                use.count = g.count;
                use.firstOffset = g.firstOffset;
                use.record = p.record;
                use.cls = classifyGlobal(g.module, g.name);
                use.torchReads = p.torchReads;
                data.globals.push_back(std::move(use));
            }
            GlobalUse &use = data.globals[it->second];
            if (static_cast<int>(g.role) > static_cast<int>(use.role))
                use.role = g.role;
            if (g.dangerous) {
                use.cls = GlobalClass::Dangerous;
                if (use.reason.empty())
                    use.reason = g.reason;
            }
        }
    data.security = std::move(scan);
}

} // namespace

namespace {

using Kind = FormatError::Kind;

// The magic number that opens a legacy stream: 0x1950A86A20F9469CFC6C as LONG1 bytes.
constexpr std::uint8_t kLegacyMagic[] = {0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19};

bool probeLegacy(ByteView file) noexcept
{
    // 80 <proto> 8A 0A <10 magic bytes>
    if (file.size < 14 || file.data[0] != 0x80 || file.data[2] != 0x8A || file.data[3] != 0x0A)
        return false;
    return std::equal(std::begin(kLegacyMagic), std::end(kLegacyMagic), file.data + 4);
}

std::string hexPrefix(ByteView file)
{
    static const char *digits = "0123456789abcdef";
    std::string out;
    for (std::uint64_t i = 0; i < std::min<std::uint64_t>(file.size, 8); ++i) {
        if (i)
            out += ' ';
        out += digits[file.data[i] >> 4];
        out += digits[file.data[i] & 15];
    }
    return out;
}

std::string keyText(const Value *v)
{
    if (!v)
        return {};
    if (v->kind == ValueKind::Int)
        return std::to_string(v->integer);
    if (v->kind == ValueKind::Str || v->kind == ValueKind::Bytes)
        return std::string(v->text);
    return pyRepr(v);
}

std::string trimmed(std::string_view s)
{
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\0'))
        s.remove_suffix(1);
    return std::string(s);
}

class Reader
{
public:
    Reader(CheckpointData &data, const ReadLimits &limits, const ProgressFn &progress)
        : m_d(data), m_limits(limits), m_progress(progress), m_unpickler(data.graph, unpickleLimits(limits))
    {
    }

    void read(ByteView file, const std::string &path, bool allowIndex)
    {
        m_file = file;
        if (ZipReader::probe(file))
            readZip();
        else if (probeLegacy(file))
            readLegacy();
        else if (TarReader::probe(file))
            readTar();
        else if (probeSafetensors(file))
            readSafetensors();
        else if (probeShardIndex(file)) {
            if (!allowIndex)
                throw FormatError(Kind::Unsupported, "a shard index cannot be read from memory or name another index");
            readIndex(path);
        } else if ((file.size >= 2 && file.data[0] == 0x80 && file.data[1] <= 5)
                   || scanPickle(file, 0, 0, "pickle").complete) {
            // protocol 2+ pickles start with PROTO; protocol 0/1 pickles have no header, and
            // torch.load unpickles any non-zip file from byte 0: a stream that runs to STOP is one
            readPlainPickle();
        }
        else if (file.size == 0)
            throw FormatError(Kind::Truncated, "the file is empty", {}, 0);
        else
            throw FormatError(Kind::Unsupported,
                              "not a PyTorch checkpoint (first bytes " + hexPrefix(file)
                                  + " match no known format)",
                              {}, 0);
        mergeGlobals();
    }

    void fail(const FormatError &e)
    {
        if (!m_d.error)
            m_d.error = ReadError{e.kind(), e.message(), e.record(), e.offset(), e.offsetInRecord()};
    }

    void mergeGlobals()
    {
        for (const GlobalUse &g : m_unpickler.globals())
            addGlobal(g);
    }

    void addGlobal(const GlobalUse &g)
    {
        for (GlobalUse &mine : m_d.globals)
            if (mine.module == g.module && mine.name == g.name) {
                mine.count += g.count;
                return;
            }
        m_d.globals.push_back(g);
    }

private:
    static UnpickleLimits unpickleLimits(const ReadLimits &l)
    {
        UnpickleLimits u;
        u.maxNodes = l.maxNodes;
        u.maxMemo = l.maxMemo;
        return u;
    }

    void report(std::uint64_t done, std::uint64_t total)
    {
        if (m_progress && !m_progress(done, total))
            throw FormatError(Kind::Cancelled, "cancelled");
    }

    /// Runs one pickle and the interpretation pass over what it built (also after a failure,
    /// so a partly read pickle still shows its tensors). Returns the root or the partial root.
    Value *loadPickle(ByteView bytes, std::uint64_t pos, std::uint64_t fileOffset, const std::string &record,
                      const StorageResolver &resolve, std::uint64_t *endPos = nullptr,
                      bool offsetInRecord = false, const PlainIdResolver &plainId = {})
    {
        const std::size_t first = m_d.graph.size();
        Value *root = nullptr;
        try {
            root = m_unpickler.load(bytes, pos, fileOffset, record, endPos, offsetInRecord);
        } catch (const FormatError &e) {
            fail(e);
            root = m_unpickler.partialRoot();
            interpretGraph(m_d, first, resolve, record, plainId);
            throw;
        }
        interpretGraph(m_d, first, resolve, record, plainId);
        return root;
    }

    // --- zip (torch.save >= 1.6, TorchScript) ------------------------------------------------

    void readZip()
    {
        std::optional<ZipReader> directory; // reset() below
        try {
            directory.emplace(m_file, m_d.file);
        } catch (const FormatError &e) {
            if (e.kind() == Kind::Cancelled || e.kind() == Kind::LimitExceeded)
                throw;
            // The end records or the central directory are gone or damaged (a copy cut short):
            // what the local headers still describe is read, the error stays the file's.
            directory.emplace(ZipReader::recoverFromLocalHeaders(m_file, m_d.file));
            if (directory->entries().empty())
                throw;
            fail(e);
            const ZipDirectoryInfo &info = directory->directory();
            m_d.warnings.push_back(
                {"the zip directory could not be read; " + std::to_string(directory->entries().size())
                     + " records were recovered from their local headers"
                     + (info.recoveryStop.empty() ? std::string() : " (scan stopped: " + info.recoveryStop + ")")
                     + "; any record after that point is lost",
                 "zip local headers", info.recoveryStopOffset});
        }
        ZipReader &zip = *directory;
        m_d.archivePrefix = zip.prefix();
        report(0, m_file.size);
        const bool hasModelJson = zip.findRelative("model.json") != nullptr;
        const ZipEntry *dataPkl = zip.findRelative("data.pkl");
        const ZipEntry *constants = zip.findRelative("constants.pkl");
        bool hasCode = false;
        const std::string codeFolder = m_d.archivePrefix.empty() ? "code/" : m_d.archivePrefix + "/code/";
        for (const ZipEntry &e : zip.entries())
            if (e.name.starts_with(codeFolder)) {
                hasCode = true;
                break;
            }
        m_d.format = (constants || hasCode || hasModelJson) ? ContainerFormat::TorchScript : ContainerFormat::TorchZip;
        const std::string relPrefix = m_d.archivePrefix.empty() ? std::string() : m_d.archivePrefix + "/";

        if (const ZipEntry *v = zip.findRelative(".data/version"); v && v->uncompressedSize < 64)
            m_d.version = trimmed(zip.read(*v).view.str());
        else if (const ZipEntry *v2 = zip.findRelative("version"); v2 && v2->uncompressedSize < 64)
            m_d.version = trimmed(zip.read(*v2).view.str());
        bool byteSwap = false;
        if (const ZipEntry *bo = zip.findRelative("byteorder"); bo && bo->uncompressedSize < 64) {
            const std::string order = trimmed(zip.read(*bo).view.str());
            if (order == "big")
                byteSwap = true;
            else if (order != "little")
                m_d.warnings.push_back({"unknown byte order '" + order + "', assuming little-endian",
                                        relPrefix + "byteorder", bo->dataOffset});
        }

        if (!dataPkl) {
            if (const ZipEntry *af = zip.findRelative("archive_format"); af && af->uncompressedSize < 64
                                                                          && trimmed(zip.read(*af).view.str()) == "pt2") {
                readPt2(zip, relPrefix, byteSwap);
                return;
            }
            if (hasModelJson)
                throw FormatError(Kind::Unsupported,
                                  "TorchScript archives of the 2018-2019 'model.json' layout are not supported",
                                  relPrefix + "model.json");
            throw FormatError(Kind::Missing,
                              "the archive has no data.pkl (a torch.save that failed part-way leaves a zip "
                              "with only 'version')",
                              relPrefix + "data.pkl");
        }

        // Every storage is a record: the entry count bounds the table (no moves of StorageInfo
        // while 100,000 storages are added). Storages are found by their zip entry (one hash
        // lookup, no per-storage map node); a record absent from the archive by its name.
        m_d.storages.reserve(zip.entries().size());
        adviseHugePagesForSpare(m_d.storages);
        std::vector<int> storageOfEntry(zip.entries().size(), -1);
        std::unordered_map<std::string, int> missingRecords;
        std::string record; // reused for every lookup
        const ZipEntry *lastEntry = nullptr; // records are usually named in directory order
        auto resolverFor = [&](const std::string &folder) -> StorageResolver {
            return [&, folder](std::string_view key, DType dtype, std::uint64_t numel,
                               std::string_view location, std::uint64_t offset) -> int {
                record.assign(relPrefix);
                record += folder;
                record += key;
                const ZipEntry *entry = zip.findAfter(record, lastEntry);
                int *slot = nullptr;
                if (entry) {
                    lastEntry = entry;
                    slot = &storageOfEntry[static_cast<std::size_t>(entry - zip.entries().data())];
                } else {
                    slot = &missingRecords.try_emplace(record, -1).first->second;
                }
                if (*slot >= 0) {
                    const StorageInfo &s = m_d.storages[static_cast<std::size_t>(*slot)];
                    if (s.dtype != dtype || s.numel != numel)
                        m_d.warnings.push_back({"storage '" + std::string(key)
                                                    + "' is referenced with different types or sizes; "
                                                      "the first is used",
                                                record, offset});
                    return *slot;
                }
                StorageInfo &s = m_d.storages.emplace_back(); // built in place
                if (folder != "data/")
                    s.key = folder;
                s.key += key;
                s.dtype = dtype;
                s.numel = numel;
                s.location = location; // the location node's text, or static
                s.record = m_d.graph.copyText(record);
                s.byteSwap = byteSwap;
                *slot = static_cast<int>(m_d.storages.size() - 1);
                attachZipRecord(zip, entry, s);
                return *slot;
            };
        };

        const StorageResolver dataResolver = resolverFor("data/");
        RecordBytes pkl = readPickleRecord(zip, *dataPkl);
        m_d.root = loadPickle(pkl.view, 0, pkl.fileOffset == FormatError::kNoOffset ? 0 : pkl.fileOffset,
                              dataPkl->name, dataResolver, nullptr, pkl.fileOffset == FormatError::kNoOffset);

        if (m_d.format != ContainerFormat::TorchScript || !constants) {
            // The directory is not needed any more: its memory (100 bytes per record, 10 MB for
            // 100,000 tensors) goes back before the paths take about as much, which then reuse
            // it instead of faulting in fresh pages.
            std::vector<int>().swap(storageOfEntry);
            directory.reset();
            collectTensorPaths(m_d, m_d.root, {}, m_limits.maxDepth);
        } else {
            collectTensorPaths(m_d, m_d.root, {}, m_limits.maxDepth);
            const StorageResolver constResolver = resolverFor("constants/");
            RecordBytes cb = readPickleRecord(zip, *constants);
            Value *tuple = loadPickle(cb.view, 0, cb.fileOffset == FormatError::kNoOffset ? 0 : cb.fileOffset,
                                      constants->name, constResolver, nullptr,
                                      cb.fileOffset == FormatError::kNoOffset);
            if (tuple && (tuple->kind == ValueKind::Tuple || tuple->kind == ValueKind::List)
                && !tuple->items.empty()) {
                // Constants are referenced as CONSTANTS.c<i> in TorchScript code.
                Value *dict = m_d.graph.make(ValueKind::Dict);
                for (std::size_t i = 0; i < tuple->items.size(); ++i) {
                    Value *key = m_d.graph.make(ValueKind::Str);
                    m_d.graph.setText(key, "c" + std::to_string(i));
                    dict->items.push_back(key);
                    dict->items.push_back(tuple->items[i]);
                }
                m_d.extraRoots.emplace_back("CONSTANTS", dict);
                collectTensorPaths(m_d, dict, {"CONSTANTS"}, m_limits.maxDepth);
            }
        }
        report(m_file.size, m_file.size);
    }

    RecordBytes readPickleRecord(const ZipReader &zip, const ZipEntry &entry)
    {
        if (entry.uncompressedSize > m_limits.maxPickleBytes)
            throw FormatError(Kind::LimitExceeded,
                              "pickle of " + std::to_string(entry.uncompressedSize) + " bytes exceeds the limit of "
                                  + std::to_string(m_limits.maxPickleBytes),
                              entry.name, entry.localHeaderOffset);
        chargeInflation(entry);
        return zip.read(entry, m_limits.maxPickleBytes);
    }

    /// Issue 6: a file of under 1 MB must not make us allocate hundreds of MB. Deflate packs
    /// zeros about 1000:1, so every deflated record is charged against one budget for the whole
    /// file: 64 times its size, at least 128 MiB. Real records stay far below (pickles and
    /// weights compress a few times); a decompression bomb is refused before it is inflated.
    void chargeInflation(const ZipEntry &entry)
    {
        if (entry.method == 0)
            return;
        const std::uint64_t budget = std::max<std::uint64_t>(128ull << 20, m_file.size >= (1ull << 57) ? ~0ull : m_file.size * 64);
        if (entry.uncompressedSize > budget - std::min(budget, m_inflated))
            throw FormatError(Kind::LimitExceeded,
                              "deflated records would inflate to more than " + std::to_string(budget)
                                  + " bytes, 64 times the file's size (a decompression bomb?)",
                              shownName(entry.name), entry.dataOffset);
        m_inflated += entry.uncompressedSize;
    }

    /// `e`: the entry of `s.record`, or nullptr when the archive has none.
    /// torch.export's PT2 archive (pt2archive.h): every weight and constant its configs list,
    /// as a tree {"weights": {name: tensor}, "constants": {...}}; entries that are not plain
    /// tensors are warnings naming their record.
    void readPt2(const ZipReader &zip, const std::string &relPrefix, bool byteSwap)
    {
        m_d.format = ContainerFormat::TorchExport;
        Value *root = m_d.graph.make(ValueKind::Dict);
        for (const char *kind : {"weights", "constants"}) {
            const std::string folder = std::string("data/") + kind + "/";
            const std::string suffix = std::string("_") + kind + "_config.json";
            Value *group = m_d.graph.make(ValueKind::Dict);
            for (const ZipEntry &e : zip.entries()) {
                const std::string name(e.name);
                const std::string base = relPrefix + folder;
                if (!name.starts_with(base) || !name.ends_with(suffix) || name.find('/', base.size()) != std::string::npos)
                    continue;
                if (e.uncompressedSize > m_limits.maxPickleBytes)
                    throw FormatError(Kind::LimitExceeded, "the config is larger than the pickle limit", name);
                const RecordBytes json = zip.read(e, m_limits.maxPickleBytes);
                for (Pt2Tensor &t : parsePt2Config(json.view.str(), name)) {
                    const std::string record = base + t.record;
                    if (!t.problem.empty()) {
                        m_d.warnings.push_back({"'" + t.name + "': " + t.problem, record, e.dataOffset});
                        continue;
                    }
                    const ZipEntry *data = zip.findRelative(folder + t.record);
                    StorageInfo &s = m_d.storages.emplace_back();
                    s.key = folder + t.record;
                    s.dtype = t.dtype;
                    const std::uint64_t size = elementSize(t.dtype);
                    s.numel = data && size ? data->uncompressedSize / size : 0;
                    s.location = m_d.graph.copyText(t.device);
                    s.record = m_d.graph.copyText(record);
                    s.byteSwap = byteSwap;
                    attachZipRecord(zip, data, s);
                    TensorInfo &info = m_d.tensors.emplace_back();
                    info.dtype = t.dtype;
                    info.shape = std::move(t.shape);
                    info.stride = std::move(t.stride);
                    info.storageOffset = t.storageOffset;
                    info.requiresGrad = t.requiresGrad;
                    info.isParameter = t.isParameter;
                    info.device = s.location;
                    info.storage = static_cast<int>(m_d.storages.size() - 1);
                    info.builder = "torch.export";
                    if (std::string problem = validateExtent(info, s.numel); !problem.empty()) {
                        m_d.warnings.push_back({"'" + t.name + "': " + problem, record, data ? data->dataOffset : 0});
                        info.storage = -1;
                    }
                    Value *key = m_d.graph.make(ValueKind::Str);
                    m_d.graph.setText(key, t.name);
                    Value *tensor = m_d.graph.make(ValueKind::Tensor);
                    tensor->integer = static_cast<std::int64_t>(m_d.tensors.size() - 1);
                    group->items.push_back(key);
                    group->items.push_back(tensor);
                }
            }
            Value *key = m_d.graph.make(ValueKind::Str);
            m_d.graph.setText(key, kind);
            root->items.push_back(key);
            root->items.push_back(group);
        }
        m_d.root = root;
        collectTensorPaths(m_d, m_d.root, {}, m_limits.maxDepth);
    }

    void attachZipRecord(const ZipReader &zip, const ZipEntry *e, StorageInfo &s)
    {
        const std::uint64_t needed = s.nbytes();
        if (!e) {
            if (s.numel == 0) {
                s.present = true; // zero-size storages may have no record
                return;
            }
            s.problem = "the archive has no record '" + std::string(s.record) + "' for storage '" + s.key + "'";
            fail(FormatError(Kind::Missing, s.problem, std::string(s.record)));
            return;
        }
        if (e->uncompressedSize < needed) {
            s.problem = "record '" + std::string(s.record) + "' holds " + std::to_string(e->uncompressedSize)
                        + " bytes, but its storage needs " + std::to_string(needed);
            fail(FormatError(Kind::Truncated, s.problem, std::string(s.record), e->dataOffset));
            return;
        }
        if (e->method != 0) {
            // Hand re-zipped checkpoints may deflate data records; they cannot be mapped, so
            // they are inflated here (the only case where opening reads tensor bytes).
            try {
                chargeInflation(*e);
                s.bytes = zip.read(*e, m_limits.maxInflated);
            } catch (const FormatError &err) {
                s.problem = err.what();
                fail(err);
                return;
            }
            if (!m_warnedDeflate) {
                m_d.warnings.push_back({"tensor records are compressed; they were inflated into memory", std::string(s.record),
                                        e->localHeaderOffset});
                m_warnedDeflate = true;
            }
        } else {
            s.bytes = zip.read(*e);
        }
        s.present = true;
        s.hasCrc = e->crc32 != 0 || e->uncompressedSize == 0;
        s.crc32 = e->crc32;
    }

    // --- legacy multi-pickle stream -----------------------------------------------------------

    void readLegacy()
    {
        m_d.format = ContainerFormat::TorchLegacy;
        std::unordered_map<std::string, int> byKey;
        const StorageResolver resolver = [&](std::string_view keyView, DType dtype, std::uint64_t numel,
                                             std::string_view location, std::uint64_t offset) -> int {
            const std::string key(keyView);
            if (auto it = byKey.find(key); it != byKey.end()) {
                const StorageInfo &s = m_d.storages[static_cast<std::size_t>(it->second)];
                if (s.dtype != dtype || s.numel != numel)
                    m_d.warnings.push_back({"storage '" + key + "' is referenced with different types or sizes; "
                                            "the first is used",
                                            "main pickle", offset});
                return it->second;
            }
            StorageInfo s;
            s.key = key;
            s.dtype = dtype;
            s.numel = numel;
            s.location = location;
            s.record = m_d.graph.copyText("storage " + key);
            s.problem = "the data of storage '" + key + "' was not reached";
            m_d.storages.push_back(std::move(s));
            byKey.emplace(key, static_cast<int>(m_d.storages.size() - 1));
            return static_cast<int>(m_d.storages.size() - 1);
        };
        const StorageResolver none = [](std::string_view, DType, std::uint64_t, std::string_view,
                                        std::uint64_t) { return -1; };
        std::uint64_t pos = 0;
        Value *magic = loadPickle(m_file, pos, 0, "magic number", none, &pos);
        if (!magic || magic->kind != ValueKind::BigInt
            || magic->text != std::string(reinterpret_cast<const char *>(kLegacyMagic), sizeof kLegacyMagic))
            throw FormatError(Kind::Corrupt, "the legacy magic number is wrong", "magic number", 0);
        Value *protocol = loadPickle(m_file, pos, 0, "protocol version", none, &pos);
        std::int64_t proto = 0;
        if (!protocol || !protocol->toInt(proto))
            throw FormatError(Kind::Corrupt, "the protocol version is not an integer", "protocol version", pos);
        m_d.version = std::to_string(proto);
        if (proto != 1001)
            m_d.warnings.push_back({"unknown legacy protocol version " + std::to_string(proto), "protocol version", pos});
        const std::uint64_t sysInfoAt = pos;
        Value *sysInfo = loadPickle(m_file, pos, 0, "sys_info", none, &pos);
        if (sysInfo && sysInfo->kind == ValueKind::Dict) {
            if (const Value *le = sysInfo->get("little_endian"); le && le->kind == ValueKind::Bool && !le->boolean)
                m_d.warnings.push_back({"written on a big-endian machine; storages are read as little-endian",
                                        "sys_info", sysInfoAt});
        }
        m_d.root = loadPickle(m_file, pos, 0, "main pickle", resolver, &pos);
        collectTensorPaths(m_d, m_d.root, {}, m_limits.maxDepth);
        const std::uint64_t keysAt = pos;
        Value *keys = loadPickle(m_file, pos, 0, "storage key list", none, &pos);
        if (!keys || keys->kind != ValueKind::List)
            throw FormatError(Kind::Corrupt, "the storage key list is not a list", "storage key list", keysAt);
        ByteReader r(m_file, {}, 0);
        r.seek(pos);
        for (const Value *k : keys->items) {
            const std::string key = keyText(k);
            const auto it = byKey.find(key);
            const std::string record = "storage " + key;
            if (it == byKey.end())
                throw FormatError(Kind::Corrupt,
                                  "storage '" + key + "' in the key list is not used by any tensor, so its "
                                  "element size is unknown",
                                  record, r.fileOffset());
            StorageInfo &s = m_d.storages[static_cast<std::size_t>(it->second)];
            const std::uint64_t headerAt = r.fileOffset();
            if (r.remaining() < 8)
                throw FormatError(Kind::Truncated, "the file ends before the storage's element count", record,
                                  headerAt);
            const std::uint64_t count = r.u64();
            if (count != s.numel)
                throw FormatError(Kind::Corrupt,
                                  "element count " + std::to_string(count) + " differs from the "
                                      + std::to_string(s.numel) + " the pickle declares",
                                  record, headerAt);
            const std::uint64_t n = s.nbytes();
            if (n > r.remaining()) {
                s.problem = record + " is truncated";
                throw FormatError(Kind::Truncated,
                                  "storage needs " + std::to_string(n) + " bytes, only "
                                      + std::to_string(r.remaining()) + " remain",
                                  record, r.fileOffset());
            }
            s.bytes.fileOffset = r.fileOffset();
            s.bytes.view = r.bytes(n);
            s.record = m_d.graph.copyText("storage " + key);
            s.present = true;
            s.problem.clear();
        }
        for (StorageInfo &s : m_d.storages) {
            if (!s.present && s.numel > 0)
                fail(FormatError(Kind::Missing, "storage '" + s.key + "' has no data in the file", std::string(s.record)));
            else if (!s.present)
                s.present = true; // zero-size storages need no bytes
        }
    }

    // --- tar (0.1.x) --------------------------------------------------------------------------

    void readTar()
    {
        m_d.format = ContainerFormat::TorchTar;
        TarReader tar(m_file, m_d.file);
        const TarMember *storages = tar.find("storages");
        const TarMember *tensors = tar.find("tensors");
        const TarMember *pickle = tar.find("pickle");
        if (!storages || !tensors || !pickle)
            throw FormatError(Kind::Missing,
                              "the archive ends without this member (a legacy tar checkpoint needs 'storages', "
                              "'tensors' and 'pickle')",
                              !storages ? "storages" : !tensors ? "tensors" : "pickle", m_file.size);
        const StorageResolver none = [](std::string_view, DType, std::uint64_t, std::string_view,
                                        std::uint64_t) { return -1; };
        std::unordered_map<std::string, int> storageByKey;
        std::unordered_map<std::string, int> tensorByKey;

        // storages: pickle(count); per storage pickle((key, location, type)), int64 numel, data;
        // then pickle(list of views (view_key, root_key, offset, numel)).
        {
            const ByteView bytes = tar.bytes(*storages);
            std::uint64_t pos = 0;
            Value *count = loadPickle(bytes, pos, storages->offset, "storages", none, &pos);
            std::int64_t n = 0;
            if (!count || !count->toInt(n) || n < 0)
                throw FormatError(Kind::Corrupt, "storage count is not a number", "storages", storages->offset);
            for (std::int64_t i = 0; i < n; ++i) {
                const std::uint64_t at = storages->offset + pos;
                Value *head = loadPickle(bytes, pos, storages->offset, "storages", none, &pos);
                if (!head || head->kind != ValueKind::Tuple || head->items.size() < 3)
                    throw FormatError(Kind::Corrupt, "storage header is not (key, location, type)", "storages", at);
                const auto dtype = storageTypeDType(head->items[2]);
                if (!dtype)
                    throw FormatError(Kind::Unsupported, "unknown storage type " + pyRepr(head->items[2]), "storages", at);
                ByteReader r(bytes, "storages", storages->offset);
                r.seek(pos);
                const std::uint64_t numel = r.u64();
                StorageInfo s;
                s.key = keyText(head->items[0]);
                s.location = m_d.graph.copyText(keyText(head->items[1]));
                s.dtype = *dtype;
                s.numel = numel;
                s.record = "storages";
                const std::uint64_t nb = s.nbytes();
                if (nb > r.remaining())
                    throw FormatError(Kind::Truncated, "storage '" + s.key + "' needs " + std::to_string(nb)
                                                           + " bytes, only " + std::to_string(r.remaining()) + " remain",
                                      "storages", r.fileOffset());
                s.bytes.fileOffset = r.fileOffset();
                s.bytes.view = r.bytes(nb);
                s.present = true;
                pos = r.pos();
                storageByKey[s.key] = static_cast<int>(m_d.storages.size());
                m_d.storages.push_back(std::move(s));
            }
            if (pos < bytes.size) {
                Value *views = loadPickle(bytes, pos, storages->offset, "storages", none, &pos);
                if (views && views->kind == ValueKind::List)
                    for (const Value *view : views->items) {
                        if (!view || view->kind != ValueKind::Tuple || view->items.size() < 4)
                            continue;
                        const auto root = storageByKey.find(keyText(view->items[1]));
                        std::int64_t offset = 0;
                        std::int64_t numel = 0;
                        if (root == storageByKey.end() || !view->items[2]->toInt(offset)
                            || !view->items[3]->toInt(numel) || offset < 0 || numel < 0)
                            continue;
                        StorageInfo s = m_d.storages[static_cast<std::size_t>(root->second)];
                        const std::uint64_t es = elementSize(s.dtype);
                        const auto off = static_cast<std::uint64_t>(offset);
                        const auto cnt = static_cast<std::uint64_t>(numel);
                        if (off > s.numel || cnt > s.numel - off)
                            continue;
                        s.key = keyText(view->items[0]);
                        s.numel = cnt;
                        s.bytes.view = s.bytes.view.sub(off * es, cnt * es);
                        s.bytes.fileOffset += off * es;
                        storageByKey[s.key] = static_cast<int>(m_d.storages.size());
                        m_d.storages.push_back(std::move(s));
                    }
            }
        }
        // tensors: pickle(count); per tensor pickle((key, storage_key, type)), int32 ndim,
        // 4 padding bytes, sizes, strides (int64 each), int64 storage offset.
        {
            const ByteView bytes = tar.bytes(*tensors);
            std::uint64_t pos = 0;
            Value *count = loadPickle(bytes, pos, tensors->offset, "tensors", none, &pos);
            std::int64_t n = 0;
            if (!count || !count->toInt(n) || n < 0)
                throw FormatError(Kind::Corrupt, "tensor count is not a number", "tensors", tensors->offset);
            for (std::int64_t i = 0; i < n; ++i) {
                const std::uint64_t at = tensors->offset + pos;
                Value *head = loadPickle(bytes, pos, tensors->offset, "tensors", none, &pos);
                if (!head || head->kind != ValueKind::Tuple || head->items.size() < 3)
                    throw FormatError(Kind::Corrupt, "tensor header is not (key, storage key, type)", "tensors", at);
                ByteReader r(bytes, "tensors", tensors->offset);
                r.seek(pos);
                const std::int32_t ndim = r.i32();
                r.u32();
                if (ndim < 0 || static_cast<std::uint64_t>(ndim) * 16 + 8 > r.remaining())
                    throw FormatError(Kind::Corrupt, "bad dimension count " + std::to_string(ndim), "tensors",
                                      r.fileOffset() - 8);
                TensorInfo t;
                t.shape.resize(static_cast<std::size_t>(ndim));
                t.stride.resize(static_cast<std::size_t>(ndim));
                for (auto &s : t.shape)
                    s = r.i64();
                for (auto &s : t.stride)
                    s = r.i64();
                t.storageOffset = r.i64();
                pos = r.pos();
                const auto storage = storageByKey.find(keyText(head->items[1]));
                if (storage == storageByKey.end())
                    throw FormatError(Kind::Corrupt, "tensor names storage '" + keyText(head->items[1])
                                                         + "' that the archive does not have", "tensors", at);
                t.storage = storage->second;
                const StorageInfo &s = m_d.storages[static_cast<std::size_t>(t.storage)];
                t.dtype = s.dtype;
                if (head->items[2] && head->items[2]->kind == ValueKind::Global)
                    if (auto d = dtypeFromTensorClass(head->items[2]->name()))
                        t.dtype = *d;
                t.device = s.location;
                t.builder = "tar";
                t.pickleOffset = at;
                tensorByKey[keyText(head->items[0])] = static_cast<int>(m_d.tensors.size());
                m_d.tensors.push_back(std::move(t));
            }
        }
        const PlainIdResolver plainId = [&](std::string_view idView, Value *node) {
            const std::string id(idView);
            if (auto it = tensorByKey.find(id); it != tensorByKey.end()) {
                node->kind = ValueKind::Tensor;
                node->integer = it->second;
                return true;
            }
            if (auto it = storageByKey.find(id); it != storageByKey.end()) {
                node->kind = ValueKind::Storage;
                node->integer = it->second;
                return true;
            }
            return false;
        };
        const ByteView bytes = tar.bytes(*pickle);
        m_d.root = loadPickle(bytes, 0, pickle->offset, "pickle", none, nullptr, false, plainId);
        collectTensorPaths(m_d, m_d.root, {}, m_limits.maxDepth);
    }

    // --- safetensors, index, plain pickle ------------------------------------------------------

    void readSafetensors()
    {
        m_d.format = ContainerFormat::Safetensors;
        const SafetensorsHeader header = readSafetensorsHeader(m_file, m_d.file);
        m_d.metadata = header.metadata;
        Value *dict = m_d.graph.make(ValueKind::Dict);
        m_d.root = dict;
        for (const SafetensorsEntry &e : header.tensors) {
            StorageInfo s;
            s.key = e.name;
            s.dtype = e.dtype;
            s.numel = e.end - e.begin; // bytes; re-expressed in elements below
            if (elementSize(e.dtype) > 0)
                s.numel /= elementSize(e.dtype);
            s.location = "cpu";
            s.record = m_d.graph.copyText(e.name);
            s.bytes.view = m_file.sub(header.dataStart + e.begin, e.end - e.begin);
            s.bytes.fileOffset = header.dataStart + e.begin;
            s.present = true;
            m_d.storages.push_back(std::move(s));
            TensorInfo t;
            t.dtype = e.dtype;
            t.shape = e.shape;
            t.stride = TensorInfo::contiguousStrides(e.shape);
            t.storage = static_cast<int>(m_d.storages.size() - 1);
            t.builder = "safetensors";
            t.pickleOffset = 8;
            m_d.tensors.push_back(std::move(t));
            Value *key = m_d.graph.make(ValueKind::Str);
            m_d.graph.setText(key, e.name);
            Value *tensor = m_d.graph.make(ValueKind::Tensor);
            tensor->integer = static_cast<std::int64_t>(m_d.tensors.size() - 1);
            dict->items.push_back(key);
            dict->items.push_back(tensor);
        }
        collectTensorPaths(m_d, m_d.root, {}, m_limits.maxDepth);
    }

    void readIndex(const std::string &path)
    {
        m_d.format = ContainerFormat::Index;
        const ShardIndex index = readShardIndex(m_file, m_d.file);
        m_d.metadata = index.metadata;
        const std::filesystem::path folder = std::filesystem::path(path).parent_path();
        std::unordered_map<std::string, std::unordered_map<std::string, int>> tensorsOfShard;
        for (std::size_t shardNo = 0; shardNo < index.shards.size(); ++shardNo) {
            const std::string &shard = index.shards[shardNo];
            report(shardNo, index.shards.size());
            const std::string shardPath = (folder / shard).string();
            auto sub = readCheckpointImpl(shardPath, false);
            if (sub->error) {
                fail(FormatError(sub->error->kind, "shard '" + shard + "': " + sub->error->message,
                                 sub->error->record.empty() ? shard : shard + ": " + sub->error->record,
                                 sub->error->offset, sub->error->offsetInRecord));
            }
            for (const ReadWarning &w : sub->warnings)
                m_d.warnings.push_back({w.message, shard + (w.record.empty() ? "" : ": " + w.record), w.offset});
            for (const GlobalUse &g : sub->globals)
                addGlobal(g);
            const int fileIndex = static_cast<int>(m_d.files.size());
            m_d.files.insert(m_d.files.end(), sub->files.begin(), sub->files.end());
            const int storageBase = static_cast<int>(m_d.storages.size());
            const int tensorBase = static_cast<int>(m_d.tensors.size());
            for (StorageInfo s : sub->storages) {
                s.fileIndex = fileIndex;
                s.key = shard + ":" + s.key; // keys are per shard: "0" recurs in every .bin shard
                // (texts of the shard's graph, which goes: copied into ours)
                s.record = m_d.graph.copyText(shard + ": " + std::string(s.record));
                s.location = m_d.graph.copyText(s.location);
                m_d.storages.push_back(std::move(s));
            }
            for (TensorInfo t : sub->tensors) {
                t.device = m_d.graph.copyText(t.device);
                if (t.storage >= 0)
                    t.storage += storageBase;
                for (int &c : t.components)
                    c += tensorBase;
                if (t.quant && t.quant->scalesTensor >= 0) {
                    auto q = std::make_shared<QuantParams>(*t.quant);
                    q->scalesTensor += tensorBase;
                    q->zeroPointsTensor += tensorBase;
                    t.quant = std::move(q);
                }
                m_d.tensors.push_back(std::move(t));
            }
            auto &names = tensorsOfShard[shard];
            for (const TensorPath &p : sub->paths)
                names.emplace(p.path(), p.tensor + tensorBase);
        }
        Value *dict = m_d.graph.make(ValueKind::Dict);
        m_d.root = dict;
        m_d.shardOfTensor.assign(m_d.tensors.size(), {});
        for (const auto &[name, shard] : index.weightMap) {
            const auto &names = tensorsOfShard[shard];
            const auto it = names.find(name);
            if (it == names.end()) {
                fail(FormatError(Kind::Missing, "tensor '" + name + "' is not in shard '" + shard + "'", shard));
                continue;
            }
            Value *key = m_d.graph.make(ValueKind::Str);
            m_d.graph.setText(key, name);
            Value *tensor = m_d.graph.make(ValueKind::Tensor);
            tensor->integer = it->second;
            dict->items.push_back(key);
            dict->items.push_back(tensor);
            m_d.shardOfTensor[static_cast<std::size_t>(it->second)] = shard;
        }
        collectTensorPaths(m_d, m_d.root, {}, m_limits.maxDepth);
    }

    void readPlainPickle()
    {
        m_d.format = ContainerFormat::Pickle;
        bool warned = false;
        const StorageResolver resolver = [&](std::string_view, DType, std::uint64_t, std::string_view,
                                             std::uint64_t offset) -> int {
            if (!warned)
                m_d.warnings.push_back({"storage references in a plain pickle have no data", "pickle", offset});
            warned = true;
            return -1;
        };
        m_d.root = loadPickle(m_file, 0, 0, "pickle", resolver);
        collectTensorPaths(m_d, m_d.root, {}, m_limits.maxDepth);
    }

public:
    std::shared_ptr<CheckpointData> readCheckpointImpl(const std::string &path, bool allowIndex)
    {
        auto sub = std::make_shared<CheckpointData>();
        sub->file = path;
        try {
            auto mapped = MappedFile::open(path);
            sub->files.push_back(mapped);
            Reader reader(*sub, m_limits, {});
            reader.readGuarded(mapped->bytes(), path, allowIndex);
        } catch (const FormatError &e) {
            if (!sub->error)
                sub->error = ReadError{e.kind(), e.message(), e.record(), e.offset(), e.offsetInRecord()};
        }
        return sub;
    }

    void readGuarded(ByteView bytes, const std::string &path, bool allowIndex) noexcept
    {
        try {
            read(bytes, path, allowIndex);
        } catch (const FormatError &e) {
            fail(e);
            mergeGlobals();
        } catch (const std::bad_alloc &) {
            fail(FormatError(Kind::LimitExceeded, "out of memory while reading"));
        } catch (const std::exception &e) {
            fail(FormatError(Kind::Corrupt, e.what()));
        }
    }

private:
    CheckpointData &m_d;
    ReadLimits m_limits;
    ProgressFn m_progress;
    ByteView m_file;
    PickleUnpickler m_unpickler;
    bool m_warnedDeflate = false;
    std::uint64_t m_inflated = 0; ///< bytes charged by chargeInflation()
};

} // namespace

std::shared_ptr<const CheckpointData> readCheckpoint(const std::string &path, const ReadLimits &limits,
                                                     const ProgressFn &progress) noexcept
{
    std::shared_ptr<CheckpointData> data;
    try {
        data = std::make_shared<CheckpointData>();
        data->file = path;
        std::shared_ptr<const MappedFile> mapped;
        try {
            mapped = MappedFile::open(path);
        } catch (const FormatError &e) {
            data->error = ReadError{e.kind(), e.message(), {}, FormatError::kNoOffset, false};
            return data;
        }
        data->files.push_back(mapped);
        Reader reader(*data, limits, progress);
        // The security scan reads the same pickles again, on a second thread while the reader
        // builds the graph (it adds no wait on two cores or more).
        auto scan = std::async(std::launch::async, [bytes = mapped->bytes(), path] {
            return std::make_shared<SecurityScan>(scanCheckpointBytes(bytes, path));
        });
        reader.readGuarded(mapped->bytes(), path, true);
        attachSecurityScan(*data, scan.get());
        // Issue 6: a file truncated or rewritten while it was read gives meaningless results
        // (and whatever error they caused is not the file's fault): say so instead.
        for (const auto &f : data->files)
            if (f->changedOnDisk()) {
                data->error = ReadError{FormatError::Kind::Io, kFileChangedMessage,
                                        f == mapped ? std::string() : f->path(), FormatError::kNoOffset, false};
                break;
            }
    } catch (...) {
        if (!data)
            return nullptr;
        if (!data->error)
            data->error = ReadError{FormatError::Kind::LimitExceeded, "out of memory while reading", {},
                                    FormatError::kNoOffset, false};
    }
    return data;
}

std::shared_ptr<const CheckpointData> readCheckpointBytes(ByteView bytes, const std::string &name,
                                                          const ReadLimits &limits) noexcept
{
    std::shared_ptr<CheckpointData> data;
    try {
        data = std::make_shared<CheckpointData>();
        data->file = name;
        Reader reader(*data, limits, {});
        reader.readGuarded(bytes, name, false);
        attachSecurityScan(*data, std::make_shared<SecurityScan>(scanCheckpointBytes(bytes, name)));
    } catch (...) {
        if (!data)
            return nullptr;
        if (!data->error)
            data->error = ReadError{FormatError::Kind::LimitExceeded, "out of memory while reading", {},
                                    FormatError::kNoOffset, false};
    }
    return data;
}

std::string checkStorageCrc(const CheckpointData &data, int storage)
{
    if (storage < 0 || static_cast<std::size_t>(storage) >= data.storages.size())
        return {};
    const StorageInfo &s = data.storages[static_cast<std::size_t>(storage)];
    if (!s.hasCrc || !s.present)
        return {};
    uLong crc = crc32(0L, Z_NULL, 0);
    const std::uint8_t *p = s.bytes.view.data;
    for (std::uint64_t left = s.bytes.view.size; left > 0;) {
        const auto n = static_cast<uInt>(std::min<std::uint64_t>(left, 1u << 30));
        crc = crc32(crc, p, n);
        p += n;
        left -= n;
    }
    if (static_cast<std::uint32_t>(crc) == s.crc32)
        return {};
    char text[64];
    std::snprintf(text, sizeof text, "recorded 0x%08x, computed 0x%08x", static_cast<unsigned>(s.crc32),
                  static_cast<unsigned>(crc));
    return "record '" + std::string(s.record) + "' fails its CRC-32 check (" + text
           + "): its bytes changed after it was written, so these values are not the ones saved";
}

TensorViewResult tensorView(const CheckpointData &data, int index)
{
    TensorViewResult r;
    if (index < 0 || static_cast<std::size_t>(index) >= data.tensors.size()) {
        r.error = "no such tensor";
        return r;
    }
    const TensorInfo &t = data.tensors[static_cast<std::size_t>(index)];
    if (t.layout != Layout::Strided) {
        // Statistics of a sparse tensor are those of its stored values.
        const std::size_t valuesAt = t.layout == Layout::SparseCoo ? 1 : 2;
        if (t.components.size() <= valuesAt) {
            r.error = "sparse tensor without values";
            return r;
        }
        return tensorView(data, t.components[valuesAt]);
    }
    if (t.storage < 0) {
        r.error = t.device == "meta" ? "a tensor on the meta device has no data" : "the tensor has no storage";
        return r;
    }
    const StorageInfo &s = data.storages[static_cast<std::size_t>(t.storage)];
    if (!s.present) {
        r.error = s.problem.empty() ? "the storage's data is missing" : s.problem;
        return r;
    }
    if (!isDecodable(t.dtype)) {
        r.error = "values of dtype " + std::string(dtypeName(t.dtype)) + " cannot be decoded";
        return r;
    }
    const std::uint64_t available = std::min<std::uint64_t>(s.bytes.view.size, s.nbytes());
    const std::uint64_t storageElements = available / elementSize(t.dtype);
    if (std::string problem = validateExtent(t, storageElements); !problem.empty()) {
        r.error = problem;
        return r;
    }
    StridedView v;
    v.storage = s.bytes.view;
    v.dtype = t.dtype;
    v.shape = t.shape;
    v.stride = t.stride;
    v.offset = t.storageOffset;
    v.byteSwap = s.byteSwap;
    v.conj = t.conj;
    v.neg = t.neg;
    if (t.quant) {
        if (t.quant->perChannel()) {
            auto decodeAll = [&](int which, auto &out) -> bool {
                const TensorViewResult part = tensorView(data, which);
                if (!part.view)
                    return false;
                const std::uint64_t n = part.view->numel();
                if (n > (1u << 24))
                    return false;
                std::vector<double> values(static_cast<std::size_t>(n));
                decodeRange(*part.view, 0, n, values.data(), false);
                out.assign(values.begin(), values.end());
                return true;
            };
            std::vector<double> scales;
            std::vector<double> zps;
            if (!decodeAll(t.quant->scalesTensor, scales) || !decodeAll(t.quant->zeroPointsTensor, zps)
                || t.quant->axis < 0 || static_cast<std::size_t>(t.quant->axis) >= t.shape.size()
                || scales.size() != static_cast<std::size_t>(t.shape[static_cast<std::size_t>(t.quant->axis)])
                || zps.size() != scales.size()) {
                r.error = "the per-channel quantization parameters cannot be read";
                return r;
            }
            v.quantAxis = t.quant->axis;
            v.scales = std::move(scales);
            v.zeroPoints.reserve(zps.size());
            for (double z : zps)
                v.zeroPoints.push_back(static_cast<std::int64_t>(z));
        } else {
            v.scale = t.quant->scale;
            v.zeroPoint = t.quant->zeroPoint;
        }
    }
    r.view = std::move(v);
    return r;
}

} // namespace ckpt::format
