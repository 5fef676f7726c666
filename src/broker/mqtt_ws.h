/*
 * mqtt_ws.h - MQTT over WebSocket (RFC 6455, MQTT 5.0 section 6): the HTTP
 * upgrade on the listener's first bytes, then binary frames whose payloads
 * form the MQTT byte stream of an ordinary MQTT client.
 */
#ifndef IOT_MQTT_WS_H
#define IOT_MQTT_WS_H

#include "net/net.h"

struct mqtt_ws;

/* Listener hook for [mqtt] ws_listen. */
void mqtt_ws_on_accept(iot_worker_t *w, iot_conn_t *conn);
/* Frees the transport state (called by client_free). */
void mqtt_ws_free(struct mqtt_ws *ws);

#endif
