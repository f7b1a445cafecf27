/* The sandbox seccomp filter, as data: default allow, and one entry per refused syscall (or
 * syscall + argument pattern) with the reason.  Docker's default profile refuses all of these
 * to an unprivileged container; DESIGN.md section 6 adds the namespace and mount families.
 * Several entries for one syscall are alternatives (any match refuses).
 * Foreign architectures (i386 via int 0x80, x32) are refused as a whole in seccomp.c.
 */
#include <errno.h>
#include <linux/sched.h>
#include <sys/stat.h>
#include <sys/ioctl.h>

#include "runtime/rt_int.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef TIOCLINUX
#define TIOCLINUX 0x541C
#endif

#define DENY(n, why)                                                                               \
    {                                                                                              \
        n, EPERM, RT_SC_ALWAYS, 0, 0, 0, why                                                       \
    }
#define DENY_IF(n, arg, m, v, why)                                                                 \
    {                                                                                              \
        n, EPERM, RT_SC_MASKED_EQ, arg, m, v, why                                                  \
    }
#define CLONE_NS(flag) DENY_IF("clone", 0, flag, flag, "clone with " #flag ": nested namespace")
/* socket families allowed: AF_UNIX (1), AF_INET (2), AF_INET6 (10), AF_NETLINK (16) */
#define FAMILY(f)                                                                                  \
    {                                                                                              \
        "socket", EAFNOSUPPORT, RT_SC_MASKED_EQ, 0, 0xffffffffull, f, "socket family " #f          \
    }
/* personality(): only PER_LINUX (0), PER_LINUX32 (0x8) and UNAME26 (0x20000) bits allowed */
#define PERS_BIT(b) DENY_IF("personality", 0, 1ull << (b), 1ull << (b), "personality flag")

