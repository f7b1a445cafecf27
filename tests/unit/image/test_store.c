/* Content store: verified writes, layouts and archives built in the test, gc. */
#include "harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/ids.h"
#include "image/img_internal.h"
#include "tarw.h"

static char dir[256], sdir[300];
static struct img_store *st;

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/img-store-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(sdir, sizeof(sdir), "%s/store", dir);
    struct al_err err = {0};
    return img_store_open(sdir, &st, &err);
}

static int teardown(void **state)
{
    img_store_free(st);
    st = NULL;
    al_rm_rf(dir);
    return 0;
}

static int count_entries(const char *sub)
{
    char p[400];
    snprintf(p, sizeof(p), "%s/%s", sdir, sub);
    DIR *d = opendir(p);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.' || strncmp(de->d_name, ".tmp-", 5) == 0)
            n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    closedir(d);
    return n;
}

static void test_blob_verify(void **state)
{
    struct al_err err = {0};
    char d[AL_DIGEST_LEN], want[AL_DIGEST_LEN];
    al_sha256_digest("hello", 5, want);
    assert_int_equal(img_blob_put_buf(st, "hello", 5, want, d, &err), 0);
    assert_string_equal(d, want);
    assert_true(img_blob_has(st, want));
    /* mismatch: error, no temp file left, nothing under the claimed name */
    const char *claimed = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    assert_int_equal(img_blob_put_buf(st, "evil", 4, claimed, NULL, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "digest mismatch"));
    assert_false(img_blob_has(st, claimed));
    assert_int_equal(count_entries("blobs/sha256"), 1);
    /* size mismatch and size limit */
    struct img_mem_rd m;
    struct img_rd rd;
    img_mem_rd_init(&m, "hello", 5, &rd);
    assert_int_equal(img_blob_put_rd(st, &rd, 0, want, 6, NULL, &err), -EBADMSG);
    img_mem_rd_init(&m, "hello", 5, &rd);
    assert_int_equal(img_blob_put_rd(st, &rd, 4, NULL, -1, NULL, &err), -EFBIG);
    assert_int_equal(count_entries("blobs/sha256"), 1);
    /* a blob corrupted in the store is detected on read */
    char *buf;
    size_t len;
    assert_int_equal(img_blob_read(st, want, 100, &buf, &len, &err), 0);
    free(buf);
    char p[400];
    snprintf(p, sizeof(p), "%s/blobs/sha256/%s", sdir, want + 7);
    assert_int_equal(al_write_file_at(AT_FDCWD, p, "jello", 5, 0600), 0);
    assert_int_equal(img_blob_read(st, want, 100, &buf, &len, &err), -EBADMSG);
}

/* ---- a small image, written as an OCI layout or archive by the test ---- */

struct blob {
    char digest[AL_DIGEST_LEN];
    uint8_t *data;
    size_t len;
};

static void mkblob(struct blob *b, const void *data, size_t len)
{
    b->data = malloc(len + 1);
    memcpy(b->data, data, len);
    b->len = len;
    al_sha256_digest(data, len, b->digest);
}

static void layer_tar(struct tarw *w, const char *fname)
{
    tarw_hdr(w, "bin/", '5', 0755, NULL, NULL, 0, 0, 0);
    tarw_file(w, fname, 0755, "#!/bin/sh\necho hi\n");
    tarw_end(w);
}

static void gzip_buf(const struct tarw *in, struct blob *out)
{
    uLongf cap = compressBound(in->len) + 64;
    uint8_t *buf = malloc(cap);
    z_stream z = {0};
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = in->buf;
    z.avail_in = (uInt)in->len;
    z.next_out = buf;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    mkblob(out, buf, z.total_out);
    deflateEnd(&z);
    free(buf);
}

static void zstd_buf(const struct tarw *in, struct blob *out)
{
    size_t cap = ZSTD_compressBound(in->len);
    uint8_t *buf = malloc(cap);
    size_t n = ZSTD_compress(buf, cap, in->buf, in->len, 3);
    assert_false(ZSTD_isError(n));
    mkblob(out, buf, n);
    free(buf);
}

struct image {
    struct blob layer1, layer2, config, manifest;
    char index[2048];
};

