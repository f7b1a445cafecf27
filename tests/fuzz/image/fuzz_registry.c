/* libFuzzer target: what a registry's auth dance decodes besides manifests, on the same bytes:
 * the WWW-Authenticate challenge of a 401 and the token service's JSON response.  Checks the
 * promises their callers rely on (a bearer challenge has a realm; a token is non-empty,
 * bounded and safe to put into an Authorization header). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/img_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *tok = NULL;
    struct al_err err = {0};
    if (img_token_parse((const char *)data, size, &tok, &err) == 0) {
        size_t n = strlen(tok);
        if (n == 0 || n > IMG_MAX_TOKEN)
            abort();
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)tok[i] <= 0x20 || tok[i] == 0x7f)
                abort();
        free(tok);
    } else if (tok || err.kind != AL_ERR_INVALID || !err.msg[0]) {
        abort();
    }

    char *s = strndup((const char *)data, size); /* the parsers take C strings */
    if (!s)
        return 0;
    struct img_challenge c;
    if (img_challenge_parse(s, &c) == 0) {
        if (!c.scheme[0] || strnlen(c.realm, sizeof(c.realm)) == sizeof(c.realm) ||
            strnlen(c.service, sizeof(c.service)) == sizeof(c.service) ||
            strnlen(c.scope, sizeof(c.scope)) == sizeof(c.scope))
            abort();
        for (const char *p = c.scheme; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                abort();
        if (strcmp(c.scheme, "bearer") == 0 && !c.realm[0])
            abort();
    }
    free(s);
    return 0;
}
