// SPDX-License-Identifier: MIT
#include "securityscan.h"
#include "pt2archive.h"

#include "mappedfile.h"
#include "safetensorsreader.h"
#include "tarreader.h"
#include "zipreader.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <unordered_set>

// Which pickles torch.load reads (torch 2.13's serialization.py, read for this; 1.13 reads the
// same ones): a file starting with `PK\3\4` is a zip; its archive name is the folder of the
// first entry and it reads `<archive>/data.pkl`, or hands the file to torch.jit.load when
// `<archive>/constants.pkl` exists. Any other file is tried as a tar (the 0.1.x layout), then
// unpickled from byte 0: the first pickle runs before torch checks it is the legacy magic
// number; only then do the protocol version, sys_info, main pickle and storage keys follow.
// A path ending in `.safetensors` goes to safetensors. Everything else that looks like a
// pickle (other `.pkl` members, pickles after STOP, an archive appended to a pickle, a zip
// whose directory is gone) is scanned too: other tools and later code read them.

namespace ckpt::format {

namespace {

constexpr int kMaxDepth = 4;          ///< nested torch.load payloads inside payloads
constexpr int kMaxChained = 64;       ///< pickles one after another in a non-zip file
/// Deflated members are inflated to be scanned up to this size (torch stores its records
/// uncompressed: only re-zipped files have deflated pickles; a deflate bomb is refused).
constexpr std::uint64_t kMaxRecord = 64ull << 20;

bool endsWith(std::string_view s, std::string_view t) noexcept
{
    return s.size() >= t.size() && s.substr(s.size() - t.size()) == t;
}

std::uint32_t le32(const std::uint8_t *p) noexcept
{
    return std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 | std::uint32_t(p[2]) << 16 | std::uint32_t(p[3]) << 24;
}

std::uint16_t le16(const std::uint8_t *p) noexcept
{
    return static_cast<std::uint16_t>(p[0] | p[1] << 8);
}

/// The first byte of a pickle: PROTO 2-5, or an opcode protocol 0/1 pickles start with.
bool looksLikePickle(ByteView b, std::uint64_t pos) noexcept
{
    if (pos >= b.size)
        return false;
    const std::uint8_t c = b.data[pos];
    if (c == 0x80)
        return pos + 1 < b.size && b.data[pos + 1] <= 5;
    return std::strchr("(cdl]}).NIJKLMFSTUVXGip", c) != nullptr && c != 0;
}

class FileScanner
{
public:
    explicit FileScanner(SecurityScan &result) : out(result) {}

    /// Scans the container in `b` (file offset `base` of b[0]); `torchReads` says whether
    /// torch.load would read this container at all (false for appended or recovered data).
    void container(ByteView b, std::uint64_t base, const std::string &name, int depth, bool torchReads)
    {
        if (depth > kMaxDepth) {
            warn(name + ": nested torch.load payloads deeper than " + std::to_string(kMaxDepth) + " levels not scanned");
            out.incomplete = true;
            return;
        }
        if (ZipReader::probe(b)) {
            zip(b, base, name, depth, torchReads);
            return;
        }
        if (TarReader::probe(b)) {
            tar(b, base, name, depth, torchReads);
            return;
        }
        if (b.size >= 10 && std::memcmp(b.data, "\x93NUMPY", 6) == 0) {
            npy(b, base, name, depth);
            return;
        }
        chain(b, base, name, depth, torchReads);
        appendedZip(b, base, name, depth);
    }

    std::string primary; ///< "zip", "torchscript", ... of the outermost container
    bool legacy = false;
    bool woDecided = false;

private:
    SecurityScan &out;

    void warn(std::string w) { out.warnings.push_back(std::move(w)); }

    void weightsOnly(bool accepted, std::string reason, std::string record = {}, std::uint64_t offset = 0)
    {
        if (woDecided)
            return;
        woDecided = true;
        out.weightsOnlyAccepted = accepted;
        out.weightsOnlyReason = std::move(reason);
        out.weightsOnlyRecord = std::move(record);
        out.weightsOnlyOffset = offset;
    }

