/*
 * mqtt_roundtrip_test.c - MQTT encoder tests: every packet type is built as
 * a struct, encoded for 3.1.1 and for 5.0, decoded again and compared field
 * by field (3.1.1 loses the properties and 5.0-only fields, and only
 * those). Also: mqtt_encode_size() is exact and refuses what cannot be
 * encoded, the 5.0 short forms, multi-byte remaining lengths, properties
 * the packet type does not allow, and a hand-built user_raw that does not
 * parse. The decoded fields of byte vectors are checked in mqtt_test.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/mqtt/mqtt.h"

#define S(lit) ((mqtt_str_t){ (const uint8_t *)(lit), sizeof(lit) - 1 })
#define B(...) (const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ })

static const mqtt_str_t none = { NULL, 0 };

/* Two user properties, (k1, v1) and (k2, ""), as encoded records. */
static const uint8_t users[] = { 0x26, 0, 2, 'k', '1', 0, 2, 'v', '1',
                                 0x26, 0, 2, 'k', '2', 0, 0 };

static void add_users(mqtt_props_t *p)
{
    p->present |= MQTT_P_USER_PROPERTY;
    p->user_raw.p = users;
    p->user_raw.len = sizeof users;
    p->user_count = 2;
}

static void assert_str(mqtt_str_t a, mqtt_str_t b)
{
    assert_int_equal(a.len, b.len);
    if (a.len)
        assert_memory_equal(a.p, b.p, a.len);
}

static void assert_props(const mqtt_props_t *a, const mqtt_props_t *b)
{
    mqtt_str_t ka, va, kb, vb;
    size_t pa = 0, pb = 0;
    int ra, rb;

    assert_int_equal(a->present, b->present);
    assert_int_equal(a->payload_format, b->payload_format);
    assert_int_equal(a->req_problem_info, b->req_problem_info);
    assert_int_equal(a->req_response_info, b->req_response_info);
    assert_int_equal(a->max_qos, b->max_qos);
    assert_int_equal(a->retain_available, b->retain_available);
    assert_int_equal(a->wildcard_sub_avail, b->wildcard_sub_avail);
    assert_int_equal(a->sub_id_avail, b->sub_id_avail);
    assert_int_equal(a->shared_sub_avail, b->shared_sub_avail);
    assert_int_equal(a->server_keepalive, b->server_keepalive);
    assert_int_equal(a->receive_max, b->receive_max);
    assert_int_equal(a->topic_alias_max, b->topic_alias_max);
    assert_int_equal(a->topic_alias, b->topic_alias);
    assert_int_equal(a->message_expiry, b->message_expiry);
    assert_int_equal(a->session_expiry, b->session_expiry);
    assert_int_equal(a->will_delay, b->will_delay);
    assert_int_equal(a->max_packet_size, b->max_packet_size);
    assert_str(a->content_type, b->content_type);
    assert_str(a->response_topic, b->response_topic);
    assert_str(a->correlation_data, b->correlation_data);
    assert_str(a->assigned_client_id, b->assigned_client_id);
    assert_str(a->auth_method, b->auth_method);
    assert_str(a->auth_data, b->auth_data);
    assert_str(a->response_info, b->response_info);
    assert_str(a->server_reference, b->server_reference);
    assert_str(a->reason_string, b->reason_string);
    assert_int_equal(a->user_count, b->user_count);
    assert_int_equal(a->sub_id_count, b->sub_id_count);
    if (a->sub_id_count)
        assert_memory_equal(a->sub_ids, b->sub_ids, a->sub_id_count * sizeof a->sub_ids[0]);
    do {
        ra = mqtt_user_props_next(a, &pa, &ka, &va);
        rb = mqtt_user_props_next(b, &pb, &kb, &vb);
        assert_int_equal(ra, rb);
        if (ra) {
            assert_str(ka, kb);
            assert_str(va, vb);
        }
    } while (ra);
}

