/* Request objects: sandbox create, exec, file query, label filters. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/ids.h"
#include "common/json.h"
#include "common/path.h"
#include "policy/policy.h"
#include "policy/util.h"

/* ---- sandbox create ---- */

int policy_sandbox_create_decode(json_t *j, struct policy_sandbox_create *c, struct al_err *err)
{
    static const char *const keys[] = {"image", "tier", "env", "labels", "snapshot", NULL};
    memset(c, 0, sizeof(*c));
    int rc = al_json_check_keys(j, keys, "sandbox", err);
    if (rc < 0)
        return rc;
    const char *s;
    rc = al_json_get_str(j, "image", false, POLICY_IMAGE_MAX, &s, err);
    if (rc == 0) {
        if (!policy_image_ref_valid(s))
            return al_err_set(err, AL_ERR_INVALID, EINVAL, "field 'image': bad image reference");
        if ((rc = policy_dup(s, &c->image, err)) < 0)
            return rc;
    } else if (rc != -ENOENT) {
        return rc;
    }
    rc = al_json_get_str(j, "tier", false, 4, &s, err);
    if (rc == 0) {
        if (policy_tier_parse(s, &c->tier) < 0)
            return al_err_set(err, AL_ERR_INVALID, EINVAL,
                              "field 'tier' must be one of XS, S, M, L");
        c->has_tier = true;
    } else if (rc != -ENOENT) {
        return rc;
    }
    rc = al_json_get_str(j, "snapshot", false, 128, &s, err);
    if (rc == 0)
        c->has_snapshot = true;
    else if (rc != -ENOENT)
        return rc;
    if ((rc = policy_env_decode(j, "env", &c->env, err)) < 0)
        return rc;
    return policy_labels_decode(json_object_get(j, "labels"), "labels", &c->labels, err);
}

int policy_sandbox_create_validate(const struct policy_sandbox_create *c, struct al_err *err)
{
    if (c->has_snapshot)
        return al_err_set(err, AL_ERR_UNSUPPORTED, ENOTSUP,
                          "creating a sandbox from a snapshot is not implemented yet");
    if (c->image && c->has_snapshot)
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "give either 'image' or 'snapshot'");
    return 0;
}

json_t *policy_sandbox_create_encode(const struct policy_sandbox_create *c)
{
    json_t *o = json_object();
    json_t *env = NULL;
    if (!o || policy_env_encode(c->env, &env) < 0) {
        json_decref(o);
        return NULL;
    }
    if (c->image)
        json_object_set_new(o, "image", json_string(c->image));
    if (c->has_tier)
        json_object_set_new(o, "tier", json_string(policy_tier_name(c->tier)));
    json_object_set_new(o, "env", env);
    json_object_set(o, "labels", c->labels);
    return o;
}

void policy_sandbox_create_free(struct policy_sandbox_create *c)
{
    if (!c)
        return;
    free(c->image);
    al_strv_free(c->env);
    if (c->labels)
        json_decref(c->labels);
    memset(c, 0, sizeof(*c));
}

/* ---- exec ---- */

static bool user_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > POLICY_USER_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.' || c == ':'))
            return false;
    }
    return true;
}

int policy_exec_decode(json_t *j, struct policy_exec *e, struct al_err *err)
{
    static const char *const keys[] = {"command", "env",     "cwd", "user",
                                       "stdin",   "timeout", "tty", "maxOutputBytes",
                                       "stream",  NULL};
    memset(e, 0, sizeof(*e));
    e->timeout_s = POLICY_EXEC_TIMEOUT_DEFAULT;
    e->max_output = POLICY_OUTPUT_DEFAULT;
    int rc = al_json_check_keys(j, keys, "exec request", err);
    if (rc < 0)
        return rc;
    rc = al_json_get_strv(j, "command", true, POLICY_ARGV_MAX, POLICY_ARG_MAX_LEN, &e->argv, err);
    if (rc < 0)
        return rc;
    if ((rc = policy_env_decode(j, "env", &e->env, err)) < 0)
        return rc;
    const char *s;
    rc = al_json_get_str(j, "cwd", false, POLICY_PATH_MAX, &s, err);
    if (rc == 0) {
        if ((rc = policy_dup(s, &e->cwd, err)) < 0)
            return rc;
    } else if (rc != -ENOENT) {
        return rc;
    }
    rc = al_json_get_str(j, "user", false, POLICY_USER_MAX, &s, err);
    if (rc == 0) {
        if ((rc = policy_dup(s, &e->user, err)) < 0)
            return rc;
    } else if (rc != -ENOENT) {
        return rc;
    }
    json_t *in = json_object_get(j, "stdin");
    if (in && !json_is_null(in)) {
        if (!json_is_string(in))
            return al_err_set(err, AL_ERR_INVALID, EINVAL, "field 'stdin' must be a string");
        e->stdin_len = json_string_length(in);
        e->stdin_data = malloc(e->stdin_len + 1);
        if (!e->stdin_data)
            return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
        memcpy(e->stdin_data, json_string_value(in), e->stdin_len + 1);
    }
    rc = al_json_get_int(j, "timeout", false, 1, POLICY_EXEC_TIMEOUT_MAX, &e->timeout_s, err);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    int64_t mo;
    rc = al_json_get_int(j, "maxOutputBytes", false, 1, POLICY_OUTPUT_MAX, &mo, err);
    if (rc == 0)
        e->max_output = (uint64_t)mo;
    else if (rc != -ENOENT)
        return rc;
    rc = al_json_get_bool(j, "tty", false, &e->tty, err);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    rc = al_json_get_bool(j, "stream", false, &e->stream, err);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    return 0;
}

