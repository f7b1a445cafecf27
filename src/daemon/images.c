/* Image names -> img_info: the tenant's images, then the built-ins (imported from the host
 * cache on first use), and the image handlers. */
#define AL_LOG_COMPONENT "daemon"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/log.h"
#include "daemon/daemon.h"

static int oom(struct al_err *err)
{
    return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
}

static bool is_builtin(const char *name)
{
    return strcmp(name, "busybox") == 0 || strcmp(name, "python") == 0;
}

static int need_images(struct daemon *d, struct al_err *err)
{
    if (!d->images)
        return al_err_set(err, AL_ERR_UNAVAILABLE, EIO, "image store unavailable: %s",
                          d->images_error);
    return 0;
}

static json_t *strv_json(char *const *v)
{
    json_t *a = json_array();
    for (char *const *p = v; a && p && *p; p++)
        json_array_append_new(a, json_string(*p));
    return a;
}

static char *config_text(const struct img_config *c)
{
    cleanup_json json_t *o = json_pack(
        "{s:o,s:o,s:o,s:o,s:o}", "user", c->user ? json_string(c->user) : json_null(), "env",
        strv_json(c->env), "workdir", c->workdir ? json_string(c->workdir) : json_null(),
        "entrypoint", strv_json(c->entrypoint), "cmd", strv_json(c->cmd));
    return o ? al_json_dump(o) : NULL;
}

/* Record ret under (tenant, name). */
static int record(struct daemon *d, const char *tenant, const char *name,
                  const struct img_info *info, struct al_err *err)
{
    cleanup_free char *cfg = config_text(&info->config);
    if (!cfg)
        return oom(err);
    return store_image_put(d->store, tenant, name, info->digest, info->size, cfg, err);
}

/* The store's garbage collector must not run while anything is between "blobs and layers
 * stored or resolved" and "a row references them" (img.h): pulls, imports, and sandbox
 * creates from the image's resolution until their sandbox row exists.  They hold this lock
 * shared; an image delete holds it exclusively around its in-use check, the row's removal and
 * the GC.  Readers are preferred (glibc's default): a delete may wait for long pulls, a create
 * never waits behind a delete that waits for one. */
static pthread_rwlock_t store_rw = PTHREAD_RWLOCK_INITIALIZER;

void dm_images_hold(void)
{
    pthread_rwlock_rdlock(&store_rw);
}

void dm_images_release(void)
{
    pthread_rwlock_unlock(&store_rw);
}

int dm_image_resolve(struct daemon *d, const char *tenant, const char *name, struct img_info *ret,
                     struct al_err *err)
{
    int rc = need_images(d, err);
    if (rc < 0)
        return rc;
    struct store_image im;
    rc = store_image_get(d->store, tenant, name, &im, err);
    if (rc == 0) {
        rc = img_get(d->images, im.digest, ret, err);
        store_image_clear(&im);
        if (rc < 0)
            return al_err_wrap(err, "image %s", name);
        return 0;
    }
    if (rc != -ENOENT)
        return rc;
    if (!is_builtin(name))
        return al_err_set(err, AL_ERR_NOT_FOUND, ENOENT,
                          "image '%.200s' not found (pull or import it first)", name);
    pthread_mutex_lock(&d->builtin_mu);
    rc = store_image_get(d->store, NULL, name, &im, err);
    if (rc == 0) {
        rc = img_get(d->images, im.digest, ret, err);
        store_image_clear(&im);
    } else {
        long long t0 = al_now_ms();
        rc = img_import_builtin(d->images, name, ret, err);
        if (rc == 0) {
            rc = record(d, NULL, name, ret, err);
            if (rc < 0)
                img_info_free(ret);
            else
                log_info("imported built-in image %s (%s) in %lldms", name, ret->digest,
                         al_now_ms() - t0);
        }
    }
    pthread_mutex_unlock(&d->builtin_mu);
    if (rc < 0)
        return al_err_wrap(err, "image %s", name);
    return 0;
}

static json_t *image_json(const struct store_image *im)
{
    char ts[32];
    dm_rfc3339(im->created_at, ts);
    return json_pack("{s:s,s:s,s:I,s:s,s:b}", "name", im->name, "digest", im->digest, "size",
                     (json_int_t)im->size, "createdAt", ts, "builtin", im->tenant[0] == '\0');
}

static int reply_image(struct daemon *d, const char *tenant, const char *name,
                       struct api_response *resp, int status, struct al_err *err)
{
    struct store_image im;
    int rc = store_image_get(d->store, tenant, name, &im, err);
    if (rc < 0)
        return rc;
    json_t *o = image_json(&im);
    store_image_clear(&im);
    return o ? api_reply_json(resp, status, o) : oom(err);
}

