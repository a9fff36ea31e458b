// SPDX-License-Identifier: MIT
#include "tensordecode.h"

#include "formaterror.h"
#include "mappedfile.h"
#include "tensordecodedetail.h"

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <stdexcept>
#include <type_traits>

// Hot loops get an AVX2 clone next to the baseline one, picked at load time (no FMA in either,
// so both give bit-identical results).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CKPT_HOT __attribute__((target_clones("avx2", "default")))
#else
#define CKPT_HOT
#endif

namespace ckpt::format {

namespace {

using detail::bswap;
using detail::decodeFloat8;
using detail::halfBitsToFloat;
using detail::integerBits;
using detail::isUnsignedInt;
using detail::loadRaw;
using RunContext = ElementDecoder::RunContext;

typedef float V4f __attribute__((vector_size(16)));
typedef double V4d __attribute__((vector_size(32)));
typedef float V8f __attribute__((vector_size(32)));
typedef std::uint16_t V8u16 __attribute__((vector_size(16)));
typedef std::uint32_t V8u32 __attribute__((vector_size(32)));

// Contiguous decoders read this far ahead: about one statistics block, so that the next block
// streams in while the current one is being processed.
constexpr std::size_t kPrefetchBytes = 8192;

inline void storeWidened(const V8f &f, double *out) noexcept
{
    const V4f lo = __builtin_shufflevector(f, f, 0, 1, 2, 3);
    const V4f hi = __builtin_shufflevector(f, f, 4, 5, 6, 7);
    const V4d a = __builtin_convertvector(lo, V4d);
    const V4d b = __builtin_convertvector(hi, V4d);
    std::memcpy(out, &a, sizeof a);
    std::memcpy(out + 4, &b, sizeof b);
}

CKPT_HOT void f32Contiguous(const std::uint8_t *p, std::size_t n, double *out) noexcept
{
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __builtin_prefetch(p + 4 * i + kPrefetchBytes);
        V8f f;
        std::memcpy(&f, p + 4 * i, sizeof f);
        storeWidened(f, out + i);
    }
    for (; i < n; ++i) {
        float f;
        std::memcpy(&f, p + 4 * i, 4);
        out[i] = static_cast<double>(f);
    }
}

CKPT_HOT void bf16Contiguous(const std::uint8_t *p, std::size_t n, double *out) noexcept
{
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        V8u16 h;
        std::memcpy(&h, p + 2 * i, sizeof h);
        const V8u32 w = __builtin_convertvector(h, V8u32) << 16;
        V8f f;
        std::memcpy(&f, &w, sizeof f);
        storeWidened(f, out + i);
    }
    for (; i < n; ++i) {
        std::uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        out[i] = static_cast<double>(std::bit_cast<float>(static_cast<std::uint32_t>(h) << 16));
    }
}


CKPT_HOT void f16Contiguous(const std::uint8_t *p, std::size_t n, double *out) noexcept
{
    // The vector form of halfBitsToFloat() below.
    const V8u32 shiftedExp = V8u32{} + (0x7c00u << 13);
    const V8f magic = V8f{} + std::bit_cast<float>(113u << 23);
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        V8u16 h16;
        std::memcpy(&h16, p + 2 * i, sizeof h16);
        const V8u32 h = __builtin_convertvector(h16, V8u32);
        V8u32 o = (h & 0x7fffu) << 13;
        const V8u32 exp = o & shiftedExp;
        o += (127u - 15u) << 23;
        const V8u32 inf = o + ((128u - 16u) << 23);
        const V8u32 o1 = o + (1u << 23);
        V8f sub;
        std::memcpy(&sub, &o1, sizeof sub);
        sub -= magic;
        o = exp == shiftedExp ? inf : o;
        V8u32 subBits;
        std::memcpy(&subBits, &sub, sizeof subBits);
        o = exp == 0 ? subBits : o;
        o |= (h & 0x8000u) << 16;
        V8f f;
        std::memcpy(&f, &o, sizeof f);
        storeWidened(f, out + i);
    }
    for (; i < n; ++i) {
        std::uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        out[i] = static_cast<double>(halfBitsToFloat(h));
    }
}




// Loads an unsigned word of N bytes in the storage's byte order (host is little-endian, as
// everywhere the project runs; `Swap` handles big-endian records).
template <class U, bool Swap>
inline U loadWord(const std::uint8_t *p) noexcept
{
    U v = loadRaw<U>(p);
    if constexpr (Swap)
        v = bswap(v);
    return v;
}

// ---- element kinds: value(p) returns the real part, im(p) the imaginary part ----------------

