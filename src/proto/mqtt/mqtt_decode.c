/*
 * mqtt_decode.c - MQTT 3.1.1 / 5.0 packet decoder (STYLE rules 3, 4, 7).
 *
 * mqtt_decode() reads the fixed header, rejects what it can as soon as it
 * can (reserved type and flags, packet too large), waits until the whole
 * packet is in the buffer, then hands the body to one function per packet
 * type. Each body function reads through the mqtt__rd_* cursor of
 * mqtt_int.h and returns 0 or a negative IOT_E*; a body that is not used up
 * exactly is malformed. The reason code for the broker is filled in at one
 * place, mqtt__reason(). Packets of both directions are decoded: the broker
 * rejects the ones a client must not send, and the bridge decodes the
 * server's.
 */
#include <stddef.h>

#include "proto/mqtt/mqtt_int.h"

/* Reason codes each MQTT 5 packet may carry (MQTT 5.0 sections 3.x.2.1). */
static const uint8_t mqtt__rc_connack[] = {
    0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
    0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F,
};
static const uint8_t mqtt__rc_puback[] = { /* Also PUBREC. */
    0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99,
};
static const uint8_t mqtt__rc_pubrel[] = { 0x00, 0x92 }; /* Also PUBCOMP. */
static const uint8_t mqtt__rc_suback[] = {
    0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2,
};
static const uint8_t mqtt__rc_suback_v3[] = { 0x00, 0x01, 0x02, 0x80 };
static const uint8_t mqtt__rc_unsuback[] = { 0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91 };
static const uint8_t mqtt__rc_disconnect[] = {
    0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94,
    0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2,
};
static const uint8_t mqtt__rc_auth[] = { 0x00, 0x18, 0x19 };

#define MQTT__RC_OK(set, rc) (memchr((set), (rc), sizeof(set)) != NULL)

/* The reason code a broker sends for a decode error (see mqtt.h). */
static uint8_t mqtt__reason(int err)
{
    switch (err) {
    case IOT_EPROTO: return MQTT_RC_PROTOCOL_ERROR;
    case IOT_ETOOLARGE: return MQTT_RC_PACKET_TOO_LARGE;
    case IOT_EUNSUPPORTED: return MQTT_RC_UNSUPPORTED_VERSION;
    case IOT_ETOPIC: return MQTT_RC_TOPIC_NAME_INVALID;
    case IOT_ELIMIT: return MQTT_RC_IMPL_SPECIFIC;
    case IOT_EINVAL: return MQTT_RC_IMPL_SPECIFIC;
    default: return MQTT_RC_MALFORMED; /* IOT_EMALFORMED, IOT_EUTF8. */
    }
}

/*
 * A packet identifier where one is required is non-zero ([MQTT-2.3.1-1] in
 * 3.1.1, [MQTT-2.2.1-3] in 5.0); zero breaks a rule rather than the format.
 */
static int mqtt__rd_packet_id(mqtt__rd_t *r, uint16_t *id)
{
    if (mqtt__rd_u16(r, id))
        return IOT_EMALFORMED;
    return *id ? 0 : IOT_EPROTO;
}

/* Reads the rest of the body as a span. */
static void mqtt__rd_rest(mqtt__rd_t *r, mqtt_str_t *s)
{
    s->len = mqtt__rd_left(r);
    (void)mqtt__rd_take(r, s->len, &s->p);
}

/*
 * CONNECT (section 3.1 of both specs). It is decoded by its own protocol
 * level, whatever the connection's version, so a second CONNECT decodes too.
 */
