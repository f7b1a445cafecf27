/* airlock sandbox cp GROUP SRC DST: upload (local -> ID:/path) or download (ID:/path -> local),
 * files or whole directories (regular files and directories; other types are skipped with a
 * warning).  Names that come from the sandbox are used only as single path components under a
 * directory fd opened here, never followed through symlinks. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/output.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"

#define CP_MAX_DEPTH 64

struct cp {
    struct cli_ctx *ctx;
    const char *group;
    char id[CLI_SANDBOX_ID_LEN + 1];
};

static char *files_url(struct cp *cp, const char *sub, const char *rpath, const char *extra)
{
    cleanup_free char *base = sub ? cli_path(cp->ctx, "v1", "sandboxgroups", cp->group, "sandboxes",
                                             cp->id, "files", sub, NULL)
                                  : cli_path(cp->ctx, "v1", "sandboxgroups", cp->group, "sandboxes",
                                             cp->id, "files", NULL);
    char *e = cli_escape(&cp->ctx->conn, rpath);
    char *url = NULL;
    if (base && e && asprintf(&url, "%s?path=%s%s", base, e, extra ? extra : "") < 0)
        url = NULL;
    curl_free(e);
    return url;
}

static char *join(const char *dir, const char *name)
{
    char *out = NULL;
    size_t dl = strlen(dir);
    bool slash = dl > 0 && dir[dl - 1] == '/';
    if (asprintf(&out, "%s%s%s", dir, slash ? "" : "/", name) < 0)
        return NULL;
    return out;
}

/* basename without modifying the argument; "" for "/" */
static const char *base_of(const char *p)
{
    size_t len = strlen(p);
    while (len > 1 && p[len - 1] == '/')
        len--;
    const char *s = p + len;
    while (s > p && s[-1] != '/')
        s--;
    return s;
}

/* A request without output of its own.  Returns 0, or the exit code after reporting. */
static int simple(struct cp *cp, struct cli_req *req, struct cli_resp *resp_out)
{
    struct cli_resp resp;
    struct al_err err = {0};
    if (cli_http(&cp->ctx->conn, req, &resp, &err) < 0) {
        cli_resp_free(&resp);
        return cli_report_transport_error(&err);
    }
    if (cli_exit_for_status(resp.status) != 0) {
        int rc = cli_report_api_error(&resp);
        cli_resp_free(&resp);
        return rc;
    }
    if (resp_out)
        *resp_out = resp;
    else
        cli_resp_free(&resp);
    return 0;
}

/* stat a remote path: 0 (and *ret), -ENOENT when it does not exist, or an exit code > 0 */
static int remote_stat(struct cp *cp, const char *rpath, json_t **ret)
{
    cleanup_free char *url = files_url(cp, "stat", rpath, NULL);
    if (!url)
        return CLI_EXIT_API;
    struct cli_req req = {.method = "GET", .path = url, .body_fd = -1};
    struct cli_resp resp;
    struct al_err err = {0};
    if (cli_http(&cp->ctx->conn, &req, &resp, &err) < 0) {
        cli_resp_free(&resp);
        return cli_report_transport_error(&err);
    }
    if (resp.status == 404) {
        cli_resp_free(&resp);
        return -ENOENT;
    }
    if (cli_exit_for_status(resp.status) != 0) {
        int rc = cli_report_api_error(&resp);
        cli_resp_free(&resp);
        return rc;
    }
    json_t *j = cli_json_parse(resp.body.data, resp.body.len);
    cli_resp_free(&resp);
    if (!json_is_object(j)) {
        json_decref(j);
        fprintf(stderr, "airlock: malformed stat response\n");
        return CLI_EXIT_API;
    }
    *ret = j;
    return 0;
}

static bool remote_is_dir(json_t *st)
{
    const char *t = json_string_value(json_object_get(st, "type"));
    return t && strcmp(t, "dir") == 0;
}

static int remote_mkdir(struct cp *cp, const char *rpath)
{
    cleanup_free char *url = files_url(cp, "mkdir", rpath, "&parents=true");
    if (!url)
        return CLI_EXIT_API;
    struct cli_req req = {.method = "POST", .path = url, .body_fd = -1};
    return simple(cp, &req, NULL);
}

static int upload_fd(struct cp *cp, int fd, const struct stat *st, const char *rpath)
{
    char extra[32];
    snprintf(extra, sizeof(extra), "&mode=%04o", (unsigned)(st->st_mode & 07777));
    cleanup_free char *url = files_url(cp, NULL, rpath, extra);
    if (!url)
        return CLI_EXIT_API;
    struct cli_req req = {
        .method = "PUT",
        .path = url,
        .content_type = "application/octet-stream",
        .body_fd = fd,
        .body_fd_size = st->st_size,
    };
    return simple(cp, &req, NULL);
}

