/* metrics.c - the counters of metrics.h and their enumeration. */
#include "core/metrics.h"

iot_metrics_t iot_metrics;

void iot_metrics_each(iot_metric_visit fn, void *ctx)
{
#define VISIT(f, path, kind) fn(ctx, path, METRIC_GET(f), kind);
    IOT_METRICS(VISIT)
#undef VISIT
}
