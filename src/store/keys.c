/* Tenants and API keys.  A key is "alk_" + 32 random bytes in hex; only its sha256 is
 * stored, and the stored hash is compared with the presented key's in constant time. */
#include <string.h>

#include "common/cleanup.h"
#include "common/ids.h"
#include "store/store_int.h"

static int tenant_ensure_locked(struct store *st, const char *tenant, struct al_err *err)
{
    cleanup_stmt sqlite3_stmt *s = NULL;
    int rc =
        store_prepare(st, "INSERT OR IGNORE INTO tenants(name, created_at) VALUES (?, ?)", &s, err);
    if (rc < 0)
        return rc;
    store_bind_text(s, 1, tenant);
    sqlite3_bind_int64(s, 2, store_now());
    rc = sqlite3_step(s);
    if (rc != SQLITE_DONE)
        return store_sql_err(st, rc, err, "tenant");
    return 0;
}

int store_tenant_ensure(struct store *st, const char *tenant, struct al_err *err)
{
    STORE_LOCK(st);
    return tenant_ensure_locked(st, tenant, err);
}

static int insert_locked(struct store *st, const char *tenant, bool admin, const char *secret,
                         struct store_key *ret, struct al_err *err)
{
    struct store_key k = {0};
    char hash[AL_DIGEST_LEN];
    if (al_sha256_digest(secret, strlen(secret), hash) < 0)
        return al_err_set(err, AL_ERR_INTERNAL, EIO, "sha256 failed");
    if (al_random_hex(k.id, 16) < 0)
        return al_err_set(err, AL_ERR_INTERNAL, EIO, "getrandom failed");
    snprintf(k.tenant, sizeof(k.tenant), "%s", tenant);
    snprintf(k.prefix, sizeof(k.prefix), "%.*s", STORE_KEY_DISPLAY, secret);
    k.admin = admin;
    k.created_at = store_now();
    int rc = tenant_ensure_locked(st, tenant, err);
    if (rc < 0)
        return rc;
    cleanup_stmt sqlite3_stmt *s = NULL;
    rc = store_prepare(st,
                       "INSERT INTO api_keys(id, tenant, hash, prefix, admin, created_at) "
                       "VALUES (?, ?, ?, ?, ?, ?)",
                       &s, err);
    if (rc < 0)
        return rc;
    store_bind_text(s, 1, k.id);
    store_bind_text(s, 2, tenant);
    store_bind_text(s, 3, hash);
    store_bind_text(s, 4, k.prefix);
    sqlite3_bind_int(s, 5, admin ? 1 : 0);
    sqlite3_bind_int64(s, 6, k.created_at);
    rc = sqlite3_step(s);
    if (rc != SQLITE_DONE)
        return store_sql_err(st, rc, err, "insert key");
    if (ret)
        *ret = k;
    return 0;
}

int store_key_create(struct store *st, const char *tenant, bool admin, struct store_key *ret,
                     char *ret_secret, struct al_err *err)
{
    char secret[STORE_KEY_LEN + 1];
    memcpy(secret, STORE_KEY_PREFIX, 4);
    if (al_random_hex(secret + 4, 32) < 0)
        return al_err_set(err, AL_ERR_INTERNAL, EIO, "getrandom failed");
    STORE_LOCK(st);
    int rc = insert_locked(st, tenant, admin, secret, ret, err);
    if (rc < 0)
        return rc;
    memcpy(ret_secret, secret, sizeof(secret));
    explicit_bzero(secret, sizeof(secret));
    return 0;
}

int store_key_insert(struct store *st, const char *tenant, bool admin, const char *secret,
                     struct store_key *ret, struct al_err *err)
{
    STORE_LOCK(st);
    return insert_locked(st, tenant, admin, secret, ret, err);
}

static void row_to_key(sqlite3_stmt *s, struct store_key *k)
{
    memset(k, 0, sizeof(*k));
    store_col_copy(s, 0, k->id, sizeof(k->id));
    store_col_copy(s, 1, k->tenant, sizeof(k->tenant));
    k->admin = sqlite3_column_int(s, 2) != 0;
    k->revoked = sqlite3_column_int(s, 3) != 0;
    store_col_copy(s, 4, k->prefix, sizeof(k->prefix));
    k->created_at = sqlite3_column_int64(s, 5);
}

int store_key_lookup(struct store *st, const char *secret, struct store_key *ret,
                     struct al_err *err)
{
    char hash[AL_DIGEST_LEN];
    size_t len = strlen(secret);
    if (len != STORE_KEY_LEN || strncmp(secret, STORE_KEY_PREFIX, 4) != 0)
        return al_err_set(err, AL_ERR_UNAUTH, ENOENT, "invalid API key");
    if (al_sha256_digest(secret, len, hash) < 0)
        return al_err_set(err, AL_ERR_INTERNAL, EIO, "sha256 failed");
    STORE_LOCK(st);
    cleanup_stmt sqlite3_stmt *s = NULL;
    int rc = store_prepare(st,
                           "SELECT id, tenant, admin, revoked, prefix, created_at, hash FROM "
                           "api_keys WHERE hash = ?",
                           &s, err);
    if (rc < 0)
        return rc;
    store_bind_text(s, 1, hash);
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE)
        return al_err_set(err, AL_ERR_UNAUTH, ENOENT, "invalid API key");
    if (rc != SQLITE_ROW)
        return store_sql_err(st, rc, err, "key lookup");
    const void *stored = sqlite3_column_text(s, 6);
    size_t stored_len = (size_t)sqlite3_column_bytes(s, 6);
    if (!stored || !al_ct_equal(stored, stored_len, hash, strlen(hash)))
        return al_err_set(err, AL_ERR_UNAUTH, ENOENT, "invalid API key");
    struct store_key k;
    row_to_key(s, &k);
    if (k.revoked)
        return al_err_set(err, AL_ERR_UNAUTH, ENOENT, "API key revoked");
    *ret = k;
    return 0;
}

int store_key_list(struct store *st, struct store_key **ret, size_t *ret_n, struct al_err *err)
{
    STORE_LOCK(st);
    cleanup_stmt sqlite3_stmt *s = NULL;
    int rc = store_prepare(st,
                           "SELECT id, tenant, admin, revoked, prefix, created_at FROM api_keys "
                           "WHERE revoked = 0 ORDER BY created_at, id",
                           &s, err);
    if (rc < 0)
        return rc;
    cleanup_free struct store_key *v = NULL;
    size_t n = 0, cap = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            struct store_key *nv = realloc(v, cap * sizeof(*v));
            if (!nv)
                return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
            v = nv;
        }
        row_to_key(s, &v[n++]);
    }
    if (rc != SQLITE_DONE)
        return store_sql_err(st, rc, err, "list keys");
    *ret = TAKE_PTR(v);
    *ret_n = n;
    return 0;
}

int store_key_revoke(struct store *st, const char *id, struct al_err *err)
{
    STORE_LOCK(st);
    cleanup_stmt sqlite3_stmt *s = NULL;
    int rc =
        store_prepare(st, "UPDATE api_keys SET revoked = 1 WHERE id = ? AND revoked = 0", &s, err);
    if (rc < 0)
        return rc;
    store_bind_text(s, 1, id);
    rc = sqlite3_step(s);
    if (rc != SQLITE_DONE)
        return store_sql_err(st, rc, err, "revoke key");
    if (sqlite3_changes(st->db) == 0)
        return al_err_set(err, AL_ERR_NOT_FOUND, ENOENT, "key %.40s not found", id);
    return 0;
}
