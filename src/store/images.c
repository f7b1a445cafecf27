/* Image names: which tenant calls which manifest digest what.  Built-in images have a NULL
 * tenant and are visible to every tenant; a tenant's own name shadows a built-in one. */
#include <string.h>

#include "common/cleanup.h"
#include "store/store_int.h"

void store_image_clear(struct store_image *im)
{
    if (!im)
        return;
    free(im->name);
    free(im->config);
    im->name = im->config = NULL;
}

void store_image_list_free(struct store_image *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        store_image_clear(&v[i]);
    free(v);
}

int store_image_put(struct store *st, const char *tenant, const char *name, const char *digest,
                    uint64_t size, const char *config, struct al_err *err)
{
    STORE_LOCK(st);
    cleanup_stmt sqlite3_stmt *d = NULL;
    int rc =
        store_prepare(st, "DELETE FROM images WHERE ifnull(tenant, '') = ? AND name = ?", &d, err);
    if (rc < 0)
        return rc;
    store_bind_text(d, 1, tenant ? tenant : "");
    store_bind_text(d, 2, name);
    rc = sqlite3_step(d);
    if (rc != SQLITE_DONE)
        return store_sql_err(st, rc, err, "replace image");
    cleanup_stmt sqlite3_stmt *s = NULL;
    rc = store_prepare(st,
                       "INSERT INTO images(tenant, name, digest, size, config, created_at) "
                       "VALUES (?, ?, ?, ?, ?, ?)",
                       &s, err);
    if (rc < 0)
        return rc;
    store_bind_text(s, 1, tenant);
    store_bind_text(s, 2, name);
    store_bind_text(s, 3, digest);
    sqlite3_bind_int64(s, 4, (sqlite3_int64)size);
    store_bind_text(s, 5, config ? config : "{}");
    sqlite3_bind_int64(s, 6, store_now());
    rc = sqlite3_step(s);
    if (rc != SQLITE_DONE)
        return store_sql_err(st, rc, err, "insert image");
    return 0;
}

#define IMG_COLS "ifnull(tenant, ''), name, digest, size, config, created_at"

static int row_to_image(sqlite3_stmt *s, struct store_image *im)
{
    memset(im, 0, sizeof(*im));
    store_col_copy(s, 0, im->tenant, sizeof(im->tenant));
    store_col_copy(s, 2, im->digest, sizeof(im->digest));
    im->size = (uint64_t)sqlite3_column_int64(s, 3);
    im->created_at = sqlite3_column_int64(s, 5);
    if (store_col_dup(s, 1, &im->name) < 0 || store_col_dup(s, 4, &im->config) < 0) {
        store_image_clear(im);
        return -ENOMEM;
    }
    return 0;
}

int store_image_get(struct store *st, const char *tenant, const char *name, struct store_image *ret,
                    struct al_err *err)
{
    STORE_LOCK(st);
    cleanup_stmt sqlite3_stmt *s = NULL;
    int rc = store_prepare(st,
                           "SELECT " IMG_COLS " FROM images WHERE name = ?1 AND (tenant = ?2 OR "
                           "tenant IS NULL) ORDER BY tenant IS NULL LIMIT 1",
                           &s, err);
    if (rc < 0)
        return rc;
    store_bind_text(s, 1, name);
    store_bind_text(s, 2, tenant);
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE)
        return al_err_set(err, AL_ERR_NOT_FOUND, ENOENT, "image '%.200s' not found", name);
    if (rc != SQLITE_ROW)
        return store_sql_err(st, rc, err, "get image");
    if (row_to_image(s, ret) < 0)
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    return 0;
}

int store_image_list(struct store *st, const char *tenant, struct store_image **ret, size_t *ret_n,
                     struct al_err *err)
{
    STORE_LOCK(st);
    cleanup_stmt sqlite3_stmt *s = NULL;
    int rc = store_prepare(st,
                           "SELECT " IMG_COLS " FROM images WHERE tenant = ?1 OR tenant IS NULL "
                           "ORDER BY tenant IS NULL, name",
                           &s, err);
    if (rc < 0)
        return rc;
    store_bind_text(s, 1, tenant);
    struct store_image *v = NULL;
    size_t n = 0, cap = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (store_grow((void **)&v, &cap, n, sizeof(*v)) < 0 || row_to_image(s, &v[n]) < 0) {
            store_image_list_free(v, n);
            return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
        }
        n++;
    }
    if (rc != SQLITE_DONE) {
        store_image_list_free(v, n);
        return store_sql_err(st, rc, err, "list images");
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

int store_image_delete(struct store *st, const char *tenant, const char *name, struct al_err *err)
{
    STORE_LOCK(st);
    cleanup_stmt sqlite3_stmt *s = NULL;
    int rc =
        store_prepare(st, "DELETE FROM images WHERE ifnull(tenant, '') = ? AND name = ?", &s, err);
    if (rc < 0)
        return rc;
    store_bind_text(s, 1, tenant ? tenant : "");
    store_bind_text(s, 2, name);
    rc = sqlite3_step(s);
    if (rc != SQLITE_DONE)
        return store_sql_err(st, rc, err, "delete image");
    if (sqlite3_changes(st->db) == 0)
        return al_err_set(err, AL_ERR_NOT_FOUND, ENOENT, "image '%.200s' not found", name);
    return 0;
}

int store_image_digests(struct store *st, char ***ret, struct al_err *err)
{
    STORE_LOCK(st);
    cleanup_stmt sqlite3_stmt *s = NULL;
    int rc = store_prepare(st,
                           "SELECT DISTINCT digest FROM images UNION SELECT DISTINCT image_digest "
                           "FROM sandboxes WHERE image_digest != '' AND state != 'deleted'",
                           &s, err);
    if (rc < 0)
        return rc;
    cleanup_strv char **v = calloc(1, sizeof(char *));
    size_t n = 0, cap = 1;
    if (!v)
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n + 1 >= cap) {
            char **nv = realloc(v, cap * 2 * sizeof(char *));
            if (!nv)
                return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
            v = nv;
            cap *= 2;
        }
        if (store_col_dup(s, 0, &v[n]) < 0)
            return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
        v[++n] = NULL;
    }
    if (rc != SQLITE_DONE)
        return store_sql_err(st, rc, err, "image digests");
    *ret = TAKE_PTR(v);
    return 0;
}
