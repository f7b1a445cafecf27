/* escape_check: runner and output of the container-escape checker (see atk_check.h); the
 * checks themselves are in atk_check_proc.c (this process: capabilities, seccomp, ids, fds),
 * atk_check_sys.c (privileged syscalls), atk_check_fs.c (host files, devices, mounts, pids)
 * and atk_check_net.c (network, runtime sockets, cloud metadata, kubernetes, environment). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "atk_check.h"
#include "attack.h"

__attribute__((format(printf, 3, 0))) static void put_line(const char *kind, const char *id,
                                                           const char *fmt, va_list ap)
{
    char detail[2048];
    vsnprintf(detail, sizeof(detail), fmt, ap);
    printf("%s %s ", kind, id);
    for (const unsigned char *p = (const unsigned char *)detail; *p; p++) {
        if (*p < 0x20 || *p >= 0x7f || *p == '\\')
            printf("\\x%02x", *p);
        else
            putchar(*p);
    }
    putchar('\n');
}

void chk_finding(struct chk_ctx *c, const char *fmt, ...)
{
    if (c->findings++ >= CHK_MAX_LINES) {
        c->unshown++;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    put_line("FINDING", c->id, fmt, ap);
    va_end(ap);
}

void chk_info(struct chk_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    put_line("INFO", c->id, fmt, ap);
    va_end(ap);
}

void chk_error(struct chk_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    put_line("ERROR", c->id, fmt, ap);
    va_end(ap);
    c->errors++;
}

int chk_in_child(struct chk_ctx *c, int (*fn)(const void *arg), const void *arg)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        chk_error(c, "fork: %s", chk_errname(errno));
        return -1;
    }
    if (pid == 0) {
        alarm(10);
        _exit(fn(arg) & 0xff);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) {
            chk_error(c, "waitpid: %s", chk_errname(errno));
            return -1;
        }
    }
    if (WIFSIGNALED(st))
        return CHK_KILLED + WTERMSIG(st);
    return WEXITSTATUS(st);
}

int chk_try_open(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return errno;
    close(fd);
    return 0;
}

const char *chk_errname(int e)
{
    if (e == 0)
        return "0";
    if (e >= CHK_KILLED)
        return "killed";
    const char *n = strerrorname_np(e);
    return n ? n : "?";
}

bool chk_refused(int e)
{
    return e == EPERM || e == EACCES || e == ENOSYS || e >= CHK_KILLED;
}

static bool walk(struct chk_ctx *c, char *path, size_t len, int depth, long *budget,
                 void (*visit)(struct chk_ctx *c, const char *path, const struct stat *st))
{
    DIR *d = opendir(len ? path : "/");
    if (!d)
        return true;
    struct dirent *de;
    bool more = true;
    while (more && (de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (--*budget < 0) {
            more = false;
            break;
        }
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        int n = snprintf(path + len, PATH_MAX - len, "/%s", de->d_name);
        if (n < 0 || (size_t)n >= PATH_MAX - len)
            continue;
        visit(c, path, &st);
        bool skip = strcmp(path, "/proc") == 0 || strcmp(path, "/sys") == 0;
        if (S_ISDIR(st.st_mode) && depth > 1 && !skip)
            more = walk(c, path, len + (size_t)n, depth - 1, budget, visit);
        path[len] = '\0';
    }
    closedir(d);
    return more;
}

bool chk_walk(struct chk_ctx *c, const char *root, int maxdepth, long *budget,
              void (*visit)(struct chk_ctx *c, const char *path, const struct stat *st))
{
    static char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s", strcmp(root, "/") == 0 ? "" : root);
    return walk(c, path, strlen(path), maxdepth, budget, visit);
}

static const struct chk *const chk_tables[] = {
    chk_proc_table,
    chk_sys_table,
    chk_fs_table,
    chk_net_table,
};
#define NTABLES (sizeof(chk_tables) / sizeof(chk_tables[0]))

static bool selected(const char *only, const char *id)
{
    if (!only)
        return true;
    size_t n = strlen(id);
    for (const char *p = only; *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, id, n) == 0)
            return true;
        p += len + (p[len] == ',');
    }
    return false;
}

static int a_escape_check(const char *name, int argc, char **argv)
{
    struct chk_ctx c = {0};
    const char *only = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--connect") == 0)
            c.connect = true;
        else if (strncmp(argv[i], "--only=", 7) == 0)
            only = argv[i] + 7;
        else
            return atk_report(name, false, EINVAL,
                              "usage: escape_check [--connect] [--only=ID,..]");
    }
    /* a probe child must not inherit unflushed output, and nothing may stop the run */
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    int n = 0;
    for (size_t t = 0; t < NTABLES; t++)
        for (const struct chk *e = chk_tables[t]; e->id; e++)
            n += selected(only, e->id);
    printf("PLAN %d", n);
    for (size_t t = 0; t < NTABLES; t++)
        for (const struct chk *e = chk_tables[t]; e->id; e++)
            if (selected(only, e->id))
                printf(" %s", e->id);
    putchar('\n');
    int findings = 0, failed = 0, errors = 0;
    for (size_t t = 0; t < NTABLES; t++) {
        for (const struct chk *e = chk_tables[t]; e->id; e++) {
            if (!selected(only, e->id))
                continue;
            c.id = e->id;
            c.findings = c.unshown = c.errors = 0;
            e->fn(&c);
            if (c.unshown)
                printf("FINDING %s %d more not shown\n", e->id, c.unshown);
            printf("CHECK %s %s %s\n", e->id,
                   c.findings ? "finding"
                   : c.errors ? "error"
                              : "ok",
                   e->source);
            findings += c.findings;
            failed += c.findings > 0;
            errors += c.errors;
        }
    }
    atk_report(name, findings > 0, 0, "%d checks, %d with findings, %d findings, %d errors", n,
               failed, findings, errors);
    return findings ? 1 : errors ? 3 : 0;
}

const struct atk_entry atk_check_table[] = {
    {"escape_check", a_escape_check,
     "[--connect] [--only=ID,..] container-escape checker (CHECK/FINDING lines)"},
    {NULL, NULL, NULL},
};
