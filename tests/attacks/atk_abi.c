/* Seccomp bypass attempts through the other x86 system call ABIs: a filter that checks only
 * x86_64 syscall numbers (and not the audit arch or the x32 bit) lets `int $0x80` (i386) and
 * x32 (nr | 0x40000000) calls through.  Pointer arguments live in static storage, which is
 * below 4 GiB in this non-PIE static binary, so i386 calls can use them. */
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/io_uring.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "attack.h"

#if defined(__x86_64__)
static long ia32_call(long nr, long a, long b, long c)
{
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
    return ret;
}

static long x32_call(long nr, long a, long b, long c)
{
    long ret;
    register long r10 __asm__("r10") = 0;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr | 0x40000000L), "D"(a), "S"(b), "d"(c), "r"(r10)
                     : "rcx", "r11", "memory");
    return ret;
}

struct abi_call {
    const char *name;
    long ia32_nr, x32_nr;
    long a, b, c;
};

static struct io_uring_params uring_params;
static union bpf_attr bpf_attr_buf;

static int run(const char *name, int argc, char **argv, bool x32)
{
    const char *which = argc > 0 ? argv[0] : "unshare_user";
    memset(&bpf_attr_buf, 0, sizeof(bpf_attr_buf));
    bpf_attr_buf.map_type = BPF_MAP_TYPE_ARRAY;
    bpf_attr_buf.key_size = 4;
    bpf_attr_buf.value_size = 8;
    bpf_attr_buf.max_entries = 1;
    memset(&uring_params, 0, sizeof(uring_params));
    const struct abi_call calls[] = {
        {"unshare_user", 310, 272, CLONE_NEWUSER, 0, 0},
        {"unshare_net", 310, 272, CLONE_NEWNET, 0, 0},
        {"keyctl", 288, 250, 1 /* JOIN_SESSION_KEYRING */, 0, 0},
        {"ptrace_traceme", 26, 521, 0 /* PTRACE_TRACEME */, 0, 0},
        {"userfaultfd", 374, 323, O_CLOEXEC | 1 /* USER_MODE_ONLY */, 0, 0},
        {"io_uring", 425, 425, 8, (long)(uintptr_t)&uring_params, 0},
        {"bpf_map", 357, 321, BPF_MAP_CREATE, (long)(uintptr_t)&bpf_attr_buf, sizeof(bpf_attr_buf)},
        {NULL, 0, 0, 0, 0, 0},
    };
    for (const struct abi_call *c = calls; c->name; c++) {
        if (strcmp(c->name, which) != 0)
            continue;
        long r =
            x32 ? x32_call(c->x32_nr, c->a, c->b, c->c) : ia32_call(c->ia32_nr, c->a, c->b, c->c);
        int e = r < 0 && r > -4096 ? (int)-r : 0;
        return atk_report(name, e == 0, e, "%s %s (nr %ld) -> %ld", x32 ? "x32" : "int $0x80",
                          c->name, x32 ? c->x32_nr : c->ia32_nr, r);
    }
    return atk_report(name, false, EINVAL, "unknown call %s", which);
}

static int a_ia32(const char *name, int argc, char **argv)
{
    return run(name, argc, argv, false);
}

static int a_x32(const char *name, int argc, char **argv)
{
    return run(name, argc, argv, true);
}
#else
static int a_ia32(const char *name, int argc, char **argv)
{
    return atk_report(name, false, ENOSYS, "not x86_64");
}

static int a_x32(const char *name, int argc, char **argv)
{
    return atk_report(name, false, ENOSYS, "not x86_64");
}
#endif

const struct atk_entry atk_abi_table[] = {
    {"ia32", a_ia32,
     "<unshare_user|unshare_net|keyctl|ptrace_traceme|userfaultfd|io_uring|"
     "bpf_map> via int $0x80"},
    {"x32", a_x32, "<same> via the x32 ABI"},
    {NULL, NULL, NULL},
};
