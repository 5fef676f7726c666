/*
 * session.c - the state MQTT keeps per client id across connections:
 * subscriptions, the outgoing in-flight window and queue, incoming QoS 2
 * packet ids, expiry and will delay. Every function here except
 * session_ref/unref, qitem_* and session_dispatch runs on the session's
 * home worker.
 *
 * Outgoing delivery of one qitem:
 *   session_deliver -> online, window free -> send, in flight (QS_WAIT_ACK/REC)
 *                   -> otherwise           -> queue (bounded; overflow counted)
 *   PUBACK  -> session_on_puback  -> free, session_pump
 *   PUBREC  -> session_on_pubrec  -> QS_WAIT_COMP, send PUBREL
 *   PUBCOMP -> session_on_pubcomp -> free, session_pump
 *   reconnect -> session_resume -> resend in flight with DUP, PUBREL again
 */
#include <stdlib.h>
#include <string.h>

#include "broker/broker.h"
#include "core/container.h"
#include "core/globals.h"


static void session_expired(iot_timer_t *t);
static void session_will_due(iot_timer_t *t);

session_t *session_new(const char *client_id, int home)
{
    session_t *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->client_id = strdup(client_id);
    if (!s->client_id) {
        free(s);
        return NULL;
    }
    atomic_init(&s->refs, 1);
    atomic_init(&s->home, home);
    iot_timer_init(&s->expiry_timer, session_expired);
    iot_timer_init(&s->will_timer, session_will_due);
    return s;
}

void session_ref(session_t *s) { atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed); }

void session_unref(session_t *s)
{
    if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1) return;
    session_clear(s);
    msg_unref(s->will);
    free(s->client_id);
    free(s);
}

qitem_t *qitem_new(msg_t *m, uint8_t qos, uint8_t retain, const uint32_t *sub_ids, uint8_t nsub)
{
    qitem_t *q = malloc(sizeof *q + nsub * sizeof(uint32_t));
    if (!q) return NULL;
    memset(q, 0, sizeof *q);
    msg_ref(m);
    q->msg = m;
    q->qos = qos;
    q->retain = retain;
    q->nsub = nsub;
    if (nsub) memcpy(q->sub_ids, sub_ids, nsub * sizeof(uint32_t));
    return q;
}

void qitem_free(qitem_t *q)
{
    if (q->msg) msg_unref(q->msg);
    free(q);
}

static void free_list(qitem_t *q)
{
    while (q) {
        qitem_t *next = q->next;
        qitem_free(q);
        q = next;
    }
}

void session_clear(session_t *s)
{
    while (s->subs) {
        sub_t *sub = s->subs;
        s->subs = sub->next;
        if (topic_tree_unsubscribe(broker_g.subs, sub->filter, sub->len, s) == 0)
            session_unref(s); /* The trie's reference; never the last one here. */
        free(sub);
    }
    s->nsubs = 0;
    free_list(s->inflight);
    free_list(s->queue);
    s->inflight = s->inflight_tail = s->queue = s->queue_tail = NULL;
    s->ninflight = s->nqueued = 0;
    atomic_store_explicit(&s->backlog, 0, memory_order_relaxed);
    free(s->pid_map);
    s->pid_map = NULL;
    free(s->rx_pids);
    s->rx_pids = NULL;
    s->nrx = s->rxcap = 0;
}

/* ---- in-flight window ---------------------------------------------------- */

/* Below this many messages in flight a linear scan finds a free id faster
 * than a bitmap costs in memory (8 KiB); above it the bitmap keeps id
 * allocation O(1) (measured: a 1000-wide window fell from 433k to 170k
 * msg/s with the scan). */
#define PID_SCAN_MAX 32

static int pid_in_use(const session_t *s, uint16_t pid)
{
    if (s->pid_map) return (int)((s->pid_map[pid >> 6] >> (pid & 63)) & 1u);
    for (const qitem_t *q = s->inflight; q; q = q->next)
        if (q->pid == pid) return 1;
    return 0;
}

