/* JSON through jansson behind a small wrapper: parse with duplicate keys rejected and depth
 * bounded, unpack strictly (unknown fields are errors), then an explicit validate_*(). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

static inline void al_json_decrefp(json_t **j)
{
    if (*j)
        json_decref(*j);
}
#define cleanup_json __attribute__((cleanup(al_json_decrefp)))

#define AL_JSON_MAX_DEPTH 32

/* Parse buf[0..len) into an object or array.  Duplicate keys, NUL bytes, trailing data and
 * nesting deeper than max_depth are errors (AL_ERR_INVALID, with jansson's position). */
json_t *al_json_parse(const char *buf, size_t len, int max_depth, struct al_err *err);

/* Strict field access for hand-written decoders.  Each returns 0, -ENOENT when the key is
 * absent (and not required), or an AL_ERR_INVALID error naming `what.key`. */
int al_json_get_str(json_t *obj, const char *key, bool required, size_t max_len, const char **ret,
                    struct al_err *err);
int al_json_get_int(json_t *obj, const char *key, bool required, int64_t min, int64_t max,
                    int64_t *ret, struct al_err *err);
int al_json_get_bool(json_t *obj, const char *key, bool required, bool *ret, struct al_err *err);
/* Array of strings -> NULL-terminated vector (caller frees with al_strv_free). */
int al_json_get_strv(json_t *obj, const char *key, bool required, size_t max_items, size_t max_len,
                     char ***ret, struct al_err *err);
/* Object of string->string -> "k=v" vector (for env) */
int al_json_get_env(json_t *obj, const char *key, size_t max_items, size_t max_len, char ***ret,
                    struct al_err *err);
/* Reject keys not in the NULL-terminated list `allowed`. */
int al_json_check_keys(json_t *obj, const char *const *allowed, const char *what,
                       struct al_err *err);

/* Encode compactly; caller frees.  Returns NULL on ENOMEM. */
char *al_json_dump(json_t *j);
