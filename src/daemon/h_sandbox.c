/* Handlers: sandboxes (create, list, get, delete) and exec (buffered and streamed). */
#define AL_LOG_COMPONENT "daemon"

#include <stdio.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/ids.h"
#include "common/json.h"
#include "common/log.h"
#include "daemon/daemon.h"

static int oom(struct al_err *err)
{
    return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
}

static bool id_valid(const char *s)
{
    size_t n = strlen(s);
    if (n != 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

int dm_check_path(struct api_request *req, bool with_id, struct al_err *err)
{
    if (!al_name_valid(req->params[0]))
        return al_err_set(err, AL_ERR_INVALID, EINVAL,
                          "group name must match [a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?");
    if (with_id && !id_valid(req->params[1]))
        return al_err_set(err, AL_ERR_NOT_FOUND, ENOENT, "sandbox %.40s not found", req->params[1]);
    return 0;
}

int dm_h_sandbox_create(void *ud, struct api_request *req, struct api_response *resp,
                        struct al_err *err)
{
    struct daemon *d = ud;
    int rc = dm_check_path(req, false, err);
    if (rc < 0)
        return rc;
    /* no body at all means {} */
    cleanup_json json_t *j = req->body_len == 0 ? json_object() : api_body_json(req, err);
    if (!j)
        return req->body_len == 0 ? oom(err) : -err->code;
    struct policy_sandbox_create c;
    rc = policy_sandbox_create_decode(j, &c, err);
    if (rc == 0)
        rc = policy_sandbox_create_validate(&c, err);
    json_t *out = NULL;
    if (rc == 0)
        rc = dm_sandbox_create(d, req->who.tenant, req->params[0], &c, &out, err);
    policy_sandbox_create_free(&c);
    if (rc < 0)
        return rc;
    return api_reply_json(resp, 201, out);
}

int dm_h_sandbox_list(void *ud, struct api_request *req, struct api_response *resp,
                      struct al_err *err)
{
    struct daemon *d = ud;
    int rc = dm_check_path(req, false, err);
    if (rc < 0)
        return rc;
    struct policy_label_filter f[API_MAX_QUERY];
    size_t nf = 0;
    for (size_t i = 0; i < req->n_query; i++) {
        if (strcmp(req->query_keys[i], "label") != 0)
            return al_err_set(err, AL_ERR_INVALID, EINVAL, "unknown query parameter '%.64s'",
                              req->query_keys[i]);
        if ((rc = policy_label_filter_parse(req->query_values[i], &f[nf++], err)) < 0)
            return rc;
    }
    struct store_group g;
    if ((rc = store_group_get(d->store, req->who.tenant, req->params[0], &g, err)) < 0)
        return rc;
    store_group_clear(&g);
    struct store_sandbox *v = NULL;
    size_t n = 0;
    if ((rc = store_sandbox_list(d->store, req->who.tenant, req->params[0], true, &v, &n, err)) < 0)
        return rc;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        json_t *o = dm_sandbox_json(&v[i]);
        if (!o)
            continue;
        if (policy_labels_match(json_object_get(o, "labels"), f, nf))
            json_array_append_new(arr, o);
        else
            json_decref(o);
    }
    store_sandbox_list_free(v, n);
    if (!arr)
        return oom(err);
    return api_reply_json(resp, 200, json_pack("{s:o}", "sandboxes", arr));
}

int dm_h_sandbox_get(void *ud, struct api_request *req, struct api_response *resp,
                     struct al_err *err)
{
    struct daemon *d = ud;
    int rc = dm_check_path(req, true, err);
    if (rc < 0)
        return rc;
    struct store_sandbox row;
    if ((rc = store_sandbox_get(d->store, req->who.tenant, req->params[0], req->params[1], &row,
                                err)) < 0)
        return rc;
    json_t *o = dm_sandbox_json(&row);
    store_sandbox_clear(&row);
    return o ? api_reply_json(resp, 200, o) : oom(err);
}

int dm_h_sandbox_delete(void *ud, struct api_request *req, struct api_response *resp,
                        struct al_err *err)
{
    struct daemon *d = ud;
    int rc = dm_check_path(req, true, err);
    if (rc < 0)
        return rc;
    if ((rc = dm_sandbox_delete(d, req->who.tenant, req->params[0], req->params[1],
                                DM_REASON_DELETED, err)) < 0)
        return rc;
    return api_reply_empty(resp, 204);
}

int dm_h_sandbox_stats(void *ud, struct api_request *req, struct api_response *resp,
                       struct al_err *err)
{
    struct daemon *d = ud;
    int rc = dm_check_path(req, true, err);
    if (rc < 0)
        return rc;
    struct dm_sandbox *sb;
    if ((rc = dm_sandbox_acquire(d, req->who.tenant, req->params[0], req->params[1], &sb, err)) < 0)
        return rc;
    struct rt_stats st = {0};
    rc = rt_sandbox_stats(sb->rt, &st, err);
    bool background = rt_sandbox_cpu_background(sb->rt);
    dm_sandbox_release(d, sb);
    if (rc < 0)
        return rc;
    json_t *o =
        json_pack("{s:I,s:I,s:I,s:I,s:s}", "memoryBytes", (json_int_t)st.memory_bytes, "cpuUsec",
                  (json_int_t)st.cpu_usec, "pids", (json_int_t)st.pids, "diskBytes",
                  (json_int_t)st.disk_bytes, "cpuClass", background ? "background" : "normal");
    return o ? api_reply_json(resp, 200, o) : oom(err);
}

/* ---- exec ---- */

struct exec_job {
    struct daemon *d;
    struct dm_sandbox *sb;
    struct policy_exec e;
    char **env;
    struct api_stream *stream;
    char carry[2][4]; /* incomplete UTF-8 tails of stdout / stderr */
    size_t carry_len[2];
};

static void exec_job_free(struct exec_job *j)
{
    if (!j)
        return;
    policy_exec_free(&j->e);
    al_strv_free(j->env);
    free(j);
}

static void fill_req(struct exec_job *j, struct rt_exec_req *r)
{
    memset(r, 0, sizeof(*r));
    r->argv = (const char *const *)j->e.argv;
    r->env = (const char *const *)j->env;
    r->cwd = j->e.cwd;
    r->user = j->e.user;
    r->timeout_ms = (uint32_t)(j->e.timeout_s * 1000);
    r->tty = j->e.tty;
    r->rows = 24;
    r->cols = 80;
    r->max_output = j->e.max_output;
    r->stdin_data = j->e.stdin_data;
    r->stdin_len = j->e.stdin_len;
}

static json_t *text_json(const char *buf, size_t len)
{
    size_t n = 0;
    cleanup_free char *s = api_utf8_sanitize(buf ? buf : "", buf ? len : 0, &n);
    return s ? json_stringn(s, n) : NULL;
}

static json_t *exit_json(const char *type, const struct rt_exec_result *r)
{
    json_t *o =
        json_pack("{s:i,s:i,s:b,s:b,s:b,s:I}", "exitCode", r->exit_code, "signal", r->signal,
                  "timedOut", r->timed_out, "stdoutTruncated", r->stdout_truncated,
                  "stderrTruncated", r->stderr_truncated, "durationMs", (json_int_t)r->duration_ms);
    if (!o || !type)
        return o;
    json_t *ev = json_pack("{s:s}", "type", type);
    if (ev)
        json_object_update(ev, o);
    json_decref(o);
    return ev;
}

static int emit(struct api_stream *s, json_t *o)
{
    if (!o)
        return -ENOMEM;
    cleanup_free char *t = al_json_dump(o);
    json_decref(o);
    if (!t)
        return -ENOMEM;
    int rc = api_stream_write(s, t, strlen(t));
    if (rc == 0)
        rc = api_stream_write(s, "\n", 1);
    return rc;
}

static int emit_chunk(struct exec_job *j, int stream, const char *data, size_t len, bool final)
{
    int k = stream == 2 ? 1 : 0;
    cleanup_free char *buf = malloc(j->carry_len[k] + len + 1);
    if (!buf)
        return -ENOMEM;
    memcpy(buf, j->carry[k], j->carry_len[k]);
    if (len)
        memcpy(buf + j->carry_len[k], data, len);
    size_t total = j->carry_len[k] + len;
    size_t keep = final ? total : api_utf8_complete_prefix(buf, total);
    j->carry_len[k] = total - keep;
    memcpy(j->carry[k], buf + keep, j->carry_len[k]);
    if (keep == 0)
        return 0;
    return emit(j->stream, json_pack("{s:s,s:o}", "type", k ? "stderr" : "stdout", "data",
                                     text_json(buf, keep)));
}

static int on_output(void *ud, int stream, const void *data, size_t len)
{
    struct exec_job *j = ud;
    return emit_chunk(j, stream, data, len, false) < 0 ? 1 : 0;
}

static void *exec_thread(void *arg)
{
    struct exec_job *j = arg;
    struct rt_exec_req r;
    struct rt_exec_result res = {0};
    struct al_err err = {0};
    fill_req(j, &r);
    int rc = rt_exec(j->sb->rt, &r, on_output, j, &res, &err);
    dm_sandbox_release(j->d, j->sb);
    if (rc < 0) {
        json_t *e = api_error_json(&err);
        json_t *ev =
            e ? json_pack("{s:s,s:O}", "type", "error", "error", json_object_get(e, "error"))
              : NULL;
        json_decref(e);
        emit(j->stream, ev);
    } else {
        emit_chunk(j, 1, NULL, 0, true);
        emit_chunk(j, 2, NULL, 0, true);
        emit(j->stream, exit_json("exit", &res));
        rt_exec_result_free(&res);
    }
    api_stream_finish(j->stream);
    struct daemon *d = j->d;
    exec_job_free(j);
    dm_job_end(d);
    return NULL;
}

int dm_h_exec(void *ud, struct api_request *req, struct api_response *resp, struct al_err *err)
{
    struct daemon *d = ud;
    int rc = dm_check_path(req, true, err);
    if (rc < 0)
        return rc;
    cleanup_json json_t *body = api_body_json(req, err);
    if (!body)
        return -err->code;
    struct exec_job *j = calloc(1, sizeof(*j));
    if (!j)
        return oom(err);
    j->d = d;
    rc = policy_exec_decode(body, &j->e, err);
    if (rc == 0)
        rc = policy_exec_validate(&j->e, err);
    if (rc == 0)
        rc = dm_sandbox_acquire(d, req->who.tenant, req->params[0], req->params[1], &j->sb, err);
    if (rc < 0) {
        exec_job_free(j);
        return rc;
    }
    j->env = dm_env_merge(j->sb->env, j->e.env);
    if (!j->env) {
        dm_sandbox_release(d, j->sb);
        exec_job_free(j);
        return oom(err);
    }
    if (j->e.stream) {
        j->stream = api_stream_new(1 << 20);
        struct api_stream *consumer = j->stream;
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        dm_job_start(d);
        rc = j->stream ? pthread_create(&t, &attr, exec_thread, j) : ENOMEM;
        pthread_attr_destroy(&attr);
        if (rc != 0) {
            dm_job_end(d);
            dm_sandbox_release(d, j->sb);
            if (consumer) {
                api_stream_finish(consumer);
                api_stream_close_consumer(consumer);
            }
            exec_job_free(j);
            return al_err_sys(err, AL_ERR_INTERNAL, rc, "exec thread");
        }
        resp->status = 200;
        resp->stream = consumer;
        resp->content_type = "application/x-ndjson";
        return 0;
    }
    struct rt_exec_req r;
    struct rt_exec_result res = {0};
    fill_req(j, &r);
    rc = rt_exec(j->sb->rt, &r, NULL, NULL, &res, err);
    dm_sandbox_release(d, j->sb);
    exec_job_free(j);
    if (rc < 0)
        return al_err_wrap(err, "exec");
    json_t *o = exit_json(NULL, &res);
    if (o) {
        json_object_set_new(o, "stdout", text_json(res.out, res.out_len));
        json_object_set_new(o, "stderr", text_json(res.err, res.err_len));
    }
    rt_exec_result_free(&res);
    return o ? api_reply_json(resp, 200, o) : oom(err);
}