    /// Scans one pickle and the nested torch.load payloads it carries.
    void pickle(ByteView b, std::uint64_t pos, std::uint64_t base, std::string record, int depth, bool torchReads)
    {
        // (offsets of inflated records count from the record's start)
        out.pickles.push_back(scanPickle(b, pos, base == FormatError::kNoOffset ? 0 : base, std::move(record)));
        const std::size_t index = out.pickles.size() - 1;
        out.pickles[index].torchReads = torchReads;
        const std::vector<PickleScan::Nested> nested = out.pickles[index].nested;
        const std::string parent = out.pickles[index].record;
        for (const PickleScan::Nested &n : nested)
            container(b.sub(n.pos, n.size), base == FormatError::kNoOffset ? base : base + n.pos,
                      parent + " > torch.storage._load_from_bytes payload at +" + std::to_string(n.pos), depth + 1,
                      torchReads);
    }

    void zip(ByteView b, std::uint64_t base, const std::string &name, int depth, bool torchReads)
    {
        if (depth == 0)
            primary = "zip";
        std::optional<ZipReader> reader;
        try {
            reader.emplace(b, name);
        } catch (const FormatError &e) {
            warn(name + ": " + FormatError::describe(e.message(), e.record(), e.offset(), e.offsetInRecord())
                 + "; local file headers scanned instead");
            out.incomplete = true;
            if (torchReads && depth == 0)
                weightsOnly(false, "torch cannot open the zip archive: " + e.message());
            localHeaders(b, base, name, depth);
            return;
        }
        const std::string &prefix = reader->prefix();
        const ZipEntry *data = reader->findRelative("data.pkl");
        const ZipEntry *constants = reader->findRelative("constants.pkl");
        if (constants && depth == 0)
            primary = "torchscript";
        if (torchReads && depth == 0) {
            if (constants)
                weightsOnly(false, "Cannot use weights_only=True with TorchScript archives passed to torch.load");
            else if (!data)
                weightsOnly(false, "torch.load finds no " + (prefix.empty() ? std::string() : prefix + "/") + "data.pkl in the archive");
        }
        const std::string dataFolder = prefix.empty() ? "data/" : prefix + "/data/";
        const std::unordered_set<std::string> exportPickles = pt2Pickles(*reader, name);
        for (const ZipEntry &e : reader->entries()) {
            if (exportPickles.count(e.name)) {
                // torch.export.load unpickles these with weights_only=False (or pickle.loads):
                // scanned as the containers they are, although torch.load never reads them.
                try {
                    const RecordBytes rb = reader->read(e, kMaxRecord);
                    container(rb.view, rb.owned || base == FormatError::kNoOffset ? FormatError::kNoOffset : base + e.dataOffset,
                              (depth == 0 ? e.name : name + " > " + e.name) + " (torch.export.load unpickles it)",
                              depth + 1, false);
                } catch (const FormatError &err) {
                    warn(name + ": " + e.name + ": " + err.message() + " (not scanned)");
                    out.incomplete = true;
                }
                continue;
            }
            if (endsWith(e.name, ".npy")) {
                if (depth == 0 && primary == "zip")
                    primary = "npz";
                try {
                    const RecordBytes rb = reader->read(e, kMaxRecord);
                    container(rb.view, rb.owned ? FormatError::kNoOffset : base + e.dataOffset,
                              depth == 0 ? e.name : name + " > " + e.name, depth + 1, false);
                } catch (const FormatError &err) {
                    warn(name + ": " + e.name + ": " + err.message() + " (not scanned)");
                    out.incomplete = true;
                }
                continue;
            }
            const bool isPkl = endsWith(e.name, ".pkl");
            const bool inData = e.name.starts_with(dataFolder) || e.name.find("/.data/") != std::string::npos
                                || e.name.starts_with(".data/");
            if (!isPkl && inData)
                continue;
            if (!isPkl && !(e.method == 0 && looksLikePickle(b, e.dataOffset) && e.uncompressedSize > 2
                            && e.dataOffset < b.size && b.data[e.dataOffset] == 0x80))
                continue;
            if ((e.flags & 1) && e.method != 0) {
                warn(name + ": " + e.name + " is encrypted and was not scanned");
                out.incomplete = true;
                continue;
            }
            // A stored member flagged as encrypted may hold plain bytes that a reader ignoring
            // the flag unpickles: scanned as it is (really encrypted bytes fail as a pickle).
            if (e.flags & 1)
                warn(name + ": " + e.name + " is flagged as encrypted; its bytes were scanned as they are");
            RecordBytes rb;
            try {
                if (e.flags & 1)
                    rb.view = b.sub(e.dataOffset, e.compressedSize);
                else
                    rb = reader->read(e, kMaxRecord);
            } catch (const FormatError &err) {
                warn(name + ": " + e.name + ": " + err.message() + " (not scanned)");
                out.incomplete = true;
                continue;
            }
            const bool reads = torchReads && (&e == data || &e == constants);
            const std::uint64_t recBase = rb.owned || base == FormatError::kNoOffset ? FormatError::kNoOffset : base + e.dataOffset;
            const std::string record = depth == 0 ? e.name : name + " > " + e.name;
            const std::size_t at = out.pickles.size();
            pickle(rb.view, 0, recBase == FormatError::kNoOffset ? 0 : recBase, record, depth, reads);
            const PickleScan &ps = out.pickles[at];
            if ((e.flags & 1) && !ps.complete)
                out.incomplete = true;
            if (reads && &e == data && !constants && depth == 0) {
                if (!ps.weightsOnlyRefusal.empty())
                    weightsOnly(false, ps.weightsOnlyRefusal, ps.record, ps.weightsOnlyOffset);
                else if (ps.complete)
                    weightsOnly(true, {});
                else
                    weightsOnly(false, "the pickle cannot be read: " + ps.error->message(), ps.record, ps.end);
            }
        }
    }

