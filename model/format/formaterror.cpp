// SPDX-License-Identifier: MIT
#include "formaterror.h"

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

} // namespace ckpt::format
