// SPDX-License-Identifier: MIT
#pragma once

// Writes safetensors files from tests: inputs bigger than committed fixtures should be, made
// at test time (the format is 8 bytes of header length, the JSON header, the data).

#include <nlohmann/json.hpp>

#include <QFile>
#include <QString>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ckpt::test {

using NamedFloats = std::vector<std::pair<std::string, std::vector<float>>>;

/// One float32 tensor per name, in this order; false when the file cannot be written.
inline bool writeSafetensors(const QString &path, const NamedFloats &tensors)
{
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    std::uint64_t offset = 0;
    for (const auto &[name, v] : tensors) {
        header[name] = {{"dtype", "F32"}, {"shape", {v.size()}}, {"data_offsets", {offset, offset + 4 * v.size()}}};
        offset += 4 * v.size();
    }
    std::string h = header.dump();
    while ((8 + h.size()) % 8)
        h += ' ';
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly))
        return false;
    const std::uint64_t n = h.size(); // little-endian host
    bool ok = f.write(reinterpret_cast<const char *>(&n), 8) == 8
              && f.write(h.data(), static_cast<qint64>(h.size())) == static_cast<qint64>(h.size());
    for (const auto &t : tensors) {
        const auto bytes = static_cast<qint64>(4 * t.second.size());
        ok = ok && f.write(reinterpret_cast<const char *>(t.second.data()), bytes) == bytes;
    }
    return ok;
}

} // namespace ckpt::test
