/*
 * handle_connect.c - CONNECT: checks, client id assignment, finding the
 * session (here, or moving it from another worker), session takeover,
 * clean start, and CONNACK. See broker.h for the cross-worker exchange.
 */
#include <stdlib.h>
#include <string.h>

#include "broker/broker.h"
#include "core/container.h"
#include "core/globals.h"


/* Sent from the client's worker to the session's home worker, then back. */
typedef struct move_task {
    iot_task_t task;     /* Inbox link. */
    session_t *s;        /* The session (a reference). */
    client_t *c;         /* The connecting client (lives on worker `to`). */
    int to;              /* Worker of the connecting client. */
} move_task_t;

static void connack_refuse(client_t *c, uint8_t v5_reason, uint8_t v3_code, const char *why)
{
    mqtt_packet_t p = {.type = MQTT_CONNACK};
    p.u.connack.reason = c->version == MQTT_V5 ? v5_reason : v3_code;
    if (c->version == MQTT_V5) {
        p.u.connack.props.present = MQTT_P_REASON_STRING;
        p.u.connack.props.reason_string = (mqtt_str_t){(const uint8_t *)why, strlen(why)};
    }
    client_send_packet(c, &p);
    log_warn("%s: CONNECT refused: %s", iot_conn_peer(c->conn), why);
    c->disconnecting = 1;
    iot_conn_close_after_flush(c->conn);
}

void publish_will(bworker_t *bw, msg_t *will)
{
    if (!atomic_load(&broker_g.shutting_down)) {
        if (will->retain) route_retain(will);
        route_publish(bw, will, NULL);
    }
    msg_unref(will);
}

/* Another connection takes s: the old client is told and dropped [MQTT-3.1.4-3]. */
static void takeover_kick(bworker_t *bw, session_t *s)
{
    client_t *old = s->client;
    log_info("%s: client %s: session taken over by a new connection", old->conn ? iot_conn_peer(old->conn) : "-",
             s->client_id);
    client_disconnect(old, MQTT_RC_SESSION_TAKEN_OVER, "session taken over");
    msg_t *will = old->will;
    old->will = NULL;
    if (will) {
        /* With a will delay, the new connection arrives within it: no will [MQTT-3.1.3-9]. */
        if (old->will_delay == 0)
            publish_will(bw, will);
        else
            msg_unref(will);
    }
    s->client = NULL;
    atomic_store(&s->online, 0);
    old->session = NULL;
    session_unref(s);
}

void connect_finish(bworker_t *bw, client_t *c, session_t *s, int existed)
{
    iot_wheel_t *wheel = &bw->w->loop.wheel;
    const iot_config_t *cfg = iot_config();
    if (s->client && s->client != c) takeover_kick(bw, s);
    iot_timer_cancel(wheel, &s->expiry_timer);
    iot_timer_cancel(wheel, &s->will_timer);
    if (s->will) { /* Reconnected within the will delay: no will [MQTT-3.1.3-9]. */
        msg_unref(s->will);
        s->will = NULL;
    }
    int present = existed && !c->req.clean;
    if (c->req.clean) session_clear(s);
    s->expiry = c->req.expiry;
    s->client = c;
    atomic_store(&s->online, 1);
    c->session = s;
    c->state = CS_ACTIVE;
    free(c->client_id); /* The session's copy serves from here on. */
    c->client_id = NULL;
    METRIC_INC(clients_connected);

    mqtt_packet_t p = {.type = MQTT_CONNACK};
    mqtt_connack_t *ack = &p.u.connack;
    ack->session_present = (uint8_t)present; /* [MQTT-3.2.2-2], [MQTT-3.2.2-3] */
    if (c->version == MQTT_V5) {
        mqtt_props_t *pr = &ack->props;
        pr->present = MQTT_P_RECEIVE_MAX | MQTT_P_MAX_PACKET_SIZE | MQTT_P_TOPIC_ALIAS_MAX;
        pr->receive_max = (uint16_t)(cfg->max_inflight > 65535 ? 65535 : cfg->max_inflight);
        pr->max_packet_size = cfg->max_packet_size;
        pr->topic_alias_max = c->alias_in_max;
        if (!cfg->retain_available) {
            pr->present |= MQTT_P_RETAIN_AVAILABLE;
            pr->retain_available = 0;
        }
        if (c->req.assigned_id) {
            pr->present |= MQTT_P_ASSIGNED_CLIENT_ID;
            pr->assigned_client_id = (mqtt_str_t){(const uint8_t *)s->client_id, strlen(s->client_id)};
        }
        if (c->req.server_keepalive) {
            pr->present |= MQTT_P_SERVER_KEEPALIVE;
            pr->server_keepalive = c->req.server_keepalive;
        }
        if (c->req.expiry_capped) {
            pr->present |= MQTT_P_SESSION_EXPIRY;
            pr->session_expiry = c->req.expiry;
        }
    }
    client_send_packet(c, &p);
    log_debug("%s: client %s connected (v%s, clean %d, keepalive %u, present %d)", iot_conn_peer(c->conn), s->client_id,
              c->version == MQTT_V5 ? "5" : "3.1.1", c->req.clean, c->keepalive, present);
    iot_timer_cancel(wheel, &c->timer);
    client_touch(c);
    session_resume(bw, s);
}

