/* image: private interfaces between the files of the component (and its unit tests). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"
#include "image/img.h"

/* ---- limits ---- */
#define IMG_MAX_MANIFEST (4u << 20)
#define IMG_MAX_CONFIG (4u << 20)
#define IMG_MAX_INDEX (4u << 20)
#define IMG_MAX_LAYERS 256
#define IMG_MAX_INDEX_ENTRIES 1024
#define IMG_MAX_TOTAL_LAYERS (16ull << 30) /* compressed bytes of one image */
#define IMG_MAX_UNPACKED (32ull << 30)     /* uncompressed bytes of one layer */
#define IMG_MAX_ENTRIES 1000000            /* tar entries of one layer */
#define IMG_MAX_NAME 4096                  /* tar entry path */
#define IMG_MAX_PAX (1u << 20)             /* pax / GNU long name header payload */
#define IMG_MAX_ARCHIVE (64ull << 30)      /* whole oci/docker archive */
#define IMG_MAX_TOKEN (64u << 10)          /* token service response, and the token in it */

/* ---- byte streams ---- */
struct img_rd {
    /* bytes read (0 = end), or -errno */
    ssize_t (*read)(void *ctx, void *buf, size_t len);
    void *ctx;
};
ssize_t img_rd_full(struct img_rd *rd, void *buf, size_t len); /* short only at end */

struct img_fd_rd {
    int fd;
    uint64_t max, done; /* -EFBIG past max (0 = unbounded) */
};
void img_fd_rd_init(struct img_fd_rd *f, int fd, uint64_t max, struct img_rd *ret);

struct img_mem_rd {
    const uint8_t *buf;
    size_t len, off;
};
void img_mem_rd_init(struct img_mem_rd *m, const void *buf, size_t len, struct img_rd *ret);

enum img_comp { IMG_COMP_NONE = 0, IMG_COMP_GZIP, IMG_COMP_ZSTD };
enum img_comp img_comp_sniff(const uint8_t *buf, size_t len);
struct img_decomp;
/* Wraps src (borrowed) in a decompressor; *ret_rd reads the plain bytes (bounded by max). */
int img_decomp_new(struct img_rd *src, enum img_comp comp, uint64_t max, struct img_decomp **ret,
                   struct img_rd *ret_rd);
void img_decomp_free(struct img_decomp *d);

/* ---- tar ---- */
enum img_tar_type {
    IMG_TAR_FILE = '0',
    IMG_TAR_HARDLINK = '1',
    IMG_TAR_SYMLINK = '2',
    IMG_TAR_CHAR = '3',
    IMG_TAR_BLOCK = '4',
    IMG_TAR_DIR = '5',
    IMG_TAR_FIFO = '6',
};
struct img_tar_hdr { /* one decoded 512-byte header */
    char name[257];  /* prefix "/" name, NUL-terminated */
    char linkname[101];
    char typeflag;
    uint32_t mode;
    uint64_t uid, gid;
    uint64_t size;
    int64_t mtime;
};
/* 1 = header, 0 = an all-zero block (end marker), -EBADMSG bad checksum or field */
int img_tar_header_parse(const uint8_t blk[512], struct img_tar_hdr *ret);

struct img_pax { /* overrides from a pax extended header */
    char *path, *linkpath;
    bool has_size, has_uid, has_gid, has_mtime;
    uint64_t size, uid, gid;
    int64_t mtime;
};
int img_pax_parse(const char *buf, size_t len, struct img_pax *ret, struct al_err *err);
void img_pax_clear(struct img_pax *p);

struct img_tar_entry {
    const char *name; /* as in the archive (pax/GNU long names applied) */
    const char *linkname;
    char type; /* enum img_tar_type, regular files normalised to '0' */
    uint32_t mode;
    uint64_t uid, gid, size;
    int64_t mtime;
};
struct img_tar;
int img_tar_new(struct img_rd *rd, uint64_t max_entries, struct img_tar **ret);
void img_tar_free(struct img_tar *t);
/* 1 = *ret filled (valid until the next call), 0 = end of archive, < 0 error */
int img_tar_next(struct img_tar *t, struct img_tar_entry *ret, struct al_err *err);
/* Read data of the current entry (0 at its end). */
ssize_t img_tar_read(struct img_tar *t, void *buf, size_t len);

