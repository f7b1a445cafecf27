/* libFuzzer target: the CLI's input decoders (cli/args.c): the option parser against the real
 * command tables (plus one synthetic table with every option kind and a stop_after_pos
 * variant), the accessors, K=V pairs, `ID:/path` operands, sandbox ids, image names from
 * archive paths, and the daemon address / key resolution from flags and environment.
 *
 * Input: byte 0 picks the option table (the global options plus command N of main.c's
 * tables, or the synthetic one); byte 1: bits 0-2 say which of AIRLOCK_URL,
 * AIRLOCK_STATE_DIR, AIRLOCK_KEY are set, bits 3-4 the synthetic table's stop_after_pos.
 * The rest is NUL-separated words: first the set environment values, in that order, then
 * argv (without program and command words).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/cleanup.h"
#include "common/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_WORDS 600

static const struct cli_opt synthetic_opts[] = {
    {"flag", 'f', CLI_OPT_FLAG, NULL, "a flag"},
    {"value", 'v', CLI_OPT_VALUE, "V", "a value"},
    {"env", 'e', CLI_OPT_MULTI, "K=V", "repeatable"},
    {"label", 'l', CLI_OPT_MULTI, "K=V", "repeatable"},
    {"long-only", 0, CLI_OPT_VALUE, "X", "no short name"},
    {"x", 0, CLI_OPT_FLAG, NULL, "one-letter long name"},
};

struct table {
    const struct cli_opt *opts;
    size_t n;
    size_t stop_after_pos;
};

static size_t n_cmds(void)
{
    return cli_n_group_cmds + cli_n_sandbox_cmds + cli_n_image_cmds + cli_n_key_cmds;
}

static const struct cli_cmd *cmd_at(size_t i)
{
    const struct {
        const struct cli_cmd *cmds;
        size_t n;
    } t[] = {
        {cli_group_cmds, cli_n_group_cmds},
        {cli_sandbox_cmds, cli_n_sandbox_cmds},
        {cli_image_cmds, cli_n_image_cmds},
        {cli_key_cmds, cli_n_key_cmds},
    };
    for (size_t k = 0; k < AL_ARRAY_SIZE(t); k++) {
        if (i < t[k].n)
            return &t[k].cmds[i];
        i -= t[k].n;
    }
    return NULL;
}

static void check_operand(const char *w)
{
    char id[CLI_SANDBOX_ID_LEN + 1];
    const char *path = NULL;
    int r = cli_remote_parse(w, id, &path);
    if (r == 1 && (!cli_sandbox_id_valid(id) || path[0] != '/' || path != w + 33))
        abort();
    if (r != 0 && r != 1 && r != -EINVAL)
        abort();
    (void)cli_sandbox_id_valid(w);
    char name[128];
    if (cli_image_name_from_path(w, name, sizeof(name)) && (!name[0] || strlen(name) >= 128))
        abort();
}

static void check_trim(const char *w, size_t len)
{
    char *k = malloc(len + 1);
    if (!k)
        return;
    memcpy(k, w, len);
    k[len] = '\0';
    size_t n = cli_key_trim(k, len);
    if (n > len || k[n] != '\0' ||
        (n > 0 && (k[n - 1] == '\n' || k[n - 1] == '\r' || k[n - 1] == ' ')))
        abort();
    free(k);
}

static void check_opts(const struct cli_args *a, const struct cli_opt *o, size_t n)
{
    char eb[256];
    for (size_t i = 0; i < n; i++) {
        bool has = cli_args_has(a, o[i].name);
        const char *v = cli_args_get(a, o[i].name);
        if (o[i].kind != CLI_OPT_FLAG && !has && v)
            abort();
        if (o[i].kind != CLI_OPT_MULTI)
            continue;
        size_t k = 0;
        const char *last = NULL, *m;
        while ((m = cli_args_multi(a, o[i].name, k))) {
            last = m;
            if (++k > CLI_MAX_MULTI)
                abort();
        }
        if (last != v) /* the last repeated value is also the VALUE */
            abort();
        json_t *obj = cli_kv_object(a, o[i].name, eb, sizeof(eb));
        if (obj) {
            if (json_object_size(obj) > k)
                abort();
            json_decref(obj);
        }
        cleanup_json json_t *one = json_object();
        for (size_t j = 0; one && j < k; j++)
            (void)cli_kv_add(one, cli_args_multi(a, o[i].name, j), eb, sizeof(eb));
    }
}

