// SPDX-License-Identifier: MIT
// The diff engine, part 2 of 3: the metrics (diffengine.h). Streams both tensors through their
// memory maps in double, in parallel chunks (merged in order, so results do not depend on the
// thread count), and the statistics of B - A.
#include "diffengine.h"

#include "format/compensatedsum.h"
#include "format/formaterror.h"
#include "format/mappedfile.h"
#include "format/parallelwork.h"
#include "format/runningmoments.h"
#include "format/torchlayout.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <limits>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

// The pair kernel gets an AVX2 clone next to the baseline one, picked at load time (as in
// tensorstats.cpp; no FMA in either, so both give the same results).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CKPT_HOT __attribute__((target_clones("avx2", "default")))
#else
#define CKPT_HOT
#endif
namespace ckpt {

using namespace ckpt::format;

namespace {

constexpr double kMaxFinite = std::numeric_limits<double>::max();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr std::size_t kBlock = 2048;              // decoded doubles per block and side (16 KiB)
constexpr std::uint64_t kMinChunk = 32 * kBlock;  // elements per work item
constexpr std::uint64_t kMaxChunks = 1 << 16;     // per tensor; bounds the partial results
constexpr std::uint64_t kProgressStep = 1 << 20;  // report at most every 1M elements
constexpr int kMaxBins = 1 << 24;                 // as computeStats

ParallelWork::Options workOptions(const std::function<bool(std::uint64_t, std::uint64_t)> &progress,
                                  std::uint64_t total, const char *what, bool background)
{
    ParallelWork::Options o;
    o.progress = &progress;
    o.total = total;
    o.reportStep = kProgressStep;
    o.what = what;
    o.background = background;
    return o;
}

unsigned threadCount(unsigned requested)
{
    return requested ? requested : std::max(1u, std::thread::hardware_concurrency());
}

// Chunking depends on the element count only (never on the thread count), so the per-chunk
// partial results, merged in order, are the same for any number of threads.
std::uint64_t chunkSize(std::uint64_t n)
{
    std::uint64_t chunk = std::max(kMinChunk, (n + kMaxChunks - 1) / kMaxChunks);
    return (chunk + kBlock - 1) / kBlock * kBlock;
}

// ---- the pair of views --------------------------------------------------------------------

// A complex view as its real view (torch.view_as_real): one more axis of 2 (re, im) of the
// component type. Conjugation is applied by the caller (odd positions negated).
StridedView realView(const StridedView &v, bool &conj)
{
    if (v.pieces) {
        // A split tensor: each piece as its real view, the (re, im) axis whole in every piece.
        auto pieces = std::make_shared<std::vector<ViewPiece>>(*v.pieces);
        conj = false;
        for (ViewPiece &p : *pieces) {
            bool pieceConj = false;
            p.view = realView(p.view, pieceConj);
            if (pieceConj)
                throw FormatError(FormatError::Kind::Unsupported, "a conjugated piece of a split tensor is not compared");
            p.offsets.push_back(0);
        }
        StridedView r = v;
        r.dtype = pieces->empty() ? v.dtype : pieces->front().view.dtype;
        r.shape.push_back(2);
        r.pieces = std::move(pieces);
        return r;
    }
    StridedView r = v;
    conj = v.conj;
    r.conj = false;
    r.dtype = v.dtype == DType::Complex128 ? DType::Float64
              : v.dtype == DType::Complex64 ? DType::Float32
                                            : DType::Float16;
    for (auto &s : r.stride)
        s *= 2;
    r.shape.push_back(2);
    r.stride.push_back(1);
    r.offset *= 2;
    return r;
}

bool isComplex(DType d) noexcept
{
    return dtypeInfo(d).isComplex;
}

// Both tensors' values, decodable pairwise in row-major order.
struct ViewPair
{
    StridedView a, b;               // real views (complex: view_as_real)
    std::optional<ElementDecoder> da, db;
    bool complex = false;
    bool conjA = false, conjB = false;
    bool sameDType = false;
    // Raw path: both contiguous, same dtype, native byte order, no neg/conj/quantization:
    // element i of each side is `esize` bytes at raw + i * esize (bit comparison by memcmp).
    bool raw = false;
    const std::uint8_t *rawA = nullptr, *rawB = nullptr;
    std::size_t esize = 0;
    std::uint64_t n = 0;            // real elements (complex: 2 per element)

