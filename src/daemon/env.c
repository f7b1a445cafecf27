/* Environment layering for exec: image env (in the runtime), then group, sandbox and request
 * env, each later "K=V" replacing an earlier one of the same name. */
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "daemon/env.h"

char **dm_env_merge(char *const *base, char *const *over)
{
    size_t n = 0;
    for (char *const *e = base; e && *e; e++)
        n++;
    for (char *const *e = over; e && *e; e++)
        n++;
    char **out = calloc(n + 1, sizeof(char *));
    if (!out)
        return NULL;
    size_t k = 0;
    char *const *lists[2] = {base, over};
    for (int l = 0; l < 2; l++)
        for (char *const *e = lists[l]; e && *e; e++) {
            const char *eq = strchr(*e, '=');
            size_t klen = eq ? (size_t)(eq - *e) : strlen(*e);
            size_t i = 0;
            for (; i < k; i++)
                if (strncmp(out[i], *e, klen) == 0 && out[i][klen] == '=')
                    break;
            char *dup = strdup(*e);
            if (!dup) {
                al_strv_free(out);
                return NULL;
            }
            if (i < k) {
                free(out[i]);
                out[i] = dup;
            } else {
                out[k++] = dup;
            }
        }
    return out;
}
