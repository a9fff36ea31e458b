// SPDX-License-Identifier: MIT
// A counting allocator for the resource-limit tests (tst_limits, tst_walks): include it in
// exactly one source file of a test binary. It replaces the global operator new/delete.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>

#include <malloc.h>

// --- counting allocator -----------------------------------------------------------------------
// Every operator new of this process (the reader allocates only through it: vectors, strings,
// nodes) adds the block's usable size to g_current; g_peak is the high-water mark.
namespace {
std::atomic<std::int64_t> g_current{0};
std::atomic<std::int64_t> g_peak{0};

void *countedAlloc(std::size_t n)
{
    void *p = std::malloc(n ? n : 1);
    if (!p)
        throw std::bad_alloc();
    const auto now = g_current.fetch_add(static_cast<std::int64_t>(malloc_usable_size(p))) + static_cast<std::int64_t>(malloc_usable_size(p));
    std::int64_t peak = g_peak.load(std::memory_order_relaxed);
    while (now > peak && !g_peak.compare_exchange_weak(peak, now))
        ;
    return p;
}

void countedFree(void *p) noexcept
{
    if (!p)
        return;
    g_current.fetch_sub(static_cast<std::int64_t>(malloc_usable_size(p)));
    std::free(p);
}
} // namespace

void *operator new(std::size_t n) { return countedAlloc(n); }
void *operator new[](std::size_t n) { return countedAlloc(n); }
void *operator new(std::size_t n, const std::nothrow_t &) noexcept
{
    try {
        return countedAlloc(n);
    } catch (...) {
        return nullptr;
    }
}
void *operator new[](std::size_t n, const std::nothrow_t &) noexcept
{
    try {
        return countedAlloc(n);
    } catch (...) {
        return nullptr;
    }
}
void operator delete(void *p) noexcept { countedFree(p); }
void operator delete[](void *p) noexcept { countedFree(p); }
void operator delete(void *p, std::size_t) noexcept { countedFree(p); }
void operator delete[](void *p, std::size_t) noexcept { countedFree(p); }
