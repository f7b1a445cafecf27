/* libFuzzer target: decompression (gzip / zstd sniffed from the input) + tar reading, as a
 * layer blob goes through them (without touching the filesystem). */
#include <stddef.h>
#include <stdint.h>

#include "image/img_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct img_mem_rd m;
    struct img_rd raw, plain;
    img_mem_rd_init(&m, data, size, &raw);
    struct img_decomp *d = NULL;
    if (img_decomp_new(&raw, img_comp_sniff(data, size), 64u << 20, &d, &plain) < 0)
        return 0;
    struct img_tar *t;
    if (img_tar_new(&plain, 10000, &t) == 0) {
        struct img_tar_entry e;
        struct al_err err = {0};
        uint8_t buf[4096];
        while (img_tar_next(t, &e, &err) == 1)
            while (img_tar_read(t, buf, sizeof(buf)) > 0)
                ;
        img_tar_free(t);
    }
    img_decomp_free(d);
    return 0;
}
