/* attack: multi-call entry point and the JSON reporting helpers (see attack.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "attack.h"

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p >= 0x7f)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

int atk_report(const char *name, bool ok, int err, const char *fmt, ...)
{
    char detail[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    fputs("{\"attack\":", stdout);
    json_str(stdout, name);
    printf(",\"ok\":%s,\"errno\":%d,\"errname\":", ok ? "true" : "false", err);
    json_str(stdout, err ? strerrorname_np(err) ? strerrorname_np(err) : "?" : "");
    fputs(",\"detail\":", stdout);
    json_str(stdout, detail);
    fputs("}\n", stdout);
    fflush(stdout);
    return 0;
}

void atk_append(char *buf, unsigned long size, const char *fmt, ...)
{
    size_t len = strnlen(buf, size);
    if (len + 1 >= size)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + len, size - len, fmt, ap);
    va_end(ap);
}

long atk_read_file(const char *path, char *buf, unsigned long size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    unsigned long got = 0;
    while (got + 1 < size) {
        ssize_t n = read(fd, buf + got, size - 1 - got);
        if (n < 0) {
            int e = errno;
            close(fd);
            return -e;
        }
        if (n == 0)
            break;
        got += (unsigned long)n;
    }
    buf[got] = '\0';
    close(fd);
    return (long)got;
}

static const struct atk_entry *const tables[] = {
    atk_ns_table,  atk_sys_table, atk_fs_table,    atk_net_table,
    atk_res_table, atk_abi_table, atk_check_table,
};

static void usage(void)
{
    fputs("usage: attack <name> [args]\n", stderr);
    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
        for (const struct atk_entry *e = tables[t]; e->name; e++)
            fprintf(stderr, "  %-22s %s\n", e->name, e->usage);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage();
        return 2;
    }
    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
        for (const struct atk_entry *e = tables[t]; e->name; e++)
            if (strcmp(e->name, argv[1]) == 0)
                return e->fn(e->name, argc - 2, argv + 2);
    usage();
    return 2;
}
