/* What the file-touching fuzz targets share: an invariant check that aborts, and a fresh
 * temporary directory per input, removed fd-relative afterwards. */
#pragma once

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fsutil.h"

#define FUZZ_CHECK(who, cond, ...)                                                                 \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, who ": invariant violated: " __VA_ARGS__);                             \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

struct fuzz_tmpdir {
    char path[512];
    int parent_fd;    /* the directory holding it */
    const char *name; /* its last component */
};

/* mkdtemp "$TMPDIR/<prefix>-XXXXXX" (TMPDIR default /tmp); aborts when it cannot. */
static inline void fuzz_tmpdir_make(struct fuzz_tmpdir *t, const char *prefix)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(t->path, sizeof(t->path), "%s/%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", prefix);
    if (!mkdtemp(t->path)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    char *slash = strrchr(t->path, '/');
    *slash = '\0';
    t->parent_fd = open(t->path[0] ? t->path : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    *slash = '/';
    t->name = slash + 1;
    FUZZ_CHECK("fuzz", t->parent_fd >= 0, "open the parent of %s", t->path);
}

/* Remove it and everything below (never following a symlink); aborts when it cannot. */
static inline void fuzz_tmpdir_remove(struct fuzz_tmpdir *t)
{
    int rc = al_rm_rf_at(t->parent_fd, t->name);
    FUZZ_CHECK("fuzz", rc == 0, "remove %s: %s", t->path, strerror(-rc));
    close(t->parent_fd);
}