    /// The records of a torch.export PT2 archive (pt2archive.h) that torch.export.load
    /// unpickles (torch/export/pt2_archive/_package.py): weights and tensor constants marked
    /// use_pickle (torch.load, weights_only=False), custom and opaque objects among the constants
    /// (torch._C._pickle_load_obj, pickle.loads), and the sample inputs (torch.load, falling
    /// back to weights_only=False). Empty for any other archive.
    std::unordered_set<std::string> pt2Pickles(const ZipReader &reader, const std::string &name)
    {
        std::unordered_set<std::string> names;
        const ZipEntry *format = reader.findRelative("archive_format");
        if (!format || format->uncompressedSize > 16)
            return names;
        try {
            std::string text(reader.read(*format, 16).view.str());
            while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
                text.pop_back();
            if (text != "pt2")
                return names;
        } catch (const FormatError &) {
            return names;
        }
        const std::string base = reader.prefix().empty() ? std::string() : reader.prefix() + "/";
        for (const ZipEntry &e : reader.entries()) {
            const std::string n(e.name);
            const bool constantsFolder = n.starts_with(base + "data/constants/");
            const std::string leaf = n.substr(n.rfind('/') + 1);
            if ((n.starts_with(base + "data/sample_inputs/") && endsWith(n, ".pt"))
                || (constantsFolder && (leaf.starts_with("custom_obj_") || leaf.starts_with("opaque_obj_"))))
                names.insert(n);
            if (!endsWith(n, "_config.json") || !(constantsFolder || n.starts_with(base + "data/weights/")))
                continue;
            try {
                const RecordBytes json = reader.read(e, kMaxRecord);
                const std::string folder = n.substr(0, n.rfind('/') + 1);
                for (const Pt2Tensor &t : parsePt2Config(json.view.str(), n))
                    if (t.pickled && !t.record.empty())
                        names.insert(folder + t.record);
            } catch (const FormatError &err) {
                warn(name + ": " + n + ": " + err.message() + " (the records it names were not found)");
                out.incomplete = true;
            }
        }
        return names;
    }


