// SPDX-License-Identifier: MIT
#pragma once

#include "bytes.h"

#include <cstdint>
#include <memory>
#include <string>

namespace ckpt::format {

/// The message of the FormatError(Io) thrown when a mapped file changed while it was read.
inline constexpr const char *kFileChangedMessage =
    "the file changed on disk while it was being read; reload it";

/// A whole file mapped read-only (PROT_READ; the file is opened O_RDONLY, so nothing can ever
/// be written to it). Tensor bytes are read lazily through this map: opening a checkpoint only
/// touches the pages of the container directory and the pickle.
/// Thread-safe for concurrent reads once constructed.
///
/// Files that change underneath (issue 6): a training run may truncate or rewrite the file
/// while it is mapped. Reading a mapped page that now lies past the end of the file raises
/// SIGBUS, which would kill the process from whichever thread touched it (statistics workers,
/// slices, diffs, inflation). The first MappedFile::open() installs one process-wide SIGBUS
/// handler; for a fault inside a live mapping of ours it maps anonymous zero pages over the
/// rest of that mapping (so the faulting read, and every later one, returns zeros instead of
/// faulting again) and marks the mapping as changed. Faults anywhere else go to the handler
/// that was installed before ours (or kill the process as SIGBUS would have). Because the
/// bytes read after a change are meaningless, every pass over mapped bytes must end with
/// changedOnDisk() / throwIfChanged(): that also catches rewrites that do not shrink the file
/// (size or modification time of the open descriptor differ from when it was mapped). A file
/// replaced by rename keeps its old inode mapped and its bytes stay consistent.
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

    /// True when a read hit a page past the (new) end of the file, or when the open file's size
    /// or modification time differ from when it was mapped: bytes read from this map may be
    /// wrong. Cheap (one fstat); safe from any thread.
    bool changedOnDisk() const noexcept;
    /// Throws FormatError(Io, kFileChangedMessage) when changedOnDisk().
    void throwIfChanged() const;
    /// The same for whichever live MappedFile `bytes` points into; nothing when it points into
    /// ordinary memory (inflated records, in-memory buffers). For code that only holds a view.
    static void throwIfChanged(ByteView bytes);
    static bool changedOnDisk(ByteView bytes) noexcept;

    /// Drops the whole pages inside `bytes` from this process's view of whichever live
    /// MappedFile it points into (madvise MADV_DONTNEED: the data stays in the page cache and
    /// is mapped again by the next read). Nothing when `bytes` points into ordinary memory,
    /// whose contents that call would destroy. For one-shot passes over many tensors: peak RSS
    /// stays at what is being read, and the page-table teardown that exit would otherwise do
    /// on one core is done by the workers as they go.
    static void releasePages(ByteView bytes) noexcept;

    /// Mappings that were read past the end of their file since the process started (tests).
    static std::uint64_t faultCount() noexcept;

private:
    MappedFile() = default;
    std::string m_path;
    const std::uint8_t *m_data = nullptr;
    std::uint64_t m_size = 0;
    std::size_t m_mapLength = 0;
    int m_fd = -1;                  ///< kept open to compare size and mtime later (fstat)
    std::int64_t m_mtimeNs = 0;
    int m_slot = -1;                ///< registry slot of the SIGBUS handler, -1 if none
};

/// Asks for transparent huge pages (madvise MADV_HUGEPAGE, where available) for the 2 MiB
/// pages inside [p, p + bytes): memory about to be filled in one go. Reading a checkpoint of
/// 100,000 tensors fills tables of tens of MB; with 4 KiB pages the faults cost more than
/// what is written. A hint only: nothing changes where THP is off or for small ranges.
void adviseHugePages(const void *p, std::size_t bytes) noexcept;

/// adviseHugePages() for the unused capacity of a vector that has just been reserved.
template <class Vector>
void adviseHugePagesForSpare(const Vector &v) noexcept
{
    adviseHugePages(v.data() + v.size(), (v.capacity() - v.size()) * sizeof(*v.data()));
}

} // namespace ckpt::format
