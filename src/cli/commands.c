/* Helpers shared by the command files: the global options; request + print + error reporting
 * in one call. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/output.h"
#include "common/cleanup.h"
#include "common/json.h"

const struct cli_opt cli_global_opts[] = {
    {"url", 0, CLI_OPT_VALUE, "URL", "daemon address, e.g. http://127.0.0.1:7070 (AIRLOCK_URL)"},
    {"socket", 0, CLI_OPT_VALUE, "PATH", "daemon unix socket"},
    {"key", 0, CLI_OPT_VALUE, "KEY", "API key (AIRLOCK_KEY)"},
    {"state-dir", 0, CLI_OPT_VALUE, "DIR",
     "use DIR/airlockd.sock and DIR/admin.key (AIRLOCK_STATE_DIR, default ./state)"},
    {"json", 0, CLI_OPT_FLAG, NULL, "print the API's JSON instead of tables"},
    {"help", 'h', CLI_OPT_FLAG, NULL, "show help"},
};
const size_t cli_n_global_opts = AL_ARRAY_SIZE(cli_global_opts);

int cli_usage_error(struct cli_ctx *ctx, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "airlock: %s\n", msg);
    if (ctx && ctx->cmd) {
        const struct cli_cmd *c = ctx->cmd;
        fprintf(stderr, "usage: airlock %s%s%s %s\n", c->group ? c->group : "", c->group ? " " : "",
                c->name, c->synopsis);
        fprintf(stderr, "Try 'airlock %s%s%s --help'.\n", c->group ? c->group : "",
                c->group ? " " : "", c->name);
    }
    return CLI_EXIT_USAGE;
}

int cli_body_kv(struct cli_ctx *ctx, const struct cli_args *a, const char *opt, json_t *body,
                const char *field)
{
    char errbuf[256];
    json_t *obj = cli_kv_object(a, opt, errbuf, sizeof(errbuf));
    if (!obj)
        return cli_usage_error(ctx, "--%s: %s", opt, errbuf);
    if (json_object_size(obj))
        json_object_set_new(body, field, obj);
    else
        json_decref(obj);
    return 0;
}

char *cli_path(struct cli_ctx *ctx, ...)
{
    struct cli_buf b = {0};
    va_list ap;
    va_start(ap, ctx);
    const char *seg;
    while ((seg = va_arg(ap, const char *))) {
        char *e = cli_escape(&ctx->conn, seg);
        if (!e || cli_buf_append(&b, "/", 1) < 0 || cli_buf_append(&b, e, strlen(e)) < 0) {
            curl_free(e);
            cli_buf_free(&b);
            va_end(ap);
            return NULL;
        }
        curl_free(e);
    }
    va_end(ap);
    return b.data;
}

int cli_call(struct cli_ctx *ctx, const char *method, const char *path, json_t *body,
             int (*print_fn)(struct cli_ctx *ctx, json_t *resp), json_t **ret_json)
{
    if (!path) {
        fprintf(stderr, "airlock: out of memory\n");
        return CLI_EXIT_API;
    }
    struct al_err err = {0};
    struct cli_resp resp;
    if (cli_http_json(&ctx->conn, method, path, body, &resp, &err) < 0) {
        cli_resp_free(&resp);
        return cli_report_transport_error(&err);
    }
    int rc = CLI_EXIT_OK;
    if (cli_exit_for_status(resp.status) != 0) {
        rc = cli_report_api_error(&resp);
        cli_resp_free(&resp);
        return rc;
    }
    cleanup_json json_t *j = NULL;
    if (resp.body.len > 0) {
        j = cli_json_parse(resp.body.data, resp.body.len);
        if (!j) {
            fprintf(stderr, "airlock: the daemon sent a malformed response (HTTP %ld)\n",
                    resp.status);
            cli_resp_free(&resp);
            return CLI_EXIT_API;
        }
    }
    if (ctx->json)
        cli_print_raw(stdout, &resp);
    else if (print_fn && j)
        rc = print_fn(ctx, j);
    cli_resp_free(&resp);
    if (ret_json)
        *ret_json = TAKE_PTR(j);
    return rc;
}
