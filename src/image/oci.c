/* image: decoding of OCI / Docker schema-2 manifests, indexes and image configs.
 *
 * These documents come from registries and archives, so they are untrusted: parsed with the
 * strict wrapper (duplicate keys refused, depth bounded), every field we use type-checked and
 * bounded, digests validated.  Unknown fields are tolerated here (the specs allow them).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/ids.h"
#include "common/json.h"
#include "image/img_internal.h"

static const struct {
    const char *mt;
    enum img_mt kind;
} media_types[] = {
    {"application/vnd.oci.image.manifest.v1+json", IMG_MT_OCI_MANIFEST},
    {"application/vnd.oci.image.index.v1+json", IMG_MT_OCI_INDEX},
    {"application/vnd.docker.distribution.manifest.v2+json", IMG_MT_DOCKER_MANIFEST},
    {"application/vnd.docker.distribution.manifest.list.v2+json", IMG_MT_DOCKER_LIST},
    {"application/vnd.oci.image.config.v1+json", IMG_MT_OCI_CONFIG},
    {"application/vnd.docker.container.image.v1+json", IMG_MT_DOCKER_CONFIG},
    {"application/vnd.oci.image.layer.v1.tar", IMG_MT_LAYER_TAR},
    {"application/vnd.oci.image.layer.v1.tar+gzip", IMG_MT_LAYER_GZIP},
    {"application/vnd.oci.image.layer.v1.tar+zstd", IMG_MT_LAYER_ZSTD},
    {"application/vnd.docker.image.rootfs.diff.tar", IMG_MT_LAYER_TAR},
    {"application/vnd.docker.image.rootfs.diff.tar.gzip", IMG_MT_LAYER_GZIP},
    {"application/vnd.docker.image.rootfs.diff.tar.zstd", IMG_MT_LAYER_ZSTD},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar", IMG_MT_LAYER_FOREIGN},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", IMG_MT_LAYER_FOREIGN},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", IMG_MT_LAYER_FOREIGN},
    {"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", IMG_MT_LAYER_FOREIGN},
};

enum img_mt img_mt_classify(const char *mt)
{
    if (!mt)
        return IMG_MT_UNKNOWN;
    size_t n = strcspn(mt, ";"); /* content types may carry parameters */
    while (n > 0 && mt[n - 1] == ' ')
        n--;
    for (size_t i = 0; i < AL_ARRAY_SIZE(media_types); i++)
        if (strlen(media_types[i].mt) == n && strncmp(media_types[i].mt, mt, n) == 0)
            return media_types[i].kind;
    return IMG_MT_UNKNOWN;
}

static int copy_str(json_t *obj, const char *key, bool required, char *out, size_t cap,
                    const char *what, struct al_err *err)
{
    const char *s;
    int rc = al_json_get_str(obj, key, required, cap - 1, &s, err);
    if (rc == -ENOENT) {
        out[0] = '\0';
        return 0;
    }
    if (rc < 0)
        return al_err_wrap(err, "%s", what);
    memcpy(out, s, strlen(s) + 1);
    return 0;
}

