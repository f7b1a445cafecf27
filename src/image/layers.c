/* image: unpacked layers, loading an image from the store, and garbage collection. */
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
#define TMP_MAX_AGE_S 3600

static bool layer_present(struct img_store *st, const char *hex)
{
    struct stat s;
    return fstatat(st->layers_fd, hex, &s, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(s.st_mode);
}

/* A reader that hashes what passes through it (the uncompressed layer, for its diff_id). */
struct hash_rd {
    struct img_rd *inner;
    EVP_MD_CTX *md;
};

static ssize_t hash_read(void *ctx, void *buf, size_t len)
{
    struct hash_rd *h = ctx;
    ssize_t n = h->inner->read(h->inner->ctx, buf, len);
    if (n > 0 && !EVP_DigestUpdate(h->md, buf, (size_t)n))
        return -EIO;
    return n;
}

static int hash_finish(struct hash_rd *h, const char *want, struct al_err *err)
{
    uint8_t buf[16384];
    ssize_t n;
    while ((n = hash_read(h, buf, sizeof(buf))) > 0) /* trailing zero blocks count too */
        ;
    if (n < 0)
        return al_err_sys(err, AL_ERR_INVALID, (int)-n, "reading layer");
    uint8_t md[32];
    unsigned int mdlen = 0;
    char got[AL_DIGEST_LEN];
    if (!EVP_DigestFinal_ex(h->md, md, &mdlen) || mdlen != 32)
        return al_err_set(err, AL_ERR_INTERNAL, EIO, "sha256");
    memcpy(got, "sha256:", 7);
    al_hex_encode(md, 32, got + 7);
    if (strcmp(got, want) != 0)
        return al_err_set(err, AL_ERR_INVALID, EBADMSG,
                          "uncompressed content %.80s does not match the config's diff_id %.80s",
                          got, want);
    return 0;
}

static int unpack_layer(struct img_store *st, const struct img_desc *d, const char *diff_id,
                        struct al_err *err)
{
    const char *hex = d->digest + 7;
    cleanup_close int bfd = img_blob_open(st, d->digest, err);
    if (bfd < 0)
        return bfd;
    uint8_t magic[4] = {0};
    ssize_t n = pread(bfd, magic, sizeof(magic), 0);
    if (n < 0)
        return al_err_sys(err, AL_ERR_INTERNAL, errno, "read layer %s", d->digest);
    enum img_comp comp = img_comp_sniff(magic, (size_t)n);
    enum img_mt mt = img_mt_classify(d->media_type);
    /* The media type and the magic bytes must agree on a compressed format (an uncompressed
     * tar labelled gzip is tolerated: some docker archives do that). */
    if ((mt == IMG_MT_LAYER_ZSTD && comp != IMG_COMP_ZSTD) ||
        (mt == IMG_MT_LAYER_GZIP && comp == IMG_COMP_ZSTD) ||
        (mt == IMG_MT_LAYER_TAR && comp != IMG_COMP_NONE))
        return al_err_set(err, AL_ERR_INVALID, EBADMSG,
                          "layer %s: media type %.100s does not match its content", d->digest,
                          d->media_type);
    char tmp[128], rnd[17];
    if (al_random_hex(rnd, 8) < 0)
        return al_err_set(err, AL_ERR_INTERNAL, EIO, "getrandom");
    snprintf(tmp, sizeof(tmp), TMP_PREFIX "%.64s-%s", hex, rnd);
    if (mkdirat(st->layers_fd, tmp, 0755) < 0)
        return al_err_sys(err, AL_ERR_INTERNAL, errno, "mkdir layer temp dir");
    int rc;
    {
        cleanup_close int root =
            openat(st->layers_fd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (root < 0) {
            rc = al_err_sys(err, AL_ERR_INTERNAL, errno, "open layer temp dir");
            goto out;
        }
        (void)fchmod(root, 0755); /* the tar's "./" entry may change it */
        struct img_fd_rd f;
        struct img_rd raw, plain;
        img_fd_rd_init(&f, bfd, 0, &raw);
        struct img_decomp *dc = NULL;
        rc = img_decomp_new(&raw, comp, IMG_MAX_UNPACKED, &dc, &plain);
        if (rc < 0) {
            rc = al_err_sys(err, AL_ERR_INTERNAL, -rc, "decompressor");
            goto out;
        }
        /* an uncompressed layer whose digest is its diff_id was verified already */
        bool check = diff_id && !(comp == IMG_COMP_NONE && strcmp(diff_id, d->digest) == 0);
        struct hash_rd h = {.inner = &plain, .md = check ? EVP_MD_CTX_new() : NULL};
        struct img_rd hashed = {hash_read, &h};
        if (check && (!h.md || !EVP_DigestInit_ex(h.md, EVP_sha256(), NULL))) {
            EVP_MD_CTX_free(h.md);
            img_decomp_free(dc);
            rc = al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "sha256");
            goto out;
        }
        struct img_unpack_limits lim = {IMG_MAX_ENTRIES, IMG_MAX_UNPACKED};
        rc = img_unpack_tar(root, check ? &hashed : &plain, &lim, err);
        if (rc == 0 && check)
            rc = hash_finish(&h, diff_id, err);
        EVP_MD_CTX_free(h.md);
        img_decomp_free(dc);
        if (rc < 0) {
            al_err_wrap(err, "layer %s", d->digest);
            goto out;
        }
        /* no syncfs(): it flushes the whole filesystem and would make imports slow on a busy
         * host.  The rename is atomic against process crashes; after a power loss a layer is
         * re-unpacked when img_get() finds its directory missing. */
    }
    if (renameat2(st->layers_fd, tmp, st->layers_fd, hex, RENAME_NOREPLACE) < 0) {
        if (errno == EEXIST || errno == ENOTEMPTY)
            rc = 0; /* somebody else finished it first */
        else
            rc = al_err_sys(err, AL_ERR_INTERNAL, errno, "rename layer %s", d->digest);
        goto out;
    }
    return 0;
out:
    al_rm_rf_at(st->layers_fd, tmp);
    return rc;
}

int img_store_load(struct img_store *st, const char *digest, struct img_info *ret,
                   struct al_err *err)
{
    char mdigest[AL_DIGEST_LEN];
    int rc = img_store_resolve(st, digest, NULL, mdigest, err);
    if (rc < 0)
        return rc;
    cleanup_free char *buf = NULL;
    size_t len;
    rc = img_blob_read(st, mdigest, IMG_MAX_MANIFEST, &buf, &len, err);
    if (rc < 0)
        return rc;
    struct img_manifest m;
    rc = img_manifest_decode(buf, len, &m, err);
    if (rc < 0)
        return rc;
    struct img_info info = {0};
    cleanup_strv char **diff_ids = NULL;
    cleanup_free char *cbuf = NULL;
    size_t clen;
    rc = img_blob_read(st, m.config.digest, IMG_MAX_CONFIG, &cbuf, &clen, err);
    if (rc < 0)
        goto fail;
    rc = img_config_decode(cbuf, clen, &info.config, err);
    if (rc < 0)
        goto fail;
    rc = img_config_diff_ids(cbuf, clen, &diff_ids, err);
    if (rc < 0)
        goto fail;
    if (diff_ids) {
        size_t nd = 0;
        while (diff_ids[nd])
            nd++;
        if (nd != m.n_layers) {
            rc = al_err_set(err, AL_ERR_INVALID, EINVAL,
                            "image config lists %zu diff_ids for %zu layers", nd, m.n_layers);
            goto fail;
        }
    }
    info.layer_dirs = calloc(m.n_layers + 1, sizeof(char *));
    if (!info.layer_dirs) {
        rc = al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < m.n_layers; i++) {
        const struct img_desc *d = &m.layers[i];
        if (!layer_present(st, d->digest + 7)) {
            rc = unpack_layer(st, d, diff_ids ? diff_ids[i] : NULL, err);
            if (rc < 0)
                goto fail;
        }
        if (asprintf(&info.layer_dirs[i], "%s/layers/%s", st->dir, d->digest + 7) < 0) {
            info.layer_dirs[i] = NULL;
            rc = al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
            goto fail;
        }
        info.size += d->size;
    }
    info.n_layers = m.n_layers;
    memcpy(info.digest, mdigest, AL_DIGEST_LEN);
    img_manifest_clear(&m);
    *ret = info;
    return 0;
fail:
    img_manifest_clear(&m);
    img_info_free(&info);
    return rc;
}

int img_get(struct img_store *st, const char *digest, struct img_info *ret, struct al_err *err)
{
    if (!al_digest_valid(digest))
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "malformed digest");
    if (!img_blob_has(st, digest))
        return al_err_set(err, AL_ERR_NOT_FOUND, ENOENT, "image %s not in the store", digest);
    return img_store_load(st, digest, ret, err);
}

