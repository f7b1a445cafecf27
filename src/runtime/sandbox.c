/* runtime: the namespace backend.
 *
 * Theory of operation.  A sandbox is a process tree in its own user, pid, mount, net, ipc,
 * uts, cgroup and time namespaces, whose PID 1 is airlock-init (the agent), bind-mounted
 * read-only from the host.  Creating one (rt_sandbox_create):
 *   1. cgroups "airlock/<id>" in each hierarchy (cgroup.c), limits written from the spec;
 *   2. a user namespace mapping 0..uid_count-1 onto the sandbox's host range (spawn.c);
 *   3. a setup child builds the root filesystem in a private mount namespace -- nothing is
 *      mounted in the host's namespace, so no mount can leak -- then joins the user
 *      namespace, unshares the rest and forks PID 1 as a child of the daemon (spawn.c).
 *      The writable layer is a tmpfs, or a sparse ext4 image on a loop device when the disk
 *      quota is larger than memory should hold (disk.c); the agent comes from a private
 *      read-only tmpfs copy (agentfs.c).  cgroup2 membership is set at clone time
 *      (CLONE_INTO_CGROUP); v1 migration (one RCU grace period) overlaps the mount work;
 *   4. PID 1 pivots into the root, confines itself (rlimits, no_new_privs, Landlock,
 *      seccomp from seccomp_rules.c) and execs the agent with the channel as fd 3;
 *   5. a reader thread per sandbox multiplexes the agent channel (channel.c); exec and file
 *      requests are encoded in ops.c.
 * Destroying one kills PID 1 (which takes the pid namespace with it) and the cgroup, reaps PID
 * 1 through its pidfd, stops the channel, and removes the cgroups.  The root filesystem and
 * its writable tmpfs disappear with the last process of the mount namespace.
 */
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "runtime/rt_int.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define CREATE_TIMEOUT_MS 15000

static int landlock_abi_cached = -1;
static pthread_once_t landlock_once = PTHREAD_ONCE_INIT;
static void landlock_probe(void)
{
    landlock_abi_cached = rt_landlock_abi();
}

bool rt_id_valid(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n < 1 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '0' && id[i] <= '9')))
            return false;
    return true;
}

static bool hostname_valid(const char *h)
{
    size_t n = strlen(h);
    if (n < 1 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((h[i] >= 'a' && h[i] <= 'z') || (h[i] >= 'A' && h[i] <= 'Z') ||
              (h[i] >= '0' && h[i] <= '9') || h[i] == '-' || h[i] == '.'))
            return false;
    return true;
}

static int validate(const struct rt_spec *s, struct al_err *err)
{
    if (!rt_id_valid(s->id))
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "sandbox id must be [a-z0-9]{1,32}");
    if (!s->layer_dirs || !s->layer_dirs[0])
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "sandbox %s: no layers", s->id);
    size_t n = 0;
    for (; s->layer_dirs[n]; n++)
        if (s->layer_dirs[n][0] != '/')
            return al_err_set(err, AL_ERR_INVALID, EINVAL, "sandbox %s: layer path not absolute",
                              s->id);
    if (n > 128)
        return al_err_set(err, AL_ERR_INVALID, E2BIG, "sandbox %s: too many layers", s->id);
    if (!s->sandbox_dir || s->sandbox_dir[0] != '/' || !s->agent_path || s->agent_path[0] != '/')
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "sandbox %s: paths must be absolute", s->id);
    if (s->uid_base == 0 || s->uid_count < 65536 ||
        (uint64_t)s->uid_base + s->uid_count > UINT32_MAX)
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "sandbox %s: bad uid range", s->id);
    if (s->hostname && s->hostname[0] && !hostname_valid(s->hostname))
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "sandbox %s: bad hostname", s->id);
    struct stat st;
    if (stat(s->sandbox_dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return al_err_sys(err, AL_ERR_INVALID, errno ? errno : ENOTDIR, "sandbox dir %s",
                          s->sandbox_dir);
    return 0;
}

static void wait_pidfd(int pidfd, int timeout_ms)
{
    struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
    poll(&pfd, 1, timeout_ms);
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    while (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED | (pfd.revents ? 0 : WNOHANG)) < 0 &&
           errno == EINTR)
        ;
}

