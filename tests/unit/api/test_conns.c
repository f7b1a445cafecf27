#include "../common/harness.h"

#include <errno.h>
#include <limits.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/api.h"

#define S 1000000LL /* one second in µs */

/* A connected pair: [0] is the server's end (tracked), [1] the client's (observed). */
struct pair {
    int fd[2];
};

static void pair_open(struct pair *p)
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p->fd), 0);
}

static void pair_close(struct pair *p)
{
    close(p->fd[0]);
    close(p->fd[1]);
}

/* true when the server end was shut down (the client reads EOF at once) */
static bool was_shut(const struct pair *p)
{
    char c;
    ssize_t n = recv(p->fd[1], &c, 1, MSG_DONTWAIT);
    return n == 0;
}

static void test_deadlines(void **state)
{
    assert_int_equal(api_conn_deadline_us(API_CONN_WAITING, 5 * S, 0, 10), 15 * S);
    /* bytes already seen buy time at API_BODY_MIN_RATE */
    assert_int_equal(api_conn_deadline_us(API_CONN_BODY, 5 * S, 0, 10), 15 * S);
    assert_int_equal(api_conn_deadline_us(API_CONN_BODY, 5 * S, API_BODY_MIN_RATE * 3ull, 10),
                     18 * S);
    assert_int_equal(api_conn_deadline_us(API_CONN_BODY, 0, API_BODY_MIN_RATE / 2, 1), S + S / 2);
    /* a 64 MiB upload at the minimum rate, no overflow */
    assert_int_equal(api_conn_deadline_us(API_CONN_BODY, 0, API_UPLOAD_MAX, 10),
                     10 * S + (long long)(API_UPLOAD_MAX / API_BODY_MIN_RATE) * S);
    assert_true(api_conn_deadline_us(API_CONN_BUSY, 0, 0, 10) == LLONG_MAX);
}

static void test_sweep_cuts_overdue_only(void **state)
{
    struct api_conns *c = api_conns_new(64, 10);
    assert_non_null(c);
    struct pair wait, body, busy, fresh;
    pair_open(&wait);
    pair_open(&body);
    pair_open(&busy);
    pair_open(&fresh);
    struct api_conn *w = api_conns_add(c, wait.fd[0], 0);
    struct api_conn *b = api_conns_add(c, body.fd[0], 0);
    struct api_conn *u = api_conns_add(c, busy.fd[0], 0);
    struct api_conn *f = api_conns_add(c, fresh.fd[0], 0);
    assert_non_null(w);
    api_conn_set_phase(b, API_CONN_BODY, 1 * S);
    api_conn_body(b, API_BODY_MIN_RATE * 5ull, 2 * S); /* deadline 1 + 10 + 5 = 16 s */
    api_conn_set_phase(u, API_CONN_BUSY, 1 * S);
    api_conn_set_phase(f, API_CONN_WAITING, 9 * S); /* a keep-alive connection's next wait */
    unsigned live, pending;
    api_conns_counts(c, &live, &pending);
    assert_int_equal(live, 4);
    assert_int_equal(pending, 3);

    assert_int_equal(api_conns_sweep(c, 10 * S), 0); /* nobody overdue yet */
    assert_false(was_shut(&wait));
    assert_int_equal(api_conns_sweep(c, 10 * S + 1), 1);
    assert_true(was_shut(&wait));
    assert_false(was_shut(&body) || was_shut(&busy) || was_shut(&fresh));
    assert_int_equal(api_conns_sweep(c, 16 * S + 1), 1); /* body, not fresh (till 19 s) */
    assert_true(was_shut(&body));
    assert_false(was_shut(&fresh));
    assert_int_equal(api_conns_sweep(c, 3600 * S), 1); /* fresh; a busy one never */
    assert_true(was_shut(&fresh));
    assert_false(was_shut(&busy));
    assert_int_equal(api_conns_sweep(c, 3600 * S), 0); /* each one once */
    assert_int_equal(api_conns_evicted(c), 3);
    api_conns_counts(c, &live, &pending);
    assert_int_equal(live, 1);
    assert_int_equal(pending, 0);

    /* MHD closes them: records go, counts stay right */
    api_conns_remove(w);
    api_conns_remove(b);
    api_conns_remove(f);
    api_conn_set_phase(u, API_CONN_WAITING, 3600 * S); /* its answer was sent */
    api_conns_counts(c, &live, &pending);
    assert_int_equal(live, 1);
    assert_int_equal(pending, 1);
    api_conns_remove(u);
    api_conns_counts(c, &live, &pending);
    assert_int_equal(live, 0);
    assert_int_equal(pending, 0);
    api_conns_free(c);
    pair_close(&wait);
    pair_close(&body);
    pair_close(&busy);
    pair_close(&fresh);
}

