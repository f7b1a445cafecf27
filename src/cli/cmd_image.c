/* airlock image pull|import|ls|rm */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/output.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/ids.h"
#include "common/json.h"

static const struct cli_col image_cols[] = {
    {"NAME", "name", CLI_FMT_TEXT},         {"DIGEST", "digest", CLI_FMT_DIGEST},
    {"SIZE", "size", CLI_FMT_BYTES},        {"BUILTIN", "builtin", CLI_FMT_BOOL},
    {"CREATED", "createdAt", CLI_FMT_TEXT},
};

static int print_image(struct cli_ctx *ctx, json_t *j)
{
    cleanup_json json_t *arr = json_array();
    json_array_append(arr, j);
    return cli_print_list(stdout, arr, image_cols, AL_ARRAY_SIZE(image_cols)) < 0 ? CLI_EXIT_API
                                                                                  : CLI_EXIT_OK;
}

static int print_list(struct cli_ctx *ctx, json_t *j)
{
    json_t *arr = json_object_get(j, "images");
    if (!json_is_array(arr)) {
        fprintf(stderr, "airlock: unexpected response (no 'images' array)\n");
        return CLI_EXIT_API;
    }
    return cli_print_list(stdout, arr, image_cols, AL_ARRAY_SIZE(image_cols)) < 0 ? CLI_EXIT_API
                                                                                  : CLI_EXIT_OK;
}

/* --- pull: streamed NDJSON progress ------------------------------------------------------ */

struct pull_state {
    struct cli_ctx *ctx;
    struct cli_lines lines;
    bool bar;
    bool drawn;
    json_t *image;
    char errmsg[512];
    bool failed;
};

void cli_progress_render(char *out, size_t len, long long done, long long total, int width)
{
    char d[32], t[32];
    if (total > 0 && done > total)
        done = total;
    cli_format_bytes(done > 0 ? (unsigned long long)done : 0, d, sizeof(d));
    if (total <= 0) {
        snprintf(out, len, "pulling %s", d);
        return;
    }
    cli_format_bytes((unsigned long long)total, t, sizeof(t));
    if (done < 0)
        done = 0;
    int fill = (int)((double)done / (double)total * width);
    int pct = (int)((double)done / (double)total * 100.0);
    char bar[128];
    if (width > (int)sizeof(bar) - 1)
        width = (int)sizeof(bar) - 1;
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    snprintf(out, len, "[%s] %3d%% %s / %s", bar, pct, d, t);
}

static int on_pull_event(void *ud, char *line, size_t len)
{
    struct pull_state *st = ud;
    cleanup_json json_t *ev = cli_json_parse(line, len);
    if (!json_is_object(ev))
        return -EBADMSG;
    const char *type = json_string_value(json_object_get(ev, "type"));
    if (!type)
        return 0;
    if (strcmp(type, "progress") == 0) {
        if (st->bar) {
            char buf[256];
            cli_progress_render(buf, sizeof(buf), json_integer_value(json_object_get(ev, "done")),
                                json_integer_value(json_object_get(ev, "total")), 30);
            fprintf(stderr, "\r\033[K%s", buf);
            fflush(stderr);
            st->drawn = true;
        }
    } else if (strcmp(type, "image") == 0) {
        json_object_del(ev, "type");
        json_decref(st->image);
        st->image = json_incref(ev);
    } else if (strcmp(type, "error") == 0) {
        cleanup_free char *dump = al_json_dump(ev);
        st->failed = true;
        cli_api_error_message(500, dump, dump ? strlen(dump) : 0, st->errmsg, sizeof(st->errmsg));
    }
    return 0;
}

static int pull_sink(void *ud, const char *p, size_t n)
{
    struct pull_state *st = ud;
    return cli_lines_feed(&st->lines, p, n);
}

