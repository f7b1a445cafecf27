/* Names, ids, random bytes and constant-time comparison. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Resource names (groups, secrets, tenants): [a-z0-9]([a-z0-9-]{0,61}[a-z0-9])? */
bool al_name_valid(const char *s);
/* Random bytes from getrandom(); returns 0 or -errno. */
int al_random_bytes(void *buf, size_t len);
/* Lowercase hex of `nbytes` random bytes into out (2*nbytes+1). */
int al_random_hex(char *out, size_t nbytes);
void al_hex_encode(const uint8_t *in, size_t len, char *out /* 2*len+1 */);
/* Constant-time equality of two buffers of equal length (false if lengths differ). */
bool al_ct_equal(const void *a, size_t alen, const void *b, size_t blen);
/* sha256 of buf as "sha256:<64 hex>" into out (72 bytes). */
#define AL_DIGEST_LEN 72
int al_sha256_digest(const void *buf, size_t len, char out[AL_DIGEST_LEN]);
/* Valid "sha256:<64 lowercase hex>". */
bool al_digest_valid(const char *s);
