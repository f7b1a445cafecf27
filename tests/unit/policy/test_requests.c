#include "../common/harness.h"

#include <string.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "policy/policy.h"

static json_t *parse(const char *s)
{
    struct al_err err;
    json_t *j = al_json_parse(s, strlen(s), 0, &err);
    assert_non_null(j);
    return j;
}

static int exec_check(const char *text, struct policy_exec *e, struct al_err *err)
{
    cleanup_json json_t *j = parse(text);
    al_err_clear(err);
    int rc = policy_exec_decode(j, e, err);
    if (rc == 0)
        rc = policy_exec_validate(e, err);
    return rc;
}

static void exec_bad(const char *text, const char *needle)
{
    struct policy_exec e;
    struct al_err err;
    int rc = exec_check(text, &e, &err);
    policy_exec_free(&e);
    if (rc == 0)
        fail_msg("%s: accepted", text);
    assert_int_equal(err.kind, AL_ERR_INVALID);
    if (needle && !strstr(err.msg, needle))
        fail_msg("%s: message '%s' lacks '%s'", text, err.msg, needle);
}

static void test_exec_full(void **state)
{
    struct policy_exec e;
    struct al_err err;
    assert_int_equal(exec_check("{\"command\":[\"sh\",\"-c\",\"echo hi\"],\"env\":{\"K\":\"V\"},"
                                "\"cwd\":\"/tmp\",\"user\":\"1000:1000\",\"stdin\":\"text\","
                                "\"timeout\":10,\"tty\":false,\"maxOutputBytes\":4096,"
                                "\"stream\":true}",
                                &e, &err),
                     0);
    assert_string_equal(e.argv[2], "echo hi");
    assert_null(e.argv[3]);
    assert_string_equal(e.env[0], "K=V");
    assert_string_equal(e.cwd, "/tmp");
    assert_string_equal(e.user, "1000:1000");
    assert_int_equal(e.stdin_len, 4);
    assert_int_equal(e.timeout_s, 10);
    assert_int_equal(e.max_output, 4096);
    assert_true(e.stream);
    cleanup_json json_t *enc = policy_exec_encode(&e);
    assert_non_null(enc);
    struct policy_exec e2;
    assert_int_equal(policy_exec_decode(enc, &e2, &err), 0);
    assert_string_equal(e2.argv[0], "sh");
    assert_int_equal(e2.timeout_s, 10);
    policy_exec_free(&e2);
    policy_exec_free(&e);
}

static void test_exec_defaults(void **state)
{
    struct policy_exec e;
    struct al_err err;
    assert_int_equal(exec_check("{\"command\":[\"true\"]}", &e, &err), 0);
    assert_int_equal(e.timeout_s, POLICY_EXEC_TIMEOUT_DEFAULT);
    assert_int_equal(e.max_output, POLICY_OUTPUT_DEFAULT);
    assert_null(e.cwd);
    assert_non_null(e.env);
    assert_null(e.env[0]);
    assert_false(e.stream);
    policy_exec_free(&e);
}

static void test_exec_bad(void **state)
{
    exec_bad("{}", "command");
    exec_bad("{\"command\":[]}", "command");
    exec_bad("{\"command\":\"ls\"}", "command");
    exec_bad("{\"command\":[1]}", "command");
    exec_bad("{\"command\":[\"\"]}", "command");
    exec_bad("{\"command\":[\"ls\"],\"timeout\":0}", "timeout");
    exec_bad("{\"command\":[\"ls\"],\"timeout\":86401}", "timeout");
    exec_bad("{\"command\":[\"ls\"],\"timeout\":\"10\"}", "timeout");
    exec_bad("{\"command\":[\"ls\"],\"cwd\":\"tmp\"}", "cwd");
    exec_bad("{\"command\":[\"ls\"],\"user\":\"a b\"}", "user");
    exec_bad("{\"command\":[\"ls\"],\"maxOutputBytes\":0}", "maxOutputBytes");
    exec_bad("{\"command\":[\"ls\"],\"stdin\":5}", "stdin");
    exec_bad("{\"command\":[\"ls\"],\"tty\":1}", "tty");
    exec_bad("{\"command\":[\"ls\"],\"shell\":true}", "shell");
    exec_bad("{\"command\":[\"ls\"],\"env\":{\"=\":\"x\"}}", "env");
    /* 257 arguments */
    char buf[4096];
    size_t n = (size_t)snprintf(buf, sizeof(buf), "{\"command\":[");
    for (int i = 0; i < 257; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s\"a\"", i ? "," : "");
    snprintf(buf + n, sizeof(buf) - n, "]}");
    exec_bad(buf, "command");
}