/* Field-by-field equality of two packets of the same type. */
static void assert_packet(const mqtt_packet_t *w, const mqtt_packet_t *g)
{
    assert_int_equal(w->type, g->type);
    switch (w->type) {
    case MQTT_CONNECT: {
        const mqtt_connect_t *a = &w->u.connect, *b = &g->u.connect;

        assert_int_equal(a->proto_level, b->proto_level);
        assert_int_equal(a->clean, b->clean);
        assert_int_equal(a->will_flag, b->will_flag);
        assert_int_equal(a->will_qos, b->will_qos);
        assert_int_equal(a->will_retain, b->will_retain);
        assert_int_equal(a->has_username, b->has_username);
        assert_int_equal(a->has_password, b->has_password);
        assert_int_equal(a->keepalive, b->keepalive);
        assert_str(a->client_id, b->client_id);
        assert_str(a->will_topic, b->will_topic);
        assert_str(a->will_payload, b->will_payload);
        assert_str(a->username, b->username);
        assert_str(a->password, b->password);
        assert_props(&a->props, &b->props);
        assert_props(&a->will_props, &b->will_props);
        break;
    }
    case MQTT_CONNACK:
        assert_int_equal(w->u.connack.session_present, g->u.connack.session_present);
        assert_int_equal(w->u.connack.reason, g->u.connack.reason);
        assert_props(&w->u.connack.props, &g->u.connack.props);
        break;
    case MQTT_PUBLISH:
        assert_int_equal(w->u.publish.dup, g->u.publish.dup);
        assert_int_equal(w->u.publish.qos, g->u.publish.qos);
        assert_int_equal(w->u.publish.retain, g->u.publish.retain);
        assert_int_equal(w->u.publish.packet_id, g->u.publish.packet_id);
        assert_str(w->u.publish.topic, g->u.publish.topic);
        assert_str(w->u.publish.payload, g->u.publish.payload);
        assert_props(&w->u.publish.props, &g->u.publish.props);
        break;
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
        assert_int_equal(w->u.ack.packet_id, g->u.ack.packet_id);
        assert_int_equal(w->u.ack.reason, g->u.ack.reason);
        assert_props(&w->u.ack.props, &g->u.ack.props);
        break;
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        assert_int_equal(w->u.subscribe.packet_id, g->u.subscribe.packet_id);
        assert_int_equal(w->u.subscribe.count, g->u.subscribe.count);
        assert_str(w->u.subscribe.list, g->u.subscribe.list);
        assert_props(&w->u.subscribe.props, &g->u.subscribe.props);
        break;
    case MQTT_SUBACK:
    case MQTT_UNSUBACK:
        assert_int_equal(w->u.suback.packet_id, g->u.suback.packet_id);
        assert_int_equal(w->u.suback.count, g->u.suback.count);
        if (w->u.suback.count)
            assert_memory_equal(w->u.suback.codes, g->u.suback.codes, w->u.suback.count);
        assert_props(&w->u.suback.props, &g->u.suback.props);
        break;
    case MQTT_DISCONNECT:
    case MQTT_AUTH:
        assert_int_equal(w->u.disconnect.reason, g->u.disconnect.reason);
        assert_props(&w->u.disconnect.props, &g->u.disconnect.props);
        break;
    default:
        break;
    }
}

/*
 * What a 3.1.1 peer receives of in: no properties, no reason codes on acks
 * and DISCONNECT, no codes in UNSUBACK.
 */
