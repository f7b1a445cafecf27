/* The libmicrohttpd glue: listeners, the per-request state machine of MHD's access handler,
 * auth, body caps, responses and the access log.  See api.h for the theory of operation. */
#define AL_LOG_COMPONENT "api"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "api/api.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/ids.h"
#include "common/json.h"
#include "common/log.h"

/* Bodies up to this much over a route's cap are read and dropped before the 413. */
#define API_DISCARD_MAX (16u << 20)

/* How often the watchdog looks for connections past their request deadline. */
#define API_SWEEP_MS 250
/* At most one log line per this many seconds about connections it shut down. */
#define API_EVICT_LOG_S 10

struct api_server {
    struct api_config cfg;
    struct MHD_Daemon *tcp, *unx;
    struct api_conns *tcp_conns, *unx_conns;
    char *unix_path;
    atomic_uint_fast64_t requests;
    pthread_t watchdog;
    bool watchdog_running, stopping;
    pthread_mutex_t mu; /* the watchdog's stop flag; mhd_log's rate limit */
    pthread_cond_t cv;
    long long mhd_log_window_us;
    unsigned mhd_log_lines;
    unsigned long mhd_log_dropped;
};

struct conn_ctx {
    struct api_server *srv;
    struct api_conn *track; /* the connection's slot record (conns.c), or NULL */
    long long start_us;
    struct api_request req;
    const struct api_route *route;
    struct api_match match;
    char *body;
    size_t len, cap, max;
    size_t seen; /* body bytes received, kept or not */
    bool too_large;
    bool responded;
    int status;
};

uint64_t api_server_requests(const struct api_server *srv)
{
    return srv ? atomic_load(&srv->requests) : 0;
}

/* ---- response helpers ---- */

int api_reply_json(struct api_response *resp, int status, json_t *j)
{
    resp->status = status;
    if (resp->json)
        json_decref(resp->json);
    resp->json = j;
    return 0;
}

int api_reply_data(struct api_response *resp, int status, const char *content_type, char *data,
                   size_t len)
{
    resp->status = status;
    free(resp->data);
    resp->data = data;
    resp->len = len;
    resp->content_type = content_type;
    return 0;
}

int api_reply_empty(struct api_response *resp, int status)
{
    resp->status = status;
    return 0;
}

static json_t *error_json_code(const struct al_err *err, const char *code)
{
    enum al_err_kind kind = err && err->kind != AL_ERR_NONE ? err->kind : AL_ERR_INTERNAL;
    if (!code)
        code = al_err_kind_name(kind);
    const char *msg = err && err->msg[0] ? err->msg : "internal error";
    size_t mlen = 0;
    cleanup_free char *clean = api_utf8_sanitize(msg, strlen(msg), &mlen);
    return json_pack("{s:{s:s,s:s%}}", "error", "code", code, "message", clean ? clean : "error",
                     clean ? mlen : (size_t)5);
}

json_t *api_error_json(const struct al_err *err)
{
    return error_json_code(err, NULL);
}

const char *api_query(const struct api_request *req, const char *key)
{
    for (size_t i = 0; i < req->n_query; i++)
        if (strcmp(req->query_keys[i], key) == 0)
            return req->query_values[i] ? req->query_values[i] : "";
    return NULL;
}

json_t *api_body_json(const struct api_request *req, struct al_err *err)
{
    if (req->body_len == 0) {
        al_err_set(err, AL_ERR_INVALID, EINVAL, "request body must be a JSON object");
        return NULL;
    }
    json_t *j = al_json_parse(req->body, req->body_len, AL_JSON_MAX_DEPTH, err);
    if (!j)
        return NULL;
    if (!json_is_object(j)) {
        json_decref(j);
        al_err_set(err, AL_ERR_INVALID, EINVAL, "request body must be a JSON object");
        return NULL;
    }
    return j;
}

/* ---- MHD plumbing ---- */

/* Give the connection the response idle timeout, with its clock restarted now (MHD restarts
 * the clock when a timeout is set where there was none).  Called from the connection's own
 * thread after a stream's wait for output, which is the server's time, not the client's:
 * otherwise MHD, which checks the idle clock after each step, would drop a stream that stayed
 * silent for longer than the timeout right after its next output. */
static void response_clock(struct MHD_Connection *conn, unsigned timeout_s)
{
    MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
    MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, timeout_s);
}

