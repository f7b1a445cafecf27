/* airlock: the command-line client of airlockd's REST API (docs/api.md).
 *
 * Theory of operation: main.c finds the command (`group create`, `sandbox exec`, ...) in the
 * table of struct cli_cmd, parses its options together with the global ones (args.c),
 * resolves where the daemon is and which key to use (flags, then AIRLOCK_URL / AIRLOCK_KEY,
 * then the state dir's admin.key and airlockd.sock) and calls the command's handler.  Handlers
 * speak HTTP through http.c and print through output.c: tables by default, the API's JSON with
 * --json.  Exit codes: 0 ok, 1 API error (message on stderr), 2 usage error, 3 daemon
 * unreachable; exec and run exit with the command's own code.
 */
#pragma once

#include <stdbool.h>

#include "cli/args.h"
#include "cli/http.h"

enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_API = 1,
    CLI_EXIT_USAGE = 2,
    CLI_EXIT_CONNECT = 3,
};

struct cli_ctx {
    struct cli_conn conn;
    bool json;
    const struct cli_cmd *cmd;
};

struct cli_cmd {
    const char *group; /* "sandbox", or NULL for top-level commands like "run" */
    const char *name;
    const char *synopsis; /* positional part, e.g. "GROUP ID [--] CMD [ARGS...]" */
    const char *summary;
    const struct cli_opt *opts;
    size_t n_opts;
    size_t min_pos, max_pos;
    size_t stop_after_pos; /* > 0: words after this many positionals are the command */
    bool needs_rest;       /* a command (rest) is required */
    int (*run)(struct cli_ctx *ctx, struct cli_args *a);
};

/* The global options, accepted by every command (commands.c). */
extern const struct cli_opt cli_global_opts[];
extern const size_t cli_n_global_opts;

/* Command tables, one per file. */
extern const struct cli_cmd cli_group_cmds[];
extern const size_t cli_n_group_cmds;
extern const struct cli_cmd cli_sandbox_cmds[];
extern const size_t cli_n_sandbox_cmds;
extern const struct cli_cmd cli_image_cmds[];
extern const size_t cli_n_image_cmds;
extern const struct cli_cmd cli_key_cmds[];
extern const size_t cli_n_key_cmds;

/* Helpers shared by the command files (commands.c). */
/* Print a usage error for the current command and return CLI_EXIT_USAGE. */
int cli_usage_error(struct cli_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The repeated --OPT K=V options into body[field] (left out when none were given).
 * Returns 0, or the usage error's exit code for a malformed K=V. */
int cli_body_kv(struct cli_ctx *ctx, const struct cli_args *a, const char *opt, json_t *body,
                const char *field);
/* Perform a JSON request; on success print (json: raw; else via print_fn) and return 0, on
 * failure report and return the exit code.  ret_json (optional) gets the parsed body. */
int cli_call(struct cli_ctx *ctx, const char *method, const char *path, json_t *body,
             int (*print_fn)(struct cli_ctx *ctx, json_t *resp), json_t **ret_json);
/* "/seg1/seg2/..." from NULL-terminated segments, each one URL-escaped; caller frees. */
char *cli_path(struct cli_ctx *ctx, ...) __attribute__((sentinel));
/* Command execution in a sandbox, shared by `sandbox exec` and `run`. */
int cli_exec_in(struct cli_ctx *ctx, struct cli_args *a, const char *group, const char *id);
/* The `cp` command (cmd_cp.c). */
int cli_cmd_cp(struct cli_ctx *ctx, struct cli_args *a);
/* Exit code for an exec result: 124 timed out, 128+N killed by signal N, else exitCode. */
int cli_exec_exit_code(json_t *result);
/* Progress bar line for `image pull`: "[####......]  40% 1.2 MiB / 3.0 MiB". */
void cli_progress_render(char *out, size_t len, long long done, long long total, int width);
/* Default image name from an archive's file name; false when it is not a valid name. */
bool cli_image_name_from_path(const char *path, char *out, size_t len);