    // Decodes [first, first + len) of both sides (`len` even for complex) into x and y.
    void decode(std::uint64_t first, std::size_t len, double *x, double *y) const
    {
        da->decode(first, len, x, false);
        if (y)
            db->decode(first, len, y, false);
        if (complex) {
            if (conjA)
                for (std::size_t i = 1; i < len; i += 2)
                    x[i] = -x[i];
            if (y && conjB)
                for (std::size_t i = 1; i < len; i += 2)
                    y[i] = -y[i];
        }
    }
};

// Throws FormatError(Unsupported) with the reason when the views cannot be compared.
ViewPair makeViewPair(const StridedView &va, const StridedView &vb)
{
    ViewPair p;
    if (va.shape != vb.shape)
        throw FormatError(FormatError::Kind::Unsupported, "the tensors' shapes differ");
    if (isComplex(va.dtype) != isComplex(vb.dtype))
        throw FormatError(FormatError::Kind::Unsupported, "a complex tensor is not compared with a real one");
    p.complex = isComplex(va.dtype);
    p.a = p.complex ? realView(va, p.conjA) : va;
    p.b = p.complex ? realView(vb, p.conjB) : vb;
    p.da.emplace(p.a, false);
    p.db.emplace(p.b, false);
    p.n = p.da->numel();
    p.sameDType = va.dtype == vb.dtype;
    const DTypeInfo &info = dtypeInfo(p.a.dtype);
    const auto plain = [](const StridedView &v) {
        return v.contiguous() && !v.byteSwap && !v.neg && !v.conj;
    };
    // (Not for empty views: their offset need not lie inside the storage, nothing is read.)
    p.raw = p.n > 0 && p.sameDType && !info.isQuantized && info.valuesPerElement == 1 && info.elementSize > 0
            && plain(p.a) && plain(p.b) && !p.conjA && !p.conjB;
    if (p.raw) {
        p.esize = info.elementSize;
        p.rawA = p.a.storage.data + static_cast<std::uint64_t>(p.a.offset) * p.esize;
        p.rawB = p.b.storage.data + static_cast<std::uint64_t>(p.b.offset) * p.esize;
    }
    return p;
}

// ---- metrics kernel -------------------------------------------------------------------------

struct PairPartial
{
    std::uint64_t count = 0;       // pairs with both sides finite
    std::uint64_t differing = 0;
    std::uint64_t nanMismatch = 0;
    double maxAbs = 0;
    CompensatedSum sumAbs, aa, bb, ab, dd;

