#include "agent/users.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"

int agent_parse_id(const char *s, uint32_t *ret)
{
    if (!s || !*s || strlen(s) > 10)
        return -EINVAL;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v >= UINT32_MAX)
        return -ERANGE;
    *ret = (uint32_t)v;
    return 0;
}

static int copy_part(char *dst, size_t dst_len, const char *src, size_t n)
{
    if (n == 0 || n >= dst_len)
        return -EINVAL;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return 0;
}

int agent_user_spec_split(const char *spec, char *user, size_t user_len, char *group,
                          size_t group_len)
{
    if (!spec || !*spec)
        return -EINVAL;
    const char *colon = strchr(spec, ':');
    size_t ulen = colon ? (size_t)(colon - spec) : strlen(spec);
    if (copy_part(user, user_len, spec, ulen) < 0)
        return -EINVAL;
    if (!colon) {
        if (group_len)
            group[0] = '\0';
        return 0;
    }
    const char *g = colon + 1;
    if (strchr(g, ':'))
        return -EINVAL;
    return copy_part(group, group_len, g, strlen(g));
}

/* Split one line into at most max ':'-separated fields (pointers into line, which is
 * modified).  Returns the number of fields. */
static size_t split_fields(char *line, char **f, size_t max)
{
    size_t n = 0;
    char *p = line;
    for (;;) {
        f[n++] = p;
        char *c = strchr(p, ':');
        if (!c)
            return n;
        if (n == max)
            return max + 1; /* too many fields */
        *c = '\0';
        p = c + 1;
    }
}

/* Iterate lines of db: calls fn(line copy) until it returns non-zero. */
static int foreach_line(const char *db, int (*fn)(char *line, void *ud), void *ud)
{
    if (!db)
        return 0;
    const char *p = db;
    char buf[4096];
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len > 0 && len < sizeof(buf) && p[0] != '#' && p[0] != '+' && p[0] != '-') {
            memcpy(buf, p, len);
            buf[len] = '\0';
            int r = fn(buf, ud);
            if (r)
                return r;
        }
        if (!nl)
            break;
        p = nl + 1;
    }
    return 0;
}

static bool name_ok(const char *s)
{
    if (!*s || strlen(s) >= AGENT_NAME_MAX)
        return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return false;
    return true;
}

struct pw_query {
    const char *name;
    uid_t uid;
    struct agent_pwent *out;
};

static int pw_line(char *line, void *ud)
{
    struct pw_query *q = ud;
    char *f[8];
    size_t n = split_fields(line, f, 7);
    if (n != 7 || !name_ok(f[0]))
        return 0;
    uint32_t uid, gid;
    if (agent_parse_id(f[2], &uid) < 0 || agent_parse_id(f[3], &gid) < 0)
        return 0;
    if (q->name ? strcmp(q->name, f[0]) != 0 : uid != q->uid)
        return 0;
    struct agent_pwent *e = q->out;
    memset(e, 0, sizeof(*e));
    memcpy(e->name, f[0], strlen(f[0]) + 1);
    e->uid = uid;
    e->gid = gid;
    size_t hl = strlen(f[5]);
    if (hl == 0 || hl >= sizeof(e->home) || f[5][0] != '/')
        memcpy(e->home, "/", 2);
    else
        memcpy(e->home, f[5], hl + 1);
    return 1;
}

int agent_passwd_find(const char *db, const char *name, uid_t uid, struct agent_pwent *ret)
{
    struct agent_pwent e;
    struct pw_query q = {name, uid, &e};
    if (!foreach_line(db, pw_line, &q))
        return -ENOENT;
    *ret = e;
    return 0;
}

struct gr_query {
    const char *name; /* group name (find) */
    const char *user; /* member (members) */
    gid_t gid;
    gid_t *groups;
    size_t *n, max;
};

/* Parse a group line: name:passwd:gid:members.  Returns false when malformed. */
static bool gr_parse(char *line, char **name, gid_t *gid, char **members)
{
    char *f[5];
    size_t n = split_fields(line, f, 4);
    if (n != 4 || !name_ok(f[0]))
        return false;
    uint32_t g;
    if (agent_parse_id(f[2], &g) < 0)
        return false;
    *name = f[0];
    *gid = g;
    *members = f[3];
    return true;
}

static int gr_find_line(char *line, void *ud)
{
    struct gr_query *q = ud;
    char *name, *members;
    gid_t gid;
    if (!gr_parse(line, &name, &gid, &members) || strcmp(name, q->name) != 0)
        return 0;
    q->gid = gid;
    return 1;
}

int agent_group_find_gid(const char *db, const char *name, gid_t *ret)
{
    struct gr_query q = {.name = name};
    if (!foreach_line(db, gr_find_line, &q))
        return -ENOENT;
    *ret = q.gid;
    return 0;
}

static void add_gid(gid_t *groups, size_t *n, size_t max, gid_t g)
{
    for (size_t i = 0; i < *n; i++)
        if (groups[i] == g)
            return;
    if (*n < max)
        groups[(*n)++] = g;
}

