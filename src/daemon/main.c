/* airlockd: the root daemon.
 *
 * Theory of operation: main() parses the command line, prepares the state directory
 * (state.db, admin.key, images/, sandboxes/, tmp/), opens the store and the image store,
 * probes the runtime, recovers what a previous run left (running sandboxes whose PID 1 is
 * still there are re-adopted; every other one that was not deleted is cleaned up and marked
 * failed/host_restart: lifecycle.c), then serves the REST API on TCP and on
 * STATE/airlockd.sock.  Signals are blocked in every thread and taken synchronously here:
 * SIGTERM/SIGINT stop accepting, destroy every live sandbox (deleted/host_restart), stop the
 * server and exit 0.  airlockd is a child subreaper; a reaper thread expires sandboxes past
 * their group's maxLifetimeSeconds and reaps orphaned zombies.
 */
#define AL_LOG_COMPONENT "daemon"

#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/parse.h"
#include "daemon/daemon.h"

#define REQUEST_TIMEOUT_DEFAULT_S 10
#define RESPONSE_TIMEOUT_DEFAULT_S 600

struct options {
    const char *state_dir;
    const char *listen;
    const char *log_level;
    const char *agent;
    const char *log_format;
    bool no_favordynmods;
    bool no_cpu_background;
    int foreground_cpus; /* -1: the default */
    unsigned pull_stall_timeout_s;
    unsigned request_timeout_s;
    unsigned response_timeout_s;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: airlockd --state-dir DIR --listen 127.0.0.1:PORT [--log-level "
            "error|warn|info|debug] [--log-format json|plain] [--agent PATH]\n"
            "               [--no-favordynmods] [--pull-stall-timeout SECONDS]\n"
            "               [--request-timeout SECONDS] [--response-timeout SECONDS]\n"
            "               [--no-cpu-background] [--foreground-cpus N]\n"
            "  --no-cpu-background   keep sandboxes that run flat out at their CPU limit in the\n"
            "                        normal class (by default they are moved to the background\n"
            "                        class, cgroup cpu.idle, so they cannot delay others)\n"
            "  --foreground-cpus     keep sandboxes in the background class off this many CPUs\n"
            "                        (the lowest numbered; 0: none; default 1, none on a host\n"
            "                        with one CPU), so other work never waits behind them\n"
            "  --pull-stall-timeout  an image pull fails (504 Timeout) when the registry sends\n"
            "                        no byte for this long (1..3600, default %u)\n"
            "  --request-timeout     a connection must send a request's header within this\n"
            "                        (and its body within this plus 1 s per 32 KiB), or is\n"
            "                        closed; also the keep-alive idle time (1..600, default %u)\n"
            "  --response-timeout    a client that reads nothing of a response for this long\n"
            "                        is dropped (1..86400, default %u)\n",
            IMG_STALL_TIMEOUT_DEFAULT_S, REQUEST_TIMEOUT_DEFAULT_S, RESPONSE_TIMEOUT_DEFAULT_S);
}

static int parse_args(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"state-dir", required_argument, NULL, 's'},
        {"listen", required_argument, NULL, 'l'},
        {"log-level", required_argument, NULL, 'v'},
        {"agent", required_argument, NULL, 'a'},
        {"log-format", required_argument, NULL, 'f'},
        {"no-favordynmods", no_argument, NULL, 'F'},
        {"no-cpu-background", no_argument, NULL, 'C'},
        {"foreground-cpus", required_argument, NULL, 'P'},
        {"pull-stall-timeout", required_argument, NULL, 'T'},
        {"request-timeout", required_argument, NULL, 'R'},
        {"response-timeout", required_argument, NULL, 'W'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            o->state_dir = optarg;
            break;
        case 'l':
            o->listen = optarg;
            break;
        case 'v':
            o->log_level = optarg;
            break;
        case 'a':
            o->agent = optarg;
            break;
        case 'f':
            o->log_format = optarg;
            break;
        case 'F':
            o->no_favordynmods = true;
            break;
        case 'C':
            o->no_cpu_background = true;
            break;
        case 'P': {
            uint64_t n;
            if (al_parse_u64(optarg, 4096, &n) < 0) {
                fprintf(stderr, "airlockd: bad --foreground-cpus '%s' (want 0..4096)\n", optarg);
                return -EINVAL;
            }
            o->foreground_cpus = (int)n;
            break;
        }
        case 'T': {
            uint64_t s;
            if (al_parse_u64(optarg, 3600, &s) < 0 || s == 0) {
                fprintf(stderr, "airlockd: bad --pull-stall-timeout '%s' (want 1..3600)\n", optarg);
                return -EINVAL;
            }
            o->pull_stall_timeout_s = (unsigned)s;
            break;
        }
        case 'R':
        case 'W': {
            uint64_t s, max = c == 'R' ? 600 : 86400;
            if (al_parse_u64(optarg, max, &s) < 0 || s == 0) {
                fprintf(stderr, "airlockd: bad --%s '%s' (want 1..%llu)\n",
                        c == 'R' ? "request-timeout" : "response-timeout", optarg,
                        (unsigned long long)max);
                return -EINVAL;
            }
            *(c == 'R' ? &o->request_timeout_s : &o->response_timeout_s) = (unsigned)s;
            break;
        }
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -EINVAL;
        }
    }
    if (optind != argc || !o->state_dir || !o->listen) {
        usage(stderr);
        return -EINVAL;
    }
    return 0;
}

