/* The sandbox manager.
 *
 * Theory of operation: SQLite is the record of every sandbox; the manager additionally holds
 * the live ones (creating, running, deleting, failed-but-not-yet-destroyed) in a list guarded
 * by d->mu, each with the runtime handle and a count of requests using it.  Creation inserts
 * the row first (which allocates the uid slot), then builds the sandbox; a failure removes
 * the row and the directory, so a failed create leaves nothing behind.  Deletion marks the
 * sandbox deleting (no new requests), kills its processes so in-flight execs end, waits for
 * the last reference, destroys it, and only then releases the uid slot (state deleted).
 * Every state change is checked by dm_state_transition().
 */
#define AL_LOG_COMPONENT "daemon"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/ids.h"
#include "common/json.h"
#include "common/log.h"
#include "daemon/daemon.h"

static int oom(struct al_err *err)
{
    return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
}

static void sandbox_dir(struct daemon *d, const char *id, char out[PATH_MAX])
{
    snprintf(out, PATH_MAX, "%s/%s", d->sandboxes_dir, id);
}

static struct dm_sandbox *find_locked(struct daemon *d, const char *id)
{
    for (struct dm_sandbox *s = d->sandboxes; s; s = s->next)
        if (strcmp(s->id, id) == 0)
            return s;
    return NULL;
}

/* The one place a live sandbox changes state (d->mu held): checked by the state machine. */
static int move_locked(struct dm_sandbox *sb, enum dm_state to, struct al_err *err)
{
    int rc = dm_state_transition(sb->state, to, err);
    if (rc == 0)
        sb->state = to;
    return rc;
}

static int set_state(struct daemon *d, const char *id, enum dm_state st, enum dm_reason r,
                     struct al_err *err)
{
    return store_sandbox_set_state(d->store, id, dm_state_name(st), dm_reason_name(r), err);
}

/* running -> failed when the agent channel is gone (d->mu held). */
static void check_alive_locked(struct daemon *d, struct dm_sandbox *sb)
{
    if (sb->state != DM_STATE_RUNNING || !sb->rt || rt_sandbox_alive(sb->rt))
        return;
    struct al_err e2;
    if (move_locked(sb, DM_STATE_FAILED, &e2) < 0)
        return;
    enum dm_reason why = rt_sandbox_oom_killed(sb->rt) ? DM_REASON_OOM_KILLED : DM_REASON_ERROR;
    if (set_state(d, sb->id, DM_STATE_FAILED, why, &e2) < 0)
        log_sb(AL_LOG_WARN, sb->id, "mark failed: %s", e2.msg);
    log_sb(AL_LOG_WARN, sb->id, "agent channel gone: sandbox failed (%s)", dm_reason_name(why));
}

static void unlink_locked(struct daemon *d, struct dm_sandbox *sb)
{
    for (struct dm_sandbox **p = &d->sandboxes; *p; p = &(*p)->next)
        if (*p == sb) {
            *p = sb->next;
            break;
        }
    pthread_cond_broadcast(&d->cv);
}

static void sandbox_free(struct dm_sandbox *sb)
{
    if (!sb)
        return;
    al_strv_free(sb->env);
    free(sb);
}

json_t *dm_sandbox_json(const struct store_sandbox *s)
{
    struct al_err err;
    json_t *labels = s->labels ? al_json_parse(s->labels, strlen(s->labels), 0, &err) : NULL;
    json_t *res = s->resources ? al_json_parse(s->resources, strlen(s->resources), 0, &err) : NULL;
    char ts[32];
    dm_rfc3339(s->created_at, ts);
    return json_pack(
        "{s:s,s:s,s:s,s:o,s:s,s:o,s:s,s:o,s:s,s:o}", "id", s->id, "group", s->group, "state",
        s->state, "reason", s->reason[0] ? json_string(s->reason) : json_null(), "image",
        s->image ? s->image : "", "imageDigest",
        s->digest[0] ? json_string(s->digest) : json_null(), "tier", s->tier, "labels",
        labels ? labels : json_object(), "createdAt", ts, "resources", res ? res : json_object());
}