static void test_sandbox_create(void **state)
{
    struct policy_sandbox_create c;
    struct al_err err;
    cleanup_json json_t *empty = parse("{}");
    assert_int_equal(policy_sandbox_create_decode(empty, &c, &err), 0);
    assert_int_equal(policy_sandbox_create_validate(&c, &err), 0);
    assert_null(c.image);
    assert_false(c.has_tier);
    policy_sandbox_create_free(&c);

    cleanup_json json_t *full = parse(
        "{\"image\":\"python\",\"tier\":\"XS\",\"env\":{\"A\":\"b\"},\"labels\":{\"k\":\"v\"}}");
    assert_int_equal(policy_sandbox_create_decode(full, &c, &err), 0);
    assert_string_equal(c.image, "python");
    assert_int_equal(c.tier, POLICY_TIER_XS);
    assert_string_equal(json_string_value(json_object_get(c.labels, "k")), "v");
    cleanup_json json_t *enc = policy_sandbox_create_encode(&c);
    assert_string_equal(json_string_value(json_object_get(enc, "tier")), "XS");
    policy_sandbox_create_free(&c);

    cleanup_json json_t *snap = parse("{\"snapshot\":\"abc\"}");
    assert_int_equal(policy_sandbox_create_decode(snap, &c, &err), 0);
    assert_int_not_equal(policy_sandbox_create_validate(&c, &err), 0);
    assert_int_equal(err.kind, AL_ERR_UNSUPPORTED);
    policy_sandbox_create_free(&c);

    static const char *const bad[] = {"{\"image\":\"a b\"}", "{\"tier\":\"XXL\"}",
                                      "{\"labels\":{\"k\":\"v v\"}}", "{\"foo\":1}",
                                      "{\"env\":{\"A\":2}}"};
    for (size_t i = 0; i < AL_ARRAY_SIZE(bad); i++) {
        cleanup_json json_t *j = parse(bad[i]);
        assert_int_not_equal(policy_sandbox_create_decode(j, &c, &err), 0);
        assert_int_equal(err.kind, AL_ERR_INVALID);
        policy_sandbox_create_free(&c);
    }
}

static void test_file_query(void **state)
{
    static const char *const allowed[] = {"path", "mode", "append", NULL};
    struct policy_file_query q;
    struct al_err err;
    const char *k1[] = {"path", "mode", "append"}, *v1[] = {"/a b/c", "0644", "true"};
    assert_int_equal(policy_file_query_decode(k1, v1, 3, allowed, &q, &err), 0);
    assert_int_equal(policy_file_query_validate(&q, &err), 0);
    assert_string_equal(q.path, "/a b/c");
    assert_int_equal(q.mode, 0644);
    assert_true(q.append);
    char buf[256];
    assert_true(policy_file_query_encode(&q, buf, sizeof(buf)) > 0);
    assert_string_equal(buf, "path=/a%20b/c&append=true&mode=0644");

    const char *k2[] = {"path", "recursive"}, *v2[] = {"/x", "true"};
    assert_int_not_equal(policy_file_query_decode(k2, v2, 2, allowed, &q, &err), 0);
    assert_non_null(strstr(err.msg, "recursive"));
    const char *k3[] = {"mode"}, *v3[] = {"0644"};
    assert_int_not_equal(policy_file_query_decode(k3, v3, 1, allowed, &q, &err), 0);
    assert_non_null(strstr(err.msg, "path"));
    const char *k4[] = {"path", "mode"}, *v4[] = {"/x", "0999"};
    assert_int_not_equal(policy_file_query_decode(k4, v4, 2, allowed, &q, &err), 0);
    const char *v5[] = {"/x", "77777"};
    assert_int_not_equal(policy_file_query_decode(k4, v5, 2, allowed, &q, &err), 0);
    const char *k6[] = {"path", "path"}, *v6[] = {"/x", "/y"};
    assert_int_not_equal(policy_file_query_decode(k6, v6, 2, allowed, &q, &err), 0);
    const char *k7[] = {"path", "append"}, *v7[] = {"/x", "yes"};
    assert_int_not_equal(policy_file_query_decode(k7, v7, 2, allowed, &q, &err), 0);
    const char *k8[] = {"path"}, *v8[] = {"relative"};
    assert_int_equal(policy_file_query_decode(k8, v8, 1, allowed, &q, &err), 0);
    assert_int_not_equal(policy_file_query_validate(&q, &err), 0);
    const char *v9[] = {"/a\nb"};
    assert_int_equal(policy_file_query_decode(k8, v9, 1, allowed, &q, &err), 0);
    assert_int_not_equal(policy_file_query_validate(&q, &err), 0);
}