static mqtt_packet_t as_v3(const mqtt_packet_t *in)
{
    mqtt_packet_t p = *in;

    switch (p.type) {
    case MQTT_CONNECT:
        memset(&p.u.connect.props, 0, sizeof p.u.connect.props);
        memset(&p.u.connect.will_props, 0, sizeof p.u.connect.will_props);
        p.u.connect.proto_level = MQTT_V311;
        break;
    case MQTT_CONNACK:
        memset(&p.u.connack.props, 0, sizeof p.u.connack.props);
        break;
    case MQTT_PUBLISH:
        memset(&p.u.publish.props, 0, sizeof p.u.publish.props);
        break;
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
        memset(&p.u.ack.props, 0, sizeof p.u.ack.props);
        p.u.ack.reason = 0;
        break;
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        memset(&p.u.subscribe.props, 0, sizeof p.u.subscribe.props);
        break;
    case MQTT_SUBACK:
    case MQTT_UNSUBACK:
        memset(&p.u.suback.props, 0, sizeof p.u.suback.props);
        if (p.type == MQTT_UNSUBACK) {
            p.u.suback.count = 0;
            p.u.suback.codes = NULL;
        }
        break;
    case MQTT_DISCONNECT:
        memset(&p.u.disconnect.props, 0, sizeof p.u.disconnect.props);
        p.u.disconnect.reason = 0;
        break;
    default:
        break;
    }
    return p;
}

/*
 * Encodes in for version, checks the size is exact and that nothing is
 * written past it, decodes and compares with want. Returns the size.
 */
static size_t roundtrip(int version, const mqtt_packet_t *in, const mqtt_packet_t *want,
                        uint8_t *buf, size_t cap)
{
    mqtt_packet_t got;
    size_t n;
    int rc;

    n = mqtt_encode_size(version, in);
    assert_true(n > 0 && n + 16 <= cap);
    memset(buf, 0xA5, n + 16);
    assert_int_equal(mqtt_encode(buf, n, version, in), n);
    for (size_t i = n; i < n + 16; i++)
        assert_int_equal(buf[i], 0xA5);
    rc = mqtt_decode(buf, n, in->type == MQTT_CONNECT ? 0 : version, 0, &got);
    if (rc != (int)n)
        fail_msg("type %d v%d: decode returned %d (%s)", in->type, version, rc,
                 iot_strerror(rc));
    assert_int_equal(got.size, n);
    assert_packet(want, &got);
    return n;
}

/* Round trip for 5.0 as is, and for 3.1.1 with the 5.0 parts removed. */
static void both(const mqtt_packet_t *p)
{
    static uint8_t buf[1024];
    mqtt_packet_t v3 = as_v3(p);
    mqtt_packet_t v5 = *p;

    if (p->type == MQTT_CONNECT)
        v5.u.connect.proto_level = MQTT_V5;
    roundtrip(MQTT_V5, &v5, &v5, buf, sizeof buf);
    if (p->type != MQTT_AUTH)
        roundtrip(MQTT_V311, p, &v3, buf, sizeof buf);
}

static void test_rt_connect(void **state)
{
    mqtt_packet_t p;
    mqtt_connect_t *c = &p.u.connect;

    (void)state;
    memset(&p, 0, sizeof p);
    p.type = MQTT_CONNECT;
    c->clean = 1;
    c->keepalive = 65535;
    c->client_id = S("client-1");
    both(&p);

    c->will_flag = 1;
    c->will_qos = 2;
    c->will_retain = 1;
    c->will_topic = S("dev/1/status");
    c->will_payload = S("offline\0bin");
    c->has_username = 1;
    c->username = S("user");
    c->has_password = 1;
    c->password = S("\x00\xff secret");
    c->props.present = MQTT_P_SESSION_EXPIRY | MQTT_P_RECEIVE_MAX | MQTT_P_MAX_PACKET_SIZE |
                       MQTT_P_TOPIC_ALIAS_MAX | MQTT_P_REQ_PROBLEM_INFO |
                       MQTT_P_REQ_RESPONSE_INFO | MQTT_P_AUTH_METHOD | MQTT_P_AUTH_DATA;
    c->props.session_expiry = 0xFFFFFFFF;
    c->props.receive_max = 20;
    c->props.max_packet_size = 1 << 20;
    c->props.topic_alias_max = 0;
    c->props.req_problem_info = 0;
    c->props.req_response_info = 1;
    c->props.auth_method = S("SCRAM-SHA-256");
    c->props.auth_data = S("\x01\x02\x03");
    add_users(&c->props);
    c->will_props.present = MQTT_P_WILL_DELAY | MQTT_P_PAYLOAD_FORMAT | MQTT_P_MESSAGE_EXPIRY |
                            MQTT_P_CONTENT_TYPE | MQTT_P_RESPONSE_TOPIC |
                            MQTT_P_CORRELATION_DATA;
    c->will_props.will_delay = 30;
    c->will_props.payload_format = 1;
    c->will_props.message_expiry = 3600;
    c->will_props.content_type = S("text/plain");
    c->will_props.response_topic = S("reply/here");
    c->will_props.correlation_data = S("\x00\x01");
    add_users(&c->will_props);
    both(&p);
}

