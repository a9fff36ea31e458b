// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace ckpt::format {

/// Every dtype of FORMAT.md section 4. Names are torch's without the `torch.` prefix.
enum class DType : std::uint8_t {
    Float64, Float32, Float16, BFloat16,
    Complex128, Complex64, Complex32,
    Int64, Int32, Int16, Int8, UInt8, UInt16, UInt32, UInt64,
    Bool,
    QInt8, QUInt8, QInt32, QUInt4x2, QUInt2x4,
    Float8_e5m2, Float8_e4m3fn, Float8_e5m2fnuz, Float8_e4m3fnuz, Float8_e8m0fnu,
    Float4_e2m1fn_x2,
    Bits1x8, Bits2x4, Bits4x2, Bits8, Bits16,
    Unknown,
};

struct DTypeInfo
{
    DType dtype;
    std::string_view name;          ///< torch name: "float32"
    std::string_view storageClass;  ///< legacy storage class: "FloatStorage" ("" if none)
    std::string_view safetensors;   ///< "F32" ("" if none)
    std::uint8_t elementSize;       ///< bytes per storage element
    std::uint8_t valuesPerElement;  ///< packed types: values per storage element (else 1)
    bool isFloat;
    bool isComplex;
    bool isQuantized;
};

const DTypeInfo &dtypeInfo(DType dtype) noexcept;
inline std::string_view dtypeName(DType d) noexcept { return dtypeInfo(d).name; }
inline std::uint8_t elementSize(DType d) noexcept { return dtypeInfo(d).elementSize; }

/// "float32" -> Float32 (also accepts torch aliases: "float", "half", "double", "long", ...).
std::optional<DType> dtypeFromName(std::string_view name) noexcept;
/// "FloatStorage" / "cuda.FloatStorage" style class names -> dtype.
std::optional<DType> dtypeFromStorageClass(std::string_view className) noexcept;
/// "F32" -> Float32.
std::optional<DType> dtypeFromSafetensors(std::string_view code) noexcept;
/// Legacy tensor class names, "FloatTensor" -> Float32.
std::optional<DType> dtypeFromTensorClass(std::string_view className) noexcept;

} // namespace ckpt::format
