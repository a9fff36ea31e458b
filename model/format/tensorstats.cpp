// SPDX-License-Identifier: MIT
#include "tensorstats.h"

#include "compensatedsum.h"
#include "formaterror.h"
#include "mappedfile.h"
#include "parallelwork.h"
#include "statskernels.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstring>
#include <exception>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>

namespace ckpt::format {

using namespace statskernels;

namespace {

constexpr std::uint64_t kMinChunk = 32 * kBlock;     // elements per work item
constexpr std::uint64_t kMaxChunks = 1 << 16;        // bounds the per-chunk partial results
constexpr int kMaxBins = 1 << 24;
constexpr std::uint64_t kProgressBytes = 4u << 20;   // report at most every 4 MiB
constexpr std::uint64_t kStepElements = 32 * kBlock;  // within a chunk, check for cancel this often

} // namespace

int histBin(double x, double lo, double hi, int bins) noexcept
{
    if (bins <= 0)
        return -1;
    return HistRule(lo, hi, bins, false).exact(x);
}

namespace {

// The histogram range of PRODUCT.md 4 (explicit or [min, max], widened when empty); false when
// there is no usable range.
bool histogramRange(const StatsOptions &options, double min, double max, double &lo, double &hi)
{
    lo = options.rangeLo.value_or(min);
    hi = options.rangeHi.value_or(max);
    if (lo > hi)
        std::swap(lo, hi);
    if (lo == hi) {
        lo -= 0.5;
        hi += 0.5;
        if (lo == hi) { // |value| so large that 0.5 vanishes
            lo = std::nextafter(lo, -kInf);
            hi = std::nextafter(hi, kInf);
        }
    }
    return std::isfinite(lo) && std::isfinite(hi);
}

void finishMoments(TensorStats &stats, const Partial &all)
{
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
}

// 2-byte dtypes switch to pattern counting from this many elements on (below, the 64K-entry
// tables cost more than they save); 1-byte dtypes always count patterns.
constexpr std::uint64_t kPatternMinElements = 1 << 18;

} // namespace

static TensorStats computeStatsOfView(const StridedView &view, const StatsOptions &options)
{
    if (!isDecodable(view.dtype))
        throw FormatError(FormatError::Kind::Unsupported,
                          "no statistics for dtype " + std::string(dtypeName(view.dtype)));
    if (options.bins > kMaxBins)
        throw FormatError(FormatError::Kind::LimitExceeded,
                          "too many histogram bins (" + std::to_string(options.bins) + ")");
    const ElementDecoder decoder(view, /*anyOrder=*/true);
    TensorStats stats;
    const std::uint64_t n = decoder.numel();
    stats.numel = n;

    std::uint64_t chunk = std::max(kMinChunk, (n + kMaxChunks - 1) / kMaxChunks);
    chunk = (chunk + kBlock - 1) / kBlock * kBlock;
    const std::uint64_t chunks = (n + chunk - 1) / chunk;
    unsigned threads = options.threads ? options.threads : std::thread::hardware_concurrency();
    threads = static_cast<unsigned>(std::clamp<std::uint64_t>(chunks, 1, std::max(1u, threads)));

    const std::uint64_t esize = std::max<std::uint64_t>(1, elementSize(view.dtype));
    ParallelWork::Options work;
    work.progress = &options.progress;
    work.total = 2 * n;
    work.reportStep = kProgressBytes / esize;
    work.what = "statistics";
    work.background = options.background;
    ParallelWork runner(work);
    // releasePages: the view's pages go when its statistics are done (one call per tensor;
    // dropping them chunk by chunk from the workers cost more in TLB shootdowns than it saved).
    struct PageRelease
    {
        const std::uint8_t *run;
        std::uint64_t bytes;
        ~PageRelease()
        {
            if (run)
                MappedFile::releasePages({run, bytes});
        }
    } pageRelease{options.releasePages ? decoder.contiguousRun() : nullptr, n * esize};

    // 1- and 2-byte dtypes: count the storage patterns in one pass and derive everything from
    // the table (each distinct value weighted by its count; the histogram bins each distinct
    // value with the same rule).
    const std::uint32_t patterns = decoder.patternCount();
    if (patterns == 256 || (patterns > 0 && n >= kPatternMinElements)) {
        // 2-byte dtypes count into 32-bit tables (see countPatterns), moved into a worker's
        // 64-bit one (made then) before 2^31 elements.
        const bool narrow = patterns == 65536;
        constexpr std::uint64_t kNarrowFlush = std::uint64_t(1) << 31;
        std::vector<std::vector<std::uint64_t>> tables(threads);
        std::vector<std::vector<std::uint32_t>> narrowTables(threads);
        std::vector<std::uint64_t> narrowCounted(threads, 0);
        for (unsigned w = 0; w < threads; ++w) {
            if (narrow)
                narrowTables[w].assign(patterns, 0u);
            else
                tables[w].assign(patterns, 0);
        }
        auto flushNarrow = [&](unsigned worker) {
            std::vector<std::uint64_t> &wide = tables[worker];
            wide.resize(patterns, 0);
            std::vector<std::uint32_t> &t = narrowTables[worker];
            for (std::uint32_t p = 0; p < patterns; ++p)
                wide[p] += t[p];
            std::fill(t.begin(), t.end(), 0u);
            narrowCounted[worker] = 0;
        };
        runner.run(chunks, threads, [&](std::uint64_t c, unsigned worker) {
            const std::uint64_t begin = c * chunk;
            const std::uint64_t end = std::min(n, begin + chunk);
            for (std::uint64_t b = begin; b < end; b += kStepElements) {
                const std::uint64_t len = std::min(kStepElements, end - b);
                if (narrow) {
                    if (narrowCounted[worker] + len > kNarrowFlush)
                        flushNarrow(worker);
                    decoder.countPatterns(b, len, narrowTables[worker].data());
                    narrowCounted[worker] += len;
                } else {
                    decoder.countPatterns(b, len, tables[worker].data());
                }
                if (!runner.step(2 * len))
                    return;
            }
        });
        std::vector<std::uint64_t> table(patterns, 0);
        for (unsigned w = 0; w < threads; ++w) {
            for (std::uint32_t p = 0; p < tables[w].size(); ++p)
                table[p] += tables[w][p];
            for (std::uint32_t p = 0; p < narrowTables[w].size(); ++p)
                table[p] += narrowTables[w][p];
        }
        std::vector<double> values(patterns);
        Partial all;
        for (std::uint32_t p = 0; p < patterns; ++p) {
            const std::uint64_t c = table[p];
            if (c == 0)
                continue;
            const double v = values[p] = decoder.patternValue(p, true);
            const double weight = static_cast<double>(c);
            if (std::isnan(v)) {
                all.nan += c;
            } else if (v == kInf) {
                all.posinf += c;
            } else if (v == -kInf) {
                all.neginf += c;
            } else {
                if (v == 0)
                    all.zeros += c;
                all.finite += c;
                all.min = std::min(all.min, v);
                all.max = std::max(all.max, v);
                all.sum.add(weight * v);
                all.sumSq.add(weight * v * v);
            }
        }
        if (all.finite > 0) {
            const double mean = all.sum.value() / static_cast<double>(all.finite);
            CompensatedSum m2;
            for (std::uint32_t p = 0; p < patterns; ++p)
                if (table[p] != 0 && std::isfinite(values[p]))
                    m2.add(static_cast<double>(table[p]) * (values[p] - mean) * (values[p] - mean));
            all.m2 = m2.value();
        }
        finishMoments(stats, all);
        double lo = 0, hi = 0;
        if (all.finite > 0 && options.bins > 0) {
            const bool usable = histogramRange(options, all.min, all.max, lo, hi);
            stats.histLo = lo;
            stats.histHi = hi;
            if (usable) {
                const HistRule rule(lo, hi, options.bins, false);
                stats.hist.assign(static_cast<std::size_t>(options.bins), 0);
                for (std::uint32_t p = 0; p < patterns; ++p) {
                    if (table[p] == 0 || !std::isfinite(values[p]))
                        continue;
                    const int b = rule.exact(values[p]);
                    if (b >= 0)
                        stats.hist[static_cast<std::size_t>(b)] += table[p];
                }
            }
        }
        runner.finish();
        return stats;
    }

    // A fixed histogram range is known up front: the histogram goes along with pass 1.
    double lo = 0, hi = 0;
    const bool fixedRange = options.rangeLo && options.rangeHi && options.bins > 0;
    const bool fixedUsable = fixedRange && histogramRange(options, 0, 0, lo, hi);
    std::optional<HistRule> rule;
    const auto bins = static_cast<std::size_t>(std::max(0, options.bins));
    // Pair counters hold up to a chunk's count: only when that fits 32 bits.
    std::vector<HistAccumulator> hists(threads, HistAccumulator(bins, chunk < (1ull << 31)));

    // Contiguous native float32 with AVX2: read in place (see blockMomentsF32).
    const std::uint8_t *f32 = nullptr;
#if CKPT_X86_DISPATCH
    static const bool avx2 = __builtin_cpu_supports("avx2");
    if (avx2)
        f32 = decoder.contiguousFloat32();
    std::optional<F32HistRule> f32Rule;
    auto setRule = [&](double l, double h) {
        rule.emplace(l, h, options.bins);
        f32Rule.emplace(*rule);
    };
    // Histogram of `len` elements from `b`: in place when the float rule allows it.
    auto histBlock = [&](HistAccumulator &acc, std::uint64_t b, std::size_t len, double *buf, bool decoded) {
        if (f32 && f32Rule->usable)
            return acc.addF32(*rule, *f32Rule, f32 + 4 * b, len);
        if (!decoded)
            decoder.decode(b, len, buf, true);
        acc.add(*rule, buf, len);
    };
#else
    auto setRule = [&](double l, double h) { rule.emplace(l, h, options.bins); };
    auto histBlock = [&](HistAccumulator &acc, std::uint64_t b, std::size_t len, double *buf, bool decoded) {
        if (!decoded)
            decoder.decode(b, len, buf, true);
        acc.add(*rule, buf, len);
    };
#endif
    if (fixedUsable)
        setRule(lo, hi);

    // Pass 1: counts, extremes, sums and (per block, merged with Chan's formula) the sum of
    // squared deviations.
    std::vector<Partial> partials(chunks);
    std::vector<std::vector<double>> buffers(threads, std::vector<double>(kBlock));
    runner.run(chunks, threads, [&](std::uint64_t c, unsigned worker) {
        double *buf = buffers[worker].data();
        Partial p;
        const std::uint64_t begin = c * chunk;
        const std::uint64_t end = std::min(n, begin + chunk);
        std::uint64_t sinceStep = 0;
        for (std::uint64_t b = begin; b < end; b += kBlock) {
            const auto len = static_cast<std::size_t>(std::min<std::uint64_t>(kBlock, end - b));
#if CKPT_X86_DISPATCH
            if (f32) {
                accumulateBlockF32(p, f32 + 4 * b, len, buf);
                if (rule)
                    histBlock(hists[worker], b, len, buf, false);
            } else
#endif
            {
                decoder.decode(b, len, buf, true);
                accumulateBlock(p, buf, len);
                if (rule)
                    histBlock(hists[worker], b, len, buf, true);
            }
            if ((sinceStep += len) >= kStepElements) {
                if (!runner.step((fixedRange ? 2 : 1) * sinceStep))
                    return;
                sinceStep = 0;
            }
        }
        if (rule)
            hists[worker].flushPairs();
        partials[c] = p;
        runner.advance((fixedRange ? 2 : 1) * sinceStep);
    });
    Partial all;
    for (const Partial &p : partials)
        all.merge(p);
    finishMoments(stats, all);

    // Pass 2: the histogram over [lo, hi] = [min, max] (or whatever of it is not fixed).
    if (all.finite > 0 && options.bins > 0) {
        bool usable = fixedUsable;
        if (!fixedRange) {
            usable = histogramRange(options, all.min, all.max, lo, hi);
            if (usable) {
                setRule(lo, hi);
#if CKPT_X86_DISPATCH
                // [min, max] of a tensor without NaN/Inf: nothing can fall outside
                f32Rule->allIn = all.nan == 0 && all.posinf == 0 && all.neginf == 0
                                 && static_cast<double>(f32Rule->loIn) <= all.min
                                 && static_cast<double>(f32Rule->hiIn) >= all.max;
#endif
                runner.run(chunks, threads, [&](std::uint64_t c, unsigned worker) {
                    double *buf = buffers[worker].data();
                    const std::uint64_t begin = c * chunk;
                    const std::uint64_t end = std::min(n, begin + chunk);
                    std::uint64_t sinceStep = 0;
                    for (std::uint64_t b = begin; b < end; b += kBlock) {
                        const auto len = static_cast<std::size_t>(std::min<std::uint64_t>(kBlock, end - b));
                        histBlock(hists[worker], b, len, buf, false);
                        if ((sinceStep += len) >= kStepElements) {
                            if (!runner.step(sinceStep))
                                return;
                            sinceStep = 0;
                        }
                    }
                    hists[worker].flushPairs();
                    runner.advance(sinceStep);
                });
            }
        }
        stats.histLo = lo;
        stats.histHi = hi;
        if (usable) {
            stats.hist.assign(bins, 0);
            for (const auto &h : hists)
                for (std::size_t i = 0; i < bins; ++i)
                    stats.hist[i] += h.hist[i];
        }
    }
    runner.finish();
    return stats;
}

namespace {

/// Statistics of a view with broadcast dimensions (stride 0, as `expand` makes) are those of the
/// view without them, each element counted k times (k = the product of those dimensions): a
/// 1-element storage expanded to 2^40 elements is summarised in one step instead of a loop over
/// 2^40 copies of one value (issue 6: a few bytes must not buy hours of work). Counts and the
/// histogram scale by k, mean/min/max stay, l2 scales by sqrt(k), and the sum of squared
/// deviations by k (std = sqrt(k M2 / (k n - 1))). A quantisation axis is never collapsed: its
/// scales differ along it even with stride 0.
TensorStats statsOfBroadcast(const StridedView &view, const StatsOptions &options)
{
    StridedView reduced = view;
    std::uint64_t k = 1;
    for (std::size_t d = 0; d < view.shape.size() && d < view.stride.size(); ++d) {
        if (view.stride[d] == 0 && view.shape[d] > 1 && static_cast<std::int64_t>(d) != view.quantAxis) {
            k *= static_cast<std::uint64_t>(view.shape[d]); // numel <= 2^63 - 1 was validated
            reduced.shape[d] = 1;
        }
    }
    if (k == 1)
        return computeStatsOfView(view, options);
    TensorStats r = computeStatsOfView(reduced, options);
    const std::uint64_t reducedFinite = r.finite;
    r.numel *= k;
    r.finite *= k;
    r.nan *= k;
    r.posinf *= k;
    r.neginf *= k;
    r.zeros *= k;
    for (auto &c : r.hist)
        c *= k;
    if (r.l2)
        r.l2 = *r.l2 * std::sqrt(static_cast<double>(k));
    if (r.finite > 1) {
        const double m2 = r.std ? *r.std * *r.std * static_cast<double>(reducedFinite - 1) : 0.0;
        r.std = std::sqrt(static_cast<double>(k) * m2 / static_cast<double>(r.finite - 1));
    }
    return r;
}

} // namespace

TensorStats computeStats(const StridedView &view, const StatsOptions &options)
{
    if (view.pieces) {
        // A split tensor: its pieces in any order are its elements (each read in memory order).
        std::vector<StridedView> pieces;
        pieces.reserve(view.pieces->size());
        for (const ViewPiece &p : *view.pieces)
            pieces.push_back(p.view);
        return computeStatsOfPieces(pieces, options);
    }
    TensorStats stats = statsOfBroadcast(view, options);
    // Issue 6: values read from a file that was truncated or rewritten meanwhile are meaningless
    // (pages past its new end read as zeros, see MappedFile).
    throwIfViewChanged(view);
    return stats;
}

void mergeStats(TensorStats &a, const TensorStats &b) noexcept
{
    const double na = static_cast<double>(a.finite);
    const double nb = static_cast<double>(b.finite);
    a.numel += b.numel;
    a.nan += b.nan;
    a.posinf += b.posinf;
    a.neginf += b.neginf;
    a.zeros += b.zeros;
    if (b.finite == 0)
        return;
    if (a.finite == 0) {
        a.finite = b.finite;
        a.min = b.min;
        a.max = b.max;
        a.mean = b.mean;
        a.std = b.std;
        a.l2 = b.l2;
        return;
    }
    const double ma = a.mean.value_or(0), mb = b.mean.value_or(0);
    const double m2a = na > 1 ? std::pow(a.std.value_or(0), 2) * (na - 1) : 0;
    const double m2b = nb > 1 ? std::pow(b.std.value_or(0), 2) * (nb - 1) : 0;
    const double n = na + nb;
    const double delta = mb - ma;
    const double mean = ma + delta * nb / n;
    const double m2 = m2a + m2b + delta * delta * na * nb / n;
    a.finite += b.finite;
    a.mean = mean;
    a.std = n > 1 ? std::optional<double>(std::sqrt(m2 / (n - 1))) : std::nullopt;
    if (b.min && (!a.min || *b.min < *a.min))
        a.min = b.min;
    if (b.max && (!a.max || *b.max > *a.max))
        a.max = b.max;
    const double la = a.l2.value_or(0), lb = b.l2.value_or(0);
    a.l2 = std::sqrt(la * la + lb * lb);
}

TensorStats computeStatsOfPieces(const std::vector<StridedView> &pieces, const StatsOptions &options)
{
    if (pieces.size() == 1)
        return computeStats(pieces.front(), options);
    std::uint64_t all = 0;
    for (const StridedView &p : pieces)
        all += p.numel();
    const bool fixedRange = options.rangeLo && options.rangeHi;
    const std::uint64_t rounds = fixedRange ? 1 : 2;
    std::uint64_t before = 0; // element visits reported by finished pieces, of 2 * all * rounds
    auto run = [&](const StridedView &piece, StatsOptions o, bool again) {
        // A small piece (FSDP shards a layer's weight into world-size pieces) is one worker's
        // job: starting workers and dropping pages per piece cost more than the piece (40,000
        // pieces of 32 KiB spent 16 s in the kernel). Pages read again by the histogram pass
        // are kept until then.
        if (piece.numel() < (1u << 20)) {
            o.threads = 1;
            o.releasePages = false;
        }
        if (again)
            o.releasePages = false;
        if (options.progress)
            o.progress = [&, before](std::uint64_t done, std::uint64_t) {
                return options.progress((before + done) / rounds, 2 * all);
            };
        TensorStats s = computeStats(piece, o);
        before += 2 * piece.numel();
        return s;
    };
    TensorStats total;
    std::vector<std::uint64_t> counts;
    for (const StridedView &p : pieces) {
        const TensorStats one = run(p, options, !fixedRange);
        mergeStats(total, one);
        if (fixedRange) {
            counts.resize(one.hist.size());
            for (std::size_t i = 0; i < one.hist.size(); ++i)
                counts[i] += one.hist[i];
        }
    }
    if (fixedRange) {
        total.hist = std::move(counts);
        total.histLo = *options.rangeLo;
        total.histHi = *options.rangeHi;
        return total;
    }
    if (total.finite == 0)
        return total;
    // The histogram over [min, max] of all pieces, by computeStats' rule for min == max.
    StatsOptions second = options;
    second.rangeLo = *total.min == *total.max ? *total.min - 0.5 : *total.min;
    second.rangeHi = *total.min == *total.max ? *total.max + 0.5 : *total.max;
    std::vector<std::uint64_t> sum(static_cast<std::size_t>(std::max(1, options.bins)), 0);
    for (const StridedView &p : pieces) {
        const TensorStats one = run(p, second, false);
        for (std::size_t i = 0; i < one.hist.size() && i < sum.size(); ++i)
            sum[i] += one.hist[i];
    }
    total.hist = std::move(sum);
    total.histLo = *second.rangeLo;
    total.histHi = *second.rangeHi;
    return total;
}

} // namespace ckpt::format