static void test_rt_connack(void **state)
{
    mqtt_packet_t p;
    mqtt_props_t *pr = &p.u.connack.props;

    (void)state;
    memset(&p, 0, sizeof p);
    p.type = MQTT_CONNACK;
    p.u.connack.session_present = 1;
    pr->present = MQTT_P_SESSION_EXPIRY | MQTT_P_ASSIGNED_CLIENT_ID | MQTT_P_SERVER_KEEPALIVE |
                  MQTT_P_AUTH_METHOD | MQTT_P_AUTH_DATA | MQTT_P_RESPONSE_INFO |
                  MQTT_P_SERVER_REFERENCE | MQTT_P_REASON_STRING | MQTT_P_RECEIVE_MAX |
                  MQTT_P_TOPIC_ALIAS_MAX | MQTT_P_MAX_QOS | MQTT_P_RETAIN_AVAILABLE |
                  MQTT_P_MAX_PACKET_SIZE | MQTT_P_WILDCARD_SUB_AVAIL | MQTT_P_SUB_ID_AVAIL |
                  MQTT_P_SHARED_SUB_AVAIL;
    pr->session_expiry = 7;
    pr->assigned_client_id = S("auto-42");
    pr->server_keepalive = 120;
    pr->auth_method = S("m");
    pr->auth_data = S("d");
    pr->response_info = S("resp/");
    pr->server_reference = S("other:1883");
    pr->reason_string = S("welcome");
    pr->receive_max = 65535;
    pr->topic_alias_max = 10;
    pr->max_qos = 1;
    pr->retain_available = 0;
    pr->max_packet_size = 268435460;
    pr->wildcard_sub_avail = 1;
    pr->sub_id_avail = 0;
    pr->shared_sub_avail = 1;
    add_users(pr);
    both(&p);

    memset(&p, 0, sizeof p);
    p.type = MQTT_CONNACK;
    p.u.connack.reason = MQTT_V3_NOT_AUTHORIZED;
    roundtrip(MQTT_V311, &p, &p, (uint8_t[64]){ 0 }, 64);
    p.u.connack.reason = MQTT_RC_BANNED;
    roundtrip(MQTT_V5, &p, &p, (uint8_t[64]){ 0 }, 64);
}

