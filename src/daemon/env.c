/* Environment layering for exec: image env (in the runtime), then group, sandbox and request
 * env, each later "K=V" replacing an earlier one of the same name. */
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "daemon/env.h"

char **dm_env_merge(char *const *base, char *const *over)
{
    size_t n = 0;
    for (char *const *e = base; e && *e; e++)
        n++;
    for (char *const *e = over; e && *e; e++)
        n++;
    char **out = calloc(n + 1, sizeof(char *));
    if (!out)
        return NULL;
    size_t k = 0;
    char *const *lists[2] = {base, over};
    for (int l = 0; l < 2; l++)
        for (char *const *e = lists[l]; e && *e; e++) {
            const char *eq = strchr(*e, '=');
            size_t klen = eq ? (size_t)(eq - *e) : strlen(*e);
            size_t i = 0;
            for (; i < k; i++)
                if (strncmp(out[i], *e, klen) == 0 && out[i][klen] == '=')
                    break;
            char *dup = strdup(*e);
            if (!dup) {
                al_strv_free(out);
                return NULL;
            }
            if (i < k) {
                free(out[i]);
                out[i] = dup;
            } else {
                out[k++] = dup;
            }
        }
    return out;
}

char *dm_env_encode(char *const *env)
{
    cleanup_json json_t *a = json_array();
    for (char *const *e = env; a && e && *e; e++)
        if (json_array_append_new(a, json_string(*e)) < 0)
            return NULL;
    return a ? al_json_dump(a) : NULL;
}

int dm_env_decode(const char *json, char ***ret, struct al_err *err)
{
    cleanup_json json_t *a = al_json_parse(json, strlen(json), 2, err);
    if (!a)
        return -(err->code ? err->code : EINVAL);
    if (!json_is_array(a))
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "env: not an array");
    char **v = calloc(json_array_size(a) + 1, sizeof(char *));
    if (!v)
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    size_t i;
    json_t *s;
    json_array_foreach(a, i, s)
    {
        if (!json_is_string(s) || !strchr(json_string_value(s), '=')) {
            al_strv_free(v);
            return al_err_set(err, AL_ERR_INVALID, EINVAL, "env[%zu]: not \"K=V\"", i);
        }
        if (!(v[i] = strdup(json_string_value(s)))) {
            al_strv_free(v);
            return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
        }
    }
    *ret = v;
    return 0;
}