static int gr_member_line(char *line, void *ud)
{
    struct gr_query *q = ud;
    char *name, *members;
    gid_t gid;
    if (!gr_parse(line, &name, &gid, &members))
        return 0;
    char *save = NULL;
    for (char *m = strtok_r(members, ",", &save); m; m = strtok_r(NULL, ",", &save))
        if (strcmp(m, q->user) == 0) {
            add_gid(q->groups, q->n, q->max, gid);
            break;
        }
    return 0;
}

void agent_group_members(const char *db, const char *user, gid_t *groups, size_t *n, size_t max)
{
    if (!user || !*user)
        return;
    struct gr_query q = {.user = user, .groups = groups, .n = n, .max = max};
    foreach_line(db, gr_member_line, &q);
}

int agent_user_resolve(const char *spec, uid_t self, const char *passwd, const char *group,
                       struct agent_user *ret, struct al_err *err)
{
    char uname[AGENT_NAME_MAX], gname[AGENT_NAME_MAX];
    struct agent_user u = {0};
    struct agent_pwent pw;
    bool have_pw;
    uint32_t id;

    if (!spec || !*spec) {
        u.uid = self;
        gname[0] = '\0';
        have_pw = agent_passwd_find(passwd, NULL, self, &pw) == 0;
        if (!have_pw && self == 0) {
            /* an image without /etc/passwd still has a root */
            memset(&pw, 0, sizeof(pw));
            memcpy(pw.name, "root", 5);
            memcpy(pw.home, "/root", 6);
            have_pw = true;
        }
    } else {
        if (agent_user_spec_split(spec, uname, sizeof(uname), gname, sizeof(gname)) < 0)
            return al_err_set(err, AL_ERR_INVALID, EINVAL, "invalid user spec '%.64s'", spec);
        if (agent_parse_id(uname, &id) == 0) {
            u.uid = id;
            have_pw = agent_passwd_find(passwd, NULL, id, &pw) == 0;
        } else {
            have_pw = agent_passwd_find(passwd, uname, 0, &pw) == 0;
            if (!have_pw && strcmp(uname, "root") == 0) {
                memset(&pw, 0, sizeof(pw));
                memcpy(pw.name, "root", 5);
                memcpy(pw.home, "/root", 6);
                have_pw = true;
            }
            if (!have_pw)
                return al_err_set(err, AL_ERR_INVALID, ENOENT,
                                  "user '%.64s' not found in /etc/passwd", uname);
            u.uid = pw.uid;
        }
    }
    if (have_pw) {
        u.gid = pw.gid;
        memcpy(u.name, pw.name, sizeof(u.name));
        memcpy(u.home, pw.home, sizeof(u.home));
    } else {
        u.gid = 0;
        memcpy(u.home, "/", 2);
    }
    if (gname[0]) {
        if (agent_parse_id(gname, &id) == 0)
            u.gid = id;
        else if (agent_group_find_gid(group, gname, &u.gid) < 0)
            return al_err_set(err, AL_ERR_INVALID, ENOENT, "group '%.64s' not found in /etc/group",
                              gname);
    }
    add_gid(u.groups, &u.ngroups, AGENT_MAX_GROUPS, u.gid);
    if (u.name[0])
        agent_group_members(group, u.name, u.groups, &u.ngroups, AGENT_MAX_GROUPS);
    *ret = u;
    return 0;
}

bool agent_env_entry_valid(const char *kv)
{
    const char *eq = kv ? strchr(kv, '=') : NULL;
    return eq && eq != kv;
}

static bool same_key(const char *a, const char *b)
{
    size_t la = (size_t)(strchr(a, '=') - a), lb = (size_t)(strchr(b, '=') - b);
    return la == lb && memcmp(a, b, la) == 0;
}

int agent_env_merge(const char *const *const *lists, size_t nlists, char ***ret)
{
    size_t total = 0;
    for (size_t l = 0; l < nlists; l++)
        for (const char *const *p = lists[l]; p && *p; p++)
            total++;
    cleanup_strv char **out = calloc(total + 1, sizeof(char *));
    if (!out)
        return -ENOMEM;
    size_t n = 0;
    for (size_t l = 0; l < nlists; l++)
        for (const char *const *p = lists[l]; p && *p; p++) {
            if (!agent_env_entry_valid(*p))
                continue;
            char *dup = strdup(*p);
            if (!dup)
                return -ENOMEM;
            size_t i;
            for (i = 0; i < n; i++)
                if (same_key(out[i], dup))
                    break;
            if (i < n) {
                free(out[i]);
                out[i] = dup;
            } else
                out[n++] = dup;
        }
    *ret = TAKE_PTR(out);
    return 0;
}

size_t agent_outcap_take(struct agent_outcap *c, size_t n)
{
    uint64_t left = c->sent < c->max ? c->max - c->sent : 0;
    size_t take = n;
    if ((uint64_t)n > left) {
        take = (size_t)left;
        c->truncated = true;
    }
    c->sent += take;
    return take;
}