    void merge(const PairPartial &o) noexcept
    {
        count += o.count;
        differing += o.differing;
        nanMismatch += o.nanMismatch;
        maxAbs = std::max(maxAbs, o.maxAbs);
        sumAbs.add(o.sumAbs);
        aa.add(o.aa);
        bb.add(o.bb);
        ab.add(o.ab);
        dd.add(o.dd);
    }
};

inline bool finite(double v) noexcept
{
    return std::fabs(v) <= kMaxFinite;
}

typedef double V4d __attribute__((vector_size(32)));

inline double hsum(const V4d &v) noexcept
{
    return (v[0] + v[1]) + (v[2] + v[3]);
}

// A real block assuming every value is finite, four lanes at a time; false (nothing added)
// when a sum says otherwise (a NaN or infinity, or squares overflowing), and the caller then
// takes the element-wise path. Which path a block takes depends on its values only.
CKPT_HOT bool accumulateFinitePairs(PairPartial &p, const double *x, const double *y, std::size_t n) noexcept
{
    V4d vAbs{}, vAA{}, vBB{}, vAB{}, vDD{}, vMax{};
    std::size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        V4d a, b;
        std::memcpy(&a, x + i, sizeof a);
        std::memcpy(&b, y + i, sizeof b);
        const V4d d = b - a;
        const V4d ad = d < 0 ? -d : d;
        vAbs += ad;
        vMax = ad > vMax ? ad : vMax;
        vDD += d * d;
        vAA += a * a;
        vBB += b * b;
        vAB += a * b;
    }
    double sAbs = hsum(vAbs), sAA = hsum(vAA), sBB = hsum(vBB), sAB = hsum(vAB), sDD = hsum(vDD);
    double mx = std::max(std::max(vMax[0], vMax[1]), std::max(vMax[2], vMax[3]));
    for (; i < n; ++i) {
        const double a = x[i], b = y[i], d = b - a, ad = std::fabs(d);
        sAbs += ad;
        mx = ad > mx ? ad : mx;
        sDD += d * d;
        sAA += a * a;
        sBB += b * b;
        sAB += a * b;
    }
    if (!(std::isfinite(sAA) && std::isfinite(sBB) && std::isfinite(sDD) && std::isfinite(sAbs)))
        return false;
    p.count += n;
    p.maxAbs = std::max(p.maxAbs, mx);
    p.sumAbs.add(sAbs);
    p.aa.add(sAA);
    p.bb.add(sBB);
    p.ab.add(sAB);
    p.dd.add(sDD);
    return true;
}

// One block of decoded values (x = A, y = B). Complex: x, y hold (re, im) pairs.
void accumulatePairs(PairPartial &p, const double *x, const double *y, std::size_t n, bool complex) noexcept
{
    if (!complex && accumulateFinitePairs(p, x, y, n))
        return;
    double sAbs = 0, sAA = 0, sBB = 0, sAB = 0, sDD = 0, mx = p.maxAbs;
    std::uint64_t count = 0, nanMismatch = 0;
    if (!complex) {
        for (std::size_t i = 0; i < n; ++i) {
            const double a = x[i], b = y[i];
            if (finite(a) && finite(b)) {
                const double d = b - a;
                const double ad = std::fabs(d);
                sAbs += ad;
                mx = ad > mx ? ad : mx;
                sDD += d * d;
                sAA += a * a;
                sBB += b * b;
                sAB += a * b;
                ++count;
            } else if (std::isnan(a) != std::isnan(b)) {
                ++nanMismatch;
            }
        }
    } else {
        for (std::size_t i = 0; i + 1 < n; i += 2) {
            const double ar = x[i], ai = x[i + 1], br = y[i], bi = y[i + 1];
            if (finite(ar) && finite(ai) && finite(br) && finite(bi)) {
                const double dr = br - ar, di = bi - ai;
                const double ad = std::hypot(dr, di);
                sAbs += ad;
                mx = ad > mx ? ad : mx;
                sDD += dr * dr + di * di;
                sAA += ar * ar + ai * ai;
                sBB += br * br + bi * bi;
                sAB += ar * br + ai * bi;
                ++count;
            } else if ((std::isnan(ar) || std::isnan(ai)) != (std::isnan(br) || std::isnan(bi))) {
                ++nanMismatch;
            }
        }
    }
    p.count += count;
    p.nanMismatch += nanMismatch;
    p.maxAbs = mx;
    p.sumAbs.add(sAbs);
    p.aa.add(sAA);
    p.bb.add(sBB);
    p.ab.add(sAB);
    p.dd.add(sDD);
}

// Elements whose stored bits differ (complex: either component).
template <class Word>
std::uint64_t countDifferentWords(const std::uint8_t *a, const std::uint8_t *b, std::size_t n, bool complex)
{
    std::uint64_t diff = 0;
    if (!complex) {
        for (std::size_t i = 0; i < n; ++i) {
            Word wa, wb;
            std::memcpy(&wa, a + i * sizeof(Word), sizeof(Word));
            std::memcpy(&wb, b + i * sizeof(Word), sizeof(Word));
            diff += wa != wb;
        }
        return diff;
    }
    for (std::size_t i = 0; i + 1 < n; i += 2)
        diff += std::memcmp(a + i * sizeof(Word), b + i * sizeof(Word), 2 * sizeof(Word)) != 0;
    return diff;
}

std::uint64_t countDifferentRaw(const ViewPair &p, std::uint64_t first, std::size_t n)
{
    const std::uint8_t *a = p.rawA + first * p.esize;
    const std::uint8_t *b = p.rawB + first * p.esize;
    switch (p.esize) {
    case 1: return countDifferentWords<std::uint8_t>(a, b, n, p.complex);
    case 2: return countDifferentWords<std::uint16_t>(a, b, n, p.complex);
    case 4: return countDifferentWords<std::uint32_t>(a, b, n, p.complex);
    case 8: return countDifferentWords<std::uint64_t>(a, b, n, p.complex);
    default: break;
    }
    std::uint64_t diff = 0;
    const std::size_t step = p.complex ? 2 : 1;
    for (std::size_t i = 0; i + step <= n; i += step)
        diff += std::memcmp(a + i * p.esize, b + i * p.esize, step * p.esize) != 0;
    return diff;
}

// Decoded values that differ: bit patterns of the doubles for equal dtypes (every decodable
// dtype but 64-bit integers beyond 2^53 decodes one-to-one), values otherwise (NaN == NaN).
std::uint64_t countDifferentDecoded(const double *x, const double *y, std::size_t n, bool bits, bool complex)
{
    const auto differ = [bits](double a, double b) {
        if (bits)
            return std::bit_cast<std::uint64_t>(a) != std::bit_cast<std::uint64_t>(b);
        return a != b && !(std::isnan(a) && std::isnan(b));
    };
    std::uint64_t diff = 0;
    if (!complex) {
        for (std::size_t i = 0; i < n; ++i)
            diff += differ(x[i], y[i]);
        return diff;
    }
    for (std::size_t i = 0; i + 1 < n; i += 2)
        diff += differ(x[i], y[i]) || differ(x[i + 1], y[i + 1]);
    return diff;
}

// One tensor pair being compared.
struct Job
{
    std::vector<DiffEntry *> entries; // every entry with this (A tensor, B tensor) pair
    ViewPair views;
    std::uint64_t chunk = 0, chunks = 0;
    std::vector<PairPartial> partials;
    std::string error;
};

void computeChunk(const Job &job, std::uint64_t c, double *x, double *y, PairPartial &p)
{
    const ViewPair &v = job.views;
    const std::uint64_t begin = c * job.chunk;
    const std::uint64_t end = std::min(v.n, begin + job.chunk);
    for (std::uint64_t b = begin; b < end; b += kBlock) {
        const auto len = static_cast<std::size_t>(std::min<std::uint64_t>(kBlock, end - b));
        if (v.raw && std::memcmp(v.rawA + b * v.esize, v.rawB + b * v.esize, len * v.esize) == 0) {
            // Bit-identical block (unchanged layers, self-diffs): B need not be decoded.
            v.decode(b, len, x, nullptr);
            accumulatePairs(p, x, x, len, v.complex);
            continue;
        }
        v.decode(b, len, x, y);
        p.differing += v.raw ? countDifferentRaw(v, b, len) : countDifferentDecoded(x, y, len, v.sameDType, v.complex);
        accumulatePairs(p, x, y, len, v.complex);
    }
}

void finishJob(Job &job)
{
    for (DiffEntry *e : job.entries) {
        if (!job.error.empty()) {
            e->error = job.error;
            continue;
        }
        PairPartial all;
        for (const PairPartial &p : job.partials)
            all.merge(p);
        e->differing = all.differing;
        e->nanMismatch = all.nanMismatch;
        e->maxAbsDiff.reset();
        e->meanAbsDiff.reset();
        e->relL2.reset();
        e->cosine.reset();
        if (all.count > 0) {
            e->maxAbsDiff = all.maxAbs;
            e->meanAbsDiff = all.sumAbs.value() / static_cast<double>(all.count);
        }
        const double aa = all.aa.value(), bb = all.bb.value();
        if (aa > 0)
            e->relL2 = std::sqrt(all.dd.value()) / std::sqrt(aa);
        if (aa > 0 && bb > 0)
            e->cosine = all.ab.value() / (std::sqrt(aa) * std::sqrt(bb));
        e->error.clear();
        if (e->status == DiffStatus::Pending)
            e->status = all.differing == 0 ? DiffStatus::Same : DiffStatus::Changed;
    }
}

// Runs every job's chunks as one parallel pass.
void runJobs(const CheckpointData &a, const CheckpointData &b, std::vector<Job> &jobs, const DiffOptions &options)
{
    std::vector<std::uint64_t> firstItem; // prefix sums of the chunk counts
    std::uint64_t items = 0, total = 0;
    for (Job &job : jobs) {
        firstItem.push_back(items);
        if (!job.error.empty())
            continue;
        job.chunk = chunkSize(job.views.n);
        job.chunks = (job.views.n + job.chunk - 1) / job.chunk;
        job.partials.assign(job.chunks, {});
        items += job.chunks;
        total += job.views.complex ? job.views.n / 2 : job.views.n;
    }
    const unsigned threads = threadCount(options.threads);
    std::vector<std::vector<double>> buffers(std::min<std::uint64_t>(threadCount(options.threads), std::max<std::uint64_t>(items, 1)),
                                             std::vector<double>(2 * kBlock));
    // releasePages: chunks finished per job; the worker that finishes a job's last chunk drops
    // its pages (once per pair, as the statistics do per tensor).
    std::vector<std::atomic<std::uint64_t>> finished(options.releasePages ? jobs.size() : 0);
    ParallelWork runner(workOptions(options.progress, total, "diff", options.background));
    runner.run(items, threads, [&](std::uint64_t item, unsigned worker) {
        const auto it = std::upper_bound(firstItem.begin(), firstItem.end(), item);
        const auto j = static_cast<std::size_t>(it - firstItem.begin() - 1);
        Job &job = jobs[j];
        const std::uint64_t c = item - *(it - 1);
        double *x = buffers[worker].data();
        computeChunk(job, c, x, x + kBlock, job.partials[c]);
        if (!finished.empty() && finished[j].fetch_add(1) + 1 == job.chunks) {
            const ViewPair &v = job.views;
            MappedFile::releasePages({v.da->contiguousRun(), v.n * elementSize(v.a.dtype)});
            MappedFile::releasePages({v.db->contiguousRun(), v.n * elementSize(v.b.dtype)});
        }
        const std::uint64_t begin = c * job.chunk;
        const std::uint64_t len = std::min(job.views.n, begin + job.chunk) - begin;
        runner.advance(job.views.complex ? len / 2 : len);
    });
    runner.finish();
    // Issue 6: bytes read from a file that changed meanwhile are meaningless.
    const bool changedA = std::any_of(a.files.begin(), a.files.end(), [](const auto &f) { return f && f->changedOnDisk(); });
    const bool changedB = std::any_of(b.files.begin(), b.files.end(), [](const auto &f) { return f && f->changedOnDisk(); });
    for (Job &job : jobs) {
        if (job.error.empty() && (changedA || changedB))
            job.error = (changedA ? a.file : b.file) + ": " + kFileChangedMessage;
        finishJob(job);
    }
}

// Prepares the job of an entry (views and decoders; errors go to job.error).
Job makeJob(const CheckpointData &a, const CheckpointData &b, const DiffEntry &e)
{
    Job job;
    const TensorViewResult va = tensorView(a, e.a->tensor);
    const TensorViewResult vb = tensorView(b, e.b->tensor);
    if (!va.view || !vb.view) {
        job.error = !va.view ? "A: " + va.error : "B: " + vb.error;
        return job;
    }
    try {
        job.views = makeViewPair(*va.view, *vb.view);
    } catch (const FormatError &err) {
        job.error = err.message();
    }
    return job;
}

std::vector<Job> makeJobs(const CheckpointData &a, const CheckpointData &b, const std::vector<DiffEntry *> &entries)
{
    std::vector<Job> jobs;
    std::map<std::pair<int, int>, std::size_t> byPair;
    for (DiffEntry *e : entries) {
        const auto key = std::make_pair(e->a->tensor, e->b->tensor);
        if (auto it = byPair.find(key); it != byPair.end()) {
            jobs[it->second].entries.push_back(e);
            continue;
        }
        byPair.emplace(key, jobs.size());
        jobs.push_back(makeJob(a, b, *e));
        jobs.back().entries.push_back(e);
    }
    return jobs;
}

// ---- difference statistics --------------------------------------------------------------------

using StatsPartial = format::RunningMoments;

// B - A of a block, one value per logical element (complex: the modulus). Returns the count.
std::size_t differenceBlock(const ViewPair &v, std::uint64_t first, std::size_t len, double *x, double *y)
{
    v.decode(first, len, x, y);
    if (!v.complex) {
        for (std::size_t i = 0; i < len; ++i)
            x[i] = y[i] - x[i];
        return len;
    }
    for (std::size_t i = 0; i + 1 < len; i += 2)
        x[i / 2] = std::hypot(y[i] - x[i], y[i + 1] - x[i + 1]);
    return len / 2;
}

} // namespace