static char *path_join(const char *a, const char *b)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s", a, b) < 0)
        return NULL;
    return p;
}

static char *find_agent(const char *override)
{
    if (override)
        return access(override, X_OK) == 0 ? realpath(override, NULL) : NULL;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    char *dir = dirname(exe);
    static const char *const rel[] = {"airlock-init", "../agent/airlock-init"};
    for (size_t i = 0; i < AL_ARRAY_SIZE(rel); i++) {
        cleanup_free char *p = path_join(dir, rel[i]);
        if (p && access(p, X_OK) == 0)
            return realpath(p, NULL);
    }
    return NULL;
}

/* admin.key: created on first start (mode 0600), registered in the store if it is not. */
static int write_new_admin_key(struct daemon *d, const char *path, struct al_err *err)
{
    struct store_key k;
    char secret[STORE_KEY_LEN + 2];
    int rc = store_key_create(d->store, "admin", true, &k, secret, err);
    if (rc < 0)
        return rc;
    size_t n = strlen(secret);
    secret[n] = '\n';
    rc = al_write_file_at(AT_FDCWD, path, secret, n + 1, 0600);
    explicit_bzero(secret, sizeof(secret));
    if (rc < 0)
        return al_err_sys(err, AL_ERR_INTERNAL, -rc, "write %s", path);
    log_info("created admin key in %s", path);
    return 0;
}

/* admin.key: created on first start (mode 0600) and registered in the store if it is not;
 * a revoked one is replaced by a new key, so the operator is never locked out. */
static int admin_key(struct daemon *d, struct al_err *err)
{
    cleanup_free char *path = path_join(d->state_dir, "admin.key");
    if (!path)
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    char *text = NULL;
    size_t len = 0;
    int rc = al_read_file_at(AT_FDCWD, path, 4096, &text, &len);
    if (rc == -ENOENT)
        return write_new_admin_key(d, path, err);
    if (rc < 0)
        return al_err_sys(err, AL_ERR_INTERNAL, -rc, "read %s", path);
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
        text[--len] = '\0';
    struct store_key k;
    struct al_err e;
    bool replace = false;
    rc = store_key_lookup(d->store, text, &k, &e);
    if (rc == -ENOENT && strlen(text) == STORE_KEY_LEN) {
        rc = store_key_insert(d->store, "admin", true, text, &k, &e);
        if (rc < 0 && e.kind == AL_ERR_CONFLICT) {
            log_warn("%s holds a revoked key: writing a new admin key", path);
            replace = true;
            rc = 0;
        } else if (rc < 0) {
            rc = al_err_set(err, AL_ERR_INTERNAL, e.code, "%s: %s", path, e.msg);
        }
    } else if (rc == 0 && !k.admin) {
        rc = al_err_set(err, AL_ERR_INTERNAL, EPERM, "%s is not an admin key", path);
    } else if (rc < 0) {
        rc = al_err_set(err, AL_ERR_INTERNAL, EINVAL, "%s: %s", path, e.msg);
    }
    explicit_bzero(text, len);
    free(text);
    if (rc == 0 && replace)
        return write_new_admin_key(d, path, err);
    if (rc == 0)
        (void)chmod(path, 0600);
    return rc;
}

