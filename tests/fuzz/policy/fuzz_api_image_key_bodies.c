/* The daemon's other request bodies: image pull, image import (an admin's host path) and key
 * create.  The first byte picks the decoder, the rest is the body, parsed as the API does
 * (an object, depth-bounded, duplicate keys refused).  Whatever decodes must validate or be
 * refused, and what validates must encode and decode again to the same thing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(json_t *a, json_t *b)
{
    if (!json_equal(a, b))
        abort(); /* encode -> decode -> encode must be stable */
}

static void pull(json_t *j)
{
    struct al_err err;
    struct policy_image_pull p, q;
    if (policy_image_pull_decode(j, &p, &err) >= 0 && policy_image_pull_validate(&p, &err) >= 0) {
        json_t *enc = policy_image_pull_encode(&p);
        if (enc) {
            if (policy_image_pull_decode(enc, &q, &err) < 0 ||
                policy_image_pull_validate(&q, &err) < 0)
                abort();
            json_t *again = policy_image_pull_encode(&q);
            if (again)
                same(enc, again);
            json_decref(again);
            policy_image_pull_free(&q);
            json_decref(enc);
        }
    }
    policy_image_pull_free(&p);
}

static void import(json_t *j)
{
    struct al_err err;
    struct policy_image_import i, k;
    if (policy_image_import_decode(j, &i, &err) >= 0 &&
        policy_image_import_validate(&i, &err) >= 0) {
        json_t *enc = policy_image_import_encode(&i);
        if (enc) {
            if (policy_image_import_decode(enc, &k, &err) < 0 ||
                policy_image_import_validate(&k, &err) < 0 || strcmp(i.path, k.path) != 0 ||
                strcmp(i.name, k.name) != 0)
                abort();
            policy_image_import_free(&k);
            json_decref(enc);
        }
    }
    policy_image_import_free(&i);
}

static void key(json_t *j)
{
    struct al_err err;
    struct policy_key_create k, k2;
    if (policy_key_create_decode(j, &k, &err) < 0)
        return;
    json_t *enc = policy_key_create_encode(&k);
    if (!enc)
        return;
    if (policy_key_create_decode(enc, &k2, &err) < 0 || strcmp(k.tenant, k2.tenant) != 0 ||
        k.admin != k2.admin)
        abort();
    json_decref(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct al_err err;
    json_t *j = al_json_parse((const char *)data + 1, size - 1, AL_JSON_MAX_DEPTH, &err);
    if (!j)
        return 0;
    if (json_is_object(j)) {
        switch (data[0] % 3) {
        case 0:
            pull(j);
            break;
        case 1:
            import(j);
            break;
        default:
            key(j);
            break;
        }
    }
    json_decref(j);
    return 0;
}
