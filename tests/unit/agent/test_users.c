#include "../common/harness.h"

#include <stdlib.h>
#include <string.h>

#include "agent/users.h"
#include "common/cleanup.h"

static const char *passwd = "root:x:0:0:root:/root:/bin/sh\n"
                            "# a comment\n"
                            "\n"
                            "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
                            "broken line without colons\n"
                            "short:x:5\n"
                            "toomany:x:6:6:g:/h:/s:extra\n"
                            "baduid:x:12a:1::/home/b:/bin/sh\n"
                            "neg:x:-1:1::/home/n:/bin/sh\n"
                            "huge:x:4294967295:1::/home/h:/bin/sh\n"
                            "+nis:x:7:7::/:/bin/sh\n"
                            "relhome:x:900:900::relative:/bin/sh\n"
                            "alice:x:1000:1000:Alice:/home/alice:/bin/bash\n"
                            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
                            "last:x:2000:2001::/home/last:/bin/sh"; /* no final newline */

static const char *group = "root:x:0:\n"
                           "wheel:x:10:alice,bob\n"
                           "users:x:100:bob,alice\n"
                           "broken\n"
                           "badgid:x:zz:alice\n"
                           "docker:x:999:bob\n"
                           "alice:x:1000:\n"
                           "staff:x:50:\n";

static void test_spec_split(void **state)
{
    char u[64], g[64];
    assert_int_equal(agent_user_spec_split("1000:1000", u, sizeof(u), g, sizeof(g)), 0);
    assert_string_equal(u, "1000");
    assert_string_equal(g, "1000");
    assert_int_equal(agent_user_spec_split("nobody", u, sizeof(u), g, sizeof(g)), 0);
    assert_string_equal(u, "nobody");
    assert_string_equal(g, "");
    assert_int_equal(agent_user_spec_split("", u, sizeof(u), g, sizeof(g)), -EINVAL);
    assert_int_equal(agent_user_spec_split(":1", u, sizeof(u), g, sizeof(g)), -EINVAL);
    assert_int_equal(agent_user_spec_split("a:", u, sizeof(u), g, sizeof(g)), -EINVAL);
    assert_int_equal(agent_user_spec_split("a:b:c", u, sizeof(u), g, sizeof(g)), -EINVAL);
    char small[4];
    assert_int_equal(agent_user_spec_split("abcdef", small, sizeof(small), g, sizeof(g)), -EINVAL);
}

