/*
 * log.h - the log sink: one line per event on stderr, with time, level and
 * thread. The level can change at run time (SIGHUP reload), so it is an
 * atomic read on every call; messages above it cost one comparison.
 */
#ifndef IOT_LOG_H
#define IOT_LOG_H

enum iot_log_level {
    IOT_LOG_ERROR = 0,
    IOT_LOG_WARN = 1,
    IOT_LOG_INFO = 2,
    IOT_LOG_DEBUG = 3,
};

/* Sets the highest level that is written. Thread-safe. */
void iot_log_set_level(int level);
int iot_log_get_level(void);

/* Parses "error", "warn", "info", "debug"; returns the level or -1. */
int iot_log_parse_level(const char *name);

/* Names the calling thread in log lines ("main", "w0", ...); borrows name (a literal). */
void iot_log_set_thread(const char *name);

/* Writes one line if level is enabled. */
void iot_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) iot_log(IOT_LOG_ERROR, __VA_ARGS__)
#define log_warn(...) iot_log(IOT_LOG_WARN, __VA_ARGS__)
#define log_info(...) iot_log(IOT_LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                        \
    do {                                                                      \
        if (iot_log_get_level() >= IOT_LOG_DEBUG) iot_log(IOT_LOG_DEBUG, __VA_ARGS__); \
    } while (0)

#endif
