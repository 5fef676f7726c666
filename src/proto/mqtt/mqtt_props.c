/*
 * mqtt_props.c - MQTT 5.0 properties (section 2.2.2): one table that says,
 * for each property identifier, its data type, its mqtt_props_t field, the
 * packets it may appear in and its value rules. The decoder checks a
 * property block against it; the encoder walks it in order, so properties
 * always go out in the same, identifier-sorted order.
 */
#include <stddef.h>

#include "proto/mqtt/mqtt_int.h"

/* Data types of property values (MQTT 5.0 section 1.5). */
enum mqtt__ptype {
    MQTT__PT_BYTE,   /* Byte; every byte property is a 0/1 flag or max QoS 0/1. */
    MQTT__PT_U16,    /* Two Byte Integer. */
    MQTT__PT_U32,    /* Four Byte Integer. */
    MQTT__PT_VARINT, /* Variable Byte Integer: only the subscription identifier. */
    MQTT__PT_UTF8,   /* UTF-8 Encoded String. */
    MQTT__PT_BIN,    /* Binary Data. */
    MQTT__PT_PAIR,   /* UTF-8 String Pair: only the user property. */
};

/* Value rules beyond the data type. */
#define MQTT__PF_NONZERO 0x01 /* Zero is a protocol error. */
#define MQTT__PF_TOPIC 0x02   /* Must be a valid topic name (response topic). */

/* Context bits: 1 << packet type, and bit 0 for the will properties. */
#define C(t) (1u << (t))
#define CW C(MQTT__CTX_WILL)
#define CACKS (C(MQTT_PUBACK) | C(MQTT_PUBREC) | C(MQTT_PUBREL) | C(MQTT_PUBCOMP))
#define CALL 0xFFFFu /* The user property: every packet and the will. */

typedef struct mqtt__pdef {
    uint8_t id;        /* Property identifier. */
    uint8_t type;      /* enum mqtt__ptype. */
    uint8_t rules;     /* MQTT__PF_* bits. */
    uint16_t ctx;      /* Contexts (C bits) the property may appear in. */
    uint32_t bit;      /* Its MQTT_P_* bit in mqtt_props_t.present. */
    uint16_t off;      /* offsetof its value in mqtt_props_t (scalars, strings). */
} mqtt__pdef_t;

#define P(id, type, rules, ctx, bit, field) \
    { id, type, rules, (uint16_t)(ctx), bit, (uint16_t)offsetof(mqtt_props_t, field) }

