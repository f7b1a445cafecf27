/* cgroups for the namespace backend: pure v2 (/sys/fs/cgroup is cgroup2 with controllers),
 * hybrid (v1 controllers + an empty cgroup2 at .../unified), or plain v1.
 *
 * Each sandbox gets "<mount>/airlock/<id>" in every hierarchy that serves one of memory,
 * pids, cpu, cpuset and freezer, plus the cgroup2 hierarchy when there is one (cgroup.kill and
 * cpu.stat work there even without controllers).  The setup child joins them by writing "0"
 * to each cgroup.procs before anything else, so every sandbox process is accounted.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/parse.h"
#include "runtime/rt_int.h"

static const char *const ctrl_names[RT_CG_NCTRL] = {"memory", "pids", "cpu", "cpuset", "freezer"};

/* Copy a mountinfo field, undoing its octal escapes (\040 etc.). */
static int unescape_field(const char *s, size_t n, char *out, size_t out_len)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\' && i + 3 < n + 1 && i + 3 <= n && s[i + 1] >= '0' && s[i + 1] <= '3' &&
            s[i + 2] >= '0' && s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
            c = (char)(((s[i + 1] - '0') << 6) | ((s[i + 2] - '0') << 3) | (s[i + 3] - '0'));
            i += 3;
        }
        if (o + 1 >= out_len)
            return -ENAMETOOLONG;
        out[o++] = c;
    }
    out[o] = 0;
    return 0;
}

static bool opt_has(const char *opts, size_t n, const char *name)
{
    size_t nl = strlen(name);
    const char *p = opts, *end = opts + n;
    while (p < end) {
        const char *c = memchr(p, ',', (size_t)(end - p));
        size_t l = c ? (size_t)(c - p) : (size_t)(end - p);
        if (l == nl && memcmp(p, name, nl) == 0)
            return true;
        if (!c)
            break;
        p = c + 1;
    }
    return false;
}

int rt_cg_layout_parse(const char *mountinfo, struct rt_cg_layout *ret)
{
    struct rt_cg_layout l;
    memset(&l, 0, sizeof(l));
    const char *line = mountinfo;
    while (line && *line) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        /* fields: id parent maj:min root mountpoint opts [optional...] - fstype source super */
        const char *f[6];
        size_t fl[6];
        const char *p = line, *end = line + len;
        int nf = 0;
        while (nf < 6 && p < end) {
            while (p < end && *p == ' ')
                p++;
            const char *s = p;
            while (p < end && *p != ' ')
                p++;
            f[nf] = s;
            fl[nf] = (size_t)(p - s);
            nf++;
        }
        const char *sep = NULL;
        for (const char *q = p; q + 2 < end + 1 && q < end; q++) {
            if (q[0] == ' ' && q[1] == '-' && (q + 2 == end || q[2] == ' ')) {
                sep = q + 2;
                break;
            }
        }
        if (nf == 6 && sep) {
            const char *g[3];
            size_t gl[3];
            int ng = 0;
            const char *r = sep;
            while (ng < 3 && r < end) {
                while (r < end && *r == ' ')
                    r++;
                const char *s = r;
                while (r < end && *r != ' ')
                    r++;
                g[ng] = s;
                gl[ng] = (size_t)(r - s);
                ng++;
            }
            bool root_is_slash = fl[3] == 1 && f[3][0] == '/';
            if (ng == 3 && root_is_slash) {
                char mp[PATH_MAX];
                if (unescape_field(f[4], fl[4], mp, sizeof(mp)) == 0) {
                    if (gl[0] == 7 && memcmp(g[0], "cgroup2", 7) == 0) {
                        if (!l.v2[0]) {
                            snprintf(l.v2, sizeof(l.v2), "%s", mp);
                            snprintf(l.v2_super_opts, sizeof(l.v2_super_opts), "%.*s", (int)gl[2],
                                     g[2]);
                        }
                    } else if (gl[0] == 6 && memcmp(g[0], "cgroup", 6) == 0) {
                        for (int c = 0; c < RT_CG_NCTRL; c++)
                            if (!l.v1[c][0] && opt_has(g[2], gl[2], ctrl_names[c]))
                                snprintf(l.v1[c], sizeof(l.v1[c]), "%s", mp);
                    }
                }
            }
        }
        line = eol ? eol + 1 : NULL;
    }
    *ret = l;
    return 0;
}

