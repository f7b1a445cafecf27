/* airlock key create|ls|rm (admin keys only) */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/output.h"
#include "common/cleanup.h"
#include "common/json.h"

static const struct cli_col key_cols[] = {
    {"ID", "id", CLI_FMT_TEXT},
    {"TENANT", "tenant", CLI_FMT_TEXT},
    {"ADMIN", "admin", CLI_FMT_BOOL},
    {"PREFIX", "prefix", CLI_FMT_TEXT},
    {"CREATED", "createdAt", CLI_FMT_TEXT},
};

static int print_created(struct cli_ctx *ctx, json_t *j)
{
    int rc = cli_print_object(stdout, j) < 0 ? CLI_EXIT_API : CLI_EXIT_OK;
    fprintf(stderr, "airlock: the key is shown only once; store it now\n");
    return rc;
}

static int print_list(struct cli_ctx *ctx, json_t *j)
{
    json_t *arr = json_object_get(j, "keys");
    if (!json_is_array(arr)) {
        fprintf(stderr, "airlock: unexpected response (no 'keys' array)\n");
        return CLI_EXIT_API;
    }
    return cli_print_list(stdout, arr, key_cols, AL_ARRAY_SIZE(key_cols)) < 0 ? CLI_EXIT_API
                                                                              : CLI_EXIT_OK;
}

static int key_create(struct cli_ctx *ctx, struct cli_args *a)
{
    cleanup_json json_t *body = json_object();
    json_object_set_new(body, "tenant", json_string(a->pos[0]));
    json_object_set_new(body, "admin", json_boolean(cli_args_has(a, "admin")));
    cleanup_free char *path = cli_path(ctx, "v1", "keys", NULL);
    return cli_call(ctx, "POST", path, body, print_created, NULL);
}

static int key_ls(struct cli_ctx *ctx, struct cli_args *a)
{
    cleanup_free char *path = cli_path(ctx, "v1", "keys", NULL);
    return cli_call(ctx, "GET", path, NULL, print_list, NULL);
}

static int key_rm(struct cli_ctx *ctx, struct cli_args *a)
{
    int rc = CLI_EXIT_OK;
    for (size_t i = 0; i < a->n_pos; i++) {
        cleanup_free char *path = cli_path(ctx, "v1", "keys", a->pos[i], NULL);
        int r = cli_call(ctx, "DELETE", path, NULL, NULL, NULL);
        if (r != CLI_EXIT_OK)
            rc = r;
    }
    return rc;
}

static const struct cli_opt create_opts[] = {
    {"admin", 0, CLI_OPT_FLAG, NULL, "an admin key (may manage keys and host paths)"},
};

const struct cli_cmd cli_key_cmds[] = {
    {"key", "create", "TENANT [--admin]", "create an API key (the tenant is created on first use)",
     create_opts, AL_ARRAY_SIZE(create_opts), 1, 1, 0, false, key_create},
    {"key", "ls", "", "list API keys", NULL, 0, 0, 0, 0, false, key_ls},
    {"key", "rm", "ID...", "revoke API keys", NULL, 0, 1, CLI_MAX_POS, 0, false, key_rm},
};
const size_t cli_n_key_cmds = AL_ARRAY_SIZE(cli_key_cmds);
