/* escape_check, privileged system calls: namespaces, mount, ptrace and the agent's /proc,
 * keyrings, kernel modules, kexec, reboot, swap, bpf, perf, io_uring, userfaultfd, iopl,
 * handles (shocker), raw sockets, the kernel log, chroot, sethostname, mknod.  The model is
 * amicontained's "blocked syscalls" probe and CDK's capability exploits; each probe is
 * harmless where it succeeds (see atk_check.h), so the same program is the positive control
 * on the host. */
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>
#include <linux/sched.h>
#include <linux/userfaultfd.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/klog.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <sys/io.h>
#endif

#include <linux/if_ether.h>

#include "atk_check.h"
#include "attack.h"

/* Every probe leaves a line: a FINDING, or an INFO with the errno that refused it. */

/* An fd-returning probe: a descriptor is a finding (closed at once). */
static void fd_probe(struct chk_ctx *c, long r, const char *what)
{
    if (r >= 0) {
        close((int)r);
        chk_finding(c, "%s succeeded", what);
    } else {
        chk_info(c, "%s -> %s", what, chk_errname(errno));
    }
}

/* A probe whose arguments the kernel rejects after its permission check: any answer but a
 * refusal means the call is open to user code. */
static void gate_probe(struct chk_ctx *c, long r, const char *what)
{
    int e = r < 0 ? errno : 0;
    if (!chk_refused(e))
        chk_finding(c, "%s passed the permission check (%s)", what, chk_errname(e));
    else
        chk_info(c, "%s -> %s", what, chk_errname(e));
}

/* A probe run in a child (namespaces, ptrace, keyrings): its success is a finding. */
static void child_probe(struct chk_ctx *c, int (*fn)(const void *arg), const void *arg,
                        const char *what, const char *why)
{
    int r = chk_in_child(c, fn, arg);
    if (r == 0)
        chk_finding(c, "%s succeeded%s", what, why);
    else if (r > 0)
        chk_info(c, "%s -> %s", what, chk_errname(r));
}

/* ---- namespaces --------------------------------------------------------------------- */

static int unshare_child(const void *arg)
{
    return unshare((int)(intptr_t)arg) == 0 ? 0 : errno;
}

/* After a raw clone: the child exits at once, the parent reaps it; 0 or the clone's errno. */
static int reap_clone(long pid)
{
    if (pid == 0)
        _exit(0);
    if (pid < 0)
        return errno;
    waitpid((pid_t)pid, NULL, 0);
    return 0;
}

static int clone_child(const void *arg)
{
    return reap_clone(syscall(SYS_clone, (unsigned long)(intptr_t)arg | SIGCHLD, 0, NULL, NULL, 0));
}

static int clone3_child(const void *arg)
{
    struct clone_args ca;
    memset(&ca, 0, sizeof(ca));
    ca.flags = (unsigned long)(intptr_t)arg;
    ca.exit_signal = SIGCHLD;
    return reap_clone(syscall(SYS_clone3, &ca, sizeof(ca)));
}

static void c_userns(struct chk_ctx *c)
{
    static const struct {
        const char *what;
        int (*fn)(const void *arg);
    } ways[] = {
        {"unshare(CLONE_NEWUSER)", unshare_child},
        {"clone(CLONE_NEWUSER)", clone_child},
        {"clone3(CLONE_NEWUSER)", clone3_child},
    };
    for (size_t i = 0; i < sizeof(ways) / sizeof(ways[0]); i++) {
        child_probe(c, ways[i].fn, (const void *)(intptr_t)CLONE_NEWUSER, ways[i].what,
                    ": a fresh namespace with every capability");
    }
    char m[32];
    if (atk_read_file("/proc/sys/user/max_user_namespaces", m, sizeof(m)) > 0)
        chk_info(c, "max_user_namespaces=%.*s", (int)strcspn(m, "\n"), m);
}

static const struct {
    const char *name;
    int flag;
} ns_kinds[] = {
    {"CLONE_NEWNS", CLONE_NEWNS},     {"CLONE_NEWNET", CLONE_NEWNET},
    {"CLONE_NEWPID", CLONE_NEWPID},   {"CLONE_NEWIPC", CLONE_NEWIPC},
    {"CLONE_NEWUTS", CLONE_NEWUTS},   {"CLONE_NEWCGROUP", CLONE_NEWCGROUP},
    {"CLONE_NEWTIME", CLONE_NEWTIME},
};