    /// A NumPy .npy array (NEP 1): an object array's data is a pickle, which numpy.load runs
    /// with allow_pickle=True. torch.load cannot read the file (0x93 is STACK_GLOBAL on an empty
    /// stack).
    void npy(ByteView b, std::uint64_t base, const std::string &name, int depth)
    {
        if (depth == 0 || primary == "npz") {
            if (depth == 0)
                primary = "npy";
            weightsOnly(false, "a NumPy .npy file, not something torch.load reads");
        }
        const unsigned major = b.data[6];
        const std::uint64_t lenBytes = major == 1 ? 2 : 4;
        if (b.size < 8 + lenBytes) {
            warn(name + ": the .npy header is cut short");
            out.incomplete = true;
            return;
        }
        const std::uint64_t hlen = lenBytes == 2 ? le16(b.data + 8) : le32(b.data + 8);
        const std::uint64_t start = 8 + lenBytes + hlen;
        if (start > b.size) {
            warn(name + ": the .npy header is cut short");
            out.incomplete = true;
            return;
        }
        const std::string_view header(reinterpret_cast<const char *>(b.data + 8 + lenBytes), static_cast<std::size_t>(hlen));
        if (header.find("'|O'") == std::string_view::npos && header.find("\"|O\"") == std::string_view::npos)
            return; // plain numbers: no pickle, nothing runs
        pickle(b, start, base, depth == 0 ? std::string("object array data")
                                                                                     : name + " > object array data",
               depth, false);
    }

    /// The central directory is unreadable: walk the local headers from the front, as far as
    /// they chain, and scan every stored pickle member found (a pickle ends at its own STOP, so
    /// sizes a streaming writer left as zero do not matter).
    void localHeaders(ByteView b, std::uint64_t base, const std::string &name, int depth)
    {
        std::uint64_t pos = 0;
        int found = 0;
        while (pos + 30 <= b.size && le32(b.data + pos) == 0x04034b50) {
            const std::uint8_t *h = b.data + pos;
            const std::uint16_t flags = le16(h + 6);
            const std::uint16_t method = le16(h + 8);
            std::uint64_t csize = le32(h + 18);
            const std::uint16_t nlen = le16(h + 26);
            const std::uint16_t xlen = le16(h + 28);
            const std::uint64_t dataPos = pos + 30 + nlen + xlen;
            if (dataPos > b.size)
                break;
            const std::string entry(reinterpret_cast<const char *>(h + 30), nlen);
            if (csize == 0xFFFFFFFFu) { // ZIP64 extra: 8-byte sizes
                const std::uint8_t *x = h + 30 + nlen;
                for (std::uint64_t i = 0; i + 4 <= xlen;) {
                    const std::uint16_t id = le16(x + i);
                    const std::uint16_t len = le16(x + i + 2);
                    if (id == 1 && len >= 16) {
                        csize = 0;
                        for (int k = 7; k >= 0; --k)
                            csize = csize << 8 | x[i + 4 + 8 + static_cast<std::uint64_t>(k)];
                    }
                    i += 4 + len;
                }
            }
            if (endsWith(entry, ".pkl") || (method == 0 && looksLikePickle(b, dataPos) && b.data[dataPos] == 0x80
                                             && entry.find("/data/") == std::string::npos)) {
                if (method == 0) {
                    ++found;
                    pickle(b, dataPos, base, (depth == 0 ? entry : name + " > " + entry) + " (from its local header)", depth,
                           false);
                } else {
                    warn(name + ": " + entry + " is compressed and its directory entry is lost: not scanned");
                }
            }
            if ((flags & 8) && csize == 0)
                break; // a data descriptor follows data of unknown length: the chain ends here
            if (dataPos + csize > b.size)
                break;
            pos = dataPos + csize;
            if (flags & 8)
                pos += (pos + 4 <= b.size && le32(b.data + pos) == 0x08074b50) ? 16 : 12;
        }
        if (found == 0)
            warn(name + ": no pickle found in the local headers");
    }

