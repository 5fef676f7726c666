/*
 * bench.h - shared types of iotgate-bench, the loopback MQTT load generator.
 *
 * The program opens many MQTT client connections to one broker on the same
 * machine and drives them from a few threads. Each thread owns one epoll
 * instance (edge-triggered) and a fixed slice of the connections; nothing
 * mutable is shared between threads except the phase word the main thread
 * writes and the counter snapshots each thread publishes once per loop pass.
 *
 * The hot path is kept cheap because the generator shares the CPU with the
 * broker it measures: PUBLISH packets are copied from a pre-encoded template
 * (only the timestamp, sequence number and packet id are patched), output is
 * appended to a per-connection buffer and sent once per loop pass, input is
 * read into one large per-thread buffer and parsed in bulk, and no memory is
 * allocated per message.
 *
 * Files: main.c (options, limits, dispatch), loop.c (the per-thread event
 * loop and connection handling), wire.c (packet parsing and building),
 * pubsub.c (fanin, fanout, latency), idle.c (conn), hist.c (latency
 * histogram), proc.c (clocks, /proc readers, CPU accounting).
 */
#ifndef BENCH_H
#define BENCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* ---- latency histogram (hist.c) ---------------------------------------- */

/*
 * Log-linear buckets over nanoseconds: values below 128 ns have a bucket
 * each; above, every power of two is split into 128 buckets, so a bucket is
 * at most 1/128 (0.8 %) of its value wide. The top bucket starts at 2^34 ns
 * (17 s); larger values are counted there. 3712 counters, no sorting.
 */
#define HIST_SUB_BITS 7
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_TOP_EXP 34
#define HIST_BUCKETS (HIST_SUB + (HIST_TOP_EXP - HIST_SUB_BITS + 1) * HIST_SUB)

typedef struct hist {
    uint64_t n;                 /* Samples recorded. */
    uint64_t max;               /* Largest sample, exact, ns. */
    uint64_t sum;               /* Sum of samples, ns (for the mean). */
    uint64_t b[HIST_BUCKETS];   /* Counts per bucket. */
} hist_t;

void hist_add(hist_t *h, uint64_t ns);
void hist_merge(hist_t *dst, const hist_t *src);
/* Returns the value at quantile q (0..1) in ns: the middle of its bucket. */
uint64_t hist_quantile(const hist_t *h, double q);

/* ---- clocks and process accounting (proc.c) ---------------------------- */

uint64_t now_ns(void);                  /* CLOCK_MONOTONIC, ns. */
uint64_t thread_cpu_ns(void);           /* CPU time of the calling thread. */
uint64_t self_cpu_ns(void);             /* getrusage(RUSAGE_SELF) user + sys. */
void sleep_ns(uint64_t ns);

/* Resident set of pid in KiB (smaps_rollup Rss, else status VmRSS); -1 if unreadable. */
long proc_rss_kb(int pid);
/* User + system CPU time of pid in ns from /proc/pid/stat; -1 if unreadable. */
int64_t proc_cpu_ns(int pid);
/*
 * Raises the soft open-file limit to the hard one and returns the soft
 * limit now in force.
 */
long raise_nofile(void);

/* ---- options (main.c) -------------------------------------------------- */

typedef enum bench_mode {
    MODE_CONN,
    MODE_FANIN,
    MODE_FANOUT,
    MODE_LATENCY,
} bench_mode_t;

typedef struct bench_opts {
    bench_mode_t mode;
    const char *mode_name;
    const char *host;           /* Loopback host as given. */
    struct sockaddr_storage dst;/* Resolved broker address. */
    socklen_t dst_len;
    int version;                /* 4 or 5. */
    int qos;                    /* 0, 1 or 2. */
    int threads;                /* Generator threads. */
    double duration;            /* Measured phase (conn: hold time), s. */
    double drain;               /* Longest wait for messages after the run, s. */
    double setup_timeout;       /* Longest wait for connects and SUBACKs, s. */
    uint16_t keepalive;         /* MQTT keepalive, s; pings at 3/4 of it. */
    int src_ips;                /* Source addresses 127.0.0.1..N (IPv4 only). */
    int pid;                    /* Broker PID for RSS and CPU, 0 = none. */
    const char *id_prefix;      /* Client id prefix. */
    /* conn */
    uint32_t conns;             /* Connections to open. */
    double conn_rate;           /* New connections per second, 0 = no pacing. */
    uint32_t conn_window;       /* Connects in progress at once. */
    /* fanin, fanout, latency */
    uint32_t pubs;              /* Publisher connections. */
    uint32_t subs;              /* Subscriber connections. */
    uint32_t payload;           /* Payload bytes, >= 16. */
    double rate;                /* Total messages per second, 0 = as fast as allowed. */
    uint32_t inflight;          /* QoS 1/2 window per publisher. */
    uint32_t e2e_window;        /* Sent but not yet received (or skipped), per publisher; 0 = off. */
    uint64_t count;             /* Total messages to send, 0 = bounded by time only. */
    uint16_t receive_max;       /* v5 Receive Maximum the subscribers announce. */
} bench_opts_t;

