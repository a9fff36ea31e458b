// SPDX-License-Identifier: MIT
#include "mappedfile.h"

#include "formaterror.h"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <mutex>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace ckpt::format {

namespace {

// The SIGBUS handler's view of our live mappings. A fixed array of atomics: the handler may run
// on any thread at any moment, so it can neither take a lock nor follow memory that another
// thread might free. open()/~MappedFile() fill and clear slots under g_registryMutex; the
// handler only reads `begin`/`end` and sets `faulted`. A slot is cleared before its mapping is
// unmapped, and a mapping cannot be unmapped while a thread reads it (readers hold the
// shared_ptr), so a fault always finds its slot.
struct Slot
{
    std::atomic<std::uintptr_t> begin{0};
    std::atomic<std::uintptr_t> end{0};
    std::atomic<int> faulted{0};
    const MappedFile *owner = nullptr; // guarded by g_registryMutex; never read by the handler
};
constexpr int kSlots = 4096; // more simultaneous mappings are still mapped, only unprotected
Slot g_slots[kSlots];
std::mutex g_registryMutex;
std::atomic<std::uint64_t> g_faults{0};
std::uintptr_t g_pageSize = 4096;
struct sigaction g_previous {};
std::once_flag g_installOnce;

static_assert(std::atomic<std::uintptr_t>::is_always_lock_free && std::atomic<int>::is_always_lock_free,
              "the SIGBUS handler needs lock-free atomics");

void chainToPrevious(int sig, siginfo_t *info, void *context)
{
    if (g_previous.sa_flags & SA_SIGINFO) {
        if (g_previous.sa_sigaction) {
            g_previous.sa_sigaction(sig, info, context);
            return;
        }
    } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
        g_previous.sa_handler(sig);
        return;
    }
    // Nobody else handles it: die as SIGBUS would have. For a real fault, returning re-runs the
    // faulting instruction with the default action in place; a SIGBUS sent by kill() is re-sent.
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    ::sigaction(SIGBUS, &dfl, nullptr);
    if (info->si_code <= 0)
        ::raise(SIGBUS);
}

// Async-signal-safe: atomics, and the mmap system call made directly (not through a possibly
// intercepted libc wrapper). Replacing the rest of the mapping at once, rather than one page,
// spares one signal per page of a tensor that lies past the new end of the file.
void onSigbus(int sig, siginfo_t *info, void *context)
{
    const int savedErrno = errno;
    const auto addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
    if (info->si_code > 0) {
        for (Slot &s : g_slots) {
            const std::uintptr_t begin = s.begin.load(std::memory_order_acquire);
            if (begin == 0 || addr < begin)
                continue;
            const std::uintptr_t end = s.end.load(std::memory_order_acquire);
            if (addr >= end)
                continue;
            const std::uintptr_t page = addr & ~(g_pageSize - 1);
            const long r = ::syscall(SYS_mmap, page, end - page, PROT_READ,
                                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
            if (r == -1)
                break; // cannot repair: fall through to the previous handler
            s.faulted.store(1, std::memory_order_release);
            g_faults.fetch_add(1, std::memory_order_relaxed);
            errno = savedErrno;
            return;
        }
    }
    errno = savedErrno;
    chainToPrevious(sig, info, context);
}

void installHandler()
{
    const long ps = ::sysconf(_SC_PAGESIZE);
    if (ps > 0)
        g_pageSize = static_cast<std::uintptr_t>(ps);
    struct sigaction sa {};
    sa.sa_sigaction = onSigbus;
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGBUS, &sa, &g_previous);
}

int registerMapping(const MappedFile *owner, const void *data, std::size_t length)
{
    std::call_once(g_installOnce, installHandler);
    std::lock_guard lock(g_registryMutex);
    for (int i = 0; i < kSlots; ++i) {
        Slot &s = g_slots[i];
        if (s.owner)
            continue;
        s.owner = owner;
        s.faulted.store(0, std::memory_order_relaxed);
        const auto begin = reinterpret_cast<std::uintptr_t>(data);
        s.end.store(begin + length, std::memory_order_release);
        s.begin.store(begin, std::memory_order_release);
        return i;
    }
    return -1;
}

void unregisterMapping(int slot)
{
    std::lock_guard lock(g_registryMutex);
    Slot &s = g_slots[slot];
    s.begin.store(0, std::memory_order_release);
    s.end.store(0, std::memory_order_release);
    s.owner = nullptr;
}

std::int64_t mtimeNs(const struct stat &st)
{
    return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

} // namespace

