/* rt-run: debug tool for the namespace backend.
 *
 *   rt-run [options] <layerdir>[:<upper layer>...] -- cmd args...
 *
 * Creates a sandbox in a temporary dir, prints {"created":{...}} as one line, runs the command,
 * prints the result as one JSON line, destroys the sandbox.  Options: --agent PATH,
 * --id ID, --uid-base N, --mem BYTES, --pids N, --cpu MILLIS, --disk BYTES, --inodes N,
 * --nofile N, --timeout MS, --stdin (pass our stdin), --user U, --max-output N,
 * --repeat N (run the command N times), --parallel N (N threads at once, each round),
 * --check [LAYERDIR] (rt_host_check only, idmapped mounts probed on LAYERDIR, default "/"),
 * --cleanup ID DIR (rt_cleanup_stale only), --disk-kind auto|tmpfs|ext4.
 */
#include <getopt.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/ids.h"
#include "common/json.h"
#include "common/parse.h"
#include "runtime/rt.h"

static int usage(void)
{
    fprintf(stderr, "usage: rt-run [options] <layerdir>[:<layerdir>...] -- cmd args...\n");
    return 2;
}

static void print_json(json_t *j)
{
    char *s = al_json_dump(j);
    if (s) {
        printf("%s\n", s);
        fflush(stdout);
    }
    free(s);
}

static int default_agent(char *buf, size_t len)
{
    const char *env = getenv("AIRLOCK_AGENT");
    if (env)
        return snprintf(buf, len, "%s", env) < (int)len ? 0 : -1;
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n < 0)
        return -1;
    self[n] = 0;
    return snprintf(buf, len, "%s/../agent/airlock-init", dirname(self)) < (int)len ? 0 : -1;
}

struct run_ctx {
    struct rt_sandbox *sb;
    struct rt_exec_req req;
    pthread_mutex_t lock;
    int rc;
};

static void run_one(struct run_ctx *c)
{
    struct rt_exec_result res;
    struct al_err err = {0};
    long long e0 = al_now_us();
    int r = rt_exec(c->sb, &c->req, NULL, NULL, &res, &err);
    long long e1 = al_now_us();
    pthread_mutex_lock(&c->lock);
    if (r < 0) {
        cleanup_json json_t *j = json_pack("{s:{s:s,s:s}}", "error", "kind",
                                           al_err_kind_name(err.kind), "message", err.msg);
        print_json(j);
        c->rc = 1;
        pthread_mutex_unlock(&c->lock);
        return;
    }
    struct rt_stats st = {0};
    rt_sandbox_stats(c->sb, &st, NULL);
    cleanup_json json_t *j = json_pack(
        "{s:i,s:i,s:b,s:s%,s:s%,s:b,s:b,s:I,s:f,s:{s:I,s:I,s:i,s:I},s:b}", "exitCode",
        res.exit_code, "signal", res.signal, "timedOut", res.timed_out, "stdout", res.out,
        res.out_len, "stderr", res.err, res.err_len, "stdoutTruncated", res.stdout_truncated,
        "stderrTruncated", res.stderr_truncated, "durationMs", (json_int_t)res.duration_ms,
        "execMs", (double)(e1 - e0) / 1000.0, "stats", "memoryBytes", (json_int_t)st.memory_bytes,
        "cpuUsec", (json_int_t)st.cpu_usec, "pids", (int)st.pids, "diskBytes",
        (json_int_t)st.disk_bytes, "alive", rt_sandbox_alive(c->sb));
    if (!j) /* output that is not UTF-8 */
        j = json_pack("{s:i,s:i,s:s}", "exitCode", res.exit_code, "signal", res.signal, "note",
                      "output not UTF-8");
    print_json(j);
    if (res.exit_code != 0 && c->rc == 0)
        c->rc = 3;
    pthread_mutex_unlock(&c->lock);
    rt_exec_result_free(&res);
}

