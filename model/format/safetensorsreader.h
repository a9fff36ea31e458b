// SPDX-License-Identifier: MIT
#pragma once

#include "bytes.h"
#include "dtype.h"

#include <string>
#include <utility>
#include <vector>

namespace ckpt::format {

struct SafetensorsEntry
{
    std::string name;
    DType dtype = DType::Unknown;
    std::string dtypeCode;              ///< as written ("F32"); kept for unknown codes
    std::vector<std::int64_t> shape;
    std::uint64_t begin = 0;            ///< relative to the data area
    std::uint64_t end = 0;
};

struct SafetensorsHeader
{
    std::uint64_t headerSize = 0;       ///< N
    std::uint64_t dataStart = 0;        ///< 8 + N
    std::vector<SafetensorsEntry> tensors;                       ///< in header order
    std::vector<std::pair<std::string, std::string>> metadata;   ///< __metadata__
};

/// True when the first 8 bytes are a plausible header length followed by '{'.
bool probeSafetensors(ByteView file) noexcept;

/// Parses and validates a safetensors header (FORMAT.md 7.1): N <= 100,000,000 and 8 + N <=
/// file size; each entry's dtype known, span == numel * element size (overflow-checked),
/// spans inside the data area and not overlapping. Reads only the header bytes.
/// Throws FormatError naming the tensor and byte offset.
SafetensorsHeader readSafetensorsHeader(ByteView file, const std::string &fileName = {});

/// A Hugging Face `*.index.json` (FORMAT.md 7.2).
struct ShardIndex
{
    std::vector<std::pair<std::string, std::string>> weightMap; ///< tensor -> shard, file order
    std::vector<std::pair<std::string, std::string>> metadata;  ///< scalar metadata as text
    std::vector<std::string> shards;                            ///< distinct shards, first-use order
};

/// Parses an index. Rejects shard names that are absolute or contain `..` path components.
ShardIndex readShardIndex(ByteView json, const std::string &fileName = {});

/// True when the text is a JSON object with a "weight_map" member (cheap sniff).
bool probeShardIndex(ByteView file) noexcept;

} // namespace ckpt::format
