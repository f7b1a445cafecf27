/* The daemon end of the agent channel: one reader thread per sandbox reads frames and hands
 * them to the waiting request by id (one mutex per sandbox, one condvar per request).  Any
 * number of threads may run requests at once; sends are serialised by send_lock.  Every frame
 * is hostile: sizes are bounded by the frame reader and by each request's limits, unknown ids
 * and unexpected types are dropped, and JSON goes through al_json_parse.  EOF or a malformed
 * frame marks the sandbox dead and fails every waiter with AL_ERR_UNAVAILABLE.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/proto.h"
#include "runtime/rt_int.h"

#define JSON_DEPTH 8

static void buf_append(struct rt_buf *b, const void *data, size_t len, uint64_t max, bool *trunc)
{
    if (b->len + len > max) {
        *trunc = true;
        len = max > b->len ? (size_t)(max - b->len) : 0;
    }
    if (!len)
        return;
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *n = realloc(b->data, cap);
        if (!n) {
            *trunc = true;
            return;
        }
        b->data = n;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = 0;
}

static struct rt_req *find_req(struct rt_sandbox *sb, uint32_t id)
{
    for (struct rt_req *r = sb->reqs; r; r = r->next)
        if (r->id == id)
            return r;
    return NULL;
}

static void finish(struct rt_req *req)
{
    req->done = true;
    pthread_cond_broadcast(&req->cond);
}

static void fail_req(struct rt_req *req, int code, const char *msg)
{
    if (req->done)
        return;
    req->failed = true;
    req->err_code = code;
    snprintf(req->err_msg, sizeof(req->err_msg), "%s", msg);
    finish(req);
}

int rt_agent_error(const char *json, size_t len, const char *what, struct al_err *err)
{
    struct al_err perr;
    cleanup_json json_t *j = al_json_parse(json, len, JSON_DEPTH, &perr);
    int64_t code = EIO;
    const char *msg = "agent error";
    if (j) {
        json_t *inner = json_object_get(j, "error");
        json_t *o = json_is_object(inner) ? inner : j;
        al_json_get_int(o, "errno", false, 1, 4095, &code, NULL);
        al_json_get_str(o, "message", false, 400, &msg, NULL);
    }
    char safe[401];
    size_t n = 0;
    for (const char *p = msg; *p && n < sizeof(safe) - 1; p++)
        safe[n++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
    safe[n] = 0;
    return al_err_set(err, al_err_kind_from_errno((int)code), (int)code, "%s: %s", what, safe);
}

static void on_exit_frame(struct rt_req *req, const struct al_frame *f)
{
    struct al_err perr;
    cleanup_json json_t *j = al_json_parse(f->json, f->json_len, JSON_DEPTH, &perr);
    if (!j || !json_is_object(j)) {
        fail_req(req, EPROTO, "agent sent a malformed EXIT");
        return;
    }
    int64_t code = -1, sig = 0, dur = 0;
    bool to = false, ot = false, et = false;
    al_json_get_int(j, "exitCode", false, -1, 255, &code, NULL);
    al_json_get_int(j, "signal", false, 0, 128, &sig, NULL);
    al_json_get_int(j, "durationMs", false, 0, INT64_MAX, &dur, NULL);
    al_json_get_bool(j, "timedOut", false, &to, NULL);
    al_json_get_bool(j, "stdoutTruncated", false, &ot, NULL);
    al_json_get_bool(j, "stderrTruncated", false, &et, NULL);
    struct rt_exec_result *r = req->res;
    r->exit_code = sig ? -1 : (int)code;
    r->signal = (int)sig;
    r->timed_out = to;
    r->stdout_truncated = ot || req->out_trunc;
    r->stderr_truncated = et || req->err_trunc;
    r->duration_ms = (uint64_t)dur;
    finish(req);
}

/* Called with sb->lock held; may drop it around user callbacks. */
static void dispatch(struct rt_sandbox *sb, struct rt_req *req, const struct al_frame *f)
{
    if (req->done)
        return;
    if (f->type == AL_MSG_ERROR) {
        struct al_err e;
        rt_agent_error(f->json, f->json_len, "agent", &e);
        fail_req(req, e.code, e.msg);
        return;
    }
    if (req->kind == RT_REQ_EXEC) {
        if (f->type == AL_MSG_STDOUT || f->type == AL_MSG_STDERR) {
            int stream = f->type == AL_MSG_STDOUT ? 1 : 2;
            if (req->out_fn) {
                if (req->cancel || !f->data_len)
                    return;
                req->in_callback = true;
                pthread_mutex_unlock(&sb->lock);
                int r = req->out_fn(req->out_ud, stream, f->data, f->data_len);
                pthread_mutex_lock(&sb->lock);
                req->in_callback = false;
                if (r != 0)
                    req->cancel = true;
                pthread_cond_broadcast(&req->cond);
            } else if (stream == 1) {
                buf_append(&req->out, f->data, f->data_len, req->max_output, &req->out_trunc);
            } else {
                buf_append(&req->err, f->data, f->data_len, req->max_output, &req->err_trunc);
            }
        } else if (f->type == AL_MSG_EXIT) {
            on_exit_frame(req, f);
        }
        return;
    }
    /* file op */
    if (f->type == AL_MSG_FILE_DATA) {
        if (req->got + f->data_len > req->max_bytes) {
            req->too_big = req->cancel = true; /* the op still ends with RESULT */
            return;
        }
        req->got += f->data_len;
        if (req->data_fn && !req->cancel && f->data_len) {
            req->in_callback = true;
            pthread_mutex_unlock(&sb->lock);
            int r = req->data_fn(req->data_ud, f->data, f->data_len);
            pthread_mutex_lock(&sb->lock);
            req->in_callback = false;
            if (r != 0)
                req->cancel = true;
            pthread_cond_broadcast(&req->cond);
        }
    } else if (f->type == AL_MSG_RESULT) {
        struct al_err perr;
        json_t *j = al_json_parse(f->json, f->json_len, JSON_DEPTH, &perr);
        if (!j || !json_is_object(j)) {
            if (j)
                json_decref(j);
            fail_req(req, EPROTO, "agent sent a malformed RESULT");
            return;
        }
        req->result = j;
        finish(req);
    }
}

