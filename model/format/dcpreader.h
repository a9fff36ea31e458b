// SPDX-License-Identifier: MIT
#pragma once

// Internal to ckpt_format: torch.distributed.checkpoint (DCP) directories read as one
// checkpoint (docs/FORMAT-DCP.md).

#include "checkpointreader.h"

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace ckpt::format {

/// The tensor records of a DCP directory (CheckpointData::dcpRecords): each a torch.save
/// archive of one chunk, read (zip directory and pickle, never the values) the first time its
/// values are needed, or on open with ReadLimits::dcpRecordsOnOpen, and kept. Thread-safe.
class DcpRecords
{
public:
    struct Record
    {
        int file = -1;                 ///< index of addFile()
        DType dtype = DType::Unknown;  ///< what .metadata says the chunk holds
        std::uint64_t offset = 0;
        std::uint64_t length = 0;
        std::vector<std::int64_t> sizes;
    };

    explicit DcpRecords(const ReadLimits &limits)
        : m_limits(limits)
    {
    }
    /// A rank file that records lie in, with its name relative to the directory (for messages).
    int addFile(std::shared_ptr<const MappedFile> file, std::string relative);
    void reserve(std::size_t records);
    int add(Record record);
    std::size_t size() const noexcept { return m_records.size(); }
    const Record &record(int index) const { return m_records.at(static_cast<std::size_t>(index)); }
    /// "__0_0.distcp@5044": the record's file and offset, for messages.
    std::string name(int index) const;

    /// Reads the record (its zip directory and pickle) and keeps its tensor's view (bytes in
    /// the mapped file) or why there is none; returns the read, for its scan and globals (also
    /// when refused), or nullptr when it could not be read at all. Not kept: 40,000 records'
    /// value graphs would each hold a memory map of their own.
    std::shared_ptr<const CheckpointData> readNow(int index) const;
    /// The view of the record's tensor (read on first use), or why there is none.
    TensorViewResult view(int index) const;
    /// checkBytesCrc() of the record's tensor bytes against the CRC-32 its zip directory
    /// records (read on first use); "" when it matches or there is nothing to check.
    std::string checkCrc(int index, const CrcOptions &options = {}) const;

private:
    struct Read
    {
        std::optional<StridedView> view;
        std::string error;
        bool hasCrc = false;   ///< the tensor's zip record has a CRC-32
        std::uint32_t crc32 = 0;
        ByteView bytes;        ///< that record's bytes (in the mapped file)
        std::string storage;   ///< its name in the archive ("archive/data/0")
    };
    std::shared_ptr<const CheckpointData> readInto(std::size_t index, Read &out, bool scan) const;

    ReadLimits m_limits;
    std::vector<std::shared_ptr<const MappedFile>> m_files;
    std::vector<std::string> m_fileNames;
    // 40,000 records are opened in a few ms only when each costs a few words: no name string,
    // no mapped-file reference of its own, and no read state until it is read.
    std::vector<Record> m_records;
    mutable std::mutex m_mutex;       ///< guards m_read
    mutable std::vector<std::unique_ptr<Read>> m_read;
};

/// `dir` holds a DCP `.metadata` file.
bool isDcpFolder(const std::string &dir);

/// Reads the DCP directory `dir` into `data` (format Dcp, file = `dir`): `.metadata` with the
/// non-executing pickle machine; every state-dict key as a tree path (the nesting of
/// `planner_data`); each tensor with its logical dtype and shape and its chunks
/// (CheckpointData::chunksOfTensor); a tensor held in one chunk reads its values from that
/// chunk's torch.save record; non-tensor values (BytesStorageMetadata) read from their records.
/// Records whose path leaves the directory, that lie past a file's end or that use transforms
/// we do not read are errors or warnings naming the record; nothing outside `dir` is opened.
/// Never throws FormatError.
void readDcpFolder(CheckpointData &data, const std::string &dir, const ReadLimits &limits,
                   const ProgressFn &progress);

} // namespace ckpt::format
