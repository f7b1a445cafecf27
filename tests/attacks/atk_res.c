/* Resource exhaustion: fork bomb, memory bomb, disk and inode fill, descriptor limit. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "attack.h"

struct bomb_state {
    atomic_long forks;
    atomic_int last_err;
};

static int a_forkbomb(const char *name, int argc, char **argv)
{
    /* Every process forks forever; after N seconds the whole bomb's process group is killed
     * and the number of successful forks (a shared counter) is reported. */
    int secs = argc > 0 ? (int)strtol(argv[0], NULL, 10) : 5;
    struct bomb_state *st =
        mmap(NULL, sizeof(*st), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (st == MAP_FAILED)
        return atk_report(name, false, errno, "mmap");
    pid_t root = fork();
    if (root < 0)
        return atk_report(name, false, errno, "fork");
    if (root == 0) {
        setpgid(0, 0);
        for (;;) {
            pid_t c = fork();
            if (c == 0)
                continue; /* the child bombs too */
            if (c > 0)
                atomic_fetch_add(&st->forks, 1);
            else
                atomic_store(&st->last_err, errno);
            if (c < 0)
                usleep(1000);
        }
    }
    setpgid(root, root);
    sleep((unsigned)secs);
    long forks = atomic_load(&st->forks);
    int e = atomic_load(&st->last_err);
    kill(-root, SIGKILL);
    while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
        ;
    return atk_report(name, e == 0, e, "%ld forks in %d s, then fork failed with errno %d", forks,
                      secs, e);
}

static int a_membomb(const char *name, int argc, char **argv)
{
    /* Touches N MiB of anonymous memory, 16 MiB at a time.  Reaching the end = not limited. */
    long mib = argc > 0 ? strtol(argv[0], NULL, 10) : 8192;
    long done = 0;
    for (; done < mib; done += 16) {
        char *p = mmap(NULL, 16 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return atk_report(name, false, errno, "mmap failed after %ld MiB", done);
        for (long i = 0; i < (16 << 20); i += 4096)
            p[i] = (char)i | 1;
    }
    return atk_report(name, true, 0, "touched %ld MiB without being stopped", done);
}

static int a_fill(const char *name, int argc, char **argv)
{
    /* Writes up to N MiB into a new file; reports how far it got and the errno that stopped it. */
    if (argc < 2)
        return atk_report(name, false, EINVAL, "usage: fill <file> <max MiB>");
    long max = strtol(argv[1], NULL, 10);
    int fd = open(argv[0], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return atk_report(name, false, errno, "opening %s", argv[0]);
    static char block[1 << 20];
    memset(block, 'x', sizeof(block));
    long long written = 0;
    int e = 0;
    while (written < (long long)max << 20) {
        ssize_t w = write(fd, block, sizeof(block));
        if (w <= 0) {
            e = w < 0 ? errno : ENOSPC;
            break;
        }
        written += w;
    }
    if (!e && fsync(fd) < 0)
        e = errno;
    int ce = close(fd) < 0 ? errno : 0;
    if (!e)
        e = ce;
    return atk_report(name, e == 0, e, "%lld bytes (%lld MiB) written to %s", written,
                      written >> 20, argv[0]);
}

static int a_inodefill(const char *name, int argc, char **argv)
{
    if (argc < 2)
        return atk_report(name, false, EINVAL, "usage: inodefill <dir> <max files>");
    long max = strtol(argv[1], NULL, 10), n = 0;
    mkdir(argv[0], 0700);
    int dfd = open(argv[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return atk_report(name, false, errno, "opening %s", argv[0]);
    int e = 0;
    for (; n < max; n++) {
        char f[32];
        snprintf(f, sizeof(f), "%ld", n);
        int fd = openat(dfd, f, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
            e = errno;
            break;
        }
        close(fd);
    }
    close(dfd);
    return atk_report(name, e == 0, e, "%ld files created in %s", n, argv[0]);
}

static int a_nofile(const char *name, int argc, char **argv)
{
    /* Tries to raise RLIMIT_NOFILE past its hard limit, then opens until refused. */
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    struct rlimit up = {rl.rlim_max + 1024, rl.rlim_max + 1024};
    int raised = setrlimit(RLIMIT_NOFILE, &up) == 0;
    int raise_err = raised ? 0 : errno;
    struct rlimit hard = {rl.rlim_max, rl.rlim_max};
    setrlimit(RLIMIT_NOFILE, &hard);
    long n = 0;
    int e = 0;
    for (; n < 1 << 20; n++) {
        if (open("/dev/null", O_RDONLY | O_CLOEXEC) < 0) {
            e = errno;
            break;
        }
    }
    return atk_report(name, raised, raised ? 0 : raise_err,
                      "soft=%llu hard=%llu raise:%s(errno %d) opened=%ld stop_errno=%d",
                      (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
                      raised ? "RAISED" : "refused", raise_err, n, e);
}

static int a_cpuhog(const char *name, int argc, char **argv)
{
    /* N processes spin for S seconds of wall time; reports the CPU time they got in total. */
    int n = argc > 0 ? (int)strtol(argv[0], NULL, 10) : 4;
    int secs = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 5;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) {
        if (fork() == 0) {
            volatile unsigned long x = 0;
            do {
                for (int k = 0; k < 1000000; k++)
                    x++;
                clock_gettime(CLOCK_MONOTONIC, &t);
            } while (t.tv_sec - t0.tv_sec < secs);
            _exit(0);
        }
    }
    while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
        ;
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    clock_gettime(CLOCK_MONOTONIC, &t);
    double wall = (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9;
    return atk_report(name, false, 0, "cpu=%.3f wall=%.3f procs=%d", cpu, wall, n);
}

const struct atk_entry atk_res_table[] = {
    {"cpuhog", a_cpuhog, "[procs] [secs] spin, report CPU seconds obtained"},
    {"forkbomb", a_forkbomb, "[seconds] fork bomb, report forks achieved"},
    {"membomb", a_membomb, "[MiB] touch memory until stopped"},
    {"fill", a_fill, "<file> <max MiB> write until ENOSPC"},
    {"inodefill", a_inodefill, "<dir> <max> create files until ENOSPC"},
    {"nofile", a_nofile, "raise RLIMIT_NOFILE, open until EMFILE"},
    {NULL, NULL, NULL},
};