struct stream_resp {
    struct api_stream *s;
    struct MHD_Connection *conn;
    unsigned timeout_s;
};

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct stream_resp *sr = cls;
    long n = api_stream_read(sr->s, buf, max);
    response_clock(sr->conn, sr->timeout_s);
    if (n <= 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    return (ssize_t)n;
}

static void stream_free(void *cls)
{
    struct stream_resp *sr = cls;
    api_stream_close_consumer(sr->s);
    free(sr);
}

static enum MHD_Result send_response(struct conn_ctx *cx, struct MHD_Connection *conn,
                                     struct api_response *r)
{
    struct MHD_Response *mr = NULL;
    const char *ctype = NULL;
    if (r->stream) {
        struct stream_resp *sr = malloc(sizeof(*sr));
        if (sr) {
            *sr = (struct stream_resp){r->stream, conn, cx->srv->cfg.response_timeout_s};
            mr = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, stream_reader, sr,
                                                   stream_free);
            if (mr)
                r->stream = NULL; /* owned by the response now */
            else
                free(sr);
        }
        ctype = r->content_type ? r->content_type : "application/x-ndjson";
    } else if (r->json) {
        char *s = al_json_dump(r->json);
        if (s) {
            size_t n = strlen(s);
            mr = MHD_create_response_from_buffer(n, s, MHD_RESPMEM_MUST_FREE);
            if (!mr)
                free(s);
        }
        ctype = "application/json";
    } else if (r->data) {
        mr = MHD_create_response_from_buffer(r->len, r->data, MHD_RESPMEM_MUST_FREE);
        if (mr)
            r->data = NULL;
        ctype = r->content_type ? r->content_type : "application/octet-stream";
    } else {
        mr = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    if (!mr)
        return MHD_NO;
    if (ctype)
        MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(mr, "X-Request-Id", cx->req.request_id);
    MHD_add_response_header(mr, "Cache-Control", "no-store");
    cx->status = r->status ? r->status : 200;
    cx->responded = true;
    enum MHD_Result ok = MHD_queue_response(conn, (unsigned)cx->status, mr);
    MHD_destroy_response(mr);
    return ok;
}

static void response_clear(struct api_response *r)
{
    if (r->json)
        json_decref(r->json);
    free(r->data);
    if (r->stream)
        api_stream_close_consumer(r->stream);
    memset(r, 0, sizeof(*r));
}

void api_redact(char *msg, size_t cap, const char *what, const char *with)
{
    size_t wl = what ? strlen(what) : 0, rl = strlen(with);
    if (wl == 0)
        return;
    char *p = msg;
    while ((p = strstr(p, what))) {
        if ((size_t)(p - msg) + rl + 1 > cap) {
            *p = '\0'; /* no room for the replacement: cut the message here */
            return;
        }
        size_t tail = strlen(p + wl);
        if ((size_t)(p - msg) + rl + tail + 1 > cap)
            tail = cap - 1 - (size_t)(p - msg) - rl;
        memmove(p + rl, p + wl, tail);
        p[rl + tail] = '\0';
        memcpy(p, with, rl);
        p += rl;
    }
}

static enum MHD_Result send_error(struct conn_ctx *cx, struct MHD_Connection *conn,
                                  const struct al_err *in, int status_override)
{
    struct api_response r = {0};
    struct al_err copy = *in, *err = &copy;
    for (size_t i = 0; i < AL_ARRAY_SIZE(cx->srv->cfg.redact); i++)
        api_redact(copy.msg, sizeof(copy.msg), cx->srv->cfg.redact[i], "<state>");
    r.json = error_json_code(err, status_override == 405 ? "MethodNotAllowed" : NULL);
    r.status = status_override ? status_override : al_err_http_status(err->kind);
    if (!r.json)
        return MHD_NO;
    enum MHD_Result ok = send_response(cx, conn, &r);
    response_clear(&r);
    return ok;
}

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    struct conn_ctx *cx = cls;
    if (cx->req.n_query >= API_MAX_QUERY) {
        cx->req.n_query = API_MAX_QUERY + 1;
        return MHD_NO;
    }
    cx->req.query_keys[cx->req.n_query] = key;
    cx->req.query_values[cx->req.n_query] = value;
    cx->req.n_query++;
    return MHD_YES;
}

