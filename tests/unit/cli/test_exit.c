#include "harness.h"

#include <string.h>

#include "cli/cli.h"
#include "cli/output.h"
#include "common/cleanup.h"
#include "common/json.h"

static void test_status(void **state)
{
    assert_int_equal(cli_exit_for_status(200), 0);
    assert_int_equal(cli_exit_for_status(201), 0);
    assert_int_equal(cli_exit_for_status(204), 0);
    assert_int_equal(cli_exit_for_status(400), CLI_EXIT_API);
    assert_int_equal(cli_exit_for_status(401), CLI_EXIT_API);
    assert_int_equal(cli_exit_for_status(404), CLI_EXIT_API);
    assert_int_equal(cli_exit_for_status(501), CLI_EXIT_API);
    assert_int_equal(cli_exit_for_status(302), CLI_EXIT_API);
    assert_int_equal(cli_exit_for_status(0), CLI_EXIT_API);
}

static void test_curl(void **state)
{
    assert_int_equal(cli_exit_for_curl(CURLE_OK), 0);
    assert_int_equal(cli_exit_for_curl(CURLE_COULDNT_CONNECT), CLI_EXIT_CONNECT);
    assert_int_equal(cli_exit_for_curl(CURLE_COULDNT_RESOLVE_HOST), CLI_EXIT_CONNECT);
    assert_int_equal(cli_exit_for_curl(CURLE_OPERATION_TIMEDOUT), CLI_EXIT_CONNECT);
    assert_int_equal(cli_exit_for_curl(CURLE_WRITE_ERROR), CLI_EXIT_API);
    assert_int_equal(cli_exit_for_curl(CURLE_OUT_OF_MEMORY), CLI_EXIT_API);
}

static void test_transport_error(void **state)
{
    struct al_err e = {0};
    al_err_set(&e, AL_ERR_UNAVAILABLE, ECONNREFUSED, "cannot reach");
    assert_int_equal(cli_report_transport_error(&e), CLI_EXIT_CONNECT);
    al_err_set(&e, AL_ERR_INTERNAL, EIO, "broken");
    assert_int_equal(cli_report_transport_error(&e), CLI_EXIT_API);
}

static void test_api_message(void **state)
{
    char buf[256];
    const char *body = "{\"error\":{\"code\":\"NotFound\",\"message\":\"group g not found\"}}";
    cli_api_error_message(404, body, strlen(body), buf, sizeof(buf));
    assert_string_equal(buf, "NotFound: group g not found");
    cli_api_error_message(502, "<html>bad gateway</html>", 24, buf, sizeof(buf));
    assert_string_equal(buf, "HTTP 502");
    cli_api_error_message(500, NULL, 0, buf, sizeof(buf));
    assert_string_equal(buf, "HTTP 500");
    const char *evil = "{\"error\":{\"code\":\"X\",\"message\":\"a\\u001b[2Jb\\nc\"}}";
    cli_api_error_message(400, evil, strlen(evil), buf, sizeof(buf));
    assert_string_equal(buf, "X: a?[2Jb?c");
    struct cli_resp r = {.status = 403};
    assert_int_equal(cli_report_api_error(&r), CLI_EXIT_API);
}

static void test_exec_exit(void **state)
{
    cleanup_json json_t *ok = json_pack("{s:i,s:i,s:b}", "exitCode", 0, "signal", 0, "timedOut", 0);
    assert_int_equal(cli_exec_exit_code(ok), 0);
    cleanup_json json_t *seven =
        json_pack("{s:i,s:i,s:b}", "exitCode", 7, "signal", 0, "timedOut", 0);
    assert_int_equal(cli_exec_exit_code(seven), 7);
    cleanup_json json_t *sig =
        json_pack("{s:i,s:i,s:b}", "exitCode", -1, "signal", 9, "timedOut", 0);
    assert_int_equal(cli_exec_exit_code(sig), 137);
    cleanup_json json_t *to = json_pack("{s:i,s:i,s:b}", "exitCode", 0, "signal", 9, "timedOut", 1);
    assert_int_equal(cli_exec_exit_code(to), 124);
    cleanup_json json_t *bad = json_pack("{s:s}", "exitCode", "0");
    assert_int_equal(cli_exec_exit_code(bad), CLI_EXIT_API);
    cleanup_json json_t *big = json_pack("{s:i}", "exitCode", 300);
    assert_int_equal(cli_exec_exit_code(big), CLI_EXIT_API);
}

static void test_json_parse(void **state)
{
    /* NUL bytes in sandbox output survive; duplicate keys do not */
    const char *nul = "{\"stdout\":\"a\\u0000b\"}";
    cleanup_json json_t *j = cli_json_parse(nul, strlen(nul));
    assert_non_null(j);
    assert_int_equal(json_string_length(json_object_get(j, "stdout")), 3);
    const char *dup = "{\"a\":1,\"a\":2}";
    assert_null(cli_json_parse(dup, strlen(dup)));
    assert_null(cli_json_parse("", 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status),          cmocka_unit_test(test_curl),
        cmocka_unit_test(test_transport_error), cmocka_unit_test(test_api_message),
        cmocka_unit_test(test_exec_exit),       cmocka_unit_test(test_json_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
