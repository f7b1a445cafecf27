/* image: registry client (OCI distribution API over HTTP(S), libcurl).
 *
 * Theory of operation.  A pull is a short sequence of GETs on one curl handle:
 *   GET /v2/                        version check; a 401 carries the auth challenge
 *   (token)                         Bearer: GET <realm>?service=..&scope=repository:<repo>:pull
 *                                   with basic credentials when given; Basic: the credentials
 *   GET /v2/<repo>/manifests/<ref>  manifest or index (-> linux/amd64 manifest by digest)
 *   GET /v2/<repo>/blobs/<digest>   config, then each layer not already in the store
 * Every body is bounded (manifests and configs 4 MiB, layers by their descriptor size) and
 * hashed while it streams into the store; nothing is used before its digest matched.  HTTPS is
 * the rule; plain http only for loopback hosts or with opts->plain_http (https is tried first
 * and http used when the server does not speak TLS).  A transfer that moves no byte for
 * stall_timeout_s fails with AL_ERR_TIMEOUT.  Content that fails verification (digest or size
 * not what the registry announced) is AL_ERR_UPSTREAM: the registry's fault, not the
 * caller's request.  Redirects (blob storage) are followed, at most 5, http(s) only; curl
 * drops the Authorization header when the host changes.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/ids.h"
#include "common/json.h"
#include "image/img_internal.h"

#define ERRBODY_MAX 2048

struct reg {
    struct img_store *st;
    const struct img_ref *ref;
    const struct img_pull_opts *opts;
    CURL *h;
    bool https, http_ok;
    char *authz; /* "Authorization: ..." or NULL */
    char *ca_blob;
    size_t ca_len;
    uint64_t done, total, reported;
    CURLcode last_cc;
};

struct xfer {
    struct reg *r;
    /* sinks: memory (max) or a blob writer; progress counts blob bytes */
    char *mem;
    size_t mem_len, mem_max;
    struct img_blob_w *w;
    int sink_err;
    char errbody[ERRBODY_MAX];
    size_t errbody_len;
    char www_auth[2048], ctype[256], dcd[AL_DIGEST_LEN + 8];
    long long last_data_ms; /* when a header or body byte last arrived */
};

static void trim_copy(char *dst, size_t cap, const char *s, size_t n)
{
    while (n && (s[n - 1] == '\r' || s[n - 1] == '\n' || s[n - 1] == ' '))
        n--;
    while (n && *s == ' ')
        s++, n--;
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nitems;
    x->last_data_ms = al_now_ms();
    if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0) { /* a new response (redirect, 401) */
        x->www_auth[0] = x->ctype[0] = x->dcd[0] = '\0';
        return n;
    }
    struct {
        const char *name;
        char *dst;
        size_t cap;
    } want[] = {{"www-authenticate:", x->www_auth, sizeof(x->www_auth)},
                {"content-type:", x->ctype, sizeof(x->ctype)},
                {"docker-content-digest:", x->dcd, sizeof(x->dcd)}};
    for (size_t i = 0; i < AL_ARRAY_SIZE(want); i++) {
        size_t l = strlen(want[i].name);
        if (n > l && strncasecmp(buf, want[i].name, l) == 0 && !want[i].dst[0])
            trim_copy(want[i].dst, want[i].cap, buf + l, n - l);
    }
    return n;
}