std::shared_ptr<const MappedFile> MappedFile::open(const std::string &path)
{
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        throw FormatError(FormatError::Kind::Io, std::string("cannot open: ") + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const int err = errno;
        ::close(fd);
        throw FormatError(FormatError::Kind::Io, std::string("cannot stat: ") + std::strerror(err));
    }
    if (S_ISDIR(st.st_mode)) {
        ::close(fd);
        throw FormatError(FormatError::Kind::Io, "is a directory");
    }
    std::shared_ptr<MappedFile> file(new MappedFile);
    file->m_path = path;
    file->m_fd = fd;
    file->m_size = static_cast<std::uint64_t>(st.st_size);
    file->m_mtimeNs = mtimeNs(st);
    if (file->m_size > 0) {
        const auto length = static_cast<std::size_t>(file->m_size);
        void *p = ::mmap(nullptr, length, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            const int err = errno;
            throw FormatError(FormatError::Kind::Io, std::string("cannot map: ") + std::strerror(err));
        }
        file->m_data = static_cast<const std::uint8_t *>(p);
        file->m_mapLength = length;
        // The kernel maps whole pages: the handler covers up to the end of the last one.
        const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
        file->m_slot = registerMapping(file.get(), p, (length + page - 1) / page * page);
    }
    return file;
}

MappedFile::~MappedFile()
{
    if (m_slot >= 0)
        unregisterMapping(m_slot);
    if (m_data)
        ::munmap(const_cast<std::uint8_t *>(m_data), m_mapLength);
    if (m_fd >= 0)
        ::close(m_fd);
}

bool MappedFile::changedOnDisk() const noexcept
{
    if (m_slot >= 0 && g_slots[m_slot].faulted.load(std::memory_order_acquire))
        return true;
    struct stat st {};
    if (::fstat(m_fd, &st) != 0)
        return true;
    return static_cast<std::uint64_t>(st.st_size) != m_size || mtimeNs(st) != m_mtimeNs;
}

void MappedFile::throwIfChanged() const
{
    if (changedOnDisk())
        throw FormatError(FormatError::Kind::Io, kFileChangedMessage);
}

bool MappedFile::changedOnDisk(ByteView bytes) noexcept
{
    if (!bytes.data)
        return false;
    const auto p = reinterpret_cast<std::uintptr_t>(bytes.data);
    std::lock_guard lock(g_registryMutex);
    for (const Slot &s : g_slots) {
        if (s.owner && p >= s.begin.load(std::memory_order_relaxed) && p < s.end.load(std::memory_order_relaxed))
            return s.owner->changedOnDisk();
    }
    return false;
}

void MappedFile::throwIfChanged(ByteView bytes)
{
    if (changedOnDisk(bytes))
        throw FormatError(FormatError::Kind::Io, kFileChangedMessage);
}

void MappedFile::releasePages(ByteView bytes) noexcept
{
#ifdef __linux__
    if (!bytes.data || bytes.size == 0)
        return;
    static const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    const auto p = reinterpret_cast<std::uintptr_t>(bytes.data);
    std::lock_guard lock(g_registryMutex);
    for (const Slot &s : g_slots) {
        const std::uintptr_t begin = s.begin.load(std::memory_order_relaxed);
        const std::uintptr_t end = s.end.load(std::memory_order_relaxed);
        if (!s.owner || p < begin || p >= end)
            continue;
        const std::uintptr_t from = (p + page - 1) & ~(page - 1);
        const std::uintptr_t to = std::min<std::uintptr_t>(end, p + bytes.size) & ~(page - 1);
        if (to > from)
            (void)::madvise(reinterpret_cast<void *>(from), to - from, MADV_DONTNEED);
        return;
    }
#else
    (void)bytes;
#endif
}

std::uint64_t MappedFile::faultCount() noexcept
{
    return g_faults.load(std::memory_order_relaxed);
}

void adviseHugePages(const void *p, std::size_t bytes) noexcept
{
#ifdef MADV_HUGEPAGE
    constexpr std::uintptr_t kHuge = std::uintptr_t(2) << 20;
    const auto start = reinterpret_cast<std::uintptr_t>(p);
    const std::uintptr_t first = (start + kHuge - 1) & ~(kHuge - 1);
    const std::uintptr_t last = (start + bytes) & ~(kHuge - 1);
    if (bytes >= kHuge && last > first)
        ::madvise(reinterpret_cast<void *>(first), last - first, MADV_HUGEPAGE);
#else
    (void)p;
    (void)bytes;
#endif
}

} // namespace ckpt::format