/* Unmount (lazily) whatever the host's mount namespace has at or below dir. */
static void sweep_mounts(const char *dir)
{
    for (int round = 0; round < 8; round++) {
        cleanup_free char *mi = NULL;
        size_t n;
        if (al_read_file_at(AT_FDCWD, "/proc/self/mountinfo", 4u << 20, &mi, &n) < 0)
            return;
        size_t dl = strlen(dir);
        char best[PATH_MAX] = "";
        for (char *s = mi, *save = NULL, *line; (line = strtok_r(s, "\n", &save)); s = NULL) {
            char mp[PATH_MAX];
            if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
                continue;
            if (strncmp(mp, dir, dl) == 0 && (mp[dl] == 0 || mp[dl] == '/') &&
                strlen(mp) > strlen(best))
                snprintf(best, sizeof(best), "%s", mp);
        }
        if (!best[0] || umount2(best, MNT_DETACH) < 0)
            return;
    }
}

static void clear_dir(const char *dir)
{
    cleanup_close int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return;
    int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dfd < 0)
        return;
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        al_rm_rf_at(fd, de->d_name);
    }
    closedir(d);
}

void rt_sb_free(struct rt_sandbox *sb)
{
    if (!sb)
        return;
    pthread_mutex_destroy(&sb->lock);
    pthread_mutex_destroy(&sb->send_lock);
    pthread_cond_destroy(&sb->state_cond);
    free(sb->sbdir);
    free(sb->user);
    free(sb->workdir);
    al_strv_free(sb->env);
    free(sb);
}

/* Kill, reap, stop the channel, remove cgroups and leftovers. */
/* An ext4 writable layer: shut it down first, so its dirty pages are dropped instead of being
 * written back to an image that is about to be deleted (seconds for a full disk). */
