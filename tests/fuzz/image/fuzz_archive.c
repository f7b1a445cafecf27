/* libFuzzer target: `airlock image import` of an oci-archive / docker-archive file, up to the
 * point where the image is known: decompression (sniffed as import does), the archive scan
 * (img_archive_scan: names, symlinks resolved lexically, blobs verified against their names,
 * other files stored under their digest, index.json / oci-layout / manifest.json kept) into a
 * fresh store in a temp dir, then docker's manifest.json decoded and resolved against the
 * archive (img_docker_manifest_decode) for the first image and for the tag "latest", and an
 * oci-archive's index.json decoded and picked from.
 *
 * Checked: every file the scan records has a normalised name (and symlink target) without
 * "", "." or ".." components or a leading '/', every regular one a valid digest whose blob
 * is in the store, and what the manifest decode returns are regular files of the archive.
 * A violation abort()s.  The store is removed afterwards (fd-relative). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/ids.h"
#include "fuzz_tmpdir.h"
#include "image/img_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ARCHIVE_MAX_INPUT (64u << 10)
#define ARCHIVE_MAX_PLAIN (8u << 20)

#define CHECK(cond, ...) FUZZ_CHECK("fuzz_archive", cond, __VA_ARGS__)

static bool name_normal(const char *s)
{
    if (s[0] == '/')
        return false;
    for (const char *p = s; *p;) {
        const char *e = strchrnul(p, '/');
        size_t n = (size_t)(e - p);
        if (n == 0 && *e) /* "a//b" or a trailing '/' */
            return false;
        if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        p = *e ? e + 1 : e;
        if (*e && !*p)
            return false;
    }
    return true;
}

static bool in_archive(const struct img_archive *a, const struct img_afile *f)
{
    return f >= a->files && f < a->files + a->n && !f->link;
}

static void docker(const struct img_archive *a, const char *tag)
{
    struct img_docker_image di;
    struct al_err err = {0};
    if (img_docker_manifest_decode(a, tag, &di, &err) < 0)
        return;
    CHECK(in_archive(a, di.config), "manifest.json config is not a file of the archive");
    CHECK(di.n_layers <= IMG_MAX_LAYERS && di.layers[di.n_layers] == NULL, "layer list");
    for (size_t i = 0; i < di.n_layers; i++)
        CHECK(in_archive(a, di.layers[i]), "manifest.json layer %zu is not a file of the archive",
              i);
    free(di.layers);
}

static void oci(const struct img_archive *a)
{
    struct img_index ix;
    struct al_err err = {0};
    if (img_index_decode(a->index, a->index_len, &ix, &err) < 0)
        return;
    const struct img_desc *d;
    if (img_index_pick(&ix, NULL, &d, &err) == 0)
        CHECK(d >= ix.manifests && d < ix.manifests + ix.n, "index pick out of the index");
    (void)img_index_pick(&ix, "latest", &d, &err);
    img_index_clear(&ix);
}

static void scan(struct img_store *st, const uint8_t *data, size_t size)
{
    struct img_mem_rd m;
    struct img_rd raw, plain;
    img_mem_rd_init(&m, data, size, &raw);
    struct img_decomp *dc = NULL;
    if (img_decomp_new(&raw, img_comp_sniff(data, size), ARCHIVE_MAX_PLAIN, &dc, &plain) < 0)
        return;
    struct img_archive a = {0};
    struct al_err err = {0};
    int rc = img_archive_scan(st, &plain, &a, &err);
    img_decomp_free(dc);
    for (size_t i = 0; i < a.n; i++) {
        const struct img_afile *f = &a.files[i];
        CHECK(f->name && name_normal(f->name), "archive name '%s' not normalised", f->name);
        if (f->link) {
            CHECK(name_normal(f->link), "symlink target '%s' not normalised", f->link);
            continue;
        }
        CHECK(al_digest_valid(f->digest) && img_blob_has(st, f->digest),
              "file '%s' recorded without its blob (%s)", f->name, f->digest);
    }
    if (rc == 0 && a.index)
        oci(&a);
    if (rc == 0 && a.manifest) {
        docker(&a, NULL);
        docker(&a, "latest");
    }
    img_archive_clear(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > ARCHIVE_MAX_INPUT)
        return 0;
    struct fuzz_tmpdir t;
    fuzz_tmpdir_make(&t, "fuzz-archive");
    struct img_store *st = NULL;
    struct al_err err = {0};
    CHECK(img_store_open(t.path, &st, &err) == 0, "store %s: %s", t.path, err.msg);
    scan(st, data, size);
    img_store_free(st);
    fuzz_tmpdir_remove(&t);
    return 0;
}