/* ---- connections and threads (loop.c) ----------------------------------- */

enum conn_state {
    CS_NEW,        /* Not opened yet. */
    CS_TCP,        /* connect() in progress. */
    CS_CONNECT,    /* CONNECT sent, waiting for CONNACK. */
    CS_SUBSCRIBE,  /* SUBSCRIBE sent, waiting for SUBACK. */
    CS_READY,      /* Working. */
    CS_CLOSED,     /* Closed, by us or by the peer. */
};

enum conn_role { ROLE_IDLE, ROLE_PUB, ROLE_SUB };

typedef struct bconn {
    int fd;
    uint8_t state;          /* enum conn_state. */
    uint8_t role;           /* enum conn_role. */
    uint8_t writable;       /* Edge-triggered: set by EPOLLOUT, cleared by a short send. */
    uint8_t dirty;          /* On its thread's flush list. */
    uint8_t again;          /* On its thread's read-again list. */
    uint8_t e2e_held;       /* Publisher filled its --e2e-window; resumes at half. */
    uint32_t gid;           /* Global index (client id, source address). */
    uint32_t idx;           /* Index among publishers or subscribers. */
    uint64_t t0;            /* When connect() was called, ns. */
    uint64_t t_ping;        /* When the next PINGREQ is due, ns. */
    uint64_t t_due;         /* Publisher: when the next paced message is due, ns. */
    uint8_t *rbuf;          /* Unfinished packet kept between reads (lazy). */
    uint32_t rlen, rcap;
    uint8_t *wbuf;          /* Output not yet sent (lazy). */
    uint32_t wpos, wlen, wcap;
    /* Publisher. */
    uint32_t seq;           /* Next sequence number. */
    uint32_t inflight;      /* QoS 1/2 PUBLISHes not yet acknowledged. */
    uint16_t next_pid;      /* Next packet id to try. */
    uint64_t *pidmap;       /* Bit per packet id in flight (8 KiB, QoS 1/2 only). */
    uint8_t *tpl;           /* Pre-encoded PUBLISH of this publisher. */
    uint32_t tpl_len;
    uint16_t tpl_pid;       /* Offset of the packet id in tpl (QoS > 0). */
    uint16_t tpl_pay;       /* Offset of the payload in tpl. */
    _Atomic uint64_t delivered; /* --e2e-window: messages received or skipped, all subscribers. */
    /* Subscriber. */
    uint32_t *next_seq;     /* Next expected sequence number per publisher. */
} bconn_t;

/* Counters a thread keeps; the main thread reads published copies. */
enum bstat {
    ST_CONNECTED,   /* CONNACKs with success. */
    ST_FAILED,      /* Connections that failed before READY. */
    ST_READY,       /* Connections READY. */
    ST_LOST,        /* READY connections the broker closed. */
    ST_SENT,        /* PUBLISH packets generated. */
    ST_ACKED,       /* PUBACK / PUBCOMP received for them. */
    ST_REFUSED,     /* v5 acks with a failure reason. */
    ST_INFLIGHT,    /* Gauge: QoS 1/2 PUBLISHes awaiting their ack. */
    ST_UNFLUSHED,   /* Gauge: publishers with output not yet sent. */
    ST_RECV,        /* PUBLISH packets received by subscribers. */
    ST_UNIQUE,      /* ... of which first deliveries (by sequence). */
    ST_DUP,         /* ... of which repeats or out of order. */
    ST_GAP,         /* Sequence numbers skipped (lost or reordered). */
    ST_BAD,         /* Received payloads that are not ours. */
    ST_PINGS,       /* PINGREQ sent. */
    ST_PONGS,       /* PINGRESP received. */
    ST_LATE,        /* Paced messages sent more than 1 ms behind schedule. */
    ST_PROTO,       /* Unexpected or malformed packets from the broker. */
    ST_SENT_RUN,    /* ST_SENT when the run phase ended. */
    ST_RECV_RUN,    /* ST_RECV when the run phase ended. */
    ST_LAST_CONNACK,/* Time of the latest CONNACK, ns. */
    ST_N,
};

enum phase {
    PH_SETUP,   /* Connect (and subscribe). */
    PH_RUN,     /* Publish / hold. */
    PH_DRAIN,   /* Stop publishing, receive what is still coming. */
    PH_STOP,    /* Close everything and exit. */
    PH_N,
};

struct bench;

