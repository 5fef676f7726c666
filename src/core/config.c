/*
 * config.c - the option table and the INI reader. Every option is one row
 * of config_table: adding an option is adding a row and a struct field.
 * Unknown keys and bad values stop start-up with file, line and key.
 */
#include "core/config.h"

#include <errno.h>
#include <ini.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"

enum opt_type { OPT_INT, OPT_U32, OPT_BOOL, OPT_STR, OPT_LOGLEVEL };

typedef struct config_opt {
    const char *section;   /* INI section. */
    const char *name;      /* Key in the section. */
    enum opt_type type;    /* How the value is parsed. */
    size_t offset;         /* Field in iot_config_t. */
    size_t size;           /* Field size (strings). */
    long long min, max;    /* Bounds for numbers. */
    const char *def;       /* Default, as it would be written in the file. */
    const char *help;      /* One line for --help and the example file. */
} config_opt_t;

#define F(f) offsetof(iot_config_t, f), sizeof(((iot_config_t *)0)->f)

static const config_opt_t config_table[] = {
    {"general", "workers", OPT_INT, F(workers), 0, 256, "0", "I/O worker threads (0 = one per core)"},
    {"general", "log_level", OPT_LOGLEVEL, F(log_level), 0, 3, "info", "error, warn, info or debug"},
    {"general", "data_dir", OPT_STR, F(data_dir), 0, 0, "./data", "directory for persistent state"},
    {"general", "sys_interval", OPT_INT, F(sys_interval), 0, 3600, "10", "seconds between $SYS updates (0 = off)"},
    {"mqtt", "listen", OPT_STR, F(listen), 0, 0, "127.0.0.1:1883", "MQTT/TCP listen addresses, comma-separated host:port ([::1]:1883 for IPv6; 0.0.0.0:1883 opens to the network)"},
    {"mqtt", "ws_listen", OPT_STR, F(ws_listen), 0, 0, "127.0.0.1:8083", "MQTT over WebSocket listen addresses (path /mqtt, subprotocol mqtt); empty = off"},
    {"mqtt", "allow_anonymous", OPT_BOOL, F(allow_anonymous), 0, 1, "true", "accept clients that send no credentials"},
    {"mqtt", "max_connections", OPT_U32, F(max_connections), 1, 100000000, "1000000", "most client connections at once"},
    {"mqtt", "max_packet_size", OPT_U32, F(max_packet_size), 64, 268435460, "1048576", "largest MQTT packet accepted, bytes"},
    {"mqtt", "max_inflight", OPT_U32, F(max_inflight), 1, 65535, "32", "unacknowledged QoS 1/2 messages per client, both ways"},
    {"mqtt", "max_queued_messages", OPT_U32, F(max_queued_messages), 0, 100000000, "1000", "messages queued per client beyond the inflight window"},
    {"mqtt", "connect_timeout", OPT_U32, F(connect_timeout), 1, 3600, "10", "seconds a new connection has to send CONNECT"},
    {"mqtt", "max_keepalive", OPT_U32, F(max_keepalive), 0, 65535, "0", "largest keepalive granted in seconds (0 = as the client asks)"},
    {"mqtt", "topic_alias_max", OPT_U32, F(topic_alias_max), 0, 65535, "10", "topic aliases an MQTT 5 client may define towards iotgate"},
    {"mqtt", "retain_available", OPT_BOOL, F(retain_available), 0, 1, "true", "keep retained messages"},
    {"mqtt", "max_session_expiry", OPT_U32, F(max_session_expiry), 0, 4294967295LL, "4294967295", "cap on the session expiry interval a client asks for, seconds"},
    {"mqtt", "queue_qos0", OPT_BOOL, F(queue_qos0), 0, 1, "false", "queue QoS 0 messages for offline persistent sessions"},
    {"mqtt", "max_subscriptions", OPT_U32, F(max_subscriptions), 0, 100000000, "0", "subscriptions per client (0 = unlimited)"},
};

#define N_OPTS (sizeof config_table / sizeof config_table[0])