static int image_pull(struct cli_ctx *ctx, struct cli_args *a)
{
    cleanup_json json_t *body = json_object();
    json_object_set_new(body, "ref", json_string(a->pos[0]));
    const char *v;
    if ((v = cli_args_get(a, "name")))
        json_object_set_new(body, "name", json_string(v));
    const char *user = cli_args_get(a, "username");
    const char *pass = cli_args_get(a, "password");
    if (!user != !pass)
        return cli_usage_error(ctx, "--username and --password go together");
    if (user) {
        json_object_set_new(body, "username", json_string(user));
        json_object_set_new(body, "password", json_string(pass));
    }
    if ((v = cli_args_get(a, "ca-file")))
        json_object_set_new(body, "caFile", json_string(v));
    json_object_set_new(body, "stream", json_true());
    cleanup_free char *data = al_json_dump(body);
    cleanup_free char *path = cli_path(ctx, "v1", "images", "pull", NULL);
    if (!data || !path)
        return CLI_EXIT_API;

    struct pull_state st = {.ctx = ctx, .bar = !ctx->json && isatty(STDERR_FILENO)};
    st.lines.max_line = 1 << 20;
    st.lines.on_line = on_pull_event;
    st.lines.ud = &st;
    struct cli_req req = {.method = "POST",
                          .path = path,
                          .content_type = "application/json",
                          .body = data,
                          .body_len = strlen(data),
                          .body_fd = -1,
                          .sink = pull_sink,
                          .sink_ud = &st};
    struct cli_resp resp;
    struct al_err err = {0};
    int rc = cli_http(&ctx->conn, &req, &resp, &err);
    if (rc == 0 && cli_exit_for_status(resp.status) == 0)
        cli_lines_finish(&st.lines);
    else
        cli_buf_free(&st.lines.buf);
    if (st.drawn)
        fputc('\n', stderr);
    if (rc < 0) {
        cli_resp_free(&resp);
        json_decref(st.image);
        return cli_report_transport_error(&err);
    }
    if (cli_exit_for_status(resp.status) != 0) {
        rc = cli_report_api_error(&resp);
        cli_resp_free(&resp);
        json_decref(st.image);
        return rc;
    }
    cli_resp_free(&resp);
    if (st.failed || !st.image) {
        fprintf(stderr, "airlock: pull failed: %s\n",
                st.failed ? st.errmsg : "the stream ended without an image");
        json_decref(st.image);
        return CLI_EXIT_API;
    }
    if (ctx->json) {
        cleanup_free char *dump = al_json_dump(st.image);
        printf("%s\n", dump ? dump : "{}");
        rc = CLI_EXIT_OK;
    } else {
        rc = print_image(ctx, st.image);
    }
    json_decref(st.image);
    return rc;
}

/* --- import --------------------------------------------------------------------------------- */

/* A default image name from a file name: "my-img.tar" -> "my-img".  Returns false when the
 * result is not a valid name. */
bool cli_image_name_from_path(const char *path, char *out, size_t len)
{
    size_t pl = strlen(path);
    while (pl > 1 && path[pl - 1] == '/')
        pl--;
    const char *b = path + pl;
    while (b > path && b[-1] != '/')
        b--;
    size_t bl = (size_t)(path + pl - b);
    static const char *const exts[] = {".oci.tar", ".docker.tar", ".tar.gz", ".tgz", ".tar"};
    for (size_t i = 0; i < AL_ARRAY_SIZE(exts); i++) {
        size_t el = strlen(exts[i]);
        if (bl > el && strncmp(b + bl - el, exts[i], el) == 0) {
            bl -= el;
            break;
        }
    }
    if (bl == 0 || bl >= len)
        return false;
    for (size_t i = 0; i < bl; i++) {
        char c = b[i];
        out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : (c == '_' || c == '.') ? '-' : c;
    }
    out[bl] = '\0';
    return al_name_valid(out);
}