template <bool Swap>
struct F64
{
    static constexpr int size = 8;
    static double value(const std::uint8_t *p, const RunContext &) noexcept
    {
        return std::bit_cast<double>(loadWord<std::uint64_t, Swap>(p));
    }
};
template <bool Swap>
struct F32
{
    static constexpr int size = 4;
    static double value(const std::uint8_t *p, const RunContext &) noexcept
    {
        return static_cast<double>(std::bit_cast<float>(loadWord<std::uint32_t, Swap>(p)));
    }
};
template <bool Swap>
struct F16
{
    static constexpr int size = 2;
    static double value(const std::uint8_t *p, const RunContext &) noexcept
    {
        return static_cast<double>(halfBitsToFloat(loadWord<std::uint16_t, Swap>(p)));
    }
};
template <bool Swap>
struct BF16
{
    static constexpr int size = 2;
    static double value(const std::uint8_t *p, const RunContext &) noexcept
    {
        const std::uint32_t bits = static_cast<std::uint32_t>(loadWord<std::uint16_t, Swap>(p)) << 16;
        return static_cast<double>(std::bit_cast<float>(bits));
    }
};
template <class Int, bool Swap>
struct IntElem
{
    static constexpr int size = sizeof(Int);
    static double value(const std::uint8_t *p, const RunContext &) noexcept
    {
        using U = std::make_unsigned_t<Int>;
        U u;
        if constexpr (sizeof(Int) == 1)
            u = *p;
        else
            u = loadWord<U, Swap>(p);
        return static_cast<double>(static_cast<Int>(u));
    }
};
// 1-byte types with a 256-entry table (bool, float8, qint8/quint8 per tensor).
struct Table8
{
    static constexpr int size = 1;
    static double value(const std::uint8_t *p, const RunContext &c) noexcept { return c.table[*p]; }
};
template <bool Swap>
struct QInt32Elem
{
    static constexpr int size = 4;
    static double value(const std::uint8_t *p, const RunContext &c) noexcept
    {
        // torch: float(scale) * float(q - zero_point), in float32
        const auto q = static_cast<std::int32_t>(loadWord<std::uint32_t, Swap>(p));
        const float d = static_cast<float>(static_cast<std::int64_t>(q) - c.zeroPoint);
        return static_cast<double>(c.scale * d);
    }
};
template <class Part, bool Swap>
struct ComplexElem
{
    static constexpr int size = 2 * Part::size;
    static double value(const std::uint8_t *p, const RunContext &c) noexcept
    {
        return Part::value(p, c);
    }
    static double im(const std::uint8_t *p, const RunContext &c) noexcept
    {
        return Part::value(p + Part::size, c);
    }
    static double magnitude(const std::uint8_t *p, const RunContext &c) noexcept
    {
        return std::hypot(Part::value(p, c), Part::value(p + Part::size, c));
    }
};

template <class E>
void valueRun(const RunContext &c, std::int64_t start, std::int64_t step, std::size_t n,
              double *out)
{
    const std::uint8_t *p = c.base + start * E::size;
    if constexpr (std::is_same_v<E, F32<false>>) {
        if (step == 1)
            return f32Contiguous(p, n, out);
    } else if constexpr (std::is_same_v<E, BF16<false>>) {
        if (step == 1)
            return bf16Contiguous(p, n, out);
    } else if constexpr (std::is_same_v<E, F16<false>>) {
        if (step == 1)
            return f16Contiguous(p, n, out);
    }
    if (step == 1) {
        for (std::size_t i = 0; i < n; ++i) {
            if constexpr (E::size >= 8)
                __builtin_prefetch(p + i * E::size + kPrefetchBytes);
            out[i] = E::value(p + i * E::size, c);
        }
    } else {
        const std::ptrdiff_t bstep = step * E::size;
        for (std::size_t i = 0; i < n; ++i, p += bstep)
            out[i] = E::value(p, c);
    }
}

template <class E>
void magnitudeRun(const RunContext &c, std::int64_t start, std::int64_t step, std::size_t n,
                  double *out)
{
    const std::uint8_t *p = c.base + start * E::size;
    const std::ptrdiff_t bstep = step * E::size;
    for (std::size_t i = 0; i < n; ++i, p += bstep)
        out[i] = E::magnitude(p, c);
}

// quint4x2 / quint2x4: logical element i lives in byte i / per, lowest bits first; offsets and
// strides count logical elements (that is how torch indexes them). Writes raw q values; the
// dequantisation goes through the table.
template <int Bits>
void packedRun(const RunContext &c, std::int64_t start, std::int64_t step, std::size_t n,
               double *out)
{
    constexpr int per = 8 / Bits;
    constexpr unsigned mask = (1u << Bits) - 1;
    std::int64_t li = start;
    for (std::size_t i = 0; i < n; ++i, li += step) {
        const unsigned byte = c.base[li / per];
        const unsigned q = (byte >> ((li % per) * Bits)) & mask;
        out[i] = c.table[q];
    }
}

