#include "../common/harness.h"

#include <string.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "policy/policy.h"

/* Decode + validate a JSON text; returns the rc and leaves the kind in err. */
static int check(const char *text, struct policy_group *g, struct al_err *err)
{
    al_err_clear(err);
    cleanup_json json_t *j = al_json_parse(text, strlen(text), 0, err);
    assert_non_null(j);
    int rc = policy_group_decode(j, g, err);
    if (rc == 0)
        rc = policy_group_validate(g, err);
    return rc;
}

static void expect_kind(const char *text, enum al_err_kind kind, const char *needle)
{
    struct policy_group g;
    struct al_err err;
    int rc = check(text, &g, &err);
    policy_group_free(&g);
    if (kind == AL_ERR_NONE) {
        if (rc != 0)
            fail_msg("%s: unexpected error %s", text, err.msg);
        return;
    }
    if (rc == 0)
        fail_msg("%s: accepted", text);
    assert_int_equal(err.kind, kind);
    if (needle && !strstr(err.msg, needle))
        fail_msg("%s: message '%s' lacks '%s'", text, err.msg, needle);
}

static void test_minimal_defaults(void **state)
{
    struct policy_group g;
    struct al_err err;
    assert_int_equal(check("{\"image\":\"busybox\"}", &g, &err), 0);
    assert_string_equal(g.image, "busybox");
    assert_int_equal(g.tier, POLICY_TIER_M);
    assert_int_equal(g.resources.cpu_millis, 1000);
    assert_int_equal(g.resources.memory_mib, 2048);
    assert_int_equal(g.resources.disk_mib, 8192);
    assert_int_equal(g.resources.pids, 512);
    assert_int_equal(g.resources.open_files, 1024);
    cleanup_json json_t *enc = policy_group_encode(&g);
    assert_non_null(enc);
    assert_string_equal(json_string_value(json_object_get(enc, "tier")), "M");
    assert_string_equal(json_string_value(json_object_get(enc, "isolation")), "namespace");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(enc, "egress"), "defaultAction")),
        "deny");
    /* the encoding decodes to the same settings */
    struct policy_group g2;
    assert_int_equal(policy_group_decode(enc, &g2, &err), 0);
    assert_int_equal(policy_group_validate(&g2, &err), 0);
    assert_memory_equal(&g.resources, &g2.resources, sizeof(g.resources));
    policy_group_free(&g2);
    policy_group_free(&g);
}

static void test_tiers(void **state)
{
    static const struct {
        const char *t;
        uint32_t cpu;
        uint64_t mem, disk;
        uint32_t pids, files;
    } want[] = {{"XS", 250, 512, 2048, 128, 256},
                {"S", 500, 1024, 4096, 256, 512},
                {"M", 1000, 2048, 8192, 512, 1024},
                {"L", 2000, 4096, 16384, 1024, 2048}};
    for (size_t i = 0; i < 4; i++) {
        char buf[128];
        snprintf(buf, sizeof(buf), "{\"image\":\"busybox\",\"tier\":\"%s\"}", want[i].t);
        struct policy_group g;
        struct al_err err;
        assert_int_equal(check(buf, &g, &err), 0);
        assert_int_equal(g.resources.cpu_millis, want[i].cpu);
        assert_int_equal(g.resources.memory_mib, want[i].mem);
        assert_int_equal(g.resources.disk_mib, want[i].disk);
        assert_int_equal(g.resources.pids, want[i].pids);
        assert_int_equal(g.resources.open_files, want[i].files);
        policy_group_free(&g);
    }
    expect_kind("{\"image\":\"busybox\",\"tier\":\"XL\"}", AL_ERR_INVALID, "tier");
    expect_kind("{\"image\":\"busybox\",\"tier\":\"m\"}", AL_ERR_INVALID, "tier");
    expect_kind("{\"image\":\"busybox\",\"tier\":3}", AL_ERR_INVALID, "tier");
}

