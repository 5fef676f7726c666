/*
 * mqtt_fuzz.c - libFuzzer target for the MQTT codec (calls the codec only).
 *
 * The input is decoded as a stream of packets for each connection state
 * (before CONNECT, 3.1.1, 5.0). Each packet that decodes is re-encoded,
 * and the encoding must decode again to the same size, type and encoding:
 * encode(decode(encode(decode(x)))) == encode(decode(x)). Every prefix
 * shorter than a decoded packet is also tried on the first one, which
 * must ask for more.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/mqtt/mqtt.h"

#define CHECK(c) \
    do { \
        if (!(c)) \
            abort(); \
    } while (0)

static uint8_t out1[1 << 17];
static uint8_t out2[1 << 17];

static int same_str(mqtt_str_t a, mqtt_str_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* The properties a 5.0 packet carries, compared field by field. */
static void same_props(const mqtt_props_t *a, const mqtt_props_t *b)
{
    mqtt_str_t ka, va, kb, vb;
    size_t pa = 0, pb = 0;
    int ra, rb;

    CHECK(a->present == b->present);
    CHECK(a->payload_format == b->payload_format && a->message_expiry == b->message_expiry);
    CHECK(a->session_expiry == b->session_expiry && a->will_delay == b->will_delay);
    CHECK(a->receive_max == b->receive_max && a->topic_alias == b->topic_alias);
    CHECK(a->topic_alias_max == b->topic_alias_max && a->max_packet_size == b->max_packet_size);
    CHECK(a->max_qos == b->max_qos && a->server_keepalive == b->server_keepalive);
    CHECK(same_str(a->content_type, b->content_type));
    CHECK(same_str(a->response_topic, b->response_topic));
    CHECK(same_str(a->correlation_data, b->correlation_data));
    CHECK(same_str(a->auth_method, b->auth_method) && same_str(a->auth_data, b->auth_data));
    CHECK(same_str(a->reason_string, b->reason_string));
    CHECK(a->user_count == b->user_count && a->sub_id_count == b->sub_id_count);
    CHECK(memcmp(a->sub_ids, b->sub_ids, sizeof a->sub_ids[0] * a->sub_id_count) == 0);
    do {
        ra = mqtt_user_props_next(a, &pa, &ka, &va);
        rb = mqtt_user_props_next(b, &pb, &kb, &vb);
        CHECK(ra == rb);
        CHECK(!ra || (same_str(ka, kb) && same_str(va, vb)));
    } while (ra);
}

/* Decoding the encoding of p gives p back, field by field. */
static void same_packet(const mqtt_packet_t *p, const mqtt_packet_t *q)
{
    const mqtt_connect_t *a = &p->u.connect, *b = &q->u.connect;

    CHECK(p->type == q->type && p->flags == q->flags);
    switch (p->type) {
    case MQTT_CONNECT:
        CHECK(a->proto_level == b->proto_level && a->clean == b->clean);
        CHECK(a->will_flag == b->will_flag && a->will_qos == b->will_qos);
        CHECK(a->will_retain == b->will_retain && a->keepalive == b->keepalive);
        CHECK(a->has_username == b->has_username && a->has_password == b->has_password);
        CHECK(same_str(a->client_id, b->client_id) && same_str(a->will_topic, b->will_topic));
        CHECK(same_str(a->will_payload, b->will_payload));
        CHECK(same_str(a->username, b->username) && same_str(a->password, b->password));
        same_props(&a->props, &b->props);
        same_props(&a->will_props, &b->will_props);
        break;
    case MQTT_CONNACK:
        CHECK(p->u.connack.session_present == q->u.connack.session_present);
        CHECK(p->u.connack.reason == q->u.connack.reason);
        same_props(&p->u.connack.props, &q->u.connack.props);
        break;
    case MQTT_PUBLISH:
        CHECK(p->u.publish.packet_id == q->u.publish.packet_id);
        CHECK(same_str(p->u.publish.topic, q->u.publish.topic));
        CHECK(same_str(p->u.publish.payload, q->u.publish.payload));
        same_props(&p->u.publish.props, &q->u.publish.props);
        break;
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
        CHECK(p->u.ack.packet_id == q->u.ack.packet_id && p->u.ack.reason == q->u.ack.reason);
        same_props(&p->u.ack.props, &q->u.ack.props);
        break;
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        CHECK(p->u.subscribe.packet_id == q->u.subscribe.packet_id);
        CHECK(p->u.subscribe.count == q->u.subscribe.count);
        CHECK(same_str(p->u.subscribe.list, q->u.subscribe.list));
        same_props(&p->u.subscribe.props, &q->u.subscribe.props);
        break;
    case MQTT_SUBACK:
    case MQTT_UNSUBACK:
        CHECK(p->u.suback.packet_id == q->u.suback.packet_id);
        CHECK(p->u.suback.count == q->u.suback.count);
        CHECK(p->u.suback.count == 0 ||
              memcmp(p->u.suback.codes, q->u.suback.codes, p->u.suback.count) == 0);
        same_props(&p->u.suback.props, &q->u.suback.props);
        break;
    case MQTT_DISCONNECT:
    case MQTT_AUTH:
        CHECK(p->u.disconnect.reason == q->u.disconnect.reason);
        same_props(&p->u.disconnect.props, &q->u.disconnect.props);
        break;
    default:
        break;
    }
}

/* Re-encodes p and checks the round trip; aborts on a fault. */
static void roundtrip(int version, const mqtt_packet_t *p)
{
    mqtt_packet_t q;
    int ev = p->type == MQTT_CONNECT ? p->u.connect.proto_level : version;
    size_t n, m;
    int rc;

    n = mqtt_encode_size(ev, p);
    CHECK(n > 0);
    if (n > sizeof out1)
        return;
    CHECK(mqtt_encode(out1, sizeof out1, ev, p) == n);
    rc = mqtt_decode(out1, n, version, 0, &q);
    CHECK(rc == (int)n);
    CHECK(n <= p->size); /* Only the 5.0 long forms of acks shrink. */
    same_packet(p, &q);
    m = mqtt_encode_size(ev, &q);
    CHECK(m == n);
    CHECK(mqtt_encode(out2, sizeof out2, ev, &q) == m);
    CHECK(memcmp(out1, out2, n) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int versions[] = { 0, MQTT_V311, MQTT_V5 };
    mqtt_packet_t p;
    size_t i, off, k;
    int rc, first;

    for (i = 0; i < sizeof versions / sizeof versions[0]; i++) {
        off = 0;
        first = 1;
        while (off < size) {
            rc = mqtt_decode(data + off, size - off, versions[i], 0, &p);
            if (rc <= 0) {
                CHECK(rc != 0);
                break;
            }
            CHECK((size_t)rc <= size - off && p.size == (uint32_t)rc);
            roundtrip(versions[i], &p);
            if (first) {
                for (k = 0; k < (size_t)rc; k++)
                    CHECK(mqtt_decode(data, k, versions[i], 0, &p) == IOT_EAGAIN);
                first = 0;
            }
            off += (size_t)rc;
            /* Before CONNECT only one packet; then the connection's version. */
            if (versions[i] == 0)
                break;
        }
    }
    return 0;
}