static void c_unshare_ns(struct chk_ctx *c)
{
    for (size_t i = 0; i < sizeof(ns_kinds) / sizeof(ns_kinds[0]); i++) {
        char what[64];
        snprintf(what, sizeof(what), "unshare(%s)", ns_kinds[i].name);
        child_probe(c, unshare_child, (const void *)(intptr_t)ns_kinds[i].flag, what, "");
    }
}

static int setns_child(const void *arg)
{
    int fd = open((const char *)arg, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    return setns(fd, 0) == 0 ? 0 : errno;
}

/* Into PID 1's namespaces (the agent's), and into our own ones (which only tests that
 * setns(2) is open to us at all). */
static void c_setns(struct chk_ctx *c)
{
    static const char *const kinds[] = {"mnt", "net", "pid", "ipc", "uts", "cgroup", "user", NULL};
    static const char *const pids[] = {"1", "self", NULL};
    for (const char *const *p = pids; *p; p++) {
        for (const char *const *k = kinds; *k; k++) {
            char path[64];
            snprintf(path, sizeof(path), "/proc/%s/ns/%s", *p, *k);
            char what[80];
            snprintf(what, sizeof(what), "setns(%s)", path);
            child_probe(c, setns_child, path, what, "");
        }
    }
}

/* mount(2) with an option tmpfs rejects (EINVAL comes after may_mount()), the new mount API
 * on a detached context, and a detached clone of a tree: nothing is ever attached. */
static void c_mount(struct chk_ctx *c)
{
    char dir[] = "/tmp/.airlock-chk-XXXXXX";
    if (!mkdtemp(dir)) {
        chk_error(c, "mkdtemp %s: %s", dir, chk_errname(errno));
        return;
    }
    int r = mount("airlock-chk", dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  "airlock_chk_no_such_option");
    int e = r < 0 ? errno : 0;
    if (r == 0) {
        umount2(dir, MNT_DETACH);
        chk_finding(c, "mount(tmpfs) succeeded");
    } else if (!chk_refused(e)) {
        chk_finding(c, "mount(tmpfs, bad option) passed may_mount (%s)", chk_errname(e));
    } else {
        chk_info(c, "mount(tmpfs, bad option) -> %s", chk_errname(e));
    }
    fd_probe(c, syscall(SYS_fsopen, "tmpfs", 1 /* FSOPEN_CLOEXEC */), "fsopen(tmpfs)");
    fd_probe(c, syscall(SYS_open_tree, AT_FDCWD, dir, 1 /* OPEN_TREE_CLONE */ | O_CLOEXEC),
             "open_tree(OPEN_TREE_CLONE)");
    rmdir(dir);
}

/* ---- PID 1 (the agent, which talks to the daemon) ----------------------------------- */

/* PTRACE_SEIZE does not stop the tracee, and the tracer's exit detaches it again. */
static int seize_child(const void *arg)
{
    return ptrace(PTRACE_SEIZE, 1, NULL, NULL) == 0 ? 0 : errno;
}

static int seize_own_child(const void *arg)
{
    pid_t k = fork();
    if (k < 0)
        return errno;
    if (k == 0) {
        pause();
        _exit(0);
    }
    int e = ptrace(PTRACE_SEIZE, k, NULL, NULL) == 0 ? 0 : errno;
    kill(k, SIGKILL);
    waitpid(k, NULL, 0);
    return e;
}

static void c_ptrace(struct chk_ctx *c)
{
    child_probe(c, seize_child, NULL, "ptrace(PTRACE_SEIZE, 1)", ": the agent's memory and fds");
    child_probe(c, seize_own_child, NULL, "ptrace(PTRACE_SEIZE) of an own child",
                ": ptrace is open");
}

static void c_pid1_access(struct chk_ctx *c)
{
    static const char *const files[] = {"/proc/1/environ", "/proc/1/mem", "/proc/1/root/",
                                        "/proc/1/cwd/",    "/proc/1/fd/", NULL};
    for (const char *const *f = files; *f; f++)
        if (chk_try_open(*f, O_RDONLY) == 0)
            chk_finding(c, "%s opened", *f);
    char t[256];
    if (readlink("/proc/1/exe", t, sizeof(t)) >= 0)
        chk_finding(c, "readlink(/proc/1/exe) succeeded");
    char b[8];
    struct iovec l = {b, sizeof(b)}, rem = {NULL, sizeof(b)};
    if (process_vm_readv(1, &l, 1, &rem, 1, 0) >= 0 || errno == EFAULT)
        chk_finding(c, "process_vm_readv(1) passed the permission check");
}

/* ---- kernel surface ----------------------------------------------------------------- */

static int add_key_child(const void *arg)
{
    long r = syscall(SYS_add_key, "user", "airlock-chk", "x", 1, KEY_SPEC_PROCESS_KEYRING);
    return r >= 0 ? 0 : errno;
}

static void c_keyctl(struct chk_ctx *c)
{
    /* ENOKEY means the keyring code ran: only a refusal counts as closed */
    gate_probe(c, syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0),
               "keyctl(GET_KEYRING_ID, user keyring)");
    gate_probe(c, syscall(SYS_request_key, "user", "airlock-chk-none", NULL, 0),
               "request_key(user, airlock-chk-none)");
    child_probe(c, add_key_child, NULL, "add_key(user, KEY_SPEC_PROCESS_KEYRING)", "");
}

