/* airlock group create|ls|get|rm */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/output.h"
#include "common/cleanup.h"
#include "common/json.h"

static const struct cli_col group_cols[] = {
    {"NAME", "name", CLI_FMT_TEXT},   {"IMAGE", "image", CLI_FMT_TEXT},
    {"TIER", "tier", CLI_FMT_TEXT},   {"ISOLATION", "isolation", CLI_FMT_TEXT},
    {"LABELS", "labels", CLI_FMT_KV}, {"CREATED", "createdAt", CLI_FMT_TEXT},
};

static int print_one(struct cli_ctx *ctx, json_t *j)
{
    return cli_print_object(stdout, j) < 0 ? CLI_EXIT_API : CLI_EXIT_OK;
}

static int print_list(struct cli_ctx *ctx, json_t *j)
{
    json_t *arr = json_object_get(j, "groups");
    if (!json_is_array(arr)) {
        fprintf(stderr, "airlock: unexpected response (no 'groups' array)\n");
        return CLI_EXIT_API;
    }
    return cli_print_list(stdout, arr, group_cols, AL_ARRAY_SIZE(group_cols)) < 0 ? CLI_EXIT_API
                                                                                  : CLI_EXIT_OK;
}

static int group_create(struct cli_ctx *ctx, struct cli_args *a)
{
    cleanup_json json_t *body = json_object();
    const char *image = cli_args_get(a, "image");
    const char *tier = cli_args_get(a, "tier");
    const char *isolation = cli_args_get(a, "isolation");
    json_object_set_new(body, "image", json_string(image ? image : "busybox"));
    if (tier)
        json_object_set_new(body, "tier", json_string(tier));
    if (isolation)
        json_object_set_new(body, "isolation", json_string(isolation));
    int rc;
    if ((rc = cli_body_kv(ctx, a, "env", body, "env")) != 0 ||
        (rc = cli_body_kv(ctx, a, "label", body, "labels")) != 0)
        return rc;
    cleanup_free char *path = cli_path(ctx, "v1", "sandboxgroups", a->pos[0], NULL);
    return cli_call(ctx, "PUT", path, body, print_one, NULL);
}

static int group_ls(struct cli_ctx *ctx, struct cli_args *a)
{
    cleanup_free char *path = cli_path(ctx, "v1", "sandboxgroups", NULL);
    return cli_call(ctx, "GET", path, NULL, print_list, NULL);
}

static int group_get(struct cli_ctx *ctx, struct cli_args *a)
{
    cleanup_free char *path = cli_path(ctx, "v1", "sandboxgroups", a->pos[0], NULL);
    return cli_call(ctx, "GET", path, NULL, print_one, NULL);
}

static int group_rm(struct cli_ctx *ctx, struct cli_args *a)
{
    int rc = CLI_EXIT_OK;
    for (size_t i = 0; i < a->n_pos; i++) {
        cleanup_free char *path = cli_path(ctx, "v1", "sandboxgroups", a->pos[i], NULL);
        int r = cli_call(ctx, "DELETE", path, NULL, NULL, NULL);
        if (r != CLI_EXIT_OK)
            rc = r;
    }
    return rc;
}

static const struct cli_opt create_opts[] = {
    {"image", 0, CLI_OPT_VALUE, "IMAGE", "default image of its sandboxes (default busybox)"},
    {"tier", 0, CLI_OPT_VALUE, "TIER", "resource tier: XS, S, M (default) or L"},
    {"isolation", 0, CLI_OPT_VALUE, "KIND", "namespace (default) or microvm"},
    {"env", 'e', CLI_OPT_MULTI, "K=V", "default environment of every exec"},
    {"label", 'l', CLI_OPT_MULTI, "K=V", "label"},
};

const struct cli_cmd cli_group_cmds[] = {
    {"group", "create", "NAME [--image I] [--tier T] [--env K=V]... [--label K=V]...",
     "create a sandbox group (or replace its settings)", create_opts, AL_ARRAY_SIZE(create_opts), 1,
     1, 0, false, group_create},
    {"group", "ls", "", "list sandbox groups", NULL, 0, 0, 0, 0, false, group_ls},
    {"group", "get", "NAME", "show a sandbox group", NULL, 0, 1, 1, 0, false, group_get},
    {"group", "rm", "NAME...", "delete sandbox groups and their sandboxes", NULL, 0, 1, CLI_MAX_POS,
     0, false, group_rm},
};
const size_t cli_n_group_cmds = AL_ARRAY_SIZE(cli_group_cmds);
