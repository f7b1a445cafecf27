/* Error contract.
 *
 * Fallible functions return int: >= 0 on success, -errno on failure (or NULL for pointer
 * results).  Detail goes into a caller-owned struct al_err: no heap, so it is safe after
 * fork() and under memory pressure.  `kind` maps one-to-one to an API status code.
 * Layers add context with al_err_wrap() when a boundary is crossed.
 */
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>

enum al_err_kind {
    AL_ERR_NONE = 0,
    AL_ERR_INVALID,     /* 400 InvalidArgument */
    AL_ERR_UNAUTH,      /* 401 Unauthorized */
    AL_ERR_PERMISSION,  /* 403 Forbidden */
    AL_ERR_NOT_FOUND,   /* 404 NotFound */
    AL_ERR_CONFLICT,    /* 409 Conflict */
    AL_ERR_TOO_LARGE,   /* 413 PayloadTooLarge */
    AL_ERR_LIMIT,       /* 429 LimitExceeded */
    AL_ERR_UNSUPPORTED, /* 501 NotImplemented: a setting whose enforcement is not built yet */
    AL_ERR_UPSTREAM,    /* 502 BadGateway: a server we called (a registry) sent invalid data */
    AL_ERR_UNAVAILABLE, /* 503 Unavailable */
    AL_ERR_TIMEOUT,     /* 504 Timeout */
    AL_ERR_INTERNAL,    /* 500 Internal */
};

#define AL_ERR_MSG_MAX 512

struct al_err {
    int code; /* positive errno, 0 if none */
    enum al_err_kind kind;
    char msg[AL_ERR_MSG_MAX];
};

/* Set err (if non-NULL) and return -code (code is a positive errno; 0 becomes EIO).  In both
 * al_err_set and al_err_sys, AL_ERR_INTERNAL with ENOSPC or EDQUOT becomes AL_ERR_LIMIT: a
 * full disk is the host's state, not the daemon's bug. */
int al_err_set(struct al_err *err, enum al_err_kind kind, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Like al_err_set, appending ": strerror(code)". */
int al_err_sys(struct al_err *err, enum al_err_kind kind, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Prefix context to an existing message: "ctx: old message".  Returns -err->code. */
int al_err_wrap(struct al_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void al_err_clear(struct al_err *err);

/* Kind for an errno value when nothing better is known. */
enum al_err_kind al_err_kind_from_errno(int code);
/* API mapping. */
int al_err_http_status(enum al_err_kind kind);
const char *al_err_kind_name(enum al_err_kind kind); /* "NotFound", ... */
