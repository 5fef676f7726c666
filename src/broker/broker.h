/*
 * broker.h - the MQTT broker: messages, sessions, clients and routing.
 *
 * Ownership and threads
 * - A message (msg_t) is immutable once built and reference counted; every
 *   queue entry, retained slot and in-flight delivery holds one reference.
 * - A session lives on one "home" worker. Only that worker's thread touches
 *   its queues, in-flight window, timers and attached client. Others reach
 *   it by posting a task to the home worker (deliveries, takeovers). The
 *   fields marked "atomic" may be read by any thread.
 * - A client is the MQTT state of one connection; it belongs to the
 *   connection's worker and is freed when the connection closes.
 * - Shared by all workers, each with its own lock: the subscription trie,
 *   the retained store and the session registry (client id -> session).
 *
 * Session takeover across workers (a client id reconnects on worker B while
 * its session lives on worker A):
 *   B: handle_connect -> registry finds S (home A) -> post MIGRATE to A,
 *      client waits in CS_WAIT_SESSION
 *   A: session_on_migrate -> kick the old client (DISCONNECT 0x8E), cancel
 *      A's timers, set S->home = B -> post ATTACH to B
 *   B: session_on_attach -> connect_finish: CONNACK, resend in-flight, drain
 * Deliveries that reach A after the move are forwarded to S->home.
 */
#ifndef IOT_BROKER_H
#define IOT_BROKER_H

#include <stdatomic.h>
#include <stdint.h>

#include "broker/retain.h"
#include "broker/topic_tree.h"
#include "core/loop.h"
#include "core/timer.h"
#include "net/net.h"
#include "proto/mqtt/mqtt.h"

#define SESSION_NEVER_EXPIRES UINT32_MAX

/* ---- messages ------------------------------------------------------------ */

/* One published application message, shared by every receiver. */
typedef struct msg {
    _Atomic uint32_t refs;       /* References; freed at 0. */
    uint8_t qos;                 /* QoS it was published with. */
    uint8_t retain;              /* Retain flag it was published with. */
    uint8_t payload_format;      /* v5 payload format indicator value. */
    uint32_t props;              /* MQTT_P_* bits of the properties carried. */
    uint64_t expiry_at;          /* Monotonic ms when it expires; 0 = never. */
    mqtt_str_t topic;            /* Points into data. */
    mqtt_str_t payload;          /* Points into data. */
    mqtt_str_t content_type;     /* Points into data. */
    mqtt_str_t response_topic;   /* Points into data. */
    mqtt_str_t correlation_data; /* Points into data. */
    mqtt_str_t user_raw;         /* 0x26 records, points into data. */
    /* The plain QoS 0 PUBLISH (no DUP, retain 0, no alias, no subscription
     * ids), encoded once per protocol version by the first receiver that
     * needs it and shared by all others: [0] 3.1.1, [1] 5.0. Each buffer
     * starts with its length as a uint32_t. Freed with the message. */
    _Atomic(uint8_t *) enc[2];
    uint8_t data[];              /* Topic, payload and property bytes. */
} msg_t;

/* Builds a message from a decoded PUBLISH (or will); props may be NULL.
 * Copies everything it keeps. Returns owned (1 reference) or NULL. */
msg_t *msg_new(mqtt_str_t topic, mqtt_str_t payload, uint8_t qos, uint8_t retain,
               const mqtt_props_t *props, uint64_t now_ms);
void msg_ref(msg_t *m);
void msg_unref(msg_t *m);
/* Seconds of life left (rounded up, >= 1), or 0 if expired; UINT32_MAX if none. */
uint32_t msg_ttl(const msg_t *m, uint64_t now_ms);

/* ---- sessions ------------------------------------------------------------ */

typedef struct session session_t;
typedef struct client client_t;

/* States of one outgoing delivery. */
enum { QS_QUEUED = 0, QS_WAIT_ACK, QS_WAIT_REC, QS_WAIT_COMP };

