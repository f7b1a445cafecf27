#include "common/path.h"

#include <errno.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

int al_open_in_root(int root_fd, const char *path, int flags, mode_t mode, bool nofollow_last)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC | (nofollow_last ? O_NOFOLLOW : 0)),
        .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    while (*path == '/')
        path++;
    if (*path == '\0')
        path = ".";
    int fd;
    do
        fd = (int)syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
    while (fd < 0 && errno == EAGAIN);
    return fd < 0 ? -errno : fd;
}

int al_open_parent_in_root(int root_fd, const char *path, char *name, size_t name_len)
{
    char buf[4096];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, path, len + 1);
    while (len > 1 && buf[len - 1] == '/')
        buf[--len] = '\0';
    char *slash = strrchr(buf, '/');
    const char *last = slash ? slash + 1 : buf;
    if (*last == '\0' || strcmp(last, ".") == 0 || strcmp(last, "..") == 0)
        return -EINVAL;
    if (strlen(last) >= name_len)
        return -ENAMETOOLONG;
    strncpy(name, last, name_len - 1);
    name[name_len - 1] = '\0';
    const char *parent;
    if (!slash)
        parent = ".";
    else if (slash == buf)
        parent = "/";
    else {
        *slash = '\0';
        parent = buf;
    }
    return al_open_in_root(root_fd, parent, O_PATH | O_DIRECTORY, 0, false);
}

bool al_path_is_sane(const char *path, size_t max_len)
{
    if (!path || !*path)
        return false;
    size_t len = strlen(path);
    if (len > max_len)
        return false;
    for (const char *p = path; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}
