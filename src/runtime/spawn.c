/* The two children that build a sandbox.  The daemon is multithreaded, so between clone and
 * exec only raw syscalls are used: every string is computed beforehand (struct rt_plan),
 * and failures travel to the daemon as a fixed struct rt_report on a SOCK_SEQPACKET socket.
 *
 * Both children share the daemon's memory (CLONE_VM | CLONE_VFORK, as posix_spawn does):
 * copying the daemon's address space for each and tearing the copy down again at exec and
 * exit cost ~2.5 ms of every create.  The calling thread sleeps until the setup child is
 * done, the setup child until PID 1 has exec'd, so each child has the thread's TLS (errno)
 * to itself; they run on their own stacks (struct rt_stacks), write nothing but their
 * stacks, and get their own fd tables, credentials and namespaces as usual.
 *
 *   daemon --clone(VM|VFORK)--> setup (host root, host pid ns)
 *     joins the sandbox cgroups; unshare(NEWNS), / rprivate; in that private mount namespace
 *     (invisible to the host, gone with the sandbox): tmpfs over sandbox_dir; the quota tmpfs
 *     at rw/; idmapped read-only clones of the layers at lower/N; overlay at root/; /dev,
 *     devpts, /dev/shm, an empty read-only /sys, the agent bound read-only at /.airlock/init.
 *     Then setns(userns), become uid 0 there, unshare(NEWNS|NEWPID|NEWNET|NEWIPC|NEWUTS|
 *     NEWCGROUP|NEWTIME) and clone(CLONE_PARENT|CLONE_PIDFD|CLONE_VM|CLONE_VFORK): the daemon
 *     is PID 1's parent; the pidfd goes to the daemon over the report socket (SCM_RIGHTS).
 *   PID 1 (sandbox root in its userns): mounts the private procfs, pivot_root, hostname, lo
 *     up, rlimits, fds (0-2 /dev/null, 3 the channel, nothing else), no_new_privs, Landlock,
 *     seccomp, execve("/.airlock/init").  EOF on the report socket means the exec happened.
 */
#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/seccomp.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "runtime/rt_int.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

enum rt_stage {
    ST_CGROUP = 1,
    ST_UNSHARE_MNT,
    ST_SCRATCH,
    ST_RW,
    ST_LAYER,
    ST_OVERLAY,
    ST_DEV,
    ST_SYS,
    ST_AGENT,
    ST_USERNS,
    ST_UNSHARE,
    ST_CLONE,
    ST_PROC,
    ST_PIVOT,
    ST_HOSTNAME,
    ST_LOOPBACK,
    ST_RLIMIT,
    ST_FDS,
    ST_LANDLOCK,
    ST_SECCOMP,
    ST_EXEC,
};

const char *rt_stage_name(int stage)
{
    static const char *const names[] = {
        "?",
        "join cgroups",
        "unshare mount ns",
        "mount scratch tmpfs",
        "mount writable tmpfs",
        "mount idmapped layer",
        "mount overlay",
        "populate /dev",
        "mount /sys",
        "bind agent",
        "join user ns",
        "unshare namespaces",
        "clone pid 1",
        "mount proc",
        "pivot_root",
        "sethostname",
        "loopback up",
        "rlimits",
        "set up fds",
        "landlock",
        "seccomp",
        "exec agent",
    };
    return stage > 0 && (size_t)stage < sizeof(names) / sizeof(names[0]) ? names[stage] : "?";
}

/* ---- plan -------------------------------------------------------------------------- */