static void test_parse_id(void **state)
{
    uint32_t v;
    assert_int_equal(agent_parse_id("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(agent_parse_id("65534", &v), 0);
    assert_int_equal(v, 65534);
    assert_int_equal(agent_parse_id("4294967294", &v), 0);
    assert_int_equal(agent_parse_id("4294967295", &v), -ERANGE); /* (uid_t)-1 */
    assert_int_equal(agent_parse_id("99999999999", &v), -EINVAL);
    assert_int_equal(agent_parse_id("-1", &v), -EINVAL);
    assert_int_equal(agent_parse_id("+1", &v), -EINVAL);
    assert_int_equal(agent_parse_id(" 1", &v), -EINVAL);
    assert_int_equal(agent_parse_id("", &v), -EINVAL);
    assert_int_equal(agent_parse_id("1x", &v), -EINVAL);
}

static void test_passwd_find(void **state)
{
    struct agent_pwent e;
    assert_int_equal(agent_passwd_find(passwd, "alice", 0, &e), 0);
    assert_int_equal(e.uid, 1000);
    assert_int_equal(e.gid, 1000);
    assert_string_equal(e.home, "/home/alice");
    assert_int_equal(agent_passwd_find(passwd, NULL, 65534, &e), 0);
    assert_string_equal(e.name, "nobody");
    assert_int_equal(agent_passwd_find(passwd, "last", 0, &e), 0);
    assert_string_equal(e.home, "/home/last");
    assert_int_equal(e.gid, 2001);
    /* a relative home becomes "/" */
    assert_int_equal(agent_passwd_find(passwd, "relhome", 0, &e), 0);
    assert_string_equal(e.home, "/");
    /* malformed lines are skipped, never matched */
    assert_int_equal(agent_passwd_find(passwd, "broken line without colons", 0, &e), -ENOENT);
    assert_int_equal(agent_passwd_find(passwd, "short", 0, &e), -ENOENT);
    assert_int_equal(agent_passwd_find(passwd, "toomany", 0, &e), -ENOENT);
    assert_int_equal(agent_passwd_find(passwd, "baduid", 0, &e), -ENOENT);
    assert_int_equal(agent_passwd_find(passwd, "neg", 0, &e), -ENOENT);
    assert_int_equal(agent_passwd_find(passwd, "huge", 0, &e), -ENOENT);
    assert_int_equal(agent_passwd_find(passwd, "+nis", 0, &e), -ENOENT);
    assert_int_equal(agent_passwd_find(passwd, NULL, 7, &e), -ENOENT);
    assert_int_equal(agent_passwd_find(passwd, NULL, 12, &e), -ENOENT);
    assert_int_equal(agent_passwd_find(NULL, "root", 0, &e), -ENOENT);
    assert_int_equal(agent_passwd_find("", "root", 0, &e), -ENOENT);
}

static void test_overlong_line(void **state)
{
    size_t n = 10000;
    cleanup_free char *db = malloc(n + 64);
    memset(db, 'a', n);
    static const char tail[] = ":x:1:1::/h:/s\nbob:x:3:3::/b:/s\n";
    memcpy(db + n, tail, sizeof(tail));
    struct agent_pwent e;
    assert_int_equal(agent_passwd_find(db, NULL, 1, &e), -ENOENT);
    assert_int_equal(agent_passwd_find(db, "bob", 0, &e), 0);
    assert_int_equal(e.uid, 3);
}

static void test_group(void **state)
{
    gid_t g;
    assert_int_equal(agent_group_find_gid(group, "docker", &g), 0);
    assert_int_equal(g, 999);
    assert_int_equal(agent_group_find_gid(group, "badgid", &g), -ENOENT);
    assert_int_equal(agent_group_find_gid(group, "nope", &g), -ENOENT);
    gid_t gs[8];
    size_t n = 0;
    agent_group_members(group, "alice", gs, &n, 8);
    assert_int_equal(n, 2);
    assert_int_equal(gs[0], 10);
    assert_int_equal(gs[1], 100);
    n = 0;
    agent_group_members(group, "bob", gs, &n, 2); /* bounded */
    assert_int_equal(n, 2);
    n = 0;
    agent_group_members(group, "ali", gs, &n, 8); /* no prefix matches */
    assert_int_equal(n, 0);
}

static void test_resolve(void **state)
{
    struct agent_user u;
    struct al_err err;
    assert_int_equal(agent_user_resolve("alice", 0, passwd, group, &u, &err), 0);
    assert_int_equal(u.uid, 1000);
    assert_int_equal(u.gid, 1000);
    assert_string_equal(u.home, "/home/alice");
    assert_int_equal(u.ngroups, 3);
    assert_int_equal(u.groups[0], 1000);
    assert_int_equal(u.groups[1], 10);
    assert_int_equal(u.groups[2], 100);

    assert_int_equal(agent_user_resolve("alice:staff", 0, passwd, group, &u, &err), 0);
    assert_int_equal(u.gid, 50);
    assert_int_equal(u.groups[0], 50);

    assert_int_equal(agent_user_resolve("1000:1000", 0, passwd, group, &u, &err), 0);
    assert_int_equal(u.uid, 1000);
    assert_int_equal(u.gid, 1000);
    assert_string_equal(u.name, "alice");

    assert_int_equal(agent_user_resolve("nobody", 0, passwd, group, &u, &err), 0);
    assert_int_equal(u.uid, 65534);
    assert_int_equal(u.gid, 65534);
    assert_int_equal(u.ngroups, 1);

    /* a numeric uid without an entry: gid 0, HOME / */
    assert_int_equal(agent_user_resolve("4242", 0, passwd, group, &u, &err), 0);
    assert_int_equal(u.uid, 4242);
    assert_int_equal(u.gid, 0);
    assert_string_equal(u.home, "/");
    assert_int_equal(agent_user_resolve("4242:7", 0, passwd, group, &u, &err), 0);
    assert_int_equal(u.gid, 7);

    /* default: the agent's own uid; root works without any passwd */
    assert_int_equal(agent_user_resolve(NULL, 0, NULL, NULL, &u, &err), 0);
    assert_int_equal(u.uid, 0);
    assert_string_equal(u.home, "/root");
    assert_int_equal(agent_user_resolve("root", 0, NULL, NULL, &u, &err), 0);
    assert_int_equal(u.uid, 0);
    assert_int_equal(agent_user_resolve(NULL, 1000, passwd, group, &u, &err), 0);
    assert_string_equal(u.name, "alice");

    /* errors */
    assert_int_equal(agent_user_resolve("mallory", 0, passwd, group, &u, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "mallory"));
    assert_int_equal(agent_user_resolve("alice:nogroup", 0, passwd, group, &u, &err), -ENOENT);
    assert_int_equal(agent_user_resolve("alice:", 0, passwd, group, &u, &err), -EINVAL);
    assert_int_equal(agent_user_resolve("4294967295", 0, passwd, group, &u, &err), -ENOENT);
}

static void test_env_merge(void **state)
{
    const char *defaults[] = {"PATH=/bin", "HOME=/root", "HOSTNAME=h", NULL};
    const char *image[] = {"PATH=/opt/bin:/bin", "LANG=C.UTF-8", "bogus", "=novalue", NULL};
    const char *req[] = {"LANG=de_DE", "FOO=a=b", "EMPTY=", NULL};
    const char *const *lists[] = {defaults, image, NULL, req};
    cleanup_strv char **env = NULL;
    assert_int_equal(agent_env_merge(lists, 4, &env), 0);
    const char *want[] = {
        "PATH=/opt/bin:/bin", "HOME=/root", "HOSTNAME=h", "LANG=de_DE", "FOO=a=b", "EMPTY=", NULL};
    size_t i = 0;
    for (; env[i]; i++) {
        assert_non_null(want[i]);
        assert_string_equal(env[i], want[i]);
    }
    assert_null(want[i]);
    /* keys are compared whole: PATHX does not replace PATH */
    const char *a[] = {"PATH=1", NULL}, *b[] = {"PATHX=2", "PAT=3", NULL};
    const char *const *l2[] = {a, b};
    cleanup_strv char **env2 = NULL;
    assert_int_equal(agent_env_merge(l2, 2, &env2), 0);
    assert_string_equal(env2[0], "PATH=1");
    assert_string_equal(env2[1], "PATHX=2");
    assert_string_equal(env2[2], "PAT=3");
    assert_null(env2[3]);
    assert_true(agent_env_entry_valid("A="));
    assert_false(agent_env_entry_valid("=A"));
    assert_false(agent_env_entry_valid("A"));
    assert_false(agent_env_entry_valid(NULL));
}

static void test_outcap(void **state)
{
    struct agent_outcap c = {.max = 10};
    assert_int_equal(agent_outcap_take(&c, 4), 4);
    assert_false(c.truncated);
    assert_int_equal(agent_outcap_take(&c, 6), 6); /* exactly at the cap: not truncated */
    assert_false(c.truncated);
    assert_int_equal(agent_outcap_take(&c, 0), 0);
    assert_false(c.truncated);
    assert_int_equal(agent_outcap_take(&c, 1), 0);
    assert_true(c.truncated);
    assert_int_equal(c.sent, 10);
    struct agent_outcap d = {.max = 5};
    assert_int_equal(agent_outcap_take(&d, 8), 5);
    assert_true(d.truncated);
    assert_int_equal(agent_outcap_take(&d, 8), 0);
    struct agent_outcap z = {.max = 0};
    assert_int_equal(agent_outcap_take(&z, 3), 0);
    assert_true(z.truncated);
}

/* Random bytes biased towards ':' ',' '\n' and digits: never a crash, results stay sane. */
static void test_random_db(void **state)
{
    static const char alphabet[] = "::::,,\n\n0123456789abc/ \t#+-\xc3\xa9";
    char db[2048];
    srandom(42);
    for (int round = 0; round < 2000; round++) {
        size_t n = (size_t)random() % (sizeof(db) - 1);
        for (size_t i = 0; i < n; i++)
            db[i] = alphabet[(size_t)random() % (sizeof(alphabet) - 1)];
        db[n] = '\0';
        struct agent_pwent e;
        if (agent_passwd_find(db, "a", 0, &e) == 0) {
            assert_string_equal(e.name, "a");
            assert_true(e.home[0] == '/');
        }
        if (agent_passwd_find(db, NULL, 1, &e) == 0)
            assert_int_equal(e.uid, 1);
        gid_t gs[AGENT_MAX_GROUPS];
        size_t ng = 0;
        agent_group_members(db, "b", gs, &ng, AGENT_MAX_GROUPS);
        assert_true(ng <= AGENT_MAX_GROUPS);
        struct agent_user u;
        struct al_err err;
        if (agent_user_resolve("a:b", 0, db, db, &u, &err) == 0)
            assert_true(u.ngroups >= 1 && u.ngroups <= AGENT_MAX_GROUPS);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_split),  cmocka_unit_test(test_parse_id),
        cmocka_unit_test(test_passwd_find), cmocka_unit_test(test_overlong_line),
        cmocka_unit_test(test_group),       cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_env_merge),   cmocka_unit_test(test_outcap),
        cmocka_unit_test(test_random_db),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
