/* Sandboxes: one row per sandbox; the uid slot is unique among rows that hold one and is
 * released only when the sandbox is fully deleted. */
#include <string.h>

#include "common/cleanup.h"
#include "store/store_int.h"

void store_sandbox_clear(struct store_sandbox *s)
{
    if (!s)
        return;
    free(s->image);
    free(s->resources);
    free(s->labels);
    free(s->env);
    s->image = s->resources = s->labels = s->env = NULL;
}

void store_sandbox_list_free(struct store_sandbox *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        store_sandbox_clear(&v[i]);
    free(v);
}

static int lowest_free_slot(struct store *st, int64_t *ret, struct al_err *err)
{
    cleanup_stmt sqlite3_stmt *s = NULL;
    int rc = store_prepare(st,
                           "SELECT uid_slot FROM sandboxes WHERE uid_slot IS NOT NULL ORDER BY "
                           "uid_slot",
                           &s, err);
    if (rc < 0)
        return rc;
    int64_t want = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t used = sqlite3_column_int64(s, 0);
        if (used > want)
            break;
        if (used == want)
            want++;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store_sql_err(st, rc, err, "uid slots");
    if (want >= STORE_UID_SLOTS_MAX)
        return al_err_set(err, AL_ERR_LIMIT, ENOSPC, "no free uid range for a new sandbox");
    *ret = want;
    return 0;
}

int store_sandbox_insert(struct store *st, const struct store_sandbox *sb, int64_t *ret_slot,
                         struct al_err *err)
{
    STORE_LOCK(st);
    int64_t slot = 0;
    int rc = lowest_free_slot(st, &slot, err);
    if (rc < 0)
        return rc;
    cleanup_stmt sqlite3_stmt *s = NULL;
    rc = store_prepare(st,
                       "INSERT INTO sandboxes(id, tenant, grp, state, reason, image, image_digest, "
                       "tier, resources, labels, uid_slot, created_at, updated_at, env, "
                       "expires_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                       &s, err);
    if (rc < 0)
        return rc;
    int64_t now = store_now();
    store_bind_text(s, 1, sb->id);
    store_bind_text(s, 2, sb->tenant);
    store_bind_text(s, 3, sb->group);
    store_bind_text(s, 4, sb->state);
    store_bind_text(s, 5, sb->reason);
    store_bind_text(s, 6, sb->image);
    store_bind_text(s, 7, sb->digest);
    store_bind_text(s, 8, sb->tier);
    store_bind_text(s, 9, sb->resources ? sb->resources : "{}");
    store_bind_text(s, 10, sb->labels ? sb->labels : "{}");
    sqlite3_bind_int64(s, 11, slot);
    sqlite3_bind_int64(s, 12, sb->created_at ? sb->created_at : now);
    sqlite3_bind_int64(s, 13, now);
    store_bind_text(s, 14, sb->env ? sb->env : "[]");
    sqlite3_bind_int64(s, 15, sb->expires_at);
    rc = sqlite3_step(s);
    if (rc != SQLITE_DONE)
        return store_sql_err(st, rc, err, "insert sandbox");
    *ret_slot = slot;
    return 0;
}

#define SB_COLS                                                                                    \
    "id, tenant, grp, state, reason, image, image_digest, tier, resources, labels, "               \
    "ifnull(uid_slot, -1), created_at, updated_at, env, expires_at"

static int row_to_sandbox(sqlite3_stmt *s, struct store_sandbox *sb)
{
    memset(sb, 0, sizeof(*sb));
    store_col_copy(s, 0, sb->id, sizeof(sb->id));
    store_col_copy(s, 1, sb->tenant, sizeof(sb->tenant));
    store_col_copy(s, 2, sb->group, sizeof(sb->group));
    store_col_copy(s, 3, sb->state, sizeof(sb->state));
    store_col_copy(s, 4, sb->reason, sizeof(sb->reason));
    store_col_copy(s, 6, sb->digest, sizeof(sb->digest));
    store_col_copy(s, 7, sb->tier, sizeof(sb->tier));
    sb->uid_slot = sqlite3_column_int64(s, 10);
    sb->created_at = sqlite3_column_int64(s, 11);
    sb->updated_at = sqlite3_column_int64(s, 12);
    sb->expires_at = sqlite3_column_int64(s, 14);
    if (store_col_dup(s, 5, &sb->image) < 0 || store_col_dup(s, 8, &sb->resources) < 0 ||
        store_col_dup(s, 9, &sb->labels) < 0 || store_col_dup(s, 13, &sb->env) < 0) {
        store_sandbox_clear(sb);
        return -ENOMEM;
    }
    return 0;
}

int store_sandbox_get(struct store *st, const char *tenant, const char *group, const char *id,
                      struct store_sandbox *ret, struct al_err *err)
{
    STORE_LOCK(st);
    cleanup_stmt sqlite3_stmt *s = NULL;
    int rc = store_prepare(st,
                           "SELECT " SB_COLS " FROM sandboxes WHERE id = ?1 "
                           "AND (?2 IS NULL OR tenant = ?2) AND (?3 IS NULL OR grp = ?3)",
                           &s, err);
    if (rc < 0)
        return rc;
    store_bind_text(s, 1, id);
    store_bind_text(s, 2, tenant);
    store_bind_text(s, 3, group);
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE)
        return al_err_set(err, AL_ERR_NOT_FOUND, ENOENT, "sandbox %.40s not found", id);
    if (rc != SQLITE_ROW)
        return store_sql_err(st, rc, err, "get sandbox");
    if (row_to_sandbox(s, ret) < 0)
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    return 0;
}