typedef struct bthread {
    struct bench *b;
    int id;
    pthread_t tid;
    int epfd;
    int evfd;               /* eventfd: another thread settled messages of ours. */
    _Atomic int e2e_waiting;/* Set while it sleeps with publishers held by --e2e-window. */
    uint64_t wake_mask;     /* Threads whose publishers this pass settled messages of. */
    bconn_t **conns;        /* Its connections. */
    uint32_t nconns;
    bconn_t **pubs;         /* Its publishers (a subset of conns). */
    uint32_t npubs;
    uint32_t next_open;     /* Next index of conns to open. */
    uint32_t opening;       /* Connects and CONNECTs in progress. */
    uint64_t t_open0;       /* When it started opening, ns. */
    double open_rate;       /* Its share of conn_rate. */
    uint32_t open_window;   /* Its share of conn_window. */
    bconn_t **dirty;        /* Connections with output to flush. */
    uint32_t ndirty;
    bconn_t **again;        /* Connections that may have more to read. */
    uint32_t nagain;
    uint8_t *scratch;       /* Read buffer. */
    size_t scratch_len;
    uint64_t t_scan;        /* Next keepalive / timeout scan, ns. */
    int phase;              /* Phase this thread last acted on. */
    hist_t *lat;            /* End-to-end or CONNACK latency. */
    uint64_t st[ST_N];      /* Counters, owned by the thread. */
    _Atomic uint64_t pub[ST_N]; /* Copies for the main thread. */
    uint64_t cpu_at[PH_N];  /* Thread CPU time when each phase began, ns. */
    uint64_t wall_at[PH_N]; /* Monotonic time when each phase began, ns. */
    _Atomic int done;       /* Set when the thread has exited its loop. */
} bthread_t;

typedef struct bench {
    bench_opts_t o;
    _Atomic int phase;      /* enum phase, written by the main thread. */
    bconn_t *conns;         /* All connections. */
    uint32_t nconns;
    bthread_t *threads;
    const char *topic_fmt;      /* Publisher topic, printf with its index. */
    uint8_t sub_pkt[256];       /* SUBSCRIBE every subscriber sends. */
    size_t sub_len;
    size_t max_packet;          /* Largest packet accepted from the broker. */
    hist_t lat;                 /* The threads' histograms merged at the end. */
    uint64_t pub_quota;         /* Messages per publisher, 0 = no limit. */
    uint64_t interval_ns;       /* Paced: ns between two messages of one publisher. */
} bench_t;

/* Starts o->threads threads over b->conns; returns 0 or -1 (message printed). */
int loop_start(bench_t *b);
/* Joins the threads. */
void loop_join(bench_t *b);
/* Frees the threads and connections of b (after loop_join, or when never started). */
void loop_free(bench_t *b);
/* Sum of a counter over the threads' published copies. */
uint64_t loop_sum(bench_t *b, enum bstat s);
/* Largest value of a counter over the threads' published copies. */
uint64_t loop_max(bench_t *b, enum bstat s);
/* Sets the phase every thread follows. */
void loop_set_phase(bench_t *b, int phase);

/* ---- wire format (wire.c) ---------------------------------------------- */

/* Payload layout, host order: send time (u64 ns), publisher index (u32), sequence (u32). */
#define PAYLOAD_MIN 16

/* Encodes b->sub_pkt for filter. Returns 0 or -1. */
int wire_subscribe(bench_t *b, const char *filter);
/* Encodes c's CONNECT into out (cap bytes); returns its length, 0 on error. */
size_t wire_connect(const bench_t *b, const bconn_t *c, uint8_t *out, size_t cap);
/* Builds publisher c's PUBLISH template (c->tpl, returns owned). 0 or -1. */
int wire_publish_tpl(const bench_t *b, bconn_t *c);
/*
 * Parses the packets in buf[0..len) for c and returns the bytes used (the
 * rest is an unfinished packet), or -1 when c must be closed.
 */
long wire_parse(bthread_t *t, bconn_t *c, const uint8_t *buf, size_t len, uint64_t now);

/* ---- loop.c helpers used by wire.c and the modes ----------------------- */

/* Appends n bytes to c's output and puts c on the flush list; 0 or -1. */
int conn_out(bthread_t *t, bconn_t *c, const void *p, size_t n);
/* Closes c; counts a READY connection as lost when lost is set. */
void conn_close(bthread_t *t, bconn_t *c, int lost);

/* ---- modes ------------------------------------------------------------- */

int mode_conn(bench_t *b);
int mode_pubsub(bench_t *b);

/*
 * Prints the busy share of each generator thread between the starts of
 * phases from and to, warns about any above 90 % (the figure may then be
 * capped by the generator), and returns the largest share (0..1).
 */
double gen_busy(bench_t *b, int from, int to);

/* Prints a line the human reads (stdout). */
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints a progress or warning line (stderr). */
void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
