// SPDX-License-Identifier: MIT
#include "containerreader.h"

#include "tarreader.h"

#include <unordered_map>

namespace ckpt::format {

void ContainerReader::readLegacy()
{
    m_d.format = ContainerFormat::TorchLegacy;
    std::unordered_map<std::string, int> byKey;
    const StorageResolver resolver = [&](std::string_view keyView, DType dtype, std::uint64_t numel,
                                         std::string_view location, std::uint64_t offset) -> int {
        const std::string key(keyView);
        if (auto it = byKey.find(key); it != byKey.end()) {
            const StorageInfo &s = m_d.storages[static_cast<std::size_t>(it->second)];
            if (s.dtype != dtype || s.numel != numel)
                m_d.warnings.push_back({"storage '" + key + "' is referenced with different types or sizes; "
                                        "the first is used",
                                        "main pickle", offset});
            return it->second;
        }
        StorageInfo s;
        s.key = key;
        s.dtype = dtype;
        s.numel = numel;
        s.location = location;
        s.record = m_d.graph.copyText("storage " + key);
        s.problem = "the data of storage '" + key + "' was not reached";
        m_d.storages.push_back(std::move(s));
        byKey.emplace(key, static_cast<int>(m_d.storages.size() - 1));
        return static_cast<int>(m_d.storages.size() - 1);
    };
    const StorageResolver none = [](std::string_view, DType, std::uint64_t, std::string_view,
                                    std::uint64_t) { return -1; };
    std::uint64_t pos = 0;
    Value *magic = loadPickle(m_file, pos, 0, "magic number", none, &pos);
    if (!magic || magic->kind != ValueKind::BigInt
        || magic->text != std::string(reinterpret_cast<const char *>(kLegacyMagic), sizeof kLegacyMagic))
        throw FormatError(Kind::Corrupt, "the legacy magic number is wrong", "magic number", 0);
    Value *protocol = loadPickle(m_file, pos, 0, "protocol version", none, &pos);
    std::int64_t proto = 0;
    if (!protocol || !protocol->toInt(proto))
        throw FormatError(Kind::Corrupt, "the protocol version is not an integer", "protocol version", pos);
    m_d.version = std::to_string(proto);
    if (proto != 1001)
        m_d.warnings.push_back({"unknown legacy protocol version " + std::to_string(proto), "protocol version", pos});
    const std::uint64_t sysInfoAt = pos;
    Value *sysInfo = loadPickle(m_file, pos, 0, "sys_info", none, &pos);
    if (sysInfo && sysInfo->kind == ValueKind::Dict) {
        if (const Value *le = sysInfo->get("little_endian"); le && le->kind == ValueKind::Bool && !le->boolean)
            m_d.warnings.push_back({"written on a big-endian machine; storages are read as little-endian",
                                    "sys_info", sysInfoAt});
    }
    m_d.root = loadPickle(m_file, pos, 0, "main pickle", resolver, &pos);
    collectTensorPaths(m_d, m_d.root, {}, m_limits.maxDepth);
    const std::uint64_t keysAt = pos;
    Value *keys = loadPickle(m_file, pos, 0, "storage key list", none, &pos);
    if (!keys || keys->kind != ValueKind::List)
        throw FormatError(Kind::Corrupt, "the storage key list is not a list", "storage key list", keysAt);
    ByteReader r(m_file, {}, 0);
    r.seek(pos);
    for (const Value *k : keys->items) {
        const std::string key = keyText(k);
        const auto it = byKey.find(key);
        const std::string record = "storage " + key;
        if (it == byKey.end())
            throw FormatError(Kind::Corrupt,
                              "storage '" + key + "' in the key list is not used by any tensor, so its "
                              "element size is unknown",
                              record, r.fileOffset());
        StorageInfo &s = m_d.storages[static_cast<std::size_t>(it->second)];
        const std::uint64_t headerAt = r.fileOffset();
        if (r.remaining() < 8)
            throw FormatError(Kind::Truncated, "the file ends before the storage's element count", record,
                              headerAt);
        const std::uint64_t count = r.u64();
        if (count != s.numel)
            throw FormatError(Kind::Corrupt,
                              "element count " + std::to_string(count) + " differs from the "
                                  + std::to_string(s.numel) + " the pickle declares",
                              record, headerAt);
        const std::uint64_t n = s.nbytes();
        if (n > r.remaining()) {
            s.problem = record + " is truncated";
            throw FormatError(Kind::Truncated,
                              "storage needs " + std::to_string(n) + " bytes, only "
                                  + std::to_string(r.remaining()) + " remain",
                              record, r.fileOffset());
        }
        s.bytes.fileOffset = r.fileOffset();
        s.bytes.view = r.bytes(n);
        s.record = m_d.graph.copyText("storage " + key);
        s.present = true;
        s.problem.clear();
    }
    for (StorageInfo &s : m_d.storages) {
        if (!s.present && s.numel > 0)
            fail(FormatError(Kind::Missing, "storage '" + s.key + "' has no data in the file", std::string(s.record)));
        else if (!s.present)
            s.present = true; // zero-size storages need no bytes
    }
}

void ContainerReader::readTar()
{
    m_d.format = ContainerFormat::TorchTar;
    TarReader tar(m_file, m_d.file);
    const TarMember *storages = tar.find("storages");
    const TarMember *tensors = tar.find("tensors");
    const TarMember *pickle = tar.find("pickle");
    if (!storages || !tensors || !pickle)
        throw FormatError(Kind::Missing,
                          "the archive ends without this member (a legacy tar checkpoint needs 'storages', "
                          "'tensors' and 'pickle')",
                          !storages ? "storages" : !tensors ? "tensors" : "pickle", m_file.size);
    const StorageResolver none = [](std::string_view, DType, std::uint64_t, std::string_view,
                                    std::uint64_t) { return -1; };
    std::unordered_map<std::string, int> storageByKey;
    std::unordered_map<std::string, int> tensorByKey;

    // storages: pickle(count); per storage pickle((key, location, type)), int64 numel, data;
    // then pickle(list of views (view_key, root_key, offset, numel)).
    {
        const ByteView bytes = tar.bytes(*storages);
        std::uint64_t pos = 0;
        Value *count = loadPickle(bytes, pos, storages->offset, "storages", none, &pos);
        std::int64_t n = 0;
        if (!count || !count->toInt(n) || n < 0)
            throw FormatError(Kind::Corrupt, "storage count is not a number", "storages", storages->offset);
        for (std::int64_t i = 0; i < n; ++i) {
            const std::uint64_t at = storages->offset + pos;
            Value *head = loadPickle(bytes, pos, storages->offset, "storages", none, &pos);
            if (!head || head->kind != ValueKind::Tuple || head->items.size() < 3)
                throw FormatError(Kind::Corrupt, "storage header is not (key, location, type)", "storages", at);
            const auto dtype = storageTypeDType(head->items[2]);
            if (!dtype)
                throw FormatError(Kind::Unsupported, "unknown storage type " + pyRepr(head->items[2]), "storages", at);
            ByteReader r(bytes, "storages", storages->offset);
            r.seek(pos);
            const std::uint64_t numel = r.u64();
            StorageInfo s;
            s.key = keyText(head->items[0]);
            s.location = m_d.graph.copyText(keyText(head->items[1]));
            s.dtype = *dtype;
            s.numel = numel;
            s.record = "storages";
            const std::uint64_t nb = s.nbytes();
            if (nb > r.remaining())
                throw FormatError(Kind::Truncated, "storage '" + s.key + "' needs " + std::to_string(nb)
                                                       + " bytes, only " + std::to_string(r.remaining()) + " remain",
                                  "storages", r.fileOffset());
            s.bytes.fileOffset = r.fileOffset();
            s.bytes.view = r.bytes(nb);
            s.present = true;
            pos = r.pos();
            storageByKey[s.key] = static_cast<int>(m_d.storages.size());
            m_d.storages.push_back(std::move(s));
        }
        if (pos < bytes.size) {
            Value *views = loadPickle(bytes, pos, storages->offset, "storages", none, &pos);
            if (views && views->kind == ValueKind::List)
                for (const Value *view : views->items) {
                    if (!view || view->kind != ValueKind::Tuple || view->items.size() < 4)
                        continue;
                    const auto root = storageByKey.find(keyText(view->items[1]));
                    std::int64_t offset = 0;
                    std::int64_t numel = 0;
                    if (root == storageByKey.end() || !view->items[2]->toInt(offset)
                        || !view->items[3]->toInt(numel) || offset < 0 || numel < 0)
                        continue;
                    StorageInfo s = m_d.storages[static_cast<std::size_t>(root->second)];
                    const std::uint64_t es = elementSize(s.dtype);
                    const auto off = static_cast<std::uint64_t>(offset);
                    const auto cnt = static_cast<std::uint64_t>(numel);
                    if (off > s.numel || cnt > s.numel - off)
                        continue;
                    s.key = keyText(view->items[0]);
                    s.numel = cnt;
                    s.bytes.view = s.bytes.view.sub(off * es, cnt * es);
                    s.bytes.fileOffset += off * es;
                    storageByKey[s.key] = static_cast<int>(m_d.storages.size());
                    m_d.storages.push_back(std::move(s));
                }
        }
    }
    // tensors: pickle(count); per tensor pickle((key, storage_key, type)), int32 ndim,
    // 4 padding bytes, sizes, strides (int64 each), int64 storage offset.
    {
        const ByteView bytes = tar.bytes(*tensors);
        std::uint64_t pos = 0;
        Value *count = loadPickle(bytes, pos, tensors->offset, "tensors", none, &pos);
        std::int64_t n = 0;
        if (!count || !count->toInt(n) || n < 0)
            throw FormatError(Kind::Corrupt, "tensor count is not a number", "tensors", tensors->offset);
        for (std::int64_t i = 0; i < n; ++i) {
            const std::uint64_t at = tensors->offset + pos;
            Value *head = loadPickle(bytes, pos, tensors->offset, "tensors", none, &pos);
            if (!head || head->kind != ValueKind::Tuple || head->items.size() < 3)
                throw FormatError(Kind::Corrupt, "tensor header is not (key, storage key, type)", "tensors", at);
            ByteReader r(bytes, "tensors", tensors->offset);
            r.seek(pos);
            const std::int32_t ndim = r.i32();
            r.u32();
            if (ndim < 0 || static_cast<std::uint64_t>(ndim) * 16 + 8 > r.remaining())
                throw FormatError(Kind::Corrupt, "bad dimension count " + std::to_string(ndim), "tensors",
                                  r.fileOffset() - 8);
            TensorInfo t;
            t.shape.resize(static_cast<std::size_t>(ndim));
            t.stride.resize(static_cast<std::size_t>(ndim));
            for (auto &s : t.shape)
                s = r.i64();
            for (auto &s : t.stride)
                s = r.i64();
            t.storageOffset = r.i64();
            pos = r.pos();
            const auto storage = storageByKey.find(keyText(head->items[1]));
            if (storage == storageByKey.end())
                throw FormatError(Kind::Corrupt, "tensor names storage '" + keyText(head->items[1])
                                                     + "' that the archive does not have", "tensors", at);
            t.storage = storage->second;
            const StorageInfo &s = m_d.storages[static_cast<std::size_t>(t.storage)];
            t.dtype = s.dtype;
            if (head->items[2] && head->items[2]->kind == ValueKind::Global)
                if (auto d = dtypeFromTensorClass(head->items[2]->name()))
                    t.dtype = *d;
            t.device = s.location;
            t.builder = "tar";
            t.pickleOffset = at;
            tensorByKey[keyText(head->items[0])] = static_cast<int>(m_d.tensors.size());
            m_d.tensors.push_back(std::move(t));
        }
    }
    const PlainIdResolver plainId = [&](std::string_view idView, Value *node) {
        const std::string id(idView);
        if (auto it = tensorByKey.find(id); it != tensorByKey.end()) {
            node->kind = ValueKind::Tensor;
            node->integer = it->second;
            return true;
        }
        if (auto it = storageByKey.find(id); it != storageByKey.end()) {
            node->kind = ValueKind::Storage;
            node->integer = it->second;
            return true;
        }
        return false;
    };
    const ByteView bytes = tar.bytes(*pickle);
    m_d.root = loadPickle(bytes, 0, pickle->offset, "pickle", none, nullptr, false, plainId);
    collectTensorPaths(m_d, m_d.root, {}, m_limits.maxDepth);
}

} // namespace ckpt::format
