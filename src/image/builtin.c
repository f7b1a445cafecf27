/* image: built-in images, imported from the host-wide cache scripts/build-images.sh fills. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/img_internal.h"

#define DEFAULT_CACHE "/var/cache/airlock/images"

const char *img_builtin_cache_dir(void)
{
    const char *e = getenv("AIRLOCK_IMAGE_CACHE");
    return e && e[0] == '/' ? e : DEFAULT_CACHE;
}

static bool builtin_name_ok(const char *name)
{
    if (!name || !*name || strlen(name) > 64)
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return false;
    return true;
}

int img_import_builtin(struct img_store *st, const char *name, struct img_info *ret,
                       struct al_err *err)
{
    if (!builtin_name_ok(name))
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "bad built-in image name");
    char path[4096];
    if (snprintf(path, sizeof(path), "%s/%s", img_builtin_cache_dir(), name) >= (int)sizeof(path))
        return al_err_set(err, AL_ERR_INVALID, ENAMETOOLONG, "image cache path too long");
    int rc = img_import_ex(st, path, NULL, true, ret, err);
    if (rc < 0 && err && err->kind == AL_ERR_NOT_FOUND)
        return al_err_wrap(err, "built-in image '%s' not built (run scripts/build-images.sh)",
                           name);
    return rc;
}
