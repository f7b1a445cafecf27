/* image: import of OCI layout directories, oci-archive and docker-archive tar files.
 *
 * A layout directory is read with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS): a symlink
 * in blobs/ never makes us read a host file.  An archive is read in one streaming pass:
 * blobs/sha256/<hex> entries go straight into the store (verified against their name), the
 * small documents (index.json, oci-layout, manifest.json) are kept in memory, and any other
 * regular file (docker-archive layers and configs) goes into the store under its computed
 * digest and is remembered by name.  Then the image is picked (by tag), and for a
 * docker-archive an OCI manifest is synthesised from manifest.json.  Blobs nothing references
 * are left for img_gc().
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/ids.h"
#include "common/json.h"
#include "image/img_internal.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

#define MAX_ARCHIVE_FILES 4096

static int open_beneath(int dirfd, const char *path)
{
    struct open_how how = {
        .flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    int fd;
    do
        fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
    while (fd < 0 && errno == EAGAIN);
    return fd < 0 ? -errno : fd;
}

/* ---- where blobs come from: a layout directory, or already in the store (archives) ---- */
struct src {
    struct img_store *st;
    int layout_fd; /* -1 for archives */
    bool link_ok;  /* trusted source (the built-in cache): hardlink verified blobs */
};

/* Verify fd's content, then hardlink it into the store (same filesystem only).  Returns 0,
 * or < 0 to fall back to copying. */
static int link_blob(struct img_store *st, int fd, const struct img_desc *d)
{
    struct stat a, b;
    if (fstat(fd, &a) < 0 || fstat(st->blobs_fd, &b) < 0 || a.st_dev != b.st_dev ||
        (uint64_t)a.st_size != d->size)
        return -EXDEV;
    struct img_blob_w *w; /* used only to hash: its temp file stays empty */
    if (img_blob_w_new(st, 0, &w, NULL) < 0)
        return -ENOMEM;
    int rc = img_blob_w_hash_fd(w, fd, d->digest);
    if (rc == 0)
        rc = img_blob_w_commit_link(w, fd, d->digest);
    img_blob_w_free(w);
    return rc;
}

static int need_blob(struct src *s, const struct img_desc *d, uint64_t max, struct al_err *err)
{
    if (d->size > max)
        return al_err_set(err, AL_ERR_TOO_LARGE, EFBIG, "blob %s too large", d->digest);
    if (img_blob_has(s->st, d->digest))
        return 0;
    if (s->layout_fd < 0)
        return al_err_set(err, AL_ERR_INVALID, ENOENT, "archive lacks blob %s", d->digest);
    char path[128];
    snprintf(path, sizeof(path), "blobs/sha256/%s", d->digest + 7);
    cleanup_close int fd = open_beneath(s->layout_fd, path);
    if (fd < 0)
        return al_err_sys(err, fd == -ENOENT ? AL_ERR_INVALID : AL_ERR_INVALID, -fd,
                          "layout blob %s", d->digest);
    struct stat stt;
    if (fstat(fd, &stt) < 0 || !S_ISREG(stt.st_mode))
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "layout blob %s is not a file", d->digest);
    if (s->link_ok && link_blob(s->st, fd, d) == 0)
        return 0;
    if (lseek(fd, 0, SEEK_SET) < 0)
        return al_err_sys(err, AL_ERR_INTERNAL, errno, "seek");
    struct img_fd_rd f;
    struct img_rd rd;
    img_fd_rd_init(&f, fd, 0, &rd);
    return img_blob_put_rd(s->st, &rd, max, d->digest, (int64_t)d->size, NULL, err);
}

/* From a top-level descriptor (index.json entry): fetch through indexes down to a manifest,
 * then config and layers.  ret: the manifest digest. */
