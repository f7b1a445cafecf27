/* Environment merging and its record in the sandbox row (pure; unit-tested). */
#pragma once

#include "common/err.h"

/* base then over; a later "K=..." replaces an earlier one of the same name, keeping its
 * position.  NULL-terminated copy (caller frees with al_strv_free); NULL on ENOMEM. */
char **dm_env_merge(char *const *base, char *const *over);

/* The env as a JSON array of strings (the sandbox row's "env"); NULL on ENOMEM or a string
 * that is not UTF-8 (the API admits none). */
char *dm_env_encode(char *const *env);
/* Back: every element must be a "K=V" string.  *ret is NULL-terminated (al_strv_free). */
int dm_env_decode(const char *json, char ***ret, struct al_err *err);
