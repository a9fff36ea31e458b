// SPDX-License-Identifier: MIT
// The process launcher of scripts/bench/run_bench.py: runs one command and writes its wall time,
// peak RSS and CPU time as one JSON line to RESULT.
//
//   bench_launch RESULT CMD [ARG...]      (CMD: a full path; stdout, stderr and environment inherited)
//
// Why not fork in Python: Linux keeps the high-water RSS of the address space a process had before
// exec in its ru_maxrss, so a child forked from the Python benchmark driver reports at least
// Python's ~80 MB (and a vfork/posix_spawn child its parent's). This launcher is about 1 MB
// resident, below any child it measures, so the child's peak is its own (checked against
// /usr/bin/time, scripts/bench/notes.md). The clock starts just before fork() and stops when
// wait4() returns, so Python's start-up costs are not in the wall time; CKPT_BENCH_T0_NS is the
// CLOCK_REALTIME of that start, for bench_gui's "process start -> tree shown".

#include <sys/resource.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <unistd.h>

namespace {

long long nanoseconds(clockid_t clock)
{
    timespec ts{};
    clock_gettime(clock, &ts);
    return static_cast<long long>(ts.tv_sec) * 1'000'000'000LL + ts.tv_nsec;
}

long long microseconds(const timeval &tv)
{
    return static_cast<long long>(tv.tv_sec) * 1'000'000LL + tv.tv_usec;
}

} // namespace

int main(int argc, char **argv)
{
    if (argc < 3) {
        std::fprintf(stderr, "usage: bench_launch RESULT CMD [ARG...]\n");
        return 2;
    }
    char t0[32];
    std::snprintf(t0, sizeof t0, "%lld", nanoseconds(CLOCK_REALTIME));
    setenv("CKPT_BENCH_T0_NS", t0, 1);
    const long long start = nanoseconds(CLOCK_MONOTONIC);
    const pid_t pid = fork();
    if (pid < 0) {
        std::perror("bench_launch: fork");
        return 2;
    }
    if (pid == 0) {
        execv(argv[2], argv + 2);
        std::fprintf(stderr, "bench_launch: %s: %s\n", argv[2], std::strerror(errno));
        _exit(127);
    }
    int status = 0;
    rusage ru{};
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            std::perror("bench_launch: wait4");
            return 2;
        }
    }
    const long long wall = nanoseconds(CLOCK_MONOTONIC) - start;
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? -WTERMSIG(status) : -1;
    std::FILE *out = std::fopen(argv[1], "w");
    if (!out) {
        std::perror("bench_launch: RESULT");
        return 2;
    }
    std::fprintf(out, "{\"wall_ns\": %lld, \"maxrss_kb\": %ld, \"utime_us\": %lld, \"stime_us\": %lld, \"exit\": %d}\n",
                 wall, ru.ru_maxrss, microseconds(ru.ru_utime), microseconds(ru.ru_stime), code);
    return std::fclose(out) == 0 ? 0 : 2;
}