int policy_exec_validate(const struct policy_exec *e, struct al_err *err)
{
    if (!e->argv || !e->argv[0])
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "field 'command' must not be empty");
    if (e->argv[0][0] == '\0')
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "field 'command[0]' must not be empty");
    if (e->cwd && (e->cwd[0] != '/' || !al_path_is_sane(e->cwd, POLICY_PATH_MAX)))
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "field 'cwd' must be an absolute path");
    if (e->user && !user_valid(e->user))
        return al_err_set(err, AL_ERR_INVALID, EINVAL,
                          "field 'user' must be a name, uid or uid:gid");
    return 0;
}

json_t *policy_exec_encode(const struct policy_exec *e)
{
    json_t *o = json_object(), *argv = json_array(), *env = NULL;
    if (!o || !argv || policy_env_encode(e->env, &env) < 0) {
        json_decref(o);
        json_decref(argv);
        return NULL;
    }
    for (char **a = e->argv; a && *a; a++)
        json_array_append_new(argv, json_string(*a));
    json_object_set_new(o, "command", argv);
    json_object_set_new(o, "env", env);
    if (e->cwd)
        json_object_set_new(o, "cwd", json_string(e->cwd));
    if (e->user)
        json_object_set_new(o, "user", json_string(e->user));
    if (e->stdin_data)
        json_object_set_new(o, "stdin", json_stringn(e->stdin_data, e->stdin_len));
    json_object_set_new(o, "timeout", json_integer(e->timeout_s));
    json_object_set_new(o, "tty", json_boolean(e->tty));
    json_object_set_new(o, "maxOutputBytes", json_integer((json_int_t)e->max_output));
    json_object_set_new(o, "stream", json_boolean(e->stream));
    return o;
}

void policy_exec_free(struct policy_exec *e)
{
    if (!e)
        return;
    al_strv_free(e->argv);
    al_strv_free(e->env);
    free(e->cwd);
    free(e->user);
    free(e->stdin_data);
    memset(e, 0, sizeof(*e));
}

/* ---- image pull, image import, key create ---- */

/* An optional string field, copied: 0 (*ret NULL when absent), or an error. */
static int dup_opt(json_t *j, const char *key, size_t max, char **ret, struct al_err *err)
{
    const char *s;
    int rc = al_json_get_str(j, key, false, max, &s, err);
    if (rc == -ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    return policy_dup(s, ret, err);
}

int policy_image_pull_decode(json_t *j, struct policy_image_pull *p, struct al_err *err)
{
    static const char *const keys[] = {"ref",    "name",   "username", "password",
                                       "caFile", "stream", NULL};
    memset(p, 0, sizeof(*p));
    int rc = al_json_check_keys(j, keys, "pull request", err);
    if (rc < 0)
        return rc;
    const char *s;
    if ((rc = al_json_get_str(j, "ref", true, POLICY_IMAGE_MAX, &s, err)) < 0 ||
        (rc = policy_dup(s, &p->ref, err)) < 0 ||
        (rc = dup_opt(j, "name", POLICY_IMAGE_MAX, &p->name, err)) < 0 ||
        (rc = dup_opt(j, "username", 256, &p->username, err)) < 0 ||
        (rc = dup_opt(j, "password", 4096, &p->password, err)) < 0 ||
        (rc = dup_opt(j, "caFile", PATH_MAX, &p->ca_file, err)) < 0)
        return rc;
    rc = al_json_get_bool(j, "stream", false, &p->stream, err);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    return 0;
}

int policy_image_pull_validate(const struct policy_image_pull *p, struct al_err *err)
{
    if (!policy_image_ref_valid(p->ref) || (p->name && !policy_image_ref_valid(p->name)))
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "field 'ref' or 'name': bad reference");
    return 0;
}

