/* Timing client for bench/run.sh.  Prints one latency sample per line (microseconds).
 *
 *   bench_client spawn N -- ARGV...          fork+exec+wait ARGV N times
 *   bench_client api URL KEY health N        GET /healthz (client + HTTP overhead)
 *   bench_client api URL KEY cycle N GROUP   per line: "create_us exec_us delete_us" for
 *                                            create sandbox, exec `true` (result read), delete
 *   bench_client api URL KEY exec N GROUP ID exec `true` in a running sandbox
 *   bench_client api URL KEY create N GROUP  create N sandboxes, print their ids
 *
 * One libcurl handle, so every request rides the same keep-alive connection.  Built by
 * bench/run.sh with cc; not part of the product or its tests. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int spawn(int n, char **argv)
{
    for (int i = 0; i < n; i++) {
        long long t0 = now_us();
        pid_t pid = fork();
        if (pid < 0)
            return 1;
        if (pid == 0) {
            execvp(argv[0], argv);
            _exit(127);
        }
        int st;
        if (waitpid(pid, &st, 0) < 0)
            return 1;
        long long t1 = now_us();
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "bench_client: %s exited with status %d\n", argv[0], st);
            return 1;
        }
        printf("%lld\n", t1 - t0);
    }
    return 0;
}

struct buf {
    char data[65536];
    size_t len;
};

static size_t on_write(char *p, size_t s, size_t n, void *ud)
{
    struct buf *b = ud;
    size_t len = s * n;
    size_t room = sizeof(b->data) - 1 - b->len;
    size_t take = len < room ? len : room;
    memcpy(b->data + b->len, p, take);
    b->len += take;
    b->data[b->len] = '\0';
    return len;
}

static CURL *h;
static struct curl_slist *hdrs;
static const char *base;

static long req(const char *method, const char *path, const char *body, struct buf *out)
{
    char url[1024];
    snprintf(url, sizeof(url), "%s%s", base, path);
    out->len = 0;
    out->data[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        fprintf(stderr, "bench_client: %s %s: %s\n", method, path, curl_easy_strerror(rc));
        return -1;
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

/* the "id" of a JSON object, good enough for the daemon's compact output */
static int get_id(const char *json, char *id, size_t len)
{
    const char *p = strstr(json, "\"id\"");
    if (!p || !(p = strchr(p + 4, '"')))
        return -1;
    p++;
    const char *e = strchr(p, '"');
    if (!e || (size_t)(e - p) >= len)
        return -1;
    memcpy(id, p, (size_t)(e - p));
    id[e - p] = '\0';
    return 0;
}

static int check(long st, long want, const char *what, struct buf *b)
{
    if (st != want) {
        fprintf(stderr, "bench_client: %s: HTTP %ld: %.300s\n", what, st, b->data);
        return -1;
    }
    return 0;
}

static const char exec_body[] = "{\"command\":[\"true\"],\"timeout\":30}";

static int api(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    base = argv[0];
    char auth[512];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", argv[1]);
    const char *mode = argv[2];
    int n = (int)strtol(argv[3], NULL, 10);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    h = curl_easy_init();
    hdrs = curl_slist_append(NULL, auth);
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "Expect:");
    struct buf *b = calloc(1, sizeof(*b));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    char path[512], id[128];
    if (strcmp(mode, "health") == 0) {
        for (int i = 0; i < n; i++) {
            long long t0 = now_us();
            if (check(req("GET", "/healthz", NULL, b), 200, "healthz", b) < 0)
                return 1;
            printf("%lld\n", now_us() - t0);
        }
    } else if (strcmp(mode, "cycle") == 0 && argc >= 5) {
        for (int i = 0; i < n; i++) {
            snprintf(path, sizeof(path), "/v1/sandboxgroups/%s/sandboxes", argv[4]);
            long long t0 = now_us();
            if (check(req("POST", path, "{}", b), 201, "create", b) < 0 ||
                get_id(b->data, id, sizeof(id)) < 0)
                return 1;
            long long t1 = now_us();
            snprintf(path, sizeof(path), "/v1/sandboxgroups/%s/sandboxes/%s/exec", argv[4], id);
            if (check(req("POST", path, exec_body, b), 200, "exec", b) < 0)
                return 1;
            if (!strstr(b->data, "\"exitCode\":0") && !strstr(b->data, "\"exitCode\": 0")) {
                fprintf(stderr, "bench_client: exec result: %.300s\n", b->data);
                return 1;
            }
            long long t2 = now_us();
            snprintf(path, sizeof(path), "/v1/sandboxgroups/%s/sandboxes/%s", argv[4], id);
            if (check(req("DELETE", path, NULL, b), 204, "delete", b) < 0)
                return 1;
            long long t3 = now_us();
            printf("%lld %lld %lld\n", t1 - t0, t2 - t1, t3 - t2);
            fflush(stdout);
        }
    } else if (strcmp(mode, "exec") == 0 && argc >= 6) {
        snprintf(path, sizeof(path), "/v1/sandboxgroups/%s/sandboxes/%s/exec", argv[4], argv[5]);
        for (int i = 0; i < n; i++) {
            long long t0 = now_us();
            if (check(req("POST", path, exec_body, b), 200, "exec", b) < 0)
                return 1;
            printf("%lld\n", now_us() - t0);
        }
    } else if (strcmp(mode, "create") == 0 && argc >= 5) {
        snprintf(path, sizeof(path), "/v1/sandboxgroups/%s/sandboxes", argv[4]);
        for (int i = 0; i < n; i++) {
            if (check(req("POST", path, "{}", b), 201, "create", b) < 0 ||
                get_id(b->data, id, sizeof(id)) < 0)
                return 1;
            printf("%s\n", id);
        }
    } else {
        return 2;
    }
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    free(b);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 5 && strcmp(argv[1], "spawn") == 0 && strcmp(argv[3], "--") == 0)
        return spawn((int)strtol(argv[2], NULL, 10), argv + 4);
    if (argc >= 2 && strcmp(argv[1], "api") == 0)
        return api(argc - 2, argv + 2);
    fprintf(stderr, "usage: see the comment at the top of bench/bench_client.c\n");
    return 2;
}
