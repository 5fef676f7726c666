/*
 * log.c - writes log lines to stderr. Each line is formatted into a stack
 * buffer and written with one write(2), so lines from worker threads never
 * interleave.
 */
#include "core/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The one global of this module (listed in core/globals.h). */
static atomic_int log_level = IOT_LOG_INFO;
static _Thread_local const char *log_thread = "main";

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void iot_log_set_level(int level) { atomic_store(&log_level, level); }

int iot_log_get_level(void) { return atomic_load_explicit(&log_level, memory_order_relaxed); }

int iot_log_parse_level(const char *name)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0) return i;
    return -1;
}

void iot_log_set_thread(const char *name) { log_thread = name; }

void iot_log(int level, const char *fmt, ...)
{
    if (level > iot_log_get_level()) return;
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s [%s] ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, level_names[level & 3], log_thread);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2) len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
