#include "../common/harness.h"

#include <signal.h>
#include <string.h>

#include "agent/requests.h"
#include "common/cleanup.h"
#include "common/json.h"

static json_t *parse(const char *s)
{
    struct al_err err;
    json_t *j = al_json_parse(s, strlen(s), 8, &err);
    assert_non_null(j);
    return j;
}

static int exec_decode(const char *text, struct agent_exec_req *r, struct al_err *err)
{
    cleanup_json json_t *j = parse(text);
    al_err_clear(err);
    int rc = agent_exec_req_decode(j, r, err);
    if (rc == 0) { /* borrowed strings die with j: keep only what the tests look at */
        r->cwd = r->cwd ? "set" : NULL;
        r->user = r->user ? "set" : NULL;
    }
    return rc;
}

static void test_exec(void **state)
{
    struct agent_exec_req r;
    struct al_err err;
    assert_int_equal(exec_decode("{\"command\":[\"sh\",\"-c\",\"x\"],\"env\":{\"A\":\"1\"},"
                                 "\"cwd\":\"/tmp\",\"user\":\"1000\",\"timeoutMs\":5,\"rows\":24,"
                                 "\"cols\":80,\"maxOutput\":9,\"tty\":true,\"stdin\":true}",
                                 &r, &err),
                     0);
    assert_string_equal(r.argv[2], "x");
    assert_string_equal(r.env[0], "A=1");
    assert_non_null(r.cwd);
    assert_int_equal(r.timeout_ms, 5);
    assert_int_equal(r.rows, 24);
    assert_int_equal(r.max_output, 9);
    assert_true(r.tty && r.stdin_open);
    agent_exec_req_free(&r);
    /* env as a list; everything else absent */
    assert_int_equal(exec_decode("{\"command\":[\"ls\"],\"env\":[\"B=2\"]}", &r, &err), 0);
    assert_string_equal(r.env[0], "B=2");
    assert_null(r.cwd);
    assert_null(r.user);
    assert_false(r.tty);
    agent_exec_req_free(&r);

    static const char *const bad[][2] = {
        {"[\"ls\"]", "must be an object"},
        {"{}", "command"},
        {"{\"command\":[]}", "empty command"},
        {"{\"command\":[\"\"]}", "empty command"},
        {"{\"command\":[\"ls\"],\"env\":[\"NOEQUALS\"]}", "bad env entry"},
        {"{\"command\":[\"ls\"],\"cwd\":\"rel\"}", "cwd"},
        {"{\"command\":[\"ls\"],\"cwd\":\"/a\\nb\"}", "cwd"},
        {"{\"command\":[\"ls\"],\"rows\":65536}", "rows"},
        {"{\"command\":[\"ls\"],\"timeoutMs\":-1}", "timeoutMs"},
        {"{\"command\":[\"ls\"],\"tty\":1}", "tty"},
    };
    for (size_t i = 0; i < AL_ARRAY_SIZE(bad); i++) {
        int rc = exec_decode(bad[i][0], &r, &err);
        agent_exec_req_free(&r);
        if (rc == 0 || !strstr(err.msg, bad[i][1]))
            fail_msg("%s: rc %d, '%s' (wanted '%s')", bad[i][0], rc, err.msg, bad[i][1]);
    }
}

static void test_resize_signal(void **state)
{
    uint16_t rows = 0, cols = 0;
    int sig = 0;
    cleanup_json json_t *ok = parse("{\"rows\":50,\"cols\":132,\"signal\":15}");
    assert_int_equal(agent_resize_decode(ok, &rows, &cols), 0);
    assert_int_equal(rows, 50);
    assert_int_equal(cols, 132);
    assert_int_equal(agent_signal_decode(ok, &sig), 0);
    assert_int_equal(sig, SIGTERM);
    static const char *const bad[] = {"{\"rows\":0,\"cols\":1}", "{\"rows\":1}",
                                      "{\"rows\":1,\"cols\":65536}", "{\"rows\":\"1\",\"cols\":1}"};
    for (size_t i = 0; i < AL_ARRAY_SIZE(bad); i++) {
        cleanup_json json_t *j = parse(bad[i]);
        assert_int_equal(agent_resize_decode(j, &rows, &cols), -EINVAL);
    }
    static const char *const badsig[] = {"{\"signal\":0}", "{\"signal\":65}", "{}",
                                         "{\"signal\":null}", "[9]"};
    for (size_t i = 0; i < AL_ARRAY_SIZE(badsig); i++) {
        cleanup_json json_t *j = parse(badsig[i]);
        assert_int_equal(agent_signal_decode(j, &sig), -EINVAL);
    }
}

