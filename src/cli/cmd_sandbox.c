/* airlock sandbox create|ls|get|rm|exec|cp and airlock run */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/output.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/parse.h"

#define CLI_STDIN_MAX (1 << 20)

static const struct cli_col sandbox_cols[] = {
    {"ID", "id", CLI_FMT_TEXT},       {"STATE", "state", CLI_FMT_TEXT},
    {"IMAGE", "image", CLI_FMT_TEXT}, {"TIER", "tier", CLI_FMT_TEXT},
    {"LABELS", "labels", CLI_FMT_KV}, {"CREATED", "createdAt", CLI_FMT_TEXT},
};

int cli_exec_exit_code(json_t *result)
{
    if (json_is_true(json_object_get(result, "timedOut")))
        return 124;
    json_int_t sig = json_integer_value(json_object_get(result, "signal"));
    if (sig > 0 && sig < 128)
        return 128 + (int)sig;
    json_t *code = json_object_get(result, "exitCode");
    if (!json_is_integer(code))
        return CLI_EXIT_API;
    json_int_t c = json_integer_value(code);
    return c >= 0 && c <= 255 ? (int)c : CLI_EXIT_API;
}

static int print_one(struct cli_ctx *ctx, json_t *j)
{
    return cli_print_object(stdout, j) < 0 ? CLI_EXIT_API : CLI_EXIT_OK;
}

static int print_id(struct cli_ctx *ctx, json_t *j)
{
    const char *id = json_string_value(json_object_get(j, "id"));
    if (!id) {
        fprintf(stderr, "airlock: unexpected response (no 'id')\n");
        return CLI_EXIT_API;
    }
    printf("%s\n", id);
    return CLI_EXIT_OK;
}

static int print_list(struct cli_ctx *ctx, json_t *j)
{
    json_t *arr = json_object_get(j, "sandboxes");
    if (!json_is_array(arr)) {
        fprintf(stderr, "airlock: unexpected response (no 'sandboxes' array)\n");
        return CLI_EXIT_API;
    }
    return cli_print_list(stdout, arr, sandbox_cols, AL_ARRAY_SIZE(sandbox_cols)) < 0 ? CLI_EXIT_API
                                                                                      : CLI_EXIT_OK;
}

/* {"image"?, "tier"?, "env"?, "labels"?} from the create/run options. */
static json_t *create_body(struct cli_ctx *ctx, struct cli_args *a, bool with_env, int *rc)
{
    cleanup_json json_t *body = json_object();
    const char *image = cli_args_get(a, "image");
    const char *tier = cli_args_get(a, "tier");
    if (image)
        json_object_set_new(body, "image", json_string(image));
    if (tier)
        json_object_set_new(body, "tier", json_string(tier));
    if ((*rc = cli_body_kv(ctx, a, "label", body, "labels")) != 0 ||
        (with_env && (*rc = cli_body_kv(ctx, a, "env", body, "env")) != 0))
        return NULL;
    return TAKE_PTR(body);
}

static int sandbox_create(struct cli_ctx *ctx, struct cli_args *a)
{
    int rc = CLI_EXIT_USAGE;
    cleanup_json json_t *body = create_body(ctx, a, true, &rc);
    if (!body)
        return rc;
    cleanup_free char *path = cli_path(ctx, "v1", "sandboxgroups", a->pos[0], "sandboxes", NULL);
    return cli_call(ctx, "POST", path, body, print_id, NULL);
}

static int sandbox_ls(struct cli_ctx *ctx, struct cli_args *a)
{
    cleanup_free char *base = cli_path(ctx, "v1", "sandboxgroups", a->pos[0], "sandboxes", NULL);
    if (!base)
        return CLI_EXIT_API;
    struct cli_buf b = {0};
    if (cli_buf_append(&b, base, strlen(base)) < 0)
        return CLI_EXIT_API;
    const char *lbl;
    for (size_t i = 0; (lbl = cli_args_multi(a, "label", i)); i++) {
        if (!strchr(lbl, '=') || lbl[0] == '=') {
            cli_buf_free(&b);
            return cli_usage_error(ctx, "--label: '%s' is not KEY=VALUE", lbl);
        }
        char *e = cli_escape(&ctx->conn, lbl);
        int r = e ? 0 : -ENOMEM;
        if (r == 0)
            r = cli_buf_append(&b, i ? "&label=" : "?label=", 7);
        if (r == 0)
            r = cli_buf_append(&b, e, strlen(e));
        curl_free(e);
        if (r < 0) {
            cli_buf_free(&b);
            return CLI_EXIT_API;
        }
    }
    int rc = cli_call(ctx, "GET", b.data, NULL, print_list, NULL);
    cli_buf_free(&b);
    return rc;
}

