/* Safe path resolution inside a sandbox or image tree: always relative to a root dirfd with
 * openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), never by joining strings. */
#pragma once

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>

/* Open `path` (absolute or relative, interpreted inside root_fd) with open flags and mode.
 * Symlinks are followed but can never leave the root; magic links are refused.
 * `nofollow_last` adds O_NOFOLLOW semantics for the final component. */
int al_open_in_root(int root_fd, const char *path, int flags, mode_t mode, bool nofollow_last);
/* Split `path` into the parent directory (opened O_PATH|O_DIRECTORY inside root) and the last
 * component copied to `name` (never "", ".", ".." or containing '/'). */
int al_open_parent_in_root(int root_fd, const char *path, char *name, size_t name_len);
/* Lexical checks for API-supplied paths: not empty, bounded, no NUL, no control characters. */
bool al_path_is_sane(const char *path, size_t max_len);