template <template <bool> class E>
ElementDecoder::RunFn pickSwap(bool swap)
{
    return swap ? &valueRun<E<true>> : &valueRun<E<false>>;
}
template <class Int>
ElementDecoder::RunFn pickInt(bool swap)
{
    return swap ? &valueRun<IntElem<Int, true>> : &valueRun<IntElem<Int, false>>;
}

struct RunPair
{
    ElementDecoder::RunFn value = nullptr;
    ElementDecoder::RunFn magnitude = nullptr;
};

template <template <bool> class Part>
RunPair complexRuns(bool swap)
{
    if (swap)
        return {&valueRun<ComplexElem<Part<true>, true>>,
                &magnitudeRun<ComplexElem<Part<true>, true>>};
    return {&valueRun<ComplexElem<Part<false>, false>>,
            &magnitudeRun<ComplexElem<Part<false>, false>>};
}


bool isPacked(DType d) noexcept
{
    return d == DType::QUInt4x2 || d == DType::QUInt2x4;
}



// torch per-tensor dequantisation: float(scale) * float(q - zero_point), in float32.
double dequantPerTensor(std::int64_t q, float scale, std::int64_t zeroPoint) noexcept
{
    return static_cast<double>(scale * static_cast<float>(q - zeroPoint));
}

// torch per-channel dequantisation: (float(q) - float(zero_point)) * double(scale), stored as
// float32 (aten dequantize_per_channel_affine_kernel).
double dequantPerChannel(double q, double scale, std::int64_t zeroPoint) noexcept
{
    const float d = static_cast<float>(q) - static_cast<float>(zeroPoint);
    return static_cast<double>(static_cast<float>(static_cast<double>(d) * scale));
}

} // namespace

float detail::decodeFloat8(std::uint8_t b, DType dtype) noexcept
{
    const bool negative = (b & 0x80) != 0;
    const float sign = negative ? -1.0f : 1.0f;
    const auto nan = std::numeric_limits<float>::quiet_NaN();
    switch (dtype) {
    case DType::Float8_e5m2: {
        const int e = (b >> 2) & 0x1f;
        const int m = b & 0x3;
        if (e == 0x1f)
            return m == 0 ? sign * std::numeric_limits<float>::infinity() : nan;
        if (e == 0)
            return sign * std::ldexp(static_cast<float>(m), -14 - 2);
        return sign * std::ldexp(static_cast<float>(4 + m), e - 15 - 2);
    }
    case DType::Float8_e4m3fn: {
        const int e = (b >> 3) & 0xf;
        const int m = b & 0x7;
        if (e == 0xf && m == 0x7)
            return nan;
        if (e == 0)
            return sign * std::ldexp(static_cast<float>(m), -6 - 3);
        return sign * std::ldexp(static_cast<float>(8 + m), e - 7 - 3);
    }
    case DType::Float8_e5m2fnuz: {
        if (b == 0x80)
            return nan;
        const int e = (b >> 2) & 0x1f;
        const int m = b & 0x3;
        if (e == 0)
            return sign * std::ldexp(static_cast<float>(m), -15 - 2);
        return sign * std::ldexp(static_cast<float>(4 + m), e - 16 - 2);
    }
    case DType::Float8_e4m3fnuz: {
        if (b == 0x80)
            return nan;
        const int e = (b >> 3) & 0xf;
        const int m = b & 0x7;
        if (e == 0)
            return sign * std::ldexp(static_cast<float>(m), -7 - 3);
        return sign * std::ldexp(static_cast<float>(8 + m), e - 8 - 3);
    }
    case DType::Float8_e8m0fnu:
        if (b == 0xff)
            return nan;
        return std::ldexp(1.0f, static_cast<int>(b) - 127);
    default:
        return nan;
    }
}

// Integer width for the wrap-around of integer neg views (torch negates uint8 as 256 - x).
int detail::integerBits(DType d) noexcept
{
    switch (d) {
    case DType::Int8: case DType::UInt8: return 8;
    case DType::Int16: case DType::UInt16: return 16;
    case DType::Int32: case DType::UInt32: return 32;
    case DType::Int64: case DType::UInt64: return 64;
    default: return 0;
    }
}

bool detail::isUnsignedInt(DType d) noexcept
{
    return d == DType::UInt8 || d == DType::UInt16 || d == DType::UInt32 || d == DType::UInt64;
}

// ---- StridedView ---------------------------------------------------------------------------

std::uint64_t StridedView::numel() const noexcept
{
    // A size 0 anywhere makes it empty, even after sizes whose product overflows ([2^40, 2^40, 0]).
    if (std::any_of(shape.begin(), shape.end(), [](std::int64_t s) { return s <= 0; }))
        return 0;
    std::uint64_t n = 1;
    for (auto s : shape)
        if (__builtin_mul_overflow(n, static_cast<std::uint64_t>(s), &n))
            return std::numeric_limits<std::uint64_t>::max();
    return n;
}