int rt_plan_init(struct rt_plan *p, const struct rt_spec *spec, const struct rt_cg *cg)
{
    memset(p, 0, sizeof(*p));
    p->userns_fd = p->report_fd = p->ctl_fd = p->agent_fd = -1;
    p->reattach_fd[0] = p->reattach_fd[1] = -1;
    p->sbdir = spec->sandbox_dir;
    p->agent_path = spec->agent_path;
    p->hostname = spec->hostname && spec->hostname[0] ? spec->hostname : spec->id;
    p->uid_base = spec->uid_base;
    p->cg = cg;
    p->nofile = spec->limits.nofile ? spec->limits.nofile : 1024;
    while (spec->layer_dirs[p->nlayers])
        p->nlayers++;
    p->layer_src = calloc((size_t)p->nlayers + 1, sizeof(char *));
    p->layer_dst = calloc((size_t)p->nlayers + 1, sizeof(char *));
    size_t optlen = 64 + (size_t)p->nlayers * 24;
    p->overlay_opts = malloc(optlen);
    if (!p->layer_src || !p->layer_dst || !p->overlay_opts)
        return -ENOMEM;
    const char *d = p->sbdir;
#define P(buf, ...)                                                                                \
    if ((size_t)snprintf(buf, sizeof(buf), __VA_ARGS__) >= sizeof(buf))                            \
    return -ENAMETOOLONG
    P(p->rw, "%s/rw", d);
    P(p->upper, "%s/rw/upper", d);
    P(p->work, "%s/rw/work", d);
    P(p->lower, "%s/lower", d);
    P(p->root, "%s/root", d);
    unsigned b = (unsigned)spec->uid_base;
    P(p->scratch_opts, "size=1m,nr_inodes=%d,mode=0711", p->nlayers + 64);
    P(p->rw_opts, "size=%llu,nr_inodes=%llu,mode=0755,uid=%u,gid=%u",
      (unsigned long long)(spec->limits.disk_bytes ? spec->limits.disk_bytes : (1ull << 30)),
      (unsigned long long)(spec->limits.inodes ? spec->limits.inodes : 65536), b, b);
    P(p->dev_opts, "size=64k,nr_inodes=64,mode=0755,uid=%u,gid=%u", b, b);
    uint64_t shm = spec->limits.memory_bytes ? spec->limits.memory_bytes / 2 : (64ull << 20);
    if (shm > (256ull << 20))
        shm = 256ull << 20;
    P(p->shm_opts, "size=%llu,nr_inodes=4096,mode=1777,uid=%u,gid=%u", (unsigned long long)shm, b,
      b);
    P(p->pts_opts, "newinstance,ptmxmode=0666,mode=0620,gid=%u", b + 5);
#undef P
    char *o = p->overlay_opts;
    size_t left = optlen;
    int n = snprintf(o, left, "lowerdir=");
    for (int i = p->nlayers - 1; i >= 0; i--) /* top layer first */
        n += snprintf(o + n, left - (size_t)n, "lower/%d%s", i, i ? ":" : "");
    n += snprintf(o + n, left - (size_t)n, ",upperdir=rw/upper,workdir=rw/work");
    if ((size_t)n >= left)
        return -ENAMETOOLONG;
    for (int i = 0; i < p->nlayers; i++) {
        p->layer_src[i] = strdup(spec->layer_dirs[i]);
        if (asprintf(&p->layer_dst[i], "%s/lower/%d", d, i) < 0)
            p->layer_dst[i] = NULL;
        if (!p->layer_src[i] || !p->layer_dst[i])
            return -ENOMEM;
    }
    return 0;
}

void rt_plan_free(struct rt_plan *p)
{
    for (int i = 0; p->layer_src && i < p->nlayers; i++)
        free(p->layer_src[i]);
    for (int i = 0; p->layer_dst && i < p->nlayers; i++)
        free(p->layer_dst[i]);
    free(p->layer_src);
    free(p->layer_dst);
    free(p->overlay_opts);
    p->layer_src = p->layer_dst = NULL;
    p->overlay_opts = NULL;
}

/* In a clone of the daemon with its own fd table: close every fd but keep[].  A child
 * that kept copies of other threads' pipes and sockets would hold their ends open: a
 * reader waiting for EOF on one of them then waits for this child, and two such children
 * waiting for each other's EOF deadlock two concurrent creates. */