static size_t on_body(char *buf, size_t size, size_t nitems, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nitems;
    x->last_data_ms = al_now_ms();
    long code = 0;
    curl_easy_getinfo(x->r->h, CURLINFO_RESPONSE_CODE, &code);
    if (code < 200 || code >= 300) { /* error bodies: keep a little for the message */
        size_t room = sizeof(x->errbody) - 1 - x->errbody_len;
        size_t c = n < room ? n : room;
        memcpy(x->errbody + x->errbody_len, buf, c);
        x->errbody_len += c;
        x->errbody[x->errbody_len] = '\0';
        return n;
    }
    if (x->w) {
        int rc = img_blob_w_write(x->w, buf, n);
        if (rc < 0) {
            x->sink_err = rc;
            return 0;
        }
        struct reg *r = x->r;
        r->done += n;
        /* report every 256 KiB and at the end, not per curl chunk */
        if (r->opts && r->opts->progress &&
            (r->done - r->reported >= (256u << 10) || r->done >= r->total)) {
            r->reported = r->done;
            r->opts->progress(r->opts->progress_ud, r->done, r->total);
        }
        return n;
    }
    if (x->mem_len + n > x->mem_max) {
        x->sink_err = -EFBIG;
        return 0;
    }
    char *nb = realloc(x->mem, x->mem_len + n + 1);
    if (!nb) {
        x->sink_err = -ENOMEM;
        return 0;
    }
    x->mem = nb;
    memcpy(x->mem + x->mem_len, buf, n);
    x->mem_len += n;
    x->mem[x->mem_len] = '\0';
    return n;
}

static bool host_is_loopback(const char *hostport)
{
    static const char *const names[] = {"127.0.0.1", "localhost", "[::1]"};
    for (size_t i = 0; i < AL_ARRAY_SIZE(names); i++) {
        size_t l = strlen(names[i]);
        if (strncmp(hostport, names[i], l) == 0 && (hostport[l] == '\0' || hostport[l] == ':'))
            return true;
    }
    return false;
}

/* Is an absolute URL (token realm) allowed?  https, or http under the plain-http rule; no
 * userinfo; and a remote registry may not send us (with the credentials) to a loopback host. */
static bool url_allowed(const struct reg *r, const char *url)
{
    const char *authority;
    bool https = strncmp(url, "https://", 8) == 0;
    if (https)
        authority = url + 8;
    else if (strncmp(url, "http://", 7) == 0)
        authority = url + 7;
    else
        return false;
    size_t alen = strcspn(authority, "/?#");
    if (memchr(authority, '@', alen))
        return false;
    char host[256];
    if (alen == 0 || alen >= sizeof(host))
        return false;
    memcpy(host, authority, alen);
    host[alen] = '\0';
    if (host_is_loopback(host) && !host_is_loopback(r->ref->host))
        return false;
    return https || r->http_ok || host_is_loopback(host);
}

/* Addresses a remote registry (or its redirects) may not make us connect to: loopback,
 * link-local (cloud metadata), unspecified.  A loopback registry may use loopback. */
bool img_addr_blocked(const struct sockaddr *sa, bool registry_is_loopback)
{
    if (sa->sa_family == AF_INET) {
        uint32_t a = ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr);
        if ((a >> 24) == 127)
            return !registry_is_loopback;
        return (a >> 16) == 0xa9fe || a == 0; /* 169.254/16, 0.0.0.0 */
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a6))
            return !registry_is_loopback;
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            struct sockaddr_in v4 = {.sin_family = AF_INET};
            memcpy(&v4.sin_addr, &a6->s6_addr[12], 4);
            return img_addr_blocked((const struct sockaddr *)&v4, registry_is_loopback);
        }
        return IN6_IS_ADDR_LINKLOCAL(a6) || IN6_IS_ADDR_UNSPECIFIED(a6);
    }
    return true;
}

static curl_socket_t open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    const struct reg *r = ud;
    if (purpose != CURLSOCKTYPE_IPCXN || img_addr_blocked(&a->addr, host_is_loopback(r->ref->host)))
        return CURL_SOCKET_BAD;
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static int load_ca(struct reg *r, const char *ca_file, struct al_err *err)
{
    const curl_version_info_data *vi = curl_version_info(CURLVERSION_NOW);
    const char *sys = vi && vi->cainfo ? vi->cainfo : "/etc/ssl/certs/ca-certificates.crt";
    cleanup_free char *a = NULL, *b = NULL;
    size_t al = 0, bl = 0;
    (void)al_read_file_at(AT_FDCWD, sys, 16u << 20, &a, &al); /* may be absent */
    int rc = al_read_file_at(AT_FDCWD, ca_file, 4u << 20, &b, &bl);
    if (rc < 0)
        return al_err_sys(err, AL_ERR_INVALID, -rc, "CA file %s", ca_file);
    r->ca_blob = malloc(al + bl + 2);
    if (!r->ca_blob)
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    if (al)
        memcpy(r->ca_blob, a, al);
    r->ca_blob[al] = '\n';
    memcpy(r->ca_blob + al + 1, b, bl);
    r->ca_len = al + 1 + bl;
    return 0;
}

