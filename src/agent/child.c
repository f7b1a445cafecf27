/* The child of an exec, from clone to execve: no malloc, no stdio, no writes outside its own
 * stack: it shares the agent's memory (CLONE_VM | CLONE_VFORK, exec.c) while the agent
 * sleeps.  Everything it needs was prepared by the parent; a failure is reported through a
 * close-on-exec pipe as a fixed struct, then _exit(). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <grp.h>
#include <linux/close_range.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/child.h"

static void report(int fd, enum agent_child_stage stage, int err)
{
    struct agent_child_report r = {.stage = (int)stage, .err = err};
    ssize_t n;
    do
        n = write(fd, &r, sizeof(r));
    while (n < 0 && errno == EINTR);
}

__attribute__((noreturn)) static void fail(const struct agent_child_args *c,
                                           enum agent_child_stage stage, int err)
{
    report(c->report_fd, stage, err);
    _exit(stage == AGENT_STAGE_EXEC ? (err == ENOENT || err == ENOTDIR ? 127 : 126) : 125);
}

static int dup_to(int from, int to)
{
    if (from == to)
        return agent_fd_cloexec_off(to);
    return dup2(from, to) < 0 ? -errno : 0;
}

int agent_fd_cloexec_off(int fd)
{
    int fl = fcntl(fd, F_GETFD);
    if (fl < 0 || fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC) < 0)
        return -errno;
    return 0;
}

/* Each exec runs in a Landlock domain of its own, nested in the sandbox's.  It restricts no
 * file access (every right it handles is granted beneath "/"), but Landlock lets a process
 * ptrace-access (/proc/<pid>/mem, /proc/<pid>/environ, ...) only processes of its own domain
 * or nested ones: the processes of one exec cannot read or write the memory of another
 * exec's, such as a server an earlier request started.  Signals stay unscoped, so `kill`
 * across execs keeps working.  No Landlock in the kernel: nothing to do. */
static int own_landlock_domain(void)
{
    struct {
        uint64_t handled_access_fs;
    } attr = {.handled_access_fs = (1ull << 13) - 1}; /* ABI 1 rights */
    long ruleset = syscall(444 /* landlock_create_ruleset */, &attr, sizeof(attr), 0);
    if (ruleset < 0)
        return errno == ENOSYS || errno == EOPNOTSUPP ? 0 : -errno;
    int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    int rc = root < 0 ? -errno : 0;
    if (rc == 0) {
        struct {
            uint64_t allowed_access;
            int32_t parent_fd;
        } __attribute__((packed))
        rule = {.allowed_access = attr.handled_access_fs, .parent_fd = root};
        if (syscall(445 /* landlock_add_rule */, (int)ruleset, 1 /* PATH_BENEATH */, &rule, 0) <
                0 ||
            syscall(446 /* landlock_restrict_self */, (int)ruleset, 0) < 0)
            rc = -errno;
        close(root);
    }
    close((int)ruleset);
    return rc;
}

/* execve, and a file the kernel cannot exec (ENOEXEC) as a /bin/sh script, as execvpe does.
 * Returns only on failure, with errno set. */
static void exec_file(const char *path, const struct agent_child_args *c)
{
    execve(path, c->argv, c->envp);
    if (errno != ENOEXEC)
        return;
    char *sh[256] = {"/bin/sh", (char *)path};
    size_t n = 1;
    while (c->argv[n] && n + 2 < sizeof(sh) / sizeof(sh[0])) {
        sh[n + 1] = c->argv[n];
        n++;
    }
    if (!c->argv[n]) /* more arguments than that: no script fallback */
        execve("/bin/sh", sh, c->envp);
    errno = ENOEXEC;
}

/* A command without a '/' is looked up in the request's PATH (execvpe would search the
 * agent's own environ, and setting environ here would change the agent's).  Same rules as
 * execvpe: no PATH is "/bin:/usr/bin", an empty entry is the cwd, EACCES anywhere wins over
 * ENOENT.  Returns only on failure, with errno set. */
