/* image: safe layer unpack.
 *
 * Runs as root on the host, so every path in the tar is hostile.  The layer directory is the
 * root: names are normalised lexically (leading '/' and "." components dropped, ".." refused),
 * parents are opened from the root with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_XDEV) so no symlink (planted by an earlier entry) is ever followed, and the last
 * component is created with *at() calls that do not follow it either.  Hardlink targets are
 * resolved the same way and must be a regular file or symlink inside the tree.
 *
 * Whiteouts become what overlayfs expects in a lower layer: `.wh.<name>` a 0:0 character
 * device, `.wh..wh..opq` the trusted.overlay.opaque="y" xattr on its directory.  Device nodes
 * and fifos are not created; setuid/setgid bits are dropped (the sticky bit is kept on
 * directories only: it restricts, never grants); xattrs from the archive are ignored;
 * ownership is kept (the runtime idmaps it); mtimes best effort.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "image/img_internal.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"
#define WH_META ".wh..wh."

struct unpack {
    int root_fd;
    const struct img_unpack_limits *lim;
    uint64_t bytes;
    char cache_path[IMG_MAX_NAME + 1]; /* parent dir of the previous entry */
    int cache_fd;
    uint8_t *buf;
};

static int openat2_beneath(int dirfd, const char *path, int flags)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
    };
    int fd;
    do
        fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
    while (fd < 0 && errno == EAGAIN);
    return fd < 0 ? -errno : fd;
}

/* Lexical normalisation into out: "" is the root itself. */
static int normalize(const char *in, char *out, size_t cap, struct al_err *err)
{
    size_t o = 0;
    const char *p = in;
    while (*p) {
        while (*p == '/')
            p++;
        const char *s = p;
        while (*p && *p != '/')
            p++;
        size_t n = (size_t)(p - s);
        if (n == 0 || (n == 1 && s[0] == '.'))
            continue;
        if (n == 2 && s[0] == '.' && s[1] == '.')
            return al_err_set(err, AL_ERR_INVALID, EPERM,
                              "layer entry '%.200s' has a '..' component", in);
        if (n > 255)
            return al_err_set(err, AL_ERR_INVALID, ENAMETOOLONG,
                              "layer entry has a component longer than 255 bytes");
        if (o + n + 2 > cap)
            return al_err_set(err, AL_ERR_INVALID, ENAMETOOLONG, "layer entry name too long");
        if (o)
            out[o++] = '/';
        memcpy(out + o, s, n);
        o += n;
    }
    out[o] = '\0';
    return 0;
}

static void cache_drop(struct unpack *u)
{
    if (u->cache_fd >= 0)
        close(u->cache_fd);
    u->cache_fd = -1;
    u->cache_path[0] = '\0';
}

/* Open (creating missing directories 0755) the directory `path` inside the root.  Returns a
 * borrowed fd (owned by the cache). */