static unsigned stall_timeout(const struct reg *r)
{
    return r->opts && r->opts->stall_timeout_s ? r->opts->stall_timeout_s
                                               : IMG_STALL_TIMEOUT_DEFAULT_S;
}

/* The stall clock.  curl's own LOW_SPEED check averages the speed over a 5 s window, so
 * silence after a burst (half a blob, then nothing) is noticed only ~5 s late; this notices
 * the silence itself.  curl calls it about once a second while nothing moves. */
static int on_xferinfo(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct xfer *x = ud;
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    /* non-zero: CURLE_ABORTED_BY_CALLBACK */
    return al_now_ms() - x->last_data_ms >= (long long)stall_timeout(x->r) * 1000;
}

static void setup(struct reg *r, struct xfer *x, const char *url, struct curl_slist *hdrs)
{
    CURL *h = r->h;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, r->http_ok ? "http,https" : "https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "airlock/0.1");
    curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, r);
    unsigned stall = stall_timeout(r);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)(stall < 15 ? stall : 15));
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    /* a trickle (a byte now and then) never trips on_xferinfo; this catches it */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)stall);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_xferinfo);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
    x->last_data_ms = al_now_ms(); /* every transfer is set up just before it runs */
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (r->ca_blob) {
        struct curl_blob blob = {r->ca_blob, r->ca_len, CURL_BLOB_NOCOPY};
        curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
    }
    if (hdrs)
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
}

static int curl_fail(struct reg *r, CURLcode cc, const char *what, const char *ebuf,
                     struct al_err *err)
{
    const char *msg = ebuf && ebuf[0] ? ebuf : curl_easy_strerror(cc);
    unsigned stall = stall_timeout(r);
    switch (cc) {
    case CURLE_ABORTED_BY_CALLBACK: /* on_xferinfo, the only callback that aborts */
        return al_err_set(err, AL_ERR_TIMEOUT, ETIMEDOUT,
                          "registry %s: %s: stalled (no data for %u s)", r->ref->host, what, stall);
    case CURLE_OPERATION_TIMEDOUT:
        return al_err_set(err, AL_ERR_TIMEOUT, ETIMEDOUT,
                          "registry %s: %s: stalled (no data for %u s): %s", r->ref->host, what,
                          stall, msg);
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
        return al_err_set(err, AL_ERR_UNAVAILABLE, ECONNREFUSED, "registry %s: %s: %s",
                          r->ref->host, what, msg);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CACERT_BADFILE:
        return al_err_set(err, AL_ERR_UNAVAILABLE, EPROTO, "registry %s: %s: TLS: %s", r->ref->host,
                          what, msg);
    default:
        return al_err_set(err, AL_ERR_UNAVAILABLE, EIO, "registry %s: %s: %s", r->ref->host, what,
                          msg);
    }
}

