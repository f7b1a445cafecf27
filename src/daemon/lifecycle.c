/* Startup recovery and the background reaper (lifetime expiry, orphaned children).
 *
 * Recovery: a sandbox whose row says running is re-adopted when its PID 1 is still the one
 * the previous airlockd started (its processes, memory and files carry on; requests that
 * were in flight are lost).  Every other live row -- creating, deleting, or running but
 * gone -- is cleaned up (cgroups, mounts, its directory) and marked failed/host_restart
 * (deleting: deleted).
 *
 * airlockd is a child subreaper, so processes a sandbox backend leaves behind are
 * re-parented to it.  Children that the runtime waits for itself are reaped there at once; a
 * child that has been a zombie for ORPHAN_GRACE_S seconds nobody else will reap, so the
 * reaper does. */
#define AL_LOG_COMPONENT "daemon"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "daemon/daemon.h"

#define ORPHAN_GRACE_S 10
#define ZOMBIES_MAX 64

static bool is_sandbox_id(const char *s)
{
    size_t n = strlen(s);
    if (n != 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

int dm_recover(struct daemon *d, struct al_err *err)
{
    struct store_sandbox *v = NULL;
    size_t n = 0;
    int rc = store_sandbox_list(d->store, NULL, NULL, true, &v, &n, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        const struct store_sandbox *s = &v[i];
        enum dm_state st;
        if (dm_state_parse(s->state, &st) < 0)
            st = DM_STATE_FAILED;
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s/%s", d->sandboxes_dir, s->id);
        struct al_err e;
        if (st == DM_STATE_RUNNING) {
            if (dm_sandbox_adopt(d, s, &e) == 0) {
                log_sb(AL_LOG_INFO, s->id, "re-adopted after restart");
                continue;
            }
            log_sb(AL_LOG_WARN, s->id, "cannot re-adopt: %s", e.msg);
        }
        bool clean = rt_cleanup_stale(s->id, dir, &e) == 0;
        if (!clean)
            log_sb(AL_LOG_ERROR, s->id, "recovery cleanup: %s", e.msg);
        else
            al_rm_rf(dir);
        const char *state = "failed", *reason = "host_restart";
        if (st == DM_STATE_DELETING && clean) {
            state = "deleted";
            reason = "deleted";
        } else if (st == DM_STATE_FAILED) {
            reason = s->reason[0] ? s->reason : "error";
        }
        if (store_sandbox_set_state(d->store, s->id, state, reason, &e) < 0)
            log_sb(AL_LOG_ERROR, s->id, "recovery: %s", e.msg);
        else if (st != DM_STATE_FAILED)
            log_sb(AL_LOG_WARN, s->id, "was %s before restart: now %s (%s)", s->state, state,
                   reason);
    }
    store_sandbox_list_free(v, n);

    /* directories no live row claims (a crash between mkdir and insert, or a lost row) */
    cleanup_closedir DIR *dir = opendir(d->sandboxes_dir);
    if (!dir)
        return 0;
    struct dirent *de;
    while ((de = readdir(dir))) {
        if (!is_sandbox_id(de->d_name))
            continue;
        struct store_sandbox row;
        struct al_err e;
        bool live = false;
        if (store_sandbox_get(d->store, NULL, NULL, de->d_name, &row, &e) == 0) {
            live = strcmp(row.state, "deleted") != 0; /* handled above */
            store_sandbox_clear(&row);
        }
        if (live)
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", d->sandboxes_dir, de->d_name);
        if (rt_cleanup_stale(de->d_name, path, &e) == 0)
            al_rm_rf(path);
        else
            log_sb(AL_LOG_ERROR, de->d_name, "stale dir cleanup: %s", e.msg);
    }
    return 0;
}

/* ---- orphan reaping ---- */

struct zombie {
    pid_t pid;
    time_t since;
};

static bool is_zombie_child(pid_t pid, pid_t self)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = al_read_all(fd, buf, sizeof(buf) - 1);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    char state;
    int ppid;
    if (!p || sscanf(p + 1, " %c %d", &state, &ppid) != 2)
        return false;
    return state == 'Z' && ppid == self;
}

/* Is pid the PID 1 of a sandbox the runtime still holds (the runtime reaps those)? */
static bool is_sandbox_init(struct daemon *d, pid_t pid)
{
    bool found = false;
    pthread_mutex_lock(&d->mu);
    for (struct dm_sandbox *s = d->sandboxes; s && !found; s = s->next)
        found = s->rt && rt_sandbox_pid(s->rt) == pid;
    pthread_mutex_unlock(&d->mu);
    return found;
}

static void reap_orphans(struct daemon *d, struct zombie *z, size_t *nz)
{
    pid_t self = getpid();
    time_t now = time(NULL);
    struct zombie seen[ZOMBIES_MAX];
    size_t ns = 0;
    cleanup_closedir DIR *proc = opendir("/proc");
    if (!proc)
        return;
    struct dirent *de;
    while ((de = readdir(proc)) && ns < ZOMBIES_MAX) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end || pid <= 0 || !is_zombie_child((pid_t)pid, self) ||
            is_sandbox_init(d, (pid_t)pid))
            continue;
        time_t since = now;
        for (size_t i = 0; i < *nz; i++)
            if (z[i].pid == pid)
                since = z[i].since;
        if (now - since >= ORPHAN_GRACE_S) {
            int status;
            if (waitpid((pid_t)pid, &status, WNOHANG) == pid) {
                log_debug("reaped orphan %ld", pid);
                continue;
            }
        }
        seen[ns++] = (struct zombie){(pid_t)pid, since};
    }
    memcpy(z, seen, ns * sizeof(*z));
    *nz = ns;
}