int store_sandbox_list(struct store *st, const char *tenant, const char *group, bool live_only,
                       struct store_sandbox **ret, size_t *ret_n, struct al_err *err)
{
    STORE_LOCK(st);
    cleanup_stmt sqlite3_stmt *s = NULL;
    int rc = store_prepare(st,
                           "SELECT " SB_COLS " FROM sandboxes WHERE (?1 IS NULL OR tenant = ?1) "
                           "AND (?2 IS NULL OR grp = ?2) AND (?3 = 0 OR state != 'deleted') "
                           "ORDER BY created_at, id",
                           &s, err);
    if (rc < 0)
        return rc;
    store_bind_text(s, 1, tenant);
    store_bind_text(s, 2, group);
    sqlite3_bind_int(s, 3, live_only ? 1 : 0);
    struct store_sandbox *v = NULL;
    size_t n = 0, cap = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (store_grow((void **)&v, &cap, n, sizeof(*v)) < 0 || row_to_sandbox(s, &v[n]) < 0) {
            store_sandbox_list_free(v, n);
            return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
        }
        n++;
    }
    if (rc != SQLITE_DONE) {
        store_sandbox_list_free(v, n);
        return store_sql_err(st, rc, err, "list sandboxes");
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

static int update_one(struct store *st, sqlite3_stmt *s, const char *id, struct al_err *err)
{
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE)
        return store_sql_err(st, rc, err, "update sandbox");
    if (sqlite3_changes(st->db) == 0)
        return al_err_set(err, AL_ERR_NOT_FOUND, ENOENT, "sandbox %.40s not found", id);
    return 0;
}

int store_sandbox_set_state(struct store *st, const char *id, const char *state, const char *reason,
                            struct al_err *err)
{
    STORE_LOCK(st);
    cleanup_stmt sqlite3_stmt *s = NULL;
    int rc = store_prepare(st,
                           "UPDATE sandboxes SET state = ?1, reason = ?2, updated_at = ?3, "
                           "uid_slot = CASE WHEN ?1 = 'deleted' THEN NULL ELSE uid_slot END "
                           "WHERE id = ?4",
                           &s, err);
    if (rc < 0)
        return rc;
    store_bind_text(s, 1, state);
    store_bind_text(s, 2, reason ? reason : "");
    sqlite3_bind_int64(s, 3, store_now());
    store_bind_text(s, 4, id);
    return update_one(st, s, id, err);
}

int store_sandbox_set_digest(struct store *st, const char *id, const char *digest,
                             struct al_err *err)
{
    STORE_LOCK(st);
    cleanup_stmt sqlite3_stmt *s = NULL;
    int rc = store_prepare(st, "UPDATE sandboxes SET image_digest = ? WHERE id = ?", &s, err);
    if (rc < 0)
        return rc;
    store_bind_text(s, 1, digest);
    store_bind_text(s, 2, id);
    return update_one(st, s, id, err);
}

int store_sandbox_remove(struct store *st, const char *id, struct al_err *err)
{
    STORE_LOCK(st);
    cleanup_stmt sqlite3_stmt *s = NULL;
    int rc = store_prepare(st, "DELETE FROM sandboxes WHERE id = ?", &s, err);
    if (rc < 0)
        return rc;
    store_bind_text(s, 1, id);
    return update_one(st, s, id, err);
}

int store_sandbox_count_digest(struct store *st, const char *digest, int64_t *ret,
                               struct al_err *err)
{
    STORE_LOCK(st);
    cleanup_stmt sqlite3_stmt *s = NULL;
    int rc = store_prepare(st,
                           "SELECT count(*) FROM sandboxes WHERE image_digest = ? AND state NOT IN "
                           "('deleted', 'failed')",
                           &s, err);
    if (rc < 0)
        return rc;
    store_bind_text(s, 1, digest);
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW)
        return store_sql_err(st, rc, err, "count sandboxes");
    *ret = sqlite3_column_int64(s, 0);
    return 0;
}