/* One GET.  Returns the HTTP status, or < 0 (err set). */
static int perform(struct reg *r, struct xfer *x, const char *url, const char *accept,
                   bool with_auth, const char *what, struct al_err *err)
{
    struct curl_slist *hdrs = NULL, *t;
    char acc[512];
    if (accept) {
        snprintf(acc, sizeof(acc), "Accept: %s", accept);
        if (!(t = curl_slist_append(hdrs, acc)))
            goto oom;
        hdrs = t;
    }
    if (with_auth && r->authz) {
        if (!(t = curl_slist_append(hdrs, r->authz)))
            goto oom;
        hdrs = t;
    }
    setup(r, x, url, hdrs);
    char ebuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(r->h, CURLOPT_ERRORBUFFER, ebuf);
    x->www_auth[0] = x->ctype[0] = x->dcd[0] = '\0';
    x->errbody_len = 0;
    x->errbody[0] = '\0';
    CURLcode cc = curl_easy_perform(r->h);
    curl_slist_free_all(hdrs);
    curl_easy_setopt(r->h, CURLOPT_ERRORBUFFER, NULL);
    if (x->sink_err == -EFBIG)
        return al_err_set(err, AL_ERR_TOO_LARGE, EFBIG, "registry %s: %s: response too large",
                          r->ref->host, what);
    if (x->sink_err < 0)
        return al_err_sys(err, AL_ERR_INTERNAL, -x->sink_err, "registry %s: %s", r->ref->host,
                          what);
    r->last_cc = cc;
    if (cc != CURLE_OK)
        return curl_fail(r, cc, what, ebuf, err);
    long code = 0;
    curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &code);
    return (int)code;
oom:
    curl_slist_free_all(hdrs);
    return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
}

static int status_error(struct reg *r, int code, const char *what, struct al_err *err)
{
    enum al_err_kind k = AL_ERR_UNAVAILABLE;
    int e = EIO;
    switch (code) {
    case 401:
        k = AL_ERR_UNAUTH, e = EACCES;
        break;
    case 403:
        k = AL_ERR_PERMISSION, e = EACCES;
        break;
    case 404:
        k = AL_ERR_NOT_FOUND, e = ENOENT;
        break;
    case 429:
        k = AL_ERR_LIMIT, e = EAGAIN;
        break;
    default:
        if (code >= 400 && code < 500)
            k = AL_ERR_INVALID, e = EINVAL;
    }
    return al_err_set(err, k, e, "registry %s: %s: HTTP %d", r->ref->host, what, code);
}

static int fetch_token(struct reg *r, const struct img_challenge *c, struct al_err *err)
{
    if (!url_allowed(r, c->realm))
        return al_err_set(err, AL_ERR_PERMISSION, EPERM,
                          "registry %s: token realm is not https (plain http not allowed)",
                          r->ref->host);
    char scope[600];
    if (c->scope[0])
        snprintf(scope, sizeof(scope), "%s", c->scope);
    else
        snprintf(scope, sizeof(scope), "repository:%s:pull", r->ref->repo);
    cleanup_free char *url = NULL;
    char *es = curl_easy_escape(r->h, scope, 0), *ev = curl_easy_escape(r->h, c->service, 0);
    int n = es && ev
                ? asprintf(&url, "%s%sscope=%s%s%s", c->realm, strchr(c->realm, '?') ? "&" : "?",
                           es, c->service[0] ? "&service=" : "", c->service[0] ? ev : "")
                : -1;
    curl_free(es);
    curl_free(ev);
    if (n < 0)
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    struct xfer x = {.r = r, .mem_max = IMG_MAX_TOKEN};
    struct curl_slist *none = NULL;
    setup(r, &x, url, none);
    if (r->opts && r->opts->username) {
        curl_easy_setopt(r->h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(r->h, CURLOPT_USERNAME, r->opts->username);
        curl_easy_setopt(r->h, CURLOPT_PASSWORD, r->opts->password ? r->opts->password : "");
    }
    char ebuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(r->h, CURLOPT_ERRORBUFFER, ebuf);
    CURLcode cc = curl_easy_perform(r->h);
    curl_easy_setopt(r->h, CURLOPT_ERRORBUFFER, NULL);
    cleanup_free char *body = x.mem;
    if (x.sink_err < 0)
        return al_err_set(err, AL_ERR_INVALID, -x.sink_err, "token service: response too large");
    if (cc != CURLE_OK)
        return curl_fail(r, cc, "token service", ebuf, err);
    long code = 0;
    curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &code);
    if (code != 200)
        return status_error(r, (int)code, "token service", err);
    char *tok = NULL;
    int rc = img_token_parse(body, x.mem_len, &tok, err);
    if (body)
        explicit_bzero(body, x.mem_len); /* it held the token */
    if (rc < 0)
        return al_err_wrap(err, "token service");
    free(r->authz);
    int n2 = asprintf(&r->authz, "Authorization: Bearer %s", tok);
    explicit_bzero(tok, strlen(tok));
    free(tok);
    if (n2 < 0) {
        r->authz = NULL;
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    }
    return 0;
}