static int sandbox_get(struct cli_ctx *ctx, struct cli_args *a)
{
    cleanup_free char *path =
        cli_path(ctx, "v1", "sandboxgroups", a->pos[0], "sandboxes", a->pos[1], NULL);
    return cli_call(ctx, "GET", path, NULL, print_one, NULL);
}

static int sandbox_rm(struct cli_ctx *ctx, struct cli_args *a)
{
    int rc = CLI_EXIT_OK;
    for (size_t i = 1; i < a->n_pos; i++) {
        cleanup_free char *path =
            cli_path(ctx, "v1", "sandboxgroups", a->pos[0], "sandboxes", a->pos[i], NULL);
        int r = cli_call(ctx, "DELETE", path, NULL, NULL, NULL);
        if (r != CLI_EXIT_OK)
            rc = r;
    }
    return rc;
}

/* --- exec ----------------------------------------------------------------------------- */

struct stream_state {
    struct cli_ctx *ctx;
    struct cli_lines lines;
    json_t *exit_event;
    bool bad;
    bool failed; /* an {"type":"error"} event: the command could not run */
    char errmsg[512];
};

static int write_field(int fd, json_t *s)
{
    if (!json_is_string(s))
        return 0;
    return al_write_all(fd, json_string_value(s), json_string_length(s));
}

static int on_event(void *ud, char *line, size_t len)
{
    struct stream_state *st = ud;
    cleanup_json json_t *ev = cli_json_parse(line, len);
    if (!ev || !json_is_object(ev)) {
        st->bad = true;
        return -EBADMSG;
    }
    if (st->ctx->json) {
        int rc = al_write_all(STDOUT_FILENO, line, len);
        if (rc == 0)
            rc = al_write_all(STDOUT_FILENO, "\n", 1);
        if (rc < 0)
            return rc;
    }
    const char *type = json_string_value(json_object_get(ev, "type"));
    if (!type)
        return 0;
    if (strcmp(type, "exit") == 0) {
        json_decref(st->exit_event);
        st->exit_event = json_incref(ev);
        return 0;
    }
    if (strcmp(type, "error") == 0) {
        st->failed = true;
        cli_api_error_message(500, line, len, st->errmsg, sizeof(st->errmsg));
        return 0;
    }
    if (st->ctx->json)
        return 0;
    if (strcmp(type, "stdout") == 0)
        return write_field(STDOUT_FILENO, json_object_get(ev, "data"));
    if (strcmp(type, "stderr") == 0)
        return write_field(STDERR_FILENO, json_object_get(ev, "data"));
    return 0;
}

static int stream_sink(void *ud, const char *p, size_t n)
{
    struct stream_state *st = ud;
    return cli_lines_feed(&st->lines, p, n);
}

