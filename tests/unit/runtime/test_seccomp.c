#include "../common/harness.h"

#include <fcntl.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/seccomp.h>

#include "runtime/rt_int.h"

static void test_table_sane(void **state)
{
    assert_true(rt_seccomp_rules_n > 50);
    for (size_t i = 0; i < rt_seccomp_rules_n; i++) {
        const struct rt_sc_rule *e = &rt_seccomp_rules[i];
        assert_non_null(e->name);
        assert_non_null(e->reason);
        if (strlen(e->reason) < 5)
            fail_msg("%s: reason too short", e->name);
        if (seccomp_syscall_resolve_name(e->name) == __NR_SCMP_ERROR)
            fail_msg("%s: libseccomp does not know this syscall", e->name);
        assert_true(e->errnum == EPERM || e->errnum == ENOSYS || e->errnum == EAFNOSUPPORT);
        if (e->cmp == RT_SC_MASKED_EQ) {
            assert_true(e->argno < 6);
            assert_int_equal(e->value & ~e->mask, 0);
        }
    }
}

static void test_required_entries(void **state)
{
    static const char *const must[] = {"mount",
                                       "umount2",
                                       "pivot_root",
                                       "move_mount",
                                       "open_tree",
                                       "fsopen",
                                       "fsmount",
                                       "fsconfig",
                                       "mount_setattr",
                                       "unshare",
                                       "setns",
                                       "clone",
                                       "clone3",
                                       "ptrace",
                                       "process_vm_readv",
                                       "process_vm_writev",
                                       "bpf",
                                       "keyctl",
                                       "add_key",
                                       "request_key",
                                       "perf_event_open",
                                       "userfaultfd",
                                       "io_uring_setup",
                                       "io_uring_enter",
                                       "io_uring_register",
                                       "kexec_load",
                                       "kexec_file_load",
                                       "init_module",
                                       "finit_module",
                                       "delete_module",
                                       "open_by_handle_at",
                                       "name_to_handle_at",
                                       "iopl",
                                       "ioperm",
                                       "swapon",
                                       "swapoff",
                                       "reboot",
                                       "acct",
                                       "quotactl",
                                       "lookup_dcookie",
                                       "syslog",
                                       "personality",
                                       "ioctl",
                                       "mknod",
                                       "mknodat",
                                       "chroot",
                                       "vhangup",
                                       "nfsservctl",
                                       "settimeofday",
                                       "clock_settime",
                                       "adjtimex",
                                       NULL};
    for (const char *const *m = must; *m; m++) {
        bool found = false;
        for (size_t i = 0; i < rt_seccomp_rules_n; i++)
            found |= strcmp(rt_seccomp_rules[i].name, *m) == 0;
        if (!found)
            fail_msg("no seccomp entry for %s", *m);
    }
}

/* Install the compiled filter in a child and check what it refuses. */
static void test_filter_behaviour(void **state)
{
    const struct sock_fprog *prog;
    struct al_err err;
    assert_int_equal(rt_seccomp_prog(&prog, &err), 0);
    assert_true(prog->len > 10);
    pid_t pid = fork();
    if (pid == 0) {
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
            syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog) < 0)
            _exit(10);
        errno = 0;
        if (unshare(CLONE_NEWUSER) != -1 || errno != EPERM)
            _exit(11);
        if (mount("x", "/", "tmpfs", 0, NULL) != -1 || errno != EPERM)
            _exit(12);
        if (syscall(SYS_clone3, NULL, 0) != -1 || errno != ENOSYS)
            _exit(13);
        if (ioctl(0, TIOCSTI, "x") != -1 || errno != EPERM)
            _exit(14);
        if (syscall(SYS_ioctl, 0, 0x100000000ul | TIOCSTI, "x") != -1 || errno != EPERM)
            _exit(15);
        if (syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0) != -1 || errno != EPERM)
            _exit(16);
        if (getpid() <= 0 || access("/", F_OK) != 0)
            _exit(17);
        if (socket(40 /* AF_VSOCK */, SOCK_STREAM | SOCK_CLOEXEC, 0) != -1 || errno != EAFNOSUPPORT)
            _exit(20);
        if (syscall(SYS_socket, 0x100000000ul | 17, SOCK_RAW, 0) != -1 || errno != EPERM)
            _exit(21);
        if (syscall(SYS_socket, 0x100000000ul | 40, SOCK_STREAM, 0) != -1 || errno != EAFNOSUPPORT)
            _exit(23);
        int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0)
            _exit(22);
        close(s);
        pid_t c = fork(); /* plain clone is allowed */
        if (c == 0)
            _exit(0);
        if (c < 0 || waitpid(c, NULL, 0) != c)
            _exit(18);
        if (syscall(SYS_mknodat, AT_FDCWD, "/nonexistent/x", S_IFCHR | 0600, 0) != -1 ||
            errno != EPERM)
            _exit(19);
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_sane),
        cmocka_unit_test(test_required_entries),
        cmocka_unit_test(test_filter_behaviour),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
