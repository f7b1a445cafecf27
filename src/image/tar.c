/* image: a small, bounded tar reader.
 *
 * Understands ustar (with the 155-byte prefix), GNU long names and long link names ('L', 'K'),
 * GNU base-256 numbers, and pax extended headers ('x': path, linkpath, size, uid, gid, mtime;
 * 'g' global headers are skipped).  Everything else about an entry is whatever the ustar
 * header says.  Sizes of the meta entries are bounded (IMG_MAX_PAX), and so is the number of
 * entries.  The reader never seeks: it works on any img_rd stream (files, decompressors).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "image/img_internal.h"

struct img_tar {
    struct img_rd *rd;
    uint64_t max_entries, n_entries;
    uint64_t remaining; /* data bytes of the current entry not yet read */
    uint64_t pad;       /* padding after the current entry's data */
    struct img_tar_hdr hdr;
    char *name, *linkname; /* effective names of the current entry */
    struct img_pax pax;
    char *gnu_name, *gnu_link;
    bool ended;
};

/* Octal (NUL/space terminated, leading spaces allowed) or GNU base-256. */
static int num_field(const uint8_t *f, size_t len, uint64_t *ret)
{
    if (f[0] & 0x80) {
        if (f[0] != 0x80) /* negative or absurdly large */
            return -EBADMSG;
        uint64_t v = 0;
        for (size_t i = 1; i < len; i++) {
            if (v >> 56)
                return -EBADMSG;
            v = (v << 8) | f[i];
        }
        *ret = v;
        return 0;
    }
    size_t i = 0;
    while (i < len && f[i] == ' ')
        i++;
    uint64_t v = 0;
    bool any = false;
    for (; i < len && f[i] >= '0' && f[i] <= '7'; i++) {
        if (v >> 60)
            return -EBADMSG;
        v = v * 8 + (uint64_t)(f[i] - '0');
        any = true;
    }
    for (; i < len; i++)
        if (f[i] != ' ' && f[i] != '\0')
            return -EBADMSG;
    *ret = any ? v : 0;
    return 0;
}

static void copy_field(char *out, const uint8_t *f, size_t len)
{
    size_t n = strnlen((const char *)f, len);
    memcpy(out, f, n);
    out[n] = '\0';
}

int img_tar_header_parse(const uint8_t blk[512], struct img_tar_hdr *ret)
{
    bool zero = true;
    for (size_t i = 0; i < 512; i++)
        if (blk[i]) {
            zero = false;
            break;
        }
    if (zero)
        return 0;
    uint64_t want, sum = 0;
    if (num_field(blk + 148, 8, &want) < 0)
        return -EBADMSG;
    for (size_t i = 0; i < 512; i++)
        sum += (i >= 148 && i < 156) ? ' ' : blk[i];
    if (sum != want) {
        /* some old writers summed signed chars */
        int64_t ssum = 0;
        for (size_t i = 0; i < 512; i++)
            ssum += (i >= 148 && i < 156) ? ' ' : (signed char)blk[i];
        if (ssum != (int64_t)want)
            return -EBADMSG;
    }
    struct img_tar_hdr h = {0};
    uint64_t v;
    if (num_field(blk + 100, 8, &v) < 0)
        return -EBADMSG;
    h.mode = (uint32_t)(v & 07777);
    if (num_field(blk + 108, 8, &h.uid) < 0 || num_field(blk + 116, 8, &h.gid) < 0 ||
        num_field(blk + 124, 12, &h.size) < 0)
        return -EBADMSG;
    if (blk[136] == 0xff) /* a negative base-256 mtime (before 1970): clamp */
        v = 0;
    else if (num_field(blk + 136, 12, &v) < 0)
        return -EBADMSG;
    h.mtime = (int64_t)(v > INT64_MAX ? INT64_MAX : v);
    h.typeflag = (char)blk[156];
    copy_field(h.linkname, blk + 157, 100);
    char name[101], prefix[156];
    copy_field(name, blk, 100);
    prefix[0] = '\0';
    if (memcmp(blk + 257, "ustar", 5) == 0 && memcmp(blk + 257, "ustar  ", 8) != 0)
        copy_field(prefix, blk + 345, 155); /* POSIX ustar; the old GNU format has no prefix */
    if (prefix[0])
        snprintf(h.name, sizeof(h.name), "%s/%s", prefix, name);
    else
        memcpy(h.name, name, strlen(name) + 1);
    *ret = h;
    return 1;
}

