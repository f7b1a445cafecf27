/* Logging: macros test the level before formatting.  The daemon writes JSON lines
 * (ts, level, component, sandbox, request, msg); the CLI writes plain text to stderr.
 * Library code never logs: only main(), request boundaries and the CLI do. */
#pragma once

enum al_log_level { AL_LOG_ERROR = 0, AL_LOG_WARN, AL_LOG_INFO, AL_LOG_DEBUG };
enum al_log_format { AL_LOG_PLAIN = 0, AL_LOG_JSON };

extern int al_log_max_level;

void al_log_setup(enum al_log_level level, enum al_log_format format, int fd);
/* sandbox and request may be NULL.  msg is escaped (control characters) before writing. */
void al_log_write(enum al_log_level level, const char *component, const char *sandbox,
                  const char *request, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
int al_log_level_parse(const char *s, enum al_log_level *ret);

#ifndef AL_LOG_COMPONENT
#define AL_LOG_COMPONENT "airlock"
#endif

#define al_log(lvl, sb, rq, ...)                                                                   \
    do {                                                                                           \
        if ((int)(lvl) <= al_log_max_level)                                                        \
            al_log_write((lvl), AL_LOG_COMPONENT, (sb), (rq), __VA_ARGS__);                        \
    } while (0)
#define log_error(...) al_log(AL_LOG_ERROR, NULL, NULL, __VA_ARGS__)
#define log_warn(...) al_log(AL_LOG_WARN, NULL, NULL, __VA_ARGS__)
#define log_info(...) al_log(AL_LOG_INFO, NULL, NULL, __VA_ARGS__)
#define log_debug(...) al_log(AL_LOG_DEBUG, NULL, NULL, __VA_ARGS__)
/* with a sandbox id */
#define log_sb(lvl, sb, ...) al_log((lvl), (sb), NULL, __VA_ARGS__)