static void test_label_filter(void **state)
{
    struct policy_label_filter f[2];
    struct al_err err;
    assert_int_equal(policy_label_filter_parse("team=x", &f[0], &err), 0);
    assert_string_equal(f[0].key, "team");
    assert_string_equal(f[0].value, "x");
    assert_int_equal(policy_label_filter_parse("env=", &f[1], &err), 0);
    assert_string_equal(f[1].value, "");
    assert_int_not_equal(policy_label_filter_parse("team", &f[1], &err), 0);
    assert_int_not_equal(policy_label_filter_parse("=x", &f[1], &err), 0);
    assert_int_not_equal(policy_label_filter_parse("a=b c", &f[1], &err), 0);
    assert_int_equal(policy_label_filter_parse("a.b/c=v=w", &f[1], &err), -EINVAL);

    cleanup_json json_t *l = parse("{\"team\":\"x\",\"env\":\"\"}");
    assert_int_equal(policy_label_filter_parse("env=", &f[1], &err), 0);
    assert_true(policy_labels_match(l, f, 2));
    assert_true(policy_labels_match(l, f, 0));
    assert_int_equal(policy_label_filter_parse("team=y", &f[1], &err), 0);
    assert_false(policy_labels_match(l, f, 2));
    assert_int_equal(policy_label_filter_parse("other=x", &f[1], &err), 0);
    assert_false(policy_labels_match(l, &f[1], 1));
}

static int pull_check(const char *text, struct policy_image_pull *p, struct al_err *err)
{
    cleanup_json json_t *j = parse(text);
    al_err_clear(err);
    int rc = policy_image_pull_decode(j, p, err);
    if (rc == 0)
        rc = policy_image_pull_validate(p, err);
    return rc;
}

static void test_image_pull(void **state)
{
    struct policy_image_pull p;
    struct al_err err;
    assert_int_equal(pull_check("{\"ref\":\"127.0.0.1:5000/r:t\",\"name\":\"mine\","
                                "\"username\":\"u\",\"password\":\"pw\",\"caFile\":\"/ca.pem\","
                                "\"stream\":true}",
                                &p, &err),
                     0);
    assert_string_equal(p.ref, "127.0.0.1:5000/r:t");
    assert_string_equal(p.name, "mine");
    assert_string_equal(p.username, "u");
    assert_string_equal(p.password, "pw");
    assert_string_equal(p.ca_file, "/ca.pem");
    assert_true(p.stream);
    cleanup_json json_t *enc = policy_image_pull_encode(&p);
    cleanup_free char *text = al_json_dump(enc);
    policy_image_pull_free(&p);
    assert_int_equal(pull_check(text, &p, &err), 0); /* round trip */
    assert_string_equal(p.password, "pw");
    policy_image_pull_free(&p);
    assert_null(p.password);

    assert_int_equal(pull_check("{\"ref\":\"busybox\",\"name\":null}", &p, &err), 0);
    assert_null(p.name);
    assert_null(p.ca_file);
    assert_false(p.stream);
    policy_image_pull_free(&p);

    static const char *const bad[][2] = {
        {"{}", "missing field 'ref'"},
        {"{\"ref\":\"busybox\",\"tag\":\"x\"}", "unknown field 'tag'"},
        {"{\"ref\":7}", "'ref' must be a string"},
        {"{\"ref\":\"bad ref\"}", "bad reference"},
        {"{\"ref\":\"busybox\",\"name\":\"a b\"}", "bad reference"},
        {"{\"ref\":\"busybox\",\"stream\":\"yes\"}", "stream"},
        {"{\"ref\":\"busybox\",\"caFile\":1}", "caFile"},
        {"[\"busybox\"]", "must be a JSON object"},
    };
    for (size_t i = 0; i < AL_ARRAY_SIZE(bad); i++) {
        int rc = pull_check(bad[i][0], &p, &err);
        policy_image_pull_free(&p);
        if (rc == 0 || err.kind != AL_ERR_INVALID || !strstr(err.msg, bad[i][1]))
            fail_msg("%s: rc %d, '%s' (wanted '%s')", bad[i][0], rc, err.msg, bad[i][1]);
    }
}

