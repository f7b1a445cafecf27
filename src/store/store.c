/* store: open, pragmas, schema migrations and shared statement helpers.
 *
 * Theory of operation: one SQLite connection per daemon, serialised by a mutex (the daemon's
 * write rate is tiny next to a sandbox start).  The schema is versioned: `schema_version`
 * holds one row; migrations[i] takes version i to i+1 inside one transaction, so a crash
 * mid-migration leaves the previous version intact.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cleanup.h"
#include "store/store_int.h"

static const char *const migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE tenants ("
    "  name TEXT PRIMARY KEY,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE api_keys ("
    "  id TEXT PRIMARY KEY,"
    "  tenant TEXT NOT NULL REFERENCES tenants(name),"
    "  hash TEXT NOT NULL UNIQUE,"
    "  prefix TEXT NOT NULL,"
    "  admin INTEGER NOT NULL DEFAULT 0,"
    "  revoked INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE groups ("
    "  tenant TEXT NOT NULL REFERENCES tenants(name),"
    "  name TEXT NOT NULL,"
    "  settings TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY (tenant, name));"
    "CREATE TABLE sandboxes ("
    "  id TEXT PRIMARY KEY,"
    "  tenant TEXT NOT NULL,"
    "  grp TEXT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  reason TEXT NOT NULL DEFAULT '',"
    "  image TEXT NOT NULL,"
    "  image_digest TEXT NOT NULL DEFAULT '',"
    "  tier TEXT NOT NULL,"
    "  resources TEXT NOT NULL,"
    "  labels TEXT NOT NULL,"
    "  uid_slot INTEGER,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  FOREIGN KEY (tenant, grp) REFERENCES groups(tenant, name) ON DELETE CASCADE);"
    "CREATE UNIQUE INDEX sandboxes_uid_slot ON sandboxes(uid_slot) WHERE uid_slot IS NOT NULL;"
    "CREATE INDEX sandboxes_group ON sandboxes(tenant, grp);"
    "CREATE TABLE images ("
    "  id INTEGER PRIMARY KEY,"
    "  tenant TEXT REFERENCES tenants(name),"
    "  name TEXT NOT NULL,"
    "  digest TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  config TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL);"
    "CREATE UNIQUE INDEX images_name ON images(ifnull(tenant, ''), name);",
    /* 1 -> 2: what a restarted daemon needs to re-adopt a running sandbox */
    "ALTER TABLE sandboxes ADD COLUMN env TEXT NOT NULL DEFAULT '[]';"
    "ALTER TABLE sandboxes ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;",
};

int64_t store_now(void)
{
    return (int64_t)time(NULL);
}

int store_sql_err(struct store *st, int rc, struct al_err *err, const char *what)
{
    int prim = rc & 0xff;
    const char *m = st && st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc);
    switch (prim) {
    case SQLITE_CONSTRAINT:
        return al_err_set(err, AL_ERR_CONFLICT, EEXIST, "%s: %s", what, m);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return al_err_set(err, AL_ERR_UNAVAILABLE, EBUSY, "%s: database busy: %s", what, m);
    case SQLITE_FULL:
        return al_err_set(err, AL_ERR_LIMIT, ENOSPC, "%s: %s", what, m);
    case SQLITE_NOMEM:
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "%s: out of memory", what);
    default:
        return al_err_set(err, AL_ERR_INTERNAL, EIO, "%s: %s", what, m);
    }
}

int store_prepare(struct store *st, const char *sql, sqlite3_stmt **ret, struct al_err *err)
{
    int rc = sqlite3_prepare_v2(st->db, sql, -1, ret, NULL);
    if (rc != SQLITE_OK)
        return store_sql_err(st, rc, err, "prepare");
    return 0;
}

int store_bind_text(sqlite3_stmt *s, int idx, const char *v)
{
    if (!v)
        return sqlite3_bind_null(s, idx);
    return sqlite3_bind_text(s, idx, v, -1, SQLITE_TRANSIENT);
}

