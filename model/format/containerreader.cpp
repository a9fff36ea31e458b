// SPDX-License-Identifier: MIT
#include "containerreader.h"

#include "mappedfile.h"
#include "picklescanner.h"
#include "safetensorsreader.h"
#include "tarreader.h"
#include "zipreader.h"

#include <algorithm>
#include <cstdio>
#include <new>

namespace ckpt::format {

namespace {

bool probeLegacy(ByteView file) noexcept
{
    // 80 <proto> 8A 0A <10 magic bytes>
    if (file.size < 14 || file.data[0] != 0x80 || file.data[2] != 0x8A || file.data[3] != 0x0A)
        return false;
    return std::equal(std::begin(kLegacyMagic), std::end(kLegacyMagic), file.data + 4);
}

std::string hexPrefix(ByteView file)
{
    static const char *digits = "0123456789abcdef";
    std::string out;
    for (std::uint64_t i = 0; i < std::min<std::uint64_t>(file.size, 8); ++i) {
        if (i)
            out += ' ';
        out += digits[file.data[i] >> 4];
        out += digits[file.data[i] & 15];
    }
    return out;
}

} // namespace

std::string keyText(const Value *v)
{
    if (!v)
        return {};
    if (v->kind == ValueKind::Int)
        return std::to_string(v->integer);
    if (v->kind == ValueKind::Str || v->kind == ValueKind::Bytes)
        return std::string(v->text);
    return pyRepr(v);
}

std::string trimmed(std::string_view s)
{
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\0'))
        s.remove_suffix(1);
    return std::string(s);
}

ContainerReader::ContainerReader(CheckpointData &data, const ReadLimits &limits, const ProgressFn &progress)
    : m_d(data), m_limits(limits), m_progress(progress), m_unpickler(data.graph, unpickleLimits(limits))
{
}

void ContainerReader::read(ByteView file, const std::string &path, bool allowIndex)
{
    m_file = file;
    if (ZipReader::probe(file))
        readZip();
    else if (probeLegacy(file))
        readLegacy();
    else if (TarReader::probe(file))
        readTar();
    else if (probeSafetensors(file))
        readSafetensors();
    else if (probeShardIndex(file)) {
        if (!allowIndex)
            throw FormatError(Kind::Unsupported, "a shard index cannot be read from memory or name another index");
        readIndex(path);
    } else if ((file.size >= 2 && file.data[0] == 0x80 && file.data[1] <= 5)
               || scanPickle(file, 0, 0, "pickle").complete) {
        // protocol 2+ pickles start with PROTO; protocol 0/1 pickles have no header, and
        // torch.load unpickles any non-zip file from byte 0: a stream that runs to STOP is one
        readPlainPickle();
    }
    else if (file.size == 0)
        throw FormatError(Kind::Truncated, "the file is empty", {}, 0);
    else
        throw FormatError(Kind::Unsupported,
                          "not a PyTorch checkpoint (first bytes " + hexPrefix(file)
                              + " match no known format)",
                          {}, 0);
    mergeGlobals();
}

void ContainerReader::fail(const FormatError &e)
{
    if (!m_d.error)
        m_d.error = ReadError{e.kind(), e.message(), e.record(), e.offset(), e.offsetInRecord()};
}

void ContainerReader::mergeGlobals()
{
    for (const GlobalUse &g : m_unpickler.globals())
        addGlobal(g);
}

void ContainerReader::addGlobal(const GlobalUse &g)
{
    for (GlobalUse &mine : m_d.globals)
        if (mine.module == g.module && mine.name == g.name) {
            mine.count += g.count;
            return;
        }
    m_d.globals.push_back(g);
}

UnpickleLimits ContainerReader::unpickleLimits(const ReadLimits &l)
{
    UnpickleLimits u;
    u.maxNodes = l.maxNodes;
    u.maxMemo = l.maxMemo;
    return u;
}

void ContainerReader::report(std::uint64_t done, std::uint64_t total)
{
    if (m_progress && !m_progress(done, total))
        throw FormatError(Kind::Cancelled, "cancelled");
}

/// Runs one pickle and the interpretation pass over what it built (also after a failure,
/// so a partly read pickle still shows its tensors). Returns the root or the partial root.
Value *ContainerReader::loadPickle(ByteView bytes, std::uint64_t pos, std::uint64_t fileOffset, const std::string &record,
                  const StorageResolver &resolve, std::uint64_t *endPos,
                  bool offsetInRecord, const PlainIdResolver &plainId)
{
    const std::size_t first = m_d.graph.size();
    Value *root = nullptr;
    try {
        root = m_unpickler.load(bytes, pos, fileOffset, record, endPos, offsetInRecord);
    } catch (const FormatError &e) {
        fail(e);
        root = m_unpickler.partialRoot();
        interpretGraph(m_d, first, resolve, record, plainId);
        throw;
    }
    interpretGraph(m_d, first, resolve, record, plainId);
    return root;
}

void ContainerReader::appendLastTensor(Value *dict, const std::string &name)
{
    Value *key = m_d.graph.make(ValueKind::Str);
    m_d.graph.setText(key, name);
    Value *tensor = m_d.graph.make(ValueKind::Tensor);
    tensor->integer = static_cast<std::int64_t>(m_d.tensors.size() - 1);
    dict->items.push_back(key);
    dict->items.push_back(tensor);
}

void ContainerReader::readPlainPickle()
{
    m_d.format = ContainerFormat::Pickle;
    bool warned = false;
    const StorageResolver resolver = [&](std::string_view, DType, std::uint64_t, std::string_view,
                                         std::uint64_t offset) -> int {
        if (!warned)
            m_d.warnings.push_back({"storage references in a plain pickle have no data", "pickle", offset});
        warned = true;
        return -1;
    };
    m_d.root = loadPickle(m_file, 0, 0, "pickle", resolver);
    if (m_limits.tensorPaths)
        collectTensorPaths(m_d, m_d.root, {}, m_limits.maxDepth);
}

std::shared_ptr<CheckpointData> ContainerReader::readCheckpointImpl(const std::string &path, bool allowIndex)
{
    auto sub = std::make_shared<CheckpointData>();
    sub->file = path;
    try {
        auto mapped = MappedFile::open(path);
        sub->files.push_back(mapped);
        ContainerReader reader(*sub, m_limits, {});
        reader.readGuarded(mapped->bytes(), path, allowIndex);
    } catch (const FormatError &e) {
        if (!sub->error)
            sub->error = ReadError{e.kind(), e.message(), e.record(), e.offset(), e.offsetInRecord()};
    }
    return sub;
}

void ContainerReader::readGuarded(ByteView bytes, const std::string &path, bool allowIndex) noexcept
{
    try {
        read(bytes, path, allowIndex);
    } catch (const FormatError &e) {
        fail(e);
        mergeGlobals();
    } catch (const std::bad_alloc &) {
        fail(FormatError(Kind::LimitExceeded, "out of memory while reading"));
    } catch (const std::exception &e) {
        fail(FormatError(Kind::Corrupt, e.what()));
    }
}

} // namespace ckpt::format
