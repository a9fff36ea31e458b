// SPDX-License-Identifier: MIT
#include "containerreader.h"

#include "pt2archive.h"
#include "zipreader.h"

#include <zlib.h>

#include <algorithm>
#include <optional>
#include <unordered_map>

namespace ckpt::format {

void ContainerReader::readZip()
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

RecordBytes ContainerReader::readPickleRecord(const ZipReader &zip, const ZipEntry &entry)
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
void ContainerReader::chargeInflation(const ZipEntry &entry)
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
void ContainerReader::readPt2(const ZipReader &zip, const std::string &relPrefix, bool byteSwap)
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
                appendLastTensor(group, t.name);
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

bool ContainerReader::writtenBySerializationId(const ZipReader &zip)
{
    if (!m_hasSerializationId)
        m_hasSerializationId = zip.findRelative(".data/serialization_id") != nullptr;
    return *m_hasSerializationId;
}

void ContainerReader::attachZipRecord(const ZipReader &zip, const ZipEntry *e, StorageInfo &s)
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
    if (e->crc32 == 0 && e->uncompressedSize > 0 && e->method == 0 && writtenBySerializationId(zip)) {
        // torch.save under torch.serialization.skip_data (torch >= 2.5) writes each storage record
        // at its full size with a CRC-32 of 0 and leaves its bytes out (zeros; torch fills them
        // in a later pass). Written bytes have that CRC with probability 2^-32, so the tensor is
        // shown without values instead of as zeros that are not the model's. Only for archives
        // of a torch that writes `.data/serialization_id` (2.4 on): other writers may leave the
        // CRC at 0.
        s.problem = "record '" + std::string(s.record)
                    + "' has no bytes: the file was saved under torch.serialization.skip_data (CRC-32 0)";
        if (!m_warnedSkipData)
            m_d.warnings.push_back({"storage records have a CRC-32 of 0 and no bytes, as torch.save writes "
                                    "them under torch.serialization.skip_data: their tensors have no values",
                                    std::string(s.record), e->dataOffset});
        m_warnedSkipData = true;
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

} // namespace ckpt::format