static void disk_shutdown(int rw_fd)
{
    if (rw_fd < 0)
        return;
    struct statfs fs;
    if (fstatfs(rw_fd, &fs) < 0 || fs.f_type != 0xEF53 /* EXT4_SUPER_MAGIC */)
        return;
    int fd = openat(rw_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    uint32_t flags = 2; /* EXT4_GOING_FLAGS_NOLOGFLUSH */
    ioctl(fd, _IOR('X', 125, uint32_t) /* EXT4_IOC_SHUTDOWN */, &flags);
    close(fd);
}

static int teardown(struct rt_sandbox *sb, struct al_err *err)
{
    disk_shutdown(sb->rw_fd);
    if (sb->pidfd >= 0)
        syscall(SYS_pidfd_send_signal, sb->pidfd, SIGKILL, NULL, 0);
    rt_cg_kill(&sb->cg);
    if (sb->pidfd >= 0)
        wait_pidfd(sb->pidfd, 5000);
    rt_chan_stop(sb);
    if (sb->ctl_fd >= 0)
        close(sb->ctl_fd);
    if (sb->rw_fd >= 0)
        close(sb->rw_fd);
    if (sb->pidfd >= 0)
        close(sb->pidfd);
    sb->ctl_fd = sb->rw_fd = sb->pidfd = -1;
    int r = rt_cg_remove(&sb->cg, err);
    sweep_mounts(sb->sbdir);
    clear_dir(sb->sbdir);
    return r;
}

int rt_sb_copy_spec(struct rt_sandbox *sb, const struct rt_spec *spec)
{
    snprintf(sb->id, sizeof(sb->id), "%s", spec->id);
    sb->sbdir = strdup(spec->sandbox_dir);
    if (!sb->sbdir)
        return -ENOMEM;
    if (spec->user && !(sb->user = strdup(spec->user)))
        return -ENOMEM;
    if (spec->workdir && !(sb->workdir = strdup(spec->workdir)))
        return -ENOMEM;
    size_t n = 0;
    while (spec->env && spec->env[n])
        n++;
    sb->env = calloc(n + 1, sizeof(char *));
    if (!sb->env)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (!(sb->env[i] = strdup(spec->env[i])))
            return -ENOMEM;
    return 0;
}

struct rt_sandbox *rt_sb_new(void)
{
    struct rt_sandbox *sb = calloc(1, sizeof(*sb));
    if (!sb)
        return NULL;
    sb->pidfd = sb->rw_fd = sb->ctl_fd = -1;
    pthread_mutex_init(&sb->lock, NULL);
    pthread_mutex_init(&sb->send_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sb->state_cond, &ca);
    pthread_condattr_destroy(&ca);
    return sb;
}

/* Read the children's reports until EOF (PID 1 exec'd) or failure. */
static int read_reports(struct rt_sandbox *sb, int fd, struct al_err *err)
{
    long long deadline = al_now_ms() + CREATE_TIMEOUT_MS;
    struct rt_report fail = {0};
    for (;;) {
        long long left = deadline - al_now_ms();
        if (left <= 0)
            return al_err_set(err, AL_ERR_TIMEOUT, ETIMEDOUT, "sandbox %s: setup timed out",
                              sb->id);
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = poll(&pfd, 1, (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        struct rt_report rep;
        int fds[2] = {-1, -1};
        union {
            char buf[CMSG_SPACE(sizeof(fds))];
            struct cmsghdr align;
        } u;
        struct iovec iov = {.iov_base = &rep, .iov_len = sizeof(rep)};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = u.buf,
                            .msg_controllen = sizeof(u.buf)};
        ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n < 0)
            return al_err_sys(err, AL_ERR_INTERNAL, errno, "sandbox %s: read setup report", sb->id);
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
                c->cmsg_len == CMSG_LEN(sizeof(fds)))
                memcpy(fds, CMSG_DATA(c), sizeof(fds));
        if (n == 0)
            break;
        if (n == sizeof(rep) && rep.kind == RT_REPORT_PID && fds[0] >= 0 && sb->pidfd < 0) {
            sb->pidfd = fds[0];
            sb->rw_fd = fds[1];
            sb->pid = rep.pid;
            continue;
        }
        for (int i = 0; i < 2; i++)
            if (fds[i] >= 0)
                close(fds[i]);
        if (n == sizeof(rep) && rep.kind == RT_REPORT_FAIL && !fail.kind)
            fail = rep;
    }
    if (fail.kind)
        return al_err_sys(err, fail.err == ENOENT ? AL_ERR_INVALID : AL_ERR_INTERNAL, fail.err,
                          "sandbox %s: %s", sb->id, rt_stage_name(fail.stage));
    if (sb->pidfd < 0)
        return al_err_set(err, AL_ERR_INTERNAL, EPROTO, "sandbox %s: setup died", sb->id);
    return 0;
}