static int authenticate(struct conn_ctx *cx, struct MHD_Connection *conn, struct al_err *err)
{
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0 || !h[7])
        return al_err_set(err, AL_ERR_UNAUTH, EACCES,
                          "missing API key (Authorization: Bearer <key>)");
    const char *key = h + 7;
    while (*key == ' ')
        key++;
    if (strlen(key) > 256)
        return al_err_set(err, AL_ERR_UNAUTH, EACCES, "invalid API key");
    struct api_principal who = {0};
    int rc = cx->srv->cfg.auth(cx->srv->cfg.ud, key, &who, err);
    if (rc < 0) {
        if (err->kind != AL_ERR_UNAUTH && err->kind != AL_ERR_INTERNAL &&
            err->kind != AL_ERR_UNAVAILABLE)
            err->kind = AL_ERR_UNAUTH;
        return rc;
    }
    cx->req.who = who;
    cx->req.authenticated = true;
    return 0;
}

/* The first call for a request: route, auth, size check.  Returns 0 to go on reading the
 * body, or an error to answer now. */
static int begin(struct conn_ctx *cx, struct MHD_Connection *conn, struct al_err *err,
                 int *ret_status)
{
    int rc = api_route_find(cx->srv->cfg.routes, cx->srv->cfg.n_routes, cx->req.method,
                            cx->req.path, &cx->match, &cx->route);
    if (rc == -EOPNOTSUPP) {
        *ret_status = 405;
        return al_err_set(err, AL_ERR_NOT_FOUND, EOPNOTSUPP, "method %s not allowed on %.200s",
                          cx->req.method, cx->req.path);
    }
    if (rc < 0)
        return al_err_set(err, AL_ERR_NOT_FOUND, ENOENT, "no such endpoint: %.200s", cx->req.path);
    memcpy(cx->req.params, cx->match.params, sizeof(cx->req.params));
    cx->req.n_params = cx->match.n_params;
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_query, cx);
    if (cx->req.n_query > API_MAX_QUERY)
        return al_err_set(err, AL_ERR_INVALID, E2BIG, "more than %d query parameters",
                          API_MAX_QUERY);
    if (!(cx->route->flags & API_ROUTE_PUBLIC)) {
        if ((rc = authenticate(cx, conn, err)) < 0)
            return rc;
        if ((cx->route->flags & API_ROUTE_ADMIN) && !cx->req.who.admin)
            return al_err_set(err, AL_ERR_PERMISSION, EPERM, "this endpoint needs an admin key");
    }
    cx->max = (cx->route->flags & API_ROUTE_UPLOAD) ? API_UPLOAD_MAX : API_JSON_BODY_MAX;
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    if (cl) {
        char *end = NULL;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno || end == cl || *end || n > cx->max + API_DISCARD_MAX)
            return al_err_set(err, AL_ERR_TOO_LARGE, EFBIG, "request body larger than %zu bytes",
                              cx->max);
        /* moderately over the cap: read and drop the body, then answer 413, so that clients
         * that send the whole body before reading see the answer instead of a reset */
        if (n > cx->max)
            cx->too_large = true;
    }
    cx->req.content_type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
    return 0;
}

static int append_body(struct conn_ctx *cx, const char *data, size_t n)
{
    cx->seen += n;
    api_conn_body(cx->track, n, al_now_us());
    if (cx->seen > cx->max + API_DISCARD_MAX)
        return -EFBIG; /* a body without end: drop the connection */
    if (cx->too_large || cx->len + n > cx->max) {
        cx->too_large = true;
        return 0;
    }
    if (cx->len + n + 1 > cx->cap) {
        size_t nc = cx->cap ? cx->cap : 8192;
        while (nc < cx->len + n + 1)
            nc *= 2;
        char *nb = realloc(cx->body, nc);
        if (!nb)
            return -ENOMEM;
        cx->body = nb;
        cx->cap = nc;
    }
    memcpy(cx->body + cx->len, data, n);
    cx->len += n;
    cx->body[cx->len] = '\0';
    return 0;
}