static int upload_tree(struct cp *cp, int dirfd, const char *local, const char *rpath, int depth)
{
    if (depth > CP_MAX_DEPTH) {
        fprintf(stderr, "airlock: %s: too deeply nested\n", local);
        return CLI_EXIT_API;
    }
    int rc = remote_mkdir(cp, rpath);
    if (rc)
        return rc;
    int dfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
    if (dfd < 0) {
        fprintf(stderr, "airlock: %s: %s\n", local, strerror(errno));
        return CLI_EXIT_API;
    }
    cleanup_closedir DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        fprintf(stderr, "airlock: %s: %s\n", local, strerror(errno));
        return CLI_EXIT_API;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        cleanup_free char *lchild = join(local, de->d_name);
        cleanup_free char *rchild = join(rpath, de->d_name);
        if (!lchild || !rchild)
            return CLI_EXIT_API;
        cleanup_close int fd = openat(dirfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0) {
            if (errno == ELOOP) {
                fprintf(stderr, "airlock: %s: skipping symlink\n", lchild);
                continue;
            }
            fprintf(stderr, "airlock: %s: %s\n", lchild, strerror(errno));
            return CLI_EXIT_API;
        }
        if (S_ISDIR(st.st_mode))
            rc = upload_tree(cp, fd, lchild, rchild, depth + 1);
        else if (S_ISREG(st.st_mode))
            rc = upload_fd(cp, fd, &st, rchild);
        else
            fprintf(stderr, "airlock: %s: skipping (not a regular file)\n", lchild);
        if (rc)
            return rc;
    }
    return 0;
}

static int upload(struct cp *cp, const char *local, const char *rdst)
{
    cleanup_free char *target = NULL;
    json_t *st = NULL;
    bool dst_dir = rdst[strlen(rdst) - 1] == '/';
    if (!dst_dir) {
        int r = remote_stat(cp, rdst, &st);
        if (r > 0)
            return r;
        dst_dir = r == 0 && remote_is_dir(st);
        json_decref(st);
    }
    if (strcmp(local, "-") == 0) {
        if (dst_dir)
            return cli_usage_error(cp->ctx, "uploading stdin needs a file name, not a directory");
        /* stdin: a pipe has no size, so read it whole (bounded) */
        struct cli_buf b = {0};
        char chunk[65536];
        for (;;) {
            ssize_t n = read(STDIN_FILENO, chunk, sizeof(chunk));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            if (b.len + (size_t)n > (64u << 20) || cli_buf_append(&b, chunk, (size_t)n) < 0) {
                cli_buf_free(&b);
                fprintf(stderr, "airlock: stdin is larger than 64 MiB\n");
                return CLI_EXIT_API;
            }
        }
        cleanup_free char *url = files_url(cp, NULL, rdst, NULL);
        struct cli_req req = {.method = "PUT",
                              .path = url,
                              .content_type = "application/octet-stream",
                              .body = b.data ? b.data : "",
                              .body_len = b.len,
                              .body_fd = -1};
        int rc = url ? simple(cp, &req, NULL) : CLI_EXIT_API;
        cli_buf_free(&b);
        return rc;
    }
    cleanup_close int fd = open(local, O_RDONLY | O_CLOEXEC);
    struct stat lst;
    if (fd < 0 || fstat(fd, &lst) < 0) {
        fprintf(stderr, "airlock: %s: %s\n", local, strerror(errno));
        return CLI_EXIT_API;
    }
    const char *rp = rdst;
    if (dst_dir) {
        target = join(rdst, base_of(local));
        if (!target)
            return CLI_EXIT_API;
        rp = target;
    }
    if (S_ISDIR(lst.st_mode))
        return upload_tree(cp, fd, local, rp, 0);
    if (!S_ISREG(lst.st_mode)) {
        fprintf(stderr, "airlock: %s: not a regular file or directory\n", local);
        return CLI_EXIT_API;
    }
    return upload_fd(cp, fd, &lst, rp);
}

/* --- download ------------------------------------------------------------------------------- */

static int sink_fd(void *ud, const char *p, size_t n)
{
    return al_write_all(*(int *)ud, p, n);
}

static int download_file(struct cp *cp, const char *rpath, int fd)
{
    cleanup_free char *url = files_url(cp, NULL, rpath, NULL);
    if (!url)
        return CLI_EXIT_API;
    struct cli_req req = {
        .method = "GET", .path = url, .body_fd = -1, .sink = sink_fd, .sink_ud = &fd};
    return simple(cp, &req, NULL);
}

static bool safe_name(const char *n)
{
    return n[0] && strcmp(n, ".") != 0 && strcmp(n, "..") != 0 && !strchr(n, '/');
}

static int mode_of(json_t *st, int dflt)
{
    const char *m = json_string_value(json_object_get(st, "mode"));
    if (!m)
        return dflt;
    char *end;
    long v = strtol(m, &end, 8);
    return *end || v < 0 || v > 07777 ? dflt : (int)(v & 0777);
}