void computeTensorDiff(const CheckpointData &a, const CheckpointData &b, DiffEntry &entry, const DiffOptions &options)
{
    if (!needsMetrics(entry))
        return;
    std::vector<Job> jobs = makeJobs(a, b, {&entry});
    runJobs(a, b, jobs, options);
}

DiffResult diffCheckpoints(const CheckpointData &a, const CheckpointData &b, const DiffOptions &options)
{
    DiffResult result = alignCheckpoints(a, b, options);
    std::vector<DiffEntry *> todo;
    for (DiffEntry &e : result.entries)
        if (needsMetrics(e))
            todo.push_back(&e);
    std::vector<Job> jobs = makeJobs(a, b, todo);
    runJobs(a, b, jobs, options);
    return result;
}

TensorStats computeDifferenceStats(const StridedView &a, const StridedView &b, const StatsOptions &options)
{
    if (!isDecodable(a.dtype) || !isDecodable(b.dtype))
        throw FormatError(FormatError::Kind::Unsupported, "no statistics for dtype "
                                                              + std::string(dtypeName(isDecodable(a.dtype) ? b.dtype : a.dtype)));
    if (options.bins > kMaxBins)
        throw FormatError(FormatError::Kind::LimitExceeded,
                          "too many histogram bins (" + std::to_string(options.bins) + ")");
    const ViewPair v = makeViewPair(a, b);
    TensorStats stats;
    const std::uint64_t n = v.complex ? v.n / 2 : v.n;
    stats.numel = n;
    const std::uint64_t chunk = chunkSize(v.n);
    const std::uint64_t chunks = (v.n + chunk - 1) / chunk;
    const unsigned threads = threadCount(options.threads);
    std::vector<std::vector<double>> buffers(std::min<std::uint64_t>(threads, std::max<std::uint64_t>(chunks, 1)),
                                             std::vector<double>(2 * kBlock));
    ParallelWork runner(workOptions(options.progress, 2 * n, "difference statistics", options.background));
    const auto chunkElements = [&](std::uint64_t c) {
        const std::uint64_t len = std::min(v.n, (c + 1) * chunk) - c * chunk;
        return v.complex ? len / 2 : len;
    };

    // Pass 1: counts, extremes, sums; per block mean and squared deviations merged (Chan).
    std::vector<StatsPartial> partials(chunks);
    runner.run(chunks, threads, [&](std::uint64_t c, unsigned worker) {
        double *x = buffers[worker].data();
        StatsPartial &p = partials[c];
        const std::uint64_t end = std::min(v.n, (c + 1) * chunk);
        for (std::uint64_t first = c * chunk; first < end; first += kBlock) {
            const auto len = static_cast<std::size_t>(std::min<std::uint64_t>(kBlock, end - first));
            const std::size_t m = differenceBlock(v, first, len, x, x + kBlock);
            CompensatedSum s, q;
            std::uint64_t count = 0;
            for (std::size_t i = 0; i < m; ++i) {
                const double d = x[i];
                if (d == 0)
                    ++p.zeros;
                if (!finite(d)) {
                    if (std::isnan(d))
                        ++p.nan;
                    else if (d > 0)
                        ++p.posinf;
                    else
                        ++p.neginf;
                    continue;
                }
                ++count;
                s.add(d);
                q.add(d * d);
                p.min = std::min(p.min, d);
                p.max = std::max(p.max, d);
            }
            if (count == 0)
                continue;
            const double mean = s.value() / static_cast<double>(count);
            double m2 = 0;
            for (std::size_t i = 0; i < m; ++i)
                if (finite(x[i]))
                    m2 += (x[i] - mean) * (x[i] - mean);
            p.sum.add(s);
            p.sumSq.add(q);
            p.mergeMoments(count, mean, m2);
        }
        runner.advance(chunkElements(c));
    });
    StatsPartial all;
    for (const StatsPartial &p : partials)
        all.merge(p);
    stats.nan = all.nan;
    stats.posinf = all.posinf;
    stats.neginf = all.neginf;
    stats.zeros = all.zeros;
    stats.finite = all.finite;
    if (all.finite > 0) {
        stats.min = all.min;
        stats.max = all.max;
        stats.mean = all.sum.value() / static_cast<double>(all.finite);
        stats.l2 = std::sqrt(all.sumSq.value());
    }
    if (all.finite > 1)
        stats.std = std::sqrt(std::max(0.0, all.m2) / static_cast<double>(all.finite - 1));

    // Pass 2: the histogram, with computeStats' range rule and torch.histc's bins (histBin).
    if (all.finite > 0 && options.bins > 0) {
        double lo = options.rangeLo.value_or(all.min);
        double hi = options.rangeHi.value_or(all.max);
        if (lo > hi)
            std::swap(lo, hi);
        if (lo == hi) {
            lo -= 0.5;
            hi += 0.5;
            if (lo == hi) {
                lo = std::nextafter(lo, -kInf);
                hi = std::nextafter(hi, kInf);
            }
        }
        stats.histLo = lo;
        stats.histHi = hi;
        if (std::isfinite(lo) && std::isfinite(hi)) {
            const auto bins = static_cast<std::size_t>(options.bins);
            std::vector<std::vector<std::uint64_t>> hists(buffers.size(), std::vector<std::uint64_t>(bins));
            runner.run(chunks, threads, [&](std::uint64_t c, unsigned worker) {
                double *x = buffers[worker].data();
                std::uint64_t *h = hists[worker].data();
                const std::uint64_t end = std::min(v.n, (c + 1) * chunk);
                for (std::uint64_t first = c * chunk; first < end; first += kBlock) {
                    const auto len = static_cast<std::size_t>(std::min<std::uint64_t>(kBlock, end - first));
                    const std::size_t m = differenceBlock(v, first, len, x, x + kBlock);
                    for (std::size_t i = 0; i < m; ++i) {
                        if (!finite(x[i]))
                            continue;
                        const int k = histBin(x[i], lo, hi, options.bins);
                        if (k >= 0)
                            ++h[k];
                    }
                }
                runner.advance(chunkElements(c));
            });
            stats.hist.assign(bins, 0);
            for (const auto &h : hists)
                for (std::size_t i = 0; i < bins; ++i)
                    stats.hist[i] += h[i];
        }
    }
    runner.finish();
    throwIfViewChanged(a);
    throwIfViewChanged(b);
    return stats;
}

} // namespace ckpt