static int import_from_desc(struct src *s, const struct img_desc *top, char ret[AL_DIGEST_LEN],
                            struct al_err *err)
{
    struct img_desc cur = *top;
    for (int depth = 0; depth < 4; depth++) {
        int rc = need_blob(s, &cur, IMG_MAX_MANIFEST, err);
        if (rc < 0)
            return rc;
        cleanup_free char *buf = NULL;
        size_t len;
        rc = img_blob_read(s->st, cur.digest, IMG_MAX_MANIFEST, &buf, &len, err);
        if (rc < 0)
            return rc;
        enum img_mt kind;
        rc = img_doc_kind(buf, len, cur.media_type, &kind, err);
        if (rc < 0)
            return rc;
        if (kind == IMG_MT_OCI_INDEX || kind == IMG_MT_DOCKER_LIST) {
            struct img_index ix;
            rc = img_index_decode(buf, len, &ix, err);
            if (rc < 0)
                return rc;
            const struct img_desc *d;
            rc = img_index_pick(&ix, NULL, &d, err);
            if (rc == 0)
                cur = *d;
            img_index_clear(&ix);
            if (rc < 0)
                return rc;
            continue;
        }
        struct img_manifest m;
        rc = img_manifest_decode(buf, len, &m, err);
        if (rc < 0)
            return rc;
        rc = need_blob(s, &m.config, IMG_MAX_CONFIG, err);
        for (size_t i = 0; rc == 0 && i < m.n_layers; i++)
            rc = need_blob(s, &m.layers[i], IMG_MAX_TOTAL_LAYERS, err);
        img_manifest_clear(&m);
        if (rc < 0)
            return rc;
        memcpy(ret, cur.digest, AL_DIGEST_LEN);
        return 0;
    }
    return al_err_set(err, AL_ERR_INVALID, ELOOP, "image indexes nested too deeply");
}

static int import_index_json(struct src *s, const char *buf, size_t len, const char *tag,
                             char ret[AL_DIGEST_LEN], struct al_err *err)
{
    struct img_index ix;
    int rc = img_index_decode(buf, len, &ix, err);
    if (rc < 0)
        return al_err_wrap(err, "index.json");
    const struct img_desc *d = NULL;
    if (ix.n == 1 && (!tag || !*tag))
        d = &ix.manifests[0];
    else
        rc = img_index_pick(&ix, tag, &d, err);
    if (rc == 0)
        rc = import_from_desc(s, d, ret, err);
    img_index_clear(&ix);
    return rc;
}

static int read_fd(int fd, size_t max, char **ret, size_t *ret_len)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap + 1);
    if (!buf)
        return -ENOMEM;
    for (;;) {
        if (len == cap) {
            if (cap >= max) {
                free(buf);
                return -EFBIG;
            }
            cap = cap * 2 > max ? max : cap * 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                return -ENOMEM;
            }
            buf = nb;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = -errno;
            free(buf);
            return e;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    *ret = buf;
    *ret_len = len;
    return 0;
}

static int import_layout(struct img_store *st, int dfd, const char *tag, bool link_ok,
                         char ret[AL_DIGEST_LEN], struct al_err *err)
{
    cleanup_close int lfd = open_beneath(dfd, "oci-layout");
    if (lfd < 0)
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "not an OCI layout (no oci-layout file)");
    cleanup_close int ifd = open_beneath(dfd, "index.json");
    if (ifd < 0)
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "OCI layout without index.json");
    cleanup_free char *idx = NULL;
    size_t ilen = 0;
    int rc = read_fd(ifd, IMG_MAX_INDEX, &idx, &ilen);
    if (rc < 0)
        return al_err_sys(err, AL_ERR_INVALID, -rc, "read index.json");
    struct src s = {.st = st, .layout_fd = dfd, .link_ok = link_ok};
    return import_index_json(&s, idx, ilen, tag, ret, err);
}

/* ---- archives ---- */

void img_archive_clear(struct img_archive *a)
{
    for (size_t i = 0; i < a->n; i++) {
        free(a->files[i].name);
        free(a->files[i].link);
    }
    free(a->files);
    free(a->index);
    free(a->layout);
    free(a->manifest);
    memset(a, 0, sizeof(*a));
}

