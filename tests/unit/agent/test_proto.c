/* Protocol-level tests of the real airlock-init binary, run as an ordinary child process
 * (not PID 1, no namespaces): exec semantics, output caps, timeouts, ttys, file ops and
 * their confinement to --root. */
#include "../common/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "agent_client.h"
#include "common/fsutil.h"

static struct tagent ag;

static int start_plain(void **state)
{
    return tagent_start(&ag, NULL) < 0 ? -1 : 0;
}

static int stop(void **state)
{
    tagent_stop(&ag);
    return 0;
}

static long atoi_strict_helper(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    while (*end == ' ' || *end == '\n' || *end == '\r')
        end++;
    return *end ? -1 : v;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* true once pid is gone (or a zombie nobody will see again) */
static bool wait_gone(pid_t pid, int ms)
{
    for (int i = 0; i < ms / 10; i++) {
        if (kill(pid, 0) < 0 && errno == ESRCH)
            return true;
        char path[64], buf[256] = {0};
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        FILE *f = fopen(path, "re");
        if (f) {
            size_t n = fread(buf, 1, sizeof(buf) - 1, f);
            fclose(f);
            char *rp = strrchr(buf, ')');
            if (n && rp && rp[1] == ' ' && rp[2] == 'Z')
                return true;
        }
        sleep_ms(10);
    }
    return false;
}

static void test_hello(void **state)
{
    struct tagent t;
    assert_int_equal(tagent_start(&t, NULL), 0);
    struct tframe f;
    assert_int_equal(tagent_recv(&t, &f, 5000), 1);
    assert_int_equal(f.type, AL_MSG_HELLO);
    assert_int_equal(f.id, 0);
    assert_int_equal(json_integer_value(json_object_get(f.json, "version")), 1);
    assert_int_equal(json_integer_value(json_object_get(f.json, "pid")), t.pid);
    tframe_clear(&f);
    /* EOF on the channel: the agent exits cleanly */
    int status = tagent_stop(&t);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* Skip the HELLO of the shared agent. */
static int start_and_hello(void **state)
{
    if (start_plain(state) < 0)
        return -1;
    struct tframe f;
    if (tagent_recv(&ag, &f, 5000) != 1 || f.type != AL_MSG_HELLO)
        return -1;
    tframe_clear(&f);
    return 0;
}

static void test_echo(void **state)
{
    struct texec e;
    assert_int_equal(tagent_exec(&ag, 1, "{\"command\":[\"echo\",\"hi\"]}", &e, 5000), 0);
    assert_true(e.started);
    assert_true(e.pid > 0);
    assert_true(e.exited);
    assert_string_equal(e.out, "hi\n");
    assert_string_equal(e.err, "");
    assert_int_equal(e.exit_code, 0);
    assert_int_equal(e.signal, 0);
    assert_false(e.timed_out);
    texec_free(&e);
}

static void test_exit_codes(void **state)
{
    struct texec e;
    assert_int_equal(
        tagent_exec(&ag, 2, "{\"command\":[\"sh\",\"-c\",\"echo oops >&2; exit 42\"]}", &e, 5000),
        0);
    assert_int_equal(e.exit_code, 42);
    assert_string_equal(e.err, "oops\n");
    assert_string_equal(e.out, "");
    texec_free(&e);
    assert_int_equal(tagent_exec(&ag, 3, "{\"command\":[\"sh\",\"-c\",\"kill -9 $$\"]}", &e, 5000),
                     0);
    assert_int_equal(e.exit_code, 137);
    assert_int_equal(e.signal, 9);
    texec_free(&e);
}

static void test_missing_command(void **state)
{
    struct texec e;
    assert_int_equal(tagent_exec(&ag, 4, "{\"command\":[\"no-such-command-xyz\"]}", &e, 5000), 0);
    assert_true(e.started);
    assert_int_equal(e.exit_code, 127);
    assert_non_null(strstr(e.err, "no-such-command-xyz: command not found"));
    texec_free(&e);
    assert_int_equal(tagent_exec(&ag, 5, "{\"command\":[\"/no/such/file\"]}", &e, 5000), 0);
    assert_int_equal(e.exit_code, 127);
    texec_free(&e);
    /* not executable: 126 */
    char path[] = "/tmp/al-agent-noexec-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "#!/bin/sh\necho no\n", 18), 18);
    close(fd);
    chmod(path, 0644);
    char json[256];
    snprintf(json, sizeof(json), "{\"command\":[\"%s\"]}", path);
    assert_int_equal(tagent_exec(&ag, 6, json, &e, 5000), 0);
    unlink(path);
    assert_int_equal(e.exit_code, 126);
    assert_non_null(strstr(e.err, "Permission denied"));
    texec_free(&e);
}

static void test_stdin(void **state)
{
    struct texec e = {.id = 7};
    assert_int_equal(
        tagent_send(&ag, AL_MSG_EXEC, 0, 7, "{\"command\":[\"cat\"],\"stdin\":true}", NULL, 0), 0);
    assert_int_equal(tagent_send(&ag, AL_MSG_STDIN, 0, 7, NULL, "hello ", 6), 0);
    assert_int_equal(tagent_send(&ag, AL_MSG_STDIN, AL_FRAME_EOF, 7, NULL, "world", 5), 0);
    assert_int_equal(tagent_wait_execs(&ag, &e, 1, 5000), 0);
    assert_string_equal(e.out, "hello world");
    assert_int_equal(e.exit_code, 0);
    texec_free(&e);

    /* 3 MiB through wc: more than any pipe holds, so stdin writes must be incremental */
    size_t n = 3u << 20;
    char *big = malloc(n);
    memset(big, 'x', n);
    struct texec w = {.id = 8};
    assert_int_equal(tagent_send(&ag, AL_MSG_EXEC, 0, 8,
                                 "{\"command\":[\"wc\",\"-c\"],\"stdin\":true}", NULL, 0),
                     0);
    for (size_t off = 0; off < n; off += 1u << 20)
        assert_int_equal(tagent_send(&ag, AL_MSG_STDIN, off + (1u << 20) >= n ? AL_FRAME_EOF : 0, 8,
                                     NULL, big + off, 1u << 20),
                         0);
    free(big);
    assert_int_equal(tagent_wait_execs(&ag, &w, 1, 10000), 0);
    assert_int_equal(atoi_strict_helper(w.out), 3 << 20);
    texec_free(&w);

    /* without "stdin": true the child reads /dev/null */
    assert_int_equal(tagent_exec(&ag, 9, "{\"command\":[\"cat\"]}", &e, 5000), 0);
    assert_string_equal(e.out, "");
    assert_int_equal(e.exit_code, 0);
    texec_free(&e);
}

static void test_timeout_kills_group(void **state)
{
    struct texec e;
    long long t0 = tnow_ms();
    assert_int_equal(tagent_exec(&ag, 10,
                                 "{\"command\":[\"sh\",\"-c\",\"sleep 100 & echo $!; sleep 100\"],"
                                 "\"timeoutMs\":300}",
                                 &e, 10000),
                     0);
    long long took = tnow_ms() - t0;
    assert_true(e.timed_out);
    assert_int_equal(e.exit_code, 137);
    assert_int_equal(e.signal, SIGKILL);
    assert_true(took >= 250);
    assert_true(took < 3000);
    long bg = atoi_strict_helper(e.out);
    assert_true(bg > 0);
    assert_true(wait_gone((pid_t)bg, 3000)); /* the background child died with the group */
    texec_free(&e);
}

static void test_signal(void **state)
{
    struct texec e = {.id = 11};
    assert_int_equal(
        tagent_send(&ag, AL_MSG_EXEC, 0, 11, "{\"command\":[\"sleep\",\"100\"]}", NULL, 0), 0);
    struct tframe f;
    assert_int_equal(tagent_recv(&ag, &f, 5000), 1);
    assert_int_equal(f.type, AL_MSG_STARTED);
    texec_feed(&e, 1, &f);
    tframe_clear(&f);
    assert_int_equal(tagent_send(&ag, AL_MSG_SIGNAL, 0, 11, "{\"signal\":15}", NULL, 0), 0);
    assert_int_equal(tagent_wait_execs(&ag, &e, 1, 5000), 0);
    assert_int_equal(e.signal, 15);
    assert_int_equal(e.exit_code, 143);
    assert_false(e.timed_out);
    texec_free(&e);
}

static void test_truncation(void **state)
{
    struct texec e;
    assert_int_equal(
        tagent_exec(&ag, 12,
                    "{\"command\":[\"sh\",\"-c\",\"head -c 3000000 /dev/zero; echo -n ab >&2\"],"
                    "\"maxOutput\":100000}",
                    &e, 10000),
        0);
    assert_int_equal(e.exit_code, 0); /* kept draining: head was not blocked or killed */
    assert_int_equal(e.out_len, 100000);
    assert_true(e.out_trunc);
    assert_string_equal(e.err, "ab");
    assert_false(e.err_trunc);
    texec_free(&e);
    /* default cap: 1 MiB */
    assert_int_equal(tagent_exec(&ag, 13,
                                 "{\"command\":[\"head\",\"-c\",\"1048577\",\"/dev/zero\"]}", &e,
                                 10000),
                     0);
    assert_int_equal(e.out_len, 1u << 20);
    assert_true(e.out_trunc);
    texec_free(&e);
    /* exactly at the cap is not truncated */
    assert_int_equal(tagent_exec(&ag, 14,
                                 "{\"command\":[\"head\",\"-c\",\"5000\",\"/dev/zero\"],"
                                 "\"maxOutput\":5000}",
                                 &e, 10000),
                     0);
    assert_int_equal(e.out_len, 5000);
    assert_false(e.out_trunc);
    texec_free(&e);
}

static void test_background_holds_stdout(void **state)
{
    struct texec e;
    long long t0 = tnow_ms();
    assert_int_equal(tagent_exec(&ag, 15,
                                 "{\"command\":[\"sh\",\"-c\",\"sleep 30 & echo $!; echo done\"]}",
                                 &e, 10000),
                     0);
    long long took = tnow_ms() - t0;
    assert_true(took < 2000);
    assert_int_equal(e.exit_code, 0);
    assert_non_null(strstr(e.out, "done\n"));
    pid_t bg = (pid_t)strtol(e.out, NULL, 10);
    assert_true(bg > 0);
    kill(bg, SIGKILL);
    assert_true(wait_gone(bg, 3000));
    texec_free(&e);
}

static void test_concurrent(void **state)
{
    enum { N = 6 };
    struct texec ex[N] = {0};
    long long t0 = tnow_ms();
    for (int i = 0; i < N; i++) {
        ex[i].id = 100 + (uint32_t)i;
        char json[128];
        snprintf(json, sizeof(json), "{\"command\":[\"sh\",\"-c\",\"sleep 0.5; echo %d\"]}", i);
        assert_int_equal(tagent_send(&ag, AL_MSG_EXEC, 0, ex[i].id, json, NULL, 0), 0);
    }
    assert_int_equal(tagent_wait_execs(&ag, ex, N, 10000), 0);
    long long took = tnow_ms() - t0;
    assert_true(took < 2500); /* in parallel, not 3 s in a row */
    for (int i = 0; i < N; i++) {
        char want[8];
        snprintf(want, sizeof(want), "%d\n", i);
        assert_true(ex[i].exited);
        assert_string_equal(ex[i].out, want);
        texec_free(&ex[i]);
    }
}

static void test_tty(void **state)
{
    struct texec e;
    assert_int_equal(
        tagent_exec(
            &ag, 16,
            "{\"command\":[\"sh\",\"-c\",\"test -t 0 && test -t 1 && echo istty; stty size; "
            "echo $TERM; echo err >&2\"],\"tty\":true,\"rows\":33,\"cols\":101}",
            &e, 5000),
        0);
    assert_int_equal(e.exit_code, 0);
    assert_non_null(strstr(e.out, "istty"));
    assert_non_null(strstr(e.out, "33 101"));
    assert_non_null(strstr(e.out, "xterm"));
    assert_non_null(strstr(e.out, "err")); /* stderr goes through the pty too */
    assert_string_equal(e.err, "");
    texec_free(&e);

    /* stdin through the pty, and a RESIZE */
    struct texec t = {.id = 17};
    assert_int_equal(tagent_send(&ag, AL_MSG_EXEC, 0, 17,
                                 "{\"command\":[\"sh\",\"-c\",\"read x; echo got:$x; stty size\"],"
                                 "\"tty\":true,\"stdin\":true}",
                                 NULL, 0),
                     0);
    assert_int_equal(tagent_send(&ag, AL_MSG_RESIZE, 0, 17, "{\"rows\":40,\"cols\":120}", NULL, 0),
                     0);
    assert_int_equal(tagent_send(&ag, AL_MSG_STDIN, 0, 17, NULL, "abc\n", 4), 0);
    assert_int_equal(tagent_wait_execs(&ag, &t, 1, 5000), 0);
    assert_int_equal(t.exit_code, 0);
    assert_non_null(strstr(t.out, "got:abc"));
    assert_non_null(strstr(t.out, "40 120"));
    texec_free(&t);
}

static void test_env_and_cwd(void **state)
{
    struct tagent t;
    const char *opts[] = {"--env", "IMG=1", "--env", "FOO=img", "--workdir", "/tmp", NULL};
    assert_int_equal(tagent_start(&t, opts), 0);
    struct texec e;
    assert_int_equal(tagent_exec(&t, 1,
                                 "{\"command\":[\"sh\",\"-c\",\"echo $FOO $IMG $PATH; pwd; "
                                 "test -n \\\"$HOME\\\" && echo home\"],\"env\":[\"FOO=req\"]}",
                                 &e, 5000),
                     0);
    assert_non_null(
        strstr(e.out, "req 1 /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"));
    assert_non_null(strstr(e.out, "/tmp\nhome\n"));
    texec_free(&e);
    assert_int_equal(tagent_exec(&t, 2, "{\"command\":[\"pwd\"],\"cwd\":\"/\"}", &e, 5000), 0);
    assert_string_equal(e.out, "/\n");
    texec_free(&e);
    /* a cwd that does not exist: the request fails to start */
    assert_int_equal(
        tagent_exec(&t, 3, "{\"command\":[\"pwd\"],\"cwd\":\"/no/such/dir\"}", &e, 5000), 0);
    assert_true(e.error);
    assert_int_equal(e.err_errno, ENOENT);
    texec_free(&e);
    tagent_stop(&t);
}

static void test_caps_dropped(void **state)
{
    struct texec e;
    assert_int_equal(tagent_exec(&ag, 18,
                                 "{\"command\":[\"sh\",\"-c\",\"grep -E "
                                 "'^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs)' "
                                 "/proc/self/status\"]}",
                                 &e, 5000),
                     0);
    assert_int_equal(e.exit_code, 0);
    const char *keys[] = {"CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:"};
    for (size_t i = 0; i < 5; i++) {
        char *p = strstr(e.out, keys[i]);
        assert_non_null(p);
        p += strlen(keys[i]);
        while (*p == '\t' || *p == ' ')
            p++;
        assert_memory_equal(p, "0000000000000000", 16);
    }
    assert_non_null(strstr(e.out, "NoNewPrivs:\t1"));
    texec_free(&e);
}

static void test_user_switch(void **state)
{
    if (geteuid() != 0)
        skip();
    struct texec e;
    assert_int_equal(tagent_exec(&ag, 19,
                                 "{\"command\":[\"sh\",\"-c\",\"id -u; id -g; id -G\"],"
                                 "\"user\":\"4242:4343\"}",
                                 &e, 5000),
                     0);
    assert_string_equal(e.out, "4242\n4343\n4343\n");
    texec_free(&e);
    assert_int_equal(
        tagent_exec(&ag, 20, "{\"command\":[\"id\"],\"user\":\"no-such-user-x\"}", &e, 5000), 0);
    assert_true(e.error);
    assert_int_equal(e.err_errno, ENOENT);
    texec_free(&e);
}

static void test_malformed(void **state)
{
    struct texec e;
    assert_int_equal(tagent_exec(&ag, 21, "{\"command\":", &e, 5000), 0);
    assert_true(e.error);
    texec_free(&e);
    assert_int_equal(tagent_exec(&ag, 22, "{\"command\":[]}", &e, 5000), 0);
    assert_true(e.error);
    texec_free(&e);
    assert_int_equal(tagent_exec(&ag, 23, "{\"command\":\"ls\"}", &e, 5000), 0);
    assert_true(e.error);
    texec_free(&e);
    assert_int_equal(tagent_exec(&ag, 24, "[1,2]", &e, 5000), 0);
    assert_true(e.error);
    texec_free(&e);
    assert_int_equal(tagent_exec(&ag, 25, "{\"command\":[\"true\"],\"timeoutMs\":-5}", &e, 5000),
                     0);
    assert_true(e.error);
    texec_free(&e);
    assert_int_equal(tagent_send(&ag, AL_MSG_EXEC, 0, 26, NULL, "junk", 4), 0);
    struct tframe f;
    assert_int_equal(tagent_recv(&ag, &f, 5000), 1);
    assert_int_equal(f.type, AL_MSG_ERROR);
    assert_int_equal(f.id, 26);
    tframe_clear(&f);
    /* frames for unknown ids and agent->daemon types are harmless */
    assert_int_equal(tagent_send(&ag, AL_MSG_STDIN, AL_FRAME_EOF, 999, NULL, "x", 1), 0);
    assert_int_equal(tagent_send(&ag, AL_MSG_SIGNAL, 0, 999, "{\"signal\":9}", NULL, 0), 0);
    assert_int_equal(tagent_send(&ag, AL_MSG_RESIZE, 0, 999, "{", NULL, 0), 0);
    assert_int_equal(tagent_send(&ag, AL_MSG_FILE_DATA, 0, 999, NULL, "x", 1), 0);
    assert_int_equal(tagent_send(&ag, AL_MSG_EXIT, 0, 998, "{}", NULL, 0), 0);
    assert_int_equal(tagent_recv(&ag, &f, 5000), 1);
    assert_int_equal(f.type, AL_MSG_ERROR);
    assert_int_equal(f.id, 998);
    tframe_clear(&f);
    /* still alive */
    assert_int_equal(tagent_send(&ag, AL_MSG_PING, 0, 77, "{\"n\":1}", NULL, 0), 0);
    assert_int_equal(tagent_recv(&ag, &f, 5000), 1);
    assert_int_equal(f.type, AL_MSG_PONG);
    assert_int_equal(f.id, 77);
    assert_int_equal(json_integer_value(json_object_get(f.json, "n")), 1);
    tframe_clear(&f);
}

static void test_eof_kills_everything(void **state)
{
    struct tagent t;
    assert_int_equal(tagent_start(&t, NULL), 0);
    assert_int_equal(tagent_send(&t, AL_MSG_EXEC, 0, 1,
                                 "{\"command\":[\"sh\",\"-c\",\"echo $$; exec sleep 100\"]}", NULL,
                                 0),
                     0);
    struct texec e = {.id = 1};
    pid_t pid = 0;
    for (int i = 0; i < 20 && !pid; i++) {
        struct tframe f;
        assert_int_equal(tagent_recv(&t, &f, 5000), 1);
        texec_feed(&e, 1, &f);
        tframe_clear(&f);
        if (e.out && e.out_len)
            pid = (pid_t)strtol(e.out, NULL, 10);
    }
    assert_true(pid > 0);
    int status = tagent_stop(&t);
    assert_true(WIFEXITED(status));
    assert_true(wait_gone(pid, 3000));
    texec_free(&e);
}

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

static long vm_rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

/* A daemon that does not read must not make the agent buffer without bound: output and file
 * data wait in the pipes (and the file) instead. */
static void test_backpressure(void **state)
{
    const size_t n = 48u << 20;
    struct texec e = {.id = 30};
    assert_int_equal(tagent_send(&ag, AL_MSG_EXEC, 0, 30,
                                 "{\"command\":[\"head\",\"-c\",\"50331648\",\"/dev/zero\"],"
                                 "\"maxOutput\":100000000}",
                                 NULL, 0),
                     0);
    sleep_ms(700);
    long rss = vm_rss_kb(ag.pid);
    assert_true(rss > 0);
    assert_true(rss < 24 * 1024);
    assert_int_equal(tagent_wait_execs(&ag, &e, 1, 20000), 0);
    assert_int_equal(e.out_len, n);
    assert_false(e.out_trunc);
    assert_int_equal(e.exit_code, 0);
    texec_free(&e);

    char path[] = "/tmp/al-agent-big-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)n), 0);
    close(fd);
    char json[128];
    snprintf(json, sizeof(json), "{\"op\":\"read\",\"path\":\"%s\"}", path);
    assert_int_equal(tagent_send(&ag, AL_MSG_FILE, 0, 31, json, NULL, 0), 0);
    sleep_ms(700);
    rss = vm_rss_kb(ag.pid);
    assert_true(rss < 24 * 1024);
    size_t got = 0;
    for (;;) {
        struct tframe f;
        assert_int_equal(tagent_recv(&ag, &f, 10000), 1);
        assert_int_equal(f.id, 31);
        if (f.type == AL_MSG_RESULT) {
            assert_int_equal(json_integer_value(json_object_get(f.json, "size")), n);
            tframe_clear(&f);
            break;
        }
        assert_int_equal(f.type, AL_MSG_FILE_DATA);
        assert_true(f.flags & AL_FRAME_MORE);
        got += f.data_len;
        tframe_clear(&f);
    }
    assert_int_equal(got, n);
    unlink(path);
}

/* --channel PATH (virtio-serial in the VM backend): here a raw pty stands in for the port. */
static void test_channel_path(void **state)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    assert_true(m >= 0);
    assert_int_equal(grantpt(m), 0);
    assert_int_equal(unlockpt(m), 0);
    char name[128];
    assert_int_equal(ptsname_r(m, name, sizeof(name)), 0);
    int sl = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    assert_true(sl >= 0);
    struct termios tio;
    assert_int_equal(tcgetattr(sl, &tio), 0);
    cfmakeraw(&tio);
    assert_int_equal(tcsetattr(sl, TCSANOW, &tio), 0);

    const char *bin = getenv("AIRLOCK_INIT");
    assert_non_null(bin);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl(bin, bin, "--channel", name, (char *)NULL);
        _exit(127);
    }
    struct tagent t = {.pid = pid, .fd = m};
    al_frame_reader_init(&t.rd);
    struct tframe f;
    assert_int_equal(tagent_recv(&t, &f, 5000), 1);
    assert_int_equal(f.type, AL_MSG_HELLO);
    tframe_clear(&f);
    close(sl);
    struct texec e;
    assert_int_equal(tagent_exec(&t, 1, "{\"command\":[\"echo\",\"over-the-port\"]}", &e, 5000), 0);
    assert_string_equal(e.out, "over-the-port\n");
    assert_int_equal(e.exit_code, 0);
    texec_free(&e);
    /* a running exec dies when the host side goes away; the agent stays and waits */
    assert_int_equal(tagent_send(&t, AL_MSG_EXEC, 0, 2,
                                 "{\"command\":[\"sh\",\"-c\",\"echo $$; exec sleep 100\"]}", NULL,
                                 0),
                     0);
    struct texec e2 = {.id = 2};
    pid_t child = 0;
    for (int i = 0; i < 20 && !child; i++) {
        assert_int_equal(tagent_recv(&t, &f, 5000), 1);
        texec_feed(&e2, 1, &f);
        tframe_clear(&f);
        if (e2.out && e2.out_len)
            child = (pid_t)strtol(e2.out, NULL, 10);
    }
    assert_true(child > 0);
    close(m);
    assert_true(wait_gone(child, 3000));
    sleep_ms(300);
    int status;
    assert_int_equal(waitpid(pid, &status, WNOHANG), 0); /* still running */
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    al_frame_reader_free(&t.rd);
    texec_free(&e2);
}

static int stop_files(void **state)
{
    return files_teardown(state);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, start_and_hello, stop)
#define F(fn) cmocka_unit_test_setup_teardown(fn, files_setup, stop_files)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello),
        T(test_echo),
        T(test_exit_codes),
        T(test_missing_command),
        T(test_stdin),
        T(test_timeout_kills_group),
        T(test_signal),
        T(test_truncation),
        T(test_background_holds_stdout),
        T(test_concurrent),
        T(test_tty),
        T(test_caps_dropped),
        T(test_user_switch),
        T(test_malformed),
        T(test_backpressure),
        cmocka_unit_test(test_env_and_cwd),
        cmocka_unit_test(test_eof_kills_everything),
        cmocka_unit_test(test_file_magic_links),
        cmocka_unit_test(test_file_owner),
        cmocka_unit_test(test_channel_path),
        F(test_file_roundtrip),
        F(test_file_escapes),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests_name("agent_proto", tests, NULL, NULL);
}