void rt_cg_layout_set_v2_controllers(struct rt_cg_layout *l, const char *controllers)
{
    for (int c = 0; c < RT_CG_NCTRL; c++) {
        l->v2_has[c] = false;
        if (!l->v2[0] || l->v1[c][0])
            continue; /* a controller bound to a v1 hierarchy is not usable in v2 */
        const char *p = controllers;
        size_t nl = strlen(ctrl_names[c]);
        while (p && *p) {
            while (*p == ' ' || *p == '\n')
                p++;
            const char *s = p;
            while (*p && *p != ' ' && *p != '\n')
                p++;
            if ((size_t)(p - s) == nl && memcmp(s, ctrl_names[c], nl) == 0)
                l->v2_has[c] = true;
        }
    }
}

const char *rt_cg_layout_name(const struct rt_cg_layout *l)
{
    bool any_v1 = false;
    for (int c = 0; c < RT_CG_NCTRL; c++)
        any_v1 |= l->v1[c][0] != 0;
    if (!any_v1)
        return l->v2[0] ? "cgroup v2" : "none";
    return l->v2[0] ? "hybrid" : "cgroup v1";
}

bool rt_cg_layout_usable(const struct rt_cg_layout *l)
{
    for (int c = RT_CG_MEMORY; c <= RT_CG_PIDS; c++)
        if (!l->v1[c][0] && !l->v2_has[c])
            return false;
    return true;
}

static struct rt_cg_layout host_layout;
static int host_layout_rc;
static pthread_once_t host_layout_once = PTHREAD_ONCE_INIT;

static void host_layout_probe(void)
{
    cleanup_free char *mi = NULL;
    size_t n;
    int r = al_read_file_at(AT_FDCWD, "/proc/self/mountinfo", 4u << 20, &mi, &n);
    if (r < 0) {
        host_layout_rc = r;
        return;
    }
    rt_cg_layout_parse(mi, &host_layout);
    if (host_layout.v2[0]) {
        char path[PATH_MAX + 32];
        snprintf(path, sizeof(path), "%s/cgroup.controllers", host_layout.v2);
        cleanup_free char *ctl = NULL;
        if (al_read_file_at(AT_FDCWD, path, 65536, &ctl, &n) == 0)
            rt_cg_layout_set_v2_controllers(&host_layout, ctl);
    }
    host_layout_rc = 0;
}

int rt_cg_layout_get(const struct rt_cg_layout **ret, struct al_err *err)
{
    pthread_once(&host_layout_once, host_layout_probe);
    if (host_layout_rc < 0)
        return al_err_sys(err, AL_ERR_INTERNAL, -host_layout_rc, "read /proc/self/mountinfo");
    if (!rt_cg_layout_usable(&host_layout))
        return al_err_set(err, AL_ERR_UNAVAILABLE, ENOTSUP,
                          "cgroups: no usable memory and pids controllers (layout: %s)",
                          rt_cg_layout_name(&host_layout));
    *ret = &host_layout;
    return 0;
}

static int add_dir(struct rt_cg *cg, const char *mnt, const char *id, bool v2)
{
    char d[PATH_MAX];
    if ((size_t)snprintf(d, sizeof(d), "%s/airlock/%s", mnt, id) >= sizeof(d) - 16)
        return -ENAMETOOLONG;
    for (int i = 0; i < cg->n; i++)
        if (strcmp(cg->dirs[i], d) == 0)
            return i; /* co-mounted controllers share one hierarchy */
    if (cg->n >= RT_CG_MAXDIRS)
        return -E2BIG;
    int i = cg->n++;
    memcpy(cg->dirs[i], d, sizeof(d));
    snprintf(cg->procs[i], sizeof(cg->procs[i]), "%s/cgroup.procs", d);
    cg->is_v2[i] = v2;
    return i;
}