static void mark_dead(struct rt_sandbox *sb)
{
    sb->dead = true;
    for (struct rt_req *r = sb->reqs; r; r = r->next)
        fail_req(r, EPIPE, "sandbox agent is gone");
    pthread_cond_broadcast(&sb->state_cond);
}

static void *reader_main(void *arg)
{
    struct rt_sandbox *sb = arg;
    struct al_frame_reader rd;
    al_frame_reader_init(&rd);
    for (;;) {
        struct al_frame f;
        int r = al_frame_read(&rd, sb->ctl_fd, true, &f);
        if (r <= 0)
            break;
        pthread_mutex_lock(&sb->lock);
        if (!sb->hello) {
            bool ok = false;
            if (f.type == AL_MSG_HELLO && f.id == 0) {
                struct al_err perr;
                cleanup_json json_t *j = al_json_parse(f.json, f.json_len, JSON_DEPTH, &perr);
                int64_t v = 0, pid = 0;
                if (j && al_json_get_int(j, "version", true, 1, 1000, &v, NULL) == 0 &&
                    v == AL_PROTO_VERSION) {
                    al_json_get_int(j, "pid", false, 0, INT32_MAX, &pid, NULL);
                    sb->hello_pid = (int)pid;
                    ok = true;
                }
            }
            if (!ok) {
                pthread_mutex_unlock(&sb->lock);
                break; /* protocol violation */
            }
            sb->hello = true;
            pthread_cond_broadcast(&sb->state_cond);
        } else if (f.id == 0) {
            if (f.type == AL_MSG_PING) {
                pthread_mutex_unlock(&sb->lock);
                rt_chan_send(sb, AL_MSG_PONG, 0, 0, NULL, 0, NULL, 0);
                continue;
            }
        } else {
            struct rt_req *req = find_req(sb, f.id);
            if (req)
                dispatch(sb, req, &f);
        }
        pthread_mutex_unlock(&sb->lock);
    }
    al_frame_reader_free(&rd);
    pthread_mutex_lock(&sb->lock);
    mark_dead(sb);
    pthread_mutex_unlock(&sb->lock);
    return NULL;
}

