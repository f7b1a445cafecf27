/* fd and file helpers.  Every fd is created close-on-exec.  An int fd parameter is borrowed. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "common/err.h"

/* Loop over partial writes/reads and EINTR.  read_all returns bytes read (short at EOF). */
int al_write_all(int fd, const void *buf, size_t len);
ssize_t al_read_all(int fd, void *buf, size_t len);
/* Read a whole file (at most max bytes, else -EFBIG); NUL-terminates; caller frees. */
int al_read_file_at(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len);
/* Write atomically: tmp file in the same directory, fsync optional, rename. */
int al_write_file_at(int dirfd, const char *path, const void *buf, size_t len, mode_t mode);
/* Write a short string to an existing file (sysfs/cgroupfs/procfs style). */
int al_write_string(const char *path, const char *s);
/* mkdir -p (absolute or relative to cwd). */
int al_mkdir_p(const char *path, mode_t mode);
/* Recursively remove `name` under dirfd without following symlinks or crossing mounts.
 * Missing is not an error. */
int al_rm_rf_at(int dirfd, const char *name);
int al_rm_rf(const char *path);
/* Set O_CLOEXEC / O_NONBLOCK on an fd. */
int al_fd_cloexec(int fd, bool on);
int al_fd_nonblock(int fd, bool on);
/* Milliseconds on CLOCK_MONOTONIC. */
long long al_now_ms(void);
/* *ts = now + ms on `clock`: the deadline of a timed wait (pthread_cond_timedwait). */
void al_timespec_after(clockid_t clock, long long ms, struct timespec *ts);
long long al_now_us(void);
