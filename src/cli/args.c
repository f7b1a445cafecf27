#include "cli/args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/json.h"

static const struct cli_opt *opt_at(const struct cli_args *a, size_t i)
{
    if (i < a->counts[0])
        return &a->tables[0][i];
    return &a->tables[1][i - a->counts[0]];
}

static size_t opt_total(const struct cli_args *a)
{
    return a->counts[0] + a->counts[1];
}

static int find_long(const struct cli_args *a, const char *name, size_t len)
{
    for (size_t i = 0; i < opt_total(a); i++) {
        const struct cli_opt *o = opt_at(a, i);
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
            return (int)i;
    }
    return -1;
}

static int find_short(const struct cli_args *a, char c)
{
    for (size_t i = 0; i < opt_total(a); i++)
        if (opt_at(a, i)->short_name && opt_at(a, i)->short_name == c)
            return (int)i;
    return -1;
}

static int store(struct cli_args *a, int idx, const char *val, char *errbuf, size_t errlen)
{
    const struct cli_opt *o = opt_at(a, (size_t)idx);
    a->set[idx] = true;
    if (o->kind == CLI_OPT_VALUE) {
        a->value[idx] = val;
    } else if (o->kind == CLI_OPT_MULTI) {
        if (a->n_multi >= CLI_MAX_MULTI) {
            snprintf(errbuf, errlen, "too many repeated options");
            return -EINVAL;
        }
        a->multi[a->n_multi] = val;
        a->multi_opt[a->n_multi] = idx;
        a->n_multi++;
        a->value[idx] = val;
    }
    return 0;
}

int cli_args_parse(struct cli_args *a, const struct cli_opt *t1, size_t n1,
                   const struct cli_opt *t2, size_t n2, int argc, char **argv,
                   size_t stop_after_pos, char *errbuf, size_t errlen)
{
    memset(a, 0, sizeof(*a));
    a->tables[0] = t1;
    a->counts[0] = t1 ? n1 : 0;
    a->tables[1] = t2;
    a->counts[1] = t2 ? n2 : 0;
    if (opt_total(a) > CLI_MAX_OPTS) {
        snprintf(errbuf, errlen, "internal: too many options");
        return -EINVAL;
    }
    for (int i = 0; i < argc; i++) {
        char *w = argv[i];
        if (strcmp(w, "--") == 0) {
            a->rest = argv + i + 1;
            a->n_rest = (size_t)(argc - i - 1);
            a->has_rest = true;
            return 0;
        }
        if (w[0] == '-' && w[1] == '-') {
            const char *name = w + 2;
            const char *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            int idx = find_long(a, name, len);
            if (idx < 0) {
                snprintf(errbuf, errlen, "unknown option '--%.*s'", (int)len, name);
                return -EINVAL;
            }
            const struct cli_opt *o = opt_at(a, (size_t)idx);
            const char *val = NULL;
            if (o->kind == CLI_OPT_FLAG) {
                if (eq) {
                    snprintf(errbuf, errlen, "option '--%s' takes no value", o->name);
                    return -EINVAL;
                }
            } else if (eq) {
                val = eq + 1;
            } else {
                if (i + 1 >= argc) {
                    snprintf(errbuf, errlen, "option '--%s' needs a value", o->name);
                    return -EINVAL;
                }
                val = argv[++i];
            }
            if (store(a, idx, val, errbuf, errlen) < 0)
                return -EINVAL;
            continue;
        }
        if (w[0] == '-' && w[1] != '\0') {
            /* short options: "-h", or "-e K=V" / "-eK=V" for value options */
            int idx = find_short(a, w[1]);
            if (idx < 0) {
                snprintf(errbuf, errlen, "unknown option '-%c'", w[1]);
                return -EINVAL;
            }
            const struct cli_opt *o = opt_at(a, (size_t)idx);
            const char *val = NULL;
            if (o->kind == CLI_OPT_FLAG) {
                if (w[2] != '\0') {
                    snprintf(errbuf, errlen, "option '-%c' takes no value", w[1]);
                    return -EINVAL;
                }
            } else if (w[2] != '\0') {
                val = w + 2;
            } else {
                if (i + 1 >= argc) {
                    snprintf(errbuf, errlen, "option '-%c' needs a value", w[1]);
                    return -EINVAL;
                }
                val = argv[++i];
            }
            if (store(a, idx, val, errbuf, errlen) < 0)
                return -EINVAL;
            continue;
        }
        if (stop_after_pos > 0 && a->n_pos == stop_after_pos) {
            a->rest = argv + i;
            a->n_rest = (size_t)(argc - i);
            a->has_rest = true;
            return 0;
        }
        if (a->n_pos >= CLI_MAX_POS) {
            snprintf(errbuf, errlen, "too many arguments");
            return -EINVAL;
        }
        a->pos[a->n_pos++] = w;
    }
    return 0;
}