static pthread_mutex_t reaper_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reaper_cv = PTHREAD_COND_INITIALIZER;
static bool reaper_stop;

static void *reaper_main(void *arg)
{
    struct daemon *d = arg;
    struct zombie z[ZOMBIES_MAX];
    size_t nz = 0;
    unsigned tick = 0;
    pthread_mutex_lock(&reaper_mu);
    while (!reaper_stop) {
        struct timespec ts;
        al_timespec_after(CLOCK_REALTIME, 1000, &ts);
        pthread_cond_timedwait(&reaper_cv, &reaper_mu, &ts);
        if (reaper_stop)
            break;
        pthread_mutex_unlock(&reaper_mu);
        dm_reaper_tick(d);
        if (++tick % 2 == 0)
            reap_orphans(d, z, &nz);
        pthread_mutex_lock(&reaper_mu);
    }
    pthread_mutex_unlock(&reaper_mu);
    return NULL;
}

int dm_reaper_start(struct daemon *d, struct al_err *err)
{
    reaper_stop = false;
    int rc = pthread_create(&d->reaper, NULL, reaper_main, d);
    if (rc != 0)
        return al_err_sys(err, AL_ERR_INTERNAL, rc, "reaper thread");
    d->reaper_started = true;
    return 0;
}

void dm_reaper_stop(struct daemon *d)
{
    if (!d->reaper_started)
        return;
    pthread_mutex_lock(&reaper_mu);
    reaper_stop = true;
    pthread_cond_broadcast(&reaper_cv);
    pthread_mutex_unlock(&reaper_mu);
    pthread_join(d->reaper, NULL);
    d->reaper_started = false;
}

void dm_job_start(struct daemon *d)
{
    pthread_mutex_lock(&d->mu);
    d->jobs++;
    pthread_mutex_unlock(&d->mu);
}

void dm_job_end(struct daemon *d)
{
    pthread_mutex_lock(&d->mu);
    d->jobs--;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

bool dm_jobs_wait(struct daemon *d, long long timeout_ms)
{
    long long deadline = al_now_ms() + timeout_ms;
    pthread_mutex_lock(&d->mu);
    while (d->jobs > 0 && al_now_ms() < deadline) {
        struct timespec ts;
        al_timespec_after(CLOCK_REALTIME, 100, &ts);
        pthread_cond_timedwait(&d->cv, &d->mu, &ts);
    }
    bool done = d->jobs == 0;
    pthread_mutex_unlock(&d->mu);
    return done;
}
