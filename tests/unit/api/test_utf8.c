#include "../common/harness.h"

#include <stdlib.h>
#include <string.h>

#include "api/api.h"

#define R "\xEF\xBF\xBD"

static void check(const char *in, size_t len, const char *want)
{
    size_t n = 0;
    char *out = api_utf8_sanitize(in, len, &n);
    assert_non_null(out);
    if (n != strlen(want) || memcmp(out, want, n) != 0)
        fail_msg("sanitize gave '%s', want '%s'", out, want);
    free(out);
}

static void test_valid_passes(void **state)
{
    check("", 0, "");
    check("hello\n", 6, "hello\n");
    check("\xCE\xBB \xE2\x82\xAC \xF0\x9F\x98\x80", 11, "\xCE\xBB \xE2\x82\xAC \xF0\x9F\x98\x80");
    check("\xEF\xBF\xBF", 3, "\xEF\xBF\xBF");
    check("\xF4\x8F\xBF\xBF", 4, "\xF4\x8F\xBF\xBF"); /* U+10FFFF */
}

static void test_invalid_replaced(void **state)
{
    check("a\xFF"
          "b",
          3, "a" R "b");
    check("\x80", 1, R);
    check("\xC0\xAF", 2, R R);             /* overlong '/' */
    check("\xE0\x80\xAF", 3, R R R);       /* overlong */
    check("\xED\xA0\x80", 3, R R R);       /* surrogate */
    check("\xF4\x90\x80\x80", 4, R R R R); /* > U+10FFFF */
    check("\xF5\x80", 2, R R);
    check("\xE2\x82", 2, R); /* truncated: one maximal subpart */
    check("\xE2\x82"
          "x",
          3, R "x");
    check("\xF0\x9F\x98", 3, R);
    check("\xF0\x9F\x98"
          "\xCE\xBB",
          5, R "\xCE\xBB");
    /* NUL is valid UTF-8 (JSON escapes it) */
    size_t n = 0;
    char *out = api_utf8_sanitize("a\0b", 3, &n);
    assert_int_equal(n, 3);
    assert_memory_equal(out, "a\0b", 3);
    free(out);
}

static void test_complete_prefix(void **state)
{
    assert_int_equal(api_utf8_complete_prefix("abc", 3), 3);
    assert_int_equal(api_utf8_complete_prefix("ab\xCE", 3), 2);
    assert_int_equal(api_utf8_complete_prefix("ab\xCE\xBB", 4), 4);
    assert_int_equal(api_utf8_complete_prefix("\xE2\x82", 2), 0);
    assert_int_equal(api_utf8_complete_prefix("x\xF0\x9F\x98", 4), 1);
    assert_int_equal(api_utf8_complete_prefix("x\xF0\x9F\x98\x80", 5), 5);
    /* invalid tails are not held back (they will never complete) */
    assert_int_equal(api_utf8_complete_prefix("x\xFF", 2), 2);
    assert_int_equal(api_utf8_complete_prefix("x\xE2\x41", 3), 3);
    assert_int_equal(api_utf8_complete_prefix("x\x80\x80\x80\x80", 5), 5);
    assert_int_equal(api_utf8_complete_prefix("x\xC0", 2), 2);
    assert_int_equal(api_utf8_complete_prefix("", 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_passes),
        cmocka_unit_test(test_invalid_replaced),
        cmocka_unit_test(test_complete_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
