/* Safe layer unpack against crafted, hostile tarballs.  Needs root (mknod, chown, trusted.*
 * xattrs): skipped otherwise. */
#include "harness.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "image/img_internal.h"
#include "tarw.h"

static char base[256]; /* a scratch dir holding root/ (the layer) and outside/ */
static char root[300], outside[300];
static int root_fd = -1;

static int setup(void **state)
{
    snprintf(base, sizeof(base), "/tmp/img-unpack-XXXXXX");
    if (!mkdtemp(base))
        return -1;
    snprintf(root, sizeof(root), "%s/root", base);
    snprintf(outside, sizeof(outside), "%s/outside", base);
    mkdir(root, 0755);
    mkdir(outside, 0755);
    root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return root_fd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
    close(root_fd);
    al_rm_rf(base);
    return 0;
}

static int unpack(struct tarw *w, uint64_t max_entries, uint64_t max_bytes, struct al_err *err)
{
    tarw_end(w);
    struct img_mem_rd m;
    struct img_rd rd;
    img_mem_rd_init(&m, w->buf, w->len, &rd);
    struct img_unpack_limits lim = {max_entries ? max_entries : 1000,
                                    max_bytes ? max_bytes : (1u << 20)};
    int rc = img_unpack_tar(root_fd, &rd, &lim, err);
    free(w->buf);
    memset(w, 0, sizeof(*w));
    return rc;
}

static bool exists_in(const char *dir, const char *name)
{
    char p[600];
    struct stat st;
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return lstat(p, &st) == 0;
}

static void skip_unless_root(void)
{
    if (geteuid() != 0)
        skip();
}

static void test_basic(void **state)
{
    skip_unless_root();
    struct tarw w = {0};
    struct al_err err = {0};
    tarw_hdr(&w, "./", '5', 0755, NULL, NULL, 0, 0, 0);
    tarw_hdr(&w, "./etc/", '5', 0755, NULL, NULL, 0, 0, 0);
    tarw_hdr(&w, "./etc/passwd", '0', 0644, NULL, "root:x:0:0::/:/bin/sh\n", 22, 1234, 5678);
    tarw_hdr(&w, "./etc/link", '2', 0777, "passwd", NULL, 0, 0, 0);
    tarw_hdr(&w, "./etc/hard", '1', 0644, "etc/passwd", NULL, 0, 0, 0);
    tarw_hdr(&w, "./deep/implicit/dirs/f", '0', 0600, NULL, "x", 1, 0, 0);
    assert_int_equal(unpack(&w, 0, 0, &err), 0);
    struct stat st, st2;
    char p[600];
    snprintf(p, sizeof(p), "%s/etc/passwd", root);
    assert_int_equal(lstat(p, &st), 0);
    assert_int_equal(st.st_uid, 1234);
    assert_int_equal(st.st_gid, 5678);
    assert_int_equal(st.st_mode & 07777, 0644);
    assert_int_equal(st.st_size, 22);
    assert_int_equal(st.st_mtime, 1700000000);
    snprintf(p, sizeof(p), "%s/etc/hard", root);
    assert_int_equal(lstat(p, &st2), 0);
    assert_int_equal(st.st_ino, st2.st_ino);
    char tgt[64] = {0};
    snprintf(p, sizeof(p), "%s/etc/link", root);
    assert_int_equal(readlink(p, tgt, sizeof(tgt) - 1), 6);
    assert_string_equal(tgt, "passwd");
    assert_true(exists_in(root, "deep/implicit/dirs/f"));
}

static void test_dotdot_escape(void **state)
{
    skip_unless_root();
    struct tarw w = {0};
    struct al_err err = {0};
    tarw_file(&w, "../outside/pwned", 0644, "x");
    assert_int_equal(unpack(&w, 0, 0, &err), -EPERM);
    assert_false(exists_in(outside, "pwned"));
    tarw_file(&w, "a/../../outside/pwned2", 0644, "x");
    assert_true(unpack(&w, 0, 0, &err) < 0);
    assert_false(exists_in(outside, "pwned2"));
}

static void test_absolute_path(void **state)
{
    skip_unless_root();
    struct tarw w = {0};
    struct al_err err = {0};
    char abs[400];
    snprintf(abs, sizeof(abs), "%s/abs-pwned", outside); /* an absolute host path */
    tarw_file(&w, abs, 0644, "x");
    assert_int_equal(unpack(&w, 0, 0, &err), 0);
    assert_false(exists_in(outside, "abs-pwned"));
    /* it landed inside the layer, with the leading '/' stripped */
    char inside[400];
    snprintf(inside, sizeof(inside), "%s/abs-pwned", outside + 1);
    assert_true(exists_in(root, inside));
}

