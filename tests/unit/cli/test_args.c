#include "harness.h"

#include <errno.h>
#include <string.h>

#include "cli/args.h"
#include "common/cleanup.h"
#include "common/json.h"

static const struct cli_opt g_opts[] = {
    {"url", 0, CLI_OPT_VALUE, "URL", ""},
    {"json", 0, CLI_OPT_FLAG, NULL, ""},
    {"help", 'h', CLI_OPT_FLAG, NULL, ""},
};
static const struct cli_opt c_opts[] = {
    {"env", 'e', CLI_OPT_MULTI, "K=V", ""},
    {"timeout", 't', CLI_OPT_VALUE, "S", ""},
    {"label", 'l', CLI_OPT_MULTI, "K=V", ""},
};

#define PARSE(a, stop, ...)                                                                        \
    ({                                                                                             \
        static char *argv_[] = {__VA_ARGS__};                                                      \
        char eb_[256];                                                                             \
        cli_args_parse((a), g_opts, 3, c_opts, 3, (int)AL_ARRAY_SIZE(argv_), argv_, (stop), eb_,   \
                       sizeof(eb_));                                                               \
    })

static void test_options(void **state)
{
    struct cli_args a;
    assert_int_equal(PARSE(&a, 0, "g1", "--url", "http://x", "--json", "-e", "A=1", "--env=B=2",
                           "-eC=3", "--timeout=5", "id"),
                     0);
    assert_int_equal(a.n_pos, 2);
    assert_string_equal(a.pos[0], "g1");
    assert_string_equal(a.pos[1], "id");
    assert_string_equal(cli_args_get(&a, "url"), "http://x");
    assert_true(cli_args_has(&a, "json"));
    assert_false(cli_args_has(&a, "help"));
    assert_string_equal(cli_args_get(&a, "timeout"), "5");
    assert_string_equal(cli_args_multi(&a, "env", 0), "A=1");
    assert_string_equal(cli_args_multi(&a, "env", 1), "B=2");
    assert_string_equal(cli_args_multi(&a, "env", 2), "C=3");
    assert_null(cli_args_multi(&a, "env", 3));
    assert_null(cli_args_multi(&a, "label", 0));
    assert_false(a.has_rest);
}

static void test_last_value_wins(void **state)
{
    struct cli_args a;
    assert_int_equal(PARSE(&a, 0, "-t", "1", "--timeout", "2"), 0);
    assert_string_equal(cli_args_get(&a, "timeout"), "2");
}

static void test_errors(void **state)
{
    struct cli_args a;
    assert_int_equal(PARSE(&a, 0, "--nope"), -EINVAL);
    assert_int_equal(PARSE(&a, 0, "-x"), -EINVAL);
    assert_int_equal(PARSE(&a, 0, "--url"), -EINVAL);    /* missing value */
    assert_int_equal(PARSE(&a, 0, "--json=1"), -EINVAL); /* flag with value */
    assert_int_equal(PARSE(&a, 0, "-hx"), -EINVAL);      /* flag with value */
    assert_int_equal(PARSE(&a, 0, "--urlx=1"), -EINVAL); /* no prefix matching */
    char eb[256];
    char *argv[] = {"--bogus"};
    cli_args_parse(&a, g_opts, 3, NULL, 0, 1, argv, 0, eb, sizeof(eb));
    assert_non_null(strstr(eb, "--bogus"));
}

static void test_rest(void **state)
{
    struct cli_args a;
    assert_int_equal(PARSE(&a, 0, "g", "-e", "A=1", "--", "sh", "-c", "--json"), 0);
    assert_true(a.has_rest);
    assert_int_equal(a.n_rest, 3);
    assert_string_equal(a.rest[0], "sh");
    assert_string_equal(a.rest[2], "--json");
    assert_false(cli_args_has(&a, "json"));
    /* empty command after -- */
    assert_int_equal(PARSE(&a, 0, "g", "--"), 0);
    assert_true(a.has_rest);
    assert_int_equal(a.n_rest, 0);
    /* stop after two positionals: the command needs no "--" and keeps its own options */
    assert_int_equal(PARSE(&a, 2, "g", "--json", "id", "ls", "-l", "--url", "x"), 0);
    assert_int_equal(a.n_pos, 2);
    assert_true(cli_args_has(&a, "json"));
    assert_null(cli_args_get(&a, "url"));
    assert_int_equal(a.n_rest, 4);
    assert_string_equal(a.rest[0], "ls");
    assert_string_equal(a.rest[1], "-l");
    /* "-" alone is a positional (stdin) */
    assert_int_equal(PARSE(&a, 0, "-", "x"), 0);
    assert_int_equal(a.n_pos, 2);
    assert_string_equal(a.pos[0], "-");
}