static void test_resources(void **state)
{
    struct policy_group g;
    struct al_err err;
    assert_int_equal(check("{\"image\":\"busybox\",\"tier\":\"S\",\"resources\":{\"cpu\":1.5,"
                           "\"memoryMiB\":3000,\"diskMiB\":100,\"pids\":64,\"openFiles\":4096}}",
                           &g, &err),
                     0);
    assert_int_equal(g.resources.cpu_millis, 1500);
    assert_int_equal(g.resources.memory_mib, 3000);
    assert_int_equal(g.resources.disk_mib, 100);
    assert_int_equal(g.resources.pids, 64);
    assert_int_equal(g.resources.open_files, 4096);
    policy_group_free(&g);
    /* partial override keeps the tier's other values */
    assert_int_equal(
        check("{\"image\":\"busybox\",\"tier\":\"L\",\"resources\":{\"cpu\":2}}", &g, &err), 0);
    assert_int_equal(g.resources.cpu_millis, 2000);
    assert_int_equal(g.resources.memory_mib, 4096);
    policy_group_free(&g);
    expect_kind("{\"image\":\"b\",\"resources\":{\"cpu\":0.01}}", AL_ERR_INVALID, "cpu");
    expect_kind("{\"image\":\"b\",\"resources\":{\"cpu\":1000}}", AL_ERR_INVALID, "cpu");
    expect_kind("{\"image\":\"b\",\"resources\":{\"cpu\":\"1\"}}", AL_ERR_INVALID, "cpu");
    expect_kind("{\"image\":\"b\",\"resources\":{\"memoryMiB\":1}}", AL_ERR_INVALID, "memoryMiB");
    expect_kind("{\"image\":\"b\",\"resources\":{\"memoryMiB\":1.5}}", AL_ERR_INVALID, "memoryMiB");
    expect_kind("{\"image\":\"b\",\"resources\":{\"diskMiB\":99999999}}", AL_ERR_INVALID,
                "diskMiB");
    expect_kind("{\"image\":\"b\",\"resources\":{\"pids\":1}}", AL_ERR_INVALID, "pids");
    expect_kind("{\"image\":\"b\",\"resources\":{\"openFiles\":-1}}", AL_ERR_INVALID, "openFiles");
    expect_kind("{\"image\":\"b\",\"resources\":{\"gpu\":1}}", AL_ERR_INVALID, "gpu");
    expect_kind("{\"image\":\"b\",\"resources\":[]}", AL_ERR_INVALID, "resources");
}

static void test_unknown_fields_every_level(void **state)
{
    expect_kind("{\"image\":\"busybox\",\"colour\":\"red\"}", AL_ERR_INVALID, "colour");
    expect_kind("{\"image\":\"b\",\"egress\":{\"defaultAction\":\"deny\",\"x\":1}}", AL_ERR_INVALID,
                "'x'");
    expect_kind("{\"image\":\"b\",\"identity\":{\"enabled\":false,\"x\":1}}", AL_ERR_INVALID,
                "'x'");
    expect_kind("{\"image\":\"b\",\"lifecycle\":{\"x\":1}}", AL_ERR_INVALID, "'x'");
    expect_kind("{\"image\":\"b\",\"governance\":{\"x\":[]}}", AL_ERR_INVALID, "'x'");
    expect_kind("{\"image\":\"b\",\"tools\":{\"deny\":[]}}", AL_ERR_INVALID, "'deny'");
    expect_kind("{\"image\":\"b\",\"pool\":{\"min\":1}}", AL_ERR_INVALID, "'min'");
}