static enum MHD_Result dispatch(struct conn_ctx *cx, struct MHD_Connection *conn)
{
    struct al_err err = {0};
    if (cx->too_large) {
        al_err_set(&err, AL_ERR_TOO_LARGE, EFBIG, "request body larger than %zu bytes", cx->max);
        return send_error(cx, conn, &err, 0);
    }
    cx->req.body = cx->body ? cx->body : "";
    cx->req.body_len = cx->len;
    struct api_response r = {0};
    /* the request is whole: from here on its time is the server's (no deadline); the idle
     * clock restarts when the answer is queued (MHD_queue_response), so a handler may take
     * as long as it needs (a buffered exec up to its timeout) */
    api_conn_set_phase(cx->track, API_CONN_BUSY, al_now_us());
    MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, cx->srv->cfg.response_timeout_s);
    int rc = cx->route->fn(cx->srv->cfg.ud, &cx->req, &r, &err);
    enum MHD_Result ok;
    if (rc < 0) {
        response_clear(&r);
        if (err.kind == AL_ERR_NONE || err.kind == AL_ERR_INTERNAL)
            al_log(AL_LOG_ERROR, NULL, cx->req.request_id, "%s %.200s: %s", cx->req.method,
                   cx->req.path, err.msg[0] ? err.msg : "internal error");
        ok = send_error(cx, conn, &err, 0);
    } else {
        ok = send_response(cx, conn, &r);
        response_clear(&r);
    }
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct conn_ctx *cx = *con_cls;
    if (!cx) {
        cx = calloc(1, sizeof(*cx));
        if (!cx)
            return MHD_NO;
        *con_cls = cx;
        cx->srv = cls;
        cx->start_us = al_now_us();
        cx->req.method = method;
        cx->req.path = url;
        cx->req.conn = conn;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        cx->track = ci ? ci->socket_context : NULL;
        api_conn_set_phase(cx->track, API_CONN_BODY, cx->start_us);
        if (al_random_hex(cx->req.request_id, 8) < 0)
            memcpy(cx->req.request_id, "0000000000000000", 17);
        atomic_fetch_add(&cx->srv->requests, 1);
        struct al_err err = {0};
        int status = 0;
        if (strlen(url) >= API_PATH_MAX) {
            al_err_set(&err, AL_ERR_INVALID, ENAMETOOLONG, "path too long");
            return send_error(cx, conn, &err, 0);
        }
        if (begin(cx, conn, &err, &status) < 0)
            return send_error(cx, conn, &err, status);
        return MHD_YES;
    }
    if (cx->responded) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) {
        if (append_body(cx, upload, *upload_size) < 0)
            return MHD_NO;
        *upload_size = 0;
        return MHD_YES;
    }
    return dispatch(cx, conn);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct conn_ctx *cx = *con_cls;
    if (!cx)
        return;
    /* back to waiting for the next request on this connection (keep-alive) */
    api_conn_set_phase(cx->track, API_CONN_WAITING, al_now_us());
    if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
        MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT,
                                  cx->srv->cfg.request_timeout_s);
    long long ms = (al_now_us() - cx->start_us) / 1000;
    al_log(AL_LOG_INFO, NULL, cx->req.request_id, "%s %.200s %d %lldms tenant=%s%s", cx->req.method,
           cx->req.path, cx->status, ms, cx->req.authenticated ? cx->req.who.tenant : "-",
           toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted");
    free(cx->body);
    free(cx);
    *con_cls = NULL;
}

/* Accept and close of a connection (MHD's main thread): its slot record. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct api_conns *conns = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = ci ? api_conns_add(conns, ci->connect_fd, al_now_us()) : NULL;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        api_conns_remove(*socket_context);
        *socket_context = NULL;
    }
}

/* Shuts down connections past their request deadline (conns.c); logs what it and the
 * make-room rule closed, at most once per API_EVICT_LOG_S. */
static void *watchdog_main(void *arg)
{
    struct api_server *srv = arg;
    uint64_t logged = 0;
    long long last_log = 0;
    pthread_mutex_lock(&srv->mu);
    while (!srv->stopping) {
        struct timespec ts;
        al_timespec_after(CLOCK_REALTIME, API_SWEEP_MS, &ts);
        pthread_cond_timedwait(&srv->cv, &srv->mu, &ts);
        if (srv->stopping)
            break;
        pthread_mutex_unlock(&srv->mu);
        long long now = al_now_us();
        uint64_t total = 0;
        struct api_conns *cs[2] = {srv->tcp_conns, srv->unx_conns};
        for (int i = 0; i < 2; i++) {
            if (!cs[i])
                continue;
            api_conns_sweep(cs[i], now);
            total += api_conns_evicted(cs[i]);
        }
        if (total > logged && now - last_log >= API_EVICT_LOG_S * 1000000LL) {
            al_log(AL_LOG_WARN, NULL, NULL,
                   "closed %llu connection(s) that had not sent a whole request in time or "
                   "were in the way of new ones (slow or stalled clients)",
                   (unsigned long long)(total - logged));
            logged = total;
            last_log = now;
        }
        pthread_mutex_lock(&srv->mu);
    }
    pthread_mutex_unlock(&srv->mu);
    return NULL;
}

