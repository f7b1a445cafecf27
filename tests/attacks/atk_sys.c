/* Kernel-surface attacks: bpf, keyrings, io_uring, perf, userfaultfd, kexec, modules, handles,
 * capabilities, tty ioctls, kernel information leaks, sysctls. */
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <linux/io_uring.h>
#include <linux/kexec.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <linux/tiocl.h>
#include <linux/userfaultfd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/io.h>
#include <sys/klog.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "attack.h"

static int sys_result(const char *name, long r, const char *what)
{
    int e = r < 0 ? errno : 0;
    if (r >= 0 && r < 1024 && strstr(what, "fd"))
        close((int)r);
    return atk_report(name, r >= 0, e, "%s -> %ld", what, r);
}

long atk_sys_bpf_map(void)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.map_type = BPF_MAP_TYPE_ARRAY;
    attr.key_size = 4;
    attr.value_size = 8;
    attr.max_entries = 1;
    return syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
}

long atk_sys_bpf_prog(void)
{
    struct bpf_insn insns[2];
    memset(insns, 0, sizeof(insns));
    insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K; /* r0 = 0 */
    insns[0].dst_reg = 0;
    insns[1].code = BPF_JMP | BPF_EXIT;
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
    attr.insns = (uint64_t)(uintptr_t)insns;
    attr.insn_cnt = 2;
    attr.license = (uint64_t)(uintptr_t) "GPL";
    return syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
}

long atk_sys_perf_event(void)
{
    struct perf_event_attr a;
    memset(&a, 0, sizeof(a));
    a.type = PERF_TYPE_SOFTWARE;
    a.size = sizeof(a);
    a.config = PERF_COUNT_SW_CPU_CLOCK;
    a.disabled = 1;
    a.exclude_kernel = 1;
    a.exclude_hv = 1;
    return syscall(SYS_perf_event_open, &a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
}

static int a_bpf_map(const char *name, int argc, char **argv)
{
    return sys_result(name, atk_sys_bpf_map(), "bpf(BPF_MAP_CREATE array) fd");
}

static int a_bpf_prog(const char *name, int argc, char **argv)
{
    return sys_result(name, atk_sys_bpf_prog(), "bpf(BPF_PROG_LOAD socket_filter) fd");
}

static int a_add_key(const char *name, int argc, char **argv)
{
    return sys_result(name, syscall(SYS_add_key, "user", "atk", "x", 1, KEY_SPEC_PROCESS_KEYRING),
                      "add_key(user, atk, KEY_SPEC_PROCESS_KEYRING)");
}

static int a_keyctl(const char *name, int argc, char **argv)
{
    return sys_result(name, syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL),
                      "keyctl(KEYCTL_JOIN_SESSION_KEYRING)");
}

static int a_io_uring(const char *name, int argc, char **argv)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    return sys_result(name, syscall(SYS_io_uring_setup, 8, &p), "io_uring_setup(8) fd");
}

static int a_perf_event(const char *name, int argc, char **argv)
{
    return sys_result(name, atk_sys_perf_event(),
                      "perf_event_open(sw cpu-clock, self, user only) fd");
}

static int a_userfaultfd(const char *name, int argc, char **argv)
{
    return sys_result(name, syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY),
                      "userfaultfd(UFFD_USER_MODE_ONLY) fd");
}

static int a_kexec_load(const char *name, int argc, char **argv)
{
    /* nr_segments 0 with flags 0 would only unload a loaded image; never run on the host. */
    return sys_result(name, syscall(SYS_kexec_load, 0UL, 0UL, NULL, KEXEC_ARCH_DEFAULT),
                      "kexec_load(0 segments)");
}

static int a_kexec_file_load(const char *name, int argc, char **argv)
{
    int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    long r = syscall(SYS_kexec_file_load, fd, -1, 1UL, "", KEXEC_FILE_NO_INITRAMFS);
    int e = r < 0 ? errno : 0;
    if (fd >= 0)
        close(fd);
    /* Anything but EPERM means the privilege check passed (the image is not a kernel). */
    bool ok = r == 0 || (e != EPERM && e != ENOSYS && e != EACCES);
    return atk_report(name, ok, e, "kexec_file_load(self) -> %ld", r);
}

static int module_result(const char *name, long r, const char *what)
{
    int e = r < 0 ? errno : 0;
    /* ENOEXEC/EINVAL/EFAULT/EBADMSG: the capability check passed and the loader parsed it. */
    bool ok = r == 0 || (e != EPERM && e != ENOSYS && e != EACCES);
    return atk_report(name, ok, e, "%s -> %ld", what, r);
}

static int a_init_module(const char *name, int argc, char **argv)
{
    static const char junk[64] = "not an ELF module";
    return module_result(name, syscall(SYS_init_module, junk, sizeof(junk), ""),
                         "init_module(64 junk bytes)");
}

