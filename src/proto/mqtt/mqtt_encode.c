/*
 * mqtt_encode.c - MQTT 3.1.1 / 5.0 packet encoder.
 *
 * mqtt__body() is written once and run twice: with w == NULL it only
 * counts, for mqtt_encode_size(); with a writer it writes, for
 * mqtt_encode(). Both passes take the same branches, so the size is exact
 * by construction, and mqtt_encode() asserts that it is. For 3.1.1 the
 * properties and the 5.0-only fields (reason codes of acks and DISCONNECT,
 * subscription option bits above QoS) are left out; SUBACK codes are copied
 * as they are.
 */
#include "proto/mqtt/mqtt_int.h"

/*
 * The measuring writer: counts bytes when w is NULL, writes otherwise.
 * *size turns SIZE_MAX when a field cannot be encoded.
 */
typedef struct mqtt__out {
    mqtt__wr_t *w;  /* NULL while measuring. */
    size_t size;    /* Bytes counted or written so far. */
} mqtt__out_t;

static void mqtt__o_u8(mqtt__out_t *o, uint8_t v)
{
    o->size = mqtt__add(o->size, 1);
    if (o->w)
        mqtt__wr_u8(o->w, v);
}

static void mqtt__o_u16(mqtt__out_t *o, uint16_t v)
{
    o->size = mqtt__add(o->size, 2);
    if (o->w)
        mqtt__wr_u16(o->w, v);
}

static void mqtt__o_bytes(mqtt__out_t *o, const uint8_t *p, size_t n)
{
    o->size = mqtt__add(o->size, n);
    if (o->w)
        mqtt__wr_bytes(o->w, p, n);
}

static void mqtt__o_str(mqtt__out_t *o, mqtt_str_t s)
{
    o->size = mqtt__add(o->size, mqtt__str_size(s));
    if (o->w)
        mqtt__wr_str(o->w, s);
}

/* A property block with its length: its content is counted on both passes. */
static void mqtt__o_props(mqtt__out_t *o, int ctx, const mqtt_props_t *pr)
{
    size_t content = mqtt__props_size(ctx, pr);

    if (content == SIZE_MAX || content > MQTT_MAX_REMAINING) {
        o->size = SIZE_MAX;
        return;
    }
    o->size = mqtt__add(o->size, mqtt__varint_size((uint32_t)content) + content);
    if (o->w)
        mqtt__props_write(o->w, ctx, pr, content);
}

/* Content size of props for ctx, 0 where there are none to send. */
static size_t mqtt__props_content(int ctx, const mqtt_props_t *pr)
{
    return pr->present ? mqtt__props_size(ctx, pr) : 0;
}

static void mqtt__body_connect(mqtt__out_t *o, int version, const mqtt_connect_t *c)
{
    static const uint8_t name[] = { 0, 4, 'M', 'Q', 'T', 'T' };
    uint8_t flags = 0;

    mqtt__o_bytes(o, name, sizeof name);
    mqtt__o_u8(o, (uint8_t)version);
    if (c->clean)
        flags |= 0x02;
    if (c->will_flag)
        flags |= (uint8_t)(0x04 | (c->will_qos & 3) << 3 | (c->will_retain ? 0x20 : 0));
    if (c->has_password)
        flags |= 0x40;
    if (c->has_username)
        flags |= 0x80;
    mqtt__o_u8(o, flags);
    mqtt__o_u16(o, c->keepalive);
    if (version == MQTT_V5)
        mqtt__o_props(o, MQTT_CONNECT, &c->props);
    mqtt__o_str(o, c->client_id);
    if (c->will_flag) {
        if (version == MQTT_V5)
            mqtt__o_props(o, MQTT__CTX_WILL, &c->will_props);
        mqtt__o_str(o, c->will_topic);
        mqtt__o_str(o, c->will_payload);
    }
    if (c->has_username)
        mqtt__o_str(o, c->username);
    if (c->has_password)
        mqtt__o_str(o, c->password);
}

/*
 * PUBACK/PUBREC/PUBREL/PUBCOMP, and DISCONNECT/AUTH (no packet id). 5.0
 * uses the short forms: nothing after the packet id (or an empty body) for
 * reason 0 without properties, the reason alone (no property length) for
 * acks and DISCONNECT without properties. AUTH always carries the property
 * length after a reason code.
 */
static void mqtt__body_reason(mqtt__out_t *o, int version, int type, uint8_t reason,
                              const mqtt_props_t *pr)
{
    size_t content;

    if (version != MQTT_V5)
        return;
    content = mqtt__props_content(type, pr);
    if (reason == 0 && content == 0)
        return;
    mqtt__o_u8(o, reason);
    if (content != 0 || type == MQTT_AUTH)
        mqtt__o_props(o, type, pr);
}

/*
 * SUBSCRIBE and UNSUBSCRIBE entries, walked with mqtt_sub_next() so that
 * 3.1.1 keeps only the QoS bits of the options; a list that does not parse
 * to its end is cut at the last whole entry on both passes alike.
 */
static void mqtt__body_sublist(mqtt__out_t *o, int version, int type,
                               const mqtt_subscribe_t *s)
{
    int with_opts = type == MQTT_SUBSCRIBE;
    mqtt_str_t filter;
    size_t pos = 0;
    uint8_t opts;

    while (mqtt_sub_next(s, with_opts, &pos, &filter, &opts)) {
        mqtt__o_str(o, filter);
        if (with_opts)
            mqtt__o_u8(o, version == MQTT_V5 ? opts : opts & MQTT_SUBOPT_QOS_MASK);
    }
}

