/* Decoders of the daemon's requests to airlock-init (see requests.h). */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "agent/requests.h"
#include "agent/users.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "common/path.h"

/* ---- EXEC, RESIZE, SIGNAL ---- */

void agent_exec_req_free(struct agent_exec_req *r)
{
    al_strv_free(r->argv);
    al_strv_free(r->env);
    r->argv = r->env = NULL;
}

int agent_exec_req_decode(json_t *j, struct agent_exec_req *r, struct al_err *err)
{
    int rc;
    memset(r, 0, sizeof(*r));
    if (!json_is_object(j))
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "EXEC: payload must be an object");
    if ((rc = al_json_get_strv(j, "command", true, 4096, 128 << 10, &r->argv, err)) < 0)
        return rc;
    if (!r->argv[0] || !r->argv[0][0])
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "EXEC: empty command");
    json_t *env = json_object_get(j, "env");
    if (json_is_object(env))
        rc = al_json_get_env(j, "env", 4096, 128 << 10, &r->env, err);
    else
        rc = al_json_get_strv(j, "env", false, 4096, 128 << 10, &r->env, err);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    for (char **p = r->env; p && *p; p++)
        if (!agent_env_entry_valid(*p))
            return al_err_set(err, AL_ERR_INVALID, EINVAL, "EXEC: bad env entry '%.64s'", *p);
    if ((rc = al_json_get_str(j, "cwd", false, AGENT_PATH_MAX, &r->cwd, err)) < 0 && rc != -ENOENT)
        return rc;
    if (r->cwd && (r->cwd[0] != '/' || !al_path_is_sane(r->cwd, AGENT_PATH_MAX)))
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "EXEC: cwd must be an absolute path");
    if ((rc = al_json_get_str(j, "user", false, 256, &r->user, err)) < 0 && rc != -ENOENT)
        return rc;
    if ((rc = al_json_get_int(j, "timeoutMs", false, 0, INT32_MAX, &r->timeout_ms, err)) < 0 &&
        rc != -ENOENT)
        return rc;
    if ((rc = al_json_get_int(j, "rows", false, 0, 65535, &r->rows, err)) < 0 && rc != -ENOENT)
        return rc;
    if ((rc = al_json_get_int(j, "cols", false, 0, 65535, &r->cols, err)) < 0 && rc != -ENOENT)
        return rc;
    if ((rc = al_json_get_int(j, "maxOutput", false, 0, INT64_MAX, &r->max_output, err)) < 0 &&
        rc != -ENOENT)
        return rc;
    if ((rc = al_json_get_bool(j, "tty", false, &r->tty, err)) < 0 && rc != -ENOENT)
        return rc;
    if ((rc = al_json_get_bool(j, "stdin", false, &r->stdin_open, err)) < 0 && rc != -ENOENT)
        return rc;
    return 0;
}

int agent_resize_decode(json_t *j, uint16_t *ret_rows, uint16_t *ret_cols)
{
    int64_t rows = 0, cols = 0;
    if (al_json_get_int(j, "rows", true, 1, 65535, &rows, NULL) < 0 ||
        al_json_get_int(j, "cols", true, 1, 65535, &cols, NULL) < 0)
        return -EINVAL;
    *ret_rows = (uint16_t)rows;
    *ret_cols = (uint16_t)cols;
    return 0;
}

int agent_signal_decode(json_t *j, int *ret_sig)
{
    int64_t sig = 0;
    if (al_json_get_int(j, "signal", true, 1, _NSIG - 1, &sig, NULL) < 0)
        return -EINVAL;
    *ret_sig = (int)sig;
    return 0;
}

/* ---- FILE ---- */

static const struct {
    const char *name;
    enum agent_file_op op;
} file_ops[] = {
    {"read", AGENT_FILE_READ}, {"write", AGENT_FILE_WRITE}, {"list", AGENT_FILE_LIST},
    {"stat", AGENT_FILE_STAT}, {"mkdir", AGENT_FILE_MKDIR}, {"remove", AGENT_FILE_REMOVE},
};

int agent_file_req_decode(json_t *j, struct agent_file_req *r, struct al_err *err)
{
    memset(r, 0, sizeof(*r));
    if (!json_is_object(j))
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "FILE: payload must be an object");
    const char *op;
    if (al_json_get_str(j, "op", true, 16, &op, err) < 0 ||
        al_json_get_str(j, "path", true, AGENT_PATH_MAX, &r->path, err) < 0)
        return -EINVAL;
    if (!al_path_is_sane(r->path, AGENT_PATH_MAX))
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "FILE: bad path");
    for (size_t i = 0; i < AL_ARRAY_SIZE(file_ops); i++)
        if (strcmp(op, file_ops[i].name) == 0)
            r->op = file_ops[i].op;
    return 0;
}

/* An optional option: absent is fine, anything else (null too) must decode. */
static bool opt_ok(json_t *j, const char *key, int rc)
{
    return rc >= 0 || !json_object_get(j, key);
}

int agent_file_opts_decode(json_t *j, struct agent_file_req *r, struct al_err *err)
{
    int64_t v = 0;
    switch (r->op) {
    case AGENT_FILE_READ: {
        int rc = al_json_get_int(j, "maxBytes", false, 0, INT64_MAX, &v, NULL);
        if (rc < 0 && rc != -ENOENT)
            return al_err_set(err, AL_ERR_INVALID, EINVAL, "read: bad maxBytes");
        r->max_bytes = (uint64_t)v;
        return 0;
    }
    case AGENT_FILE_WRITE:
        v = 0644;
        if (!opt_ok(j, "mode", al_json_get_int(j, "mode", false, 0, 07777, &v, NULL)))
            return al_err_set(err, AL_ERR_INVALID, EINVAL, "write: bad mode");
        r->mode = (mode_t)v;
        if (!opt_ok(j, "append", al_json_get_bool(j, "append", false, &r->append, NULL)))
            return al_err_set(err, AL_ERR_INVALID, EINVAL, "write: bad append");
        return 0;
    case AGENT_FILE_MKDIR:
        v = 0755;
        if (!opt_ok(j, "mode", al_json_get_int(j, "mode", false, 0, 07777, &v, NULL)))
            return al_err_set(err, AL_ERR_INVALID, EINVAL, "mkdir: bad mode");
        r->mode = (mode_t)v;
        if (!opt_ok(j, "parents", al_json_get_bool(j, "parents", false, &r->parents, NULL)))
            return al_err_set(err, AL_ERR_INVALID, EINVAL, "mkdir: bad parents");
        return 0;
    case AGENT_FILE_REMOVE:
        if (!opt_ok(j, "recursive", al_json_get_bool(j, "recursive", false, &r->recursive, NULL)))
            return al_err_set(err, AL_ERR_INVALID, EINVAL, "remove: bad recursive");
        return 0;
    default:
        return 0;
    }
}
