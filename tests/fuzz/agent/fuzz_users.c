/* libFuzzer target: what airlock-init reads from the sandbox's own files, which user code
 * may rewrite at will: /etc/passwd and /etc/group, and the user spec of a request.
 * Input: "SPEC \0 PASSWD \0 GROUP" (missing parts are empty). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/users.h"
#include "common/cleanup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *part(const char *buf, size_t len, size_t *off)
{
    const char *p = buf + *off;
    size_t n = *off < len ? strnlen(p, len - *off) : 0;
    *off += n + 1;
    return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 3); /* three terminators, whatever the input holds */
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    memset(buf + size, 0, 3);
    size_t off = 0;
    const char *spec = part(buf, size, &off);
    const char *passwd = part(buf, size, &off);
    const char *group = part(buf, size, &off);

    struct agent_user u;
    struct al_err err;
    (void)agent_user_resolve(spec[0] ? spec : NULL, 1000, passwd, group, &u, &err);
    struct agent_pwent pw;
    (void)agent_passwd_find(passwd, spec, 0, &pw);
    (void)agent_passwd_find(passwd, NULL, (uid_t)size, &pw);
    gid_t gid, groups[AGENT_MAX_GROUPS];
    (void)agent_group_find_gid(group, spec, &gid);
    size_t n = 0;
    agent_group_members(group, spec, groups, &n, AGENT_MAX_GROUPS);
    char user[AGENT_NAME_MAX], grp[AGENT_NAME_MAX];
    (void)agent_user_spec_split(spec, user, sizeof(user), grp, sizeof(grp));
    uint32_t id;
    (void)agent_parse_id(spec, &id);

    /* the passwd part's lines as an environment list, merged over the group part's */
    const char *l1[] = {passwd, spec, NULL}, *l2[] = {group, NULL};
    const char *const *lists[] = {l1, l2};
    char **env = NULL;
    if (agent_env_merge(lists, 2, &env) == 0)
        al_strv_free(env);
    (void)agent_env_entry_valid(spec);
    free(buf);
    return 0;
}