static int mqtt__dec_connect(mqtt__rd_t *r, mqtt_connect_t *c)
{
    mqtt_str_t name;
    uint8_t level, flags;
    int rc;

    if (mqtt__rd_bin(r, &name) || mqtt__rd_u8(r, &level))
        return IOT_EMALFORMED;
    c->proto_level = level;
    /*
     * "MQTT" at level 4 or 5 only [MQTT-3.1.2-1], [MQTT-3.1.2-2]: MQTT 3.1's
     * "MQIsdp"/3 and anything else get CONNACK 0x84 (v5) or 0x01 (v3).
     */
    if (name.len != 4 || memcmp(name.p, "MQTT", 4) != 0 ||
        (level != MQTT_V311 && level != MQTT_V5))
        return IOT_EUNSUPPORTED;
    if (mqtt__rd_u8(r, &flags) || mqtt__rd_u16(r, &c->keepalive))
        return IOT_EMALFORMED;
    if (flags & 0x01)
        return IOT_EMALFORMED; /* Reserved flag [MQTT-3.1.2-3]. */
    c->clean = (flags >> 1) & 1;
    c->will_flag = (flags >> 2) & 1;
    c->will_qos = (flags >> 3) & 3;
    c->will_retain = (flags >> 5) & 1;
    c->has_password = (flags >> 6) & 1;
    c->has_username = (flags >> 7) & 1;
    /* 3.1.1 [MQTT-3.1.2-13], [MQTT-3.1.2-15]; 5.0 [MQTT-3.1.2-11], [MQTT-3.1.2-13]. */
    if (!c->will_flag && (c->will_qos || c->will_retain))
        return IOT_EMALFORMED;
    if (c->will_qos == 3)
        return IOT_EMALFORMED; /* 3.1.1 [MQTT-3.1.2-14], 5.0 [MQTT-3.1.2-12]. */
    if (level == MQTT_V311 && c->has_password && !c->has_username)
        return IOT_EMALFORMED; /* [MQTT-3.1.2-22]; 5.0 allows it. */
    if (level == MQTT_V5 && (rc = mqtt__props_decode(r, MQTT_CONNECT, &c->props)) != 0)
        return rc;
    /* The client id's content is the broker's business; here only UTF-8 [MQTT-3.1.3-4]. */
    if ((rc = mqtt__rd_utf8(r, &c->client_id)) != 0)
        return rc;
    if (c->will_flag) {
        if (level == MQTT_V5 &&
            (rc = mqtt__props_decode(r, MQTT__CTX_WILL, &c->will_props)) != 0)
            return rc;
        if ((rc = mqtt__rd_utf8(r, &c->will_topic)) != 0)
            return rc;
        if (mqtt__rd_bin(r, &c->will_payload))
            return IOT_EMALFORMED;
    }
    if (c->has_username && (rc = mqtt__rd_utf8(r, &c->username)) != 0)
        return rc;
    if (c->has_password && mqtt__rd_bin(r, &c->password))
        return IOT_EMALFORMED;
    /* The will topic is a topic name (CONNACK 0x90 in 5.0). Checked last so
     * that a malformed packet is reported as such first. */
    if (c->will_flag && !mqtt_topic_name_valid(c->will_topic.p, c->will_topic.len))
        return IOT_ETOPIC;
    return 0;
}

/* CONNACK: flags, return/reason code, then v5 properties. */
static int mqtt__dec_connack(mqtt__rd_t *r, int version, mqtt_connack_t *c)
{
    uint8_t flags;

    if (mqtt__rd_u8(r, &flags) || mqtt__rd_u8(r, &c->reason))
        return IOT_EMALFORMED;
    if (flags & 0xFE)
        return IOT_EMALFORMED; /* Reserved bits 7-1 (5.0 [MQTT-3.2.2-1]). */
    c->session_present = flags & 1;
    if (version == MQTT_V5 ? !MQTT__RC_OK(mqtt__rc_connack, c->reason) : c->reason > 5)
        return IOT_EPROTO;
    /* Session present is 0 on a refusal (3.1.1 [MQTT-3.2.2-4], 5.0 [MQTT-3.2.2-6]). */
    if (c->session_present && c->reason != 0)
        return IOT_EPROTO;
    if (version == MQTT_V5)
        return mqtt__props_decode(r, MQTT_CONNACK, &c->props);
    return 0;
}

/*
 * PUBLISH. Fixed header flags were checked by mqtt__check_header(). The
 * topic is validated after the properties because in 5.0 an empty topic is
 * allowed with a topic alias (section 3.3.2.3.4).
 */
