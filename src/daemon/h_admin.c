/* Handlers: health, metrics, keys, groups. */
#include <stdio.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/ids.h"
#include "common/json.h"
#include "daemon/daemon.h"

static int oom(struct al_err *err)
{
    return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
}

int dm_auth(void *ud, const char *key, struct api_principal *ret, struct al_err *err)
{
    struct daemon *d = ud;
    struct store_key k;
    int rc = store_key_lookup(d->store, key, &k, err);
    if (rc < 0)
        return rc;
    memset(ret, 0, sizeof(*ret));
    snprintf(ret->tenant, sizeof(ret->tenant), "%s", k.tenant);
    snprintf(ret->key_id, sizeof(ret->key_id), "%s", k.id);
    ret->admin = k.admin;
    return 0;
}

int dm_h_health(void *ud, struct api_request *req, struct api_response *resp, struct al_err *err)
{
    return api_reply_json(resp, 200, json_pack("{s:s}", "status", "ok"));
}

int dm_h_metrics(void *ud, struct api_request *req, struct api_response *resp, struct al_err *err)
{
    struct daemon *d = ud;
    unsigned counts[DM_STATE_COUNT] = {0};
    dm_sandbox_counts(d, counts);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return oom(err);
    fprintf(f,
            "# HELP airlock_http_requests_total HTTP requests received.\n"
            "# TYPE airlock_http_requests_total counter\n"
            "airlock_http_requests_total %llu\n",
            (unsigned long long)api_server_requests(d->api));
    fprintf(f, "# HELP airlock_sandboxes Sandboxes held by this daemon, by state.\n"
               "# TYPE airlock_sandboxes gauge\n");
    for (unsigned s = 0; s < DM_STATE_COUNT; s++)
        fprintf(f, "airlock_sandboxes{state=\"%s\"} %u\n", dm_state_name((enum dm_state)s),
                counts[s]);
    if (fclose(f) != 0) {
        free(buf);
        return oom(err);
    }
    return api_reply_data(resp, 200, "text/plain; version=0.0.4", buf, len);
}

