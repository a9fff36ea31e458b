// SPDX-License-Identifier: MIT
#pragma once

#include "bytes.h"
#include "picklescanner.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ckpt::format {

enum class ScanVerdict : std::uint8_t {
    Safe,      ///< every pickle was read to its STOP and nothing in them runs code
    Dangerous, ///< loading would run code chosen by the file (with weights_only=False)
    Unknown,   ///< the file could not be scanned completely: never "safe"
};

std::string_view scanVerdictName(ScanVerdict v) noexcept; ///< "safe", "dangerous", "unknown"

/// Every pickle in one file, what torch.load would read of them, and the verdicts
/// (PRODUCT.md section 4 `scan`, FORMAT.md 6.4).
struct SecurityScan
{
    std::string file;
    std::string container;            ///< "zip", "torchscript", "legacy", "tar", "pickle", "safetensors", "unknown"
    std::vector<PickleScan> pickles;  ///< in file order; nested torch.load payloads after their parent
    std::vector<std::string> warnings;///< what could not be scanned, container damage
    bool incomplete = false;          ///< something the loaders read could not be scanned
    /// DCP directories opened with ReadLimits::dcpRecordsOnOpen false: tensor records not read
    /// (nor scanned) yet. dcp.load reads them with torch.load(weights_only=True), so they do not
    /// change the verdict; `ckpt-inspect scan` reads them all.
    std::uint64_t deferredRecords = 0;
    ScanVerdict verdict = ScanVerdict::Unknown;
    std::string verdictReason;        ///< one sentence for the text report and the GUI

    /// torch 2.13's default load (weights_only=True): accepted, or where it stops.
    bool weightsOnlyAccepted = false;
    std::string weightsOnlyReason;    ///< torch's message (empty when accepted)
    std::string weightsOnlyRecord;
    std::uint64_t weightsOnlyOffset = 0;

    bool dangerous() const noexcept { return verdict == ScanVerdict::Dangerous; }
};

/// Scans `bytes` (the whole file, `name` in messages). Never throws, never executes anything;
/// reads only the directory and the pickles.
SecurityScan scanCheckpointBytes(ByteView bytes, const std::string &name);
/// Sets verdict and verdictReason from the pickles, `incomplete` and `container` (after
/// pickles of several files were merged into one scan).
void decideVerdict(SecurityScan &scan);
/// Maps and scans `path`; a file that cannot be opened gives verdict Unknown with the reason.
SecurityScan scanCheckpointFile(const std::string &path);

} // namespace ckpt::format