static int download_tree(struct cp *cp, const char *rpath, int parent_fd, const char *name,
                         const char *local, int depth)
{
    if (depth > CP_MAX_DEPTH) {
        fprintf(stderr, "airlock: %s: too deeply nested\n", rpath);
        return CLI_EXIT_API;
    }
    if (mkdirat(parent_fd, name, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "airlock: %s: %s\n", local, strerror(errno));
        return CLI_EXIT_API;
    }
    cleanup_close int dfd =
        openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0) {
        fprintf(stderr, "airlock: %s: %s\n", local, strerror(errno));
        return CLI_EXIT_API;
    }
    cleanup_free char *url = files_url(cp, "list", rpath, NULL);
    if (!url)
        return CLI_EXIT_API;
    struct cli_req req = {.method = "GET", .path = url, .body_fd = -1};
    struct cli_resp resp;
    int rc = simple(cp, &req, &resp);
    if (rc)
        return rc;
    cleanup_json json_t *j = cli_json_parse(resp.body.data, resp.body.len);
    cli_resp_free(&resp);
    json_t *entries = json_object_get(j, "entries");
    if (!json_is_array(entries)) {
        fprintf(stderr, "airlock: malformed list response\n");
        return CLI_EXIT_API;
    }
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e)
    {
        const char *n = json_string_value(json_object_get(e, "name"));
        const char *type = json_string_value(json_object_get(e, "type"));
        if (!n || !type || !safe_name(n)) {
            fprintf(stderr, "airlock: %s: skipping an entry with an unusable name\n", rpath);
            continue;
        }
        cleanup_free char *rchild = join(rpath, n);
        cleanup_free char *lchild = join(local, n);
        if (!rchild || !lchild)
            return CLI_EXIT_API;
        if (strcmp(type, "dir") == 0) {
            rc = download_tree(cp, rchild, dfd, n, lchild, depth + 1);
        } else if (strcmp(type, "file") == 0) {
            const int flags = O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC;
            cleanup_close int fd = openat(dfd, n, flags, mode_of(e, 0644)); /* O_CLOEXEC */
            if (fd < 0) {
                fprintf(stderr, "airlock: %s: %s\n", lchild, strerror(errno));
                return CLI_EXIT_API;
            }
            rc = download_file(cp, rchild, fd);
        } else {
            fprintf(stderr, "airlock: %s: skipping %s\n", rchild, type);
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int download(struct cp *cp, const char *rsrc, const char *local)
{
    json_t *st_raw = NULL;
    int r = remote_stat(cp, rsrc, &st_raw);
    if (r == -ENOENT) {
        fprintf(stderr, "airlock: %s:%s: no such file or directory\n", cp->id, rsrc);
        return CLI_EXIT_API;
    }
    if (r)
        return r;
    cleanup_json json_t *st = st_raw;
    bool is_dir = remote_is_dir(st);
    if (strcmp(local, "-") == 0) {
        if (is_dir)
            return cli_usage_error(cp->ctx, "cannot write a directory to stdout");
        fflush(stdout);
        return download_file(cp, rsrc, STDOUT_FILENO);
    }
    struct stat lst;
    bool local_dir = stat(local, &lst) == 0 && S_ISDIR(lst.st_mode);
    cleanup_free char *target = NULL;
    const char *lp = local;
    if (local_dir) {
        const char *b = base_of(rsrc);
        if (!safe_name(b))
            b = "root";
        target = join(local, b);
        if (!target)
            return CLI_EXIT_API;
        lp = target;
    }
    if (is_dir) {
        cleanup_free char *copy = strdup(lp);
        cleanup_free char *copy2 = strdup(lp);
        if (!copy || !copy2)
            return CLI_EXIT_API;
        const char *parent = dirname(copy);
        const char *name = basename(copy2);
        cleanup_close int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pfd < 0) {
            fprintf(stderr, "airlock: %s: %s\n", parent, strerror(errno));
            return CLI_EXIT_API;
        }
        return download_tree(cp, rsrc, pfd, name, lp, 0);
    }
    cleanup_close int fd = open(lp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode_of(st, 0644));
    if (fd < 0) {
        fprintf(stderr, "airlock: %s: %s\n", lp, strerror(errno));
        return CLI_EXIT_API;
    }
    return download_file(cp, rsrc, fd);
}

int cli_cmd_cp(struct cli_ctx *ctx, struct cli_args *a)
{
    struct cp cp = {.ctx = ctx, .group = a->pos[0]};
    char sid[CLI_SANDBOX_ID_LEN + 1], did[CLI_SANDBOX_ID_LEN + 1];
    const char *spath = NULL, *dpath = NULL;
    int s = cli_remote_parse(a->pos[1], sid, &spath);
    int d = cli_remote_parse(a->pos[2], did, &dpath);
    if (s < 0 || d < 0)
        return cli_usage_error(ctx, "a sandbox path must be absolute: ID:/path");
    if (s == d)
        return cli_usage_error(ctx, "exactly one of SRC and DST must be ID:/path");
    if (s) {
        memcpy(cp.id, sid, sizeof(sid));
        return download(&cp, spath, a->pos[2]);
    }
    memcpy(cp.id, did, sizeof(did));
    return upload(&cp, a->pos[1], dpath);
}
