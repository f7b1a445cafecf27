#include "harness.h"

#include <string.h>

#include "common/err.h"

static void test_set_and_wrap(void **state)
{
    struct al_err err = {0};
    int rc = al_err_set(&err, AL_ERR_NOT_FOUND, ENOENT, "sandbox %s", "abc");
    assert_int_equal(rc, -ENOENT);
    assert_int_equal(err.kind, AL_ERR_NOT_FOUND);
    assert_string_equal(err.msg, "sandbox abc");
    rc = al_err_wrap(&err, "group %s", "g1");
    assert_int_equal(rc, -ENOENT);
    assert_string_equal(err.msg, "group g1: sandbox abc");
}

static void test_sys_appends_strerror(void **state)
{
    struct al_err err = {0};
    al_err_sys(&err, AL_ERR_INTERNAL, -EACCES, "open %s", "/x");
    assert_non_null(strstr(err.msg, "open /x: Permission denied"));
    assert_int_equal(err.code, EACCES);
}

static void test_zero_code_becomes_eio(void **state)
{
    struct al_err err = {0};
    assert_int_equal(al_err_set(&err, AL_ERR_INTERNAL, 0, "x"), -EIO);
}

static void test_http_mapping(void **state)
{
    assert_int_equal(al_err_http_status(AL_ERR_NOT_FOUND), 404);
    assert_int_equal(al_err_http_status(AL_ERR_UNAUTH), 401);
    assert_int_equal(al_err_http_status(AL_ERR_UNSUPPORTED), 501);
    assert_int_equal(al_err_http_status(AL_ERR_UPSTREAM), 502);
    assert_string_equal(al_err_kind_name(AL_ERR_UPSTREAM), "BadGateway");
    assert_string_equal(al_err_kind_name(AL_ERR_INVALID), "InvalidArgument");
    assert_int_equal(al_err_kind_from_errno(ENOSPC), AL_ERR_LIMIT);
}

/* A write that fails for a full disk is a clear 429, never a 500; other kinds are kept. */
static void test_full_disk_is_limit(void **state)
{
    struct al_err err = {0};
    assert_int_equal(al_err_sys(&err, AL_ERR_INTERNAL, ENOSPC, "write blob"), -ENOSPC);
    assert_int_equal(err.kind, AL_ERR_LIMIT);
    assert_string_equal(err.msg, "write blob: No space left on device");
    assert_int_equal(al_err_http_status(err.kind), 429);
    al_err_set(&err, AL_ERR_INTERNAL, -EDQUOT, "quota");
    assert_int_equal(err.kind, AL_ERR_LIMIT);
    al_err_sys(&err, AL_ERR_UPSTREAM, ENOSPC, "registry");
    assert_int_equal(err.kind, AL_ERR_UPSTREAM);
    al_err_sys(&err, AL_ERR_INTERNAL, EIO, "read");
    assert_int_equal(err.kind, AL_ERR_INTERNAL);
}

static void test_truncates_long_message(void **state)
{
    struct al_err err = {0};
    char big[2000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    al_err_set(&err, AL_ERR_INVALID, EINVAL, "%s", big);
    assert_int_equal(strlen(err.msg), AL_ERR_MSG_MAX - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_and_wrap),           cmocka_unit_test(test_sys_appends_strerror),
        cmocka_unit_test(test_zero_code_becomes_eio),  cmocka_unit_test(test_http_mapping),
        cmocka_unit_test(test_truncates_long_message), cmocka_unit_test(test_full_disk_is_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