/* ---- safe unpack ---- */
struct img_unpack_limits {
    uint64_t max_entries, max_bytes;
};
/* Unpack the tar stream rd into the (empty, owned) directory root_fd. */
int img_unpack_tar(int root_fd, struct img_rd *rd, const struct img_unpack_limits *lim,
                   struct al_err *err);

/* ---- OCI documents ---- */
enum img_mt {
    IMG_MT_UNKNOWN = 0,
    IMG_MT_OCI_MANIFEST,
    IMG_MT_OCI_INDEX,
    IMG_MT_DOCKER_MANIFEST,
    IMG_MT_DOCKER_LIST,
    IMG_MT_OCI_CONFIG,
    IMG_MT_DOCKER_CONFIG,
    IMG_MT_LAYER_TAR,
    IMG_MT_LAYER_GZIP,
    IMG_MT_LAYER_ZSTD,
    IMG_MT_LAYER_FOREIGN,
};
enum img_mt img_mt_classify(const char *media_type);
#define IMG_ACCEPT_MANIFESTS                                                                       \
    "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, "        \
    "application/vnd.docker.distribution.manifest.v2+json, "                                       \
    "application/vnd.docker.distribution.manifest.list.v2+json"

struct img_desc {
    char media_type[128];
    char digest[AL_DIGEST_LEN];
    uint64_t size;
    char os[32], arch[32], variant[32];
    char ref_name[256]; /* org.opencontainers.image.ref.name annotation (layouts) */
};
struct img_manifest {
    struct img_desc config;
    struct img_desc *layers;
    size_t n_layers;
};
void img_manifest_clear(struct img_manifest *m);
struct img_index {
    struct img_desc *manifests;
    size_t n;
};
void img_index_clear(struct img_index *ix);
/* Which kind of document buf is: IMG_MT_OCI_MANIFEST/DOCKER_MANIFEST or OCI_INDEX/DOCKER_LIST,
 * from its mediaType field, else the content type, else its shape. */
int img_doc_kind(const char *buf, size_t len, const char *content_type, enum img_mt *ret,
                 struct al_err *err);
int img_manifest_decode(const char *buf, size_t len, struct img_manifest *ret, struct al_err *err);
int img_index_decode(const char *buf, size_t len, struct img_index *ret, struct al_err *err);
/* Pick linux/amd64 (or platform-less entries) from an index; tag matches ref_name if given. */
int img_index_pick(const struct img_index *ix, const char *tag, const struct img_desc **ret,
                   struct al_err *err);
int img_config_decode(const char *buf, size_t len, struct img_config *ret, struct al_err *err);
void img_config_clear(struct img_config *c);
/* rootfs.diff_ids of a config (*ret NULL when absent); every entry a valid sha256 digest. */
int img_config_diff_ids(const char *buf, size_t len, char ***ret, struct al_err *err);

/* ---- www-authenticate ---- */
struct img_challenge {
    char scheme[16]; /* "bearer" / "basic" lowercased */
    char realm[1024], service[256], scope[512];
};
int img_challenge_parse(const char *header, struct img_challenge *ret);
/* The token service's response body: {"token": T} or {"access_token": T} (other fields are
 * ignored; an empty or non-string "token" falls back to "access_token").  T must be
 * non-empty, at most IMG_MAX_TOKEN bytes, without spaces, control characters or DEL.
 * *ret_token: a copy, the caller wipes and frees it.  Errors: AL_ERR_INVALID. */
int img_token_parse(const char *body, size_t len, char **ret_token, struct al_err *err);

/* ---- registry connections ---- */
struct sockaddr;
bool img_addr_blocked(const struct sockaddr *sa, bool registry_is_loopback);