static void pid_mark(session_t *s, uint16_t pid, int used)
{
    if (!s->pid_map && used && s->ninflight >= PID_SCAN_MAX) {
        s->pid_map = calloc(65536 / 64, sizeof(uint64_t));
        if (s->pid_map) /* Start from what is in flight now. */
            for (const qitem_t *q = s->inflight; q; q = q->next) s->pid_map[q->pid >> 6] |= 1ull << (q->pid & 63);
    }
    if (!s->pid_map) return;
    if (used)
        s->pid_map[pid >> 6] |= 1ull << (pid & 63);
    else
        s->pid_map[pid >> 6] &= ~(1ull << (pid & 63));
}

static uint16_t session_next_pid(session_t *s)
{
    do {
        if (++s->next_pid == 0) s->next_pid = 1;
    } while (pid_in_use(s, s->next_pid));
    return s->next_pid;
}

static uint32_t window(const session_t *s)
{
    uint32_t w = iot_config()->max_inflight;
    if (s->client && s->client->send_max < w) w = s->client->send_max;
    return w;
}

static void queue_push(session_t *s, qitem_t *q)
{
    q->next = NULL;
    if (s->queue_tail)
        s->queue_tail->next = q;
    else
        s->queue = q;
    s->queue_tail = q;
    s->nqueued++;
    atomic_store_explicit(&s->backlog, s->nqueued, memory_order_relaxed);
}

/* Sends q now: QoS 0 is freed, QoS 1/2 enter the in-flight list. */
static void send_now(session_t *s, qitem_t *q, uint64_t now)
{
    if (q->qos == 0) {
        client_send_publish(s->client, q, 0, now);
        qitem_free(q);
        return;
    }
    q->pid = session_next_pid(s);
    if (client_send_publish(s->client, q, 0, now) != 0) {
        /* Larger than the client accepts: discarded as if delivered [MQTT-3.1.2-25]. */
        qitem_free(q);
        return;
    }
    q->state = q->qos == 1 ? QS_WAIT_ACK : QS_WAIT_REC;
    pid_mark(s, q->pid, 1);
    q->next = NULL;
    if (s->inflight_tail)
        s->inflight_tail->next = q;
    else
        s->inflight = q;
    s->inflight_tail = q;
    s->ninflight++;
}

void session_deliver(bworker_t *bw, session_t *s, qitem_t *q)
{
    const iot_config_t *cfg = iot_config();
    uint64_t now = bw->w->loop.now_ms;
    client_t *c = s->client;
    int active = c && c->state == CS_ACTIVE && !c->disconnecting;
    if (s->dead || (!active && s->expiry == 0)) {
        qitem_free(q);
        return;
    }
    if (msg_ttl(q->msg, now) == 0) {
        METRIC_INC(msgs_expired);
        qitem_free(q);
        return;
    }
    if (active && q->qos == 0) {
        /* A subscriber that cannot keep up loses QoS 0 messages rather than
         * growing its buffer without bound. */
        if (iot_conn_pending(c->conn) > 8ull * cfg->max_packet_size + (1ull << 20)) {
            METRIC_INC(publish_dropped);
            qitem_free(q);
            return;
        }
        send_now(s, q, now);
        return;
    }
    if (active && s->queue == NULL && s->ninflight < window(s)) {
        send_now(s, q, now);
        return;
    }
    if (q->qos == 0 && !active && !cfg->queue_qos0) {
        qitem_free(q);
        return;
    }
    /* Past max_queued_messages a connected subscriber's publishers are
     * throttled (route_publish), so its queue overshoots only by what was
     * already on the way; the hard limit below guards memory. An offline
     * session's queue stops at max_queued_messages. */
    uint64_t limit = cfg->max_queued_messages;
    if (active) limit = limit * 8 + 1000;
    if (s->nqueued >= limit) {
        /* Queue full: the new message is dropped and counted. */
        METRIC_INC(queue_dropped);
        log_debug("client %s: queue full (%u), message on %s dropped", s->client_id, s->nqueued,
                  (const char *)q->msg->topic.p);
        qitem_free(q);
        return;
    }
    queue_push(s, q);
}