static int set_basic(struct reg *r, struct al_err *err)
{
    if (!r->opts || !r->opts->username)
        return al_err_set(err, AL_ERR_UNAUTH, EACCES,
                          "registry %s requires credentials (basic auth)", r->ref->host);
    cleanup_free char *up = NULL;
    if (asprintf(&up, "%s:%s", r->opts->username, r->opts->password ? r->opts->password : "") < 0)
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    size_t ul = strlen(up), bl = 4 * ((ul + 2) / 3);
    cleanup_free char *b64 = malloc(bl + 1);
    if (!b64)
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < ul; i += 3) {
        uint32_t v = (uint32_t)(uint8_t)up[i] << 16;
        if (i + 1 < ul)
            v |= (uint32_t)(uint8_t)up[i + 1] << 8;
        if (i + 2 < ul)
            v |= (uint8_t)up[i + 2];
        b64[o++] = tbl[(v >> 18) & 63];
        b64[o++] = tbl[(v >> 12) & 63];
        b64[o++] = i + 1 < ul ? tbl[(v >> 6) & 63] : '=';
        b64[o++] = i + 2 < ul ? tbl[v & 63] : '=';
    }
    b64[o] = '\0';
    explicit_bzero(up, ul);
    free(r->authz);
    if (asprintf(&r->authz, "Authorization: Basic %s", b64) < 0) {
        r->authz = NULL;
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    }
    return 0;
}

/* React to a 401: parse the challenge, obtain credentials.  Returns 0 to retry. */
static int authenticate(struct reg *r, const struct xfer *x, struct al_err *err)
{
    struct img_challenge c;
    if (!x->www_auth[0] || img_challenge_parse(x->www_auth, &c) < 0)
        return al_err_set(err, AL_ERR_UNAUTH, EACCES,
                          "registry %s: 401 without a usable WWW-Authenticate challenge",
                          r->ref->host);
    if (strcmp(c.scheme, "bearer") == 0)
        return fetch_token(r, &c, err);
    if (strcmp(c.scheme, "basic") == 0)
        return set_basic(r, err);
    return al_err_set(err, AL_ERR_UNSUPPORTED, ENOTSUP, "registry %s: auth scheme %.15s",
                      r->ref->host, c.scheme);
}

/* GET with the auth dance: at most two challenges answered per request. */
static int get(struct reg *r, struct xfer *x, const char *path, const char *accept,
               const char *what, struct al_err *err)
{
    char url[1024];
    snprintf(url, sizeof(url), "%s://%s%s", r->https ? "https" : "http", r->ref->host, path);
    for (int attempt = 0;; attempt++) {
        int code = perform(r, x, url, accept, true, what, err);
        if (code < 0)
            return code;
        if (code == 401 && attempt < 2) {
            int rc = authenticate(r, x, err);
            if (rc < 0)
                return rc;
            continue;
        }
        if (code == 401 && r->authz)
            return al_err_set(err, AL_ERR_UNAUTH, EACCES,
                              "registry %s: %s: credentials refused (HTTP 401)", r->ref->host,
                              what);
        return code;
    }
}

