/* api: the HTTP server (libmicrohttpd), routing, auth, bodies, JSON errors, streaming.
 *
 * Theory of operation: one MHD daemon on TCP and one on a unix socket, both thread per
 * connection, share one route table.  The first call of MHD's access handler for a request
 * matches the route, authenticates the bearer key (through the caller's auth callback) and
 * checks Content-Length against the route's cap; failures answer at once.  Body bytes are
 * then accumulated up to the cap (413 beyond), and the last call dispatches to the handler.
 * A handler fills a struct api_response (JSON, raw bytes, or an api_stream fed by another
 * thread) or returns -errno with a struct al_err, which becomes
 * {"error":{"code","message"}} with the mapped status.  Slow or stalled clients cannot hold
 * the connection slots: see conns.c.  Every request gets an id
 * (X-Request-Id) and one JSON access-log line (method, path, status, duration, tenant; never
 * keys, bodies or query values).
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define API_MAX_PARAMS 4
#define API_MAX_QUERY 32
#define API_JSON_BODY_MAX (1u << 20)
#define API_UPLOAD_MAX (64u << 20)
#define API_PATH_MAX 8192

enum api_route_flags {
    API_ROUTE_PUBLIC = 1u << 0, /* no key needed */
    API_ROUTE_ADMIN = 1u << 1,  /* admin keys only (403 for others) */
    API_ROUTE_UPLOAD = 1u << 2, /* raw body up to API_UPLOAD_MAX instead of 1 MiB JSON */
};

struct api_principal {
    char tenant[64];
    char key_id[40];
    bool admin;
};

struct api_request {
    const char *method;
    const char *path; /* decoded path, no query */
    char request_id[17];
    const char *params[API_MAX_PARAMS]; /* the pattern's {params}, in order */
    size_t n_params;
    const char *query_keys[API_MAX_QUERY];
    const char *query_values[API_MAX_QUERY]; /* NULL for a key without '=' */
    size_t n_query;
    const char *body; /* NUL-terminated for convenience; body_len bytes */
    size_t body_len;
    struct api_principal who;
    bool authenticated;
    const char *content_type;
    void *conn; /* MHD connection (private) */
};

struct api_stream;

struct api_response {
    int status;
    json_t *json; /* owned */
    char *data;   /* owned raw body, freed with free() */
    size_t len;
    const char *content_type;  /* for data / stream; static string */
    struct api_stream *stream; /* owned (one reference) */
};

typedef int (*api_handler_fn)(void *ud, struct api_request *req, struct api_response *resp,
                              struct al_err *err);
/* Map a presented key to a principal: -errno + AL_ERR_UNAUTH when unknown. */
typedef int (*api_auth_fn)(void *ud, const char *key, struct api_principal *ret,
                           struct al_err *err);

struct api_route {
    const char *method;
    const char *pattern; /* "/v1/sandboxgroups/{group}"; a last "{name...}" takes the rest */
    unsigned flags;
    api_handler_fn fn;
};

struct api_config {
    const struct api_route *routes;
    size_t n_routes;
    void *ud;
    api_auth_fn auth;
    const char *host;         /* "127.0.0.1" */
    uint16_t port;            /* 0: no TCP listener */
    const char *unix_path;    /* NULL: no unix socket */
    unsigned max_connections; /* per listener */
    /* per client address; not applied on a loopback listener, where every local client
     * shares one address and it would only be a second, lower global cap */
    unsigned per_ip_limit;
    /* a request's header must arrive within this, its body within this plus its size at
     * API_BODY_MIN_RATE; and a keep-alive connection may sit idle this long (see conns.c) */
    unsigned request_timeout_s;
    /* a response the client reads nothing of for this long is dropped (the handler's own
     * time, and a stream's wait for output, do not count) */
    unsigned response_timeout_s;
    /* host paths never to show a client: replaced by "<state>" in error messages */
    const char *redact[4];
};

struct api_server;

int api_server_start(const struct api_config *cfg, struct api_server **ret, struct al_err *err);
/* Stop accepting new connections (requests in flight continue). */
void api_server_quiesce(struct api_server *srv);
/* Stop and free (waits for connection threads). */
void api_server_free(struct api_server *srv);
/* Requests served so far (for /metrics). */
uint64_t api_server_requests(const struct api_server *srv);

/* ---- connection slots (conns.c; exposed for tests) ---- */

#define API_BODY_MIN_RATE (32u << 10) /* bytes/s a body must average past request_timeout */

