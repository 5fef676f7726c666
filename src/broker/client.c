/*
 * client.c - one MQTT connection: decoding the byte stream into packets,
 * dispatching them, the connect/keepalive timer, sending packets, and what
 * happens when the connection ends.
 *
 *   accept -> CS_NEW (connect timer) --CONNECT--> handle_connect
 *     -> CS_ACTIVE (keepalive timer) --packets--> handle_* --close--> client_on_close
 *   Any decode error: log with the peer, count, DISCONNECT with a reason
 *   code (MQTT 5, after CONNACK) and close [MQTT-4.13.1-1].
 */
#include <stdlib.h>
#include <string.h>

#include "broker/broker.h"
#include "broker/mqtt_ws.h"
#include "core/container.h"
#include "core/globals.h"


static const iot_conn_ops_t client_ops = {client_on_data, client_on_close, NULL};

static void client_timeout(iot_timer_t *t)
{
    client_t *c = iot_container_of(t, client_t, timer);
    if (!c->conn) return;
    if (c->state == CS_NEW) {
        METRIC_INC(connect_timeouts);
        log_warn("%s: no CONNECT within %u s, closing", iot_conn_peer(c->conn), iot_config()->connect_timeout);
    } else {
        METRIC_INC(keepalive_timeouts);
        log_info("%s: client %s: keepalive timeout (%u s), closing", iot_conn_peer(c->conn),
                 c->session ? c->session->client_id : "?", c->keepalive);
        if (c->state == CS_ACTIVE) client_disconnect(c, MQTT_RC_KEEPALIVE_TIMEOUT, "keepalive timeout");
    }
    iot_conn_close(c->conn);
}

client_t *client_accept(iot_worker_t *w, iot_conn_t *conn)
{
    const iot_config_t *cfg = iot_config();
    if (atomic_fetch_add(&broker_g.conn_count, 1) >= cfg->max_connections) {
        atomic_fetch_sub(&broker_g.conn_count, 1);
        METRIC_INC(connections_refused);
        log_warn("%s: refused: max_connections (%u) reached", iot_conn_peer(conn), cfg->max_connections);
        iot_conn_close(conn);
        return NULL;
    }
    client_t *c = calloc(1, sizeof *c);
    if (!c) {
        atomic_fetch_sub(&broker_g.conn_count, 1);
        iot_conn_close(conn);
        return NULL;
    }
    c->conn = conn;
    conn->proto = c;
    conn->ops = &client_ops;
    iot_timer_init(&c->timer, client_timeout);
    iot_timer_set(&w->loop.wheel, &c->timer, (uint64_t)cfg->connect_timeout * 1000u);
    return c;
}

void broker_on_accept(iot_worker_t *w, iot_conn_t *conn) { client_accept(w, conn); }

void client_touch(client_t *c)
{
    if (c->keepalive && c->state == CS_ACTIVE)
        iot_timer_set(&c->conn->worker->loop.wheel, &c->timer, (uint64_t)c->keepalive * 1500u);
}

void client_send_ack(client_t *c, uint8_t type, uint16_t pid, uint8_t reason)
{
    mqtt_packet_t p = {.type = type, .flags = type == MQTT_PUBREL ? 2 : 0};
    p.u.ack.packet_id = pid;
    p.u.ack.reason = c->version == MQTT_V5 ? reason : 0; /* 3.1.1 acks carry no reason. */
    client_send_packet(c, &p);
}

void client_send_packet(client_t *c, const mqtt_packet_t *pkt)
{
    if (!c || !c->conn || c->conn->closed) return;
    size_t n = mqtt_encode_size(c->version, pkt);
    if (n == 0) return;
    mqtt_encode(iot_conn_reserve(c->conn, n), n, c->version, pkt);
    METRIC_INC(msgs_sent);
}

/* Finds or assigns an outgoing topic alias; 0 = send the topic in full. */
static uint16_t alias_for(client_t *c, const msg_t *m, int *known)
{
    *known = 0;
    uint16_t max = c->alias_out_max;
    if (max == 0) return 0;
    if (max > 64) max = 64; /* A small table is enough to cover hot topics. */
    if (!c->alias_out) {
        c->alias_out = calloc(max, sizeof(char *));
        if (!c->alias_out) return 0;
    }
    for (uint16_t i = 0; i < max; i++) {
        if (!c->alias_out[i]) {
            c->alias_out[i] = strdup((const char *)m->topic.p);
            return c->alias_out[i] ? (uint16_t)(i + 1) : 0;
        }
        if (strcmp(c->alias_out[i], (const char *)m->topic.p) == 0) {
            *known = 1;
            return (uint16_t)(i + 1);
        }
    }
    return 0;
}

