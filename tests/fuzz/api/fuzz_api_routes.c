/* Raw request paths against the route patterns, and sandbox output through the UTF-8
 * sanitizer (its result must be valid UTF-8 that jansson accepts). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *path = strndup((const char *)data, size); /* the parsers take C strings */
    if (!path)
        return 0;
    static const char *const patterns[] = {
        "/v1/sandboxgroups/{group}",
        "/v1/sandboxgroups/{group}/sandboxes/{id}/exec",
        "/v1/sandboxgroups/{group}/sandboxes/{id}/files/list",
        "/v1/images/{name}",
        "/v1/keys/{id}",
    };
    for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
        struct api_match m;
        memset(&m, 0, sizeof(m));
        (void)api_pattern_match(patterns[i], path, &m);
    }
    size_t out_len = 0;
    char *clean = api_utf8_sanitize((const char *)data, size, &out_len);
    if (clean) {
        json_t *s = json_stringn(clean, out_len);
        if (!s)
            abort(); /* the sanitizer let invalid UTF-8 through */
        json_decref(s);
        free(clean);
    }
    (void)api_utf8_complete_prefix((const char *)data, size);
    free(path);
    return 0;
}
