// SPDX-License-Identifier: MIT
#pragma once

#include <QString>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ckpt {

/// "0 B", "999 B", "12.5 KiB", "3.02 GiB".
QString humanBytes(std::uint64_t bytes);
/// "1,234,567" (grouped with thin separators for readability, locale independent).
QString groupedCount(std::uint64_t n);
/// "12.3 M" style short count for summaries ("11.7 M parameters").
QString shortCount(std::uint64_t n);
/// "1 tensor", "7 tensors" (grouped digits).
QString countNoun(std::uint64_t n, const char *one, const char *many);
/// "[64, 3, 7, 7]"; a 0-d tensor is "[]".
QString shapeText(const std::vector<std::int64_t> &shape);
/// A double for tables: up to `precision` significant digits, "nan"/"inf" spelled like Python.
QString numberText(double v, int precision = 6);
QString numberText(const std::optional<double> &v, int precision = 6);
/// Bytes of a std::string (UTF-8) as a QString.
inline QString qs(std::string_view s)
{
    return QString::fromUtf8(s.data(), static_cast<qsizetype>(s.size()));
}
/// A measured duration: "< 1 ms", "840 ms", "1.23 s", "12.3 s".
QString durationText(qint64 ms);
/// Elides the middle of `s` to at most `maxChars` characters.
QString elideMiddle(const QString &s, int maxChars);

} // namespace ckpt
