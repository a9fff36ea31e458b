// SPDX-License-Identifier: MIT
#include "formaterror.h"

#include <cstdio>

namespace ckpt::format {

FormatError::FormatError(Kind kind, std::string message, std::string record,
                         std::uint64_t offset, bool offsetInRecord)
    : std::runtime_error(describe(message, record, offset, offsetInRecord))
    , m_kind(kind)
    , m_message(std::move(message))
    , m_record(std::move(record))
    , m_offset(offset)
    , m_offsetInRecord(offsetInRecord)
{
}

std::string FormatError::describe(const std::string &message, const std::string &record,
                                  std::uint64_t offset, bool offsetInRecord)
{
    std::string out;
    if (!record.empty())
        out += "record '" + record + "'";
    if (offset != kNoOffset) {
        if (!out.empty())
            out += ' ';
        out += "at byte " + std::to_string(offset);
        if (offsetInRecord)
            out += " of the record";
    }
    if (!out.empty())
        out += ": ";
    out += message;
    return out;
}

const char *kindName(FormatError::Kind kind) noexcept
{
    switch (kind) {
    case FormatError::Kind::Truncated: return "truncated";
    case FormatError::Kind::Corrupt: return "corrupt";
    case FormatError::Kind::Unsupported: return "unsupported";
    case FormatError::Kind::LimitExceeded: return "limit exceeded";
    case FormatError::Kind::Missing: return "missing";
    case FormatError::Kind::Cancelled: return "cancelled";
    case FormatError::Kind::Io: return "i/o";
    }
    return "error";
}

std::string shownName(std::string_view name)
{
    constexpr std::size_t kMax = 300;
    std::string out;
    for (std::size_t i = 0; i < name.size() && i < kMax; ++i) {
        const auto c = static_cast<unsigned char>(name[i]);
        if (c < 0x20 || c == 0x7F) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
    }
    if (name.size() > kMax)
        out += "...";
    return out;
}

} // namespace ckpt::format