static void test_kv(void **state)
{
    char eb[256];
    cleanup_json json_t *o = json_object();
    assert_int_equal(cli_kv_add(o, "A=1", eb, sizeof(eb)), 0);
    assert_int_equal(cli_kv_add(o, "B=", eb, sizeof(eb)), 0);
    assert_int_equal(cli_kv_add(o, "C=x=y", eb, sizeof(eb)), 0);
    assert_int_equal(cli_kv_add(o, "A=2", eb, sizeof(eb)), 0); /* later wins */
    assert_string_equal(json_string_value(json_object_get(o, "A")), "2");
    assert_string_equal(json_string_value(json_object_get(o, "B")), "");
    assert_string_equal(json_string_value(json_object_get(o, "C")), "x=y");
    assert_int_equal(cli_kv_add(o, "novalue", eb, sizeof(eb)), -EINVAL);
    assert_non_null(strstr(eb, "KEY=VALUE"));
    assert_int_equal(cli_kv_add(o, "=v", eb, sizeof(eb)), -EINVAL);
    assert_int_equal(cli_kv_add(o, "K=\xff", eb, sizeof(eb)), -EINVAL); /* not UTF-8 */
    assert_int_equal(json_object_size(o), 3);
}

static void test_kv_object(void **state)
{
    struct cli_args a;
    char eb[256];
    assert_int_equal(PARSE(&a, 0, "-l", "a=1", "--label", "b=2"), 0);
    cleanup_json json_t *o = cli_kv_object(&a, "label", eb, sizeof(eb));
    assert_non_null(o);
    assert_int_equal(json_object_size(o), 2);
    cleanup_json json_t *e = cli_kv_object(&a, "env", eb, sizeof(eb));
    assert_non_null(e);
    assert_int_equal(json_object_size(e), 0);
    assert_int_equal(PARSE(&a, 0, "-l", "bad"), 0);
    assert_null(cli_kv_object(&a, "label", eb, sizeof(eb)));
}

static void test_remote(void **state)
{
    char id[CLI_SANDBOX_ID_LEN + 1];
    const char *path = NULL;
    const char *hex = "0123456789abcdef0123456789abcdef";
    char buf[128];
    snprintf(buf, sizeof(buf), "%s:/etc/passwd", hex);
    assert_int_equal(cli_remote_parse(buf, id, &path), 1);
    assert_string_equal(id, hex);
    assert_string_equal(path, "/etc/passwd");
    snprintf(buf, sizeof(buf), "%s:/", hex);
    assert_int_equal(cli_remote_parse(buf, id, &path), 1);
    assert_string_equal(path, "/");
    snprintf(buf, sizeof(buf), "%s:rel", hex);
    assert_int_equal(cli_remote_parse(buf, id, &path), -EINVAL);
    snprintf(buf, sizeof(buf), "%s:", hex);
    assert_int_equal(cli_remote_parse(buf, id, &path), -EINVAL);
    /* local paths */
    assert_int_equal(cli_remote_parse("file.txt", id, &path), 0);
    assert_int_equal(cli_remote_parse("./a:/b", id, &path), 0);
    assert_int_equal(cli_remote_parse("/abs/path", id, &path), 0);
    assert_int_equal(cli_remote_parse("-", id, &path), 0);
    assert_int_equal(cli_remote_parse("0123456789ABCDEF0123456789abcdef:/x", id, &path), 0);
    assert_int_equal(cli_remote_parse("0123456789abcdef0123456789abcde:/x", id, &path), 0);
    assert_int_equal(cli_remote_parse("0123456789abcdef0123456789abcdef0:/x", id, &path), 0);
    assert_true(cli_sandbox_id_valid(hex));
    assert_false(cli_sandbox_id_valid("0123"));
    assert_false(cli_sandbox_id_valid("g123456789abcdef0123456789abcdef"));
}