int rt_cg_plan(const struct rt_cg_layout *l, const char *id, struct rt_cg *ret)
{
    memset(ret, 0, sizeof(*ret));
    ret->v2 = -1;
    for (int c = 0; c < RT_CG_NCTRL; c++)
        ret->idx[c] = -1;
    if (l->v2[0]) {
        int i = add_dir(ret, l->v2, id, true);
        if (i < 0)
            return i;
        ret->v2 = i;
    }
    for (int c = 0; c < RT_CG_NCTRL; c++) {
        if (l->v1[c][0]) {
            if (c == RT_CG_FREEZER && ret->v2 >= 0)
                continue;            /* cgroup.kill makes the v1 freezer unnecessary */
            if (c == RT_CG_CPUSET) { /* made on first use, see cpuset_v1 */
                if ((size_t)snprintf(ret->cpuset_v1, sizeof(ret->cpuset_v1), "%s/airlock/%s",
                                     l->v1[c], id) >= sizeof(ret->cpuset_v1))
                    return -ENAMETOOLONG;
                continue;
            }
            int i = add_dir(ret, l->v1[c], id, false);
            if (i < 0)
                return i;
            ret->idx[c] = i;
        } else if (l->v2_has[c]) {
            ret->idx[c] = ret->v2;
        }
    }
    return 0;
}

int rt_cg_write(const char *dir, const char *file, const char *val)
{
    char path[PATH_MAX + 64];
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path))
        return -ENAMETOOLONG;
    return al_write_string(path, val);
}

static bool exists_at(const char *dir, const char *file)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    return access(path, F_OK) == 0;
}

void rt_cg_cpuset_fill(const char *dir)
{
    char parent[PATH_MAX];
    snprintf(parent, sizeof(parent), "%s", dir);
    *strrchr(parent, '/') = 0;
    static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};
    for (size_t k = 0; k < 2; k++) {
        cleanup_free char *mine = NULL, *theirs = NULL;
        if (rt_cg_read_text(dir, files[k], &mine) < 0 || mine[strspn(mine, " \n")] != 0)
            continue;
        if (rt_cg_read_text(parent, files[k], &theirs) == 0)
            rt_cg_write(dir, files[k], theirs);
    }
}

/* Parent "<mnt>/airlock": on v2, enable the controllers we use for the children. */
static int prepare_parent(const struct rt_cg *cg, int i, struct al_err *err)
{
    char parent[PATH_MAX];
    snprintf(parent, sizeof(parent), "%s", cg->dirs[i]);
    char *slash = strrchr(parent, '/');
    *slash = 0;
    if (mkdir(parent, 0755) < 0 && errno != EEXIST)
        return al_err_sys(err, AL_ERR_INTERNAL, errno, "mkdir %s", parent);
    if (!cg->is_v2[i])
        return 0;
    char top[PATH_MAX];
    snprintf(top, sizeof(top), "%s", parent);
    *strrchr(top, '/') = 0;
    for (int c = RT_CG_MEMORY; c <= RT_CG_CPUSET; c++) {
        if (cg->idx[c] != i)
            continue;
        char val[32];
        snprintf(val, sizeof(val), "+%s", ctrl_names[c]);
        int r = rt_cg_write(top, "cgroup.subtree_control", val);
        if (r >= 0)
            r = rt_cg_write(parent, "cgroup.subtree_control", val);
        /* cpu and cpuset only tune: a sandbox goes on without them */
        if (r < 0 && c != RT_CG_CPU && c != RT_CG_CPUSET)
            return al_err_sys(err, AL_ERR_INTERNAL, -r, "enable %s controller in %s", ctrl_names[c],
                              parent);
    }
    return 0;
}

unsigned rt_cg_cpu_weight(uint32_t cpu_millis)
{
    unsigned w = cpu_millis / 10;
    return w < 1 ? 1 : w > 10000 ? 10000 : w;
}

unsigned rt_cg_cpu_shares(uint32_t cpu_millis)
{
    uint64_t s = (uint64_t)cpu_millis * 1024 / 1000;
    return s < 2 ? 2 : s > 262144 ? 262144 : (unsigned)s;
}

