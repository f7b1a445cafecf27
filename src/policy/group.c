/* Group settings: decode (strict), validate (501 for what is not enforced yet), encode. */
#include <math.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/ids.h"
#include "common/json.h"
#include "policy/policy.h"
#include "policy/util.h"

#define LIST_MAX 256

static int decode_resources(json_t *o, struct policy_resources *r, struct al_err *err)
{
    static const char *const keys[] = {"cpu", "memoryMiB", "diskMiB", "pids", "openFiles", NULL};
    int rc = al_json_check_keys(o, keys, "resources", err);
    if (rc < 0)
        return rc;
    json_t *cpu = json_object_get(o, "cpu");
    if (cpu && !json_is_null(cpu)) {
        if (!json_is_number(cpu))
            return al_err_set(err, AL_ERR_INVALID, EINVAL,
                              "field 'resources.cpu' must be a number");
        double c = json_number_value(cpu);
        if (!isfinite(c) || c * 1000.0 < POLICY_CPU_MIN || c * 1000.0 > POLICY_CPU_MAX)
            return al_err_set(err, AL_ERR_INVALID, ERANGE,
                              "field 'resources.cpu' out of range [%.1f, %.0f]",
                              POLICY_CPU_MIN / 1000.0, POLICY_CPU_MAX / 1000.0);
        r->cpu_millis = (uint32_t)lround(c * 1000.0);
    }
    int64_t v;
    rc = al_json_get_int(o, "memoryMiB", false, POLICY_MEM_MIN, POLICY_MEM_MAX, &v, err);
    if (rc == 0)
        r->memory_mib = (uint64_t)v;
    else if (rc != -ENOENT)
        return al_err_wrap(err, "resources");
    rc = al_json_get_int(o, "diskMiB", false, POLICY_DISK_MIN, POLICY_DISK_MAX, &v, err);
    if (rc == 0)
        r->disk_mib = (uint64_t)v;
    else if (rc != -ENOENT)
        return al_err_wrap(err, "resources");
    rc = al_json_get_int(o, "pids", false, POLICY_PIDS_MIN, POLICY_PIDS_MAX, &v, err);
    if (rc == 0)
        r->pids = (uint32_t)v;
    else if (rc != -ENOENT)
        return al_err_wrap(err, "resources");
    rc = al_json_get_int(o, "openFiles", false, POLICY_FILES_MIN, POLICY_FILES_MAX, &v, err);
    if (rc == 0)
        r->open_files = (uint32_t)v;
    else if (rc != -ENOENT)
        return al_err_wrap(err, "resources");
    return 0;
}

/* An array of strings (the lists of governance and tools); returns the count. */
static int string_list(json_t *parent, const char *key, const char *what, size_t *ret,
                       struct al_err *err)
{
    json_t *a;
    int rc = policy_get_array(parent, key, LIST_MAX, &a, err);
    if (rc == -ENOENT) {
        *ret = 0;
        return 0;
    }
    if (rc < 0)
        return al_err_wrap(err, "%s", what);
    size_t i;
    json_t *s;
    json_array_foreach(a, i, s)
    {
        if (!json_is_string(s) || json_string_length(s) == 0 || json_string_length(s) > 256)
            return al_err_set(err, AL_ERR_INVALID, EINVAL,
                              "field '%s.%s[%zu]' must be a non-empty string", what, key, i);
    }
    *ret = json_array_size(a);
    return 0;
}

bool policy_egress_host_valid(const char *s)
{
    if (strncmp(s, "*.", 2) == 0)
        s += 2;
    size_t n = strlen(s), label = 0;
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i <= n; i++) {
        char c = s[i];
        if (c == '.' || c == '\0') {
            if (label == 0 || s[i - 1] == '-')
                return false;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   (c == '-' && label > 0)) {
            if (++label > 63)
                return false;
        } else {
            return false;
        }
    }
    return true;
}

/* One egress rule: {"host": "example.com" | "*.example.com", "action": "allow" | "deny" |
 * "transform", "path"?: "/prefix", "method"?: "GET"} (DESIGN §7). */
