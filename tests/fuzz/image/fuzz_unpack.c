/* libFuzzer target: the real layer unpack (img_unpack_tar) into a fresh temporary directory,
 * then the safety invariant checked from outside, whatever the archive held:
 *
 *   <base>/root     the layer root the archive unpacks into
 *   <base>/canary/f a file next to it that nothing may reach
 *
 * After each input (a plain tar stream): base holds only root/ and canary/, canary holds only
 * f, unchanged, with one link; the tree under root (walked with openat/fstatat, never
 * following a symlink) holds no device node but 0:0 whiteouts, no fifo or socket, no
 * setuid/setgid bit, no sticky bit outside directories, nothing on another filesystem, and
 * every multiply-linked file has all its links inside the tree (a hardlink to anything
 * outside would show up as a link count the tree cannot account for); and the unpack left
 * no fd open.  A violation abort()s.  Then the whole base is removed (fd-relative).
 * Needs root for the unpack to get far (chown, whiteout device nodes, trusted.* xattrs);
 * as another user most inputs stop at their first chown, and the checks still hold. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "fuzz_tmpdir.h"
#include "image/img_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define UNPACK_MAX_INPUT (64u << 10) /* 128 tar blocks: plenty for hostile shapes, cheap */
#define UNPACK_MAX_ENTRIES 512
#define UNPACK_MAX_BYTES (4u << 20)
#define CANARY "canary\n"

#define CHECK(cond, ...) FUZZ_CHECK("fuzz_unpack", cond, __VA_ARGS__)

struct links { /* multiply-linked files seen in the tree: (dev, ino) -> links found */
    struct {
        dev_t dev;
        ino_t ino;
        nlink_t nlink, seen;
    } v[UNPACK_MAX_ENTRIES * 2];
    size_t n;
};

static void note_link(struct links *l, const struct stat *st, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].dev == st->st_dev && l->v[i].ino == st->st_ino) {
            l->v[i].seen++;
            return;
        }
    CHECK(l->n < AL_ARRAY_SIZE(l->v), "more linked files than entries ('%s')", name);
    l->v[l->n].dev = st->st_dev;
    l->v[l->n].ino = st->st_ino;
    l->v[l->n].nlink = st->st_nlink;
    l->v[l->n].seen = 1;
    l->n++;
}

/* dfd: an open directory of the tree (consumed). */
static void walk(int dfd, dev_t dev, struct links *l, int depth)
{
    CHECK(depth < 4096, "tree deeper than any entry name allows");
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        CHECK(false, "fdopendir: %s", strerror(errno));
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
            continue;
        struct stat st;
        CHECK(fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) == 0, "fstatat '%s': %s", n,
              strerror(errno));
        CHECK(st.st_dev == dev, "'%s' is on another filesystem", n);
        CHECK(!(st.st_mode & (S_ISUID | S_ISGID)), "'%s' has mode %o", n, st.st_mode);
        switch (st.st_mode & S_IFMT) {
        case S_IFDIR: {
            int cfd = openat(dirfd(d), n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            CHECK(cfd >= 0, "open dir '%s': %s", n, strerror(errno));
            walk(cfd, dev, l, depth + 1);
            break;
        }
        case S_IFREG:
            CHECK(!(st.st_mode & S_ISVTX), "file '%s' has mode %o", n, st.st_mode);
            if (st.st_nlink > 1)
                note_link(l, &st, n);
            break;
        case S_IFLNK:
            if (st.st_nlink > 1)
                note_link(l, &st, n);
            break;
        case S_IFCHR: /* a whiteout: 0:0, one link, no permissions */
            CHECK(major(st.st_rdev) == 0 && minor(st.st_rdev) == 0,
                  "device node '%s' (%u:%u) created", n, major(st.st_rdev), minor(st.st_rdev));
            CHECK(st.st_nlink == 1 && !(st.st_mode & 07777), "whiteout '%s': mode %o, %lu links", n,
                  st.st_mode, (unsigned long)st.st_nlink);
            break;
        default:
            CHECK(false, "'%s' has file type %o", n, st.st_mode & S_IFMT);
        }
    }
    closedir(d);
}

