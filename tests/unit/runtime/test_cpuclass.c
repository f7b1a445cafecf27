/* The CPU class (runtime/cpuclass.c): when a sandbox goes to the background and comes back
 * (rt_cpuclass_step, pure), and what rt_sandbox_cpu_tick reads and writes in a cgroup
 * directory (a temporary directory standing in for the v1 cpu hierarchy). */
#include "../common/harness.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fake_files.h"
#include "runtime/rt_int.h"

#define SEC 1000000ull

/* A 0.25-CPU sandbox sampled once a second: used = share of its limit, thr = periods */
struct feed {
    struct rt_cpuclass c;
    uint64_t now, usage, thr;
};

static int sample(struct feed *f, unsigned used_pct, unsigned thr)
{
    f->now += SEC;
    f->usage += SEC * 250 / 1000 * used_pct / 100;
    f->thr += thr;
    return rt_cpuclass_step(&f->c, f->now, f->usage, f->thr, 250);
}

static void test_goes_to_background_when_at_its_limit(void **state)
{
    (void)state;
    struct feed f = {.now = 5 * SEC};
    assert_int_equal(sample(&f, 100, 10), 0); /* the first sample only primes */
    assert_false(f.c.background);
    assert_int_equal(sample(&f, 50, 0), 0); /* half its limit: an ordinary busy sandbox */
    assert_int_equal(sample(&f, 89, 1), 0); /* one throttled period is not yet flat out */
    assert_int_equal(sample(&f, 60, 2), 1); /* throttled twice in a second */
    assert_true(f.c.background);

    struct feed g = {.now = SEC};
    sample(&g, 0, 0);
    assert_int_equal(sample(&g, 90, 0), 1); /* 90 % of the limit with no quota throttling it */
}