/* "" when op+path and options decode, else the message */
static const char *file_decode(const char *text, struct agent_file_req *r)
{
    static struct al_err err;
    cleanup_json json_t *j = parse(text);
    al_err_clear(&err);
    if (agent_file_req_decode(j, r, &err) < 0 || agent_file_opts_decode(j, r, &err) < 0)
        return err.msg;
    r->path = NULL; /* borrowed from j */
    return "";
}

static void test_file(void **state)
{
    struct agent_file_req r;
    assert_string_equal(file_decode("{\"op\":\"read\",\"path\":\"/a\",\"maxBytes\":7}", &r), "");
    assert_int_equal(r.op, AGENT_FILE_READ);
    assert_int_equal(r.max_bytes, 7);
    assert_string_equal(file_decode("{\"op\":\"read\",\"path\":\"/a\",\"maxBytes\":null}", &r), "");
    assert_int_equal(r.max_bytes, 0);
    assert_string_equal(file_decode("{\"op\":\"write\",\"path\":\"/a\"}", &r), "");
    assert_int_equal(r.op, AGENT_FILE_WRITE);
    assert_int_equal(r.mode, 0644);
    assert_false(r.append);
    assert_string_equal(
        file_decode("{\"op\":\"write\",\"path\":\"/a\",\"mode\":384,\"append\":true}", &r), "");
    assert_int_equal(r.mode, 0600);
    assert_true(r.append);
    assert_string_equal(file_decode("{\"op\":\"mkdir\",\"path\":\"/d\",\"parents\":true}", &r), "");
    assert_int_equal(r.mode, 0755);
    assert_true(r.parents);
    assert_string_equal(file_decode("{\"op\":\"remove\",\"path\":\"/d\",\"recursive\":true}", &r),
                        "");
    assert_true(r.recursive);
    assert_string_equal(file_decode("{\"op\":\"list\",\"path\":\"/\"}", &r), "");
    assert_int_equal(r.op, AGENT_FILE_LIST);
    assert_string_equal(file_decode("{\"op\":\"stat\",\"path\":\"/\"}", &r), "");
    assert_int_equal(r.op, AGENT_FILE_STAT);
    /* an unknown op decodes: the agent refuses it after its request id check */
    assert_string_equal(file_decode("{\"op\":\"chmod\",\"path\":\"/\",\"mode\":\"x\"}", &r), "");
    assert_int_equal(r.op, AGENT_FILE_UNKNOWN);

    static const char *const bad[][2] = {
        {"[]", "FILE: payload must be an object"},
        {"{\"path\":\"/a\"}", "'op'"},
        {"{\"op\":\"read\"}", "'path'"},
        {"{\"op\":\"readreadreadreadr\",\"path\":\"/a\"}", "'op'"},
        {"{\"op\":\"read\",\"path\":\"/a\\u0001\"}", "FILE: bad path"},
        {"{\"op\":\"read\",\"path\":\"/a\",\"maxBytes\":-1}", "read: bad maxBytes"},
        {"{\"op\":\"write\",\"path\":\"/a\",\"mode\":4096}", "write: bad mode"},
        {"{\"op\":\"write\",\"path\":\"/a\",\"mode\":null}", "write: bad mode"},
        {"{\"op\":\"write\",\"path\":\"/a\",\"append\":1}", "write: bad append"},
        {"{\"op\":\"mkdir\",\"path\":\"/a\",\"mode\":\"0755\"}", "mkdir: bad mode"},
        {"{\"op\":\"mkdir\",\"path\":\"/a\",\"parents\":null}", "mkdir: bad parents"},
        {"{\"op\":\"remove\",\"path\":\"/a\",\"recursive\":\"yes\"}", "remove: bad recursive"},
    };
    for (size_t i = 0; i < AL_ARRAY_SIZE(bad); i++) {
        const char *msg = file_decode(bad[i][0], &r);
        if (!strstr(msg, bad[i][1]))
            fail_msg("%s: '%s' (wanted '%s')", bad[i][0], msg, bad[i][1]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exec),
        cmocka_unit_test(test_resize_signal),
        cmocka_unit_test(test_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
