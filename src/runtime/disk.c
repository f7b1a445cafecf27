/* The writable layer's disk: a per-sandbox ext4 image on a loop device.
 *
 * A tmpfs upper would be charged to the sandbox's memory cgroup, so filling the disk quota
 * would OOM-kill the sandbox instead of returning ENOSPC, and a full disk would pin host RAM.
 * Instead each sandbox gets a sparse ext4 image (no journal, size = disk quota, inode count =
 * inode quota) in its sandbox dir.  Formatting costs tens of milliseconds, so one template
 * per (size, inodes) pair is made once with mkfs.ext4 in the cache dir and each sandbox gets
 * a sparse copy (about a megabyte of metadata: well under a millisecond).  The copy is
 * attached to a free loop device with LO_FLAGS_AUTOCLEAR: the device goes away by itself
 * when the last mount of it (in the sandbox's private mount namespace) does.
 */
#include <fcntl.h>
#include <linux/loop.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "runtime/rt_int.h"

extern char **environ;

static pthread_mutex_t template_lock = PTHREAD_MUTEX_INITIALIZER;

static int run_mkfs(const char *path, uint64_t inodes, struct al_err *err)
{
    char n_arg[32];
    snprintf(n_arg, sizeof(n_arg), "%llu", (unsigned long long)inodes);
    const char *candidates[] = {"/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4"};
    const char *mkfs = NULL;
    for (size_t i = 0; i < AL_ARRAY_SIZE(candidates); i++)
        if (access(candidates[i], X_OK) == 0)
            mkfs = candidates[i];
    if (!mkfs)
        return al_err_set(err, AL_ERR_UNAVAILABLE, ENOENT,
                          "writable layer: mkfs.ext4 not found (install e2fsprogs)");
    char *argv[] = {(char *)mkfs, "-q",         "-F", "-O", "^has_journal,^resize_inode",   "-N",
                    n_arg,        "-m",         "0",  "-E", "lazy_itable_init=1,nodiscard", "-b",
                    "4096",       (char *)path, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawn(&pid, mkfs, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return al_err_sys(err, AL_ERR_INTERNAL, rc, "writable layer: run mkfs.ext4");
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return al_err_sys(err, AL_ERR_INTERNAL, errno, "writable layer: wait mkfs.ext4");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return al_err_set(err, AL_ERR_INTERNAL, EIO, "writable layer: mkfs.ext4 failed (%d)",
                          status);
    return 0;
}

/* Path of the template for this size and inode count, made on first use. */
static int template_path(const char *cache_dir, uint64_t bytes, uint64_t inodes, char out[PATH_MAX],
                         struct al_err *err)
{
    if ((size_t)snprintf(out, PATH_MAX, "%s/ext4-%llu-%llu.img", cache_dir,
                         (unsigned long long)bytes, (unsigned long long)inodes) >= PATH_MAX)
        return al_err_set(err, AL_ERR_INVALID, ENAMETOOLONG, "writable layer: cache path");
    if (access(out, R_OK) == 0)
        return 0;
    pthread_mutex_lock(&template_lock);
    int rc = 0;
    if (access(out, R_OK) != 0) {
        char tmp[PATH_MAX + 32];
        snprintf(tmp, sizeof(tmp), "%s.tmp.%d", out, (int)getpid());
        rc = al_mkdir_p(cache_dir, 0700);
        if (rc < 0) {
            al_err_sys(err, AL_ERR_INTERNAL, -rc, "writable layer: mkdir %s", cache_dir);
        } else {
            int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            if (fd < 0 || ftruncate(fd, (off_t)bytes) < 0) {
                rc = al_err_sys(err, AL_ERR_INTERNAL, errno, "writable layer: create template");
            }
            if (fd >= 0)
                close(fd);
            if (rc >= 0)
                rc = run_mkfs(tmp, inodes, err);
            if (rc >= 0 && rename(tmp, out) < 0)
                rc = al_err_sys(err, AL_ERR_INTERNAL, errno, "writable layer: rename template");
            if (rc < 0)
                unlink(tmp);
        }
    }
    pthread_mutex_unlock(&template_lock);
    return rc;
}

/* Sparse copy: only the extents that hold data. */
static int sparse_copy(int in, int out, off_t size)
{
    if (ftruncate(out, size) < 0)
        return -errno;
    off_t off = 0;
    while (off < size) {
        off_t data = lseek(in, off, SEEK_DATA);
        if (data < 0)
            return errno == ENXIO ? 0 : -errno;
        off_t hole = lseek(in, data, SEEK_HOLE);
        if (hole < 0)
            return -errno;
        off_t pos = data;
        while (pos < hole) {
            off_t src = pos, dst = pos;
            ssize_t n = copy_file_range(in, &src, out, &dst, (size_t)(hole - pos), 0);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                return -errno;
            }
            if (n == 0)
                return -EIO;
            pos += n;
        }
        off = hole;
    }
    return 0;
}

static int loop_attach(int backing, char dev[RT_DISK_DEV_MAX], struct al_err *err)
{
    cleanup_close int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    if (ctl < 0)
        return al_err_sys(err, AL_ERR_UNAVAILABLE, errno, "writable layer: /dev/loop-control");
    for (int attempt = 0; attempt < 64; attempt++) {
        int n = ioctl(ctl, LOOP_CTL_GET_FREE);
        if (n < 0)
            return al_err_sys(err, AL_ERR_LIMIT, errno, "writable layer: no free loop device");
        snprintf(dev, RT_DISK_DEV_MAX, "/dev/loop%d", n);
        int fd = open(dev, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
            if (errno == ENOENT || errno == ENXIO)
                continue;
            return al_err_sys(err, AL_ERR_INTERNAL, errno, "writable layer: open %s", dev);
        }
        struct loop_config cfg = {
            .fd = (uint32_t)backing,
            .block_size = 4096,
            .info = {.lo_flags = LO_FLAGS_AUTOCLEAR | LO_FLAGS_DIRECT_IO},
        };
        if (ioctl(fd, LOOP_CONFIGURE, &cfg) == 0)
            return fd;
        if (errno == EINVAL) { /* no direct I/O on this backing fs */
            cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
            if (ioctl(fd, LOOP_CONFIGURE, &cfg) == 0)
                return fd;
        }
        int e = errno;
        close(fd);
        if (e != EBUSY) /* EBUSY: another thread took it between GET_FREE and here */
            return al_err_sys(err, AL_ERR_INTERNAL, e, "writable layer: configure %s", dev);
    }
    return al_err_set(err, AL_ERR_LIMIT, EBUSY, "writable layer: loop devices all busy");
}

int rt_disk_attach(const struct rt_spec *spec, char dev[RT_DISK_DEV_MAX], struct al_err *err)
{
    uint64_t bytes = spec->limits.disk_bytes ? spec->limits.disk_bytes : (1ull << 30);
    uint64_t inodes = spec->limits.inodes ? spec->limits.inodes : 65536;
    bytes = (bytes + 4095) & ~4095ull;
    if (bytes < (16ull << 20))
        bytes = 16ull << 20; /* ext4's practical minimum with room for metadata */
    char tpl[PATH_MAX], img[PATH_MAX];
    int rc = template_path(spec->cache_dir, bytes, inodes, tpl, err);
    if (rc < 0)
        return rc;
    if ((size_t)snprintf(img, sizeof(img), "%s/disk.img", spec->sandbox_dir) >= sizeof(img))
        return al_err_set(err, AL_ERR_INVALID, ENAMETOOLONG, "writable layer: path");
    cleanup_close int in = open(tpl, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return al_err_sys(err, AL_ERR_INTERNAL, errno, "writable layer: open template");
    cleanup_close int out = open(img, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (out < 0)
        return al_err_sys(err, AL_ERR_INTERNAL, errno, "writable layer: create %s", img);
    rc = sparse_copy(in, out, (off_t)bytes);
    if (rc < 0) {
        unlink(img);
        return al_err_sys(err, AL_ERR_INTERNAL, -rc, "writable layer: copy template");
    }
    int loop = loop_attach(out, dev, err);
    if (loop < 0)
        unlink(img);
    return loop; /* the loop device holds the image open; `out` closes here */
}
