#include "harness.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"

static void test_write_read_file(void **state)
{
    char dir[] = "/tmp/al-fs-XXXXXX";
    assert_non_null(mkdtemp(dir));
    cleanup_close int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    assert_int_equal(al_write_file_at(dfd, "f", "hello", 5, 0600), 0);
    cleanup_free char *buf = NULL;
    size_t len;
    assert_int_equal(al_read_file_at(dfd, "f", 100, &buf, &len), 0);
    assert_int_equal(len, 5);
    assert_string_equal(buf, "hello");
    char *small = NULL;
    assert_int_equal(al_read_file_at(dfd, "f", 3, &small, &len), -EFBIG);
    struct stat st;
    assert_int_equal(fstatat(dfd, "f", &st, 0), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(al_rm_rf(dir), 0);
    assert_int_equal(access(dir, F_OK), -1);
}

static void test_timespec_after(void **state)
{
    (void)state;
    struct timespec now, ts;
    for (long long ms = 0; ms <= 2500; ms += 100) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        al_timespec_after(CLOCK_MONOTONIC, ms, &ts);
        assert_true(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000L); /* normalised */
        long long d = (ts.tv_sec - now.tv_sec) * 1000 + (ts.tv_nsec - now.tv_nsec) / 1000000;
        assert_true(d >= ms && d <= ms + 50);
    }
}

static void test_rm_rf_does_not_follow_symlinks(void **state)
{
    char dir[] = "/tmp/al-fs-XXXXXX", victim[] = "/tmp/al-victim-XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_non_null(mkdtemp(victim));
    char p[256];
    snprintf(p, sizeof(p), "%s/keep", victim);
    FILE *f = fopen(p, "w");
    fclose(f);
    snprintf(p, sizeof(p), "%s/a/b/c", dir);
    assert_int_equal(al_mkdir_p(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/a/link", dir);
    assert_int_equal(symlink(victim, p), 0);
    assert_int_equal(al_rm_rf(dir), 0);
    snprintf(p, sizeof(p), "%s/keep", victim);
    assert_int_equal(access(p, F_OK), 0);
    assert_int_equal(al_rm_rf(victim), 0);
    assert_int_equal(al_rm_rf("/tmp/al-does-not-exist-xyz"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_read_file),
        cmocka_unit_test(test_timespec_after),
        cmocka_unit_test(test_rm_rf_does_not_follow_symlinks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