void store_col_copy(sqlite3_stmt *s, int col, char *out, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    size_t n = t ? strlen((const char *)t) : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(out, t, n);
    out[n] = '\0';
}

int store_col_dup(sqlite3_stmt *s, int col, char **ret)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    if (!t) {
        *ret = NULL;
        return 0;
    }
    *ret = strdup((const char *)t);
    return *ret ? 0 : -ENOMEM;
}

int store_exec_locked(struct store *st, const char *sql, struct al_err *err)
{
    char *msg = NULL;
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        int r = al_err_set(err, AL_ERR_INTERNAL, EIO, "sql: %s", msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return r;
    }
    return 0;
}

static int read_version(struct store *st, int *ret, struct al_err *err)
{
    cleanup_stmt sqlite3_stmt *s = NULL;
    int rc = store_prepare(st, "SELECT version FROM schema_version", &s, err);
    if (rc < 0)
        return rc;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *ret = sqlite3_column_int(s, 0);
        return 0;
    }
    if (rc == SQLITE_DONE) {
        *ret = 0;
        return 0;
    }
    return store_sql_err(st, rc, err, "schema version");
}

static int migrate(struct store *st, struct al_err *err)
{
    int rc = store_exec_locked(st,
                               "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER "
                               "NOT NULL)",
                               err);
    if (rc < 0)
        return rc;
    int v = 0;
    if ((rc = read_version(st, &v, err)) < 0)
        return rc;
    if (v > (int)AL_ARRAY_SIZE(migrations))
        return al_err_set(err, AL_ERR_INTERNAL, EPROTO,
                          "state.db schema version %d is newer than this airlockd (%zu)", v,
                          AL_ARRAY_SIZE(migrations));
    for (; v < (int)AL_ARRAY_SIZE(migrations); v++) {
        if ((rc = store_exec_locked(st, "BEGIN IMMEDIATE", err)) < 0)
            return rc;
        char setv[96];
        snprintf(setv, sizeof(setv),
                 "DELETE FROM schema_version; INSERT INTO schema_version "
                 "VALUES (%d)",
                 v + 1);
        if ((rc = store_exec_locked(st, migrations[v], err)) < 0 ||
            (rc = store_exec_locked(st, setv, err)) < 0) {
            struct al_err ignore;
            store_exec_locked(st, "ROLLBACK", &ignore);
            return al_err_wrap(err, "migration %d -> %d", v, v + 1);
        }
        if ((rc = store_exec_locked(st, "COMMIT", err)) < 0)
            return rc;
    }
    return 0;
}

int store_open(const char *path, struct store **ret, struct al_err *err)
{
    struct store *st = calloc(1, sizeof(*st));
    if (!st)
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    pthread_mutex_init(&st->mu, NULL);
    int rc = sqlite3_open_v2(
        path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rc = al_err_set(err, AL_ERR_INTERNAL, EIO, "open %s: %s", path,
                        st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
        store_free(st);
        return rc;
    }
    sqlite3_busy_timeout(st->db, 5000);
    sqlite3_extended_result_codes(st->db, 1);
    if ((rc = store_exec_locked(st,
                                "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; "
                                "PRAGMA synchronous=NORMAL;",
                                err)) < 0 ||
        (rc = migrate(st, err)) < 0) {
        al_err_wrap(err, "%s", path);
        store_free(st);
        return rc;
    }
    *ret = st;
    return 0;
}

void store_free(struct store *st)
{
    if (!st)
        return;
    if (st->db)
        sqlite3_close_v2(st->db);
    pthread_mutex_destroy(&st->mu);
    free(st);
}

int store_schema_version(struct store *st, int *ret, struct al_err *err)
{
    STORE_LOCK(st);
    return read_version(st, ret, err);
}

int store_grow(void **v, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 16;
    void *nv = realloc(*v, nc * elem);
    if (!nv)
        return -ENOMEM;
    memset((char *)nv + *cap * elem, 0, (nc - *cap) * elem);
    *v = nv;
    *cap = nc;
    return 0;
}