static json_t *labels_merge(json_t *base, json_t *over)
{
    json_t *o = json_deep_copy(base ? base : json_object());
    if (o && over)
        json_object_update(o, over);
    return o;
}

static int decode_group(struct daemon *d, const char *tenant, const char *group,
                        struct policy_group *g, struct al_err *err)
{
    memset(g, 0, sizeof(*g));
    struct store_group sg;
    int rc = store_group_get(d->store, tenant, group, &sg, err);
    if (rc < 0)
        return rc;
    cleanup_json json_t *j = al_json_parse(sg.settings, strlen(sg.settings), 0, err);
    store_group_clear(&sg);
    if (!j)
        return al_err_wrap(err, "group %s settings", group);
    rc = policy_group_decode(j, g, err);
    if (rc < 0)
        return al_err_wrap(err, "group %s settings", group);
    return 0;
}

static void fill_limits(const struct policy_resources *r, struct rt_limits *l)
{
    l->cpu_millis = r->cpu_millis;
    l->memory_bytes = r->memory_mib << 20;
    l->disk_bytes = r->disk_mib << 20;
    l->inodes = r->disk_mib * 64 < 16384 ? 16384 : r->disk_mib * 64;
    l->pids = r->pids;
    l->nofile = r->open_files;
}

/* The part of create after the row exists: build the runtime sandbox. */
static int build(struct daemon *d, struct dm_sandbox *sb, int64_t slot, struct img_info *info,
                 const struct policy_resources *res, struct al_err *err)
{
    char dir[PATH_MAX];
    sandbox_dir(d, sb->id, dir);
    if (mkdir(dir, 0711) < 0)
        return al_err_sys(err, AL_ERR_INTERNAL, errno, "mkdir %s", dir);
    char host[32];
    snprintf(host, sizeof(host), "sb-%.12s", sb->id);
    struct rt_spec spec = {
        .id = sb->id,
        .layer_dirs = (const char *const *)info->layer_dirs,
        .sandbox_dir = dir,
        .agent_path = d->agent_path,
        .uid_base = (uid_t)(DM_UID_BASE + (uint64_t)slot * DM_UID_COUNT),
        .uid_count = DM_UID_COUNT,
        .hostname = host,
        .user = info->config.user,
        .env = (const char *const *)info->config.env,
        .workdir = info->config.workdir,
    };
    fill_limits(res, &spec.limits);
    struct rt_sandbox *rt = NULL;
    int rc = rt_sandbox_create(&spec, &rt, err);
    if (rc < 0) {
        struct al_err e2;
        if (rt_cleanup_stale(sb->id, dir, &e2) < 0)
            log_sb(AL_LOG_WARN, sb->id, "cleanup after failed create: %s", e2.msg);
        al_rm_rf(dir);
        return rc;
    }
    pthread_mutex_lock(&d->mu);
    rc = move_locked(sb, DM_STATE_RUNNING, err);
    if (rc == 0)
        sb->rt = rt;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
    if (rc < 0) {
        struct al_err e2;
        rt_sandbox_destroy(rt, &e2);
        al_rm_rf(dir);
    }
    return rc;
}

