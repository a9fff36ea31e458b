// SPDX-License-Identifier: MIT
#pragma once

#include "bytes.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ckpt::format {

/// One central-directory entry, with sizes and offsets resolved through ZIP64 extras.
struct ZipEntry
{
    std::string name;                  ///< full name as stored (UTF-8)
    std::uint16_t method = 0;          ///< 0 stored, 8 deflated
    std::uint16_t flags = 0;
    std::uint32_t crc32 = 0;           ///< 0 = not recorded
    std::uint64_t compressedSize = 0;
    std::uint64_t uncompressedSize = 0;
    std::uint64_t localHeaderOffset = 0;
    std::uint64_t dataOffset = 0;      ///< first payload byte (from the local header)
    std::uint64_t centralOffset = 0;   ///< where the central entry is, for messages
};

/// Reads a zip central directory (FORMAT.md 1.2) straight from the mapped file: any archive
/// prefix, ZIP64 (EOCD64 + locator, per-entry extras), stored records as zero-copy views,
/// deflated records inflated with zlib.
///
/// Written by hand because Debian's minizip 1.1 misreads torch's ZIP64 entries and libzip
/// does not expose data offsets, which zero-copy memory mapping needs.
/// Thread-safe for concurrent `read()` calls once constructed.
class ZipReader
{
public:
    /// True when the bytes start with a local file header signature `PK\3\4`.
    static bool probe(ByteView file) noexcept;

    /// Parses the directory. `fileName` is used in error messages. Throws FormatError naming
    /// the entry and byte offset for: no EOCD ("no central directory (truncated?)"), bad
    /// signatures, entries or data past the end of the file, entries overlapping each other or
    /// the directory, duplicate names, names with `..`, more entries than the directory can hold.
    explicit ZipReader(ByteView file, std::string fileName = {});

    const std::vector<ZipEntry> &entries() const noexcept { return m_entries; }
    const ZipEntry *find(std::string_view name) const noexcept;

    /// The archive prefix: the text before the first '/' of the first entry (torch's rule),
    /// or "" when the first entry has no '/'.
    const std::string &prefix() const noexcept { return m_prefix; }
    /// Entry `prefix + "/" + relative` (or `relative` when the prefix is empty).
    const ZipEntry *findRelative(std::string_view relative) const noexcept;

    /// The payload of an entry: stored -> a view into the file (fileOffset set); deflated ->
    /// inflated into an owned buffer of at most `maxInflated` bytes (FormatError(LimitExceeded)
    /// beyond). Other methods: FormatError(Unsupported). A deflate stream that is corrupt or
    /// does not produce exactly uncompressedSize bytes: FormatError(Corrupt).
    RecordBytes read(const ZipEntry &entry, std::uint64_t maxInflated = 1ull << 32) const;

private:
    ByteView m_file;
    std::string m_fileName;
    std::vector<ZipEntry> m_entries;
    std::unordered_map<std::string, std::size_t> m_byName;
    std::string m_prefix;
};

} // namespace ckpt::format
