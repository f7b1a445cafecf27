#include "agent_client.h"

#include <errno.h>
#include <stdio.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

long long tnow_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tframe_clear(struct tframe *f)
{
    if (f->json)
        json_decref(f->json);
    free(f->data);
    memset(f, 0, sizeof(*f));
}

int tagent_start(struct tagent *t, const char *const *extra)
{
    return tagent_start_pre(t, extra, NULL, NULL);
}

int tagent_start_pre(struct tagent *t, const char *const *extra, void (*pre)(void *), void *ud)
{
    const char *bin = getenv("AIRLOCK_INIT");
    if (!bin)
        bin = "build/src/agent/airlock-init";
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    const char *argv[32] = {bin};
    size_t n = 1;
    for (const char *const *p = extra; p && *p && n < 31; p++)
        argv[n++] = *p;
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        if (pre)
            pre(ud);
        if (dup2(sv[1], 3) < 0)
            _exit(126);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(sv[1]);
    memset(t, 0, sizeof(*t));
    t->pid = pid;
    t->fd = sv[0];
    al_frame_reader_init(&t->rd);
    return 0;
}

int tagent_stop(struct tagent *t)
{
    int status = -1;
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
    if (t->pid > 0) {
        /* give it 5 s to notice EOF, then kill */
        for (int i = 0; i < 500; i++) {
            pid_t r = waitpid(t->pid, &status, WNOHANG);
            if (r == t->pid) {
                t->pid = 0;
                break;
            }
            struct timespec ts = {0, 10000000};
            nanosleep(&ts, NULL);
        }
        if (t->pid > 0) {
            kill(t->pid, SIGKILL);
            waitpid(t->pid, &status, 0);
            status = -1;
        }
        t->pid = 0;
    }
    al_frame_reader_free(&t->rd);
    return status;
}

int tagent_send(struct tagent *t, uint16_t type, uint16_t flags, uint32_t id, const char *json,
                const void *data, size_t len)
{
    return al_frame_send(t->fd, type, flags, id, json, json ? strlen(json) : 0, data, len);
}

int tagent_recv(struct tagent *t, struct tframe *out, int timeout_ms)
{
    long long end = tnow_ms() + timeout_ms;
    for (;;) {
        struct al_frame f;
        /* a complete frame may already be buffered */
        int rc = t->rd.buf
                     ? al_frame_parse(t->rd.buf + t->rd.consumed, t->rd.len - t->rd.consumed, &f)
                     : 0;
        if (rc == 0) {
            long long left = end - tnow_ms();
            if (left <= 0)
                return -ETIMEDOUT;
            struct pollfd p = {.fd = t->fd, .events = POLLIN};
            int r = poll(&p, 1, (int)left);
            if (r < 0 && errno != EINTR)
                return -errno;
            if (r <= 0)
                continue;
        } else if (rc < 0)
            return rc;
        rc = al_frame_read(&t->rd, t->fd, true, &f);
        if (rc < 0)
            return rc;
        memset(out, 0, sizeof(*out));
        out->type = f.type;
        out->flags = f.flags;
        out->id = f.id;
        if (f.json_len) {
            json_error_t je;
            out->json = json_loadb(f.json, f.json_len, JSON_REJECT_DUPLICATES, &je);
            if (!out->json)
                return -EBADMSG;
        }
        out->data = malloc(f.data_len + 1);
        memcpy(out->data, f.data, f.data_len);
        out->data[f.data_len] = 0;
        out->data_len = f.data_len;
        return 1;
    }
}

void texec_free(struct texec *e)
{
    free(e->out);
    free(e->err);
    memset(e, 0, sizeof(*e));
}

static void append(char **buf, size_t *len, size_t *cap, const uint8_t *d, size_t n)
{
    if (!*buf || *len + n + 1 > *cap) {
        size_t nc = *cap ? *cap : 4096;
        while (nc < *len + n + 1)
            nc *= 2;
        *buf = realloc(*buf, nc);
        *cap = nc;
    }
    memcpy(*buf + *len, d, n);
    *len += n;
    (*buf)[*len] = 0;
}

