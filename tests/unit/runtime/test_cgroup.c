#include "../common/harness.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake_files.h"
#include "runtime/rt_int.h"

static const char hybrid[] =
    "23 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

static const char pure_v2[] =
    "23 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
    "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n"
    /* a bind mount of a subtree must not be taken for the hierarchy root */
    "90 23 0:26 /system.slice /mnt/cg rw shared:4 - cgroup2 cgroup2 rw\n";

static const char comounted[] =
    "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
    "35 31 0:32 / /sys/fs/cgroup/mem\\040ory rw - cgroup cgroup rw,memory\n"
    "39 31 0:36 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n";

static void test_hybrid(void **state)
{
    struct rt_cg_layout l;
    assert_int_equal(rt_cg_layout_parse(hybrid, &l), 0);
    assert_string_equal(l.v2, "/sys/fs/cgroup/unified");
    assert_string_equal(l.v2_super_opts, "rw");
    assert_string_equal(l.v1[RT_CG_MEMORY], "/sys/fs/cgroup/memory");
    assert_string_equal(l.v1[RT_CG_PIDS], "/sys/fs/cgroup/pids");
    assert_string_equal(l.v1[RT_CG_CPU], "/sys/fs/cgroup/cpu"); /* not cpuset's, nor cpuacct's */
    assert_string_equal(l.v1[RT_CG_CPUSET], "/sys/fs/cgroup/cpuset");
    assert_string_equal(l.v1[RT_CG_FREEZER], "/sys/fs/cgroup/freezer");
    rt_cg_layout_set_v2_controllers(&l, "");
    assert_string_equal(rt_cg_layout_name(&l), "hybrid");
    assert_true(rt_cg_layout_usable(&l));
    struct rt_cg cg;
    assert_int_equal(rt_cg_plan(&l, "abc", &cg), 0);
    assert_int_equal(cg.n, 4); /* unified + memory + pids + cpu; no freezer with cgroup.kill */
    /* the v1 cpuset dir is made only when the sandbox goes to the background */
    assert_int_equal(cg.idx[RT_CG_CPUSET], -1);
    assert_string_equal(cg.cpuset_v1, "/sys/fs/cgroup/cpuset/airlock/abc");
    assert_int_equal(cg.v2, 0);
    assert_string_equal(cg.dirs[0], "/sys/fs/cgroup/unified/airlock/abc");
    assert_string_equal(cg.dirs[cg.idx[RT_CG_MEMORY]], "/sys/fs/cgroup/memory/airlock/abc");
    assert_string_equal(cg.procs[cg.idx[RT_CG_PIDS]],
                        "/sys/fs/cgroup/pids/airlock/abc/cgroup.procs");
    assert_false(cg.is_v2[cg.idx[RT_CG_MEMORY]]);
    assert_int_equal(cg.idx[RT_CG_FREEZER], -1);
}

static void test_pure_v2(void **state)
{
    struct rt_cg_layout l;
    assert_int_equal(rt_cg_layout_parse(pure_v2, &l), 0);
    assert_string_equal(l.v2, "/sys/fs/cgroup");
    /* the superblock's options (kept by a favordynmods reconfigure), not the mount's */
    assert_string_equal(l.v2_super_opts, "rw,nsdelegate,memory_recursiveprot");
    rt_cg_layout_set_v2_controllers(&l, "cpuset cpu io memory hugetlb pids rdma misc\n");
    assert_string_equal(rt_cg_layout_name(&l), "cgroup v2");
    assert_true(rt_cg_layout_usable(&l));
    struct rt_cg cg;
    assert_int_equal(rt_cg_plan(&l, "x1", &cg), 0);
    assert_int_equal(cg.n, 1);
    assert_int_equal(cg.idx[RT_CG_MEMORY], 0);
    assert_int_equal(cg.idx[RT_CG_PIDS], 0);
    assert_int_equal(cg.idx[RT_CG_CPU], 0);
    assert_int_equal(cg.idx[RT_CG_CPUSET], 0);
    assert_string_equal(cg.cpuset_v1, "");
    assert_true(cg.is_v2[0]);
    assert_string_equal(cg.dirs[0], "/sys/fs/cgroup/airlock/x1");
    /* without memory in cgroup.controllers the layout is not usable */
    rt_cg_layout_set_v2_controllers(&l, "cpu pids");
    assert_false(rt_cg_layout_usable(&l));
}