static int mqtt__dec_publish(mqtt__rd_t *r, int version, uint8_t flags, mqtt_publish_t *p)
{
    int rc;

    p->dup = (flags >> 3) & 1;
    p->qos = (flags >> 1) & 3;
    p->retain = flags & 1;
    if ((rc = mqtt__rd_utf8(r, &p->topic)) != 0)
        return rc;
    if (p->qos && (rc = mqtt__rd_packet_id(r, &p->packet_id)) != 0)
        return rc;
    if (version == MQTT_V5 && (rc = mqtt__props_decode(r, MQTT_PUBLISH, &p->props)) != 0)
        return rc;
    /* A topic alias of 0 is a protocol error [MQTT-3.3.2-8] with its own
     * reason code, 0x94 (set in mqtt_decode's fail path). */
    if ((p->props.present & MQTT_P_TOPIC_ALIAS) && p->props.topic_alias == 0)
        return IOT_EPROTO;
    /* In 5.0 an empty topic without an alias is a protocol error. */
    if (version == MQTT_V5 && p->topic.len == 0 && !(p->props.present & MQTT_P_TOPIC_ALIAS))
        return IOT_EPROTO;
    if (!mqtt_topic_name_valid(p->topic.p, p->topic.len) &&
        !(version == MQTT_V5 && p->topic.len == 0 &&
          (p->props.present & MQTT_P_TOPIC_ALIAS)))
        return IOT_ETOPIC; /* [MQTT-3.3.2-2], [MQTT-4.7.3-1]. */
    mqtt__rd_rest(r, &p->payload);
    return 0;
}

/*
 * PUBACK, PUBREC, PUBREL, PUBCOMP. In 5.0 the reason code and the
 * properties may be left out (remaining length 2 or 3): the reason is then
 * 0 and there are no properties (section 3.4.2.1).
 */
static int mqtt__dec_ack(mqtt__rd_t *r, int version, int type, mqtt_ack_t *a)
{
    int rc;

    if ((rc = mqtt__rd_packet_id(r, &a->packet_id)) != 0)
        return rc;
    if (version != MQTT_V5 || mqtt__rd_left(r) == 0)
        return 0;
    (void)mqtt__rd_u8(r, &a->reason);
    if (type == MQTT_PUBACK || type == MQTT_PUBREC ? !MQTT__RC_OK(mqtt__rc_puback, a->reason)
                                                   : !MQTT__RC_OK(mqtt__rc_pubrel, a->reason))
        return IOT_EPROTO;
    if (mqtt__rd_left(r) == 0)
        return 0;
    return mqtt__props_decode(r, type, &a->props);
}

/*
 * SUBSCRIBE (with_opts = 1) and UNSUBSCRIBE. The list must hold at least
 * one entry (3.1.1 [MQTT-3.8.3-3], [MQTT-3.10.3-2]; 5.0 [MQTT-3.8.3-2],
 * [MQTT-3.10.3-2]); each filter is UTF-8 and well-formed. A filter with bad
 * wildcards is treated as malformed in both versions: 3.1.1 clients expect
 * the connection to be closed, and 5.0 lets the server choose.
 */
static int mqtt__dec_subscribe(mqtt__rd_t *r, int version, int type, mqtt_subscribe_t *s)
{
    mqtt_str_t filter;
    uint8_t opts;
    size_t count = 0;
    int rc;

    if ((rc = mqtt__rd_packet_id(r, &s->packet_id)) != 0)
        return rc;
    if (version == MQTT_V5 && (rc = mqtt__props_decode(r, type, &s->props)) != 0)
        return rc;
    s->list.p = r->p;
    s->list.len = mqtt__rd_left(r);
    if (s->list.len == 0)
        return IOT_EPROTO;
    while (mqtt__rd_left(r)) {
        if ((rc = mqtt__rd_utf8(r, &filter)) != 0)
            return rc;
        if (!mqtt_topic_filter_valid(filter.p, filter.len))
            return IOT_EMALFORMED;
        if (type == MQTT_SUBSCRIBE) {
            if (mqtt__rd_u8(r, &opts))
                return IOT_EMALFORMED;
            if ((opts & MQTT_SUBOPT_QOS_MASK) == 3)
                return IOT_EMALFORMED; /* 3.1.1 [MQTT-3-8.3-4], 5.0 [MQTT-3.8.3-5]. */
            /* Reserved bits: 7-2 in 3.1.1 [MQTT-3-8.3-4], 7-6 in 5.0 [MQTT-3.8.3-5]. */
            if (opts & (version == MQTT_V5 ? 0xC0 : 0xFC))
                return IOT_EMALFORMED;
            if (((opts >> MQTT_SUBOPT_RH_SHIFT) & 3) == 3)
                return IOT_EPROTO; /* Retain handling 3 (section 3.8.3.1). */
            /* No Local on a shared subscription [MQTT-3.8.3-4] (5.0). */
            if ((opts & MQTT_SUBOPT_NO_LOCAL) && filter.len >= 7 &&
                memcmp(filter.p, "$share/", 7) == 0)
                return IOT_EPROTO;
        }
        /* mqtt_subscribe_t counts in 16 bits; more is far past any real use. */
        if (++count > UINT16_MAX)
            return IOT_ELIMIT;
    }
    s->count = (uint16_t)count;
    return 0;
}