static void c_kernel_modules(struct chk_ctx *c)
{
    static char junk[64];
    /* len 0: ENOEXEC right after may_init_module(); fd -1: EBADF; no such module: ENOENT */
    gate_probe(c, syscall(SYS_init_module, junk, 0UL, ""), "init_module(len 0)");
    gate_probe(c, syscall(SYS_finit_module, -1, "", 0), "finit_module(-1)");
    gate_probe(c, syscall(SYS_delete_module, "airlock_chk_none", O_NONBLOCK),
               "delete_module(airlock_chk_none)");
}

static void c_kexec(struct chk_ctx *c)
{
    /* 17 segments (> KEXEC_SEGMENT_MAX) and an unknown flag: EINVAL after the CAP_SYS_BOOT
     * check; a loaded crash kernel is never touched */
    gate_probe(c, syscall(SYS_kexec_load, 0UL, 17UL, NULL, 0UL), "kexec_load(17 segments)");
#ifdef SYS_kexec_file_load
    gate_probe(c, syscall(SYS_kexec_file_load, -1, -1, 0UL, NULL, 1UL << 30),
               "kexec_file_load(bad flags)");
#endif
}

static void c_reboot(struct chk_ctx *c)
{
    gate_probe(c, syscall(SYS_reboot, 0, 0, 0, NULL), "reboot(bad magic)");
}

static void c_swap(struct chk_ctx *c)
{
    gate_probe(c, syscall(SYS_swapoff, NULL), "swapoff(NULL)");
}

static void c_bpf(struct chk_ctx *c)
{
    fd_probe(c, atk_sys_bpf_map(), "bpf(BPF_MAP_CREATE)");
    fd_probe(c, atk_sys_bpf_prog(), "bpf(BPF_PROG_LOAD)");
}

static void c_perf_event(struct chk_ctx *c)
{
    fd_probe(c, atk_sys_perf_event(), "perf_event_open(self, sw cpu-clock)");
}

static void c_io_uring(struct chk_ctx *c)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    fd_probe(c, syscall(SYS_io_uring_setup, 1, &p), "io_uring_setup(1)");
}

static void c_userfaultfd(struct chk_ctx *c)
{
    long r = syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
    if (r < 0 && errno == EINVAL) /* kernels before 5.11 lack UFFD_USER_MODE_ONLY */
        r = syscall(SYS_userfaultfd, O_CLOEXEC);
    fd_probe(c, r, "userfaultfd()");
}

static void c_iopl(struct chk_ctx *c)
{
#if defined(__x86_64__) || defined(__i386__)
    if (iopl(3) == 0) {
        iopl(0);
        chk_finding(c, "iopl(3) succeeded: raw I/O ports");
    } else {
        chk_info(c, "iopl(3) -> %s", chk_errname(errno));
    }
#else
    chk_info(c, "no iopl on this architecture");
#endif
}