void session_pump(bworker_t *bw, session_t *s)
{
    client_t *c = s->client;
    if (!c || c->state != CS_ACTIVE || c->disconnecting) return;
    uint64_t now = bw->w->loop.now_ms;
    while (s->queue && (s->queue->qos == 0 || s->ninflight < window(s))) {
        qitem_t *q = s->queue;
        s->queue = q->next;
        if (!s->queue) s->queue_tail = NULL;
        s->nqueued--;
        atomic_store_explicit(&s->backlog, s->nqueued, memory_order_relaxed);
        if (msg_ttl(q->msg, now) == 0) {
            METRIC_INC(msgs_expired);
            qitem_free(q);
            continue;
        }
        send_now(s, q, now);
    }
}

void session_resume(bworker_t *bw, session_t *s)
{
    uint64_t now = bw->w->loop.now_ms;
    /* Resend unacknowledged messages in their original order, with DUP,
     * before anything new [MQTT-4.4.0-1], [MQTT-4.6.0-1]. */
    for (qitem_t *q = s->inflight; q; q = q->next) {
        if (q->state == QS_WAIT_COMP) {
            client_send_ack(s->client, MQTT_PUBREL, q->pid, MQTT_RC_SUCCESS);
        } else {
            client_send_publish(s->client, q, 1, now);
        }
    }
    session_pump(bw, s);
}

static qitem_t *inflight_take(session_t *s, uint16_t pid, int state)
{
    qitem_t *prev = NULL;
    for (qitem_t *q = s->inflight; q; prev = q, q = q->next) {
        if (q->pid != pid || q->state != state) continue;
        if (prev)
            prev->next = q->next;
        else
            s->inflight = q->next;
        if (s->inflight_tail == q) s->inflight_tail = prev;
        s->ninflight--;
        pid_mark(s, q->pid, 0);
        q->next = NULL;
        return q;
    }
    return NULL;
}

void session_on_puback(bworker_t *bw, session_t *s, uint16_t pid)
{
    qitem_t *q = inflight_take(s, pid, QS_WAIT_ACK);
    if (!q) return; /* Unknown id: nothing to release. */
    qitem_free(q);
    session_pump(bw, s);
}

int session_on_pubrec(bworker_t *bw, session_t *s, uint16_t pid, uint8_t reason)
{
    for (qitem_t *q = s->inflight; q; q = q->next) {
        if (q->pid != pid) continue;
        if (q->state == QS_WAIT_COMP) return 0; /* Repeated PUBREC: send PUBREL again. */
        if (q->state != QS_WAIT_REC) return IOT_ENOTFOUND;
        if (reason >= 0x80) {
            /* The receiver refused it: the exchange ends here [MQTT-4.3.3]. */
            qitem_free(inflight_take(s, pid, QS_WAIT_REC));
            session_pump(bw, s);
            return 1;
        }
        q->state = QS_WAIT_COMP;
        msg_unref(q->msg);
        q->msg = NULL;
        return 0;
    }
    return IOT_ENOTFOUND;
}

void session_on_pubcomp(bworker_t *bw, session_t *s, uint16_t pid)
{
    qitem_t *q = inflight_take(s, pid, QS_WAIT_COMP);
    if (!q) return;
    qitem_free(q);
    session_pump(bw, s);
}

/* ---- incoming QoS 2 ids -------------------------------------------------- */

int session_rx_has(session_t *s, uint16_t pid)
{
    for (uint32_t i = 0; i < s->nrx; i++)
        if (s->rx_pids[i] == pid) return 1;
    return 0;
}

