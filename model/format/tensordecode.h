// SPDX-License-Identifier: MIT
#pragma once

#include "bytes.h"
#include "dtype.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ckpt::format {

/// Everything needed to read the logical elements of a strided tensor from its storage bytes.
/// Made by `CheckpointData`-level code (see tensorview in torchlayout.h) and consumed by the
/// statistics kernels and the values view. Offsets/strides are in elements.
struct ViewPiece;
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
    /// A logical tensor held in pieces (a DCP tensor split among its writers, each piece one
    /// writer's chunk, read lazily from its own file): when set, `dtype` and `shape` are the
    /// logical tensor's and storage/stride/offset are unused. elementAt(), formatElementAt() and
    /// ElementDecoder look each element up in the piece whose box holds it, so the values view,
    /// heat-maps and diffs work on the logical tensor. The pieces tile the shape exactly (the
    /// reader checks that no element is missing or held twice).
    std::shared_ptr<const std::vector<ViewPiece>> pieces;

    std::uint64_t numel() const noexcept;
    bool contiguous() const noexcept;    ///< row-major contiguous (never for pieces)
};

/// One piece of a piecewise StridedView: the box of the logical tensor at `offsets` whose
/// extent is view.shape.
struct ViewPiece
{
    std::vector<std::int64_t> offsets;
    StridedView view;
};

/// The piece of piecewise `view` holding logical element `index`, and the element's index
/// inside it (`local`); nullptr when no piece does (then the view is not a tiling).
const ViewPiece *pieceAt(const StridedView &view, const std::vector<std::int64_t> &index,
                         std::vector<std::int64_t> &local) noexcept;

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

/// Reads the logical elements of a StridedView block by block, for hot loops. Construction
/// costs O(ndim) and copies what it needs from the view (the storage bytes are not copied and
/// must outlive the decoder). `decode()` is const and safe to call from several threads at
/// once. There is no per-element dispatch: one dtype-specific loop per contiguous run.
class ElementDecoder
{
public:
    /// `anyOrder`: the caller does not care in which (fixed) order the elements come, as long as
    /// each comes once (statistics). The decoder may then walk the storage in memory order, so
    /// that e.g. a transposed view becomes one contiguous run. Row-major otherwise.
    /// Throws FormatError(Unsupported) for a dtype that is not decodable. A piecewise view is
    /// decoded in row-major order, run by run from its pieces (no patterns, no contiguous run).
    explicit ElementDecoder(const StridedView &view, bool anyOrder = false);

    std::uint64_t numel() const noexcept { return m_numel; }

    /// Decodes `count` elements starting at position `first` (of the chosen order) into `out`:
    /// |z| for complex types when `magnitude`, else the real part; dequantized values for
    /// quantized types; 0/1 for bool; conj/neg/byte order applied.
    void decode(std::uint64_t first, std::uint64_t count, double *out, bool magnitude) const;

    /// Pattern counting, for dtypes whose elements are single 1- or 2-byte storage words with a
    /// value that does not depend on the position (all 1- and 2-byte dtypes except the packed
    /// and per-channel quantized ones): 256 or 65536 patterns; 0 when not available.
    std::uint32_t patternCount() const noexcept { return m_patterns; }
    /// Adds 1 to counts[pattern] for each of `count` elements from position `first` (patterns
    /// in host byte order; `counts` has patternCount() entries). Safe from several threads.
    void countPatterns(std::uint64_t first, std::uint64_t count, std::uint64_t *counts) const;
    /// The same into 32-bit counters, for 65536 patterns only: a table half the size stays
    /// closer to the core (float16's values use ~16,000 patterns). The caller moves the counts
    /// elsewhere before any can pass 2^32 - 1.
    void countPatterns(std::uint64_t first, std::uint64_t count, std::uint32_t *counts) const;
    /// The value decode() gives for an element stored as `pattern`.
    double patternValue(std::uint32_t pattern, bool magnitude) const;

