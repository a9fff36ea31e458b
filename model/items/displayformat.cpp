// SPDX-License-Identifier: MIT
#include "displayformat.h"

#include <QStringList>

#include <cmath>

namespace ckpt {

QString humanBytes(std::uint64_t bytes)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024)
        return QString::number(bytes) + QStringLiteral(" B");
    double v = static_cast<double>(bytes);
    int unit = -1;
    while (v >= 1024.0 && unit < 5) {
        v /= 1024.0;
        ++unit;
    }
    const int decimals = v < 10 ? 2 : (v < 100 ? 1 : 0);
    return QString::number(v, 'f', decimals) + QLatin1Char(' ') + QLatin1String(units[unit]);
}

QString durationText(qint64 ms)
{
    if (ms < 1)
        return QStringLiteral("< 1 ms");
    if (ms < 1000)
        return QString::number(ms) + QStringLiteral(" ms");
    const double s = static_cast<double>(ms) / 1000.0;
    return QString::number(s, 'f', s < 9.995 ? 2 : 1) + QStringLiteral(" s"); // 9.999 is "10.0 s"
}

QString groupedCount(std::uint64_t n)
{
    QString digits = QString::number(n);
    QString out;
    out.reserve(digits.size() + digits.size() / 3);
    const qsizetype len = digits.size();
    for (qsizetype i = 0; i < len; ++i) {
        if (i > 0 && (len - i) % 3 == 0)
            out += QLatin1Char(',');
        out += digits.at(i);
    }
    return out;
}

QString shortCount(std::uint64_t n)
{
    if (n < 10'000)
        return groupedCount(n);
    static const char *const units[] = {"k", "M", "G", "T", "P", "E"};
    double v = static_cast<double>(n);
    int unit = -1;
    while (v >= 1000.0 && unit < 5) {
        v /= 1000.0;
        ++unit;
    }
    const int decimals = v < 10 ? 2 : (v < 100 ? 1 : 0);
    return QString::number(v, 'f', decimals) + QLatin1Char(' ') + QLatin1String(units[unit]);
}

QString countNoun(std::uint64_t n, const char *one, const char *many)
{
    return groupedCount(n) + QLatin1Char(' ') + QLatin1String(n == 1 ? one : many);
}

QString shapeText(const std::vector<std::int64_t> &shape)
{
    QStringList parts;
    parts.reserve(static_cast<qsizetype>(shape.size()));
    for (auto d : shape)
        parts << QString::number(d);
    return QLatin1Char('[') + parts.join(QStringLiteral(", ")) + QLatin1Char(']');
}

QString numberText(double v, int precision)
{
    if (std::isnan(v))
        return QStringLiteral("nan");
    if (std::isinf(v))
        return v > 0 ? QStringLiteral("inf") : QStringLiteral("-inf");
    if (v == 0)
        return QStringLiteral("0");
    return QString::number(v, 'g', precision);
}

QString numberText(const std::optional<double> &v, int precision)
{
    return v ? numberText(*v, precision) : QStringLiteral("—");
}

QString elideMiddle(const QString &s, int maxChars)
{
    if (maxChars < 5 || s.size() <= maxChars)
        return s;
    const qsizetype keep = maxChars - 1;
    return s.left(keep / 2 + keep % 2) + QChar(0x2026) + s.right(keep / 2);
}

} // namespace ckpt