static int decode_rule(json_t *r, size_t i, struct al_err *err)
{
    char what[40];
    snprintf(what, sizeof(what), "egress.rules[%zu]", i);
    static const char *const keys[] = {"host", "action", "path", "method", NULL};
    int rc = al_json_check_keys(r, keys, what, err);
    if (rc < 0)
        return rc;
    const char *v;
    if ((rc = al_json_get_str(r, "host", true, 255, &v, err)) < 0)
        return al_err_wrap(err, "%s", what);
    if (!policy_egress_host_valid(v))
        return al_err_set(err, AL_ERR_INVALID, EINVAL,
                          "field '%s.host' must be a host name or *.suffix", what);
    if ((rc = al_json_get_str(r, "action", true, 16, &v, err)) < 0)
        return al_err_wrap(err, "%s", what);
    if (strcmp(v, "allow") != 0 && strcmp(v, "deny") != 0 && strcmp(v, "transform") != 0)
        return al_err_set(err, AL_ERR_INVALID, EINVAL,
                          "field '%s.action' must be \"allow\", \"deny\" or \"transform\"", what);
    rc = al_json_get_str(r, "path", false, POLICY_RULE_PATH_MAX, &v, err);
    if (rc == 0) {
        bool ok = v[0] == '/';
        for (const char *c = v; ok && *c; c++)
            ok = *c > ' ' && *c < 0x7f;
        if (!ok)
            return al_err_set(err, AL_ERR_INVALID, EINVAL,
                              "field '%s.path' must start with '/' and hold no spaces or control "
                              "characters",
                              what);
    } else if (rc != -ENOENT) {
        return al_err_wrap(err, "%s", what);
    }
    rc = al_json_get_str(r, "method", false, 16, &v, err);
    if (rc == 0) {
        bool ok = v[0] != '\0';
        for (const char *c = v; ok && *c; c++)
            ok = *c >= 'A' && *c <= 'Z';
        if (!ok)
            return al_err_set(err, AL_ERR_INVALID, EINVAL,
                              "field '%s.method' must be an upper-case HTTP method", what);
    } else if (rc != -ENOENT) {
        return al_err_wrap(err, "%s", what);
    }
    return 0;
}

static int decode_egress(json_t *o, struct policy_group *g, struct al_err *err)
{
    static const char *const keys[] = {"defaultAction", "rules", NULL};
    int rc = al_json_check_keys(o, keys, "egress", err);
    if (rc < 0)
        return rc;
    const char *act;
    rc = al_json_get_str(o, "defaultAction", false, 16, &act, err);
    if (rc == 0) {
        if (strcmp(act, "allow") == 0)
            g->egress_allow_default = true;
        else if (strcmp(act, "deny") != 0)
            return al_err_set(err, AL_ERR_INVALID, EINVAL,
                              "field 'egress.defaultAction' must be \"allow\" or \"deny\"");
    } else if (rc != -ENOENT) {
        return al_err_wrap(err, "egress");
    }
    json_t *rules;
    rc = policy_get_array(o, "rules", LIST_MAX, &rules, err);
    if (rc == 0) {
        size_t i;
        json_t *r;
        json_array_foreach(rules, i, r)
        {
            if (!json_is_object(r))
                return al_err_set(err, AL_ERR_INVALID, EINVAL,
                                  "field 'egress.rules[%zu]' must be an object", i);
            if ((rc = decode_rule(r, i, err)) < 0)
                return rc;
        }
        g->egress_rules = json_array_size(rules);
    } else if (rc != -ENOENT) {
        return al_err_wrap(err, "egress");
    }
    return 0;
}

static int decode_lifecycle(json_t *o, struct policy_group *g, struct al_err *err)
{
    static const char *const keys[] = {"maxLifetimeSeconds", "idleSuspendSeconds",
                                       "deleteSuspendedAfterDays", NULL};
    int rc = al_json_check_keys(o, keys, "lifecycle", err);
    if (rc < 0)
        return rc;
    rc = al_json_get_int(o, "maxLifetimeSeconds", false, 0, POLICY_LIFETIME_MAX, &g->max_lifetime_s,
                         err);
    if (rc < 0 && rc != -ENOENT)
        return al_err_wrap(err, "lifecycle");
    rc = al_json_get_int(o, "idleSuspendSeconds", false, 0, POLICY_LIFETIME_MAX, &g->idle_suspend_s,
                         err);
    if (rc < 0 && rc != -ENOENT)
        return al_err_wrap(err, "lifecycle");
    rc = al_json_get_int(o, "deleteSuspendedAfterDays", false, 0, 3650, &g->delete_suspended_days,
                         err);
    if (rc < 0 && rc != -ENOENT)
        return al_err_wrap(err, "lifecycle");
    return 0;
}

/* secrets: {"name": {"value": "..."}}: named values for the egress proxy to inject (DESIGN
 * §7 transform rules), the same as PUT .../secrets/{name}.  Values never appear in an error
 * message or in the encoded group. */