int session_rx_add(session_t *s, uint16_t pid)
{
    if (s->nrx == s->rxcap) {
        uint32_t cap = s->rxcap ? s->rxcap * 2 : 8;
        uint16_t *n = realloc(s->rx_pids, cap * sizeof *n);
        if (!n) return IOT_ENOMEM;
        s->rx_pids = n;
        s->rxcap = cap;
    }
    s->rx_pids[s->nrx++] = pid;
    return 0;
}

int session_rx_del(session_t *s, uint16_t pid)
{
    for (uint32_t i = 0; i < s->nrx; i++) {
        if (s->rx_pids[i] != pid) continue;
        s->rx_pids[i] = s->rx_pids[--s->nrx];
        return 0;
    }
    return IOT_ENOTFOUND;
}

/* ---- cross-worker delivery ----------------------------------------------- */

static void deliver_task(iot_loop_t *loop, iot_task_t *task)
{
    qitem_t *q = iot_container_of(task, qitem_t, task);
    session_t *s = q->target;
    q->target = NULL;
    if (atomic_load(&broker_g.shutting_down)) {
        qitem_free(q);
        session_unref(s);
        return;
    }
    session_dispatch(bw_of((iot_worker_t *)loop->data), s, q, 0); /* Passes the task's reference on. */
}

void session_dispatch(bworker_t *bw, session_t *s, qitem_t *q, int batch)
{
    int home = atomic_load_explicit(&s->home, memory_order_acquire);
    if (home == bw->w->id) {
        session_deliver(bw, s, q);
        session_unref(s);
        return;
    }
    /* Another worker owns the session: the item carries the reference there. */
    q->target = s;
    q->task.fn = deliver_task;
    if (!batch) {
        iot_loop_post(&broker_g.workers[home].loop, &q->task);
        return;
    }
    q->task.next = NULL;
    if (bw->out_tail[home])
        bw->out_tail[home]->next = &q->task;
    else
        bw->out_head[home] = &q->task;
    bw->out_tail[home] = &q->task;
}

void route_flush(bworker_t *bw)
{
    for (int i = 0; i < broker_g.nworkers; i++) {
        if (!bw->out_head[i]) continue;
        iot_loop_post_chain(&broker_g.workers[i].loop, bw->out_head[i], bw->out_tail[i]);
        bw->out_head[i] = bw->out_tail[i] = NULL;
    }
}

/* ---- end of a session ---------------------------------------------------- */

void session_end(bworker_t *bw, session_t *s)
{
    if (s->dead) return;
    s->dead = 1;
    iot_timer_cancel(&bw->w->loop.wheel, &s->expiry_timer);
    iot_timer_cancel(&bw->w->loop.wheel, &s->will_timer);
    /* A will still held back by its delay goes out when the session ends. */
    if (s->will) {
        msg_t *will = s->will;
        s->will = NULL;
        publish_will(bw, will);
    }
    registry_remove(s);
    session_clear(s);
    session_unref(s); /* The registry's reference. */
}

static void session_expired(iot_timer_t *t)
{
    session_t *s = iot_container_of(t, session_t, expiry_timer);
    bworker_t *bw = &broker_g.bw[atomic_load(&s->home)];
    if (s->client) return;
    log_debug("client %s: session expired", s->client_id);
    session_end(bw, s);
}

static void session_will_due(iot_timer_t *t)
{
    session_t *s = iot_container_of(t, session_t, will_timer);
    bworker_t *bw = &broker_g.bw[atomic_load(&s->home)];
    msg_t *will = s->will;
    s->will = NULL;
    if (will) publish_will(bw, will);
}

void session_detach(bworker_t *bw, session_t *s)
{
    s->client = NULL;
    atomic_store(&s->online, 0);
    if (s->expiry == 0) {
        session_end(bw, s);
        return;
    }
    if (s->expiry != SESSION_NEVER_EXPIRES)
        iot_timer_set(&bw->w->loop.wheel, &s->expiry_timer, (uint64_t)s->expiry * 1000u);
}
