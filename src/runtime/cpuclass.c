/* CPU class: a sandbox that runs flat out at its CPU limit is scheduled in the background.
 *
 * A sandbox's CPU limit (cpu.max, or the v1 CFS quota) caps its average, but below the cap
 * the fair scheduler shares a busy CPU in slices that end at a tick (4 ms at HZ=250): on a
 * host full of CPU-bound neighbours every wake-up of another sandbox (its agent, the
 * process an exec starts, each step of the round trip) waits up to a tick behind one of
 * them: bench/load.py's victim exec, p99 1.2 ms on a quiet host, takes 24 ms (p99) next to
 * ten bombs.  cgroup cpu.idle (Linux 5.15; the v1 cpu controller and cgroup2 both have it)
 * puts the whole group into the SCHED_IDLE class: any task outside it that wakes preempts it
 * at once, and it still gets every cycle nobody else wants, up to its own limit.  That alone
 * gets the victim to 4.7 ms: a new process (fork, exec) still often waits a tick on a CPU
 * where an idle-class task runs, the host's own fork+exec too.  So the background class also
 * keeps off the first foreground_cpus CPUs (cgroup cpuset; default 1): one CPU never has a
 * background spinner on it, and the victim stays near its quiet p99.  That is the class for
 * a sandbox that is busy all the time, so the daemon samples every sandbox once a second:
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
#include <stdlib.h>
#include <sys/stat.h>
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

/* The CPU limit the quota enforces, in millis; the host's CPUs when there is none. */
static uint32_t limit_millis(const struct rt_cg *cg)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    uint32_t host = (uint32_t)(ncpu > 0 ? ncpu : 1) * 1000;
    int c = cg->idx[RT_CG_CPU];
    if (c < 0)
        return host;
    long long quota = 0, period = 0;
    cleanup_free char *a = NULL, *b = NULL;
    if (cg->is_v2[c]) {
        if (rt_cg_read_text(cg->dirs[c], "cpu.max", &a) < 0 ||
            sscanf(a, "%lld %lld", &quota, &period) != 2)
            return host; /* "max 100000" too */
    } else {
        if (rt_cg_read_text(cg->dirs[c], "cpu.cfs_quota_us", &a) < 0 ||
            rt_cg_read_text(cg->dirs[c], "cpu.cfs_period_us", &b) < 0 ||
            sscanf(a, "%lld", &quota) != 1 || sscanf(b, "%lld", &period) != 1)
            return host;
    }
    if (period <= 0 || quota <= 0)
        return host; /* v1 "-1": no quota */
    long long m = quota * 1000 / period;
    return m > 0 && m < host ? (uint32_t)m : host;
}

static unsigned foreground_cpus = 1;

void rt_cpuclass_set_foreground_cpus(unsigned n)
{
    foreground_cpus = n;
}

#define CPUS_MAX 4096

/* Parse a cpuset list ("0-3,8,10-11") into set; -EINVAL when it is not one. */
static int cpus_parse(const char *s, bool *set)
{
    memset(set, 0, CPUS_MAX * sizeof(*set));
    while (*s && *s != '\n') {
        char *end;
        unsigned long a = strtoul(s, &end, 10), b = a;
        if (end == s)
            return -EINVAL;
        if (*end == '-') {
            s = end + 1;
            b = strtoul(s, &end, 10);
            if (end == s)
                return -EINVAL;
        }
        if (a > b || b >= CPUS_MAX)
            return -EINVAL;
        for (unsigned long i = a; i <= b; i++)
            set[i] = true;
        s = *end == ',' ? end + 1 : end;
        if (*end != ',' && *end && *end != '\n')
            return -EINVAL;
    }
    return 0;
}

static void cpus_format(const bool *set, char *out, size_t len)
{
    size_t o = 0;
    out[0] = 0;
    for (unsigned i = 0; i < CPUS_MAX && o < len; i++) {
        if (!set[i])
            continue;
        unsigned j = i;
        while (j + 1 < CPUS_MAX && set[j + 1])
            j++;
        o += (size_t)snprintf(out + o, len - o, "%s%u", o ? "," : "", i);
        if (j > i && o < len)
            o += (size_t)snprintf(out + o, len - o, "-%u", j);
        i = j;
    }
}

