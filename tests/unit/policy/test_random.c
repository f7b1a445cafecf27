/* Randomised decoding: documents built from the real field names with values of random
 * types and sizes.  Every decoder must either accept (and then its encoding must decode to
 * an accepted object again) or refuse with a typed error and a message -- never crash, never
 * leak (run under ASan in CI). */
#include "../common/harness.h"

#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "policy/policy.h"

static unsigned seed = 12345;
static unsigned rnd(unsigned n)
{
    seed = seed * 1103515245u + 12345u;
    return (seed >> 16) % n;
}

static const char *const words[] = {
    "image",
    "tier",
    "resources",
    "isolation",
    "env",
    "labels",
    "egress",
    "identity",
    "lifecycle",
    "governance",
    "tools",
    "pool",
    "cpu",
    "memoryMiB",
    "diskMiB",
    "pids",
    "openFiles",
    "defaultAction",
    "rules",
    "enabled",
    "maxLifetimeSeconds",
    "idleSuspendSeconds",
    "deleteSuspendedAfterDays",
    "deniedCalls",
    "deniedImports",
    "allow",
    "size",
    "secrets",
    "value",
    "host",
    "action",
    "path",
    "method",
    "transform",
    "*.example.com",
    "example.com",
    "GET",
    "command",
    "cwd",
    "user",
    "stdin",
    "timeout",
    "tty",
    "maxOutputBytes",
    "stream",
    "snapshot",
    "busybox",
    "XS",
    "M",
    "deny",
    "allow",
    "namespace",
    "microvm",
    "/tmp",
    "",
    "A",
    "a b",
    "\xff",
    "team",
    "x=y",
    "sh",
    "-c",
};

static json_t *gen(int depth);

static json_t *gen_obj(int depth)
{
    json_t *o = json_object();
    unsigned n = rnd(6);
    for (unsigned i = 0; i < n; i++) {
        const char *k = words[rnd(AL_ARRAY_SIZE(words))];
        json_object_set_new(o, k, gen(depth + 1));
    }
    return o;
}

static json_t *gen(int depth)
{
    switch (rnd(depth > 3 ? 6 : 8)) {
    case 0:
        return json_integer((json_int_t)rnd(100000) - 1000);
    case 1:
        return json_real((double)rnd(100000) / 100.0);
    case 2:
        return json_string(words[rnd(AL_ARRAY_SIZE(words))]);
    case 3:
        return json_boolean(rnd(2));
    case 4:
        return json_null();
    case 5: {
        char buf[300];
        unsigned n = rnd(sizeof(buf) - 1);
        for (unsigned i = 0; i < n; i++)
            buf[i] = (char)(rnd(94) + 32);
        return json_stringn(buf, n);
    }
    case 6: {
        json_t *a = json_array();
        unsigned n = rnd(5);
        for (unsigned i = 0; i < n; i++)
            json_array_append_new(a, gen(depth + 1));
        return a;
    }
    default:
        return gen_obj(depth);
    }
}

static void refused_properly(int rc, const struct al_err *err)
{
    assert_true(rc < 0);
    assert_true(err->kind == AL_ERR_INVALID || err->kind == AL_ERR_UNSUPPORTED ||
                err->kind == AL_ERR_INTERNAL);
    assert_true(err->msg[0] != '\0');
}

static void test_group_random(void **state)
{
    unsigned accepted = 0;
    for (int i = 0; i < 20000; i++) {
        cleanup_json json_t *j = gen_obj(0);
        if (rnd(2))
            json_object_set_new(j, "image", json_string("busybox"));
        struct policy_group g;
        struct al_err err = {0};
        int rc = policy_group_decode(j, &g, &err);
        if (rc == 0)
            rc = policy_group_validate(&g, &err);
        if (rc == 0) {
            accepted++;
            cleanup_json json_t *enc = policy_group_encode(&g);
            assert_non_null(enc);
            struct policy_group g2;
            assert_int_equal(policy_group_decode(enc, &g2, &err), 0);
            assert_int_equal(policy_group_validate(&g2, &err), 0);
            assert_memory_equal(&g.resources, &g2.resources, sizeof(g.resources));
            policy_group_free(&g2);
        } else {
            refused_properly(rc, &err);
        }
        policy_group_free(&g);
    }
    assert_true(accepted > 0);
}

static void test_requests_random(void **state)
{
    for (int i = 0; i < 20000; i++) {
        cleanup_json json_t *j = gen_obj(0);
        struct al_err err = {0};
        struct policy_exec e;
        int rc = policy_exec_decode(j, &e, &err);
        if (rc == 0)
            rc = policy_exec_validate(&e, &err);
        if (rc == 0) {
            cleanup_json json_t *enc = policy_exec_encode(&e);
            struct policy_exec e2;
            assert_int_equal(policy_exec_decode(enc, &e2, &err), 0);
            policy_exec_free(&e2);
        } else {
            refused_properly(rc, &err);
        }
        policy_exec_free(&e);
        struct policy_sandbox_create c;
        rc = policy_sandbox_create_decode(j, &c, &err);
        if (rc == 0)
            rc = policy_sandbox_create_validate(&c, &err);
        if (rc == 0) {
            cleanup_json json_t *enc = policy_sandbox_create_encode(&c);
            struct policy_sandbox_create c2;
            assert_int_equal(policy_sandbox_create_decode(enc, &c2, &err), 0);
            policy_sandbox_create_free(&c2);
        } else {
            refused_properly(rc, &err);
        }
        policy_sandbox_create_free(&c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_random),
        cmocka_unit_test(test_requests_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