int rt_cg_create(struct rt_cg *cg, const struct rt_limits *lim, struct al_err *err)
{
    int r;
    for (int i = 0; i < cg->n; i++) {
        r = prepare_parent(cg, i, err);
        if (r < 0)
            goto fail;
        if (mkdir(cg->dirs[i], 0755) < 0) {
            r = -errno;
            if (errno == EEXIST && rmdir(cg->dirs[i]) == 0 && mkdir(cg->dirs[i], 0755) == 0)
                continue; /* an empty leftover */
            al_err_sys(err, errno == EEXIST ? AL_ERR_CONFLICT : AL_ERR_INTERNAL, -r, "mkdir %s",
                       cg->dirs[i]);
            /* a dir that exists and is not ours: don't remove it below */
            for (int j = i; j < cg->n - 1; j++) {
                memcpy(cg->dirs[j], cg->dirs[j + 1], PATH_MAX);
                memcpy(cg->procs[j], cg->procs[j + 1], sizeof(cg->procs[j]));
            }
            cg->n = i;
            goto fail;
        }
    }
    char val[64];
    int m = cg->idx[RT_CG_MEMORY];
    if (m >= 0 && lim->memory_bytes) {
        snprintf(val, sizeof(val), "%llu", (unsigned long long)lim->memory_bytes);
        if (cg->is_v2[m]) {
            r = rt_cg_write(cg->dirs[m], "memory.max", val);
            if (r >= 0 && exists_at(cg->dirs[m], "memory.swap.max"))
                r = rt_cg_write(cg->dirs[m], "memory.swap.max", "0");
        } else {
            r = rt_cg_write(cg->dirs[m], "memory.limit_in_bytes", val);
            if (r >= 0 && exists_at(cg->dirs[m], "memory.memsw.limit_in_bytes"))
                r = rt_cg_write(cg->dirs[m], "memory.memsw.limit_in_bytes", val);
        }
        if (r < 0) {
            al_err_sys(err, AL_ERR_INTERNAL, -r, "cgroup %s: set memory limit", cg->dirs[m]);
            goto fail;
        }
    }
    int p = cg->idx[RT_CG_PIDS];
    if (p >= 0 && lim->pids) {
        snprintf(val, sizeof(val), "%u", lim->pids);
        r = rt_cg_write(cg->dirs[p], "pids.max", val);
        if (r < 0) {
            al_err_sys(err, AL_ERR_INTERNAL, -r, "cgroup %s: set pids.max", cg->dirs[p]);
            goto fail;
        }
    }
    int c = cg->idx[RT_CG_CPU];
    if (c >= 0 && lim->cpu_millis) {
        unsigned long long quota = (unsigned long long)lim->cpu_millis * 100; /* per 100 ms */
        if (cg->is_v2[c]) {
            snprintf(val, sizeof(val), "%llu 100000", quota);
            r = rt_cg_write(cg->dirs[c], "cpu.max", val);
        } else {
            r = rt_cg_write(cg->dirs[c], "cpu.cfs_period_us", "100000");
            snprintf(val, sizeof(val), "%llu", quota);
            if (r >= 0)
                r = rt_cg_write(cg->dirs[c], "cpu.cfs_quota_us", val);
        }
        /* under contention, CPU is shared in proportion to each sandbox's CPU: a 0.25-CPU
         * sandbox weighs a quarter of a 1-CPU one (the defaults, 100 and 1024, are 1 CPU) */
        if (r >= 0 && cg->is_v2[c]) {
            snprintf(val, sizeof(val), "%u", rt_cg_cpu_weight(lim->cpu_millis));
            r = rt_cg_write(cg->dirs[c], "cpu.weight", val);
        } else if (r >= 0) {
            snprintf(val, sizeof(val), "%u", rt_cg_cpu_shares(lim->cpu_millis));
            r = rt_cg_write(cg->dirs[c], "cpu.shares", val);
        }
        if (r < 0) {
            al_err_sys(err, AL_ERR_INTERNAL, -r, "cgroup %s: set cpu quota", cg->dirs[c]);
            goto fail;
        }
    }
    return 0;
fail:
    rt_cg_remove(cg, NULL);
    return -(err ? err->code : EIO);
}

/* SIGKILL every pid listed in dir/cgroup.procs; returns how many were listed. */
static int kill_listed(const char *dir)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
    cleanup_free char *buf = NULL;
    size_t n;
    if (al_read_file_at(AT_FDCWD, path, 1u << 20, &buf, &n) < 0)
        return 0;
    int count = 0;
    for (char *s = buf, *save = NULL, *tok; (tok = strtok_r(s, "\n", &save)); s = NULL) {
        uint64_t pid;
        if (al_parse_u64(tok, INT32_MAX, &pid) == 0 && pid > 1) {
            kill((pid_t)pid, SIGKILL);
            count++;
        }
    }
    return count;
}

