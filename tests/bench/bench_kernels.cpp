// SPDX-License-Identifier: MIT
// Kernel micro-benchmarks (Google Benchmark): statistics, histogram, dtype conversion and pickle
// parsing. scripts/bench.sh runs them with CKPT_BENCH_DIR pointing at its generated inputs; the
// pickle benchmarks use the 100,000-tensor checkpoint there (many.pt) and fall back to the bundled
// sample.

#include "checkpointreader.h"
#include "mappedfile.h"
#include "pickleunpickler.h"
#include "tensordecode.h"
#include "tensorstats.h"
#include "zipreader.h"

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

using namespace ckpt::format;

namespace {

constexpr std::size_t kElements = 16u << 20; // 16 Mi elements: 64 MiB as float32

std::uint16_t toHalf(float f)
{
    // Round-to-nearest-even float -> IEEE half via the hardware-independent bit recipe (inputs
    // here are normal and well inside half's range).
    std::uint32_t x;
    std::memcpy(&x, &f, 4);
    const std::uint32_t sign = (x >> 16) & 0x8000u;
    const int exp = static_cast<int>((x >> 23) & 0xff) - 127 + 15;
    std::uint32_t mant = x & 0x7fffffu;
    if (exp <= 0)
        return static_cast<std::uint16_t>(sign);
    std::uint32_t h = sign | (static_cast<std::uint32_t>(exp) << 10) | (mant >> 13);
    const std::uint32_t rest = mant & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u)))
        ++h;
    return static_cast<std::uint16_t>(h);
}

std::uint16_t toBf16(float f)
{
    std::uint32_t x;
    std::memcpy(&x, &f, 4);
    x += 0x7fffu + ((x >> 16) & 1u);
    return static_cast<std::uint16_t>(x >> 16);
}

// Normal(0, 0.02) data in the three dtypes of B3, made once.
struct Data
{
    std::vector<float> f32;
    std::vector<std::uint16_t> f16, bf16;
    Data()
    {
        std::mt19937 rng(7);
        std::normal_distribution<float> nd(0.0f, 0.02f);
        f32.resize(kElements);
        f16.resize(kElements);
        bf16.resize(kElements);
        for (std::size_t i = 0; i < kElements; ++i) {
            f32[i] = nd(rng);
            f16[i] = toHalf(f32[i]);
            bf16[i] = toBf16(f32[i]);
        }
    }
};

const Data &data()
{
    static const Data d;
    return d;
}

StridedView viewOf(DType dtype)
{
    StridedView v;
    v.dtype = dtype;
    v.shape = {static_cast<std::int64_t>(kElements)};
    v.stride = {1};
    const Data &d = data();
    if (dtype == DType::Float32)
        v.storage = {reinterpret_cast<const std::uint8_t *>(d.f32.data()), kElements * 4};
    else if (dtype == DType::Float16)
        v.storage = {reinterpret_cast<const std::uint8_t *>(d.f16.data()), kElements * 2};
    else
        v.storage = {reinterpret_cast<const std::uint8_t *>(d.bf16.data()), kElements * 2};
    return v;
}

std::size_t elementBytes(DType dtype)
{
    return dtype == DType::Float32 ? 4 : 2;
}

// Everything `ckpt-inspect stats` computes for one tensor (moments, counts, 64-bin histogram).
void BM_Stats(benchmark::State &state, DType dtype, unsigned threads)
{
    const StridedView v = viewOf(dtype);
    StatsOptions options;
    options.threads = threads;
    for (auto _ : state) {
        TensorStats s = computeStats(v, options);
        benchmark::DoNotOptimize(s.mean);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kElements));
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kElements * elementBytes(dtype)));
}
BENCHMARK_CAPTURE(BM_Stats, f32_1thread, DType::Float32, 1u)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Stats, f32_2threads, DType::Float32, 2u)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Stats, bf16_2threads, DType::BFloat16, 2u)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Stats, f16_2threads, DType::Float16, 2u)->Unit(benchmark::kMillisecond)->UseRealTime();