static void test_comounted_and_escapes(void **state)
{
    struct rt_cg_layout l;
    assert_int_equal(rt_cg_layout_parse(comounted, &l), 0);
    assert_string_equal(l.v2, "");
    assert_string_equal(l.v1[RT_CG_CPU], "/sys/fs/cgroup/cpu,cpuacct");
    assert_string_equal(l.v1[RT_CG_MEMORY], "/sys/fs/cgroup/mem ory");
    assert_string_equal(l.v1[RT_CG_FREEZER], "");
    rt_cg_layout_set_v2_controllers(&l, "memory pids");
    assert_string_equal(rt_cg_layout_name(&l), "cgroup v1");
    assert_true(rt_cg_layout_usable(&l));
    struct rt_cg cg;
    assert_int_equal(rt_cg_plan(&l, "z", &cg), 0);
    assert_int_equal(cg.n, 3);
    assert_int_equal(cg.v2, -1);
}

static void test_garbage(void **state)
{
    struct rt_cg_layout l;
    assert_int_equal(rt_cg_layout_parse("", &l), 0);
    assert_false(rt_cg_layout_usable(&l));
    assert_int_equal(rt_cg_layout_parse("1 2 3\n - - -\n\n  -\nx y z w v u - cgroup2\n", &l), 0);
    assert_string_equal(l.v2, "");
    assert_string_equal(rt_cg_layout_name(&l), "none");
}

/* The OOM-kill counter: v1 memory.oom_control (whose oom_kill_disable is not it) and v2
 * memory.events (whose oom and oom_group_kill are not it). */
static void test_oom_kills(void **state)
{
    char dir[] = "/tmp/airlock-cg-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct rt_cg cg;
    memset(&cg, 0, sizeof(cg));
    for (int c = 0; c < RT_CG_NCTRL; c++)
        cg.idx[c] = -1;
    cg.v2 = -1;
    cg.n = 1;
    snprintf(cg.dirs[0], sizeof(cg.dirs[0]), "%s", dir);
    uint64_t v = 42;
    assert_int_equal(rt_cg_oom_kills(&cg, &v), -ENOENT); /* no memory controller */
    cg.idx[RT_CG_MEMORY] = 0;
    assert_int_equal(rt_cg_oom_kills(&cg, &v), -ENOENT); /* no file */
    put(dir, "memory.oom_control", "oom_kill_disable 1\nunder_oom 0\noom_kill 3\n");
    assert_int_equal(rt_cg_oom_kills(&cg, &v), 0);
    assert_int_equal(v, 3);
    put(dir, "memory.oom_control", "oom_kill_disable 1\nunder_oom 0\n"); /* before 4.13 */
    assert_int_equal(rt_cg_oom_kills(&cg, &v), -ENOENT);
    cg.is_v2[0] = true;
    put(dir, "memory.events", "low 0\nhigh 0\nmax 9\noom 7\noom_kill 2\noom_group_kill 5\n");
    assert_int_equal(rt_cg_oom_kills(&cg, &v), 0);
    assert_int_equal(v, 2);
    unput(dir, "memory.oom_control");
    unput(dir, "memory.events");
    rmdir(dir);
}

/* CPU weight follows the sandbox's CPU: the tiers XS..L weigh 1:2:4:8, 1 CPU = the default */
static void test_cpu_weight(void **state)
{
    (void)state;
    assert_int_equal(rt_cg_cpu_weight(250), 25);
    assert_int_equal(rt_cg_cpu_weight(1000), 100);
    assert_int_equal(rt_cg_cpu_weight(2000), 200);
    assert_int_equal(rt_cg_cpu_weight(1), 1); /* clamped to the kernel's range */
    assert_int_equal(rt_cg_cpu_weight(200000), 10000);
    assert_int_equal(rt_cg_cpu_shares(250), 256);
    assert_int_equal(rt_cg_cpu_shares(1000), 1024);
    assert_int_equal(rt_cg_cpu_shares(1), 2);
    assert_int_equal(rt_cg_cpu_shares(UINT32_MAX), 262144);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hybrid),
        cmocka_unit_test(test_pure_v2),
        cmocka_unit_test(test_comounted_and_escapes),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_oom_kills),
        cmocka_unit_test(test_cpu_weight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