static int opt_set(iot_config_t *cfg, const config_opt_t *o, const char *value, char *why, size_t whylen)
{
    char *base = (char *)cfg + o->offset;
    char *end;
    long long v;
    switch (o->type) {
    case OPT_INT:
    case OPT_U32:
        errno = 0;
        v = strtoll(value, &end, 10);
        if (errno || end == value || *end) {
            snprintf(why, whylen, "'%s' is not a number", value);
            return IOT_EINVAL;
        }
        if (v < o->min || v > o->max) {
            snprintf(why, whylen, "%lld is outside %lld..%lld", v, o->min, o->max);
            return IOT_EINVAL;
        }
        if (o->type == OPT_INT)
            *(int *)base = (int)v;
        else
            *(uint32_t *)base = (uint32_t)v;
        return 0;
    case OPT_BOOL:
        if (!strcmp(value, "true") || !strcmp(value, "yes") || !strcmp(value, "on") || !strcmp(value, "1"))
            *(int *)base = 1;
        else if (!strcmp(value, "false") || !strcmp(value, "no") || !strcmp(value, "off") || !strcmp(value, "0"))
            *(int *)base = 0;
        else {
            snprintf(why, whylen, "'%s' is not true or false", value);
            return IOT_EINVAL;
        }
        return 0;
    case OPT_STR:
        if (strlen(value) >= o->size) {
            snprintf(why, whylen, "value longer than %zu bytes", o->size - 1);
            return IOT_EINVAL;
        }
        strcpy(base, value);
        return 0;
    case OPT_LOGLEVEL:
        v = iot_log_parse_level(value);
        if (v < 0) {
            snprintf(why, whylen, "'%s' is not error, warn, info or debug", value);
            return IOT_EINVAL;
        }
        *(int *)base = (int)v;
        return 0;
    }
    return IOT_EINVAL;
}

void iot_config_defaults(iot_config_t *cfg)
{
    char why[128];
    memset(cfg, 0, sizeof *cfg); /* Also clears older. */
    for (size_t i = 0; i < N_OPTS; i++) {
        int rc = opt_set(cfg, &config_table[i], config_table[i].def, why, sizeof why);
        (void)rc; /* Defaults are within their own bounds by construction. */
    }
}

/* State of one ini_parse run: the first error wins. */
typedef struct load_state {
    iot_config_t *cfg;   /* Being filled. */
    char msg[256];       /* First error, without the line. */
    int failed;          /* An error was recorded. */
} load_state_t;

static int on_ini(void *user, const char *section, const char *name, const char *value)
{
    load_state_t *st = user;
    char why[160];
    for (size_t i = 0; i < N_OPTS; i++) {
        const config_opt_t *o = &config_table[i];
        if (strcmp(o->section, section) || strcmp(o->name, name)) continue;
        if (opt_set(st->cfg, o, value, why, sizeof why) == 0) return 1;
        if (!st->failed)
            snprintf(st->msg, sizeof st->msg, "bad value for key '%s' in [%s]: %s", name, section, why);
        st->failed = 1;
        return 0;
    }
    if (!st->failed)
        snprintf(st->msg, sizeof st->msg, "unknown key '%s' in [%s]", name, section);
    st->failed = 1;
    return 0;
}

int iot_config_load(iot_config_t *cfg, const char *path, char *err, size_t errlen)
{
    load_state_t st = {.cfg = cfg};
    if (strlen(path) >= sizeof cfg->path) {
        snprintf(err, errlen, "%s: path too long", path);
        return IOT_EINVAL;
    }
    strcpy(cfg->path, path);
    int line = ini_parse(path, on_ini, &st);
    if (line < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, line == -1 ? strerror(errno) : "out of memory");
        return IOT_EINVAL;
    }
    if (line > 0 || st.failed) {
        snprintf(err, errlen, "%s:%d: %s", path, line, st.failed ? st.msg : "syntax error");
        return IOT_EINVAL;
    }
    return 0;
}

void iot_config_describe(FILE *f)
{
    const char *section = "";
    for (size_t i = 0; i < N_OPTS; i++) {
        const config_opt_t *o = &config_table[i];
        if (strcmp(section, o->section)) {
            fprintf(f, "%s[%s]\n", i ? "\n" : "", o->section);
            section = o->section;
        }
        fprintf(f, "; %s\n%s = %s\n", o->help, o->name, o->def);
    }
}

/* The published snapshot (listed in core/globals.h). */
static _Atomic(iot_config_t *) config_current;

const iot_config_t *iot_config(void) { return atomic_load_explicit(&config_current, memory_order_acquire); }

void iot_config_swap(iot_config_t *cfg)
{
    /* The previous snapshot is not freed: a worker may still read it, and
     * reloads are rare, so keeping it costs a few hundred bytes each. */
    cfg->older = atomic_load(&config_current);
    atomic_store_explicit(&config_current, cfg, memory_order_release);
}

void iot_config_release_all(void)
{
    iot_config_t *c = atomic_exchange(&config_current, NULL);
    while (c) {
        iot_config_t *older = c->older;
        free(c);
        c = older;
    }
}
