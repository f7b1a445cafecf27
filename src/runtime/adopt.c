/* runtime: re-adopting a running sandbox after airlockd restarted.
 *
 * A sandbox does not depend on the daemon that made it: its PID 1 (airlock-init --reattach)
 * survives the loss of its channel, kills the execs whose results nobody can read any more,
 * and waits on fd 4 for a new channel.  fd 5 is the other end of that socketpair; only the
 * agent holds it, so fd 4 never sees EOF.
 *
 * rt_sandbox_create writes <sandbox_dir>/init: "<host pid of PID 1> <its start time>", a
 * host-only file.  rt_sandbox_adopt reads it back and proves that the process it names is
 * still that PID 1: a pidfd first (so the pid cannot be recycled under us), then the start
 * time from /proc/<pid>/stat and membership of the sandbox's own cgroup.  It takes a copy of
 * fd 5 with pidfd_getfd (root on the host may; nothing inside the sandbox may: seccomp and
 * Landlock, and the agent is not dumpable), makes a new channel socketpair, sends one end
 * over fd 5 and waits for HELLO on the other.  Anything that does not match is a refusal,
 * and the caller cleans the sandbox up as stale instead.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/parse.h"
#include "runtime/rt_int.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

#define INIT_RECORD "init"
#define ADOPT_HELLO_MS 5000

/* Field 22 of /proc/<pid>/stat (clock ticks since boot), 0 when unreadable. */
static uint64_t start_time(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    cleanup_free char *text = NULL;
    size_t len = 0;
    if (al_read_file_at(AT_FDCWD, path, 4096, &text, &len) < 0)
        return 0;
    const char *p = strrchr(text, ')'); /* comm may hold spaces and parentheses */
    if (!p)
        return 0;
    /* p: the space before field 3, then before each next one, up to field 22 */
    for (int field = 3; field <= 22 && p; field++)
        p = strchr(p + 1, ' ');
    if (!p)
        return 0;
    char num[32];
    size_t n = strcspn(p + 1, " ");
    if (n == 0 || n >= sizeof(num))
        return 0;
    memcpy(num, p + 1, n);
    num[n] = '\0';
    uint64_t v;
    return al_parse_u64(num, UINT64_MAX, &v) == 0 ? v : 0;
}

