#include "harness.h"

#include <string.h>

#include "common/ids.h"

static void test_names(void **state)
{
    assert_true(al_name_valid("a"));
    assert_true(al_name_valid("my-group-1"));
    assert_false(al_name_valid(""));
    assert_false(al_name_valid("-a"));
    assert_false(al_name_valid("a-"));
    assert_false(al_name_valid("A"));
    assert_false(al_name_valid("a_b"));
    assert_false(al_name_valid("a/b"));
    assert_false(al_name_valid(".."));
    char longname[65];
    memset(longname, 'a', 64);
    longname[64] = '\0';
    assert_false(al_name_valid(longname));
    longname[63] = '\0';
    assert_true(al_name_valid(longname));
}

static void test_random_hex_differs(void **state)
{
    char a[33], b[33];
    assert_int_equal(al_random_hex(a, 16), 0);
    assert_int_equal(al_random_hex(b, 16), 0);
    assert_int_equal(strlen(a), 32);
    assert_string_not_equal(a, b);
}

static void test_ct_equal(void **state)
{
    assert_true(al_ct_equal("abc", 3, "abc", 3));
    assert_false(al_ct_equal("abc", 3, "abd", 3));
    assert_false(al_ct_equal("abc", 3, "abcd", 4));
}

static void test_digest(void **state)
{
    char d[AL_DIGEST_LEN];
    assert_int_equal(al_sha256_digest("", 0, d), 0);
    assert_string_equal(d,
                        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_true(al_digest_valid(d));
    assert_false(al_digest_valid("sha256:E3B0"));
    assert_false(
        al_digest_valid("md5:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_random_hex_differs),
        cmocka_unit_test(test_ct_equal),
        cmocka_unit_test(test_digest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
