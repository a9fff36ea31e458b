// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace ckpt::format {

/// Thrown inside ckpt_format for malformed input. Carries what is wrong, the record (archive
/// member, pickle or header) it was found in, and the byte offset. `offset` is a file offset
/// unless `offsetInRecord` is true (then it counts from the start of an inflated record).
/// Never escapes the facade `readCheckpoint()`, which turns it into a `ReadError`.
class FormatError : public std::runtime_error
{
public:
    enum class Kind {
        Truncated,      ///< data ends before a declared length
        Corrupt,        ///< a structure is inconsistent (bad signature, bad opcode, ...)
        Unsupported,    ///< well-formed but not something we read (compression method, ...)
        LimitExceeded,  ///< a resource limit (depth, memo, nodes, length) was hit
        Missing,        ///< a required record is absent (no data.pkl, missing storage)
        Cancelled,      ///< the progress callback asked to stop
        Io,             ///< the file could not be opened or mapped
    };

    FormatError(Kind kind, std::string message, std::string record = {},
                std::uint64_t offset = kNoOffset, bool offsetInRecord = false);

    Kind kind() const noexcept { return m_kind; }
    const std::string &message() const noexcept { return m_message; }
    const std::string &record() const noexcept { return m_record; }
    std::uint64_t offset() const noexcept { return m_offset; }
    bool hasOffset() const noexcept { return m_offset != kNoOffset; }
    bool offsetInRecord() const noexcept { return m_offsetInRecord; }

    /// "record 'x/data.pkl' at byte 123: message" (parts that are unknown are left out).
    static std::string describe(const std::string &message, const std::string &record,
                                std::uint64_t offset, bool offsetInRecord);

    static constexpr std::uint64_t kNoOffset = ~std::uint64_t(0);

private:
    Kind m_kind;
    std::string m_message;
    std::string m_record;
    std::uint64_t m_offset;
    bool m_offsetInRecord;
};

const char *kindName(FormatError::Kind kind) noexcept;

/// A name from a file as it may appear in a message: control bytes escaped (names may hold
/// NULs, which would cut the message short), names over 300 bytes shortened with "...".
std::string shownName(std::string_view name);

} // namespace ckpt::format