int dm_h_image_list(void *ud, struct api_request *req, struct api_response *resp,
                    struct al_err *err)
{
    struct daemon *d = ud;
    struct store_image *v = NULL;
    size_t n = 0;
    int rc = store_image_list(d->store, req->who.tenant, &v, &n, err);
    if (rc < 0)
        return rc;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr, image_json(&v[i]));
    store_image_list_free(v, n);
    if (!arr)
        return oom(err);
    return api_reply_json(resp, 200, json_pack("{s:o}", "images", arr));
}

static int delete_locked(struct daemon *d, struct api_request *req, const char *name,
                         struct al_err *err)
{
    struct store_image im;
    int rc = store_image_get(d->store, req->who.tenant, name, &im, err);
    if (rc < 0)
        return rc;
    bool builtin = im.tenant[0] == '\0';
    int64_t users = 0;
    rc = store_sandbox_count_digest(d->store, im.digest, &users, err);
    store_image_clear(&im);
    if (rc < 0)
        return rc;
    if (builtin && !req->who.admin)
        return al_err_set(err, AL_ERR_PERMISSION, EPERM,
                          "built-in image '%s' can only be removed with an admin key", name);
    if (users > 0)
        return al_err_set(err, AL_ERR_CONFLICT, EBUSY, "image '%.200s' is used by %lld sandbox(es)",
                          name, (long long)users);
    if ((rc = store_image_delete(d->store, builtin ? NULL : req->who.tenant, name, err)) < 0)
        return rc;
    if (d->images) {
        cleanup_strv char **keep = NULL;
        struct al_err e;
        if (store_image_digests(d->store, &keep, &e) == 0 &&
            img_gc(d->images, (const char *const *)keep, &e) < 0)
            log_warn("image gc: %s", e.msg);
    }
    return 0;
}

int dm_h_image_delete(void *ud, struct api_request *req, struct api_response *resp,
                      struct al_err *err)
{
    struct daemon *d = ud;
    const char *name = req->params[0];
    pthread_rwlock_wrlock(&store_rw);
    int rc = delete_locked(d, req, name, err);
    pthread_rwlock_unlock(&store_rw);
    return rc < 0 ? rc : api_reply_empty(resp, 204);
}

/* ---- pull ---- */

struct pull_job {
    struct daemon *d;
    char tenant[64];
    char *ref, *name, *username, *password, *ca_file;
    struct api_stream *stream;
    long long last_progress_ms;
};

static void pull_job_free(struct pull_job *j)
{
    if (!j)
        return;
    free(j->ref);
    free(j->name);
    if (j->password)
        explicit_bzero(j->password, strlen(j->password));
    free(j->username);
    free(j->password);
    free(j->ca_file);
    free(j);
}

static void stream_json(struct api_stream *s, json_t *o)
{
    cleanup_free char *t = o ? al_json_dump(o) : NULL;
    if (o)
        json_decref(o);
    if (!t)
        return;
    api_stream_write(s, t, strlen(t));
    api_stream_write(s, "\n", 1);
}

static void pull_progress(void *ud, uint64_t done, uint64_t total)
{
    struct pull_job *j = ud;
    long long now = al_now_ms();
    if (!j->stream || (now - j->last_progress_ms < 200 && done != total))
        return;
    j->last_progress_ms = now;
    stream_json(j->stream, json_pack("{s:s,s:I,s:I}", "type", "progress", "done", (json_int_t)done,
                                     "total", (json_int_t)total));
}

static int do_pull(struct pull_job *j, struct al_err *err)
{
    struct img_pull_opts opts = {
        .username = j->username,
        .password = j->password,
        .ca_file = j->ca_file,
        .progress = pull_progress,
        .progress_ud = j,
        .stall_timeout_s = j->d->pull_stall_timeout_s,
    };
    struct img_info info = {0};
    int rc = need_images(j->d, err);
    if (rc < 0)
        return rc;
    dm_images_hold();
    rc = img_pull(j->d->images, j->ref, &opts, &info, err);
    if (rc == 0) {
        rc = record(j->d, j->tenant, j->name, &info, err);
        img_info_free(&info);
        if (rc < 0)
            al_err_wrap(err, "pull %.200s", j->ref);
    }
    dm_images_release();
    return rc;
}

static void *pull_thread(void *arg)
{
    struct pull_job *j = arg;
    struct al_err err = {0};
    if (do_pull(j, &err) < 0) {
        json_t *e = api_error_json(&err);
        stream_json(j->stream, e ? json_pack("{s:s,s:O}", "type", "error", "error",
                                             json_object_get(e, "error"))
                                 : NULL);
        json_decref(e);
    } else {
        struct store_image im;
        if (store_image_get(j->d->store, j->tenant, j->name, &im, &err) == 0) {
            json_t *o = image_json(&im);
            store_image_clear(&im);
            json_t *ev = o ? json_pack("{s:s}", "type", "image") : NULL;
            if (ev)
                json_object_update(ev, o);
            json_decref(o);
            stream_json(j->stream, ev);
        }
    }
    api_stream_finish(j->stream);
    struct daemon *d = j->d;
    pull_job_free(j);
    dm_job_end(d);
    return NULL;
}

