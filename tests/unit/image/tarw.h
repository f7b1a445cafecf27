/* A tiny tar writer for crafting hostile archives in tests. */
#pragma once
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tarw {
    uint8_t *buf;
    size_t len, cap;
};

static inline void tarw_raw(struct tarw *t, const void *p, size_t n)
{
    if (t->len + n > t->cap) {
        t->cap = (t->len + n) * 2 + 4096;
        t->buf = realloc(t->buf, t->cap);
    }
    memcpy(t->buf + t->len, p, n);
    t->len += n;
}

static inline void tarw_pad(struct tarw *t)
{
    static const uint8_t zero[512];
    if (t->len % 512)
        tarw_raw(t, zero, 512 - t->len % 512);
}

/* one ustar header (+ data); name must fit 100 bytes */
static inline void tarw_hdr(struct tarw *t, const char *name, char type, unsigned mode,
                            const char *link, const void *data, size_t len, unsigned uid,
                            unsigned gid)
{
    uint8_t h[512] = {0};
    snprintf((char *)h, 100, "%s", name);
    snprintf((char *)h + 100, 8, "%07o", mode);
    snprintf((char *)h + 108, 8, "%07o", uid);
    snprintf((char *)h + 116, 8, "%07o", gid);
    snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)len & 077777777777ull);
    snprintf((char *)h + 136, 12, "%011o", 1700000000u);
    h[156] = (uint8_t)type;
    if (link)
        snprintf((char *)h + 157, 100, "%s", link);
    memcpy(h + 257,
           "ustar\0"
           "00",
           8);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    h[155] = ' ';
    tarw_raw(t, h, 512);
    if (data && len) {
        tarw_raw(t, data, len);
        tarw_pad(t);
    }
}

static inline void tarw_file(struct tarw *t, const char *name, unsigned mode, const char *data)
{
    tarw_hdr(t, name, '0', mode, NULL, data, strlen(data), 0, 0);
}

/* pax 'x' header with one record key=value */
static inline void tarw_pax(struct tarw *t, const char *key, const char *val)
{
    char rec[8192];
    size_t base = strlen(key) + strlen(val) + 3, n = base + 1;
    for (;;) {
        size_t digits = (size_t)snprintf(NULL, 0, "%zu", n);
        if (base + digits == n)
            break;
        n = base + digits;
    }
    snprintf(rec, sizeof(rec), "%zu %s=%s\n", n, key, val);
    tarw_hdr(t, "PaxHeaders/x", 'x', 0644, NULL, rec, strlen(rec), 0, 0);
}

static inline void tarw_gnu_long(struct tarw *t, char type, const char *name)
{
    tarw_hdr(t, "././@LongLink", type, 0644, NULL, name, strlen(name) + 1, 0, 0);
}

static inline void tarw_end(struct tarw *t)
{
    static const uint8_t zero[1024];
    tarw_raw(t, zero, sizeof(zero));
}