/* One airlockd per state directory: a second one would "recover" the first one's sandboxes.
 * The lock fd stays open (and locked) for the life of the process. */
static int lock_state_dir(struct daemon *d, struct al_err *err)
{
    cleanup_free char *path = path_join(d->state_dir, "airlockd.lock");
    if (!path)
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return al_err_sys(err, AL_ERR_INTERNAL, errno, "open %s", path);
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            return al_err_set(err, AL_ERR_CONFLICT, EBUSY, "another airlockd is using %s",
                              d->state_dir);
        return al_err_sys(err, AL_ERR_INTERNAL, e, "lock %s", path);
    }
    return fd;
}

static int prepare_dirs(struct daemon *d, const char *state_dir, struct al_err *err)
{
    if (al_mkdir_p(state_dir, 0700) < 0)
        return al_err_sys(err, AL_ERR_INTERNAL, errno, "mkdir %s", state_dir);
    d->state_dir = realpath(state_dir, NULL);
    if (!d->state_dir)
        return al_err_sys(err, AL_ERR_INTERNAL, errno, "%s", state_dir);
    (void)chmod(d->state_dir, 0700);
    if (lock_state_dir(d, err) < 0)
        return -err->code;
    d->sandboxes_dir = path_join(d->state_dir, "sandboxes");
    d->tmp_dir = path_join(d->state_dir, "tmp");
    if (!d->sandboxes_dir || !d->tmp_dir)
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    if (al_mkdir_p(d->sandboxes_dir, 0711) < 0 || al_mkdir_p(d->tmp_dir, 0700) < 0)
        return al_err_sys(err, AL_ERR_INTERNAL, errno, "mkdir under %s", d->state_dir);
    /* leftovers of interrupted uploads */
    al_rm_rf(d->tmp_dir);
    al_mkdir_p(d->tmp_dir, 0700);
    return 0;
}

