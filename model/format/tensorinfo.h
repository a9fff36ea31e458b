// SPDX-License-Identifier: MIT
#pragma once

#include "bytes.h"
#include "dtype.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ckpt::format {

enum class Layout : std::uint8_t { Strided, SparseCoo, SparseCsr, SparseCsc, SparseBsr, SparseBsc };
std::string_view layoutName(Layout layout) noexcept; ///< "strided", "sparse_coo", ...

/// Quantization parameters of a quantized tensor (FORMAT.md 1.5, `_rebuild_qtensor`).
struct QuantParams
{
    std::string scheme;          ///< "per_tensor_affine", "per_channel_affine", ...
    double scale = 1.0;          ///< per-tensor
    std::int64_t zeroPoint = 0;  ///< per-tensor
    std::int64_t axis = 0;       ///< per-channel
    int scalesTensor = -1;       ///< per-channel: index of the scales tensor in the tensor table
    int zeroPointsTensor = -1;   ///< per-channel: index of the zero-points tensor
    bool perChannel() const noexcept { return scalesTensor >= 0; }
};

/// One storage (a `data/<key>` record, a legacy storage, a safetensors span).
struct StorageInfo
{
    std::string key;             ///< storage key as the file names it
    DType dtype = DType::UInt8;  ///< element type of the storage (UInt8 for untyped)
    std::uint64_t numel = 0;     ///< storage elements as declared
    // The texts below are views of text the CheckpointData's graph owns (ValueGraph::copyText(),
    // often a node's own text) or static text: two std::strings, one of them allocated, were a
    // fifth of the memory of a checkpoint of 100,000 small tensors.
    std::string_view location;   ///< "cpu", "cuda:0", ...
    std::string_view record;     ///< where the bytes are ("archive/data/0", "storages", shard file)
    RecordBytes bytes;           ///< the bytes (view into the map, or inflated); empty if missing
    bool present = false;        ///< bytes are available and at least numel * elementSize long
    bool byteSwap = false;       ///< stored big-endian (zip `byteorder` = big)
    std::string problem;         ///< why the bytes are not available, when !present
    int fileIndex = 0;           ///< which mapped file (shards)
    bool hasCrc = false;         ///< the zip records a CRC-32 of the record (checkStorageCrc)
    std::uint32_t crc32 = 0;

    std::uint64_t nbytes() const noexcept;
};

/// One tensor as the file describes it. Offsets and strides are in elements.
struct TensorInfo
{
    std::vector<std::int64_t> shape;
    std::vector<std::int64_t> stride;
    std::int64_t storageOffset = 0;
    std::string_view device = "cpu"; ///< as StorageInfo's texts: graph-owned or static
    DType dtype = DType::Unknown; // (the small fields together: no padding between them)
    bool requiresGrad = false;
    bool isParameter = false;     ///< reached through `_rebuild_parameter`
    Layout layout = Layout::Strided;
    bool conj = false;            ///< metadata flag: stored values must be conjugated
    bool neg = false;             ///< metadata flag: stored values must be negated
    int storage = -1;             ///< index into the storage table; -1: no data (meta, wrapper)
    /// Quantized tensors only (shared: a copy of the info shares it; rarely set, and an
    /// optional here was 72 bytes of every tensor).
    std::shared_ptr<const QuantParams> quant;
    std::vector<int> components;  ///< sparse: indices/values (COO) or crow/col/values tensors
    std::string subclass;         ///< `_rebuild_from_type_v2` class ("__main__.MyT"), or ""
    std::string_view builder;     ///< the rebuild function ("_rebuild_tensor_v2", ...); static text
    std::uint64_t pickleOffset = 0; ///< byte offset of the rebuild call in the file

    /// Product of shape (saturating at UINT64_MAX on overflow; 1 for 0-d).
    std::uint64_t numel() const noexcept;
    /// numel * element size (packed types round up), saturating.
    std::uint64_t nbytes() const noexcept;
    /// Row-major contiguous strides for `shape`.
    static std::vector<std::int64_t> contiguousStrides(const std::vector<std::int64_t> &shape);
};

/// Checks that a strided tensor fits in its storage (FORMAT.md 1.6): non-negative sizes and
/// strides, no overflow, highest touched element inside `storageElements`. Returns an empty
/// string when fine, else what is wrong.
std::string validateExtent(const TensorInfo &t, std::uint64_t storageElements);

} // namespace ckpt::format