int rt_sandbox_create(const struct rt_spec *spec, struct rt_sandbox **ret, struct al_err *err)
{
    int r = validate(spec, err);
    if (r < 0)
        return r;
    const struct rt_cg_layout *layout;
    const struct sock_fprog *prog;
    if ((r = rt_cg_layout_get(&layout, err)) < 0 || (r = rt_seccomp_prog(&prog, err)) < 0)
        return r;
    pthread_once(&landlock_once, landlock_probe);

    struct rt_sandbox *sb = rt_sb_new();
    /* on the heap: ~25 KiB of paths, and API threads may have small stacks */
    struct rt_plan *plan = calloc(1, sizeof(*plan));
    if (!sb || !plan || rt_sb_copy_spec(sb, spec) < 0) {
        free(plan);
        rt_sb_free(sb);
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    }
    if (rt_cg_plan(layout, spec->id, &sb->cg) < 0) {
        free(plan);
        rt_sb_free(sb);
        return al_err_set(err, AL_ERR_INTERNAL, ENAMETOOLONG, "cgroup paths too long");
    }
    r = rt_cg_create(&sb->cg, &spec->limits, err);
    if (r < 0) {
        free(plan);
        rt_sb_free(sb);
        return r;
    }
    int ctl[2] = {-1, -1}, rep[2] = {-1, -1}, reattach[2] = {-1, -1}, setup = -1;
    int loopfd = -1;
    pid_t setup_pid = 0;
    r = rt_plan_init(plan, spec, &sb->cg);
    if (r < 0) {
        al_err_sys(err, r == -ENOMEM ? AL_ERR_INTERNAL : AL_ERR_INVALID, -r, "sandbox %s: paths",
                   spec->id);
        goto fail;
    }
    plan->seccomp = prog;
    plan->timeout_s = CREATE_TIMEOUT_MS / 1000;
    plan->agent_fd = rt_agent_fd(spec->agent_path);
    if (plan->agent_fd == -ENOENT || plan->agent_fd == -EACCES || plan->agent_fd == -EINVAL) {
        r = al_err_sys(err, AL_ERR_INVALID, -plan->agent_fd, "sandbox %s: agent %s", spec->id,
                       spec->agent_path);
        goto fail;
    }
    plan->landlock_abi = landlock_abi_cached;
    uint64_t size = spec->limits.disk_bytes ? spec->limits.disk_bytes : (1ull << 30);
    uint64_t inodes = spec->limits.inodes ? spec->limits.inodes : 65536;
    bool ext4 = spec->disk_kind == RT_DISK_EXT4 ||
                (spec->disk_kind == RT_DISK_AUTO &&
                 (!spec->limits.memory_bytes || size > spec->limits.memory_bytes / 2));
    if (ext4 && !rt_disk_supported() && spec->disk_kind == RT_DISK_EXT4) {
        r = al_err_set(err, AL_ERR_UNAVAILABLE, ENOTSUP,
                       "sandbox %s: ext4 disk needs mkfs.ext4 and loop devices", spec->id);
        goto fail;
    }
    if (ext4 && rt_disk_supported()) { /* else: tmpfs, bounded by the memory limit too */
        loopfd =
            rt_disk_create(spec->sandbox_dir, size, inodes, plan->rw_dev, sizeof(plan->rw_dev));
        /* the host can do it, so a failure here (disk full, no free loop device) is an
         * error: falling back to a tmpfs would silently turn the disk quota into memory */
        if (loopfd < 0) {
            r = al_err_sys(err, al_err_kind_from_errno(-loopfd), -loopfd,
                           "sandbox %s: writable layer disk", spec->id);
            goto fail;
        }
    }
    plan->userns_fd = rt_userns_make(spec->uid_base, spec->uid_count, err);
    if (plan->userns_fd < 0) {
        r = plan->userns_fd;
        goto fail;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl) < 0 ||
        socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, rep) < 0 ||
        socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, reattach) < 0) {
        r = al_err_sys(err, AL_ERR_INTERNAL, errno, "socketpair");
        goto fail;
    }
    plan->ctl_fd = ctl[1];
    plan->report_fd = rep[1];
    plan->reattach_fd[0] = reattach[0];
    plan->reattach_fd[1] = reattach[1];
    setup = rt_spawn_setup(plan, &setup_pid, err);
    close(TAKE_FD(ctl[1]));
    close(TAKE_FD(rep[1]));
    close(TAKE_FD(reattach[0])); /* PID 1 alone holds the pair */
    close(TAKE_FD(reattach[1]));
    if (setup < 0) {
        r = setup;
        goto fail;
    }
    sb->ctl_fd = TAKE_FD(ctl[0]);
    r = read_reports(sb, rep[0], err);
    if (loopfd >= 0) /* mounted now (or failed): the mount holds the device from here */
        close(TAKE_FD(loopfd));
    if (r >= 0 && (r = rt_init_record_write(spec->sandbox_dir, sb->pid)) < 0)
        r = al_err_sys(err, AL_ERR_INTERNAL, -r, "sandbox %s: init record", spec->id);
    if (r >= 0)
        r = rt_chan_start(sb, err);
    if (r >= 0)
        r = rt_chan_wait_hello(sb, CREATE_TIMEOUT_MS, err);
    if (r < 0)
        goto fail;
    wait_pidfd(setup, 1000);
    close(setup);
    close(rep[0]);
    close(plan->userns_fd);
    if (plan->agent_fd >= 0)
        close(plan->agent_fd);
    rt_plan_free(plan);
    free(plan);
    *ret = sb;
    return 0;