static void check_where(const struct cli_args *a, const char *const env[3])
{
    struct cli_where_in in = {
        .url = cli_args_get(a, "url"),
        .socket = cli_args_get(a, "socket"),
        .state_dir = cli_args_get(a, "state-dir"),
        .key = cli_args_get(a, "key"),
        .env_url = env[0],
        .env_state_dir = env[1],
        .env_key = env[2],
    };
    struct cli_where w;
    char eb[256];
    int r = cli_where_resolve(&in, &w, eb, sizeof(eb));
    if (r < 0) {
        if (r != -EINVAL && r != -ENOMEM)
            abort();
        return;
    }
    if (!w.url == !w.socket || !w.key_dir)
        abort();
    if (w.url && strncmp(w.url, "http://", 7) != 0 && strncmp(w.url, "https://", 8) != 0)
        abort();
    if (w.key && !w.key[0] && w.key != in.key)
        abort(); /* an empty AIRLOCK_KEY counts as unset */
    cli_where_free(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t total = n_cmds();
    size_t pick = data[0] % (total + 1);
    uint8_t mode = data[1];
    data += 2, size -= 2;

    char *buf = malloc(size + 1);
    char **words = calloc(MAX_WORDS + 1, sizeof(char *));
    if (!buf || !words) {
        free(buf);
        free(words);
        return 0;
    }
    memcpy(buf, data, size);
    buf[size] = '\0';
    size_t nw = 0;
    for (size_t off = 0; off <= size && nw < MAX_WORDS;) {
        words[nw++] = buf + off;
        off += strlen(buf + off) + 1;
    }
    if (size == 0)
        nw = 0;

    const char *env[3] = {NULL, NULL, NULL};
    size_t wi = 0;
    for (int b = 0; b < 3; b++)
        if ((mode & (1u << b)) && wi < nw)
            env[b] = words[wi++];

    struct table t;
    const struct cli_cmd *cmd = pick < total ? cmd_at(pick) : NULL;
    if (cmd)
        t = (struct table){cmd->opts, cmd->n_opts, cmd->stop_after_pos};
    else
        t = (struct table){synthetic_opts, AL_ARRAY_SIZE(synthetic_opts), (mode >> 3) & 3};

    int argc = (int)(nw - wi);
    char **argv = words + wi;
    struct cli_args a;
    char eb[256];
    int r = cli_args_parse(&a, cli_global_opts, cli_n_global_opts, t.opts, t.n, argc, argv,
                           t.stop_after_pos, eb, sizeof(eb));
    if (r == 0) {
        if (a.n_pos > CLI_MAX_POS || a.n_multi > CLI_MAX_MULTI)
            abort();
        if (a.has_rest && (a.rest < argv || a.rest + a.n_rest != argv + argc))
            abort();
        if (t.stop_after_pos && a.has_rest && a.n_pos > t.stop_after_pos)
            abort();
        check_opts(&a, cli_global_opts, cli_n_global_opts);
        check_opts(&a, t.opts, t.n);
        for (size_t i = 0; i < a.n_pos; i++)
            check_operand(a.pos[i]);
        for (size_t i = 0; i < a.n_rest; i++)
            check_operand(a.rest[i]);
        check_where(&a, env);
    } else if (r != -EINVAL || !eb[0]) {
        abort();
    }
    for (size_t i = 0; i < nw; i++)
        check_trim(words[i], strlen(words[i]));
    check_trim((const char *)data, size); /* a key file may hold anything */
    free(words);
    free(buf);
    return 0;
}
