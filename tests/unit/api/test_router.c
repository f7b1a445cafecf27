#include "../common/harness.h"

#include <string.h>

#include "api/api.h"
#include "common/cleanup.h"

static int h(void *ud, struct api_request *req, struct api_response *resp, struct al_err *err)
{
    return 0;
}

static void test_pattern(void **state)
{
    struct api_match m;
    assert_true(api_pattern_match("/healthz", "/healthz", &m));
    assert_int_equal(m.n_params, 0);
    assert_false(api_pattern_match("/healthz", "/healthz/", &m));
    assert_false(api_pattern_match("/healthz", "/health", &m));
    assert_false(api_pattern_match("/healthz", "/healthzz", &m));
    assert_true(api_pattern_match("/v1/sandboxgroups/{group}/sandboxes/{id}",
                                  "/v1/sandboxgroups/g1/sandboxes/abc", &m));
    assert_int_equal(m.n_params, 2);
    assert_string_equal(m.params[0], "g1");
    assert_string_equal(m.params[1], "abc");
    /* a parameter is one non-empty segment */
    assert_false(api_pattern_match("/v1/sandboxgroups/{group}", "/v1/sandboxgroups/", &m));
    assert_false(api_pattern_match("/v1/sandboxgroups/{group}", "/v1/sandboxgroups/a/b", &m));
    assert_false(api_pattern_match("/v1/sandboxgroups/{group}", "/v1/sandboxgroups//", &m));
    assert_false(api_pattern_match("/v1/sandboxgroups/{group}/sandboxes",
                                   "/v1/sandboxgroups/g/sandboxes/x", &m));
    /* a rest parameter takes one or more segments */
    assert_true(api_pattern_match("/v1/images/{name...}", "/v1/images/127.0.0.1:5000/r/x:t", &m));
    assert_string_equal(m.params[0], "127.0.0.1:5000/r/x:t");
    assert_false(api_pattern_match("/v1/images/{name...}", "/v1/images/", &m));
    assert_false(api_pattern_match("/v1/images/{name...}", "/v1/images", &m));
    /* not absolute / too long */
    assert_false(api_pattern_match("/a", "a", &m));
    char longp[API_PATH_MAX + 10];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[0] = '/';
    longp[sizeof(longp) - 1] = '\0';
    assert_false(api_pattern_match("/{x}", longp, &m));
}

static void test_find(void **state)
{
    static const struct api_route routes[] = {
        {"GET", "/v1/sandboxgroups", 0, h},
        {"PUT", "/v1/sandboxgroups/{group}", 0, h},
        {"GET", "/v1/sandboxgroups/{group}", 0, h},
        {"GET", "/v1/sandboxgroups/{group}/sandboxes/{id}/files", 0, h},
        {"GET", "/v1/sandboxgroups/{group}/sandboxes/{id}/files/list", 0, h},
    };
    struct api_match m;
    const struct api_route *r = NULL;
    assert_int_equal(api_route_find(routes, 5, "GET", "/v1/sandboxgroups/x", &m, &r), 0);
    assert_ptr_equal(r, &routes[2]);
    assert_int_equal(api_route_find(routes, 5, "PUT", "/v1/sandboxgroups/x", &m, &r), 0);
    assert_ptr_equal(r, &routes[1]);
    assert_int_equal(api_route_find(routes, 5, "DELETE", "/v1/sandboxgroups/x", &m, &r),
                     -EOPNOTSUPP);
    assert_int_equal(api_route_find(routes, 5, "GET", "/v1/nothing", &m, &r), -ENOENT);
    assert_int_equal(
        api_route_find(routes, 5, "GET", "/v1/sandboxgroups/g/sandboxes/i/files/list", &m, &r), 0);
    assert_ptr_equal(r, &routes[4]);
    assert_string_equal(m.params[1], "i");
    assert_int_equal(
        api_route_find(routes, 5, "GET", "/v1/sandboxgroups/g/sandboxes/i/files", &m, &r), 0);
    assert_ptr_equal(r, &routes[3]);
}

static void test_error_json(void **state)
{
    struct al_err err;
    al_err_set(&err, AL_ERR_NOT_FOUND, ENOENT, "sandbox %s not found", "x");
    json_t *j = api_error_json(&err);
    assert_non_null(j);
    json_t *e = json_object_get(j, "error");
    assert_int_equal(json_object_size(j), 1);
    assert_int_equal(json_object_size(e), 2);
    assert_string_equal(json_string_value(json_object_get(e, "code")), "NotFound");
    assert_string_equal(json_string_value(json_object_get(e, "message")), "sandbox x not found");
    json_decref(j);
    /* an unset error is an internal one; invalid UTF-8 in a message is repaired */
    struct al_err none = {0};
    j = api_error_json(&none);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
                        "Internal");
    json_decref(j);
    al_err_set(&err, AL_ERR_INVALID, EINVAL, "bad \xff byte");
    j = api_error_json(&err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "message")),
                        "bad \xEF\xBF\xBD byte");
    json_decref(j);
}

static void test_redact(void **state)
{
    char msg[64] = "import /var/lib/x/tmp/a: bad; see /var/lib/x";
    api_redact(msg, sizeof(msg), "/var/lib/x", "<state>");
    assert_string_equal(msg, "import <state>/tmp/a: bad; see <state>");
    api_redact(msg, sizeof(msg), NULL, "<state>");
    api_redact(msg, sizeof(msg), "", "<state>");
    assert_string_equal(msg, "import <state>/tmp/a: bad; see <state>");
    /* growing replacements stay inside the buffer */
    char small[12] = "a/p b/p c";
    api_redact(small, sizeof(small), "/p", "<state>");
    assert_true(strlen(small) < sizeof(small));
    assert_memory_equal(small, "a<state>", 8);
    char tiny[8] = "xx/p";
    api_redact(tiny, sizeof(tiny), "/p", "<state>");
    assert_string_equal(tiny, "xx");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pattern),
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_error_json),
        cmocka_unit_test(test_redact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