static int ping(struct reg *r, struct al_err *err)
{
    bool http_ok = r->http_ok;
    for (;;) {
        struct xfer x = {.r = r, .mem_max = 64u << 10};
        char url[512];
        snprintf(url, sizeof(url), "%s://%s/v2/", r->https ? "https" : "http", r->ref->host);
        struct al_err e2 = {0};
        int code = perform(r, &x, url, NULL, false, "version check", &e2);
        free(x.mem);
        /* fall back to http only when the server does not speak TLS at all (not when its
         * certificate failed verification, not when it stalled) */
        bool not_tls = r->last_cc == CURLE_SSL_CONNECT_ERROR || r->last_cc == CURLE_RECV_ERROR ||
                       r->last_cc == CURLE_GOT_NOTHING;
        if (code < 0 && r->https && http_ok && not_tls) {
            r->https = false; /* no TLS there: a loopback or explicitly plain registry */
            continue;
        }
        if (code < 0) {
            if (err)
                *err = e2;
            return code;
        }
        if (code == 401)
            return authenticate(r, &x, err);
        if (code != 200)
            return status_error(r, code, "version check (/v2/)", err);
        return 0;
    }
}

static int get_doc(struct reg *r, const char *reference, char **ret, size_t *ret_len,
                   char ret_digest[AL_DIGEST_LEN], char *ret_ctype, size_t ctype_cap,
                   struct al_err *err)
{
    char path[800];
    snprintf(path, sizeof(path), "/v2/%s/manifests/%s", r->ref->repo, reference);
    struct xfer x = {.r = r, .mem_max = IMG_MAX_MANIFEST};
    int code = get(r, &x, path, IMG_ACCEPT_MANIFESTS, "manifest", err);
    cleanup_free char *body = x.mem;
    if (code < 0)
        return code;
    if (code != 200)
        return status_error(r, code, "manifest", err);
    if (!body || x.mem_len == 0)
        return al_err_set(err, AL_ERR_UPSTREAM, EBADMSG, "registry %s: empty manifest",
                          r->ref->host);
    char digest[AL_DIGEST_LEN];
    if (al_sha256_digest(body, x.mem_len, digest) < 0)
        return al_err_set(err, AL_ERR_INTERNAL, EIO, "sha256");
    if (strncmp(reference, "sha256:", 7) == 0 && strcmp(reference, digest) != 0)
        return al_err_set(err, AL_ERR_UPSTREAM, EBADMSG,
                          "registry %s: manifest digest mismatch: asked for %.80s, got %.80s",
                          r->ref->host, reference, digest);
    if (x.dcd[0] && al_digest_valid(x.dcd) && strcmp(x.dcd, digest) != 0)
        return al_err_set(err, AL_ERR_UPSTREAM, EBADMSG,
                          "registry %s: Docker-Content-Digest %.80s does not match content %.80s",
                          r->ref->host, x.dcd, digest);
    memcpy(ret_digest, digest, AL_DIGEST_LEN);
    snprintf(ret_ctype, ctype_cap, "%s", x.ctype);
    *ret = TAKE_PTR(body);
    *ret_len = x.mem_len;
    return 0;
}

static int get_blob(struct reg *r, const struct img_desc *d, uint64_t max, struct al_err *err)
{
    if (img_blob_has(r->st, d->digest)) {
        r->done += d->size;
        return 0;
    }
    if (d->size > max)
        return al_err_set(err, AL_ERR_TOO_LARGE, EFBIG, "blob %s: %llu bytes is over the limit",
                          d->digest, (unsigned long long)d->size);
    char path[800];
    snprintf(path, sizeof(path), "/v2/%s/blobs/%s", r->ref->repo, d->digest);
    struct xfer x = {.r = r};
    int rc = img_blob_w_new(r->st, d->size, &x.w, err);
    if (rc < 0)
        return rc;
    uint64_t done0 = r->done;
    int code = get(r, &x, path, NULL, "blob", err);
    if (code >= 0 && code != 200)
        code = status_error(r, code, "blob", err);
    if (code >= 0) {
        code = img_blob_w_commit(x.w, d->digest, (int64_t)d->size, NULL, err);
        /* the store calls a mismatch invalid input; here the input is the registry's */
        if (code == -EBADMSG && err)
            err->kind = AL_ERR_UPSTREAM;
    }
    if (code < 0) {
        r->done = done0;
        al_err_wrap(err, "blob %s", d->digest);
    }
    img_blob_w_free(x.w);
    return code < 0 ? code : 0;
}

