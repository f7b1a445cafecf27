/* The backend API from C, against a real sandbox (root, busybox-static and airlock-init
 * needed; skipped otherwise): concurrent calls, streaming with cancel, destroy while an exec
 * is in flight, a dead agent, stats. */
#include "../common/harness.h"

#include <elf.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "runtime/rt.h"

static char layer[64] = "/tmp/rt-test-layer-XXXXXX";
static char sbdir[64];
static const char *agent;
static bool ready;

/* No PT_INTERP: the agent must run in a sandbox without a libc (a sanitizer build's is not). */
static bool is_static(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    Elf64_Ehdr eh;
    bool ok = pread(fd, &eh, sizeof(eh), 0) == sizeof(eh) && !memcmp(eh.e_ident, ELFMAG, 4) &&
              eh.e_phentsize == sizeof(Elf64_Phdr) && eh.e_phnum < 64;
    for (int i = 0; ok && i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        ok = pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + (uint64_t)i * sizeof(ph))) ==
                 sizeof(ph) &&
             ph.p_type != PT_INTERP;
    }
    close(fd);
    return ok;
}

static int group_setup(void **state)
{
    agent = getenv("RT_AGENT");
    if (geteuid() != 0 || !agent || access(agent, X_OK) != 0 || access("/bin/busybox", X_OK) ||
        !is_static(agent))
        return 0;
    struct al_err err;
    if (rt_host_check("/tmp", &err) < 0) /* the layer below lives in /tmp */
        return 0;
    if (!mkdtemp(layer))
        return -1;
    char p[128];
    snprintf(p, sizeof(p), "%s/bin", layer);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/tmp", layer);
    mkdir(p, 01777);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "%s/bin/busybox", layer);
    int in = open("/bin/busybox", O_RDONLY | O_CLOEXEC);
    int out = open(cmd, O_WRONLY | O_CREAT | O_CLOEXEC, 0755);
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof(buf))) > 0)
        if (al_write_all(out, buf, (size_t)n) < 0)
            return -1;
    close(in);
    close(out);
    static const char *const applets[] = {"sh",  "sleep", "echo", "cat",
                                          "yes", "head",  "true", "stty"};
    for (size_t i = 0; i < sizeof(applets) / sizeof(applets[0]); i++) {
        snprintf(p, sizeof(p), "%s/bin/%s", layer, applets[i]);
        if (symlink("busybox", p) < 0)
            return -1;
    }
    ready = true;
    return 0;
}

static int group_teardown(void **state)
{
    if (ready)
        al_rm_rf(layer);
    return 0;
}

static struct rt_sandbox *make_kind(const char *id, enum rt_disk_kind kind)
{
    snprintf(sbdir, sizeof(sbdir), "/tmp/rt-test-sb-XXXXXX");
    assert_non_null(mkdtemp(sbdir));
    const char *layers[] = {layer, NULL};
    struct rt_spec spec = {
        .id = id,
        .layer_dirs = layers,
        .sandbox_dir = sbdir,
        .agent_path = agent,
        .uid_base = 1200000000u + (uint32_t)(getpid() % 1000) * 65536,
        .uid_count = 65536,
        .limits = {.cpu_millis = 1000,
                   .memory_bytes = 256u << 20,
                   .disk_bytes = 64u << 20,
                   .inodes = 10000,
                   .pids = 128,
                   .nofile = 256},
    };
    struct rt_sandbox *sb = NULL;
    struct al_err err;
    if (rt_sandbox_create(&spec, &sb, &err) < 0) {
        rmdir(sbdir);
        fail_msg("create: %s", err.msg);
    }
    return sb;
}

static struct rt_sandbox *make(const char *id)
{
    return make_kind(id, RT_DISK_AUTO);
}

static void destroy(struct rt_sandbox *sb)
{
    struct al_err err;
    assert_int_equal(rt_sandbox_destroy(sb, &err), 0);
    assert_int_equal(rmdir(sbdir), 0); /* empty */
}

static int sh(struct rt_sandbox *sb, const char *script, struct rt_exec_result *res,
              struct al_err *err)
{
    const char *argv[] = {"sh", "-c", script, NULL};
    struct rt_exec_req req = {.argv = argv};
    return rt_exec(sb, &req, NULL, NULL, res, err);
}

