// SPDX-License-Identifier: MIT
#include "containerreader.h"
#include "folderreader.h"

#include "safetensorsreader.h"

#include <filesystem>
#include <unordered_map>

namespace ckpt::format {

void ContainerReader::readSafetensors()
{
    m_d.format = ContainerFormat::Safetensors;
    const SafetensorsHeader header = readSafetensorsHeader(m_file, m_d.file);
    m_d.metadata = header.metadata;
    Value *dict = m_d.graph.make(ValueKind::Dict);
    m_d.root = dict;
    for (const SafetensorsEntry &e : header.tensors) {
        StorageInfo s;
        s.key = e.name;
        s.dtype = e.dtype;
        s.numel = e.end - e.begin; // bytes; re-expressed in elements below
        if (elementSize(e.dtype) > 0)
            s.numel /= elementSize(e.dtype);
        s.location = "cpu";
        s.record = m_d.graph.copyText(e.name);
        s.bytes.view = m_file.sub(header.dataStart + e.begin, e.end - e.begin);
        s.bytes.fileOffset = header.dataStart + e.begin;
        s.present = true;
        m_d.storages.push_back(std::move(s));
        TensorInfo t;
        t.dtype = e.dtype;
        t.shape = e.shape;
        t.stride = TensorInfo::contiguousStrides(e.shape);
        t.storage = static_cast<int>(m_d.storages.size() - 1);
        t.builder = "safetensors";
        t.pickleOffset = 8;
        m_d.tensors.push_back(std::move(t));
        appendLastTensor(dict, e.name);
    }
    collectTensorPaths(m_d, m_d.root, {}, m_limits.maxDepth);
}

void ContainerReader::readIndex(const std::string &path)
{
    m_d.format = ContainerFormat::Index;
    const ShardIndex index = readShardIndex(m_file, m_d.file);
    m_d.metadata = index.metadata;
    const std::filesystem::path folder = std::filesystem::path(path).parent_path();
    std::unordered_map<std::string, std::unordered_map<std::string, int>> tensorsOfShard;
    for (std::size_t shardNo = 0; shardNo < index.shards.size(); ++shardNo) {
        const std::string &shard = index.shards[shardNo];
        report(shardNo, index.shards.size());
        const std::string shardPath = (folder / shard).string();
        auto sub = readCheckpointImpl(shardPath, false);
        if (sub->error) {
            fail(FormatError(sub->error->kind, "shard '" + shard + "': " + sub->error->message,
                             sub->error->record.empty() ? shard : shard + ": " + sub->error->record,
                             sub->error->offset, sub->error->offsetInRecord));
        }
        for (const GlobalUse &g : sub->globals)
            addGlobal(g);
        const int tensorBase = mergeTables(m_d, *sub, shard).tensor;
        auto &names = tensorsOfShard[shard];
        for (const TensorPath &p : sub->paths)
            names.emplace(p.path(), p.tensor + tensorBase);
    }
    Value *dict = m_d.graph.make(ValueKind::Dict);
    m_d.root = dict;
    m_d.shardOfTensor.assign(m_d.tensors.size(), {});
    for (const auto &[name, shard] : index.weightMap) {
        const auto &names = tensorsOfShard[shard];
        const auto it = names.find(name);
        if (it == names.end()) {
            fail(FormatError(Kind::Missing, "tensor '" + name + "' is not in shard '" + shard + "'", shard));
            continue;
        }
        Value *key = m_d.graph.make(ValueKind::Str);
        m_d.graph.setText(key, name);
        Value *tensor = m_d.graph.make(ValueKind::Tensor);
        tensor->integer = it->second;
        dict->items.push_back(key);
        dict->items.push_back(tensor);
        m_d.shardOfTensor[static_cast<std::size_t>(it->second)] = shard;
    }
    collectTensorPaths(m_d, m_d.root, {}, m_limits.maxDepth);
}

} // namespace ckpt::format
