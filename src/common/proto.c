#include "common/proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}
static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

/* layout: len u32 | json_len u32 | id u32 | type u16 | flags u16 */
int al_frame_header_encode(uint8_t out[AL_PROTO_HDR_LEN], uint16_t type, uint16_t flags,
                           uint32_t id, uint32_t json_len, uint32_t data_len)
{
    if (json_len > AL_PROTO_MAX_JSON || data_len > AL_PROTO_MAX_PAYLOAD ||
        (uint64_t)json_len + data_len > AL_PROTO_MAX_PAYLOAD)
        return -EMSGSIZE;
    put32(out, json_len + data_len);
    put32(out + 4, json_len);
    put32(out + 8, id);
    put16(out + 12, type);
    put16(out + 14, flags);
    return 0;
}

int al_frame_header_decode(const uint8_t in[AL_PROTO_HDR_LEN], struct al_frame *ret,
                           uint32_t *ret_len)
{
    uint32_t len = get32(in), json_len = get32(in + 4);
    uint16_t type = get16(in + 12), flags = get16(in + 14);
    if (len > AL_PROTO_MAX_PAYLOAD)
        return -EMSGSIZE;
    if (json_len > len || json_len > AL_PROTO_MAX_JSON)
        return -EBADMSG;
    if (type == 0 || type > AL_MSG_TYPE_MAX || (flags & ~AL_FRAME_FLAGS_ALL))
        return -EBADMSG;
    memset(ret, 0, sizeof(*ret));
    ret->type = type;
    ret->flags = flags;
    ret->id = get32(in + 8);
    ret->json_len = json_len;
    ret->data_len = len - json_len;
    *ret_len = len;
    return 0;
}

int al_frame_parse(const uint8_t *buf, size_t len, struct al_frame *ret)
{
    if (len < AL_PROTO_HDR_LEN)
        return 0;
    uint32_t plen;
    int rc = al_frame_header_decode(buf, ret, &plen);
    if (rc < 0)
        return rc;
    if (len - AL_PROTO_HDR_LEN < plen)
        return 0;
    ret->json = (const char *)buf + AL_PROTO_HDR_LEN;
    ret->data = buf + AL_PROTO_HDR_LEN + ret->json_len;
    return (int)(AL_PROTO_HDR_LEN + plen);
}

int al_frame_send(int fd, uint16_t type, uint16_t flags, uint32_t id, const char *json,
                  size_t json_len, const void *data, size_t data_len)
{
    uint8_t hdr[AL_PROTO_HDR_LEN];
    if (json_len > UINT32_MAX || data_len > UINT32_MAX)
        return -EMSGSIZE;
    int rc = al_frame_header_encode(hdr, type, flags, id, (uint32_t)json_len, (uint32_t)data_len);
    if (rc < 0)
        return rc;
    struct iovec iov[3] = {{hdr, sizeof(hdr)}, {(void *)json, json_len}, {(void *)data, data_len}};
    int n = 3, i = 0;
    while (i < n) {
        if (iov[i].iov_len == 0) {
            i++;
            continue;
        }
        ssize_t w = writev(fd, iov + i, n - i);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                /* the caller gave us a non-blocking fd; wait for room */
                struct timespec ts = {0, 200000};
                nanosleep(&ts, NULL);
                continue;
            }
            return -errno;
        }
        size_t left = (size_t)w;
        while (i < n && left >= iov[i].iov_len) {
            left -= iov[i].iov_len;
            i++;
        }
        if (i < n) {
            iov[i].iov_base = (char *)iov[i].iov_base + left;
            iov[i].iov_len -= left;
        }
    }
    return 0;
}

void al_frame_reader_init(struct al_frame_reader *r)
{
    memset(r, 0, sizeof(*r));
}

void al_frame_reader_free(struct al_frame_reader *r)
{
    free(r->buf);
    memset(r, 0, sizeof(*r));
}

int al_frame_read(struct al_frame_reader *r, int fd, bool block, struct al_frame *ret)
{
    if (r->consumed) {
        memmove(r->buf, r->buf + r->consumed, r->len - r->consumed);
        r->len -= r->consumed;
        r->consumed = 0;
    }
    for (;;) {
        int rc = al_frame_parse(r->buf, r->len, ret);
        if (rc < 0)
            return rc;
        if (rc > 0) {
            r->consumed = (size_t)rc;
            return 1;
        }
        size_t want = r->len < AL_PROTO_HDR_LEN ? AL_PROTO_HDR_LEN : 0;
        if (!want) {
            struct al_frame h;
            uint32_t plen;
            (void)al_frame_header_decode(r->buf, &h, &plen);
            want = AL_PROTO_HDR_LEN + plen;
        }
        if (r->cap < want) {
            size_t nc = r->cap ? r->cap : 65536;
            while (nc < want)
                nc *= 2;
            uint8_t *nb = realloc(r->buf, nc);
            if (!nb)
                return -ENOMEM;
            r->buf = nb;
            r->cap = nc;
        }
        ssize_t n = read(fd, r->buf + r->len, r->cap - r->len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN && !block)
                return 0;
            return -errno;
        }
        if (n == 0)
            return -EPIPE;
        r->len += (size_t)n;
    }
}

const char *al_msg_type_name(uint16_t type)
{
    static const char *const names[] = {
        "?",      "HELLO", "EXEC", "STDIN",     "RESIZE", "SIGNAL", "STARTED", "STDOUT",
        "STDERR", "EXIT",  "FILE", "FILE_DATA", "RESULT", "PING",   "PONG",    "ERROR"};
    return type <= AL_MSG_TYPE_MAX ? names[type] : "?";
}
