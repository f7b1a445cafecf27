/* Protocol-level tests of the real airlock-init binary, run as an ordinary child process
 * (not PID 1, no namespaces): exec semantics, output caps, timeouts, ttys, backpressure and
 * the --channel device mode. */
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
#include "common/cleanup.h"
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
    assert_int_equal(tagent_exec(&ag, 99, "{\"command\":[\"sh\",\"-c\",\"umask\"]}", &e, 5000), 0);
    assert_string_equal(e.out, "0022\n");
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
    assert_int_equal(tparse_long(w.out), 3 << 20);
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
    long bg = tparse_long(e.out);
    assert_true(bg > 0);
    assert_true(twait_gone((pid_t)bg, 3000)); /* the background child died with the group */
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
    assert_true(twait_gone(bg, 3000));
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

    /* EOF on a tty stdin is VEOF: cat ends */
    struct texec c = {.id = 18};
    assert_int_equal(tagent_send(&ag, AL_MSG_EXEC, 0, 18,
                                 "{\"command\":[\"cat\"],\"tty\":true,\"stdin\":true}", NULL, 0),
                     0);
    assert_int_equal(tagent_send(&ag, AL_MSG_STDIN, AL_FRAME_EOF, 18, NULL, "line\n", 5), 0);
    assert_int_equal(tagent_wait_execs(&ag, &c, 1, 5000), 0);
    assert_int_equal(c.exit_code, 0);
    assert_non_null(strstr(c.out, "line"));
    texec_free(&c);
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
    /* the command is looked up in the PATH of the exec's environment */
    char dir[] = "/tmp/al-agent-path-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char script[128], json[512];
    snprintf(script, sizeof(script), "%s/al-agent-pathtest", dir);
    FILE *sf = fopen(script, "we");
    assert_non_null(sf);
    fputs("#!/bin/sh\necho found-in-path\n", sf);
    fclose(sf);
    chmod(script, 0755);
    snprintf(json, sizeof(json),
             "{\"command\":[\"al-agent-pathtest\"],\"env\":[\"PATH=%s:/usr/bin:/bin\"]}", dir);
    assert_int_equal(tagent_exec(&t, 6, json, &e, 5000), 0);
    unlink(script);
    rmdir(dir);
    assert_string_equal(e.out, "found-in-path\n");
    texec_free(&e);
    /* env as an object works too */
    assert_int_equal(tagent_exec(&t, 4,
                                 "{\"command\":[\"sh\",\"-c\",\"echo $FOO\"],"
                                 "\"env\":{\"FOO\":\"obj\"}}",
                                 &e, 5000),
                     0);
    assert_string_equal(e.out, "obj\n");
    texec_free(&e);
    assert_int_equal(
        tagent_exec(&t, 5, "{\"command\":[\"true\"],\"env\":[\"NOEQUALS\"]}", &e, 5000), 0);
    assert_true(e.error);
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
    assert_true(twait_gone(pid, 3000));
    texec_free(&e);
}

