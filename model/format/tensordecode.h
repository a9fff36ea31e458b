// SPDX-License-Identifier: MIT
#pragma once

#include "bytes.h"
#include "dtype.h"

#include <cstdint>
#include <string>
#include <vector>

namespace ckpt::format {

/// Everything needed to read the logical elements of a strided tensor from its storage bytes.
/// Made by `CheckpointData`-level code (see tensorview in torchlayout.h) and consumed by the
/// statistics kernels and the values view. Offsets/strides are in elements.
struct StridedView
{
    ByteView storage;                    ///< the storage bytes (whole record)
    DType dtype = DType::Float32;
    std::vector<std::int64_t> shape;
    std::vector<std::int64_t> stride;
    std::int64_t offset = 0;
    bool byteSwap = false;               ///< storage written big-endian
    bool conj = false;                   ///< negate the imaginary part
    bool neg = false;                    ///< negate the value
    // Quantized tensors: value = (q - zeroPoint) * scale (per tensor) or per channel along
    // `quantAxis` using the vectors below.
    double scale = 1.0;
    std::int64_t zeroPoint = 0;
    std::int64_t quantAxis = -1;         ///< >= 0: per-channel
    std::vector<double> scales;
    std::vector<std::int64_t> zeroPoints;

    std::uint64_t numel() const noexcept;
    bool contiguous() const noexcept;    ///< row-major contiguous
};

/// One decoded element. Complex types fill `im`; everything else has im == 0.
struct ElementValue
{
    double re = 0;
    double im = 0;
};

/// True when the dtype has numeric values we can decode (not bits*, not float4 packed, not
/// Unknown).
bool isDecodable(DType dtype) noexcept;

/// Decodes the logical element at multi-index `index` (size == shape.size()). The caller has
/// validated the extent (validateExtent) so the access is in bounds. Not for hot loops.
ElementValue elementAt(const StridedView &view, const std::vector<std::int64_t> &index);

/// Decodes `count` logical elements in row-major order starting at linear index `first` into
/// `out` (magnitude for complex types when `magnitude` is true, else the real part).
void decodeRange(const StridedView &view, std::uint64_t first, std::uint64_t count, double *out,
                 bool magnitude = true);

/// Scalar conversions (exposed for tests).
float halfToFloat(std::uint16_t bits) noexcept;
float bfloat16ToFloat(std::uint16_t bits) noexcept;
float float8ToFloat(std::uint8_t bits, DType dtype) noexcept;

/// Text of a value as the values view shows it (shortest round-trip for the dtype's precision;
/// "nan", "inf", "-inf"; complex "a+bj"; bool "True"/"False").
std::string formatElement(const ElementValue &v, DType dtype);

} // namespace ckpt::format