static void test_image_env_labels(void **state)
{
    expect_kind("{}", AL_ERR_INVALID, "image");
    expect_kind("{\"image\":\"\"}", AL_ERR_INVALID, "image");
    expect_kind("{\"image\":\"../etc\"}", AL_ERR_INVALID, "image");
    expect_kind("{\"image\":\"a b\"}", AL_ERR_INVALID, "image");
    expect_kind("{\"image\":\"127.0.0.1:5000/repo/x:tag\"}", AL_ERR_NONE, NULL);
    expect_kind("{\"image\":\"b\",\"env\":{\"A_1\":\"x=y\",\"_b\":\"\"}}", AL_ERR_NONE, NULL);
    expect_kind("{\"image\":\"b\",\"env\":{\"1A\":\"x\"}}", AL_ERR_INVALID, "env");
    expect_kind("{\"image\":\"b\",\"env\":{\"A-B\":\"x\"}}", AL_ERR_INVALID, "env");
    expect_kind("{\"image\":\"b\",\"env\":{\"A\":1}}", AL_ERR_INVALID, "env");
    expect_kind("{\"image\":\"b\",\"env\":[\"A=1\"]}", AL_ERR_INVALID, "env");
    expect_kind("{\"image\":\"b\",\"labels\":{\"team\":\"x\",\"a.b/c\":\"\"}}", AL_ERR_NONE, NULL);
    expect_kind("{\"image\":\"b\",\"labels\":{\"team\":\"x y\"}}", AL_ERR_INVALID, "labels");
    expect_kind("{\"image\":\"b\",\"labels\":{\"\":\"x\"}}", AL_ERR_INVALID, "label key");
    expect_kind("{\"image\":\"b\",\"labels\":{\"k\":5}}", AL_ERR_INVALID, "labels");
    /* 33 labels */
    char buf[2048];
    size_t n = (size_t)snprintf(buf, sizeof(buf), "{\"image\":\"b\",\"labels\":{");
    for (int i = 0; i < 33; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s\"k%d\":\"v\"", i ? "," : "", i);
    snprintf(buf + n, sizeof(buf) - n, "}}");
    expect_kind(buf, AL_ERR_INVALID, "labels");
}

static void test_unsupported_is_501(void **state)
{
    expect_kind("{\"image\":\"b\",\"isolation\":\"microvm\"}", AL_ERR_UNSUPPORTED, "microvm");
    expect_kind("{\"image\":\"b\",\"isolation\":\"namespace\"}", AL_ERR_NONE, NULL);
    expect_kind("{\"image\":\"b\",\"isolation\":\"vm\"}", AL_ERR_INVALID, "isolation");
    expect_kind("{\"image\":\"b\",\"egress\":{\"defaultAction\":\"allow\"}}", AL_ERR_UNSUPPORTED,
                "egress");
    expect_kind("{\"image\":\"b\",\"egress\":{\"defaultAction\":\"deny\",\"rules\":[{\"host\":"
                "\"pypi.org\",\"action\":\"allow\"}]}}",
                AL_ERR_UNSUPPORTED, "egress");
    expect_kind("{\"image\":\"b\",\"egress\":{\"defaultAction\":\"deny\",\"rules\":[]}}",
                AL_ERR_NONE, NULL);
    expect_kind("{\"image\":\"b\",\"egress\":{\"defaultAction\":\"maybe\"}}", AL_ERR_INVALID,
                "defaultAction");
    expect_kind("{\"image\":\"b\",\"egress\":{\"rules\":[1]}}", AL_ERR_INVALID, "rules");
    expect_kind("{\"image\":\"b\",\"identity\":{\"enabled\":true}}", AL_ERR_UNSUPPORTED,
                "identity");
    expect_kind("{\"image\":\"b\",\"identity\":{\"enabled\":\"yes\"}}", AL_ERR_INVALID, "enabled");
    expect_kind("{\"image\":\"b\",\"lifecycle\":{\"idleSuspendSeconds\":60}}", AL_ERR_UNSUPPORTED,
                "idleSuspendSeconds");
    expect_kind("{\"image\":\"b\",\"lifecycle\":{\"deleteSuspendedAfterDays\":1}}",
                AL_ERR_UNSUPPORTED, "deleteSuspendedAfterDays");
    expect_kind("{\"image\":\"b\",\"lifecycle\":{\"maxLifetimeSeconds\":60}}", AL_ERR_NONE, NULL);
    expect_kind("{\"image\":\"b\",\"lifecycle\":{\"maxLifetimeSeconds\":-1}}", AL_ERR_INVALID,
                "maxLifetimeSeconds");
    expect_kind("{\"image\":\"b\",\"governance\":{\"deniedCalls\":[\"eval\"]}}", AL_ERR_UNSUPPORTED,
                "governance");
    expect_kind("{\"image\":\"b\",\"governance\":{\"deniedImports\":[\"os\"]}}", AL_ERR_UNSUPPORTED,
                "governance");
    expect_kind("{\"image\":\"b\",\"governance\":{\"deniedCalls\":[1]}}", AL_ERR_INVALID,
                "deniedCalls");
    expect_kind("{\"image\":\"b\",\"governance\":{\"deniedCalls\":[],\"deniedImports\":[]}}",
                AL_ERR_NONE, NULL);
    expect_kind("{\"image\":\"b\",\"tools\":{\"allow\":[\"python3\"]}}", AL_ERR_UNSUPPORTED,
                "tools");
    expect_kind("{\"image\":\"b\",\"tools\":{\"allow\":[]}}", AL_ERR_NONE, NULL);
    expect_kind("{\"image\":\"b\",\"pool\":{\"size\":2}}", AL_ERR_UNSUPPORTED, "pool");
    expect_kind("{\"image\":\"b\",\"pool\":{\"size\":0}}", AL_ERR_NONE, NULL);
    expect_kind("{\"image\":\"b\",\"pool\":{\"size\":100000}}", AL_ERR_INVALID, "size");
}

