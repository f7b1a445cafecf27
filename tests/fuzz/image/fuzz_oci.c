/* libFuzzer target: OCI / Docker manifest, index and image config decoders. */
#include <stddef.h>
#include <stdint.h>

#include "image/img_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct al_err err = {0};
    enum img_mt kind;
    (void)img_doc_kind(s, size, NULL, &kind, &err);
    struct img_manifest m;
    if (img_manifest_decode(s, size, &m, &err) == 0)
        img_manifest_clear(&m);
    struct img_index ix;
    if (img_index_decode(s, size, &ix, &err) == 0) {
        const struct img_desc *d;
        (void)img_index_pick(&ix, NULL, &d, &err);
        (void)img_index_pick(&ix, "latest", &d, &err);
        img_index_clear(&ix);
    }
    struct img_config c;
    if (img_config_decode(s, size, &c, &err) == 0)
        img_config_clear(&c);
    return 0;
}
