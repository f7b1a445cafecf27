#include "harness.h"

#include <stdio.h>
#include <string.h>

#include "image/img_internal.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

static int mdecode(const char *s, struct img_manifest *m, struct al_err *err)
{
    return img_manifest_decode(s, strlen(s), m, err);
}

static void test_manifest_ok(void **state)
{
    struct al_err err = {0};
    struct img_manifest m;
    const char *s =
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
        "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
        "\"digest\":\"" D1 "\",\"size\":10},"
        "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\","
        "\"digest\":\"" D2 "\",\"size\":20},"
        "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+zstd\","
        "\"digest\":\"" D3 "\",\"size\":30,\"annotations\":{\"a\":\"b\"}}],"
        "\"annotations\":{\"x\":\"y\"}}";
    assert_int_equal(mdecode(s, &m, &err), 0);
    assert_string_equal(m.config.digest, D1);
    assert_int_equal(m.n_layers, 2);
    assert_int_equal(m.layers[1].size, 30);
    assert_int_equal(img_mt_classify(m.layers[1].media_type), IMG_MT_LAYER_ZSTD);
    img_manifest_clear(&m);
    enum img_mt k;
    assert_int_equal(img_doc_kind(s, strlen(s), NULL, &k, &err), 0);
    assert_int_equal(k, IMG_MT_OCI_MANIFEST);

    const char *d =
        "{\"schemaVersion\":2,"
        "\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
        "\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\","
        "\"digest\":\"" D1 "\",\"size\":10},"
        "\"layers\":[{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\","
        "\"digest\":\"" D2 "\",\"size\":20}]}";
    assert_int_equal(mdecode(d, &m, &err), 0);
    assert_int_equal(img_mt_classify(m.layers[0].media_type), IMG_MT_LAYER_GZIP);
    img_manifest_clear(&m);
    assert_int_equal(img_doc_kind(d, strlen(d), NULL, &k, &err), 0);
    assert_int_equal(k, IMG_MT_DOCKER_MANIFEST);
    assert_int_equal(img_mt_classify("application/vnd.oci.image.index.v1+json; charset=utf-8"),
                     IMG_MT_OCI_INDEX);
}

static void test_manifest_bad(void **state)
{
    struct al_err err = {0};
    struct img_manifest m;
    const char *cfg = "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
                      "\"digest\":\"" D1 "\",\"size\":10}";
    char buf[4096];
    const char *layers[] = {
        "[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"sha256:12\","
        "\"size\":1}]",
        "[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"" D2
        "\",\"size\":-1}]",
        "[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"" D2
        "\",\"size\":\"1\"}]",
        "[{\"mediaType\":\"text/plain\",\"digest\":\"" D2 "\",\"size\":1}]",
        "[{\"mediaType\":\"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip\","
        "\"digest\":\"" D2 "\",\"size\":1}]",
        "{}",
        "[1]",
        "[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"" D2
        "\",\"size\":17179869184},{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\","
        "\"digest\":\"" D2 "\",\"size\":17179869184}]",
    };
    for (size_t i = 0; i < sizeof(layers) / sizeof(layers[0]); i++) {
        snprintf(buf, sizeof(buf), "{\"schemaVersion\":2,%s,\"layers\":%s}", cfg, layers[i]);
        if (mdecode(buf, &m, &err) == 0)
            fail_msg("accepted bad manifest %zu", i);
    }
    const char *whole[] = {
        "not json",
        "[]",
        "{\"schemaVersion\":1,\"layers\":[]}",
        "{\"schemaVersion\":2,\"layers\":[]}", /* no config */
        "{\"schemaVersion\":2,\"schemaVersion\":2}",
        "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\","
        "\"digest\":\"" D1 "\",\"size\":1},\"layers\":[]}", /* config is not a config */
        "{\"schemaVersion\":2,\"config\":{\"digest\":\"" D1 "\",\"size\":99999999},\"layers\":[]}",
    };
    for (size_t i = 0; i < sizeof(whole) / sizeof(whole[0]); i++)
        if (mdecode(whole[i], &m, &err) == 0)
            fail_msg("accepted bad manifest doc %zu", i);
    /* too many layers */
    size_t o = (size_t)snprintf(buf, sizeof(buf), "{\"schemaVersion\":2,%s,\"layers\":[", cfg);
    static char big[200000];
    memcpy(big, buf, o);
    for (int i = 0; i < 300; i++)
        o += (size_t)snprintf(big + o, sizeof(big) - o,
                              "%s{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\","
                              "\"digest\":\"" D2 "\",\"size\":1}",
                              i ? "," : "");
    snprintf(big + o, sizeof(big) - o, "]}");
    assert_int_equal(mdecode(big, &m, &err), -E2BIG);
    assert_int_equal(err.kind, AL_ERR_LIMIT);
    enum img_mt k;
    const char *s1 = "{\"schemaVersion\":1,\"fsLayers\":[]}";
    assert_int_not_equal(img_doc_kind(s1, strlen(s1), NULL, &k, &err), 0);
    const char *wrongmt = "{\"mediaType\":\"application/x-foo\",\"layers\":[]}";
    assert_int_not_equal(img_doc_kind(wrongmt, strlen(wrongmt), NULL, &k, &err), 0);
}

