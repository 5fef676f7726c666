/*
 * handle_publish.c - PUBLISH and PUBREL from a client: topic aliases,
 * QoS 1/2 acknowledgement, exactly-once bookkeeping, retained storage and
 * routing.
 *
 *   QoS 0: route
 *   QoS 1: route, PUBACK                              [MQTT-4.3.2-2]
 *   QoS 2: id new? route, remember id; PUBREC          [MQTT-4.3.3-9]
 *          PUBREL -> forget id, PUBCOMP                [MQTT-4.3.3-11]
 */
#include <stdlib.h>
#include <string.h>

#include "broker/broker.h"
#include "core/globals.h"

/* Resolves a v5 topic alias [MQTT-3.3.2-12]; returns 0 or fails the client. */
static int resolve_alias(client_t *c, const mqtt_publish_t *pub, mqtt_str_t *topic)
{
    uint32_t max = c->alias_in_max;
    uint16_t a = pub->props.topic_alias;
    if (a == 0 || a > max) {
        client_fail(c, IOT_EPROTO, MQTT_RC_TOPIC_ALIAS_INVALID, "topic alias out of range");
        return IOT_EPROTO;
    }
    if (!c->alias_in) {
        c->alias_in = calloc(max + 1u, sizeof(char *));
        if (!c->alias_in) {
            client_fail(c, IOT_ENOMEM, MQTT_RC_IMPL_SPECIFIC, "out of memory");
            return IOT_ENOMEM;
        }
    }
    if (topic->len) {
        char *t = strndup((const char *)topic->p, topic->len);
        if (!t) {
            client_fail(c, IOT_ENOMEM, MQTT_RC_IMPL_SPECIFIC, "out of memory");
            return IOT_ENOMEM;
        }
        free(c->alias_in[a]);
        c->alias_in[a] = t;
        return 0;
    }
    if (!c->alias_in[a]) {
        client_fail(c, IOT_EPROTO, MQTT_RC_PROTOCOL_ERROR, "unknown topic alias");
        return IOT_EPROTO;
    }
    topic->p = (const uint8_t *)c->alias_in[a];
    topic->len = strlen(c->alias_in[a]);
    return 0;
}

void handle_publish(bworker_t *bw, client_t *c, const mqtt_packet_t *pkt)
{
    const mqtt_publish_t *pub = &pkt->u.publish;
    session_t *s = c->session;
    const iot_config_t *cfg = iot_config();
    mqtt_str_t topic = pub->topic;

    if (pub->props.present & MQTT_P_SUB_ID) {
        /* Only the server puts subscription identifiers in a PUBLISH [MQTT-3.3.4-6]. */
        client_fail(c, IOT_EPROTO, MQTT_RC_PROTOCOL_ERROR, "subscription identifier in PUBLISH from a client");
        return;
    }
    if (pub->retain && !cfg->retain_available) {
        client_fail(c, IOT_EPROTO, MQTT_RC_RETAIN_NOT_SUPPORTED, "retain is not available");
        return;
    }
    if (c->version == MQTT_V5 && (pub->props.present & MQTT_P_TOPIC_ALIAS)) {
        if (resolve_alias(c, pub, &topic) != 0) return;
    } else if (topic.len == 0) {
        client_fail(c, IOT_EPROTO, MQTT_RC_PROTOCOL_ERROR, "empty topic without alias");
        return;
    }
    if (pub->qos == 2 && session_rx_has(s, pub->packet_id)) {
        /* A resent QoS 2 PUBLISH is acknowledged, not routed again [MQTT-4.3.3-9]. */
        client_send_ack(c, MQTT_PUBREC, pub->packet_id, 0);
        return;
    }
    /* Only MQTT 5 clients were told our Receive Maximum (CONNACK); a 3.1.1
     * client is bounded by its 65535 packet ids alone. */
    if (pub->qos == 2 && c->version == MQTT_V5 && s->nrx >= c->nrx_limit) {
        client_fail(c, IOT_EPROTO, MQTT_RC_RECEIVE_MAX_EXCEEDED, "more QoS 2 messages in flight than Receive Maximum");
        return;
    }
    if (c->version == MQTT_V5 && (pub->props.present & MQTT_P_PAYLOAD_FORMAT) && pub->props.payload_format == 1 &&
        !mqtt_utf8_valid(pub->payload.p, pub->payload.len)) {
        /* Payload said to be UTF-8 is not [MQTT-3.3.2-4]: refuse it, keep the connection. */
        METRIC_INC(errors_malformed);
        log_warn("%s: client %s: payload on %.*s is not valid UTF-8 as its format indicator says", iot_conn_peer(c->conn),
                 s->client_id, (int)topic.len, (const char *)topic.p);
        if (pub->qos == 1) client_send_ack(c, MQTT_PUBACK, pub->packet_id, MQTT_RC_PAYLOAD_FORMAT_INVALID);
        if (pub->qos == 2) client_send_ack(c, MQTT_PUBREC, pub->packet_id, MQTT_RC_PAYLOAD_FORMAT_INVALID);
        return;
    }
    msg_t *m = msg_new(topic, pub->payload, pub->qos, pub->retain, c->version == MQTT_V5 ? &pub->props : NULL,
                       bw->w->loop.now_ms);
    if (!m) {
        client_fail(c, IOT_ENOMEM, MQTT_RC_IMPL_SPECIFIC, "out of memory");
        return;
    }
    METRIC_INC(publish_received);
    if (pub->retain) route_retain(m);
    bw->congested = 0;
    size_t reached = route_publish(bw, m, s);
    msg_unref(m);
    if (bw->congested) route_throttle(bw, c);
    uint8_t reason = reached ? MQTT_RC_SUCCESS : MQTT_RC_NO_MATCHING_SUBSCRIBERS;
    if (pub->qos == 1) {
        client_send_ack(c, MQTT_PUBACK, pub->packet_id, reason);
    } else if (pub->qos == 2) {
        if (session_rx_add(s, pub->packet_id) != 0) {
            client_fail(c, IOT_ENOMEM, MQTT_RC_IMPL_SPECIFIC, "out of memory");
            return;
        }
        client_send_ack(c, MQTT_PUBREC, pub->packet_id, reason);
    }
}

void handle_pubrel(bworker_t *bw, client_t *c, const mqtt_packet_t *pkt)
{
    uint16_t pid = pkt->u.ack.packet_id;
    int rc = session_rx_del(c->session, pid);
    client_send_ack(c, MQTT_PUBCOMP, pid, rc == 0 ? MQTT_RC_SUCCESS : MQTT_RC_PACKET_ID_NOT_FOUND);
}