static void test_image_import(void **state)
{
    struct policy_image_import im;
    struct al_err err;
    cleanup_json json_t *j = parse("{\"path\":\"/srv/img.tar\",\"name\":\"img\"}");
    assert_int_equal(policy_image_import_decode(j, &im, &err), 0);
    assert_int_equal(policy_image_import_validate(&im, &err), 0);
    assert_string_equal(im.path, "/srv/img.tar");
    assert_string_equal(im.name, "img");
    policy_image_import_free(&im);
    static const char *const bad[][2] = {
        {"{\"path\":\"/a\"}", "missing field 'name'"},
        {"{\"name\":\"a\"}", "missing field 'path'"},
        {"{\"path\":\"rel/a\",\"name\":\"a\"}", "must be absolute"},
        {"{\"path\":\"/a\",\"name\":\"a\",\"x\":1}", "unknown field 'x'"},
    };
    for (size_t i = 0; i < AL_ARRAY_SIZE(bad); i++) {
        cleanup_json json_t *b = parse(bad[i][0]);
        int rc = policy_image_import_decode(b, &im, &err);
        if (rc == 0)
            rc = policy_image_import_validate(&im, &err);
        policy_image_import_free(&im);
        if (rc == 0 || err.kind != AL_ERR_INVALID || !strstr(err.msg, bad[i][1]))
            fail_msg("%s: rc %d, '%s' (wanted '%s')", bad[i][0], rc, err.msg, bad[i][1]);
    }
}

static void test_key_create(void **state)
{
    struct policy_key_create k;
    struct al_err err;
    cleanup_json json_t *j = parse("{\"tenant\":\"team-a\",\"admin\":true}");
    assert_int_equal(policy_key_create_decode(j, &k, &err), 0);
    assert_string_equal(k.tenant, "team-a");
    assert_true(k.admin);
    cleanup_json json_t *enc = policy_key_create_encode(&k);
    assert_int_equal(policy_key_create_decode(enc, &k, &err), 0);
    assert_string_equal(k.tenant, "team-a");
    static const char *const bad[][2] = {
        {"{}", "missing field 'tenant'"},
        {"{\"tenant\":\"Team\"}", "must match"},
        {"{\"tenant\":\"-a\"}", "must match"},
        {"{\"tenant\":\"a\",\"admin\":1}", "admin"},
        {"{\"tenant\":\"a\",\"role\":\"x\"}", "unknown field 'role'"},
    };
    for (size_t i = 0; i < AL_ARRAY_SIZE(bad); i++) {
        cleanup_json json_t *b = parse(bad[i][0]);
        int rc = policy_key_create_decode(b, &k, &err);
        if (rc == 0 || err.kind != AL_ERR_INVALID || !strstr(err.msg, bad[i][1]))
            fail_msg("%s: rc %d, '%s' (wanted '%s')", bad[i][0], rc, err.msg, bad[i][1]);
    }
    /* 64 characters: one past the limit */
    cleanup_json json_t *longj =
        parse("{\"tenant\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}");
    assert_true(policy_key_create_decode(longj, &k, &err) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exec_full),  cmocka_unit_test(test_exec_defaults),
        cmocka_unit_test(test_exec_bad),   cmocka_unit_test(test_sandbox_create),
        cmocka_unit_test(test_file_query), cmocka_unit_test(test_label_filter),
        cmocka_unit_test(test_image_pull), cmocka_unit_test(test_image_import),
        cmocka_unit_test(test_key_create),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