/*
 * Returns the shared encoding of m as a plain QoS 0 PUBLISH for version, made
 * on first use (see msg_t.enc); NULL when out of memory. Two workers may
 * build it at once: the first to publish its buffer wins, the other frees.
 */
static const uint8_t *shared_qos0(msg_t *m, int version, const mqtt_packet_t *p, size_t n)
{
    _Atomic(uint8_t *) *slot = &m->enc[version == MQTT_V5];
    uint8_t *enc = atomic_load_explicit(slot, memory_order_acquire);
    if (enc) return enc;
    uint8_t *mine = malloc(sizeof(uint32_t) + n);
    if (!mine) return NULL;
    uint32_t len = (uint32_t)n;
    memcpy(mine, &len, sizeof len);
    mqtt_encode(mine + sizeof len, n, version, p);
    uint8_t *expected = NULL;
    if (atomic_compare_exchange_strong_explicit(slot, &expected, mine, memory_order_acq_rel, memory_order_acquire))
        return mine;
    free(mine);
    return expected;
}

int client_send_publish(client_t *c, qitem_t *q, int dup, uint64_t now_ms)
{
    msg_t *m = q->msg;
    mqtt_packet_t p = {.type = MQTT_PUBLISH};
    mqtt_publish_t *pub = &p.u.publish;
    pub->dup = (uint8_t)dup;
    pub->qos = q->qos;
    pub->retain = q->retain;
    pub->packet_id = q->pid;
    pub->topic = m->topic;
    pub->payload = m->payload;
    if (c->version == MQTT_V5) {
        mqtt_props_t *pr = &pub->props;
        pr->present = m->props;
        pr->payload_format = m->payload_format;
        pr->content_type = m->content_type;
        pr->response_topic = m->response_topic;
        pr->correlation_data = m->correlation_data;
        pr->user_raw = m->user_raw;
        if (m->props & MQTT_P_MESSAGE_EXPIRY) {
            uint32_t ttl = msg_ttl(m, now_ms);
            /* The interval sent is what is left of it [MQTT-3.3.2-6]. */
            pr->message_expiry = ttl ? ttl : 1;
        }
        if (q->nsub) {
            pr->present |= MQTT_P_SUB_ID;
            memcpy(pr->sub_ids, q->sub_ids, q->nsub * sizeof(uint32_t));
            pr->sub_id_count = q->nsub;
        }
    }
    size_t n = mqtt_encode_size(c->version, &p);
    if (c->max_packet && n > c->max_packet) {
        METRIC_INC(publish_dropped);
        log_debug("client %s: message on %s (%zu bytes) exceeds its maximum packet size %u, dropped",
                  c->session ? c->session->client_id : "?", (const char *)m->topic.p, n, c->max_packet);
        return IOT_ETOOLARGE;
    }
    if (c->version == MQTT_V5 && c->alias_out_max && !dup) {
        int known;
        uint16_t alias = alias_for(c, m, &known);
        if (alias) {
            pub->props.present |= MQTT_P_TOPIC_ALIAS;
            pub->props.topic_alias = alias;
            if (known) pub->topic = (mqtt_str_t){(const uint8_t *)"", 0};
            size_t n2 = mqtt_encode_size(c->version, &p);
            if (!c->max_packet || n2 <= c->max_packet) n = n2;
            else {
                pub->props.present &= ~(uint32_t)MQTT_P_TOPIC_ALIAS;
                pub->topic = m->topic;
            }
        }
    }
    if (n == 0) return IOT_ETOOLARGE;
    /* The common fan-out case is the same bytes for every receiver: encode
     * once, copy per receiver (saves the property walk and length maths). */
    int plain = q->qos == 0 && !dup && !q->retain && q->nsub == 0 && !(pub->props.present & MQTT_P_TOPIC_ALIAS) &&
                !(m->props & MQTT_P_MESSAGE_EXPIRY);
    const uint8_t *enc = plain ? shared_qos0(m, c->version, &p, n) : NULL;
    if (enc)
        iot_conn_write(c->conn, enc + sizeof(uint32_t), n);
    else
        mqtt_encode(iot_conn_reserve(c->conn, n), n, c->version, &p);
    METRIC_INC(msgs_sent);
    METRIC_INC(publish_sent);
    return 0;
}

