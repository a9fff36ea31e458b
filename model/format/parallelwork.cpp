// SPDX-License-Identifier: MIT
#include "parallelwork.h"

#ifdef __linux__
#include <cerrno>
#include <sys/resource.h>
#include <unistd.h>
#endif

namespace ckpt::format {

void lowerThreadPriority() noexcept
{
#ifdef __linux__
    const auto tid = static_cast<id_t>(::gettid());
    errno = 0;
    const int now = ::getpriority(PRIO_PROCESS, tid);
    if (errno == 0 && now < 10)
        (void)::setpriority(PRIO_PROCESS, tid, 10);
#endif
}

void ParallelWork::advance(std::uint64_t n)
{
    if (!m_options.progress || !*m_options.progress)
        return;
    const std::uint64_t done = m_done.fetch_add(n, std::memory_order_relaxed) + n;
    if (done - m_reported.load(std::memory_order_relaxed) < m_options.reportStep && done < m_options.total)
        return;
    report();
}

void ParallelWork::finish()
{
    if (m_options.progress && *m_options.progress) {
        m_done.store(m_options.total);
        report();
    }
    throwIfCancelled();
}

void ParallelWork::report()
{
    // One reporter at a time, values only growing: the callback sees a monotone sequence.
    std::unique_lock lock(m_progressMutex, std::try_to_lock);
    if (!lock.owns_lock())
        return;
    const std::uint64_t total = m_options.total;
    const std::uint64_t done = std::min(m_done.load(), total);
    if (done == total ? m_finalReported : done <= m_reported.load())
        return;
    m_finalReported = done == total;
    m_reported.store(done);
    if (!(*m_options.progress)(done, total)) {
        m_cancelled.store(true);
        m_stop.store(true);
    }
}

void ParallelWork::throwIfCancelled() const
{
    if (m_cancelled.load())
        throw FormatError(FormatError::Kind::Cancelled, std::string(m_options.what) + " cancelled");
}

} // namespace ckpt::format
