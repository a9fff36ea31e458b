// SPDX-License-Identifier: MIT
#pragma once

#include "formaterror.h"
#include "globalclass.h"
#include "mappedfile.h"
#include "pyvalue.h"
#include "securityscan.h"
#include "tensordecode.h"
#include "tensorinfo.h"

#include <functional>
#include <optional>
#include <memory>
#include <string>
#include <vector>

namespace ckpt::format {

enum class ContainerFormat : std::uint8_t {
    TorchZip, TorchLegacy, TorchTar, TorchScript, Safetensors, Index, Pickle, TorchExport,
    Folder, ///< a training folder read as one checkpoint (CheckpointData::members)
    Dcp,    ///< a torch.distributed.checkpoint directory (.metadata and *.distcp files)
    Json,   ///< a JSON file of a folder (trainer_state.json), read as values
    Unknown,
};
std::string_view formatName(ContainerFormat f) noexcept; ///< "torch-zip", "torch-legacy", ...

/// Progress callback: bytes (or elements) done of total; return false to cancel.
using ProgressFn = std::function<bool(std::uint64_t done, std::uint64_t total)>;

/// A non-fatal problem: something was skipped or shown as opaque.
struct ReadWarning
{
    std::string message;
    std::string record;
    std::uint64_t offset = FormatError::kNoOffset;
    std::string text() const { return FormatError::describe(message, record, offset, false); }
};

/// The fatal error of a read, if any (whatever was read before it is still in the result).
struct ReadError
{
    FormatError::Kind kind = FormatError::Kind::Corrupt;
    std::string message;
    std::string record;
    std::uint64_t offset = FormatError::kNoOffset;
    bool offsetInRecord = false;
    std::string text() const { return FormatError::describe(message, record, offset, offsetInRecord); }
};

/// A tensor reached at a path (PRODUCT.md section 4 "Paths"). The same tensor may be listed at
/// several paths (tied weights, memo references).
struct TensorPath
{
    /// The keys, as views of text that the CheckpointData's graph owns (ValueGraph::copyText();
    /// a str key is the key node's own text): valid as long as the CheckpointData.
    std::vector<std::string_view> keys;
    int tensor = -1; ///< index into CheckpointData::tensors
    std::string path() const; ///< keys joined with '/'
};

/// Resource limits of a read (FORMAT.md section 8, 13).
struct ReadLimits
{
    std::uint64_t maxPickleBytes = 1ull << 31;   ///< a pickle/record we parse in memory
    std::uint64_t maxNodes = 50'000'000;         ///< value graph nodes
    std::uint64_t maxMemo = 50'000'000;          ///< memo entries
    std::uint32_t maxDepth = 2000;               ///< nesting depth of walks over the graph
    std::uint64_t maxInflated = 1ull << 32;      ///< bytes one deflated record may inflate to
    std::uint32_t maxNestedPickles = 4;          ///< nested torch.save blobs inside bytes
    /// DCP directories: read every tensor record (a torch.save archive per chunk) on open, so
    /// that its pickle is scanned and its globals listed. false: each is read when its values
    /// are first needed (CheckpointData::dcpRecords): opening reads `.metadata` only. dcp.load
    /// reads tensor records with torch.load(weights_only=True), so the verdict does not depend
    /// on them; `ckpt-inspect scan` reads them all.
    bool dcpRecordsOnOpen = true;
    /// Walk the graph for its tensors (CheckpointData::paths). false for a pickle read only for
    /// what it describes, as a DCP `.metadata`: its million nodes hold no tensor.
    bool tensorPaths = true;
    /// Run the security scan (CheckpointData::security; the globals' classes and roles). false
    /// for what reports nothing of it (`ckpt-inspect ls`, `stats`, `optim`, `diff`): security
    /// stays null. The scan runs on a second thread, but the two threads' page faults contend in
    /// the kernel: opening a large pickle took a third longer beside it.
    bool scan = true;
};

/// A piece of a tensor that a DCP checkpoint stores in one record of one file
/// (torch.distributed.checkpoint's ChunkStorageMetadata with its _StorageInfo).
struct TensorChunk
{
    std::vector<std::int64_t> offsets; ///< where the piece starts in the logical tensor
    std::vector<std::int64_t> sizes;
    std::string file;                  ///< relative_path in the directory ("__1_0.distcp")
    int rank = -1;                     ///< the writer's rank (__<rank>_<n>.distcp), -1 if unnamed
    std::uint64_t byteOffset = 0;      ///< the record: a torch.save archive of the piece
    std::uint64_t byteLength = 0;
    int record = -1;                   ///< index in CheckpointData::dcpRecords
};

/// The tensor records of a DCP directory, read when first needed and kept (dcpreader.cpp).
/// Thread-safe.
class DcpRecords;


/// Everything read from one checkpoint: the value graph, the tensors and storages, the globals
/// referenced, warnings and, if reading stopped early, the error. Immutable after reading;
/// safe to share between threads (tensor bytes are read through the map).
struct CheckpointData
{
    std::string file;
    ContainerFormat format = ContainerFormat::Unknown;
    std::vector<std::shared_ptr<const MappedFile>> files; ///< [0] = the file; shards follow
    ValueGraph graph;
    Value *root = nullptr;                ///< the top-level object (partial after an error)
    /// Further top-level values shown beside the root, with their path prefix (TorchScript
    /// constants: "CONSTANTS" -> {c0: tensor, ...}).
    std::vector<std::pair<std::string, Value *>> extraRoots;
    std::vector<TensorInfo> tensors;
    std::vector<StorageInfo> storages;
    std::vector<TensorPath> paths;        ///< tensors in walk order, at every path
    std::vector<GlobalUse> globals;       ///< every global referenced, by first occurrence
    /// Every pickle of the file(s) scanned for code that loading would run (securityscan.h);
    /// `globals` carries its per-global verdicts. Null only when reading ran out of memory.
    std::shared_ptr<const SecurityScan> security;
    std::vector<ReadWarning> warnings;
    std::optional<ReadError> error;
    std::vector<std::pair<std::string, std::string>> metadata; ///< safetensors __metadata__, index metadata
    std::vector<std::string> shardOfTensor; ///< index format: shard file name per tensor
    /// DCP: the chunks of each tensor (indexed like `tensors`; empty for the other formats). A
    /// DCP tensor has no storage of its own: its values are its chunks' records.
    std::vector<std::vector<TensorChunk>> chunksOfTensor;
    /// DCP: where the chunks' records are and, once read, what they hold (tensorView() reads them).
    std::shared_ptr<const DcpRecords> dcpRecords;
    std::string archivePrefix;            ///< zip formats
    std::string version;                  ///< zip `version` record / legacy protocol