/* "shocker": open_by_handle_at walks to any inode of the filesystem behind a mount. */
static void c_open_by_handle(struct chk_ctx *c)
{
    union {
        struct file_handle fh;
        unsigned char bytes[sizeof(struct file_handle) + 128];
    } h;
    memset(&h, 0, sizeof(h));
    h.fh.handle_bytes = 128;
    int mnt = 0;
    if (name_to_handle_at(AT_FDCWD, "/", &h.fh, &mnt, 0) < 0) {
        /* forge one (inode 2, the root of most filesystems), as shocker does */
        uint32_t ino = 2, gen = 0;
        h.fh.handle_bytes = 8;
        h.fh.handle_type = 1; /* FILEID_INO32_GEN */
        memcpy(h.fh.f_handle, &ino, 4);
        memcpy(h.fh.f_handle + 4, &gen, 4);
    }
    int root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) {
        chk_error(c, "open /: %s", chk_errname(errno));
        return;
    }
    long r = syscall(SYS_open_by_handle_at, root, &h.fh, O_RDONLY | O_CLOEXEC);
    int e = r < 0 ? errno : 0;
    if (r >= 0)
        close((int)r);
    close(root);
    errno = e;
    gate_probe(c, r >= 0 ? 0 : -1, "open_by_handle_at(/)");
}

static void c_raw_socket(struct chk_ctx *c)
{
    int pkt = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
    fd_probe(c, pkt, "an AF_PACKET SOCK_RAW socket");
    int raw = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
    fd_probe(c, raw, "an AF_INET SOCK_RAW socket");
}

static void c_dmesg(struct chk_ctx *c)
{
    char b[16];
    if (klogctl(3 /* SYSLOG_ACTION_READ_ALL */, b, sizeof(b)) >= 0)
        chk_finding(c, "syslog(READ_ALL) succeeded: the kernel log is readable");
    else
        chk_info(c, "syslog(READ_ALL) -> %s", chk_errname(errno));
}

/* What the capability sets promise, tried: chroot, sethostname (same name), mknod. */
static void c_privileged_misc(struct chk_ctx *c)
{
    gate_probe(c, chroot("/"), "chroot(/)");
    char host[256] = "";
    if (gethostname(host, sizeof(host) - 1) == 0)
        gate_probe(c, sethostname(host, strlen(host)), "sethostname(same name)");
    char node[] = "/tmp/.airlock-chk-node-XXXXXX";
    int fd = mkstemp(node);
    if (fd < 0) {
        chk_error(c, "mkstemp %s: %s", node, chk_errname(errno));
        return;
    }
    close(fd);
    unlink(node);
    int r = mknod(node, S_IFCHR | 0600, makedev(1, 3));
    int e = r < 0 ? errno : 0;
    unlink(node);
    errno = e;
    gate_probe(c, r, "mknod(c 1:3)");
}

const struct chk chk_sys_table[] = {
    {"userns", "amicontained,CDK,deepce", c_userns},
    {"unshare_ns", "amicontained,CDK", c_unshare_ns},
    {"setns", "CDK,botb", c_setns},
    {"mount", "amicontained,CDK,deepce,linPEAS", c_mount},
    {"ptrace", "amicontained,CDK,linPEAS", c_ptrace},
    {"pid1_access", "deepce,linPEAS,CDK", c_pid1_access},
    {"keyctl", "amicontained", c_keyctl},
    {"kernel_modules", "amicontained,CDK,deepce,linPEAS", c_kernel_modules},
    {"kexec", "amicontained", c_kexec},
    {"reboot", "amicontained", c_reboot},
    {"swap", "amicontained", c_swap},
    {"bpf", "amicontained,CDK", c_bpf},
    {"perf_event", "amicontained", c_perf_event},
    {"io_uring", "CDK", c_io_uring},
    {"userfaultfd", "amicontained", c_userfaultfd},
    {"iopl", "amicontained", c_iopl},
    {"open_by_handle", "amicontained,CDK,deepce", c_open_by_handle},
    {"raw_socket", "CDK,deepce", c_raw_socket},
    {"dmesg", "deepce,linPEAS", c_dmesg},
    {"privileged_misc", "amicontained,CDK", c_privileged_misc},
    {NULL, NULL, NULL},
};