static void test_comes_back_only_after_five_calm_seconds(void **state)
{
    (void)state;
    struct feed f = {.now = SEC};
    sample(&f, 0, 0);
    assert_int_equal(sample(&f, 100, 10), 1);
    /* in the background a bomb still uses much of its limit, or is starved and not throttled
     * but still busy: neither is calm */
    assert_int_equal(sample(&f, 60, 0), 0);
    assert_int_equal(sample(&f, 10, 1), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(sample(&f, 24, 0), 0);
    assert_int_equal(sample(&f, 30, 0), 0); /* a busy second starts the count again */
    for (int i = 0; i < 4; i++)
        assert_int_equal(sample(&f, 0, 0), 0);
    assert_true(f.c.background);
    assert_int_equal(sample(&f, 0, 0), -1);
    assert_false(f.c.background);
    assert_int_equal(sample(&f, 100, 10), 1); /* and back once it spins again */
}

static void test_bad_samples_judge_nothing(void **state)
{
    (void)state;
    struct rt_cpuclass c = {0};
    assert_int_equal(rt_cpuclass_step(&c, 10 * SEC, 5 * SEC, 100, 250), 0);
    /* the same instant, a counter that went back (a recreated cgroup), no limit: re-prime */
    assert_int_equal(rt_cpuclass_step(&c, 10 * SEC, 9 * SEC, 200, 250), 0);
    assert_int_equal(rt_cpuclass_step(&c, 11 * SEC, 1 * SEC, 300, 250), 0);
    assert_int_equal(rt_cpuclass_step(&c, 12 * SEC, 2 * SEC, 100, 250), 0);
    assert_int_equal(rt_cpuclass_step(&c, 13 * SEC, 3 * SEC, 200, 0), 0);
    assert_false(c.background);
    /* from a valid previous sample, a hot one counts */
    assert_int_equal(rt_cpuclass_step(&c, 14 * SEC, 4 * SEC, 300, 250), 1);
}

static const char *const files[] = {"cpu.cfs_quota_us", "cpu.cfs_period_us", "cpuacct.usage",
                                    "cpu.stat", "cpu.idle"};

/* A v1 cpu,cpuacct directory of a 0.25-CPU sandbox. */
static struct rt_sandbox *fake_sandbox(const char *dir, const char *idle)
{
    put(dir, "cpu.cfs_quota_us", "25000\n");
    put(dir, "cpu.cfs_period_us", "100000\n");
    put(dir, "cpuacct.usage", "1000000000\n");
    put(dir, "cpu.stat", "nr_periods 10\nnr_throttled 0\nthrottled_time 0\n");
    if (idle)
        put(dir, "cpu.idle", idle);
    struct rt_sandbox *sb = rt_sb_new();
    assert_non_null(sb);
    for (int c = 0; c < RT_CG_NCTRL; c++)
        sb->cg.idx[c] = -1;
    sb->cg.v2 = -1;
    sb->cg.n = 1;
    sb->cg.idx[RT_CG_CPU] = 0;
    snprintf(sb->cg.dirs[0], sizeof(sb->cg.dirs[0]), "%s", dir);
    return sb;
}

static void test_tick_writes_cpu_idle(void **state)
{
    (void)state;
    char dir[] = "/tmp/airlock-cpuclass-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct rt_sandbox *sb = fake_sandbox(dir, "0\n");
    int moved = 9;
    assert_int_equal(rt_sandbox_cpu_tick(sb, &moved), 0);
    assert_int_equal(moved, 0);
    assert_int_equal(sb->cpu.limit_millis, 250); /* read from the quota */
    /* ten seconds of CPU since the last sample, whatever the time between: flat out */
    usleep(2000);
    put(dir, "cpuacct.usage", "11000000000\n");
    put(dir, "cpu.stat", "nr_periods 12\nnr_throttled 2\nthrottled_time 5\n");
    assert_int_equal(rt_sandbox_cpu_tick(sb, &moved), 0);
    assert_int_equal(moved, 1);
    assert_int_equal(get(dir, "cpu.idle")[0], '1'); /* written over "0\n" */
    assert_true(rt_sandbox_cpu_background(sb));
    rt_sb_free(sb);

    /* a sandbox a previous daemon left in the background is known to be there */
    sb = fake_sandbox(dir, "1\n");
    assert_int_equal(rt_sandbox_cpu_tick(sb, &moved), 0);
    assert_int_equal(moved, 0);
    assert_true(rt_sandbox_cpu_background(sb));
    rt_sb_free(sb);

    /* no quota: the limit is the host's CPUs */
    sb = fake_sandbox(dir, "0\n");
    put(dir, "cpu.cfs_quota_us", "-1\n");
    assert_int_equal(rt_sandbox_cpu_tick(sb, &moved), 0);
    assert_int_equal(sb->cpu.limit_millis, (uint32_t)sysconf(_SC_NPROCESSORS_ONLN) * 1000);
    rt_sb_free(sb);

    /* no usage counter in reach: throttling alone decides */
    sb = fake_sandbox(dir, "0\n");
    unput(dir, "cpuacct.usage");
    assert_int_equal(rt_sandbox_cpu_tick(sb, &moved), 0);
    usleep(2000);
    put(dir, "cpu.stat", "nr_periods 12\nnr_throttled 3\nthrottled_time 5\n");
    assert_int_equal(rt_sandbox_cpu_tick(sb, &moved), 0);
    assert_int_equal(moved, 1);
    rt_sb_free(sb);

    /* a kernel without cpu.idle: an error once, then no more sampling */
    sb = fake_sandbox(dir, NULL);
    unput(dir, "cpu.idle");
    assert_int_equal(rt_sandbox_cpu_tick(sb, &moved), 0);
    usleep(2000);
    put(dir, "cpuacct.usage", "21000000000\n");
    put(dir, "cpu.stat", "nr_periods 14\nnr_throttled 4\nthrottled_time 9\n");
    assert_int_equal(rt_sandbox_cpu_tick(sb, &moved), -ENOENT);
    assert_int_equal(moved, 0);
    assert_false(rt_sandbox_cpu_background(sb));
    put(dir, "cpuacct.usage", "99000000000\n");
    assert_int_equal(rt_sandbox_cpu_tick(sb, &moved), 0);
    assert_int_equal(moved, 0);
    rt_sb_free(sb);

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        unput(dir, files[i]);
    assert_int_equal(rmdir(dir), 0);
}

static void test_background_cpus(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(rt_cpuclass_background_cpus("0-1\n", 1, out, sizeof(out)), 0);
    assert_string_equal(out, "1");
    assert_int_equal(rt_cpuclass_background_cpus("0-3", 1, out, sizeof(out)), 0);
    assert_string_equal(out, "1-3");
    assert_int_equal(rt_cpuclass_background_cpus("0-3,8,10-11\n", 2, out, sizeof(out)), 0);
    assert_string_equal(out, "2-3,8,10-11");
    assert_int_equal(rt_cpuclass_background_cpus("1,3", 1, out, sizeof(out)), 0);
    assert_string_equal(out, "3");
    assert_int_equal(rt_cpuclass_background_cpus("4-7", 1, out, sizeof(out)), 0);
    assert_string_equal(out, "5-7");
    /* nothing left, nothing taken: not confined */
    assert_int_equal(rt_cpuclass_background_cpus("0\n", 1, out, sizeof(out)), -ENOENT);
    assert_int_equal(rt_cpuclass_background_cpus("0-3", 4, out, sizeof(out)), -ENOENT);
    assert_int_equal(rt_cpuclass_background_cpus("0-3", 0, out, sizeof(out)), -ENOENT);
    assert_int_equal(rt_cpuclass_background_cpus("\n", 1, out, sizeof(out)), -ENOENT);
    /* not lists */
    assert_int_equal(rt_cpuclass_background_cpus("x", 1, out, sizeof(out)), -EINVAL);
    assert_int_equal(rt_cpuclass_background_cpus("3-1", 1, out, sizeof(out)), -EINVAL);
    assert_int_equal(rt_cpuclass_background_cpus("0-", 1, out, sizeof(out)), -EINVAL);
    assert_int_equal(rt_cpuclass_background_cpus("0;1", 1, out, sizeof(out)), -EINVAL);
    assert_int_equal(rt_cpuclass_background_cpus("0-99999", 1, out, sizeof(out)), -EINVAL);
}

/* A sandbox in the background keeps off the first CPU of its parent's (cgroup cpuset), and
 * gets them all back when it comes back. */
static void test_tick_confines_to_background_cpus(void **state)
{
    (void)state;
    char base[] = "/tmp/airlock-cpuclass-XXXXXX";
    assert_non_null(mkdtemp(base));
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/sb", base);
    assert_int_equal(mkdir(dir, 0755), 0);
    put(base, "cpuset.cpus.effective", "0-3\n");
    struct rt_sandbox *sb = fake_sandbox(dir, "0\n");
    put(dir, "cpuset.cpus", "0-3\n");
    /* cgroup2: cpu and cpuset in the sandbox's own dir (v1's lazy dir: the integration test) */
    sb->cg.idx[RT_CG_CPUSET] = 0;
    sb->cg.is_v2[0] = true;
    sb->cg.v2 = 0;
    put(dir, "cpu.max", "25000 100000\n");
    put(dir, "cpu.stat", "usage_usec 1000000\nnr_throttled 0\n");
    int moved;
    assert_int_equal(rt_sandbox_cpu_tick(sb, &moved), 0);
    assert_int_equal(sb->cpu.limit_millis, 250);
    usleep(2000);
    put(dir, "cpu.stat", "usage_usec 11000000\nnr_throttled 0\n");
    assert_int_equal(rt_sandbox_cpu_tick(sb, &moved), 0);
    assert_int_equal(moved, 1);
    assert_int_equal(strncmp(get(dir, "cpuset.cpus"), "1-3\n", 4), 0);
    for (int i = 0; i < 5; i++) { /* five calm samples */
        usleep(2000);
        assert_int_equal(rt_sandbox_cpu_tick(sb, &moved), 0);
    }
    assert_int_equal(moved, -1);
    assert_int_equal(strncmp(get(dir, "cpuset.cpus"), "0-3\n", 4), 0);
    rt_sb_free(sb);

    /* --foreground-cpus 0: cpu.idle alone */
    rt_cpuclass_set_foreground_cpus(0);
    sb = fake_sandbox(dir, "0\n");
    sb->cg.idx[RT_CG_CPUSET] = 0;
    sb->cg.is_v2[0] = true;
    sb->cg.v2 = 0;
    put(dir, "cpu.stat", "usage_usec 1000000\nnr_throttled 0\n");
    assert_int_equal(rt_sandbox_cpu_tick(sb, &moved), 0);
    usleep(2000);
    put(dir, "cpu.stat", "usage_usec 21000000\nnr_throttled 0\n");
    assert_int_equal(rt_sandbox_cpu_tick(sb, &moved), 0);
    assert_int_equal(moved, 1);
    assert_int_equal(get(dir, "cpu.idle")[0], '1');
    assert_int_equal(strncmp(get(dir, "cpuset.cpus"), "0-3\n", 4), 0);
    rt_sb_free(sb);
    rt_cpuclass_set_foreground_cpus(1);

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        unput(dir, files[i]);
    unput(dir, "cpuset.cpus");
    unput(dir, "cpu.max");
    unput(base, "cpuset.cpus.effective");
    assert_int_equal(rmdir(dir), 0);
    assert_int_equal(rmdir(base), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_goes_to_background_when_at_its_limit),
        cmocka_unit_test(test_comes_back_only_after_five_calm_seconds),
        cmocka_unit_test(test_bad_samples_judge_nothing),
        cmocka_unit_test(test_tick_writes_cpu_idle),
        cmocka_unit_test(test_background_cpus),
        cmocka_unit_test(test_tick_confines_to_background_cpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