static void test_rt_publish(void **state)
{
    mqtt_packet_t p;
    mqtt_publish_t *m = &p.u.publish;
    uint8_t qos;

    (void)state;
    for (qos = 0; qos <= 2; qos++) {
        memset(&p, 0, sizeof p);
        p.type = MQTT_PUBLISH;
        m->qos = qos;
        m->dup = qos > 0;
        m->retain = qos != 1;
        m->packet_id = qos ? (uint16_t)(qos * 1000) : 0;
        m->topic = S("sensors/\xc3\xa9t\xc3\xa9/temp");
        m->payload = qos == 2 ? none : S("{\"t\":21.5}");
        both(&p);

        m->props.present = MQTT_P_PAYLOAD_FORMAT | MQTT_P_MESSAGE_EXPIRY | MQTT_P_CONTENT_TYPE |
                           MQTT_P_RESPONSE_TOPIC | MQTT_P_CORRELATION_DATA | MQTT_P_SUB_ID |
                           MQTT_P_TOPIC_ALIAS;
        m->props.payload_format = 1;
        m->props.message_expiry = 10;
        m->props.content_type = S("application/json");
        m->props.response_topic = S("r/1");
        m->props.correlation_data = S("\xde\xad");
        m->props.sub_id_count = 3;
        m->props.sub_ids[0] = 1;
        m->props.sub_ids[1] = 16384;
        m->props.sub_ids[2] = MQTT_MAX_REMAINING;
        m->props.topic_alias = 65535;
        add_users(&m->props);
        both(&p);
    }
    /* 5.0 only: the topic replaced by an alias. */
    memset(&p, 0, sizeof p);
    p.type = MQTT_PUBLISH;
    m->props.present = MQTT_P_TOPIC_ALIAS;
    m->props.topic_alias = 1;
    m->payload = S("x");
    roundtrip(MQTT_V5, &p, &p, (uint8_t[64]){ 0 }, 64);
}

static void test_rt_acks(void **state)
{
    static const uint8_t types[] = { MQTT_PUBACK, MQTT_PUBREC, MQTT_PUBREL, MQTT_PUBCOMP };
    mqtt_packet_t p;
    uint8_t buf[128];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof types; i++) {
        memset(&p, 0, sizeof p);
        p.type = types[i];
        p.u.ack.packet_id = 0x1234;
        both(&p);
        /* [MQTT 5.0 3.4.2.1] reason 0 and no properties: remaining length 2. */
        assert_int_equal(roundtrip(MQTT_V5, &p, &p, buf, sizeof buf), 4);
        p.u.ack.reason = types[i] >= MQTT_PUBREL ? MQTT_RC_PACKET_ID_NOT_FOUND
                                                 : MQTT_RC_NO_MATCHING_SUBSCRIBERS;
        both(&p);
        assert_int_equal(roundtrip(MQTT_V5, &p, &p, buf, sizeof buf), 5);
        p.u.ack.props.present = MQTT_P_REASON_STRING;
        p.u.ack.props.reason_string = S("why");
        add_users(&p.u.ack.props);
        both(&p);
        /* Reason 0 with properties still carries the reason byte. */
        p.u.ack.reason = 0;
        both(&p);
    }
}

static void test_rt_subscribe(void **state)
{
    /* ("a/+", QoS 1), ("$share/g/#", QoS 2), ("#", QoS 0). */
    static const uint8_t list3[] = { 0, 3, 'a', '/', '+', 1, 0, 10, '$', 's', 'h', 'a', 'r',
                                     'e', '/', 'g', '/', '#', 2, 0, 1, '#', 0 };
    static const uint8_t ulist[] = { 0, 3, 'a', '/', '+', 0, 1, '#' };
    mqtt_packet_t p;

    (void)state;
    memset(&p, 0, sizeof p);
    p.type = MQTT_SUBSCRIBE;
    p.u.subscribe.packet_id = 7;
    p.u.subscribe.count = 3;
    p.u.subscribe.list = (mqtt_str_t){ list3, sizeof list3 };
    both(&p);
    p.u.subscribe.props.present = MQTT_P_SUB_ID;
    p.u.subscribe.props.sub_id_count = 1;
    p.u.subscribe.props.sub_ids[0] = 268435455;
    add_users(&p.u.subscribe.props);
    both(&p);

    memset(&p, 0, sizeof p);
    p.type = MQTT_UNSUBSCRIBE;
    p.u.subscribe.packet_id = 8;
    p.u.subscribe.count = 2;
    p.u.subscribe.list = (mqtt_str_t){ ulist, sizeof ulist };
    both(&p);
    add_users(&p.u.subscribe.props);
    both(&p);
}