static void *run_thread(void *arg)
{
    run_one(arg);
    return NULL;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"agent", required_argument, NULL, 'a'},
        {"id", required_argument, NULL, 'i'},
        {"uid-base", required_argument, NULL, 'u'},
        {"mem", required_argument, NULL, 'm'},
        {"pids", required_argument, NULL, 'p'},
        {"cpu", required_argument, NULL, 'c'},
        {"disk", required_argument, NULL, 'd'},
        {"inodes", required_argument, NULL, 'n'},
        {"nofile", required_argument, NULL, 'f'},
        {"timeout", required_argument, NULL, 't'},
        {"stdin", no_argument, NULL, 's'},
        {"user", required_argument, NULL, 'U'},
        {"max-output", required_argument, NULL, 'o'},
        {"repeat", required_argument, NULL, 'r'},
        {"parallel", required_argument, NULL, 'P'},
        {"disk-kind", required_argument, NULL, 'D'},
        {"check", no_argument, NULL, 'C'},
        {"cleanup", no_argument, NULL, 'K'},
        {NULL, 0, NULL, 0},
    };
    char agent[PATH_MAX] = "", id[40] = "";
    uint64_t uid_base = 0, timeout = 0, max_output = 0, repeat = 1, parallel = 1, v;
    struct rt_limits lim = {.cpu_millis = 1000,
                            .memory_bytes = 512ull << 20,
                            .disk_bytes = 256ull << 20,
                            .inodes = 65536,
                            .pids = 256,
                            .nofile = 1024};
    bool want_stdin = false, check = false, cleanup = false;
    const char *user = NULL;
    enum rt_disk_kind disk_kind = RT_DISK_AUTO;
    int c;
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        switch (c) {
        case 'a':
            snprintf(agent, sizeof(agent), "%s", optarg);
            break;
        case 'i':
            snprintf(id, sizeof(id), "%s", optarg);
            break;
        case 's':
            want_stdin = true;
            break;
        case 'U':
            user = optarg;
            break;
        case 'C':
            check = true;
            break;
        case 'K':
            cleanup = true;
            break;
        case 'D':
            if (!strcmp(optarg, "tmpfs"))
                disk_kind = RT_DISK_TMPFS;
            else if (!strcmp(optarg, "ext4"))
                disk_kind = RT_DISK_EXT4;
            else if (strcmp(optarg, "auto") != 0)
                return usage();
            break;
        case 'm':
        case 'd':
            if (al_parse_size(optarg, &v) < 0)
                return usage();
            if (c == 'm')
                lim.memory_bytes = v;
            else
                lim.disk_bytes = v;
            break;
        default:
            if (c == '?' || al_parse_u64(optarg, UINT32_MAX, &v) < 0)
                return usage();
            if (c == 'u')
                uid_base = v;
            else if (c == 'p')
                lim.pids = (uint32_t)v;
            else if (c == 'c')
                lim.cpu_millis = (uint32_t)v;
            else if (c == 'n')
                lim.inodes = v;
            else if (c == 'f')
                lim.nofile = (uint32_t)v;
            else if (c == 't')
                timeout = v;
            else if (c == 'o')
                max_output = v;
            else if (c == 'r')
                repeat = v;
            else if (c == 'P')
                parallel = v > 64 ? 64 : v;
        }
    }
    struct al_err err = {0};
    if (check) {
        char desc[256];
        rt_host_describe(desc, sizeof(desc));
        if (rt_host_check(optind < argc ? argv[optind] : "/", &err) < 0) {
            fprintf(stderr, "rt-run: host check: %s (%s)\n", err.msg, desc);
            return 1;
        }
        printf("ok %s\n", desc);
        return 0;
    }
    if (cleanup) {
        if (optind + 2 != argc)
            return usage();
        if (rt_cleanup_stale(argv[optind], argv[optind + 1], &err) < 0) {
            fprintf(stderr, "rt-run: cleanup: %s\n", err.msg);
            return 1;
        }
        return 0;
    }
    if (optind + 2 > argc || strcmp(argv[optind + 1], "--") != 0 || optind + 2 >= argc)
        return usage();
    if (!agent[0] && default_agent(agent, sizeof(agent)) < 0)
        return usage();
    if (!id[0]) {
        memcpy(id, "rtrun", 5);
        al_random_hex(id + 5, 6);
    }
    if (!uid_base) {
        uint32_t r;
        al_random_bytes(&r, sizeof(r));
        uid_base = 1000000000ull + (uint64_t)(r % 30000) * 65536;
    }
    /* layers */
    cleanup_free char *layers_s = strdup(argv[optind]);
    const char *layers[130];
    size_t nl = 0;
    for (char *save = NULL, *s = layers_s, *tok; (tok = strtok_r(s, ":", &save)) && nl < 128;
         s = NULL)
        layers[nl++] = tok;
    layers[nl] = NULL;
    char dir[] = "/tmp/rt-run-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    struct rt_spec spec = {
        .id = id,
        .layer_dirs = layers,
        .sandbox_dir = dir,
        .agent_path = agent,
        .uid_base = (uid_t)uid_base,
        .uid_count = 65536,
        .limits = lim,
        .hostname = NULL,
        .disk_kind = disk_kind,
    };
    long long t0 = al_now_us();
    struct rt_sandbox *sb;
    int rc = 1;
    if (rt_sandbox_create(&spec, &sb, &err) < 0) {
        cleanup_json json_t *j = json_pack("{s:{s:s,s:s}}", "error", "kind",
                                           al_err_kind_name(err.kind), "message", err.msg);
        print_json(j);
        rmdir(dir);
        return 1;
    }
    long long t1 = al_now_us();
    {
        cleanup_json json_t *j = json_pack(
            "{s:{s:i,s:s,s:s,s:I,s:f}}", "created", "pid", (int)rt_sandbox_pid(sb), "id", id, "dir",
            dir, "uidBase", (json_int_t)uid_base, "createMs", (double)(t1 - t0) / 1000.0);
        print_json(j);
    }
    cleanup_free char *in = NULL;
    size_t in_len = 0;
    if (want_stdin) {
        size_t cap = 0;
        for (;;) {
            if (in_len + 65536 > cap) {
                cap = cap ? cap * 2 : 131072;
                char *n = realloc(in, cap);
                if (!n)
                    return 1;
                in = n;
            }
            ssize_t n = read(0, in + in_len, cap - in_len);
            if (n <= 0)
                break;
            in_len += (size_t)n;
        }
        if (!in)
            in = strdup("");
    }
    struct run_ctx ctx = {
        .sb = sb,
        .lock = PTHREAD_MUTEX_INITIALIZER,
        .req = {.argv = (const char *const *)&argv[optind + 2],
                .timeout_ms = (uint32_t)timeout,
                .max_output = max_output,
                .stdin_data = in,
                .stdin_len = in_len,
                .user = user},
    };
    for (uint64_t i = 0; i < repeat; i++) {
        if (parallel <= 1) {
            run_one(&ctx);
            continue;
        }
        pthread_t th[64];
        for (uint64_t k = 0; k < parallel; k++)
            pthread_create(&th[k], NULL, run_thread, &ctx);
        for (uint64_t k = 0; k < parallel; k++)
            pthread_join(th[k], NULL);
    }
    rc = ctx.rc;
    long long d0 = al_now_us();
    if (rt_sandbox_destroy(sb, &err) < 0) {
        fprintf(stderr, "rt-run: destroy: %s\n", err.msg);
        rc = 1;
    }
    long long d1 = al_now_us();
    fprintf(stderr, "rt-run: create %.1f ms, destroy %.1f ms\n", (double)(t1 - t0) / 1000.0,
            (double)(d1 - d0) / 1000.0);
    if (rmdir(dir) < 0) {
        perror("rt-run: rmdir sandbox dir");
        rc = 1;
    }
    return rc;
}
