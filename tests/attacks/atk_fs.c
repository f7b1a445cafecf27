/* Filesystem and /proc attacks: device nodes, the agent's /proc entries, host files, leaked
 * descriptors, cgroup files. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "attack.h"

static int a_mknod(const char *name, int argc, char **argv)
{
    if (argc < 4)
        return atk_report(name, false, EINVAL, "usage: mknod <path> <c|b> <major> <minor>");
    mode_t type = argv[1][0] == 'b' ? S_IFBLK : S_IFCHR;
    dev_t dev = makedev(strtoul(argv[2], NULL, 10), strtoul(argv[3], NULL, 10));
    int r = mknod(argv[0], type | 0600, dev);
    if (r < 0)
        return atk_report(name, false, errno, "mknod(%s, %s %s:%s)", argv[0], argv[1], argv[2],
                          argv[3]);
    /* Created: the node must still be useless (nodev). */
    int fd = open(argv[0], O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    int e = fd < 0 ? errno : 0;
    char b[16];
    ssize_t n = fd >= 0 ? read(fd, b, sizeof(b)) : -1;
    if (fd >= 0)
        close(fd);
    unlink(argv[0]);
    return atk_report(name, fd >= 0, e, "mknod(%s) CREATED; open: %s, read %zd", argv[0],
                      fd >= 0 ? "OPENED" : "refused", n);
}

static int a_open_read(const char *name, int argc, char **argv)
{
    /* Opens a path read-only and reads from it (e.g. /proc/1/environ, /proc/1/mem). */
    if (argc < 1)
        return atk_report(name, false, EINVAL, "usage: open_read <path> [offset]");
    int fd = open(argv[0], O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return atk_report(name, false, errno, "opening %s", argv[0]);
    char b[256];
    ssize_t n = argc > 1 ? pread(fd, b, sizeof(b), (off_t)strtoull(argv[1], NULL, 0))
                         : read(fd, b, sizeof(b));
    int e = n < 0 ? errno : 0;
    close(fd);
    return atk_report(name, n >= 0, e, "opening %s OPENED, read -> %zd", argv[0], n);
}

static int a_proc1_fds(const char *name, int argc, char **argv)
{
    const char *pid = argc > 0 ? argv[0] : "1";
    char dir[64], out[2048] = "";
    snprintf(dir, sizeof(dir), "/proc/%s/fd", pid);
    DIR *d = opendir(dir);
    if (!d)
        return atk_report(name, false, errno, "opendir(%s)", dir);
    int opened = 0, listed = 0, last_err = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        listed++;
        char p[384], target[256];
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        ssize_t tl = readlink(p, target, sizeof(target) - 1);
        if (tl >= 0) {
            target[tl] = '\0';
            atk_append(out, sizeof(out), "%s->%s ", de->d_name, target);
        }
        int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd >= 0) {
            opened++;
            close(fd);
        } else {
            last_err = errno;
        }
    }
    closedir(d);
    return atk_report(name, listed > 0 || opened > 0, opened ? 0 : last_err,
                      "%s: %d listed, %d opened; %s", dir, listed, opened, out);
}

static int a_opendir(const char *name, int argc, char **argv)
{
    if (argc < 1)
        return atk_report(name, false, EINVAL, "usage: opendir <path>");
    DIR *d = opendir(argv[0]);
    if (!d)
        return atk_report(name, false, errno, "opendir(%s)", argv[0]);
    char out[2048] = "";
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.' && n++ < 64)
            atk_append(out, sizeof(out), "%s ", de->d_name);
    closedir(d);
    return atk_report(name, true, 0, "opendir(%s) OPENED, %d entries: %s", argv[0], n, out);
}

static int a_write_file(const char *name, int argc, char **argv)
{
    if (argc < 2)
        return atk_report(name, false, EINVAL, "usage: write_file <path> <text>");
    int fd = open(argv[0], O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return atk_report(name, false, errno, "opening %s O_WRONLY", argv[0]);
    ssize_t w = write(fd, argv[1], strlen(argv[1]));
    int e = w < 0 ? errno : 0;
    close(fd);
    return atk_report(name, w > 0, e, "write(%s) -> %zd", argv[0], w);
}

static int a_fds(const char *name, int argc, char **argv)
{
    /* Descriptors inherited by user code beyond stdin/stdout/stderr. */
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return atk_report(name, false, errno, "opendir(/proc/self/fd)");
    int self = dirfd(d), extra = 0;
    char out[2048] = "";
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        int fd = (int)strtol(de->d_name, NULL, 10);
        char p[64], t[256];
        snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
        ssize_t tl = readlink(p, t, sizeof(t) - 1);
        t[tl > 0 ? tl : 0] = '\0';
        if (fd <= 2 || fd == self)
            continue;
        extra++;
        atk_append(out, sizeof(out), "%d->%s ", fd, t);
    }
    closedir(d);
    return atk_report(name, extra > 0, 0, "%d inherited fds beyond 0-2: %s", extra, out);
}

