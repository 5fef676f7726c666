/*
 * handle_subscribe.c - SUBSCRIBE and UNSUBSCRIBE: the trie, the session's
 * own list of its subscriptions, SUBACK/UNSUBACK codes, and retained
 * messages sent for a new subscription per its Retain Handling.
 */
#include <stdlib.h>
#include <string.h>

#include "broker/broker.h"
#include "core/globals.h"

#define SHARE_PREFIX "$share/"

static int is_shared(mqtt_str_t f)
{
    return f.len > 7 && memcmp(f.p, SHARE_PREFIX, 7) == 0;
}

static sub_t *sub_find(session_t *s, mqtt_str_t f, sub_t ***pprev)
{
    sub_t **pp = &s->subs;
    for (; *pp; pp = &(*pp)->next) {
        if ((*pp)->len == f.len && memcmp((*pp)->filter, f.p, f.len) == 0) {
            if (pprev) *pprev = pp;
            return *pp;
        }
    }
    return NULL;
}

/* Collects retained messages for one filter (under the store's read lock). */
typedef struct retained_set {
    msg_t **msgs;        /* References taken. */
    size_t n, cap;       /* Used, capacity. */
} retained_set_t;

static void on_retained(void *ctx, void *msg)
{
    retained_set_t *rs = ctx;
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 16;
        msg_t **nm = realloc(rs->msgs, cap * sizeof *nm);
        if (!nm) return;
        rs->msgs = nm;
        rs->cap = cap;
    }
    msg_ref(msg);
    rs->msgs[rs->n++] = msg;
}

/* Sends the retained messages matching f to s, with retain set [MQTT-3.3.1-9]. */
static void send_retained(bworker_t *bw, session_t *s, mqtt_str_t f, uint8_t opts, uint32_t sub_id)
{
    retained_set_t rs = {0};
    retain_match(broker_g.retained, (const char *)f.p, f.len, on_retained, &rs);
    for (size_t i = 0; i < rs.n; i++) {
        msg_t *m = rs.msgs[i];
        uint8_t qos = opts & MQTT_SUBOPT_QOS_MASK;
        if (m->qos < qos) qos = m->qos;
        qitem_t *q = qitem_new(m, qos, 1, &sub_id, sub_id ? 1 : 0);
        if (q) session_deliver(bw, s, q);
        msg_unref(m);
    }
    free(rs.msgs);
}

void handle_subscribe(bworker_t *bw, client_t *c, const mqtt_packet_t *pkt)
{
    const mqtt_subscribe_t *sub = &pkt->u.subscribe;
    session_t *s = c->session;
    const iot_config_t *cfg = iot_config();
    uint32_t sub_id = 0;
    if (c->version == MQTT_V5 && (sub->props.present & MQTT_P_SUB_ID)) sub_id = sub->props.sub_ids[0];
    uint8_t *codes = malloc(sub->count);
    uint8_t *existed = malloc(sub->count);
    if (!codes || !existed) {
        free(codes);
        free(existed);
        client_fail(c, IOT_ENOMEM, MQTT_RC_IMPL_SPECIFIC, "out of memory");
        return;
    }
    size_t pos = 0, i = 0;
    mqtt_str_t f;
    uint8_t opts;
    while (i < sub->count && mqtt_sub_next(sub, 1, &pos, &f, &opts)) {
        existed[i] = 0;
        if (c->version == MQTT_V5 && is_shared(f) && (opts & MQTT_SUBOPT_NO_LOCAL)) {
            /* No Local on a shared subscription is a protocol error [MQTT-3.8.3-4]. */
            free(codes);
            free(existed);
            client_fail(c, IOT_EPROTO, MQTT_RC_PROTOCOL_ERROR, "No Local on a shared subscription");
            return;
        }
        sub_t *known = sub_find(s, f, NULL);
        if (!known && cfg->max_subscriptions && s->nsubs >= cfg->max_subscriptions) {
            codes[i++] = c->version == MQTT_V5 ? MQTT_RC_QUOTA_EXCEEDED : 0x80;
            continue;
        }
        int ex = 0;
        if (topic_tree_subscribe(broker_g.subs, (const char *)f.p, f.len, s, opts, sub_id, &ex) != 0) {
            codes[i++] = c->version == MQTT_V5 ? MQTT_RC_UNSPECIFIED : 0x80;
            continue;
        }
        if (!ex) {
            sub_t *n = malloc(sizeof *n + f.len);
            if (!n) {
                topic_tree_unsubscribe(broker_g.subs, (const char *)f.p, f.len, s);
                codes[i++] = 0x80;
                continue;
            }
            session_ref(s); /* The trie's reference. */
            n->len = (uint16_t)f.len;
            memcpy(n->filter, f.p, f.len);
            n->next = s->subs;
            s->subs = n;
            s->nsubs++;
            known = n;
        }
        known->opts = opts;
        known->sub_id = sub_id;
        existed[i] = (uint8_t)ex;
        /* The granted QoS is the one asked for: iotgate supports all three [MQTT-3.9.3-1]. */
        codes[i++] = opts & MQTT_SUBOPT_QOS_MASK;
    }
    mqtt_packet_t p = {.type = MQTT_SUBACK};
    p.u.suback.packet_id = sub->packet_id;
    p.u.suback.count = (uint16_t)i;
    p.u.suback.codes = codes;
    client_send_packet(c, &p);

    pos = 0;
    for (size_t k = 0; k < i && mqtt_sub_next(sub, 1, &pos, &f, &opts); k++) {
        if (codes[k] >= 0x80 || is_shared(f)) continue; /* No retained for shared subscriptions. */
        uint8_t rh = (opts >> MQTT_SUBOPT_RH_SHIFT) & 3;
        if (c->version != MQTT_V5) rh = 0;
        /* Retain Handling: 0 always, 1 only for a new subscription, 2 never [MQTT-3.3.1-9..11]. */
        if (rh == 0 || (rh == 1 && !existed[k])) send_retained(bw, s, f, opts, sub_id);
    }
    free(codes);
    free(existed);
}

void handle_unsubscribe(bworker_t *bw, client_t *c, const mqtt_packet_t *pkt)
{
    const mqtt_subscribe_t *uns = &pkt->u.subscribe;
    session_t *s = c->session;
    uint8_t *codes = malloc(uns->count);
    if (!codes) {
        client_fail(c, IOT_ENOMEM, MQTT_RC_IMPL_SPECIFIC, "out of memory");
        return;
    }
    size_t pos = 0, i = 0;
    mqtt_str_t f;
    while (i < uns->count && mqtt_sub_next(uns, 0, &pos, &f, NULL)) {
        sub_t **pp = NULL;
        sub_t *known = sub_find(s, f, &pp);
        if (known && topic_tree_unsubscribe(broker_g.subs, (const char *)f.p, f.len, s) == 0) {
            *pp = known->next;
            free(known);
            s->nsubs--;
            session_unref(s); /* The trie's reference. */
            codes[i++] = MQTT_RC_SUCCESS;
        } else {
            codes[i++] = MQTT_RC_NO_SUBSCRIPTION_EXISTED;
        }
    }
    mqtt_packet_t p = {.type = MQTT_UNSUBACK};
    p.u.suback.packet_id = uns->packet_id;
    p.u.suback.count = (uint16_t)i;
    p.u.suback.codes = codes;
    client_send_packet(c, &p);
    free(codes);
}
