/* Query strings: "k=v&k=v" split as the server hands them over (already URL-decoded, so
 * any byte may appear), decoded as file-endpoint queries and label filters. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ARGS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = strndup((const char *)data, size); /* the parsers take C strings */
    if (!buf)
        return 0;
    const char *keys[MAX_ARGS], *values[MAX_ARGS];
    size_t n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, "&", &save); tok && n < MAX_ARGS;
         tok = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(tok, '=');
        if (eq)
            *eq++ = '\0';
        keys[n] = tok;
        values[n] = eq ? eq : "";
        n++;
    }
    static const char *const allowed[] = {"path", "mode", "append", "parents", "recursive", NULL};
    struct policy_file_query q;
    struct al_err err;
    if (policy_file_query_decode(keys, values, n, allowed, &q, &err) >= 0 &&
        policy_file_query_validate(&q, &err) >= 0) {
        char enc[8192];
        (void)policy_file_query_encode(&q, enc, sizeof(enc));
    }
    json_t *labels = json_object();
    for (size_t i = 0; i < n; i++) {
        struct policy_label_filter f;
        if (policy_label_filter_parse(values[i], &f, &err) >= 0) {
            json_object_set_new(labels, f.key, json_string(f.value));
            if (!policy_labels_match(labels, &f, 1))
                abort(); /* a filter must match the labels it was built from */
        }
    }
    json_decref(labels);
    free(buf);
    return 0;
}
