#include "../common/harness.h"

#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"

static void *producer(void *arg)
{
    struct api_stream *s = arg;
    char buf[1000];
    memset(buf, 'x', sizeof(buf));
    for (int i = 0; i < 100; i++)
        if (api_stream_write(s, buf, sizeof(buf)) < 0)
            break;
    api_stream_finish(s);
    return NULL;
}

static void test_bounded_and_complete(void **state)
{
    struct api_stream *s = api_stream_new(4096);
    assert_non_null(s);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, producer, s), 0);
    size_t total = 0;
    char buf[700];
    long n;
    while ((n = api_stream_read(s, buf, sizeof(buf))) > 0) {
        assert_true(n <= (long)sizeof(buf));
        total += (size_t)n;
    }
    assert_int_equal(total, 100000);
    pthread_join(t, NULL);
    api_stream_close_consumer(s);
}

static void *blocked_writer(void *arg)
{
    struct api_stream *s = arg;
    char buf[8192] = {0};
    long rc = 0;
    while ((rc = api_stream_write(s, buf, sizeof(buf))) == 0)
        ;
    api_stream_finish(s);
    return (void *)rc;
}

static void test_consumer_gone_unblocks_producer(void **state)
{
    struct api_stream *s = api_stream_new(1024);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, blocked_writer, s), 0);
    usleep(50000);
    assert_false(api_stream_cancelled(s));
    api_stream_close_consumer(s);
    void *rc;
    pthread_join(t, &rc);
    assert_int_equal((long)rc, -EPIPE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounded_and_complete),
        cmocka_unit_test(test_consumer_gone_unblocks_producer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
