// SPDX-License-Identifier: MIT
#include "checkpointreader.h"
#include "containerreader.h"
#include "dcpreader.h"
#include "folderreader.h"

#include "parallelwork.h"
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
#include <thread>
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
    case ContainerFormat::Folder: return "folder";
    case ContainerFormat::Dcp: return "dcp";
    case ContainerFormat::Json: return "json";
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

std::string CheckpointData::dangerousMember() const
{
    if (format != ContainerFormat::Folder || !security)
        return {};
    for (const PickleScan &p : security->pickles)
        if (p.dangerous())
            return p.record.substr(0, p.record.find(": ")); // mergeScan() named it "file: record"
    return {};
}

ContainerFormat CheckpointData::formatAt(const std::vector<std::string> &keys) const noexcept
{
    if (format != ContainerFormat::Folder)
        return format;
    for (const Member &m : members)
        if (!keys.empty() && keys.front() == m.key)
            return m.format;
    return ContainerFormat::Unknown;
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
        for (std::size_t i = 1; i < data.files.size(); ++i)
            mergeScan(*scan, scanCheckpointBytes(data.files[i]->bytes(), data.files[i]->path()),
                      std::filesystem::path(data.files[i]->path()).filename().string());
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

std::string weightsInFolder(const std::string &dir)
{
    namespace fs = std::filesystem;
    std::error_code ec;
    for (const char *name : {"model.safetensors.index.json", "pytorch_model.bin.index.json", "model.safetensors",
                             "pytorch_model.bin"}) {
        const fs::path p = fs::path(dir) / name;
        if (fs::is_regular_file(p, ec))
            return p.string();
    }
    // Other save_pretrained names (diffusion_pytorch_model.safetensors.index.json, ...): one
    // shard index, else one weights file.
    std::vector<std::string> indexes, weights;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (!it->is_regular_file(ec))
            continue;
        if (name.ends_with(".safetensors.index.json") || name.ends_with(".bin.index.json"))
            indexes.push_back(it->path().string());
        else if (name.ends_with(".safetensors"))
            weights.push_back(it->path().string());
    }
    if (indexes.size() == 1)
        return indexes.front();
    if (indexes.empty() && weights.size() == 1)
        return weights.front();
    return {};
}

namespace {

/// What a read that ran out of memory returns: whatever it had, with that as its error (nullptr
/// when not even the result could be made).
std::shared_ptr<CheckpointData> outOfMemory(std::shared_ptr<CheckpointData> data) noexcept
{
    if (data && !data->error)
        data->error = ReadError{FormatError::Kind::LimitExceeded, "out of memory while reading", {},
                                FormatError::kNoOffset, false};
    return data;
}

} // namespace

std::shared_ptr<CheckpointData> readCheckpointFile(const std::string &path, const ReadLimits &limits,
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
        ContainerReader reader(*data, limits, progress);
        // The security scan reads the same pickles again, on a second thread while the reader
        // builds the graph (it adds no wait on two cores or more).
        if (!limits.scan) {
            reader.readGuarded(mapped->bytes(), path, true);
        } else {
            auto scan = std::async(std::launch::async, [bytes = mapped->bytes(), path] {
                return std::make_shared<SecurityScan>(scanCheckpointBytes(bytes, path));
            });
            reader.readGuarded(mapped->bytes(), path, true);
            attachSecurityScan(*data, scan.get());
        }
        // Issue 6: a file truncated or rewritten while it was read gives meaningless results
        // (and whatever error they caused is not the file's fault): say so instead.
        for (const auto &f : data->files)
            if (f->changedOnDisk()) {
                data->error = ReadError{FormatError::Kind::Io, kFileChangedMessage,
                                        f == mapped ? std::string() : f->path(), FormatError::kNoOffset, false};
                break;
            }
    } catch (...) {
        return outOfMemory(std::move(data));
    }
    return data;
}

namespace {

/// Issue 6 for the files of a folder: one rewritten while it was read makes the read an error.
void noteChangedFile(CheckpointData &data)
{
    for (const auto &f : data.files)
        if (f->changedOnDisk()) {
            data.error = ReadError{FormatError::Kind::Io, kFileChangedMessage, f->path(), FormatError::kNoOffset, false};
            return;
        }
}

} // namespace

std::shared_ptr<const CheckpointData> readCheckpoint(const std::string &given, const ReadLimits &limits,
                                                     const ProgressFn &progress) noexcept
{
    std::error_code ec;
    if (!std::filesystem::is_directory(given, ec))
        return readCheckpointFile(given, limits, progress);
    std::shared_ptr<CheckpointData> data;
    try {
        if (isDcpFolder(given)) {
            data = std::make_shared<CheckpointData>();
            readDcpFolder(*data, given, limits, progress);
            noteChangedFile(*data);
            return data;
        }
        if (const std::vector<FolderFile> files = trainerFolderFiles(given); !files.empty()) {
            data = std::make_shared<CheckpointData>();
            readTrainerFolder(*data, given, files, limits, progress);
            noteChangedFile(*data);
            return data;
        }
        if (const std::string weights = weightsInFolder(given); !weights.empty())
            return readCheckpointFile(weights, limits, progress);
        data = std::make_shared<CheckpointData>();
        data->file = given;
        data->error = ReadError{FormatError::Kind::Io,
                                "is a directory without one set of model weights in it (model.safetensors, "
                                "pytorch_model.bin, or one *.index.json shard index) and not a Trainer "
                                "checkpoint folder (optimizer.pt, trainer_state.json, ...)",
                                {}, FormatError::kNoOffset, false};
    } catch (...) {
        return outOfMemory(std::move(data));
    }
    return data;
}