int dm_sandbox_create(struct daemon *d, const char *tenant, const char *group,
                      const struct policy_sandbox_create *req, json_t **ret, struct al_err *err)
{
    struct policy_group g;
    int rc = decode_group(d, tenant, group, &g, err);
    if (rc < 0) {
        policy_group_free(&g);
        return rc;
    }
    if (!d->rt_ok || !d->agent_path) {
        policy_group_free(&g);
        return al_err_set(err, AL_ERR_UNAVAILABLE, ENOTSUP,
                          "sandboxes unavailable on this host: %s",
                          !d->rt_ok ? d->rt_error : "airlock-init not found (use --agent)");
    }
    cleanup_free char *image = strdup(req->image ? req->image : g.image);
    struct img_info info = {0};
    if (!image) {
        policy_group_free(&g);
        return oom(err);
    }
    /* until the sandbox row references the image, an image delete must not GC its layers */
    dm_images_hold();
    if ((rc = dm_image_resolve(d, tenant, image, &info, err)) < 0) {
        dm_images_release();
        policy_group_free(&g);
        return rc;
    }
    struct policy_resources res = g.resources;
    enum policy_tier tier = g.tier;
    if (req->has_tier) {
        tier = req->tier;
        policy_tier_resources(tier, &res);
        if ((rc = dm_check_capacity(d, &res, err)) < 0) {
            dm_images_release();
            img_info_free(&info);
            policy_group_free(&g);
            return rc;
        }
    }
    cleanup_json json_t *labels = labels_merge(g.labels, req->labels);
    cleanup_json json_t *resj = policy_resources_encode(&res);
    cleanup_free char *labels_s = labels ? al_json_dump(labels) : NULL;
    cleanup_free char *res_s = resj ? al_json_dump(resj) : NULL;
    struct dm_sandbox *sb = calloc(1, sizeof(*sb));
    if (sb)
        sb->env = dm_env_merge(g.env, req->env);
    int64_t lifetime = g.max_lifetime_s;
    policy_group_free(&g);
    cleanup_free char *env_s = sb && sb->env ? dm_env_encode(sb->env) : NULL;
    if (!labels_s || !res_s || !sb || !env_s) {
        dm_images_release();
        sandbox_free(sb);
        img_info_free(&info);
        return oom(err);
    }
    al_random_hex(sb->id, 16);
    snprintf(sb->tenant, sizeof(sb->tenant), "%s", tenant);
    snprintf(sb->group, sizeof(sb->group), "%s", group);
    sb->state = DM_STATE_CREATING;

    struct store_sandbox row = {0};
    memcpy(row.id, sb->id, sizeof(row.id));
    snprintf(row.tenant, sizeof(row.tenant), "%s", tenant);
    snprintf(row.group, sizeof(row.group), "%s", group);
    snprintf(row.state, sizeof(row.state), "%s", dm_state_name(DM_STATE_CREATING));
    row.image = image;
    snprintf(row.digest, sizeof(row.digest), "%s", info.digest);
    snprintf(row.tier, sizeof(row.tier), "%s", policy_tier_name(tier));
    row.resources = res_s;
    row.labels = labels_s;
    row.env = env_s;
    if (lifetime > 0)
        sb->expires_at = row.expires_at = (int64_t)time(NULL) + lifetime;
    int64_t slot = -1;
    pthread_mutex_lock(&d->mu);
    if (d->stopping) {
        pthread_mutex_unlock(&d->mu);
        dm_images_release();
        sandbox_free(sb);
        img_info_free(&info);
        return al_err_set(err, AL_ERR_UNAVAILABLE, ESHUTDOWN, "airlockd is shutting down");
    }
    rc = store_sandbox_insert(d->store, &row, &slot, err);
    if (rc == 0) {
        sb->next = d->sandboxes;
        d->sandboxes = sb;
    }
    pthread_mutex_unlock(&d->mu);
    dm_images_release(); /* the row references the image now (or there is none) */
    if (rc < 0) {
        sandbox_free(sb);
        img_info_free(&info);
        return rc;
    }
    long long t0 = al_now_ms();
    rc = build(d, sb, slot, &info, &res, err);
    img_info_free(&info);
    if (rc < 0) {
        struct al_err e2;
        pthread_mutex_lock(&d->mu);
        unlink_locked(d, sb);
        pthread_mutex_unlock(&d->mu);
        if (store_sandbox_remove(d->store, sb->id, &e2) < 0)
            log_sb(AL_LOG_WARN, sb->id, "remove row after failed create: %s", e2.msg);
        log_sb(AL_LOG_WARN, sb->id, "create failed: %s", err->msg);
        sandbox_free(sb);
        return al_err_wrap(err, "create sandbox");
    }
    if ((rc = set_state(d, sb->id, DM_STATE_RUNNING, DM_REASON_NONE, err)) < 0)
        return rc;
    log_sb(AL_LOG_INFO, sb->id, "running (group %s, image %s, slot %lld, %lldms)", group, image,
           (long long)slot, al_now_ms() - t0);
    struct store_sandbox got;
    if ((rc = store_sandbox_get(d->store, tenant, group, sb->id, &got, err)) < 0)
        return rc;
    *ret = dm_sandbox_json(&got);
    store_sandbox_clear(&got);
    return *ret ? 0 : oom(err);
}