static int a_ps(const char *name, int argc, char **argv)
{
    DIR *d = opendir("/proc");
    if (!d)
        return atk_report(name, false, errno, "opendir(/proc)");
    char out[6000] = "";
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        char p[64], comm[64] = "?";
        snprintf(p, sizeof(p), "/proc/%ld/comm", pid);
        long r = atk_read_file(p, comm, sizeof(comm));
        if (r > 0 && comm[r - 1] == '\n')
            comm[r - 1] = '\0';
        n++;
        atk_append(out, sizeof(out), "%ld:%s ", pid, comm);
    }
    closedir(d);
    return atk_report(name, false, 0, "%d %s", n, out);
}

static int a_cat(const char *name, int argc, char **argv)
{
    /* Prints a file's content as the detail (up to 4 KiB); ok = readable. */
    if (argc < 1)
        return atk_report(name, false, EINVAL, "usage: cat <path>");
    char buf[4096];
    long n = atk_read_file(argv[0], buf, sizeof(buf));
    if (n < 0)
        return atk_report(name, false, (int)-n, "%s", "");
    return atk_report(name, true, 0, "%s", buf);
}

static int a_sysv(const char *name, int argc, char **argv)
{
    /* Looks up an existing SysV shm segment and message queue by key (IPC is per namespace). */
    if (argc < 1)
        return atk_report(name, false, EINVAL, "usage: sysv <key>");
    key_t key = (key_t)strtol(argv[0], NULL, 0);
    int shm = shmget(key, 0, 0);
    int shm_err = shm < 0 ? errno : 0;
    int mq = msgget(key, 0);
    int mq_err = mq < 0 ? errno : 0;
    char *p = shm >= 0 ? shmat(shm, NULL, SHM_RDONLY) : (void *)-1;
    char peek[64] = "";
    if (p != (void *)-1) {
        snprintf(peek, sizeof(peek), "%.40s", p);
        shmdt(p);
    }
    return atk_report(name, shm >= 0 || mq >= 0, shm >= 0 || mq >= 0 ? 0 : shm_err,
                      "shmget(0x%x) -> %d (errno %d) %s; msgget -> %d (errno %d)", (unsigned)key,
                      shm, shm_err, peek, mq, mq_err);
}

static int a_procmem(const char *name, int argc, char **argv)
{
    /* ptrace without ptrace(2): read another process's memory through /proc/<pid>/mem at the
     * start of its first mapping (and try to open it for writing). */
    if (argc < 1)
        return atk_report(name, false, EINVAL, "usage: procmem <pid>");
    char path[64], maps[4096];
    snprintf(path, sizeof(path), "/proc/%s/maps", argv[0]);
    long n = atk_read_file(path, maps, sizeof(maps));
    unsigned long addr = n > 0 ? strtoul(maps, NULL, 16) : 0x400000;
    snprintf(path, sizeof(path), "/proc/%s/mem", argv[0]);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return atk_report(name, false, errno, "opening %s (maps: %ld)", path, n);
    char b[16];
    ssize_t r = pread(fd, b, sizeof(b), (off_t)addr);
    int e = r < 0 ? errno : 0;
    close(fd);
    int wfd = open(path, O_RDWR | O_CLOEXEC);
    int we = wfd < 0 ? errno : 0;
    if (wfd >= 0)
        close(wfd);
    return atk_report(name, r > 0, e, "pread(%s @0x%lx) -> %zd; open O_RDWR: %s", path, addr, r,
                      wfd >= 0 ? "OPENED" : strerror(we));
}

const struct atk_entry atk_fs_table[] = {
    {"procmem", a_procmem, "<pid> read a process's memory via /proc/pid/mem"},
    {"sysv", a_sysv, "<key> find a SysV shm segment / message queue"},
    {"mknod", a_mknod, "<path> <c|b> <maj> <min> create and open a device node"},
    {"open_read", a_open_read, "<path> [offset] open and read"},
    {"proc1_fds", a_proc1_fds, "[pid] list and open /proc/pid/fd/*"},
    {"opendir", a_opendir, "<path> list a directory"},
    {"write_file", a_write_file, "<path> <text> write into an existing file"},
    {"fds", a_fds, "descriptors inherited beyond 0-2"},
    {"ps", a_ps, "pids and comm names visible in /proc"},
    {"cat", a_cat, "<path> print a file"},
    {NULL, NULL, NULL},
};
