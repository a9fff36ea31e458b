// SPDX-License-Identifier: MIT
#include "tensorinfo.h"

#include <limits>

namespace ckpt::format {

std::string_view layoutName(Layout layout) noexcept
{
    switch (layout) {
    case Layout::Strided: return "strided";
    case Layout::SparseCoo: return "sparse_coo";
    case Layout::SparseCsr: return "sparse_csr";
    case Layout::SparseCsc: return "sparse_csc";
    case Layout::SparseBsr: return "sparse_bsr";
    case Layout::SparseBsc: return "sparse_bsc";
    }
    return "strided";
}

namespace {
// 128-bit arithmetic for extent checks: sizes times strides cannot overflow it.
__extension__ typedef unsigned __int128 U128;

std::uint64_t satMul(std::uint64_t a, std::uint64_t b) noexcept
{
    std::uint64_t r;
    if (__builtin_mul_overflow(a, b, &r))
        return std::numeric_limits<std::uint64_t>::max();
    return r;
}
} // namespace

std::uint64_t StorageInfo::nbytes() const noexcept
{
    return satMul(numel, elementSize(dtype));
}

std::uint64_t TensorInfo::numel() const noexcept
{
    std::uint64_t n = 1;
    for (auto s : shape) {
        if (s < 0)
            return 0;
        n = satMul(n, static_cast<std::uint64_t>(s));
    }
    return n;
}

std::uint64_t TensorInfo::nbytes() const noexcept
{
    const auto &info = dtypeInfo(dtype);
    const std::uint64_t n = numel();
    if (info.valuesPerElement > 1)
        return (n + info.valuesPerElement - 1) / info.valuesPerElement * info.elementSize;
    return satMul(n, info.elementSize);
}

std::vector<std::int64_t> TensorInfo::contiguousStrides(const std::vector<std::int64_t> &shape)
{
    std::vector<std::int64_t> stride(shape.size());
    std::int64_t s = 1;
    for (std::size_t i = shape.size(); i-- > 0;) {
        stride[i] = s;
        if (shape[i] <= 0)
            continue;
        std::int64_t next = 0;
        s = __builtin_mul_overflow(s, shape[i], &next) ? std::numeric_limits<std::int64_t>::max() : next;
    }
    return stride;
}

std::string validateExtent(const TensorInfo &t, std::uint64_t storageElements)
{
    if (t.shape.size() != t.stride.size())
        return "shape has " + std::to_string(t.shape.size()) + " dimensions but stride has "
               + std::to_string(t.stride.size());
    if (t.storageOffset < 0)
        return "negative storage offset";
    U128 last = static_cast<std::uint64_t>(t.storageOffset);
    for (std::size_t i = 0; i < t.shape.size(); ++i) {
        if (t.shape[i] < 0)
            return "negative size in dimension " + std::to_string(i);
        if (t.stride[i] < 0)
            return "negative stride in dimension " + std::to_string(i);
        if (t.shape[i] == 0)
            return {}; // empty tensor touches nothing
    }
    // Issue 6: an element count that overflows int64 (as torch counts) is no real tensor, even
    // when zero strides make it fit its storage; walking it would never end.
    U128 elements = 1;
    for (std::size_t i = 0; i < t.shape.size(); ++i) {
        elements *= static_cast<std::uint64_t>(t.shape[i]);
        if (elements > static_cast<U128>(std::numeric_limits<std::int64_t>::max()))
            return "the shape has more than 2^63 - 1 elements";
    }
    for (std::size_t i = 0; i < t.shape.size(); ++i)
        last += static_cast<U128>(t.shape[i] - 1) * static_cast<std::uint64_t>(t.stride[i]);
    const auto &info = dtypeInfo(t.dtype);
    // Packed types count storage elements in bytes holding several values.
    U128 needed = last + 1;
    if (info.valuesPerElement > 1)
        needed = (needed + info.valuesPerElement - 1) / info.valuesPerElement;
    if (needed > storageElements)
        return "tensor needs " + std::to_string(static_cast<unsigned long long>(
                   needed > std::numeric_limits<std::uint64_t>::max()
                       ? std::numeric_limits<std::uint64_t>::max() : static_cast<std::uint64_t>(needed)))
               + " storage elements, storage has " + std::to_string(storageElements);
    return {};
}

} // namespace ckpt::format
