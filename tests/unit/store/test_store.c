#include "../common/harness.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/ids.h"
#include "store/store.h"

struct fx {
    char dir[64];
    char path[128];
    struct store *st;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/al-store-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/state.db", f->dir);
    struct al_err err;
    if (store_open(f->path, &f->st, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    store_free(f->st);
    al_rm_rf(f->dir);
    free(f);
    return 0;
}

static void test_migrations(void **state)
{
    struct fx *f = *state;
    struct al_err err;
    int v = -1;
    assert_int_equal(store_schema_version(f->st, &v, &err), 0);
    assert_int_equal(v, STORE_SCHEMA_VERSION);
    /* reopening an up-to-date database is a no-op that keeps the data */
    assert_int_equal(store_tenant_ensure(f->st, "acme", &err), 0);
    store_free(f->st);
    assert_int_equal(store_open(f->path, &f->st, &err), 0);
    assert_int_equal(store_schema_version(f->st, &v, &err), 0);
    assert_int_equal(v, STORE_SCHEMA_VERSION);
    bool created;
    assert_int_equal(store_group_put(f->st, "acme", "g", "{}", &created, &err), 0);
    assert_true(created);
    store_free(f->st);
    f->st = NULL;

    /* a database from a newer airlockd is refused, not downgraded */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE schema_version SET version = 99", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_true(store_open(f->path, &f->st, &err) < 0);
    assert_non_null(strstr(err.msg, "newer"));
    f->st = NULL;

    /* a fresh database file is created at the current version with every table */
    char p2[160];
    snprintf(p2, sizeof(p2), "%s/other.db", f->dir);
    assert_int_equal(store_open(p2, &f->st, &err), 0);
    assert_int_equal(sqlite3_open(p2, &db), SQLITE_OK);
    static const char *const tables[] = {"tenants", "api_keys", "groups", "sandboxes", "images"};
    for (size_t i = 0; i < 5; i++) {
        char sql[128];
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", tables[i]);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    }
    sqlite3_close(db);
    store_free(f->st);
    f->st = NULL;

    /* a version-1 database (no env / expires_at on sandboxes) is migrated, its rows kept */
    assert_int_equal(sqlite3_open(p2, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "ALTER TABLE sandboxes DROP COLUMN env; ALTER TABLE sandboxes DROP COLUMN "
                     "expires_at; INSERT INTO tenants VALUES ('t', 0); INSERT INTO groups VALUES "
                     "('t', 'g', '{}', 0, 0); INSERT INTO sandboxes(id, tenant, grp, state, image, "
                     "tier, resources, labels, uid_slot, created_at, updated_at) VALUES "
                     "('00000000000000000000000000000009', 't', 'g', 'running', 'busybox', 'M', "
                     "'{}', '{}', 0, 0, 0); UPDATE schema_version SET version = 1",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(store_open(p2, &f->st, &err), 0);
    assert_int_equal(store_schema_version(f->st, &v, &err), 0);
    assert_int_equal(v, 2);
    struct store_sandbox old;
    assert_int_equal(
        store_sandbox_get(f->st, "t", "g", "00000000000000000000000000000009", &old, &err), 0);
    assert_string_equal(old.env, "[]");
    assert_int_equal(old.expires_at, 0);
    store_sandbox_clear(&old);
}

static void test_keys(void **state)
{
    struct fx *f = *state;
    struct al_err err;
    struct store_key k, got;
    char secret[STORE_KEY_LEN + 1];
    assert_int_equal(store_key_create(f->st, "acme", false, &k, secret, &err), 0);
    assert_int_equal(strlen(secret), STORE_KEY_LEN);
    assert_memory_equal(secret, "alk_", 4);
    assert_int_equal(strncmp(k.prefix, secret, STORE_KEY_DISPLAY), 0);
    assert_int_equal(store_key_lookup(f->st, secret, &got, &err), 0);
    assert_string_equal(got.id, k.id);
    assert_string_equal(got.tenant, "acme");
    assert_false(got.admin);

    /* one changed character, a truncated key, garbage: all unauthorised */
    char bad[STORE_KEY_LEN + 1];
    memcpy(bad, secret, sizeof(bad));
    bad[20] = bad[20] == 'a' ? 'b' : 'a';
    assert_int_equal(store_key_lookup(f->st, bad, &got, &err), -ENOENT);
    assert_int_equal(err.kind, AL_ERR_UNAUTH);
    bad[STORE_KEY_LEN - 1] = '\0';
    assert_int_equal(store_key_lookup(f->st, bad, &got, &err), -ENOENT);
    assert_int_equal(store_key_lookup(f->st, "", &got, &err), -ENOENT);

    /* the secret itself is not stored (neither in the database nor in its WAL), the hash is */
    char wal[160], hash[AL_DIGEST_LEN];
    snprintf(wal, sizeof(wal), "%s-wal", f->path);
    assert_int_equal(al_sha256_digest(secret, strlen(secret), hash), 0);
    bool hash_seen = false;
    for (const char *p = f->path; p; p = p == f->path ? wal : NULL) {
        char *db = NULL;
        size_t len = 0;
        if (al_read_file_at(AT_FDCWD, p, 64 << 20, &db, &len) < 0)
            continue;
        assert_null(memmem(db, len, secret + 4, 32));
        hash_seen = hash_seen || memmem(db, len, hash + 7, 64);
        free(db);
    }
    assert_true(hash_seen);

    struct store_key a;
    assert_int_equal(store_key_insert(f->st, "admin", true,
                                      "alk_0123456789abcdef0123456789abcdef"
                                      "0123456789abcdef0123456789abcdef",
                                      &a, &err),
                     0);
    assert_int_equal(store_key_lookup(f->st,
                                      "alk_0123456789abcdef0123456789abcdef0123456789abcdef"
                                      "0123456789abcdef",
                                      &got, &err),
                     0);
    assert_true(got.admin);

    struct store_key *list = NULL;
    size_t n = 0;
    assert_int_equal(store_key_list(f->st, &list, &n, &err), 0);
    assert_int_equal(n, 2);
    free(list);

    assert_int_equal(store_key_revoke(f->st, k.id, &err), 0);
    assert_int_equal(store_key_lookup(f->st, secret, &got, &err), -ENOENT);
    assert_int_equal(err.kind, AL_ERR_UNAUTH);
    assert_int_equal(store_key_revoke(f->st, k.id, &err), -ENOENT);
    assert_int_equal(err.kind, AL_ERR_NOT_FOUND);
    assert_int_equal(store_key_list(f->st, &list, &n, &err), 0);
    assert_int_equal(n, 1);
    free(list);
}

static void test_groups_scoped(void **state)
{
    struct fx *f = *state;
    struct al_err err;
    bool created;
    assert_int_equal(store_tenant_ensure(f->st, "a", &err), 0);
    assert_int_equal(store_tenant_ensure(f->st, "b", &err), 0);
    assert_int_equal(store_group_put(f->st, "a", "g1", "{\"v\":1}", &created, &err), 0);
    assert_true(created);
    assert_int_equal(store_group_put(f->st, "a", "g1", "{\"v\":2}", &created, &err), 0);
    assert_false(created);
    assert_int_equal(store_group_put(f->st, "b", "g1", "{\"v\":3}", &created, &err), 0);
    assert_true(created);
    struct store_group g;
    assert_int_equal(store_group_get(f->st, "a", "g1", &g, &err), 0);
    assert_string_equal(g.settings, "{\"v\":2}");
    store_group_clear(&g);
    assert_int_equal(store_group_get(f->st, "b", "g1", &g, &err), 0);
    assert_string_equal(g.settings, "{\"v\":3}");
    store_group_clear(&g);
    assert_int_equal(store_group_get(f->st, "a", "nope", &g, &err), -ENOENT);
    assert_int_equal(err.kind, AL_ERR_NOT_FOUND);
    struct store_group *v;
    size_t n;
    assert_int_equal(store_group_list(f->st, "a", &v, &n, &err), 0);
    assert_int_equal(n, 1);
    store_group_list_free(v, n);
    assert_int_equal(store_group_delete(f->st, "b", "g1", &err), 0);
    assert_int_equal(store_group_delete(f->st, "b", "g1", &err), -ENOENT);
    assert_int_equal(store_group_get(f->st, "a", "g1", &g, &err), 0);
    store_group_clear(&g);
    /* a group of an unknown tenant violates the foreign key */
    assert_true(store_group_put(f->st, "ghost", "g", "{}", &created, &err) < 0);
}

static struct store_sandbox mk(const char *id, const char *tenant, const char *group)
{
    struct store_sandbox s = {0};
    snprintf(s.id, sizeof(s.id), "%s", id);
    snprintf(s.tenant, sizeof(s.tenant), "%s", tenant);
    snprintf(s.group, sizeof(s.group), "%s", group);
    snprintf(s.state, sizeof(s.state), "creating");
    snprintf(s.tier, sizeof(s.tier), "M");
    s.image = (char *)"busybox";
    return s;
}

static void test_sandboxes(void **state)
{
    struct fx *f = *state;
    struct al_err err;
    bool created;
    assert_int_equal(store_tenant_ensure(f->st, "a", &err), 0);
    assert_int_equal(store_tenant_ensure(f->st, "b", &err), 0);
    assert_int_equal(store_group_put(f->st, "a", "g", "{}", &created, &err), 0);
    assert_int_equal(store_group_put(f->st, "b", "g", "{}", &created, &err), 0);
    int64_t slot;
    struct store_sandbox s1 = mk("00000000000000000000000000000001", "a", "g");
    struct store_sandbox s2 = mk("00000000000000000000000000000002", "a", "g");
    struct store_sandbox s3 = mk("00000000000000000000000000000003", "b", "g");
    assert_int_equal(store_sandbox_insert(f->st, &s1, &slot, &err), 0);
    assert_int_equal(slot, 0);
    assert_int_equal(store_sandbox_insert(f->st, &s2, &slot, &err), 0);
    assert_int_equal(slot, 1);
    assert_int_equal(store_sandbox_insert(f->st, &s3, &slot, &err), 0);
    assert_int_equal(slot, 2);
    /* a duplicate id is a conflict */
    assert_true(store_sandbox_insert(f->st, &s1, &slot, &err) < 0);
    assert_int_equal(err.kind, AL_ERR_CONFLICT);

    struct store_sandbox got;
    assert_int_equal(store_sandbox_get(f->st, "a", "g", s1.id, &got, &err), 0);
    assert_string_equal(got.state, "creating");
    assert_string_equal(got.image, "busybox");
    assert_int_equal(got.uid_slot, 0);
    assert_string_equal(got.env, "[]"); /* none given */
    assert_int_equal(got.expires_at, 0);
    store_sandbox_clear(&got);
    /* the record a restarted daemon re-adopts from: env and expiry */
    struct store_sandbox s9 = mk("00000000000000000000000000000009", "a", "g");
    s9.env = (char *)"[\"A=1\"]";
    s9.expires_at = 1234567890;
    assert_int_equal(store_sandbox_insert(f->st, &s9, &slot, &err), 0);
    assert_int_equal(store_sandbox_get(f->st, "a", "g", s9.id, &got, &err), 0);
    assert_string_equal(got.env, "[\"A=1\"]");
    assert_int_equal(got.expires_at, 1234567890);
    store_sandbox_clear(&got);
    assert_int_equal(store_sandbox_remove(f->st, s9.id, &err), 0);
    /* another tenant's sandbox is not found */
    assert_int_equal(store_sandbox_get(f->st, "b", "g", s1.id, &got, &err), -ENOENT);
    assert_int_equal(store_sandbox_get(f->st, "a", "other", s1.id, &got, &err), -ENOENT);

    /* failed keeps its slot; deleted releases it, and the lowest free slot is reused */
    assert_int_equal(store_sandbox_set_state(f->st, s1.id, "failed", "host_restart", &err), 0);
    struct store_sandbox s4 = mk("00000000000000000000000000000004", "a", "g");
    assert_int_equal(store_sandbox_insert(f->st, &s4, &slot, &err), 0);
    assert_int_equal(slot, 3);
    assert_int_equal(store_sandbox_set_state(f->st, s1.id, "deleted", "deleted", &err), 0);
    assert_int_equal(store_sandbox_get(f->st, NULL, NULL, s1.id, &got, &err), 0);
    assert_int_equal(got.uid_slot, -1);
    assert_string_equal(got.reason, "deleted");
    store_sandbox_clear(&got);
    struct store_sandbox s5 = mk("00000000000000000000000000000005", "a", "g");
    assert_int_equal(store_sandbox_insert(f->st, &s5, &slot, &err), 0);
    assert_int_equal(slot, 0);

    struct store_sandbox *v;
    size_t n;
    assert_int_equal(store_sandbox_list(f->st, "a", "g", true, &v, &n, &err), 0);
    assert_int_equal(n, 3);
    store_sandbox_list_free(v, n);
    assert_int_equal(store_sandbox_list(f->st, "a", "g", false, &v, &n, &err), 0);
    assert_int_equal(n, 4);
    store_sandbox_list_free(v, n);
    assert_int_equal(store_sandbox_list(f->st, NULL, NULL, true, &v, &n, &err), 0);
    assert_int_equal(n, 4);
    store_sandbox_list_free(v, n);

    assert_int_equal(store_sandbox_set_digest(f->st, s2.id, "sha256:ab", &err), 0);
    int64_t c;
    assert_int_equal(store_sandbox_count_digest(f->st, "sha256:ab", &c, &err), 0);
    assert_int_equal(c, 1);

    /* deleting a group cascades to its sandboxes */
    assert_int_equal(store_group_delete(f->st, "a", "g", &err), 0);
    assert_int_equal(store_sandbox_list(f->st, "a", NULL, false, &v, &n, &err), 0);
    assert_int_equal(n, 0);
    store_sandbox_list_free(v, n);
    assert_int_equal(store_sandbox_remove(f->st, s3.id, &err), 0);
    assert_int_equal(store_sandbox_remove(f->st, s3.id, &err), -ENOENT);
}

static void test_images(void **state)
{
    struct fx *f = *state;
    struct al_err err;
    assert_int_equal(store_tenant_ensure(f->st, "a", &err), 0);
    assert_int_equal(store_tenant_ensure(f->st, "b", &err), 0);
    assert_int_equal(store_image_put(f->st, NULL, "busybox", "sha256:1", 10, "{}", &err), 0);
    assert_int_equal(store_image_put(f->st, NULL, "busybox", "sha256:2", 11, "{}", &err), 0);
    assert_int_equal(store_image_put(f->st, "a", "mine", "sha256:3", 12, "{}", &err), 0);
    struct store_image im;
    assert_int_equal(store_image_get(f->st, "b", "busybox", &im, &err), 0);
    assert_string_equal(im.digest, "sha256:2");
    assert_string_equal(im.tenant, "");
    store_image_clear(&im);
    assert_int_equal(store_image_get(f->st, "b", "mine", &im, &err), -ENOENT);
    assert_int_equal(store_image_get(f->st, "a", "mine", &im, &err), 0);
    store_image_clear(&im);
    /* a tenant's own name shadows the built-in */
    assert_int_equal(store_image_put(f->st, "a", "busybox", "sha256:4", 1, "{}", &err), 0);
    assert_int_equal(store_image_get(f->st, "a", "busybox", &im, &err), 0);
    assert_string_equal(im.digest, "sha256:4");
    store_image_clear(&im);
    struct store_image *v;
    size_t n;
    assert_int_equal(store_image_list(f->st, "a", &v, &n, &err), 0);
    assert_int_equal(n, 3);
    store_image_list_free(v, n);
    assert_int_equal(store_image_list(f->st, "b", &v, &n, &err), 0);
    assert_int_equal(n, 1);
    store_image_list_free(v, n);
    assert_int_equal(store_image_delete(f->st, "b", "mine", &err), -ENOENT);
    assert_int_equal(store_image_delete(f->st, "a", "mine", &err), 0);
    char **d;
    assert_int_equal(store_image_digests(f->st, &d, &err), 0);
    size_t nd = 0;
    while (d[nd])
        nd++;
    assert_int_equal(nd, 2);
    al_strv_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_groups_scoped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sandboxes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_images, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
