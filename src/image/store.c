/* image: the content store.
 *
 * Theory of operation.  <dir>/blobs/sha256/<hex> holds every blob (manifests, indexes, configs,
 * compressed layers), written to blobs/sha256/.tmp-<random>, hashed while streaming, and
 * renamed into place only when the digest (and size, when known) match; on a mismatch the
 * temp file is removed.  <dir>/layers/<hex> holds the unpacked tree of the layer blob <hex>
 * (the compressed digest), unpacked into layers/.tmp-<hex>-<random> and renamed with
 * RENAME_NOREPLACE, so a directory under its final name is always complete and two concurrent
 * unpacks of one layer are harmless.  Nothing is per image: images share blobs and layers,
 * and img_gc() keeps what the kept manifests reach.  Temp entries older than an hour are
 * swept by img_gc() (a crash leaves them behind, never under a final name).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/ids.h"
#include "image/img_internal.h"

#define TMP_PREFIX ".tmp-"

int img_store_open(const char *dir, struct img_store **ret, struct al_err *err)
{
    if (!dir || dir[0] != '/')
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "image store dir must be absolute");
    int rc = al_mkdir_p(dir, 0700);
    if (rc < 0)
        return al_err_sys(err, AL_ERR_INTERNAL, -rc, "image store: mkdir %s", dir);
    struct img_store *st = calloc(1, sizeof(*st));
    if (!st)
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    st->dir_fd = st->blobs_fd = st->layers_fd = -1;
    st->dir = strdup(dir);
    if (!st->dir) {
        img_store_free(st);
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    }
    st->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (st->dir_fd < 0) {
        rc = al_err_sys(err, AL_ERR_INTERNAL, errno, "image store: open %s", dir);
        img_store_free(st);
        return rc;
    }
    (void)mkdirat(st->dir_fd, "blobs", 0700);
    (void)mkdirat(st->dir_fd, "blobs/sha256", 0700);
    (void)mkdirat(st->dir_fd, "layers", 0711); /* the runtime's idmapped users traverse it */
    st->blobs_fd =
        openat(st->dir_fd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    st->layers_fd = openat(st->dir_fd, "layers", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (st->layers_fd >= 0)
        (void)fchmod(st->layers_fd, 0711);
    if (st->blobs_fd < 0 || st->layers_fd < 0) {
        rc = al_err_sys(err, AL_ERR_INTERNAL, errno, "image store: open %s/blobs|layers", dir);
        img_store_free(st);
        return rc;
    }
    *ret = st;
    return 0;
}

void img_store_free(struct img_store *st)
{
    if (!st)
        return;
    if (st->dir_fd >= 0)
        close(st->dir_fd);
    if (st->blobs_fd >= 0)
        close(st->blobs_fd);
    if (st->layers_fd >= 0)
        close(st->layers_fd);
    free(st->dir);
    free(st);
}

const char *img_store_dir(const struct img_store *st)
{
    return st->dir;
}

/* ---- blob writer ---- */

struct img_blob_w {
    struct img_store *st;
    int fd;
    char tmp[64];
    EVP_MD_CTX *md;
    uint64_t size, max;
    bool committed;
};

int img_blob_w_new(struct img_store *st, uint64_t max, struct img_blob_w **ret, struct al_err *err)
{
    struct img_blob_w *w = calloc(1, sizeof(*w));
    if (!w)
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    w->st = st;
    w->max = max;
    w->fd = -1;
    char rnd[17];
    if (al_random_hex(rnd, 8) < 0) {
        free(w);
        return al_err_set(err, AL_ERR_INTERNAL, EIO, "getrandom");
    }
    snprintf(w->tmp, sizeof(w->tmp), TMP_PREFIX "%s", rnd);
    w->fd =
        openat(st->blobs_fd, w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    w->md = EVP_MD_CTX_new();
    if (w->fd < 0 || !w->md || !EVP_DigestInit_ex(w->md, EVP_sha256(), NULL)) {
        int rc = al_err_sys(err, AL_ERR_INTERNAL, w->fd < 0 ? errno : ENOMEM,
                            "image store: create blob temp file");
        img_blob_w_free(w);
        return rc;
    }
    *ret = w;
    return 0;
}

int img_blob_w_write(struct img_blob_w *w, const void *buf, size_t len)
{
    if (w->max && (w->size + len > w->max || w->size + len < w->size))
        return -EFBIG;
    if (!EVP_DigestUpdate(w->md, buf, len))
        return -EIO;
    int rc = al_write_all(w->fd, buf, len);
    if (rc < 0)
        return rc;
    w->size += len;
    return 0;
}

uint64_t img_blob_w_size(const struct img_blob_w *w)
{
    return w->size;
}

int img_blob_w_commit(struct img_blob_w *w, const char *expected, int64_t expected_size,
                      char ret_digest[AL_DIGEST_LEN], struct al_err *err)
{
    uint8_t md[32];
    unsigned int mdlen = 0;
    char digest[AL_DIGEST_LEN];
    if (!EVP_DigestFinal_ex(w->md, md, &mdlen) || mdlen != 32)
        return al_err_set(err, AL_ERR_INTERNAL, EIO, "sha256");
    memcpy(digest, "sha256:", 7);
    al_hex_encode(md, 32, digest + 7);
    if (expected_size >= 0 && (uint64_t)expected_size != w->size)
        return al_err_set(err, AL_ERR_INVALID, EBADMSG,
                          "blob %.80s: size %llu does not match the descriptor's %lld",
                          expected ? expected : digest, (unsigned long long)w->size,
                          (long long)expected_size);
    if (expected && strcmp(expected, digest) != 0)
        return al_err_set(err, AL_ERR_INVALID, EBADMSG,
                          "digest mismatch: expected %.80s, content is %.80s", expected, digest);
    if (close(w->fd) < 0) {
        w->fd = -1;
        return al_err_sys(err, AL_ERR_INTERNAL, errno, "image store: write blob");
    }
    w->fd = -1;
    if (renameat(w->st->blobs_fd, w->tmp, w->st->blobs_fd, digest + 7) < 0)
        return al_err_sys(err, AL_ERR_INTERNAL, errno, "image store: rename blob");
    w->committed = true;
    if (ret_digest)
        memcpy(ret_digest, digest, AL_DIGEST_LEN);
    return 0;
}

void img_blob_w_free(struct img_blob_w *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    if (!w->committed)
        (void)unlinkat(w->st->blobs_fd, w->tmp, 0);
    EVP_MD_CTX_free(w->md);
    free(w);
}

int img_blob_w_hash_fd(struct img_blob_w *w, int fd, const char *expected)
{
    cleanup_free uint8_t *buf = malloc(1u << 18);
    if (!buf)
        return -ENOMEM;
    off_t off = 0;
    for (;;) {
        ssize_t n = pread(fd, buf, 1u << 18, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        if (!EVP_DigestUpdate(w->md, buf, (size_t)n))
            return -EIO;
        off += n;
    }
    uint8_t md[32];
    unsigned int mdlen = 0;
    char digest[AL_DIGEST_LEN];
    if (!EVP_DigestFinal_ex(w->md, md, &mdlen) || mdlen != 32)
        return -EIO;
    memcpy(digest, "sha256:", 7);
    al_hex_encode(md, 32, digest + 7);
    return strcmp(digest, expected) == 0 ? 0 : -EBADMSG;
}

int img_blob_w_commit_link(struct img_blob_w *w, int fd, const char *expected)
{
    char tmp[80];
    snprintf(tmp, sizeof(tmp), "%s-l", w->tmp);
    if (linkat(fd, "", w->st->blobs_fd, tmp, AT_EMPTY_PATH) < 0)
        return -errno;
    if (renameat(w->st->blobs_fd, tmp, w->st->blobs_fd, expected + 7) < 0) {
        int e = -errno;
        unlinkat(w->st->blobs_fd, tmp, 0);
        return e;
    }
    return 0;
}

int img_blob_put_rd(struct img_store *st, struct img_rd *rd, uint64_t max, const char *expected,
                    int64_t expected_size, char ret_digest[AL_DIGEST_LEN], struct al_err *err)
{
    struct img_blob_w *w;
    int rc = img_blob_w_new(st, max, &w, err);
    if (rc < 0)
        return rc;
    cleanup_free uint8_t *buf = malloc(1u << 17);
    if (!buf) {
        img_blob_w_free(w);
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    }
    for (;;) {
        ssize_t n = rd->read(rd->ctx, buf, 1u << 17);
        if (n < 0) {
            rc = n == -EFBIG ? al_err_set(err, AL_ERR_TOO_LARGE, EFBIG, "blob too large")
                             : al_err_sys(err, AL_ERR_INVALID, (int)-n, "reading blob");
            break;
        }
        if (n == 0) {
            rc = img_blob_w_commit(w, expected, expected_size, ret_digest, err);
            break;
        }
        rc = img_blob_w_write(w, buf, (size_t)n);
        if (rc < 0) {
            rc = rc == -EFBIG ? al_err_set(err, AL_ERR_TOO_LARGE, EFBIG,
                                           "blob larger than %llu bytes", (unsigned long long)max)
                              : al_err_sys(err, AL_ERR_INTERNAL, -rc, "image store: write blob");
            break;
        }
    }
    img_blob_w_free(w);
    return rc;
}

int img_blob_put_buf(struct img_store *st, const void *buf, size_t len, const char *expected,
                     char ret_digest[AL_DIGEST_LEN], struct al_err *err)
{
    struct img_mem_rd m;
    struct img_rd rd;
    img_mem_rd_init(&m, buf, len, &rd);
    return img_blob_put_rd(st, &rd, 0, expected, (int64_t)len, ret_digest, err);
}

bool img_blob_has(struct img_store *st, const char *digest)
{
    if (!al_digest_valid(digest))
        return false;
    struct stat s;
    return fstatat(st->blobs_fd, digest + 7, &s, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(s.st_mode);
}

bool img_has_manifest(struct img_store *st, const char *digest)
{
    return img_blob_has(st, digest);
}

int img_blob_open(struct img_store *st, const char *digest, struct al_err *err)
{
    if (!al_digest_valid(digest))
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "malformed digest");
    int fd = openat(st->blobs_fd, digest + 7, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT
                   ? al_err_set(err, AL_ERR_NOT_FOUND, ENOENT, "blob %s not in the store", digest)
                   : al_err_sys(err, AL_ERR_INTERNAL, errno, "open blob %s", digest);
    return fd;
}

int img_blob_read(struct img_store *st, const char *digest, size_t max, char **ret, size_t *ret_len,
                  struct al_err *err)
{
    if (!al_digest_valid(digest))
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "malformed digest");
    cleanup_free char *buf = NULL;
    size_t len = 0;
    int rc = al_read_file_at(st->blobs_fd, digest + 7, max, &buf, &len);
    if (rc == -ENOENT)
        return al_err_set(err, AL_ERR_NOT_FOUND, ENOENT, "blob %s not in the store", digest);
    if (rc == -EFBIG)
        return al_err_set(err, AL_ERR_TOO_LARGE, EFBIG, "blob %s larger than %zu bytes", digest,
                          max);
    if (rc < 0)
        return al_err_sys(err, AL_ERR_INTERNAL, -rc, "read blob %s", digest);
    char got[AL_DIGEST_LEN]; /* small documents are re-verified on every read */
    if (al_sha256_digest(buf, len, got) < 0 || strcmp(got, digest) != 0)
        return al_err_set(err, AL_ERR_INTERNAL, EBADMSG, "blob %s is corrupt in the store", digest);
    *ret = TAKE_PTR(buf);
    *ret_len = len;
    return 0;
}

void img_info_free(struct img_info *info)
{
    if (!info)
        return;
    al_strv_free(info->layer_dirs);
    img_config_clear(&info->config);
    memset(info, 0, sizeof(*info));
}

int img_store_resolve(struct img_store *st, const char *digest, const char *tag,
                      char ret[AL_DIGEST_LEN], struct al_err *err)
{
    char cur[AL_DIGEST_LEN];
    memcpy(cur, digest, AL_DIGEST_LEN);
    for (int depth = 0; depth < 4; depth++) {
        cleanup_free char *buf = NULL;
        size_t len;
        int rc = img_blob_read(st, cur, IMG_MAX_MANIFEST, &buf, &len, err);
        if (rc < 0)
            return rc;
        enum img_mt kind;
        rc = img_doc_kind(buf, len, NULL, &kind, err);
        if (rc < 0)
            return rc;
        if (kind == IMG_MT_OCI_MANIFEST || kind == IMG_MT_DOCKER_MANIFEST) {
            memcpy(ret, cur, AL_DIGEST_LEN);
            return 0;
        }
        struct img_index ix;
        rc = img_index_decode(buf, len, &ix, err);
        if (rc < 0)
            return rc;
        const struct img_desc *d;
        rc = img_index_pick(&ix, depth == 0 ? tag : NULL, &d, err);
        if (rc == 0)
            memcpy(cur, d->digest, AL_DIGEST_LEN);
        img_index_clear(&ix);
        if (rc < 0)
            return rc;
    }
    return al_err_set(err, AL_ERR_INVALID, ELOOP, "image indexes nested too deeply");
}