/* ---- gc ---- */

struct hexset {
    char (*v)[65];
    size_t n, cap;
};

static int hexset_add(struct hexset *s, const char *digest)
{
    if (!al_digest_valid(digest))
        return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        void *nv = realloc(s->v, cap * sizeof(*s->v));
        if (!nv)
            return -ENOMEM;
        s->v = nv;
        s->cap = cap;
    }
    memcpy(s->v[s->n++], digest + 7, 65);
    return 0;
}

static int hexcmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

static bool hexset_has(const struct hexset *s, const char *name)
{
    return strlen(name) == 64 && s->n && bsearch(name, s->v, s->n, sizeof(*s->v), hexcmp);
}

/* Add digest and everything it reaches (index children, config, layers) that is present. */
static int mark(struct img_store *st, const char *digest, struct hexset *blobs,
                struct hexset *layers, int depth)
{
    if (depth > 4 || !img_blob_has(st, digest))
        return 0;
    int rc = hexset_add(blobs, digest);
    if (rc < 0)
        return rc;
    cleanup_free char *buf = NULL;
    size_t len;
    if (img_blob_read(st, digest, IMG_MAX_MANIFEST, &buf, &len, NULL) < 0)
        return 0;
    enum img_mt kind;
    if (img_doc_kind(buf, len, NULL, &kind, NULL) < 0)
        return 0;
    if (kind == IMG_MT_OCI_INDEX || kind == IMG_MT_DOCKER_LIST) {
        struct img_index ix;
        if (img_index_decode(buf, len, &ix, NULL) < 0)
            return 0;
        for (size_t i = 0; i < ix.n && rc == 0; i++)
            rc = mark(st, ix.manifests[i].digest, blobs, layers, depth + 1);
        img_index_clear(&ix);
        return rc;
    }
    struct img_manifest m;
    if (img_manifest_decode(buf, len, &m, NULL) < 0)
        return 0;
    rc = hexset_add(blobs, m.config.digest);
    for (size_t i = 0; i < m.n_layers && rc == 0; i++) {
        rc = hexset_add(blobs, m.layers[i].digest);
        if (rc == 0)
            rc = hexset_add(layers, m.layers[i].digest);
    }
    img_manifest_clear(&m);
    return rc;
}

