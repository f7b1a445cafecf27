/* rt_host_check: can this host run the namespace backend? */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "runtime/rt_int.h"

int rt_host_check(const char *layer_dir, struct al_err *err)
{
    if (geteuid() != 0)
        return al_err_set(err, AL_ERR_UNAVAILABLE, EPERM, "namespace backend: must run as root");
    const struct rt_cg_layout *layout;
    int r = rt_cg_layout_get(&layout, err);
    if (r < 0)
        return r;
    const struct sock_fprog *prog;
    if ((r = rt_seccomp_prog(&prog, err)) < 0)
        return r;
    if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0)
        return al_err_sys(err, AL_ERR_UNAVAILABLE, errno, "namespace backend: seccomp filters");
    cleanup_free char *fss = NULL;
    size_t n;
    if (al_read_file_at(AT_FDCWD, "/proc/filesystems", 65536, &fss, &n) < 0 ||
        !strstr(fss, "\toverlay\n") || !strstr(fss, "\ttmpfs\n") || !strstr(fss, "\tdevpts\n"))
        return al_err_set(err, AL_ERR_UNAVAILABLE, ENODEV,
                          "namespace backend: overlay, tmpfs and devpts filesystems needed");
    /* user namespace + an idmapped clone of the directory that holds the image layers
     * (discarded, never attached): only layers are mounted idmapped, and they need not live
     * on the root filesystem (a 9p or NFS root cannot idmap; the state dir's ext4 can) */
    int ns = rt_userns_make(4000000000u, 65536, err);
    if (ns < 0)
        return al_err_wrap(err, "namespace backend: user namespaces");
    int t = (int)syscall(SYS_open_tree, AT_FDCWD, layer_dir, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (t < 0) {
        int e = errno;
        close(ns);
        return al_err_sys(err, AL_ERR_UNAVAILABLE, e, "namespace backend: open_tree %s", layer_dir);
    }
    struct mount_attr ma = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)ns};
    r = (int)syscall(SYS_mount_setattr, t, "", AT_EMPTY_PATH, &ma, sizeof(ma));
    int e = errno;
    close(t);
    close(ns);
    if (r < 0)
        return al_err_sys(err, AL_ERR_UNAVAILABLE, e,
                          "namespace backend: idmapped mounts on the filesystem of %s", layer_dir);
    return 0;
}

int rt_host_describe(char *buf, size_t len)
{
    const struct rt_cg_layout *layout;
    struct al_err e;
    const char *cg = rt_cg_layout_get(&layout, &e) == 0 ? rt_cg_layout_name(layout) : "unusable";
    return snprintf(buf, len, "cgroups=%s landlock_abi=%d disk=%s", cg, rt_landlock_abi(),
                    rt_disk_supported() ? "ext4-loop+tmpfs" : "tmpfs-only");
}
