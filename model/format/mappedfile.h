// SPDX-License-Identifier: MIT
#pragma once

#include "bytes.h"

#include <memory>
#include <string>

namespace ckpt::format {

/// A whole file mapped read-only (PROT_READ; the file is opened O_RDONLY, so nothing can ever
/// be written to it). Tensor bytes are read lazily through this map: opening a checkpoint only
/// touches the pages of the container directory and the pickle.
/// Thread-safe for concurrent reads once constructed.
class MappedFile
{
public:
    /// Maps `path`. Throws FormatError(Io) naming the path when it cannot be opened or mapped.
    static std::shared_ptr<const MappedFile> open(const std::string &path);

    ~MappedFile();
    MappedFile(const MappedFile &) = delete;
    MappedFile &operator=(const MappedFile &) = delete;

    const std::string &path() const noexcept { return m_path; }
    ByteView bytes() const noexcept { return {m_data, m_size}; }
    std::uint64_t size() const noexcept { return m_size; }

private:
    MappedFile() = default;
    std::string m_path;
    const std::uint8_t *m_data = nullptr;
    std::uint64_t m_size = 0;
};

} // namespace ckpt::format
