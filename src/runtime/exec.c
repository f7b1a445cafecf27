/* Exec requests: EXEC with the merged image defaults, STDIN/RESIZE/SIGNAL while it runs,
 * STDOUT/STDERR collected or streamed by the channel thread, EXIT ends it.  rt_exec is
 * rt_exec_start + rt_exec_wait; the split form serves interactive streams (WebSocket). */
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/proto.h"
#include "runtime/rt_int.h"

#define DEFAULT_MAX_OUTPUT (1u << 20)
#define EXEC_GRACE_MS 10000

struct rt_exec_handle {
    struct rt_sandbox *sb;
    struct rt_req *rq;
    struct rt_exec_result res;
    uint32_t timeout_ms;
    bool stdin_open;
};

void rt_exec_result_free(struct rt_exec_result *r)
{
    if (!r)
        return;
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

static int add_strv(json_t *arr, const char *const *v)
{
    for (; v && *v; v++)
        if (json_array_append_new(arr, json_string(*v)) < 0)
            return -ENOMEM;
    return 0;
}

static json_t *exec_json(struct rt_sandbox *sb, const struct rt_exec_req *req, bool has_stdin,
                         uint64_t max_output)
{
    json_t *j = json_object();
    json_t *cmd = json_array(), *env = json_array();
    if (!j || !cmd || !env || json_object_set_new(j, "command", cmd) < 0 ||
        json_object_set_new(j, "env", env) < 0 || add_strv(cmd, req->argv) < 0 ||
        add_strv(env, (const char *const *)sb->env) < 0 || add_strv(env, req->env) < 0) {
        json_decref(j);
        return NULL;
    }
    const char *cwd = req->cwd ? req->cwd : sb->workdir ? sb->workdir : "/";
    json_object_set_new(j, "cwd", json_string(cwd));
    const char *user = req->user ? req->user : sb->user;
    if (user)
        json_object_set_new(j, "user", json_string(user));
    json_object_set_new(j, "timeoutMs", json_integer(req->timeout_ms));
    json_object_set_new(j, "tty", json_boolean(req->tty));
    if (req->tty) {
        json_object_set_new(j, "rows", json_integer(req->rows ? req->rows : 24));
        json_object_set_new(j, "cols", json_integer(req->cols ? req->cols : 80));
    }
    json_object_set_new(j, "maxOutput", json_integer((json_int_t)max_output));
    json_object_set_new(j, "stdin", json_boolean(has_stdin));
    return j;
}

static int send_stdin(struct rt_exec_handle *h, const void *data, size_t len, bool eof,
                      struct al_err *err)
{
    const char *p = data;
    do {
        size_t n = len > AL_PROTO_CHUNK ? AL_PROTO_CHUNK : len;
        uint16_t flags = eof && n == len ? AL_FRAME_EOF : 0;
        int s = rt_chan_send(h->sb, AL_MSG_STDIN, flags, h->rq->id, NULL, 0, p, n);
        if (s < 0)
            return al_err_sys(err, AL_ERR_UNAVAILABLE, -s, "sandbox %s: send stdin", h->sb->id);
        p += n;
        len -= n;
    } while (len);
    return 0;
}

static void handle_free(struct rt_exec_handle *h)
{
    rt_req_free(h->sb, h->rq);
    rt_exec_result_free(&h->res);
    free(h);
}

int rt_exec_start(struct rt_sandbox *sb, const struct rt_exec_req *req, rt_output_fn out_fn,
                  void *ud, struct rt_exec_handle **ret, struct al_err *err)
{
    if (!req->argv || !req->argv[0])
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "exec: empty command");
    uint64_t max_output = req->max_output ? req->max_output : DEFAULT_MAX_OUTPUT;
    bool has_stdin = req->stdin_data != NULL || req->stdin_stream;
    cleanup_json json_t *j = exec_json(sb, req, has_stdin, max_output);
    if (!j)
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "exec: encode");
    struct rt_exec_handle *h = calloc(1, sizeof(*h));
    if (!h)
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    h->sb = sb;
    h->timeout_ms = req->timeout_ms;
    int r = rt_req_new(sb, RT_REQ_EXEC, &h->rq, err);
    if (r < 0) {
        free(h);
        return r;
    }
    h->rq->out_fn = out_fn;
    h->rq->out_ud = ud;
    h->rq->max_output = max_output;
    h->rq->res = &h->res;
    r = rt_send_json(sb, AL_MSG_EXEC, 0, h->rq->id, j, NULL, 0, err);
    if (r >= 0 && req->stdin_data)
        r = send_stdin(h, req->stdin_data, req->stdin_len, !req->stdin_stream, err);
    if (r < 0) {
        handle_free(h);
        return r;
    }
    h->stdin_open = req->stdin_stream;
    *ret = h;
    return 0;
}