    void tar(ByteView b, std::uint64_t base, const std::string &name, int depth, bool torchReads)
    {
        if (depth == 0)
            primary = "tar";
        if (torchReads && depth == 0)
            weightsOnly(false, "Cannot use weights_only=True with files saved in the legacy .tar format");
        try {
            const TarReader reader(b, name);
            for (const TarMember &m : reader.members()) {
                if (m.name != "sys_info" && m.name != "pickle" && m.name != "storages" && m.name != "tensors")
                    continue;
                const ByteView mb = reader.bytes(m);
                // `storages` and `tensors` interleave pickles with raw data; their first pickle is
                // read before any raw byte.
                pickle(mb, 0, base + m.offset, depth == 0 ? m.name : name + " > " + m.name, depth, torchReads);
            }
        } catch (const FormatError &e) {
            warn(name + ": " + e.message());
            out.incomplete = true;
        }
    }

    /// Pickles one after another from byte 0 (the legacy stream, or a plain pickle and whatever
    /// follows its STOP).
    void chain(ByteView b, std::uint64_t base, const std::string &name, int depth, bool torchReads)
    {
        static constexpr const char *kLegacyNames[] = {"magic number", "protocol version", "sys_info", "main pickle",
                                                       "storage keys"};
        std::uint64_t pos = 0;
        bool magic = false;
        for (int k = 0; k < kMaxChained; ++k) {
            if (k > 0 && !looksLikePickle(b, pos))
                break;
            std::string record = magic && k < 5 ? std::string(kLegacyNames[k]) : k == 0 ? std::string("pickle")
                                                                                       : "pickle after STOP at byte " + std::to_string(base + pos);
            if (depth > 0)
                record = name + " > " + record;
            const bool reads = torchReads && (k == 0 || (magic && k < 5));
            const std::size_t before = out.pickles.size();
            pickle(b, pos, base, record, depth, reads);
            if (k == 0) {
                const PickleScan &ps = out.pickles[before];
                // A safetensors file's 8-byte header length can start with bytes that are
                // pickle opcodes ('(' is MARK): unpickling it then fails a few bytes in, before
                // anything is called, as it fails on the first byte of other files.
                const bool safetensorsHeader = depth == 0 && probeSafetensors(b);
                if (!ps.complete && ps.globals.empty() && ps.findings.empty()
                    && (ps.end - ps.offset <= 1 || safetensorsHeader)) {
                    // not a pickle at all: torch.load fails on its first bytes
                    out.pickles.resize(before);
                    if (depth == 0) {
                        const bool st = probeSafetensors(b);
                        primary = st ? "safetensors" : "unknown";
                        if (st && endsWith(out.file, ".safetensors"))
                            weightsOnly(true, {});
                        else
                            weightsOnly(false, st ? "torch.load unpickles a file not named .safetensors, and this one is no pickle"
                                                  : "the file is no pickle, zip or tar archive torch.load could read");
                        if (!st)
                            out.incomplete = true;
                    } else {
                        warn(name + ": the payload is no pickle or archive");
                    }
                    return;
                }
                magic = ps.complete && ps.stopValueIsTorchMagic;
                if (depth == 0) {
                    primary = magic ? "legacy" : "pickle";
                    legacy = magic;
                }
                if (magic)
                    out.pickles[before].record = depth > 0 ? name + " > " + kLegacyNames[0] : kLegacyNames[0];
            }
            PickleScan &cur = out.pickles[before];
            if (depth == 0 && reads && !cur.weightsOnlyRefusal.empty())
                weightsOnly(false, cur.weightsOnlyRefusal, cur.record, cur.weightsOnlyOffset);
            if (!cur.complete) {
                if (reads) {
                    out.incomplete = true;
                    if (depth == 0)
                        weightsOnly(false, "the pickle cannot be read: " + cur.error->message(), cur.record, cur.end);
                }
                break;
            }
            if (depth == 0 && k == 0 && !magic)
                weightsOnly(false, "Invalid magic number; corrupt file? (a plain pickle, not a torch.save stream)", cur.record);
            pos = cur.end - base;
            if (magic && k == 4) {
                if (depth == 0)
                    weightsOnly(true, {});
                break; // raw storage bytes follow
            }
        }
        if (magic && depth == 0)
            weightsOnly(false, "the legacy stream ends before its storage keys");
    }