enum api_conn_phase {
    API_CONN_WAITING, /* header not all in (a new or a keep-alive connection) */
    API_CONN_BODY,    /* header in, body arriving */
    API_CONN_BUSY,    /* request whole: being served */
};

struct api_conns;
struct api_conn;

struct api_conns *api_conns_new(unsigned limit, unsigned request_timeout_s);
/* Frees the tracker and any records left (only once no connection can call in). */
void api_conns_free(struct api_conns *c);
/* Track a new connection (WAITING); shuts down the least recently active incomplete ones
 * while the listener is crowded.  NULL on ENOMEM (the connection is then just untracked). */
struct api_conn *api_conns_add(struct api_conns *c, int fd, long long now_us);
/* Before its fd is closed.  NULL-safe. */
void api_conns_remove(struct api_conn *p);
/* Enter a phase (restarts its clock and body count).  NULL-safe. */
void api_conn_set_phase(struct api_conn *p, enum api_conn_phase phase, long long now_us);
/* n body bytes arrived.  NULL-safe. */
void api_conn_body(struct api_conn *p, size_t n, long long now_us);
/* Shut down every connection past its deadline; returns how many. */
unsigned api_conns_sweep(struct api_conns *c, long long now_us);
/* Connections shut down so far (deadlines and room). */
uint64_t api_conns_evicted(struct api_conns *c);
/* Tracked connections not being closed, and how many of them are WAITING or BODY. */
void api_conns_counts(struct api_conns *c, unsigned *ret_live, unsigned *ret_pending);
/* When a connection in this phase since since_us, with seen body bytes, is overdue
 * (LLONG_MAX for BUSY). */
long long api_conn_deadline_us(enum api_conn_phase phase, long long since_us, uint64_t seen,
                               unsigned request_timeout_s);

/* ---- routing (pure; exposed for tests) ---- */

struct api_match {
    char buf[API_PATH_MAX];
    const char *params[API_MAX_PARAMS];
    size_t n_params;
};
/* true when path matches pattern; params point into m->buf. */
bool api_pattern_match(const char *pattern, const char *path, struct api_match *m);
/* 0 and *ret on a match; -ENOENT when no pattern matches; -EOPNOTSUPP when a pattern matches
 * but not with this method. */
int api_route_find(const struct api_route *routes, size_t n, const char *method, const char *path,
                   struct api_match *m, const struct api_route **ret);

/* ---- responses ---- */

/* Steals j.  Returns 0. */
int api_reply_json(struct api_response *resp, int status, json_t *j);
/* Steals data (malloc'd). */
int api_reply_data(struct api_response *resp, int status, const char *content_type, char *data,
                   size_t len);
int api_reply_empty(struct api_response *resp, int status);
/* {"error":{"code","message"}} for err. */
json_t *api_error_json(const struct al_err *err);
/* Replace every occurrence of `what` in msg (NUL-terminated, capacity cap) by `with`. */
void api_redact(char *msg, size_t cap, const char *what, const char *with);
/* A query argument's value (first occurrence), or NULL. */
const char *api_query(const struct api_request *req, const char *key);
/* Parse the body as a JSON object (strict, depth-bounded); 400 when it is not one. */
json_t *api_body_json(const struct api_request *req, struct al_err *err);

/* ---- streams: a bounded byte pipe from a producer thread to the response ---- */

/* Two references: the producer's and the response's.  max_buffered bounds memory. */
struct api_stream *api_stream_new(size_t max_buffered);
/* Blocks while the buffer is full; -EPIPE once the client is gone. */
int api_stream_write(struct api_stream *s, const void *data, size_t len);
/* Producer is done: the response ends after the buffered bytes.  Drops the producer's
 * reference. */
void api_stream_finish(struct api_stream *s);
/* True once the consumer (the HTTP response) is gone. */
bool api_stream_cancelled(struct api_stream *s);
/* Consumer side (used by the server, exposed for tests). */
long api_stream_read(struct api_stream *s, char *buf, size_t max); /* 0 = end, -1 never */
void api_stream_close_consumer(struct api_stream *s);

/* ---- text ---- */

/* Copy of in[0..len) as valid UTF-8: each invalid sequence (maximal subpart) becomes U+FFFD.
 * NUL-terminated; *ret_len excludes the NUL.  NULL on ENOMEM. */
char *api_utf8_sanitize(const char *in, size_t len, size_t *ret_len);
/* Length of the longest prefix of buf that does not end inside an incomplete (but so far
 * valid) multi-byte sequence; the rest (at most 3 bytes) should wait for more data. */
size_t api_utf8_complete_prefix(const char *buf, size_t len);
