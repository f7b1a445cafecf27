/* API request bodies: the first byte picks the decoder (group, sandbox create, exec), the
 * rest is the body.  Whatever decodes must validate or be refused, and what validates must
 * encode and decode again to the same thing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void roundtrip_check(json_t *enc, int (*again)(json_t *))
{
    if (!enc)
        return;
    if (again(enc) < 0)
        abort(); /* an encoded valid object must decode again */
    json_decref(enc);
}

static int group_again(json_t *j)
{
    struct al_err err;
    struct policy_group g;
    memset(&g, 0, sizeof(g));
    int rc = policy_group_decode(j, &g, &err);
    if (rc >= 0)
        rc = policy_group_validate(&g, &err);
    policy_group_free(&g);
    return rc;
}

static int create_again(json_t *j)
{
    struct al_err err;
    struct policy_sandbox_create c;
    memset(&c, 0, sizeof(c));
    int rc = policy_sandbox_create_decode(j, &c, &err);
    if (rc >= 0)
        rc = policy_sandbox_create_validate(&c, &err);
    policy_sandbox_create_free(&c);
    return rc;
}

static int exec_again(json_t *j)
{
    struct al_err err;
    struct policy_exec e;
    memset(&e, 0, sizeof(e));
    int rc = policy_exec_decode(j, &e, &err);
    if (rc >= 0)
        rc = policy_exec_validate(&e, &err);
    policy_exec_free(&e);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct al_err err;
    json_t *j = al_json_parse((const char *)data + 1, size - 1, 0, &err);
    if (!j)
        return 0;
    switch (data[0] % 3) {
    case 0: {
        struct policy_group g;
        memset(&g, 0, sizeof(g));
        if (policy_group_decode(j, &g, &err) >= 0 && policy_group_validate(&g, &err) >= 0)
            roundtrip_check(policy_group_encode(&g), group_again);
        policy_group_free(&g);
        break;
    }
    case 1: {
        struct policy_sandbox_create c;
        memset(&c, 0, sizeof(c));
        if (policy_sandbox_create_decode(j, &c, &err) >= 0 &&
            policy_sandbox_create_validate(&c, &err) >= 0)
            roundtrip_check(policy_sandbox_create_encode(&c), create_again);
        policy_sandbox_create_free(&c);
        break;
    }
    default: {
        struct policy_exec e;
        memset(&e, 0, sizeof(e));
        if (policy_exec_decode(j, &e, &err) >= 0 && policy_exec_validate(&e, &err) >= 0)
            roundtrip_check(policy_exec_encode(&e), exec_again);
        policy_exec_free(&e);
        break;
    }
    }
    json_decref(j);
    return 0;
}