bool StridedView::contiguous() const noexcept
{
    if (pieces)
        return false;
    // Empty: trivially contiguous, whatever the strides (checked first: the product of the sizes
    // after the 0 may overflow, [0, 2^40, 2^40]).
    if (std::find(shape.begin(), shape.end(), 0) != shape.end())
        return true;
    std::int64_t expected = 1;
    for (std::size_t i = shape.size(); i-- > 0;) {
        if (shape[i] == 1)
            continue;
        if (i >= stride.size() || stride[i] != expected || __builtin_mul_overflow(expected, shape[i], &expected))
            return false;
    }
    return true;
}

bool isDecodable(DType dtype) noexcept
{
    switch (dtype) {
    case DType::Float4_e2m1fn_x2:
    case DType::Bits1x8: case DType::Bits2x4: case DType::Bits4x2: case DType::Bits8:
    case DType::Bits16:
    case DType::Unknown:
        return false;
    default:
        return static_cast<std::size_t>(dtype) < static_cast<std::size_t>(DType::Unknown);
    }
}

float halfToFloat(std::uint16_t bits) noexcept
{
    return halfBitsToFloat(bits);
}

float bfloat16ToFloat(std::uint16_t bits) noexcept
{
    return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16);
}

float float8ToFloat(std::uint8_t bits, DType dtype) noexcept
{
    return decodeFloat8(bits, dtype);
}

// ---- ElementDecoder ------------------------------------------------------------------------

