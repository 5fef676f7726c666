/*
 * broker.c - the broker as a whole: shared tables, the session registry,
 * per-worker state, start and stop.
 */
#include <stdlib.h>
#include <string.h>

#include "broker/broker.h"
#include "core/globals.h"

broker_t broker_g;

static void retained_ref(void *m) { msg_ref(m); }

static void broker_before_sleep(iot_worker_t *w) { route_flush(bw_of(w)); }
static void retained_unref(void *m) { msg_unref(m); }

int broker_init(iot_worker_t *workers, int nworkers)
{
    memset(&broker_g, 0, sizeof broker_g);
    broker_g.workers = workers;
    broker_g.nworkers = nworkers;
    broker_g.start_ms = iot_now_ms();
    broker_g.subs = topic_tree_new();
    broker_g.retained = retain_new(retained_ref, retained_unref);
    broker_g.bw = calloc((size_t)nworkers, sizeof(bworker_t));
    broker_g.reg_size = 1024;
    broker_g.reg = calloc(broker_g.reg_size, sizeof(session_t *));
    if (!broker_g.subs || !broker_g.retained || !broker_g.bw || !broker_g.reg) return IOT_ENOMEM;
    pthread_mutex_init(&broker_g.reg_lock, NULL);
    for (int i = 0; i < nworkers; i++) {
        broker_g.bw[i].out_head = calloc((size_t)nworkers, sizeof(iot_task_t *));
        broker_g.bw[i].out_tail = calloc((size_t)nworkers, sizeof(iot_task_t *));
        if (!broker_g.bw[i].out_head || !broker_g.bw[i].out_tail) return IOT_ENOMEM;
        iot_timer_init(&broker_g.bw[i].throttle_timer, NULL);
        broker_g.bw[i].w = &workers[i];
        workers[i].ctx = &broker_g.bw[i];
        workers[i].on_before_sleep = broker_before_sleep;
    }
    return 0;
}

/* ---- registry: client id -> session -------------------------------------- */

static size_t reg_hash(const char *id)
{
    size_t h = 14695981039346656037u; /* FNV-1a */
    for (; *id; id++) h = (h ^ (uint8_t)*id) * 1099511628211u;
    return h;
}

static void reg_grow(void)
{
    size_t size = broker_g.reg_size * 2;
    session_t **nb = calloc(size, sizeof *nb);
    if (!nb) return; /* Keep the old table: longer chains, still correct. */
    for (size_t i = 0; i < broker_g.reg_size; i++) {
        session_t *s = broker_g.reg[i];
        while (s) {
            session_t *next = s->reg_next;
            size_t b = reg_hash(s->client_id) & (size - 1);
            s->reg_next = nb[b];
            nb[b] = s;
            s = next;
        }
    }
    free(broker_g.reg);
    broker_g.reg = nb;
    broker_g.reg_size = size;
}

session_t *registry_find_or_add(const char *client_id, int home, int *created)
{
    pthread_mutex_lock(&broker_g.reg_lock);
    size_t b = reg_hash(client_id) & (broker_g.reg_size - 1);
    session_t *s = broker_g.reg[b];
    while (s && strcmp(s->client_id, client_id) != 0) s = s->reg_next;
    *created = 0;
    if (s) {
        session_ref(s); /* The caller's. */
    } else {
        s = session_new(client_id, home);
        if (s) {
            /* One reference is the registry's, one the caller's. */
            session_ref(s);
            s->reg_next = broker_g.reg[b];
            broker_g.reg[b] = s;
            broker_g.reg_count++;
            *created = 1;
            METRIC_SET(clients_total, broker_g.reg_count);
            if (broker_g.reg_count > broker_g.reg_size) reg_grow();
        }
    }
    pthread_mutex_unlock(&broker_g.reg_lock);
    return s;
}

