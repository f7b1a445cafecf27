/* Kept in its own object so that static users (airlock-init) do not pull in libcrypto. */
#include <errno.h>
#include <string.h>
#include <openssl/evp.h>

#include "common/ids.h"

int al_sha256_digest(const void *buf, size_t len, char out[AL_DIGEST_LEN])
{
    uint8_t md[32];
    unsigned int mdlen = 0;
    if (!EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
        return -EIO;
    memcpy(out, "sha256:", 7);
    al_hex_encode(md, 32, out + 7);
    return 0;
}