ElementDecoder::ElementDecoder(const StridedView &view, bool anyOrder)
    : m_view(view)
{
    const DType d = view.dtype;
    if (!isDecodable(d))
        throw FormatError(FormatError::Kind::Unsupported,
                          "dtype " + std::string(dtypeName(d)) + " has no decodable values");
    m_numel = view.numel();
    if (view.pieces) {
        // Row-major over the logical tensor; each run is decoded by its piece's own decoder.
        m_pieceDecoders.reserve(view.pieces->size());
        for (const ViewPiece &p : *view.pieces) {
            if (p.offsets.size() != view.shape.size() || p.view.shape.size() != view.shape.size()
                || p.view.dtype != d || p.view.pieces)
                throw FormatError(FormatError::Kind::Corrupt, "a piece of the tensor does not match it");
            m_pieceDecoders.emplace_back(p.view, false);
        }
        return;
    }
    m_offset = view.offset;
    m_ctx.base = view.storage.data;
    m_perChannel = dtypeInfo(d).isQuantized && view.quantAxis >= 0;

    // Dimensions: per-channel tensors keep theirs (the channel is a logical coordinate);
    // otherwise drop size-1 dims, optionally order by stride, and merge what is contiguous.
    if (m_perChannel) {
        if (static_cast<std::size_t>(view.quantAxis) >= view.shape.size())
            throw FormatError(FormatError::Kind::Corrupt, "quantization axis out of range");
        for (std::size_t i = 0; i < view.shape.size(); ++i)
            m_dims.push_back({view.shape[i], i < view.stride.size() ? view.stride[i] : 0});
        m_channelDim = static_cast<int>(view.quantAxis);
        const auto channels = static_cast<std::size_t>(view.shape[static_cast<std::size_t>(view.quantAxis)]);
        if (view.scales.size() < channels || view.zeroPoints.size() < channels)
            throw FormatError(FormatError::Kind::Corrupt,
                              "per-channel quantization needs " + std::to_string(channels)
                                  + " scales and zero points");
    } else {
        std::vector<Dim> dims;
        for (std::size_t i = 0; i < view.shape.size(); ++i)
            if (view.shape[i] != 1)
                dims.push_back({view.shape[i], i < view.stride.size() ? view.stride[i] : 0});
        if (anyOrder) {
            // Broadcast (stride-0) dims outermost, then by decreasing stride.
            std::stable_sort(dims.begin(), dims.end(), [](const Dim &a, const Dim &b) {
                if ((a.stride == 0) != (b.stride == 0))
                    return a.stride == 0;
                return a.stride > b.stride;
            });
        }
        // Walking outer -> inner: fold `dim` into the previous (outer) dim when together they
        // step through storage evenly. Checked arithmetic: a view with a size-0 dim touches no
        // element, so validateExtent() accepts any strides and sizes for it (fuzzing found a
        // stride of 8e18 next to a size 0 overflowing here).
        for (const Dim &dim : dims) {
            std::int64_t span = 0, size = 0;
            if (!m_dims.empty() && !__builtin_mul_overflow(dim.stride, dim.size, &span)
                && m_dims.back().stride == span && !__builtin_mul_overflow(m_dims.back().size, dim.size, &size)) {
                m_dims.back().size = size;
                m_dims.back().stride = dim.stride;
                continue;
            }
            m_dims.push_back(dim);
        }
        if (m_dims.empty())
            m_dims.push_back({1, 1});
    }
    if (m_dims.empty())
        m_dims.push_back({1, 1}); // 0-d

    const bool swap = view.byteSwap;
    const int bits = integerBits(d);
    m_negInt = view.neg && bits > 0;

    auto fill8 = [this](auto &&fn) {
        m_table.resize(256);
        for (unsigned b = 0; b < 256; ++b)
            m_table[b] = fn(static_cast<std::uint8_t>(b));
        m_ctx.table = m_table.data();
        m_valueRun = m_magnitudeRun = &valueRun<Table8>;
    };
    const float scale = static_cast<float>(view.scale);
    m_ctx.scale = scale;
    m_ctx.zeroPoint = view.zeroPoint;

    switch (d) {
    case DType::Float64: m_valueRun = pickSwap<F64>(swap); break;
    case DType::Float32: m_valueRun = pickSwap<F32>(swap); break;
    case DType::Float16: m_valueRun = pickSwap<F16>(swap); break;
    case DType::BFloat16: m_valueRun = pickSwap<BF16>(swap); break;
    case DType::Int64: m_valueRun = pickInt<std::int64_t>(swap); break;
    case DType::Int32: m_valueRun = pickInt<std::int32_t>(swap); break;
    case DType::Int16: m_valueRun = pickInt<std::int16_t>(swap); break;
    case DType::UInt64: m_valueRun = pickInt<std::uint64_t>(swap); break;
    case DType::UInt32: m_valueRun = pickInt<std::uint32_t>(swap); break;
    case DType::UInt16: m_valueRun = pickInt<std::uint16_t>(swap); break;
    case DType::Int8: fill8([](std::uint8_t b) { return double(static_cast<std::int8_t>(b)); }); break;
    case DType::UInt8: fill8([](std::uint8_t b) { return double(b); }); break;
    case DType::Bool: fill8([](std::uint8_t b) { return b != 0 ? 1.0 : 0.0; }); break;
    case DType::Float8_e5m2: case DType::Float8_e4m3fn: case DType::Float8_e5m2fnuz:
    case DType::Float8_e4m3fnuz: case DType::Float8_e8m0fnu:
        fill8([d](std::uint8_t b) { return double(decodeFloat8(b, d)); });
        break;
    case DType::QInt8: case DType::QUInt8:
        if (m_perChannel)
            fill8([d](std::uint8_t b) {
                return d == DType::QInt8 ? double(static_cast<std::int8_t>(b)) : double(b);
            });
        else
            fill8([d, scale, zp = view.zeroPoint](std::uint8_t b) {
                const std::int64_t q = d == DType::QInt8 ? static_cast<std::int8_t>(b) : b;
                return dequantPerTensor(q, scale, zp);
            });
        break;
    case DType::QInt32:
        if (m_perChannel)
            m_valueRun = pickInt<std::int32_t>(swap);
        else
            m_valueRun = swap ? &valueRun<QInt32Elem<true>> : &valueRun<QInt32Elem<false>>;
        break;
    case DType::QUInt4x2: case DType::QUInt2x4: {
        const unsigned levels = d == DType::QUInt4x2 ? 16 : 4;
        m_table.resize(levels);
        for (unsigned q = 0; q < levels; ++q)
            m_table[q] = m_perChannel ? double(q)
                                      : dequantPerTensor(static_cast<std::int64_t>(q), scale,
                                                         view.zeroPoint);
        m_ctx.table = m_table.data();
        m_valueRun = d == DType::QUInt4x2 ? &packedRun<4> : &packedRun<2>;
        break;
    }
    case DType::Complex128: {
        const auto r = complexRuns<F64>(swap);
        m_valueRun = r.value;
        m_magnitudeRun = r.magnitude;
        break;
    }
    case DType::Complex64: {
        const auto r = complexRuns<F32>(swap);
        m_valueRun = r.value;
        m_magnitudeRun = r.magnitude;
        break;
    }
    case DType::Complex32: {
        const auto r = complexRuns<F16>(swap);
        m_valueRun = r.value;
        m_magnitudeRun = r.magnitude;
        break;
    }
    default:
        throw FormatError(FormatError::Kind::Unsupported,
                          "dtype " + std::string(dtypeName(d)) + " has no decodable values");
    }
    if (!m_magnitudeRun)
        m_magnitudeRun = m_valueRun;
    if (!m_perChannel && !isPacked(d) && !dtypeInfo(d).isComplex) {
        if (elementSize(d) == 1)
            m_patterns = 256;
        else if (elementSize(d) == 2)
            m_patterns = 65536;
    }
}