bool texec_feed(struct texec *ex, size_t n, const struct tframe *f)
{
    for (size_t i = 0; i < n; i++) {
        struct texec *e = &ex[i];
        if (e->id != f->id)
            continue;
        switch (f->type) {
        case AL_MSG_STARTED:
            e->started = true;
            e->pid = (pid_t)json_integer_value(json_object_get(f->json, "pid"));
            break;
        case AL_MSG_STDOUT:
            append(&e->out, &e->out_len, &e->out_cap, f->data, f->data_len);
            break;
        case AL_MSG_STDERR:
            append(&e->err, &e->err_len, &e->err_cap, f->data, f->data_len);
            break;
        case AL_MSG_EXIT:
            e->exited = true;
            e->exit_code = (int)json_integer_value(json_object_get(f->json, "exitCode"));
            e->signal = (int)json_integer_value(json_object_get(f->json, "signal"));
            e->timed_out = json_is_true(json_object_get(f->json, "timedOut"));
            e->out_trunc = json_is_true(json_object_get(f->json, "stdoutTruncated"));
            e->err_trunc = json_is_true(json_object_get(f->json, "stderrTruncated"));
            e->duration_ms = json_integer_value(json_object_get(f->json, "durationMs"));
            break;
        case AL_MSG_ERROR: {
            e->error = true;
            e->err_errno = (int)json_integer_value(json_object_get(f->json, "errno"));
            const char *m = json_string_value(json_object_get(f->json, "message"));
            if (m) {
                strncpy(e->err_msg, m, sizeof(e->err_msg) - 1);
            }
            break;
        }
        default:
            return false;
        }
        if (!e->out)
            append(&e->out, &e->out_len, &e->out_cap, (const uint8_t *)"", 0);
        if (!e->err)
            append(&e->err, &e->err_len, &e->err_cap, (const uint8_t *)"", 0);
        return true;
    }
    return false;
}

int tagent_wait_execs(struct tagent *t, struct texec *ex, size_t n, int timeout_ms)
{
    long long end = tnow_ms() + timeout_ms;
    for (;;) {
        size_t done = 0;
        for (size_t i = 0; i < n; i++)
            done += ex[i].exited || ex[i].error;
        if (done == n)
            return 0;
        struct tframe f;
        long long left = end - tnow_ms();
        int rc = tagent_recv(t, &f, left > 0 ? (int)left : 0);
        if (rc < 0)
            return rc;
        texec_feed(ex, n, &f);
        tframe_clear(&f);
    }
}

int tagent_exec(struct tagent *t, uint32_t id, const char *json, struct texec *ret, int timeout_ms)
{
    memset(ret, 0, sizeof(*ret));
    ret->id = id;
    int rc = tagent_send(t, AL_MSG_EXEC, 0, id, json, NULL, 0);
    if (rc < 0)
        return rc;
    return tagent_wait_execs(t, ret, 1, timeout_ms);
}

int tagent_file(struct tagent *t, uint32_t id, const char *json, const void *data, size_t len,
                json_t **ret_result, uint8_t **ret_data, size_t *ret_len)
{
    int rc = tagent_send(t, AL_MSG_FILE, 0, id, json, data, len);
    if (rc < 0)
        return rc;
    uint8_t *buf = NULL;
    size_t blen = 0;
    for (;;) {
        struct tframe f;
        rc = tagent_recv(t, &f, 10000);
        if (rc < 0) {
            free(buf);
            return rc;
        }
        if (f.id == id && f.type == AL_MSG_FILE_DATA) {
            buf = realloc(buf, blen + f.data_len + 1);
            memcpy(buf + blen, f.data, f.data_len);
            blen += f.data_len;
            buf[blen] = 0;
        } else if (f.id == id && f.type == AL_MSG_RESULT) {
            *ret_result = f.json;
            f.json = NULL;
            tframe_clear(&f);
            if (ret_data) {
                *ret_data = buf;
                *ret_len = blen;
            } else
                free(buf);
            return 0;
        }
        tframe_clear(&f);
    }
}

long tparse_long(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    while (*end == ' ' || *end == '\n' || *end == '\r')
        end++;
    return *end ? -1 : v;
}

void tsleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* true once pid is gone (or a zombie nobody will see again) */
bool twait_gone(pid_t pid, int ms)
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
        tsleep_ms(10);
    }
    return false;
}