static void bind_session(bworker_t *bw, client_t *c);

/* On the client's worker: the session arrived (or ended on the way). */
static void attach_task(iot_loop_t *loop, iot_task_t *task)
{
    move_task_t *mt = iot_container_of(task, move_task_t, task);
    bworker_t *bw = bw_of(loop->data);
    session_t *s = mt->s;
    client_t *c = mt->c;
    free(mt);
    if (c->state == CS_ORPHAN || atomic_load(&broker_g.shutting_down)) {
        /* The connection closed meanwhile; the session stays here, offline. */
        if (!s->dead && !s->client) {
            if (s->expiry == 0)
                session_end(bw, s);
            else if (s->expiry != SESSION_NEVER_EXPIRES && !atomic_load(&broker_g.shutting_down))
                iot_timer_set(&loop->wheel, &s->expiry_timer, (uint64_t)s->expiry * 1000u);
        }
        session_unref(s);
        if (c->state == CS_ORPHAN) client_free(c);
        return;
    }
    if (s->dead) {
        /* It ended before it could move: start over with a fresh lookup. */
        session_unref(s);
        bind_session(bw, c);
        return;
    }
    connect_finish(bw, c, s, 1);
    /* Input that arrived while waiting is in the connection's buffer. */
    if (c->conn) iot_conn_resume(c->conn);
}

/* On the session's home worker: give the session to worker mt->to. */
static void migrate_task(iot_loop_t *loop, iot_task_t *task)
{
    move_task_t *mt = iot_container_of(task, move_task_t, task);
    bworker_t *bw = bw_of(loop->data);
    session_t *s = mt->s;
    int home = atomic_load(&s->home);
    if (!s->dead && home != bw->w->id) {
        /* It moved on since the request was sent: follow it. */
        iot_loop_post(&broker_g.workers[home].loop, task);
        return;
    }
    if (!s->dead) {
        if (s->client) takeover_kick(bw, s);
        iot_timer_cancel(&loop->wheel, &s->expiry_timer);
        iot_timer_cancel(&loop->wheel, &s->will_timer);
        atomic_store_explicit(&s->home, mt->to, memory_order_release);
    }
    mt->task.fn = attach_task;
    iot_loop_post(&broker_g.workers[mt->to].loop, &mt->task);
}

static void bind_session(bworker_t *bw, client_t *c)
{
    int created;
    session_t *s = registry_find_or_add(c->client_id, bw->w->id, &created);
    if (!s) {
        connack_refuse(c, MQTT_RC_SERVER_UNAVAILABLE, MQTT_V3_SERVER_UNAVAILABLE, "out of memory");
        return;
    }
    int home = atomic_load_explicit(&s->home, memory_order_acquire);
    if (created || home == bw->w->id) {
        connect_finish(bw, c, s, !created);
        return;
    }
    move_task_t *mt = calloc(1, sizeof *mt);
    if (!mt) {
        session_unref(s);
        connack_refuse(c, MQTT_RC_SERVER_UNAVAILABLE, MQTT_V3_SERVER_UNAVAILABLE, "out of memory");
        return;
    }
    c->state = CS_WAIT_SESSION;
    mt->s = s;
    mt->c = c;
    mt->to = bw->w->id;
    mt->task.fn = migrate_task;
    iot_loop_post(&broker_g.workers[home].loop, &mt->task);
}

