// SPDX-License-Identifier: MIT
// Elements as text, as Python prints them (tensordecode.h: formatReal, formatElement,
// formatElementAt): the shortest digits that read back to the same value of the dtype, in
// repr's layout.
#include "tensordecode.h"
#include "formaterror.h"
#include "tensordecodedetail.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

namespace ckpt::format {

using detail::bswap;
using detail::decodeFloat8;
using detail::halfBitsToFloat;
using detail::integerBits;
using detail::isUnsignedInt;
using detail::loadRaw;

// ---- text ----------------------------------------------------------------------------------

namespace {

std::string specialText(double v)
{
    if (std::isnan(v))
        return "nan";
    return v > 0 ? "inf" : "-inf";
}

std::string toScientific(double v, int precision)
{
    char buf[64];
    auto r = precision < 0 ? std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific)
                           : std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific,
                                           precision);
    return std::string(buf, r.ptr);
}

// Shortest scientific text that reads back as the same value of a narrow sign-magnitude float
// format (f16, bf16, float8). Reading back rounds to nearest, ties to the even pattern: a
// candidate is accepted when it is closer to `v` than to both neighbouring values, or
// exactly halfway to one of them while `bits` is even.
template <class DecodeBits>
std::string shortestNarrow(double v, std::uint32_t bits, std::uint32_t signBit, std::uint32_t maxMag,
                           DecodeBits decodeBits)
{
    const std::uint32_t mag = bits & (signBit - 1);
    const double a = std::fabs(v);
    const double up = mag < maxMag ? std::fabs(decodeBits(mag + 1))
                                   : a + (a - std::fabs(decodeBits(mag - 1)));
    const double down = mag > 0 ? std::fabs(decodeBits(mag - 1)) : -std::fabs(decodeBits(1));
    const bool even = (bits & 1u) == 0;
    for (int precision = 0; precision < 17; ++precision) {
        const std::string text = toScientific(v, precision);
        double back = 0;
        std::from_chars(text.data(), text.data() + text.size(), back);
        const double b = std::fabs(back);
        const double d = std::fabs(b - a), du = std::fabs(up - b), dd = std::fabs(b - down);
        if (b == a || (d < du && d < dd) || (even && ((d == du && d < dd) || (d == dd && d < du))))
            return text;
    }
    return toScientific(v, -1);
}

std::uint32_t halfBitsOf(float f)
{
    // Exact for values that came from a half.
    const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
    const std::uint32_t sign = (x >> 16) & 0x8000u;
    const float a = std::fabs(f);
    if (a == 0)
        return sign;
    if (a >= 65536.0f)
        return sign | 0x7c00u;
    if (a < 6.103515625e-05f) // subnormal half
        return sign | static_cast<std::uint32_t>(std::lround(a * 16777216.0f));
    const std::uint32_t ax = std::bit_cast<std::uint32_t>(a);
    const std::uint32_t e = ((ax >> 23) & 0xffu) - 127u + 15u;
    return sign | (e << 10) | ((ax >> 13) & 0x3ffu);
}

// Shortest round-trip digits of a finite value for the dtype's precision, in scientific form
// ("6.55e+04").
std::string shortestScientific(double v, DType dtype)
{
    switch (dtype) {
    case DType::Float64:
    case DType::Complex128:
        return toScientific(v, -1);
    case DType::Float16:
    case DType::Complex32:
        return shortestNarrow(v, halfBitsOf(static_cast<float>(v)), 0x8000u, 0x7bffu,
                              [](std::uint32_t b) { return double(halfBitsToFloat(b)); });
    case DType::BFloat16:
        return shortestNarrow(v, std::bit_cast<std::uint32_t>(static_cast<float>(v)) >> 16, 0x8000u,
                              0x7f7fu, [](std::uint32_t b) {
                                  return double(bfloat16ToFloat(static_cast<std::uint16_t>(b)));
                              });
    case DType::Float8_e5m2: case DType::Float8_e4m3fn: case DType::Float8_e5m2fnuz:
    case DType::Float8_e4m3fnuz: case DType::Float8_e8m0fnu: {
        std::optional<std::uint32_t> bits;
        for (std::uint32_t b = 0; b < 256 && !bits; ++b) {
            const double c = double(decodeFloat8(static_cast<std::uint8_t>(b), dtype));
            if (c == v && std::signbit(c) == std::signbit(v))
                bits = b;
        }
        if (!bits)
            return toScientific(v, -1);
        if (dtype == DType::Float8_e8m0fnu) {
            // unsigned powers of two: the neighbours are v / 2 and 2v
            for (int precision = 0; precision < 17; ++precision) {
                const std::string text = toScientific(v, precision);
                double back = 0;
                std::from_chars(text.data(), text.data() + text.size(), back);
                if (back == v || (std::fabs(back - v) < std::fabs(2 * v - back)
                                  && std::fabs(back - v) < std::fabs(back - v / 2)))
                    return text;
            }
            return toScientific(v, -1);
        }
        std::uint32_t maxMag = 0x7f;
        if (dtype == DType::Float8_e5m2)
            maxMag = 0x7b;
        else if (dtype == DType::Float8_e4m3fn)
            maxMag = 0x7e;
        return shortestNarrow(v, *bits, 0x80u, maxMag, [dtype](std::uint32_t b) {
            return double(decodeFloat8(static_cast<std::uint8_t>(b), dtype));
        });
    }
    default: {
        // float32 and everything dequantised to float32
        char buf[64];
        auto r = std::to_chars(buf, buf + sizeof buf, static_cast<float>(v),
                               std::chars_format::scientific);
        return std::string(buf, r.ptr);
    }
    }
}

