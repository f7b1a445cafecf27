/* Agent protocol frames as either side receives them: a stream of frames, each header
 * validated, JSON parts parsed strictly. */
#include <stdint.h>
#include <string.h>

#include "common/json.h"
#include "common/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    while (off < size) {
        struct al_frame f;
        int n = al_frame_parse(data + off, size - off, &f);
        if (n <= 0)
            break;
        if (f.json_len) {
            struct al_err err;
            json_t *j = al_json_parse(f.json, f.json_len, 0, &err);
            if (j) {
                const char *s;
                int64_t v;
                (void)al_json_get_str(j, "op", false, 4096, &s, &err);
                (void)al_json_get_int(j, "exitCode", false, INT32_MIN, INT32_MAX, &v, &err);
                json_decref(j);
            }
        }
        off += (size_t)n;
    }
    return 0;
}
