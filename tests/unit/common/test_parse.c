#include "harness.h"

#include <errno.h>
#include <string.h>

#include "common/parse.h"

static void test_u64(void **state)
{
    uint64_t v;
    assert_int_equal(al_parse_u64("42", 100, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(al_parse_u64("0", 100, &v), 0);
    assert_int_equal(al_parse_u64("101", 100, &v), -ERANGE);
    assert_int_equal(al_parse_u64("-1", 100, &v), -EINVAL);
    assert_int_equal(al_parse_u64(" 1", 100, &v), -EINVAL);
    assert_int_equal(al_parse_u64("1x", 100, &v), -EINVAL);
    assert_int_equal(al_parse_u64("", 100, &v), -EINVAL);
    assert_int_equal(al_parse_u64("007", 100, &v), -EINVAL);
    assert_int_equal(al_parse_u64("99999999999999999999999", UINT64_MAX, &v), -EINVAL);
}

static void test_i64(void **state)
{
    int64_t v;
    assert_int_equal(al_parse_i64("-5", -10, 10, &v), 0);
    assert_int_equal(v, -5);
    assert_int_equal(al_parse_i64("-11", -10, 10, &v), -ERANGE);
    assert_int_equal(al_parse_i64("-", -10, 10, &v), -EINVAL);
}

static void test_size(void **state)
{
    uint64_t v;
    assert_int_equal(al_parse_size("512Mi", &v), 0);
    assert_int_equal(v, 512ULL << 20);
    assert_int_equal(al_parse_size("2G", &v), 0);
    assert_int_equal(v, 2000000000ULL);
    assert_int_equal(al_parse_size("10", &v), 0);
    assert_int_equal(v, 10);
    assert_int_equal(al_parse_size("10Xi", &v), -EINVAL);
    assert_int_equal(al_parse_size("Mi", &v), -EINVAL);
    assert_int_equal(al_parse_size("99999999999Ti", &v), -ERANGE);
}

static void test_host_port(void **state)
{
    char host[64];
    uint16_t port;
    assert_int_equal(al_parse_host_port("127.0.0.1:7070", host, sizeof(host), &port), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 7070);
    assert_int_equal(al_parse_host_port("[::1]:80", host, sizeof(host), &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(al_parse_host_port("host:0", host, sizeof(host), &port), -EINVAL);
    assert_int_equal(al_parse_host_port("host:70000", host, sizeof(host), &port), -EINVAL);
    assert_int_equal(al_parse_host_port("host", host, sizeof(host), &port), -EINVAL);
    assert_int_equal(al_parse_host_port(":80", host, sizeof(host), &port), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_u64),
        cmocka_unit_test(test_i64),
        cmocka_unit_test(test_size),
        cmocka_unit_test(test_host_port),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
