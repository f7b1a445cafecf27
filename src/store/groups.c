/* Sandbox groups: (tenant, name) -> settings JSON. */
#include <string.h>

#include "common/cleanup.h"
#include "store/store_int.h"

void store_group_clear(struct store_group *g)
{
    if (g) {
        free(g->settings);
        g->settings = NULL;
    }
}

void store_group_list_free(struct store_group *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        store_group_clear(&v[i]);
    free(v);
}

int store_group_put(struct store *st, const char *tenant, const char *name, const char *settings,
                    bool *ret_created, struct al_err *err)
{
    STORE_LOCK(st);
    int64_t now = store_now();
    cleanup_stmt sqlite3_stmt *u = NULL;
    int rc = store_prepare(st,
                           "UPDATE groups SET settings = ?, updated_at = ? WHERE tenant = ? AND "
                           "name = ?",
                           &u, err);
    if (rc < 0)
        return rc;
    store_bind_text(u, 1, settings);
    sqlite3_bind_int64(u, 2, now);
    store_bind_text(u, 3, tenant);
    store_bind_text(u, 4, name);
    rc = sqlite3_step(u);
    if (rc != SQLITE_DONE)
        return store_sql_err(st, rc, err, "update group");
    if (sqlite3_changes(st->db) > 0) {
        *ret_created = false;
        return 0;
    }
    cleanup_stmt sqlite3_stmt *s = NULL;
    rc = store_prepare(st,
                       "INSERT INTO groups(tenant, name, settings, created_at, updated_at) "
                       "VALUES (?, ?, ?, ?, ?)",
                       &s, err);
    if (rc < 0)
        return rc;
    store_bind_text(s, 1, tenant);
    store_bind_text(s, 2, name);
    store_bind_text(s, 3, settings);
    sqlite3_bind_int64(s, 4, now);
    sqlite3_bind_int64(s, 5, now);
    rc = sqlite3_step(s);
    if (rc != SQLITE_DONE)
        return store_sql_err(st, rc, err, "insert group");
    *ret_created = true;
    return 0;
}

static int row_to_group(sqlite3_stmt *s, struct store_group *g)
{
    memset(g, 0, sizeof(*g));
    store_col_copy(s, 0, g->tenant, sizeof(g->tenant));
    store_col_copy(s, 1, g->name, sizeof(g->name));
    g->created_at = sqlite3_column_int64(s, 3);
    g->updated_at = sqlite3_column_int64(s, 4);
    return store_col_dup(s, 2, &g->settings);
}

#define GROUP_COLS "tenant, name, settings, created_at, updated_at"

int store_group_get(struct store *st, const char *tenant, const char *name, struct store_group *ret,
                    struct al_err *err)
{
    STORE_LOCK(st);
    cleanup_stmt sqlite3_stmt *s = NULL;
    int rc = store_prepare(st, "SELECT " GROUP_COLS " FROM groups WHERE tenant = ? AND name = ?",
                           &s, err);
    if (rc < 0)
        return rc;
    store_bind_text(s, 1, tenant);
    store_bind_text(s, 2, name);
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE)
        return al_err_set(err, AL_ERR_NOT_FOUND, ENOENT, "sandbox group '%s' not found", name);
    if (rc != SQLITE_ROW)
        return store_sql_err(st, rc, err, "get group");
    if (row_to_group(s, ret) < 0)
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    return 0;
}

int store_group_list(struct store *st, const char *tenant, struct store_group **ret, size_t *ret_n,
                     struct al_err *err)
{
    STORE_LOCK(st);
    cleanup_stmt sqlite3_stmt *s = NULL;
    int rc = store_prepare(st, "SELECT " GROUP_COLS " FROM groups WHERE tenant = ? ORDER BY name",
                           &s, err);
    if (rc < 0)
        return rc;
    store_bind_text(s, 1, tenant);
    struct store_group *v = NULL;
    size_t n = 0, cap = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (store_grow((void **)&v, &cap, n, sizeof(*v)) < 0 || row_to_group(s, &v[n++]) < 0) {
            store_group_list_free(v, n);
            return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
        }
    }
    if (rc != SQLITE_DONE) {
        store_group_list_free(v, n);
        return store_sql_err(st, rc, err, "list groups");
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

int store_group_delete(struct store *st, const char *tenant, const char *name, struct al_err *err)
{
    STORE_LOCK(st);
    cleanup_stmt sqlite3_stmt *s = NULL;
    int rc = store_prepare(st, "DELETE FROM groups WHERE tenant = ? AND name = ?", &s, err);
    if (rc < 0)
        return rc;
    store_bind_text(s, 1, tenant);
    store_bind_text(s, 2, name);
    rc = sqlite3_step(s);
    if (rc != SQLITE_DONE)
        return store_sql_err(st, rc, err, "delete group");
    if (sqlite3_changes(st->db) == 0)
        return al_err_set(err, AL_ERR_NOT_FOUND, ENOENT, "sandbox group '%s' not found", name);
    return 0;
}