/* MQTT 5.0 table 2-4, sorted by identifier; the encoder writes in this order. */
static const mqtt__pdef_t mqtt__pdefs[] = {
    P(0x01, MQTT__PT_BYTE, 0, C(MQTT_PUBLISH) | CW, MQTT_P_PAYLOAD_FORMAT, payload_format),
    P(0x02, MQTT__PT_U32, 0, C(MQTT_PUBLISH) | CW, MQTT_P_MESSAGE_EXPIRY, message_expiry),
    P(0x03, MQTT__PT_UTF8, 0, C(MQTT_PUBLISH) | CW, MQTT_P_CONTENT_TYPE, content_type),
    P(0x08, MQTT__PT_UTF8, MQTT__PF_TOPIC, C(MQTT_PUBLISH) | CW, MQTT_P_RESPONSE_TOPIC,
      response_topic),
    P(0x09, MQTT__PT_BIN, 0, C(MQTT_PUBLISH) | CW, MQTT_P_CORRELATION_DATA, correlation_data),
    P(0x0B, MQTT__PT_VARINT, MQTT__PF_NONZERO, C(MQTT_PUBLISH) | C(MQTT_SUBSCRIBE),
      MQTT_P_SUB_ID, sub_ids),
    P(0x11, MQTT__PT_U32, 0, C(MQTT_CONNECT) | C(MQTT_CONNACK) | C(MQTT_DISCONNECT),
      MQTT_P_SESSION_EXPIRY, session_expiry),
    P(0x12, MQTT__PT_UTF8, 0, C(MQTT_CONNACK), MQTT_P_ASSIGNED_CLIENT_ID, assigned_client_id),
    P(0x13, MQTT__PT_U16, 0, C(MQTT_CONNACK), MQTT_P_SERVER_KEEPALIVE, server_keepalive),
    P(0x15, MQTT__PT_UTF8, 0, C(MQTT_CONNECT) | C(MQTT_CONNACK) | C(MQTT_AUTH),
      MQTT_P_AUTH_METHOD, auth_method),
    P(0x16, MQTT__PT_BIN, 0, C(MQTT_CONNECT) | C(MQTT_CONNACK) | C(MQTT_AUTH),
      MQTT_P_AUTH_DATA, auth_data),
    P(0x17, MQTT__PT_BYTE, 0, C(MQTT_CONNECT), MQTT_P_REQ_PROBLEM_INFO, req_problem_info),
    P(0x18, MQTT__PT_U32, 0, CW, MQTT_P_WILL_DELAY, will_delay),
    P(0x19, MQTT__PT_BYTE, 0, C(MQTT_CONNECT), MQTT_P_REQ_RESPONSE_INFO, req_response_info),
    P(0x1A, MQTT__PT_UTF8, 0, C(MQTT_CONNACK), MQTT_P_RESPONSE_INFO, response_info),
    P(0x1C, MQTT__PT_UTF8, 0, C(MQTT_CONNACK) | C(MQTT_DISCONNECT), MQTT_P_SERVER_REFERENCE,
      server_reference),
    P(0x1F, MQTT__PT_UTF8, 0,
      C(MQTT_CONNACK) | CACKS | C(MQTT_SUBACK) | C(MQTT_UNSUBACK) | C(MQTT_DISCONNECT) |
          C(MQTT_AUTH),
      MQTT_P_REASON_STRING, reason_string),
    P(0x21, MQTT__PT_U16, MQTT__PF_NONZERO, C(MQTT_CONNECT) | C(MQTT_CONNACK),
      MQTT_P_RECEIVE_MAX, receive_max),
    P(0x22, MQTT__PT_U16, 0, C(MQTT_CONNECT) | C(MQTT_CONNACK), MQTT_P_TOPIC_ALIAS_MAX,
      topic_alias_max),
    P(0x23, MQTT__PT_U16, 0, C(MQTT_PUBLISH), MQTT_P_TOPIC_ALIAS, topic_alias), /* 0: see dec_publish. */
    P(0x24, MQTT__PT_BYTE, 0, C(MQTT_CONNACK), MQTT_P_MAX_QOS, max_qos),
    P(0x25, MQTT__PT_BYTE, 0, C(MQTT_CONNACK), MQTT_P_RETAIN_AVAILABLE, retain_available),
    P(0x26, MQTT__PT_PAIR, 0, CALL, MQTT_P_USER_PROPERTY, user_raw),
    P(0x27, MQTT__PT_U32, MQTT__PF_NONZERO, C(MQTT_CONNECT) | C(MQTT_CONNACK),
      MQTT_P_MAX_PACKET_SIZE, max_packet_size),
    P(0x28, MQTT__PT_BYTE, 0, C(MQTT_CONNACK), MQTT_P_WILDCARD_SUB_AVAIL, wildcard_sub_avail),
    P(0x29, MQTT__PT_BYTE, 0, C(MQTT_CONNACK), MQTT_P_SUB_ID_AVAIL, sub_id_avail),
    P(0x2A, MQTT__PT_BYTE, 0, C(MQTT_CONNACK), MQTT_P_SHARED_SUB_AVAIL, shared_sub_avail),
};

#define MQTT__NPDEFS (sizeof mqtt__pdefs / sizeof mqtt__pdefs[0])

static const mqtt__pdef_t *mqtt__pdef_find(uint8_t id)
{
    size_t i;

    for (i = 0; i < MQTT__NPDEFS; i++)
        if (mqtt__pdefs[i].id == id)
            return &mqtt__pdefs[i];
    return NULL;
}

/*
 * Reads the value of one property of type def->type. For strings and the
 * user property pair, *raw receives the value (pair: key and value both
 * checked); scalars go to *num.
 */
static int mqtt__prop_value(mqtt__rd_t *r, const mqtt__pdef_t *def, uint32_t *num,
                            mqtt_str_t *s)
{
    mqtt_str_t val;
    uint16_t u16;
    uint8_t u8;
    int rc;

    switch (def->type) {
    case MQTT__PT_BYTE:
        if (mqtt__rd_u8(r, &u8))
            return IOT_EMALFORMED;
        *num = u8;
        return 0;
    case MQTT__PT_U16:
        if (mqtt__rd_u16(r, &u16))
            return IOT_EMALFORMED;
        *num = u16;
        return 0;
    case MQTT__PT_U32:
        return mqtt__rd_u32(r, num) ? IOT_EMALFORMED : 0;
    case MQTT__PT_VARINT:
        return mqtt__rd_varint(r, num) ? IOT_EMALFORMED : 0;
    case MQTT__PT_UTF8:
        return mqtt__rd_utf8(r, s);
    case MQTT__PT_BIN:
        return mqtt__rd_bin(r, s);
    case MQTT__PT_PAIR:
        if ((rc = mqtt__rd_utf8(r, s)) != 0)
            return rc;
        return mqtt__rd_utf8(r, &val);
    }
    return IOT_EMALFORMED;
}