/* 3.1.1 keeps only the QoS bits of the subscription options. */
static void test_subscribe_v3_masks_options(void **state)
{
    static const uint8_t list[] = { 0, 1, 'a', 0x2D };
    static const uint8_t want[] = { 0x82, 0x06, 0, 9, 0, 1, 'a', 0x01 };
    mqtt_packet_t p;
    uint8_t out[16];

    (void)state;
    memset(&p, 0, sizeof p);
    p.type = MQTT_SUBSCRIBE;
    p.u.subscribe.packet_id = 9;
    p.u.subscribe.list = (mqtt_str_t){ list, sizeof list };
    p.u.subscribe.props.present = MQTT_P_SUB_ID;
    p.u.subscribe.props.sub_id_count = 1;
    p.u.subscribe.props.sub_ids[0] = 3;
    assert_int_equal(mqtt_encode_size(MQTT_V311, &p), sizeof want);
    assert_int_equal(mqtt_encode(out, sizeof out, MQTT_V311, &p), sizeof want);
    assert_memory_equal(out, want, sizeof want);
}

static void test_rt_suback(void **state)
{
    static const uint8_t codes3[] = { 0x00, 0x01, 0x02, 0x80 };
    static const uint8_t codes5[] = { 0x00, 0x11, 0x87 };
    mqtt_packet_t p;
    uint8_t buf[128];

    (void)state;
    memset(&p, 0, sizeof p);
    p.type = MQTT_SUBACK;
    p.u.suback.packet_id = 7;
    p.u.suback.count = sizeof codes3;
    p.u.suback.codes = codes3;
    both(&p);
    p.u.suback.props.present = MQTT_P_REASON_STRING;
    p.u.suback.props.reason_string = S("ok");
    add_users(&p.u.suback.props);
    both(&p);

    memset(&p, 0, sizeof p);
    p.type = MQTT_UNSUBACK;
    p.u.suback.packet_id = 8;
    p.u.suback.count = sizeof codes5;
    p.u.suback.codes = codes5;
    both(&p);
    /* 3.1.1 UNSUBACK (section 3.11): packet id only, remaining length 2. */
    assert_int_equal(mqtt_encode_size(MQTT_V311, &p), 4);
    p.u.suback.props.present = MQTT_P_REASON_STRING;
    p.u.suback.props.reason_string = S("gone");
    both(&p);
    assert_int_equal(roundtrip(MQTT_V5, &p, &p, buf, sizeof buf), 2 + 2 + 1 + 7 + 3);
}

static void test_rt_ping_disconnect_auth(void **state)
{
    mqtt_packet_t p;
    uint8_t buf[128];

    (void)state;
    memset(&p, 0, sizeof p);
    p.type = MQTT_PINGREQ;
    both(&p);
    p.type = MQTT_PINGRESP;
    both(&p);

    p.type = MQTT_DISCONNECT;
    both(&p);
    /* [MQTT 5.0 3.14.2.1] reason 0, no properties: remaining length 0. */
    assert_int_equal(roundtrip(MQTT_V5, &p, &p, buf, sizeof buf), 2);
    p.u.disconnect.reason = MQTT_RC_DISCONNECT_WITH_WILL;
    both(&p);
    assert_int_equal(roundtrip(MQTT_V5, &p, &p, buf, sizeof buf), 3);
    p.u.disconnect.reason = MQTT_RC_SERVER_MOVED;
    p.u.disconnect.props.present = MQTT_P_SESSION_EXPIRY | MQTT_P_SERVER_REFERENCE |
                                   MQTT_P_REASON_STRING;
    p.u.disconnect.props.session_expiry = 0;
    p.u.disconnect.props.server_reference = S("b:1883");
    p.u.disconnect.props.reason_string = S("moved");
    add_users(&p.u.disconnect.props);
    both(&p);

    memset(&p, 0, sizeof p);
    p.type = MQTT_AUTH;
    assert_int_equal(roundtrip(MQTT_V5, &p, &p, buf, sizeof buf), 2);
    p.u.disconnect.reason = MQTT_RC_REAUTHENTICATE;
    assert_int_equal(roundtrip(MQTT_V5, &p, &p, buf, sizeof buf), 4);
    p.u.disconnect.reason = MQTT_RC_CONTINUE_AUTH;
    p.u.disconnect.props.present = MQTT_P_AUTH_METHOD | MQTT_P_AUTH_DATA | MQTT_P_REASON_STRING;
    p.u.disconnect.props.auth_method = S("SCRAM-SHA-1");
    p.u.disconnect.props.auth_data = S("\x00\x01\x02");
    p.u.disconnect.props.reason_string = S("more");
    add_users(&p.u.disconnect.props);
    both(&p);
    /* No AUTH in 3.1.1. */
    assert_int_equal(mqtt_encode_size(MQTT_V311, &p), 0);
}

