#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/json.h"

int al_log_max_level = AL_LOG_INFO;
static enum al_log_format log_format = AL_LOG_PLAIN;
static int log_fd = 2;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void al_log_setup(enum al_log_level level, enum al_log_format format, int fd)
{
    al_log_max_level = level;
    log_format = format;
    log_fd = fd;
}

int al_log_level_parse(const char *s, enum al_log_level *ret)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
        if (strcmp(s, level_names[i]) == 0) {
            *ret = (enum al_log_level)i;
            return 0;
        }
    return -EINVAL;
}

/* Replace control characters so untrusted text cannot forge log lines. */
static void escape_controls(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}

void al_log_write(enum al_log_level level, const char *component, const char *sandbox,
                  const char *request, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    escape_controls(msg);

    if (log_format == AL_LOG_PLAIN) {
        char line[2300];
        int n = snprintf(line, sizeof(line), "%s: %s%s%s\n", level_names[level],
                         sandbox ? sandbox : "", sandbox ? ": " : "", msg);
        if (n > (int)sizeof(line) - 1)
            n = sizeof(line) - 1;
        (void)al_write_all(log_fd, line, (size_t)n);
        return;
    }

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char tsbuf[64];
    snprintf(tsbuf, sizeof(tsbuf), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    json_t *o = json_object();
    if (!o)
        return;
    json_object_set_new(o, "ts", json_string(tsbuf));
    json_object_set_new(o, "level", json_string(level_names[level]));
    json_object_set_new(o, "component", json_string(component ? component : "airlock"));
    if (sandbox)
        json_object_set_new(o, "sandbox", json_string(sandbox));
    if (request)
        json_object_set_new(o, "request", json_string(request));
    json_object_set_new(o, "msg", json_string(msg));
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!s)
        return;
    size_t len = strlen(s);
    s[len] = '\0';
    (void)al_write_all(log_fd, s, len);
    (void)al_write_all(log_fd, "\n", 1);
    free(s);
}