static void make_image_x(struct image *im, bool corrupt_layer, bool bad_diff_id)
{
    struct tarw w1 = {0}, w2 = {0};
    layer_tar(&w1, "bin/one");
    layer_tar(&w2, "bin/two");
    gzip_buf(&w1, &im->layer1);
    zstd_buf(&w2, &im->layer2);
    char d1[AL_DIGEST_LEN], d2[AL_DIGEST_LEN];
    al_sha256_digest(w1.buf, w1.len, d1);
    al_sha256_digest(bad_diff_id ? w1.buf : w2.buf, bad_diff_id ? w1.len : w2.len, d2);
    free(w1.buf);
    free(w2.buf);
    char cfg[1024];
    snprintf(cfg, sizeof(cfg),
             "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Env\":"
             "[\"PATH=/bin\"],\"Cmd\":[\"/bin/one\"],\"User\":\"nobody\"},"
             "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\",\"%s\"]}}",
             d1, d2);
    mkblob(&im->config, cfg, strlen(cfg));
    char man[2048];
    snprintf(man, sizeof(man),
             "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
             "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
             "\"digest\":\"%s\",\"size\":%zu},\"layers\":["
             "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"%s\","
             "\"size\":%zu},"
             "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+zstd\",\"digest\":\"%s\","
             "\"size\":%zu}]}",
             im->config.digest, im->config.len, im->layer1.digest, im->layer1.len,
             im->layer2.digest, im->layer2.len);
    mkblob(&im->manifest, man, strlen(man));
    snprintf(im->index, sizeof(im->index),
             "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
             "\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu,"
             "\"annotations\":{\"org.opencontainers.image.ref.name\":\"v1\"}}]}",
             im->manifest.digest, im->manifest.len);
    if (corrupt_layer)
        im->layer2.data[im->layer2.len / 2] ^= 0xff; /* content no longer matches its name */
}

static void make_image(struct image *im, bool corrupt_layer)
{
    make_image_x(im, corrupt_layer, false);
}

static void free_image(struct image *im)
{
    free(im->layer1.data);
    free(im->layer2.data);
    free(im->config.data);
    free(im->manifest.data);
}

static void write_layout(const struct image *im, const char *path)
{
    char p[600];
    snprintf(p, sizeof(p), "%s/blobs/sha256", path);
    assert_int_equal(al_mkdir_p(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/oci-layout", path);
    assert_int_equal(al_write_file_at(AT_FDCWD, p, "{\"imageLayoutVersion\":\"1.0.0\"}", 30, 0644),
                     0);
    snprintf(p, sizeof(p), "%s/index.json", path);
    assert_int_equal(al_write_file_at(AT_FDCWD, p, im->index, strlen(im->index), 0644), 0);
    const struct blob *bs[] = {&im->layer1, &im->layer2, &im->config, &im->manifest};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof(p), "%s/blobs/sha256/%s", path, bs[i]->digest + 7);
        assert_int_equal(al_write_file_at(AT_FDCWD, p, bs[i]->data, bs[i]->len, 0644), 0);
    }
}

static void check_info(const struct img_info *info, const struct image *im)
{
    assert_string_equal(info->digest, im->manifest.digest);
    assert_int_equal(info->n_layers, 2);
    assert_int_equal(info->size, im->layer1.len + im->layer2.len);
    assert_string_equal(info->config.user, "nobody");
    assert_string_equal(info->config.cmd[0], "/bin/one");
    char p[600];
    struct stat s;
    snprintf(p, sizeof(p), "%s/bin/one", info->layer_dirs[0]);
    assert_int_equal(stat(p, &s), 0);
    snprintf(p, sizeof(p), "%s/bin/two", info->layer_dirs[1]);
    assert_int_equal(stat(p, &s), 0);
    assert_null(info->layer_dirs[2]);
}

static void test_layout_import_get_gc(void **state)
{
    if (geteuid() != 0)
        skip();
    struct image im;
    make_image(&im, false);
    char lay[400];
    snprintf(lay, sizeof(lay), "%s/layout", dir);
    write_layout(&im, lay);
    struct al_err err = {0};
    struct img_info info;
    assert_int_equal(img_import(st, lay, NULL, &info, &err), 0);
    check_info(&info, &im);
    img_info_free(&info);
    assert_int_equal(img_import(st, lay, "v1", &info, &err), 0);
    img_info_free(&info);
    assert_int_equal(img_import(st, lay, "nope", &info, &err), -ENOENT);

    /* get works from the store alone, and re-unpacks a missing layer dir */
    char ld[400];
    snprintf(ld, sizeof(ld), "%s/layers/%s", sdir, im.layer1.digest + 7);
    assert_int_equal(al_rm_rf(ld), 0);
    assert_int_equal(img_get(st, im.manifest.digest, &info, &err), 0);
    check_info(&info, &im);
    img_info_free(&info);

    /* gc keeping it removes nothing; an unrelated blob goes */
    assert_int_equal(img_blob_put_buf(st, "junk", 4, NULL, NULL, &err), 0);
    assert_int_equal(count_entries("blobs/sha256"), 5);
    const char *keep[] = {im.manifest.digest, NULL};
    assert_int_equal(img_gc(st, keep, &err), 0);
    assert_int_equal(count_entries("blobs/sha256"), 4);
    assert_int_equal(count_entries("layers"), 2);
    const char *none[] = {NULL};
    assert_int_equal(img_gc(st, none, &err), 0);
    assert_int_equal(count_entries("blobs/sha256"), 0);
    assert_int_equal(count_entries("layers"), 0);
    assert_int_equal(img_get(st, im.manifest.digest, &info, &err), -ENOENT);
    free_image(&im);
}