static int decode_desc(json_t *j, struct img_desc *d, const char *what, struct al_err *err)
{
    if (!json_is_object(j))
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "%s: descriptor must be an object", what);
    memset(d, 0, sizeof(*d));
    int rc = copy_str(j, "mediaType", false, d->media_type, sizeof(d->media_type), what, err);
    if (rc < 0)
        return rc;
    rc = copy_str(j, "digest", true, d->digest, sizeof(d->digest), what, err);
    if (rc < 0)
        return rc;
    if (!al_digest_valid(d->digest))
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "%s: unsupported or malformed digest", what);
    int64_t size;
    rc = al_json_get_int(j, "size", true, 0, INT64_MAX, &size, err);
    if (rc < 0)
        return al_err_wrap(err, "%s", what);
    d->size = (uint64_t)size;
    json_t *plat = json_object_get(j, "platform");
    if (plat) {
        if (!json_is_object(plat))
            return al_err_set(err, AL_ERR_INVALID, EINVAL, "%s: platform must be an object", what);
        if ((rc = copy_str(plat, "os", false, d->os, sizeof(d->os), what, err)) < 0 ||
            (rc = copy_str(plat, "architecture", false, d->arch, sizeof(d->arch), what, err)) < 0 ||
            (rc = copy_str(plat, "variant", false, d->variant, sizeof(d->variant), what, err)) < 0)
            return rc;
    }
    json_t *ann = json_object_get(j, "annotations");
    if (ann) {
        if (!json_is_object(ann))
            return al_err_set(err, AL_ERR_INVALID, EINVAL, "%s: annotations must be an object",
                              what);
        json_t *rn = json_object_get(ann, "org.opencontainers.image.ref.name");
        if (rn && json_is_string(rn) && json_string_length(rn) < sizeof(d->ref_name) &&
            strlen(json_string_value(rn)) == json_string_length(rn))
            memcpy(d->ref_name, json_string_value(rn), json_string_length(rn) + 1);
    }
    return 0;
}

static int check_schema(json_t *j, struct al_err *err)
{
    int64_t v;
    int rc = al_json_get_int(j, "schemaVersion", true, 0, 100, &v, err);
    if (rc < 0)
        return rc;
    if (v != 2)
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "unsupported schemaVersion %lld",
                          (long long)v);
    return 0;
}

int img_doc_kind(const char *buf, size_t len, const char *content_type, enum img_mt *ret,
                 struct al_err *err)
{
    cleanup_json json_t *j = al_json_parse(buf, len, 0, err);
    if (!j)
        return -EINVAL;
    if (!json_is_object(j))
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "manifest must be a JSON object");
    const char *mt = NULL;
    int rc = al_json_get_str(j, "mediaType", false, 256, &mt, err);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    enum img_mt k = img_mt_classify(mt);
    if (k == IMG_MT_UNKNOWN && mt)
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "unsupported manifest media type");
    if (k == IMG_MT_UNKNOWN)
        k = img_mt_classify(content_type);
    bool has_layers = json_object_get(j, "layers") != NULL;
    bool has_manifests = json_object_get(j, "manifests") != NULL;
    if (k == IMG_MT_UNKNOWN) {
        if (has_manifests && !has_layers)
            k = IMG_MT_OCI_INDEX;
        else if (has_layers && !has_manifests)
            k = IMG_MT_OCI_MANIFEST;
    }
    switch (k) {
    case IMG_MT_OCI_MANIFEST:
    case IMG_MT_DOCKER_MANIFEST:
        if (!has_layers)
            return al_err_set(err, AL_ERR_INVALID, EINVAL, "manifest without layers");
        break;
    case IMG_MT_OCI_INDEX:
    case IMG_MT_DOCKER_LIST:
        if (!has_manifests)
            return al_err_set(err, AL_ERR_INVALID, EINVAL, "index without manifests");
        break;
    default:
        return al_err_set(err, AL_ERR_INVALID, EINVAL,
                          "not an image manifest or index (schema 1 is not supported)");
    }
    *ret = k;
    return 0;
}

void img_manifest_clear(struct img_manifest *m)
{
    free(m->layers);
    memset(m, 0, sizeof(*m));
}

