/* Stand-in for src/image until that component is built into this tree. */
#include <stdlib.h>

#include "common/cleanup.h"
#include "image/img.h"

#define NA(err) al_err_set((err), AL_ERR_UNAVAILABLE, ENOSYS, "image store not built into airlockd")

void img_info_free(struct img_info *info)
{
    if (!info)
        return;
    al_strv_free(info->layer_dirs);
    free(info->config.user);
    al_strv_free(info->config.env);
    free(info->config.workdir);
    al_strv_free(info->config.entrypoint);
    al_strv_free(info->config.cmd);
    info->layer_dirs = NULL;
}
int img_store_open(const char *dir, struct img_store **ret, struct al_err *err)
{
    return NA(err);
}
void img_store_free(struct img_store *st)
{
}
int img_pull(struct img_store *st, const char *ref, const struct img_pull_opts *opts,
             struct img_info *ret, struct al_err *err)
{
    return NA(err);
}
int img_import(struct img_store *st, const char *path, const char *tag, struct img_info *ret,
               struct al_err *err)
{
    return NA(err);
}
int img_get(struct img_store *st, const char *digest, struct img_info *ret, struct al_err *err)
{
    return NA(err);
}
int img_gc(struct img_store *st, const char *const *keep, struct al_err *err)
{
    return NA(err);
}
const char *img_builtin_cache_dir(void)
{
    return "/var/cache/airlock/images";
}
int img_import_builtin(struct img_store *st, const char *name, struct img_info *ret,
                       struct al_err *err)
{
    return NA(err);
}