static void exec_search(const struct agent_child_args *c)
{
    const char *file = c->argv[0];
    if (strchr(file, '/')) {
        exec_file(file, c);
        return;
    }
    const char *path = "/bin:/usr/bin";
    for (char **e = c->envp; e && *e; e++)
        if (strncmp(*e, "PATH=", 5) == 0) {
            path = *e + 5;
            break;
        }
    size_t flen = strlen(file);
    bool denied = false;
    char buf[PATH_MAX];
    for (const char *p = path;; p++) {
        const char *end = strchrnul(p, ':');
        size_t dlen = (size_t)(end - p);
        if (dlen + 1 + flen < sizeof(buf)) {
            memcpy(buf, p, dlen);
            buf[dlen] = '/';
            memcpy(buf + dlen + 1, file, flen + 1);
            exec_file(dlen ? buf : file, c);
            if (errno == EACCES)
                denied = true;
            else if (errno != ENOENT && errno != ENOTDIR && errno != ESTALE && errno != ENODEV &&
                     errno != ETIMEDOUT)
                return;
        }
        if (!*end)
            break;
        p = end;
    }
    errno = denied ? EACCES : ENOENT;
}

void agent_child_run(const struct agent_child_args *c)
{
    /* dispositions are the defaults already (the agent reset them at start and sets none); the
     * mask is cleared right before execve */
    umask(022);
    /* a process group of its own, for timeouts and SIGNAL frames; a session too only with a
     * pty, which it takes as its controlling terminal (a new session also costs a scheduler
     * autogroup, ~40 us per exec, for nothing without a terminal) */
    if (c->tty_fd >= 0 ? setsid() < 0 : setpgid(0, 0) < 0)
        fail(c, AGENT_STAGE_SETSID, errno);
    if (c->tty_fd >= 0 && ioctl(c->tty_fd, TIOCSCTTY, 0) < 0)
        fail(c, AGENT_STAGE_TTY, errno);
    if (dup_to(c->in_fd, 0) < 0 || dup_to(c->out_fd, 1) < 0 || dup_to(c->err_fd, 2) < 0)
        fail(c, AGENT_STAGE_FDS, errno);
    /* everything above 2 goes at execve (the report pipe included) */
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) < 0 && errno != ENOSYS &&
        errno != EINVAL)
        fail(c, AGENT_STAGE_FDS, errno);

    int rc = agent_caps_prepare_drop(c->privileged, c->bounding_dropped);
    if (rc < 0)
        fail(c, AGENT_STAGE_CAPS, -rc);
    /* EPERM is only acceptable where nobody could change groups: without capabilities (tests)
     * or in a user namespace whose setgroups is "deny" (the groups are fixed for everyone) */
    if (setgroups(c->user.ngroups, c->user.groups) < 0 &&
        !(errno == EPERM && (!c->privileged || c->setgroups_denied)))
        fail(c, AGENT_STAGE_SETGROUPS, errno);
    if (setresgid(c->user.gid, c->user.gid, c->user.gid) < 0)
        fail(c, AGENT_STAGE_SETGID, errno);
    if (setresuid(c->user.uid, c->user.uid, c->user.uid) < 0)
        fail(c, AGENT_STAGE_SETUID, errno);
    rc = agent_caps_clear();
    if (rc < 0)
        fail(c, AGENT_STAGE_CAPS, -rc);
    rc = own_landlock_domain();
    if (rc < 0)
        fail(c, AGENT_STAGE_CAPS, -rc);
    if (chdir(c->cwd) < 0)
        fail(c, AGENT_STAGE_CHDIR, errno);

    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    exec_search(c);
    fail(c, AGENT_STAGE_EXEC, errno);
}

const char *agent_child_stage_name(int stage)
{
    switch (stage) {
    case AGENT_STAGE_SETSID:
        return "setsid/setpgid";
    case AGENT_STAGE_TTY:
        return "set controlling terminal";
    case AGENT_STAGE_FDS:
        return "set up stdio";
    case AGENT_STAGE_CAPS:
        return "drop capabilities";
    case AGENT_STAGE_SETGROUPS:
        return "setgroups";
    case AGENT_STAGE_SETGID:
        return "setresgid";
    case AGENT_STAGE_SETUID:
        return "setresuid";
    case AGENT_STAGE_CHDIR:
        return "chdir";
    case AGENT_STAGE_EXEC:
        return "exec";
    }
    return "?";
}