void client_disconnect(client_t *c, uint8_t reason, const char *why)
{
    if (!c->conn || c->conn->closed) return;
    if (c->version == MQTT_V5 && c->state == CS_ACTIVE) {
        mqtt_packet_t p = {.type = MQTT_DISCONNECT};
        p.u.disconnect.reason = reason;
        if (why) {
            /* A Reason String may always go with DISCONNECT [MQTT-3.14.2-3]. */
            p.u.disconnect.props.present = MQTT_P_REASON_STRING;
            p.u.disconnect.props.reason_string = (mqtt_str_t){(const uint8_t *)why, strlen(why)};
        }
        client_send_packet(c, &p);
    }
    c->disconnecting = 1;
    iot_conn_close_after_flush(c->conn);
}

void client_fail(client_t *c, int err, uint8_t reason, const char *why)
{
    switch (err) {
    case IOT_ETOOLARGE: METRIC_INC(errors_too_large); break;
    case IOT_EPROTO: METRIC_INC(errors_protocol); break;
    case IOT_EUNSUPPORTED: METRIC_INC(errors_unsupported); break;
    default: METRIC_INC(errors_malformed); break;
    }
    log_warn("%s: client %s: %s (%s, reason 0x%02X), disconnecting", iot_conn_peer(c->conn),
             c->session ? c->session->client_id : "-", why, iot_strerror(err), reason);
    /* Before CONNACK there is no DISCONNECT to send [MQTT-3.2.0-1]; afterwards
     * MQTT 5 names the reason [MQTT-4.13.2-1]. */
    client_disconnect(c, reason, why);
}

static void handle_packet(bworker_t *bw, client_t *c, const mqtt_packet_t *pkt)
{
    session_t *s = c->session;
    mqtt_packet_t out = {0};
    switch (pkt->type) {
    case MQTT_CONNECT:
        if (c->state != CS_NEW) {
            /* A second CONNECT is a protocol violation [MQTT-3.1.0-2]. */
            client_fail(c, IOT_EPROTO, MQTT_RC_PROTOCOL_ERROR, "second CONNECT");
            return;
        }
        handle_connect(bw, c, pkt);
        return;
    case MQTT_PUBLISH:
        handle_publish(bw, c, pkt);
        return;
    case MQTT_PUBACK:
        session_on_puback(bw, s, pkt->u.ack.packet_id);
        return;
    case MQTT_PUBREC: {
        int rc = session_on_pubrec(bw, s, pkt->u.ack.packet_id, pkt->u.ack.reason);
        if (rc == 1 || pkt->u.ack.reason >= 0x80) return; /* Refused: no PUBREL [MQTT-4.3.3-4]. */
        client_send_ack(c, MQTT_PUBREL, pkt->u.ack.packet_id, rc == 0 ? MQTT_RC_SUCCESS : MQTT_RC_PACKET_ID_NOT_FOUND);
        return;
    }
    case MQTT_PUBREL:
        handle_pubrel(bw, c, pkt);
        return;
    case MQTT_PUBCOMP:
        session_on_pubcomp(bw, s, pkt->u.ack.packet_id);
        return;
    case MQTT_SUBSCRIBE:
        handle_subscribe(bw, c, pkt);
        return;
    case MQTT_UNSUBSCRIBE:
        handle_unsubscribe(bw, c, pkt);
        return;
    case MQTT_PINGREQ:
        out.type = MQTT_PINGRESP;
        client_send_packet(c, &out);
        return;
    case MQTT_DISCONNECT:
        if (c->version == MQTT_V5) {
            const mqtt_disconnect_t *d = &pkt->u.disconnect;
            if (d->props.present & MQTT_P_SESSION_EXPIRY) {
                /* Setting a non-zero expiry when CONNECT had 0 is a protocol error [MQTT-3.14.2-2]. */
                if (s->expiry == 0 && d->props.session_expiry != 0) {
                    client_fail(c, IOT_EPROTO, MQTT_RC_PROTOCOL_ERROR, "session expiry set at DISCONNECT");
                    return;
                }
                uint32_t e = d->props.session_expiry, cap = iot_config()->max_session_expiry;
                s->expiry = e > cap ? cap : e;
            }
            /* 0x04 keeps the will; any other normal DISCONNECT discards it [MQTT-3.14.4-3]. */
            if (d->reason != MQTT_RC_DISCONNECT_WITH_WILL) {
                msg_unref(c->will);
                c->will = NULL;
            }
        } else {
            msg_unref(c->will);
            c->will = NULL;
        }
        c->disconnecting = 1;
        iot_conn_close_after_flush(c->conn);
        return;
    case MQTT_AUTH:
        client_fail(c, IOT_EPROTO, MQTT_RC_PROTOCOL_ERROR, "AUTH without an authentication method");
        return;
    default:
        /* CONNACK, SUBACK, UNSUBACK, PINGRESP only flow to clients [MQTT-2.1.2]. */
        client_fail(c, IOT_EPROTO, MQTT_RC_PROTOCOL_ERROR, "packet type not allowed from a client");
        return;
    }
}

