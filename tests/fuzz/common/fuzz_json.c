/* The strict JSON wrapper every API body goes through. */
#include <stdint.h>

#include "common/cleanup.h"
#include "common/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct al_err err;
    json_t *j = al_json_parse((const char *)data, size, 0, &err);
    if (!j)
        return 0;
    static const char *const allowed[] = {"command", "env", "cwd", "timeout", NULL};
    (void)al_json_check_keys(j, allowed, "body", &err);
    char **v = NULL;
    if (al_json_get_strv(j, "command", false, 256, 4096, &v, &err) == 0)
        al_strv_free(v);
    char **e = NULL;
    if (al_json_get_env(j, "env", 256, 8192, &e, &err) == 0)
        al_strv_free(e);
    char *s = al_json_dump(j);
    free(s);
    json_decref(j);
    return 0;
}
