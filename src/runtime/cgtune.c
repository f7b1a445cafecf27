/* Host tuning: cgroup migrations without an RCU grace period.
 *
 * Every create moves its setup child into the sandbox's cgroups.  A migration takes the
 * global cgroup_threadgroup_rwsem for writing, and that percpu rwsem makes a writer wait
 * for an RCU grace period whenever it was idle: 5-16 ms per create on this host, more than
 * the rest of the create together.  The cgroup2 mount option favordynmods keeps the rwsem
 * in its slow mode for good: a migration then costs ~0.1 ms, and forks and exits on the host
 * pay a few shared atomic operations more (the kernel documents the option for exactly this
 * trade: "reduce the latencies of dynamic cgroup modifications such as task migrations").
 * The rwsem is global, so setting it on the cgroup2 superblock is enough on hybrid hosts
 * too, where that hierarchy has no controllers.
 *
 * fspick + FSCONFIG_CMD_RECONFIGURE changes that superblock only (the mount's own flags
 * stay); a cgroup2 reconfigure starts from no options, so every option the superblock
 * shows is set again with it.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "runtime/rt_int.h"

#define OPT_FAVOR "favordynmods"

static bool opt_listed(const char *opts, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = opts; p && *p;) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        if (l == n && memcmp(p, name, n) == 0)
            return true;
        p = c ? c + 1 : NULL;
    }
    return false;
}

static int set_flag(int fs, const char *name)
{
    return (int)syscall(SYS_fsconfig, fs, FSCONFIG_SET_FLAG, name, NULL, 0);
}

int rt_cg_favor_dynmods(char *what, size_t what_len, struct al_err *err)
{
    const struct rt_cg_layout *l;
    int r = rt_cg_layout_get(&l, err);
    if (r < 0)
        return r;
    if (!l->v2[0]) {
        snprintf(what, what_len, "no cgroup2 mount: migrations wait for RCU grace periods");
        return 0;
    }
    if (opt_listed(l->v2_super_opts, OPT_FAVOR)) {
        snprintf(what, what_len, "%s already has " OPT_FAVOR, l->v2);
        return 0;
    }
    cleanup_close int fs = (int)syscall(SYS_fspick, AT_FDCWD, l->v2, FSPICK_CLOEXEC);
    if (fs < 0)
        return al_err_sys(err, AL_ERR_UNAVAILABLE, errno, "fspick %s", l->v2);
    char opts[sizeof(l->v2_super_opts)];
    snprintf(opts, sizeof(opts), "%s", l->v2_super_opts);
    char *save = NULL;
    for (char *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
        if (strcmp(o, "rw") == 0 || strcmp(o, "ro") == 0)
            continue; /* superblock read-only state: not an option of cgroup2 */
        if (set_flag(fs, o) < 0)
            return al_err_sys(err, AL_ERR_UNAVAILABLE, errno, "%s: keep option %s", l->v2, o);
    }
    if (set_flag(fs, OPT_FAVOR) < 0)
        return al_err_sys(err, AL_ERR_UNAVAILABLE, errno,
                          "%s: kernel has no " OPT_FAVOR " (Linux 6.0+)", l->v2);
    if (syscall(SYS_fsconfig, fs, FSCONFIG_CMD_RECONFIGURE, NULL, NULL, 0) < 0)
        return al_err_sys(err, AL_ERR_UNAVAILABLE, errno, "%s: reconfigure", l->v2);
    snprintf(what, what_len, "%s remounted with " OPT_FAVOR " (cgroup migrations skip RCU waits)",
             l->v2);
    return 1;
}