int dm_sandbox_adopt(struct daemon *d, const struct store_sandbox *row, struct al_err *err)
{
    if (!d->rt_ok || !d->images)
        return al_err_set(err, AL_ERR_UNAVAILABLE, ENOTSUP, "%s",
                          !d->rt_ok ? d->rt_error : d->images_error);
    struct img_info info = {0};
    int rc = img_get(d->images, row->digest, &info, err);
    if (rc < 0)
        return al_err_wrap(err, "image %s", row->digest);
    struct dm_sandbox *sb = calloc(1, sizeof(*sb));
    if (!sb) {
        img_info_free(&info);
        return oom(err);
    }
    if ((rc = dm_env_decode(row->env ? row->env : "[]", &sb->env, err)) < 0) {
        img_info_free(&info);
        sandbox_free(sb);
        return al_err_wrap(err, "env record");
    }
    char dir[PATH_MAX];
    sandbox_dir(d, row->id, dir);
    struct rt_spec spec = {
        .id = row->id,
        .sandbox_dir = dir,
        .user = info.config.user,
        .env = (const char *const *)info.config.env,
        .workdir = info.config.workdir,
    };
    rc = rt_sandbox_adopt(&spec, &sb->rt, err);
    img_info_free(&info);
    if (rc < 0) {
        sandbox_free(sb);
        return rc;
    }
    memcpy(sb->id, row->id, sizeof(sb->id));
    snprintf(sb->tenant, sizeof(sb->tenant), "%s", row->tenant);
    snprintf(sb->group, sizeof(sb->group), "%s", row->group);
    sb->state = DM_STATE_RUNNING;
    sb->expires_at = row->expires_at;
    pthread_mutex_lock(&d->mu);
    sb->next = d->sandboxes;
    d->sandboxes = sb;
    pthread_mutex_unlock(&d->mu);
    return 0;
}

int dm_sandbox_acquire(struct daemon *d, const char *tenant, const char *group, const char *id,
                       struct dm_sandbox **ret, struct al_err *err)
{
    pthread_mutex_lock(&d->mu);
    struct dm_sandbox *sb = find_locked(d, id);
    if (!sb || strcmp(sb->tenant, tenant) != 0 || strcmp(sb->group, group) != 0) {
        pthread_mutex_unlock(&d->mu);
        struct store_sandbox row;
        int rc = store_sandbox_get(d->store, tenant, group, id, &row, err);
        if (rc < 0)
            return rc;
        rc = al_err_set(err, AL_ERR_CONFLICT, EBUSY, "sandbox %s is %s%s%s%s", id, row.state,
                        row.reason[0] ? " (" : "", row.reason, row.reason[0] ? ")" : "");
        store_sandbox_clear(&row);
        return rc;
    }
    check_alive_locked(d, sb);
    if (sb->state != DM_STATE_RUNNING) {
        int rc = al_err_set(err, AL_ERR_CONFLICT, EBUSY, "sandbox %s is %s", id,
                            dm_state_name(sb->state));
        pthread_mutex_unlock(&d->mu);
        return rc;
    }
    sb->refs++;
    pthread_mutex_unlock(&d->mu);
    *ret = sb;
    return 0;
}