int rt_init_record_write(const char *sandbox_dir, pid_t pid)
{
    uint64_t st = start_time(pid);
    if (!st)
        return -ESRCH;
    char line[64];
    int n = snprintf(line, sizeof(line), "%d %llu\n", (int)pid, (unsigned long long)st);
    cleanup_close int dfd = open(sandbox_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -errno;
    return al_write_file_at(dfd, INIT_RECORD, line, (size_t)n, 0600);
}

static int read_record(const char *sandbox_dir, pid_t *ret_pid, uint64_t *ret_start)
{
    cleanup_close int dfd = open(sandbox_dir, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (dfd < 0)
        return -errno;
    cleanup_free char *text = NULL;
    size_t len = 0;
    int r = al_read_file_at(dfd, INIT_RECORD, 64, &text, &len);
    if (r < 0)
        return r;
    char *sp = strchr(text, ' '), *nl = strchr(text, '\n');
    if (!sp || !nl || nl < sp)
        return -EBADMSG;
    *sp = *nl = '\0';
    uint64_t pid, st;
    if (al_parse_u64(text, INT32_MAX, &pid) < 0 || pid < 2 ||
        al_parse_u64(sp + 1, UINT64_MAX, &st) < 0 || st == 0)
        return -EBADMSG;
    *ret_pid = (pid_t)pid;
    *ret_start = st;
    return 0;
}

/* Is pid in the sandbox's cgroup (".../airlock/<id>" in some hierarchy)? */
static bool in_sandbox_cgroup(pid_t pid, const char *id)
{
    char path[64], want[64];
    snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
    int wl = snprintf(want, sizeof(want), "/airlock/%s", id);
    cleanup_free char *text = NULL;
    size_t len = 0;
    if (al_read_file_at(AT_FDCWD, path, 65536, &text, &len) < 0)
        return false;
    for (char *s = text, *save = NULL, *line; (line = strtok_r(s, "\n", &save)); s = NULL) {
        char *cg = strchr(line, ':');
        cg = cg ? strchr(cg + 1, ':') : NULL;
        if (!cg)
            continue;
        size_t n = strlen(cg + 1);
        if (n >= (size_t)wl && strcmp(cg + 1 + n - (size_t)wl, want) == 0)
            return true;
    }
    return false;
}

/* Send one end of a new channel over the agent's reattach socket; returns our end. */
static int send_channel(int keep_fd, struct al_err *err)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return al_err_sys(err, AL_ERR_INTERNAL, errno, "socketpair");
    char byte = 'C';
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    memset(&u, 0, sizeof(u));
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &sv[1], sizeof(int));
    ssize_t n = sendmsg(keep_fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
    int e = errno;
    close(sv[1]);
    if (n != 1) {
        close(sv[0]);
        return al_err_sys(err, AL_ERR_UNAVAILABLE, n < 0 ? e : EIO, "send the new channel");
    }
    return sv[0];
}

int rt_sandbox_adopt(const struct rt_spec *spec, struct rt_sandbox **ret, struct al_err *err)
{
    if (!rt_id_valid(spec->id) || !spec->sandbox_dir || spec->sandbox_dir[0] != '/')
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "adopt: bad sandbox id or dir");
    const struct rt_cg_layout *layout;
    int r = rt_cg_layout_get(&layout, err);
    if (r < 0)
        return r;
    pid_t pid = 0;
    uint64_t want_start = 0;
    if ((r = read_record(spec->sandbox_dir, &pid, &want_start)) < 0)
        return al_err_sys(err, AL_ERR_NOT_FOUND, -r, "sandbox %s: no init record", spec->id);
    cleanup_close int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0)
        return al_err_sys(err, AL_ERR_NOT_FOUND, errno, "sandbox %s: PID 1 (%d) is gone", spec->id,
                          (int)pid);
    /* the pidfd pins the process: checks from here on are about the one it refers to */
    if (start_time(pid) != want_start || !in_sandbox_cgroup(pid, spec->id))
        return al_err_set(err, AL_ERR_NOT_FOUND, ESRCH, "sandbox %s: pid %d is no longer its PID 1",
                          spec->id, (int)pid);
    cleanup_close int keep = (int)syscall(SYS_pidfd_getfd, pidfd, RT_REATTACH_KEEP_FD, 0);
    if (keep < 0)
        return al_err_sys(err, AL_ERR_UNAVAILABLE, errno,
                          "sandbox %s: PID 1 has no reattach socket: made by an older airlockd?",
                          spec->id);
    int type = 0;
    socklen_t tl = sizeof(type);
    if (getsockopt(keep, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_SEQPACKET)
        return al_err_set(err, AL_ERR_UNAVAILABLE, ENOTSOCK,
                          "sandbox %s: PID 1's fd %d is not its reattach socket", spec->id,
                          RT_REATTACH_KEEP_FD);

    struct rt_sandbox *sb = rt_sb_new();
    if (!sb || rt_sb_copy_spec(sb, spec) < 0) {
        rt_sb_free(sb);
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    }
    if (rt_cg_plan(layout, spec->id, &sb->cg) < 0) {
        rt_sb_free(sb);
        return al_err_set(err, AL_ERR_INTERNAL, ENAMETOOLONG, "cgroup paths too long");
    }
    sb->pid = pid;
    sb->ctl_fd = send_channel(keep, err);
    if (sb->ctl_fd < 0) {
        r = sb->ctl_fd;
        sb->ctl_fd = -1;
        rt_sb_free(sb);
        return r;
    }
    /* disk usage for stats: an overlay's statfs reports its writable layer */
    char root[64];
    snprintf(root, sizeof(root), "/proc/%d/root", (int)pid);
    sb->rw_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if ((r = rt_chan_start(sb, err)) < 0 || (r = rt_chan_wait_hello(sb, ADOPT_HELLO_MS, err)) < 0) {
        rt_chan_stop(sb);
        close(sb->ctl_fd);
        if (sb->rw_fd >= 0)
            close(sb->rw_fd);
        rt_sb_free(sb);
        return al_err_wrap(err, "sandbox %s: reattach", spec->id);
    }
    sb->pidfd = TAKE_FD(pidfd);
    *ret = sb;
    return 0;
}