/* One message on its way to one session: queued, or in flight. */
typedef struct qitem {
    iot_task_t task;             /* Used while posted to the home worker. */
    struct qitem *next;          /* Queue or in-flight list link. */
    session_t *target;           /* Holds a session reference while posted. */
    msg_t *msg;                  /* Reference; NULL once PUBREC came. */
    uint16_t pid;                /* Packet id while in flight. */
    uint8_t qos;                 /* Delivery QoS (min of publish and subscription). */
    uint8_t retain;              /* Retain flag to send. */
    uint8_t state;               /* QS_*. */
    uint8_t nsub;                /* Subscription identifiers that follow. */
    uint32_t sub_ids[];          /* Subscription identifiers of the matches. */
} qitem_t;

/* One subscription as the session remembers it (to remove it later). */
typedef struct sub {
    struct sub *next;            /* Session's list. */
    uint8_t opts;                /* Subscription options. */
    uint32_t sub_id;             /* Subscription identifier, 0 = none. */
    uint16_t len;                /* Filter length. */
    char filter[];               /* Full filter incl. $share/<g>/, not NUL-terminated. */
} sub_t;

struct session {
    _Atomic uint32_t refs;       /* Registry, trie entries and posted tasks hold references. */
    _Atomic int home;            /* Worker id that owns the session (atomic). */
    _Atomic int online;          /* A client is attached (atomic; share-group picks read it). */
    int dead;                    /* Ended: deliveries are dropped (home only). */
    char *client_id;             /* Owned, NUL-terminated. */
    uint32_t expiry;             /* Session expiry interval, s; SESSION_NEVER_EXPIRES. */
    client_t *client;            /* Attached client or NULL (home only). */
    sub_t *subs;                 /* Subscriptions. */
    uint32_t nsubs;              /* Their count. */
    qitem_t *inflight, *inflight_tail; /* Sent, awaiting acknowledgement, in send order. */
    uint32_t ninflight;          /* Entries in flight. */
    qitem_t *queue, *queue_tail; /* Waiting for a free in-flight slot or a client. */
    uint32_t nqueued;            /* Entries queued. */
    _Atomic uint32_t backlog;    /* nqueued, readable by publishers' workers (back-pressure). */
    uint16_t next_pid;           /* Last packet id used. */
    uint64_t *pid_map;           /* Ids in flight, one bit each; only while the window is large. */
    uint16_t *rx_pids;           /* Incoming QoS 2 ids awaiting PUBREL. */
    uint32_t nrx, rxcap;         /* Count and capacity of rx_pids. */
    msg_t *will;                 /* Will held back by a will delay, or NULL. */
    iot_timer_t expiry_timer;    /* Session expiry while offline (home wheel). */
    iot_timer_t will_timer;      /* Will delay (home wheel). */
    struct session *reg_next;    /* Registry hash chain. */
};

/* ---- clients ------------------------------------------------------------- */

enum client_state {
    CS_NEW = 0,          /* Waiting for CONNECT. */
    CS_WAIT_SESSION,     /* CONNECT read; its session is moving here. */
    CS_ACTIVE,           /* CONNACK sent. */
    CS_ORPHAN,           /* Connection closed while waiting for the session. */
};

/* What a CONNECT asked for, kept while the session is fetched. */
typedef struct connect_req {
    uint8_t clean;               /* Clean session / clean start. */
    uint8_t assigned_id;         /* The client id was assigned by us. */
    uint32_t expiry;             /* Requested session expiry (capped). */
    uint8_t expiry_capped;       /* expiry was lowered: tell the client in CONNACK. */
    uint16_t server_keepalive;   /* Keepalive granted if it differs from the client's. */
} connect_req_t;

