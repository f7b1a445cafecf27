/* Handlers: files inside a sandbox, through the runtime (the agent does them inside the
 * sandbox's own mount namespace). */
#include <stdio.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/ids.h"
#include "common/json.h"
#include "daemon/daemon.h"

#define FILE_READ_MAX API_UPLOAD_MAX

static int oom(struct al_err *err)
{
    return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
}

/* Decode the query (only `allowed` keys), then take a reference on the sandbox. */
static int begin(struct daemon *d, struct api_request *req, const char *const *allowed,
                 struct policy_file_query *q, struct dm_sandbox **sb, struct al_err *err)
{
    int rc = dm_check_path(req, true, err);
    if (rc < 0)
        return rc;
    rc =
        policy_file_query_decode(req->query_keys, req->query_values, req->n_query, allowed, q, err);
    if (rc == 0)
        rc = policy_file_query_validate(q, err);
    if (rc < 0)
        return rc;
    return dm_sandbox_acquire(d, req->who.tenant, req->params[0], req->params[1], sb, err);
}

static const char *type_name(enum rt_file_type t)
{
    switch (t) {
    case RT_FILE_REGULAR:
        return "file";
    case RT_FILE_DIR:
        return "dir";
    case RT_FILE_SYMLINK:
        return "symlink";
    default:
        return "other";
    }
}

static json_t *stat_json(const struct rt_stat *s, bool owner)
{
    char mode[8], mtime[32];
    snprintf(mode, sizeof(mode), "%04o", s->mode & 07777);
    dm_rfc3339(s->mtime, mtime);
    size_t n = 0;
    cleanup_free char *name = api_utf8_sanitize(s->name, strnlen(s->name, sizeof(s->name)), &n);
    json_t *o =
        json_pack("{s:s%,s:s,s:I,s:s,s:s}", "name", name ? name : "", name ? n : 0, "type",
                  type_name(s->type), "size", (json_int_t)s->size, "mode", mode, "mtime", mtime);
    if (o && owner) {
        json_object_set_new(o, "uid", json_integer(s->uid));
        json_object_set_new(o, "gid", json_integer(s->gid));
    }
    return o;
}

int dm_h_file_put(void *ud, struct api_request *req, struct api_response *resp, struct al_err *err)
{
    static const char *const allowed[] = {"path", "mode", "append", NULL};
    struct daemon *d = ud;
    struct policy_file_query q;
    struct dm_sandbox *sb;
    int rc = begin(d, req, allowed, &q, &sb, err);
    if (rc < 0)
        return rc;
    rc = rt_file_write(sb->rt, q.path, req->body, req->body_len, q.has_mode ? q.mode : 0644,
                       q.append, err);
    dm_sandbox_release(d, sb);
    if (rc < 0)
        return rc;
    return api_reply_empty(resp, 204);
}

struct read_buf {
    char *data;
    size_t len, cap;
};

static int on_data(void *ud, const void *data, size_t len)
{
    struct read_buf *b = ud;
    if (b->len + len > FILE_READ_MAX)
        return -EFBIG;
    if (b->len + len > b->cap) {
        size_t nc = b->cap ? b->cap : 65536;
        while (nc < b->len + len)
            nc *= 2;
        char *nd = realloc(b->data, nc);
        if (!nd)
            return -ENOMEM;
        b->data = nd;
        b->cap = nc;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

int dm_h_file_get(void *ud, struct api_request *req, struct api_response *resp, struct al_err *err)
{
    static const char *const allowed[] = {"path", NULL};
    struct daemon *d = ud;
    struct policy_file_query q;
    struct dm_sandbox *sb;
    int rc = begin(d, req, allowed, &q, &sb, err);
    if (rc < 0)
        return rc;
    struct read_buf b = {0};
    rc = rt_file_read(sb->rt, q.path, FILE_READ_MAX, on_data, &b, err);
    dm_sandbox_release(d, sb);
    if (rc < 0) {
        free(b.data);
        return rc;
    }
    if (!b.data && !(b.data = malloc(1)))
        return oom(err);
    return api_reply_data(resp, 200, "application/octet-stream", b.data, b.len);
}

int dm_h_file_delete(void *ud, struct api_request *req, struct api_response *resp,
                     struct al_err *err)
{
    static const char *const allowed[] = {"path", "recursive", NULL};
    struct daemon *d = ud;
    struct policy_file_query q;
    struct dm_sandbox *sb;
    int rc = begin(d, req, allowed, &q, &sb, err);
    if (rc < 0)
        return rc;
    if (strcmp(q.path, "/") == 0) {
        dm_sandbox_release(d, sb);
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "refusing to remove /");
    }
    rc = rt_file_remove(sb->rt, q.path, q.recursive, err);
    dm_sandbox_release(d, sb);
    if (rc < 0)
        return rc;
    return api_reply_empty(resp, 204);
}

int dm_h_file_list(void *ud, struct api_request *req, struct api_response *resp, struct al_err *err)
{
    static const char *const allowed[] = {"path", NULL};
    struct daemon *d = ud;
    struct policy_file_query q;
    struct dm_sandbox *sb;
    int rc = begin(d, req, allowed, &q, &sb, err);
    if (rc < 0)
        return rc;
    cleanup_free struct rt_stat *v = NULL;
    size_t n = 0;
    rc = rt_file_list(sb->rt, q.path, &v, &n, err);
    dm_sandbox_release(d, sb);
    if (rc < 0)
        return rc;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr, stat_json(&v[i], false));
    if (!arr)
        return oom(err);
    return api_reply_json(resp, 200, json_pack("{s:o}", "entries", arr));
}

int dm_h_file_stat(void *ud, struct api_request *req, struct api_response *resp, struct al_err *err)
{
    static const char *const allowed[] = {"path", NULL};
    struct daemon *d = ud;
    struct policy_file_query q;
    struct dm_sandbox *sb;
    int rc = begin(d, req, allowed, &q, &sb, err);
    if (rc < 0)
        return rc;
    struct rt_stat st = {0};
    rc = rt_file_stat(sb->rt, q.path, &st, err);
    dm_sandbox_release(d, sb);
    if (rc < 0)
        return rc;
    if (!st.name[0]) {
        const char *slash = strrchr(q.path, '/');
        snprintf(st.name, sizeof(st.name), "%s", slash && slash[1] ? slash + 1 : "/");
    }
    json_t *o = stat_json(&st, true);
    return o ? api_reply_json(resp, 200, o) : oom(err);
}

int dm_h_file_mkdir(void *ud, struct api_request *req, struct api_response *resp,
                    struct al_err *err)
{
    static const char *const allowed[] = {"path", "parents", "mode", NULL};
    struct daemon *d = ud;
    struct policy_file_query q;
    struct dm_sandbox *sb;
    int rc = begin(d, req, allowed, &q, &sb, err);
    if (rc < 0)
        return rc;
    rc = rt_file_mkdir(sb->rt, q.path, q.has_mode ? q.mode : 0755, q.parents, err);
    dm_sandbox_release(d, sb);
    if (rc < 0)
        return rc;
    return api_reply_empty(resp, 204);
}