static bool is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    return sa->sa_family == AF_INET6 &&
           IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
}

/* libmicrohttpd's own messages go to the daemon's JSON log like everything else.  Clients
 * trigger most of them (a connection closed mid-request, one closed by conns.c), so at most
 * API_MHD_LOG_BURST lines per API_MHD_LOG_WINDOW_S seconds; the next line after a quiet
 * window says how many were left out. */
#define API_MHD_LOG_BURST 10
#define API_MHD_LOG_WINDOW_S 10

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct api_server *srv = cls;
    long long now = al_now_us();
    unsigned long dropped = 0;
    pthread_mutex_lock(&srv->mu);
    if (now - srv->mhd_log_window_us >= API_MHD_LOG_WINDOW_S * 1000000LL) {
        dropped = srv->mhd_log_dropped;
        srv->mhd_log_dropped = 0;
        srv->mhd_log_window_us = now;
        srv->mhd_log_lines = 0;
    }
    bool ok = srv->mhd_log_lines < API_MHD_LOG_BURST;
    if (ok)
        srv->mhd_log_lines++;
    else
        srv->mhd_log_dropped++;
    pthread_mutex_unlock(&srv->mu);
    if (!ok)
        return;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n')
        msg[--n] = '\0';
    if (dropped)
        al_log(AL_LOG_WARN, NULL, NULL, "libmicrohttpd: %lu message(s) left out", dropped);
    al_log(AL_LOG_WARN, NULL, NULL, "libmicrohttpd: %s", msg);
}

/* Percent-decoding as MHD does it, except that a decoded NUL byte becomes DEL (0x7f): the
 * handlers see C strings, and a NUL would silently cut "/tmp/a%00/etc/shadow" to "/tmp/a".
 * DEL is a control character every path and name validator refuses (400). */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    size_t n = MHD_http_unescape(s);
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\0')
            s[i] = 0x7f;
    return n;
}

