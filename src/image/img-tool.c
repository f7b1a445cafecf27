/* img-tool: debug CLI for the image store (drives the image tests).
 *
 *   img-tool <storedir> pull <ref> [--user U --password P --ca FILE --plain-http
 *                                   --stall-timeout S --progress]
 *   img-tool <storedir> import <path> [--tag T]
 *   img-tool <storedir> builtin <name>
 *   img-tool <storedir> get <digest>
 *   img-tool <storedir> gc [<digest>...]       keep the given manifests
 *
 * Prints one JSON object on stdout: the image ({"digest","layers":[..],"size","config":{..},
 * "ms"}) or {"error":{"code","message"}} with exit status 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fsutil.h"
#include "common/json.h"
#include "common/parse.h"
#include "image/img.h"

static json_t *strv_json(char **v)
{
    json_t *a = json_array();
    for (; v && *v; v++)
        json_array_append_new(a, json_string(*v));
    return a;
}

static json_t *opt_str(const char *s)
{
    return s ? json_string(s) : json_null();
}

static int print_json(json_t *j)
{
    char *s = al_json_dump(j);
    if (!s)
        return 1;
    printf("%s\n", s);
    free(s);
    json_decref(j);
    return 0;
}

static int fail(const struct al_err *err)
{
    fprintf(stderr, "img-tool: %s\n", err->msg);
    print_json(json_pack("{s:{s:s, s:s, s:i}}", "error", "code", al_err_kind_name(err->kind),
                         "message", err->msg, "errno", err->code));
    return 1;
}

static int print_info(const struct img_info *info, long long ms)
{
    json_t *cfg = json_pack(
        "{s:o, s:o, s:o, s:o, s:o}", "user", opt_str(info->config.user), "env",
        strv_json(info->config.env), "workdir", opt_str(info->config.workdir), "entrypoint",
        info->config.entrypoint ? strv_json(info->config.entrypoint) : json_null(), "cmd",
        info->config.cmd ? strv_json(info->config.cmd) : json_null());
    return print_json(json_pack("{s:s, s:o, s:I, s:o, s:I}", "digest", info->digest, "layers",
                                strv_json(info->layer_dirs), "size", (json_int_t)info->size,
                                "config", cfg, "ms", (json_int_t)ms));
}

static void on_progress(void *ud, uint64_t done, uint64_t total)
{
    fprintf(stderr, "progress %llu/%llu\n", (unsigned long long)done, (unsigned long long)total);
}

static int usage(void)
{
    fprintf(stderr, "usage: img-tool <storedir> pull <ref> [--user U --password P --ca FILE "
                    "--plain-http --stall-timeout S --progress]\n"
                    "       img-tool <storedir> import <path> [--tag T]\n"
                    "       img-tool <storedir> builtin <name>\n"
                    "       img-tool <storedir> get <digest>\n"
                    "       img-tool <storedir> gc [<digest>...]\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return usage();
    struct al_err err = {0};
    struct img_store *st = NULL;
    if (img_store_open(argv[1], &st, &err) < 0)
        return fail(&err);
    const char *cmd = argv[2];
    struct img_info info = {0};
    long long t0 = al_now_ms();
    int rc = 0;
    if (strcmp(cmd, "pull") == 0 && argc >= 4) {
        struct img_pull_opts o = {0};
        for (int i = 4; i < argc; i++) {
            const char *a = argv[i];
            const char *v = i + 1 < argc ? argv[i + 1] : NULL;
            if (strcmp(a, "--plain-http") == 0) {
                o.plain_http = true;
            } else if (strcmp(a, "--progress") == 0) {
                o.progress = on_progress;
            } else if (v && strcmp(a, "--user") == 0) {
                o.username = v, i++;
            } else if (v && strcmp(a, "--password") == 0) {
                o.password = v, i++;
            } else if (v && strcmp(a, "--ca") == 0) {
                o.ca_file = v, i++;
            } else if (v && strcmp(a, "--stall-timeout") == 0) {
                uint64_t s;
                if (al_parse_u64(v, 3600, &s) < 0)
                    return usage();
                o.stall_timeout_s = (unsigned)s, i++;
            } else {
                return usage();
            }
        }
        rc = img_pull(st, argv[3], &o, &info, &err);
    } else if (strcmp(cmd, "import") == 0 && argc >= 4) {
        const char *tag = NULL;
        if (argc == 6 && strcmp(argv[4], "--tag") == 0)
            tag = argv[5];
        else if (argc != 4)
            return usage();
        rc = img_import(st, argv[3], tag, &info, &err);
    } else if (strcmp(cmd, "builtin") == 0 && argc == 4) {
        rc = img_import_builtin(st, argv[3], &info, &err);
    } else if (strcmp(cmd, "get") == 0 && argc == 4) {
        rc = img_get(st, argv[3], &info, &err);
    } else if (strcmp(cmd, "gc") == 0) {
        rc = img_gc(st, (const char *const *)(argv + 3), &err);
        img_store_free(st);
        if (rc < 0)
            return fail(&err);
        return print_json(json_pack("{s:b}", "ok", 1));
    } else {
        img_store_free(st);
        return usage();
    }
    img_store_free(st);
    if (rc < 0)
        return fail(&err);
    rc = print_info(&info, al_now_ms() - t0);
    img_info_free(&info);
    return rc;
}
