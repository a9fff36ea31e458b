// SPDX-License-Identifier: MIT
#include "zipreader.h"

#include "mappedfile.h"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <new>
#include <utility>

namespace ckpt::format {

namespace {

using Kind = FormatError::Kind;

constexpr std::uint32_t kEocdSig = 0x06054b50;     // PK\5\6
constexpr std::uint32_t kLocatorSig = 0x07064b50;  // PK\6\7
constexpr std::uint32_t kEocd64Sig = 0x06064b50;   // PK\6\6
constexpr std::uint32_t kCentralSig = 0x02014b50;  // PK\1\2
constexpr std::uint32_t kLocalSig = 0x04034b50;    // PK\3\4

constexpr std::uint64_t kEocdSize = 22;
constexpr std::uint64_t kLocatorSize = 20;
constexpr std::uint64_t kEocd64Size = 56;
constexpr std::uint64_t kCentralSize = 46;
constexpr std::uint64_t kLocalSize = 30;
constexpr std::uint64_t kMaxEocdSearch = kEocdSize + 0xFFFF; // record + longest comment

constexpr std::uint32_t kSaturated32 = 0xFFFFFFFFu;
constexpr std::uint16_t kSaturated16 = 0xFFFFu;
constexpr std::uint16_t kZip64ExtraId = 0x0001;

// deflate cannot expand data by more than 1032:1 (zlib's documented bound)
constexpr std::uint64_t kMaxDeflateRatio = 1032;

const char *const kEndRecord = "end of central directory";
const char *const kEnd64Record = "zip64 end of central directory";
const char *const kDirRecord = "zip central directory";

std::string hex32(std::uint32_t v)
{
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08x", v);
    return buf;
}

const char *methodName(std::uint16_t method) noexcept
{
    switch (method) {
    case 1: return "shrink";
    case 6: return "implode";
    case 9: return "deflate64";
    case 12: return "bzip2";
    case 14: return "LZMA";
    case 93: return "zstd";
    case 95: return "xz";
    case 98: return "PPMd";
    case 99: return "AES encryption";
    default: return "unknown";
    }
}


bool hasDotDotComponent(std::string_view name) noexcept
{
    // ".." between separators ('/' or '\\') or the ends of the name
    for (std::size_t i = 0; i + 1 < name.size(); ++i) {
        if (name[i] != '.' || name[i + 1] != '.')
            continue;
        const bool startOk = i == 0 || name[i - 1] == '/' || name[i - 1] == '\\';
        const bool endOk = i + 2 == name.size() || name[i + 2] == '/' || name[i + 2] == '\\';
        if (startOk && endOk)
            return true;
    }
    return false;
}

struct InflateGuard
{
    z_stream *zs;
    ~InflateGuard() { inflateEnd(zs); }
};

} // namespace

bool ZipReader::probe(ByteView file) noexcept
{
    return file.size >= 4 && loadLe32(file.data) == kLocalSig;
}

ZipReader::ZipReader(ByteView file, std::string fileName)
    : m_file(file), m_fileName(std::move(fileName))
{
    readEnd();
    readEntries();
    checkOverlaps();
    if (!m_entries.empty()) {
        const std::string &first = m_entries.front().name;
        const auto slash = first.find('/');
        if (slash != std::string::npos)
            m_prefix = first.substr(0, slash);
    }
}

ZipReader ZipReader::recoverFromLocalHeaders(ByteView file, std::string fileName)
{
    return ZipReader(file, std::move(fileName), Recover{});
}

ZipReader::ZipReader(ByteView file, std::string fileName, Recover)
    : m_file(file), m_fileName(std::move(fileName))
{
    constexpr std::uint32_t kDescriptorSig = 0x08074b50; // PK\7\8
    m_directory.recovered = true;
    const std::uint8_t *d = file.data;
    const std::uint64_t size = file.size;
    std::uint64_t pos = 0;
    auto stop = [&](std::string why) {
        m_directory.recoveryStop = std::move(why);
        m_directory.recoveryStopOffset = pos;
    };
    while (true) {
        if (size - pos < 4) {
            stop(pos == size ? "the file ends after the last whole record" : "the file ends inside a local header");
            break;
        }
        const std::uint32_t sig = loadLe32(d + pos);
        if (sig == kCentralSig || sig == kEocdSig || sig == kEocd64Sig)
            break; // the central directory: every record before it was read
        if (sig != kLocalSig) {
            stop("no local header where the next record should start");
            break;
        }
        if (size - pos < kLocalSize) {
            stop("the file ends inside a local header");
            break;
        }
        const std::uint8_t *l = d + pos;
        ZipEntry e;
        e.flags = loadLe16(l + 6);
        e.method = loadLe16(l + 8);
        e.crc32 = loadLe32(l + 14);
        e.compressedSize = loadLe32(l + 18);
        e.uncompressedSize = loadLe32(l + 22);
        const std::uint64_t nameLen = loadLe16(l + 26);
        const std::uint64_t extraLen = loadLe16(l + 28);
        if (size - pos - kLocalSize < nameLen + extraLen) {
            stop("the file ends inside a local header");
            break;
        }
        e.name.assign(reinterpret_cast<const char *>(l + kLocalSize), static_cast<std::size_t>(nameLen));
        // ZIP64 sizes in the local extra field (uncompressed first, then compressed).
        for (std::uint64_t x = 0; x + 4 <= extraLen;) {
            const std::uint8_t *f = l + kLocalSize + nameLen + x;
            const std::uint16_t id = loadLe16(f);
            const std::uint16_t len = loadLe16(f + 2);
            if (x + 4 + len > extraLen)
                break;
            if (id == kZip64ExtraId && len >= 16) {
                if (e.uncompressedSize == kSaturated32)
                    e.uncompressedSize = loadLe64(f + 4);
                if (e.compressedSize == kSaturated32)
                    e.compressedSize = loadLe64(f + 12);
            }
            x += 4 + len;
        }
        e.localHeaderOffset = pos;
        e.centralOffset = pos;
        e.dataOffset = pos + kLocalSize + nameLen + extraLen;
        std::uint64_t next = 0;
        if ((e.flags & 8) && e.compressedSize == 0) {
            // Sizes follow the payload in a data descriptor: the one whose compressed size is
            // the distance from the payload's start (32-bit sizes, then 64-bit ones).
            bool found = false;
            for (std::uint64_t q = e.dataOffset; q + 16 <= size; ++q) {
                const void *hit = std::memchr(d + q, 'P', static_cast<std::size_t>(size - q));
                if (!hit)
                    break;
                q = static_cast<std::uint64_t>(static_cast<const std::uint8_t *>(hit) - d);
                if (q + 16 > size || loadLe32(d + q) != kDescriptorSig)
                    continue;
                const std::uint64_t distance = q - e.dataOffset;
                if (loadLe32(d + q + 8) == distance) {
                    e.crc32 = loadLe32(d + q + 4);
                    e.compressedSize = distance;
                    e.uncompressedSize = loadLe32(d + q + 12);
                    next = q + 16;
                    found = true;
                } else if (q + 24 <= size && loadLe64(d + q + 8) == distance) {
                    e.crc32 = loadLe32(d + q + 4);
                    e.compressedSize = distance;
                    e.uncompressedSize = loadLe64(d + q + 16);
                    next = q + 24;
                    found = true;
                }
                if (found)
                    break;
            }
            if (!found) {
                pos = e.localHeaderOffset;
                stop("record '" + shownName(e.name) + "' is cut short (its data descriptor is missing)");
                break;
            }
        } else {
            if (e.compressedSize > size - e.dataOffset) {
                stop("record '" + shownName(e.name) + "' is cut short");
                break;
            }
            next = e.dataOffset + e.compressedSize;
            if ((e.flags & 8) && size - next >= 4 && loadLe32(d + next) == kDescriptorSig)
                next += (size - next >= 24 && e.compressedSize > kSaturated32) ? 24 : 16;
        }
        if (e.method == 0 && e.uncompressedSize != e.compressedSize)
            e.uncompressedSize = e.compressedSize;
        const bool usable = !hasDotDotComponent(e.name) && !find(e.name) && m_entries.size() < 0x7FFFFFF0u;
        if (usable) {
            m_entries.push_back(std::move(e));
            if (m_slots.size() < 2 * m_entries.size() + 2)
                index();
            else {
                const std::size_t hash = std::hash<std::string_view>{}(m_entries.back().name);
                m_slots[slotFor(m_entries.back().name, hash)]
                    = (static_cast<std::uint64_t>(hash) >> 32 << 32) | m_entries.size();
            }
        }
        pos = next;
    }
    m_directory.entryCount = m_entries.size();
    index();
    if (!m_entries.empty()) {
        const std::string &first = m_entries.front().name;
        const auto slash = first.find('/');
        if (slash != std::string::npos)
            m_prefix = first.substr(0, slash);
    }
}

void ZipReader::index()
{
    std::size_t slots = 16;
    while (slots < 2 * m_entries.size() + 2)
        slots *= 2;
    m_slots.assign(slots, 0);
    for (std::size_t i = 0; i < m_entries.size(); ++i) {
        const std::size_t hash = std::hash<std::string_view>{}(m_entries[i].name);
        m_slots[slotFor(m_entries[i].name, hash)] = (static_cast<std::uint64_t>(hash) >> 32 << 32) | (i + 1);
    }
}

std::uint64_t ZipReader::declaredEntryCount(ByteView file) noexcept
{
    try {
        return ZipReader(file, EndOnly{}).m_directory.entryCount;
    } catch (...) {
        return 0;
    }
}

void ZipReader::readEnd()
{
    const std::uint8_t *d = m_file.data;
    const std::uint64_t size = m_file.size;
    auto noEnd = [&](const std::string &why) {
        std::string msg = "no zip end-of-central-directory record found (file truncated?)";
        if (!m_fileName.empty())
            msg += " in '" + m_fileName + "'";
        throw FormatError(Kind::Truncated, msg + ": " + why, kEndRecord, size);
    };
    if (size < kEocdSize)
        noEnd("the file has only " + std::to_string(size) + " bytes, a zip needs at least 22");

    // The last PK\5\6 whose comment ends exactly at EOF wins; failing that (trailing junk or a
    // cut comment) the last PK\5\6 in the window.
    const std::uint64_t lowest = size > kMaxEocdSearch ? size - kMaxEocdSearch : 0;
    std::uint64_t eocd = FormatError::kNoOffset;
    std::uint64_t fallback = FormatError::kNoOffset;
    for (std::uint64_t p = size - kEocdSize + 1; p-- > lowest;) {
        if (d[p] != 'P' || loadLe32(d + p) != kEocdSig)
            continue;
        if (p + kEocdSize + loadLe16(d + p + 20) == size) {
            eocd = p;
            break;
        }
        if (fallback == FormatError::kNoOffset)
            fallback = p;
    }
    if (eocd == FormatError::kNoOffset)
        eocd = fallback;
    if (eocd == FormatError::kNoOffset)
        noEnd("searched the last " + std::to_string(size - lowest) + " bytes");

    ZipDirectoryInfo &dir = m_directory;
    dir.eocdOffset = eocd;
    const std::uint8_t *e = d + eocd;
    const std::uint16_t diskNo = loadLe16(e + 4);
    const std::uint16_t cdDisk = loadLe16(e + 6);
    const std::uint16_t count16 = loadLe16(e + 10);
    const std::uint32_t cdSize32 = loadLe32(e + 12);
    const std::uint32_t cdOffset32 = loadLe32(e + 16);
    const std::uint64_t commentLen = std::min<std::uint64_t>(loadLe16(e + 20),
                                                             size - eocd - kEocdSize);
    dir.comment.assign(reinterpret_cast<const char *>(e + kEocdSize),
                       static_cast<std::size_t>(commentLen));

    std::uint64_t count = count16;
    std::uint64_t cdSize = cdSize32;
    std::uint64_t cdOffset = cdOffset32;
    std::uint64_t cdEnd = eocd;  // where the directory must end
    std::uint64_t countField = eocd + 10, sizeField = eocd + 12, offsetField = eocd + 16;
    const char *fieldRecord = kEndRecord;

    if (eocd >= kLocatorSize && loadLe32(e - kLocatorSize) == kLocatorSig) {
        const std::uint64_t loc = eocd - kLocatorSize;
        const std::uint64_t recorded = loadLe64(d + loc + 8);
        const std::uint32_t disks = loadLe32(d + loc + 16);
        if (disks > 1)
            throw FormatError(Kind::Unsupported,
                              "archives split over " + std::to_string(disks)
                                  + " disks are not supported",
                              kEnd64Record, loc + 16);
        // The recorded position, or (bytes prepended to the archive) the record just before
        // the locator.
        std::uint64_t pos64 = FormatError::kNoOffset;
        if (loc >= kEocd64Size && recorded <= loc - kEocd64Size
            && loadLe32(d + recorded) == kEocd64Sig)
            pos64 = recorded;
        else if (loc >= kEocd64Size && loadLe32(d + loc - kEocd64Size) == kEocd64Sig)
            pos64 = loc - kEocd64Size;
        else
            throw FormatError(Kind::Corrupt,
                              "the ZIP64 locator points to byte " + std::to_string(recorded)
                                  + ", where there is no ZIP64 end-of-central-directory record "
                                    "(PK\\6\\6)",
                              kEnd64Record, loc + 8);
        const std::uint8_t *z = d + pos64;
        const std::uint64_t recordSize = loadLe64(z + 4);
        if (recordSize < kEocd64Size - 12 || recordSize > loc - pos64 - 12)
            throw FormatError(Kind::Corrupt,
                              "ZIP64 end record size " + std::to_string(recordSize)
                                  + " is inconsistent (44 to " + std::to_string(loc - pos64 - 12)
                                  + " bytes expected)",
                              kEnd64Record, pos64 + 4);
        const std::uint32_t disk64 = loadLe32(z + 16);
        const std::uint32_t cdDisk64 = loadLe32(z + 20);
        if (disk64 != 0 || cdDisk64 != 0)
            throw FormatError(Kind::Unsupported,
                              "archives split over several disks are not supported", kEnd64Record,
                              pos64 + 16);
        count = loadLe64(z + 32);
        cdSize = loadLe64(z + 40);
        cdOffset = loadLe64(z + 48);
        cdEnd = pos64;
        countField = pos64 + 32;
        sizeField = pos64 + 40;
        offsetField = pos64 + 48;
        fieldRecord = kEnd64Record;
        dir.zip64 = true;
        dir.eocd64Offset = pos64;
    } else if ((diskNo != 0 && diskNo != kSaturated16) || (cdDisk != 0 && cdDisk != kSaturated16)) {
        throw FormatError(Kind::Unsupported, "archives split over several disks are not supported",
                          kEndRecord, eocd + 4);
    }

    if (cdSize > cdEnd)
        throw FormatError(Kind::Corrupt,
                          "central directory size " + std::to_string(cdSize)
                              + " is larger than the " + std::to_string(cdEnd)
                              + " bytes in front of its end record",
                          fieldRecord, sizeField);
    const std::uint64_t cdStart = cdEnd - cdSize;
    if (cdOffset > cdStart) {
        if (cdOffset >= size)
            throw FormatError(Kind::Corrupt,
                              "central directory offset " + std::to_string(cdOffset)
                                  + " is beyond the end of the file (" + std::to_string(size)
                                  + " bytes)",
                              fieldRecord, offsetField);
        throw FormatError(Kind::Corrupt,
                          "central directory at offset " + std::to_string(cdOffset) + " with size "
                              + std::to_string(cdSize) + " would run into its end record at byte "
                              + std::to_string(cdEnd),
                          fieldRecord, offsetField);
    }
    // Entries need at least 46 bytes each: bounds every allocation below by the file size.
    if (count > cdSize / kCentralSize)
        throw FormatError(Kind::Corrupt,
                          "entry count " + std::to_string(count)
                              + " cannot fit in a central directory of " + std::to_string(cdSize)
                              + " bytes (each entry needs at least 46)",
                          fieldRecord, countField);
    dir.cdOffset = cdStart;
    dir.cdSize = cdSize;
    dir.entryCount = count;
    dir.prependedBytes = cdStart - cdOffset;
}

void ZipReader::readEntries()
{
    const std::uint8_t *d = m_file.data;
    const std::uint64_t size = m_file.size;
    const ZipDirectoryInfo &dir = m_directory;
    const std::uint64_t cdLimit = dir.cdOffset + dir.cdSize;
    const std::uint64_t shift = dir.prependedBytes;

    if (dir.entryCount >= 0x7FFFFFFFu)
        throw FormatError(Kind::LimitExceeded,
                          "archive lists " + std::to_string(dir.entryCount)
                              + " entries, more than this reader supports",
                          kDirRecord, dir.cdOffset);
    m_entries.reserve(static_cast<std::size_t>(dir.entryCount));
    adviseHugePagesForSpare(m_entries);
    std::size_t slots = 16;
    while (slots < 2 * dir.entryCount)
        slots *= 2;
    m_slots.assign(slots, 0);

    // The name index of 100,000 entries is megabytes: each insertion was a cache miss. The
    // slots of the names kLookahead entries ahead are prefetched (a walk over the headers that
    // checks only what it reads and stops at anything odd: errors are the loop's business).
    constexpr std::uint64_t kLookahead = 16;
    std::uint64_t ahead = dir.cdOffset;
    std::uint64_t aheadIndex = 0;
    auto prefetchNext = [&] {
        if (aheadIndex >= dir.entryCount || cdLimit - ahead < kCentralSize || ahead > cdLimit)
            return;
        const std::uint8_t *c = d + ahead;
        const std::uint64_t aheadTotal = kCentralSize + loadLe16(c + 28) + loadLe16(c + 30) + loadLe16(c + 32);
        if (loadLe32(c) != kCentralSig || aheadTotal > cdLimit - ahead) {
            aheadIndex = dir.entryCount;
            return;
        }
        const std::string_view aheadName(reinterpret_cast<const char *>(c + kCentralSize), loadLe16(c + 28));
        __builtin_prefetch(&m_slots[std::hash<std::string_view>{}(aheadName) & (m_slots.size() - 1)]);
        ahead += aheadTotal;
        ++aheadIndex;
    };
    for (std::uint64_t k = 0; k < kLookahead; ++k)
        prefetchNext();

    // Reading a local header maps the page-cache folio around it, and a file cached in large
    // folios (up to 2 MiB: what readahead leaves after a first read from disk on recent kernels)
    // maps whole: the 64 headers of a 1 GiB checkpoint made 112 MB of resident file pages before
    // any tensor byte was wanted (issue 7, B1). Headers already read are unmapped again once they
    // span kReleaseSpan of the file: a few madvise calls per file, not one per entry. Unmapping is
    // harmless anywhere in a read-only file mapping (a later read maps the page again); the
    // central directory, still being read, is kept.
    constexpr std::uint64_t kReleaseSpan = 16u << 20;
    constexpr std::uint64_t kFolio = 2u << 20;
    std::uint64_t touchedLo = std::numeric_limits<std::uint64_t>::max(), touchedHi = 0;
    auto releaseTouched = [&] {
        const std::uint64_t from = touchedLo / kFolio * kFolio;
        const std::uint64_t to = std::min(touchedHi / kFolio * kFolio + kFolio, dir.cdOffset);
        if (to > from)
            MappedFile::releasePages({d + from, to - from});
        touchedLo = std::numeric_limits<std::uint64_t>::max();
        touchedHi = 0;
    };

    std::uint64_t p = dir.cdOffset;
    for (std::uint64_t i = 0; i < dir.entryCount; ++i) {
        prefetchNext();
        auto which = [&] {
            return "entry " + std::to_string(i + 1) + " of " + std::to_string(dir.entryCount);
        };
        if (cdLimit - p < kCentralSize)
            throw FormatError(Kind::Truncated,
                              which() + " needs 46 bytes, only " + std::to_string(cdLimit - p)
                                  + " remain in the central directory",
                              kDirRecord, p);
        const std::uint8_t *h = d + p;
        if (loadLe32(h) != kCentralSig) {
            std::string msg = "expected a central directory entry signature (PK\\1\\2) for "
                              + which() + ", found " + hex32(loadLe32(h));
            if (i == 0 && shift != 0)
                msg += " (directory recorded at byte " + std::to_string(dir.cdOffset - shift)
                       + ", expected at byte " + std::to_string(dir.cdOffset) + ")";
            throw FormatError(Kind::Corrupt, msg, kDirRecord, p);
        }
        const std::uint64_t nameLen = loadLe16(h + 28);
        const std::uint64_t extraLen = loadLe16(h + 30);
        const std::uint64_t commentLen = loadLe16(h + 32);
        const std::uint64_t total = kCentralSize + nameLen + extraLen + commentLen;
        if (total > cdLimit - p)
            throw FormatError(Kind::Truncated,
                              which() + " (" + std::to_string(total)
                                  + " bytes) runs past the end of the central directory at byte "
                                  + std::to_string(cdLimit),
                              kDirRecord, p);

        ZipEntry e;
        e.name.assign(reinterpret_cast<const char *>(h + kCentralSize),
                      static_cast<std::size_t>(nameLen));
        const std::size_t hash = std::hash<std::string_view>{}(e.name);
        e.flags = loadLe16(h + 8);
        e.method = loadLe16(h + 10);
        e.crc32 = loadLe32(h + 16);
        const std::uint32_t csize32 = loadLe32(h + 20);
        const std::uint32_t usize32 = loadLe32(h + 24);
        const std::uint32_t lho32 = loadLe32(h + 42);
        e.compressedSize = csize32;
        e.uncompressedSize = usize32;
        e.localHeaderOffset = lho32;
        e.centralOffset = p;

        const bool needU = usize32 == kSaturated32;
        const bool needC = csize32 == kSaturated32;
        const bool needO = lho32 == kSaturated32;
        if (needU || needC || needO) {
            const std::uint64_t extraStart = p + kCentralSize + nameLen;
            const std::uint64_t extraEnd = extraStart + extraLen;
            std::uint64_t q = extraStart;
            bool found = false;
            while (extraEnd - q >= 4) {
                const std::uint16_t id = loadLe16(d + q);
                const std::uint64_t len = loadLe16(d + q + 2);
                if (len > extraEnd - q - 4)
                    break; // malformed tail; a missing ZIP64 block is reported below
                if (id == kZip64ExtraId) {
                    const std::uint64_t needed = 8u * (std::uint64_t(needU) + needC + needO);
                    if (len < needed)
                        throw FormatError(Kind::Corrupt,
                                          "ZIP64 extra field has " + std::to_string(len)
                                              + " bytes, the saturated fields need "
                                              + std::to_string(needed),
                                          shownName(e.name), q);
                    std::uint64_t v = q + 4;
                    if (needU) {
                        e.uncompressedSize = loadLe64(d + v);
                        v += 8;
                    }
                    if (needC) {
                        e.compressedSize = loadLe64(d + v);
                        v += 8;
                    }
                    if (needO)
                        e.localHeaderOffset = loadLe64(d + v);
                    found = true;
                    break;
                }
                q += 4 + len;
            }
            if (!found)
                throw FormatError(Kind::Corrupt,
                                  std::string(needO && !needU && !needC ? "local header offset"
                                                                        : "size")
                                      + " field is 0xFFFFFFFF but the entry has no ZIP64 extra "
                                        "field (0x0001)",
                                  shownName(e.name), p + (needC ? 20 : needU ? 24 : 42));
        }

        if (e.name.empty())
            throw FormatError(Kind::Corrupt, which() + " has an empty name", kDirRecord,
                              p + kCentralSize);
        if (hasDotDotComponent(e.name))
            throw FormatError(Kind::Corrupt, "entry name contains a '..' path component",
                              shownName(e.name), p + kCentralSize);

        // Local header: only its name and extra lengths matter (torch's local ZIP64 extras
        // have non-standard contents and are skipped unread).
        const std::uint64_t lho = e.localHeaderOffset;
        if (lho > size || size - lho < shift || size - lho - shift < kLocalSize)
            throw FormatError(Kind::Truncated,
                              "local header offset " + std::to_string(lho)
                                  + " is past the end of the file (" + std::to_string(size)
                                  + " bytes)",
                              shownName(e.name), p + 42);
        e.localHeaderOffset = lho + shift;
        const std::uint8_t *l = d + e.localHeaderOffset;
        if (loadLe32(l) != kLocalSig)
            throw FormatError(Kind::Corrupt,
                              "expected a local file header signature (PK\\3\\4), found "
                                  + hex32(loadLe32(l)),
                              shownName(e.name), e.localHeaderOffset);
        const std::uint64_t localNameLen = loadLe16(l + 26);
        const std::uint64_t localExtraLen = loadLe16(l + 28);
        e.dataOffset = e.localHeaderOffset + kLocalSize + localNameLen + localExtraLen;
        if (e.dataOffset > size)
            throw FormatError(Kind::Truncated,
                              "local header (name and extra fields) runs past the end of the file",
                              shownName(e.name), e.localHeaderOffset);
        if (localNameLen != nameLen
            || std::memcmp(l + kLocalSize, e.name.data(), static_cast<std::size_t>(nameLen)) != 0)
            throw FormatError(
                Kind::Corrupt,
                "local header name '"
                    + shownName(std::string_view(reinterpret_cast<const char *>(l + kLocalSize),
                                             static_cast<std::size_t>(localNameLen)))
                    + "' differs from the central directory",
                shownName(e.name), e.localHeaderOffset + kLocalSize);
        if (e.compressedSize > size - e.dataOffset)
            throw FormatError(Kind::Truncated,
                              "entry data (" + std::to_string(e.compressedSize)
                                  + " bytes) runs past the end of the file ("
                                  + std::to_string(size) + " bytes)",
                              shownName(e.name), e.dataOffset);

        const std::size_t slot = slotFor(e.name, hash);
        if (m_slots[slot] != 0)
            throw FormatError(Kind::Corrupt,
                              "duplicate entry name (first at central directory byte "
                                  + std::to_string(
                                      m_entries[(m_slots[slot] & 0xFFFFFFFFu) - 1].centralOffset)
                                  + ")",
                              shownName(e.name), p);
        touchedLo = std::min(touchedLo, e.localHeaderOffset);
        touchedHi = std::max(touchedHi, e.dataOffset);
        m_entries.push_back(std::move(e));
        m_slots[slot] = (static_cast<std::uint64_t>(hash) >> 32 << 32) | m_entries.size();
        p += total;
        if (touchedHi - touchedLo > kReleaseSpan)
            releaseTouched();
    }
    // (Not for a small archive, where it would unmap the pages about to be read: a DCP record
    // of 32 KiB inside a larger file is one.)
    if (touchedHi > touchedLo && dir.cdOffset >= kFolio)
        releaseTouched();
}

void ZipReader::checkOverlaps() const
{
    const ZipDirectoryInfo &dir = m_directory;
    // The directory and its end records, up to the end of the classic end record.
    const std::uint64_t dirBegin = dir.cdOffset;
    const std::uint64_t dirEnd = dir.eocdOffset + kEocdSize;

    bool sorted = true;
    for (std::size_t i = 0; i < m_entries.size(); ++i) {
        const ZipEntry &e = m_entries[i];
        const std::uint64_t end = e.dataOffset + e.compressedSize;
        if (end > dirBegin && e.localHeaderOffset < dirEnd)
            throw FormatError(Kind::Corrupt,
                              "entry (bytes " + std::to_string(e.localHeaderOffset) + " to "
                                  + std::to_string(end)
                                  + ") overlaps the central directory, which starts at byte "
                                  + std::to_string(dirBegin),
                              shownName(e.name), e.localHeaderOffset);
        if (i > 0 && e.localHeaderOffset < m_entries[i - 1].localHeaderOffset)
            sorted = false;
    }
    // Writers put entries in directory order, so the sort is usually skipped.
    std::vector<std::size_t> order;
    if (!sorted) {
        order.resize(m_entries.size());
        for (std::size_t i = 0; i < order.size(); ++i)
            order[i] = i;
        std::sort(order.begin(), order.end(), [this](std::size_t a, std::size_t b) {
            return m_entries[a].localHeaderOffset < m_entries[b].localHeaderOffset;
        });
    }
    for (std::size_t k = 1; k < m_entries.size(); ++k) {
        const ZipEntry &a = m_entries[sorted ? k - 1 : order[k - 1]];
        const ZipEntry &b = m_entries[sorted ? k : order[k]];
        const std::uint64_t aEnd = a.dataOffset + a.compressedSize;
        if (b.localHeaderOffset < aEnd)
            throw FormatError(Kind::Corrupt,
                              "entry (bytes " + std::to_string(a.localHeaderOffset) + " to "
                                  + std::to_string(aEnd) + ") overlaps entry '" + shownName(b.name)
                                  + "', which starts at byte "
                                  + std::to_string(b.localHeaderOffset),
                              shownName(a.name), b.localHeaderOffset);
    }
}

std::size_t ZipReader::slotFor(std::string_view name, std::size_t hash) const noexcept
{
    const std::size_t mask = m_slots.size() - 1;
    const std::uint64_t tag = static_cast<std::uint64_t>(hash) >> 32 << 32;
    for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
        const std::uint64_t v = m_slots[i];
        if (v == 0)
            return i;
        if ((v & ~0xFFFFFFFFull) == tag && m_entries[(v & 0xFFFFFFFFu) - 1].name == name)
            return i;
    }
}

