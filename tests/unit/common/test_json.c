#include "harness.h"

#include <string.h>

#include "common/cleanup.h"
#include "common/json.h"

static json_t *parse(const char *s, struct al_err *err)
{
    return al_json_parse(s, strlen(s), 0, err);
}

static void test_rejects_duplicates(void **state)
{
    struct al_err err = {0};
    assert_null(parse("{\"a\":1,\"a\":2}", &err));
    assert_int_equal(err.kind, AL_ERR_INVALID);
}

static void test_rejects_deep_nesting(void **state)
{
    struct al_err err = {0};
    char buf[200];
    memset(buf, '[', 100);
    memset(buf + 100, ']', 100);
    assert_null(al_json_parse(buf, sizeof(buf), 32, &err));
    assert_non_null(strstr(err.msg, "nested"));
    /* brackets inside strings do not count */
    cleanup_json json_t *ok = parse("{\"a\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}", &err);
    assert_non_null(ok);
}

static void test_rejects_scalars_and_garbage(void **state)
{
    struct al_err err = {0};
    assert_null(parse("42", &err));
    assert_null(parse("{\"a\":1} trailing", &err));
    assert_null(al_json_parse("", 0, 0, &err));
    assert_null(al_json_parse("{\"a\":\"x\0y\"}", 11, 0, &err));
}

static void test_strict_getters(void **state)
{
    struct al_err err = {0};
    cleanup_json json_t *j = parse("{\"s\":\"hi\",\"n\":5,\"b\":true,\"v\":[\"x\",\"y\"],"
                                   "\"e\":{\"K\":\"V\"}}",
                                   &err);
    assert_non_null(j);
    const char *s;
    int64_t n;
    bool b;
    assert_int_equal(al_json_get_str(j, "s", true, 10, &s, &err), 0);
    assert_string_equal(s, "hi");
    assert_int_equal(al_json_get_str(j, "s", true, 1, &s, &err), -EINVAL);
    assert_int_equal(al_json_get_str(j, "n", true, 10, &s, &err), -EINVAL);
    assert_int_equal(al_json_get_str(j, "missing", false, 10, &s, &err), -ENOENT);
    assert_int_equal(al_json_get_str(j, "missing", true, 10, &s, &err), -EINVAL);
    assert_int_equal(al_json_get_int(j, "n", true, 0, 10, &n, &err), 0);
    assert_int_equal(n, 5);
    assert_int_equal(al_json_get_int(j, "n", true, 6, 10, &n, &err), -ERANGE);
    assert_int_equal(al_json_get_bool(j, "b", true, &b, &err), 0);
    assert_true(b);
    cleanup_strv char **v = NULL;
    assert_int_equal(al_json_get_strv(j, "v", true, 10, 10, &v, &err), 0);
    assert_string_equal(v[0], "x");
    assert_string_equal(v[1], "y");
    assert_null(v[2]);
    cleanup_strv char **v2 = NULL;
    assert_int_equal(al_json_get_strv(j, "v", true, 1, 10, &v2, &err), -E2BIG);
    cleanup_strv char **env = NULL;
    assert_int_equal(al_json_get_env(j, "e", 10, 100, &env, &err), 0);
    assert_string_equal(env[0], "K=V");
}

static void test_env_rejects_bad_keys(void **state)
{
    struct al_err err = {0};
    cleanup_json json_t *j = parse("{\"e\":{\"A=B\":\"V\"}}", &err);
    cleanup_strv char **env = NULL;
    assert_int_equal(al_json_get_env(j, "e", 10, 100, &env, &err), -EINVAL);
}

static void test_check_keys(void **state)
{
    struct al_err err = {0};
    cleanup_json json_t *j = parse("{\"a\":1,\"zz\":2}", &err);
    static const char *const allowed[] = {"a", "b", NULL};
    assert_int_equal(al_json_check_keys(j, allowed, "request", &err), -EINVAL);
    assert_non_null(strstr(err.msg, "unknown field 'zz'"));
    static const char *const allowed2[] = {"a", "zz", NULL};
    assert_int_equal(al_json_check_keys(j, allowed2, "request", &err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rejects_duplicates),
        cmocka_unit_test(test_rejects_deep_nesting),
        cmocka_unit_test(test_rejects_scalars_and_garbage),
        cmocka_unit_test(test_strict_getters),
        cmocka_unit_test(test_env_rejects_bad_keys),
        cmocka_unit_test(test_check_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
