/* airlock main: command lookup, global options, daemon address and key resolution, help.
 * See cli.h for the theory of operation. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/output.h"
#include "common/cleanup.h"
#include "common/fsutil.h"

struct cmd_table {
    const struct cli_cmd *cmds;
    const size_t *n;
};

static const struct cmd_table tables[] = {
    {cli_group_cmds, &cli_n_group_cmds},
    {cli_sandbox_cmds, &cli_n_sandbox_cmds},
    {cli_image_cmds, &cli_n_image_cmds},
    {cli_key_cmds, &cli_n_key_cmds},
};

static const struct {
    const char *name, *summary;
} groups[] = {
    {"group", "manage sandbox groups"},
    {"sandbox", "create, inspect, run commands in and copy files to/from sandboxes"},
    {"image", "pull, import, list and remove images"},
    {"key", "manage API keys (admin)"},
};

static bool is_group(const char *w)
{
    for (size_t i = 0; i < AL_ARRAY_SIZE(groups); i++)
        if (strcmp(groups[i].name, w) == 0)
            return true;
    return false;
}

static const struct cli_cmd *find_cmd(const char *group, const char *name)
{
    for (size_t t = 0; t < AL_ARRAY_SIZE(tables); t++)
        for (size_t i = 0; i < *tables[t].n; i++) {
            const struct cli_cmd *c = &tables[t].cmds[i];
            bool g = group ? (c->group && strcmp(c->group, group) == 0) : c->group == NULL;
            if (g && strcmp(c->name, name) == 0)
                return c;
        }
    return NULL;
}

static void print_opts(FILE *out, const struct cli_opt *o, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char left[64];
        if (o[i].short_name)
            snprintf(left, sizeof(left), "-%c, --%s%s%s", o[i].short_name, o[i].name,
                     o[i].metavar ? " " : "", o[i].metavar ? o[i].metavar : "");
        else
            snprintf(left, sizeof(left), "    --%s%s%s", o[i].name, o[i].metavar ? " " : "",
                     o[i].metavar ? o[i].metavar : "");
        fprintf(out, "  %-26s %s%s\n", left, o[i].help,
                o[i].kind == CLI_OPT_MULTI ? " (repeatable)" : "");
    }
}

static void help_top(FILE *out)
{
    fputs("usage: airlock [OPTIONS] COMMAND [ARGS...]\n\n"
          "Client of the airlockd REST API.\n\nCommands:\n",
          out);
    for (size_t t = 0; t < AL_ARRAY_SIZE(tables); t++)
        for (size_t i = 0; i < *tables[t].n; i++) {
            const struct cli_cmd *c = &tables[t].cmds[i];
            char left[64];
            snprintf(left, sizeof(left), "%s%s%s", c->group ? c->group : "", c->group ? " " : "",
                     c->name);
            fprintf(out, "  %-18s %s\n", left, c->summary);
        }
    fputs("\nGlobal options:\n", out);
    print_opts(out, cli_global_opts, cli_n_global_opts);
    fputs("\nThe daemon is found from --url/--socket, else --state-dir, else AIRLOCK_URL, else\n"
          "AIRLOCK_STATE_DIR, else ./state; the key from --key, else AIRLOCK_KEY, else the state\n"
          "dir's admin.key.\n"
          "Exit codes: 0 ok, 1 API error, 2 usage error, 3 daemon unreachable; exec and run\n"
          "exit with the command's code (124 on timeout, 128+N when killed by signal N).\n"
          "Run 'airlock COMMAND --help' for a command's options.\n",
          out);
}

static void help_group(FILE *out, const char *group)
{
    fprintf(out, "usage: airlock %s SUBCOMMAND [ARGS...]\n\nSubcommands:\n", group);
    for (size_t t = 0; t < AL_ARRAY_SIZE(tables); t++)
        for (size_t i = 0; i < *tables[t].n; i++) {
            const struct cli_cmd *c = &tables[t].cmds[i];
            if (c->group && strcmp(c->group, group) == 0)
                fprintf(out, "  %-8s %s\n", c->name, c->summary);
        }
    fprintf(out, "\nRun 'airlock %s SUBCOMMAND --help' for details.\n", group);
}

static void help_cmd(FILE *out, const struct cli_cmd *c)
{
    fprintf(out, "usage: airlock %s%s%s %s\n\n%s\n", c->group ? c->group : "", c->group ? " " : "",
            c->name, c->synopsis, c->summary);
    if (c->n_opts) {
        fputs("\nOptions:\n", out);
        print_opts(out, c->opts, c->n_opts);
    }
    fputs("\nGlobal options:\n", out);
    print_opts(out, cli_global_opts, cli_n_global_opts);
}

static int global_takes_value(const char *w)
{
    if (strncmp(w, "--", 2) != 0 || strchr(w, '='))
        return 0;
    for (size_t i = 0; i < cli_n_global_opts; i++)
        if (strcmp(cli_global_opts[i].name, w + 2) == 0)
            return cli_global_opts[i].kind != CLI_OPT_FLAG;
    return 0;
}

static char *read_key_file(const char *dir)
{
    cleanup_free char *path = NULL;
    if (asprintf(&path, "%s/admin.key", dir) < 0)
        return NULL;
    char *data = NULL;
    size_t len = 0;
    if (al_read_file_at(AT_FDCWD, path, 4096, &data, &len) < 0)
        return NULL;
    cli_key_trim(data, len);
    return data;
}

static int connect_ctx(struct cli_ctx *ctx, const struct cli_args *a)
{
    struct cli_where_in in = {
        .url = cli_args_get(a, "url"),
        .socket = cli_args_get(a, "socket"),
        .state_dir = cli_args_get(a, "state-dir"),
        .key = cli_args_get(a, "key"),
        .env_url = getenv("AIRLOCK_URL"),
        .env_state_dir = getenv("AIRLOCK_STATE_DIR"),
        .env_key = getenv("AIRLOCK_KEY"),
    };
    struct cli_where w;
    char errbuf[256];
    int rc = cli_where_resolve(&in, &w, errbuf, sizeof(errbuf));
    if (rc == -EINVAL)
        return cli_usage_error(ctx, "%s", errbuf);
    if (rc < 0) {
        fprintf(stderr, "airlock: out of memory\n");
        return CLI_EXIT_API;
    }
    cleanup_free char *file_key = w.key ? NULL : read_key_file(w.key_dir);
    rc = cli_conn_init(&ctx->conn, w.url, w.socket, w.key ? w.key : file_key);
    if (file_key)
        explicit_bzero(file_key, strlen(file_key));
    cli_where_free(&w);
    if (rc < 0) {
        fprintf(stderr, "airlock: out of memory\n");
        return CLI_EXIT_API;
    }
    return 0;
}

int main(int argc, char **argv)
{
    /* split the command words (first one or two non-option words) from everything else */
    const char *words[2] = {NULL, NULL};
    size_t nwords = 0, need = 1;
    char **rest = calloc((size_t)argc + 1, sizeof(char *));
    int nrest = 0;
    if (!rest)
        return CLI_EXIT_API;
    int i = 1;
    for (; i < argc && nwords < need; i++) {
        char *w = argv[i];
        if (strcmp(w, "--") == 0)
            break;
        if (w[0] == '-' && w[1]) {
            rest[nrest++] = w;
            if (global_takes_value(w) && i + 1 < argc)
                rest[nrest++] = argv[++i];
            continue;
        }
        words[nwords++] = w;
        if (nwords == 1 && is_group(w))
            need = 2;
    }
    for (; i < argc; i++)
        rest[nrest++] = argv[i];

    bool want_help = false, want_version = false;
    for (int k = 0; k < nrest && strcmp(rest[k], "--") != 0; k++) {
        if (strcmp(rest[k], "--help") == 0 || strcmp(rest[k], "-h") == 0)
            want_help = true;
        if (strcmp(rest[k], "--version") == 0)
            want_version = true;
    }
    struct cli_ctx ctx = {0};
    int rc;
    if (nwords == 0) {
        free(rest);
        if (want_version) {
            puts("airlock 0.1.0");
            return CLI_EXIT_OK;
        }
        help_top(want_help ? stdout : stderr);
        return want_help ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    }
    if (is_group(words[0]) && nwords < 2) {
        free(rest);
        help_group(want_help ? stdout : stderr, words[0]);
        return want_help ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    }
    const struct cli_cmd *cmd =
        nwords == 2 ? find_cmd(words[0], words[1]) : find_cmd(NULL, words[0]);
    if (!cmd) {
        free(rest);
        if (nwords == 2)
            fprintf(stderr, "airlock: unknown command '%s %s'\nTry 'airlock %s --help'.\n",
                    words[0], words[1], words[0]);
        else
            fprintf(stderr, "airlock: unknown command '%s'\nTry 'airlock --help'.\n", words[0]);
        return CLI_EXIT_USAGE;
    }
    ctx.cmd = cmd;

    struct cli_args a;
    char errbuf[256];
    if (cli_args_parse(&a, cli_global_opts, cli_n_global_opts, cmd->opts, cmd->n_opts, nrest, rest,
                       cmd->stop_after_pos, errbuf, sizeof(errbuf)) < 0) {
        rc = cli_usage_error(&ctx, "%s", errbuf);
        goto out;
    }
    if (cli_args_has(&a, "help")) {
        help_cmd(stdout, cmd);
        rc = CLI_EXIT_OK;
        goto out;
    }
    if (a.n_pos < cmd->min_pos) {
        rc = cli_usage_error(&ctx, "missing arguments");
        goto out;
    }
    if (a.n_pos > cmd->max_pos) {
        rc = cli_usage_error(&ctx, "unexpected argument '%s'", a.pos[cmd->max_pos]);
        goto out;
    }
    if (cmd->needs_rest && a.n_rest == 0) {
        rc = cli_usage_error(&ctx, "missing command (after --)");
        goto out;
    }
    if (!cmd->needs_rest && a.has_rest) {
        rc = cli_usage_error(&ctx, "unexpected '--'");
        goto out;
    }
    ctx.json = cli_args_has(&a, "json");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = connect_ctx(&ctx, &a);
    if (rc != 0) {
        curl_global_cleanup();
        goto out;
    }
    rc = cmd->run(&ctx, &a);
    fflush(stdout);
    cli_conn_free(&ctx.conn);
    curl_global_cleanup();
out:
    free(rest);
    return rc;
}