const std::uint8_t *ElementDecoder::contiguousRun() const noexcept
{
    if (m_perChannel || isPacked(m_view.dtype) || m_dims.size() != 1
        || (m_dims[0].stride != 1 && m_numel > 1))
        return nullptr;
    return m_ctx.base + m_offset * static_cast<std::int64_t>(elementSize(m_view.dtype));
}

const std::uint8_t *ElementDecoder::contiguousFloat32() const noexcept
{
    if (m_view.dtype != DType::Float32 || m_view.byteSwap || m_view.neg)
        return nullptr;
    return contiguousRun();
}

void ElementDecoder::postProcess(const std::vector<std::int64_t> &index, std::size_t n,
                                 double *out, bool magnitude) const
{
    if (m_perChannel) {
        const auto axis = static_cast<std::size_t>(m_channelDim);
        const bool alongRun = axis + 1 == m_dims.size();
        auto c = static_cast<std::size_t>(index[axis]);
        for (std::size_t i = 0; i < n; ++i) {
            out[i] = dequantPerChannel(out[i], m_view.scales[c], m_view.zeroPoints[c]);
            if (alongRun)
                ++c;
        }
    }
    const bool isComplex = dtypeInfo(m_view.dtype).isComplex;
    if (!m_view.neg || (magnitude && isComplex) || m_view.dtype == DType::Bool)
        return;
    if (m_negInt) {
        const int bits = integerBits(m_view.dtype);
        const double wrap = std::ldexp(1.0, bits);
        const double minSigned = -std::ldexp(1.0, bits - 1);
        const bool isUnsigned = isUnsignedInt(m_view.dtype);
        for (std::size_t i = 0; i < n; ++i) {
            const double v = out[i];
            if (isUnsigned)
                out[i] = v == 0 ? 0.0 : wrap - v;
            else
                out[i] = v == minSigned ? v : -v;
        }
        return;
    }
    for (std::size_t i = 0; i < n; ++i)
        out[i] = -out[i];
}

template <class Fn>
void ElementDecoder::forEachRun(std::uint64_t first, std::uint64_t count, Fn &&fn) const
{
    if (count == 0)
        return;
    const std::size_t nd = m_dims.size();
    if (nd == 1) {
        std::vector<std::int64_t> index{static_cast<std::int64_t>(first)};
        fn(index, m_offset + static_cast<std::int64_t>(first) * m_dims[0].stride, m_dims[0].stride,
           static_cast<std::size_t>(count));
        return;
    }
    // Multi-index of `first`, then runs along the innermost dim.
    std::vector<std::int64_t> index(nd);
    std::uint64_t rest = first;
    for (std::size_t k = nd; k-- > 0;) {
        const auto size = static_cast<std::uint64_t>(m_dims[k].size);
        index[k] = static_cast<std::int64_t>(rest % size);
        rest /= size;
    }
    const Dim inner = m_dims[nd - 1];
    while (count > 0) {
        std::int64_t start = m_offset;
        for (std::size_t k = 0; k < nd; ++k)
            start += index[k] * m_dims[k].stride;
        const auto n = static_cast<std::size_t>(
            std::min<std::uint64_t>(count, static_cast<std::uint64_t>(inner.size - index[nd - 1])));
        fn(index, start, inner.stride, n);
        count -= n;
        index[nd - 1] += static_cast<std::int64_t>(n);
        for (std::size_t k = nd - 1; k > 0 && index[k] == m_dims[k].size; --k) {
            index[k] = 0;
            ++index[k - 1];
        }
    }
}

void ElementDecoder::decodePieces(std::uint64_t first, std::uint64_t count, double *out,
                                  bool magnitude) const
{
    const std::vector<std::int64_t> &shape = m_view.shape;
    const std::size_t nd = shape.size();
    std::vector<std::int64_t> index(nd), local;
    while (count > 0) {
        std::uint64_t rest = first;
        for (std::size_t k = nd; k-- > 0;) {
            const auto size = static_cast<std::uint64_t>(shape[k]);
            index[k] = static_cast<std::int64_t>(rest % size);
            rest /= size;
        }
        const ViewPiece *piece = pieceAt(m_view, index, local);
        if (!piece)
            throw FormatError(FormatError::Kind::Corrupt,
                              "element " + std::to_string(first) + " of the tensor is in none of its pieces");
        const std::vector<std::int64_t> &size = piece->view.shape;
        // The run stays in the piece while it moves along dims that the piece holds whole:
        // k is the outermost dim after which every dim is whole in the piece.
        std::size_t k = nd;
        while (k > 0 && piece->offsets[k - 1] == 0 && size[k - 1] == shape[k - 1])
            --k;
        std::uint64_t run = 0;
        if (k == 0) {
            run = m_numel - first;
        } else {
            std::uint64_t inner = 1, innerPos = 0;
            for (std::size_t j = k; j < nd; ++j) {
                innerPos = innerPos * static_cast<std::uint64_t>(shape[j]) + static_cast<std::uint64_t>(index[j]);
                inner *= static_cast<std::uint64_t>(shape[j]);
            }
            run = static_cast<std::uint64_t>(size[k - 1] - local[k - 1]) * inner - innerPos;
        }
        run = std::min(run, count);
        std::uint64_t localFirst = 0;
        for (std::size_t j = 0; j < nd; ++j)
            localFirst = localFirst * static_cast<std::uint64_t>(size[j]) + static_cast<std::uint64_t>(local[j]);
        m_pieceDecoders[static_cast<std::size_t>(piece - m_view.pieces->data())].decode(localFirst, run, out, magnitude);
        out += run;
        first += run;
        count -= run;
    }
}