int mqtt__props_decode(mqtt__rd_t *r, int ctx, mqtt_props_t *pr)
{
    const mqtt__pdef_t *def;
    const uint8_t *blk;
    mqtt__rd_t b;
    mqtt_str_t s = { NULL, 0 };
    uint32_t n, num = 0;
    uint8_t id, u8;
    uint16_t u16;
    int rc;

    if (mqtt__rd_varint(r, &n) || mqtt__rd_take(r, n, &blk))
        return IOT_EMALFORMED;
    b = mqtt__rd_span(blk, n);
    while (mqtt__rd_u8(&b, &id) == 0) {
        /*
         * An identifier not valid for the packet type is malformed (MQTT
         * 5.0 section 2.2.2.2). Identifiers are Variable Byte Integers, but
         * all defined ones are below 0x80, so a byte >= 0x80 is unknown.
         */
        def = mqtt__pdef_find(id);
        if (def == NULL || !(def->ctx & C(ctx)))
            return IOT_EMALFORMED;
        /* Only user properties and, in PUBLISH, sub ids may repeat. */
        if ((pr->present & def->bit) && def->type != MQTT__PT_PAIR &&
            !(def->type == MQTT__PT_VARINT && ctx == MQTT_PUBLISH))
            return IOT_EPROTO;
        if ((rc = mqtt__prop_value(&b, def, &num, &s)) != 0)
            return rc;
        if ((def->rules & MQTT__PF_NONZERO) && num == 0)
            return IOT_EPROTO;
        switch (def->type) {
        case MQTT__PT_BYTE:
            if (num > 1)
                return IOT_EPROTO;
            u8 = (uint8_t)num;
            memcpy((char *)pr + def->off, &u8, 1);
            break;
        case MQTT__PT_U16:
            u16 = (uint16_t)num;
            memcpy((char *)pr + def->off, &u16, 2);
            break;
        case MQTT__PT_U32:
            memcpy((char *)pr + def->off, &num, 4);
            break;
        case MQTT__PT_VARINT:
            if (pr->sub_id_count == MQTT_MAX_SUB_IDS)
                return IOT_ELIMIT;
            pr->sub_ids[pr->sub_id_count++] = num;
            break;
        case MQTT__PT_UTF8:
            /* A response topic is a topic name (no wildcards) [MQTT-3.3.2-14]. */
            if ((def->rules & MQTT__PF_TOPIC) && !mqtt_topic_name_valid(s.p, s.len))
                return IOT_EPROTO;
            /* fall through */
        case MQTT__PT_BIN:
            memcpy((char *)pr + def->off, &s, sizeof s);
            break;
        case MQTT__PT_PAIR:
            if (pr->user_count == UINT16_MAX)
                return IOT_ELIMIT;
            pr->user_count++;
            /* The whole block: user_raw's readers skip the other records. */
            pr->user_raw.p = blk;
            pr->user_raw.len = n;
            break;
        }
        pr->present |= def->bit;
    }
    /* Authentication Data without a method is a protocol error (3.1.2.11.10). */
    if ((pr->present & MQTT_P_AUTH_DATA) && !(pr->present & MQTT_P_AUTH_METHOD))
        return IOT_EPROTO;
    return 0;
}

/*
 * Steps over one property record of a span that holds encoded properties
 * (user_raw). Returns 1 and sets *id and *rec to the whole record
 * (identifier included), or 0 at the end or at the first record that does
 * not parse, which ends every walk the same way for size and write.
 */
static int mqtt__prop_walk(mqtt__rd_t *r, uint8_t *id, mqtt_str_t *rec)
{
    const mqtt__pdef_t *def;
    const uint8_t *start = r->p;
    mqtt_str_t s;
    uint32_t num;

    if (mqtt__rd_u8(r, id))
        return 0;
    def = mqtt__pdef_find(*id);
    if (def == NULL || mqtt__prop_value(r, def, &num, &s) != 0)
        return 0;
    rec->p = start;
    rec->len = (size_t)(r->p - start);
    return 1;
}

int mqtt_user_props_next(const mqtt_props_t *props, size_t *pos, mqtt_str_t *key,
                         mqtt_str_t *val)
{
    mqtt__rd_t r, rec;
    mqtt_str_t span;
    uint8_t id;

    if (*pos >= props->user_raw.len)
        return 0;
    r = mqtt__rd_span(props->user_raw.p + *pos, props->user_raw.len - *pos);
    while (mqtt__prop_walk(&r, &id, &span)) {
        *pos = (size_t)(r.p - props->user_raw.p);
        if (id != 0x26)
            continue;
        rec = mqtt__rd_span(span.p + 1, span.len - 1);
        if (mqtt__rd_bin(&rec, key) || mqtt__rd_bin(&rec, val))
            return 0;
        return 1;
    }
    *pos = props->user_raw.len;
    return 0;
}

