/* libFuzzer target: the daemon's end of the agent channel (runtime/channel.c with the request
 * code of exec.c and ops.c) against a hostile agent.
 *
 * Each input is one sandbox: an rt_sandbox whose ctl_fd is one end of a socketpair, its real
 * reader thread (rt_chan_start), and zero, one or two real requests issued through the public
 * calls (rt_exec_start/rt_exec_wait, rt_file_*) with small limits so that the truncation and
 * too-big paths are reachable.  The requests are registered before a byte of agent input is
 * written, so they get fixed ids (the exec 1, the file op 1 or 2) and a replay does what the
 * fuzzer saw.  Then the harness writes the agent bytes into the other end and closes it; EOF
 * marks the sandbox dead, which must end every request (done or failed, never hung).  A
 * drain thread reads and discards what the daemon sends (EXEC, FILE, STDIN, SIGNAL, PONG), so
 * no send can block.  Everything is joined and freed per input.
 *
 * Input: byte 0 chooses what the daemon does, the rest is what the agent sends.
 *   bit 0     an exec (id 1), output buffered with max_output 16 bytes per stream
 *   bit 1     ... streamed through an output callback instead
 *   bit 2     the callback (exec output or file data) asks to cancel after its first chunk
 *   bits 3-5  a file op: 0 none, 1 read (max 32 bytes, data callback), 2 read (no limit),
 *             3 list, 4 stat, 5 write (2 chunks of data), 6 mkdir, 7 remove
 *   bit 6     the harness sends a valid HELLO {"version":1,"pid":1} before the input
 *   bit 7     the exec keeps stdin open (a tty); its waiting thread sends more stdin + EOF, a
 *             resize and a signal while the agent talks
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/proto.h"
#include "runtime/rt_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define EXEC_MAX_OUTPUT 16
#define READ_MAX_BYTES 32

enum file_kind { F_NONE, F_READ, F_READ_ALL, F_LIST, F_STAT, F_WRITE, F_MKDIR, F_REMOVE };

struct sink {
    bool cancel_after_first;
    size_t chunks, bytes;
};

static int on_output(void *ud, int stream, const void *buf, size_t len)
{
    struct sink *s = ud;
    if ((stream != 1 && stream != 2) || !buf || !len)
        abort(); /* the channel promised non-empty stdout/stderr chunks */
    s->chunks++;
    s->bytes += len;
    return s->cancel_after_first ? 1 : 0;
}

static int on_data(void *ud, const void *buf, size_t len)
{
    struct sink *s = ud;
    if (!buf || !len)
        abort();
    s->chunks++;
    s->bytes += len;
    if (s->bytes > READ_MAX_BYTES)
        abort(); /* max_bytes must hold before the callback sees the bytes */
    return s->cancel_after_first ? 1 : 0;
}

static void *drain_main(void *arg)
{
    int fd = *(int *)arg;
    char buf[16384];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n > 0)
            continue;
        if (n < 0 && errno == EINTR)
            continue;
        break;
    }
    return NULL;
}

struct file_job {
    struct rt_sandbox *sb;
    enum file_kind kind;
    struct sink sink;
    int rc;
};

static void *file_main(void *arg)
{
    struct file_job *j = arg;
    struct al_err err = {0};
    static char wbuf[AL_PROTO_CHUNK + 100]; /* read-only after zero-init: shared is fine */
    switch (j->kind) {
    case F_READ:
        j->rc = rt_file_read(j->sb, "/etc/hostname", READ_MAX_BYTES, on_data, &j->sink, &err);
        break;
    case F_READ_ALL:
        j->rc = rt_file_read(j->sb, "/tmp/x", 0, NULL, NULL, &err);
        break;
    case F_LIST: {
        struct rt_stat *v = NULL;
        size_t n = 0;
        j->rc = rt_file_list(j->sb, "/", &v, &n, &err);
        if (j->rc >= 0) {
            for (size_t i = 0; i < n; i++)
                if (!v[i].name[0] || strchr(v[i].name, '/') || v[i].mode > 07777)
                    abort();
            free(v);
        }
        break;
    }
    case F_STAT: {
        struct rt_stat st;
        j->rc = rt_file_stat(j->sb, "/etc/passwd", &st, &err);
        if (j->rc >= 0 && strcmp(st.name, "passwd") != 0)
            abort();
        break;
    }
    case F_WRITE:
        j->rc = rt_file_write(j->sb, "/tmp/out", wbuf, sizeof(wbuf), 0600, false, &err);
        break;
    case F_MKDIR:
        j->rc = rt_file_mkdir(j->sb, "/tmp/d/e", 0, true, &err);
        break;
    case F_REMOVE:
        j->rc = rt_file_remove(j->sb, "/tmp/d", true, &err);
        break;
    case F_NONE:
        break;
    }
    if (j->rc < 0 && (err.code <= 0 || !err.msg[0]))
        abort(); /* a failure always says why */
    return NULL;
}

struct exec_job {
    struct rt_exec_handle *h;
    bool stream, stdin_open;
    struct sink sink;
};

/* Waits while the agent input is written, so that a cancel from the output callback sends
 * SIGNAL as it would in the daemon. */