static int unix_listener(const char *path, struct al_err *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return al_err_set(err, AL_ERR_INVALID, ENAMETOOLONG, "unix socket path too long: %s", path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return al_err_sys(err, AL_ERR_INTERNAL, errno, "socket");
    if (unlink(path) < 0 && errno != ENOENT)
        return al_err_sys(err, AL_ERR_INTERNAL, errno, "unlink %s", path);
    mode_t old = umask(0177);
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (rc < 0)
        return al_err_sys(err, AL_ERR_INTERNAL, errno, "bind %s", path);
    if (chmod(path, 0600) < 0 || listen(fd, 128) < 0)
        return al_err_sys(err, AL_ERR_INTERNAL, errno, "listen %s", path);
    return TAKE_FD(fd);
}

int api_server_start(const struct api_config *cfg, struct api_server **ret, struct al_err *err)
{
    struct api_server *srv = calloc(1, sizeof(*srv));
    if (!srv)
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    srv->cfg = *cfg;
    pthread_mutex_init(&srv->mu, NULL);
    pthread_cond_init(&srv->cv, NULL);
    if (!srv->cfg.request_timeout_s)
        srv->cfg.request_timeout_s = 10;
    if (!srv->cfg.response_timeout_s)
        srv->cfg.response_timeout_s = 600;
    /* poll(), not select(): with a thousand sandboxes the daemon's fds pass FD_SETSIZE, and
     * select-based MHD drops every connection whose fd is above it */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ITC |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG;
    unsigned limit = cfg->max_connections ? cfg->max_connections : 256;
    /* MHD's idle timeout is the one for a connection waiting for (the rest of) a request;
     * dispatch() switches to the response timeout, on_completed() back */
    unsigned timeout = srv->cfg.request_timeout_s;
    unsigned per_ip = cfg->per_ip_limit ? cfg->per_ip_limit : 64;
    if (cfg->port) {
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(cfg->port)};
        struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(cfg->port)};
        const struct sockaddr *sa;
        const char *host = cfg->host ? cfg->host : "127.0.0.1";
        if (inet_pton(AF_INET, host, &sin.sin_addr) == 1) {
            sa = (const struct sockaddr *)&sin;
        } else if (inet_pton(AF_INET6, host, &sin6.sin6_addr) == 1) {
            sa = (const struct sockaddr *)&sin6;
            flags |= MHD_USE_IPv6;
        } else {
            api_server_free(srv);
            return al_err_set(err, AL_ERR_INVALID, EINVAL, "listen address must be an IP: %s",
                              host);
        }
        if (is_loopback(sa))
            per_ip = 0; /* every local client is 127.0.0.1: the slot rules in conns.c apply */
        srv->tcp_conns = api_conns_new(limit, timeout);
        if (!srv->tcp_conns) {
            api_server_free(srv);
            return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
        }
        srv->tcp = MHD_start_daemon(
            flags, cfg->port, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv,
            MHD_OPTION_SOCK_ADDR, sa, MHD_OPTION_CONNECTION_LIMIT, limit,
            MHD_OPTION_CONNECTION_TIMEOUT, timeout, MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip,
            MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_NOTIFY_CONNECTION,
            on_connection, srv->tcp_conns, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1,
            MHD_OPTION_UNESCAPE_CALLBACK, unescape, srv, MHD_OPTION_END);
        if (!srv->tcp) {
            api_server_free(srv);
            return al_err_set(err, AL_ERR_UNAVAILABLE, EADDRINUSE,
                              "cannot listen on %s:%u (in use?)", host, cfg->port);
        }
    }
    if (cfg->unix_path) {
        int fd = unix_listener(cfg->unix_path, err);
        if (fd < 0) {
            api_server_free(srv);
            return fd;
        }
        srv->unix_path = strdup(cfg->unix_path);
        srv->unx_conns = api_conns_new(limit, timeout);
        if (srv->unx_conns)
            srv->unx = MHD_start_daemon(
                flags & ~(unsigned)MHD_USE_IPv6, 0, NULL, NULL, on_request, srv,
                MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv, MHD_OPTION_LISTEN_SOCKET, fd,
                MHD_OPTION_CONNECTION_LIMIT, limit, MHD_OPTION_CONNECTION_TIMEOUT, timeout,
                MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_NOTIFY_CONNECTION,
                on_connection, srv->unx_conns, MHD_OPTION_UNESCAPE_CALLBACK, unescape, srv,
                MHD_OPTION_END);
        if (!srv->unx) {
            close(fd);
            api_server_free(srv);
            return al_err_set(err, AL_ERR_UNAVAILABLE, EIO, "cannot serve on %s", cfg->unix_path);
        }
    }
    if (pthread_create(&srv->watchdog, NULL, watchdog_main, srv) != 0) {
        api_server_free(srv);
        return al_err_set(err, AL_ERR_INTERNAL, EAGAIN, "cannot start the connection watchdog");
    }
    srv->watchdog_running = true;
    *ret = srv;
    return 0;
}

void api_server_quiesce(struct api_server *srv)
{
    if (!srv)
        return;
    struct MHD_Daemon *ds[2] = {srv->tcp, srv->unx};
    for (int i = 0; i < 2; i++) {
        if (!ds[i])
            continue;
        MHD_socket fd = MHD_quiesce_daemon(ds[i]);
        if (fd != MHD_INVALID_SOCKET)
            close(fd);
    }
}

void api_server_free(struct api_server *srv)
{
    if (!srv)
        return;
    if (srv->watchdog_running) {
        pthread_mutex_lock(&srv->mu);
        srv->stopping = true;
        pthread_cond_signal(&srv->cv);
        pthread_mutex_unlock(&srv->mu);
        pthread_join(srv->watchdog, NULL);
    }
    if (srv->tcp)
        MHD_stop_daemon(srv->tcp);
    if (srv->unx)
        MHD_stop_daemon(srv->unx);
    api_conns_free(srv->tcp_conns);
    api_conns_free(srv->unx_conns);
    if (srv->unix_path) {
        unlink(srv->unix_path);
        free(srv->unix_path);
    }
    pthread_mutex_destroy(&srv->mu);
    pthread_cond_destroy(&srv->cv);
    free(srv);
}