void ElementDecoder::decode(std::uint64_t first, std::uint64_t count, double *out,
                            bool magnitude) const
{
    if (m_view.pieces) {
        decodePieces(first, count, out, magnitude);
        return;
    }
    const RunFn run = magnitude ? m_magnitudeRun : m_valueRun;
    const bool post = m_perChannel || m_view.neg;
    forEachRun(first, count, [&](const std::vector<std::int64_t> &index, std::int64_t start,
                                 std::int64_t step, std::size_t n) {
        run(m_ctx, start, step, n, out);
        if (post)
            postProcess(index, n, out, magnitude);
        out += n;
    });
}

void ElementDecoder::countPatterns(std::uint64_t first, std::uint64_t count,
                                   std::uint64_t *counts) const
{
    const std::uint8_t *base = m_ctx.base;
    if (m_patterns == 256) {
        // Four interleaved 32-bit tables: runs of equal bytes (bool, sparse int8) do not
        // serialise on one counter. Flushed every 2^30 elements, far below overflow.
        std::vector<std::uint32_t> local(4 * 256);
        for (std::uint64_t done = 0; done < count;) {
            const std::uint64_t part = std::min<std::uint64_t>(count - done, 1u << 30);
            std::fill(local.begin(), local.end(), 0u);
            std::uint32_t *t = local.data();
            forEachRun(first + done, part, [&](const std::vector<std::int64_t> &,
                                               std::int64_t start, std::int64_t step,
                                               std::size_t n) {
                const std::uint8_t *p = base + start;
                std::size_t i = 0;
                if (step == 1) {
                    for (; i + 4 <= n; i += 4) {
                        __builtin_prefetch(p + i + kPrefetchBytes);
                        ++t[p[i]];
                        ++t[256 + p[i + 1]];
                        ++t[512 + p[i + 2]];
                        ++t[768 + p[i + 3]];
                    }
                    p += i;
                }
                for (; i < n; ++i, p += step)
                    ++t[*p];
            });
            for (std::size_t b = 0; b < 256; ++b)
                counts[b] += std::uint64_t(t[b]) + t[256 + b] + t[512 + b] + t[768 + b];
            done += part;
        }
        return;
    }
    countWords(first, count, counts);
}

void ElementDecoder::countPatterns(std::uint64_t first, std::uint64_t count, std::uint32_t *counts) const
{
    if (m_patterns != 65536)
        throw std::logic_error("32-bit pattern counters are for 2-byte dtypes");
    countWords(first, count, counts);
}

template <class Counter>
void ElementDecoder::countWords(std::uint64_t first, std::uint64_t count, Counter *counts) const
{
    const std::uint8_t *base = m_ctx.base;
    const bool swap = m_view.byteSwap;
    forEachRun(first, count, [&](const std::vector<std::int64_t> &, std::int64_t start,
                                 std::int64_t step, std::size_t n) {
        {
            const std::uint8_t *p = base + start * 2;
            const std::ptrdiff_t bstep = step * 2;
            if (swap)
                for (std::size_t i = 0; i < n; ++i, p += bstep)
                    ++counts[loadWord<std::uint16_t, true>(p)];
            else if (step == 1) {
                // One prefetch per 64-byte line (not per element: that was a third of the work).
                std::size_t i = 0;
                for (; i + 32 <= n; i += 32) {
                    __builtin_prefetch(p + 2 * i + kPrefetchBytes);
                    if constexpr (std::endian::native == std::endian::little) {
                        // Four patterns per 8-byte load (a third fewer instructions than one
                        // load each: this loop is all of bfloat16/float16 statistics).
                        for (std::size_t j = i; j < i + 32; j += 4) {
                            const auto w = loadRaw<std::uint64_t>(p + 2 * j);
                            ++counts[w & 0xFFFF];
                            ++counts[(w >> 16) & 0xFFFF];
                            ++counts[(w >> 32) & 0xFFFF];
                            ++counts[w >> 48];
                        }
                    } else {
                        for (std::size_t j = i; j < i + 32; ++j)
                            ++counts[loadRaw<std::uint16_t>(p + 2 * j)];
                    }
                }
                for (; i < n; ++i)
                    ++counts[loadRaw<std::uint16_t>(p + 2 * i)];
            } else
                for (std::size_t i = 0; i < n; ++i, p += bstep)
                    ++counts[loadRaw<std::uint16_t>(p)];
        }
    });
}