static int lookup(const struct cli_args *a, const char *name)
{
    return find_long(a, name, strlen(name));
}

bool cli_args_has(const struct cli_args *a, const char *name)
{
    int idx = lookup(a, name);
    return idx >= 0 && a->set[idx];
}

const char *cli_args_get(const struct cli_args *a, const char *name)
{
    int idx = lookup(a, name);
    return idx >= 0 ? a->value[idx] : NULL;
}

const char *cli_args_multi(const struct cli_args *a, const char *name, size_t idx)
{
    int o = lookup(a, name);
    if (o < 0)
        return NULL;
    for (size_t i = 0; i < a->n_multi; i++)
        if (a->multi_opt[i] == o && idx-- == 0)
            return a->multi[i];
    return NULL;
}

int cli_kv_add(json_t *obj, const char *kv, char *errbuf, size_t errlen)
{
    const char *eq = strchr(kv, '=');
    if (!eq) {
        snprintf(errbuf, errlen, "'%s' is not KEY=VALUE", kv);
        return -EINVAL;
    }
    if (eq == kv) {
        snprintf(errbuf, errlen, "'%s' has an empty key", kv);
        return -EINVAL;
    }
    cleanup_free char *key = strndup(kv, (size_t)(eq - kv));
    if (!key)
        return -ENOMEM;
    if (json_object_set_new(obj, key, json_string(eq + 1)) < 0) {
        snprintf(errbuf, errlen, "'%s' is not valid UTF-8", kv);
        return -EINVAL;
    }
    return 0;
}

json_t *cli_kv_object(const struct cli_args *a, const char *name, char *errbuf, size_t errlen)
{
    cleanup_json json_t *obj = json_object();
    if (!obj) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    const char *kv;
    for (size_t i = 0; (kv = cli_args_multi(a, name, i)); i++)
        if (cli_kv_add(obj, kv, errbuf, errlen) < 0)
            return NULL;
    return TAKE_PTR(obj);
}

bool cli_sandbox_id_valid(const char *s)
{
    size_t i;
    for (i = 0; s[i]; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return i == CLI_SANDBOX_ID_LEN;
}

int cli_remote_parse(const char *s, char id[CLI_SANDBOX_ID_LEN + 1], const char **ret_path)
{
    const char *colon = strchr(s, ':');
    if (!colon || (size_t)(colon - s) != CLI_SANDBOX_ID_LEN)
        return 0;
    char tmp[CLI_SANDBOX_ID_LEN + 1];
    memcpy(tmp, s, CLI_SANDBOX_ID_LEN);
    tmp[CLI_SANDBOX_ID_LEN] = '\0';
    if (!cli_sandbox_id_valid(tmp))
        return 0;
    if (colon[1] != '/')
        return -EINVAL;
    memcpy(id, tmp, sizeof(tmp));
    *ret_path = colon + 1;
    return 1;
}

int cli_where_resolve(const struct cli_where_in *in, struct cli_where *ret, char *errbuf,
                      size_t errlen)
{
    const char *url = in->url, *sock = in->socket;
    const char *env_url = in->env_url && *in->env_url ? in->env_url : NULL;
    const char *env_dir = in->env_state_dir && *in->env_state_dir ? in->env_state_dir : NULL;
    const char *env_key = in->env_key && *in->env_key ? in->env_key : NULL;
    const char *dir = in->state_dir ? in->state_dir : env_dir ? env_dir : "state";
    cleanup_free char *sock_buf = NULL;

    if (url && sock) {
        snprintf(errbuf, errlen, "--url and --socket are exclusive");
        return -EINVAL;
    }
    if (!url && !sock) {
        if (!in->state_dir && env_url) {
            if (strncmp(env_url, "unix:", 5) == 0)
                sock = env_url + 5;
            else
                url = env_url;
        } else {
            if (asprintf(&sock_buf, "%s/airlockd.sock", dir) < 0) {
                sock_buf = NULL;
                snprintf(errbuf, errlen, "out of memory");
                return -ENOMEM;
            }
            sock = sock_buf;
        }
    }
    if (url && strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        snprintf(errbuf, errlen, "--url must start with http:// or https://");
        return -EINVAL;
    }
    const char *key = in->key;
    if (!key && !in->state_dir && env_key)
        key = env_key;
    *ret = (struct cli_where){
        .url = url,
        .socket = sock,
        .key = key,
        .key_dir = dir,
        .sock_buf = TAKE_PTR(sock_buf),
    };
    return 0;
}

void cli_where_free(struct cli_where *w)
{
    free(w->sock_buf);
    memset(w, 0, sizeof(*w));
}

size_t cli_key_trim(char *key, size_t len)
{
    while (len > 0 && (key[len - 1] == '\n' || key[len - 1] == '\r' || key[len - 1] == ' '))
        key[--len] = '\0';
    return len;
}
