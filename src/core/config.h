/*
 * config.h - iotgate's configuration: one immutable struct, filled from an
 * INI file (inih) through a declarative table of options (name, type,
 * offset, min, max, default). A reload builds a new struct and publishes it
 * with iot_config_swap(); readers take iot_config() once per event.
 */
#ifndef IOT_CONFIG_H
#define IOT_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct iot_config {
    char path[256];               /* File it was read from; "" for built-in defaults. */
    /* [general] */
    int workers;                  /* I/O worker threads; 0 = one per core. */
    int log_level;                /* IOT_LOG_*. */
    char data_dir[256];           /* Where state is kept. */
    int sys_interval;             /* Seconds between $SYS updates; 0 = off. */
    /* [mqtt] */
    char listen[512];             /* Comma-separated host:port list for MQTT/TCP. */
    char ws_listen[512];          /* The same for MQTT over WebSocket (path /mqtt); "" = off. */
    int allow_anonymous;          /* Accept clients without credentials. */
    uint32_t max_connections;     /* Connections per broker; more are refused. */
    uint32_t max_packet_size;     /* Largest packet accepted (bytes). */
    uint32_t max_inflight;        /* Outgoing QoS 1/2 unacknowledged per client; also the Receive Maximum we announce. */
    uint32_t max_queued_messages; /* Messages queued per client beyond inflight. */
    uint32_t connect_timeout;     /* Seconds a new connection has to send CONNECT. */
    uint32_t max_keepalive;       /* Largest keepalive granted; 0 = any (v5 clients get Server Keep Alive). */
    uint32_t topic_alias_max;     /* Topic aliases a v5 client may use towards us. */
    int retain_available;         /* Retained messages supported. */
    uint32_t max_session_expiry;  /* Cap on v5 session expiry (seconds). */
    int queue_qos0;               /* Queue QoS 0 messages for offline persistent sessions. */
    uint32_t max_subscriptions;   /* Per client; 0 = unlimited. */
    struct iot_config *older;     /* Previous snapshot, freed at exit. */
} iot_config_t;

/* Fills cfg with the built-in defaults (what `make run` uses without a file). */
void iot_config_defaults(iot_config_t *cfg);

/*
 * Reads path over the defaults. On error returns IOT_EINVAL and writes a
 * message naming file, line and key into err (size errlen).
 */
int iot_config_load(iot_config_t *cfg, const char *path, char *err, size_t errlen);

/* Writes every option with its current value, as INI, to f (for --help). */
void iot_config_describe(FILE *f);

/* The current snapshot (never NULL after iot_config_swap was called once). */
const iot_config_t *iot_config(void);

/* Publishes cfg (takes ownership; cfg must come from malloc; the old
 * snapshot stays valid until iot_config_release_all). */
void iot_config_swap(iot_config_t *cfg);

/* Frees every snapshot; call once, after all threads stopped. */
void iot_config_release_all(void);

#endif
