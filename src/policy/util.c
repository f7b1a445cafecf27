/* Shared validators: names, labels, env, image references, tiers. */
#include <string.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "policy/policy.h"
#include "policy/util.h"

static const struct {
    const char *name;
    struct policy_resources r;
} tiers[] = {
    [POLICY_TIER_XS] = {"XS", {250, 512, 2048, 128, 256}},
    [POLICY_TIER_S] = {"S", {500, 1024, 4096, 256, 512}},
    [POLICY_TIER_M] = {"M", {1000, 2048, 8192, 512, 1024}},
    [POLICY_TIER_L] = {"L", {2000, 4096, 16384, 1024, 2048}},
};

const char *policy_tier_name(enum policy_tier t)
{
    if ((size_t)t >= AL_ARRAY_SIZE(tiers))
        return "?";
    return tiers[t].name;
}

int policy_tier_parse(const char *s, enum policy_tier *ret)
{
    for (size_t i = 0; i < AL_ARRAY_SIZE(tiers); i++)
        if (strcmp(s, tiers[i].name) == 0) {
            *ret = (enum policy_tier)i;
            return 0;
        }
    return -EINVAL;
}

void policy_tier_resources(enum policy_tier t, struct policy_resources *ret)
{
    if ((size_t)t >= AL_ARRAY_SIZE(tiers))
        t = POLICY_TIER_M;
    *ret = tiers[t].r;
}

static bool label_char(char c, bool key)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c == '-' || c == '_' || c == '.' || (key && c == '/');
}

bool policy_label_key_valid(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > POLICY_LABEL_KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!label_char(k[i], true))
            return false;
    return true;
}

bool policy_label_value_valid(const char *v)
{
    size_t n = strlen(v);
    if (n > POLICY_LABEL_VALUE_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!label_char(v[i], false))
            return false;
    return true;
}

int policy_labels_decode(json_t *j, const char *what, json_t **ret, struct al_err *err)
{
    if (!j || json_is_null(j)) {
        *ret = json_object();
        return *ret ? 0 : al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    }
    if (!json_is_object(j))
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "field '%s' must be an object of strings",
                          what);
    if (json_object_size(j) > POLICY_LABELS_MAX)
        return al_err_set(err, AL_ERR_INVALID, E2BIG, "field '%s' has more than %d entries", what,
                          POLICY_LABELS_MAX);
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v)
    {
        if (!policy_label_key_valid(k))
            return al_err_set(err, AL_ERR_INVALID, EINVAL,
                              "field '%s': bad label key '%.64s' (1-63 of [A-Za-z0-9._/-])", what,
                              k);
        if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v) ||
            !policy_label_value_valid(json_string_value(v)))
            return al_err_set(err, AL_ERR_INVALID, EINVAL,
                              "field '%s.%s': label values are strings of 0-63 [A-Za-z0-9._-]",
                              what, k);
    }
    *ret = json_deep_copy(j);
    return *ret ? 0 : al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
}

bool policy_env_name_valid(const char *s, size_t len)
{
    if (len == 0 || len > 256)
        return false;
    if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
        return false;
    for (size_t i = 1; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return true;
}

int policy_env_decode(json_t *obj, const char *key, char ***ret, struct al_err *err)
{
    cleanup_strv char **env = NULL;
    int rc = al_json_get_env(obj, key, POLICY_ENV_MAX_ITEMS, POLICY_ENV_MAX_LEN, &env, err);
    if (rc == -ENOENT) {
        env = calloc(1, sizeof(char *));
        if (!env)
            return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    } else if (rc < 0) {
        return rc;
    }
    for (char **e = env; *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq || !policy_env_name_valid(*e, (size_t)(eq - *e)))
            return al_err_set(err, AL_ERR_INVALID, EINVAL,
                              "field '%s': bad variable name '%.64s' (want [A-Za-z_][A-Za-z0-9_]*)",
                              key, *e);
    }
    *ret = TAKE_PTR(env);
    return 0;
}

int policy_env_encode(char *const *env, json_t **ret)
{
    json_t *o = json_object();
    if (!o)
        return -ENOMEM;
    for (char *const *e = env; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq)
            continue;
        cleanup_free char *k = strndup(*e, (size_t)(eq - *e));
        if (!k || json_object_set_new(o, k, json_string(eq + 1)) < 0) {
            json_decref(o);
            return -ENOMEM;
        }
    }
    *ret = o;
    return 0;
}

bool policy_image_ref_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > POLICY_IMAGE_MAX)
        return false;
    if (s[0] == '/' || s[0] == '.' || s[0] == '-' || s[0] == ':' || s[0] == '@')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '/' || c == ':' || c == '@'))
            return false;
        if (c == '.' && i + 1 < n && s[i + 1] == '.')
            return false;
        if (c == '/' && i + 1 < n && s[i + 1] == '/')
            return false;
    }
    return s[n - 1] != '/';
}

int policy_get_obj(json_t *parent, const char *key, json_t **ret, struct al_err *err)
{
    json_t *v = json_object_get(parent, key);
    if (!v || json_is_null(v))
        return -ENOENT;
    if (!json_is_object(v))
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "field '%s' must be an object", key);
    *ret = v;
    return 0;
}

int policy_get_array(json_t *parent, const char *key, size_t max, json_t **ret, struct al_err *err)
{
    json_t *v = json_object_get(parent, key);
    if (!v || json_is_null(v))
        return -ENOENT;
    if (!json_is_array(v))
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "field '%s' must be an array", key);
    if (json_array_size(v) > max)
        return al_err_set(err, AL_ERR_INVALID, E2BIG, "field '%s' has more than %zu items", key,
                          max);
    *ret = v;
    return 0;
}

int policy_dup(const char *s, char **ret, struct al_err *err)
{
    char *d = strdup(s);
    if (!d)
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    *ret = d;
    return 0;
}
