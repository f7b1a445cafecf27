/* The agent binary as sandboxes see it: one private copy on a detached, read-only tmpfs
 * (fsopen/fsmount, attached nowhere), made once per agent file and shared by every sandbox.
 * Each setup child clones it (open_tree) onto /.airlock/init, so the sandbox's mountinfo
 * names a tmpfs and "/init" instead of a host path, and replacing the host file cannot
 * change a running sandbox.  Kernels that cannot clone from a detached mount fall back to a
 * read-only bind of the host path (spawn.c). */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "runtime/rt_int.h"

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char path[PATH_MAX];
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    int mnt_fd;
} cache = {.mnt_fd = -1};

static int make_copy(int src, off_t size)
{
    cleanup_close int fs = (int)syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC);
    if (fs < 0)
        return -errno;
    char sz[32];
    snprintf(sz, sizeof(sz), "%llu", (unsigned long long)size + 65536);
    if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "source", "airlock-agent", 0) < 0 ||
        syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "size", sz, 0) < 0 ||
        syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "nr_inodes", "4", 0) < 0 ||
        syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "mode", "0755", 0) < 0 ||
        syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
        return -errno;
    cleanup_close int mnt =
        (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
    if (mnt < 0)
        return -errno;
    cleanup_close int dst = openat(mnt, "init", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0555);
    if (dst < 0)
        return -errno;
    char buf[65536];
    off_t done = 0;
    while (done < size) {
        ssize_t n = pread(src, buf, sizeof(buf), done);
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        int r = al_write_all(dst, buf, (size_t)n);
        if (r < 0)
            return r;
        done += n;
    }
    if (fchmod(dst, 0555) < 0)
        return -errno;
    close(TAKE_FD(dst)); /* no writer left, or the read-only switch is EBUSY */
    struct mount_attr ma = {.attr_set = MOUNT_ATTR_RDONLY};
    if (syscall(SYS_mount_setattr, mnt, "", AT_EMPTY_PATH, &ma, sizeof(ma)) < 0)
        return -errno;
    return TAKE_FD(mnt);
}

int rt_agent_fd(const char *path)
{
    cleanup_close int src = open(path, O_RDONLY | O_CLOEXEC);
    if (src < 0)
        return -errno;
    struct stat st;
    if (fstat(src, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > (256 << 20))
        return -EINVAL;
    pthread_mutex_lock(&cache_lock);
    bool hit = cache.mnt_fd >= 0 && strcmp(cache.path, path) == 0 && cache.dev == st.st_dev &&
               cache.ino == st.st_ino && cache.size == st.st_size &&
               cache.mtime.tv_sec == st.st_mtim.tv_sec && cache.mtime.tv_nsec == st.st_mtim.tv_nsec;
    if (!hit) {
        int m = make_copy(src, st.st_size);
        if (m < 0) {
            pthread_mutex_unlock(&cache_lock);
            return m;
        }
        if (cache.mnt_fd >= 0)
            close(cache.mnt_fd);
        cache.mnt_fd = m;
        snprintf(cache.path, sizeof(cache.path), "%s", path);
        cache.dev = st.st_dev;
        cache.ino = st.st_ino;
        cache.size = st.st_size;
        cache.mtime = st.st_mtim;
    }
    int fd = fcntl(cache.mnt_fd, F_DUPFD_CLOEXEC, 3);
    pthread_mutex_unlock(&cache_lock);
    return fd < 0 ? -errno : fd;
}