/*
 * SUBACK and UNSUBACK: one reason code per filter of the request. A 3.1.1
 * UNSUBACK holds only the packet id (remaining length 2, section 3.11.1).
 */
static int mqtt__dec_suback(mqtt__rd_t *r, int version, int type, mqtt_suback_t *s)
{
    mqtt_str_t codes;
    mqtt__rd_t c;
    uint8_t rc8;
    int rc;

    if ((rc = mqtt__rd_packet_id(r, &s->packet_id)) != 0)
        return rc;
    if (type == MQTT_UNSUBACK && version != MQTT_V5)
        return 0;
    if (version == MQTT_V5 && (rc = mqtt__props_decode(r, type, &s->props)) != 0)
        return rc;
    mqtt__rd_rest(r, &codes);
    if (codes.len == 0)
        return IOT_EPROTO;
    if (codes.len > UINT16_MAX)
        return IOT_ELIMIT;
    c = mqtt__rd_span(codes.p, codes.len);
    while (mqtt__rd_u8(&c, &rc8) == 0) {
        if (type == MQTT_UNSUBACK ? !MQTT__RC_OK(mqtt__rc_unsuback, rc8)
            : version == MQTT_V5  ? !MQTT__RC_OK(mqtt__rc_suback, rc8)
                                  : !MQTT__RC_OK(mqtt__rc_suback_v3, rc8))
            return IOT_EPROTO; /* 3.1.1 [MQTT-3.9.3-2]; 5.0 section 3.9.3. */
    }
    s->codes = codes.p;
    s->count = (uint16_t)codes.len;
    return 0;
}

/*
 * DISCONNECT and AUTH (5.0): an empty body means reason 0 and no
 * properties. A DISCONNECT may also stop after its reason code (section
 * 3.14.2.2.1, "less than 2"); AUTH grants only the empty form (section
 * 3.15.2.1), so after its reason code the property length must follow. In
 * 3.1.1 DISCONNECT is empty and AUTH does not exist.
 */
static int mqtt__dec_disconnect(mqtt__rd_t *r, int version, int type, mqtt_disconnect_t *d)
{
    if (version != MQTT_V5 || mqtt__rd_left(r) == 0)
        return 0;
    (void)mqtt__rd_u8(r, &d->reason);
    if (type == MQTT_AUTH ? !MQTT__RC_OK(mqtt__rc_auth, d->reason)
                          : !MQTT__RC_OK(mqtt__rc_disconnect, d->reason))
        return IOT_EPROTO;
    if (mqtt__rd_left(r) == 0 && type == MQTT_DISCONNECT)
        return 0;
    return mqtt__props_decode(r, type, &d->props);
}

/*
 * Checks what the first byte alone tells: the type exists in this version,
 * only CONNECT comes first, and the flags are the ones the type requires
 * [MQTT-2.2.2-1], [MQTT-2.2.2-2]. PUBLISH with QoS 3 is malformed
 * [MQTT-3.3.1-4], and so is DUP on QoS 0 [MQTT-3.3.1-2].
 */
static int mqtt__check_header(int version, uint8_t type, uint8_t flags)
{
    uint8_t qos;

    if (type == 0 || (type == MQTT_AUTH && version != MQTT_V5 && version != 0))
        return IOT_EMALFORMED;
    if (version == 0 && type != MQTT_CONNECT)
        return IOT_EPROTO; /* [MQTT-3.1.0-1]. */
    switch (type) {
    case MQTT_PUBLISH:
        qos = (flags >> 1) & 3;
        if (qos == 3 || (qos == 0 && (flags & 0x08)))
            return IOT_EMALFORMED;
        return 0;
    case MQTT_PUBREL:
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        return flags == 0x02 ? 0 : IOT_EMALFORMED;
    default:
        return flags == 0 ? 0 : IOT_EMALFORMED;
    }
}

