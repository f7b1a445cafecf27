#include "../common/harness.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "runtime/rt_int.h"

/* As host root, mknod of a character device works; under the sandbox ruleset it must not,
 * while ordinary files, dirs and fifos still can be made. */
static void test_ruleset_denies_devices_only(void **state)
{
    int abi = rt_landlock_abi();
    if (abi < 1 || geteuid() != 0)
        skip();
    char dir[] = "/tmp/rt-landlock-XXXXXX";
    assert_non_null(mkdtemp(dir));
    pid_t pid = fork();
    if (pid == 0) {
        if (rt_landlock_apply(abi) < 0)
            _exit(10);
        char p[64];
        snprintf(p, sizeof(p), "%s/chr", dir);
        if (mknod(p, S_IFCHR | 0600, makedev(1, 3)) == 0 || errno != EACCES)
            _exit(11);
        snprintf(p, sizeof(p), "%s/fifo", dir);
        if (mknod(p, S_IFIFO | 0600, 0) < 0)
            _exit(12);
        snprintf(p, sizeof(p), "%s/sub", dir);
        if (mkdir(p, 0700) < 0)
            _exit(13);
        snprintf(p, sizeof(p), "%s/sub/f", dir);
        int fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, "x", 1) != 1)
            _exit(14);
        close(fd);
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    al_rm_rf(dir);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_abi_probe(void **state)
{
    int abi = rt_landlock_abi();
    assert_true(abi >= 0);
    assert_int_equal(rt_landlock_apply(0), 0); /* no Landlock: a no-op */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abi_probe),
        cmocka_unit_test(test_ruleset_denies_devices_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
