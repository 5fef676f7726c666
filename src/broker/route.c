/*
 * route.c - from one published message to every matching session.
 *
 * The trie is walked under its read lock and the matches are collected in
 * the worker's scratch array; then they are sorted by session so that one
 * session with overlapping subscriptions gets the message once, at the
 * highest granted QoS, with every subscription identifier [MQTT-3.3.4-2],
 * [MQTT-3.3.4-3]. Each delivery goes to the session's home worker.
 */
#include <stdlib.h>
#include <string.h>

#include "broker/broker.h"
#include "core/container.h"
#include "core/globals.h"

/* One matching subscription. */
typedef struct match {
    session_t *s;        /* Subscriber (a reference is taken while collected). */
    uint8_t opts;        /* Subscription options. */
    uint8_t shared;      /* Came from a share group. */
    uint32_t sub_id;     /* Subscription identifier or 0. */
} match_t;

typedef struct route_ctx {
    bworker_t *bw;       /* Collecting worker. */
    session_t *origin;   /* Publisher, for No Local. */
} route_ctx_t;

static void on_match(void *ctx, void *owner, uint8_t opts, uint32_t sub_id, int shared)
{
    route_ctx_t *rc = ctx;
    bworker_t *bw = rc->bw;
    session_t *s = owner;
    /* No Local: not back to the publisher's own session [MQTT-3.8.3-3]. */
    if ((opts & MQTT_SUBOPT_NO_LOCAL) && s == rc->origin && !shared) return;
    if (bw->nmatch == bw->match_cap) {
        size_t cap = bw->match_cap ? bw->match_cap * 2 : 64;
        match_t *nm = realloc(bw->matches, cap * sizeof *nm);
        if (!nm) return; /* Out of memory: this receiver misses the message. */
        bw->matches = nm;
        bw->match_cap = cap;
    }
    /* The trie holds a reference for each subscription, and the session
     * cannot lose it while we hold the read lock; take one of our own, which
     * the delivery then carries (route_publish). */
    session_ref(s);
    bw->matches[bw->nmatch++] = (match_t){s, opts, (uint8_t)shared, sub_id};
}

static int on_online(void *ctx, void *owner)
{
    session_t *s = owner;
    return atomic_load_explicit(&s->online, memory_order_relaxed);
}

static int match_cmp(const void *a, const void *b)
{
    const match_t *x = a, *y = b;
    return x->s < y->s ? -1 : x->s > y->s;
}

size_t route_publish(bworker_t *bw, msg_t *m, session_t *origin)
{
    route_ctx_t rc = {bw, origin};
    bw->nmatch = 0;
    topic_tree_match(broker_g.subs, (const char *)m->topic.p, m->topic.len, on_match, on_online, &rc);
    size_t n = bw->nmatch;
    if (n == 0) return 0;
    match_t *ms = bw->matches;
    if (n > 1) qsort(ms, n, sizeof *ms, match_cmp);
    size_t reached = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        uint8_t qos = 0, retain = 0;
        uint32_t ids[MQTT_MAX_SUB_IDS];
        uint8_t nid = 0;
        for (; j < n && ms[j].s == ms[i].s; j++) {
            uint8_t q = ms[j].opts & MQTT_SUBOPT_QOS_MASK;
            if (q > qos) qos = q;
            /* Retain As Published keeps the flag; otherwise live messages go out with retain 0 [MQTT-3.3.1-12]. */
            if (ms[j].opts & MQTT_SUBOPT_RAP) retain |= m->retain;
            if (ms[j].sub_id && nid < MQTT_MAX_SUB_IDS) ids[nid++] = ms[j].sub_id;
        }
        if (qos > m->qos) qos = m->qos;
        session_t *s = ms[i].s;
        /* A connected subscriber whose queue is full slows the publisher
         * down instead of losing acknowledged messages. */
        if (qos && atomic_load_explicit(&s->online, memory_order_relaxed) &&
            atomic_load_explicit(&s->backlog, memory_order_relaxed) >= iot_config()->max_queued_messages)
            bw->congested = 1;
        qitem_t *q = qitem_new(m, qos, retain, ids, nid);
        size_t k = i;
        if (q) {
            /* The reference taken in on_match goes with the delivery
             * (no extra atomic per receiver); the other matches' are dropped. */
            session_dispatch(bw, s, q, 1);
            reached++;
            k++;
        }
        for (; k < j; k++) session_unref(ms[k].s);
        i = j;
    }
    bw->nmatch = 0;
    /* Remote deliveries wait in bw->out_* until the worker is about to
     * sleep (route_flush), so one inbox lock and one wake-up carry every
     * message of this loop pass to each other worker. */
    return reached;
}

void route_retain(msg_t *m)
{
    if (!iot_config()->retain_available) return;
    /* An empty payload removes the retained message [MQTT-3.3.1-10]. */
    retain_set(broker_g.retained, (const char *)m->topic.p, m->topic.len, m->payload.len ? m : NULL);
}

/* How long a throttled publisher waits before it may read again. Short, so
 * that a subscriber that catches up is fed at once; each resumed publisher
 * is throttled again by its next message if the queue is still full. */
#define THROTTLE_MS 5

static void throttle_release(iot_timer_t *t)
{
    bworker_t *bw = iot_container_of(t, bworker_t, throttle_timer);
    size_t n = bw->nthrottled;
    client_t **list = bw->throttled;
    bw->throttled = NULL;
    bw->nthrottled = bw->throttled_cap = 0;
    for (size_t i = 0; i < n; i++) {
        list[i]->throttled = 0;
        if (list[i]->conn) iot_conn_unpause_read(list[i]->conn);
    }
    free(list);
}

void route_throttle(bworker_t *bw, client_t *c)
{
    if (c->throttled || !c->conn) return;
    if (bw->nthrottled == bw->throttled_cap) {
        size_t cap = bw->throttled_cap ? bw->throttled_cap * 2 : 16;
        client_t **nl = realloc(bw->throttled, cap * sizeof *nl);
        if (!nl) return; /* Not throttled: the queue's hard limit still holds. */
        bw->throttled = nl;
        bw->throttled_cap = cap;
    }
    bw->throttled[bw->nthrottled++] = c;
    c->throttled = 1;
    iot_conn_pause_read(c->conn);
    if (!iot_timer_armed(&bw->throttle_timer)) {
        bw->throttle_timer.cb = throttle_release;
        iot_timer_set(&bw->w->loop.wheel, &bw->throttle_timer, THROTTLE_MS);
    }
}

void route_unthrottle(bworker_t *bw, client_t *c)
{
    if (!c->throttled) return;
    for (size_t i = 0; i < bw->nthrottled; i++) {
        if (bw->throttled[i] == c) {
            bw->throttled[i] = bw->throttled[--bw->nthrottled];
            break;
        }
    }
    c->throttled = 0;
}