fail:
    if (setup >= 0) {
        syscall(SYS_pidfd_send_signal, setup, SIGKILL, NULL, 0);
        wait_pidfd(setup, 5000);
        close(setup);
    }
    for (int i = 0; i < 2; i++) {
        if (ctl[i] >= 0)
            close(ctl[i]);
        if (rep[i] >= 0)
            close(rep[i]);
        if (reattach[i] >= 0)
            close(reattach[i]);
    }
    if (loopfd >= 0)
        close(loopfd);
    if (plan->userns_fd >= 0)
        close(plan->userns_fd);
    if (plan->agent_fd >= 0)
        close(plan->agent_fd);
    rt_plan_free(plan);
    free(plan);
    teardown(sb, NULL);
    rt_sb_free(sb);
    return r;
}

int rt_sandbox_destroy(struct rt_sandbox *sb, struct al_err *err)
{
    if (!sb)
        return 0;
    int r = teardown(sb, err);
    if (r < 0)
        al_err_wrap(err, "sandbox %s: destroy", sb->id);
    rt_sb_free(sb);
    return r;
}

pid_t rt_sandbox_pid(const struct rt_sandbox *sb)
{
    return sb->pid;
}

bool rt_sandbox_alive(const struct rt_sandbox *sb)
{
    struct rt_sandbox *m = (struct rt_sandbox *)sb;
    pthread_mutex_lock(&m->lock);
    bool alive = !m->dead;
    pthread_mutex_unlock(&m->lock);
    return alive;
}

bool rt_sandbox_oom_killed(struct rt_sandbox *sb)
{
    uint64_t kills;
    if (rt_cg_oom_kills(&sb->cg, &kills) < 0)
        return false;
    pthread_mutex_lock(&sb->lock);
    bool killed = sb->dead && kills > sb->oom_seen;
    pthread_mutex_unlock(&sb->lock);
    return killed;
}

int rt_sandbox_stats(struct rt_sandbox *sb, struct rt_stats *ret, struct al_err *err)
{
    struct rt_stats st;
    memset(&st, 0, sizeof(st));
    rt_cg_stats(&sb->cg, &st);
    struct statfs fs;
    if (sb->rw_fd >= 0 && fstatfs(sb->rw_fd, &fs) == 0)
        st.disk_bytes = (uint64_t)(fs.f_blocks - fs.f_bfree) * (uint64_t)fs.f_bsize;
    *ret = st;
    return 0;
}

int rt_cleanup_stale(const char *id, const char *sandbox_dir, struct al_err *err)
{
    if (!rt_id_valid(id))
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "sandbox id must be [a-z0-9]{1,32}");
    const struct rt_cg_layout *layout;
    int r = rt_cg_layout_get(&layout, err);
    if (r < 0)
        return r;
    cleanup_free struct rt_cg *cg = malloc(sizeof(*cg));
    if (!cg)
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    if (rt_cg_plan(layout, id, cg) < 0)
        return al_err_set(err, AL_ERR_INTERNAL, ENAMETOOLONG, "cgroup paths too long");
    rt_cg_kill(cg);
    r = rt_cg_remove(cg, err);
    if (sandbox_dir && sandbox_dir[0] == '/') {
        sweep_mounts(sandbox_dir);
        clear_dir(sandbox_dir);
    }
    return r < 0 ? al_err_wrap(err, "sandbox %s: cleanup", id) : 0;
}