int rt_cpuclass_background_cpus(const char *parent_cpus, unsigned foreground, char *out, size_t len)
{
    static __thread bool set[CPUS_MAX];
    if (cpus_parse(parent_cpus, set) < 0)
        return -EINVAL;
    unsigned dropped = 0, left = 0;
    for (unsigned i = 0; i < CPUS_MAX; i++) {
        if (set[i] && dropped < foreground) {
            set[i] = false;
            dropped++;
        } else {
            left += set[i];
        }
    }
    if (!left || !dropped)
        return -ENOENT;
    cpus_format(set, out, len);
    return 0;
}

/* Move every process listed in list_dir/cgroup.procs into dir (a v1 cpuset cgroup).  A
 * process forked during a pass by a parent not yet moved is found by the next (what forks
 * after its parent moved is born in dir); while in the background, each sample sweeps once
 * more. */
static void cpuset_sweep(const char *list_dir, const char *dir, int passes)
{
    char to[PATH_MAX + 16];
    snprintf(to, sizeof(to), "%s/cgroup.procs", dir);
    for (int pass = 0; pass < passes; pass++) {
        char from[PATH_MAX + 16];
        snprintf(from, sizeof(from), "%s/cgroup.procs", list_dir);
        cleanup_free char *pids = NULL;
        size_t n;
        if (al_read_file_at(AT_FDCWD, from, 1u << 20, &pids, &n) < 0)
            return;
        for (char *p = pids, *save = NULL, *tok; (tok = strtok_r(p, "\n", &save)); p = NULL)
            al_write_string(to, tok); /* gone meanwhile: nothing to move */
    }
}

/* Confine the sandbox to the CPUs its parent has but the first foreground_cpus, or give it
 * all of its parent's again.  Best effort: without a cpuset the background class is
 * cpu.idle alone.  On cgroup2 the sandbox's own cgroup has the cpuset; a v1 cpuset
 * hierarchy gets the sandbox's dir on first use, and its processes are moved into it (and
 * stay there: coming back only widens its CPUs). */
static void cpuset_confine(const struct rt_cg *cg, bool confine)
{
    int s = cg->idx[RT_CG_CPUSET];
    if ((s < 0 && !cg->cpuset_v1[0]) || !foreground_cpus)
        return;
    char dir[PATH_MAX], parent[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", s >= 0 ? cg->dirs[s] : cg->cpuset_v1);
    snprintf(parent, sizeof(parent), "%s", dir);
    *strrchr(parent, '/') = 0;
    bool v1 = s < 0;
    if (v1 && !confine && access(dir, F_OK) < 0)
        return; /* never confined */
    if (v1 && confine && mkdir(parent, 0755) < 0 && errno != EEXIST)
        return;
    if (v1 && confine)
        rt_cg_cpuset_fill(parent);
    cleanup_free char *cpus = NULL;
    if (rt_cg_read_text(parent, v1 ? "cpuset.effective_cpus" : "cpuset.cpus.effective", &cpus) < 0)
        return;
    if (!confine) {
        rt_cg_write(dir, "cpuset.cpus", cpus);
        return;
    }
    char bg[1024];
    if (rt_cpuclass_background_cpus(cpus, foreground_cpus, bg, sizeof(bg)) < 0)
        return; /* one CPU: nothing to keep it off */
    if (v1) {   /* the dir exists only once the sandbox was confined: see the sweep per sample */
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
            return;
        rt_cg_cpuset_fill(dir);
    }
    if (rt_cg_write(dir, "cpuset.cpus", bg) == 0 && v1)
        cpuset_sweep(cg->dirs[cg->v2 >= 0 ? cg->v2 : 0], dir, 3);
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
    if (!move && sb->cpu.state.background && cg->cpuset_v1[0] && foreground_cpus &&
        access(cg->cpuset_v1, F_OK) == 0) /* confined on v1: catch what forked past the sweep */
        cpuset_sweep(cg->dirs[cg->v2 >= 0 ? cg->v2 : 0], cg->cpuset_v1, 1);
    if (!move)
        return 0;
    int r = rt_cg_write(cg->dirs[c], "cpu.idle", move > 0 ? "1" : "0");
    if (r < 0) {
        /* no cpu.idle (before 5.15): stay in the normal class, and stop sampling */
        sb->cpu.state.background = false;
        sb->cpu.unsupported = true;
        return r;
    }
    cpuset_confine(cg, move > 0);
    __atomic_store_n(&sb->cpu.background, move > 0, __ATOMIC_RELAXED);
    *moved = move;
    return 0;
}

bool rt_sandbox_cpu_background(struct rt_sandbox *sb)
{
    return __atomic_load_n(&sb->cpu.background, __ATOMIC_RELAXED);
}