void dm_sandbox_release(struct daemon *d, struct dm_sandbox *sb)
{
    pthread_mutex_lock(&d->mu);
    check_alive_locked(d, sb);
    sb->refs--;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

/* Make in-flight execs end: kill every process in the sandbox but its init. */
static void kill_user_processes(struct dm_sandbox *sb)
{
    static const char *const argv[] = {"sh", "-c", "kill -9 -1", NULL};
    struct rt_exec_req req = {.argv = argv, .timeout_ms = 5000, .max_output = 4096};
    struct rt_exec_result res = {0};
    struct al_err e;
    if (rt_exec(sb->rt, &req, NULL, NULL, &res, &e) == 0)
        rt_exec_result_free(&res);
}

/* Wait (d->mu held) until no request uses sb.  In-flight execs were asked to end by killing
 * the sandbox's processes; if that did not work within a few seconds (the sandbox cannot
 * even fork a kill), kill its whole cgroup from the host, which ends the agent and with it
 * every pending call. */
static void wait_refs_locked(struct daemon *d, struct dm_sandbox *sb, const char *dir)
{
    long long deadline = al_now_ms() + 5000;
    bool forced = false;
    while (sb->refs > 0 || sb->sampling) {
        if (!forced && sb->refs > 0 && al_now_ms() >= deadline) {
            forced = true;
            pthread_mutex_unlock(&d->mu);
            struct al_err e;
            log_sb(AL_LOG_WARN, sb->id, "requests still running: killing the sandbox");
            if (rt_cleanup_stale(sb->id, dir, &e) < 0)
                log_sb(AL_LOG_WARN, sb->id, "forced kill: %s", e.msg);
            pthread_mutex_lock(&d->mu);
            continue;
        }
        struct timespec ts;
        al_timespec_after(CLOCK_REALTIME, 200, &ts);
        pthread_cond_timedwait(&d->cv, &d->mu, &ts);
    }
}

/* Delete a sandbox whose row we hold.  Caller checked tenancy. */
static int delete_row(struct daemon *d, const struct store_sandbox *row, enum dm_reason reason,
                      struct al_err *err)
{
    enum dm_state cur;
    if (dm_state_parse(row->state, &cur) < 0)
        cur = DM_STATE_FAILED;
    if (cur == DM_STATE_DELETED)
        return 0;
    char dir[PATH_MAX];
    sandbox_dir(d, row->id, dir);
    pthread_mutex_lock(&d->mu);
    struct dm_sandbox *sb = find_locked(d, row->id);
    int rc;
    if (sb) {
        if (sb->state == DM_STATE_DELETING) {
            while (find_locked(d, row->id) == sb)
                pthread_cond_wait(&d->cv, &d->mu);
            pthread_mutex_unlock(&d->mu);
            return 0;
        }
        if (sb->state == DM_STATE_CREATING) {
            pthread_mutex_unlock(&d->mu);
            return al_err_set(err, AL_ERR_CONFLICT, EBUSY, "sandbox %s is still being created",
                              row->id);
        }
        if ((rc = move_locked(sb, DM_STATE_DELETING, err)) < 0) {
            pthread_mutex_unlock(&d->mu);
            return rc;
        }
        bool busy = sb->refs > 0;
        pthread_mutex_unlock(&d->mu);
        struct al_err e2;
        if (set_state(d, row->id, DM_STATE_DELETING, DM_REASON_NONE, &e2) < 0)
            log_sb(AL_LOG_WARN, row->id, "mark deleting: %s", e2.msg);
        if (busy && sb->rt && rt_sandbox_alive(sb->rt))
            kill_user_processes(sb);
        pthread_mutex_lock(&d->mu);
        wait_refs_locked(d, sb, dir);
        struct rt_sandbox *rt = TAKE_PTR(sb->rt);
        pthread_mutex_unlock(&d->mu);
        rc = rt ? rt_sandbox_destroy(rt, &e2) : 0;
        if (rc < 0) {
            log_sb(AL_LOG_WARN, row->id, "destroy: %s; cleaning up as stale", e2.msg);
            if (rt_cleanup_stale(row->id, dir, &e2) < 0)
                log_sb(AL_LOG_ERROR, row->id, "cleanup: %s", e2.msg);
        }
        pthread_mutex_lock(&d->mu);
        unlink_locked(d, sb);
        pthread_mutex_unlock(&d->mu);
        sandbox_free(sb);
    } else {
        pthread_mutex_unlock(&d->mu);
        if ((rc = dm_state_transition(cur, DM_STATE_DELETING, err)) < 0)
            return rc;
        struct al_err e2;
        if (rt_cleanup_stale(row->id, dir, &e2) < 0) {
            log_sb(AL_LOG_ERROR, row->id, "cleanup: %s", e2.msg);
            return al_err_set(err, AL_ERR_INTERNAL, e2.code ? e2.code : EIO,
                              "sandbox %s: cleanup failed: %s", row->id, e2.msg);
        }
    }
    al_rm_rf(dir);
    rc = set_state(d, row->id, DM_STATE_DELETED, reason, err);
    if (rc == 0)
        log_sb(AL_LOG_INFO, row->id, "deleted (%s)", dm_reason_name(reason));
    return rc;
}

int dm_sandbox_delete(struct daemon *d, const char *tenant, const char *group, const char *id,
                      enum dm_reason reason, struct al_err *err)
{
    struct store_sandbox row;
    int rc = store_sandbox_get(d->store, tenant, group, id, &row, err);
    if (rc < 0)
        return rc;
    rc = delete_row(d, &row, reason, err);
    store_sandbox_clear(&row);
    return rc;
}

int dm_group_delete(struct daemon *d, const char *tenant, const char *group, struct al_err *err)
{
    struct store_group sg;
    int rc = store_group_get(d->store, tenant, group, &sg, err);
    if (rc < 0)
        return rc;
    store_group_clear(&sg);
    struct store_sandbox *v = NULL;
    size_t n = 0;
    if ((rc = store_sandbox_list(d->store, tenant, group, true, &v, &n, err)) < 0)
        return rc;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = delete_row(d, &v[i], DM_REASON_DELETED, err);
    store_sandbox_list_free(v, n);
    if (rc < 0)
        return al_err_wrap(err, "delete group %s", group);
    pthread_mutex_lock(&d->mu);
    bool busy = false;
    for (struct dm_sandbox *s = d->sandboxes; s; s = s->next)
        busy = busy || (strcmp(s->tenant, tenant) == 0 && strcmp(s->group, group) == 0);
    pthread_mutex_unlock(&d->mu);
    if (busy)
        return al_err_set(err, AL_ERR_CONFLICT, EBUSY,
                          "group %s has sandboxes being created; retry", group);
    return store_group_delete(d->store, tenant, group, err);
}

void dm_sandbox_counts(struct daemon *d, unsigned counts[DM_STATE_COUNT])
{
    struct store_sandbox *v = NULL;
    size_t n = 0;
    struct al_err err;
    if (store_sandbox_list(d->store, NULL, NULL, true, &v, &n, &err) < 0)
        return;
    for (size_t i = 0; i < n; i++) {
        enum dm_state s;
        if (dm_state_parse(v[i].state, &s) == 0)
            counts[s]++;
    }
    store_sandbox_list_free(v, n);
}

/* Ids of the live sandboxes matching pred (copied under the lock). */
static char **collect_ids(struct daemon *d, int64_t expired_before)
{
    pthread_mutex_lock(&d->mu);
    size_t n = 0;
    for (struct dm_sandbox *s = d->sandboxes; s; s = s->next)
        n++;
    char **ids = calloc(n + 1, sizeof(char *));
    size_t k = 0;
    for (struct dm_sandbox *s = d->sandboxes; ids && s; s = s->next) {
        if (expired_before &&
            !(s->state == DM_STATE_RUNNING && s->expires_at && s->expires_at <= expired_before))
            continue;
        if ((ids[k] = strdup(s->id)))
            k++;
    }
    pthread_mutex_unlock(&d->mu);
    return ids;
}

static void delete_ids(struct daemon *d, char **ids, enum dm_reason reason)
{
    for (char **id = ids; id && *id; id++) {
        struct store_sandbox row;
        struct al_err err;
        if (store_sandbox_get(d->store, NULL, NULL, *id, &row, &err) < 0)
            continue;
        if (delete_row(d, &row, reason, &err) < 0)
            log_sb(AL_LOG_WARN, *id, "delete (%s): %s", dm_reason_name(reason), err.msg);
        store_sandbox_clear(&row);
    }
}

void dm_shutdown(struct daemon *d)
{
    pthread_mutex_lock(&d->mu);
    d->stopping = true;
    for (;;) {
        bool creating = false;
        for (struct dm_sandbox *s = d->sandboxes; s; s = s->next)
            creating = creating || s->state == DM_STATE_CREATING;
        if (!creating)
            break;
        pthread_cond_wait(&d->cv, &d->mu);
    }
    pthread_mutex_unlock(&d->mu);
    cleanup_strv char **ids = collect_ids(d, 0);
    delete_ids(d, ids, DM_REASON_HOST_RESTART);
}

/* Sample every running sandbox's CPU (rt_sandbox_cpu_tick) without holding d->mu over a
 * thousand cgroup reads: each is marked sampled (a delete waits for that, and does not take
 * it for a request in flight) until its own sample is done. */
static void cpu_tick(struct daemon *d)
{
    size_t n = 0, cap = 0;
    pthread_mutex_lock(&d->mu);
    for (struct dm_sandbox *s = d->sandboxes; s; s = s->next)
        cap += s->state == DM_STATE_RUNNING;
    cleanup_free struct dm_sandbox **held = cap ? calloc(cap, sizeof(*held)) : NULL;
    for (struct dm_sandbox *s = d->sandboxes; held && s && n < cap; s = s->next)
        if (s->state == DM_STATE_RUNNING) {
            s->sampling = true;
            held[n++] = s;
        }
    pthread_mutex_unlock(&d->mu);
    for (size_t i = 0; i < n; i++) {
        struct dm_sandbox *sb = held[i];
        int moved, r = rt_sandbox_cpu_tick(sb->rt, &moved);
        if (r < 0)
            log_sb(AL_LOG_WARN, sb->id,
                   "cannot set its CPU class (%s): it stays in the normal class", strerror(-r));
        else if (moved > 0)
            log_sb(AL_LOG_INFO, sb->id,
                   "runs flat out at its CPU limit: moved to the background CPU class");
        else if (moved < 0)
            log_sb(AL_LOG_INFO, sb->id, "calm again: back in the normal CPU class");
        pthread_mutex_lock(&d->mu);
        sb->sampling = false;
        pthread_cond_broadcast(&d->cv);
        pthread_mutex_unlock(&d->mu);
    }
}

int dm_reaper_tick(struct daemon *d)
{
    /* a sandbox whose agent died shows failed without waiting for a request to find out */
    pthread_mutex_lock(&d->mu);
    for (struct dm_sandbox *s = d->sandboxes; s; s = s->next)
        check_alive_locked(d, s);
    pthread_mutex_unlock(&d->mu);
    if (d->cpu_background)
        cpu_tick(d);
    cleanup_strv char **ids = collect_ids(d, (int64_t)time(NULL));
    delete_ids(d, ids, DM_REASON_LIFETIME_EXPIRED);
    return 0;
}
