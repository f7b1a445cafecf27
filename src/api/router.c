/* Route table matching: "/v1/sandboxgroups/{group}/sandboxes/{id}" against a path, segment
 * by segment.  A parameter matches one non-empty segment; a last "{name...}" matches the
 * rest of the path (one or more segments). */
#include <string.h>

#include "api/api.h"

bool api_pattern_match(const char *pattern, const char *path, struct api_match *m)
{
    size_t plen = strlen(path);
    if (plen >= sizeof(m->buf) || path[0] != '/' || pattern[0] != '/')
        return false;
    memcpy(m->buf, path, plen + 1);
    m->n_params = 0;
    const char *p = pattern + 1;
    char *s = m->buf + 1;
    for (;;) {
        const char *pend = strchrnul(p, '/');
        char *send = strchrnul(s, '/');
        size_t pn = (size_t)(pend - p), sn = (size_t)(send - s);
        if (pn >= 2 && p[0] == '{' && p[pn - 1] == '}') {
            bool rest = pn > 5 && memcmp(p + pn - 4, "...}", 4) == 0;
            if (m->n_params == API_MAX_PARAMS)
                return false;
            if (rest) {
                if (*pend != '\0' || *s == '\0')
                    return false;
                m->params[m->n_params++] = s;
                return true;
            }
            if (sn == 0)
                return false;
            m->params[m->n_params++] = s;
        } else if (pn != sn || memcmp(p, s, pn) != 0) {
            return false;
        }
        if (*pend == '\0' || *send == '\0')
            return *pend == '\0' && *send == '\0';
        *send = '\0';
        p = pend + 1;
        s = send + 1;
    }
}

int api_route_find(const struct api_route *routes, size_t n, const char *method, const char *path,
                   struct api_match *m, const struct api_route **ret)
{
    bool path_seen = false;
    for (size_t i = 0; i < n; i++) {
        if (!api_pattern_match(routes[i].pattern, path, m))
            continue;
        if (strcmp(routes[i].method, method) == 0) {
            *ret = &routes[i];
            return 0;
        }
        path_seen = true;
    }
    return path_seen ? -EOPNOTSUPP : -ENOENT;
}