    /// Native float32 views (no byte swap, no negation, not quantized) whose elements, in the
    /// chosen order, are one contiguous run: the bytes of the first element, so that hot loops
    /// read the floats in place instead of decoding them (not necessarily 4-byte aligned; load
    /// with memcpy or unaligned loads). nullptr otherwise.
    const std::uint8_t *contiguousFloat32() const noexcept;
    /// Views whose elements, in the chosen order, are one contiguous run of whole storage
    /// elements (any dtype but the packed ones, not per-channel quantized): the bytes of the
    /// first element; nullptr otherwise. Element k is at contiguousRun() + k * elementSize.
    const std::uint8_t *contiguousRun() const noexcept;

    struct Dim
    {
        std::int64_t size;
        std::int64_t stride;
    };
    struct RunContext
    {
        const std::uint8_t *base = nullptr;
        float scale = 1.0f;
        std::int64_t zeroPoint = 0;
        const double *table = nullptr; ///< 256 entries for 1-byte types (float8, (q)u/int8)
    };
    using RunFn = void (*)(const RunContext &, std::int64_t start, std::int64_t step, std::size_t n,
                           double *out);

private:
    /// countPatterns() of 2-byte words.
    template <class Counter>
    void countWords(std::uint64_t first, std::uint64_t count, Counter *counts) const;
    void postProcess(const std::vector<std::int64_t> &index, std::size_t n, double *out,
                     bool magnitude) const;
    template <class Fn>
    void forEachRun(std::uint64_t first, std::uint64_t count, Fn &&fn) const;

    StridedView m_view;                 ///< dtype, flags and quantizer (shape: see m_dims)
    std::vector<Dim> m_dims;            ///< normalised (merged, maybe reordered) dims
    std::int64_t m_offset = 0;
    std::uint64_t m_numel = 0;
    RunContext m_ctx;
    std::vector<double> m_table;
    RunFn m_valueRun = nullptr;
    RunFn m_magnitudeRun = nullptr;
    bool m_perChannel = false;
    bool m_negInt = false;              ///< integer neg view: wrap in the dtype's width
    int m_channelDim = -1;              ///< per-channel: index in m_dims of the quant axis
    std::uint32_t m_patterns = 0;
    /// Piecewise views: one row-major decoder per piece (same order as the view's pieces).
    std::vector<ElementDecoder> m_pieceDecoders;
    void decodePieces(std::uint64_t first, std::uint64_t count, double *out, bool magnitude) const;
};

/// Scalar conversions (exposed for tests).
float halfToFloat(std::uint16_t bits) noexcept;
float bfloat16ToFloat(std::uint16_t bits) noexcept;
float float8ToFloat(std::uint8_t bits, DType dtype) noexcept;

/// MappedFile::throwIfChanged() for the bytes `view` reads (every piece of a piecewise view):
/// throws FormatError(Io, kFileChangedMessage) when one of their files changed on disk.
void throwIfViewChanged(const StridedView &view);

/// Text of a value as the values view shows it: the shortest digits that read back as the same
/// value of the dtype (float32: of the float, float16: of the half, ...), laid out like Python's
/// repr ("0.1", "1.0", "65500.0", "1e+16", "1.5e-05", "-0.0"); "nan", "inf", "-inf"; complex
/// "(1+2j)", "(1.5-infj)" like Python's complex repr; bool "True"/"False"; integers in decimal
/// (through a double: use formatElementAt() for exact 64-bit integers). Quantized values are
/// formatted as the float32 they dequantize to.
std::string formatElement(const ElementValue &v, DType dtype);

/// formatElement() of the element at `index`, except that 64-bit integers (which a double
/// cannot hold exactly beyond 2^53) are read and printed exactly. Same preconditions as
/// elementAt().
std::string formatElementAt(const StridedView &view, const std::vector<std::int64_t> &index);

} // namespace ckpt::format
