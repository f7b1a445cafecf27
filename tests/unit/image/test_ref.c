#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>

#include "image/img_internal.h"

static void test_ref_ok(void **state)
{
    struct img_ref r;
    struct al_err err = {0};
    assert_int_equal(img_ref_parse("127.0.0.1:5000/repo", &r, &err), 0);
    assert_string_equal(r.host, "127.0.0.1:5000");
    assert_string_equal(r.repo, "repo");
    assert_string_equal(r.tag, "latest");
    assert_string_equal(r.digest, "");

    assert_int_equal(img_ref_parse("registry.example.com/a/b-c/d__e:v1.2-rc", &r, &err), 0);
    assert_string_equal(r.host, "registry.example.com");
    assert_string_equal(r.repo, "a/b-c/d__e");
    assert_string_equal(r.tag, "v1.2-rc");

    const char *dg = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char buf[200];
    snprintf(buf, sizeof(buf), "localhost:5000/x@%s", dg);
    assert_int_equal(img_ref_parse(buf, &r, &err), 0);
    assert_string_equal(r.host, "localhost:5000");
    assert_string_equal(r.repo, "x");
    assert_string_equal(r.tag, "");
    assert_string_equal(r.digest, dg);

    snprintf(buf, sizeof(buf), "[::1]:5000/x:t@%s", dg);
    assert_int_equal(img_ref_parse(buf, &r, &err), 0);
    assert_string_equal(r.host, "[::1]:5000");
    assert_string_equal(r.tag, "t");
    assert_string_equal(r.digest, dg);

    assert_int_equal(img_ref_parse("localhost/x", &r, &err), 0);
}

static void test_ref_bad(void **state)
{
    struct img_ref r;
    struct al_err err = {0};
    const char *bad[] = {
        "",
        "busybox",         /* no implicit docker.io */
        "library/busybox", /* first component is not a host */
        "busybox:latest",
        "Registry.example.com/x", /* fine host, but ... */
        "example.com/UPPER",      /* upper case repo */
        "example.com/",           /* empty repo */
        "example.com/a//b",
        "example.com/a/",
        "example.com/-a",
        "example.com/a:",   /* empty tag */
        "example.com/a:-x", /* tag starting with '-' */
        "example.com:0/a",
        "example.com:99999/a",
        "example.com:12a/a",
        "example..com/a",
        ".example.com/a",
        "example.com/a@sha256:abc", /* short digest */
        "example.com/a@md5:0123456789abcdef0123456789abcdef",
        "[::1/a",
        "exa mple.com/a",
        "example.com/a b",
        "example.com/a:t:u",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = img_ref_parse(bad[i], &r, &err);
        if (i == 4) { /* upper-case host characters are valid DNS */
            assert_int_equal(rc, 0);
            continue;
        }
        if (rc == 0)
            fail_msg("accepted bad ref '%s'", bad[i]);
        assert_int_equal(err.kind, AL_ERR_INVALID);
    }
    char longref[700];
    memset(longref, 'a', sizeof(longref) - 1);
    longref[sizeof(longref) - 1] = '\0';
    memcpy(longref, "example.com/", 12);
    assert_int_equal(img_ref_parse(longref, &r, &err), -EINVAL);
    /* a host of 257 bytes (found by fuzz_ref: overflowed r.host) */
    char longhost[300];
    memset(longhost, 'a', 257);
    longhost[100] = '.';
    memcpy(longhost + 257, "/x", 3);
    assert_int_equal(img_ref_parse(longhost, &r, &err), -EINVAL);
    longhost[250] = ':';
    memcpy(longhost + 251, "5000/x", 7);
    assert_int_equal(img_ref_parse(longhost, &r, &err), 0); /* 255 bytes still fit */
    assert_int_equal(strlen(r.host), 255);
}

static void test_challenge(void **state)
{
    struct img_challenge c;
    assert_int_equal(img_challenge_parse("Bearer realm=\"https://auth.example.com/token\","
                                         "service=\"registry.example.com\","
                                         "scope=\"repository:samalba/my-app:pull,push\"",
                                         &c),
                     0);
    assert_string_equal(c.scheme, "bearer");
    assert_string_equal(c.realm, "https://auth.example.com/token");
    assert_string_equal(c.service, "registry.example.com");
    assert_string_equal(c.scope, "repository:samalba/my-app:pull,push");

    /* spacing, unquoted tokens, case, escapes, unknown params */
    assert_int_equal(
        img_challenge_parse("bEaReR  Realm = \"http://127.0.0.1:9/t\\\"x\" , service=reg, foo=bar",
                            &c),
        0);
    assert_string_equal(c.realm, "http://127.0.0.1:9/t\"x");
    assert_string_equal(c.service, "reg");
    assert_string_equal(c.scope, "");

    assert_int_equal(img_challenge_parse("Basic realm=\"Registry Realm\"", &c), 0);
    assert_string_equal(c.scheme, "basic");
    assert_int_equal(img_challenge_parse("Basic", &c), 0);

    assert_int_equal(img_challenge_parse("", &c), -EINVAL);
    assert_int_equal(img_challenge_parse("Bearer service=\"x\"", &c), -EINVAL); /* no realm */
    assert_int_equal(img_challenge_parse("Bearer realm=\"unterminated", &c), -EINVAL);
    assert_int_equal(img_challenge_parse("Bearer realm", &c), -EINVAL);
    assert_int_equal(img_challenge_parse("Bearer realm=\"a\" junk", &c), -EINVAL);
    assert_int_equal(img_challenge_parse("Bearer realm=\"a\x01\"", &c), -EINVAL);
    char big[3000];
    memcpy(big, "Bearer realm=\"", 14);
    memset(big + 14, 'a', 2000);
    memcpy(big + 2014, "\"", 2);
    assert_int_equal(img_challenge_parse(big, &c), -EINVAL);
}

