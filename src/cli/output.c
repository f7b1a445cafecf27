#include "cli/output.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/json.h"

void cli_sanitize(char *s)
{
    for (unsigned char *p = (unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            *p = '?';
}

void cli_table_init(struct cli_table *t, size_t ncols, const char *const *headers)
{
    memset(t, 0, sizeof(*t));
    if (ncols > CLI_TABLE_MAX_COLS)
        ncols = CLI_TABLE_MAX_COLS;
    t->ncols = ncols;
    for (size_t i = 0; i < ncols; i++)
        t->headers[i] = headers[i];
}

int cli_table_add(struct cli_table *t, const char *const *cells)
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **c = realloc(t->cells, cap * t->ncols * sizeof(char *));
        if (!c)
            return -ENOMEM;
        t->cells = c;
        t->cap = cap;
    }
    char **row = t->cells + t->nrows * t->ncols;
    for (size_t i = 0; i < t->ncols; i++) {
        row[i] = strdup(cells[i] ? cells[i] : "-");
        if (!row[i]) {
            while (i-- > 0)
                free(row[i]);
            return -ENOMEM;
        }
        cli_sanitize(row[i]);
    }
    t->nrows++;
    return 0;
}

/* Display width: UTF-8 code points (continuation bytes do not count). */
static size_t width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    return w;
}

void cli_table_render(const struct cli_table *t, FILE *out)
{
    size_t w[CLI_TABLE_MAX_COLS];
    for (size_t c = 0; c < t->ncols; c++) {
        w[c] = width(t->headers[c]);
        for (size_t r = 0; r < t->nrows; r++) {
            size_t cw = width(t->cells[r * t->ncols + c]);
            if (cw > w[c])
                w[c] = cw;
        }
    }
    for (size_t r = 0; r <= t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *cell = r == 0 ? t->headers[c] : t->cells[(r - 1) * t->ncols + c];
            fputs(cell, out);
            if (c + 1 < t->ncols)
                fprintf(out, "%*s", (int)(w[c] - width(cell) + 3), "");
        }
        fputc('\n', out);
    }
}

void cli_table_free(struct cli_table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof(*t));
}

void cli_format_bytes(unsigned long long n, char *out, size_t len)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    if (n < 1024) {
        snprintf(out, len, "%llu B", n);
        return;
    }
    double v = (double)n;
    size_t u = 0;
    while (v >= 1024 && u + 1 < AL_ARRAY_SIZE(units)) {
        v /= 1024;
        u++;
    }
    snprintf(out, len, "%.1f %s", v, units[u]);
}

char *cli_format_value(json_t *v, enum cli_fmt fmt)
{
    if (!v || json_is_null(v))
        return strdup("-");
    char buf[64];
    switch (fmt) {
    case CLI_FMT_BOOL:
        return strdup(json_is_true(v) ? "yes" : "no");
    case CLI_FMT_BYTES:
        if (json_is_integer(v) && json_integer_value(v) >= 0) {
            cli_format_bytes((unsigned long long)json_integer_value(v), buf, sizeof(buf));
            return strdup(buf);
        }
        break;
    case CLI_FMT_DIGEST:
        if (json_is_string(v)) {
            const char *s = json_string_value(v);
            const char *colon = strchr(s, ':');
            size_t keep = colon ? (size_t)(colon - s) + 13 : 12;
            return strndup(s, keep);
        }
        break;
    case CLI_FMT_KV:
        if (json_is_object(v)) {
            struct cli_buf b = {0};
            const char *k;
            json_t *x;
            bool first = true;
            if (json_object_size(v) == 0)
                return strdup("-");
            json_object_foreach(v, k, x)
            {
                cleanup_free char *val = cli_format_value(x, CLI_FMT_TEXT);
                if (!val || (!first && cli_buf_append(&b, ",", 1) < 0) ||
                    cli_buf_append(&b, k, strlen(k)) < 0 || cli_buf_append(&b, "=", 1) < 0 ||
                    cli_buf_append(&b, val, strlen(val)) < 0) {
                    cli_buf_free(&b);
                    return NULL;
                }
                first = false;
            }
            return b.data;
        }
        break;
    case CLI_FMT_TEXT:
        break;
    }
    if (json_is_string(v))
        return strdup(json_string_value(v));
    if (json_is_object(v) && fmt == CLI_FMT_TEXT) {
        /* flat objects of scalars read better as k=v */
        const char *k;
        json_t *x;
        bool flat = json_object_size(v) > 0;
        json_object_foreach(v, k, x) if (json_is_object(x) || json_is_array(x)) flat = false;
        if (flat)
            return cli_format_value(v, CLI_FMT_KV);
    }
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
}

