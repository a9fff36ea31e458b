// SPDX-License-Identifier: MIT
#pragma once
// Shared by the libFuzzer harnesses (tests/fuzz/fuzz_*.cpp) and the regression test
// (tests/tst_fuzzregressions.cpp), so that a committed crashing input is fed through exactly the
// code the fuzzer ran. Standard C++ only, like ckpt_format.

#include "checkpointreader.h"
#include "folderreader.h"
#include "pickleunpickler.h"
#include "pyvalue.h"
#include "safetensorsreader.h"
#include "tarreader.h"
#include "tensordecode.h"
#include "tensorstats.h"
#include "zipreader.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace ckpt::fuzz {

using namespace ckpt::format;

/// Logical elements whose statistics one tensor may cost in a harness. A stride-0 view of one
/// stored element may legally claim 2^60 elements (torch saves expanded tensors that way); the
/// statistics of such a tensor are real, user-requested, cancellable work, not a reader hang, so
/// the harness cancels them through the progress callback (which exercises cancellation too).
inline constexpr std::uint64_t kStatsElementBudget = 1u << 20;
/// Elements decoded one by one / in a range per tensor.
inline constexpr std::uint64_t kDecodeElements = 256;

/// The legacy stream header: PROTO 2, LONG1 magic number, STOP. The legacy harness prepends it
/// so that every mutation reaches the reader behind the magic-number check.
inline constexpr std::uint8_t kLegacyHeader[] = {0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46,
                                                 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19, 0x2E};

inline ByteView viewOf(const std::uint8_t *data, std::size_t size)
{
    return ByteView{data, static_cast<std::uint64_t>(size)};
}

/// Statistics and element decoding of every tensor that has a decodable view: what the GUI's
/// details panel, the values view and `ckpt-inspect stats` do with a loaded checkpoint.
inline void exerciseTensors(const CheckpointData &data)
{
    for (std::size_t i = 0; i < data.tensors.size(); ++i) {
        const TensorViewResult r = tensorView(data, static_cast<int>(i));
        if (!r.view)
            continue;
        const StridedView &v = *r.view;
        StatsOptions options;
        options.bins = 16;
        options.threads = 1;
        options.progress = [](std::uint64_t done, std::uint64_t) { return done <= 2 * kStatsElementBudget; };
        try {
            (void)computeStats(v, options);
        } catch (const FormatError &) {
            // Cancelled (over budget) or a dtype without statistics: both are clean ends.
        }
        const std::uint64_t numel = v.numel();
        if (numel == 0)
            continue;
        const std::uint64_t n = std::min<std::uint64_t>(numel, kDecodeElements);
        std::vector<double> out(static_cast<std::size_t>(n));
        decodeRange(v, 0, n, out.data(), true);
        decodeRange(v, numel - n, n, out.data(), false);
        // First and last element by multi-index, as the values view shows them.
        std::vector<std::int64_t> first(v.shape.size(), 0);
        std::vector<std::int64_t> last(v.shape.size(), 0);
        for (std::size_t d = 0; d < v.shape.size(); ++d)
            last[d] = v.shape[d] - 1;
        (void)formatElementAt(v, first);
        (void)formatElementAt(v, last);
        (void)formatElement(elementAt(v, last), v.dtype);
    }
}

/// Everything a user can reach of a loaded checkpoint without a GUI: the tree (paths, repr of
/// every root), warnings, the error text, and the tensors' statistics and values.
inline void exerciseCheckpoint(const CheckpointData &data)
{
    if (data.root)
        (void)pyRepr(data.root);
    for (const auto &extra : data.extraRoots)
        (void)pyRepr(extra.second);
    for (const TensorPath &p : data.paths)
        (void)p.path();
    for (const ReadWarning &w : data.warnings)
        (void)w.text();
    if (data.error)
        (void)data.error->text();
    (void)data.hasDangerousGlobals();
    exerciseTensors(data);
}

/// The whole loader on bytes in memory, then statistics of every tensor.
inline void runCheckpoint(ByteView bytes)
{
    const auto data = readCheckpointBytes(bytes, "fuzz.pt");
    if (data)
        exerciseCheckpoint(*data);
}

/// The zip central-directory reader, then every record's payload (inflating at most 16 MiB).
inline void runZip(ByteView bytes)
{
    try {
        const ZipReader zip(bytes, "fuzz.zip");
        (void)zip.prefix();
        (void)zip.findRelative("data.pkl");
        for (const ZipEntry &e : zip.entries()) {
            if (zip.find(e.name) == nullptr)
                __builtin_trap(); // every listed entry must be found by its name
            try {
                const RecordBytes rb = zip.read(e, 16u << 20);
                if (rb.view.size != e.uncompressedSize && e.method == 8)
                    __builtin_trap(); // read() promises exactly uncompressedSize bytes
            } catch (const FormatError &) {
            }
        }
    } catch (const FormatError &) {
    }
}

/// The pickle machine alone (the node/memo/stack limits the loader uses), then the repr of the
/// result and of the partial root after an error.
inline void runPickle(ByteView bytes)
{
    ValueGraph graph;
    PickleUnpickler unpickler(graph);
    try {
        std::uint64_t end = 0;
        const Value *root = unpickler.load(bytes, 0, 0, "data.pkl", &end);
        if (end > bytes.size)
            __builtin_trap();
        (void)pyRepr(root);
    } catch (const FormatError &e) {
        (void)e.what();
        if (unpickler.partialRoot())
            (void)pyRepr(unpickler.partialRoot());
    }
    for (const GlobalUse &g : unpickler.globals())
        (void)g;
}