static int pull(struct reg *r, struct img_info *ret, struct al_err *err)
{
    int rc = ping(r, err);
    if (rc < 0)
        return rc;
    const char *reference = r->ref->digest[0] ? r->ref->digest : r->ref->tag;
    char digest[AL_DIGEST_LEN], ctype[256];
    for (int depth = 0;; depth++) {
        cleanup_free char *doc = NULL;
        size_t len = 0;
        rc = get_doc(r, reference, &doc, &len, digest, ctype, sizeof(ctype), err);
        if (rc < 0)
            return rc;
        enum img_mt kind;
        rc = img_doc_kind(doc, len, ctype, &kind, err);
        if (rc < 0)
            return al_err_wrap(err, "registry %s", r->ref->host);
        if (kind == IMG_MT_OCI_MANIFEST || kind == IMG_MT_DOCKER_MANIFEST) {
            struct img_manifest m;
            rc = img_manifest_decode(doc, len, &m, err);
            if (rc < 0)
                return rc;
            r->total = m.config.size;
            for (size_t i = 0; i < m.n_layers; i++)
                r->total += m.layers[i].size;
            rc = get_blob(r, &m.config, IMG_MAX_CONFIG, err);
            for (size_t i = 0; rc == 0 && i < m.n_layers; i++)
                rc = get_blob(r, &m.layers[i], IMG_MAX_TOTAL_LAYERS, err);
            img_manifest_clear(&m);
            if (rc < 0)
                return rc;
            /* the manifest goes in last: a manifest in the store means its blobs are too */
            rc = img_blob_put_buf(r->st, doc, len, digest, NULL, err);
            if (rc < 0)
                return rc;
            break;
        }
        if (depth > 0)
            return al_err_set(err, AL_ERR_INVALID, EINVAL, "registry %s: nested image index",
                              r->ref->host);
        struct img_index ix;
        rc = img_index_decode(doc, len, &ix, err);
        if (rc < 0)
            return rc;
        const struct img_desc *d;
        rc = img_index_pick(&ix, NULL, &d, err);
        if (rc == 0)
            memcpy(digest, d->digest, AL_DIGEST_LEN);
        img_index_clear(&ix);
        if (rc < 0)
            return rc;
        reference = digest;
    }
    if (r->opts && r->opts->progress && r->reported != r->total)
        r->opts->progress(r->opts->progress_ud, r->total, r->total);
    return img_store_load(r->st, digest, ret, err);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

int img_pull(struct img_store *st, const char *refstr, const struct img_pull_opts *opts,
             struct img_info *ret, struct al_err *err)
{
    struct img_ref ref;
    int rc = img_ref_parse(refstr, &ref, err);
    if (rc < 0)
        return rc;
    pthread_once(&curl_once, curl_init_once);
    struct reg r = {.st = st, .ref = &ref, .opts = opts, .https = true};
    r.http_ok = (opts && opts->plain_http) || host_is_loopback(ref.host);
    if (opts && opts->ca_file) {
        rc = load_ca(&r, opts->ca_file, err);
        if (rc < 0)
            return rc;
    }
    r.h = curl_easy_init();
    if (!r.h) {
        free(r.ca_blob);
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "curl_easy_init");
    }
    rc = pull(&r, ret, err);
    curl_easy_cleanup(r.h);
    if (r.authz) {
        explicit_bzero(r.authz, strlen(r.authz));
        free(r.authz);
    }
    free(r.ca_blob);
    if (rc < 0)
        al_err_wrap(err, "pull %.200s", refstr);
    return rc;
}