/* "./a//b" -> "a/b"; NULL for names with ".." (never resolved) */
static char *norm_name(const char *in)
{
    char *out = malloc(strlen(in) + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (const char *p = in; *p;) {
        while (*p == '/')
            p++;
        const char *b = p;
        while (*p && *p != '/')
            p++;
        size_t n = (size_t)(p - b);
        if (n == 0 || (n == 1 && b[0] == '.'))
            continue;
        if (n == 2 && b[0] == '.' && b[1] == '.') {
            free(out);
            return NULL;
        }
        if (o)
            out[o++] = '/';
        memcpy(out + o, b, n);
        o += n;
    }
    out[o] = '\0';
    return out;
}

static ssize_t tar_rd(void *ctx, void *buf, size_t len)
{
    return img_tar_read(ctx, buf, len);
}

static int slurp(struct img_tar *t, uint64_t size, char **ret, size_t *ret_len, struct al_err *err)
{
    if (size > IMG_MAX_INDEX)
        return al_err_set(err, AL_ERR_TOO_LARGE, EFBIG, "archive document too large");
    char *b = malloc(size + 1);
    if (!b)
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    struct img_rd rd = {tar_rd, t};
    ssize_t n = img_rd_full(&rd, b, size);
    if (n < 0 || (uint64_t)n != size) {
        free(b);
        return al_err_set(err, AL_ERR_INVALID, EBADMSG, "truncated archive");
    }
    b[size] = '\0';
    free(*ret);
    *ret = b;
    if (ret_len)
        *ret_len = size;
    return 0;
}

int img_archive_scan(struct img_store *st, struct img_rd *rd, struct img_archive *a,
                     struct al_err *err)
{
    struct img_tar *t;
    if (img_tar_new(rd, MAX_ARCHIVE_FILES * 4, &t) < 0)
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    uint64_t total = 0;
    int rc;
    for (;;) {
        struct img_tar_entry e;
        rc = img_tar_next(t, &e, err);
        if (rc <= 0)
            break;
        if (e.type != IMG_TAR_FILE && e.type != IMG_TAR_SYMLINK)
            continue;
        cleanup_free char *name = norm_name(e.name);
        if (!name) {
            rc = al_err_set(err, AL_ERR_INVALID, EPERM, "archive entry with '..'");
            break;
        }
        total += e.size;
        if (total > IMG_MAX_ARCHIVE) {
            rc = al_err_set(err, AL_ERR_TOO_LARGE, EFBIG, "archive too large");
            break;
        }
        if (e.type == IMG_TAR_FILE && strcmp(name, "index.json") == 0) {
            rc = slurp(t, e.size, &a->index, &a->index_len, err);
        } else if (e.type == IMG_TAR_FILE && strcmp(name, "oci-layout") == 0) {
            rc = slurp(t, e.size, &a->layout, NULL, err);
        } else if (e.type == IMG_TAR_FILE && strcmp(name, "manifest.json") == 0) {
            rc = slurp(t, e.size, &a->manifest, &a->manifest_len, err);
        } else if (e.type == IMG_TAR_FILE && strcmp(name, "repositories") == 0) {
            rc = 0;
        } else {
            if (a->n >= MAX_ARCHIVE_FILES) {
                rc = al_err_set(err, AL_ERR_LIMIT, E2BIG, "archive has too many files");
                break;
            }
            void *nf = realloc(a->files, (a->n + 1) * sizeof(*a->files));
            if (!nf) {
                rc = al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
                break;
            }
            a->files = nf;
            struct img_afile *f = &a->files[a->n];
            memset(f, 0, sizeof(*f));
            if (e.type == IMG_TAR_SYMLINK) {
                /* docker save links duplicate layers: "<id>/layer.tar -> ../<id2>/layer.tar" */
                cleanup_free char *joined = NULL;
                const char *slash = strrchr(name, '/');
                if (e.linkname[0] == '/' ||
                    asprintf(&joined, "%.*s/%s", slash ? (int)(slash - name) : 0, name,
                             e.linkname) < 0) {
                    joined = NULL;
                    continue;
                }
                char *dir = joined, *out = NULL;
                /* resolve ".." lexically inside the archive namespace */
                char *parts[256];
                size_t np = 0;
                for (char *save = NULL, *tok = strtok_r(dir, "/", &save); tok;
                     tok = strtok_r(NULL, "/", &save)) {
                    if (strcmp(tok, ".") == 0)
                        continue;
                    if (strcmp(tok, "..") == 0) {
                        if (np)
                            np--;
                        continue;
                    }
                    if (np < AL_ARRAY_SIZE(parts))
                        parts[np++] = tok;
                }
                size_t cap = strlen(e.linkname) + strlen(name) + 2, o = 0;
                out = malloc(cap);
                if (!out) {
                    rc = al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
                    break;
                }
                for (size_t i = 0; i < np; i++)
                    o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? "/" : "", parts[i]);
                out[o] = '\0';
                f->link = out;
                f->name = TAKE_PTR(name);
                a->n++;
                continue;
            }
            bool is_blob = strncmp(name, "blobs/sha256/", 13) == 0 && strlen(name + 13) == 64;
            char expected[AL_DIGEST_LEN];
            if (is_blob) {
                snprintf(expected, sizeof(expected), "sha256:%s", name + 13);
                if (!al_digest_valid(expected))
                    continue; /* not a blob name: ignored */
            }
            struct img_rd erd = {tar_rd, t};
            rc = img_blob_put_rd(st, &erd, IMG_MAX_TOTAL_LAYERS, is_blob ? expected : NULL,
                                 (int64_t)e.size, f->digest, err);
            if (rc < 0) {
                al_err_wrap(err, "archive entry %.200s", name);
                break;
            }
            f->size = e.size;
            f->name = TAKE_PTR(name);
            a->n++;
        }
        if (rc < 0)
            break;
    }
    img_tar_free(t);
    return rc < 0 ? rc : 0;
}