int mqtt_decode(const uint8_t *buf, size_t len, int version, size_t max_size,
                mqtt_packet_t *pkt)
{
    mqtt__rd_t r = mqtt__rd_span(buf, len);
    mqtt__rd_t body;
    const uint8_t *bp;
    uint32_t rl;
    uint8_t b0;
    size_t total;
    int rc;

    /* Of the union (over 700 bytes: CONNECT has two property sets) only the
     * member in use is zeroed, below. */
    memset(pkt, 0, offsetof(mqtt_packet_t, u));
    if (version != 0 && version != MQTT_V311 && version != MQTT_V5) {
        rc = IOT_EINVAL;
        goto fail;
    }
    if (mqtt__rd_u8(&r, &b0))
        return IOT_EAGAIN;
    pkt->type = b0 >> 4;
    pkt->flags = b0 & 0x0F;
    if ((rc = mqtt__check_header(version, pkt->type, pkt->flags)) != 0)
        goto fail;
    rc = mqtt__rd_varint(&r, &rl);
    if (rc == IOT_EAGAIN)
        return rc;
    if (rc != 0)
        goto fail;
    total = (size_t)(r.p - buf) + rl;
    /* Refuse before the body arrives: the broker need not buffer it. */
    if (max_size != 0 && total > max_size) {
        rc = IOT_ETOOLARGE;
        goto fail;
    }
    if (mqtt__rd_take(&r, rl, &bp))
        return IOT_EAGAIN;
    pkt->size = (uint32_t)total;
    body = mqtt__rd_span(bp, rl);

    switch (pkt->type) {
    case MQTT_CONNECT:
        memset(&pkt->u.connect, 0, sizeof pkt->u.connect);
        rc = mqtt__dec_connect(&body, &pkt->u.connect);
        break;
    case MQTT_CONNACK:
        memset(&pkt->u.connack, 0, sizeof pkt->u.connack);
        rc = mqtt__dec_connack(&body, version, &pkt->u.connack);
        break;
    case MQTT_PUBLISH:
        memset(&pkt->u.publish, 0, sizeof pkt->u.publish);
        rc = mqtt__dec_publish(&body, version, pkt->flags, &pkt->u.publish);
        break;
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
        memset(&pkt->u.ack, 0, sizeof pkt->u.ack);
        rc = mqtt__dec_ack(&body, version, pkt->type, &pkt->u.ack);
        break;
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        memset(&pkt->u.subscribe, 0, sizeof pkt->u.subscribe);
        rc = mqtt__dec_subscribe(&body, version, pkt->type, &pkt->u.subscribe);
        break;
    case MQTT_SUBACK:
    case MQTT_UNSUBACK:
        memset(&pkt->u.suback, 0, sizeof pkt->u.suback);
        rc = mqtt__dec_suback(&body, version, pkt->type, &pkt->u.suback);
        break;
    case MQTT_DISCONNECT:
    case MQTT_AUTH:
        memset(&pkt->u.disconnect, 0, sizeof pkt->u.disconnect);
        rc = mqtt__dec_disconnect(&body, version, pkt->type, &pkt->u.disconnect);
        break;
    default: /* PINGREQ, PINGRESP: no body. */
        break;
    }
    /* Bytes left inside the remaining length are malformed (e.g. a PINGREQ
     * with remaining length 1, a CONNECT with extra bytes). */
    if (rc == 0 && mqtt__rd_left(&body) != 0)
        rc = IOT_EMALFORMED;
    if (rc != 0)
        goto fail;
    return (int)total;

fail:
    pkt->reason = mqtt__reason(rc);
    if (rc == IOT_EPROTO && pkt->type == MQTT_PUBLISH && (pkt->u.publish.props.present & MQTT_P_TOPIC_ALIAS) &&
        pkt->u.publish.props.topic_alias == 0)
        pkt->reason = MQTT_RC_TOPIC_ALIAS_INVALID;
    return rc;
}

int mqtt_sub_next(const mqtt_subscribe_t *s, int with_opts, size_t *pos,
                  mqtt_str_t *filter, uint8_t *opts)
{
    mqtt__rd_t r;
    uint8_t o = 0;

    if (*pos >= s->list.len)
        return 0;
    r = mqtt__rd_span(s->list.p + *pos, s->list.len - *pos);
    if (mqtt__rd_bin(&r, filter) || (with_opts && mqtt__rd_u8(&r, &o)))
        return 0;
    if (opts != NULL)
        *opts = o;
    *pos = (size_t)(r.p - s->list.p);
    return 1;
}