static void set_opt_str(json_t *o, const char *key, const char *v)
{
    if (v)
        json_object_set_new(o, key, json_string(v));
}

json_t *policy_image_pull_encode(const struct policy_image_pull *p)
{
    json_t *o = json_pack("{s:s,s:b}", "ref", p->ref, "stream", p->stream);
    if (!o)
        return NULL;
    set_opt_str(o, "name", p->name);
    set_opt_str(o, "username", p->username);
    set_opt_str(o, "password", p->password);
    set_opt_str(o, "caFile", p->ca_file);
    return o;
}

void policy_image_pull_free(struct policy_image_pull *p)
{
    if (!p)
        return;
    if (p->password)
        explicit_bzero(p->password, strlen(p->password));
    free(p->ref);
    free(p->name);
    free(p->username);
    free(p->password);
    free(p->ca_file);
    memset(p, 0, sizeof(*p));
}

int policy_image_import_decode(json_t *j, struct policy_image_import *i, struct al_err *err)
{
    static const char *const keys[] = {"path", "name", NULL};
    memset(i, 0, sizeof(*i));
    const char *p, *n;
    int rc;
    if ((rc = al_json_check_keys(j, keys, "import request", err)) < 0 ||
        (rc = al_json_get_str(j, "path", true, PATH_MAX, &p, err)) < 0 ||
        (rc = al_json_get_str(j, "name", true, POLICY_IMAGE_MAX, &n, err)) < 0 ||
        (rc = policy_dup(p, &i->path, err)) < 0 || (rc = policy_dup(n, &i->name, err)) < 0)
        return rc;
    return 0;
}

int policy_image_import_validate(const struct policy_image_import *i, struct al_err *err)
{
    if (i->path[0] != '/')
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "field 'path' must be absolute");
    return 0;
}

json_t *policy_image_import_encode(const struct policy_image_import *i)
{
    return json_pack("{s:s,s:s}", "path", i->path, "name", i->name);
}

void policy_image_import_free(struct policy_image_import *i)
{
    if (!i)
        return;
    free(i->path);
    free(i->name);
    memset(i, 0, sizeof(*i));
}

int policy_key_create_decode(json_t *j, struct policy_key_create *k, struct al_err *err)
{
    static const char *const keys[] = {"tenant", "admin", NULL};
    memset(k, 0, sizeof(*k));
    int rc = al_json_check_keys(j, keys, "key request", err);
    if (rc < 0)
        return rc;
    const char *tenant;
    if ((rc = al_json_get_str(j, "tenant", true, sizeof(k->tenant) - 1, &tenant, err)) < 0)
        return rc;
    if (!al_name_valid(tenant))
        return al_err_set(err, AL_ERR_INVALID, EINVAL,
                          "field 'tenant' must match [a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?");
    memcpy(k->tenant, tenant, strlen(tenant) + 1);
    rc = al_json_get_bool(j, "admin", false, &k->admin, err);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    return 0;
}

json_t *policy_key_create_encode(const struct policy_key_create *k)
{
    return json_pack("{s:s,s:b}", "tenant", k->tenant, "admin", k->admin);
}

/* ---- file query ---- */

static int parse_bool(const char *key, const char *v, bool *ret, struct al_err *err)
{
    if (!v || strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
        *ret = true;
    else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
        *ret = false;
    else
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "query '%s' must be true or false", key);
    return 0;
}

