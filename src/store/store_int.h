/* store-internal: the connection, its lock and statement helpers. */
#pragma once

#include <pthread.h>
#include <sqlite3.h>

#include "store/store.h"

struct store {
    sqlite3 *db;
    pthread_mutex_t mu;
};

static inline void store_finalizep(sqlite3_stmt **s)
{
    if (*s)
        sqlite3_finalize(*s);
}
#define cleanup_stmt __attribute__((cleanup(store_finalizep)))

static inline void store_unlockp(struct store **st)
{
    if (*st)
        pthread_mutex_unlock(&(*st)->mu);
}
/* Lock for the rest of the scope. */
#define STORE_LOCK(st)                                                                             \
    __attribute__((cleanup(store_unlockp))) struct store *_store_locked = (st);                    \
    pthread_mutex_lock(&_store_locked->mu)

/* Map an SQLite result code to -errno + al_err. */
int store_sql_err(struct store *st, int rc, struct al_err *err, const char *what);
int store_prepare(struct store *st, const char *sql, sqlite3_stmt **ret, struct al_err *err);
/* Bind text, or NULL for a NULL pointer. */
int store_bind_text(sqlite3_stmt *s, int idx, const char *v);
/* Copy a text column into a fixed buffer ("" for NULL). */
void store_col_copy(sqlite3_stmt *s, int col, char *out, size_t cap);
/* strdup of a text column (NULL for NULL); returns -ENOMEM on failure. */
int store_col_dup(sqlite3_stmt *s, int col, char **ret);
int store_exec_locked(struct store *st, const char *sql, struct al_err *err);
int64_t store_now(void);
/* Make room for one more element in *v (of elem bytes); 0 or -ENOMEM. */
int store_grow(void **v, size_t *cap, size_t n, size_t elem);