static const struct img_afile *afile_find(const struct img_archive *a, const char *name, int depth)
{
    cleanup_free char *n = norm_name(name);
    if (!n || depth > 8)
        return NULL;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->files[i].name, n) == 0)
            return a->files[i].link ? afile_find(a, a->files[i].link, depth + 1) : &a->files[i];
    return NULL;
}

static const char *layer_mt(struct img_store *st, const char *digest)
{
    cleanup_close int fd = img_blob_open(st, digest, NULL);
    uint8_t m[4] = {0};
    ssize_t n = fd >= 0 ? pread(fd, m, sizeof(m), 0) : 0;
    switch (img_comp_sniff(m, n > 0 ? (size_t)n : 0)) {
    case IMG_COMP_GZIP:
        return "application/vnd.oci.image.layer.v1.tar+gzip";
    case IMG_COMP_ZSTD:
        return "application/vnd.oci.image.layer.v1.tar+zstd";
    default:
        return "application/vnd.oci.image.layer.v1.tar";
    }
}

int img_docker_manifest_decode(const struct img_archive *a, const char *tag,
                               struct img_docker_image *ret, struct al_err *err)
{
    cleanup_json json_t *j = al_json_parse(a->manifest, a->manifest_len, 8, err);
    if (!j)
        return al_err_wrap(err, "manifest.json");
    if (!json_is_array(j) || json_array_size(j) == 0)
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "manifest.json: not a non-empty array");
    json_t *pick = NULL;
    size_t i;
    json_t *img;
    json_array_foreach(j, i, img)
    {
        if (!json_is_object(img))
            return al_err_set(err, AL_ERR_INVALID, EINVAL, "manifest.json: entry not an object");
        if (!tag || !*tag) {
            pick = img;
            break;
        }
        json_t *tags = json_object_get(img, "RepoTags"), *tv;
        size_t k;
        json_array_foreach(tags, k, tv)
        {
            const char *s = json_string_value(tv);
            const char *colon = s ? strrchr(s, ':') : NULL;
            if (s && (strcmp(s, tag) == 0 || (colon && strcmp(colon + 1, tag) == 0)))
                pick = img;
        }
        if (pick)
            break;
    }
    if (!pick)
        return al_err_set(err, AL_ERR_NOT_FOUND, ENOENT, "no image tagged '%.100s' in archive",
                          tag);
    const char *cfgname;
    int rc = al_json_get_str(pick, "Config", true, 4096, &cfgname, err);
    if (rc < 0)
        return al_err_wrap(err, "manifest.json");
    cleanup_strv char **layers = NULL;
    rc = al_json_get_strv(pick, "Layers", true, IMG_MAX_LAYERS, 4096, &layers, err);
    if (rc < 0)
        return al_err_wrap(err, "manifest.json");
    const struct img_afile *cf = afile_find(a, cfgname, 0);
    if (!cf)
        return al_err_set(err, AL_ERR_INVALID, ENOENT, "archive lacks config %.200s", cfgname);
    if (cf->size > IMG_MAX_CONFIG)
        return al_err_set(err, AL_ERR_TOO_LARGE, EFBIG, "image config too large");
    size_t n = 0;
    while (layers[n])
        n++;
    cleanup_free const struct img_afile **lv = calloc(n + 1, sizeof(*lv));
    if (!lv)
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    for (i = 0; i < n; i++) {
        lv[i] = afile_find(a, layers[i], 0);
        if (!lv[i])
            return al_err_set(err, AL_ERR_INVALID, ENOENT, "archive lacks layer %.200s", layers[i]);
    }
    ret->config = cf;
    ret->layers = TAKE_PTR(lv);
    ret->n_layers = n;
    return 0;
}