struct client {
    iot_conn_t *conn;            /* The connection; NULL when orphaned. */
    session_t *session;          /* Attached session (holds a reference). */
    char *client_id;             /* Owned copy while connecting. */
    uint8_t state;               /* enum client_state. */
    uint8_t version;             /* MQTT_V311 or MQTT_V5. */
    uint8_t problem_info;        /* v5 Request Problem Information (default 1). */
    uint8_t disconnecting;       /* DISCONNECT received or sent; ignore more input. */
    uint8_t throttled;           /* Reading paused by back-pressure (on bw->throttled). */
    uint16_t keepalive;          /* Effective keepalive, s. */
    uint16_t send_max;           /* Client's Receive Maximum: our in-flight limit. */
    uint32_t max_packet;         /* Client's Maximum Packet Size; 0 = none. */
    uint16_t alias_out_max;      /* Topic aliases the client accepts from us. */
    uint16_t nrx_limit;          /* Incoming QoS 2 window (our Receive Maximum). */
    char **alias_in;             /* Topic per alias the client defined (lazy). */
    uint16_t alias_in_max;       /* Aliases we announced in CONNACK (alias_in has max+1 slots). */
    char **alias_out;            /* Topic per alias we defined (lazy). */
    msg_t *will;                 /* Will message or NULL. */
    uint32_t will_delay;         /* Will delay interval, s. */
    connect_req_t req;           /* The CONNECT being served. */
    iot_timer_t timer;           /* Connect timeout, then keepalive. */
    struct mqtt_ws *ws;          /* WebSocket transport state, or NULL on plain TCP. */
};

/* ---- broker -------------------------------------------------------------- */

/* Per-worker broker state. */
typedef struct bworker {
    iot_worker_t *w;             /* The worker. */
    struct match *matches;       /* Scratch array for routing. */
    size_t nmatch, match_cap;    /* Its use and capacity. */
    iot_task_t **out_head;       /* Per target worker: deliveries gathered by one route_publish. */
    iot_task_t **out_tail;       /* Their last task. */
    int congested;               /* The last route_publish met a subscriber over its queue limit. */
    client_t **throttled;        /* Publishers whose reading is paused by back-pressure. */
    size_t nthrottled, throttled_cap; /* Their count and capacity. */
    iot_timer_t throttle_timer;  /* Resumes the throttled publishers. */
} bworker_t;

typedef struct broker {
    iot_worker_t *workers;       /* All workers. */
    bworker_t *bw;               /* Broker state per worker. */
    int nworkers;                /* Their count. */
    topic_tree_t *subs;          /* Subscription trie. */
    retain_t *retained;          /* Retained messages. */
    pthread_mutex_t reg_lock;    /* Guards the session registry. */
    session_t **reg;             /* Registry hash buckets. */
    size_t reg_size, reg_count;  /* Buckets and sessions. */
    _Atomic uint32_t conn_count; /* Open client connections (for max_connections). */
    _Atomic int shutting_down;   /* Set when the broker stops. */
    uint64_t start_ms;           /* Monotonic start time (uptime). */
    uint64_t id_counter;         /* For assigned client ids (under reg_lock). */
} broker_t;

/* The broker (listed in core/globals.h). */
extern broker_t broker_g;

int broker_init(iot_worker_t *workers, int nworkers);
/* After the workers stopped: frees every session, message and table. */
void broker_close(void);
/* Listener hook: makes c an MQTT connection. */
void broker_on_accept(iot_worker_t *w, iot_conn_t *c);
/* Thread-safe: asks every worker to disconnect its clients and stop. */
void broker_shutdown(void);
/* Thread-safe: publishes $SYS topics from worker 0. */
void broker_post_sys(void);

static inline bworker_t *bw_of(iot_worker_t *w) { return (bworker_t *)w->ctx; }

/* Whether c takes more input now: not closing, not throttled, not waiting
 * for its session to arrive from another worker. */
static inline int client_can_read(const client_t *c)
{
    return c->conn && !c->conn->closed && !c->disconnecting && !c->conn->read_paused && c->state != CS_WAIT_SESSION;
}

/* route.c: delivers m to every matching subscription; origin is the
 * publishing session (for No Local) or NULL. Returns subscribers reached. */
size_t route_publish(bworker_t *bw, msg_t *m, session_t *origin);
/* Pauses c's reading for a moment because a subscriber is over its queue
 * limit (route_publish set bw->congested). */
void route_throttle(bworker_t *bw, client_t *c);
/* Takes c off the throttled list (it is closing). */
void route_unthrottle(bworker_t *bw, client_t *c);
/* Sets or clears the retained message for m's topic. */
void route_retain(msg_t *m);

