/* Output of the airlock CLI: aligned tables for people, the API's JSON for machines, and the
 * error line on stderr.  Cells are sanitized (control characters shown as '?') because names,
 * labels and messages may come from other tenants' or sandboxes' data. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "cli/http.h"

#define CLI_TABLE_MAX_COLS 12

struct cli_table {
    size_t ncols;
    const char *headers[CLI_TABLE_MAX_COLS];
    char **cells; /* nrows * ncols, owned */
    size_t nrows, cap;
};

void cli_table_init(struct cli_table *t, size_t ncols, const char *const *headers);
/* Copies the cells (NULL is shown as "-").  Returns 0 or -ENOMEM. */
int cli_table_add(struct cli_table *t, const char *const *cells);
/* Columns separated by three spaces; the last column is not padded. */
void cli_table_render(const struct cli_table *t, FILE *out);
void cli_table_free(struct cli_table *t);

/* How a JSON field is shown in a table cell. */
enum cli_fmt {
    CLI_FMT_TEXT,   /* strings as-is, numbers/bools as JSON, objects as compact JSON */
    CLI_FMT_KV,     /* {"a":"1","b":"2"} -> "a=1,b=2" */
    CLI_FMT_BOOL,   /* yes / no */
    CLI_FMT_BYTES,  /* 1536 -> "1.5 KiB" */
    CLI_FMT_DIGEST, /* "sha256:0123456789ab..." -> "sha256:0123456789ab" */
};

struct cli_col {
    const char *header;
    const char *key;
    enum cli_fmt fmt;
};

/* Format one JSON value for a cell; caller frees.  NULL value -> "-". */
char *cli_format_value(json_t *v, enum cli_fmt fmt);
void cli_format_bytes(unsigned long long n, char *out, size_t len);

/* An array of objects as a table. */
int cli_print_list(FILE *out, json_t *arr, const struct cli_col *cols, size_t ncols);
/* One object as "FIELD  VALUE" lines (nested objects flattened with cli_format_value). */
int cli_print_object(FILE *out, json_t *obj);

/* Parse a response body (duplicates rejected, NUL escapes allowed).  NULL on failure. */
json_t *cli_json_parse(const char *buf, size_t len);
/* Print the API's body as-is (with a trailing newline) for --json. */
void cli_print_raw(FILE *out, const struct cli_resp *resp);

/* "airlock: Code: message" on stderr for an error response; returns the exit code (1). */
int cli_report_api_error(const struct cli_resp *resp);
/* The message of an error body, into buf ("HTTP 502" when it is not an API error). */
void cli_api_error_message(long status, const char *body, size_t len, char *buf, size_t buflen);
/* Exit code for a failed transport (al_err from cli_http): 3 unreachable, else 1. */
int cli_report_transport_error(const struct al_err *err);

/* NDJSON splitter: feed bytes, get one callback per complete line (without '\n').  Lines
 * longer than max_line are an error. */
struct cli_lines {
    struct cli_buf buf;
    size_t max_line;
    int (*on_line)(void *ud, char *line, size_t len);
    void *ud;
};
int cli_lines_feed(struct cli_lines *l, const char *p, size_t n);
/* Deliver a final unterminated line, if any. */
int cli_lines_finish(struct cli_lines *l);

/* Replace control characters in s (in place) by '?'. */
void cli_sanitize(char *s);
