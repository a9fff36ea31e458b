// SPDX-License-Identifier: MIT
#pragma once

#include "bytes.h"

#include <cstdint>
#include <string>
#include <string_view>
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

/// Where the central directory was found and how it was reached (diagnostics and tests).
struct ZipDirectoryInfo
{
    std::uint64_t eocdOffset = 0;      ///< classic end-of-central-directory record `PK\5\6`
    std::uint64_t eocd64Offset = 0;    ///< ZIP64 end record `PK\6\6` (valid when zip64)
    std::uint64_t cdOffset = 0;        ///< first central entry, as a file offset
    std::uint64_t cdSize = 0;
    std::uint64_t entryCount = 0;
    std::uint64_t prependedBytes = 0;  ///< bytes in front of the archive (self-extracting stub)
    bool zip64 = false;                ///< counts/size/offset came from the ZIP64 end record
    std::string comment;               ///< archive comment (raw bytes)
    /// recoverFromLocalHeaders(): the entries come from the local headers, and why the scan
    /// stopped where it did ("" when it reached the central directory).
    bool recovered = false;
    std::string recoveryStop;
    std::uint64_t recoveryStopOffset = 0;
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
    /// the entry (or "end of central directory" / "zip central directory") and byte offset for:
    /// no EOCD ("no zip end-of-central-directory record found (file truncated?)"), bad
    /// signatures, entries or data past the end of the file, entries overlapping each other or
    /// the directory, duplicate names, names with `..`, more entries than the directory can hold.
    /// Bytes prepended to an archive (self-extracting stubs) are tolerated: when the directory
    /// sits later than recorded, every offset is shifted by the difference (as Info-ZIP does).
    /// Cost: O(entries) (plus a sort when local headers are out of directory order); no payload
    /// byte is touched.
    explicit ZipReader(ByteView file, std::string fileName = {});

    /// For an archive whose end records or central directory are missing or damaged (a file cut
    /// short while it was copied or written): the entries the local headers still describe, in
    /// file order, from byte 0 up to the first header or payload that is not whole. Sizes that
    /// a data descriptor carries (torch writes them after each payload) are taken from the
    /// descriptor whose recorded size matches the distance from the payload's start. Never
    /// throws for damaged input (an empty reader when nothing is whole).
    static ZipReader recoverFromLocalHeaders(ByteView file, std::string fileName = {});

    /// The entry count the end records declare (ZIP64 included), checked only as far as the
    /// end records go; 0 when they cannot be read. Touches the file's tail only: a cheap hint
    /// for callers sizing work before the full read (ckpt-inspect's heap, issue 7).
    static std::uint64_t declaredEntryCount(ByteView file) noexcept;

    /// Central entries in directory order.
    const std::vector<ZipEntry> &entries() const noexcept { return m_entries; }
    /// How the directory was located (ZIP64 or classic end record, prepended bytes, comment).
    const ZipDirectoryInfo &directory() const noexcept { return m_directory; }
    /// Entry by full name (hash lookup, no allocation), or nullptr.
    const ZipEntry *find(std::string_view name) const noexcept;
    /// Same, trying the entry after `previous` (an entry of this reader, or nullptr) first:
    /// callers that look up records in directory order (torch writes data/0, data/1, ... in
    /// the order its pickle names them) skip the hash probe and its cache misses.
    const ZipEntry *findAfter(std::string_view name, const ZipEntry *previous) const noexcept
    {
        if (previous && previous + 1 < m_entries.data() + m_entries.size() && previous[1].name == name)
            return previous + 1;
        return find(name);
    }

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
    struct EndOnly {};
    ZipReader(ByteView file, EndOnly) : m_file(file) { readEnd(); }
    struct Recover {};
    ZipReader(ByteView file, std::string fileName, Recover);
    void index();
    void readEnd();
    void readEntries();
    void checkOverlaps() const;
    /// Slot holding `name`, or the empty slot where it would go.
    std::size_t slotFor(std::string_view name, std::size_t hash) const noexcept;

    ByteView m_file;
    std::string m_fileName;
    ZipDirectoryInfo m_directory;
    std::vector<ZipEntry> m_entries;
    /// Name index: open addressing; a slot holds (hash high bits << 32) | (entry index + 1),
    /// 0 = empty; size a power of two at least twice the entry count. No per-entry allocation,
    /// and copies of the reader stay valid.
    std::vector<std::uint64_t> m_slots;
    std::string m_prefix;
};

} // namespace ckpt::format
