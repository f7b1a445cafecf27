/* image: byte streams (fd, memory) and bounded gzip / zstd decompression. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "common/cleanup.h"
#include "image/img_internal.h"

#define DECOMP_IN 65536

ssize_t img_rd_full(struct img_rd *rd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = rd->read(rd->ctx, (uint8_t *)buf + got, len - got);
        if (n < 0)
            return n;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

static ssize_t fd_read(void *ctx, void *buf, size_t len)
{
    struct img_fd_rd *f = ctx;
    for (;;) {
        ssize_t n = read(f->fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        f->done += (uint64_t)n;
        if (f->max && f->done > f->max)
            return -EFBIG;
        return n;
    }
}

void img_fd_rd_init(struct img_fd_rd *f, int fd, uint64_t max, struct img_rd *ret)
{
    f->fd = fd;
    f->max = max;
    f->done = 0;
    ret->read = fd_read;
    ret->ctx = f;
}

static ssize_t mem_read(void *ctx, void *buf, size_t len)
{
    struct img_mem_rd *m = ctx;
    size_t n = m->len - m->off < len ? m->len - m->off : len;
    memcpy(buf, m->buf + m->off, n);
    m->off += n;
    return (ssize_t)n;
}

void img_mem_rd_init(struct img_mem_rd *m, const void *buf, size_t len, struct img_rd *ret)
{
    m->buf = buf;
    m->len = len;
    m->off = 0;
    ret->read = mem_read;
    ret->ctx = m;
}

enum img_comp img_comp_sniff(const uint8_t *buf, size_t len)
{
    if (len >= 2 && buf[0] == 0x1f && buf[1] == 0x8b)
        return IMG_COMP_GZIP;
    if (len >= 4 && buf[0] == 0x28 && buf[1] == 0xb5 && buf[2] == 0x2f && buf[3] == 0xfd)
        return IMG_COMP_ZSTD;
    return IMG_COMP_NONE;
}

struct img_decomp {
    struct img_rd *src;
    enum img_comp comp;
    uint64_t max, out;
    bool src_eof, done;
    uint8_t in[DECOMP_IN];
    size_t in_len, in_off;
    z_stream z;
    bool z_init;
    ZSTD_DStream *zs;
};

static int refill(struct img_decomp *d)
{
    if (d->in_off < d->in_len || d->src_eof)
        return 0;
    ssize_t n = d->src->read(d->src->ctx, d->in, sizeof(d->in));
    if (n < 0)
        return (int)n;
    d->in_len = (size_t)n;
    d->in_off = 0;
    if (n == 0)
        d->src_eof = true;
    return 0;
}

static ssize_t gz_read(struct img_decomp *d, void *buf, size_t len)
{
    for (;;) {
        if (d->done)
            return 0;
        int rc = refill(d);
        if (rc < 0)
            return rc;
        if (d->in_off == d->in_len && d->src_eof)
            return -EBADMSG; /* truncated stream */
        d->z.next_in = d->in + d->in_off;
        d->z.avail_in = (uInt)(d->in_len - d->in_off);
        d->z.next_out = buf;
        d->z.avail_out = (uInt)(len > (1u << 30) ? (1u << 30) : len);
        uInt before = d->z.avail_out;
        int zr = inflate(&d->z, Z_NO_FLUSH);
        d->in_off = d->in_len - d->z.avail_in;
        size_t produced = before - d->z.avail_out;
        if (zr == Z_STREAM_END) {
            /* concatenated gzip members: continue if more input follows */
            rc = refill(d);
            if (rc < 0)
                return rc;
            if (d->in_off == d->in_len && d->src_eof)
                d->done = true;
            else if (inflateReset(&d->z) != Z_OK)
                return -EBADMSG;
        } else if (zr != Z_OK && zr != Z_BUF_ERROR) {
            return -EBADMSG;
        }
        if (produced > 0)
            return (ssize_t)produced;
    }
}

static ssize_t zst_read(struct img_decomp *d, void *buf, size_t len)
{
    for (;;) {
        int rc = refill(d);
        if (rc < 0)
            return rc;
        if (d->in_off == d->in_len && d->src_eof)
            return d->done ? 0 : -EBADMSG;
        ZSTD_inBuffer in = {d->in, d->in_len, d->in_off};
        ZSTD_outBuffer out = {buf, len, 0};
        size_t zr = ZSTD_decompressStream(d->zs, &out, &in);
        d->in_off = in.pos;
        if (ZSTD_isError(zr))
            return -EBADMSG;
        d->done = zr == 0; /* a frame ended; more frames may follow */
        if (out.pos > 0)
            return (ssize_t)out.pos;
    }
}

static ssize_t decomp_read(void *ctx, void *buf, size_t len)
{
    struct img_decomp *d = ctx;
    ssize_t n = d->comp == IMG_COMP_GZIP ? gz_read(d, buf, len) : zst_read(d, buf, len);
    if (n > 0) {
        d->out += (uint64_t)n;
        if (d->max && d->out > d->max)
            return -EFBIG;
    }
    return n;
}

int img_decomp_new(struct img_rd *src, enum img_comp comp, uint64_t max, struct img_decomp **ret,
                   struct img_rd *ret_rd)
{
    if (comp == IMG_COMP_NONE) {
        *ret = NULL;
        *ret_rd = *src;
        return 0;
    }
    struct img_decomp *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->src = src;
    d->comp = comp;
    d->max = max;
    if (comp == IMG_COMP_GZIP) {
        if (inflateInit2(&d->z, 16 + MAX_WBITS) != Z_OK) {
            free(d);
            return -ENOMEM;
        }
        d->z_init = true;
    } else {
        d->zs = ZSTD_createDStream();
        if (!d->zs) {
            free(d);
            return -ENOMEM;
        }
        /* bound the window a hostile frame may ask for (128 MiB) */
        ZSTD_DCtx_setParameter(d->zs, ZSTD_d_windowLogMax, 27);
    }
    *ret = d;
    ret_rd->read = decomp_read;
    ret_rd->ctx = d;
    return 0;
}

void img_decomp_free(struct img_decomp *d)
{
    if (!d)
        return;
    if (d->z_init)
        inflateEnd(&d->z);
    if (d->zs)
        ZSTD_freeDStream(d->zs);
    free(d);
}
