/* Stand-in for src/runtime until that component is built into this tree: every call fails
 * with a clear "not available" error, so airlockd serves everything that needs no sandbox. */
#include <stdlib.h>

#include "runtime/rt.h"

#define NA(err) al_err_set((err), AL_ERR_UNAVAILABLE, ENOSYS, "runtime not built into airlockd")

void rt_exec_result_free(struct rt_exec_result *r)
{
    if (r) {
        free(r->out);
        free(r->err);
        r->out = r->err = NULL;
    }
}
int rt_sandbox_create(const struct rt_spec *spec, struct rt_sandbox **ret, struct al_err *err)
{
    return NA(err);
}
int rt_sandbox_destroy(struct rt_sandbox *sb, struct al_err *err)
{
    return 0;
}
pid_t rt_sandbox_pid(const struct rt_sandbox *sb)
{
    return -1;
}
bool rt_sandbox_alive(const struct rt_sandbox *sb)
{
    return false;
}
int rt_exec(struct rt_sandbox *sb, const struct rt_exec_req *req, rt_output_fn out_fn, void *ud,
            struct rt_exec_result *ret, struct al_err *err)
{
    return NA(err);
}
int rt_file_read(struct rt_sandbox *sb, const char *path, uint64_t max_bytes, rt_data_fn fn,
                 void *ud, struct al_err *err)
{
    return NA(err);
}
int rt_file_write(struct rt_sandbox *sb, const char *path, const void *data, size_t len,
                  uint32_t mode, bool append, struct al_err *err)
{
    return NA(err);
}
int rt_file_list(struct rt_sandbox *sb, const char *path, struct rt_stat **ret, size_t *ret_n,
                 struct al_err *err)
{
    return NA(err);
}
int rt_file_stat(struct rt_sandbox *sb, const char *path, struct rt_stat *ret, struct al_err *err)
{
    return NA(err);
}
int rt_file_mkdir(struct rt_sandbox *sb, const char *path, uint32_t mode, bool parents,
                  struct al_err *err)
{
    return NA(err);
}
int rt_file_remove(struct rt_sandbox *sb, const char *path, bool recursive, struct al_err *err)
{
    return NA(err);
}
int rt_sandbox_stats(struct rt_sandbox *sb, struct rt_stats *ret, struct al_err *err)
{
    return NA(err);
}
int rt_cleanup_stale(const char *id, const char *sandbox_dir, struct al_err *err)
{
    return 0;
}
int rt_host_check(struct al_err *err)
{
    return NA(err);
}
