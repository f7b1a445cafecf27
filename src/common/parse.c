#include "common/parse.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int al_parse_u64(const char *s, uint64_t max, uint64_t *ret)
{
    if (!s || !*s || !isdigit((unsigned char)s[0]))
        return -EINVAL;
    if (s[0] == '0' && s[1] != '\0')
        return -EINVAL; /* no octal-looking or padded numbers */
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -EINVAL;
    if (v > max)
        return -ERANGE;
    *ret = v;
    return 0;
}

int al_parse_i64(const char *s, int64_t min, int64_t max, int64_t *ret)
{
    if (!s || !*s)
        return -EINVAL;
    const char *p = s[0] == '-' ? s + 1 : s;
    if (!isdigit((unsigned char)*p) || (p[0] == '0' && p[1] != '\0'))
        return -EINVAL;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return -EINVAL;
    if (v < min || v > max)
        return -ERANGE;
    *ret = v;
    return 0;
}

int al_parse_size(const char *s, uint64_t *ret)
{
    if (!s || !isdigit((unsigned char)s[0]))
        return -EINVAL;
    char num[32];
    size_t n = 0;
    while (isdigit((unsigned char)s[n])) {
        if (n >= sizeof(num) - 1)
            return -ERANGE;
        num[n] = s[n];
        n++;
    }
    num[n] = '\0';
    uint64_t v;
    int rc = al_parse_u64(num, UINT64_MAX, &v);
    if (rc < 0)
        return rc;
    const char *suf = s + n;
    static const struct {
        const char *s;
        uint64_t mul;
    } sufs[] = {{"", 1},
                {"K", 1000ULL},
                {"M", 1000ULL * 1000},
                {"G", 1000ULL * 1000 * 1000},
                {"T", 1000ULL * 1000 * 1000 * 1000},
                {"Ki", 1ULL << 10},
                {"Mi", 1ULL << 20},
                {"Gi", 1ULL << 30},
                {"Ti", 1ULL << 40}};
    for (size_t i = 0; i < sizeof(sufs) / sizeof(sufs[0]); i++) {
        if (strcmp(suf, sufs[i].s) == 0) {
            if (v > UINT64_MAX / sufs[i].mul)
                return -ERANGE;
            *ret = v * sufs[i].mul;
            return 0;
        }
    }
    return -EINVAL;
}

int al_parse_host_port(const char *s, char *host, size_t host_len, uint16_t *ret_port)
{
    const char *colon;
    const char *hs = s, *he;
    if (s[0] == '[') {
        he = strchr(s, ']');
        if (!he || he[1] != ':')
            return -EINVAL;
        hs = s + 1;
        colon = he + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -EINVAL;
        he = colon;
    }
    size_t hl = (size_t)(he - hs);
    if (hl == 0 || hl >= host_len)
        return -EINVAL;
    uint64_t port;
    if (al_parse_u64(colon + 1, 65535, &port) < 0 || port == 0)
        return -EINVAL;
    memcpy(host, hs, hl);
    host[hl] = '\0';
    *ret_port = (uint16_t)port;
    return 0;
}