static int a_finit_module(const char *name, int argc, char **argv)
{
    int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    long r = syscall(SYS_finit_module, fd, "", 0);
    int e = errno;
    if (fd >= 0)
        close(fd);
    errno = e;
    return module_result(name, r, "finit_module(self)");
}

static int a_open_by_handle(const char *name, int argc, char **argv)
{
    /* "shocker": forge a handle for inode 2 (the root of most filesystems). */
    union {
        struct file_handle fh;
        unsigned char bytes[sizeof(struct file_handle) + 8];
    } h;
    memset(&h, 0, sizeof(h));
    h.fh.handle_bytes = 8;
    h.fh.handle_type = 1; /* FILEID_INO32_GEN */
    uint32_t ino = 2, gen = 0;
    memcpy(h.fh.f_handle, &ino, 4);
    memcpy(h.fh.f_handle + 4, &gen, 4);
    int mfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    long r = syscall(SYS_open_by_handle_at, mfd, &h.fh, O_RDONLY | O_CLOEXEC);
    int e = r < 0 ? errno : 0;
    if (r >= 0)
        close((int)r);
    if (mfd >= 0)
        close(mfd);
    /* ESTALE: the CAP_DAC_READ_SEARCH check passed, only the forged handle was stale. */
    bool ok = r >= 0 || e == ESTALE;
    return atk_report(name, ok, e, "open_by_handle_at(/, ino 2) -> %ld", r);
}

static int a_caps(const char *name, int argc, char **argv)
{
    char buf[8192], out[1024] = "";
    long n = atk_read_file("/proc/self/status", buf, sizeof(buf));
    if (n < 0)
        return atk_report(name, false, (int)-n, "read /proc/self/status");
    bool any = false;
    static const char *keys[] = {"Uid:",    "Gid:",    "CapInh:",     "CapPrm:",  "CapEff:",
                                 "CapBnd:", "CapAmb:", "NoNewPrivs:", "Seccomp:", NULL};
    for (const char **k = keys; *k; k++) {
        char *p = strstr(buf, *k);
        if (!p)
            continue;
        char *end = strchr(p, '\n');
        int len = end ? (int)(end - p) : (int)strlen(p);
        atk_append(out, sizeof(out), "%.*s;", len, p);
        if (strncmp(*k, "Cap", 3) == 0) {
            unsigned long long v = strtoull(p + strlen(*k), NULL, 16);
            if (v)
                any = true;
        }
    }
    return atk_report(name, any, 0, "%s", out);
}

static int a_setfcap(const char *name, int argc, char **argv)
{
    if (argc < 1)
        return atk_report(name, false, EINVAL, "usage: setfcap <file>");
    struct vfs_cap_data d;
    memset(&d, 0, sizeof(d));
    d.magic_etc = VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE;
    uint64_t caps = (1ULL << CAP_SYS_ADMIN) | (1ULL << CAP_SETUID) | (1ULL << CAP_DAC_OVERRIDE);
    d.data[0].permitted = (uint32_t)caps;
    d.data[1].permitted = (uint32_t)(caps >> 32);
    int r = setxattr(argv[0], "security.capability", &d, sizeof(d), 0);
    return atk_report(name, r == 0, r < 0 ? errno : 0,
                      "setxattr(%s, security.capability, sys_admin+setuid+dac_override)", argv[0]);
}

static int tty_fd(int argc, char **argv)
{
    if (argc > 0)
        return open(argv[0], O_RDWR | O_NOCTTY | O_CLOEXEC);
    return 0;
}

static int a_tiocsti(const char *name, int argc, char **argv)
{
    int fd = tty_fd(argc, argv);
    if (fd < 0)
        return atk_report(name, false, errno, "open tty");
    if (!isatty(fd))
        return atk_report(name, false, ENOTTY, "fd %d is not a tty (run with tty: true)", fd);
    char c = '#';
    int r = ioctl(fd, TIOCSTI, &c);
    return atk_report(name, r == 0, r < 0 ? errno : 0, "ioctl(%d, TIOCSTI, '#')", fd);
}

static int a_tioclinux(const char *name, int argc, char **argv)
{
    int fd = tty_fd(argc, argv);
    if (fd < 0)
        return atk_report(name, false, errno, "open tty");
    char sub[2] = {TIOCL_GETSHIFTSTATE, 0};
    int r = ioctl(fd, TIOCLINUX, sub);
    return atk_report(name, r == 0, r < 0 ? errno : 0, "ioctl(%d, TIOCLINUX, GETSHIFTSTATE) tty=%d",
                      fd, isatty(fd));
}

