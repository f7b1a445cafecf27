/* policy: pure, testable logic for API objects.
 *
 * One C struct + decode + validate + encode per API object (group settings, sandbox create,
 * exec request, file query), plus the tier table and label filters.  Decoding is strict:
 * unknown fields are rejected at every level, every value is bounded.  Validation refuses
 * settings whose enforcement is not built yet with AL_ERR_UNSUPPORTED (501) naming the
 * setting, so nothing is ever silently ignored.  No I/O, no logging, no globals.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define POLICY_IMAGE_MAX 255
#define POLICY_ENV_MAX_ITEMS 128
#define POLICY_ENV_MAX_LEN 8192
#define POLICY_LABELS_MAX 32
#define POLICY_LABEL_KEY_MAX 63
#define POLICY_LABEL_VALUE_MAX 63
#define POLICY_ARGV_MAX 256
#define POLICY_ARG_MAX_LEN 65536
#define POLICY_PATH_MAX 4096
#define POLICY_USER_MAX 64
#define POLICY_EXEC_TIMEOUT_DEFAULT 60
#define POLICY_EXEC_TIMEOUT_MAX 86400
#define POLICY_OUTPUT_DEFAULT (1u << 20)
#define POLICY_OUTPUT_MAX (16u << 20)
#define POLICY_LIFETIME_MAX (366LL * 86400)
#define POLICY_POOL_MAX 1000
#define POLICY_SECRETS_MAX 64
#define POLICY_SECRET_VALUE_MAX 65536
#define POLICY_RULE_PATH_MAX 1024

enum policy_tier { POLICY_TIER_XS = 0, POLICY_TIER_S, POLICY_TIER_M, POLICY_TIER_L };

struct policy_resources {
    uint32_t cpu_millis; /* 1000 = one CPU */
    uint64_t memory_mib;
    uint64_t disk_mib;
    uint32_t pids;
    uint32_t open_files;
};

/* Bounds for resource overrides. */
#define POLICY_CPU_MIN 100
#define POLICY_CPU_MAX 64000
#define POLICY_MEM_MIN 64
#define POLICY_MEM_MAX (256 * 1024)
#define POLICY_DISK_MIN 64
#define POLICY_DISK_MAX (1024 * 1024)
#define POLICY_PIDS_MIN 16
#define POLICY_PIDS_MAX 65536
#define POLICY_FILES_MIN 64
#define POLICY_FILES_MAX 1048576

const char *policy_tier_name(enum policy_tier t);
int policy_tier_parse(const char *s, enum policy_tier *ret);
/* The tier table (DESIGN §2). */
void policy_tier_resources(enum policy_tier t, struct policy_resources *ret);
/* {"cpu","memoryMiB","diskMiB","pids","openFiles"}; NULL on ENOMEM. */
json_t *policy_resources_encode(const struct policy_resources *r);

enum policy_isolation { POLICY_ISOLATION_NAMESPACE = 0, POLICY_ISOLATION_MICROVM };

/* Group settings: PUT /v1/sandboxgroups/{group}. */
struct policy_group {
    char *image;
    enum policy_tier tier;
    struct policy_resources resources; /* effective: tier values with overrides applied */
    enum policy_isolation isolation;
    char **env;     /* "K=V", NULL-terminated, never NULL after decode */
    json_t *labels; /* object of string -> string, never NULL after decode */
    bool egress_allow_default;
    size_t egress_rules;
    bool identity_enabled;
    int64_t max_lifetime_s;
    int64_t idle_suspend_s;
    int64_t delete_suspended_days;
    size_t governance_denied_calls, governance_denied_imports;
    size_t tools_allow;
    size_t secrets;
    int64_t pool_size;
};

/* Decode strictly (400 on shape/bounds errors).  ret is zeroed first; free with
 * policy_group_free() even on failure. */
int policy_group_decode(json_t *j, struct policy_group *ret, struct al_err *err);
/* An egress rule's host: a DNS name ("example.com", labels of [A-Za-z0-9-]) or "*.suffix". */
bool policy_egress_host_valid(const char *s);
/* Refuse what is not enforced yet (501, naming the setting). */
int policy_group_validate(const struct policy_group *g, struct al_err *err);
/* Settings with defaults filled in; NULL on ENOMEM. */
json_t *policy_group_encode(const struct policy_group *g);
void policy_group_free(struct policy_group *g);