/* A well-formed egress rule is refused as not built (501); a malformed one is a 400 naming
 * the rule and field, so that a client learns about its mistake before rules are built. */
static void test_egress_rules_shape(void **state)
{
    static const char *const good[] = {
        "{\"host\":\"example.com\",\"action\":\"allow\"}",
        "{\"host\":\"*.example.com\",\"action\":\"deny\"}",
        ("{\"host\":\"API.github.com\",\"action\":\"transform\",\"path\":\"/repos/\","
         "\"method\":\"POST\"}"),
        "{\"host\":\"localhost\",\"action\":\"deny\",\"path\":\"/\"}",
        "{\"host\":\"93.184.216.34\",\"action\":\"deny\"}",
        "{\"host\":\"a-b.c0.io\",\"action\":\"allow\",\"method\":\"GET\"}",
    };
    static const struct {
        const char *rule, *needle;
    } bad[] = {
        {"{}", "host"},
        {"{\"action\":\"allow\"}", "host"},
        {"{\"host\":\"example.com\"}", "action"},
        {"{\"host\":\"example.com\",\"action\":\"permit\"}", "rules[0].action"},
        {"{\"host\":\"example.com\",\"action\":1}", "action"},
        {"{\"host\":\"\",\"action\":\"allow\"}", "rules[0].host"},
        {"{\"host\":\"*\",\"action\":\"allow\"}", "rules[0].host"},
        {"{\"host\":\"*.\",\"action\":\"allow\"}", "rules[0].host"},
        {"{\"host\":\"*example.com\",\"action\":\"allow\"}", "rules[0].host"},
        {"{\"host\":\"a.*.com\",\"action\":\"allow\"}", "rules[0].host"},
        {"{\"host\":\"example.com.\",\"action\":\"allow\"}", "rules[0].host"},
        {"{\"host\":\"a..com\",\"action\":\"allow\"}", "rules[0].host"},
        {"{\"host\":\"-a.com\",\"action\":\"allow\"}", "rules[0].host"},
        {"{\"host\":\"a-.com\",\"action\":\"allow\"}", "rules[0].host"},
        {"{\"host\":\"example.com:443\",\"action\":\"allow\"}", "rules[0].host"},
        {"{\"host\":\"http://example.com\",\"action\":\"allow\"}", "rules[0].host"},
        {"{\"host\":\"ex ample.com\",\"action\":\"allow\"}", "rules[0].host"},
        {"{\"host\":\"[::1]\",\"action\":\"allow\"}", "rules[0].host"},
        {"{\"host\":\"example.com\",\"action\":\"allow\",\"path\":\"repos\"}", "path"},
        {"{\"host\":\"example.com\",\"action\":\"allow\",\"path\":\"/a b\"}", "path"},
        {"{\"host\":\"example.com\",\"action\":\"allow\",\"path\":\"/a\\nb\"}", "path"},
        {"{\"host\":\"example.com\",\"action\":\"allow\",\"path\":\"\"}", "path"},
        {"{\"host\":\"example.com\",\"action\":\"allow\",\"path\":[\"/\"]}", "path"},
        {"{\"host\":\"example.com\",\"action\":\"allow\",\"method\":\"get\"}", "method"},
        {"{\"host\":\"example.com\",\"action\":\"allow\",\"method\":\"\"}", "method"},
        {"{\"host\":\"example.com\",\"action\":\"allow\",\"method\":\"GET /\"}", "method"},
        {"{\"host\":\"example.com\",\"action\":\"allow\",\"port\":443}", "'port'"},
    };
    char buf[1024];
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(buf, sizeof(buf), "{\"image\":\"b\",\"egress\":{\"rules\":[%s]}}", good[i]);
        expect_kind(buf, AL_ERR_UNSUPPORTED, "egress");
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(buf, sizeof(buf), "{\"image\":\"b\",\"egress\":{\"rules\":[%s]}}", bad[i].rule);
        expect_kind(buf, AL_ERR_INVALID, bad[i].needle);
    }
    /* the second rule is the bad one: named by its index */
    expect_kind("{\"image\":\"b\",\"egress\":{\"rules\":[{\"host\":\"a.com\",\"action\":\"allow\"},"
                "{\"host\":\"b.com\",\"action\":\"maybe\"}]}}",
                AL_ERR_INVALID, "rules[1].action");
    /* a 64-character label, a 254-character name */
    char host[300];
    memset(host, 'a', 64);
    host[64] = '\0';
    assert_false(policy_egress_host_valid(host));
    host[63] = '\0';
    assert_true(policy_egress_host_valid(host));
    /* 25 x "aaaaaaaaa." + "aaa": 253 characters, the most a DNS name has; one more is too many */
    for (size_t i = 0; i < 250; i++)
        host[i] = i % 10 == 9 ? '.' : 'a';
    memcpy(host + 250, "aaa", 4);
    assert_int_equal(strlen(host), 253);
    assert_true(policy_egress_host_valid(host));
    memcpy(host + 250, "aaaa", 5);
    assert_false(policy_egress_host_valid(host));
}

