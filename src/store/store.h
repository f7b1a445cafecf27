/* store: airlockd's state in SQLite (WAL, foreign keys, busy_timeout) under STATE/state.db.
 *
 * Typed query functions only; every statement is prepared with bound parameters.  One
 * connection behind a mutex, so every function may be called from any thread.  Each
 * function returns >= 0 or -errno with detail in struct al_err (-ENOENT / AL_ERR_NOT_FOUND
 * for a missing row).  Tenant scoping is part of every query a tenant's request reaches.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define STORE_SCHEMA_VERSION 2
#define STORE_NAME_MAX 64
#define STORE_ID_LEN 33 /* 32 hex + NUL */
#define STORE_KEY_PREFIX "alk_"
#define STORE_KEY_LEN (4 + 64) /* "alk_" + 32 random bytes hex */
#define STORE_KEY_DISPLAY 12   /* characters of the key kept for listing */

struct store;

int store_open(const char *path, struct store **ret, struct al_err *err);
void store_free(struct store *st);
/* The schema version in the database (after migrations). */
int store_schema_version(struct store *st, int *ret, struct al_err *err);

/* ---- tenants and keys ---- */

struct store_key {
    char id[STORE_ID_LEN];
    char tenant[STORE_NAME_MAX];
    bool admin;
    bool revoked;
    char prefix[STORE_KEY_DISPLAY + 1];
    int64_t created_at; /* unix seconds */
};

int store_tenant_ensure(struct store *st, const char *tenant, struct al_err *err);
/* Make a new key for tenant (created on first use).  The secret is written to ret_secret
 * (STORE_KEY_LEN + 1) and never stored: only its sha256 is. */
int store_key_create(struct store *st, const char *tenant, bool admin, struct store_key *ret,
                     char *ret_secret, struct al_err *err);
/* Register an existing secret (the bootstrap admin key read from admin.key). */
int store_key_insert(struct store *st, const char *tenant, bool admin, const char *secret,
                     struct store_key *ret, struct al_err *err);
/* The key whose secret this is: -ENOENT (AL_ERR_UNAUTH) when unknown or revoked.  The hash
 * comparison is constant-time. */
int store_key_lookup(struct store *st, const char *secret, struct store_key *ret,
                     struct al_err *err);
int store_key_list(struct store *st, struct store_key **ret, size_t *ret_n, struct al_err *err);
int store_key_revoke(struct store *st, const char *id, struct al_err *err);

/* ---- groups ---- */

struct store_group {
    char tenant[STORE_NAME_MAX];
    char name[STORE_NAME_MAX];
    char *settings; /* JSON text */
    int64_t created_at, updated_at;
};
void store_group_clear(struct store_group *g);
void store_group_list_free(struct store_group *v, size_t n);

/* Create or replace; *ret_created tells which. */
int store_group_put(struct store *st, const char *tenant, const char *name, const char *settings,
                    bool *ret_created, struct al_err *err);
int store_group_get(struct store *st, const char *tenant, const char *name, struct store_group *ret,
                    struct al_err *err);
int store_group_list(struct store *st, const char *tenant, struct store_group **ret, size_t *ret_n,
                     struct al_err *err);
/* Deletes the group row and (cascade) its sandbox rows. */
int store_group_delete(struct store *st, const char *tenant, const char *name, struct al_err *err);

/* ---- sandboxes ---- */

#define STORE_UID_SLOTS_MAX 60000

struct store_sandbox {
    char id[STORE_ID_LEN];
    char tenant[STORE_NAME_MAX];
    char group[STORE_NAME_MAX];
    char state[16];
    char reason[32];
    char *image;
    char digest[72];
    char tier[4];
    char *resources;    /* JSON */
    char *labels;       /* JSON */
    char *env;          /* JSON array of "K=V": the default exec env (group's, then request's) */
    int64_t expires_at; /* unix seconds (maxLifetimeSeconds), 0 = never */
    int64_t uid_slot;   /* -1 when released */
    int64_t created_at;
    int64_t updated_at;
};
void store_sandbox_clear(struct store_sandbox *s);
void store_sandbox_list_free(struct store_sandbox *v, size_t n);

/* Insert with a fresh uid slot (the lowest one no live sandbox holds); ret_slot gets it. */
int store_sandbox_insert(struct store *st, const struct store_sandbox *s, int64_t *ret_slot,
                         struct al_err *err);
int store_sandbox_get(struct store *st, const char *tenant, const char *group, const char *id,
                      struct store_sandbox *ret, struct al_err *err);
/* tenant NULL: all tenants; group NULL: all groups; live_only: state != deleted. */
int store_sandbox_list(struct store *st, const char *tenant, const char *group, bool live_only,
                       struct store_sandbox **ret, size_t *ret_n, struct al_err *err);
/* Set state (and reason, "" for none).  State "deleted" releases the uid slot. */
int store_sandbox_set_state(struct store *st, const char *id, const char *state, const char *reason,
                            struct al_err *err);
int store_sandbox_set_digest(struct store *st, const char *id, const char *digest,
                             struct al_err *err);
int store_sandbox_remove(struct store *st, const char *id, struct al_err *err);
/* Live sandboxes using this image digest. */
int store_sandbox_count_digest(struct store *st, const char *digest, int64_t *ret,
                               struct al_err *err);

/* ---- images ---- */

struct store_image {
    char tenant[STORE_NAME_MAX]; /* "" for built-in */
    char *name;
    char digest[72];
    uint64_t size;
    char *config; /* JSON */
    int64_t created_at;
};
void store_image_clear(struct store_image *im);
void store_image_list_free(struct store_image *v, size_t n);

/* tenant NULL: a built-in image.  Replaces an existing entry of the same name. */
int store_image_put(struct store *st, const char *tenant, const char *name, const char *digest,
                    uint64_t size, const char *config, struct al_err *err);
/* The tenant's image of that name, else the built-in one. */
int store_image_get(struct store *st, const char *tenant, const char *name, struct store_image *ret,
                    struct al_err *err);
/* The tenant's images and the built-ins. */
int store_image_list(struct store *st, const char *tenant, struct store_image **ret, size_t *ret_n,
                     struct al_err *err);
/* tenant NULL: the built-in entry. */
int store_image_delete(struct store *st, const char *tenant, const char *name, struct al_err *err);
/* Every digest some name refers to (NULL-terminated; caller frees with al_strv_free). */
int store_image_digests(struct store *st, char ***ret, struct al_err *err);