static int open_parent(struct unpack *u, const char *path, struct al_err *err)
{
    if (u->cache_fd >= 0 && strcmp(u->cache_path, path) == 0)
        return u->cache_fd;
    cache_drop(u);
    int fd = path[0] ? openat2_beneath(u->root_fd, path, O_RDONLY | O_DIRECTORY)
                     : fcntl(u->root_fd, F_DUPFD_CLOEXEC, 3);
    if (fd < 0 && fd != -ENOENT) {
        if (fd == -ELOOP || fd == -EXDEV || fd == -ENOTDIR)
            return al_err_set(err, AL_ERR_INVALID, EPERM,
                              "layer entry's parent '%.200s' goes through a symlink (or is "
                              "not a directory)",
                              path);
        return al_err_sys(err, AL_ERR_INVALID, -fd, "layer: open '%.200s'", path);
    }
    if (fd < 0) { /* walk and create, one component at a time */
        char comp[256];
        cleanup_close int cur = fcntl(u->root_fd, F_DUPFD_CLOEXEC, 3);
        if (cur < 0)
            return al_err_sys(err, AL_ERR_INTERNAL, errno, "dup");
        for (const char *p = path; *p;) {
            const char *s = p;
            while (*p && *p != '/')
                p++;
            size_t n = (size_t)(p - s);
            memcpy(comp, s, n);
            comp[n] = '\0';
            if (*p == '/')
                p++;
            int nfd = openat2_beneath(cur, comp, O_RDONLY | O_DIRECTORY);
            bool made = false;
            if (nfd == -ENOENT) {
                if (mkdirat(cur, comp, 0755) < 0 && errno != EEXIST)
                    return al_err_sys(err, AL_ERR_INTERNAL, errno, "layer: mkdir '%.200s'", path);
                made = true;
                nfd = openat2_beneath(cur, comp, O_RDONLY | O_DIRECTORY);
            }
            if (made && nfd >= 0)
                (void)fchmod(nfd, 0755); /* implicit directories: 0755 whatever the umask */
            if (nfd == -ELOOP || nfd == -EXDEV || nfd == -ENOTDIR)
                return al_err_set(err, AL_ERR_INVALID, EPERM,
                                  "layer entry's parent '%.200s' goes through a symlink (or is "
                                  "not a directory)",
                                  path);
            if (nfd < 0)
                return al_err_sys(err, AL_ERR_INVALID, -nfd, "layer: open '%.200s'", path);
            close(cur);
            cur = nfd;
        }
        fd = TAKE_FD(cur);
    }
    size_t len = strlen(path);
    memcpy(u->cache_path, path, len + 1);
    u->cache_fd = fd;
    return fd;
}

/* Remove whatever is at dfd/name (unless keep_dir and it is a directory). */
static int remove_existing(int dfd, const char *name, bool keep_dir, bool *ret_is_dir)
{
    struct stat st;
    if (ret_is_dir)
        *ret_is_dir = false;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (S_ISDIR(st.st_mode)) {
        if (keep_dir) {
            *ret_is_dir = true;
            return 0;
        }
        /* only children of dfd go away: the cached parent (dfd itself) stays valid */
        return al_rm_rf_at(dfd, name);
    }
    return unlinkat(dfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
}

static mode_t clean_mode(uint32_t mode, bool dir)
{
    return (mode_t)(mode & (dir ? 01777u : 0777u));
}

static void set_times(int dfd, const char *name, int64_t mtime, int flags)
{
    struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_sec = (time_t)mtime}};
    (void)utimensat(dfd, name, ts, flags); /* best effort */
}

static int write_file(struct unpack *u, struct img_tar *t, int fd, uint64_t size,
                      struct al_err *err)
{
    uint64_t left = size;
    while (left > 0) {
        size_t chunk = left > (128u << 10) ? (128u << 10) : (size_t)left;
        ssize_t n = img_tar_read(t, u->buf, chunk);
        if (n < 0)
            return al_err_sys(err, AL_ERR_INVALID, (int)-n, "layer: reading file data");
        if (n == 0)
            return al_err_set(err, AL_ERR_INVALID, EBADMSG, "layer: truncated file data");
        int rc = al_write_all(fd, u->buf, (size_t)n);
        if (rc < 0)
            return al_err_sys(err, AL_ERR_INTERNAL, -rc, "layer: write");
        left -= (uint64_t)n;
    }
    return 0;
}

