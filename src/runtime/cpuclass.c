/* CPU class: a sandbox that runs flat out at its CPU limit is scheduled in the background.
 *
 * A sandbox's CPU limit (cpu.max, or the v1 CFS quota) caps its average, but below the cap
 * the fair scheduler shares a busy CPU in slices that end at a tick (4 ms at HZ=250): on a
 * host full of CPU-bound neighbours every wake-up of another sandbox (its agent, the
 * process an exec starts, each step of the round trip) waits up to a tick behind one of
 * them: bench/load.py's victim exec, p99 1.2 ms on a quiet host, takes 24 ms (p99) next to
 * ten bombs, and 4.7 ms once they are in the background class.  cgroup cpu.idle (Linux
 * 5.15; the v1 cpu controller and cgroup2 both have it) puts the whole group into the
 * SCHED_IDLE class: any task outside it that wakes preempts it at once, and it still gets
 * every cycle nobody else wants, up to its own limit.  That is the class for a sandbox
 * that is busy all the time, so the daemon samples every sandbox once a second:
 *   hot:   throttled by its quota in at least HOT_THROTTLED periods of the last second, or
 *          HOT_PERCENT of its limit used (a limit no quota enforces: as many CPUs as the host);
 *   a hot sandbox goes to the background at once;
 *   it comes back after CALM_SAMPLES samples in a row in which it was not throttled and used
 *   less than CALM_PERCENT of its limit.
 * The calm line is far below the hot one: in the background a bomb still uses most of its
 * limit on a host with spare cycles, and one starved by the foreground is not throttled, so
 * only a sandbox that really went quiet comes back (a starved one does too, after
 * CALM_SAMPLES seconds, and is sent back within a second if it spins again).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "runtime/rt_int.h"

#define HOT_THROTTLED 2
#define HOT_PERCENT 90
#define CALM_PERCENT 25
#define CALM_SAMPLES 5

int rt_cpuclass_step(struct rt_cpuclass *c, uint64_t now_usec, uint64_t usage_usec,
                     uint64_t throttled, uint32_t limit_millis)
{
    bool valid = c->primed && now_usec > c->at_usec && usage_usec >= c->usage_usec &&
                 throttled >= c->throttled && limit_millis;
    uint64_t dt = now_usec - c->at_usec, used = usage_usec - c->usage_usec;
    uint64_t thr = throttled - c->throttled;
    c->primed = true;
    c->at_usec = now_usec;
    c->usage_usec = usage_usec;
    c->throttled = throttled;
    if (!valid)
        return 0;
    /* share of the limit used: used / (dt * limit / 1000), in percent */
    uint64_t pct = used * 100000 / dt / limit_millis;
    if (!c->background) {
        if (thr >= HOT_THROTTLED || pct >= HOT_PERCENT) {
            c->background = true;
            c->calm = 0;
            return 1;
        }
        return 0;
    }
    if (thr == 0 && pct < CALM_PERCENT) {
        if (++c->calm >= CALM_SAMPLES) {
            c->background = false;
            c->calm = 0;
            return -1;
        }
    } else {
        c->calm = 0;
    }
    return 0;
}

static uint64_t now_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int read_text(const char *dir, const char *file, char **ret)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    size_t n;
    return al_read_file_at(AT_FDCWD, path, 4096, ret, &n);
}

/* The CPU limit the quota enforces, in millis; the host's CPUs when there is none. */
static uint32_t limit_millis(const struct rt_cg *cg)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    uint32_t host = (uint32_t)(ncpu > 0 ? ncpu : 1) * 1000;
    int c = cg->idx[RT_CG_CPU];
    if (c < 0)
        return host;
    unsigned long long quota = 0, period = 0;
    cleanup_free char *a = NULL, *b = NULL;
    if (cg->is_v2[c]) {
        if (read_text(cg->dirs[c], "cpu.max", &a) < 0 ||
            sscanf(a, "%llu %llu", &quota, &period) != 2)
            return host; /* "max 100000" too */
    } else {
        if (read_text(cg->dirs[c], "cpu.cfs_quota_us", &a) < 0 ||
            read_text(cg->dirs[c], "cpu.cfs_period_us", &b) < 0 || sscanf(a, "%llu", &quota) != 1 ||
            sscanf(b, "%llu", &period) != 1)
            return host; /* "-1": no quota */
    }
    if (!period || !quota)
        return host;
    unsigned long long m = quota * 1000 / period;
    return m && m < host ? (uint32_t)m : host;
}

int rt_sandbox_cpu_tick(struct rt_sandbox *sb, int *moved)
{
    *moved = 0;
    const struct rt_cg *cg = &sb->cg;
    int c = cg->idx[RT_CG_CPU];
    if (c < 0 || sb->cpu.unsupported)
        return 0;
    if (!sb->cpu.state.primed) {
        sb->cpu.limit_millis = limit_millis(cg);
        /* a previous airlockd may have left it in the background (re-adoption) */
        uint64_t idle = 0;
        if (rt_cg_read_u64(cg->dirs[c], "cpu.idle", &idle) == 0 && idle == 1) {
            sb->cpu.state.background = true;
            __atomic_store_n(&sb->cpu.background, true, __ATOMIC_RELAXED);
        }
    }
    /* no usage counter (v1 with cpuacct mounted apart and no cgroup2): judged by throttling
     * alone; no nr_throttled without a quota */
    uint64_t usage = 0, thr = 0;
    rt_cg_cpu_usec(cg, &usage);
    rt_cg_read_key(cg->dirs[c], "cpu.stat", "nr_throttled", &thr);
    int move = rt_cpuclass_step(&sb->cpu.state, now_usec(), usage, thr, sb->cpu.limit_millis);
    if (!move)
        return 0;
    int r = rt_cg_write(cg->dirs[c], "cpu.idle", move > 0 ? "1" : "0");
    if (r < 0) {
        /* no cpu.idle (before 5.15): stay in the normal class, and stop sampling */
        sb->cpu.state.background = false;
        sb->cpu.unsupported = true;
        return r;
    }
    __atomic_store_n(&sb->cpu.background, move > 0, __ATOMIC_RELAXED);
    *moved = move;
    return 0;
}

bool rt_sandbox_cpu_background(struct rt_sandbox *sb)
{
    return __atomic_load_n(&sb->cpu.background, __ATOMIC_RELAXED);
}
