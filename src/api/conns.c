/* Connection slots and the slow-client (slowloris) defence.
 *
 * Theory of operation: every connection of a listener is tracked from accept to close (MHD's
 * NOTIFY_CONNECTION), with the phase of the request it is on:
 *   WAITING  no request yet, or between keep-alive requests: its header has not all arrived;
 *   BODY     the header is in, the body is arriving;
 *   BUSY     the request is whole and being served (a handler, a response, a stream).
 * A WAITING connection must complete its header within request_timeout of the phase start; a
 * BODY one gets request_timeout plus the time its body bytes so far take at
 * API_BODY_MIN_RATE, so a stalled or trickled request is cut while an upload at any sane speed
 * is not.  api_conns_sweep() (a watchdog in server.c calls it) shuts overdue connections
 * down: shutdown(2) wakes MHD's connection thread with EOF and MHD closes it.
 *
 * A new connection never waits for a slot an incomplete request holds: when more than a
 * quarter of the slots are WAITING or BODY, or fewer than 1/64 of them are free (MHD stops
 * accepting at the limit), api_conns_add() shuts down the least recently active of them.  A client
 * that sends a whole request at once is never that one; a flood of half-requests evicts its
 * own oldest.  BUSY connections are never touched here: their requests are authenticated and
 * bounded elsewhere (exec timeouts, the response idle timeout).
 *
 * No threads and no logging here (server.c does both); a record is freed only by
 * api_conns_remove(), which MHD calls before it closes the socket, so a shutdown() under the
 * lock never hits a reused fd.
 */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "api/api.h"

struct api_conn {
    struct api_conn *prev, *next;
    struct api_conns *owner;
    int fd;
    enum api_conn_phase phase;
    long long since_us;  /* start of the phase */
    long long active_us; /* last progress: phase start, or the last body bytes */
    uint64_t seen;       /* body bytes in this phase */
    bool closing;        /* shut down; MHD has not closed it yet */
};

struct api_conns {
    pthread_mutex_t mu;
    struct api_conn *head;
    unsigned n_live;    /* tracked and not closing */
    unsigned n_pending; /* of those, WAITING or BODY */
    unsigned limit, request_timeout_s;
    uint64_t evicted; /* shut down so far (deadline or room) */
};

struct api_conns *api_conns_new(unsigned limit, unsigned request_timeout_s)
{
    struct api_conns *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    pthread_mutex_init(&c->mu, NULL);
    c->limit = limit ? limit : 1;
    c->request_timeout_s = request_timeout_s ? request_timeout_s : 1;
    return c;
}

void api_conns_free(struct api_conns *c)
{
    if (!c)
        return;
    struct api_conn *p = c->head;
    while (p) {
        struct api_conn *next = p->next;
        free(p);
        p = next;
    }
    pthread_mutex_destroy(&c->mu);
    free(c);
}

long long api_conn_deadline_us(enum api_conn_phase phase, long long since_us, uint64_t seen,
                               unsigned request_timeout_s)
{
    if (phase == API_CONN_BUSY)
        return LLONG_MAX;
    long long d = since_us + (long long)request_timeout_s * 1000000;
    if (phase == API_CONN_BODY) {
        uint64_t extra = seen / API_BODY_MIN_RATE * 1000000 +
                         seen % API_BODY_MIN_RATE * 1000000 / API_BODY_MIN_RATE;
        d += (long long)extra;
    }
    return d;
}

static void shut_locked(struct api_conns *c, struct api_conn *p)
{
    p->closing = true;
    c->n_live--;
    if (p->phase != API_CONN_BUSY)
        c->n_pending--;
    c->evicted++;
    (void)shutdown(p->fd, SHUT_RDWR);
}

static bool crowded_locked(const struct api_conns *c)
{
    unsigned pending_max = c->limit / 4 ? c->limit / 4 : 1;
    return c->n_pending > pending_max || c->n_live + c->limit / 64 >= c->limit;
}

/* The least recently active incomplete connection other than `keep`, or NULL. */
static struct api_conn *victim_locked(struct api_conns *c, const struct api_conn *keep)
{
    struct api_conn *best = NULL;
    for (struct api_conn *p = c->head; p; p = p->next)
        if (p != keep && !p->closing && p->phase != API_CONN_BUSY &&
            (!best || p->active_us < best->active_us))
            best = p;
    return best;
}

struct api_conn *api_conns_add(struct api_conns *c, int fd, long long now_us)
{
    struct api_conn *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->owner = c;
    p->fd = fd;
    p->phase = API_CONN_WAITING;
    p->since_us = p->active_us = now_us;
    pthread_mutex_lock(&c->mu);
    p->next = c->head;
    if (c->head)
        c->head->prev = p;
    c->head = p;
    c->n_live++;
    c->n_pending++;
    struct api_conn *v;
    while (crowded_locked(c) && (v = victim_locked(c, p)))
        shut_locked(c, v);
    pthread_mutex_unlock(&c->mu);
    return p;
}

void api_conns_remove(struct api_conn *p)
{
    if (!p)
        return;
    struct api_conns *c = p->owner;
    pthread_mutex_lock(&c->mu);
    if (p->prev)
        p->prev->next = p->next;
    else
        c->head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    if (!p->closing) {
        c->n_live--;
        if (p->phase != API_CONN_BUSY)
            c->n_pending--;
    }
    pthread_mutex_unlock(&c->mu);
    free(p);
}

void api_conn_set_phase(struct api_conn *p, enum api_conn_phase phase, long long now_us)
{
    if (!p)
        return;
    struct api_conns *c = p->owner;
    pthread_mutex_lock(&c->mu);
    if (!p->closing) {
        if (p->phase == API_CONN_BUSY && phase != API_CONN_BUSY)
            c->n_pending++;
        else if (p->phase != API_CONN_BUSY && phase == API_CONN_BUSY)
            c->n_pending--;
    }
    p->phase = phase;
    p->since_us = p->active_us = now_us;
    p->seen = 0;
    pthread_mutex_unlock(&c->mu);
}

void api_conn_body(struct api_conn *p, size_t n, long long now_us)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->owner->mu);
    p->seen += n;
    p->active_us = now_us;
    pthread_mutex_unlock(&p->owner->mu);
}

unsigned api_conns_sweep(struct api_conns *c, long long now_us)
{
    unsigned n = 0;
    pthread_mutex_lock(&c->mu);
    for (struct api_conn *p = c->head; p; p = p->next) {
        if (p->closing ||
            now_us <= api_conn_deadline_us(p->phase, p->since_us, p->seen, c->request_timeout_s))
            continue;
        shut_locked(c, p);
        n++;
    }
    pthread_mutex_unlock(&c->mu);
    return n;
}

uint64_t api_conns_evicted(struct api_conns *c)
{
    pthread_mutex_lock(&c->mu);
    uint64_t n = c->evicted;
    pthread_mutex_unlock(&c->mu);
    return n;
}

void api_conns_counts(struct api_conns *c, unsigned *ret_live, unsigned *ret_pending)
{
    pthread_mutex_lock(&c->mu);
    *ret_live = c->n_live;
    *ret_pending = c->n_pending;
    pthread_mutex_unlock(&c->mu);
}