static int do_entry(struct unpack *u, struct img_tar *t, const struct img_tar_entry *e,
                    struct al_err *err)
{
    char path[IMG_MAX_NAME + 1], parent[IMG_MAX_NAME + 1];
    int rc = normalize(e->name, path, sizeof(path), err);
    if (rc < 0)
        return rc;
    if (e->uid > 0xfffffffe || e->gid > 0xfffffffe)
        return al_err_set(err, AL_ERR_INVALID, ERANGE, "layer entry '%.200s': uid/gid out of range",
                          e->name);
    if (path[0] == '\0') { /* the root itself */
        if (e->type != IMG_TAR_DIR)
            return al_err_set(err, AL_ERR_INVALID, EINVAL, "layer root entry is not a directory");
        if (fchown(u->root_fd, (uid_t)e->uid, (gid_t)e->gid) < 0 ||
            fchmod(u->root_fd, clean_mode(e->mode, true)) < 0)
            return al_err_sys(err, AL_ERR_INTERNAL, errno, "layer: chown/chmod the root");
        return 0;
    }
    char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    if (slash) {
        memcpy(parent, path, (size_t)(slash - path));
        parent[slash - path] = '\0';
    } else {
        parent[0] = '\0';
    }
    int dfd = -1;
    switch (e->type) {
    case IMG_TAR_FILE:
    case IMG_TAR_DIR:
    case IMG_TAR_SYMLINK:
    case IMG_TAR_HARDLINK:
        break;
    default:
        return 0; /* devices, fifos, sparse and unknown types are not created */
    }
    dfd = open_parent(u, parent, err);
    if (dfd < 0)
        return dfd;

    if (strncmp(name, WH_PREFIX, strlen(WH_PREFIX)) == 0) {
        if (strcmp(name, WH_OPAQUE) == 0) {
            if (fsetxattr(dfd, "trusted.overlay.opaque", "y", 1, 0) < 0)
                return al_err_sys(err, AL_ERR_INTERNAL, errno, "layer: opaque xattr on '%.200s'",
                                  parent[0] ? parent : "/");
            /* for overlays mounted with userxattr (inside a user namespace): best effort */
            (void)fsetxattr(dfd, "user.overlay.opaque", "y", 1, 0);
            return 0;
        }
        if (strncmp(name, WH_META, strlen(WH_META)) == 0)
            return 0; /* aufs bookkeeping */
        const char *target = name + strlen(WH_PREFIX);
        if (!*target || strcmp(target, ".") == 0 || strcmp(target, "..") == 0)
            return al_err_set(err, AL_ERR_INVALID, EINVAL, "layer: bad whiteout '%.200s'", e->name);
        rc = remove_existing(dfd, target, false, NULL);
        if (rc < 0)
            return al_err_sys(err, AL_ERR_INTERNAL, -rc, "layer: replace '%.200s'", e->name);
        if (mknodat(dfd, target, S_IFCHR | 0, makedev(0, 0)) < 0)
            return al_err_sys(err, AL_ERR_INTERNAL, errno, "layer: whiteout '%.200s'", e->name);
        return 0;
    }

    cleanup_close int tfd = -1;
    if (e->type == IMG_TAR_HARDLINK) {
        char target[IMG_MAX_NAME + 1];
        rc = normalize(e->linkname, target, sizeof(target), err);
        if (rc < 0)
            return al_err_wrap(err, "hardlink");
        if (strcmp(target, path) == 0)
            return 0;
        if (!target[0])
            return al_err_set(err, AL_ERR_INVALID, EINVAL, "layer: hardlink to the root");
        tfd = openat2_beneath(u->root_fd, target, O_PATH);
        if (tfd < 0)
            return al_err_set(err, AL_ERR_INVALID, EPERM,
                              "layer: hardlink '%.200s' -> '%.200s': target not in the layer "
                              "(or reached through a symlink)",
                              e->name, e->linkname);
        struct stat st;
        if (fstat(tfd, &st) < 0)
            return al_err_sys(err, AL_ERR_INTERNAL, errno, "layer: stat");
        if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
            return al_err_set(err, AL_ERR_INVALID, EPERM,
                              "layer: hardlink '%.200s' to something that is not a file", e->name);
    }
    bool is_dir = false;
    rc = remove_existing(dfd, name, e->type == IMG_TAR_DIR, &is_dir);
    if (rc < 0)
        return al_err_sys(err, AL_ERR_INTERNAL, -rc, "layer: replace '%.200s'", e->name);