int img_manifest_decode(const char *buf, size_t len, struct img_manifest *ret, struct al_err *err)
{
    cleanup_json json_t *j = al_json_parse(buf, len, 0, err);
    if (!j)
        return -EINVAL;
    if (!json_is_object(j))
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "manifest must be a JSON object");
    int rc = check_schema(j, err);
    if (rc < 0)
        return al_err_wrap(err, "manifest");
    struct img_manifest m = {0};
    rc = decode_desc(json_object_get(j, "config"), &m.config, "manifest config", err);
    if (rc < 0)
        return rc;
    enum img_mt ck = img_mt_classify(m.config.media_type);
    if (m.config.media_type[0] && ck != IMG_MT_OCI_CONFIG && ck != IMG_MT_DOCKER_CONFIG)
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "manifest config: not an image config");
    if (m.config.size > IMG_MAX_CONFIG)
        return al_err_set(err, AL_ERR_TOO_LARGE, EFBIG, "image config larger than %u bytes",
                          IMG_MAX_CONFIG);
    json_t *layers = json_object_get(j, "layers");
    if (!json_is_array(layers))
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "manifest: layers must be an array");
    size_t n = json_array_size(layers);
    if (n > IMG_MAX_LAYERS)
        return al_err_set(err, AL_ERR_LIMIT, E2BIG, "manifest has more than %d layers",
                          IMG_MAX_LAYERS);
    m.layers = calloc(n ? n : 1, sizeof(*m.layers));
    if (!m.layers)
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        rc = decode_desc(json_array_get(layers, i), &m.layers[i], "manifest layer", err);
        if (rc < 0)
            goto fail;
        enum img_mt lk = img_mt_classify(m.layers[i].media_type);
        if (lk == IMG_MT_LAYER_FOREIGN) {
            rc = al_err_set(err, AL_ERR_UNSUPPORTED, ENOTSUP,
                            "manifest: non-distributable (foreign) layers are not supported");
            goto fail;
        }
        if (lk != IMG_MT_LAYER_TAR && lk != IMG_MT_LAYER_GZIP && lk != IMG_MT_LAYER_ZSTD) {
            rc = al_err_set(err, AL_ERR_INVALID, EINVAL,
                            "manifest layer %zu: unsupported media "
                            "type",
                            i);
            goto fail;
        }
        total += m.layers[i].size;
        if (total > IMG_MAX_TOTAL_LAYERS) {
            rc = al_err_set(err, AL_ERR_TOO_LARGE, EFBIG, "image layers exceed %llu bytes",
                            (unsigned long long)IMG_MAX_TOTAL_LAYERS);
            goto fail;
        }
    }
    m.n_layers = n;
    *ret = m;
    return 0;
fail:
    img_manifest_clear(&m);
    return rc;
}

void img_index_clear(struct img_index *ix)
{
    free(ix->manifests);
    memset(ix, 0, sizeof(*ix));
}

int img_index_decode(const char *buf, size_t len, struct img_index *ret, struct al_err *err)
{
    cleanup_json json_t *j = al_json_parse(buf, len, 0, err);
    if (!j)
        return -EINVAL;
    if (!json_is_object(j))
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "index must be a JSON object");
    int rc = check_schema(j, err);
    if (rc < 0)
        return al_err_wrap(err, "index");
    json_t *arr = json_object_get(j, "manifests");
    if (!json_is_array(arr))
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "index: manifests must be an array");
    size_t n = json_array_size(arr);
    if (n > IMG_MAX_INDEX_ENTRIES)
        return al_err_set(err, AL_ERR_LIMIT, E2BIG, "index has more than %d entries",
                          IMG_MAX_INDEX_ENTRIES);
    struct img_index ix = {.manifests = calloc(n ? n : 1, sizeof(struct img_desc)), .n = n};
    if (!ix.manifests)
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        rc = decode_desc(json_array_get(arr, i), &ix.manifests[i], "index entry", err);
        if (rc < 0) {
            img_index_clear(&ix);
            return rc;
        }
    }
    *ret = ix;
    return 0;
}

int img_index_pick(const struct img_index *ix, const char *tag, const struct img_desc **ret,
                   struct al_err *err)
{
    const struct img_desc *best = NULL;
    for (size_t i = 0; i < ix->n; i++) {
        const struct img_desc *d = &ix->manifests[i];
        enum img_mt k = img_mt_classify(d->media_type);
        if (d->media_type[0] && k != IMG_MT_OCI_MANIFEST && k != IMG_MT_DOCKER_MANIFEST &&
            k != IMG_MT_OCI_INDEX && k != IMG_MT_DOCKER_LIST)
            continue; /* attestations, signatures, ... */
        if (tag && *tag && strcmp(d->ref_name, tag) != 0)
            continue;
        bool plat_ok = (!d->os[0] || strcmp(d->os, "linux") == 0) &&
                       (!d->arch[0] || strcmp(d->arch, "amd64") == 0);
        if (!plat_ok)
            continue;
        if (d->size > IMG_MAX_MANIFEST)
            continue;
        if (!best || (d->arch[0] && !best->arch[0]))
            best = d;
    }
    if (!best)
        return al_err_set(err, AL_ERR_NOT_FOUND, ENOENT,
                          tag && *tag ? "no linux/amd64 image named '%.100s' in the index"
                                      : "no linux/amd64 image in the index%.0s",
                          tag ? tag : "");
    *ret = best;
    return 0;
}