static int decode_secrets(json_t *o, struct policy_group *g, struct al_err *err)
{
    if (json_object_size(o) > POLICY_SECRETS_MAX)
        return al_err_set(err, AL_ERR_INVALID, E2BIG, "field 'secrets': more than %d entries",
                          POLICY_SECRETS_MAX);
    const char *name;
    json_t *v;
    json_object_foreach(o, name, v)
    {
        if (!al_name_valid(name))
            return al_err_set(err, AL_ERR_INVALID, EINVAL,
                              "field 'secrets': bad secret name '%.64s' (want "
                              "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)",
                              name);
        char what[96];
        snprintf(what, sizeof(what), "secrets.%s", name);
        static const char *const keys[] = {"value", NULL};
        int rc = al_json_check_keys(v, keys, what, err);
        if (rc < 0)
            return rc;
        const char *val;
        if ((rc = al_json_get_str(v, "value", true, POLICY_SECRET_VALUE_MAX, &val, err)) < 0)
            return al_err_wrap(err, "%s", what);
        if (val[0] == '\0')
            return al_err_set(err, AL_ERR_INVALID, EINVAL, "field '%s.value' must not be empty",
                              what);
    }
    g->secrets = json_object_size(o);
    return 0;
}

static int decode_sections(json_t *j, struct policy_group *g, struct al_err *err)
{
    json_t *o;
    int rc;
    if ((rc = policy_get_obj(j, "egress", &o, err)) == 0)
        rc = decode_egress(o, g, err);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    if ((rc = policy_get_obj(j, "identity", &o, err)) == 0) {
        static const char *const keys[] = {"enabled", NULL};
        rc = al_json_check_keys(o, keys, "identity", err);
        if (rc == 0)
            rc = al_json_get_bool(o, "enabled", false, &g->identity_enabled, err);
        if (rc < 0 && rc != -ENOENT)
            return al_err_wrap(err, "identity");
    } else if (rc != -ENOENT) {
        return rc;
    }
    if ((rc = policy_get_obj(j, "lifecycle", &o, err)) == 0)
        rc = decode_lifecycle(o, g, err);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    if ((rc = policy_get_obj(j, "governance", &o, err)) == 0) {
        static const char *const keys[] = {"deniedCalls", "deniedImports", NULL};
        rc = al_json_check_keys(o, keys, "governance", err);
        if (rc == 0)
            rc = string_list(o, "deniedCalls", "governance", &g->governance_denied_calls, err);
        if (rc == 0)
            rc = string_list(o, "deniedImports", "governance", &g->governance_denied_imports, err);
        if (rc < 0)
            return rc;
    } else if (rc != -ENOENT) {
        return rc;
    }
    if ((rc = policy_get_obj(j, "tools", &o, err)) == 0) {
        static const char *const keys[] = {"allow", NULL};
        rc = al_json_check_keys(o, keys, "tools", err);
        if (rc == 0)
            rc = string_list(o, "allow", "tools", &g->tools_allow, err);
        if (rc < 0)
            return rc;
    } else if (rc != -ENOENT) {
        return rc;
    }
    if ((rc = policy_get_obj(j, "secrets", &o, err)) == 0)
        rc = decode_secrets(o, g, err);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    if ((rc = policy_get_obj(j, "pool", &o, err)) == 0) {
        static const char *const keys[] = {"size", NULL};
        rc = al_json_check_keys(o, keys, "pool", err);
        if (rc == 0)
            rc = al_json_get_int(o, "size", false, 0, POLICY_POOL_MAX, &g->pool_size, err);
        if (rc < 0 && rc != -ENOENT)
            return al_err_wrap(err, "pool");
    } else if (rc != -ENOENT) {
        return rc;
    }
    return 0;
}

int policy_group_decode(json_t *j, struct policy_group *g, struct al_err *err)
{
    static const char *const keys[] = {"image",  "tier",    "resources", "isolation", "env",
                                       "labels", "egress",  "identity",  "lifecycle", "governance",
                                       "tools",  "secrets", "pool",      NULL};
    memset(g, 0, sizeof(*g));
    g->tier = POLICY_TIER_M;
    int rc = al_json_check_keys(j, keys, "group settings", err);
    if (rc < 0)
        return rc;
    const char *s;
    rc = al_json_get_str(j, "image", true, POLICY_IMAGE_MAX, &s, err);
    if (rc < 0)
        return rc;
    if (!policy_image_ref_valid(s))
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "field 'image': bad image reference");
    if ((rc = policy_dup(s, &g->image, err)) < 0)
        return rc;
    rc = al_json_get_str(j, "tier", false, 4, &s, err);
    if (rc == 0) {
        if (policy_tier_parse(s, &g->tier) < 0)
            return al_err_set(err, AL_ERR_INVALID, EINVAL,
                              "field 'tier' must be one of XS, S, M, L");
    } else if (rc != -ENOENT) {
        return rc;
    }
    policy_tier_resources(g->tier, &g->resources);
    json_t *o;
    if ((rc = policy_get_obj(j, "resources", &o, err)) == 0)
        rc = decode_resources(o, &g->resources, err);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    rc = al_json_get_str(j, "isolation", false, 16, &s, err);
    if (rc == 0) {
        if (strcmp(s, "microvm") == 0)
            g->isolation = POLICY_ISOLATION_MICROVM;
        else if (strcmp(s, "namespace") != 0)
            return al_err_set(err, AL_ERR_INVALID, EINVAL,
                              "field 'isolation' must be \"namespace\" or \"microvm\"");
    } else if (rc != -ENOENT) {
        return rc;
    }
    if ((rc = policy_env_decode(j, "env", &g->env, err)) < 0)
        return rc;
    if ((rc = policy_labels_decode(json_object_get(j, "labels"), "labels", &g->labels, err)) < 0)
        return rc;
    return decode_sections(j, g, err);
}