static void *exec_main(void *arg)
{
    struct exec_job *j = arg;
    struct al_err err = {0};
    if (j->stdin_open) {
        /* may fail once the sandbox is dead; must not crash or hang */
        (void)rt_exec_stdin(j->h, "more", 4, true, &err);
        (void)rt_exec_resize(j->h, 40, 120, &err);
        (void)rt_exec_signal(j->h, 15, &err);
    }
    struct rt_exec_result res = {0};
    if (rt_exec_wait(j->h, &res, &err) >= 0) {
        if (!res.out || !res.err || res.out_len > EXEC_MAX_OUTPUT ||
            res.err_len > EXEC_MAX_OUTPUT || res.out[res.out_len] || res.err[res.err_len])
            abort();
        if (res.exit_code < -1 || res.exit_code > 255 || res.signal < 0 || res.signal > 128)
            abort();
        if (j->stream && (res.out_len || res.err_len))
            abort(); /* streamed output is not buffered */
        rt_exec_result_free(&res);
    } else if (err.code <= 0 || !err.msg[0]) {
        abort();
    }
    return NULL;
}

/* Write all of buf to fd, unless the reader stopped reading (protocol violation). */
static void write_agent(struct rt_sandbox *sb, int fd, const uint8_t *buf, size_t len)
{
    while (len) {
        ssize_t n = send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN)
            return;
        pthread_mutex_lock(&sb->lock);
        bool dead = sb->dead;
        pthread_mutex_unlock(&sb->lock);
        if (dead)
            return; /* nobody will read the rest */
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        poll(&pfd, 1, 10);
    }
}

static void send_hello(struct rt_sandbox *sb, int fd)
{
    static const char hello[] = "{\"version\":1,\"pid\":1}";
    uint8_t frame[AL_PROTO_HDR_LEN + sizeof(hello) - 1];
    if (al_frame_header_encode(frame, AL_MSG_HELLO, 0, 0, sizeof(hello) - 1, 0) < 0)
        abort();
    memcpy(frame + AL_PROTO_HDR_LEN, hello, sizeof(hello) - 1);
    write_agent(sb, fd, frame, sizeof(frame));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    data++, size--;
    bool do_exec = mode & 0x01, stream = mode & 0x02, cancel = mode & 0x04;
    enum file_kind fk = (enum file_kind)((mode >> 3) & 7);
    bool hello = mode & 0x40, stdin_open = mode & 0x80;

    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
        abort();
    struct rt_sandbox *sb = rt_sb_new();
    if (!sb)
        abort();
    snprintf(sb->id, sizeof(sb->id), "fuzz");
    sb->ctl_fd = sp[0];

    pthread_t drain;
    if (pthread_create(&drain, NULL, drain_main, &sp[1]) != 0)
        abort();
    struct al_err err = {0};
    if (rt_chan_start(sb, &err) < 0)
        abort();

    /* the exec: id 1 */
    struct exec_job ej = {
        .stream = stream, .stdin_open = stdin_open, .sink = {.cancel_after_first = cancel}};
    pthread_t exec_thread;
    if (do_exec) {
        static const char *const argv[] = {"sh", "-c", "echo hi", NULL};
        static const char *const env[] = {"A=1", NULL};
        struct rt_exec_req req = {
            .argv = argv,
            .env = env,
            .max_output = EXEC_MAX_OUTPUT,
            .stdin_data = "in",
            .stdin_len = 2,
            .stdin_stream = stdin_open,
            .tty = stdin_open,
        };
        if (rt_exec_start(sb, &req, stream ? on_output : NULL, &ej.sink, &ej.h, &err) < 0)
            abort(); /* the channel is alive and the request valid */
        if (pthread_create(&exec_thread, NULL, exec_main, &ej) != 0)
            abort();
    }
    /* the file op: next id; wait until it is registered before the agent speaks */
    struct file_job job = {.sb = sb, .kind = fk, .sink = {.cancel_after_first = cancel}};
    pthread_t file_thread;
    if (fk != F_NONE) {
        if (pthread_create(&file_thread, NULL, file_main, &job) != 0)
            abort();
        int want = do_exec ? 2 : 1;
        for (;;) {
            pthread_mutex_lock(&sb->lock);
            int users = sb->users;
            pthread_mutex_unlock(&sb->lock);
            if (users >= want)
                break;
            sched_yield();
        }
    }

    if (hello)
        send_hello(sb, sp[1]);
    write_agent(sb, sp[1], data, size);
    shutdown(sp[1], SHUT_WR); /* EOF: the reader marks the sandbox dead */

    if (do_exec)
        pthread_join(exec_thread, NULL);
    if (fk != F_NONE)
        pthread_join(file_thread, NULL);

    /* let the reader finish the input by itself (determinism), then stop it */
    pthread_mutex_lock(&sb->lock);
    while (!sb->dead)
        pthread_cond_wait(&sb->state_cond, &sb->lock);
    if (sb->reqs || sb->users)
        abort(); /* every request was released */
    bool said_hello = sb->hello;
    pthread_mutex_unlock(&sb->lock);
    if ((rt_chan_wait_hello(sb, 1, &err) == 0) != said_hello)
        abort();
    rt_chan_stop(sb); /* shuts ctl_fd down: the drain thread sees EOF */
    pthread_join(drain, NULL);
    close(sp[0]);
    close(sp[1]);
    rt_sb_free(sb);
    return 0;
}