static char *token_of(const char *body)
{
    char *tok = NULL;
    struct al_err err = {0};
    int rc = img_token_parse(body, strlen(body), &tok, &err);
    if (rc < 0) {
        assert_int_equal(err.kind, AL_ERR_INVALID);
        assert_true(err.msg[0] != '\0');
        assert_null(tok);
    }
    return tok;
}

static void test_token(void **state)
{
    static const struct {
        const char *body, *token; /* token NULL: refused */
    } cases[] = {
        {"{\"token\":\"abc.def-ghi_\"}", "abc.def-ghi_"},
        {"{\"access_token\":\"xyz\"}", "xyz"},
        {"{\"token\":\"t1\",\"access_token\":\"t2\",\"expires_in\":300,"
         "\"issued_at\":\"2024-01-01T00:00:00Z\"}",
         "t1"},
        /* an empty or mistyped token falls back to access_token */
        {"{\"token\":\"\",\"access_token\":\"t2\"}", "t2"},
        {"{\"token\":42,\"access_token\":\"t2\"}", "t2"},
        {"{\"token\":null,\"access_token\":\"t2\"}", "t2"},
        {"{\"token\":\"\\u00e9t\\u00e9\"}", "\xc3\xa9t\xc3\xa9"}, /* non-ASCII: not a control */
        {"{\"token\":\"\"}", NULL},
        {"{}", NULL},
        {"{\"token\":42}", NULL},
        {"[\"token\"]", NULL},
        {"{\"token\":\"a b\"}", NULL},
        {"{\"token\":\"a\\r\\nX-Injected: 1\"}", NULL}, /* header injection */
        {"{\"token\":\"a\\u007f\"}", NULL},
        {"{\"token\":\"a\\u0000b\"}", NULL},
        {"{\"token\":\"a\",\"token\":\"b\"}", NULL}, /* duplicate keys */
        {"{\"token\":\"a\"} trailing", NULL},
        {"{\"a\":{\"b\":{\"c\":{\"d\":{}}}},\"token\":\"a\"}", NULL}, /* too deep */
        {"not json", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *tok = token_of(cases[i].body);
        if (!cases[i].token && tok)
            fail_msg("accepted token '%s' from %s", tok, cases[i].body);
        if (cases[i].token && !tok)
            fail_msg("refused %s", cases[i].body);
        if (tok)
            assert_string_equal(tok, cases[i].token);
        free(tok);
    }

    char *tok = NULL;
    struct al_err err = {0};
    assert_int_equal(img_token_parse(NULL, 0, &tok, &err), -EINVAL);
    assert_int_equal(img_token_parse("", 0, &tok, &err), -EINVAL);
    assert_null(tok);

    /* the token's length is bounded */
    size_t n = IMG_MAX_TOKEN + 1;
    char *big = malloc(n + 32);
    assert_non_null(big);
    int len = snprintf(big, 32, "{\"token\":\"");
    memset(big + len, 'a', n);
    memcpy(big + len + n, "\"}", 3);
    assert_int_equal(img_token_parse(big, strlen(big), &tok, &err), -EINVAL);
    big[len + n - 1] = '"';
    big[len + n] = '}';
    big[len + n + 1] = '\0';
    assert_int_equal(img_token_parse(big, strlen(big), &tok, &err), 0); /* exactly the max */
    assert_int_equal(strlen(tok), IMG_MAX_TOKEN);
    free(tok);
    free(big);
}

static bool blocked4(const char *ip, bool reg_loop)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    assert_int_equal(inet_pton(AF_INET, ip, &a.sin_addr), 1);
    return img_addr_blocked((struct sockaddr *)&a, reg_loop);
}

static bool blocked6(const char *ip, bool reg_loop)
{
    struct sockaddr_in6 a = {.sin6_family = AF_INET6};
    assert_int_equal(inet_pton(AF_INET6, ip, &a.sin6_addr), 1);
    return img_addr_blocked((struct sockaddr *)&a, reg_loop);
}

static void test_addr_blocked(void **state)
{
    /* a remote registry (or its redirects / token realm) never reaches loopback or metadata */
    assert_true(blocked4("127.0.0.1", false));
    assert_true(blocked4("127.1.2.3", false));
    assert_true(blocked4("169.254.169.254", false));
    assert_true(blocked4("0.0.0.0", false));
    assert_true(blocked6("::1", false));
    assert_true(blocked6("::ffff:127.0.0.1", false));
    assert_true(blocked6("::ffff:169.254.169.254", false));
    assert_true(blocked6("fe80::1", false));
    assert_true(blocked6("::", false));
    assert_false(blocked4("10.1.2.3", false)); /* private registries are fine */
    assert_false(blocked4("93.184.216.34", false));
    assert_false(blocked6("2001:db8::1", false));
    /* a loopback registry may use loopback, still not metadata */
    assert_false(blocked4("127.0.0.1", true));
    assert_false(blocked6("::1", true));
    assert_true(blocked4("169.254.169.254", true));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ref_ok),       cmocka_unit_test(test_ref_bad),
        cmocka_unit_test(test_challenge),    cmocka_unit_test(test_token),
        cmocka_unit_test(test_addr_blocked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