    /// A zip whose end records sit after a pickle (the file starts with the pickle, so torch
    /// reads the pickle; zip tools read the archive).
    void appendedZip(ByteView b, std::uint64_t base, const std::string &name, int depth)
    {
        if (ZipReader::declaredEntryCount(b) == 0)
            return;
        try {
            const ZipReader reader(b, name);
            const std::size_t before = out.pickles.size();
            for (const ZipEntry &e : reader.entries()) {
                if (!endsWith(e.name, ".pkl"))
                    continue;
                if (e.flags & 1) {
                    warn(name + ": appended archive: " + e.name + " is encrypted and was not scanned");
                    continue;
                }
                const RecordBytes rb = reader.read(e, kMaxRecord);
                pickle(rb.view, 0, rb.owned ? 0 : base + e.dataOffset,
                       (depth == 0 ? std::string() : name + " > ") + "appended archive: " + e.name, depth, false);
            }
            if (out.pickles.size() == before)
                warn(name + ": an archive is appended after the pickle (no .pkl member in it)");
        } catch (const FormatError &) {
            // no readable archive: nothing appended
        }
    }
};

} // namespace

std::string_view scanVerdictName(ScanVerdict v) noexcept
{
    switch (v) {
    case ScanVerdict::Safe: return "safe";
    case ScanVerdict::Dangerous: return "dangerous";
    case ScanVerdict::Unknown: return "unknown";
    }
    return "unknown";
}

void decideVerdict(SecurityScan &out)
{
    const auto dangerous = std::find_if(out.pickles.begin(), out.pickles.end(), [](const PickleScan &p) { return p.dangerous(); });
    if (dangerous != out.pickles.end()) {
        out.verdict = ScanVerdict::Dangerous;
        out.verdictReason = dangerous->torchReads
                                ? "torch.load(weights_only=False) would run code from this file (" + dangerous->record + ")"
                                : "a pickle in this file runs code when unpickled (" + dangerous->record
                                      + "; torch.load itself does not read it)";
    } else if (out.incomplete) {
        out.verdict = ScanVerdict::Unknown;
        out.verdictReason = "the file could not be scanned completely: what was not read may run code";
    } else if (out.pickles.empty() && out.container != "safetensors" && out.container != "npy" && out.container != "npz"
               && out.container != "folder") {
        out.verdict = ScanVerdict::Unknown;
        out.verdictReason = "no pickle was found to scan";
    } else {
        out.verdict = ScanVerdict::Safe;
        out.verdictReason = out.pickles.empty() ? "no pickle: loading runs no code"
                                                : "every pickle was read to its end; nothing in them runs code";
    }
}

SecurityScan scanCheckpointBytes(ByteView bytes, const std::string &name)
{
    SecurityScan out;
    out.file = name;
    FileScanner scanner(out);
    scanner.container(bytes, 0, name, 0, true);
    out.container = scanner.primary.empty() ? "unknown" : scanner.primary;
    if (!scanner.woDecided) {
        out.weightsOnlyAccepted = false;
        out.weightsOnlyReason = "torch.load could not read this file";
    }

    decideVerdict(out);
    return out;
}

SecurityScan scanCheckpointFile(const std::string &path)
{
    std::shared_ptr<const MappedFile> file;
    try {
        file = MappedFile::open(path);
    } catch (const FormatError &e) {
        SecurityScan out;
        out.file = path;
        out.container = "unknown";
        out.warnings.push_back(e.message());
        out.incomplete = true;
        out.verdict = ScanVerdict::Unknown;
        out.verdictReason = "the file could not be opened: " + e.message();
        out.weightsOnlyReason = "torch.load could not open this file";
        return out;
    }
    SecurityScan out = scanCheckpointBytes(file->bytes(), path);
    if (file->changedOnDisk()) {
        out.warnings.push_back(std::string(kFileChangedMessage));
        if (out.verdict == ScanVerdict::Safe) {
            out.verdict = ScanVerdict::Unknown;
            out.verdictReason = "the file changed while it was scanned";
        }
    }
    return out;
}

} // namespace ckpt::format
