// SPDX-License-Identifier: MIT
#pragma once

#include "formaterror.h"

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ckpt::format {

/// A non-owning view of bytes (usually inside the memory map). `fileOffset` is the offset of
/// byte 0 in the file it came from, or FormatError::kNoOffset for inflated data.
struct ByteView
{
    const std::uint8_t *data = nullptr;
    std::uint64_t size = 0;

    bool empty() const noexcept { return size == 0; }
    ByteView sub(std::uint64_t pos, std::uint64_t len) const noexcept
    {
        if (pos > size)
            pos = size;
        if (len > size - pos)
            len = size - pos;
        return {data + pos, len};
    }
    std::string_view str() const noexcept
    {
        return {reinterpret_cast<const char *>(data), static_cast<std::size_t>(size)};
    }
};

/// The bytes of one record: either a view into the memory map (stored zip records, tar members,
/// legacy storages) or an owned buffer (inflated records). Copying shares the buffer.
struct RecordBytes
{
    ByteView view;
    std::shared_ptr<const std::vector<std::uint8_t>> owned; ///< set when inflated
    std::uint64_t fileOffset = FormatError::kNoOffset;      ///< of view.data[0], when mapped
};

/// Bounds-checked little-endian cursor over a ByteView. Every read that would pass the end
/// throws FormatError(Truncated) naming `record` and the byte offset (file offset when
/// `baseOffset` is a file offset).
class ByteReader
{
public:
    ByteReader(ByteView view, std::string record, std::uint64_t baseOffset = 0,
               bool offsetInRecord = false)
        : m_view(view), m_record(std::move(record)), m_base(baseOffset), m_inRecord(offsetInRecord)
    {
    }

    std::uint64_t pos() const noexcept { return m_pos; }
    std::uint64_t remaining() const noexcept { return m_view.size - m_pos; }
    bool atEnd() const noexcept { return m_pos >= m_view.size; }
    void seek(std::uint64_t pos)
    {
        if (pos > m_view.size)
            fail(FormatError::Kind::Truncated, "seek past the end");
        m_pos = pos;
    }
    std::uint64_t fileOffset() const noexcept { return m_base + m_pos; }
    const std::string &record() const noexcept { return m_record; }

    void need(std::uint64_t n, const char *what = "data") const
    {
        if (n > remaining())
            fail(FormatError::Kind::Truncated,
                 std::string(what) + " needs " + std::to_string(n) + " bytes, only "
                     + std::to_string(remaining()) + " remain");
    }
    std::uint8_t u8()
    {
        need(1);
        return m_view.data[m_pos++];
    }
    std::uint16_t u16() { return static_cast<std::uint16_t>(readLe(2)); }
    std::uint32_t u32() { return static_cast<std::uint32_t>(readLe(4)); }
    std::uint64_t u64() { return readLe(8); }
    std::int32_t i32() { return static_cast<std::int32_t>(u32()); }
    std::int64_t i64() { return static_cast<std::int64_t>(u64()); }
    ByteView bytes(std::uint64_t n, const char *what = "data")
    {
        need(n, what);
        ByteView v{m_view.data + m_pos, n};
        m_pos += n;
        return v;
    }
    [[noreturn]] void fail(FormatError::Kind kind, const std::string &message) const
    {
        throw FormatError(kind, message, m_record, m_base + m_pos, m_inRecord);
    }
    [[noreturn]] void failAt(FormatError::Kind kind, const std::string &message,
                             std::uint64_t pos) const
    {
        throw FormatError(kind, message, m_record, m_base + pos, m_inRecord);
    }

private:
    std::uint64_t readLe(int n)
    {
        need(static_cast<std::uint64_t>(n));
        std::uint64_t v = 0;
        for (int i = n - 1; i >= 0; --i)
            v = (v << 8) | m_view.data[m_pos + static_cast<std::uint64_t>(i)];
        m_pos += static_cast<std::uint64_t>(n);
        return v;
    }

    ByteView m_view;
    std::string m_record;
    std::uint64_t m_base;
    bool m_inRecord;
    std::uint64_t m_pos = 0;
};

inline std::uint16_t loadLe16(const std::uint8_t *p) noexcept
{
    return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}
inline std::uint32_t loadLe32(const std::uint8_t *p) noexcept
{
    return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8)
           | (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}
inline std::uint64_t loadLe64(const std::uint8_t *p) noexcept
{
    return static_cast<std::uint64_t>(loadLe32(p)) | (static_cast<std::uint64_t>(loadLe32(p + 4)) << 32);
}

} // namespace ckpt::format