    switch (e->type) {
    case IMG_TAR_DIR: {
        if (!is_dir && mkdirat(dfd, name, 0700) < 0)
            return al_err_sys(err, AL_ERR_INTERNAL, errno, "layer: mkdir '%.200s'", e->name);
        cleanup_close int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return al_err_sys(err, AL_ERR_INTERNAL, errno, "layer: open '%.200s'", e->name);
        if (fchown(fd, (uid_t)e->uid, (gid_t)e->gid) < 0 ||
            fchmod(fd, clean_mode(e->mode, true)) < 0)
            return al_err_sys(err, AL_ERR_INTERNAL, errno, "layer: chown/chmod '%.200s'", e->name);
        set_times(dfd, name, e->mtime, AT_SYMLINK_NOFOLLOW);
        return 0;
    }
    case IMG_TAR_FILE: {
        u->bytes += e->size;
        if (u->bytes > u->lim->max_bytes)
            return al_err_set(err, AL_ERR_LIMIT, EFBIG, "layer larger than %llu bytes unpacked",
                              (unsigned long long)u->lim->max_bytes);
        cleanup_close int fd =
            openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
            return al_err_sys(err, AL_ERR_INTERNAL, errno, "layer: create '%.200s'", e->name);
        rc = write_file(u, t, fd, e->size, err);
        if (rc < 0)
            return rc;
        if (fchown(fd, (uid_t)e->uid, (gid_t)e->gid) < 0 ||
            fchmod(fd, clean_mode(e->mode, false)) < 0)
            return al_err_sys(err, AL_ERR_INTERNAL, errno, "layer: chown/chmod '%.200s'", e->name);
        struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_sec = (time_t)e->mtime}};
        (void)futimens(fd, ts);
        return 0;
    }
    case IMG_TAR_SYMLINK:
        if (!e->linkname[0])
            return al_err_set(err, AL_ERR_INVALID, EINVAL, "layer: empty symlink '%.200s'",
                              e->name);
        if (symlinkat(e->linkname, dfd, name) < 0)
            return al_err_sys(err, AL_ERR_INTERNAL, errno, "layer: symlink '%.200s'", e->name);
        if (fchownat(dfd, name, (uid_t)e->uid, (gid_t)e->gid, AT_SYMLINK_NOFOLLOW) < 0)
            return al_err_sys(err, AL_ERR_INTERNAL, errno, "layer: chown '%.200s'", e->name);
        set_times(dfd, name, e->mtime, AT_SYMLINK_NOFOLLOW);
        return 0;
    case IMG_TAR_HARDLINK:
        if (linkat(tfd, "", dfd, name, AT_EMPTY_PATH) < 0)
            return al_err_sys(err, AL_ERR_INTERNAL, errno, "layer: link '%.200s'", e->name);
        return 0;
    default:
        return 0;
    }
}

int img_unpack_tar(int root_fd, struct img_rd *rd, const struct img_unpack_limits *lim,
                   struct al_err *err)
{
    struct img_unpack_limits dflt = {IMG_MAX_ENTRIES, IMG_MAX_UNPACKED};
    struct unpack u = {.root_fd = root_fd, .lim = lim ? lim : &dflt, .cache_fd = -1};
    struct img_tar *t = NULL;
    int rc = img_tar_new(rd, u.lim->max_entries, &t);
    if (rc < 0)
        return al_err_sys(err, AL_ERR_INTERNAL, -rc, "tar reader");
    u.buf = malloc(128u << 10);
    if (!u.buf) {
        img_tar_free(t);
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    }
    for (;;) {
        struct img_tar_entry e;
        rc = img_tar_next(t, &e, err);
        if (rc <= 0)
            break;
        rc = do_entry(&u, t, &e, err);
        if (rc < 0)
            break;
    }
    cache_drop(&u);
    free(u.buf);
    img_tar_free(t);
    return rc < 0 ? rc : 0;
}