    /// Folder format: each file read, under its top-level key, in tree order.
    struct Member
    {
        std::string key;   ///< "model", "optimizer", "trainer_state", ...
        std::string file;  ///< its path
        ContainerFormat format = ContainerFormat::Unknown;
    };
    std::vector<Member> members;
    /// Folder format: the reads of its files, whose graphs hold the nodes below `root` (their
    /// tensors and storages moved into the tables above).
    std::vector<std::shared_ptr<const CheckpointData>> parts;
    /// The format of the file the value at `keys` was read from: the member's for a folder,
    /// else `format`.
    ContainerFormat formatAt(const std::vector<std::string> &keys) const noexcept;

    bool ok() const noexcept { return !error.has_value(); }
    /// The security scan's verdict is "dangerous".
    bool hasDangerousGlobals() const noexcept;
    /// The security scan's verdict ("unknown" without a scan).
    ScanVerdict scanVerdict() const noexcept;
    /// Folder format: the name of the first file whose pickle is dangerous ("training_args.bin"),
    /// else "".
    std::string dangerousMember() const;
};

/// The model weights in a folder written by save_pretrained or a transformers Trainer
/// (checkpoint-N/): model.safetensors.index.json, pytorch_model.bin.index.json,
/// model.safetensors, pytorch_model.bin, else its only *.index.json, else its only
/// *.safetensors. "" when there is none or the choice is not clear.
std::string weightsInFolder(const std::string &dir);

/// Opens `path`, sniffs its format (FORMAT.md section 0) and reads the container directory and
/// the pickle(s). Tensor bytes are not touched. Never throws: a fatal problem is returned in
/// `error` together with whatever could be read. Nothing is executed, nothing is written.
/// A transformers Trainer folder (checkpoint-N/) is read as one checkpoint of format Folder
/// whose top-level keys are its files (FORMAT.md section 12); any other folder as the weights
/// in it (weightsInFolder), `file` then being that file.
std::shared_ptr<const CheckpointData> readCheckpoint(const std::string &path,
                                                     const ReadLimits &limits = {},
                                                     const ProgressFn &progress = {}) noexcept;

/// Checks storage `storage`'s record against the CRC-32 its zip entry records (reads every
/// byte of the record: called when statistics read them anyway). "" when it matches or there is
/// nothing to check; else what is wrong, naming the record, e.g. "record 'archive/data/3' fails
/// its CRC-32 check (recorded 0x1a2b3c4d, computed 0x...): its bytes changed after it was
/// written". Safe from any thread.
///
/// The record is checked in 8 MiB pieces on `options.threads` workers (their CRCs joined with
/// zlib's crc32_combine), so that a 1 GiB record takes a quarter of a second on one core less
/// and Cancel is noticed within a piece: `options.progress` (bytes done of the record's size;
/// false cancels, which throws FormatError(Cancelled)) and `options.background` are as for
/// ParallelWork.
struct CrcOptions
{
    std::function<bool(std::uint64_t done, std::uint64_t total)> progress;
    unsigned threads = 0; ///< 0: std::thread::hardware_concurrency()
    bool background = false;
};
std::string checkStorageCrc(const CheckpointData &data, int storage, const CrcOptions &options = {});
/// checkStorageCrc() of tensor `tensor`'s storage; for a tensor of a DCP directory, of every
/// chunk's record (each a torch.save archive with its own CRC-32; the message names the record,
/// "__0_0.distcp@5044: record 'archive/data/0' fails ..."), the first that fails.
std::string checkTensorCrc(const CheckpointData &data, int tensor, const CrcOptions &options = {});
/// The CRC-32 check of `bytes` against `recorded` (checkStorageCrc()'s message names `record`).
std::string checkBytesCrc(ByteView bytes, std::uint32_t recorded, const std::string &record,
                          const CrcOptions &options = {});

/// The decodable view of tensor `tensor` (strided/quantized tensors with data), or why there is
/// none ("meta tensor has no data", "storage 'x' is missing", "sparse tensor: see its values
/// component", "tensor needs 12 storage elements, storage has 8"). Cheap; safe from any thread.
struct TensorViewResult
{
    std::optional<StridedView> view;
    std::string error;
    /// A DCP tensor split among writers: a view of each of its chunks, in chunk order, when
    /// every one can be read; `view` is then the piecewise view over them (StridedView::pieces)
    /// for element-wise work (values, heat-maps, diff). Statistics are those of the pieces
    /// together (computeStatsOfPieces, which computeStats() also uses for a piecewise view).
    std::vector<StridedView> pieces;
    std::vector<int> pieceTensors; ///< the pieces' own tensors (for their records' CRC-32); -1: none in the table
};
TensorViewResult tensorView(const CheckpointData &data, int tensor);

/// Same, for bytes already in memory (fuzzing, nested pickles). `name` is used in messages.
std::shared_ptr<const CheckpointData> readCheckpointBytes(ByteView bytes, const std::string &name,
                                                          const ReadLimits &limits = {}) noexcept;

} // namespace ckpt::format