void dm_rfc3339(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- keys ---- */

int dm_h_key_create(void *ud, struct api_request *req, struct api_response *resp,
                    struct al_err *err)
{
    struct daemon *d = ud;
    cleanup_json json_t *j = api_body_json(req, err);
    if (!j)
        return -err->code;
    struct policy_key_create kc;
    int rc = policy_key_create_decode(j, &kc, err);
    if (rc < 0)
        return rc;
    struct store_key k;
    char secret[STORE_KEY_LEN + 1];
    if ((rc = store_key_create(d->store, kc.tenant, kc.admin, &k, secret, err)) < 0)
        return rc;
    char ts[32];
    dm_rfc3339(k.created_at, ts);
    json_t *o = json_pack("{s:s,s:s,s:s,s:b,s:s}", "id", k.id, "key", secret, "tenant", k.tenant,
                          "admin", k.admin, "createdAt", ts);
    explicit_bzero(secret, sizeof(secret));
    if (!o)
        return oom(err);
    return api_reply_json(resp, 201, o);
}

int dm_h_key_list(void *ud, struct api_request *req, struct api_response *resp, struct al_err *err)
{
    struct daemon *d = ud;
    cleanup_free struct store_key *v = NULL;
    size_t n = 0;
    int rc = store_key_list(d->store, &v, &n, err);
    if (rc < 0)
        return rc;
    json_t *arr = json_array();
    if (!arr)
        return oom(err);
    for (size_t i = 0; i < n; i++) {
        char ts[32];
        dm_rfc3339(v[i].created_at, ts);
        json_array_append_new(arr, json_pack("{s:s,s:s,s:b,s:s,s:s}", "id", v[i].id, "tenant",
                                             v[i].tenant, "admin", v[i].admin, "prefix",
                                             v[i].prefix, "createdAt", ts));
    }
    return api_reply_json(resp, 200, json_pack("{s:o}", "keys", arr));
}

int dm_h_key_delete(void *ud, struct api_request *req, struct api_response *resp,
                    struct al_err *err)
{
    struct daemon *d = ud;
    int rc = store_key_revoke(d->store, req->params[0], err);
    if (rc < 0)
        return rc;
    return api_reply_empty(resp, 204);
}

/* ---- groups ---- */

static int check_group_name(const char *name, struct al_err *err)
{
    if (!al_name_valid(name))
        return al_err_set(err, AL_ERR_INVALID, EINVAL,
                          "group name must match [a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?");
    return 0;
}

static json_t *group_json(const struct store_group *g, struct al_err *err)
{
    json_t *o = al_json_parse(g->settings, strlen(g->settings), 0, err);
    if (!o)
        return NULL;
    char c[32], u[32];
    dm_rfc3339(g->created_at, c);
    dm_rfc3339(g->updated_at, u);
    json_object_set_new(o, "name", json_string(g->name));
    json_object_set_new(o, "createdAt", json_string(c));
    json_object_set_new(o, "updatedAt", json_string(u));
    return o;
}

int dm_h_group_put(void *ud, struct api_request *req, struct api_response *resp, struct al_err *err)
{
    struct daemon *d = ud;
    const char *name = req->params[0];
    int rc = check_group_name(name, err);
    if (rc < 0)
        return rc;
    cleanup_json json_t *j = api_body_json(req, err);
    if (!j)
        return -err->code;
    struct policy_group g;
    rc = policy_group_decode(j, &g, err);
    if (rc == 0)
        rc = policy_group_validate(&g, err);
    if (rc == 0)
        rc = dm_check_capacity(d, &g.resources, err);
    if (rc < 0) {
        policy_group_free(&g);
        return rc;
    }
    cleanup_json json_t *enc = policy_group_encode(&g);
    policy_group_free(&g);
    cleanup_free char *text = enc ? al_json_dump(enc) : NULL;
    if (!text)
        return oom(err);
    bool created = false;
    if ((rc = store_group_put(d->store, req->who.tenant, name, text, &created, err)) < 0)
        return rc;
    struct store_group sg;
    if ((rc = store_group_get(d->store, req->who.tenant, name, &sg, err)) < 0)
        return rc;
    json_t *o = group_json(&sg, err);
    store_group_clear(&sg);
    if (!o)
        return -err->code;
    return api_reply_json(resp, created ? 201 : 200, o);
}

int dm_h_group_get(void *ud, struct api_request *req, struct api_response *resp, struct al_err *err)
{
    struct daemon *d = ud;
    int rc = check_group_name(req->params[0], err);
    if (rc < 0)
        return rc;
    struct store_group sg;
    if ((rc = store_group_get(d->store, req->who.tenant, req->params[0], &sg, err)) < 0)
        return rc;
    json_t *o = group_json(&sg, err);
    store_group_clear(&sg);
    if (!o)
        return -err->code;
    return api_reply_json(resp, 200, o);
}

int dm_h_group_list(void *ud, struct api_request *req, struct api_response *resp,
                    struct al_err *err)
{
    struct daemon *d = ud;
    struct store_group *v = NULL;
    size_t n = 0;
    int rc = store_group_list(d->store, req->who.tenant, &v, &n, err);
    if (rc < 0)
        return rc;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        json_t *o = group_json(&v[i], err);
        if (o)
            json_array_append_new(arr, o);
    }
    store_group_list_free(v, n);
    if (!arr)
        return oom(err);
    return api_reply_json(resp, 200, json_pack("{s:o}", "groups", arr));
}

int dm_h_group_delete(void *ud, struct api_request *req, struct api_response *resp,
                      struct al_err *err)
{
    struct daemon *d = ud;
    int rc = check_group_name(req->params[0], err);
    if (rc < 0)
        return rc;
    if ((rc = dm_group_delete(d, req->who.tenant, req->params[0], err)) < 0)
        return rc;
    return api_reply_empty(resp, 204);
}
