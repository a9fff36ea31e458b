// SPDX-License-Identifier: MIT
#pragma once

#include "formaterror.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace ckpt::format {

/// Lowers the calling thread's scheduling priority to nice +10 (Linux: the nice value is per
/// thread). On a 2-core machine a UI thread that competes with two workers on equal terms waits
/// 12-16 ms for a core every few ms and the window stalls for 100+ ms (B5, docs/BENCHMARKS.md);
/// at nice +10 a worker weighs about a tenth of it. Elsewhere: nothing.
void lowerThreadPriority() noexcept;

/// The worker pool of the statistics and the comparison: runs fn(item, worker) for items
/// [0, count) on up to `threads` workers that take items from a shared counter, reports
/// progress (one reporter at a time, `done` only growing, the final done == total once) and
/// stops on cancel. Items must not depend on the thread count for results to be identical for
/// any number of threads; `worker` is below min(threads, count) and indexes per-worker buffers.
class ParallelWork
{
public:
    struct Options
    {
        /// done of total; false cancels (the workers stop after their item, or at their next
        /// step(), and run()/finish() throw FormatError(Cancelled, "<what> cancelled")).
        const std::function<bool(std::uint64_t done, std::uint64_t total)> *progress = nullptr;
        std::uint64_t total = 0;
        std::uint64_t reportStep = 1 << 20; ///< units of `total` between two reports, at least
        const char *what = "work";          ///< names the work in the cancel message
        /// Every worker on a thread of its own at nice +10 while the calling thread waits (the
        /// GUI's jobs: a UI thread never shares its core with a worker on equal terms), when
        /// `total` is at least kBackgroundFrom. Otherwise the calling thread is worker 0.
        bool background = false;
    };

    /// Below this much work (units of `total`: well under a millisecond) background work runs
    /// on the calling thread, which is never the UI thread: starting a thread would cost more
    /// than the work (a health scan or a comparison of 100,000 small tensors).
    static constexpr std::uint64_t kBackgroundFrom = 1 << 18;

    explicit ParallelWork(const Options &options) : m_options(options)
    {
        m_options.reportStep = std::max<std::uint64_t>(1, m_options.reportStep);
        m_options.background = m_options.background && m_options.total >= kBackgroundFrom;
    }

    /// Rethrows the first exception of any worker; throws Cancelled when asked to.
    template <class Fn>
    void run(std::uint64_t count, unsigned threads, Fn &&fn)
    {
        std::atomic<std::uint64_t> next{0};
        auto work = [&](unsigned worker) {
            try {
                while (!m_stop.load(std::memory_order_relaxed)) {
                    const std::uint64_t i = next.fetch_add(1, std::memory_order_relaxed);
                    if (i >= count)
                        break;
                    fn(i, worker);
                }
            } catch (...) {
                std::lock_guard lock(m_errorMutex);
                if (!m_error)
                    m_error = std::current_exception();
                m_stop.store(true);
            }
        };
        threads = static_cast<unsigned>(std::clamp<std::uint64_t>(count, 1, std::max(1u, threads)));
        std::vector<std::thread> pool;
        const unsigned first = m_options.background ? 0 : 1;
        for (unsigned w = first; w < threads; ++w) {
            try {
                if (m_options.background)
                    pool.emplace_back([&work, w] {
                        lowerThreadPriority();
                        work(w);
                    });
                else
                    pool.emplace_back(work, w);
            } catch (const std::system_error &) {
                break; // fewer threads: the shared counter still covers every item
            }
        }
        if (!m_options.background || pool.empty())
            work(0);
        for (auto &t : pool)
            t.join();
        if (m_error)
            std::rethrow_exception(m_error);
        throwIfCancelled();
    }

    /// From a worker, after an item: `n` more units done.
    void advance(std::uint64_t n);
    /// From a worker inside a long item: advance(n), then whether to go on (false: cancelled
    /// or another worker failed), so that cancel does not wait for the end of the item.
    bool step(std::uint64_t n)
    {
        advance(n);
        return !m_stop.load(std::memory_order_relaxed);
    }
    /// From the calling thread at the end: the final report (done == total); throws Cancelled
    /// when the work was cancelled.
    void finish();

private:
    void report();
    void throwIfCancelled() const;

    Options m_options;
    std::atomic<std::uint64_t> m_done{0};
    std::atomic<std::uint64_t> m_reported{0};
    bool m_finalReported = false; // guarded by m_progressMutex
    std::atomic<bool> m_stop{false};
    std::atomic<bool> m_cancelled{false};
    std::mutex m_progressMutex;
    std::mutex m_errorMutex;
    std::exception_ptr m_error;
};

} // namespace ckpt::format
