#include "common/err.h"

#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 2, 0))) static void vset(struct al_err *err, const char *fmt,
                                                       va_list ap)
{
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

/* out = a + ": " + b, truncated to the buffer. */
static void join(char *out, size_t cap, const char *a, const char *b)
{
    size_t n = 0;
    for (const char *parts[3] = {a, ": ", b}, **p = parts; p < parts + 3; p++)
        for (const char *c = *p; *c && n + 1 < cap; c++)
            out[n++] = *c;
    out[n] = '\0';
}

/* A full disk (or quota) is never the daemon's internal error: it is the house's answer for
 * it, LimitExceeded (SQLite's SQLITE_FULL has always been that), whatever the write was. */
static enum al_err_kind kind_for(enum al_err_kind kind, int code)
{
    return kind == AL_ERR_INTERNAL && (code == ENOSPC || code == EDQUOT) ? AL_ERR_LIMIT : kind;
}

int al_err_set(struct al_err *err, enum al_err_kind kind, int code, const char *fmt, ...)
{
    if (code <= 0)
        code = code < 0 ? -code : EIO;
    if (err) {
        va_list ap;
        err->code = code;
        err->kind = kind_for(kind, code);
        va_start(ap, fmt);
        vset(err, fmt, ap);
        va_end(ap);
    }
    return -code;
}

int al_err_sys(struct al_err *err, enum al_err_kind kind, int code, const char *fmt, ...)
{
    if (code < 0)
        code = -code;
    if (code == 0)
        code = EIO;
    if (err) {
        va_list ap;
        char tmp[AL_ERR_MSG_MAX];
        err->code = code;
        err->kind = kind_for(kind, code);
        va_start(ap, fmt);
        vsnprintf(tmp, sizeof(tmp), fmt, ap);
        va_end(ap);
        join(err->msg, sizeof(err->msg), tmp, strerror(code));
    }
    return -code;
}

int al_err_wrap(struct al_err *err, const char *fmt, ...)
{
    if (!err)
        return -EIO;
    char ctx[AL_ERR_MSG_MAX], old[AL_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof(ctx), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    old[sizeof(old) - 1] = '\0';
    join(err->msg, sizeof(err->msg), ctx, old);
    if (err->code == 0)
        err->code = EIO;
    if (err->kind == AL_ERR_NONE)
        err->kind = AL_ERR_INTERNAL;
    return -err->code;
}

void al_err_clear(struct al_err *err)
{
    if (err) {
        err->code = 0;
        err->kind = AL_ERR_NONE;
        err->msg[0] = '\0';
    }
}

enum al_err_kind al_err_kind_from_errno(int code)
{
    switch (code < 0 ? -code : code) {
    case ENOENT:
    case ESRCH:
        return AL_ERR_NOT_FOUND;
    case EINVAL:
    case ENAMETOOLONG:
    case ELOOP:
    case EXDEV:
    case ENOTDIR:
    case EISDIR:
    case ERANGE:
    case EBADMSG:
        return AL_ERR_INVALID;
    case EEXIST:
    case ENOTEMPTY:
    case EBUSY:
        return AL_ERR_CONFLICT;
    case EACCES:
    case EPERM:
        return AL_ERR_PERMISSION;
    case ENOSPC:
    case EDQUOT:
    case EMFILE:
    case ENFILE:
    case EAGAIN:
        return AL_ERR_LIMIT;
    case EFBIG:
    case E2BIG:
    case EMSGSIZE:
        return AL_ERR_TOO_LARGE;
    case ETIMEDOUT:
        return AL_ERR_TIMEOUT;
    case ENOSYS:
    case EOPNOTSUPP:
        return AL_ERR_UNSUPPORTED;
    case ECONNREFUSED:
    case ECONNRESET:
    case EPIPE:
    case EHOSTUNREACH:
        return AL_ERR_UNAVAILABLE;
    default:
        return AL_ERR_INTERNAL;
    }
}

int al_err_http_status(enum al_err_kind kind)
{
    switch (kind) {
    case AL_ERR_NONE:
        return 200;
    case AL_ERR_INVALID:
        return 400;
    case AL_ERR_UNAUTH:
        return 401;
    case AL_ERR_PERMISSION:
        return 403;
    case AL_ERR_NOT_FOUND:
        return 404;
    case AL_ERR_CONFLICT:
        return 409;
    case AL_ERR_TOO_LARGE:
        return 413;
    case AL_ERR_LIMIT:
        return 429;
    case AL_ERR_UNSUPPORTED:
        return 501;
    case AL_ERR_UPSTREAM:
        return 502;
    case AL_ERR_UNAVAILABLE:
        return 503;
    case AL_ERR_TIMEOUT:
        return 504;
    case AL_ERR_INTERNAL:
    default:
        return 500;
    }
}

const char *al_err_kind_name(enum al_err_kind kind)
{
    switch (kind) {
    case AL_ERR_NONE:
        return "OK";
    case AL_ERR_INVALID:
        return "InvalidArgument";
    case AL_ERR_UNAUTH:
        return "Unauthorized";
    case AL_ERR_PERMISSION:
        return "Forbidden";
    case AL_ERR_NOT_FOUND:
        return "NotFound";
    case AL_ERR_CONFLICT:
        return "Conflict";
    case AL_ERR_TOO_LARGE:
        return "PayloadTooLarge";
    case AL_ERR_LIMIT:
        return "LimitExceeded";
    case AL_ERR_UNSUPPORTED:
        return "NotImplemented";
    case AL_ERR_UPSTREAM:
        return "BadGateway";
    case AL_ERR_UNAVAILABLE:
        return "Unavailable";
    case AL_ERR_TIMEOUT:
        return "Timeout";
    case AL_ERR_INTERNAL:
    default:
        return "Internal";
    }
}
