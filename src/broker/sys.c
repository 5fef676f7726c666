/*
 * sys.c - the $SYS tree: broker version, uptime and every counter of the
 * metrics registry, published as retained messages every sys_interval
 * seconds (run on worker 0, posted by the main thread).
 */
#include <stdio.h>
#include <string.h>

#include "broker/broker.h"
#include "core/globals.h"
#include "core/version.h"

static void sys_put(bworker_t *bw, const char *path, const char *value)
{
    char topic[160];
    int n = snprintf(topic, sizeof topic, "$SYS/broker/%s", path);
    mqtt_str_t t = {(const uint8_t *)topic, (size_t)n};
    mqtt_str_t v = {(const uint8_t *)value, strlen(value)};
    msg_t *m = msg_new(t, v, 0, 1, NULL, bw->w->loop.now_ms);
    if (!m) return;
    route_retain(m);
    route_publish(bw, m, NULL);
    msg_unref(m);
}

static void sys_metric(void *ctx, const char *name, uint64_t value, int gauge)
{
    char v[32];
    snprintf(v, sizeof v, "%llu", (unsigned long long)value);
    sys_put(ctx, name, v);
}

void sys_publish(bworker_t *bw)
{
    char v[64];
    sys_put(bw, "version", "iotgate " IOT_VERSION);
    snprintf(v, sizeof v, "%llu seconds", (unsigned long long)((iot_now_ms() - broker_g.start_ms) / 1000u));
    sys_put(bw, "uptime", v);
    /* Gauges of the shared tables are read from the tables themselves. */
    METRIC_SET(subscriptions_count, topic_tree_count(broker_g.subs));
    METRIC_SET(retained_count, retain_count(broker_g.retained));
    iot_metrics_each(sys_metric, bw);
}