static int a_kallsyms(const char *name, int argc, char **argv)
{
    static char buf[1 << 16];
    long n = atk_read_file("/proc/kallsyms", buf, sizeof(buf));
    if (n < 0)
        return atk_report(name, false, (int)-n, "open /proc/kallsyms");
    int lines = 0, nonzero = 0;
    char first[80] = "";
    for (char *p = buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        unsigned long long a = strtoull(p, NULL, 16);
        lines++;
        if (a && !nonzero++)
            snprintf(first, sizeof(first), "%.*s", (int)strcspn(p, "\n"), p);
    }
    return atk_report(name, nonzero > 0, 0, "%d lines, %d with non-zero addresses; first: %s",
                      lines, nonzero, first);
}

static int a_dmesg(const char *name, int argc, char **argv)
{
    static char buf[4096];
    int r = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf, sizeof(buf));
    return atk_report(name, r >= 0, r < 0 ? errno : 0, "syslog(READ_ALL) -> %d bytes", r);
}

static int a_sysctl_write(const char *name, int argc, char **argv)
{
    /* Writes the value back unchanged: harmless even if it succeeds. */
    const char *path = argc > 0 ? argv[0] : "/proc/sys/kernel/core_pattern";
    char val[4096];
    long n = atk_read_file(path, val, sizeof(val));
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return atk_report(name, false, errno, "opening %s O_WRONLY (read: %ld)", path, n);
    ssize_t w = n > 0 ? write(fd, val, (size_t)n) : write(fd, "0\n", 2);
    int e = w < 0 ? errno : 0;
    close(fd);
    return atk_report(name, w >= 0, e, "write(%s) same value -> %zd", path, w);
}

static int a_open_wronly(const char *name, int argc, char **argv)
{
    /* Opens for writing and closes without writing a byte (e.g. /proc/sysrq-trigger). */
    if (argc < 1)
        return atk_report(name, false, EINVAL, "usage: open_wronly <path>");
    int fd = open(argv[0], O_WRONLY | O_CLOEXEC | O_NOCTTY);
    int e = fd < 0 ? errno : 0;
    if (fd >= 0)
        close(fd);
    return atk_report(name, fd >= 0, e, "opening %s O_WRONLY", argv[0]);
}

static int a_iopl(const char *name, int argc, char **argv)
{
    int r = iopl(3);
    return atk_report(name, r == 0, r < 0 ? errno : 0, "iopl(3)");
}

static int a_settime(const char *name, int argc, char **argv)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int r = clock_settime(CLOCK_REALTIME, &ts);
    return atk_report(name, r == 0, r < 0 ? errno : 0, "clock_settime(REALTIME, now)");
}

static int a_sethostname(const char *name, int argc, char **argv)
{
    char cur[256] = "";
    gethostname(cur, sizeof(cur) - 1);
    int r = sethostname(cur, strlen(cur));
    return atk_report(name, r == 0, r < 0 ? errno : 0, "sethostname(%s) (same value)", cur);
}

const struct atk_entry atk_sys_table[] = {
    {"bpf_map", a_bpf_map, "bpf(BPF_MAP_CREATE)"},
    {"bpf_prog", a_bpf_prog, "bpf(BPF_PROG_LOAD)"},
    {"add_key", a_add_key, "add_key(user)"},
    {"keyctl", a_keyctl, "keyctl(JOIN_SESSION_KEYRING)"},
    {"io_uring", a_io_uring, "io_uring_setup"},
    {"perf_event", a_perf_event, "perf_event_open (user-only sw counter)"},
    {"userfaultfd", a_userfaultfd, "userfaultfd(USER_MODE_ONLY)"},
    {"kexec_load", a_kexec_load, "kexec_load (never on the host)"},
    {"kexec_file_load", a_kexec_file_load, "kexec_file_load(self)"},
    {"init_module", a_init_module, "init_module(junk)"},
    {"finit_module", a_finit_module, "finit_module(self)"},
    {"open_by_handle", a_open_by_handle, "open_by_handle_at forged handle (shocker)"},
    {"caps", a_caps, "capability sets, NoNewPrivs, Seccomp of this process"},
    {"setfcap", a_setfcap, "<file> set file capabilities"},
    {"tiocsti", a_tiocsti, "[tty] ioctl TIOCSTI"},
    {"tioclinux", a_tioclinux, "[tty] ioctl TIOCLINUX"},
    {"kallsyms", a_kallsyms, "read /proc/kallsyms addresses"},
    {"dmesg", a_dmesg, "syslog(READ_ALL)"},
    {"sysctl_write", a_sysctl_write, "<path> write a /proc/sys value back"},
    {"open_wronly", a_open_wronly, "<path> open for writing"},
    {"iopl", a_iopl, "iopl(3)"},
    {"settime", a_settime, "clock_settime(now) (never on the host)"},
    {"sethostname", a_sethostname, "sethostname(same)"},
    {NULL, NULL, NULL},
};