const struct rt_sc_rule rt_seccomp_rules[] = {
    /* namespaces and mounts: the sandbox must not build its own view of the kernel */
    DENY("unshare", "new namespaces widen the kernel attack surface (userns bugs)"),
    DENY("setns", "joining other namespaces"),
    CLONE_NS(CLONE_NEWNS),
    CLONE_NS(CLONE_NEWUSER),
    CLONE_NS(CLONE_NEWPID),
    CLONE_NS(CLONE_NEWNET),
    CLONE_NS(CLONE_NEWIPC),
    CLONE_NS(CLONE_NEWUTS),
    CLONE_NS(CLONE_NEWCGROUP),
    {"clone3", ENOSYS, RT_SC_ALWAYS, 0, 0, 0,
     "flags live in memory seccomp cannot inspect; ENOSYS makes libc fall back to clone"},
    DENY("mount", "mounting filesystems"),
    DENY("umount2", "unmounting would expose what a mount covers"),
    DENY("pivot_root", "changing the root mount"),
    DENY("chroot", "chroot games; not needed by user code"),
    DENY("move_mount", "new mount API"),
    DENY("open_tree", "new mount API: cloning mount trees"),
    DENY("fsopen", "new mount API"),
    DENY("fsmount", "new mount API"),
    DENY("fsconfig", "new mount API"),
    DENY("fspick", "new mount API"),
    DENY("mount_setattr", "new mount API: changing mount attributes"),
    /* process inspection */
    DENY("ptrace", "inspecting or controlling other processes (and seccomp bypass on old kernels)"),
    DENY("process_vm_readv", "reading another process's memory"),
    DENY("process_vm_writev", "writing another process's memory"),
    DENY("kcmp", "kernel pointer comparisons leak layout"),
    DENY("pidfd_getfd", "stealing another process's file descriptors"),
    /* kernel attack surface */
    DENY("bpf", "eBPF programs and maps"),
    DENY("perf_event_open", "perf events: side channels and a history of kernel bugs"),
    DENY("userfaultfd", "stalling the kernel on page faults (race exploitation)"),
    DENY("io_uring_setup", "io_uring: large attack surface, bypasses seccomp per operation"),
    DENY("io_uring_enter", "io_uring"),
    DENY("io_uring_register", "io_uring"),
    DENY("keyctl", "kernel keyring is not namespaced"),
    DENY("add_key", "kernel keyring is not namespaced"),
    DENY("request_key", "kernel keyring is not namespaced"),
    DENY("lookup_dcookie", "kernel profiling interface"),
    DENY("fanotify_init", "filesystem-wide event monitoring"),
    DENY("open_by_handle_at", "opening files by handle escapes the mount tree (shocker)"),
    DENY("name_to_handle_at", "companion of open_by_handle_at"),
    /* the machine */
    DENY("kexec_load", "loading a new kernel"),
    DENY("kexec_file_load", "loading a new kernel"),
    DENY("init_module", "loading kernel modules"),
    DENY("finit_module", "loading kernel modules"),
    DENY("delete_module", "unloading kernel modules"),
    DENY("create_module", "obsolete module interface"),
    DENY("get_kernel_syms", "obsolete module interface"),
    DENY("query_module", "obsolete module interface"),
    DENY("iopl", "raw I/O port access"),
    DENY("ioperm", "raw I/O port access"),
    DENY("swapon", "host swap configuration"),
    DENY("swapoff", "host swap configuration"),
    DENY("reboot", "rebooting the host or the pid namespace"),
    DENY("acct", "process accounting is host-wide"),
    DENY("quotactl", "host quota configuration"),
    DENY("quotactl_fd", "host quota configuration"),
    DENY("syslog", "kernel log leaks addresses"),
    DENY("vhangup", "hanging up terminals"),
    DENY("nfsservctl", "obsolete NFS server interface"),
    DENY("uselib", "obsolete, a.out loader bugs"),
    DENY("ustat", "obsolete"),
    DENY("_sysctl", "obsolete sysctl interface"),
    DENY("sysfs", "obsolete filesystem type interface"),
    DENY("vm86", "virtual 8086 mode"),
    DENY("vm86old", "virtual 8086 mode"),
    /* the clock is not namespaced (the time namespace only offsets monotonic/boottime) */
    DENY("settimeofday", "setting the host clock"),
    DENY("clock_settime", "setting the host clock"),
    DENY("clock_adjtime", "adjusting the host clock"),
    DENY("adjtimex", "adjusting the host clock"),
    DENY("stime", "setting the host clock"),
    /* NUMA policy: Docker refuses these without CAP_SYS_NICE */
    DENY("mbind", "NUMA memory policy"),
    DENY("set_mempolicy", "NUMA memory policy"),
    DENY("migrate_pages", "moving another process's pages"),
    DENY("move_pages", "moving another process's pages"),
    /* terminals: injecting input into a terminal another process reads */
    DENY_IF("ioctl", 1, 0xffffffffull, TIOCSTI, "TIOCSTI injects input into the terminal"),
    DENY_IF("ioctl", 1, 0xffffffffull, TIOCLINUX, "TIOCLINUX can inject console input"),
    /* device nodes */
    DENY_IF("mknod", 1, S_IFMT, S_IFCHR, "character device nodes"),
    DENY_IF("mknod", 1, S_IFMT, S_IFBLK, "block device nodes"),
    DENY_IF("mknodat", 2, S_IFMT, S_IFCHR, "character device nodes"),
    DENY_IF("mknodat", 2, S_IFMT, S_IFBLK, "block device nodes"),
    /* socket families: vsock reaches the hypervisor host and is not namespaced; the rest
     * (packet, alg, xdp, bluetooth, tipc, rds, can, ...) is attack surface no tenant needs */
    {"socket", EPERM, RT_SC_MASKED_EQ, 0, 0xffffffffull, 17,
     "AF_PACKET: raw frames, as if CAP_NET_RAW were missing"},
    {"socket", EAFNOSUPPORT, RT_SC_GE, 0, 0, 18,
     "families > AF_PACKET: AF_VSOCK (host), AF_ALG, AF_XDP and other rarely used code"},
    FAMILY(0),
    FAMILY(3),
    FAMILY(4),
    FAMILY(5),
    FAMILY(6),
    FAMILY(7),
    FAMILY(8),
    FAMILY(9),
    FAMILY(11),
    FAMILY(12),
    FAMILY(13),
    FAMILY(14),
    FAMILY(15),
    /* personality: READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE and friends weaken exploit defences */
    PERS_BIT(0),
    PERS_BIT(1),
    PERS_BIT(2),
    PERS_BIT(4),
    PERS_BIT(5),
    PERS_BIT(6),
    PERS_BIT(7),
    PERS_BIT(8),
    PERS_BIT(9),
    PERS_BIT(10),
    PERS_BIT(11),
    PERS_BIT(12),
    PERS_BIT(13),
    PERS_BIT(14),
    PERS_BIT(15),
    PERS_BIT(16),
    PERS_BIT(18),
    PERS_BIT(19),
    PERS_BIT(20),
    PERS_BIT(21),
    PERS_BIT(22),
    PERS_BIT(23),
    PERS_BIT(24),
    PERS_BIT(25),
    PERS_BIT(26),
    PERS_BIT(27),
    PERS_BIT(28),
    PERS_BIT(29),
    PERS_BIT(30),
    PERS_BIT(31),
};

const size_t rt_seccomp_rules_n = sizeof(rt_seccomp_rules) / sizeof(rt_seccomp_rules[0]);