static void test_index(void **state)
{
    struct al_err err = {0};
    struct img_index ix;
    const char *s =
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
        "\"manifests\":["
        "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D1 "\","
        "\"size\":100,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}"
        "},"
        "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D3 "\","
        "\"size\":100,\"platform\":{\"os\":\"unknown\",\"architecture\":\"unknown\"}},"
        "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D2 "\","
        "\"size\":100,\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"},"
        "\"annotations\":{\"org.opencontainers.image.ref.name\":\"v1\"}}]}";
    assert_int_equal(img_index_decode(s, strlen(s), &ix, &err), 0);
    assert_int_equal(ix.n, 3);
    assert_string_equal(ix.manifests[0].arch, "arm64");
    assert_string_equal(ix.manifests[0].variant, "v8");
    const struct img_desc *d;
    assert_int_equal(img_index_pick(&ix, NULL, &d, &err), 0);
    assert_string_equal(d->digest, D2);
    assert_int_equal(img_index_pick(&ix, "v1", &d, &err), 0);
    assert_string_equal(d->digest, D2);
    assert_int_equal(img_index_pick(&ix, "v2", &d, &err), -ENOENT);
    assert_int_equal(err.kind, AL_ERR_NOT_FOUND);
    img_index_clear(&ix);

    const char *arm = "{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"" D1 "\",\"size\":1,"
                      "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}}]}";
    assert_int_equal(img_index_decode(arm, strlen(arm), &ix, &err), 0);
    assert_int_equal(img_index_pick(&ix, NULL, &d, &err), -ENOENT);
    img_index_clear(&ix);
    enum img_mt k;
    assert_int_equal(img_doc_kind(arm, strlen(arm), NULL, &k, &err), 0);
    assert_int_equal(k, IMG_MT_OCI_INDEX);

    const char *bad[] = {
        "{\"schemaVersion\":2}",
        "{\"schemaVersion\":2,\"manifests\":{}}",
        "{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"" D1 "\"}]}",
        "{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"" D1 "\",\"size\":1,\"platform\":[]}]}",
        "{\"schemaVersion\":3,\"manifests\":[]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (img_index_decode(bad[i], strlen(bad[i]), &ix, &err) == 0)
            fail_msg("accepted bad index %zu", i);
}

static void test_config(void **state)
{
    struct al_err err = {0};
    struct img_config c;
    const char *s =
        "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"User\":\"1000:1000\","
        "\"Env\":[\"PATH=/bin\",\"A=b\"],\"WorkingDir\":\"/w\",\"Entrypoint\":null,"
        "\"Cmd\":[\"sh\",\"-c\",\"x\"],\"Labels\":{\"a\":\"b\"}},\"rootfs\":{}}";
    assert_int_equal(img_config_decode(s, strlen(s), &c, &err), 0);
    assert_string_equal(c.user, "1000:1000");
    assert_string_equal(c.env[1], "A=b");
    assert_null(c.env[2]);
    assert_string_equal(c.workdir, "/w");
    assert_null(c.entrypoint);
    assert_string_equal(c.cmd[2], "x");
    img_config_clear(&c);

    const char *minimal = "{\"os\":\"linux\"}";
    assert_int_equal(img_config_decode(minimal, strlen(minimal), &c, &err), 0);
    assert_non_null(c.env);
    assert_null(c.env[0]);
    assert_null(c.user);
    img_config_clear(&c);

    const char *bad[] = {
        "{\"os\":\"windows\"}",
        "{\"os\":\"linux\",\"config\":[]}",
        "{\"os\":\"linux\",\"config\":{\"Env\":\"PATH=/bin\"}}",
        "{\"os\":\"linux\",\"config\":{\"Env\":[1]}}",
        "{\"os\":\"linux\",\"config\":{\"User\":5}}",
        "{\"os\":\"linux\",\"config\":{\"Cmd\":[\"a\\u0000b\"]}}",
        "[]",
        "{",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (img_config_decode(bad[i], strlen(bad[i]), &c, &err) == 0)
            fail_msg("accepted bad config %zu", i);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_manifest_ok),
        cmocka_unit_test(test_manifest_bad),
        cmocka_unit_test(test_index),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