static void test_symlink_parent(void **state)
{
    skip_unless_root();
    struct tarw w = {0};
    struct al_err err = {0};
    tarw_hdr(&w, "evil", '2', 0777, outside, NULL, 0, 0, 0); /* absolute target */
    tarw_file(&w, "evil/pwned", 0644, "x");
    assert_int_equal(unpack(&w, 0, 0, &err), -EPERM);
    assert_non_null(strstr(err.msg, "symlink"));
    assert_false(exists_in(outside, "pwned"));

    tarw_hdr(&w, "rel", '2', 0777, "../outside", NULL, 0, 0, 0); /* relative escape */
    tarw_hdr(&w, "rel/sub/", '5', 0755, NULL, NULL, 0, 0, 0);
    assert_int_equal(unpack(&w, 0, 0, &err), -EPERM);
    assert_false(exists_in(outside, "sub"));

    /* a deeper path through a symlinked dir, when intermediate dirs are missing */
    tarw_hdr(&w, "d1", '5', 0755, NULL, NULL, 0, 0, 0);
    tarw_hdr(&w, "d1/s", '2', 0777, "/", NULL, 0, 0, 0);
    tarw_file(&w, "d1/s/tmp/x/y", 0644, "x");
    assert_int_equal(unpack(&w, 0, 0, &err), -EPERM);
}

static void test_symlink_replaced_not_followed(void **state)
{
    skip_unless_root();
    struct tarw w = {0};
    struct al_err err = {0};
    char tgt[400];
    snprintf(tgt, sizeof(tgt), "%s/victim", outside);
    int fd = open(tgt, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "orig", 4), 4);
    close(fd);
    tarw_hdr(&w, "s", '2', 0777, tgt, NULL, 0, 0, 0);
    tarw_file(&w, "s", 0644, "overwritten");
    tarw_hdr(&w, "s2", '2', 0777, outside, NULL, 0, 0, 0);
    tarw_hdr(&w, "s2", '5', 0755, NULL, NULL, 0, 0, 0); /* dir over symlink: no chmod via it */
    assert_int_equal(unpack(&w, 0, 0, &err), 0);
    char *buf = NULL;
    size_t len;
    assert_int_equal(al_read_file_at(AT_FDCWD, tgt, 100, &buf, &len), 0);
    assert_string_equal(buf, "orig");
    free(buf);
    struct stat st;
    char p[600];
    snprintf(p, sizeof(p), "%s/s", root);
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    snprintf(p, sizeof(p), "%s/s2", root);
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
}

static void test_hardlink_outside(void **state)
{
    skip_unless_root();
    struct tarw w = {0};
    struct al_err err = {0};
    char victim[400];
    snprintf(victim, sizeof(victim), "%s/secret", outside);
    int fd = open(victim, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    close(fd);
    tarw_hdr(&w, "hl", '1', 0644, "../outside/secret", NULL, 0, 0, 0);
    assert_int_equal(unpack(&w, 0, 0, &err), -EPERM);
    assert_false(exists_in(root, "hl"));

    tarw_hdr(&w, "hl2", '1', 0644, victim, NULL, 0, 0, 0); /* absolute: inside the tree */
    assert_true(unpack(&w, 0, 0, &err) < 0);               /* ... where it does not exist */
    assert_false(exists_in(root, "hl2"));

    tarw_hdr(&w, "lnk", '2', 0777, outside, NULL, 0, 0, 0);
    tarw_hdr(&w, "hl3", '1', 0644, "lnk/secret", NULL, 0, 0, 0); /* through a symlink */
    assert_int_equal(unpack(&w, 0, 0, &err), -EPERM);
    assert_false(exists_in(root, "hl3"));
    struct stat st;
    assert_int_equal(stat(victim, &st), 0);
    assert_int_equal(st.st_nlink, 1);

    tarw_hdr(&w, "adir", '5', 0755, NULL, NULL, 0, 0, 0);
    tarw_hdr(&w, "hl4", '1', 0644, "adir", NULL, 0, 0, 0); /* to a directory */
    assert_int_equal(unpack(&w, 0, 0, &err), -EPERM);
}

static void test_devices_skipped(void **state)
{
    skip_unless_root();
    struct tarw w = {0};
    struct al_err err = {0};
    tarw_hdr(&w, "dev/", '5', 0755, NULL, NULL, 0, 0, 0);
    tarw_hdr(&w, "dev/sda", '4', 0660, NULL, NULL, 0, 0, 0);
    tarw_hdr(&w, "dev/mem", '3', 0660, NULL, NULL, 0, 0, 0);
    tarw_hdr(&w, "dev/fifo", '6', 0660, NULL, NULL, 0, 0, 0);
    tarw_file(&w, "dev/ok", 0644, "x");
    assert_int_equal(unpack(&w, 0, 0, &err), 0);
    assert_false(exists_in(root, "dev/sda"));
    assert_false(exists_in(root, "dev/mem"));
    assert_false(exists_in(root, "dev/fifo"));
    assert_true(exists_in(root, "dev/ok"));
}

static void test_mode_bits(void **state)
{
    skip_unless_root();
    struct tarw w = {0};
    struct al_err err = {0};
    tarw_hdr(&w, "suid", '0', 04755, NULL, "x", 1, 0, 0);
    tarw_hdr(&w, "sgid", '0', 02755, NULL, "x", 1, 0, 0);
    tarw_hdr(&w, "sticky-file", '0', 01755, NULL, "x", 1, 0, 0);
    tarw_hdr(&w, "sgid-dir/", '5', 02775, NULL, NULL, 0, 0, 0);
    tarw_hdr(&w, "tmp/", '5', 01777, NULL, NULL, 0, 0, 0);
    assert_int_equal(unpack(&w, 0, 0, &err), 0);
    struct stat st;
    char p[600];
    const struct {
        const char *n;
        unsigned mode;
    } want[] = {
        {"suid", 0755}, {"sgid", 0755}, {"sticky-file", 0755}, {"sgid-dir", 0775}, {"tmp", 01777}};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", root, want[i].n);
        assert_int_equal(lstat(p, &st), 0);
        if ((st.st_mode & 07777) != want[i].mode)
            fail_msg("%s: mode %o, want %o", want[i].n, st.st_mode & 07777, want[i].mode);
    }
}

