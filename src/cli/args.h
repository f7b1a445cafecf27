/* Command-line parsing for the airlock CLI: a small declarative option parser (long options
 * `--name VALUE`, `--name=VALUE`, short `-x`, repeatable options, `--` ending options), and
 * the pure helpers the commands share (K=V pairs, `ID:/path` operands).  No I/O, no exit. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum cli_opt_kind {
    CLI_OPT_FLAG,  /* --name */
    CLI_OPT_VALUE, /* --name VALUE (last one wins) */
    CLI_OPT_MULTI, /* --name VALUE, repeatable */
};

struct cli_opt {
    const char *name; /* long name without the leading "--" */
    char short_name;  /* 0: none */
    enum cli_opt_kind kind;
    const char *metavar;
    const char *help;
};

#define CLI_MAX_OPTS 32
#define CLI_MAX_POS 16
#define CLI_MAX_MULTI 256

struct cli_args {
    const struct cli_opt *tables[2];
    size_t counts[2];
    bool set[CLI_MAX_OPTS];
    const char *value[CLI_MAX_OPTS];
    /* repeatable values in command-line order, with the option index of each */
    const char *multi[CLI_MAX_MULTI];
    int multi_opt[CLI_MAX_MULTI];
    size_t n_multi;
    const char *pos[CLI_MAX_POS];
    size_t n_pos;
    /* words after "--" (or after the positional that starts a command): argv-owned */
    char **rest;
    size_t n_rest;
    bool has_rest;
};

/* Parse argv[0..argc) (no program or command words) against two option tables (either may be
 * NULL).  With stop_after_pos > 0, the word after that many positionals starts `rest` (so
 * `exec G ID echo --x` needs no `--`).  Returns 0, or -EINVAL with a message in errbuf. */
int cli_args_parse(struct cli_args *a, const struct cli_opt *t1, size_t n1,
                   const struct cli_opt *t2, size_t n2, int argc, char **argv,
                   size_t stop_after_pos, char *errbuf, size_t errlen);

bool cli_args_has(const struct cli_args *a, const char *name);
/* Last value of a VALUE option, or NULL. */
const char *cli_args_get(const struct cli_args *a, const char *name);
/* The idx-th value of a MULTI option, or NULL past the end. */
const char *cli_args_multi(const struct cli_args *a, const char *name, size_t idx);

/* "K=V" -> obj[K] = V.  The key must be non-empty; the value may be empty or contain '='.
 * Returns 0 or -EINVAL (errbuf says why), -ENOMEM. */
int cli_kv_add(json_t *obj, const char *kv, char *errbuf, size_t errlen);
/* All values of a MULTI option as one object (NULL with errbuf set on error; an empty
 * object when the option is absent). */
json_t *cli_kv_object(const struct cli_args *a, const char *name, char *errbuf, size_t errlen);

/* A cp operand: "ID:/abs/path" (ID = 32 lowercase hex) is remote, anything else is local.
 * Returns 1 (remote; id and *ret_path set), 0 (local), -EINVAL ("ID:" with a relative or
 * empty path). */
#define CLI_SANDBOX_ID_LEN 32
int cli_remote_parse(const char *s, char id[CLI_SANDBOX_ID_LEN + 1], const char **ret_path);
bool cli_sandbox_id_valid(const char *s);

/* Where the daemon is and which key to use, from the global flags and the environment (main.c
 * reads both and the key file; this part is pure so that it can be tested and fuzzed).
 * The daemon: --url or --socket, else --state-dir's socket, else AIRLOCK_URL ("unix:PATH" is a
 * socket), else AIRLOCK_STATE_DIR's socket, else ./state's.  The key: --key, else AIRLOCK_KEY
 * (not with --state-dir, which means "that daemon, its admin key"), else key_dir/admin.key.
 * An empty environment variable counts as unset. */
struct cli_where_in {
    const char *url, *socket, *state_dir, *key;    /* flags; NULL when not given */
    const char *env_url, *env_state_dir, *env_key; /* environment; NULL when unset */
};
struct cli_where {
    const char *url;     /* "http://..." or "https://...", or NULL */
    const char *socket;  /* unix socket path, or NULL; exactly one of url and socket is set */
    const char *key;     /* NULL: read key_dir/admin.key */
    const char *key_dir; /* the state dir */
    char *sock_buf;      /* owns socket when it is "<state dir>/airlockd.sock" */
};
/* Borrows the strings of `in` (ret points into them).  Returns 0, -EINVAL with a usage message
 * in errbuf, or -ENOMEM.  Free with cli_where_free. */
int cli_where_resolve(const struct cli_where_in *in, struct cli_where *ret, char *errbuf,
                      size_t errlen);
void cli_where_free(struct cli_where *w);
/* A key file's content: trailing newlines, CRs and spaces cut off in place (key[len] must be
 * writable).  Returns the new length. */
size_t cli_key_trim(char *key, size_t len);