/*
 * Remaining lengths that need 2, 3 and 4 bytes, at the edges of each
 * (127/128, 16383/16384, 2097151/2097152).
 */
static void test_rt_remaining_length_sizes(void **state)
{
    static const size_t bodies[] = { 127, 128, 16383, 16384, 2097151, 2097152 };
    static const size_t hdr[] = { 2, 3, 3, 4, 4, 5 };
    uint8_t *payload = calloc(1, 2097152);
    uint8_t *buf = malloc(2097152 + 64);
    mqtt_packet_t p, q;
    size_t i, k;

    (void)state;
    assert_non_null(payload);
    assert_non_null(buf);
    for (i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        memset(&p, 0, sizeof p);
        p.type = MQTT_PUBLISH;
        p.u.publish.topic = S("t");
        p.u.publish.payload.p = payload;
        p.u.publish.payload.len = bodies[i] - 3; /* Topic takes 3 bytes. */
        assert_int_equal(mqtt_encode_size(MQTT_V311, &p), hdr[i] + bodies[i]);
        roundtrip(MQTT_V311, &p, &p, buf, 2097152 + 64);
        /* Every prefix of the fixed header, and a few of the body, wait. */
        for (k = 0; k < hdr[i] + 8; k++)
            assert_int_equal(mqtt_decode(buf, k, MQTT_V311, 0, &q), IOT_EAGAIN);
        assert_int_equal(mqtt_decode(buf, hdr[i] + bodies[i] - 1, MQTT_V311, 0, &q),
                         IOT_EAGAIN);
        /* One byte over max_size is refused from the header alone. */
        assert_int_equal(mqtt_decode(buf, hdr[i], MQTT_V311, hdr[i] + bodies[i] - 1, &q),
                         IOT_ETOOLARGE);
    }
    free(payload);
    free(buf);
}

/* mqtt_encode_size() returns 0 for what cannot be encoded. */
static void test_encode_size_refuses(void **state)
{
    mqtt_packet_t p;

    (void)state;
    memset(&p, 0, sizeof p);
    p.type = MQTT_PUBLISH;
    p.u.publish.topic = S("t");
    assert_true(mqtt_encode_size(MQTT_V311, &p) > 0);
    assert_int_equal(mqtt_encode_size(MQTT_V31, &p), 0); /* Not an encodable version. */
    assert_int_equal(mqtt_encode_size(6, &p), 0);
    p.u.publish.topic.len = 65536; /* A string longer than its u16 length. */
    assert_int_equal(mqtt_encode_size(MQTT_V311, &p), 0);
    p.u.publish.topic.len = 1;
    p.u.publish.payload.len = MQTT_MAX_REMAINING - 2; /* Body one byte too long. */
    assert_int_equal(mqtt_encode_size(MQTT_V311, &p), 0);
    p.u.publish.payload.len = MQTT_MAX_REMAINING - 3; /* Exactly the maximum. */
    assert_int_equal(mqtt_encode_size(MQTT_V311, &p), 5 + MQTT_MAX_REMAINING);
    p.u.publish.payload.len = 0;
    p.u.publish.props.present = MQTT_P_SUB_ID;
    p.u.publish.props.sub_id_count = 1;
    p.u.publish.props.sub_ids[0] = 0; /* Not a valid subscription id. */
    assert_int_equal(mqtt_encode_size(MQTT_V5, &p), 0);
    assert_true(mqtt_encode_size(MQTT_V311, &p) > 0); /* 3.1.1 drops it. */
    p.type = 0;
    assert_int_equal(mqtt_encode_size(MQTT_V5, &p), 0);
}