void img_pax_clear(struct img_pax *p)
{
    free(p->path);
    free(p->linkpath);
    memset(p, 0, sizeof(*p));
}

static int pax_num(const char *v, size_t len, uint64_t *ret)
{
    /* integer seconds, optionally with a fraction (mtime) */
    uint64_t x = 0;
    size_t i = 0;
    if (len == 0)
        return -EBADMSG;
    for (; i < len && v[i] >= '0' && v[i] <= '9'; i++) {
        if (x > (UINT64_MAX - 9) / 10)
            return -EBADMSG;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    if (i == 0)
        return -EBADMSG;
    if (i < len && v[i] == '.')
        for (i++; i < len && v[i] >= '0' && v[i] <= '9'; i++)
            ;
    if (i != len)
        return -EBADMSG;
    *ret = x;
    return 0;
}

/* Records "<len> <key>=<value>\n", len counting the whole record. */
int img_pax_parse(const char *buf, size_t len, struct img_pax *ret, struct al_err *err)
{
    struct img_pax p = {0};
    size_t off = 0;
    int rc = 0;
    while (off < len) {
        size_t reclen = 0, i = off;
        while (i < len && buf[i] >= '0' && buf[i] <= '9' && i - off < 10)
            reclen = reclen * 10 + (size_t)(buf[i++] - '0');
        if (i >= len || buf[i] != ' ' || i == off || reclen > len - off || reclen < i - off + 3 ||
            buf[off + reclen - 1] != '\n') {
            rc = al_err_set(err, AL_ERR_INVALID, EBADMSG, "malformed pax record");
            goto fail;
        }
        const char *kv = buf + i + 1, *end = buf + off + reclen - 1;
        const char *eq = memchr(kv, '=', (size_t)(end - kv));
        if (!eq) {
            rc = al_err_set(err, AL_ERR_INVALID, EBADMSG, "pax record without '='");
            goto fail;
        }
        size_t klen = (size_t)(eq - kv), vlen = (size_t)(end - eq - 1);
        const char *v = eq + 1;
        uint64_t x;
        char **dst = NULL;
        if (klen == 4 && memcmp(kv, "path", 4) == 0)
            dst = &p.path;
        else if (klen == 8 && memcmp(kv, "linkpath", 8) == 0)
            dst = &p.linkpath;
        if (dst) {
            if (vlen == 0 || vlen > IMG_MAX_NAME || memchr(v, '\0', vlen)) {
                rc = al_err_set(err, AL_ERR_INVALID, EBADMSG, "bad pax path value");
                goto fail;
            }
            free(*dst);
            *dst = strndup(v, vlen);
            if (!*dst) {
                rc = al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
                goto fail;
            }
        } else if ((klen == 4 && memcmp(kv, "size", 4) == 0) ||
                   (klen == 3 && memcmp(kv, "uid", 3) == 0) ||
                   (klen == 3 && memcmp(kv, "gid", 3) == 0) ||
                   (klen == 5 && memcmp(kv, "mtime", 5) == 0)) {
            if (pax_num(v, vlen, &x) < 0) {
                rc = al_err_set(err, AL_ERR_INVALID, EBADMSG, "bad pax number for %.*s", (int)klen,
                                kv);
                goto fail;
            }
            if (kv[0] == 's') {
                p.size = x;
                p.has_size = true;
            } else if (kv[0] == 'u') {
                p.uid = x;
                p.has_uid = true;
            } else if (kv[0] == 'g') {
                p.gid = x;
                p.has_gid = true;
            } else {
                p.mtime = x > INT64_MAX ? INT64_MAX : (int64_t)x;
                p.has_mtime = true;
            }
        } /* other keys (xattrs, atime, ...) are ignored on purpose */
        off += reclen;
    }
    *ret = p;
    return 0;
fail:
    img_pax_clear(&p);
    return rc;
}

static void pax_merge(struct img_pax *into, struct img_pax *from)
{
    if (from->path) {
        free(into->path);
        into->path = TAKE_PTR(from->path);
    }
    if (from->linkpath) {
        free(into->linkpath);
        into->linkpath = TAKE_PTR(from->linkpath);
    }
    if (from->has_size)
        into->has_size = true, into->size = from->size;
    if (from->has_uid)
        into->has_uid = true, into->uid = from->uid;
    if (from->has_gid)
        into->has_gid = true, into->gid = from->gid;
    if (from->has_mtime)
        into->has_mtime = true, into->mtime = from->mtime;
    img_pax_clear(from);
}

int img_tar_new(struct img_rd *rd, uint64_t max_entries, struct img_tar **ret)
{
    struct img_tar *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->rd = rd;
    t->max_entries = max_entries ? max_entries : IMG_MAX_ENTRIES;
    *ret = t;
    return 0;
}

void img_tar_free(struct img_tar *t)
{
    if (!t)
        return;
    free(t->name);
    free(t->linkname);
    free(t->gnu_name);
    free(t->gnu_link);
    img_pax_clear(&t->pax);
    free(t);
}

static int skip(struct img_tar *t, uint64_t n)
{
    uint8_t buf[8192];
    while (n > 0) {
        size_t chunk = n > sizeof(buf) ? sizeof(buf) : (size_t)n;
        ssize_t r = img_rd_full(t->rd, buf, chunk);
        if (r < 0)
            return (int)r;
        if ((size_t)r != chunk)
            return -EBADMSG;
        n -= chunk;
    }
    return 0;
}

static int read_meta(struct img_tar *t, uint64_t size, char **ret, struct al_err *err)
{
    if (size > IMG_MAX_PAX)
        return al_err_set(err, AL_ERR_LIMIT, EFBIG, "tar meta header of %llu bytes too large",
                          (unsigned long long)size);
    cleanup_free char *buf = malloc(size + 1);
    if (!buf)
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    ssize_t r = img_rd_full(t->rd, buf, size);
    if (r < 0)
        return al_err_sys(err, AL_ERR_INVALID, (int)-r, "reading tar");
    if ((uint64_t)r != size)
        return al_err_set(err, AL_ERR_INVALID, EBADMSG, "truncated tar");
    buf[size] = '\0';
    int rc = skip(t, (512 - size % 512) % 512);
    if (rc < 0)
        return al_err_sys(err, AL_ERR_INVALID, -rc, "reading tar");
    *ret = TAKE_PTR(buf);
    return 0;
}

static char *take_name(char **a, const char *fallback)
{
    return *a ? TAKE_PTR(*a) : strdup(fallback);
}

int img_tar_next(struct img_tar *t, struct img_tar_entry *ret, struct al_err *err)
{
    if (t->ended)
        return 0;
    int rc = skip(t, t->remaining + t->pad);
    if (rc < 0)
        return al_err_sys(err, AL_ERR_INVALID, -rc, "reading tar");
    t->remaining = t->pad = 0;
    img_pax_clear(&t->pax);
    free(t->gnu_name);
    free(t->gnu_link);
    t->gnu_name = t->gnu_link = NULL;
    for (unsigned meta = 0;; meta++) {
        if (meta > 16)
            return al_err_set(err, AL_ERR_INVALID, EBADMSG, "too many tar meta headers");
        uint8_t blk[512];
        ssize_t r = img_rd_full(t->rd, blk, sizeof(blk));
        if (r < 0)
            return al_err_sys(err, AL_ERR_INVALID, (int)-r, "reading tar");
        if (r == 0 && meta == 0) { /* end without the zero blocks: accepted, like GNU tar */
            t->ended = true;
            return 0;
        }
        if (r != (ssize_t)sizeof(blk))
            return al_err_set(err, AL_ERR_INVALID, EBADMSG, "truncated tar header");
        rc = img_tar_header_parse(blk, &t->hdr);
        if (rc < 0)
            return al_err_set(err, AL_ERR_INVALID, EBADMSG, "bad tar header checksum or field");
        if (rc == 0) {
            if (meta > 0)
                return al_err_set(err, AL_ERR_INVALID, EBADMSG, "tar ends after a meta header");
            t->ended = true;
            return 0;
        }
        if (++t->n_entries > t->max_entries)
            return al_err_set(err, AL_ERR_LIMIT, E2BIG, "more than %llu tar entries",
                              (unsigned long long)t->max_entries);
        char ty = t->hdr.typeflag;
        if (ty == 'x' || ty == 'g' || ty == 'L' || ty == 'K') {
            cleanup_free char *buf = NULL;
            rc = read_meta(t, t->hdr.size, &buf, err);
            if (rc < 0)
                return rc;
            if (ty == 'x') { /* consecutive pax headers merge, later keys win */
                struct img_pax np;
                rc = img_pax_parse(buf, t->hdr.size, &np, err);
                if (rc < 0)
                    return rc;
                pax_merge(&t->pax, &np);
            } else if (ty == 'L' || ty == 'K') {
                size_t n = strnlen(buf, t->hdr.size);
                if (n == 0 || n > IMG_MAX_NAME)
                    return al_err_set(err, AL_ERR_INVALID, EBADMSG, "bad GNU long name");
                char **dst = ty == 'L' ? &t->gnu_name : &t->gnu_link;
                free(*dst);
                *dst = TAKE_PTR(buf);
            }
            continue;
        }
        break;
    }
    struct img_tar_hdr *h = &t->hdr;
    free(t->name);
    free(t->linkname);
    t->name = t->pax.path ? TAKE_PTR(t->pax.path) : take_name(&t->gnu_name, h->name);
    t->linkname =
        t->pax.linkpath ? TAKE_PTR(t->pax.linkpath) : take_name(&t->gnu_link, h->linkname);
    if (!t->name || !t->linkname)
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    uint64_t size = t->pax.has_size ? t->pax.size : h->size;
    char ty = h->typeflag;
    if (ty == '\0' || ty == '7')
        ty = IMG_TAR_FILE;
    /* only regular files carry data; GNU tar writes size 0 for the others anyway */
    if (ty == IMG_TAR_FILE ||
        (ty != IMG_TAR_HARDLINK && ty != IMG_TAR_SYMLINK && ty != IMG_TAR_DIR &&
         ty != IMG_TAR_CHAR && ty != IMG_TAR_BLOCK && ty != IMG_TAR_FIFO))
        t->remaining = size;
    else
        t->remaining = 0;
    if (t->remaining > (UINT64_MAX >> 2))
        return al_err_set(err, AL_ERR_INVALID, EBADMSG, "tar entry size out of range");
    t->pad = (512 - t->remaining % 512) % 512;
    *ret = (struct img_tar_entry){
        .name = t->name,
        .linkname = t->linkname,
        .type = ty,
        .mode = h->mode,
        .uid = t->pax.has_uid ? t->pax.uid : h->uid,
        .gid = t->pax.has_gid ? t->pax.gid : h->gid,
        .size = t->remaining,
        .mtime = t->pax.has_mtime ? t->pax.mtime : h->mtime,
    };
    return 1;
}

ssize_t img_tar_read(struct img_tar *t, void *buf, size_t len)
{
    if (t->remaining == 0)
        return 0;
    if (len > t->remaining)
        len = (size_t)t->remaining;
    ssize_t r = t->rd->read(t->rd->ctx, buf, len);
    if (r < 0)
        return r;
    if (r == 0)
        return -EBADMSG; /* truncated */
    t->remaining -= (uint64_t)r;
    return r;
}