/* POST .../sandboxes */
struct policy_sandbox_create {
    char *image; /* NULL: the group's */
    bool has_tier;
    enum policy_tier tier;
    char **env;     /* NULL-terminated, never NULL after decode */
    json_t *labels; /* never NULL after decode */
    bool has_snapshot;
};
int policy_sandbox_create_decode(json_t *j, struct policy_sandbox_create *ret, struct al_err *err);
int policy_sandbox_create_validate(const struct policy_sandbox_create *c, struct al_err *err);
json_t *policy_sandbox_create_encode(const struct policy_sandbox_create *c);
void policy_sandbox_create_free(struct policy_sandbox_create *c);

/* POST .../exec */
struct policy_exec {
    char **argv; /* NULL-terminated */
    char **env;  /* never NULL after decode */
    char *cwd;   /* may be NULL */
    char *user;  /* may be NULL */
    char *stdin_data;
    size_t stdin_len;
    int64_t timeout_s;
    bool tty;
    uint64_t max_output;
    bool stream;
};
int policy_exec_decode(json_t *j, struct policy_exec *ret, struct al_err *err);
int policy_exec_validate(const struct policy_exec *e, struct al_err *err);
json_t *policy_exec_encode(const struct policy_exec *e);
void policy_exec_free(struct policy_exec *e);

/* POST /v1/images/pull */
struct policy_image_pull {
    char *ref;
    char *name;                          /* NULL: not given (the daemon names it ref) */
    char *username, *password, *ca_file; /* NULL: not given */
    bool stream;
};
int policy_image_pull_decode(json_t *j, struct policy_image_pull *ret, struct al_err *err);
/* ref and name must be image references.  (caFile needs an admin key: the daemon checks.) */
int policy_image_pull_validate(const struct policy_image_pull *p, struct al_err *err);
/* The request as the CLI sends it, password included: never log it.  NULL on ENOMEM. */
json_t *policy_image_pull_encode(const struct policy_image_pull *p);
void policy_image_pull_free(struct policy_image_pull *p); /* wipes the password */

/* POST /v1/images/import with a JSON body (an admin's host path) */
struct policy_image_import {
    char *path;
    char *name; /* checked as an image name by the daemon, like the query's */
};
int policy_image_import_decode(json_t *j, struct policy_image_import *ret, struct al_err *err);
int policy_image_import_validate(const struct policy_image_import *i, struct al_err *err);
json_t *policy_image_import_encode(const struct policy_image_import *i);
void policy_image_import_free(struct policy_image_import *i);

/* POST /v1/keys.  Decoding checks the tenant name too: nothing is left to validate. */
struct policy_key_create {
    char tenant[64];
    bool admin;
};
int policy_key_create_decode(json_t *j, struct policy_key_create *ret, struct al_err *err);
json_t *policy_key_create_encode(const struct policy_key_create *k);

/* Query parameters of the files endpoints: path, mode, append, parents, recursive. */
struct policy_file_query {
    char path[POLICY_PATH_MAX + 1];
    uint32_t mode; /* 0: not given */
    bool has_mode;
    bool append, parents, recursive;
};
/* keys/values: the request's query arguments; `allowed` is the subset this endpoint takes
 * (NULL-terminated).  Unknown or repeated keys are errors. */
int policy_file_query_decode(const char *const *keys, const char *const *values, size_t n,
                             const char *const *allowed, struct policy_file_query *ret,
                             struct al_err *err);
int policy_file_query_validate(const struct policy_file_query *q, struct al_err *err);
/* "path=...&mode=0644..." into out (URL-encoded); returns length or -ENOSPC. */
int policy_file_query_encode(const struct policy_file_query *q, char *out, size_t out_len);

/* Labels: object of key -> value with bounded, restricted characters. */
bool policy_label_key_valid(const char *k);
bool policy_label_value_valid(const char *v);
int policy_labels_decode(json_t *j, const char *what, json_t **ret, struct al_err *err);

/* Label filter "k=v" (the value of one `label=` query argument). */
struct policy_label_filter {
    char key[POLICY_LABEL_KEY_MAX + 1];
    char value[POLICY_LABEL_VALUE_MAX + 1];
};
int policy_label_filter_parse(const char *s, struct policy_label_filter *ret, struct al_err *err);
/* All filters match the labels object. */
bool policy_labels_match(json_t *labels, const struct policy_label_filter *f, size_t n);

/* Image references: names like "busybox", "127.0.0.1:5000/repo:tag", "repo@sha256:...". */
bool policy_image_ref_valid(const char *s);
/* Environment variable names: [A-Za-z_][A-Za-z0-9_]* */
bool policy_env_name_valid(const char *s, size_t len);
