/* policy-internal helpers (not part of the public interface). */
#pragma once

#include <jansson.h>

#include "common/err.h"

/* Env object -> "K=V" vector (an empty vector when absent), names checked. */
int policy_env_decode(json_t *obj, const char *key, char ***ret, struct al_err *err);
int policy_env_encode(char *const *env, json_t **ret);
/* Sub-object / array of parent[key]: 0, -ENOENT when absent or null, or an error. */
int policy_get_obj(json_t *parent, const char *key, json_t **ret, struct al_err *err);
int policy_get_array(json_t *parent, const char *key, size_t max, json_t **ret, struct al_err *err);
int policy_dup(const char *s, char **ret, struct al_err *err);