int cli_print_list(FILE *out, json_t *arr, const struct cli_col *cols, size_t ncols)
{
    const char *headers[CLI_TABLE_MAX_COLS];
    if (ncols > CLI_TABLE_MAX_COLS)
        return -EINVAL;
    for (size_t i = 0; i < ncols; i++)
        headers[i] = cols[i].header;
    struct cli_table t;
    cli_table_init(&t, ncols, headers);
    size_t i;
    json_t *item;
    int rc = 0;
    json_array_foreach(arr, i, item)
    {
        char *cells[CLI_TABLE_MAX_COLS] = {0};
        for (size_t c = 0; c < ncols; c++)
            cells[c] = cli_format_value(json_object_get(item, cols[c].key), cols[c].fmt);
        rc = cli_table_add(&t, (const char *const *)cells);
        for (size_t c = 0; c < ncols; c++)
            free(cells[c]);
        if (rc < 0)
            break;
    }
    if (rc == 0)
        cli_table_render(&t, out);
    cli_table_free(&t);
    return rc;
}

int cli_print_object(FILE *out, json_t *obj)
{
    static const char *const headers[] = {"FIELD", "VALUE"};
    struct cli_table t;
    cli_table_init(&t, 2, headers);
    const char *k;
    json_t *v;
    int rc = 0;
    json_object_foreach(obj, k, v)
    {
        cleanup_free char *val = cli_format_value(v, CLI_FMT_TEXT);
        const char *cells[2] = {k, val};
        rc = val ? cli_table_add(&t, cells) : -ENOMEM;
        if (rc < 0)
            break;
    }
    if (rc == 0) {
        /* no header line for a single object: "field   value" */
        size_t w = 0;
        for (size_t r = 0; r < t.nrows; r++)
            if (strlen(t.cells[r * 2]) > w)
                w = strlen(t.cells[r * 2]);
        for (size_t r = 0; r < t.nrows; r++)
            fprintf(out, "%-*s   %s\n", (int)w, t.cells[r * 2], t.cells[r * 2 + 1]);
    }
    cli_table_free(&t);
    return rc;
}

json_t *cli_json_parse(const char *buf, size_t len)
{
    if (!buf || len == 0)
        return NULL;
    json_error_t jerr;
    return json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
}

void cli_print_raw(FILE *out, const struct cli_resp *resp)
{
    if (!resp->body.len)
        return;
    fwrite(resp->body.data, 1, resp->body.len, out);
    if (resp->body.data[resp->body.len - 1] != '\n')
        fputc('\n', out);
}

void cli_api_error_message(long status, const char *body, size_t len, char *buf, size_t buflen)
{
    cleanup_json json_t *j = cli_json_parse(body, len);
    json_t *e = j ? json_object_get(j, "error") : NULL;
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    if (code && msg)
        snprintf(buf, buflen, "%s: %s", code, msg);
    else if (code)
        snprintf(buf, buflen, "%s (HTTP %ld)", code, status);
    else
        snprintf(buf, buflen, "HTTP %ld", status);
    cli_sanitize(buf);
}

int cli_report_api_error(const struct cli_resp *resp)
{
    char msg[1024];
    cli_api_error_message(resp->status, resp->body.data, resp->body.len, msg, sizeof(msg));
    fprintf(stderr, "airlock: %s\n", msg);
    return cli_exit_for_status(resp->status) ? cli_exit_for_status(resp->status) : 1;
}

int cli_report_transport_error(const struct al_err *err)
{
    char msg[AL_ERR_MSG_MAX];
    snprintf(msg, sizeof(msg), "%s", err->msg);
    cli_sanitize(msg);
    fprintf(stderr, "airlock: %s\n", msg);
    return err->kind == AL_ERR_UNAVAILABLE ? 3 : 1;
}

int cli_lines_feed(struct cli_lines *l, const char *p, size_t n)
{
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        if (l->max_line && l->buf.len + take > l->max_line)
            return -E2BIG;
        if (cli_buf_append(&l->buf, p, take) < 0)
            return -ENOMEM;
        if (!nl)
            return 0;
        int rc = 0;
        if (l->buf.len > 0)
            rc = l->on_line(l->ud, l->buf.data, l->buf.len);
        l->buf.len = 0;
        if (l->buf.data)
            l->buf.data[0] = '\0';
        if (rc < 0)
            return rc;
        p = nl + 1;
        n -= take + 1;
    }
    return 0;
}

int cli_lines_finish(struct cli_lines *l)
{
    int rc = 0;
    if (l->buf.len > 0)
        rc = l->on_line(l->ud, l->buf.data, l->buf.len);
    cli_buf_free(&l->buf);
    return rc;
}
