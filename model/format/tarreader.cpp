// SPDX-License-Identifier: MIT
#include "tarreader.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>

namespace ckpt::format {

namespace {

using Kind = FormatError::Kind;

constexpr std::uint64_t kBlock = 512;
constexpr std::uint64_t kMaxLongName = 1u << 20;      // GNU 'L' member
constexpr std::uint64_t kMaxPaxHeader = 16u << 20;    // PAX 'x' member

struct Checksums
{
    std::int64_t unsignedSum = 0;
    std::int64_t signedSum = 0;
};

Checksums computeChecksums(const std::uint8_t *h) noexcept
{
    Checksums c;
    for (std::size_t i = 0; i < kBlock; ++i) {
        const std::uint8_t b = (i >= 148 && i < 156) ? std::uint8_t(' ') : h[i];
        c.unsignedSum += b;
        c.signedSum += static_cast<std::int8_t>(b);
    }
    return c;
}

/// Octal field: optional leading spaces/NULs, digits, then NUL/space terminators.
std::optional<std::uint64_t> parseOctal(const std::uint8_t *f, std::size_t n) noexcept
{
    std::size_t i = 0;
    while (i < n && (f[i] == ' ' || f[i] == 0))
        ++i;
    std::uint64_t v = 0;
    for (; i < n && f[i] >= '0' && f[i] <= '7'; ++i) {
        if (v > (~std::uint64_t(0) >> 3))
            return std::nullopt;
        v = (v << 3) | static_cast<std::uint64_t>(f[i] - '0');
    }
    for (; i < n; ++i)
        if (f[i] != ' ' && f[i] != 0)
            return std::nullopt;
    return v;
}

bool checksumValid(const std::uint8_t *h) noexcept
{
    const auto stored = parseOctal(h + 148, 8);
    if (!stored)
        return false;
    const Checksums c = computeChecksums(h);
    return static_cast<std::int64_t>(*stored) == c.unsignedSum
           || static_cast<std::int64_t>(*stored) == c.signedSum;
}

bool allZero(const std::uint8_t *p, std::uint64_t n) noexcept
{
    return std::all_of(p, p + n, [](std::uint8_t b) { return b == 0; });
}

std::string cField(const std::uint8_t *f, std::size_t n)
{
    const auto *c = reinterpret_cast<const char *>(f);
    return std::string(c, strnlen(c, n));
}


std::string stripTrailingNuls(std::string s)
{
    while (!s.empty() && s.back() == '\0')
        s.pop_back();
    return s;
}

} // namespace

bool TarReader::probe(ByteView file) noexcept
{
    if (file.size < kBlock)
        return false;
    const std::uint8_t *h = file.data;
    if (!checksumValid(h))
        return false;
    if (std::memcmp(h + 257, "ustar", 5) == 0)
        return true;
    // Old-style (v7) header: no magic, so ask for a plausible name and type as well.
    const std::uint8_t type = h[156];
    return h[0] != 0 && (type == 0 || (type >= '0' && type <= '7'));
}

TarReader::TarReader(ByteView file, std::string fileName)
    : m_file(file), m_fileName(std::move(fileName))
{
    const std::uint8_t *d = m_file.data;
    const std::uint64_t size = m_file.size;
    std::uint64_t pos = 0;
    std::string longName;     // from a GNU 'L' member, for the next header
    std::string paxPath;      // from a PAX 'x' member, for the next header
    bool hasPaxSize = false;
    std::uint64_t paxSize = 0;

    while (pos < size) {
        const std::uint64_t left = size - pos;
        if (left < kBlock) {
            if (allZero(d + pos, left))
                break; // cut end-of-archive padding
            throw FormatError(Kind::Truncated,
                              "tar header needs 512 bytes, only " + std::to_string(left)
                                  + " remain (file truncated?)",
                              "tar header", pos);
        }
        const std::uint8_t *h = d + pos;
        if (allZero(h, kBlock))
            break; // end of archive (a second zero block normally follows)

        std::string headerName = cField(h, 100);
        const bool posixUstar = std::memcmp(h + 257, "ustar\0", 6) == 0;
        if (posixUstar && h[345] != 0)
            headerName = cField(h + 345, 155) + "/" + headerName;
        const std::string record = headerName.empty() ? std::string("tar header")
                                                      : shownName(longName.empty() ? headerName
                                                                               : longName);

        const auto stored = parseOctal(h + 148, 8);
        const Checksums sums = computeChecksums(h);
        if (!stored)
            throw FormatError(Kind::Corrupt, "tar header checksum field is not an octal number",
                              record, pos + 148);
        if (static_cast<std::int64_t>(*stored) != sums.unsignedSum
            && static_cast<std::int64_t>(*stored) != sums.signedSum)
            throw FormatError(Kind::Corrupt,
                              "tar header checksum mismatch: stored " + std::to_string(*stored)
                                  + ", computed " + std::to_string(sums.unsignedSum),
                              record, pos + 148);

        std::uint64_t memberSize = 0;
        const std::uint8_t *sf = h + 124;
        if (sf[0] & 0x80) {
            // GNU base-256: big-endian two's complement over the 12 bytes
            if (sf[0] == 0xFF)
                throw FormatError(Kind::Corrupt, "tar member size is negative", record, pos + 124);
            std::uint64_t v = sf[0] & 0x7Fu;
            for (int i = 1; i < 12; ++i) {
                if (v > (~std::uint64_t(0) >> 8))
                    throw FormatError(Kind::LimitExceeded,
                                      "tar member size does not fit in 64 bits", record, pos + 124);
                v = (v << 8) | sf[i];
            }
            memberSize = v;
        } else {
            const auto v = parseOctal(sf, 12);
            if (!v)
                throw FormatError(Kind::Corrupt, "tar member size is not an octal number", record,
                                  pos + 124);
            memberSize = *v;
        }

        const char type = static_cast<char>(h[156]);
        // Links, devices, directories and FIFOs carry no data, whatever their size field says.
        const bool noData = type >= '1' && type <= '6';
        if (hasPaxSize && !noData && type != 'x' && type != 'g' && type != 'L' && type != 'K')
            memberSize = paxSize;
        const std::uint64_t dataOffset = pos + kBlock;
        const std::uint64_t dataSize = noData ? 0 : memberSize;
        if (dataSize > size - dataOffset)
            throw FormatError(Kind::Truncated,
                              "tar member data (" + std::to_string(dataSize)
                                  + " bytes) runs past the end of the file ("
                                  + std::to_string(size) + " bytes)",
                              record, dataOffset);
        const ByteView data = m_file.sub(dataOffset, dataSize);

        switch (type) {
        case 'L':
            if (dataSize > kMaxLongName)
                throw FormatError(Kind::LimitExceeded,
                                  "GNU long name of " + std::to_string(dataSize) + " bytes",
                                  record, dataOffset);
            longName = stripTrailingNuls(std::string(data.str()));
            break;
        case 'x': {
            if (dataSize > kMaxPaxHeader)
                throw FormatError(Kind::LimitExceeded,
                                  "PAX header of " + std::to_string(dataSize) + " bytes", record,
                                  dataOffset);
            // Records: "<length> <key>=<value>\n", length counting the whole record.
            std::string_view text = data.str();
            std::uint64_t at = 0;
            while (!text.empty() && text.front() != '\0') {
                std::size_t i = 0;
                std::uint64_t len = 0;
                while (i < text.size() && text[i] >= '0' && text[i] <= '9' && len < kMaxPaxHeader)
                    len = len * 10 + static_cast<std::uint64_t>(text[i++] - '0');
                if (i == 0 || i >= text.size() || text[i] != ' ' || len <= i + 1
                    || len > text.size() || text[len - 1] != '\n')
                    throw FormatError(Kind::Corrupt, "malformed PAX extended header record",
                                      record, dataOffset + at);
                const std::string_view kv = text.substr(i + 1, len - i - 2);
                const auto eq = kv.find('=');
                if (eq == std::string_view::npos)
                    throw FormatError(Kind::Corrupt, "PAX record without '='", record,
                                      dataOffset + at);
                const std::string_view key = kv.substr(0, eq);
                const std::string_view value = kv.substr(eq + 1);
                if (key == "path") {
                    paxPath = std::string(value);
                } else if (key == "size") {
                    std::uint64_t v = 0;
                    bool ok = !value.empty();
                    for (char c : value) {
                        if (c < '0' || c > '9' || v > (~std::uint64_t(0) - 9) / 10) {
                            ok = false;
                            break;
                        }
                        v = v * 10 + static_cast<std::uint64_t>(c - '0');
                    }
                    if (!ok)
                        throw FormatError(Kind::Corrupt,
                                          "PAX size '" + std::string(value) + "' is not a number",
                                          record, dataOffset + at);
                    paxSize = v;
                    hasPaxSize = true;
                }
                text.remove_prefix(static_cast<std::size_t>(len));
                at += len;
            }
            break;
        }
        case 'g': // global PAX header: nothing we use
        case 'K': // GNU long link name
            break;
        default: {
            const bool regular = type == '0' || type == '\0' || type == '7';
            if (regular) {
                TarMember m;
                m.name = !paxPath.empty() ? paxPath : !longName.empty() ? longName : headerName;
                m.offset = dataOffset;
                m.size = dataSize;
                m.type = type == '\0' ? '0' : type;
                m_members.push_back(std::move(m));
            }
            longName.clear();
            paxPath.clear();
            hasPaxSize = false;
            break;
        }
        }

        const std::uint64_t padded = (dataSize + kBlock - 1) / kBlock * kBlock;
        pos = dataOffset + padded; // dataSize <= size: cannot overflow
    }
}

const TarMember *TarReader::find(std::string_view name) const noexcept
{
    // Like tarfile: the last member of that name wins.
    for (auto it = m_members.rbegin(); it != m_members.rend(); ++it) {
        std::string_view n = it->name;
        if (n == name)
            return &*it;
        if (n.starts_with("./") && n.substr(2) == name)
            return &*it;
    }
    return nullptr;
}

} // namespace ckpt::format