std::shared_ptr<const CheckpointData> readCheckpointBytes(ByteView bytes, const std::string &name,
                                                          const ReadLimits &limits) noexcept
{
    return readCheckpointBytesMutable(bytes, name, limits);
}

std::shared_ptr<CheckpointData> readCheckpointBytesMutable(ByteView bytes, const std::string &name,
                                                           const ReadLimits &limits, bool scan) noexcept
{
    std::shared_ptr<CheckpointData> data;
    try {
        data = std::make_shared<CheckpointData>();
        data->file = name;
        ContainerReader reader(*data, limits, {});
        reader.readGuarded(bytes, name, false);
        if (scan && limits.scan)
            attachSecurityScan(*data, std::make_shared<SecurityScan>(scanCheckpointBytes(bytes, name)));
    } catch (...) {
        return outOfMemory(std::move(data));
    }
    return data;
}

std::string checkStorageCrc(const CheckpointData &data, int storage, const CrcOptions &options)
{
    if (storage < 0 || static_cast<std::size_t>(storage) >= data.storages.size())
        return {};
    const StorageInfo &s = data.storages[static_cast<std::size_t>(storage)];
    if (!s.hasCrc || !s.present)
        return {};
    return checkBytesCrc(s.bytes.view, s.crc32, std::string(s.record), options);
}

std::string checkTensorCrc(const CheckpointData &data, int tensor, const CrcOptions &options)
{
    if (tensor < 0 || static_cast<std::size_t>(tensor) >= data.tensors.size())
        return {};
    const auto t = static_cast<std::size_t>(tensor);
    if (t < data.chunksOfTensor.size() && !data.chunksOfTensor[t].empty() && data.dcpRecords) {
        for (const TensorChunk &c : data.chunksOfTensor[t])
            if (c.record >= 0)
                if (std::string problem = data.dcpRecords->checkCrc(c.record, options); !problem.empty())
                    return problem;
        return {};
    }
    return checkStorageCrc(data, data.tensors[t].storage, options);
}

std::string checkBytesCrc(ByteView bytes, std::uint32_t recorded, const std::string &record, const CrcOptions &options)
{
    constexpr std::uint64_t kPiece = 8u << 20;
    const std::uint8_t *p = bytes.data;
    const std::uint64_t size = bytes.size;
    const std::uint64_t pieces = (size + kPiece - 1) / kPiece;
    std::vector<uLong> crcs(pieces, 0);
    ParallelWork::Options work;
    work.progress = &options.progress;
    work.total = size;
    work.reportStep = kPiece;
    work.what = "CRC-32 check";
    work.background = options.background;
    ParallelWork runner(work);
    const unsigned threads = options.threads ? options.threads : std::thread::hardware_concurrency();
    runner.run(pieces, threads, [&](std::uint64_t i, unsigned) {
        const std::uint64_t at = i * kPiece;
        const auto n = static_cast<uInt>(std::min(kPiece, size - at));
        crcs[i] = crc32(crc32(0L, Z_NULL, 0), p + at, n);
        runner.advance(n);
    });
    runner.finish();
    uLong crc = crc32(0L, Z_NULL, 0);
    for (std::uint64_t i = 0; i < pieces; ++i) {
        const auto n = static_cast<z_off_t>(std::min(kPiece, size - i * kPiece));
        crc = crc32_combine(crc, crcs[i], n);
    }
    if (static_cast<std::uint32_t>(crc) == recorded)
        return {};
    char text[64];
    std::snprintf(text, sizeof text, "recorded 0x%08x, computed 0x%08x", static_cast<unsigned>(recorded),
                  static_cast<unsigned>(crc));
    return "record '" + record + "' fails its CRC-32 check (" + text
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
        if (static_cast<std::size_t>(index) < data.chunksOfTensor.size() && data.dcpRecords
            && !data.chunksOfTensor[static_cast<std::size_t>(index)].empty()) {
            // DCP: the values are the chunks' records, read when first needed.
            const auto &chunks = data.chunksOfTensor[static_cast<std::size_t>(index)];
            if (chunks.size() == 1 && chunks[0].sizes == t.shape) {
                if (chunks[0].record < 0) {
                    r.error = "the chunk's record (" + chunks[0].file + "@" + std::to_string(chunks[0].byteOffset)
                              + ") cannot be read";
                    return r;
                }
                return data.dcpRecords->view(chunks[0].record);
            }
            auto tiles = std::make_shared<std::vector<ViewPiece>>();
            tiles->reserve(chunks.size());
            for (const TensorChunk &c : chunks) {
                TensorViewResult piece = c.record >= 0 ? data.dcpRecords->view(c.record) : TensorViewResult{};
                if (!piece.view || piece.view->shape != c.sizes || c.offsets.size() != t.shape.size()) {
                    r.pieces.clear();
                    r.pieceTensors.clear();
                    r.error = "chunk " + c.file + "@" + std::to_string(c.byteOffset) + " of the split tensor cannot be read"
                              + (piece.error.empty() ? std::string() : ": " + piece.error);
                    return r;
                }
                tiles->push_back({c.offsets, *piece.view});
                r.pieces.push_back(std::move(*piece.view));
                r.pieceTensors.push_back(-1); // the record's tensor is in no table of this checkpoint
            }
            // The logical tensor over its chunks (the reader checked that they tile it).
            StridedView v;
            v.dtype = t.dtype;
            v.shape = t.shape;
            v.pieces = std::move(tiles);
            r.view = std::move(v);
            return r;
        }
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