/* dfd (borrowed) holds nothing but a and b (b may be NULL). */
static void only_children(int dfd, const char *a, const char *b, const char *where)
{
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(fd >= 0, "reopen %s", where);
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        CHECK(false, "fdopendir %s", where);
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        CHECK(strcmp(n, ".") == 0 || strcmp(n, "..") == 0 || strcmp(n, a) == 0 ||
                  (b && strcmp(n, b) == 0),
              "'%s' appeared in %s, outside the layer root", n, where);
    }
    closedir(d);
}

static void check_canary(int base_fd)
{
    only_children(base_fd, "root", "canary", "the base dir");
    cleanup_close int cfd =
        openat(base_fd, "canary", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    CHECK(cfd >= 0, "canary dir gone or replaced: %s", strerror(errno));
    only_children(cfd, "f", NULL, "the canary dir");
    struct stat st;
    CHECK(fstatat(cfd, "f", &st, AT_SYMLINK_NOFOLLOW) == 0, "canary file gone");
    CHECK(S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0644 && st.st_nlink == 1 &&
              st.st_uid == geteuid() && st.st_size == (off_t)strlen(CANARY),
          "canary file changed: mode %o, %lu links, uid %u, size %lld", st.st_mode,
          (unsigned long)st.st_nlink, st.st_uid, (long long)st.st_size);
    char buf[sizeof(CANARY)] = {0};
    cleanup_close int ffd = openat(cfd, "f", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    CHECK(ffd >= 0 && read(ffd, buf, sizeof(buf)) == (ssize_t)strlen(CANARY) &&
              memcmp(buf, CANARY, strlen(CANARY)) == 0,
          "canary file content changed");
}

/* The lowest free fd number: a leaked fd takes it. */
static int lowest_free_fd(void)
{
    int fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 0);
    if (fd >= 0)
        close(fd);
    return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > UNPACK_MAX_INPUT)
        return 0;
    struct fuzz_tmpdir t;
    fuzz_tmpdir_make(&t, "fuzz-unpack");
    const char *base = t.path;
    cleanup_close int base_fd = open(base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    CHECK(base_fd >= 0, "open %s: %s", base, strerror(errno));
    CHECK(mkdirat(base_fd, "root", 0755) == 0 && mkdirat(base_fd, "canary", 0755) == 0,
          "mkdir in %s: %s", base, strerror(errno));
    CHECK(al_write_file_at(base_fd, "canary/f", CANARY, strlen(CANARY), 0644) == 0, "write canary");
    cleanup_close int root_fd = openat(base_fd, "root", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(root_fd >= 0, "open root");
    struct stat rst;
    CHECK(fstat(root_fd, &rst) == 0, "stat root");

    int free_fd = lowest_free_fd();
    struct img_mem_rd m;
    struct img_rd rd;
    img_mem_rd_init(&m, data, size, &rd);
    struct img_unpack_limits lim = {UNPACK_MAX_ENTRIES, UNPACK_MAX_BYTES};
    struct al_err err = {0};
    (void)img_unpack_tar(root_fd, &rd, &lim, &err);
    CHECK(lowest_free_fd() == free_fd, "the unpack leaked an fd");

    check_canary(base_fd);
    struct stat st;
    CHECK(fstatat(base_fd, "root", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
              st.st_ino == rst.st_ino && !(st.st_mode & (S_ISUID | S_ISGID)),
          "layer root replaced or given mode %o", st.st_mode);
    static struct links links;
    links.n = 0;
    int wfd = openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(wfd >= 0, "reopen root");
    walk(wfd, rst.st_dev, &links, 0);
    for (size_t i = 0; i < links.n; i++)
        CHECK(links.v[i].seen == links.v[i].nlink,
              "a file with %lu links has only %lu in the layer: linked from outside",
              (unsigned long)links.v[i].nlink, (unsigned long)links.v[i].seen);

    fuzz_tmpdir_remove(&t);
    return 0;
}