size_t client_on_data(iot_conn_t *conn, const uint8_t *p, size_t n)
{
    client_t *c = conn->proto;
    bworker_t *bw = bw_of(conn->worker);
    size_t used = 0;
    while (used < n && client_can_read(c)) {
        mqtt_packet_t pkt;
        int version = c->state == CS_NEW ? 0 : c->version;
        int rc = mqtt_decode(p + used, n - used, version, iot_config()->max_packet_size, &pkt);
        if (rc == IOT_EAGAIN) break;
        if (rc < 0) {
            if (rc == IOT_EUNSUPPORTED && c->state == CS_NEW) {
                /* Answer in the client's own version where we can [MQTT-3.1.2-2]. */
                uint8_t lvl = pkt.u.connect.proto_level;
                mqtt_packet_t ack = {.type = MQTT_CONNACK};
                c->version = lvl == MQTT_V5 ? MQTT_V5 : MQTT_V311;
                ack.u.connack.reason = c->version == MQTT_V5 ? MQTT_RC_UNSUPPORTED_VERSION : MQTT_V3_BAD_VERSION;
                client_send_packet(c, &ack);
            }
            const char *why = rc == IOT_ETOOLARGE ? "packet larger than max_packet_size"
                              : rc == IOT_EUNSUPPORTED ? "unsupported protocol version"
                              : rc == IOT_EPROTO ? "protocol violation"
                              : rc == IOT_ETOPIC ? "invalid topic"
                              : rc == IOT_EUTF8 ? "invalid UTF-8" : "malformed packet";
            client_fail(c, rc, pkt.reason ? pkt.reason : MQTT_RC_MALFORMED, why);
            return n;
        }
        used += (size_t)rc;
        METRIC_INC(msgs_received);
        client_touch(c);
        handle_packet(bw, c, &pkt);
    }
    if (c->disconnecting) return n; /* Nothing after DISCONNECT is read [MQTT-3.14.4-1]. */
    return used;
}

void client_free(client_t *c)
{
    if (c->alias_in) {
        for (uint32_t i = 0; i < c->alias_in_max + 1u; i++) free(c->alias_in[i]);
        free(c->alias_in);
    }
    if (c->alias_out) {
        uint16_t max = c->alias_out_max > 64 ? 64 : c->alias_out_max;
        for (uint16_t i = 0; i < max; i++) free(c->alias_out[i]);
        free(c->alias_out);
    }
    msg_unref(c->will);
    free(c->client_id);
    if (c->ws) mqtt_ws_free(c->ws);
    free(c);
}

void client_on_close(iot_conn_t *conn)
{
    client_t *c = conn->proto;
    bworker_t *bw = bw_of(conn->worker);
    conn->proto = NULL;
    iot_timer_cancel(&conn->worker->loop.wheel, &c->timer);
    route_unthrottle(bw, c);
    atomic_fetch_sub(&broker_g.conn_count, 1);
    c->conn = NULL;
    if (c->state == CS_WAIT_SESSION) {
        /* The session is on its way; the ATTACH task frees c. */
        c->state = CS_ORPHAN;
        return;
    }
    session_t *s = c->session;
    if (c->state == CS_ACTIVE) METRIC_DEC(clients_connected);
    if (c->state == CS_ACTIVE && s) {
        log_debug("client %s disconnected", s->client_id);
        msg_t *will = c->will;
        c->will = NULL;
        if (will && !atomic_load(&broker_g.shutting_down)) {
            /* A delayed will waits in the session, unless the session ends first [MQTT-3.1.3-9]. */
            if (c->will_delay && s->expiry) {
                msg_unref(s->will);
                s->will = will;
                uint32_t d = c->will_delay < s->expiry ? c->will_delay : s->expiry;
                iot_timer_set(&conn->worker->loop.wheel, &s->will_timer, (uint64_t)d * 1000u);
            } else {
                publish_will(bw, will);
            }
        } else {
            msg_unref(will);
        }
        if (s->client == c) session_detach(bw, s);
    }
    if (s) session_unref(s);
    c->session = NULL;
    client_free(c);
}