/* Fills o with the body of pkt (the bytes after the remaining length). */
static void mqtt__body(mqtt__out_t *o, int version, const mqtt_packet_t *pkt)
{
    const mqtt_publish_t *p;
    const mqtt_suback_t *sa;

    switch (pkt->type) {
    case MQTT_CONNECT:
        mqtt__body_connect(o, version, &pkt->u.connect);
        break;
    case MQTT_CONNACK:
        mqtt__o_u8(o, pkt->u.connack.session_present ? 1 : 0);
        mqtt__o_u8(o, pkt->u.connack.reason);
        if (version == MQTT_V5)
            mqtt__o_props(o, MQTT_CONNACK, &pkt->u.connack.props);
        break;
    case MQTT_PUBLISH:
        p = &pkt->u.publish;
        mqtt__o_str(o, p->topic);
        if (p->qos)
            mqtt__o_u16(o, p->packet_id);
        if (version == MQTT_V5)
            mqtt__o_props(o, MQTT_PUBLISH, &p->props);
        mqtt__o_bytes(o, p->payload.p, p->payload.len);
        break;
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
        mqtt__o_u16(o, pkt->u.ack.packet_id);
        mqtt__body_reason(o, version, pkt->type, pkt->u.ack.reason, &pkt->u.ack.props);
        break;
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        mqtt__o_u16(o, pkt->u.subscribe.packet_id);
        if (version == MQTT_V5)
            mqtt__o_props(o, pkt->type, &pkt->u.subscribe.props);
        mqtt__body_sublist(o, version, pkt->type, &pkt->u.subscribe);
        break;
    case MQTT_SUBACK:
    case MQTT_UNSUBACK:
        sa = &pkt->u.suback;
        mqtt__o_u16(o, sa->packet_id);
        if (pkt->type == MQTT_UNSUBACK && version != MQTT_V5)
            break; /* 3.1.1 UNSUBACK: packet id only. */
        if (version == MQTT_V5)
            mqtt__o_props(o, pkt->type, &sa->props);
        mqtt__o_bytes(o, sa->codes, sa->count);
        break;
    case MQTT_PINGREQ:
    case MQTT_PINGRESP:
        break;
    case MQTT_DISCONNECT:
        mqtt__body_reason(o, version, pkt->type, pkt->u.disconnect.reason,
                          &pkt->u.disconnect.props);
        break;
    case MQTT_AUTH:
        if (version != MQTT_V5) {
            o->size = SIZE_MAX; /* No AUTH in 3.1.1. */
            break;
        }
        mqtt__body_reason(o, version, pkt->type, pkt->u.disconnect.reason,
                          &pkt->u.disconnect.props);
        break;
    default:
        o->size = SIZE_MAX;
        break;
    }
}

/* The low nibble of the first byte: set by the type, or the PUBLISH bits. */
static uint8_t mqtt__first_byte(const mqtt_packet_t *pkt)
{
    const mqtt_publish_t *p = &pkt->u.publish;
    uint8_t flags = 0;

    switch (pkt->type) {
    case MQTT_PUBLISH:
        /* DUP stays 0 on QoS 0 [MQTT-3.3.1-2], whatever the caller set. */
        flags = (uint8_t)((p->dup && p->qos ? 0x08 : 0) | (p->qos & 3) << 1 |
                          (p->retain ? 1 : 0));
        break;
    case MQTT_PUBREL:
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        flags = 0x02; /* [MQTT-3.6.1-1], [MQTT-3.8.1-1], [MQTT-3.10.1-1]. */
        break;
    default:
        break;
    }
    return (uint8_t)(pkt->type << 4 | flags);
}

/* Body size of pkt, or SIZE_MAX when it cannot be encoded. */
static size_t mqtt__body_size(int version, const mqtt_packet_t *pkt)
{
    mqtt__out_t o = { NULL, 0 };

    if (version != MQTT_V311 && version != MQTT_V5)
        return SIZE_MAX;
    mqtt__body(&o, version, pkt);
    return o.size;
}

size_t mqtt_encode_size(int version, const mqtt_packet_t *pkt)
{
    size_t body = mqtt__body_size(version, pkt);

    if (body == SIZE_MAX || body > MQTT_MAX_REMAINING)
        return 0;
    return 1 + mqtt__varint_size((uint32_t)body) + body;
}

size_t mqtt_encode(uint8_t *out, size_t cap, int version, const mqtt_packet_t *pkt)
{
    size_t body = mqtt__body_size(version, pkt);
    size_t total;
    mqtt__wr_t w;
    mqtt__out_t o;

    assert(body != SIZE_MAX && body <= MQTT_MAX_REMAINING);
    if (body == SIZE_MAX || body > MQTT_MAX_REMAINING)
        return 0; /* Release builds: write nothing rather than overrun. */
    total = 1 + mqtt__varint_size((uint32_t)body) + body;
    assert(cap >= total);
    if (cap < total)
        return 0;
    w.p = out;
    w.end = out + total;
    mqtt__wr_u8(&w, mqtt__first_byte(pkt));
    mqtt__wr_varint(&w, (uint32_t)body);
    o.w = &w;
    o.size = 0;
    mqtt__body(&o, version, pkt);
    assert(o.size == body && w.p == w.end);
    return total;
}