void rt_cg_kill(const struct rt_cg *cg)
{
    if (cg->v2 >= 0 && rt_cg_write(cg->dirs[cg->v2], "cgroup.kill", "1") >= 0)
        return;
    int f = cg->idx[RT_CG_FREEZER];
    if (f >= 0)
        rt_cg_write(cg->dirs[f], "freezer.state", "FROZEN");
    for (int i = 0; i < cg->n; i++)
        kill_listed(cg->dirs[i]);
    if (f >= 0)
        rt_cg_write(cg->dirs[f], "freezer.state", "THAWED");
}

int rt_cg_remove(const struct rt_cg *cg, struct al_err *err)
{
    long long deadline = al_now_ms() + 3000;
    int left = 0;
    for (int round = 0;; round++) {
        left = 0;
        for (int i = 0; i < cg->n; i++) {
            if (rmdir(cg->dirs[i]) < 0 && errno != ENOENT)
                left++;
        }
        if (cg->cpuset_v1[0] && rmdir(cg->cpuset_v1) < 0 && errno != ENOENT)
            left++;
        if (!left || al_now_ms() > deadline)
            break;
        rt_cg_kill(cg);
        struct timespec ts = {0, round < 10 ? 1000000 : 10000000};
        nanosleep(&ts, NULL);
    }
    if (left)
        return al_err_set(err, AL_ERR_INTERNAL, EBUSY, "cgroup %s: still busy", cg->dirs[0]);
    return 0;
}

int rt_cg_read_text(const char *dir, const char *file, char **ret)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    size_t n;
    return al_read_file_at(AT_FDCWD, path, 65536, ret, &n);
}

int rt_cg_read_u64(const char *dir, const char *file, uint64_t *ret)
{
    cleanup_free char *buf = NULL;
    int r = rt_cg_read_text(dir, file, &buf);
    if (r < 0)
        return r;
    buf[strcspn(buf, "\n")] = 0;
    return al_parse_u64(buf, UINT64_MAX, ret);
}

int rt_cg_read_key(const char *dir, const char *file, const char *key, uint64_t *ret)
{
    cleanup_free char *buf = NULL;
    int r = rt_cg_read_text(dir, file, &buf);
    if (r < 0)
        return r;
    size_t kl = strlen(key);
    for (char *s = buf, *save = NULL, *tok; (tok = strtok_r(s, "\n", &save)); s = NULL) {
        if (strncmp(tok, key, kl) == 0 && tok[kl] == ' ')
            return al_parse_u64(tok + kl + 1, UINT64_MAX, ret);
    }
    return -ENOENT;
}

int rt_cg_oom_kills(const struct rt_cg *cg, uint64_t *ret)
{
    int m = cg->idx[RT_CG_MEMORY];
    if (m < 0)
        return -ENOENT;
    return rt_cg_read_key(cg->dirs[m], cg->is_v2[m] ? "memory.events" : "memory.oom_control",
                          "oom_kill", ret);
}

int rt_cg_stats(const struct rt_cg *cg, struct rt_stats *ret)
{
    uint64_t v;
    int m = cg->idx[RT_CG_MEMORY];
    if (m >= 0 &&
        rt_cg_read_u64(cg->dirs[m], cg->is_v2[m] ? "memory.current" : "memory.usage_in_bytes",
                       &v) == 0)
        ret->memory_bytes = v;
    int p = cg->idx[RT_CG_PIDS];
    if (p >= 0 && rt_cg_read_u64(cg->dirs[p], "pids.current", &v) == 0)
        ret->pids = (uint32_t)(v > UINT32_MAX ? UINT32_MAX : v);
    if (rt_cg_cpu_usec(cg, &v) == 0)
        ret->cpu_usec = v;
    return 0;
}

int rt_cg_cpu_usec(const struct rt_cg *cg, uint64_t *ret)
{
    int c = cg->idx[RT_CG_CPU];
    if (cg->v2 >= 0 && rt_cg_read_key(cg->dirs[cg->v2], "cpu.stat", "usage_usec", ret) == 0)
        return 0;
    uint64_t ns;
    if (c < 0 || cg->is_v2[c] || rt_cg_read_u64(cg->dirs[c], "cpuacct.usage", &ns) < 0)
        return -ENOENT;
    *ret = ns / 1000; /* v1 with cpu,cpuacct co-mounted */
    return 0;
}