static void test_layout_corrupt_blob(void **state)
{
    if (geteuid() != 0)
        skip();
    struct image im;
    make_image(&im, true);
    char lay[400];
    snprintf(lay, sizeof(lay), "%s/layout", dir);
    write_layout(&im, lay);
    struct al_err err = {0};
    struct img_info info;
    assert_int_equal(img_import(st, lay, NULL, &info, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "digest mismatch"));
    assert_false(img_blob_has(st, im.layer2.digest));
    assert_int_equal(count_entries("layers"), 0); /* nothing unpacked, no temp dir left */
    char p[400];
    snprintf(p, sizeof(p), "%s/blobs/sha256", sdir);
    DIR *d = opendir(p);
    struct dirent *de;
    while ((de = readdir(d)))
        assert_true(strncmp(de->d_name, ".tmp-", 5) != 0);
    closedir(d);
    free_image(&im);
}

static void test_layout_bad_diff_id(void **state)
{
    if (geteuid() != 0)
        skip();
    struct image im;
    make_image_x(&im, false, true);
    char lay[400];
    snprintf(lay, sizeof(lay), "%s/layout", dir);
    write_layout(&im, lay);
    struct al_err err = {0};
    struct img_info info;
    assert_int_equal(img_import(st, lay, NULL, &info, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "diff_id"));
    assert_int_equal(count_entries("layers"), 1); /* layer 1 is fine; layer 2 never appears */
    free_image(&im);
}

static void test_layout_symlinked_blob(void **state)
{
    if (geteuid() != 0)
        skip();
    struct image im;
    make_image(&im, false);
    char lay[400], p[600];
    snprintf(lay, sizeof(lay), "%s/layout", dir);
    write_layout(&im, lay);
    /* the config blob becomes a symlink to a host file: never followed */
    snprintf(p, sizeof(p), "%s/blobs/sha256/%s", lay, im.config.digest + 7);
    unlink(p);
    assert_int_equal(symlink("/etc/hostname", p), 0);
    struct al_err err = {0};
    struct img_info info;
    assert_true(img_import(st, lay, NULL, &info, &err) < 0);
    free_image(&im);
}

static void add_file(struct tarw *w, const char *name, const void *data, size_t len)
{
    tarw_hdr(w, name, '0', 0644, NULL, data, len, 0, 0);
}

static void test_oci_archive(void **state)
{
    if (geteuid() != 0)
        skip();
    struct image im;
    make_image(&im, false);
    struct tarw w = {0};
    char n[200];
    add_file(&w, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
    const struct blob *bs[] = {&im.layer1, &im.layer2, &im.config, &im.manifest};
    for (size_t i = 0; i < 4; i++) {
        snprintf(n, sizeof(n), "blobs/sha256/%s", bs[i]->digest + 7);
        add_file(&w, n, bs[i]->data, bs[i]->len);
    }
    add_file(&w, "index.json", im.index, strlen(im.index));
    tarw_end(&w);
    char path[400];
    snprintf(path, sizeof(path), "%s/img.oci.tar", dir);
    assert_int_equal(al_write_file_at(AT_FDCWD, path, w.buf, w.len, 0644), 0);
    free(w.buf);
    struct al_err err = {0};
    struct img_info info;
    assert_int_equal(img_import(st, path, NULL, &info, &err), 0);
    check_info(&info, &im);
    img_info_free(&info);
    free_image(&im);
}

static void test_docker_archive(void **state)
{
    if (geteuid() != 0)
        skip();
    struct image im;
    make_image(&im, false);
    /* docker save: uncompressed layer tars, one duplicated via a symlink */
    struct tarw l = {0}, w = {0};
    layer_tar(&l, "bin/one");
    add_file(&w, "aaa/layer.tar", l.buf, l.len);
    tarw_hdr(&w, "bbb/layer.tar", '2', 0777, "../aaa/layer.tar", NULL, 0, 0, 0);
    add_file(&w, "cfg.json", im.config.data, im.config.len);
    const char *mj = "[{\"Config\":\"cfg.json\",\"RepoTags\":[\"x/y:t1\"],"
                     "\"Layers\":[\"aaa/layer.tar\",\"bbb/layer.tar\"]}]";
    add_file(&w, "manifest.json", mj, strlen(mj));
    tarw_end(&w);
    char path[400];
    snprintf(path, sizeof(path), "%s/img.docker.tar", dir);
    assert_int_equal(al_write_file_at(AT_FDCWD, path, w.buf, w.len, 0644), 0);
    struct al_err err = {0};
    struct img_info info;
    assert_int_equal(img_import(st, path, "t1", &info, &err), 0);
    assert_int_equal(info.n_layers, 2);
    assert_string_equal(info.layer_dirs[0], info.layer_dirs[1]);
    assert_int_equal(info.size, 2 * l.len);
    assert_string_equal(info.config.user, "nobody");
    img_info_free(&info);
    assert_int_equal(img_import(st, path, "t2", &info, &err), -ENOENT);
    free(l.buf);
    free(w.buf);
    free_image(&im);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_blob_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_layout_import_get_gc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_layout_corrupt_blob, setup, teardown),
        cmocka_unit_test_setup_teardown(test_layout_bad_diff_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_layout_symlinked_blob, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oci_archive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_docker_archive, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
