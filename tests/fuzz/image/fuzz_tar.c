/* libFuzzer target: the tar reader (headers, pax, GNU long names) over arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>

#include "image/img_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct img_mem_rd m;
    struct img_rd rd;
    img_mem_rd_init(&m, data, size, &rd);
    struct img_tar *t;
    if (img_tar_new(&rd, 10000, &t) < 0)
        return 0;
    struct img_tar_entry e;
    struct al_err err = {0};
    uint8_t buf[4096];
    while (img_tar_next(t, &e, &err) == 1) {
        while (img_tar_read(t, buf, sizeof(buf)) > 0)
            ;
    }
    img_tar_free(t);
    struct img_pax p;
    if (img_pax_parse((const char *)data, size, &p, &err) == 0)
        img_pax_clear(&p);
    if (size >= 512) {
        struct img_tar_hdr h;
        (void)img_tar_header_parse(data, &h);
    }
    return 0;
}
