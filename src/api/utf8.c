/* UTF-8 repair for sandbox output placed in JSON: every invalid sequence (its maximal
 * subpart, as in Unicode 15 §3.9 / WHATWG) becomes U+FFFD. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"

/* Length of the valid sequence at s[0..n), 0 if invalid; *ret_sub = bytes of the maximal
 * invalid subpart (>= 1) when invalid, or of the truncated valid prefix. */
static size_t seq_len(const unsigned char *s, size_t n, size_t *ret_sub)
{
    unsigned char c = s[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80) {
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        *ret_sub = 1;
        return 0;
    }
    size_t i = 1;
    for (; i < need && i < n; i++) {
        unsigned char b = s[i];
        if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF))
            break;
    }
    if (i == need)
        return need;
    *ret_sub = i;
    return 0;
}

char *api_utf8_sanitize(const char *in, size_t len, size_t *ret_len)
{
    /* worst case: every byte becomes 3 bytes of U+FFFD */
    if (len > (SIZE_MAX - 1) / 3)
        return NULL;
    char *out = malloc(len * 3 + 1);
    if (!out)
        return NULL;
    const unsigned char *s = (const unsigned char *)in;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t sub = 0, n = seq_len(s + i, len - i, &sub);
        if (n) {
            memcpy(out + o, s + i, n);
            o += n;
            i += n;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i += sub;
        }
    }
    out[o] = '\0';
    if (ret_len)
        *ret_len = o;
    return out;
}

size_t api_utf8_complete_prefix(const char *buf, size_t len)
{
    const unsigned char *s = (const unsigned char *)buf;
    /* look back at most 3 bytes for a lead byte whose sequence is cut short */
    for (size_t back = 1; back <= 3 && back <= len; back++) {
        unsigned char c = s[len - back];
        if (c >= 0x80 && c <= 0xBF)
            continue; /* continuation: keep looking for its lead */
        if (c == 0xC0 || c == 0xC1 || c > 0xF4)
            return len;
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        if (need <= back)
            return len;
        size_t sub = 0;
        if (seq_len(s + len - back, back, &sub) == 0 && sub == back)
            return len - back; /* a valid prefix of a sequence: wait for the rest */
        return len;
    }
    return len;
}