static int image_import(struct cli_ctx *ctx, struct cli_args *a)
{
    const char *file = a->pos[0];
    const char *name = cli_args_get(a, "name");
    char derived[64];
    if (!name) {
        if (!cli_image_name_from_path(file, derived, sizeof(derived)))
            return cli_usage_error(ctx, "cannot derive an image name from '%s'; use --name", file);
        name = derived;
    }
    cleanup_close int fd = open(file, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        fprintf(stderr, "airlock: %s: %s\n", file, strerror(errno));
        return CLI_EXIT_API;
    }
    cleanup_free char *base = cli_path(ctx, "v1", "images", "import", NULL);
    if (!base)
        return CLI_EXIT_API;
    if (S_ISDIR(st.st_mode) || cli_args_has(a, "host-path")) {
        /* an OCI layout directory (or a host archive) is imported by path: admin keys only */
        char abs[PATH_MAX];
        if (!realpath(file, abs)) {
            fprintf(stderr, "airlock: %s: %s\n", file, strerror(errno));
            return CLI_EXIT_API;
        }
        cleanup_json json_t *body = json_object();
        json_object_set_new(body, "path", json_string(abs));
        json_object_set_new(body, "name", json_string(name));
        return cli_call(ctx, "POST", base, body, print_image, NULL);
    }
    char *e = cli_escape(&ctx->conn, name);
    cleanup_free char *path = NULL;
    if (!e || asprintf(&path, "%s?name=%s", base, e) < 0)
        path = NULL;
    curl_free(e);
    if (!path)
        return CLI_EXIT_API;
    struct cli_req req = {.method = "POST",
                          .path = path,
                          .content_type = "application/x-tar",
                          .body_fd = fd,
                          .body_fd_size = st.st_size};
    struct cli_resp resp;
    struct al_err err = {0};
    if (cli_http(&ctx->conn, &req, &resp, &err) < 0) {
        cli_resp_free(&resp);
        return cli_report_transport_error(&err);
    }
    int rc;
    if (cli_exit_for_status(resp.status) != 0) {
        rc = cli_report_api_error(&resp);
    } else if (ctx->json) {
        cli_print_raw(stdout, &resp);
        rc = CLI_EXIT_OK;
    } else {
        cleanup_json json_t *j = cli_json_parse(resp.body.data, resp.body.len);
        rc = j ? print_image(ctx, j) : CLI_EXIT_API;
    }
    cli_resp_free(&resp);
    return rc;
}

static int image_ls(struct cli_ctx *ctx, struct cli_args *a)
{
    cleanup_free char *path = cli_path(ctx, "v1", "images", NULL);
    return cli_call(ctx, "GET", path, NULL, print_list, NULL);
}

static int image_rm(struct cli_ctx *ctx, struct cli_args *a)
{
    int rc = CLI_EXIT_OK;
    for (size_t i = 0; i < a->n_pos; i++) {
        cleanup_free char *path = cli_path(ctx, "v1", "images", a->pos[i], NULL);
        int r = cli_call(ctx, "DELETE", path, NULL, NULL, NULL);
        if (r != CLI_EXIT_OK)
            rc = r;
    }
    return rc;
}

static const struct cli_opt pull_opts[] = {
    {"name", 0, CLI_OPT_VALUE, "NAME", "local name (default: from the reference)"},
    {"username", 0, CLI_OPT_VALUE, "USER", "registry user"},
    {"password", 0, CLI_OPT_VALUE, "PASSWORD", "registry password"},
    {"ca-file", 0, CLI_OPT_VALUE, "PATH", "CA bundle on the daemon's host (admin)"},
};

static const struct cli_opt import_opts[] = {
    {"name", 0, CLI_OPT_VALUE, "NAME", "image name (default: from the file name)"},
    {"host-path", 0, CLI_OPT_FLAG, NULL,
     "let the daemon read PATH on its host instead of uploading it (admin)"},
};

const struct cli_cmd cli_image_cmds[] = {
    {"image", "pull", "REF [--name N] [--username U --password P]",
     "pull an image from a registry (progress on stderr)", pull_opts, AL_ARRAY_SIZE(pull_opts), 1,
     1, 0, false, image_pull},
    {"image", "import", "PATH [--name N]",
     "import an oci-archive or docker-archive tar (or an OCI layout directory)", import_opts,
     AL_ARRAY_SIZE(import_opts), 1, 1, 0, false, image_import},
    {"image", "ls", "", "list images", NULL, 0, 0, 0, 0, false, image_ls},
    {"image", "rm", "NAME...", "remove images", NULL, 0, 1, CLI_MAX_POS, 0, false, image_rm},
};
const size_t cli_n_image_cmds = AL_ARRAY_SIZE(cli_image_cmds);
