// SPDX-License-Identifier: MIT
#pragma once

// Helpers tensordecode.cpp (decoding) and elementtext.cpp (elements as text) share; not part of
// the format layer's interface.

#include "dtype.h"

#include <bit>
#include <cstdint>
#include <cstring>

namespace ckpt::format::detail {

// Branch-free half -> float (F. Giesen's method): no subnormal float arithmetic, vectorisable.
inline float halfBitsToFloat(std::uint32_t h) noexcept
{
    constexpr std::uint32_t shiftedExp = 0x7c00u << 13;
    std::uint32_t o = (h & 0x7fffu) << 13;
    const std::uint32_t exp = o & shiftedExp;
    o += (127u - 15u) << 23;
    const std::uint32_t inf = o + ((128u - 16u) << 23);
    const float sub = std::bit_cast<float>(o + (1u << 23)) - std::bit_cast<float>(113u << 23);
    o = exp == shiftedExp ? inf : o;
    o = exp == 0 ? std::bit_cast<std::uint32_t>(sub) : o;
    return std::bit_cast<float>(o | ((h & 0x8000u) << 16));
}

template <class T>
inline T loadRaw(const std::uint8_t *p) noexcept
{
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
}

template <class U>
inline U bswap(U v) noexcept
{
    if constexpr (sizeof(U) == 2)
        return static_cast<U>(__builtin_bswap16(v));
    else if constexpr (sizeof(U) == 4)
        return static_cast<U>(__builtin_bswap32(v));
    else
        return static_cast<U>(__builtin_bswap64(v));
}

/// One float8 element (e5m2, e4m3fn and their fnuz variants, e8m0fnu) as float.
float decodeFloat8(std::uint8_t b, DType dtype) noexcept;
/// Bits of an integer dtype (0 for others).
int integerBits(DType d) noexcept;
bool isUnsignedInt(DType d) noexcept;

} // namespace ckpt::format::detail
