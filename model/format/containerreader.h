// SPDX-License-Identifier: MIT
#pragma once

// Internal to ckpt_format: the reader behind readCheckpoint(). One ContainerReader fills one
// CheckpointData from one file's bytes; its members are defined by container, one file each:
//   containerreader.cpp        dispatch on the first bytes, the pickle driver, plain pickles
//   zipcheckpoint.cpp          torch.save >= 1.6, TorchScript, torch.export's PT2 archive
//   legacycheckpoint.cpp       the legacy multi-pickle stream (< 1.6) and the 0.1.x tar
//   safetensorscheckpoint.cpp  safetensors files and sharded *.index.json checkpoints

#include "checkpointreader.h"
#include "pickleunpickler.h"
#include "torchlayout.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace ckpt::format {

struct ZipEntry;
class ZipReader;

/// The magic number that opens a legacy stream: 0x1950A86A20F9469CFC6C as LONG1 bytes.
inline constexpr std::uint8_t kLegacyMagic[] = {0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19};

/// Text of a pickled dict key (str, bytes or int) for messages and record names; "" otherwise.
std::string keyText(const Value *v);
/// `s` without trailing newlines, blanks and NULs (the text records of a zip checkpoint).
std::string trimmed(std::string_view s);

class ContainerReader
{
public:
    ContainerReader(CheckpointData &data, const ReadLimits &limits, const ProgressFn &progress);

    /// Reads `file` into the CheckpointData; throws FormatError. `allowIndex`: a shard index may
    /// be read (it opens further files next to `path`).
    void read(ByteView file, const std::string &path, bool allowIndex);
    /// read() that records any failure as the CheckpointData's error instead of throwing.
    void readGuarded(ByteView bytes, const std::string &path, bool allowIndex) noexcept;
    /// Reads another file (a shard) into a CheckpointData of its own.
    std::shared_ptr<CheckpointData> readCheckpointImpl(const std::string &path, bool allowIndex);

    void fail(const FormatError &e);
    void mergeGlobals();
    void addGlobal(const GlobalUse &g);

private:
    using Kind = FormatError::Kind;

    static UnpickleLimits unpickleLimits(const ReadLimits &l);
    void report(std::uint64_t done, std::uint64_t total);
    /// Runs one pickle and the interpretation pass over what it built (also after a failure,
    /// so a partly read pickle still shows its tensors). Returns the root or the partial root.
    Value *loadPickle(ByteView bytes, std::uint64_t pos, std::uint64_t fileOffset, const std::string &record,
                      const StorageResolver &resolve, std::uint64_t *endPos = nullptr,
                      bool offsetInRecord = false, const PlainIdResolver &plainId = {});

    /// Adds `name`: the last tensor of m_d.tensors to the dict `dict` (readers that build the
    /// tree themselves: safetensors, PT2).
    void appendLastTensor(Value *dict, const std::string &name);

    // zipcheckpoint.cpp
    void readZip();
    RecordBytes readPickleRecord(const ZipReader &zip, const ZipEntry &entry);
    /// Issue 6: a file of under 1 MB must not make us allocate hundreds of MB. Deflate packs
    /// zeros about 1000:1, so every deflated record is charged against one budget for the whole
    /// file: 64 times its size, at least 128 MiB. Real records stay far below (pickles and
    /// weights compress a few times); a decompression bomb is refused before it is inflated.
    void chargeInflation(const ZipEntry &entry);
    /// torch.export's PT2 archive (pt2archive.h): every weight and constant its configs list,
    /// as a tree {"weights": {name: tensor}, "constants": {...}}; entries that are not plain
    /// tensors are warnings naming their record.
    void readPt2(const ZipReader &zip, const std::string &relPrefix, bool byteSwap);
    /// `e`: the entry of `s.record`, or nullptr when the archive has none.
    void attachZipRecord(const ZipReader &zip, const ZipEntry *e, StorageInfo &s);
    /// The archive has `.data/serialization_id` (torch >= 2.4 wrote it).
    bool writtenBySerializationId(const ZipReader &zip);

    // legacycheckpoint.cpp
    void readLegacy();
    void readTar();

    // safetensorscheckpoint.cpp
    void readSafetensors();
    void readIndex(const std::string &path);

    // containerreader.cpp
    void readPlainPickle();

    CheckpointData &m_d;
    ReadLimits m_limits;
    ProgressFn m_progress;
    ByteView m_file;
    PickleUnpickler m_unpickler;
    bool m_warnedDeflate = false;
    bool m_warnedSkipData = false;
    std::optional<bool> m_hasSerializationId; ///< writtenBySerializationId(), once asked
    std::uint64_t m_inflated = 0; ///< bytes charged by chargeInflation()
};

} // namespace ckpt::format