/* session.c */
session_t *session_new(const char *client_id, int home);
void session_ref(session_t *s);
void session_unref(session_t *s);
/* Home worker: hands item to s (send, queue or drop); takes ownership of item. */
void session_deliver(bworker_t *bw, session_t *s, qitem_t *item);
/* Posts item to s's home worker, or delivers at once if that is bw. Takes
 * ownership of item and of one reference to s held by the caller.
 * With batch, a remote item is only gathered in bw->out_*; route_flush posts it. */
void session_dispatch(bworker_t *bw, session_t *s, qitem_t *item, int batch);
/* Posts what session_dispatch gathered: one inbox lock and wake-up per worker. */
void route_flush(bworker_t *bw);
qitem_t *qitem_new(msg_t *m, uint8_t qos, uint8_t retain, const uint32_t *sub_ids, uint8_t nsub);
void qitem_free(qitem_t *q);
/* Sends queued messages while the in-flight window has room. */
void session_pump(bworker_t *bw, session_t *s);
/* After (re)attach: resends in-flight with DUP, then pumps. */
void session_resume(bworker_t *bw, session_t *s);
/* Drops all state (clean start). */
void session_clear(session_t *s);
/* Ends s: removes subscriptions and registry entry, publishes a held will. */
void session_end(bworker_t *bw, session_t *s);
/* Client went away: arms expiry or ends the session. */
void session_detach(bworker_t *bw, session_t *s);
/* Incoming acknowledgements for outgoing messages. */
void session_on_puback(bworker_t *bw, session_t *s, uint16_t pid);
int session_on_pubrec(bworker_t *bw, session_t *s, uint16_t pid, uint8_t reason);
void session_on_pubcomp(bworker_t *bw, session_t *s, uint16_t pid);
int session_rx_has(session_t *s, uint16_t pid);
int session_rx_add(session_t *s, uint16_t pid);
int session_rx_del(session_t *s, uint16_t pid);

/* registry (broker.c) */
session_t *registry_find_or_add(const char *client_id, int home, int *created);
void registry_remove(session_t *s);
void registry_assign_id(char *out, size_t len);

/* client.c */
/* Makes conn an MQTT connection (plain TCP ops); NULL if refused (conn closed). */
client_t *client_accept(iot_worker_t *w, iot_conn_t *conn);
/* The MQTT byte stream of a connection: decodes and handles whole packets,
 * returns the bytes used (the rest is an unfinished packet, or input held
 * back while the client waits for its session or is throttled). */
size_t client_on_data(iot_conn_t *conn, const uint8_t *p, size_t n);
void client_on_close(iot_conn_t *conn);
void client_send_packet(client_t *c, const mqtt_packet_t *pkt);
/* Sends PUBACK, PUBREC, PUBREL or PUBCOMP for pid (reason only in MQTT 5). */
void client_send_ack(client_t *c, uint8_t type, uint16_t pid, uint8_t reason);
/* Sends one PUBLISH for item (assigning nothing); returns 0, or IOT_ETOOLARGE
 * when it exceeds the client's maximum packet size (it is then dropped). */
int client_send_publish(client_t *c, qitem_t *item, int dup, uint64_t now_ms);
/* Protocol error: logs, counts, sends DISCONNECT (v5) and closes. */
void client_fail(client_t *c, int err, uint8_t reason, const char *why);
/* Sends DISCONNECT (v5, with why as Reason String if not NULL) and closes after flush. */
void client_disconnect(client_t *c, uint8_t reason, const char *why);
void client_touch(client_t *c);
void client_free(client_t *c);

/* handle_*.c */
void handle_connect(bworker_t *bw, client_t *c, const mqtt_packet_t *pkt);
void connect_finish(bworker_t *bw, client_t *c, session_t *s, int existed);
void handle_publish(bworker_t *bw, client_t *c, const mqtt_packet_t *pkt);
void handle_pubrel(bworker_t *bw, client_t *c, const mqtt_packet_t *pkt);
void handle_subscribe(bworker_t *bw, client_t *c, const mqtt_packet_t *pkt);
void handle_unsubscribe(bworker_t *bw, client_t *c, const mqtt_packet_t *pkt);
void publish_will(bworker_t *bw, msg_t *will);

/* sys.c */
void sys_publish(bworker_t *bw);

#endif