int rt_chan_start(struct rt_sandbox *sb, struct al_err *err)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    int r = pthread_create(&sb->reader, &attr, reader_main, sb);
    pthread_attr_destroy(&attr);
    if (r != 0)
        return al_err_sys(err, AL_ERR_INTERNAL, r, "start channel thread");
    sb->reader_started = true;
    return 0;
}

static void deadline_ts(long long deadline_ms, struct timespec *ts)
{
    ts->tv_sec = deadline_ms / 1000;
    ts->tv_nsec = (deadline_ms % 1000) * 1000000;
}

int rt_chan_wait_hello(struct rt_sandbox *sb, int timeout_ms, struct al_err *err)
{
    long long deadline = al_now_ms() + timeout_ms;
    struct timespec ts;
    deadline_ts(deadline, &ts);
    pthread_mutex_lock(&sb->lock);
    while (!sb->hello && !sb->dead) {
        if (pthread_cond_timedwait(&sb->state_cond, &sb->lock, &ts) == ETIMEDOUT)
            break;
    }
    bool hello = sb->hello, dead = sb->dead;
    pthread_mutex_unlock(&sb->lock);
    if (hello)
        return 0;
    if (dead)
        return al_err_set(err, AL_ERR_UNAVAILABLE, EPROTO,
                          "agent closed the channel (or did not start with HELLO)");
    return al_err_set(err, AL_ERR_TIMEOUT, ETIMEDOUT, "agent did not say HELLO within %d ms",
                      timeout_ms);
}

void rt_chan_stop(struct rt_sandbox *sb)
{
    pthread_mutex_lock(&sb->lock);
    sb->closing = true;
    mark_dead(sb);
    pthread_mutex_unlock(&sb->lock);
    if (sb->ctl_fd >= 0)
        shutdown(sb->ctl_fd, SHUT_RDWR);
    if (sb->reader_started) {
        pthread_join(sb->reader, NULL);
        sb->reader_started = false;
    }
    pthread_mutex_lock(&sb->lock);
    while (sb->users > 0)
        pthread_cond_wait(&sb->state_cond, &sb->lock);
    pthread_mutex_unlock(&sb->lock);
}

/* al_frame_send, but with sendmsg(MSG_NOSIGNAL): a dead agent must not SIGPIPE the daemon. */
static int send_frame(int fd, uint16_t type, uint16_t flags, uint32_t id, const char *json,
                      size_t json_len, const void *data, size_t data_len)
{
    uint8_t hdr[AL_PROTO_HDR_LEN];
    if (json_len > UINT32_MAX || data_len > UINT32_MAX)
        return -EMSGSIZE;
    int r = al_frame_header_encode(hdr, type, flags, id, (uint32_t)json_len, (uint32_t)data_len);
    if (r < 0)
        return r;
    struct iovec iov[3] = {{hdr, sizeof(hdr)}, {(void *)json, json_len}, {(void *)data, data_len}};
    int i = 0;
    while (i < 3) {
        if (iov[i].iov_len == 0) {
            i++;
            continue;
        }
        struct msghdr mh = {.msg_iov = iov + i, .msg_iovlen = (size_t)(3 - i)};
        ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        size_t left = (size_t)w;
        while (i < 3 && left >= iov[i].iov_len) {
            left -= iov[i].iov_len;
            i++;
        }
        if (i < 3) {
            iov[i].iov_base = (char *)iov[i].iov_base + left;
            iov[i].iov_len -= left;
        }
    }
    return 0;
}