// Histogram with a fixed range (the GUI's symmetric/custom ranges): one pass over the data.
void BM_HistogramFixedRange(benchmark::State &state)
{
    const StridedView v = viewOf(DType::Float32);
    StatsOptions options;
    options.threads = 1;
    options.bins = static_cast<int>(state.range(0));
    options.rangeLo = -0.1;
    options.rangeHi = 0.1;
    for (auto _ : state) {
        TensorStats s = computeStats(v, options);
        benchmark::DoNotOptimize(s.hist.data());
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kElements));
}
BENCHMARK(BM_HistogramFixedRange)->Arg(64)->Arg(4096)->Unit(benchmark::kMillisecond)->UseRealTime();

// The scalar bin rule (torch.histc's) on its own.
void BM_HistBin(benchmark::State &state)
{
    const std::vector<float> &f = data().f32;
    constexpr std::size_t n = 1u << 16;
    for (auto _ : state) {
        long sum = 0;
        for (std::size_t i = 0; i < n; ++i)
            sum += histBin(f[i], -0.1, 0.1, 64);
        benchmark::DoNotOptimize(sum);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(BM_HistBin);

// Decoding to double (what the values view and the moments pass read), one 16 KiB block at a time.
void BM_Decode(benchmark::State &state, DType dtype)
{
    const ElementDecoder decoder(viewOf(dtype), true);
    std::vector<double> out(2048);
    constexpr std::uint64_t n = 1u << 20;
    for (auto _ : state) {
        for (std::uint64_t first = 0; first < n; first += out.size())
            decoder.decode(first, out.size(), out.data(), true);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK_CAPTURE(BM_Decode, f32, DType::Float32);
BENCHMARK_CAPTURE(BM_Decode, bf16, DType::BFloat16);
BENCHMARK_CAPTURE(BM_Decode, f16, DType::Float16);

void BM_HalfToFloat(benchmark::State &state)
{
    const std::vector<std::uint16_t> &h = data().f16;
    constexpr std::size_t n = 1u << 16;
    for (auto _ : state) {
        float sum = 0;
        for (std::size_t i = 0; i < n; ++i)
            sum += halfToFloat(h[i]);
        benchmark::DoNotOptimize(sum);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(BM_HalfToFloat);

std::string pickleInput()
{
    const char *dir = std::getenv("CKPT_BENCH_DIR");
    if (dir) {
        const std::string p = std::string(dir) + "/many.pt";
        if (std::filesystem::exists(p))
            return p;
    }
    return std::string(CKPT_SOURCE_DIR) + "/resources/samples/sample_epoch1.pt";
}

// The pickle machine alone on data.pkl of the input (no torch interpretation).
void BM_Unpickle(benchmark::State &state)
{
    const std::string path = pickleInput();
    const auto file = MappedFile::open(path);
    const ZipReader zip(file->bytes(), path);
    const ZipEntry *entry = zip.findRelative("data.pkl");
    if (!entry) {
        state.SkipWithError("no data.pkl");
        return;
    }
    const RecordBytes pkl = zip.read(*entry);
    std::size_t nodes = 0;
    for (auto _ : state) {
        ValueGraph graph;
        PickleUnpickler unpickler(graph);
        benchmark::DoNotOptimize(unpickler.load(pkl.view, 0, 0, "data.pkl"));
        nodes = graph.size();
        state.PauseTiming(); // the graph's teardown is not part of parsing
        graph = ValueGraph();
        state.ResumeTiming();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * pkl.view.size));
    state.counters["nodes"] = static_cast<double>(nodes);
    state.SetLabel(std::filesystem::path(path).filename().string());
}
BENCHMARK(BM_Unpickle)->Unit(benchmark::kMillisecond)->UseRealTime();

// The whole open: zip directory, pickle, torch interpretation, tensor paths.
void BM_ReadCheckpoint(benchmark::State &state)
{
    const std::string path = pickleInput();
    std::size_t tensors = 0;
    for (auto _ : state) {
        auto d = readCheckpoint(path);
        if (!d || !d->ok()) {
            state.SkipWithError("read failed");
            return;
        }
        tensors = d->tensors.size();
        state.PauseTiming();
        d.reset();
        state.ResumeTiming();
    }
    state.counters["tensors"] = static_cast<double>(tensors);
    state.SetLabel(std::filesystem::path(path).filename().string());
}
BENCHMARK(BM_ReadCheckpoint)->Unit(benchmark::kMillisecond)->UseRealTime();

} // namespace

BENCHMARK_MAIN();
