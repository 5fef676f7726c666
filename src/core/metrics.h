/*
 * metrics.h - the metrics registry: process-wide counters and gauges that
 * every thread may bump (relaxed atomics) and that $SYS and /metrics read.
 * Add a counter by adding a row to IOT_METRICS; its name is the row's name.
 */
#ifndef IOT_METRICS_H
#define IOT_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

/* X(field, "$SYS/broker/<path>", kind) - kind: 0 counter, 1 gauge. */
#define IOT_METRICS(X)                                                        \
    X(clients_connected, "clients/connected", 1)                              \
    X(clients_total, "clients/total", 1)                                      \
    X(connections_accepted, "connections/accepted", 0)                        \
    X(connections_refused, "connections/refused", 0)                          \
    X(connect_timeouts, "connections/timeout", 0)                             \
    X(keepalive_timeouts, "connections/keepalive_timeout", 0)                 \
    X(msgs_received, "messages/received", 0)                                  \
    X(msgs_sent, "messages/sent", 0)                                          \
    X(publish_received, "publish/messages/received", 0)                       \
    X(publish_sent, "publish/messages/sent", 0)                               \
    X(publish_dropped, "publish/messages/dropped", 0)                         \
    X(bytes_received, "bytes/received", 0)                                    \
    X(bytes_sent, "bytes/sent", 0)                                            \
    X(queue_dropped, "queue/dropped", 0)                                      \
    X(msgs_expired, "messages/expired", 0)                                    \
    X(errors_malformed, "errors/malformed", 0)                                \
    X(errors_protocol, "errors/protocol", 0)                                  \
    X(errors_too_large, "errors/too_large", 0)                                \
    X(errors_unsupported, "errors/unsupported_version", 0)                    \
    X(auth_failures, "errors/auth", 0)                                        \
    X(retained_count, "retained messages/count", 1)                           \
    X(subscriptions_count, "subscriptions/count", 1)

#define IOT_METRIC_FIELD(f, path, kind) _Atomic uint64_t f;
typedef struct iot_metrics {
    IOT_METRICS(IOT_METRIC_FIELD)
} iot_metrics_t;
#undef IOT_METRIC_FIELD

/* The registry (listed in core/globals.h). */
extern iot_metrics_t iot_metrics;

#define METRIC_ADD(f, n) atomic_fetch_add_explicit(&iot_metrics.f, (uint64_t)(n), memory_order_relaxed)
#define METRIC_INC(f) METRIC_ADD(f, 1)
#define METRIC_DEC(f) atomic_fetch_sub_explicit(&iot_metrics.f, 1, memory_order_relaxed)
#define METRIC_SET(f, v) atomic_store_explicit(&iot_metrics.f, (uint64_t)(v), memory_order_relaxed)
#define METRIC_GET(f) atomic_load_explicit(&iot_metrics.f, memory_order_relaxed)

/* Visits every metric: name is its $SYS path below $SYS/broker/. */
typedef void (*iot_metric_visit)(void *ctx, const char *name, uint64_t value, int gauge);
void iot_metrics_each(iot_metric_visit fn, void *ctx);

#endif