static int open_backends(struct daemon *d, bool tune_cgroups, struct al_err *err)
{
    cleanup_free char *db = path_join(d->state_dir, "state.db");
    cleanup_free char *img = path_join(d->state_dir, "images");
    if (!db || !img)
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    /* the database (hashed keys) is the daemon's alone; SQLite gives its -wal and -shm files
     * the database file's mode */
    int fd = open(db, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || fchmod(fd, 0600) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return al_err_sys(err, AL_ERR_INTERNAL, e, "%s", db);
    }
    close(fd);
    for (const char *sfx = "-wal"; sfx; sfx = strcmp(sfx, "-wal") == 0 ? "-shm" : NULL) {
        cleanup_free char *side = NULL;
        if (asprintf(&side, "%s%s", db, sfx) >= 0)
            (void)chmod(side, 0600);
    }
    int rc = store_open(db, &d->store, err);
    if (rc < 0)
        return rc;
    struct al_err e = {0};
    if (img_store_open(img, &d->images, &e) < 0) {
        snprintf(d->images_error, sizeof(d->images_error), "%s", e.msg);
        log_warn("image store: %s", e.msg);
        d->images = NULL;
    }
    al_err_clear(&e);
    char desc[256];
    rt_host_describe(desc, sizeof(desc));
    log_info("runtime host: %s", desc);
    if (rt_host_check(d->state_dir, &e) == 0) { /* image layers live under it */
        d->rt_ok = true;
        char what[PATH_MAX + 96];
        if (!tune_cgroups)
            log_info("--no-favordynmods: every create waits for an RCU grace period");
        else if (rt_cg_favor_dynmods(what, sizeof(what), &e) >= 0)
            log_info("cgroups: %s", what);
        else
            log_warn("cgroups: %s (each create waits for an RCU grace period)", e.msg);
    } else {
        snprintf(d->rt_error, sizeof(d->rt_error), "%s", e.msg);
        log_warn("runtime host check failed: sandboxes unavailable: %s", e.msg);
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct options o = {
        .log_level = "info",
        .log_format = "json",
        .pull_stall_timeout_s = IMG_STALL_TIMEOUT_DEFAULT_S,
        .request_timeout_s = REQUEST_TIMEOUT_DEFAULT_S,
        .response_timeout_s = RESPONSE_TIMEOUT_DEFAULT_S,
        .foreground_cpus = -1,
    };
    if (parse_args(argc, argv, &o) < 0)
        return 2;
    enum al_log_level lvl;
    if (al_log_level_parse(o.log_level, &lvl) < 0) {
        fprintf(stderr, "airlockd: bad --log-level '%s'\n", o.log_level);
        return 2;
    }
    al_log_setup(lvl, strcmp(o.log_format, "plain") == 0 ? AL_LOG_PLAIN : AL_LOG_JSON, 2);
    char host[64];
    uint16_t port;
    if (al_parse_host_port(o.listen, host, sizeof(host), &port) < 0 || port == 0) {
        fprintf(stderr, "airlockd: bad --listen '%s' (want 127.0.0.1:PORT)\n", o.listen);
        return 2;
    }

    /* signals: taken synchronously by this thread only */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    umask(0022);
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
        log_warn("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
    /* The control plane outranks the sandboxes: a host full of busy sandboxes must not delay
     * API requests.  Set before any thread exists (each inherits it); every sandbox's setup
     * child goes back to nice 0 (runtime/spawn.c), so no sandbox process runs with it. */
    if (setpriority(PRIO_PROCESS, 0, DM_NICE) < 0)
        log_warn("setpriority(%d): %s: API latency will suffer when sandboxes load the CPUs",
                 DM_NICE, strerror(errno));

    static struct daemon d;
    d.pull_stall_timeout_s = o.pull_stall_timeout_s;
    d.cpu_background = !o.no_cpu_background;
    if (o.foreground_cpus >= 0)
        rt_cpuclass_set_foreground_cpus((unsigned)o.foreground_cpus);
    pthread_mutex_init(&d.mu, NULL);
    pthread_cond_init(&d.cv, NULL);
    pthread_mutex_init(&d.builtin_mu, NULL);
    struct al_err err = {0};
    if (prepare_dirs(&d, o.state_dir, &err) < 0 ||
        open_backends(&d, !o.no_favordynmods, &err) < 0 || admin_key(&d, &err) < 0) {
        log_error("startup: %s", err.msg);
        return 1;
    }
    d.agent_path = find_agent(o.agent);
    if (!d.agent_path)
        log_warn("airlock-init not found%s%s: sandboxes unavailable", o.agent ? " at " : "",
                 o.agent ? o.agent : "");
    if (dm_recover(&d, &err) < 0) {
        log_error("recovery: %s", err.msg);
        return 1;
    }
    cleanup_free char *sock = path_join(d.state_dir, "airlockd.sock");
    struct api_config cfg = {
        .routes = dm_routes,
        .n_routes = dm_n_routes,
        .ud = &d,
        .auth = dm_auth,
        .host = host,
        .port = port,
        .unix_path = sock,
        .max_connections = 512,
        .per_ip_limit = 256,
        .request_timeout_s = o.request_timeout_s,
        .response_timeout_s = o.response_timeout_s,
        .redact = {d.state_dir, img_builtin_cache_dir()},
    };
    if (api_server_start(&cfg, &d.api, &err) < 0) {
        log_error("api: %s", err.msg);
        return 1;
    }
    if (dm_reaper_start(&d, &err) < 0) {
        log_error("%s", err.msg);
        return 1;
    }
    log_info("airlockd listening on %s:%u and %s (state %s, agent %s)", host, port, sock,
             d.state_dir, d.agent_path ? d.agent_path : "none");

    int sig = 0;
    for (;;) {
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            log_info("SIGHUP ignored");
            continue;
        }
        break;
    }
    log_info("signal %d: shutting down", sig);
    api_server_quiesce(d.api);
    dm_reaper_stop(&d);
    dm_shutdown(&d);
    api_server_free(d.api);
    if (!dm_jobs_wait(&d, 10000)) {
        /* an image pull still running: leave its store to the process exit */
        log_warn("background jobs still running at exit");
        return 0;
    }
    img_store_free(d.images);
    store_free(d.store);
    log_info("stopped");
    free(d.agent_path);
    free(d.state_dir);
    free(d.sandboxes_dir);
    free(d.tmp_dir);
    return 0;
}