/// The legacy stream reader: the fixed magic-number pickle, then the fuzzed rest.
inline void runLegacy(ByteView bytes)
{
    std::vector<std::uint8_t> stream(std::begin(kLegacyHeader), std::end(kLegacyHeader));
    stream.insert(stream.end(), bytes.data, bytes.data + bytes.size);
    runCheckpoint(ByteView{stream.data(), stream.size()});
}

/// Rewrites the checksum of every header the tar walk reaches, so that mutations get past the
/// checksum test into the member and checkpoint logic. The walk mirrors the reader's only as far
/// as finding headers needs (octal sizes; a base-256 or bad size ends it).
inline void fixTarChecksums(std::vector<std::uint8_t> &b)
{
    std::uint64_t pos = 0;
    while (pos + 512 <= b.size()) {
        std::uint8_t *h = b.data() + pos;
        if (std::all_of(h, h + 512, [](std::uint8_t c) { return c == 0; }))
            return;
        std::memset(h + 148, ' ', 8);
        unsigned sum = 0;
        for (int i = 0; i < 512; ++i)
            sum += h[i];
        char field[8];
        std::snprintf(field, sizeof field, "%06o", sum & 0777777u);
        std::memcpy(h + 148, field, 7); // six digits, NUL, and the space already there
        std::uint64_t size = 0;
        for (int i = 124; i < 136 && h[i] >= '0' && h[i] <= '7'; ++i)
            size = (size << 3) | static_cast<std::uint64_t>(h[i] - '0');
        if (size > b.size())
            return;
        pos += 512 + (size + 511) / 512 * 512;
    }
}

/// The tar reader on the raw bytes, then (checksums repaired) the reader and the whole loader.
inline void runTar(ByteView bytes)
{
    auto members = [](ByteView b) {
        try {
            const TarReader tar(b, "fuzz.tar");
            for (const TarMember &m : tar.members()) {
                if (tar.find(m.name) == nullptr)
                    __builtin_trap();
                const ByteView payload = tar.bytes(m);
                if (payload.size != m.size)
                    __builtin_trap(); // members past the end must have been rejected
            }
        } catch (const FormatError &) {
        }
    };
    members(bytes);
    std::vector<std::uint8_t> fixed(bytes.data, bytes.data + bytes.size);
    fixTarChecksums(fixed);
    const ByteView view{fixed.data(), fixed.size()};
    members(view);
    runCheckpoint(view);
}

/// The safetensors header reader, then the whole loader (safetensors path) and statistics.
inline void runSafetensors(ByteView bytes)
{
    try {
        const SafetensorsHeader h = readSafetensorsHeader(bytes, "fuzz.safetensors");
        for (const SafetensorsEntry &e : h.tensors)
            if (e.end < e.begin || h.dataStart + e.end > bytes.size)
                __builtin_trap(); // spans are promised to lie inside the data area
    } catch (const FormatError &) {
    }
    if (probeSafetensors(bytes))
        runCheckpoint(bytes);
}

/// The `*.index.json` reader, and on the same text the JSON value reader of Trainer folders
/// (trainer_state.json, config.json) with the reader's default depth limit.
inline void runIndex(ByteView bytes)
{
    (void)probeShardIndex(bytes);
    try {
        const ShardIndex index = readShardIndex(bytes, "fuzz.index.json");
        for (const std::string &shard : index.shards)
            if (!shard.empty() && shard.front() == '/')
                __builtin_trap(); // absolute shard names are promised to be rejected
    } catch (const FormatError &) {
    }
    try {
        ValueGraph graph;
        ReadLimits limits;
        limits.maxNodes = 1u << 20;
        const Value *root = jsonToValues(graph, {reinterpret_cast<const char *>(bytes.data), bytes.size}, 0,
                                         "fuzz.json", limits);
        if (!root)
            __builtin_trap(); // valid JSON always has a value
    } catch (const FormatError &) {
    }
}

/// A scratch DCP directory for runDcp(): the two rank files of the FSDP fixture
/// (tests/fixtures/files/torch2/dcp/fsdp), made once per process and removed at its end.
inline const std::string &dcpFuzzDir()
{
    struct Dir
    {
        std::string path;
        Dir()
        {
            char name[] = "/tmp/ckpt-fuzz-dcp-XXXXXX";
            if (!::mkdtemp(name))
                std::abort();
            path = name;
#ifdef CKPT_FIXTURES_DIR
            std::error_code ec;
            for (const char *f : {"__0_0.distcp", "__1_0.distcp"})
                std::filesystem::copy_file(std::string(CKPT_FIXTURES_DIR "/files/torch2/dcp/fsdp/") + f, path + "/" + f, ec);
#endif
        }
        ~Dir()
        {
            std::error_code ec;
            std::filesystem::remove_all(path, ec);
        }
    };
    static const Dir dir;
    return dir.path;
}

/// The DCP reader on `bytes` as a directory's .metadata beside real rank files: read with the
/// records on open and when needed, then every tensor's statistics and values (which read the
/// records the second way).
inline void runDcp(ByteView bytes)
{
    const std::string &dir = dcpFuzzDir();
    if (std::FILE *f = std::fopen((dir + "/.metadata").c_str(), "wb")) {
        if (bytes.size)
            std::fwrite(bytes.data, 1, bytes.size, f);
        std::fclose(f);
    } else {
        std::abort();
    }
    for (const bool onOpen : {true, false}) {
        ReadLimits limits;
        limits.maxNodes = 1u << 20;
        limits.dcpRecordsOnOpen = onOpen;
        const auto data = readCheckpoint(dir, limits);
        if (!data)
            continue;
        if (data->format != ContainerFormat::Dcp)
            __builtin_trap(); // a directory with .metadata is always read as DCP
        exerciseCheckpoint(*data);
    }
}

} // namespace ckpt::fuzz
