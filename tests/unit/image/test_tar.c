#include "harness.h"

#include <string.h>

#include "common/cleanup.h"
#include "image/img_internal.h"
#include "tarw.h"

struct rd_ctx {
    struct img_mem_rd m;
    struct img_rd rd;
    struct img_tar *t;
};

static void open_tar(struct rd_ctx *c, struct tarw *w, uint64_t max_entries)
{
    img_mem_rd_init(&c->m, w->buf, w->len, &c->rd);
    assert_int_equal(img_tar_new(&c->rd, max_entries, &c->t), 0);
}

static void test_header(void **state)
{
    struct tarw w = {0};
    tarw_hdr(&w, "dir/file", '0', 04755, NULL, "abc", 3, 1000, 2000);
    struct img_tar_hdr h;
    assert_int_equal(img_tar_header_parse(w.buf, &h), 1);
    assert_string_equal(h.name, "dir/file");
    assert_int_equal(h.mode, 04755);
    assert_int_equal(h.uid, 1000);
    assert_int_equal(h.gid, 2000);
    assert_int_equal(h.size, 3);
    assert_int_equal(h.typeflag, '0');
    /* bad checksum */
    w.buf[0] ^= 1;
    assert_int_equal(img_tar_header_parse(w.buf, &h), -EBADMSG);
    w.buf[0] ^= 1;
    /* ustar prefix */
    memcpy(w.buf + 345, "some/prefix", 11);
    memset(w.buf + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += w.buf[i];
    snprintf((char *)w.buf + 148, 8, "%06o", sum);
    assert_int_equal(img_tar_header_parse(w.buf, &h), 1);
    assert_string_equal(h.name, "some/prefix/dir/file");
    /* GNU base-256 size */
    memset(w.buf + 124, 0, 12);
    w.buf[124] = 0x80;
    w.buf[135] = 0x10;
    w.buf[134] = 0x01; /* 0x110 = 272 */
    memset(w.buf + 148, ' ', 8);
    sum = 0;
    for (int i = 0; i < 512; i++)
        sum += w.buf[i];
    snprintf((char *)w.buf + 148, 8, "%06o", sum);
    assert_int_equal(img_tar_header_parse(w.buf, &h), 1);
    assert_int_equal(h.size, 272);
    /* garbage in a numeric field */
    memcpy(w.buf + 108, "12x4567", 7);
    assert_int_equal(img_tar_header_parse(w.buf, &h), -EBADMSG);
    uint8_t zero[512] = {0};
    assert_int_equal(img_tar_header_parse(zero, &h), 0);
    free(w.buf);
}

static void test_pax(void **state)
{
    struct img_pax p;
    struct al_err err = {0};
    const char *rec = "29 path=a/very/long/name/x.y\n"
                      "16 linkpath=tgt\n"
                      "11 size=42\n"
                      "21 mtime=1.123456789\n"
                      "31 SCHILY.xattr.user.x=ignored\n";
    assert_int_equal(img_pax_parse(rec, strlen(rec), &p, &err), 0);
    assert_string_equal(p.path, "a/very/long/name/x.y");
    assert_string_equal(p.linkpath, "tgt");
    assert_true(p.has_size);
    assert_int_equal(p.size, 42);
    assert_int_equal(p.mtime, 1);
    img_pax_clear(&p);
    const char *bad[] = {"5 a=b\n",    "99 path=x\n",   "12 path=abc", "x path=abc\n",
                         "9 noeq\n\n", "12 size=abc\n", "8 path=\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (img_pax_parse(bad[i], strlen(bad[i]), &p, &err) == 0)
            fail_msg("accepted bad pax record %zu", i);
}

static void test_stream_longnames(void **state)
{
    char longname[400], longlink[300];
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    longname[100] = '/';
    memset(longlink, 'l', sizeof(longlink) - 1);
    longlink[sizeof(longlink) - 1] = '\0';
    struct tarw w = {0};
    tarw_gnu_long(&w, 'L', longname);
    tarw_gnu_long(&w, 'K', longlink);
    tarw_hdr(&w, "short", '2', 0777, "short-link", NULL, 0, 0, 0);
    tarw_pax(&w, "path", "pax/path/name");
    tarw_pax(&w, "uid", "123456789");
    tarw_hdr(&w, "ignored", '0', 0644, NULL, "hello", 5, 0, 0);
    tarw_hdr(&w, "after", '0', 0644, NULL, "x", 1, 0, 0);
    tarw_end(&w);
    struct rd_ctx c;
    open_tar(&c, &w, 0);
    struct img_tar_entry e;
    struct al_err err = {0};
    assert_int_equal(img_tar_next(c.t, &e, &err), 1);
    assert_string_equal(e.name, longname);
    assert_string_equal(e.linkname, longlink);
    assert_int_equal(e.type, IMG_TAR_SYMLINK);
    assert_int_equal(img_tar_next(c.t, &e, &err), 1);
    assert_string_equal(e.name, "pax/path/name");
    assert_int_equal(e.uid, 123456789);
    assert_int_equal(e.size, 5);
    char buf[16];
    assert_int_equal(img_tar_read(c.t, buf, sizeof(buf)), 5);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(img_tar_read(c.t, buf, sizeof(buf)), 0);
    assert_int_equal(img_tar_next(c.t, &e, &err), 1); /* pax applies to one entry only */
    assert_string_equal(e.name, "after");
    assert_int_equal(e.uid, 0);
    assert_int_equal(img_tar_next(c.t, &e, &err), 0);
    img_tar_free(c.t);
    free(w.buf);
}

static void test_stream_errors(void **state)
{
    struct al_err err = {0};
    struct img_tar_entry e;
    /* truncated data */
    struct tarw w = {0};
    tarw_hdr(&w, "f", '0', 0644, NULL, "0123456789", 10, 0, 0);
    w.len -= 512; /* drop the data block */
    struct rd_ctx c;
    open_tar(&c, &w, 0);
    assert_int_equal(img_tar_next(c.t, &e, &err), 1);
    char buf[16];
    assert_true(img_tar_read(c.t, buf, sizeof(buf)) < 0);
    img_tar_free(c.t);
    free(w.buf);

    /* too many entries */
    memset(&w, 0, sizeof(w));
    for (int i = 0; i < 20; i++)
        tarw_hdr(&w, "d", '5', 0755, NULL, NULL, 0, 0, 0);
    tarw_end(&w);
    open_tar(&c, &w, 10);
    int rc, n = 0;
    while ((rc = img_tar_next(c.t, &e, &err)) == 1)
        n++;
    assert_int_equal(rc, -E2BIG);
    assert_int_equal(n, 10);
    assert_int_equal(err.kind, AL_ERR_LIMIT);
    img_tar_free(c.t);
    free(w.buf);

    /* oversized pax header */
    memset(&w, 0, sizeof(w));
    size_t big = (2u << 20);
    char *junk = malloc(big);
    memset(junk, 'a', big);
    tarw_hdr(&w, "PaxHeaders/x", 'x', 0644, NULL, junk, big, 0, 0);
    tarw_end(&w);
    open_tar(&c, &w, 0);
    assert_int_equal(img_tar_next(c.t, &e, &err), -EFBIG);
    img_tar_free(c.t);
    free(w.buf);
    free(junk);

    /* meta header followed by the end */
    memset(&w, 0, sizeof(w));
    tarw_gnu_long(&w, 'L', "name");
    tarw_end(&w);
    open_tar(&c, &w, 0);
    assert_true(img_tar_next(c.t, &e, &err) < 0);
    img_tar_free(c.t);
    free(w.buf);

    /* garbage */
    uint8_t g[1024];
    memset(g, 'x', sizeof(g));
    struct img_mem_rd m;
    struct img_rd rd;
    img_mem_rd_init(&m, g, sizeof(g), &rd);
    struct img_tar *t;
    assert_int_equal(img_tar_new(&rd, 0, &t), 0);
    assert_int_equal(img_tar_next(t, &e, &err), -EBADMSG);
    img_tar_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header),
        cmocka_unit_test(test_pax),
        cmocka_unit_test(test_stream_longnames),
        cmocka_unit_test(test_stream_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