void handle_connect(bworker_t *bw, client_t *c, const mqtt_packet_t *pkt)
{
    const mqtt_connect_t *k = &pkt->u.connect;
    const iot_config_t *cfg = iot_config();
    c->version = k->proto_level;
    char assigned[64];
    const char *id;
    size_t id_len = k->client_id.len;

    if (id_len == 0) {
        /* 3.1.1 allows an empty id only with clean session [MQTT-3.1.3-7], [MQTT-3.1.3-8]. */
        if (c->version == MQTT_V311 && !k->clean) {
            connack_refuse(c, MQTT_RC_CLIENT_ID_INVALID, MQTT_V3_ID_REJECTED, "empty client id without clean session");
            return;
        }
        registry_assign_id(assigned, sizeof assigned);
        id = assigned;
        id_len = strlen(assigned);
        c->req.assigned_id = 1;
    } else {
        id = (const char *)k->client_id.p;
    }
    if (!cfg->allow_anonymous) {
        /* No credential store exists yet, so nobody can be verified: refuse
         * everyone rather than trust an unchecked user name. */
        METRIC_INC(auth_failures);
        connack_refuse(c, MQTT_RC_NOT_AUTHORIZED, MQTT_V3_NOT_AUTHORIZED,
                       "allow_anonymous is false and no credential store is configured");
        return;
    }
    const mqtt_props_t *pr = &k->props;
    if (c->version == MQTT_V5 && (pr->present & MQTT_P_AUTH_METHOD)) {
        METRIC_INC(auth_failures);
        connack_refuse(c, MQTT_RC_BAD_AUTH_METHOD, 0, "unsupported authentication method");
        return;
    }
    if (k->will_flag && k->will_retain && !cfg->retain_available) {
        connack_refuse(c, MQTT_RC_RETAIN_NOT_SUPPORTED, MQTT_V3_NOT_AUTHORIZED, "retained will but retain is off");
        return;
    }

    /* What the client allows us [MQTT-3.1.2-*]. */
    c->send_max = 65535;
    c->problem_info = 1;
    uint32_t expiry = 0;
    if (c->version == MQTT_V5) {
        if (pr->present & MQTT_P_RECEIVE_MAX) c->send_max = pr->receive_max;
        if (pr->present & MQTT_P_MAX_PACKET_SIZE) c->max_packet = pr->max_packet_size;
        if (pr->present & MQTT_P_TOPIC_ALIAS_MAX) c->alias_out_max = pr->topic_alias_max;
        if (pr->present & MQTT_P_REQ_PROBLEM_INFO) c->problem_info = pr->req_problem_info;
        if (pr->present & MQTT_P_SESSION_EXPIRY) expiry = pr->session_expiry;
    } else {
        expiry = k->clean ? 0 : SESSION_NEVER_EXPIRES;
    }
    if (expiry > cfg->max_session_expiry && c->version == MQTT_V5) {
        expiry = cfg->max_session_expiry;
        c->req.expiry_capped = 1;
    }
    c->req.clean = k->clean;
    c->req.expiry = expiry;
    c->nrx_limit = (uint16_t)(cfg->max_inflight > 65535 ? 65535 : cfg->max_inflight);
    c->alias_in_max = (uint16_t)cfg->topic_alias_max; /* Fixed for the connection's life. */

    c->keepalive = k->keepalive;
    if (cfg->max_keepalive && c->version == MQTT_V5 && (k->keepalive == 0 || k->keepalive > cfg->max_keepalive)) {
        /* The server's keepalive replaces the client's [MQTT-3.2.2-21]. */
        c->keepalive = (uint16_t)cfg->max_keepalive;
        c->req.server_keepalive = c->keepalive;
    }

    if (k->will_flag) {
        c->will = msg_new(k->will_topic, k->will_payload, k->will_qos, k->will_retain,
                          c->version == MQTT_V5 ? &k->will_props : NULL, bw->w->loop.now_ms);
        if (c->version == MQTT_V5 && (k->will_props.present & MQTT_P_WILL_DELAY))
            c->will_delay = k->will_props.will_delay;
    }
    c->client_id = strndup(id, id_len);
    if (!c->client_id || (k->will_flag && !c->will)) {
        connack_refuse(c, MQTT_RC_SERVER_UNAVAILABLE, MQTT_V3_SERVER_UNAVAILABLE, "out of memory");
        return;
    }
    if (memchr(id, 0, id_len)) {
        connack_refuse(c, MQTT_RC_CLIENT_ID_INVALID, MQTT_V3_ID_REJECTED, "client id contains NUL");
        return;
    }
    bind_session(bw, c);
}
