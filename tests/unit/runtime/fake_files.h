/* Files in a temporary directory standing in for cgroup files (the unit tests' cgroups). */
#pragma once

#include <limits.h>
#include <stdio.h>
#include <unistd.h>

static inline void fake_path(char *buf, size_t len, const char *dir, const char *name)
{
    snprintf(buf, len, "%s/%s", dir, name);
}

/* dir/name := text (asserting it could) */
static inline void put(const char *dir, const char *name, const char *text)
{
    char path[PATH_MAX + 64];
    fake_path(path, sizeof(path), dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* the first 63 bytes of dir/name, in a static buffer */
static inline const char *get(const char *dir, const char *name)
{
    static char buf[64];
    char path[PATH_MAX + 64];
    fake_path(path, sizeof(path), dir, name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

static inline void unput(const char *dir, const char *name)
{
    char path[PATH_MAX + 64];
    fake_path(path, sizeof(path), dir, name);
    unlink(path);
}
