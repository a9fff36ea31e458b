// SPDX-License-Identifier: MIT
#include "dtype.h"

#include <array>
#include <string>

namespace ckpt::format {

namespace {

using D = DType;
// dtype, name, storage class, safetensors, element size, values/element, float, complex, quantized
constexpr std::array<DTypeInfo, 33> kTable{{
    {D::Float64, "float64", "DoubleStorage", "F64", 8, 1, true, false, false},
    {D::Float32, "float32", "FloatStorage", "F32", 4, 1, true, false, false},
    {D::Float16, "float16", "HalfStorage", "F16", 2, 1, true, false, false},
    {D::BFloat16, "bfloat16", "BFloat16Storage", "BF16", 2, 1, true, false, false},
    {D::Complex128, "complex128", "ComplexDoubleStorage", "", 16, 1, false, true, false},
    {D::Complex64, "complex64", "ComplexFloatStorage", "C64", 8, 1, false, true, false},
    {D::Complex32, "complex32", "", "", 4, 1, false, true, false},
    {D::Int64, "int64", "LongStorage", "I64", 8, 1, false, false, false},
    {D::Int32, "int32", "IntStorage", "I32", 4, 1, false, false, false},
    {D::Int16, "int16", "ShortStorage", "I16", 2, 1, false, false, false},
    {D::Int8, "int8", "CharStorage", "I8", 1, 1, false, false, false},
    {D::UInt8, "uint8", "ByteStorage", "U8", 1, 1, false, false, false},
    {D::UInt16, "uint16", "UInt16Storage", "U16", 2, 1, false, false, false},
    {D::UInt32, "uint32", "UInt32Storage", "U32", 4, 1, false, false, false},
    {D::UInt64, "uint64", "UInt64Storage", "U64", 8, 1, false, false, false},
    {D::Bool, "bool", "BoolStorage", "BOOL", 1, 1, false, false, false},
    {D::QInt8, "qint8", "QInt8Storage", "", 1, 1, false, false, true},
    {D::QUInt8, "quint8", "QUInt8Storage", "", 1, 1, false, false, true},
    {D::QInt32, "qint32", "QInt32Storage", "", 4, 1, false, false, true},
    {D::QUInt4x2, "quint4x2", "QUInt4x2Storage", "", 1, 2, false, false, true},
    {D::QUInt2x4, "quint2x4", "QUInt2x4Storage", "", 1, 4, false, false, true},
    {D::Float8_e5m2, "float8_e5m2", "", "F8_E5M2", 1, 1, true, false, false},
    {D::Float8_e4m3fn, "float8_e4m3fn", "", "F8_E4M3", 1, 1, true, false, false},
    {D::Float8_e5m2fnuz, "float8_e5m2fnuz", "", "", 1, 1, true, false, false},
    {D::Float8_e4m3fnuz, "float8_e4m3fnuz", "", "", 1, 1, true, false, false},
    {D::Float8_e8m0fnu, "float8_e8m0fnu", "", "F8_E8M0", 1, 1, true, false, false},
    {D::Float4_e2m1fn_x2, "float4_e2m1fn_x2", "", "", 1, 1, false, false, false},
    {D::Bits1x8, "bits1x8", "", "", 1, 1, false, false, false},
    {D::Bits2x4, "bits2x4", "", "", 1, 1, false, false, false},
    {D::Bits4x2, "bits4x2", "", "", 1, 1, false, false, false},
    {D::Bits8, "bits8", "", "", 1, 1, false, false, false},
    {D::Bits16, "bits16", "", "", 2, 1, false, false, false},
    {D::Unknown, "unknown", "", "", 1, 1, false, false, false},
}};

} // namespace

const DTypeInfo &dtypeInfo(DType dtype) noexcept
{
    const auto i = static_cast<std::size_t>(dtype);
    return i < kTable.size() ? kTable[i] : kTable.back();
}

std::optional<DType> dtypeFromName(std::string_view name) noexcept
{
    if (name.starts_with("torch."))
        name.remove_prefix(6);
    for (const auto &info : kTable)
        if (info.name == name && info.dtype != D::Unknown)
            return info.dtype;
    struct Alias { std::string_view alias; DType dtype; };
    static constexpr Alias kAliases[] = {
        {"double", D::Float64}, {"float", D::Float32}, {"half", D::Float16},
        {"cdouble", D::Complex128}, {"cfloat", D::Complex64}, {"chalf", D::Complex32},
        {"long", D::Int64}, {"int", D::Int32}, {"short", D::Int16},
    };
    for (const auto &a : kAliases)
        if (a.alias == name)
            return a.dtype;
    return std::nullopt;
}

std::optional<DType> dtypeFromStorageClass(std::string_view className) noexcept
{
    if (className.starts_with("cuda."))
        className.remove_prefix(5);
    for (const auto &info : kTable)
        if (!info.storageClass.empty() && info.storageClass == className)
            return info.dtype;
    return std::nullopt;
}

std::optional<DType> dtypeFromSafetensors(std::string_view code) noexcept
{
    for (const auto &info : kTable)
        if (!info.safetensors.empty() && info.safetensors == code)
            return info.dtype;
    return std::nullopt;
}

std::optional<DType> dtypeFromTensorClass(std::string_view className) noexcept
{
    if (className.starts_with("cuda."))
        className.remove_prefix(5);
    if (!className.ends_with("Tensor"))
        return std::nullopt;
    std::string storage(className.substr(0, className.size() - 6));
    storage += "Storage";
    return dtypeFromStorageClass(storage);
}

} // namespace ckpt::format