double ElementDecoder::patternValue(std::uint32_t pattern, bool magnitude) const
{
    // Decode the pattern as if it were the storage (in the storage's byte order).
    std::uint8_t bytes[2] = {static_cast<std::uint8_t>(pattern & 0xff),
                             static_cast<std::uint8_t>(pattern >> 8)};
    if (m_patterns == 65536 && m_view.byteSwap)
        std::swap(bytes[0], bytes[1]);
    RunContext ctx = m_ctx;
    ctx.base = bytes;
    double v = 0;
    (magnitude ? m_magnitudeRun : m_valueRun)(ctx, 0, 1, 1, &v);
    if (m_view.neg) {
        const std::vector<std::int64_t> index{0};
        postProcess(index, 1, &v, magnitude);
    }
    return v;
}

// ---- single elements -----------------------------------------------------------------------

const ViewPiece *pieceAt(const StridedView &view, const std::vector<std::int64_t> &index,
                         std::vector<std::int64_t> &local) noexcept
{
    if (!view.pieces)
        return nullptr;
    // A linear search: a tensor has one piece per writer that holds part of it (a few to a few
    // hundred), and callers ask once per run or per visible cell.
    for (const ViewPiece &p : *view.pieces) {
        const std::size_t nd = p.offsets.size();
        if (nd != index.size() || p.view.shape.size() != nd)
            continue;
        bool inside = true;
        for (std::size_t k = 0; k < nd && inside; ++k)
            inside = index[k] >= p.offsets[k] && index[k] - p.offsets[k] < p.view.shape[k];
        if (!inside)
            continue;
        local.resize(nd);
        for (std::size_t k = 0; k < nd; ++k)
            local[k] = index[k] - p.offsets[k];
        return &p;
    }
    return nullptr;
}

ElementValue elementAt(const StridedView &view, const std::vector<std::int64_t> &index)
{
    if (!isDecodable(view.dtype))
        throw FormatError(FormatError::Kind::Unsupported,
                          "dtype " + std::string(dtypeName(view.dtype)) + " has no decodable values");
    if (view.pieces) {
        std::vector<std::int64_t> local;
        const ViewPiece *p = pieceAt(view, index, local);
        if (!p)
            throw FormatError(FormatError::Kind::Corrupt, "the element is in none of the tensor's pieces");
        return elementAt(p->view, local);
    }
    // Linear row-major position of `index`, then the decoder does the rest.
    std::uint64_t linear = 0;
    for (std::size_t k = 0; k < view.shape.size(); ++k) {
        const std::int64_t i = k < index.size() ? index[k] : 0;
        linear = linear * static_cast<std::uint64_t>(view.shape[k]) + static_cast<std::uint64_t>(i);
    }
    ElementDecoder decoder(view);
    ElementValue v;
    decoder.decode(linear, 1, &v.re, false);
    if (dtypeInfo(view.dtype).isComplex) {
        std::int64_t pos = view.offset;
        for (std::size_t k = 0; k < view.shape.size() && k < view.stride.size(); ++k)
            pos += (k < index.size() ? index[k] : 0) * view.stride[k];
        const std::uint8_t *p = view.storage.data + pos * elementSize(view.dtype);
        const int half = elementSize(view.dtype) / 2;
        const std::uint8_t *ip = p + half;
        double im = 0;
        switch (view.dtype) {
        case DType::Complex128:
            im = view.byteSwap ? F64<true>::value(ip, {}) : F64<false>::value(ip, {});
            break;
        case DType::Complex64:
            im = view.byteSwap ? F32<true>::value(ip, {}) : F32<false>::value(ip, {});
            break;
        default:
            im = view.byteSwap ? F16<true>::value(ip, {}) : F16<false>::value(ip, {});
            break;
        }
        if (view.conj)
            im = -im;
        if (view.neg)
            im = -im;
        v.im = im;
    }
    return v;
}

void throwIfViewChanged(const StridedView &view)
{
    if (!view.pieces) {
        MappedFile::throwIfChanged(view.storage);
        return;
    }
    for (const ViewPiece &p : *view.pieces)
        throwIfViewChanged(p.view);
}

void decodeRange(const StridedView &view, std::uint64_t first, std::uint64_t count, double *out,
                 bool magnitude)
{
    ElementDecoder(view).decode(first, count, out, magnitude);
}

} // namespace ckpt::format
