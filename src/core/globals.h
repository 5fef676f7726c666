/*
 * globals.h - the complete list of process-wide mutable state (STYLE rule
 * 17). Everything else reaches code through loop, worker or broker
 * parameters.
 *
 * - log level and thread name: core/log.c (atomic level; thread-local name).
 * - metrics registry:          core/metrics.h `iot_metrics` (relaxed atomics).
 * - config snapshot:           core/config.c `config_current`, read with
 *                              iot_config(), replaced with iot_config_swap().
 * - the broker:                broker/broker.c `broker_g`, created once in
 *                              main() before the workers start; its shared
 *                              parts (subscription trie, retained store,
 *                              session registry) carry their own locks.
 */
#ifndef IOT_GLOBALS_H
#define IOT_GLOBALS_H

#include "core/config.h"
#include "core/log.h"
#include "core/metrics.h"

#endif
