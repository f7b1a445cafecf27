#include "harness.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/path.h"

static char root[256];
static int root_fd = -1;

static int setup(void **state)
{
    snprintf(root, sizeof(root), "/tmp/al-path-test-XXXXXX");
    if (!mkdtemp(root))
        return -1;
    char p[512];
    snprintf(p, sizeof(p), "%s/dir", root);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/dir/file", root);
    FILE *f = fopen(p, "w");
    fputs("inside", f);
    fclose(f);
    /* planted escapes */
    snprintf(p, sizeof(p), "%s/up", root);
    if (symlink("../../../../../../etc", p) < 0)
        return -1;
    snprintf(p, sizeof(p), "%s/abs", root);
    if (symlink("/etc/hostname", p) < 0)
        return -1;
    snprintf(p, sizeof(p), "%s/self", root);
    if (symlink("/proc/self/root/etc/hostname", p) < 0)
        return -1;
    root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    return root_fd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
    close(root_fd);
    al_rm_rf(root);
    return 0;
}

static void test_inside_ok(void **state)
{
    cleanup_close int fd = al_open_in_root(root_fd, "/dir/file", O_RDONLY, 0, false);
    assert_true(fd >= 0);
    char buf[16] = {0};
    assert_int_equal(read(fd, buf, sizeof(buf) - 1), 6);
    assert_string_equal(buf, "inside");
}

static void test_dotdot_stays_in_root(void **state)
{
    /* ../../etc/hostname resolves to <root>/etc/hostname, which does not exist */
    int fd = al_open_in_root(root_fd, "../../../../etc/hostname", O_RDONLY, 0, false);
    assert_int_equal(fd, -ENOENT);
}

static void test_symlink_escapes_contained(void **state)
{
    assert_int_equal(al_open_in_root(root_fd, "up/hostname", O_RDONLY, 0, false), -ENOENT);
    assert_int_equal(al_open_in_root(root_fd, "abs", O_RDONLY, 0, false), -ENOENT);
    assert_true(al_open_in_root(root_fd, "abs", O_RDONLY, 0, true) < 0);
    int fd = al_open_in_root(root_fd, "self", O_RDONLY, 0, false);
    assert_true(fd < 0);
}

static void test_parent_split(void **state)
{
    char name[256];
    cleanup_close int pfd = al_open_parent_in_root(root_fd, "/dir/file", name, sizeof(name));
    assert_true(pfd >= 0);
    assert_string_equal(name, "file");
    assert_int_equal(al_open_parent_in_root(root_fd, "/dir/..", name, sizeof(name)), -EINVAL);
    assert_int_equal(al_open_parent_in_root(root_fd, "/", name, sizeof(name)), -EINVAL);
    cleanup_close int pfd2 = al_open_parent_in_root(root_fd, "top", name, sizeof(name));
    assert_true(pfd2 >= 0);
    assert_string_equal(name, "top");
}

static void test_sanity(void **state)
{
    assert_true(al_path_is_sane("/a/b", 100));
    assert_false(al_path_is_sane("", 100));
    assert_false(al_path_is_sane("/a\nb", 100));
    assert_false(al_path_is_sane("/aaaa", 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inside_ok),
        cmocka_unit_test(test_dotdot_stays_in_root),
        cmocka_unit_test(test_symlink_escapes_contained),
        cmocka_unit_test(test_parent_split),
        cmocka_unit_test(test_sanity),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