int rt_chan_send(struct rt_sandbox *sb, uint16_t type, uint16_t flags, uint32_t id,
                 const char *json, size_t json_len, const void *data, size_t data_len)
{
    pthread_mutex_lock(&sb->send_lock);
    int r = send_frame(sb->ctl_fd, type, flags, id, json, json_len, data, data_len);
    pthread_mutex_unlock(&sb->send_lock);
    return r;
}

int rt_req_new(struct rt_sandbox *sb, enum rt_req_kind kind, struct rt_req **ret,
               struct al_err *err)
{
    struct rt_req *req = calloc(1, sizeof(*req));
    if (!req)
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&req->cond, &ca);
    pthread_condattr_destroy(&ca);
    req->kind = kind;
    pthread_mutex_lock(&sb->lock);
    if (sb->dead) {
        pthread_mutex_unlock(&sb->lock);
        pthread_cond_destroy(&req->cond);
        free(req);
        return al_err_set(err, AL_ERR_UNAVAILABLE, EPIPE, "sandbox %s: agent is gone", sb->id);
    }
    do {
        req->id = ++sb->next_id;
    } while (req->id == 0 || find_req(sb, req->id));
    req->next = sb->reqs;
    sb->reqs = req;
    sb->users++;
    pthread_mutex_unlock(&sb->lock);
    *ret = req;
    return 0;
}

int rt_req_wait(struct rt_sandbox *sb, struct rt_req *req, long long deadline_ms,
                struct al_err *err)
{
    struct timespec ts;
    if (deadline_ms)
        deadline_ts(deadline_ms, &ts);
    pthread_mutex_lock(&sb->lock);
    bool timed_out = false;
    while (!req->done) {
        if (req->kind == RT_REQ_EXEC && req->cancel && !req->cancel_sent) {
            req->cancel_sent = true;
            pthread_mutex_unlock(&sb->lock);
            static const char kill_json[] = "{\"signal\":9}";
            rt_chan_send(sb, AL_MSG_SIGNAL, 0, req->id, kill_json, sizeof(kill_json) - 1, NULL, 0);
            pthread_mutex_lock(&sb->lock);
            continue;
        }
        if (deadline_ms) {
            if (pthread_cond_timedwait(&req->cond, &sb->lock, &ts) == ETIMEDOUT && !req->done) {
                timed_out = true;
                break;
            }
        } else {
            pthread_cond_wait(&req->cond, &sb->lock);
        }
    }
    /* a callback may still be running on the reader thread: let it return first */
    while (req->in_callback)
        pthread_cond_wait(&req->cond, &sb->lock);
    req->done = true; /* late frames for this id are dropped from now on */
    int r = 0;
    if (timed_out)
        r = al_err_set(err, AL_ERR_TIMEOUT, ETIMEDOUT, "sandbox %s: agent did not answer", sb->id);
    else if (req->failed)
        r = al_err_set(err,
                       req->err_code == EPIPE ? AL_ERR_UNAVAILABLE
                                              : al_err_kind_from_errno(req->err_code),
                       req->err_code, "sandbox %s: %s", sb->id, req->err_msg);
    pthread_mutex_unlock(&sb->lock);
    return r;
}

void rt_req_free(struct rt_sandbox *sb, struct rt_req *req)
{
    if (!req)
        return;
    pthread_mutex_lock(&sb->lock);
    for (struct rt_req **pp = &sb->reqs; *pp; pp = &(*pp)->next) {
        if (*pp == req) {
            *pp = req->next;
            break;
        }
    }
    if (--sb->users == 0)
        pthread_cond_broadcast(&sb->state_cond);
    pthread_mutex_unlock(&sb->lock);
    pthread_cond_destroy(&req->cond);
    free(req->out.data);
    free(req->err.data);
    if (req->result)
        json_decref(req->result);
    free(req);
}
