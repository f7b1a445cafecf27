/* HTTP client of the REST API (libcurl): one easy handle per process so that successive
 * requests reuse the keep-alive connection, TCP (`--url`) or a unix socket (`--socket`). */
#pragma once

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/err.h"

struct cli_conn {
    char *base_url; /* "http://127.0.0.1:7070" (no trailing '/'); "http://localhost" for sockets */
    char *socket;   /* unix socket path or NULL */
    char *key;      /* bearer key or NULL */
    CURL *curl;
};

struct cli_buf {
    char *data; /* NUL-terminated */
    size_t len, cap;
};

/* Streaming sink: called with body bytes of a 2xx response.  Return <0 to abort. */
typedef int (*cli_sink_fn)(void *ud, const char *p, size_t n);

struct cli_req {
    const char *method;
    const char *path; /* "/v1/..." including an already-escaped query */
    const char *content_type;
    const void *body; /* in-memory body, or */
    size_t body_len;
    int body_fd; /* stream the body from this fd (borrowed); -1 if none */
    long long body_fd_size;
    cli_sink_fn sink; /* NULL: buffer the body in resp->body */
    void *sink_ud;
};

struct cli_resp {
    long status;
    struct cli_buf body; /* error bodies are always buffered here */
    char content_type[128];
};

int cli_buf_append(struct cli_buf *b, const char *p, size_t n);
void cli_buf_free(struct cli_buf *b);
void cli_resp_free(struct cli_resp *r);

/* Transport outcome -> exit code class: 3 when the daemon cannot be reached, else 1. */
int cli_exit_for_curl(CURLcode rc);
/* HTTP status -> exit code: 0 for 2xx, 1 otherwise. */
int cli_exit_for_status(long status);

/* Set up the connection.  Returns 0 or -errno. */
int cli_conn_init(struct cli_conn *c, const char *url, const char *socket, const char *key);
void cli_conn_free(struct cli_conn *c);

/* Perform one request.  Returns 0 when a response arrived (any status: check resp->status),
 * or a negative error with err set; err->kind is AL_ERR_UNAVAILABLE when the daemon could not
 * be reached (exit 3). */
int cli_http(struct cli_conn *c, const struct cli_req *req, struct cli_resp *resp,
             struct al_err *err);

/* Convenience: JSON request (body may be NULL) with the response buffered. */
int cli_http_json(struct cli_conn *c, const char *method, const char *path, json_t *body,
                  struct cli_resp *resp, struct al_err *err);

/* Escape a query value (caller frees with curl_free). */
char *cli_escape(struct cli_conn *c, const char *s);

/* Abort transfers (checked by libcurl's progress callback); set from a signal handler. */
extern volatile int cli_http_interrupted;