/*
 * Properties not allowed in a packet are not written: the encoder never
 * produces what the decoder would call malformed.
 */
static void test_encode_drops_misplaced_props(void **state)
{
    static const uint8_t want[] = { 0x40, 0x02, 0, 5 };
    mqtt_packet_t p;
    uint8_t out[16];

    (void)state;
    memset(&p, 0, sizeof p);
    p.type = MQTT_PUBACK;
    p.u.ack.packet_id = 5;
    p.u.ack.props.present = MQTT_P_TOPIC_ALIAS | MQTT_P_SESSION_EXPIRY;
    p.u.ack.props.topic_alias = 3;
    assert_int_equal(mqtt_encode(out, sizeof out, MQTT_V5, &p), sizeof want);
    assert_memory_equal(out, want, sizeof want);
}

/* 3.1.1 encoding of a packet built with 5.0 properties: exact bytes. */
static void test_encode_v3_drops_props(void **state)
{
    static const uint8_t want[] = { 0x30, 0x07, 0, 3, 'a', '/', 'b', 'h', 'i' };
    mqtt_packet_t p;
    uint8_t out[32];

    (void)state;
    memset(&p, 0, sizeof p);
    p.type = MQTT_PUBLISH;
    p.u.publish.topic = S("a/b");
    p.u.publish.payload = S("hi");
    p.u.publish.dup = 1; /* Dropped on QoS 0 [MQTT-3.3.1-2]. */
    p.u.publish.props.present = MQTT_P_MESSAGE_EXPIRY;
    p.u.publish.props.message_expiry = 5;
    add_users(&p.u.publish.props);
    assert_int_equal(mqtt_encode(out, sizeof out, MQTT_V311, &p), sizeof want);
    assert_memory_equal(out, want, sizeof want);
}

/* A user_raw built by hand that does not parse is cut at its last whole record. */
static void test_user_raw_garbage(void **state)
{
    static const uint8_t raw[] = { 0x26, 0, 1, 'k', 0, 1, 'v', 0x26, 0, 9, 'x' };
    static const uint8_t want[] = { 0x30, 0x0C, 0, 1, 't', 7, 0x26, 0, 1, 'k', 0, 1, 'v', 'p' };
    mqtt_packet_t p;
    uint8_t out[32];

    (void)state;
    memset(&p, 0, sizeof p);
    p.type = MQTT_PUBLISH;
    p.u.publish.topic = S("t");
    p.u.publish.payload = S("p");
    p.u.publish.props.present = MQTT_P_USER_PROPERTY;
    p.u.publish.props.user_raw = (mqtt_str_t){ raw, sizeof raw };
    assert_int_equal(mqtt_encode_size(MQTT_V5, &p), sizeof want);
    assert_int_equal(mqtt_encode(out, sizeof out, MQTT_V5, &p), sizeof want);
    assert_memory_equal(out, want, sizeof want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rt_connect),
        cmocka_unit_test(test_rt_connack),
        cmocka_unit_test(test_rt_publish),
        cmocka_unit_test(test_rt_acks),
        cmocka_unit_test(test_rt_subscribe),
        cmocka_unit_test(test_subscribe_v3_masks_options),
        cmocka_unit_test(test_rt_suback),
        cmocka_unit_test(test_rt_ping_disconnect_auth),
        cmocka_unit_test(test_rt_remaining_length_sizes),
        cmocka_unit_test(test_encode_size_refuses),
        cmocka_unit_test(test_encode_drops_misplaced_props),
        cmocka_unit_test(test_encode_v3_drops_props),
        cmocka_unit_test(test_user_raw_garbage),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