/* Limit 16: at most 4 incomplete connections; a new one makes room by shutting down the least
 * recently active incomplete one, never a busy one and never itself. */
static void test_new_connection_makes_room(void **state)
{
    struct api_conns *c = api_conns_new(16, 10);
    struct pair p[17];
    struct api_conn *t[17];
    for (int i = 0; i < 17; i++)
        pair_open(&p[i]);
    /* 10 busy requests */
    for (int i = 0; i < 10; i++) {
        t[i] = api_conns_add(c, p[i].fd[0], i);
        api_conn_set_phase(t[i], API_CONN_BUSY, i);
    }
    /* 4 stalled ones fill the incomplete share; an upload in progress keeps being active */
    for (int i = 10; i < 14; i++)
        t[i] = api_conns_add(c, p[i].fd[0], 100 + i);
    api_conn_set_phase(t[10], API_CONN_BODY, 110);
    api_conn_body(t[10], 65536, 500);
    for (int i = 0; i < 14; i++)
        assert_false(was_shut(&p[i]));
    /* a fifth: the stalled one least recently active (t[11], since 111) goes */
    t[14] = api_conns_add(c, p[14].fd[0], 600);
    assert_true(was_shut(&p[11]));
    for (int i = 0; i < 15; i++)
        if (i != 11)
            assert_false(was_shut(&p[i]));
    unsigned live, pending;
    api_conns_counts(c, &live, &pending);
    assert_int_equal(live, 14);
    assert_int_equal(pending, 4);
    /* it becomes busy; one more is under both rules (15 live, 4 incomplete) */
    api_conn_set_phase(t[14], API_CONN_BUSY, 700);
    t[15] = api_conns_add(c, p[15].fd[0], 800);
    assert_false(was_shut(&p[15]));
    assert_int_equal(api_conns_evicted(c), 1);
    api_conn_set_phase(t[15], API_CONN_BUSY, 900);
    /* the next one would be the 16th of 16 slots (MHD stops accepting there): the least
     * recently active incomplete one (t[12]) makes room although only 3 are incomplete */
    t[16] = api_conns_add(c, p[16].fd[0], 1000);
    assert_true(was_shut(&p[12]));
    assert_false(was_shut(&p[10]) || was_shut(&p[13]) || was_shut(&p[16]));
    api_conns_counts(c, &live, &pending);
    assert_int_equal(live, 15);
    assert_int_equal(pending, 3);
    assert_int_equal(api_conns_evicted(c), 2);
    for (int i = 0; i < 10; i++)
        assert_false(was_shut(&p[i]));
    for (int i = 0; i < 17; i++) {
        api_conns_remove(t[i]);
        pair_close(&p[i]);
    }
    api_conns_counts(c, &live, &pending);
    assert_int_equal(live, 0);
    assert_int_equal(pending, 0);
    api_conns_free(c);
}

/* Only busy connections and one new one: nothing to shut, the new one is kept. */
static void test_busy_never_evicted(void **state)
{
    struct api_conns *c = api_conns_new(4, 10);
    struct pair p[5];
    struct api_conn *t[5];
    for (int i = 0; i < 5; i++) {
        pair_open(&p[i]);
        t[i] = api_conns_add(c, p[i].fd[0], i);
        if (i < 4)
            api_conn_set_phase(t[i], API_CONN_BUSY, i);
    }
    for (int i = 0; i < 5; i++)
        assert_false(was_shut(&p[i]));
    assert_int_equal(api_conns_evicted(c), 0);
    for (int i = 0; i < 5; i++) {
        api_conns_remove(t[i]);
        pair_close(&p[i]);
    }
    api_conns_free(c);
    /* NULL-safe for an untracked connection */
    api_conns_remove(NULL);
    api_conn_set_phase(NULL, API_CONN_BUSY, 0);
    api_conn_body(NULL, 1, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deadlines),
        cmocka_unit_test(test_sweep_cuts_overdue_only),
        cmocka_unit_test(test_new_connection_makes_room),
        cmocka_unit_test(test_busy_never_evicted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