int dm_h_image_pull(void *ud, struct api_request *req, struct api_response *resp,
                    struct al_err *err)
{
    struct daemon *d = ud;
    cleanup_json json_t *o = api_body_json(req, err);
    if (!o)
        return -err->code;
    struct policy_image_pull p;
    int rc = policy_image_pull_decode(o, &p, err);
    if (rc >= 0)
        rc = policy_image_pull_validate(&p, err);
    if (rc >= 0 && p.ca_file && !req->who.admin)
        rc = al_err_set(err, AL_ERR_PERMISSION, EPERM, "'caFile' needs an admin key");
    if (rc >= 0 && !p.name && !(p.name = strdup(p.ref)))
        rc = oom(err);
    struct pull_job *j = NULL;
    if (rc >= 0 && !(j = calloc(1, sizeof(*j))))
        rc = oom(err);
    if (rc < 0) {
        policy_image_pull_free(&p);
        return rc;
    }
    j->d = d;
    snprintf(j->tenant, sizeof(j->tenant), "%s", req->who.tenant);
    j->ref = TAKE_PTR(p.ref);
    j->name = TAKE_PTR(p.name);
    j->username = TAKE_PTR(p.username);
    j->password = TAKE_PTR(p.password);
    j->ca_file = TAKE_PTR(p.ca_file);
    bool stream = p.stream;
    if (!stream) {
        rc = do_pull(j, err);
        char name[POLICY_IMAGE_MAX + 1];
        snprintf(name, sizeof(name), "%s", j->name);
        pull_job_free(j);
        if (rc < 0)
            return rc; /* img_pull's message already starts "pull <ref>: " */
        return reply_image(d, req->who.tenant, name, resp, 201, err);
    }
    j->stream = api_stream_new(1 << 20);
    if (!j->stream) {
        pull_job_free(j);
        return oom(err);
    }
    struct api_stream *consumer = j->stream;
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    dm_job_start(d);
    rc = pthread_create(&t, &attr, pull_thread, j);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        dm_job_end(d);
        api_stream_finish(consumer);
        api_stream_close_consumer(consumer);
        j->stream = NULL;
        pull_job_free(j);
        return al_err_sys(err, AL_ERR_INTERNAL, rc, "pull thread");
    }
    resp->status = 200;
    resp->stream = consumer;
    resp->content_type = "application/x-ndjson";
    return 0;
}

/* ---- import ---- */

int dm_h_image_import(void *ud, struct api_request *req, struct api_response *resp,
                      struct al_err *err)
{
    struct daemon *d = ud;
    int rc = need_images(d, err);
    if (rc < 0)
        return rc;
    const char *name = api_query(req, "name");
    const char *ct = req->content_type ? req->content_type : "";
    cleanup_free char *host_path = NULL;
    cleanup_free char *json_name = NULL;
    if (strncmp(ct, "application/json", 16) == 0) {
        if (!req->who.admin)
            return al_err_set(err, AL_ERR_PERMISSION, EPERM,
                              "importing from a host path needs an admin key");
        cleanup_json json_t *o = api_body_json(req, err);
        if (!o)
            return -err->code;
        struct policy_image_import im;
        rc = policy_image_import_decode(o, &im, err);
        if (rc >= 0)
            rc = policy_image_import_validate(&im, err);
        if (rc < 0) {
            policy_image_import_free(&im);
            return rc;
        }
        host_path = TAKE_PTR(im.path);
        json_name = TAKE_PTR(im.name);
        name = json_name;
    }
    if (!name || !policy_image_ref_valid(name))
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "query 'name' must be an image name");
    char tmp[PATH_MAX];
    if (!host_path) {
        if (req->body_len == 0)
            return al_err_set(err, AL_ERR_INVALID, EINVAL, "empty archive");
        snprintf(tmp, sizeof(tmp), "%s/import-XXXXXX", d->tmp_dir);
        cleanup_close int fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
            return al_err_sys(err, AL_ERR_INTERNAL, errno, "temp file");
        if ((rc = al_write_all(fd, req->body, req->body_len)) < 0) {
            unlink(tmp);
            return al_err_sys(err, AL_ERR_INTERNAL, -rc, "write archive");
        }
    }
    struct img_info info = {0};
    dm_images_hold();
    rc = img_import(d->images, host_path ? host_path : tmp, NULL, &info, err);
    if (!host_path)
        unlink(tmp);
    if (rc < 0) {
        dm_images_release();
        return al_err_wrap(err, "import");
    }
    rc = record(d, req->who.tenant, name, &info, err);
    dm_images_release();
    img_info_free(&info);
    if (rc < 0)
        return rc;
    return reply_image(d, req->who.tenant, name, resp, 201, err);
}
