/* File operations: encode the request (proto.h), send it, wait for RESULT. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/path.h"
#include "common/proto.h"
#include "runtime/rt_int.h"

#define FILE_TIMEOUT_MS 120000
#define PATH_MAX_LEN 4096

int rt_send_json(struct rt_sandbox *sb, uint16_t type, uint16_t flags, uint32_t id, json_t *j,
                 const void *data, size_t len, struct al_err *err)
{
    cleanup_free char *s = al_json_dump(j);
    if (!s)
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "encode request");
    int r = rt_chan_send(sb, type, flags, id, s, strlen(s), data, len);
    if (r < 0)
        return al_err_sys(err, AL_ERR_UNAVAILABLE, -r, "sandbox %s: send to agent", sb->id);
    return 0;
}

/* One file operation: FILE with `j` (+ data), wait for RESULT; *ret_result owned by caller. */
static int file_op(struct rt_sandbox *sb, json_t *j, const void *data, size_t len, rt_data_fn fn,
                   void *ud, uint64_t max_bytes, json_t **ret_result, struct al_err *err)
{
    const char *path = json_string_value(json_object_get(j, "path"));
    if (!path || path[0] != '/' || !al_path_is_sane(path, PATH_MAX_LEN))
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "file: path must be absolute and sane");
    struct rt_req *rq;
    int r = rt_req_new(sb, RT_REQ_FILE, &rq, err);
    if (r < 0)
        return r;
    rq->data_fn = fn;
    rq->data_ud = ud;
    rq->max_bytes = max_bytes;
    size_t first = len > AL_PROTO_CHUNK ? AL_PROTO_CHUNK : len;
    r = rt_send_json(sb, AL_MSG_FILE, first < len ? AL_FRAME_MORE : 0, rq->id, j, data, first, err);
    for (size_t off = first; r >= 0 && off < len;) {
        size_t n = len - off > AL_PROTO_CHUNK ? AL_PROTO_CHUNK : len - off;
        int s = rt_chan_send(sb, AL_MSG_FILE_DATA, off + n < len ? AL_FRAME_MORE : 0, rq->id, NULL,
                             0, (const char *)data + off, n);
        if (s < 0)
            r = al_err_sys(err, AL_ERR_UNAVAILABLE, -s, "sandbox %s: send file data", sb->id);
        off += n;
    }
    if (r >= 0)
        r = rt_req_wait(sb, rq, al_now_ms() + FILE_TIMEOUT_MS, err);
    if (r >= 0) {
        json_t *res = rq->result;
        json_t *e = json_object_get(res, "error");
        if (e) {
            cleanup_free char *s = al_json_dump(e);
            r = rt_agent_error(s ? s : "{}", s ? strlen(s) : 2, path, err);
        } else if (rq->too_big) {
            r = al_err_set(err, AL_ERR_TOO_LARGE, EFBIG, "%s: larger than %llu bytes", path,
                           (unsigned long long)max_bytes);
        } else if (ret_result) {
            *ret_result = json_incref(res);
        }
    }
    rt_req_free(sb, rq);
    return r;
}

static json_t *file_req(const char *op, const char *path)
{
    json_t *j = json_object();
    json_object_set_new(j, "op", json_string(op));
    json_object_set_new(j, "path", json_string(path ? path : ""));
    return j;
}

int rt_file_read(struct rt_sandbox *sb, const char *path, uint64_t max_bytes, rt_data_fn fn,
                 void *ud, struct al_err *err)
{
    cleanup_json json_t *j = file_req("read", path);
    if (max_bytes)
        json_object_set_new(
            j, "maxBytes",
            json_integer((json_int_t)(max_bytes > INT64_MAX ? INT64_MAX : max_bytes)));
    return file_op(sb, j, NULL, 0, fn, ud, max_bytes ? max_bytes : UINT64_MAX, NULL, err);
}

int rt_file_write(struct rt_sandbox *sb, const char *path, const void *data, size_t len,
                  uint32_t mode, bool append, struct al_err *err)
{
    cleanup_json json_t *j = file_req("write", path);
    json_object_set_new(j, "mode", json_integer(mode ? mode : 0644));
    json_object_set_new(j, "append", json_boolean(append));
    return file_op(sb, j, data, len, NULL, NULL, 0, NULL, err);
}

