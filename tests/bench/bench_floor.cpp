// SPDX-License-Identifier: MIT
// The memory floor of B3 (scripts/bench/run_bench.py): how long this machine takes to bring every
// byte of FILE into the CPU the way `ckpt-inspect stats` must, with no arithmetic at all, so that
// the table can say how much of our time is the machine's and how much is ours.
//
//   bench_floor FILE       prints {"ms": wall time} as one JSON line
//
// What it does is what the statistics do minus the statistics: the file is mapped read-only,
// both cores take 16 MiB blocks from a shared counter and read each block twice (the statistics
// need two passes: the histogram's range is the minimum and maximum of the first; the second pass
// finds the block in the cache when it fits), summing 64-bit words, and drop its pages
// (MADV_DONTNEED, as StatsOptions::releasePages does); then the file is unmapped. The clock runs
// from the mmap to the end of the munmap. The page cache must hold the file (run_bench.py reads
// it first), as for the measured commands.

#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

constexpr std::size_t kBlock = std::size_t(16) << 20;

std::uint64_t sumWords(const std::uint8_t *p, std::size_t n)
{
    std::uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    std::size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        std::uint64_t w[4];
        std::memcpy(w, p + i, sizeof w);
        s0 += w[0];
        s1 += w[1];
        s2 += w[2];
        s3 += w[3];
    }
    for (; i < n; ++i)
        s0 += p[i];
    return s0 + s1 + s2 + s3;
}

} // namespace

int main(int argc, char **argv)
{
    if (argc != 2) {
        std::fprintf(stderr, "usage: bench_floor FILE\n");
        return 2;
    }
    const int fd = ::open(argv[1], O_RDONLY | O_CLOEXEC);
    struct stat st{};
    if (fd < 0 || ::fstat(fd, &st) != 0 || st.st_size <= 0) {
        std::perror(argv[1]);
        return 2;
    }
    const auto size = static_cast<std::size_t>(st.st_size);
    const unsigned threads = std::max(1u, std::thread::hardware_concurrency());

    const auto start = std::chrono::steady_clock::now();
    void *map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        std::perror("mmap");
        return 2;
    }
    const auto *base = static_cast<const std::uint8_t *>(map);
    const std::size_t blocks = (size + kBlock - 1) / kBlock;
    std::atomic<std::size_t> next{0};
    std::vector<std::uint64_t> sums(threads);
    auto work = [&](unsigned worker) {
        std::uint64_t s = 0;
        for (std::size_t b; (b = next.fetch_add(1)) < blocks;) {
            const std::size_t at = b * kBlock, n = std::min(kBlock, size - at);
            s += sumWords(base + at, n);
            asm volatile("" ::: "memory"); // two passes: the second may not reuse the first
            s += sumWords(base + at, n);
            ::madvise(const_cast<std::uint8_t *>(base + at), n, MADV_DONTNEED);
        }
        sums[worker] = s;
    };
    std::vector<std::thread> pool;
    for (unsigned w = 1; w < threads; ++w)
        pool.emplace_back(work, w);
    work(0);
    for (auto &t : pool)
        t.join();
    ::munmap(map, size);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    ::close(fd);
    std::uint64_t all = 0;
    for (std::uint64_t s : sums)
        all += s;
    // The checksum keeps the reads from being optimised away.
    std::printf("{\"ms\": %.3f, \"threads\": %u, \"checksum\": %llu}\n", ms, threads,
                static_cast<unsigned long long>(all));
    return 0;
}