/* docker save: an OCI manifest synthesised from manifest.json, put in the store. */
static int import_docker(struct img_store *st, const struct img_archive *a, const char *tag,
                         char ret[AL_DIGEST_LEN], struct al_err *err)
{
    struct img_docker_image di;
    int rc = img_docker_manifest_decode(a, tag, &di, err);
    if (rc < 0)
        return rc;
    cleanup_free const struct img_afile **layers = di.layers;
    const struct img_afile *cf = di.config;
    cleanup_json json_t *m =
        json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:[]}", "schemaVersion", 2, "mediaType",
                  "application/vnd.oci.image.manifest.v1+json", "config", "mediaType",
                  "application/vnd.oci.image.config.v1+json", "digest", cf->digest, "size",
                  (json_int_t)cf->size, "layers");
    if (!m)
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    json_t *arr = json_object_get(m, "layers");
    for (size_t i = 0; i < di.n_layers; i++) {
        const struct img_afile *lf = layers[i];
        if (json_array_append_new(arr, json_pack("{s:s, s:s, s:I}", "mediaType",
                                                 layer_mt(st, lf->digest), "digest", lf->digest,
                                                 "size", (json_int_t)lf->size)) < 0)
            return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    }
    cleanup_free char *doc = al_json_dump(m);
    if (!doc)
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    return img_blob_put_buf(st, doc, strlen(doc), NULL, ret, err);
}

static int import_archive(struct img_store *st, int fd, const char *tag, char ret[AL_DIGEST_LEN],
                          struct al_err *err)
{
    uint8_t magic[4] = {0};
    ssize_t mn = pread(fd, magic, sizeof(magic), 0);
    struct img_fd_rd f;
    struct img_rd raw, plain;
    img_fd_rd_init(&f, fd, IMG_MAX_ARCHIVE, &raw);
    struct img_decomp *dc = NULL;
    int rc = img_decomp_new(&raw, img_comp_sniff(magic, mn > 0 ? (size_t)mn : 0), IMG_MAX_ARCHIVE,
                            &dc, &plain);
    if (rc < 0)
        return al_err_sys(err, AL_ERR_INTERNAL, -rc, "decompressor");
    struct img_archive a = {0};
    rc = img_archive_scan(st, &plain, &a, err);
    img_decomp_free(dc);
    if (rc == 0) {
        if (a.index) {
            struct src s = {.st = st, .layout_fd = -1};
            rc = import_index_json(&s, a.index, a.index_len, tag, ret, err);
        } else if (a.manifest) {
            rc = import_docker(st, &a, tag, ret, err);
        } else {
            rc = al_err_set(err, AL_ERR_INVALID, EINVAL,
                            "not an oci-archive or docker-archive (no index.json or "
                            "manifest.json)");
        }
    }
    img_archive_clear(&a);
    return rc;
}

int img_import_ex(struct img_store *st, const char *path, const char *tag, bool trusted,
                  struct img_info *ret, struct al_err *err)
{
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return al_err_sys(err, errno == ENOENT ? AL_ERR_NOT_FOUND : AL_ERR_INVALID, errno,
                          "import %s", path);
    struct stat s;
    if (fstat(fd, &s) < 0)
        return al_err_sys(err, AL_ERR_INTERNAL, errno, "import %s", path);
    char digest[AL_DIGEST_LEN];
    int rc;
    if (S_ISDIR(s.st_mode))
        rc = import_layout(st, fd, tag, trusted, digest, err);
    else if (S_ISREG(s.st_mode))
        rc = import_archive(st, fd, tag, digest, err);
    else
        rc = al_err_set(err, AL_ERR_INVALID, EINVAL, "import %s: not a directory or file", path);
    if (rc == 0)
        rc = img_store_load(st, digest, ret, err);
    if (rc < 0)
        al_err_wrap(err, "import %.200s", path);
    return rc;
}

int img_import(struct img_store *st, const char *path, const char *tag, struct img_info *ret,
               struct al_err *err)
{
    return img_import_ex(st, path, tag, false, ret, err);
}