static enum rt_file_type type_of(const char *s)
{
    if (!s)
        return RT_FILE_OTHER;
    if (!strcmp(s, "file") || !strcmp(s, "regular") || !strcmp(s, "reg"))
        return RT_FILE_REGULAR;
    if (!strcmp(s, "dir") || !strcmp(s, "directory"))
        return RT_FILE_DIR;
    if (!strcmp(s, "symlink") || !strcmp(s, "link"))
        return RT_FILE_SYMLINK;
    return RT_FILE_OTHER;
}

static int decode_stat(json_t *o, struct rt_stat *st, bool need_name, struct al_err *err)
{
    memset(st, 0, sizeof(*st));
    const char *name = NULL, *type = NULL;
    int64_t size = 0, mode = 0, mtime = 0, uid = 0, gid = 0;
    if (!json_is_object(o))
        return al_err_set(err, AL_ERR_INTERNAL, EPROTO, "agent: malformed stat");
    int r = al_json_get_str(o, "name", need_name, 255, &name, err);
    if (r < 0 && r != -ENOENT)
        return r;
    if (need_name && (!name || !name[0] || strchr(name, '/')))
        return al_err_set(err, AL_ERR_INTERNAL, EPROTO, "agent: bad entry name");
    al_json_get_str(o, "type", false, 32, &type, NULL);
    al_json_get_int(o, "size", false, 0, INT64_MAX, &size, NULL);
    al_json_get_int(o, "mode", false, 0, 07777777, &mode, NULL);
    al_json_get_int(o, "mtime", false, INT64_MIN, INT64_MAX, &mtime, NULL);
    al_json_get_int(o, "uid", false, 0, UINT32_MAX, &uid, NULL);
    al_json_get_int(o, "gid", false, 0, UINT32_MAX, &gid, NULL);
    if (name)
        snprintf(st->name, sizeof(st->name), "%s", name);
    st->type = type_of(type);
    st->size = (uint64_t)size;
    st->mode = (uint32_t)mode & 07777;
    st->mtime = mtime;
    st->uid = (uint32_t)uid;
    st->gid = (uint32_t)gid;
    return 0;
}

#define LIST_MAX 100000

int rt_file_list(struct rt_sandbox *sb, const char *path, struct rt_stat **ret, size_t *ret_n,
                 struct al_err *err)
{
    cleanup_json json_t *j = file_req("list", path);
    cleanup_json json_t *res = NULL;
    int r = file_op(sb, j, NULL, 0, NULL, NULL, 0, &res, err);
    if (r < 0)
        return r;
    json_t *arr = json_object_get(res, "entries");
    if (!json_is_array(arr) || json_array_size(arr) > LIST_MAX)
        return al_err_set(err, AL_ERR_INTERNAL, EPROTO, "agent: malformed list result");
    size_t n = json_array_size(arr);
    struct rt_stat *v = calloc(n ? n : 1, sizeof(*v));
    if (!v)
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        r = decode_stat(json_array_get(arr, i), &v[i], true, err);
        if (r < 0) {
            free(v);
            return r;
        }
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

int rt_file_stat(struct rt_sandbox *sb, const char *path, struct rt_stat *ret, struct al_err *err)
{
    cleanup_json json_t *j = file_req("stat", path);
    cleanup_json json_t *res = NULL;
    int r = file_op(sb, j, NULL, 0, NULL, NULL, 0, &res, err);
    if (r < 0)
        return r;
    struct rt_stat st;
    r = decode_stat(res, &st, false, err);
    if (r < 0)
        return r;
    const char *slash = strrchr(path, '/');
    snprintf(st.name, sizeof(st.name), "%s", slash && slash[1] ? slash + 1 : "/");
    *ret = st;
    return 0;
}

int rt_file_mkdir(struct rt_sandbox *sb, const char *path, uint32_t mode, bool parents,
                  struct al_err *err)
{
    cleanup_json json_t *j = file_req("mkdir", path);
    json_object_set_new(j, "mode", json_integer(mode ? mode : 0755));
    json_object_set_new(j, "parents", json_boolean(parents));
    return file_op(sb, j, NULL, 0, NULL, NULL, 0, NULL, err);
}

int rt_file_remove(struct rt_sandbox *sb, const char *path, bool recursive, struct al_err *err)
{
    cleanup_json json_t *j = file_req("remove", path);
    json_object_set_new(j, "recursive", json_boolean(recursive));
    return file_op(sb, j, NULL, 0, NULL, NULL, 0, NULL, err);
}