static int read_stdin(struct cli_buf *b)
{
    char chunk[65536];
    for (;;) {
        ssize_t n = read(STDIN_FILENO, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return 0;
        if (b->len + (size_t)n > CLI_STDIN_MAX)
            return -EFBIG;
        if (cli_buf_append(b, chunk, (size_t)n) < 0)
            return -ENOMEM;
    }
}

static json_t *exec_body(struct cli_ctx *ctx, struct cli_args *a, int *rc)
{
    cleanup_json json_t *body = json_object();
    json_t *cmd = json_array();
    json_object_set_new(body, "command", cmd);
    for (size_t i = 0; i < a->n_rest; i++)
        if (json_array_append_new(cmd, json_string(a->rest[i])) < 0) {
            *rc = cli_usage_error(ctx, "command argument %zu is not valid UTF-8", i + 1);
            return NULL;
        }
    if ((*rc = cli_body_kv(ctx, a, "env", body, "env")) != 0)
        return NULL;
    const char *v;
    if ((v = cli_args_get(a, "cwd")))
        json_object_set_new(body, "cwd", json_string(v));
    if ((v = cli_args_get(a, "user")))
        json_object_set_new(body, "user", json_string(v));
    if ((v = cli_args_get(a, "timeout"))) {
        uint64_t t;
        if (al_parse_u64(v, 86400, &t) < 0 || t == 0) {
            *rc = cli_usage_error(ctx, "--timeout: '%s' is not a number of seconds (1-86400)", v);
            return NULL;
        }
        json_object_set_new(body, "timeout", json_integer((json_int_t)t));
    }
    if (cli_args_has(a, "stream"))
        json_object_set_new(body, "stream", json_true());
    if (cli_args_has(a, "stdin")) {
        struct cli_buf in = {0};
        int r = read_stdin(&in);
        if (r < 0) {
            cli_buf_free(&in);
            fprintf(stderr, "airlock: reading stdin: %s\n", strerror(-r));
            *rc = CLI_EXIT_USAGE;
            return NULL;
        }
        json_t *s = json_stringn(in.data ? in.data : "", in.len);
        cli_buf_free(&in);
        if (!s) {
            *rc = cli_usage_error(ctx, "--stdin: input is not valid UTF-8");
            return NULL;
        }
        json_object_set_new(body, "stdin", s);
    }
    return TAKE_PTR(body);
}

static void report_result(struct cli_ctx *ctx, json_t *res)
{
    if (ctx->json)
        return;
    if (json_is_true(json_object_get(res, "timedOut")))
        fprintf(stderr, "airlock: command timed out\n");
    else if (json_integer_value(json_object_get(res, "signal")) > 0)
        fprintf(stderr, "airlock: command killed by signal %lld\n",
                (long long)json_integer_value(json_object_get(res, "signal")));
    if (json_is_true(json_object_get(res, "stdoutTruncated")) ||
        json_is_true(json_object_get(res, "stderrTruncated")))
        fprintf(stderr, "airlock: output truncated\n");
}

int cli_exec_in(struct cli_ctx *ctx, struct cli_args *a, const char *group, const char *id)
{
    int rc = CLI_EXIT_USAGE;
    cleanup_json json_t *body = exec_body(ctx, a, &rc);
    if (!body)
        return rc;
    cleanup_free char *path =
        cli_path(ctx, "v1", "sandboxgroups", group, "sandboxes", id, "exec", NULL);
    cleanup_free char *data = al_json_dump(body);
    if (!path || !data)
        return CLI_EXIT_API;
    bool stream = cli_args_has(a, "stream");
    struct stream_state st = {.ctx = ctx};
    st.lines.max_line = 64u << 20;
    st.lines.on_line = on_event;
    st.lines.ud = &st;
    struct cli_req req = {
        .method = "POST",
        .path = path,
        .content_type = "application/json",
        .body = data,
        .body_len = strlen(data),
        .body_fd = -1,
        .sink = stream ? stream_sink : NULL,
        .sink_ud = &st,
    };
    struct cli_resp resp;
    struct al_err err = {0};
    if (cli_http(&ctx->conn, &req, &resp, &err) < 0) {
        cli_resp_free(&resp);
        cli_buf_free(&st.lines.buf);
        json_decref(st.exit_event);
        if (err.code == EINTR)
            return 130;
        return cli_report_transport_error(&err);
    }
    if (cli_exit_for_status(resp.status) != 0) {
        rc = cli_report_api_error(&resp);
        cli_resp_free(&resp);
        cli_buf_free(&st.lines.buf);
        return rc;
    }
    if (stream) {
        cli_lines_finish(&st.lines);
        cli_resp_free(&resp);
        if (!st.exit_event) {
            fprintf(stderr, "airlock: %s\n",
                    st.failed ? st.errmsg : "the stream ended without an exit event");
            return CLI_EXIT_API;
        }
        report_result(ctx, st.exit_event);
        rc = cli_exec_exit_code(st.exit_event);
        json_decref(st.exit_event);
        return rc;
    }
    cleanup_json json_t *res = cli_json_parse(resp.body.data, resp.body.len);
    if (!res) {
        fprintf(stderr, "airlock: the daemon sent a malformed exec result\n");
        cli_resp_free(&resp);
        return CLI_EXIT_API;
    }
    if (ctx->json) {
        cli_print_raw(stdout, &resp);
    } else {
        fflush(stdout);
        if (write_field(STDOUT_FILENO, json_object_get(res, "stdout")) < 0 ||
            write_field(STDERR_FILENO, json_object_get(res, "stderr")) < 0) {
            /* a closed pipe on our side is not the command's failure; keep its exit code */
        }
    }
    cli_resp_free(&resp);
    report_result(ctx, res);
    return cli_exec_exit_code(res);
}

static int sandbox_exec(struct cli_ctx *ctx, struct cli_args *a)
{
    return cli_exec_in(ctx, a, a->pos[0], a->pos[1]);
}

/* --- run: create, exec, delete ------------------------------------------------------------ */

static void on_signal(int sig)
{
    cli_http_interrupted = 1;
}

static int run_cmd(struct cli_ctx *ctx, struct cli_args *a)
{
    int rc = CLI_EXIT_USAGE;
    cleanup_json json_t *body = create_body(ctx, a, false, &rc);
    if (!body)
        return rc;
    cleanup_free char *path = cli_path(ctx, "v1", "sandboxgroups", a->pos[0], "sandboxes", NULL);
    bool json = ctx->json;
    ctx->json = false; /* only the exec result is printed */
    cleanup_json json_t *sb = NULL;
    rc = cli_call(ctx, "POST", path, body, NULL, &sb);
    ctx->json = json;
    if (rc != CLI_EXIT_OK)
        return rc;
    const char *id = json_string_value(json_object_get(sb, "id"));
    if (!id) {
        fprintf(stderr, "airlock: unexpected response (no 'id')\n");
        return CLI_EXIT_API;
    }
    struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    rc = cli_exec_in(ctx, a, a->pos[0], id);
    bool interrupted = cli_http_interrupted;
    cli_http_interrupted = 0;
    cleanup_free char *sb_path =
        cli_path(ctx, "v1", "sandboxgroups", a->pos[0], "sandboxes", id, NULL);
    json = ctx->json;
    ctx->json = false;
    int drc = cli_call(ctx, "DELETE", sb_path, NULL, NULL, NULL);
    ctx->json = json;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (interrupted)
        return 130;
    if (drc != CLI_EXIT_OK)
        fprintf(stderr, "airlock: sandbox %s was not deleted\n", id);
    return rc;
}

/* --- tables ------------------------------------------------------------------------------- */

static const struct cli_opt create_opts[] = {
    {"image", 0, CLI_OPT_VALUE, "IMAGE", "image (default: the group's)"},
    {"tier", 0, CLI_OPT_VALUE, "TIER", "resource tier: XS, S, M or L"},
    {"env", 'e', CLI_OPT_MULTI, "K=V", "environment of every exec"},
    {"label", 'l', CLI_OPT_MULTI, "K=V", "label"},
};

static const struct cli_opt ls_opts[] = {
    {"label", 'l', CLI_OPT_MULTI, "K=V", "only sandboxes with this label"},
};

#define EXEC_OPTS                                                                                  \
    {"timeout", 't', CLI_OPT_VALUE, "SECONDS", "kill the command after this long (default 60)"},   \
        {"env", 'e', CLI_OPT_MULTI, "K=V", "environment variable"},                                \
        {"cwd", 'w', CLI_OPT_VALUE, "DIR", "working directory"},                                   \
        {"user", 'u', CLI_OPT_VALUE, "USER", "user to run as"},                                    \
        {"stream", 0, CLI_OPT_FLAG, NULL, "print output as it arrives"},                           \
    {                                                                                              \
        "stdin", 'i', CLI_OPT_FLAG, NULL, "send our stdin (up to 1 MiB) to the command"            \
    }

static const struct cli_opt exec_opts[] = {EXEC_OPTS};
static const struct cli_opt run_opts[] = {
    EXEC_OPTS,
    {"image", 0, CLI_OPT_VALUE, "IMAGE", "image (default: the group's)"},
    {"tier", 0, CLI_OPT_VALUE, "TIER", "resource tier: XS, S, M or L"},
    {"label", 'l', CLI_OPT_MULTI, "K=V", "label"},
};

const struct cli_cmd cli_sandbox_cmds[] = {
    {"sandbox", "create", "GROUP [--image I] [--tier T] [--label K=V]...",
     "create a sandbox and print its id", create_opts, AL_ARRAY_SIZE(create_opts), 1, 1, 0, false,
     sandbox_create},
    {"sandbox", "ls", "GROUP [--label K=V]", "list a group's sandboxes", ls_opts,
     AL_ARRAY_SIZE(ls_opts), 1, 1, 0, false, sandbox_ls},
    {"sandbox", "get", "GROUP ID", "show a sandbox", NULL, 0, 2, 2, 0, false, sandbox_get},
    {"sandbox", "rm", "GROUP ID...", "delete sandboxes", NULL, 0, 2, CLI_MAX_POS, 0, false,
     sandbox_rm},
    {"sandbox", "exec", "GROUP ID [OPTIONS] [--] CMD [ARGS...]",
     "run a command in a sandbox; exits with its exit code", exec_opts, AL_ARRAY_SIZE(exec_opts), 2,
     2, 2, true, sandbox_exec},
    {"sandbox", "cp", "GROUP SRC DST",
     "copy files: one of SRC and DST is ID:/path in the sandbox, the other a local path or -", NULL,
     0, 3, 3, 0, false, cli_cmd_cp},
    {NULL, "run", "GROUP [OPTIONS] [--] CMD [ARGS...]",
     "create a sandbox, run a command in it, delete it; exits with the command's code", run_opts,
     AL_ARRAY_SIZE(run_opts), 1, 1, 1, true, run_cmd},
};
const size_t cli_n_sandbox_cmds = AL_ARRAY_SIZE(cli_sandbox_cmds);