static int sweep(int dfd, const struct hexset *keep, struct al_err *err)
{
    int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
    if (fd < 0)
        return al_err_sys(err, AL_ERR_INTERNAL, errno, "gc: dup");
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return al_err_sys(err, AL_ERR_INTERNAL, errno, "gc: opendir");
    }
    rewinddir(d);
    time_t now = time(NULL);
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0) {
            struct stat s;
            if (fstatat(dfd, de->d_name, &s, AT_SYMLINK_NOFOLLOW) < 0 ||
                now - s.st_mtime < TMP_MAX_AGE_S)
                continue; /* may belong to a pull in progress */
        } else if (hexset_has(keep, de->d_name)) {
            continue;
        }
        int r = al_rm_rf_at(dfd, de->d_name);
        if (r < 0 && rc == 0)
            rc = al_err_sys(err, AL_ERR_INTERNAL, -r, "gc: remove %s", de->d_name);
    }
    closedir(d);
    return rc;
}

int img_gc(struct img_store *st, const char *const *keep, struct al_err *err)
{
    struct hexset blobs = {0}, layers = {0};
    int rc = 0;
    for (const char *const *k = keep; k && *k && rc == 0; k++)
        rc = mark(st, *k, &blobs, &layers, 0);
    if (rc < 0) {
        rc = al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
        goto out;
    }
    if (blobs.n)
        qsort(blobs.v, blobs.n, sizeof(*blobs.v), hexcmp);
    if (layers.n)
        qsort(layers.v, layers.n, sizeof(*layers.v), hexcmp);
    rc = sweep(st->blobs_fd, &blobs, err);
    if (rc == 0)
        rc = sweep(st->layers_fd, &layers, err);
out:
    free(blobs.v);
    free(layers.v);
    return rc;
}
