#include "common/json.h"

#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"

static int depth_ok(json_t *j, int depth, int max)
{
    if (depth > max)
        return 0;
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v)
        {
            if (!depth_ok(v, depth + 1, max))
                return 0;
        }
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v)
        {
            if (!depth_ok(v, depth + 1, max))
                return 0;
        }
    }
    return 1;
}

/* Cheap pre-scan so a deeply nested document is refused before jansson recurses into it. */
static int prescan_depth(const char *buf, size_t len, int max)
{
    int depth = 0;
    bool in_str = false, esc = false;
    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        if (in_str) {
            if (esc)
                esc = false;
            else if (c == '\\')
                esc = true;
            else if (c == '"')
                in_str = false;
            continue;
        }
        if (c == '"')
            in_str = true;
        else if (c == '{' || c == '[') {
            if (++depth > max)
                return 0;
        } else if (c == '}' || c == ']')
            depth--;
    }
    return 1;
}

json_t *al_json_parse(const char *buf, size_t len, int max_depth, struct al_err *err)
{
    if (max_depth <= 0)
        max_depth = AL_JSON_MAX_DEPTH;
    if (!buf || len == 0) {
        al_err_set(err, AL_ERR_INVALID, EINVAL, "empty JSON document");
        return NULL;
    }
    if (!prescan_depth(buf, len, max_depth)) {
        al_err_set(err, AL_ERR_INVALID, EINVAL, "JSON nested deeper than %d levels", max_depth);
        return NULL;
    }
    json_error_t jerr;
    json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!j) {
        al_err_set(err, AL_ERR_INVALID, EINVAL, "malformed JSON at line %d column %d: %s",
                   jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(j) && !json_is_array(j)) {
        json_decref(j);
        al_err_set(err, AL_ERR_INVALID, EINVAL, "JSON document must be an object or array");
        return NULL;
    }
    if (!depth_ok(j, 1, max_depth)) {
        json_decref(j);
        al_err_set(err, AL_ERR_INVALID, EINVAL, "JSON nested deeper than %d levels", max_depth);
        return NULL;
    }
    return j;
}

static json_t *field(json_t *obj, const char *key, bool required, int *rc, struct al_err *err)
{
    json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    if (!v || json_is_null(v)) {
        *rc =
            required ? al_err_set(err, AL_ERR_INVALID, EINVAL, "missing field '%s'", key) : -ENOENT;
        return NULL;
    }
    *rc = 0;
    return v;
}

int al_json_get_str(json_t *obj, const char *key, bool required, size_t max_len, const char **ret,
                    struct al_err *err)
{
    int rc;
    json_t *v = field(obj, key, required, &rc, err);
    if (!v)
        return rc;
    if (!json_is_string(v))
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "field '%s' must be a string", key);
    size_t len = json_string_length(v);
    if (max_len && len > max_len)
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "field '%s' longer than %zu bytes", key,
                          max_len);
    if (strlen(json_string_value(v)) != len)
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "field '%s' contains a NUL byte", key);
    *ret = json_string_value(v);
    return 0;
}

int al_json_get_int(json_t *obj, const char *key, bool required, int64_t min, int64_t max,
                    int64_t *ret, struct al_err *err)
{
    int rc;
    json_t *v = field(obj, key, required, &rc, err);
    if (!v)
        return rc;
    if (!json_is_integer(v))
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "field '%s' must be an integer", key);
    json_int_t x = json_integer_value(v);
    if (x < min || x > max)
        return al_err_set(err, AL_ERR_INVALID, ERANGE, "field '%s' out of range [%lld, %lld]", key,
                          (long long)min, (long long)max);
    *ret = x;
    return 0;
}

int al_json_get_bool(json_t *obj, const char *key, bool required, bool *ret, struct al_err *err)
{
    int rc;
    json_t *v = field(obj, key, required, &rc, err);
    if (!v)
        return rc;
    if (!json_is_boolean(v))
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "field '%s' must be a boolean", key);
    *ret = json_is_true(v);
    return 0;
}

int al_json_get_strv(json_t *obj, const char *key, bool required, size_t max_items, size_t max_len,
                     char ***ret, struct al_err *err)
{
    int rc;
    json_t *v = field(obj, key, required, &rc, err);
    if (!v)
        return rc;
    if (!json_is_array(v))
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "field '%s' must be an array of strings",
                          key);
    size_t n = json_array_size(v);
    if (max_items && n > max_items)
        return al_err_set(err, AL_ERR_INVALID, E2BIG, "field '%s' has more than %zu items", key,
                          max_items);
    cleanup_strv char **out = calloc(n + 1, sizeof(char *));
    if (!out)
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(v, i);
        if (!json_is_string(s))
            return al_err_set(err, AL_ERR_INVALID, EINVAL, "field '%s[%zu]' must be a string", key,
                              i);
        size_t len = json_string_length(s);
        if ((max_len && len > max_len) || strlen(json_string_value(s)) != len)
            return al_err_set(err, AL_ERR_INVALID, EINVAL,
                              "field '%s[%zu]' is too long or contains a NUL byte", key, i);
        out[i] = strdup(json_string_value(s));
        if (!out[i])
            return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    }
    *ret = TAKE_PTR(out);
    return 0;
}

int al_json_get_env(json_t *obj, const char *key, size_t max_items, size_t max_len, char ***ret,
                    struct al_err *err)
{
    int rc;
    json_t *v = field(obj, key, false, &rc, err);
    if (!v)
        return rc;
    if (!json_is_object(v))
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "field '%s' must be an object of strings",
                          key);
    size_t n = json_object_size(v);
    if (max_items && n > max_items)
        return al_err_set(err, AL_ERR_INVALID, E2BIG, "field '%s' has more than %zu entries", key,
                          max_items);
    cleanup_strv char **out = calloc(n + 1, sizeof(char *));
    if (!out)
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    size_t i = 0;
    const char *k;
    json_t *s;
    json_object_foreach(v, k, s)
    {
        if (!json_is_string(s))
            return al_err_set(err, AL_ERR_INVALID, EINVAL, "field '%s.%s' must be a string", key,
                              k);
        size_t klen = strlen(k), vlen = json_string_length(s);
        if (klen == 0 || strchr(k, '=') || (max_len && klen + vlen > max_len) ||
            strlen(json_string_value(s)) != vlen)
            return al_err_set(err, AL_ERR_INVALID, EINVAL, "field '%s' has a bad entry '%.64s'",
                              key, k);
        if (asprintf(&out[i], "%s=%s", k, json_string_value(s)) < 0) {
            out[i] = NULL;
            return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
        }
        i++;
    }
    *ret = TAKE_PTR(out);
    return 0;
}

int al_json_check_keys(json_t *obj, const char *const *allowed, const char *what,
                       struct al_err *err)
{
    if (!json_is_object(obj))
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "%s must be a JSON object", what);
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            if (strcmp(*a, k) == 0) {
                ok = true;
                break;
            }
        if (!ok)
            return al_err_set(err, AL_ERR_INVALID, EINVAL, "%s: unknown field '%.64s'", what, k);
    }
    return 0;
}

char *al_json_dump(json_t *j)
{
    return json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
}
