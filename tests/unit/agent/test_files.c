/* Protocol-level tests of the real airlock-init binary, run as an ordinary child process
 * (not PID 1, no namespaces): file operations and their confinement to --root. */
#include "../common/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "agent_client.h"
#include "common/fsutil.h"

/* ---- file operations, confined to --root ---- */

static char froot[256];
static struct tagent fa;

static void put(const char *rel, const char *content)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", froot, rel);
    FILE *f = fopen(p, "we");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static int files_setup(void **state)
{
    snprintf(froot, sizeof(froot), "/tmp/al-agent-files-XXXXXX");
    if (!mkdtemp(froot))
        return -1;
    chmod(froot, 0755);
    char p[512];
    snprintf(p, sizeof(p), "%s/etc", froot);
    mkdir(p, 0755);
    put("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
    /* planted escapes */
    snprintf(p, sizeof(p), "%s/up", froot);
    if (symlink("../../../../../../etc", p) < 0)
        return -1;
    snprintf(p, sizeof(p), "%s/abs", froot);
    if (symlink("/etc", p) < 0)
        return -1;
    snprintf(p, sizeof(p), "%s/hostlink", froot);
    if (symlink("/etc/hostname", p) < 0)
        return -1;
    const char *opts[] = {"--root", froot, NULL};
    if (tagent_start(&fa, opts) < 0)
        return -1;
    struct tframe f;
    if (tagent_recv(&fa, &f, 5000) != 1 || f.type != AL_MSG_HELLO)
        return -1;
    tframe_clear(&f);
    return 0;
}

static int files_teardown(void **state)
{
    tagent_stop(&fa);
    al_rm_rf(froot);
    return 0;
}

static uint32_t fid = 1000;

/* Returns errno of an error RESULT, 0 for ok. */
static int fop(const char *json, const void *data, size_t len, json_t **ret, uint8_t **rdata,
               size_t *rlen)
{
    json_t *r = NULL;
    assert_int_equal(tagent_file(&fa, fid++, json, data, len, &r, rdata, rlen), 0);
    assert_non_null(r);
    int code = 0;
    json_t *err = json_object_get(r, "error");
    if (err)
        code = (int)json_integer_value(json_object_get(err, "errno"));
    else
        assert_true(json_is_true(json_object_get(r, "ok")));
    if (ret)
        *ret = r;
    else
        json_decref(r);
    return code;
}

static void test_file_roundtrip(void **state)
{
    json_t *r;
    uint8_t *data;
    size_t len;
    assert_int_equal(fop("{\"op\":\"write\",\"path\":\"/hello.txt\"}", "hello", 5, &r, NULL, NULL),
                     0);
    assert_int_equal(json_integer_value(json_object_get(r, "size")), 5);
    json_decref(r);
    assert_int_equal(fop("{\"op\":\"read\",\"path\":\"/hello.txt\"}", NULL, 0, &r, &data, &len), 0);
    assert_int_equal(len, 5);
    assert_memory_equal(data, "hello", 5);
    assert_int_equal(json_integer_value(json_object_get(r, "size")), 5);
    free(data);
    json_decref(r);
    char host[512];
    snprintf(host, sizeof(host), "%s/hello.txt", froot);
    struct stat st;
    assert_int_equal(stat(host, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);

    /* append */
    assert_int_equal(fop("{\"op\":\"write\",\"path\":\"hello.txt\",\"append\":true}", " world", 6,
                         NULL, NULL, NULL),
                     0);
    assert_int_equal(fop("{\"op\":\"read\",\"path\":\"/hello.txt\"}", NULL, 0, NULL, &data, &len),
                     0);
    assert_int_equal(len, 11);
    assert_memory_equal(data, "hello world", 11);
    free(data);

    /* modes are exact, whatever the agent's umask was */
    assert_int_equal(fop("{\"op\":\"write\",\"path\":\"/m666\",\"append\":true,\"mode\":438}", "x",
                         1, NULL, NULL, NULL),
                     0);
    snprintf(host, sizeof(host), "%s/m666", froot);
    assert_int_equal(stat(host, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0666);
    assert_int_equal(
        fop("{\"op\":\"mkdir\",\"path\":\"/d777\",\"mode\":511}", NULL, 0, NULL, NULL, NULL), 0);
    snprintf(host, sizeof(host), "%s/d777", froot);
    assert_int_equal(stat(host, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0777);

    /* a multi-frame write (3 MiB) with a mode, then a multi-chunk read */
    size_t n = 3u << 20;
    uint8_t *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (uint8_t)(i * 7 + i / 4096);
    uint32_t id = fid++;
    assert_int_equal(tagent_send(&fa, AL_MSG_FILE, AL_FRAME_MORE, id,
                                 "{\"op\":\"write\",\"path\":\"/big.bin\",\"mode\":384}", big,
                                 1u << 20),
                     0);
    assert_int_equal(
        tagent_send(&fa, AL_MSG_FILE_DATA, AL_FRAME_MORE, id, NULL, big + (1u << 20), 1u << 20), 0);
    assert_int_equal(tagent_send(&fa, AL_MSG_FILE_DATA, 0, id, NULL, big + (2u << 20), 1u << 20),
                     0);
    struct tframe f;
    assert_int_equal(tagent_recv(&fa, &f, 10000), 1);
    assert_int_equal(f.type, AL_MSG_RESULT);
    assert_int_equal(f.id, id);
    assert_int_equal(json_integer_value(json_object_get(f.json, "size")), n);
    tframe_clear(&f);
    snprintf(host, sizeof(host), "%s/big.bin", froot);
    assert_int_equal(stat(host, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(fop("{\"op\":\"read\",\"path\":\"/big.bin\"}", NULL, 0, NULL, &data, &len), 0);
    assert_int_equal(len, n);
    assert_memory_equal(data, big, n);
    free(data);
    free(big);
    /* maxBytes */
    assert_int_equal(
        fop("{\"op\":\"read\",\"path\":\"/big.bin\",\"maxBytes\":1000}", NULL, 0, NULL, NULL, NULL),
        EFBIG);

    /* truncating write replaces content; no temp files are left behind */
    assert_int_equal(fop("{\"op\":\"write\",\"path\":\"/hello.txt\"}", "bye", 3, NULL, NULL, NULL),
                     0);
    assert_int_equal(fop("{\"op\":\"read\",\"path\":\"/hello.txt\"}", NULL, 0, NULL, &data, &len),
                     0);
    assert_int_equal(len, 3);
    free(data);

    /* mkdir -p, list, stat, remove */
    assert_int_equal(fop("{\"op\":\"mkdir\",\"path\":\"/a/b/c\"}", NULL, 0, NULL, NULL, NULL),
                     ENOENT);
    assert_int_equal(
        fop("{\"op\":\"mkdir\",\"path\":\"/a/b/c\",\"parents\":true}", NULL, 0, NULL, NULL, NULL),
        0);
    assert_int_equal(
        fop("{\"op\":\"mkdir\",\"path\":\"/a/b/c\",\"parents\":true}", NULL, 0, NULL, NULL, NULL),
        0);
    assert_int_equal(fop("{\"op\":\"mkdir\",\"path\":\"/a/b/c\"}", NULL, 0, NULL, NULL, NULL),
                     EEXIST);
    assert_int_equal(fop("{\"op\":\"write\",\"path\":\"/a/b/c/f\"}", "x", 1, NULL, NULL, NULL), 0);
    assert_int_equal(fop("{\"op\":\"stat\",\"path\":\"/a/b\"}", NULL, 0, &r, NULL, NULL), 0);
    assert_string_equal(json_string_value(json_object_get(r, "type")), "dir");
    assert_int_equal(json_integer_value(json_object_get(r, "mode")), 0755);
    assert_int_equal(json_integer_value(json_object_get(r, "uid")), geteuid());
    json_decref(r);
    assert_int_equal(fop("{\"op\":\"stat\",\"path\":\"/up\"}", NULL, 0, &r, NULL, NULL), 0);
    assert_string_equal(json_string_value(json_object_get(r, "type")), "symlink"); /* lstat */
    json_decref(r);
    assert_int_equal(fop("{\"op\":\"stat\",\"path\":\"/\"}", NULL, 0, &r, NULL, NULL), 0);
    assert_string_equal(json_string_value(json_object_get(r, "type")), "dir");
    json_decref(r);
    assert_int_equal(fop("{\"op\":\"list\",\"path\":\"/\"}", NULL, 0, &r, NULL, NULL), 0);
    json_t *entries = json_object_get(r, "entries");
    bool saw_hello = false, saw_a = false, saw_tmp = false;
    size_t i;
    json_t *ent;
    json_array_foreach(entries, i, ent)
    {
        const char *name = json_string_value(json_object_get(ent, "name"));
        const char *type = json_string_value(json_object_get(ent, "type"));
        if (strcmp(name, "hello.txt") == 0) {
            saw_hello = true;
            assert_string_equal(type, "file");
            assert_int_equal(json_integer_value(json_object_get(ent, "size")), 3);
            assert_true(json_integer_value(json_object_get(ent, "mtime")) > 1000000000);
        }
        if (strcmp(name, "a") == 0) {
            saw_a = true;
            assert_string_equal(type, "dir");
        }
        if (strncmp(name, ".airlock-tmp", 12) == 0)
            saw_tmp = true;
    }
    assert_true(saw_hello);
    assert_true(saw_a);
    assert_false(saw_tmp);
    json_decref(r);
    assert_int_equal(fop("{\"op\":\"remove\",\"path\":\"/a\"}", NULL, 0, NULL, NULL, NULL),
                     ENOTEMPTY);
    assert_int_equal(
        fop("{\"op\":\"remove\",\"path\":\"/a\",\"recursive\":true}", NULL, 0, NULL, NULL, NULL),
        0);
    assert_int_equal(fop("{\"op\":\"stat\",\"path\":\"/a\"}", NULL, 0, NULL, NULL, NULL), ENOENT);
    assert_int_equal(fop("{\"op\":\"remove\",\"path\":\"/a\"}", NULL, 0, NULL, NULL, NULL), ENOENT);
    assert_int_equal(fop("{\"op\":\"remove\",\"path\":\"/big.bin\"}", NULL, 0, NULL, NULL, NULL),
                     0);

    /* refusals */
    assert_int_equal(fop("{\"op\":\"read\",\"path\":\"/etc\"}", NULL, 0, NULL, NULL, NULL), EISDIR);
    assert_int_equal(fop("{\"op\":\"write\",\"path\":\"/etc\"}", "x", 1, NULL, NULL, NULL), EISDIR);
    assert_int_equal(fop("{\"op\":\"list\",\"path\":\"/hello.txt\"}", NULL, 0, NULL, NULL, NULL),
                     ENOTDIR);
    assert_int_equal(fop("{\"op\":\"frobnicate\",\"path\":\"/\"}", NULL, 0, NULL, NULL, NULL),
                     EINVAL);
    assert_int_equal(fop("{\"op\":\"read\"}", NULL, 0, NULL, NULL, NULL), EINVAL);
    assert_int_equal(fop("{\"op\":\"remove\",\"path\":\"/\"}", NULL, 0, NULL, NULL, NULL), EINVAL);
    assert_int_equal(fop("not json", NULL, 0, NULL, NULL, NULL), EINVAL);
    /* an error message that a bounded format cuts inside a UTF-8 character still arrives */
    char json[1024], *p = json;
    p += snprintf(p, 64, "{\"op\":\"read\",\"path\":\"/");
    for (int k = 0; k < 150; k++)
        p += snprintf(p, 8, "\xc3\xa9%s", k % 60 == 59 ? "/" : "");
    snprintf(p, 8, "\"}");
    assert_int_equal(fop(json, NULL, 0, NULL, NULL, NULL), ENOENT);
}

static void test_file_escapes(void **state)
{
    uint8_t *data;
    size_t len;
    /* "../../etc" and "/etc" symlinks resolve inside the root: <root>/etc/passwd */
    assert_int_equal(fop("{\"op\":\"read\",\"path\":\"/up/passwd\"}", NULL, 0, NULL, &data, &len),
                     0);
    assert_string_equal((char *)data, "root:x:0:0:root:/root:/bin/sh\n");
    free(data);
    assert_int_equal(fop("{\"op\":\"read\",\"path\":\"/abs/passwd\"}", NULL, 0, NULL, &data, &len),
                     0);
    assert_string_equal((char *)data, "root:x:0:0:root:/root:/bin/sh\n");
    free(data);
    assert_int_equal(
        fop("{\"op\":\"read\",\"path\":\"../../../../etc/hostname\"}", NULL, 0, NULL, NULL, NULL),
        ENOENT);
    assert_int_equal(fop("{\"op\":\"read\",\"path\":\"/hostlink\"}", NULL, 0, NULL, NULL, NULL),
                     ENOENT);
    /* writes through them land inside the root, never in the host's /etc */
    assert_int_equal(
        fop("{\"op\":\"write\",\"path\":\"/abs/al-agent-escape-test\"}", "x", 1, NULL, NULL, NULL),
        0);
    assert_int_equal(access("/etc/al-agent-escape-test", F_OK), -1);
    char p[512];
    snprintf(p, sizeof(p), "%s/etc/al-agent-escape-test", froot);
    assert_int_equal(access(p, F_OK), 0);
    assert_int_equal(
        fop("{\"op\":\"mkdir\",\"path\":\"/up/al-agent-escape-dir\"}", NULL, 0, NULL, NULL, NULL),
        0);
    assert_int_equal(access("/etc/al-agent-escape-dir", F_OK), -1);
    /* writing to a symlink as the last component is refused, append or not */
    assert_int_equal(fop("{\"op\":\"write\",\"path\":\"/hostlink\"}", "x", 1, NULL, NULL, NULL),
                     ELOOP);
    assert_int_equal(
        fop("{\"op\":\"write\",\"path\":\"/hostlink\",\"append\":true}", "x", 1, NULL, NULL, NULL),
        ELOOP);
    /* listing through a symlink stays inside */
    json_t *r;
    assert_int_equal(fop("{\"op\":\"list\",\"path\":\"/up\"}", NULL, 0, &r, NULL, NULL), 0);
    assert_true(json_array_size(json_object_get(r, "entries")) <= 3); /* passwd + 2 made above */
    json_decref(r);
    /* removing a symlink removes the link, not its target */
    assert_int_equal(
        fop("{\"op\":\"remove\",\"path\":\"/abs\",\"recursive\":true}", NULL, 0, NULL, NULL, NULL),
        0);
    assert_int_equal(access("/etc/passwd", F_OK), 0);
    snprintf(p, sizeof(p), "%s/etc/passwd", froot);
    assert_int_equal(access(p, F_OK), 0);
}

static void test_file_magic_links(void **state)
{
    /* with the real "/" as root, /proc magic links are refused */
    struct tagent t;
    assert_int_equal(tagent_start(&t, NULL), 0);
    struct tframe f;
    assert_int_equal(tagent_recv(&t, &f, 5000), 1);
    tframe_clear(&f);
    json_t *r = NULL;
    assert_int_equal(tagent_file(&t, 1, "{\"op\":\"read\",\"path\":\"/proc/self/root/etc/passwd\"}",
                                 NULL, 0, &r, NULL, NULL),
                     0);
    json_t *err = json_object_get(r, "error");
    assert_non_null(err);
    assert_int_equal(json_integer_value(json_object_get(err, "errno")), ELOOP);
    json_decref(r);
    assert_int_equal(tagent_file(&t, 2, "{\"op\":\"list\",\"path\":\"/proc/self/fd/3\"}", NULL, 0,
                                 &r, NULL, NULL),
                     0);
    assert_non_null(json_object_get(r, "error"));
    json_decref(r);
    tagent_stop(&t);
}

static void test_file_owner(void **state)
{
    if (geteuid() != 0)
        skip();
    /* --user: file ops run as that user's fsuid */
    char root2[] = "/tmp/al-agent-owner-XXXXXX";
    assert_non_null(mkdtemp(root2));
    chmod(root2, 0777);
    char p[512];
    snprintf(p, sizeof(p), "%s/etc", root2);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/etc/passwd", root2);
    FILE *fp = fopen(p, "we");
    fputs("alice:x:1234:1235::/home/alice:/bin/sh\n", fp);
    fclose(fp);
    struct tagent t;
    const char *opts[] = {"--root", root2, "--user", "alice", NULL};
    assert_int_equal(tagent_start(&t, opts), 0);
    struct tframe f;
    assert_int_equal(tagent_recv(&t, &f, 5000), 1);
    tframe_clear(&f);
    json_t *r = NULL;
    assert_int_equal(
        tagent_file(&t, 1, "{\"op\":\"write\",\"path\":\"/owned\"}", "x", 1, &r, NULL, NULL), 0);
    assert_null(json_object_get(r, "error"));
    json_decref(r);
    struct stat st;
    snprintf(p, sizeof(p), "%s/owned", root2);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_uid, 1234);
    assert_int_equal(st.st_gid, 1235);
    /* and it cannot write where alice may not */
    assert_int_equal(
        tagent_file(&t, 2, "{\"op\":\"write\",\"path\":\"/etc/x\"}", "x", 1, &r, NULL, NULL), 0);
    json_t *err = json_object_get(r, "error");
    assert_non_null(err);
    assert_int_equal(json_integer_value(json_object_get(err, "errno")), EACCES);
    json_decref(r);
    tagent_stop(&t);
    al_rm_rf(root2);
}

static void mount_tmpfs_pre(void *ud)
{
    const char *dir = ud;
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
        mount("tmpfs", dir, "tmpfs", 0, "size=1m") < 0)
        _exit(125);
    char p[512];
    snprintf(p, sizeof(p), "%s/keep", dir);
    int fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0)
        _exit(125);
    close(fd);
}

/* recursive remove never takes a mount point (or anything in it) along */
static void test_file_remove_mount_point(void **state)
{
    if (geteuid() != 0)
        skip();
    char root2[] = "/tmp/al-agent-mnt-XXXXXX";
    assert_non_null(mkdtemp(root2));
    char mnt[512];
    snprintf(mnt, sizeof(mnt), "%s/mnt", root2);
    assert_int_equal(mkdir(mnt, 0755), 0);
    struct tagent t;
    const char *opts[] = {"--root", root2, NULL};
    assert_int_equal(tagent_start_pre(&t, opts, mount_tmpfs_pre, mnt), 0);
    struct tframe f;
    if (tagent_recv(&t, &f, 5000) != 1) {
        tagent_stop(&t);
        rmdir(mnt);
        rmdir(root2);
        skip(); /* no mount namespace here */
    }
    tframe_clear(&f);
    json_t *r = NULL;
    assert_int_equal(tagent_file(&t, 1, "{\"op\":\"remove\",\"path\":\"/mnt\",\"recursive\":true}",
                                 NULL, 0, &r, NULL, NULL),
                     0);
    json_t *err = json_object_get(r, "error");
    assert_non_null(err);
    assert_int_equal(json_integer_value(json_object_get(err, "errno")), EBUSY);
    json_decref(r);
    assert_int_equal(
        tagent_file(&t, 2, "{\"op\":\"stat\",\"path\":\"/mnt/keep\"}", NULL, 0, &r, NULL, NULL), 0);
    assert_null(json_object_get(r, "error"));
    json_decref(r);
    tagent_stop(&t);
    rmdir(mnt);
    rmdir(root2);
}

/* --channel PATH (virtio-serial in the VM backend): here a raw pty stands in for the port. */
static int stop_files(void **state)
{
    return files_teardown(state);
}

#define F(fn) cmocka_unit_test_setup_teardown(fn, files_setup, stop_files)

int main(void)
{
    const struct CMUnitTest tests[] = {
        F(test_file_roundtrip),
        F(test_file_escapes),
        cmocka_unit_test(test_file_magic_links),
        cmocka_unit_test(test_file_owner),
        cmocka_unit_test(test_file_remove_mount_point),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests_name("agent_files", tests, NULL, NULL);
}