static void test_umask_independent(void **state)
{
    skip_unless_root();
    struct tarw w = {0};
    struct al_err err = {0};
    tarw_file(&w, "implicit/dir/f", 0644, "x");
    tarw_hdr(&w, "explicit/", '5', 0755, NULL, NULL, 0, 0, 0);
    mode_t old = umask(077);
    int rc = unpack(&w, 0, 0, &err);
    umask(old);
    assert_int_equal(rc, 0);
    const char *names[] = {"implicit", "implicit/dir", "explicit"};
    for (size_t i = 0; i < 3; i++) {
        char p[600];
        struct stat st;
        snprintf(p, sizeof(p), "%s/%s", root, names[i]);
        assert_int_equal(lstat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0755);
    }
}

static void test_whiteouts(void **state)
{
    skip_unless_root();
    struct tarw w = {0};
    struct al_err err = {0};
    tarw_hdr(&w, "a/", '5', 0755, NULL, NULL, 0, 0, 0);
    tarw_file(&w, "a/.wh.gone", 0644, "");
    tarw_hdr(&w, "opq/", '5', 0755, NULL, NULL, 0, 0, 0);
    tarw_file(&w, "opq/.wh..wh..opq", 0644, "");
    tarw_file(&w, "opq/kept", 0644, "k");
    tarw_file(&w, "implicit/.wh..wh..opq", 0644, "");
    tarw_file(&w, ".wh..wh.plnk", 0644, ""); /* aufs metadata: ignored */
    assert_int_equal(unpack(&w, 0, 0, &err), 0);
    struct stat st;
    char p[600];
    snprintf(p, sizeof(p), "%s/a/gone", root);
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISCHR(st.st_mode));
    assert_int_equal(st.st_rdev, makedev(0, 0));
    assert_false(exists_in(root, "a/.wh.gone"));
    char v[8] = {0};
    snprintf(p, sizeof(p), "%s/opq", root);
    assert_int_equal(lgetxattr(p, "trusted.overlay.opaque", v, sizeof(v)), 1);
    assert_string_equal(v, "y");
    assert_false(exists_in(root, "opq/.wh..wh..opq"));
    assert_true(exists_in(root, "opq/kept"));
    snprintf(p, sizeof(p), "%s/implicit", root);
    assert_int_equal(lgetxattr(p, "trusted.overlay.opaque", v, sizeof(v)), 1);
    assert_false(exists_in(root, ".wh..wh.plnk"));
    /* a whiteout whose name would escape */
    tarw_file(&w, "a/.wh...", 0644, "");
    assert_true(unpack(&w, 0, 0, &err) < 0);
}

static void test_limits(void **state)
{
    skip_unless_root();
    struct tarw w = {0};
    struct al_err err = {0};
    for (int i = 0; i < 50; i++) {
        char n[32];
        snprintf(n, sizeof(n), "many/f%d", i);
        tarw_file(&w, n, 0644, "x");
    }
    assert_int_equal(unpack(&w, 20, 0, &err), -E2BIG);
    assert_int_equal(err.kind, AL_ERR_LIMIT);

    static char big[5000];
    memset(big, 'b', sizeof(big));
    tarw_hdr(&w, "big1", '0', 0644, NULL, big, sizeof(big), 0, 0);
    tarw_hdr(&w, "big2", '0', 0644, NULL, big, sizeof(big), 0, 0);
    assert_int_equal(unpack(&w, 0, 8000, &err), -EFBIG);
    assert_int_equal(err.kind, AL_ERR_LIMIT);

    char comp[300];
    memset(comp, 'c', 299);
    comp[299] = '\0';
    tarw_pax(&w, "path", comp);
    tarw_file(&w, "ignored", 0644, "x");
    assert_int_equal(unpack(&w, 0, 0, &err), -ENAMETOOLONG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_basic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dotdot_escape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_absolute_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlink_parent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlink_replaced_not_followed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hardlink_outside, setup, teardown),
        cmocka_unit_test_setup_teardown(test_devices_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mode_bits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_umask_independent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_whiteouts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