int policy_file_query_decode(const char *const *keys, const char *const *values, size_t n,
                             const char *const *allowed, struct policy_file_query *q,
                             struct al_err *err)
{
    memset(q, 0, sizeof(*q));
    bool seen_path = false;
    for (size_t i = 0; i < n; i++) {
        const char *k = keys[i], *v = values[i];
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            ok = ok || strcmp(*a, k) == 0;
        if (!ok)
            return al_err_set(err, AL_ERR_INVALID, EINVAL, "unknown query parameter '%.64s'", k);
        for (size_t m = 0; m < i; m++)
            if (strcmp(keys[m], k) == 0)
                return al_err_set(err, AL_ERR_INVALID, EINVAL, "query parameter '%.64s' repeated",
                                  k);
        int rc = 0;
        if (strcmp(k, "path") == 0) {
            if (!v || strlen(v) > POLICY_PATH_MAX)
                return al_err_set(err, AL_ERR_INVALID, EINVAL, "query 'path' must be 1-%d bytes",
                                  POLICY_PATH_MAX);
            memcpy(q->path, v, strlen(v) + 1);
            seen_path = true;
        } else if (strcmp(k, "mode") == 0) {
            size_t len = v ? strlen(v) : 0;
            if (len == 0 || len > 5)
                return al_err_set(err, AL_ERR_INVALID, EINVAL,
                                  "query 'mode' must be an octal mode like 0644");
            uint32_t m = 0;
            for (size_t c = 0; c < len; c++) {
                if (v[c] < '0' || v[c] > '7')
                    return al_err_set(err, AL_ERR_INVALID, EINVAL,
                                      "query 'mode' must be an octal mode like 0644");
                m = m * 8 + (uint32_t)(v[c] - '0');
            }
            if (m > 07777)
                return al_err_set(err, AL_ERR_INVALID, ERANGE, "query 'mode' above 07777");
            q->mode = m;
            q->has_mode = true;
        } else if (strcmp(k, "append") == 0) {
            rc = parse_bool(k, v, &q->append, err);
        } else if (strcmp(k, "parents") == 0) {
            rc = parse_bool(k, v, &q->parents, err);
        } else if (strcmp(k, "recursive") == 0) {
            rc = parse_bool(k, v, &q->recursive, err);
        } else {
            return al_err_set(err, AL_ERR_INVALID, EINVAL, "unknown query parameter '%.64s'", k);
        }
        if (rc < 0)
            return rc;
    }
    if (!seen_path)
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "query parameter 'path' is required");
    return 0;
}

int policy_file_query_validate(const struct policy_file_query *q, struct al_err *err)
{
    if (q->path[0] != '/' || !al_path_is_sane(q->path, POLICY_PATH_MAX))
        return al_err_set(err, AL_ERR_INVALID, EINVAL,
                          "query 'path' must be an absolute path without control characters");
    return 0;
}

static int url_escape(const char *s, char *out, size_t cap, size_t *pos)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '_' || c == '.' || c == '~' || c == '/';
        if (*pos + 4 > cap)
            return -ENOSPC;
        if (plain) {
            out[(*pos)++] = (char)c;
        } else {
            out[(*pos)++] = '%';
            out[(*pos)++] = hex[c >> 4];
            out[(*pos)++] = hex[c & 15];
        }
    }
    out[*pos] = '\0';
    return 0;
}

int policy_file_query_encode(const struct policy_file_query *q, char *out, size_t out_len)
{
    size_t pos = 0;
    if (out_len < 8)
        return -ENOSPC;
    memcpy(out, "path=", 5);
    pos = 5;
    if (url_escape(q->path, out, out_len, &pos) < 0)
        return -ENOSPC;
    char extra[64];
    int n = snprintf(extra, sizeof(extra), "%s%s%s%s", q->append ? "&append=true" : "",
                     q->parents ? "&parents=true" : "", q->recursive ? "&recursive=true" : "", "");
    if (q->has_mode)
        n += snprintf(extra + n, sizeof(extra) - (size_t)n, "&mode=%04o", q->mode);
    if (pos + (size_t)n + 1 > out_len)
        return -ENOSPC;
    memcpy(out + pos, extra, (size_t)n + 1);
    return (int)(pos + (size_t)n);
}

/* ---- label filters ---- */

int policy_label_filter_parse(const char *s, struct policy_label_filter *f, struct al_err *err)
{
    const char *eq = s ? strchr(s, '=') : NULL;
    if (!eq)
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "label filter must be key=value");
    size_t klen = (size_t)(eq - s), vlen = strlen(eq + 1);
    if (klen == 0 || klen > POLICY_LABEL_KEY_MAX || vlen > POLICY_LABEL_VALUE_MAX)
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "label filter key or value too long");
    memcpy(f->key, s, klen);
    f->key[klen] = '\0';
    memcpy(f->value, eq + 1, vlen + 1);
    if (!policy_label_key_valid(f->key) || !policy_label_value_valid(f->value))
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "label filter has bad characters");
    return 0;
}

bool policy_labels_match(json_t *labels, const struct policy_label_filter *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_is_object(labels) ? json_object_get(labels, f[i].key) : NULL;
        if (!json_is_string(v) || strcmp(json_string_value(v), f[i].value) != 0)
            return false;
    }
    return true;
}