/* Garbage in every field of every request type: the agent answers or ignores, never dies. */
static void test_garbage_frames(void **state)
{
    static const char *const docs[] = {
        "{}",
        "[]",
        "null",
        "{\"command\":[1]}",
        "{\"command\":[\"\"]}",
        "{\"command\":[\"true\"],\"cwd\":\"relative\"}",
        "{\"command\":[\"true\"],\"cwd\":\"/\\u0001\"}",
        "{\"command\":[\"true\"],\"user\":\"a:b:c\"}",
        "{\"command\":[\"true\"],\"user\":\"\"}",
        "{\"command\":[\"true\"],\"rows\":70000}",
        "{\"command\":[\"true\"],\"maxOutput\":-1}",
        "{\"command\":[\"true\"],\"tty\":1}",
        "{\"command\":[\"true\"],\"env\":[1]}",
        "{\"command\":[\"true\"],\"env\":{\"=\":\"x\"}}",
        "{\"a\":1,\"a\":2}",
        "{\"signal\":0}",
        "{\"signal\":99999}",
        "{\"rows\":-1,\"cols\":0}",
        "{\"op\":\"write\",\"path\":\"\"}",
        "{\"op\":1,\"path\":\"/\"}",
        "{\"op\":\"read\",\"path\":[]}",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
        "\"str\"",
        "{\"command\":",
        "\xff\xfe",
        "",
    };
    static const uint16_t types[] = {AL_MSG_EXEC,   AL_MSG_STDIN, AL_MSG_RESIZE,
                                     AL_MSG_SIGNAL, AL_MSG_FILE,  AL_MSG_FILE_DATA};
    srandom(1234);
    uint32_t id = 5000;
    for (size_t t = 0; t < AL_ARRAY_SIZE(types); t++)
        for (size_t d = 0; d < AL_ARRAY_SIZE(docs); d++) {
            uint8_t junk[64];
            for (size_t k = 0; k < sizeof(junk); k++)
                junk[k] = (uint8_t)random();
            uint16_t flags = (uint16_t)(random() & AL_FRAME_FLAGS_ALL);
            /* every other one reuses the previous id: frames for running requests */
            uint32_t rid = (d & 1) ? id : ++id;
            assert_int_equal(tagent_send(&ag, types[t], flags, rid, docs[d][0] ? docs[d] : NULL,
                                         junk, random() % sizeof(junk)),
                             0);
        }
    /* kill whatever may have started, then check the agent still answers */
    for (uint32_t k = 5000; k <= id; k++)
        tagent_send(&ag, AL_MSG_SIGNAL, 0, k, "{\"signal\":9}", NULL, 0);
    assert_int_equal(tagent_send(&ag, AL_MSG_PING, 0, 4999, NULL, NULL, 0), 0);
    for (;;) {
        struct tframe f;
        assert_int_equal(tagent_recv(&ag, &f, 10000), 1);
        bool pong = f.type == AL_MSG_PONG && f.id == 4999;
        tframe_clear(&f);
        if (pong)
            break;
    }
    assert_int_equal(kill(ag.pid, 0), 0);
}

/* A frame header that does not validate cannot be skipped: the agent ends, cleanly. */
static void test_bad_header_ends_agent(void **state)
{
    struct tagent t;
    assert_int_equal(tagent_start(&t, NULL), 0);
    struct tframe f;
    assert_int_equal(tagent_recv(&t, &f, 5000), 1);
    tframe_clear(&f);
    uint8_t hdr[16] = {0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0};
    assert_int_equal(write(t.fd, hdr, sizeof(hdr)), 16);
    int status = -1;
    for (int i = 0; i < 300 && waitpid(t.pid, &status, WNOHANG) == 0; i++)
        tsleep_ms(10);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    t.pid = 0;
    tagent_stop(&t);
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
    /* growth, not absolute size: sanitizer builds carry a large baseline */
    long base = vm_rss_kb(ag.pid);
    assert_true(base > 0);
    assert_int_equal(tagent_send(&ag, AL_MSG_EXEC, 0, 30,
                                 "{\"command\":[\"head\",\"-c\",\"50331648\",\"/dev/zero\"],"
                                 "\"maxOutput\":100000000}",
                                 NULL, 0),
                     0);
    tsleep_ms(700);
    long rss = vm_rss_kb(ag.pid);
    assert_true(rss > 0);
    assert_true(rss - base < 16 * 1024);
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
    base = vm_rss_kb(ag.pid);
    assert_int_equal(tagent_send(&ag, AL_MSG_FILE, 0, 31, json, NULL, 0), 0);
    tsleep_ms(700);
    unlink(path); /* the agent opened it on receipt; nothing left behind if we fail below */
    rss = vm_rss_kb(ag.pid);
    assert_true(rss - base < 16 * 1024);
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
}

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
    assert_true(twait_gone(child, 3000));
    tsleep_ms(300);
    int status;
    assert_int_equal(waitpid(pid, &status, WNOHANG), 0); /* still running */
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    al_frame_reader_free(&t.rd);
    texec_free(&e2);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, start_and_hello, stop)

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
        T(test_garbage_frames),
        cmocka_unit_test(test_bad_header_ends_agent),
        cmocka_unit_test(test_env_and_cwd),
        cmocka_unit_test(test_eof_kills_everything),
        cmocka_unit_test(test_channel_path),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests_name("agent_exec", tests, NULL, NULL);
}