void img_config_clear(struct img_config *c)
{
    free(c->user);
    free(c->workdir);
    al_strv_free(c->env);
    al_strv_free(c->entrypoint);
    al_strv_free(c->cmd);
    memset(c, 0, sizeof(*c));
}

static int dup_str(json_t *obj, const char *key, char **ret, struct al_err *err)
{
    const char *s;
    int rc = al_json_get_str(obj, key, false, 4096, &s, err);
    if (rc == -ENOENT || (rc == 0 && !*s)) {
        *ret = NULL;
        return 0;
    }
    if (rc < 0)
        return al_err_wrap(err, "image config");
    *ret = strdup(s);
    return *ret ? 0 : al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
}

int img_config_decode(const char *buf, size_t len, struct img_config *ret, struct al_err *err)
{
    cleanup_json json_t *j = al_json_parse(buf, len, 0, err);
    if (!j)
        return -EINVAL;
    if (!json_is_object(j))
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "image config must be a JSON object");
    const char *os;
    int rc = al_json_get_str(j, "os", false, 64, &os, err);
    if (rc < 0 && rc != -ENOENT)
        return al_err_wrap(err, "image config");
    if (rc == 0 && strcmp(os, "linux") != 0)
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "image config: os is not linux");
    struct img_config c = {0};
    json_t *cfg = json_object_get(j, "config");
    if (cfg && !json_is_null(cfg) && !json_is_object(cfg))
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "image config: config must be an object");
    if (cfg && json_is_object(cfg)) {
        if ((rc = dup_str(cfg, "User", &c.user, err)) < 0 ||
            (rc = dup_str(cfg, "WorkingDir", &c.workdir, err)) < 0)
            goto fail;
        rc = al_json_get_strv(cfg, "Env", false, 4096, 65536, &c.env, err);
        if (rc < 0 && rc != -ENOENT)
            goto wrap;
        rc = al_json_get_strv(cfg, "Entrypoint", false, 4096, 65536, &c.entrypoint, err);
        if (rc < 0 && rc != -ENOENT)
            goto wrap;
        rc = al_json_get_strv(cfg, "Cmd", false, 4096, 65536, &c.cmd, err);
        if (rc < 0 && rc != -ENOENT)
            goto wrap;
    }
    if (!c.env && !(c.env = calloc(1, sizeof(char *)))) {
        rc = al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
        goto fail;
    }
    *ret = c;
    return 0;
wrap:
    al_err_wrap(err, "image config");
fail:
    img_config_clear(&c);
    return rc;
}

int img_config_diff_ids(const char *buf, size_t len, char ***ret, struct al_err *err)
{
    cleanup_json json_t *j = al_json_parse(buf, len, 0, err);
    if (!j)
        return -EINVAL;
    json_t *rootfs = json_is_object(j) ? json_object_get(j, "rootfs") : NULL;
    if (!rootfs || !json_is_object(rootfs) || !json_object_get(rootfs, "diff_ids")) {
        *ret = NULL;
        return 0;
    }
    char **v = NULL;
    int rc = al_json_get_strv(rootfs, "diff_ids", true, IMG_MAX_LAYERS, AL_DIGEST_LEN, &v, err);
    if (rc < 0)
        return al_err_wrap(err, "image config rootfs");
    for (char **p = v; *p; p++)
        if (!al_digest_valid(*p)) {
            al_strv_free(v);
            return al_err_set(err, AL_ERR_INVALID, EINVAL,
                              "image config: unsupported or malformed diff_id");
        }
    *ret = v;
    return 0;
}
