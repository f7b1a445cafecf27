/* libFuzzer target: image reference and WWW-Authenticate challenge parsers. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/img_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = strndup((const char *)data, size); /* the parsers take C strings */
    if (!s)
        return 0;
    struct img_ref r;
    struct al_err err = {0};
    (void)img_ref_parse(s, &r, &err);
    struct img_challenge c;
    (void)img_challenge_parse(s, &c);
    free(s);
    return 0;
}
