/* image: content-addressed store of OCI blobs and unpacked layers.
 *
 * Blobs live under <dir>/blobs/sha256/<hex>, unpacked layers under <dir>/layers/<hex> (keyed
 * by the compressed layer digest), image manifests and configs as blobs.  Names (which tenant
 * calls which digest what) are the daemon's business, kept in SQLite; this component only
 * knows content.  Everything read from a registry, archive or layout is untrusted: every blob
 * is verified against its digest before use, and layers unpack safely (no path escapes).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#include "common/ids.h"

struct img_store;

struct img_config {
    char *user;    /* may be NULL */
    char **env;    /* "K=V", NULL-terminated (never NULL) */
    char *workdir; /* may be NULL */
    char **entrypoint;
    char **cmd;
};

struct img_info {
    char digest[72];   /* manifest digest "sha256:..." */
    char **layer_dirs; /* absolute dirs, lowest first, NULL-terminated */
    size_t n_layers;
    uint64_t size; /* sum of compressed layer sizes */
    struct img_config config;
};
void img_info_free(struct img_info *info);

struct img_pull_opts {
    const char *username, *password; /* basic auth, or the credentials for a token service */
    const char *ca_file;             /* extra CA bundle, added to the system CAs */
    bool plain_http; /* allow http:// registries (default: only 127.0.0.1/localhost) */
    /* progress: bytes done / total for the current image; may be NULL */
    void (*progress)(void *ud, uint64_t done, uint64_t total);
    void *progress_ud;
    /* a transfer that moves no byte for this long fails (0 = IMG_STALL_TIMEOUT_DEFAULT_S) */
    unsigned stall_timeout_s;
};
#define IMG_STALL_TIMEOUT_DEFAULT_S 30u

int img_store_open(const char *dir, struct img_store **ret, struct al_err *err);
void img_store_free(struct img_store *st);

/* ref: "host[:port]/repo[:tag|@digest]" (docker.io is never assumed: a registry host is
 * required, except for the built-in names).  Fetches manifest (or index -> linux/amd64),
 * config and layers, verifies, unpacks.  ret is filled on success. */
int img_pull(struct img_store *st, const char *ref, const struct img_pull_opts *opts,
             struct img_info *ret, struct al_err *err);
/* Import an OCI layout directory, or an oci-archive / docker-archive tar file.  `tag` picks
 * one image where the source holds several (NULL = the only one / the first). */
int img_import(struct img_store *st, const char *path, const char *tag, struct img_info *ret,
               struct al_err *err);
/* Load an image already in the store by manifest digest. */
int img_get(struct img_store *st, const char *digest, struct img_info *ret, struct al_err *err);
/* Remove blobs and layers of every manifest not in keep (NULL-terminated digests).
 * Concurrency: pulls, imports and gets may run in parallel (threads or processes) on one
 * store; img_gc must not run while any of them does (the caller serialises it). */
int img_gc(struct img_store *st, const char *const *keep, struct al_err *err);

/* Built-in images ("busybox", "python"): the host-wide cache dir that scripts/build-images.sh
 * fills (default /var/cache/airlock/images, env AIRLOCK_IMAGE_CACHE).  Imports the cached OCI
 * layout of `name` into the store. */
const char *img_builtin_cache_dir(void);
int img_import_builtin(struct img_store *st, const char *name, struct img_info *ret,
                       struct al_err *err);

/* ---- additions (image engineer) ---- */

/* A parsed registry reference.  host includes the port ("127.0.0.1:5000", "[::1]:5000"). */
struct img_ref {
    char host[256];
    char repo[256];
    char tag[129];              /* "" when pulled by digest only; "latest" when neither given */
    char digest[AL_DIGEST_LEN]; /* "" unless "@sha256:..." was given */
};
int img_ref_parse(const char *s, struct img_ref *ret, struct al_err *err);

/* The blob and layer directory paths of a store (for diagnostics and tests). */
const char *img_store_dir(const struct img_store *st);
/* True when the store holds the manifest blob `digest`. */
bool img_has_manifest(struct img_store *st, const char *digest);