// Python's float repr layout for the given digits: positional for 1e-4 <= |v| < 1e16 (with
// ".0" on integral values unless `bare`, as Python's complex repr omits it), else "1.5e-05".
std::string pythonLayout(const std::string &scientific, bool bare)
{
    std::string_view s = scientific;
    std::string sign;
    if (!s.empty() && s[0] == '-') {
        sign = "-";
        s.remove_prefix(1);
    }
    const auto e = s.find('e');
    std::string digits;
    for (char ch : s.substr(0, e))
        if (ch != '.')
            digits += ch;
    int exp = 0;
    std::string_view es = s.substr(e + 1);
    if (!es.empty() && es[0] == '+')
        es.remove_prefix(1);
    std::from_chars(es.data(), es.data() + es.size(), exp);
    while (digits.size() > 1 && digits.back() == '0')
        digits.pop_back();
    if (digits == "0")
        return sign + (bare ? "0" : "0.0");
    if (exp >= -4 && exp < 16) {
        if (exp < 0)
            return sign + "0." + std::string(static_cast<std::size_t>(-exp - 1), '0') + digits;
        const auto intLen = static_cast<std::size_t>(exp) + 1;
        if (digits.size() <= intLen) {
            digits.append(intLen - digits.size(), '0');
            return sign + digits + (bare ? "" : ".0");
        }
        return sign + digits.substr(0, intLen) + "." + digits.substr(intLen);
    }
    std::string out = sign + digits.substr(0, 1);
    if (digits.size() > 1)
        out += "." + digits.substr(1);
    char buf[16];
    auto r = std::to_chars(buf, buf + sizeof buf, exp < 0 ? -exp : exp);
    std::string ed(buf, r.ptr);
    if (ed.size() < 2)
        ed.insert(ed.begin(), '0');
    return out + (exp < 0 ? "e-" : "e+") + ed;
}

std::string formatReal(double v, DType dtype, bool bare)
{
    if (!std::isfinite(v))
        return specialText(v);
    return pythonLayout(shortestScientific(v, dtype), bare);
}

} // namespace

std::string formatElement(const ElementValue &v, DType dtype)
{
    const auto &info = dtypeInfo(dtype);
    if (dtype == DType::Bool)
        return v.re != 0 ? "True" : "False";
    if (integerBits(dtype) > 0) {
        if (!std::isfinite(v.re))
            return specialText(v.re); // not an integer dtype's value; do not convert
        char buf[32];
        std::to_chars_result r;
        if (isUnsignedInt(dtype))
            r = std::to_chars(buf, buf + sizeof buf,
                              v.re >= 18446744073709551615.0 ? std::numeric_limits<std::uint64_t>::max()
                              : v.re <= 0                    ? std::uint64_t(0)
                                                             : static_cast<std::uint64_t>(v.re));
        else
            r = std::to_chars(buf, buf + sizeof buf,
                              v.re >= 9223372036854775807.0 ? std::numeric_limits<std::int64_t>::max()
                              : v.re <= -9223372036854775808.0
                                  ? std::numeric_limits<std::int64_t>::min()
                                  : static_cast<std::int64_t>(v.re));
        return std::string(buf, r.ptr);
    }
    if (info.isComplex) {
        std::string re = formatReal(v.re, dtype, true);
        std::string im = formatReal(v.im, dtype, true);
        const bool imNegative = std::signbit(v.im) && !std::isnan(v.im);
        if (!imNegative)
            im.insert(im.begin(), '+');
        return "(" + re + im + "j)";
    }
    return formatReal(v.re, dtype, false);
}

std::string formatElementAt(const StridedView &view, const std::vector<std::int64_t> &index)
{
    const DType d = view.dtype;
    if (view.pieces) {
        std::vector<std::int64_t> local;
        const ViewPiece *p = pieceAt(view, index, local);
        if (!p)
            throw FormatError(FormatError::Kind::Corrupt, "the element is in none of the tensor's pieces");
        return formatElementAt(p->view, local);
    }
    if (d != DType::Int64 && d != DType::UInt64)
        return formatElement(elementAt(view, index), d);
    std::int64_t pos = view.offset;
    for (std::size_t k = 0; k < view.shape.size() && k < view.stride.size(); ++k)
        pos += (k < index.size() ? index[k] : 0) * view.stride[k];
    std::uint64_t u = loadRaw<std::uint64_t>(view.storage.data + pos * 8);
    if (view.byteSwap)
        u = bswap(u);
    if (view.neg)
        u = ~u + 1; // two's complement negation wraps like torch's
    char buf[32];
    const auto r = d == DType::Int64 ? std::to_chars(buf, buf + sizeof buf, static_cast<std::int64_t>(u))
                                     : std::to_chars(buf, buf + sizeof buf, u);
    return std::string(buf, r.ptr);
}

} // namespace ckpt::format