static void close_all_except(int *keep, int n)
{
    for (int i = 1; i < n; i++) /* insertion sort: n is tiny */
        for (int j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
            int t = keep[j];
            keep[j] = keep[j - 1];
            keep[j - 1] = t;
        }
    unsigned lo = 3; /* 0-2 stay: the daemon's stdio, replaced before any exec */
    for (int i = 0; i < n; i++) {
        if (keep[i] < (int)lo)
            continue;
        if ((unsigned)keep[i] > lo)
            syscall(SYS_close_range, lo, (unsigned)keep[i] - 1, 0);
        lo = (unsigned)keep[i] + 1;
    }
    syscall(SYS_close_range, lo, ~0U, 0);
}

/* ---- user namespace -------------------------------------------------------------------- */

/* The holder only keeps its new user namespace alive until the daemon has written the maps
 * and opened it.  It shares the daemon's memory and fd table (no copies to make or hold)
 * while the daemon thread that made it goes on, so it must write nothing: a raw ppoll with
 * nothing to wait for (glibc's pause() is a cancellation point and would flip that thread's
 * cancel state) returns only for a signal handler, and the daemon's signals are blocked or
 * ignored.  SIGKILL ends it. */
static int userns_holder(void *arg)
{
    (void)arg;
    for (;;)
        syscall(SYS_ppoll, NULL, 0, NULL, NULL, 0);
    return 0; /* not reached */
}

#define USERNS_STACK (64u << 10)

int rt_userns_make(uid_t uid_base, uint32_t count, struct al_err *err)
{
    char *stack = mmap(NULL, USERNS_STACK, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED)
        return al_err_sys(err, AL_ERR_INTERNAL, errno, "user namespace holder stack");
    int pidfd = -1;
    int pid = clone(userns_holder, stack + USERNS_STACK,
                    CLONE_VM | CLONE_FILES | CLONE_NEWUSER | CLONE_PIDFD | SIGCHLD, NULL, &pidfd);
    if (pid < 0) {
        int e = errno;
        munmap(stack, USERNS_STACK);
        return al_err_sys(err, AL_ERR_INTERNAL, e, "clone user namespace");
    }
    char path[64], map[64];
    snprintf(map, sizeof(map), "0 %u %u\n", (unsigned)uid_base, count);
    int r = 0, fd = -1;
    snprintf(path, sizeof(path), "/proc/%d/uid_map", pid);
    r = al_write_string(path, map);
    if (r >= 0) {
        snprintf(path, sizeof(path), "/proc/%d/gid_map", pid);
        r = al_write_string(path, map);
    }
    if (r >= 0) {
        snprintf(path, sizeof(path), "/proc/%d/ns/user", pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            r = -errno;
    }
    syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
    siginfo_t si;
    while (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED) < 0 && errno == EINTR)
        ;
    close(pidfd);
    munmap(stack, USERNS_STACK); /* the holder is gone: nothing runs on it any more */
    if (r < 0)
        return al_err_sys(err, AL_ERR_INTERNAL, -r, "user namespace map %u+%u", (unsigned)uid_base,
                          count);
    return fd;
}

/* ---- children (syscalls only from here on) -------------------------------------------- */

/* What a child knows, on its own stack: the children share the daemon's memory, so nothing
 * they write may live anywhere else (a global here would be shared by every create). */
struct child {
    const struct rt_plan *p;
    int report_fd; /* PID 1 moves it once it rearranges its fds */
};

static __attribute__((noreturn)) void fail(const struct child *c, int stage, int e)
{
    struct rt_report rep = {.kind = RT_REPORT_FAIL, .stage = stage, .err = e ? e : EIO};
    (void)!send(c->report_fd, &rep, sizeof(rep), MSG_NOSIGNAL);
    _exit(127);
}

#define TRY(stage, expr)                                                                           \
    do {                                                                                           \
        if ((expr) < 0)                                                                            \
            fail(c, stage, errno);                                                                 \
    } while (0)

