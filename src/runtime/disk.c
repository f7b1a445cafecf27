/* The writable layer on disk: a sparse ext4 image per sandbox (sandbox_dir/disk.img) on a loop
 * device, so a disk quota larger than the memory limit is real disk, not tmpfs pages charged
 * to the sandbox's memory cgroup (which would OOM-kill it instead of returning ENOSPC).
 *
 * mkfs runs once per (size, inodes) shape: its output is read back as data extents and kept
 * in memory, and every new image is a sparse file with those extents written in (~150 KiB
 * for a 2 GiB image).  The loop device is configured with AUTOCLEAR: it goes away with the
 * sandbox's mount namespace.  It does buffered I/O: with direct I/O, LOOP_CONFIGURE first
 * flushes the fresh image to disk and the mount reads its metadata back from the disk,
 * ~2 ms of every create.  The price is a second cached copy of what a sandbox writes, in the
 * backing file's page cache: reclaimable, and on cgroup2 hosts charged to the sandbox (the
 * loop driver does its I/O in the memory cgroup of the writer).  Where
 * mkfs.ext4 or loop devices are missing, the caller falls back to a tmpfs.
 */
#include <fcntl.h>
#include <linux/loop.h>
#include <linux/sched.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "runtime/rt_int.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

struct extent {
    off_t off;
    size_t len;
    char *data;
};

struct tmpl {
    uint64_t size, inodes;
    size_t n;
    struct extent *ext;
};

#define CACHE_MAX 8
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tmpl cache[CACHE_MAX];
static int cache_n, cache_next;

static const char *mkfs_path(void)
{
    static const char *const paths[] = {"/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4",
                                        "/usr/sbin/mke2fs", "/sbin/mke2fs"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        if (access(paths[i], X_OK) == 0)
            return paths[i];
    return NULL;
}

bool rt_disk_supported(void)
{
    return mkfs_path() && access("/dev/loop-control", W_OK) == 0;
}

static void tmpl_free(struct tmpl *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->ext[i].data);
    free(t->ext);
    memset(t, 0, sizeof(*t));
}

/* Run mkfs on `path` (syscalls only in the child); 0 when it exited 0. */
static int run_mkfs(const char *mkfs, const char *path, uint64_t inodes)
{
    char n[32];
    snprintf(n, sizeof(n), "%llu", (unsigned long long)inodes);
    const char *argv[] = {mkfs,
                          "-q",
                          "-F",
                          "-t",
                          "ext4",
                          "-b",
                          "4096",
                          "-I",
                          "256",
                          "-m",
                          "0",
                          "-N",
                          n,
                          "-O",
                          "^has_journal,^resize_inode",
                          "-E",
                          "lazy_itable_init=1,nodiscard",
                          path,
                          NULL};
    static char *const envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
    int pidfd = -1;
    struct clone_args a;
    memset(&a, 0, sizeof(a));
    a.flags = CLONE_PIDFD;
    a.pidfd = (uint64_t)(uintptr_t)&pidfd;
    a.exit_signal = SIGCHLD;
    long pid = syscall(SYS_clone3, &a, sizeof(a));
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
        }
        execve(mkfs, (char *const *)argv, envp);
        _exit(127);
    }
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    int r;
    while ((r = waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED)) < 0 && errno == EINTR)
        ;
    close(pidfd);
    if (r < 0)
        return errno == ECHILD ? 0 : -errno; /* reaped by someone else: trust the image */
    return si.si_code == CLD_EXITED && si.si_status == 0 ? 0 : -EIO;
}

