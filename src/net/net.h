/*
 * net.h - workers, listeners and connections.
 *
 * A worker is one thread with one loop. It owns listening sockets (one per
 * listen address, SO_REUSEPORT, so the kernel spreads new connections over
 * workers) and every connection accepted on them; a connection never moves.
 *
 * Connection input is read into the worker's scratch buffer and handed to
 * the protocol's on_data; only an unfinished packet is copied into the
 * connection's own rbuf. Output is appended to wbuf and flushed once per
 * loop pass (before_sleep), so many packets to one client cost one write.
 * An idle connection holds no buffers.
 *
 * Connection life:
 *   accept -> listener_on_accept() -> proto on_accept(): sets ops, proto
 *   readable -> conn_on_io() -> ops->on_data() (returns bytes consumed)
 *   iot_conn_close() -> fd closed now, ops->on_close(), freed after the pass
 */
#ifndef IOT_NET_H
#define IOT_NET_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/loop.h"

typedef struct iot_conn iot_conn_t;
typedef struct iot_worker iot_worker_t;
typedef struct iot_listener iot_listener_t;

typedef struct iot_conn_ops {
    /* New bytes: consume whole packets, return how many bytes were used. */
    size_t (*on_data)(iot_conn_t *c, const uint8_t *p, size_t n);
    /* The connection is closed (by peer, error or iot_conn_close); free c->proto here. */
    void (*on_close)(iot_conn_t *c);
    /* Optional: reading resumed (iot_conn_resume); hand over input the protocol holds itself. */
    void (*on_resume)(iot_conn_t *c);
} iot_conn_ops_t;

struct iot_conn {
    iot_io_t io;                 /* Watched descriptor (io.fd = -1 once closed). */
    iot_worker_t *worker;        /* Owning worker. */
    const iot_conn_ops_t *ops;   /* Protocol handlers. */
    void *proto;                 /* Protocol state, owned by the protocol. */
    uint8_t *rbuf;               /* Unfinished input; NULL when none. */
    uint32_t rlen, rcap;         /* Bytes in rbuf, its capacity. */
    uint8_t *wbuf;               /* Pending output; NULL when none. */
    uint32_t wpos, wlen, wcap;   /* Sent offset, filled length, capacity. */
    iot_conn_t *next_dirty;      /* Link in the worker's flush list. */
    iot_conn_t *prev, *next;     /* Links in the worker's list of all connections. */
    uint8_t dirty;               /* On the flush list. */
    uint8_t close_after_flush;   /* Close once wbuf is sent. */
    uint8_t closed;              /* Closed; freed after the pass. */
    uint8_t read_paused;         /* Protocol asked to stop reading (back-pressure). */
    uint8_t ws_out;              /* Output is wrapped in WebSocket binary frames. */
    uint8_t frame_open;          /* A frame header slot is reserved at frame_start. */
    uint32_t frame_start;        /* Offset in wbuf of the open frame's header slot. */
};

typedef void (*iot_accept_fn)(iot_worker_t *w, iot_conn_t *c);

struct iot_listener {
    iot_io_t io;                 /* The listening socket. */
    iot_worker_t *worker;        /* Owning worker. */
    iot_accept_fn on_accept;     /* Protocol hook for each new connection. */
    iot_timer_t retry;           /* Re-arms accept after EMFILE. */
    char addr[64];               /* host:port as configured. */
    iot_listener_t *next;        /* Next listener of the worker. */
};

struct iot_worker {
    int id;                      /* 0..n-1. */
    iot_loop_t loop;             /* This worker's loop. */
    pthread_t thread;            /* Its thread. */
    char name[16];               /* "w<id>" for log lines. */
    iot_listener_t *listeners;   /* Listening sockets. */
    iot_conn_t *conns;           /* Every open connection (for shutdown). */
    uint32_t nconns;             /* Open connections. */
    iot_conn_t *dirty;           /* Connections with output to flush. */
    iot_conn_t *graveyard;       /* Closed connections, freed after the pass. */
    uint8_t *scratch;            /* Read buffer shared by this worker's connections. */
    size_t scratch_cap;          /* Its size. */
    void (*on_before_sleep)(iot_worker_t *w); /* Protocol hook run before each wait, after the flush; it must not write to connections. */
    void *ctx;                   /* Broker state of this worker. */
};

/* Initialises a caller-owned worker (loop, scratch buffer); 0 or IOT_E*. */
int iot_worker_init(iot_worker_t *w, int id);
/* Binds a listener on addr ("host:port", "[v6]:port") for w; 0 or IOT_E* with a log line. */
int iot_worker_listen(iot_worker_t *w, const char *addr, iot_accept_fn on_accept);
/* Starts the worker thread; returns 0 or IOT_EIO. */
int iot_worker_start(iot_worker_t *w);
/* Closes listeners so no new connections arrive (runs on the worker's thread). */
void iot_worker_stop_listening(iot_worker_t *w);
/* After the thread has exited: closes remaining connections and frees everything. */
void iot_worker_close(iot_worker_t *w);

/* Appends n bytes to c's output; sent before the loop next sleeps. */
void iot_conn_write(iot_conn_t *c, const void *p, size_t n);
/* Reserves n bytes at the end of c's output and returns them to be filled. */
uint8_t *iot_conn_reserve(iot_conn_t *c, size_t n);
/* Like iot_conn_reserve, but never wrapped in a WebSocket frame (for the
 * HTTP upgrade response and control frames); closes any open data frame. */
uint8_t *iot_conn_reserve_raw(iot_conn_t *c, size_t n);
/* From now on, what iot_conn_reserve/iot_conn_write add is sent as
 * WebSocket binary frames (one per flush), built in place. */
void iot_conn_set_ws_framing(iot_conn_t *c);
/* Bytes queued but not yet sent. */
static inline size_t iot_conn_pending(const iot_conn_t *c) { return c->wlen - c->wpos; }
/* Closes now: pending output is dropped. ops->on_close runs before return. */
void iot_conn_close(iot_conn_t *c);
/* Closes once pending output is flushed (or at once if a write fails). */
void iot_conn_close_after_flush(iot_conn_t *c);
/* "ip:port" of c's peer for a log line, formatted on demand (an idle
 * connection does not carry it). Valid until the thread's next call. */
const char *iot_conn_peer(const iot_conn_t *c);
/* Stops reading from c until iot_conn_unpause_read: the peer's socket
 * buffer fills and TCP slows it down. Input already read waits in rbuf. */
void iot_conn_pause_read(iot_conn_t *c);
void iot_conn_unpause_read(iot_conn_t *c);
/* Hands input held in rbuf to the protocol again (after it paused). */
void iot_conn_resume(iot_conn_t *c);
/* Flushes pending output of every dirty connection of w. */
void iot_worker_flush(iot_worker_t *w);

#endif