static int touch(int dirfd, const char *name, mode_t mode)
{
    int fd = openat(dirfd, name, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

static int bind_flags(const char *src, const char *dst, unsigned long extra)
{
    if (mount(src, dst, NULL, MS_BIND, NULL) < 0)
        return -1;
    return mount(NULL, dst, NULL, MS_BIND | MS_REMOUNT | MS_NOSUID | extra, NULL);
}

/* Inside the overlay root (cwd). */
static void populate_root(const struct child *c)
{
    const struct rt_plan *p = c->p;
    static const char *const dirs[] = {"proc", "dev", "sys", "tmp", ".airlock"};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        /* The image's entry may be a symlink (mount(2) would follow it, resolved against the
         * host root here) or a file: replace it with a real directory. */
        struct stat st;
        if (fstatat(AT_FDCWD, dirs[i], &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode))
            TRY(ST_DEV, unlinkat(AT_FDCWD, dirs[i], 0));
        if (mkdir(dirs[i], i == 3 ? 01777 : 0755) == 0) {
            (void)!lchown(dirs[i], p->uid_base, p->uid_base);
            if (i == 3)
                (void)!chmod(dirs[i], 01777);
        } else if (errno != EEXIST) {
            fail(c, ST_DEV, errno);
        }
    }
    TRY(ST_DEV, mount("airlock-dev", "dev", "tmpfs", MS_NOSUID | MS_NOEXEC, p->dev_opts));
    int dev = open("dev", O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    TRY(ST_DEV, dev);
    /* real nodes on a tmpfs the host mounted: no bind mounts of the host's devtmpfs, whose
     * mountinfo would show host details */
    static const struct {
        const char *name;
        unsigned maj, min;
    } nodes[] = {{"null", 1, 3},   {"zero", 1, 5},    {"full", 1, 7},
                 {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};
    for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
        TRY(ST_DEV,
            mknodat(dev, nodes[i].name, S_IFCHR | 0666, makedev(nodes[i].maj, nodes[i].min)));
        TRY(ST_DEV, fchmodat(dev, nodes[i].name, 0666, 0));
    }
    TRY(ST_DEV, mkdirat(dev, "pts", 0755));
    TRY(ST_DEV, mount("devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, p->pts_opts));
    TRY(ST_DEV, symlinkat("pts/ptmx", dev, "ptmx"));
    TRY(ST_DEV, mkdirat(dev, "shm", 01777));
    TRY(ST_DEV, mount("shm", "dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, p->shm_opts));
    TRY(ST_DEV, symlinkat("/proc/self/fd", dev, "fd"));
    TRY(ST_DEV, symlinkat("/proc/self/fd/0", dev, "stdin"));
    TRY(ST_DEV, symlinkat("/proc/self/fd/1", dev, "stdout"));
    TRY(ST_DEV, symlinkat("/proc/self/fd/2", dev, "stderr"));
    close(dev);
    TRY(ST_SYS, mount("airlock-sys", "sys", "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                      "size=4k,nr_inodes=4,mode=0555"));
    TRY(ST_AGENT, mount("airlock", ".airlock", "tmpfs", MS_NOSUID | MS_NODEV,
                        "size=4k,nr_inodes=8,mode=0755"));
    TRY(ST_AGENT, touch(AT_FDCWD, ".airlock/init", 0755));
    int t = p->agent_fd < 0 ? -1
                            : (int)syscall(SYS_open_tree, p->agent_fd, "init",
                                           OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (t >= 0) {
        TRY(ST_AGENT,
            syscall(SYS_move_mount, t, "", AT_FDCWD, ".airlock/init", MOVE_MOUNT_F_EMPTY_PATH));
        close(t);
    } else {
        TRY(ST_AGENT, bind_flags(p->agent_path, ".airlock/init", MS_RDONLY | MS_NODEV));
    }
    TRY(ST_AGENT, mount(NULL, ".airlock", NULL,
                        MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL));
}

static int loopback_up(void)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, "lo", 3);
    int r = ioctl(s, SIOCGIFFLAGS, &ifr);
    if (r == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        r = ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    int e = errno;
    close(s);
    errno = e;
    return r;
}

/* In the sandbox's netns, through the host procfs still mounted at /proc: no IPv6. */
static void ipv6_off(void)
{
    static const char *const knobs[] = {"/proc/sys/net/ipv6/conf/all/disable_ipv6",
                                        "/proc/sys/net/ipv6/conf/default/disable_ipv6"};
    for (size_t i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++) {
        int fd = open(knobs[i], O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            continue; /* kernel without IPv6 */
        (void)!write(fd, "1", 1);
        close(fd);
    }
}

static int pid1_main(void *arg)
{
    struct child *c = arg;
    const struct rt_plan *p = c->p;
    /* the setup child waits for our exec: the same guard (alarms are per process) */
    alarm(p->timeout_s);
    ipv6_off();
    /* Mounts copied into this namespace are locked to their parents, and pivot_root refuses
     * a locked new root: clone the root tree here (unlocked at the top) and move into it. */
    int t = (int)syscall(SYS_open_tree, AT_FDCWD, ".",
                         OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    TRY(ST_PIVOT, t);
    TRY(ST_PIVOT, syscall(SYS_move_mount, t, "", AT_FDCWD, ".", MOVE_MOUNT_F_EMPTY_PATH));
    TRY(ST_PIVOT, fchdir(t));
    close(t);
    /* our own procfs, while the host's is still visible (mount_too_revealing) */
    static const char *const proc_opts[] = {"subset=pid,hidepid=invisible", "hidepid=invisible",
                                            "hidepid=2", NULL};
    int r = -1;
    for (int i = 0; r < 0 && i < 4; i++)
        r = mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, proc_opts[i]);
    TRY(ST_PROC, r);
    TRY(ST_PIVOT, syscall(SYS_pivot_root, ".", "."));
    TRY(ST_PIVOT, umount2(".", MNT_DETACH));
    TRY(ST_PIVOT, chdir("/"));
    TRY(ST_HOSTNAME, sethostname(p->hostname, strlen(p->hostname)));
    TRY(ST_LOOPBACK, loopback_up());
    /* fds: 0-2 = /dev/null, 3 = channel, 4 and 5 = the reattach pair (airlock-init
     * --reattach), 6 = the report socket, close-on-exec (its EOF tells the daemon the exec
     * happened); everything inherited from the daemon is closed now, so the NOFILE limit
     * below never meets a table full of the daemon's fds */
    int rep = fcntl(p->report_fd, F_DUPFD_CLOEXEC, 10);
    TRY(ST_FDS, rep);
    c->report_fd = rep;
    int ctl = fcntl(p->ctl_fd, F_DUPFD_CLOEXEC, 10);
    TRY(ST_FDS, ctl);
    int ra = fcntl(p->reattach_fd[0], F_DUPFD_CLOEXEC, 10);
    TRY(ST_FDS, ra);
    int rk = fcntl(p->reattach_fd[1], F_DUPFD_CLOEXEC, 10);
    TRY(ST_FDS, rk);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    TRY(ST_FDS, null);
    for (int fd = 0; fd < 3; fd++)
        TRY(ST_FDS, dup2(null, fd));
    TRY(ST_FDS, dup2(ctl, 3));
    TRY(ST_FDS, dup2(ra, RT_REATTACH_FD));
    TRY(ST_FDS, dup2(rk, RT_REATTACH_KEEP_FD));
    TRY(ST_FDS, dup3(rep, 6, O_CLOEXEC));
    c->report_fd = 6;
    TRY(ST_FDS, syscall(SYS_close_range, 7, ~0U, 0));
    struct rlimit nofile = {p->nofile, p->nofile}, core = {0, 0};
    TRY(ST_RLIMIT, setrlimit(RLIMIT_NOFILE, &nofile));
    TRY(ST_RLIMIT, setrlimit(RLIMIT_CORE, &core));
    /* nothing of the daemon's signal state or umask reaches the agent */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &dfl, NULL); /* EINVAL for libc-reserved signals: fine */
    sigset_t none;
    sigemptyset(&none);
    TRY(ST_FDS, sigprocmask(SIG_SETMASK, &none, NULL));
    umask(022);
    TRY(ST_LANDLOCK, prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    r = rt_landlock_apply(p->landlock_abi);
    if (r < 0)
        fail(c, ST_LANDLOCK, -r);
    alarm(0); /* alarms survive execve: the agent must not inherit ours */
    TRY(ST_SECCOMP, syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, p->seccomp));
    static char *const argv[] = {"airlock-init", "--reattach", NULL};
    static char *const envp[] = {
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", NULL};
    execve("/.airlock/init", argv, envp);
    fail(c, ST_EXEC, errno);
}

struct rt_stacks {
    const struct rt_plan *plan;
    char *pid1_top; /* top of PID 1's stack */
};

/* Every process of the sandbox descends from the setup child, so it joins the sandbox's
 * cgroups first (each cgroup.procs; "0" is the writer itself), before it makes anything the
 * kernel charges to a cgroup.  Migrations are cheap once the cgroup2 root has favordynmods
 * (cgtune.c); without it each waits for an RCU grace period. */
static void join_cgroups(const struct child *c)
{
    const struct rt_cg *cg = c->p->cg;
    for (int i = 0; i < cg->n; i++) {
        int fd = open(cg->procs[i], O_WRONLY | O_CLOEXEC);
        TRY(ST_CGROUP, fd);
        ssize_t n = write(fd, "0", 1);
        int e = errno;
        close(fd);
        if (n != 1)
            fail(c, ST_CGROUP, n < 0 ? e : EIO);
    }
}

static int setup_main(void *arg)
{
    const struct rt_stacks *st = arg;
    const struct rt_plan *p = st->plan;
    struct child self = {.p = p, .report_fd = p->report_fd}, *c = &self;
    /* the daemon thread sleeps until this child is gone, with no timeout of its own: an
     * alarm (SIGALRM's default action kills) ends a setup stuck in an interruptible wait */
    alarm(p->timeout_s);
    /* the daemon may run at a higher priority than its sandboxes: none of it passes on */
    setpriority(PRIO_PROCESS, 0, 0);
    int keep[] = {p->report_fd, p->ctl_fd,         p->userns_fd,
                  p->agent_fd,  p->reattach_fd[0], p->reattach_fd[1]};
    close_all_except(keep, (int)AL_ARRAY_SIZE(keep));
    join_cgroups(c);
    TRY(ST_UNSHARE_MNT, unshare(CLONE_NEWNS));
    TRY(ST_UNSHARE_MNT, mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
    TRY(ST_SCRATCH,
        mount("airlock", p->sbdir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, p->scratch_opts));
    TRY(ST_SCRATCH, chdir(p->sbdir));
    TRY(ST_SCRATCH, mkdir("rw", 0755));
    TRY(ST_SCRATCH, mkdir("root", 0755));
    TRY(ST_SCRATCH, mkdir("lower", 0700));
    if (p->rw_dev[0])
        /* no bitmap prefetch: the first allocation would read every group's bitmap */
        TRY(ST_RW, mount(p->rw_dev, "rw", "ext4", MS_NOSUID | MS_NODEV | MS_NOATIME,
                         "no_prefetch_block_bitmaps"));
    else
        TRY(ST_RW, mount("airlock-rw", "rw", "tmpfs", MS_NOSUID | MS_NODEV, p->rw_opts));
    TRY(ST_RW, mkdir("rw/upper", 0755));
    TRY(ST_RW, mkdir("rw/work", 0700));
    TRY(ST_RW, lchown("rw/upper", p->uid_base, p->uid_base));
    TRY(ST_RW, lchown("rw/work", p->uid_base, p->uid_base));
    for (int i = 0; i < p->nlayers; i++) {
        TRY(ST_LAYER, mkdir(p->layer_dst[i], 0755));
        int t = (int)syscall(SYS_open_tree, AT_FDCWD, p->layer_src[i],
                             OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        TRY(ST_LAYER, t);
        struct mount_attr ma = {
            .attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
            .userns_fd = (uint64_t)p->userns_fd,
        };
        TRY(ST_LAYER, syscall(SYS_mount_setattr, t, "", AT_EMPTY_PATH, &ma, sizeof(ma)));
        TRY(ST_LAYER,
            syscall(SYS_move_mount, t, "", AT_FDCWD, p->layer_dst[i], MOVE_MOUNT_F_EMPTY_PATH));
        close(t);
    }
    TRY(ST_OVERLAY, mount("overlay", "root", "overlay", MS_NOSUID | MS_NODEV, p->overlay_opts));
    /* hand the daemon an fd on the writable tmpfs (stats), before we leave it */
    int rwfd = open("rw", O_PATH | O_DIRECTORY | O_CLOEXEC);
    TRY(ST_RW, rwfd);
    TRY(ST_OVERLAY, chdir("root"));
    populate_root(c);
    TRY(ST_USERNS, setns(p->userns_fd, CLONE_NEWUSER));
    /* raw syscalls: glibc's wrappers broadcast to every thread it believes exists (setxid),
     * and those are the daemon's threads, not ours: the wrapper would wait for them forever */
    TRY(ST_USERNS, syscall(SYS_setgroups, 0, NULL));
    TRY(ST_USERNS, syscall(SYS_setresgid, 0, 0, 0));
    TRY(ST_USERNS, syscall(SYS_setresuid, 0, 0, 0));
    int flags =
        CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP;
    bool timens = unshare(flags | CLONE_NEWTIME) == 0;
    if (!timens)
        TRY(ST_UNSHARE, unshare(flags));
    /* PID 1 gets its own copy of this struct: it moves its report fd */
    struct child pid1 = self;
    int pidfd = -1;
    int pid = clone(pid1_main, st->pid1_top, CLONE_VM | CLONE_VFORK | CLONE_PARENT | CLONE_PIDFD,
                    &pid1, &pidfd);
    if (pid < 0 && errno == EINVAL && timens)
        /* Linux 6.1 refuses CLONE_VM into another time namespace (copy_process; later kernels
         * allow it with CLONE_VFORK): PID 1 then runs on a copy of our memory, still vfork-
         * style (we wait for its exec), at the price of copying the address space */
        pid =
            clone(pid1_main, st->pid1_top, CLONE_VFORK | CLONE_PARENT | CLONE_PIDFD, &pid1, &pidfd);
    TRY(ST_CLONE, pid);
    /* back here once PID 1 has exec'd (or failed: its report is already sent) */
    struct rt_report rep = {.kind = RT_REPORT_PID, .pid = (int)pid};
    int fds[2] = {pidfd, rwfd};
    union {
        char buf[CMSG_SPACE(sizeof(fds))];
        struct cmsghdr align;
    } u;
    memset(&u, 0, sizeof(u));
    struct iovec iov = {.iov_base = &rep, .iov_len = sizeof(rep)};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(fds));
    memcpy(CMSG_DATA(cm), fds, sizeof(fds));
    if (sendmsg(p->report_fd, &mh, MSG_NOSIGNAL) < 0) {
        kill((pid_t)pid, SIGKILL);
        _exit(126);
    }
    _exit(0);
}

/* Two stacks in one mapping, each above a guard page: [guard|setup][guard|pid 1]. */
#define CHILD_STACK (256u << 10)
#define GUARD 4096u

int rt_spawn_setup(const struct rt_plan *p, pid_t *ret_pid, struct al_err *err)
{
    size_t len = 2 * (GUARD + CHILD_STACK);
    char *m =
        mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (m == MAP_FAILED)
        return al_err_sys(err, AL_ERR_INTERNAL, errno, "setup stacks");
    if (mprotect(m, GUARD, PROT_NONE) < 0 ||
        mprotect(m + GUARD + CHILD_STACK, GUARD, PROT_NONE) < 0) {
        int e = errno;
        munmap(m, len);
        return al_err_sys(err, AL_ERR_INTERNAL, e, "setup stack guards");
    }
    struct rt_stacks st = {.plan = p, .pid1_top = m + len};
    int pidfd = -1;
    /* returns when the setup child has exited: the sandbox is built or has failed */
    int pid = clone(setup_main, m + GUARD + CHILD_STACK,
                    CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, &st, &pidfd);
    int e = errno;
    munmap(m, len);
    if (pid < 0)
        return al_err_sys(err, AL_ERR_INTERNAL, e, "clone setup process");
    *ret_pid = (pid_t)pid;
    return pidfd;
}