int policy_group_validate(const struct policy_group *g, struct al_err *err)
{
    if (g->isolation == POLICY_ISOLATION_MICROVM)
        return al_err_set(err, AL_ERR_UNSUPPORTED, ENOTSUP,
                          "isolation \"microvm\" is not implemented yet");
    if (g->egress_allow_default || g->egress_rules > 0)
        return al_err_set(err, AL_ERR_UNSUPPORTED, ENOTSUP,
                          "egress: only defaultAction \"deny\" with no rules is enforced so far");
    if (g->identity_enabled)
        return al_err_set(err, AL_ERR_UNSUPPORTED, ENOTSUP,
                          "identity.enabled is not implemented yet");
    if (g->idle_suspend_s > 0)
        return al_err_set(err, AL_ERR_UNSUPPORTED, ENOTSUP,
                          "lifecycle.idleSuspendSeconds is not implemented yet");
    if (g->delete_suspended_days > 0)
        return al_err_set(err, AL_ERR_UNSUPPORTED, ENOTSUP,
                          "lifecycle.deleteSuspendedAfterDays is not implemented yet");
    if (g->governance_denied_calls > 0 || g->governance_denied_imports > 0)
        return al_err_set(err, AL_ERR_UNSUPPORTED, ENOTSUP,
                          "governance rules are not implemented yet");
    if (g->tools_allow > 0)
        return al_err_set(err, AL_ERR_UNSUPPORTED, ENOTSUP, "tools.allow is not implemented yet");
    if (g->secrets > 0)
        return al_err_set(err, AL_ERR_UNSUPPORTED, ENOTSUP, "secrets are not implemented yet");
    if (g->pool_size > 0)
        return al_err_set(err, AL_ERR_UNSUPPORTED, ENOTSUP, "pool.size is not implemented yet");
    return 0;
}

json_t *policy_resources_encode(const struct policy_resources *r)
{
    return json_pack("{s:f,s:I,s:I,s:I,s:I}", "cpu", r->cpu_millis / 1000.0, "memoryMiB",
                     (json_int_t)r->memory_mib, "diskMiB", (json_int_t)r->disk_mib, "pids",
                     (json_int_t)r->pids, "openFiles", (json_int_t)r->open_files);
}

json_t *policy_group_encode(const struct policy_group *g)
{
    json_t *env = NULL;
    if (policy_env_encode(g->env, &env) < 0)
        return NULL;
    return json_pack(
        "{s:s,s:s,s:o,s:s,s:o,s:O,s:{s:s,s:[]},s:{s:b},s:{s:I,s:I,s:I},s:{s:[],s:[]},s:{s:[]},"
        "s:{},s:{s:I}}",
        "image", g->image, "tier", policy_tier_name(g->tier), "resources",
        policy_resources_encode(&g->resources), "isolation",
        g->isolation == POLICY_ISOLATION_MICROVM ? "microvm" : "namespace", "env", env, "labels",
        g->labels, "egress", "defaultAction", g->egress_allow_default ? "allow" : "deny", "rules",
        "identity", "enabled", g->identity_enabled, "lifecycle", "maxLifetimeSeconds",
        (json_int_t)g->max_lifetime_s, "idleSuspendSeconds", (json_int_t)g->idle_suspend_s,
        "deleteSuspendedAfterDays", (json_int_t)g->delete_suspended_days, "governance",
        "deniedCalls", "deniedImports", "tools", "allow", "secrets", "pool", "size",
        (json_int_t)g->pool_size);
}

void policy_group_free(struct policy_group *g)
{
    if (!g)
        return;
    free(g->image);
    al_strv_free(g->env);
    if (g->labels)
        json_decref(g->labels);
    memset(g, 0, sizeof(*g));
}