void registry_remove(session_t *s)
{
    pthread_mutex_lock(&broker_g.reg_lock);
    size_t b = reg_hash(s->client_id) & (broker_g.reg_size - 1);
    for (session_t **pp = &broker_g.reg[b]; *pp; pp = &(*pp)->reg_next) {
        if (*pp == s) {
            *pp = s->reg_next;
            s->reg_next = NULL;
            broker_g.reg_count--;
            break;
        }
    }
    METRIC_SET(clients_total, broker_g.reg_count);
    pthread_mutex_unlock(&broker_g.reg_lock);
}

void registry_assign_id(char *out, size_t len)
{
    pthread_mutex_lock(&broker_g.reg_lock);
    uint64_t n = ++broker_g.id_counter;
    pthread_mutex_unlock(&broker_g.reg_lock);
    snprintf(out, len, "iotgate-%llx-%llu", (unsigned long long)(broker_g.start_ms & 0xffffff),
             (unsigned long long)n);
}

/* ---- stop ---------------------------------------------------------------- */

static void shutdown_task(iot_loop_t *loop, iot_task_t *task)
{
    iot_worker_t *w = loop->data;
    free(task);
    iot_worker_stop_listening(w);
    /* Tell MQTT 5 clients why they are dropped (0x8B), flush, close. */
    for (iot_conn_t *c = w->conns; c; c = c->next) {
        client_t *cl = c->proto;
        if (cl && cl->state == CS_ACTIVE) client_disconnect(cl, MQTT_RC_SERVER_SHUTTING_DOWN, "server shutting down");
    }
    iot_worker_flush(w);
    while (w->conns) iot_conn_close(w->conns);
    iot_worker_flush(w);
    loop->stop = 1;
}

void broker_shutdown(void)
{
    atomic_store(&broker_g.shutting_down, 1);
    for (int i = 0; i < broker_g.nworkers; i++) {
        iot_task_t *t = calloc(1, sizeof *t);
        if (!t) abort();
        t->fn = shutdown_task;
        iot_loop_post(&broker_g.workers[i].loop, t);
    }
}

static void sys_task(iot_loop_t *loop, iot_task_t *task)
{
    free(task);
    if (!atomic_load(&broker_g.shutting_down)) sys_publish(bw_of(loop->data));
}

void broker_post_sys(void)
{
    iot_task_t *t = calloc(1, sizeof *t);
    if (!t) return;
    t->fn = sys_task;
    iot_loop_post(&broker_g.workers[0].loop, t);
}

void broker_close(void)
{
    /* Workers are joined: post what they gathered, then run what is still
     * in their inboxes here (each task frees itself, seeing shutting_down;
     * a task may post to another inbox, so repeat until all are empty). */
    for (int i = 0; i < broker_g.nworkers; i++) route_flush(&broker_g.bw[i]);
    for (int more = 1; more;) {
        more = 0;
        for (int i = 0; i < broker_g.nworkers; i++) {
            iot_loop_t *loop = &broker_g.workers[i].loop;
            while (loop->inbox_head) {
                iot_task_t *t = loop->inbox_head;
                loop->inbox_head = t->next;
                if (!loop->inbox_head) loop->inbox_tail = NULL;
                t->fn(loop, t);
                more = 1;
            }
        }
    }
    for (size_t b = 0; b < broker_g.reg_size; b++) {
        while (broker_g.reg[b]) {
            session_t *s = broker_g.reg[b];
            broker_g.reg[b] = s->reg_next;
            s->reg_next = NULL;
            s->dead = 1;
            msg_unref(s->will);
            s->will = NULL;
            iot_timer_cancel(&broker_g.workers[atomic_load(&s->home)].loop.wheel, &s->expiry_timer);
            iot_timer_cancel(&broker_g.workers[atomic_load(&s->home)].loop.wheel, &s->will_timer);
            session_clear(s);
            session_unref(s);
        }
    }
    for (int i = 0; i < broker_g.nworkers; i++) {
        free(broker_g.bw[i].matches);
        free(broker_g.bw[i].throttled);
        free(broker_g.bw[i].out_head);
        free(broker_g.bw[i].out_tail);
    }
    free(broker_g.reg);
    free(broker_g.bw);
    topic_tree_free(broker_g.subs);
    retain_free(broker_g.retained);
    pthread_mutex_destroy(&broker_g.reg_lock);
}