size_t mqtt_user_props_records(const mqtt_props_t *props, uint8_t *out, size_t cap)
{
    mqtt__rd_t r = mqtt__rd_span(props->user_raw.p, props->user_raw.len);
    mqtt_str_t rec;
    size_t n = 0;
    uint8_t id;

    while (mqtt__prop_walk(&r, &id, &rec)) {
        if (id != 0x26)
            continue;
        if (out != NULL) {
            if (cap - n < rec.len)
                break; /* Only whole records are copied. */
            memcpy(out + n, rec.p, rec.len);
        }
        n += rec.len;
    }
    return n;
}

/* Size of the user property records of props, all copied as they are. */
static size_t mqtt__user_size(const mqtt_props_t *pr)
{
    return mqtt_user_props_records(pr, NULL, 0);
}

/* Number of subscription identifiers to write for ctx. */
static size_t mqtt__sub_id_count(int ctx, const mqtt_props_t *pr)
{
    size_t n = pr->sub_id_count;

    if (n > MQTT_MAX_SUB_IDS)
        n = MQTT_MAX_SUB_IDS;
    /* SUBSCRIBE carries at most one [MQTT 5.0 section 3.8.2.1.2]. */
    if (ctx == MQTT_SUBSCRIBE && n > 1)
        n = 1;
    return n;
}

size_t mqtt__props_size(int ctx, const mqtt_props_t *pr)
{
    const mqtt__pdef_t *def;
    mqtt_str_t s;
    size_t i, k, size = 0;

    for (i = 0; i < MQTT__NPDEFS; i++) {
        def = &mqtt__pdefs[i];
        if (!(def->ctx & C(ctx)) || !(pr->present & def->bit))
            continue;
        switch (def->type) {
        case MQTT__PT_BYTE:
            size = mqtt__add(size, 2);
            break;
        case MQTT__PT_U16:
            size = mqtt__add(size, 3);
            break;
        case MQTT__PT_U32:
            size = mqtt__add(size, 5);
            break;
        case MQTT__PT_VARINT:
            for (k = 0; k < mqtt__sub_id_count(ctx, pr); k++) {
                if (pr->sub_ids[k] == 0 || pr->sub_ids[k] > MQTT_MAX_REMAINING)
                    return SIZE_MAX;
                size = mqtt__add(size, 1 + mqtt__varint_size(pr->sub_ids[k]));
            }
            break;
        case MQTT__PT_UTF8:
        case MQTT__PT_BIN:
            memcpy(&s, (const char *)pr + def->off, sizeof s);
            size = mqtt__add(size, mqtt__add(1, mqtt__str_size(s)));
            break;
        case MQTT__PT_PAIR:
            size = mqtt__add(size, mqtt__user_size(pr));
            break;
        }
    }
    return size;
}

void mqtt__props_write(mqtt__wr_t *w, int ctx, const mqtt_props_t *pr, size_t content)
{
    const mqtt__pdef_t *def;
    uint8_t *start;
    mqtt_str_t s;
    uint32_t u32;
    uint16_t u16;
    uint8_t u8;
    size_t i, k;

    mqtt__wr_varint(w, (uint32_t)content);
    start = w->p;
    for (i = 0; i < MQTT__NPDEFS; i++) {
        def = &mqtt__pdefs[i];
        if (!(def->ctx & C(ctx)) || !(pr->present & def->bit))
            continue;
        switch (def->type) {
        case MQTT__PT_BYTE:
            memcpy(&u8, (const char *)pr + def->off, 1);
            mqtt__wr_u8(w, def->id);
            mqtt__wr_u8(w, u8);
            break;
        case MQTT__PT_U16:
            memcpy(&u16, (const char *)pr + def->off, 2);
            mqtt__wr_u8(w, def->id);
            mqtt__wr_u16(w, u16);
            break;
        case MQTT__PT_U32:
            memcpy(&u32, (const char *)pr + def->off, 4);
            mqtt__wr_u8(w, def->id);
            mqtt__wr_u32(w, u32);
            break;
        case MQTT__PT_VARINT:
            for (k = 0; k < mqtt__sub_id_count(ctx, pr); k++) {
                mqtt__wr_u8(w, def->id);
                mqtt__wr_varint(w, pr->sub_ids[k]);
            }
            break;
        case MQTT__PT_UTF8:
        case MQTT__PT_BIN:
            memcpy(&s, (const char *)pr + def->off, sizeof s);
            mqtt__wr_u8(w, def->id);
            mqtt__wr_str(w, s);
            break;
        case MQTT__PT_PAIR:
            assert((size_t)(w->end - w->p) >= mqtt__user_size(pr));
            w->p += mqtt_user_props_records(pr, w->p, (size_t)(w->end - w->p));
            break;
        }
    }
    assert((size_t)(w->p - start) == content);
    (void)start; /* Used only by the assert. */
}