/* secrets: {"name": {"value": "..."}}; a well-formed one is 501 (naming "secrets"), a
 * malformed one 400; an empty object is fine; a value never shows in the message. */
static void test_secrets_shape(void **state)
{
    expect_kind("{\"image\":\"b\",\"secrets\":{}}", AL_ERR_NONE, NULL);
    expect_kind("{\"image\":\"b\",\"secrets\":null}", AL_ERR_NONE, NULL);
    expect_kind("{\"image\":\"b\",\"secrets\":{\"gh-token\":{\"value\":\"s3cr3t\"}}}",
                AL_ERR_UNSUPPORTED, "secrets");
    expect_kind("{\"image\":\"b\",\"secrets\":{\"a\":{\"value\":\"x\"},\"b2\":{\"value\":\"y\"}}}",
                AL_ERR_UNSUPPORTED, "secrets");
    expect_kind("{\"image\":\"b\",\"secrets\":[]}", AL_ERR_INVALID, "secrets");
    expect_kind("{\"image\":\"b\",\"secrets\":\"tok\"}", AL_ERR_INVALID, "secrets");
    expect_kind("{\"image\":\"b\",\"secrets\":{\"GH_TOKEN\":{\"value\":\"x\"}}}", AL_ERR_INVALID,
                "secret name");
    expect_kind("{\"image\":\"b\",\"secrets\":{\"\":{\"value\":\"x\"}}}", AL_ERR_INVALID,
                "secret name");
    expect_kind("{\"image\":\"b\",\"secrets\":{\"a\":\"x\"}}", AL_ERR_INVALID, "secrets.a");
    expect_kind("{\"image\":\"b\",\"secrets\":{\"a\":{}}}", AL_ERR_INVALID, "value");
    expect_kind("{\"image\":\"b\",\"secrets\":{\"a\":{\"value\":\"\"}}}", AL_ERR_INVALID,
                "secrets.a.value");
    expect_kind("{\"image\":\"b\",\"secrets\":{\"a\":{\"value\":7}}}", AL_ERR_INVALID, "value");
    expect_kind("{\"image\":\"b\",\"secrets\":{\"a\":{\"value\":\"x\",\"ttl\":1}}}", AL_ERR_INVALID,
                "'ttl'");
    /* bounds: 65 entries; a value over 64 KiB */
    char *buf = malloc(POLICY_SECRET_VALUE_MAX + 256);
    assert_non_null(buf);
    size_t n = (size_t)snprintf(buf, 64, "{\"image\":\"b\",\"secrets\":{");
    for (int i = 0; i <= POLICY_SECRETS_MAX; i++)
        n += (size_t)snprintf(buf + n, 64, "%s\"s%d\":{\"value\":\"v\"}", i ? "," : "", i);
    snprintf(buf + n, 8, "}}");
    expect_kind(buf, AL_ERR_INVALID, "more than");
    n = (size_t)snprintf(buf, 64, "{\"image\":\"b\",\"secrets\":{\"a\":{\"value\":\"");
    memset(buf + n, 'v', POLICY_SECRET_VALUE_MAX + 1);
    n += POLICY_SECRET_VALUE_MAX + 1;
    snprintf(buf + n, 8, "\"}}}");
    expect_kind(buf, AL_ERR_INVALID, "longer than");
    free(buf);
    /* a value is never echoed */
    struct policy_group g;
    struct al_err err;
    assert_int_not_equal(
        check("{\"image\":\"b\",\"secrets\":{\"a\":{\"value\":\"hunter2\",\"x\":1}}}", &g, &err),
        0);
    policy_group_free(&g);
    assert_null(strstr(err.msg, "hunter2"));
    assert_int_equal(
        check("{\"image\":\"b\",\"secrets\":{\"a\":{\"value\":\"hunter2\"}}}", &g, &err), -ENOTSUP);
    assert_null(strstr(err.msg, "hunter2"));
    policy_group_free(&g);
    /* the encoded group shows the (empty) setting */
    assert_int_equal(check("{\"image\":\"b\"}", &g, &err), 0);
    cleanup_json json_t *enc = policy_group_encode(&g);
    policy_group_free(&g);
    assert_non_null(enc);
    assert_true(json_is_object(json_object_get(enc, "secrets")));
    assert_int_equal(json_object_size(json_object_get(enc, "secrets")), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_defaults),
        cmocka_unit_test(test_tiers),
        cmocka_unit_test(test_resources),
        cmocka_unit_test(test_unknown_fields_every_level),
        cmocka_unit_test(test_image_env_labels),
        cmocka_unit_test(test_unsupported_is_501),
        cmocka_unit_test(test_egress_rules_shape),
        cmocka_unit_test(test_secrets_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