const ZipEntry *ZipReader::find(std::string_view name) const noexcept
{
    if (m_slots.empty())
        return nullptr;
    const std::uint64_t v = m_slots[slotFor(name, std::hash<std::string_view>{}(name))];
    return v == 0 ? nullptr : &m_entries[(v & 0xFFFFFFFFu) - 1];
}

const ZipEntry *ZipReader::findRelative(std::string_view relative) const noexcept
{
    if (m_prefix.empty())
        return find(relative);
    std::string full;
    full.reserve(m_prefix.size() + 1 + relative.size());
    full += m_prefix;
    full += '/';
    full += relative;
    return find(full);
}

RecordBytes ZipReader::read(const ZipEntry &entry, std::uint64_t maxInflated) const
{
    const std::uint64_t size = m_file.size;
    if (entry.dataOffset > size || entry.compressedSize > size - entry.dataOffset)
        throw FormatError(Kind::Truncated, "entry data runs past the end of the file",
                          shownName(entry.name), entry.dataOffset);
    if (entry.flags & 1u)
        throw FormatError(Kind::Unsupported, "encrypted entries are not supported",
                          shownName(entry.name), entry.centralOffset + 8);
    const ByteView raw = m_file.sub(entry.dataOffset, entry.compressedSize);

    if (entry.method == 0) {
        if (entry.compressedSize != entry.uncompressedSize)
            throw FormatError(Kind::Corrupt,
                              "stored entry has compressed size "
                                  + std::to_string(entry.compressedSize)
                                  + " but uncompressed size "
                                  + std::to_string(entry.uncompressedSize),
                              shownName(entry.name), entry.centralOffset + 20);
        RecordBytes out;
        out.view = raw;
        out.fileOffset = entry.dataOffset;
        return out;
    }
    if (entry.method != 8)
        throw FormatError(Kind::Unsupported,
                          "compression method " + std::to_string(entry.method) + " ("
                              + methodName(entry.method)
                              + ") is not supported; only stored (0) and deflate (8) are",
                          shownName(entry.name), entry.centralOffset + 10);

    const std::uint64_t usize = entry.uncompressedSize;
    if (usize > maxInflated)
        throw FormatError(Kind::LimitExceeded,
                          "entry inflates to " + std::to_string(usize)
                              + " bytes, more than the limit of " + std::to_string(maxInflated),
                          shownName(entry.name), entry.dataOffset);
    if (usize / kMaxDeflateRatio > entry.compressedSize + 1)
        throw FormatError(Kind::Corrupt,
                          "declared uncompressed size " + std::to_string(usize)
                              + " is impossible for " + std::to_string(entry.compressedSize)
                              + " bytes of deflate data (deflate expands at most 1032:1)",
                          shownName(entry.name), entry.centralOffset + 24);
    if (usize > std::numeric_limits<std::size_t>::max())
        throw FormatError(Kind::LimitExceeded, "entry is too large for this platform",
                          shownName(entry.name), entry.dataOffset);

    std::shared_ptr<std::vector<std::uint8_t>> buf;
    try {
        buf = std::make_shared<std::vector<std::uint8_t>>(static_cast<std::size_t>(usize));
    } catch (const std::bad_alloc &) {
        throw FormatError(Kind::LimitExceeded,
                          "cannot allocate " + std::to_string(usize)
                              + " bytes to inflate the entry",
                          shownName(entry.name), entry.dataOffset);
    }

    if (usize != 0 || entry.compressedSize != 0) {
        z_stream zs{};
        if (inflateInit2(&zs, -MAX_WBITS) != Z_OK)
            throw FormatError(Kind::LimitExceeded, "zlib could not start inflating",
                              shownName(entry.name), entry.dataOffset);
        InflateGuard guard{&zs};
        constexpr std::uint64_t kChunk = 1u << 30;
        std::uint64_t inFed = 0;
        std::uint64_t outGiven = 0;
        std::uint8_t scratch[1];
        auto corrupt = [&](const std::string &msg) {
            const std::uint64_t consumed = inFed - zs.avail_in;
            throw FormatError(Kind::Corrupt, msg, shownName(entry.name), entry.dataOffset + consumed);
        };
        for (;;) {
            if (zs.avail_in == 0 && inFed < entry.compressedSize) {
                const std::uint64_t n = std::min(kChunk, entry.compressedSize - inFed);
                zs.next_in = const_cast<Bytef *>(raw.data + inFed);
                zs.avail_in = static_cast<uInt>(n);
                inFed += n;
            }
            bool overflowProbe = false;
            if (zs.avail_out == 0) {
                if (outGiven < usize) {
                    const std::uint64_t n = std::min(kChunk, usize - outGiven);
                    zs.next_out = buf->data() + outGiven;
                    zs.avail_out = static_cast<uInt>(n);
                    outGiven += n;
                } else {
                    // Output is full: any further byte means the stream is longer than declared.
                    zs.next_out = scratch;
                    zs.avail_out = 1;
                    overflowProbe = true;
                }
            }
            const int ret = inflate(&zs, Z_NO_FLUSH);
            if (overflowProbe && zs.avail_out == 0)
                corrupt("deflate stream inflates to more than the declared "
                        + std::to_string(usize) + " bytes");
            if (ret == Z_STREAM_END)
                break;
            if (ret == Z_OK)
                continue;
            if (ret == Z_BUF_ERROR && zs.avail_in == 0 && inFed == entry.compressedSize)
                corrupt("deflate stream ends early: " + std::to_string(entry.compressedSize)
                        + " compressed bytes gave only " + std::to_string(zs.total_out) + " of "
                        + std::to_string(usize) + " bytes (truncated?)");
            if (ret == Z_MEM_ERROR)
                throw FormatError(Kind::LimitExceeded, "zlib ran out of memory", shownName(entry.name),
                                  entry.dataOffset);
            corrupt(std::string("corrupt deflate stream: ")
                    + (zs.msg ? zs.msg : "zlib error " + std::to_string(ret)));
        }
        if (zs.total_out != usize)
            corrupt("deflate stream produced " + std::to_string(zs.total_out)
                    + " bytes, the central directory declares " + std::to_string(usize));
    }

    if (entry.crc32 != 0) {
        uLong crc = crc32(0L, Z_NULL, 0);
        std::uint64_t done = 0;
        while (done < usize) {
            const std::uint64_t n = std::min<std::uint64_t>(usize - done, 1u << 30);
            crc = crc32(crc, buf->data() + done, static_cast<uInt>(n));
            done += n;
        }
        if (static_cast<std::uint32_t>(crc) != entry.crc32)
            throw FormatError(Kind::Corrupt,
                              "CRC-32 mismatch: inflated data has "
                                  + hex32(static_cast<std::uint32_t>(crc))
                                  + ", the central directory records " + hex32(entry.crc32),
                              shownName(entry.name), entry.dataOffset);
    }

    RecordBytes out;
    out.view = ByteView{buf->data(), usize};
    out.owned = std::move(buf);
    return out;
}

} // namespace ckpt::format