int rt_exec_stdin(struct rt_exec_handle *h, const void *data, size_t len, bool eof,
                  struct al_err *err)
{
    if (!h->stdin_open)
        return al_err_set(err, AL_ERR_CONFLICT, EPIPE, "exec: stdin is closed");
    if (eof)
        h->stdin_open = false;
    return send_stdin(h, data, len, eof, err);
}

int rt_exec_resize(struct rt_exec_handle *h, uint16_t rows, uint16_t cols, struct al_err *err)
{
    if (!rows || !cols)
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "exec: rows and cols must be > 0");
    cleanup_json json_t *j = json_pack("{s:i,s:i}", "rows", (int)rows, "cols", (int)cols);
    return j ? rt_send_json(h->sb, AL_MSG_RESIZE, 0, h->rq->id, j, NULL, 0, err)
             : al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
}

int rt_exec_signal(struct rt_exec_handle *h, int sig, struct al_err *err)
{
    if (sig < 1 || sig >= NSIG)
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "exec: bad signal %d", sig);
    cleanup_json json_t *j = json_pack("{s:i}", "signal", sig);
    return j ? rt_send_json(h->sb, AL_MSG_SIGNAL, 0, h->rq->id, j, NULL, 0, err)
             : al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
}

/* After an exec completed: OOM kills up to now are accounted for (the exec's own, or ones
 * that left the agent alive), so they cannot explain a later death of the sandbox. */
static void note_oom_kills(struct rt_sandbox *sb)
{
    uint64_t kills;
    if (rt_cg_oom_kills(&sb->cg, &kills) < 0)
        return;
    pthread_mutex_lock(&sb->lock);
    if (!sb->dead && kills > sb->oom_seen)
        sb->oom_seen = kills;
    pthread_mutex_unlock(&sb->lock);
}

int rt_exec_wait(struct rt_exec_handle *h, struct rt_exec_result *ret, struct al_err *err)
{
    long long deadline = h->timeout_ms ? al_now_ms() + h->timeout_ms + EXEC_GRACE_MS : 0;
    int r = rt_req_wait(h->sb, h->rq, deadline, err);
    struct rt_req *rq = h->rq;
    if (r >= 0) {
        note_oom_kills(h->sb);
        h->res.out = rq->out.data ? rq->out.data : strdup("");
        h->res.out_len = rq->out.len;
        h->res.err = rq->err.data ? rq->err.data : strdup("");
        h->res.err_len = rq->err.len;
        rq->out.data = rq->err.data = NULL;
        if (!h->res.out || !h->res.err)
            r = al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    }
    if (r >= 0) {
        *ret = h->res;
        memset(&h->res, 0, sizeof(h->res));
    }
    handle_free(h);
    return r;
}

int rt_exec(struct rt_sandbox *sb, const struct rt_exec_req *req, rt_output_fn out_fn, void *ud,
            struct rt_exec_result *ret, struct al_err *err)
{
    struct rt_exec_handle *h;
    int r = rt_exec_start(sb, req, out_fn, ud, &h, err);
    return r < 0 ? r : rt_exec_wait(h, ret, err);
}
