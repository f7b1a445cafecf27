/* Scope-bound cleanup (bubblewrap/systemd style).  TAKE_PTR/TAKE_FD hand ownership on. */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <errno.h>
#include <dirent.h>

static inline void al_freep(void *p)
{
    free(*(void **)p);
}
static inline void al_closep(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
    }
}
static inline void al_fclosep(FILE **f)
{
    if (*f)
        fclose(*f);
}
static inline void al_closedirp(DIR **d)
{
    if (*d)
        closedir(*d);
}
/* NULL-terminated string vector */
static inline void al_strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}
static inline void al_strv_freep(char ***v)
{
    al_strv_free(*v);
}

#define cleanup_free __attribute__((cleanup(al_freep)))
#define cleanup_close __attribute__((cleanup(al_closep)))
#define cleanup_fclose __attribute__((cleanup(al_fclosep)))
#define cleanup_closedir __attribute__((cleanup(al_closedirp)))
#define cleanup_strv __attribute__((cleanup(al_strv_freep)))

#define TAKE_PTR(p)                                                                                \
    ({                                                                                             \
        __typeof__(p) _tp = (p);                                                                   \
        (p) = NULL;                                                                                \
        _tp;                                                                                       \
    })
#define TAKE_FD(fd)                                                                                \
    ({                                                                                             \
        int _tf = (fd);                                                                            \
        (fd) = -1;                                                                                 \
        _tf;                                                                                       \
    })

#define AL_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