static int build(const char *dir, uint64_t size, uint64_t inodes, struct tmpl *t)
{
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof(path), "%s/.mkfs-XXXXXX", dir) >= sizeof(path))
        return -ENAMETOOLONG;
    cleanup_close int fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int r = ftruncate(fd, (off_t)size) < 0 ? -errno : run_mkfs(mkfs_path(), path, inodes);
    unlink(path);
    struct statvfs vfs;
    if (r == -EIO && fstatvfs(fd, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < (16u << 20))
        r = -ENOSPC; /* mkfs says only "failed": name the likely cause */
    if (r < 0)
        return r;
    memset(t, 0, sizeof(*t));
    t->size = size;
    t->inodes = inodes;
    off_t off = 0;
    for (;;) {
        off_t data = lseek(fd, off, SEEK_DATA);
        if (data < 0)
            break; /* ENXIO: no more data */
        off_t hole = lseek(fd, data, SEEK_HOLE);
        if (hole <= data)
            break;
        size_t len = (size_t)(hole - data);
        if (len > (64u << 20)) {
            tmpl_free(t);
            return -EFBIG;
        }
        struct extent *e = realloc(t->ext, (t->n + 1) * sizeof(*e));
        if (!e) {
            tmpl_free(t);
            return -ENOMEM;
        }
        t->ext = e;
        e[t->n] = (struct extent){.off = data, .len = len, .data = malloc(len)};
        if (!e[t->n].data || pread(fd, e[t->n].data, len, data) != (ssize_t)len) {
            t->n++;
            tmpl_free(t);
            return -EIO;
        }
        t->n++;
        off = hole;
    }
    return t->n ? 0 : -EIO;
}

/* Write a new image from the cached template for this shape (building it if needed). */
static int write_image(const char *dir, int fd, uint64_t size, uint64_t inodes)
{
    pthread_mutex_lock(&cache_lock);
    struct tmpl *t = NULL;
    for (int i = 0; i < cache_n; i++)
        if (cache[i].size == size && cache[i].inodes == inodes)
            t = &cache[i];
    if (!t) {
        struct tmpl nt;
        int r = build(dir, size, inodes, &nt);
        if (r < 0) {
            pthread_mutex_unlock(&cache_lock);
            return r;
        }
        int slot = cache_n < CACHE_MAX ? cache_n++ : (cache_next++ % CACHE_MAX);
        tmpl_free(&cache[slot]);
        cache[slot] = nt;
        t = &cache[slot];
    }
    int r = ftruncate(fd, (off_t)size) < 0 ? -errno : 0;
    for (size_t i = 0; r == 0 && i < t->n; i++) {
        ssize_t n = pwrite(fd, t->ext[i].data, t->ext[i].len, t->ext[i].off);
        if (n != (ssize_t)t->ext[i].len)
            r = n < 0 ? -errno : -ENOSPC; /* a short write is a full disk */
    }
    pthread_mutex_unlock(&cache_lock);
    return r;
}

static int loop_attach(int img, char *dev, size_t dev_len)
{
    cleanup_close int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    if (ctl < 0)
        return -errno;
    for (int tries = 0; tries < 16; tries++) {
        int n = ioctl(ctl, LOOP_CTL_GET_FREE);
        if (n < 0)
            return -errno;
        snprintf(dev, dev_len, "/dev/loop%d", n);
        int lfd = open(dev, O_RDWR | O_CLOEXEC);
        if (lfd < 0) {
            if (errno == ENOENT)
                continue;
            return -errno;
        }
        struct loop_config cfg;
        memset(&cfg, 0, sizeof(cfg));
        cfg.fd = (uint32_t)img;
        cfg.block_size = 4096;
        cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
        int r = ioctl(lfd, LOOP_CONFIGURE, &cfg);
        if (r < 0 && errno == EINVAL) { /* refused the 4 KiB block size: the default */
            cfg.block_size = 0;
            r = ioctl(lfd, LOOP_CONFIGURE, &cfg);
        }
        if (r == 0)
            return lfd;
        int e = errno;
        close(lfd);
        if (e != EBUSY)
            return -e;
    }
    return -EBUSY;
}

int rt_disk_create(const char *sbdir, uint64_t size, uint64_t inodes, char *dev, size_t dev_len)
{
    /* inode tables need room: at most one 256-byte inode per 1 KiB */
    if (inodes > size / 1024)
        inodes = size / 1024;
    if (size < (8u << 20) || inodes < 64)
        return -EINVAL;
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof(path), "%s/disk.img", sbdir) >= sizeof(path))
        return -ENAMETOOLONG;
    cleanup_close int img = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    if (img < 0)
        return -errno;
    int r = write_image(sbdir, img, size, inodes);
    if (r >= 0)
        r = loop_attach(img, dev, dev_len);
    if (r < 0)
        unlink(path);
    return r; /* the loop fd: close it once the setup child has mounted the device */
}
