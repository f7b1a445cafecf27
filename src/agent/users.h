/* Pure helpers of airlock-init, testable without a sandbox: /etc/passwd and /etc/group
 * parsing (no NSS: the agent is static), user spec resolution, environment merging and
 * output-cap accounting. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

#define AGENT_NAME_MAX 64
#define AGENT_HOME_MAX 512
#define AGENT_MAX_GROUPS 64
#define AGENT_DB_MAX (4u << 20) /* largest passwd/group file read */

struct agent_pwent {
    char name[AGENT_NAME_MAX];
    uid_t uid;
    gid_t gid;
    char home[AGENT_HOME_MAX];
};

struct agent_user {
    uid_t uid;
    gid_t gid;
    char name[AGENT_NAME_MAX]; /* "" when the uid has no passwd entry */
    char home[AGENT_HOME_MAX];
    gid_t groups[AGENT_MAX_GROUPS]; /* supplementary groups, primary gid first */
    size_t ngroups;
};

/* Split "user[:group]" into its parts (copied, bounded).  group is "" when absent.
 * Empty user, empty group after ':', a second ':' or an overlong part is -EINVAL. */
int agent_user_spec_split(const char *spec, char *user, size_t user_len, char *group,
                          size_t group_len);
/* Strict id: decimal digits only, < (uid_t)-1. */
int agent_parse_id(const char *s, uint32_t *ret);

/* Look up in a passwd file image (NUL-terminated).  name != NULL: by name, else by uid.
 * Malformed lines are skipped.  -ENOENT when absent. */
int agent_passwd_find(const char *db, const char *name, uid_t uid, struct agent_pwent *ret);
/* Group by name -> gid (-ENOENT when absent). */
int agent_group_find_gid(const char *db, const char *name, gid_t *ret);
/* Append the gids of every group listing `user` as a member to groups[*n] (no duplicates,
 * at most max).  Malformed lines are skipped. */
void agent_group_members(const char *db, const char *user, gid_t *groups, size_t *n, size_t max);

/* Resolve a user spec ("name", "uid", "uid:gid", "name:group", NULL = the uid `self`) against
 * passwd/group images (either may be NULL = empty file).  A numeric uid without an entry gets
 * gid 0 and HOME "/", a name that is not found is an error. */
int agent_user_resolve(const char *spec, uid_t self, const char *passwd, const char *group,
                       struct agent_user *ret, struct al_err *err);

/* Environment: start from the defaults, then each later list overrides earlier keys.
 * Entries without '=' or with an empty key are skipped.  Result is a NULL-terminated vector
 * (caller frees with al_strv_free). */
int agent_env_merge(const char *const *const *lists, size_t nlists, char ***ret);
/* true for "K=V" with a non-empty key without NUL. */
bool agent_env_entry_valid(const char *kv);

/* Per-stream output cap: how much of an n-byte chunk may still be forwarded. */
struct agent_outcap {
    uint64_t max;
    uint64_t sent;
    bool truncated;
};
size_t agent_outcap_take(struct agent_outcap *c, size_t n);