/* ---- content store ---- */
struct img_store {
    char *dir;
    int dir_fd, blobs_fd, layers_fd;
};
struct img_blob_w;
int img_blob_w_new(struct img_store *st, uint64_t max, struct img_blob_w **ret, struct al_err *err);
int img_blob_w_write(struct img_blob_w *w, const void *buf, size_t len); /* -EFBIG past max */
uint64_t img_blob_w_size(const struct img_blob_w *w);
/* Verify and rename into place.  expected may be NULL (take the computed digest);
 * expected_size < 0: unchecked.  ret_digest may be NULL. */
int img_blob_w_commit(struct img_blob_w *w, const char *expected, int64_t expected_size,
                      char ret_digest[AL_DIGEST_LEN], struct al_err *err);
void img_blob_w_free(struct img_blob_w *w); /* aborts (deletes the temp file) unless committed */
/* Trusted sources only: hash fd's whole content (must equal expected), then hardlink fd (not
 * the writer's temp file) into place under expected. */
int img_blob_w_hash_fd(struct img_blob_w *w, int fd, const char *expected);
int img_blob_w_commit_link(struct img_blob_w *w, int fd, const char *expected);

/* ---- archive import (import.c) ---- */
struct img_afile { /* a regular file or symlink of an archive */
    char *name;    /* normalised ("./a//b" -> "a/b") */
    char *link;    /* symlink entries: normalised target, else NULL */
    char digest[AL_DIGEST_LEN];
    uint64_t size;
};
struct img_archive {
    struct img_afile *files;
    size_t n;
    char *index, *layout, *manifest; /* index.json, oci-layout, manifest.json (NUL-terminated) */
    size_t index_len, manifest_len;
};
/* One streaming pass over an oci-archive / docker-archive tar stream: blobs/sha256/<hex>
 * entries go into the store verified against their name, other regular files into the store
 * under their computed digest, symlinks are remembered, the small documents kept.  Clear a
 * (zeroed before the call) with img_archive_clear() whatever the result. */
int img_archive_scan(struct img_store *st, struct img_rd *rd, struct img_archive *a,
                     struct al_err *err);
void img_archive_clear(struct img_archive *a);
/* docker save's manifest.json ([{"Config":"<file>","RepoTags":["n:t"],"Layers":[...]}]): the
 * entry tagged `tag` (NULL or "" = the first), its config and layers resolved to files of the
 * archive (through its symlinks).  ret->layers: borrowed pointers into a, in an array the
 * caller frees. */
struct img_docker_image {
    const struct img_afile *config;
    const struct img_afile **layers;
    size_t n_layers;
};
int img_docker_manifest_decode(const struct img_archive *a, const char *tag,
                               struct img_docker_image *ret, struct al_err *err);

/* img_import with trusted = true: a layout on the store's filesystem has its verified blobs
 * hardlinked instead of copied (the built-in cache). */
int img_import_ex(struct img_store *st, const char *path, const char *tag, bool trusted,
                  struct img_info *ret, struct al_err *err);
/* Copy a stream into the store, verifying. */
int img_blob_put_rd(struct img_store *st, struct img_rd *rd, uint64_t max, const char *expected,
                    int64_t expected_size, char ret_digest[AL_DIGEST_LEN], struct al_err *err);
int img_blob_put_buf(struct img_store *st, const void *buf, size_t len, const char *expected,
                     char ret_digest[AL_DIGEST_LEN], struct al_err *err);
bool img_blob_has(struct img_store *st, const char *digest);
int img_blob_open(struct img_store *st, const char *digest, struct al_err *err); /* owned fd */
int img_blob_read(struct img_store *st, const char *digest, size_t max, char **ret, size_t *ret_len,
                  struct al_err *err);
/* The manifest blob `digest` is in the store with its config and layer blobs: decode it,
 * unpack any missing layers, fill ret. */
int img_store_load(struct img_store *st, const char *digest, struct img_info *ret,
                   struct al_err *err);
/* Index -> single manifest digest (from the store); used by imports. */
int img_store_resolve(struct img_store *st, const char *digest, const char *tag,
                      char ret[AL_DIGEST_LEN], struct al_err *err);
