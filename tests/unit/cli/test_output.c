#include "harness.h"

#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/output.h"
#include "common/cleanup.h"
#include "common/json.h"

static char *render(const struct cli_table *t)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cli_table_render(t, f);
    fclose(f);
    return buf;
}

static void test_table(void **state)
{
    static const char *const hdr[] = {"NAME", "STATE", "X"};
    struct cli_table t;
    cli_table_init(&t, 3, hdr);
    const char *r1[] = {"alpha", "running", "1"};
    const char *r2[] = {"b", NULL, "22"};
    assert_int_equal(cli_table_add(&t, r1), 0);
    assert_int_equal(cli_table_add(&t, r2), 0);
    cleanup_free char *out = render(&t);
    assert_string_equal(out, "NAME    STATE     X\n"
                             "alpha   running   1\n"
                             "b       -         22\n");
    cli_table_free(&t);
}

static void test_table_sanitize_and_utf8(void **state)
{
    static const char *const hdr[] = {"A", "B"};
    struct cli_table t;
    cli_table_init(&t, 2, hdr);
    const char *r1[] = {"x\033[31my\n", "z"};
    const char *r2[] = {"\xc3\xa9t\xc3\xa9", "w"}; /* "été": 3 columns wide, 5 bytes */
    assert_int_equal(cli_table_add(&t, r1), 0);
    assert_int_equal(cli_table_add(&t, r2), 0);
    cleanup_free char *out = render(&t);
    assert_string_equal(out, "A          B\n"
                             "x?[31my?   z\n"
                             "\xc3\xa9t\xc3\xa9        w\n");
    cli_table_free(&t);
}

static void test_empty_table(void **state)
{
    static const char *const hdr[] = {"ID", "STATE"};
    struct cli_table t;
    cli_table_init(&t, 2, hdr);
    cleanup_free char *out = render(&t);
    assert_string_equal(out, "ID   STATE\n");
    cli_table_free(&t);
}

static void test_format(void **state)
{
    cleanup_json json_t *j = json_pack("{s:s,s:b,s:I,s:{s:s,s:i},s:s,s:n,s:{}}", "s", "text", "b",
                                       1, "n", (json_int_t)1536, "o", "a", "1", "b", 2, "d",
                                       "sha256:0123456789abcdef0123", "z", "e");
    char *v;
    v = cli_format_value(json_object_get(j, "s"), CLI_FMT_TEXT);
    assert_string_equal(v, "text");
    free(v);
    v = cli_format_value(json_object_get(j, "b"), CLI_FMT_BOOL);
    assert_string_equal(v, "yes");
    free(v);
    v = cli_format_value(json_object_get(j, "n"), CLI_FMT_BYTES);
    assert_string_equal(v, "1.5 KiB");
    free(v);
    v = cli_format_value(json_object_get(j, "n"), CLI_FMT_TEXT);
    assert_string_equal(v, "1536");
    free(v);
    v = cli_format_value(json_object_get(j, "o"), CLI_FMT_KV);
    assert_string_equal(v, "a=1,b=2");
    free(v);
    v = cli_format_value(json_object_get(j, "d"), CLI_FMT_DIGEST);
    assert_string_equal(v, "sha256:0123456789ab");
    free(v);
    v = cli_format_value(json_object_get(j, "z"), CLI_FMT_TEXT);
    assert_string_equal(v, "-");
    free(v);
    v = cli_format_value(NULL, CLI_FMT_TEXT);
    assert_string_equal(v, "-");
    free(v);
    v = cli_format_value(json_object_get(j, "e"), CLI_FMT_KV);
    assert_string_equal(v, "-");
    free(v);
    char b[32];
    cli_format_bytes(0, b, sizeof(b));
    assert_string_equal(b, "0 B");
    cli_format_bytes(3u << 20, b, sizeof(b));
    assert_string_equal(b, "3.0 MiB");
}

static void test_print_list(void **state)
{
    cleanup_json json_t *arr =
        json_pack("[{s:s,s:{s:s}},{s:s}]", "name", "g1", "labels", "team", "x", "name", "g2");
    static const struct cli_col cols[] = {{"NAME", "name", CLI_FMT_TEXT},
                                          {"LABELS", "labels", CLI_FMT_KV}};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(cli_print_list(f, arr, cols, 2), 0);
    fclose(f);
    assert_string_equal(buf, "NAME   LABELS\ng1     team=x\ng2     -\n");
    free(buf);
}

static void test_print_object(void **state)
{
    cleanup_json json_t *o =
        json_pack("{s:s,s:{s:f},s:[i,i]}", "name", "g", "resources", "cpu", 1.5, "list", 1, 2);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(cli_print_object(f, o), 0);
    fclose(f);
    assert_string_equal(buf, "name        g\nresources   cpu=1.5\nlist        [1,2]\n");
    free(buf);
}

struct collect {
    char lines[8][64];
    int n;
};

static int on_line(void *ud, char *line, size_t len)
{
    struct collect *c = ud;
    if (c->n >= 8)
        return -1;
    snprintf(c->lines[c->n++], 64, "%.*s", (int)len, line);
    return 0;
}

static void test_lines(void **state)
{
    struct collect c = {0};
    struct cli_lines l = {.max_line = 32, .on_line = on_line, .ud = &c};
    assert_int_equal(cli_lines_feed(&l, "{\"a\":1}\n{\"b\"", 12), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(cli_lines_feed(&l, ":2}\n\n{\"c\":3}", 13), 0);
    assert_int_equal(c.n, 2);
    assert_int_equal(cli_lines_finish(&l), 0);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.lines[0], "{\"a\":1}");
    assert_string_equal(c.lines[1], "{\"b\":2}");
    assert_string_equal(c.lines[2], "{\"c\":3}");
    struct cli_lines l2 = {.max_line = 4, .on_line = on_line, .ud = &c};
    assert_int_equal(cli_lines_feed(&l2, "123456", 6), -E2BIG);
    cli_buf_free(&l2.buf);
}

static void test_progress(void **state)
{
    char out[128];
    cli_progress_render(out, sizeof(out), 512, 1024, 10);
    assert_string_equal(out, "[#####.....]  50% 512 B / 1.0 KiB");
    cli_progress_render(out, sizeof(out), 2048, 1024, 4);
    assert_string_equal(out, "[####] 100% 1.0 KiB / 1.0 KiB");
    cli_progress_render(out, sizeof(out), 10, 0, 4);
    assert_string_equal(out, "pulling 10 B");
}

static void test_image_name(void **state)
{
    char n[64];
    assert_true(cli_image_name_from_path("/tmp/My_Image.tar", n, sizeof(n)));
    assert_string_equal(n, "my-image");
    assert_true(cli_image_name_from_path("alpine.oci.tar", n, sizeof(n)));
    assert_string_equal(n, "alpine");
    assert_true(cli_image_name_from_path("dir/layout/", n, sizeof(n)));
    assert_string_equal(n, "layout");
    assert_false(cli_image_name_from_path(".tar", n, sizeof(n)));
    assert_false(cli_image_name_from_path("-bad-.tar", n, sizeof(n)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),       cmocka_unit_test(test_table_sanitize_and_utf8),
        cmocka_unit_test(test_empty_table), cmocka_unit_test(test_format),
        cmocka_unit_test(test_print_list),  cmocka_unit_test(test_print_object),
        cmocka_unit_test(test_lines),       cmocka_unit_test(test_progress),
        cmocka_unit_test(test_image_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