#define WHERE(w, ...)                                                                              \
    ({                                                                                             \
        char eb_[256];                                                                             \
        struct cli_where_in in_ = {__VA_ARGS__};                                                   \
        cli_where_resolve(&in_, (w), eb_, sizeof(eb_));                                            \
    })

static void test_where(void **state)
{
    struct cli_where w;
    /* nothing given: ./state's socket and key */
    assert_int_equal(WHERE(&w, 0), 0);
    assert_null(w.url);
    assert_string_equal(w.socket, "state/airlockd.sock");
    assert_null(w.key);
    assert_string_equal(w.key_dir, "state");
    cli_where_free(&w);

    /* flags win over the environment */
    assert_int_equal(WHERE(&w, .url = "http://127.0.0.1:7070", .key = "k1",
                           .env_url = "http://other", .env_key = "k2"),
                     0);
    assert_string_equal(w.url, "http://127.0.0.1:7070");
    assert_null(w.socket);
    assert_string_equal(w.key, "k1");
    cli_where_free(&w);
    assert_int_equal(WHERE(&w, .socket = "/run/a.sock", .env_url = "http://other"), 0);
    assert_null(w.url);
    assert_string_equal(w.socket, "/run/a.sock");
    cli_where_free(&w);

    /* AIRLOCK_URL, unix: form; AIRLOCK_KEY */
    assert_int_equal(WHERE(&w, .env_url = "unix:/tmp/s", .env_key = "k2"), 0);
    assert_string_equal(w.socket, "/tmp/s");
    assert_string_equal(w.key, "k2");
    cli_where_free(&w);
    assert_int_equal(WHERE(&w, .env_url = "https://h:1/"), 0);
    assert_string_equal(w.url, "https://h:1/");
    cli_where_free(&w);

    /* --state-dir: its socket and its admin key, whatever the environment says */
    assert_int_equal(
        WHERE(&w, .state_dir = "/s", .env_url = "http://x", .env_key = "k2", .env_state_dir = "/e"),
        0);
    assert_string_equal(w.socket, "/s/airlockd.sock");
    assert_null(w.key);
    assert_string_equal(w.key_dir, "/s");
    cli_where_free(&w);
    /* AIRLOCK_STATE_DIR, below AIRLOCK_URL */
    assert_int_equal(WHERE(&w, .env_state_dir = "/e"), 0);
    assert_string_equal(w.socket, "/e/airlockd.sock");
    assert_string_equal(w.key_dir, "/e");
    cli_where_free(&w);
    assert_int_equal(WHERE(&w, .env_state_dir = "/e", .env_url = "http://u"), 0);
    assert_string_equal(w.url, "http://u");
    assert_string_equal(w.key_dir, "/e");
    cli_where_free(&w);

    /* empty environment variables count as unset */
    assert_int_equal(WHERE(&w, .env_url = "", .env_state_dir = "", .env_key = ""), 0);
    assert_string_equal(w.socket, "state/airlockd.sock");
    assert_null(w.key);
    cli_where_free(&w);

    /* usage errors */
    assert_int_equal(WHERE(&w, .url = "http://a", .socket = "/s"), -EINVAL);
    assert_int_equal(WHERE(&w, .url = "ftp://a"), -EINVAL);
    assert_int_equal(WHERE(&w, .url = "127.0.0.1:7070"), -EINVAL);
    assert_int_equal(WHERE(&w, .env_url = "127.0.0.1:7070"), -EINVAL);
}

static void test_key_trim(void **state)
{
    char k[] = "0123abcd \r\n\n";
    assert_int_equal(cli_key_trim(k, strlen(k)), 8);
    assert_string_equal(k, "0123abcd");
    char e[] = "\n \r";
    assert_int_equal(cli_key_trim(e, strlen(e)), 0);
    assert_string_equal(e, "");
    char inner[] = "a b\tc\n";
    assert_int_equal(cli_key_trim(inner, strlen(inner)), 5); /* only the end is trimmed */
    assert_string_equal(inner, "a b\tc");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options),  cmocka_unit_test(test_last_value_wins),
        cmocka_unit_test(test_errors),   cmocka_unit_test(test_rest),
        cmocka_unit_test(test_kv),       cmocka_unit_test(test_kv_object),
        cmocka_unit_test(test_remote),   cmocka_unit_test(test_where),
        cmocka_unit_test(test_key_trim),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