struct conc {
    struct rt_sandbox *sb;
    int n;
    int ok;
};

static void *conc_thread(void *arg)
{
    struct conc *c = arg;
    char script[64];
    snprintf(script, sizeof(script), "echo %d", c->n);
    struct rt_exec_result res;
    struct al_err err;
    if (sh(c->sb, script, &res, &err) == 0) {
        char want[16];
        snprintf(want, sizeof(want), "%d\n", c->n);
        c->ok = res.exit_code == 0 && strcmp(res.out, want) == 0;
        rt_exec_result_free(&res);
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    if (!ready)
        skip();
    struct rt_sandbox *sb = make("rtunitconc");
    pthread_t th[16];
    struct conc c[16];
    for (int i = 0; i < 16; i++) {
        c[i] = (struct conc){.sb = sb, .n = i};
        pthread_create(&th[i], NULL, conc_thread, &c[i]);
    }
    for (int i = 0; i < 16; i++) {
        pthread_join(th[i], NULL);
        assert_true(c[i].ok);
    }
    struct rt_stats st;
    struct al_err err;
    assert_int_equal(rt_sandbox_stats(sb, &st, &err), 0);
    assert_true(st.memory_bytes > 0);
    assert_true(st.pids >= 1);
    destroy(sb);
}

static size_t streamed;
static int stream_cb(void *ud, int stream, const void *data, size_t len)
{
    streamed += len;
    return streamed > 100000 ? 1 : 0; /* cancel */
}

static void test_stream_cancel(void **state)
{
    if (!ready)
        skip();
    struct rt_sandbox *sb = make("rtunitstream");
    const char *argv[] = {"yes", NULL};
    struct rt_exec_req req = {.argv = argv, .timeout_ms = 20000};
    struct rt_exec_result res;
    struct al_err err;
    streamed = 0;
    long long t0 = al_now_ms();
    assert_int_equal(rt_exec(sb, &req, stream_cb, NULL, &res, &err), 0);
    assert_true(al_now_ms() - t0 < 10000);
    assert_true(streamed > 100000);
    assert_int_equal(res.signal, 9);
    assert_int_equal(res.out_len, 0); /* streamed, not buffered */
    rt_exec_result_free(&res);
    /* still usable */
    assert_int_equal(sh(sb, "echo ok", &res, &err), 0);
    assert_string_equal(res.out, "ok\n");
    rt_exec_result_free(&res);
    destroy(sb);
}

struct blocked {
    struct rt_sandbox *sb;
    int rc;
    struct al_err err;
};

static void *blocked_thread(void *arg)
{
    struct blocked *b = arg;
    struct rt_exec_result res;
    b->rc = sh(b->sb, "sleep 100", &res, &b->err);
    if (b->rc == 0)
        rt_exec_result_free(&res);
    return NULL;
}

static void test_agent_death_fails_waiters(void **state)
{
    if (!ready)
        skip();
    struct rt_sandbox *sb = make("rtunitdeath");
    struct blocked b = {.sb = sb};
    pthread_t th;
    pthread_create(&th, NULL, blocked_thread, &b);
    usleep(200000);
    assert_true(rt_sandbox_alive(sb));
    kill(rt_sandbox_pid(sb), SIGKILL); /* PID 1 dies: the whole sandbox goes */
    pthread_join(th, NULL);
    assert_true(b.rc < 0);
    assert_int_equal(b.err.kind, AL_ERR_UNAVAILABLE);
    assert_false(rt_sandbox_alive(sb));
    struct rt_exec_result res;
    struct al_err err;
    assert_true(sh(sb, "true", &res, &err) < 0);
    assert_int_equal(err.kind, AL_ERR_UNAVAILABLE);
    destroy(sb);
}

static void test_destroy_during_exec(void **state)
{
    if (!ready)
        skip();
    struct rt_sandbox *sb = make("rtunitdestroy");
    struct blocked b = {.sb = sb};
    pthread_t th;
    pthread_create(&th, NULL, blocked_thread, &b);
    usleep(200000);
    char saved[64];
    memcpy(saved, sbdir, sizeof(saved));
    struct al_err err;
    long long t0 = al_now_ms();
    /* destroy waits for the in-flight call to fail out, then frees */
    assert_int_equal(rt_sandbox_destroy(sb, &err), 0);
    pthread_join(th, NULL);
    assert_true(al_now_ms() - t0 < 5000);
    assert_true(b.rc < 0);
    assert_int_equal(rmdir(saved), 0);
}

struct collect {
    char *buf;
    size_t len, cap;
};

static int collect_cb(void *ud, const void *data, size_t len)
{
    struct collect *c = ud;
    if (c->len + len > c->cap) {
        c->cap = (c->len + len) * 2;
        c->buf = realloc(c->buf, c->cap);
    }
    memcpy(c->buf + c->len, data, len);
    c->len += len;
    return 0;
}

static void files_test(const char *id, enum rt_disk_kind kind)
{
    if (!ready)
        skip();
    struct rt_sandbox *sb = make_kind(id, kind);
    struct al_err err;
    size_t big = (3u << 20) + 12345; /* several chunks */
    char *data = malloc(big);
    for (size_t i = 0; i < big; i++)
        data[i] = (char)(i * 7 + i / 4096);
    if (rt_file_write(sb, "/tmp/a.bin", data, big, 0640, false, &err) < 0)
        fail_msg("write: %s", err.msg);
    struct collect c = {0};
    if (rt_file_read(sb, "/tmp/a.bin", 0, collect_cb, &c, &err) < 0)
        fail_msg("read: %s", err.msg);
    assert_int_equal(c.len, big);
    assert_memory_equal(c.buf, data, big);
    struct rt_stat st;
    assert_int_equal(rt_file_stat(sb, "/tmp/a.bin", &st, &err), 0);
    assert_int_equal(st.type, RT_FILE_REGULAR);
    assert_int_equal(st.size, big);
    assert_int_equal(st.mode, 0640);
    assert_string_equal(st.name, "a.bin");
    /* the file is really there for user code */
    struct rt_exec_result res;
    assert_int_equal(sh(sb, "wc -c < /tmp/a.bin", &res, &err), 0);
    rt_exec_result_free(&res);
    assert_int_equal(rt_file_write(sb, "/tmp/a.bin", "tail", 4, 0, true, &err), 0);
    assert_int_equal(rt_file_stat(sb, "/tmp/a.bin", &st, &err), 0);
    assert_int_equal(st.size, big + 4);
    /* bounded read */
    c.len = 0;
    assert_true(rt_file_read(sb, "/tmp/a.bin", 1000, collect_cb, &c, &err) < 0);
    assert_int_equal(err.kind, AL_ERR_TOO_LARGE);
    assert_true(c.len <= 1000);
    assert_int_equal(rt_file_mkdir(sb, "/tmp/d/e/f", 0755, true, &err), 0);
    assert_int_equal(rt_file_write(sb, "/tmp/d/e/f/x", "x", 1, 0, false, &err), 0);
    struct rt_stat *ents;
    size_t n;
    assert_int_equal(rt_file_list(sb, "/tmp", &ents, &n, &err), 0);
    bool saw_a = false, saw_d = false;
    for (size_t i = 0; i < n; i++) {
        saw_a |= !strcmp(ents[i].name, "a.bin") && ents[i].type == RT_FILE_REGULAR;
        saw_d |= !strcmp(ents[i].name, "d") && ents[i].type == RT_FILE_DIR;
    }
    free(ents);
    assert_true(saw_a && saw_d);
    assert_true(rt_file_remove(sb, "/tmp/d", false, &err) < 0);
    assert_int_equal(rt_file_remove(sb, "/tmp/d", true, &err), 0);
    assert_true(rt_file_stat(sb, "/tmp/d", &st, &err) < 0);
    assert_int_equal(err.kind, AL_ERR_NOT_FOUND);
    assert_true(rt_file_read(sb, "/nonexistent", 0, collect_cb, &c, &err) < 0);
    assert_int_equal(err.kind, AL_ERR_NOT_FOUND);
    assert_true(rt_file_write(sb, "relative", "x", 1, 0, false, &err) < 0);
    assert_int_equal(err.kind, AL_ERR_INVALID);
    /* symlinks resolve inside the sandbox: /etc/passwd here is the layer's, not the host's */
    assert_int_equal(sh(sb, "ln -s /../../../../etc /tmp/up", &res, &err), 0);
    rt_exec_result_free(&res);
    c.len = 0;
    assert_true(rt_file_read(sb, "/tmp/up/shadow", 0, collect_cb, &c, &err) < 0);
    free(c.buf);
    free(data);
    destroy(sb);
}

struct collect_out {
    pthread_mutex_t lock;
    char buf[256];
    size_t len;
};

static int out_cb(void *ud, int stream, const void *data, size_t len)
{
    struct collect_out *c = ud;
    pthread_mutex_lock(&c->lock);
    if (c->len + len < sizeof(c->buf)) {
        memcpy(c->buf + c->len, data, len);
        c->len += len;
        c->buf[c->len] = 0;
    }
    pthread_mutex_unlock(&c->lock);
    return 0;
}

static void test_interactive(void **state)
{
    if (!ready)
        skip();
    struct rt_sandbox *sb = make("rtunitinter");
    struct al_err err;
    struct rt_exec_result res;
    struct rt_exec_handle *h;
    /* stdin streamed in pieces */
    struct collect_out c = {.lock = PTHREAD_MUTEX_INITIALIZER};
    const char *cat[] = {"cat", NULL};
    struct rt_exec_req req = {.argv = cat, .stdin_stream = true, .timeout_ms = 20000};
    assert_int_equal(rt_exec_start(sb, &req, out_cb, &c, &h, &err), 0);
    assert_int_equal(rt_exec_stdin(h, "hello\n", 6, false, &err), 0);
    assert_int_equal(rt_exec_stdin(h, "world", 5, true, &err), 0);
    assert_true(rt_exec_stdin(h, "x", 1, false, &err) < 0); /* closed */
    assert_int_equal(rt_exec_wait(h, &res, &err), 0);
    assert_int_equal(res.exit_code, 0);
    assert_string_equal(c.buf, "hello\nworld");
    rt_exec_result_free(&res);
    /* a signal to the process group */
    const char *slp[] = {"sleep", "100", NULL};
    struct rt_exec_req sreq = {.argv = slp, .timeout_ms = 20000};
    assert_int_equal(rt_exec_start(sb, &sreq, NULL, NULL, &h, &err), 0);
    usleep(200000);
    assert_int_equal(rt_exec_signal(h, SIGTERM, &err), 0);
    assert_true(rt_exec_signal(h, 0, &err) < 0);
    assert_int_equal(rt_exec_wait(h, &res, &err), 0);
    assert_int_equal(res.signal, SIGTERM);
    rt_exec_result_free(&res);
    /* a pty resized while it runs */
    const char *sz[] = {"sh", "-c", "sleep 0.5; stty size", NULL};
    struct rt_exec_req treq = {
        .argv = sz, .tty = true, .rows = 10, .cols = 20, .timeout_ms = 20000};
    assert_int_equal(rt_exec_start(sb, &treq, NULL, NULL, &h, &err), 0);
    usleep(100000);
    assert_int_equal(rt_exec_resize(h, 33, 111, &err), 0);
    assert_int_equal(rt_exec_wait(h, &res, &err), 0);
    if (!strstr(res.out, "33 111"))
        fail_msg("stty size after resize: %s", res.out);
    rt_exec_result_free(&res);
    destroy(sb);
}

static void test_files(void **state)
{
    files_test("rtunitfiles", RT_DISK_TMPFS);
}

static void test_files_ext4(void **state)
{
    if (access("/dev/loop-control", W_OK) != 0)
        skip();
    files_test("rtunitfilesext4", RT_DISK_EXT4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_stream_cancel),
        cmocka_unit_test(test_agent_death_fails_waiters),
        cmocka_unit_test(test_destroy_during_exec),
        cmocka_unit_test(test_interactive),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_files_ext4),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
