/* rt-probe: a static helper copied into test layers.  Tries things a sandbox must not be able
 * to do and prints one "name result" line each (result: "ok" or the errno name), or runs a
 * resource test: "rt-probe alloc MB", "rt-probe forkbomb".  Used by test_runtime_ns.py. */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(const char *name, long r)
{
    if (r < 0)
        printf("%s %s\n", name, strerrorname_np(errno) ? strerrorname_np(errno) : "E?");
    else
        printf("%s ok\n", name);
    fflush(stdout);
}

static long int80_getpid(void)
{
    long ret = 20; /* i386 __NR_getpid */
    __asm__ volatile("int $0x80" : "+a"(ret) : : "memory");
    return ret;
}

static int escapes(void)
{
    report("mount", mount("x", "/mnt", "tmpfs", 0, NULL));
    report("umount2", umount2("/proc", MNT_DETACH));
    report("unshare_user", unshare(CLONE_NEWUSER));
    report("unshare_ns", unshare(CLONE_NEWNS));
    report("unshare_net", unshare(CLONE_NEWNET));
    long r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (r == 0)
        _exit(0);
    if (r > 0)
        waitpid((pid_t)r, NULL, 0);
    report("clone_newuser", r);
    struct clone_args ca = {.exit_signal = SIGCHLD};
    r = syscall(SYS_clone3, &ca, sizeof(ca));
    if (r == 0)
        _exit(0);
    if (r > 0)
        waitpid((pid_t)r, NULL, 0);
    report("clone3", r);
    int ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    report("setns", ns < 0 ? ns : setns(ns, 0));
    pid_t child = fork();
    if (child == 0) {
        pause();
        _exit(0);
    }
    report("ptrace_attach", ptrace(PTRACE_ATTACH, child, 0, 0));
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    report("ptrace_traceme", ptrace(PTRACE_TRACEME, 0, 0, 0));
    report("keyctl", syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0));
    report("add_key", syscall(SYS_add_key, "user", "x", "y", 1, -3));
    report("bpf", syscall(SYS_bpf, 0, NULL, 0));
    report("perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
    report("userfaultfd", syscall(SYS_userfaultfd, 0));
    report("io_uring_setup", syscall(SYS_io_uring_setup, 1, NULL));
    report("tiocsti", ioctl(0, TIOCSTI, "x"));
    report("tiocsti_high", syscall(SYS_ioctl, 0, 0x100000000ul | TIOCSTI, "x"));
    report("mknod_chr", mknod("/tmp/probe-chr", S_IFCHR | 0666, makedev(1, 3)));
    report("mknod_fifo", mknod("/tmp/probe-fifo", S_IFIFO | 0666, 0));
    report("personality_norand", personality(ADDR_NO_RANDOMIZE));
    report("personality_linux", personality(PER_LINUX));
    report("chroot", chroot("/tmp"));
    report("reboot", syscall(SYS_reboot, 0xfee1dead, 672274793, 0x4321fedc, NULL));
    report("open_tree", syscall(SYS_open_tree, AT_FDCWD, "/", 1));
    report("fsopen", syscall(SYS_fsopen, "tmpfs", 0));
    report("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
    report("init_module", syscall(SYS_init_module, NULL, 0, ""));
    report("open_by_handle_at", syscall(SYS_open_by_handle_at, AT_FDCWD, NULL, 0));
    report("settimeofday", syscall(SYS_settimeofday, NULL, NULL));
    report("socket_vsock", socket(40 /* AF_VSOCK */, SOCK_STREAM | SOCK_CLOEXEC, 0));
    report("socket_packet", socket(17 /* AF_PACKET */, SOCK_RAW | SOCK_CLOEXEC, 0));
    report("socket_alg", socket(38 /* AF_ALG */, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    r = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (r >= 0) {
        struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
        r = bind((int)r, (struct sockaddr *)&a, sizeof(a));
    }
    report("bind_ipv6_loopback", r);
    r = int80_getpid();
    if (r < 0) {
        errno = (int)-r;
        r = -1;
    }
    report("i386_getpid", r);
    r = syscall(39 | 0x40000000); /* x32 getpid */
    report("x32_getpid", r);
    report("getpid", getpid());
    return 0;
}

static int alloc(long mb)
{
    size_t chunk = 1u << 20;
    for (long i = 0; i < mb; i++) {
        char *p = malloc(chunk);
        if (!p) {
            printf("malloc failed at %ld MiB\n", i);
            return 1;
        }
        memset(p, 1, chunk);
    }
    printf("allocated %ld MiB\n", mb);
    return 0;
}

static int forkbomb(void)
{
    int n = 0;
    for (; n < 100000; n++) {
        pid_t p = fork();
        if (p == 0) {
            pause();
            _exit(0);
        }
        if (p < 0)
            break;
    }
    printf("forked %d then %s\n", n, strerrorname_np(errno));
    fflush(stdout);
    kill(0, SIGKILL); /* us and our children: the process group */
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "escapes"))
        return escapes();
    if (argc >= 3 && !strcmp(argv[1], "alloc"))
        return alloc(strtol(argv[2], NULL, 10));
    if (argc >= 2 && !strcmp(argv[1], "forkbomb")) {
        setpgid(0, 0);
        return forkbomb();
    }
    fprintf(stderr, "usage: rt-probe escapes|alloc MB|forkbomb\n");
    return 2;
}
