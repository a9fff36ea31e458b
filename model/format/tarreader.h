// SPDX-License-Identifier: MIT
#pragma once

#include "bytes.h"

#include <string>
#include <string_view>
#include <vector>

namespace ckpt::format {

struct TarMember
{
    std::string name;
    std::uint64_t offset = 0; ///< file offset of the first data byte
    std::uint64_t size = 0;
    char type = '0';
};

/// Reads a POSIX (ustar / GNU / PAX) tar directory over mapped bytes: the layout of the
/// earliest torch checkpoints (FORMAT.md 2.2). Regular members only; PAX `path`/`size`
/// overrides and GNU long names are honoured. Throws FormatError on bad headers/checksums or
/// members past the end of the file.
class TarReader
{
public:
    /// True for a ustar magic at offset 257 with a valid header checksum.
    static bool probe(ByteView file) noexcept;
    explicit TarReader(ByteView file, std::string fileName = {});
    const std::vector<TarMember> &members() const noexcept { return m_members; }
    const TarMember *find(std::string_view name) const noexcept;
    ByteView bytes(const TarMember &m) const noexcept { return m_file.sub(m.offset, m.size); }

private:
    ByteView m_file;
    std::string m_fileName;
    std::vector<TarMember> m_members;
};

} // namespace ckpt::format
