#include "cli/http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/json.h"

volatile int cli_http_interrupted;

int cli_buf_append(struct cli_buf *b, const char *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d)
            return -ENOMEM;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

void cli_buf_free(struct cli_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

void cli_resp_free(struct cli_resp *r)
{
    cli_buf_free(&r->body);
}

int cli_exit_for_curl(CURLcode rc)
{
    switch (rc) {
    case CURLE_OK:
        return 0;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
        return 3;
    default:
        return 1;
    }
}

int cli_exit_for_status(long status)
{
    return status >= 200 && status < 300 ? 0 : 1;
}

int cli_conn_init(struct cli_conn *c, const char *url, const char *socket, const char *key)
{
    memset(c, 0, sizeof(*c));
    const char *base = url ? url : "http://localhost";
    size_t len = strlen(base);
    while (len > 0 && base[len - 1] == '/')
        len--;
    c->base_url = strndup(base, len);
    c->socket = socket ? strdup(socket) : NULL;
    c->key = key ? strdup(key) : NULL;
    c->curl = curl_easy_init();
    if (!c->base_url || (socket && !c->socket) || (key && !c->key) || !c->curl) {
        cli_conn_free(c);
        return -ENOMEM;
    }
    return 0;
}

void cli_conn_free(struct cli_conn *c)
{
    if (c->curl)
        curl_easy_cleanup(c->curl);
    free(c->base_url);
    free(c->socket);
    if (c->key) {
        explicit_bzero(c->key, strlen(c->key));
        free(c->key);
    }
    memset(c, 0, sizeof(*c));
}

struct xfer {
    CURL *curl;
    const struct cli_req *req;
    struct cli_resp *resp;
    int sink_rc;
};

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
    struct xfer *x = ud;
    size_t len = size * n;
    long status = 0;
    curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
    if (x->req->sink && status >= 200 && status < 300) {
        int rc = x->req->sink(x->req->sink_ud, p, len);
        if (rc < 0) {
            x->sink_rc = rc;
            return 0;
        }
        return len;
    }
    /* error bodies (and unstreamed bodies) are buffered, bounded */
    if (x->resp->body.len + len > (size_t)256 << 20)
        return 0;
    if (cli_buf_append(&x->resp->body, p, len) < 0)
        return 0;
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct xfer *x = ud;
    size_t len = size * n;
    static const char name[] = "content-type:";
    if (len > sizeof(name) - 1 && strncasecmp(p, name, sizeof(name) - 1) == 0) {
        const char *v = p + sizeof(name) - 1;
        size_t vl = len - (sizeof(name) - 1);
        while (vl > 0 && (*v == ' ' || *v == '\t'))
            v++, vl--;
        while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        if (vl >= sizeof(x->resp->content_type))
            vl = sizeof(x->resp->content_type) - 1;
        memcpy(x->resp->content_type, v, vl);
        x->resp->content_type[vl] = '\0';
    }
    return len;
}

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
    const struct cli_req *req = ud;
    for (;;) {
        ssize_t r = read(req->body_fd, buf, size * n);
        if (r >= 0)
            return (size_t)r;
        if (errno != EINTR)
            return CURL_READFUNC_ABORT;
    }
}

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    return cli_http_interrupted ? 1 : 0;
}

int cli_http(struct cli_conn *c, const struct cli_req *req, struct cli_resp *resp,
             struct al_err *err)
{
    CURL *h = c->curl;
    memset(resp, 0, sizeof(*resp));
    curl_easy_reset(h);

    cleanup_free char *url = NULL;
    if (asprintf(&url, "%s%s", c->base_url, req->path) < 0)
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    struct curl_slist *hdrs = NULL;
    cleanup_free char *auth = NULL;
    cleanup_free char *ctype = NULL;
    if (c->key && c->key[0]) {
        if (asprintf(&auth, "Authorization: Bearer %s", c->key) < 0)
            return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
        hdrs = curl_slist_append(hdrs, auth);
    }
    if (req->content_type) {
        if (asprintf(&ctype, "Content-Type: %s", req->content_type) < 0) {
            curl_slist_free_all(hdrs);
            return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
        }
        hdrs = curl_slist_append(hdrs, ctype);
    }
    hdrs = curl_slist_append(hdrs, "Expect:");

    struct xfer x = {.curl = h, .req = req, .resp = resp};
    curl_easy_setopt(h, CURLOPT_URL, url);
    if (c->socket)
        curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->socket);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");

    const char *m = req->method;
    if (req->body_fd >= 0 && (req->body || req->body_len)) {
        curl_slist_free_all(hdrs);
        return al_err_set(err, AL_ERR_INTERNAL, EINVAL, "request has two bodies");
    }
    if (req->body_fd >= 0) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, req);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->body_fd_size);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m);
    } else if (req->body || strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? (const char *)req->body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        if (strcmp(m, "POST") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m);
    } else if (strcmp(m, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m);
    }

    CURLcode rc = curl_easy_perform(h);
    curl_slist_free_all(hdrs);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    if (rc != CURLE_OK) {
        if (x.sink_rc < 0)
            return al_err_set(err, AL_ERR_INTERNAL, -x.sink_rc, "writing output: %s",
                              strerror(-x.sink_rc));
        if (cli_http_interrupted)
            return al_err_set(err, AL_ERR_INTERNAL, EINTR, "interrupted");
        const char *where = c->socket ? c->socket : c->base_url;
        enum al_err_kind kind = cli_exit_for_curl(rc) == 3 ? AL_ERR_UNAVAILABLE : AL_ERR_INTERNAL;
        return al_err_set(err, kind, ECONNREFUSED, "cannot reach airlockd at %s: %s", where,
                          curl_easy_strerror(rc));
    }
    return 0;
}

int cli_http_json(struct cli_conn *c, const char *method, const char *path, json_t *body,
                  struct cli_resp *resp, struct al_err *err)
{
    cleanup_free char *data = NULL;
    if (body) {
        data = al_json_dump(body);
        if (!data)
            return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    }
    struct cli_req req = {
        .method = method,
        .path = path,
        .content_type = data ? "application/json" : NULL,
        .body = data,
        .body_len = data ? strlen(data) : 0,
        .body_fd = -1,
    };
    return cli_http(c, &req, resp, err);
}

char *cli_escape(struct cli_conn *c, const char *s)
{
    return curl_easy_escape(c->curl, s, 0);
}
