/*
 * loop.c - the generator threads: one edge-triggered epoll loop each.
 *
 * A pass of the loop:
 *
 *   wait (epoll_pwait2, ns timeout) -> read what is readable, parse in bulk
 *     -> follow the phase the main thread set -> open connections (setup)
 *     -> generate PUBLISHes into the publishers' buffers (run)
 *     -> keepalive and timeout scan (every 100 ms) -> one send per
 *        connection with output -> publish counters for the main thread.
 *
 * Edge-triggered I/O: a connection is "writable" until a send comes back
 * short, and again when EPOLLOUT reports space; reads go on until one
 * comes back short (the socket is then empty and a new edge will come), at
 * most READS_PER_PASS times, so one busy subscriber cannot starve the
 * others: a connection that used its reads is put on the "again" list and
 * read on the next pass, which then does not sleep.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "bench.h"

#define READS_PER_PASS 4                 /* Fairness between connections. */
#define SCAN_NS 100000000ull             /* Keepalive / timeout scan period. */
#define MAX_WAIT_NS 10000000ull          /* Longest sleep: the phase is polled. */
#define LATE_NS 1000000ull               /* A paced message this late counts as late. */
#define E2E_POLL_NS 1000000ull           /* Safety poll under --e2e-window (eventfd wakes). */
#define EVENTS 512

int conn_out(bthread_t *t, bconn_t *c, const void *p, size_t n)
{
    if (c->wcap - c->wlen < n && c->wpos > 0) {
        memmove(c->wbuf, c->wbuf + c->wpos, c->wlen - c->wpos);
        c->wlen -= c->wpos;
        c->wpos = 0;
    }
    if (c->wcap - c->wlen < n) {
        size_t cap = c->wcap ? (size_t)c->wcap * 2 : 256;
        uint8_t *nb;

        while (cap - c->wlen < n)
            cap *= 2;
        nb = realloc(c->wbuf, cap);
        if (nb == NULL)
            return -1;
        c->wbuf = nb;
        c->wcap = (uint32_t)cap;
    }
    memcpy(c->wbuf + c->wlen, p, n);
    c->wlen += (uint32_t)n;
    if (!c->dirty) {
        c->dirty = 1;
        t->dirty[t->ndirty++] = c;
    }
    return 0;
}

void conn_close(bthread_t *t, bconn_t *c, int lost)
{
    if (c->fd < 0)
        return;
    close(c->fd); /* Also leaves the epoll set: the fd is not shared. */
    c->fd = -1;
    if (c->state == CS_TCP || c->state == CS_CONNECT)
        t->opening--;
    if (c->state == CS_READY) {
        if (lost)
            t->st[ST_LOST]++;
    } else if (c->state != CS_NEW) {
        t->st[ST_FAILED]++;
    }
    t->st[ST_INFLIGHT] -= c->inflight; /* Those will never be acknowledged. */
    c->inflight = 0;
    c->state = CS_CLOSED;
    c->wpos = c->wlen = 0;
}

/* Starts a non-blocking connect for c from its source address. */
static void conn_open(bthread_t *t, bconn_t *c, uint64_t now)
{
    const bench_opts_t *o = &t->b->o;
    struct epoll_event ev;
    int one = 1, fd;

    c->t0 = now;
    fd = socket(o->dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    /* Our own writes are already batched per pass: Nagle would only delay them. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (o->dst.ss_family == AF_INET && o->src_ips > 1) {
        struct sockaddr_in src = { .sin_family = AF_INET };

        /* Each source address has its own ephemeral port range; the port is
         * picked at connect() time, for the whole 4-tuple. */
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        src.sin_addr.s_addr = htonl(0x7f000001u + c->gid % (uint32_t)o->src_ips);
        if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0)
            goto fail;
    }
    if (connect(fd, (const struct sockaddr *)&o->dst, o->dst_len) != 0 &&
        errno != EINPROGRESS)
        goto fail;
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = c;
    if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
        goto fail;
    c->fd = fd;
    c->state = CS_TCP;
    t->opening++;
    return;
fail:
    if (t->st[ST_FAILED] == 0)
        note("%s: connect from thread %d failed: %s", o->mode_name, t->id, strerror(errno));
    if (fd >= 0)
        close(fd);
    c->state = CS_CLOSED;
    t->st[ST_FAILED]++;
}

/* The TCP handshake of c finished: check it and send CONNECT. */
static void conn_tcp_done(bthread_t *t, bconn_t *c)
{
    uint8_t pkt[256];
    socklen_t sl = sizeof(int);
    int err = 0;
    size_t n;

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl) != 0 || err != 0) {
        if (t->st[ST_FAILED] == 0)
            note("%s: connect failed: %s", t->b->o.mode_name, strerror(err ? err : errno));
        conn_close(t, c, 0);
        return;
    }
    c->state = CS_CONNECT;
    c->writable = 1;
    n = wire_connect(t->b, c, pkt, sizeof pkt);
    if (n == 0 || conn_out(t, c, pkt, n) != 0)
        conn_close(t, c, 0);
}

/* Reads and parses what c has, up to READS_PER_PASS reads. */
static void conn_read(bthread_t *t, bconn_t *c)
{
    for (int i = 0; i < READS_PER_PASS; i++) {
        size_t have = c->rlen, room, total, rest;
        ssize_t n;
        long used;

        if (have)
            memcpy(t->scratch, c->rbuf, have);
        room = t->scratch_len - have;
        n = recv(c->fd, t->scratch + have, room, 0);
        if (n == 0) {
            conn_close(t, c, 1);
            return;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                conn_close(t, c, 1);
            return;
        }
        total = have + (size_t)n;
        used = wire_parse(t, c, t->scratch, total, now_ns());
        if (used < 0 || c->fd < 0) {
            conn_close(t, c, 1);
            return;
        }
        rest = total - (size_t)used;
        if (rest > c->rcap) {
            uint8_t *nb = realloc(c->rbuf, rest);

            if (nb == NULL) {
                conn_close(t, c, 1);
                return;
            }
            c->rbuf = nb;
            c->rcap = (uint32_t)rest;
        }
        if (rest)
            memcpy(c->rbuf, t->scratch + used, rest);
        c->rlen = (uint32_t)rest;
        if ((size_t)n < room)
            return; /* Short read: the socket is empty. */
    }
    if (!c->again) {
        c->again = 1;
        t->again[t->nagain++] = c;
    }
}

/* One send of c's pending output. */
static void conn_flush(bthread_t *t, bconn_t *c)
{
    size_t n = c->wlen - c->wpos;
    ssize_t w;

    if (n == 0 || !c->writable || c->fd < 0)
        return;
    w = send(c->fd, c->wbuf + c->wpos, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w == (ssize_t)n) {
        c->wpos = c->wlen = 0;
    } else if (w > 0) {
        c->wpos += (uint32_t)w;
        c->writable = 0;
    } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        c->writable = 0;
    } else if (w < 0 && errno == EINTR) {
        /* Retried on the next pass. flush_all() has already read every slot
         * up to this one, so appending to the list it walks is safe. */
        c->dirty = 1;
        t->dirty[t->ndirty++] = c;
    } else {
        conn_close(t, c, 1);
    }
}

static void flush_all(bthread_t *t)
{
    uint32_t n = t->ndirty;

    t->ndirty = 0;
    for (uint32_t i = 0; i < n; i++) {
        bconn_t *c = t->dirty[i];

        c->dirty = 0;
        conn_flush(t, c);
    }
}

/*
 * --e2e-window: how many more messages publisher c may send now (UINT64_MAX
 * without the option). A publisher that filled its window waits until half
 * of it has drained, so that it sends in batches rather than one message
 * per delivery: one send() per message would make the generator cost as
 * much per message as the broker.
 */
static uint64_t e2e_room(const bench_t *b, bconn_t *c)
{
    uint64_t window, out;

    if (b->o.e2e_window == 0)
        return UINT64_MAX;
    window = (uint64_t)b->o.e2e_window * b->o.subs;
    out = (uint64_t)c->seq * b->o.subs -
          atomic_load_explicit(&c->delivered, memory_order_relaxed);
    if (out >= window) {
        c->e2e_held = 1;
        return 0;
    }
    if (c->e2e_held && out > window / 2)
        return 0;
    c->e2e_held = 0;
    return (window - out + b->o.subs - 1) / b->o.subs;
}

/* Next free packet id of publisher c (there is one: inflight < 65535). */
static uint16_t pub_pid(bconn_t *c)
{
    uint16_t id = c->next_pid;

    for (;;) {
        if (id == 0)
            id = 1;
        if (!(c->pidmap[id >> 6] & (1ull << (id & 63))))
            break;
        id++;
    }
    c->next_pid = (uint16_t)(id + 1);
    c->pidmap[id >> 6] |= 1ull << (id & 63);
    return id;
}

/*
 * Appends the PUBLISHes publisher c may send now: bounded by the schedule
 * (paced) or the socket (unpaced), the QoS window, the quota and the room
 * left in its buffer. All of them carry the time of this pass.
 */
static void pub_generate(bthread_t *t, bconn_t *c, uint64_t now)
{
    const bench_t *b = t->b;
    const int paced = b->interval_ns != 0, qos = b->o.qos;
    const uint32_t len = c->tpl_len;
    uint64_t room = e2e_room(b, c);
    uint32_t n = 0;

    if (c->wpos > 0 && c->wcap - c->wlen < len) {
        memmove(c->wbuf, c->wbuf + c->wpos, c->wlen - c->wpos);
        c->wlen -= c->wpos;
        c->wpos = 0;
    }
    for (;;) {
        uint8_t *p;

        if (b->pub_quota && c->seq >= b->pub_quota)
            break;
        if (qos && c->inflight >= b->o.inflight)
            break;
        if (n >= room)
            break;
        if (paced ? c->t_due > now : !c->writable)
            break;
        if (c->wcap - c->wlen < len)
            break;
        p = c->wbuf + c->wlen;
        memcpy(p, c->tpl, len);
        if (qos) {
            uint16_t id = pub_pid(c);

            p[c->tpl_pid] = (uint8_t)(id >> 8);
            p[c->tpl_pid + 1] = (uint8_t)id;
            c->inflight++;
            t->st[ST_INFLIGHT]++;
        }
        /* Payload stamp in host order; only this program reads it (wire.c). */
        memcpy(p + c->tpl_pay, &now, 8);
        memcpy(p + c->tpl_pay + 8, &c->idx, 4);
        memcpy(p + c->tpl_pay + 12, &c->seq, 4);
        c->wlen += len;
        c->seq++;
        n++;
        if (paced) {
            if (now - c->t_due > LATE_NS)
                t->st[ST_LATE]++;
            c->t_due += b->interval_ns;
        }
    }
    t->st[ST_SENT] += n;
    if (n && !c->dirty) {
        c->dirty = 1;
        t->dirty[t->ndirty++] = c;
    }
}

/*
 * When the thread has publishing to do next: 0 = now, UINT64_MAX = on an
 * event. A publisher held by --e2e-window waits for deliveries that another
 * thread may count: *held is set, and that thread wakes this one through
 * its eventfd (see e2e_wake); E2E_POLL_NS is only a safety net.
 */
static uint64_t pub_next(bthread_t *t, uint64_t now, int *held)
{
    const bench_t *b = t->b;
    uint64_t next = UINT64_MAX;

    for (uint32_t i = 0; i < t->npubs; i++) {
        bconn_t *c = t->pubs[i];

        if (c->state != CS_READY || (b->pub_quota && c->seq >= b->pub_quota) ||
            (b->o.qos && c->inflight >= b->o.inflight))
            continue;
        if (e2e_room(b, c) == 0) {
            if (now + E2E_POLL_NS < next)
                next = now + E2E_POLL_NS;
            *held = 1;
            continue;
        }
        if (b->interval_ns) {
            if (c->t_due < next)
                next = c->t_due;
        } else if (c->writable && c->wlen == c->wpos) {
            return 0;
        }
    }
    return next;
}

/*
 * Wakes the threads whose held publishers this pass settled messages of.
 * With the sleeper (thread_main) this is the store-fence-load handshake:
 * the sleeper sets e2e_waiting, fences, then looks at the counters again;
 * this side updates the counters, fences, then takes e2e_waiting. One of
 * the two sees the other, so no wake-up is lost.
 */
static void e2e_wake(bthread_t *t)
{
    const uint64_t one = 1;
    uint64_t mask = t->wake_mask;

    t->wake_mask = 0;
    mask &= ~(1ull << t->id); /* Its own publishers run on the next pass anyway. */
    if (mask == 0)
        return;
    atomic_thread_fence(memory_order_seq_cst);
    for (int i = 0; mask != 0; i++, mask >>= 1) {
        bthread_t *o = &t->b->threads[i];

        if ((mask & 1) && atomic_exchange(&o->e2e_waiting, 0))
            (void)write(o->evfd, &one, sizeof one);
    }
}

/* Keepalive pings and setup timeouts, every SCAN_NS. */
static void scan(bthread_t *t, uint64_t now)
{
    static const uint8_t ping[2] = { 0xc0, 0x00 };
    const bench_opts_t *o = &t->b->o;
    const uint64_t every = (uint64_t)o->keepalive * 750000000ull;
    const uint64_t limit = (uint64_t)(o->setup_timeout * 1e9);

    for (uint32_t i = 0; i < t->nconns && i < t->next_open; i++) {
        bconn_t *c = t->conns[i];

        if (c->fd < 0)
            continue;
        if (c->state != CS_READY) {
            if (now - c->t0 > limit) {
                if (t->st[ST_FAILED] == 0)
                    note("%s: client %u: no answer in %.0f s (state %d)", o->mode_name,
                         c->gid, o->setup_timeout, c->state);
                conn_close(t, c, 0);
            }
        } else if (every && now >= c->t_ping) {
            c->t_ping += every;
            t->st[ST_PINGS]++;
            if (conn_out(t, c, ping, 2) != 0)
                conn_close(t, c, 1);
        }
    }
}

/* Opens connections during setup, within the window and the rate. */
static void open_more(bthread_t *t, uint64_t now, uint64_t *next)
{
    while (t->next_open < t->nconns && t->opening < t->open_window) {
        if (t->open_rate > 0) {
            uint64_t at = t->t_open0 + (uint64_t)((double)t->next_open * 1e9 / t->open_rate);

            if (at > now) {
                if (at < *next)
                    *next = at;
                break;
            }
        }
        conn_open(t, t->conns[t->next_open++], now);
    }
}

/* Acts on a phase change made by the main thread. */
static void phase_enter(bthread_t *t, int ph, uint64_t now)
{
    const bench_t *b = t->b;
    uint64_t cpu = thread_cpu_ns();

    for (int p = t->phase + 1; p <= ph; p++) {
        t->cpu_at[p] = cpu;
        t->wall_at[p] = now;
    }
    if (t->phase < PH_RUN && ph >= PH_RUN && b->interval_ns) {
        /* Spread the publishers' schedules over one interval. */
        for (uint32_t i = 0; i < t->npubs; i++)
            t->pubs[i]->t_due = now + b->interval_ns * t->pubs[i]->idx / b->o.pubs;
    }
    if (t->phase < PH_DRAIN && ph >= PH_DRAIN) {
        t->st[ST_SENT_RUN] = t->st[ST_SENT];
        t->st[ST_RECV_RUN] = t->st[ST_RECV];
    }
    t->phase = ph;
}

static void publish_stats(bthread_t *t)
{
    uint64_t unflushed = 0;

    for (uint32_t i = 0; i < t->npubs; i++)
        unflushed += t->pubs[i]->wlen != t->pubs[i]->wpos;
    t->st[ST_UNFLUSHED] = unflushed;
    for (int i = 0; i < ST_N; i++)
        atomic_store_explicit(&t->pub[i], t->st[i], memory_order_relaxed);
}

/* Sends DISCONNECT (best effort) and closes every connection. */
static void close_all(bthread_t *t)
{
    static const uint8_t disc[2] = { 0xe0, 0x00 };

    for (uint32_t i = 0; i < t->nconns; i++) {
        bconn_t *c = t->conns[i];

        if (c->fd >= 0 && c->state == CS_READY)
            (void)send(c->fd, disc, 2, MSG_NOSIGNAL | MSG_DONTWAIT);
        conn_close(t, c, 0);
    }
}

static void *thread_main(void *arg)
{
    bthread_t *t = arg;
    bench_t *b = t->b;
    struct epoll_event ev[EVENTS];
    uint64_t now = now_ns(), next = now;

    if (b->interval_ns)
        prctl(PR_SET_TIMERSLACK, 1000UL); /* Paced sends: wake within ~1 us. */
    t->t_open0 = now;
    t->t_scan = now + SCAN_NS;
    t->cpu_at[PH_SETUP] = thread_cpu_ns();
    t->wall_at[PH_SETUP] = now;
    for (;;) {
        int ph = atomic_load_explicit(&b->phase, memory_order_acquire);
        uint64_t wait_ns;
        uint32_t nagain;
        int n;

        if (ph != t->phase)
            phase_enter(t, ph, now);
        if (ph == PH_STOP)
            break;
        next = now + MAX_WAIT_NS;
        if (ph == PH_SETUP)
            open_more(t, now, &next);
        if (ph == PH_RUN)
            for (uint32_t i = 0; i < t->npubs; i++)
                if (t->pubs[i]->state == CS_READY)
                    pub_generate(t, t->pubs[i], now);
        if (now >= t->t_scan) {
            scan(t, now);
            t->t_scan = now + SCAN_NS;
        }
        flush_all(t);
        publish_stats(t);
        if (t->t_scan < next)
            next = t->t_scan;
        now = now_ns();
        if (ph == PH_RUN) {
            int held = 0;
            uint64_t p = pub_next(t, now, &held);

            if (held && p > now) {
                /* About to sleep with held publishers: ask to be woken, then
                 * look again in case the deliveries came in between. */
                atomic_store(&t->e2e_waiting, 1);
                atomic_thread_fence(memory_order_seq_cst);
                p = pub_next(t, now, &held);
            }
            if (p < next)
                next = p;
        }
        wait_ns = t->nagain || next <= now ? 0 : next - now;
        if (wait_ns == 0) {
            atomic_store_explicit(&t->e2e_waiting, 0, memory_order_relaxed);
            n = epoll_wait(t->epfd, ev, EVENTS, 0);
        } else {
            struct timespec ts = { (time_t)(wait_ns / 1000000000ull),
                                   (long)(wait_ns % 1000000000ull) };

            n = epoll_pwait2(t->epfd, ev, EVENTS, &ts, NULL);
        }
        if (n < 0 && errno != EINTR) {
            note("epoll_wait: %s", strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++) {
            bconn_t *c = ev[i].data.ptr;
            uint32_t e = ev[i].events;

            if (c == NULL) { /* The eventfd: e2e_wake() of another thread. */
                uint64_t v;

                (void)read(t->evfd, &v, sizeof v);
                atomic_store_explicit(&t->e2e_waiting, 0, memory_order_relaxed);
                continue;
            }
            if (c->fd < 0)
                continue;
            if (c->state == CS_TCP) {
                conn_tcp_done(t, c);
                if (c->fd < 0)
                    continue;
            }
            if (e & EPOLLOUT) {
                c->writable = 1;
                if (c->wlen != c->wpos && !c->dirty) {
                    c->dirty = 1;
                    t->dirty[t->ndirty++] = c;
                }
            }
            if (e & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP))
                conn_read(t, c);
        }
        nagain = t->nagain;
        t->nagain = 0;
        for (uint32_t i = 0; i < nagain; i++) {
            bconn_t *c = t->again[i];

            c->again = 0;
            if (c->fd >= 0)
                conn_read(t, c);
        }
        if (t->wake_mask)
            e2e_wake(t);
        now = now_ns();
    }
    close_all(t);
    publish_stats(t);
    atomic_store_explicit(&t->done, 1, memory_order_release);
    return NULL;
}

int loop_start(bench_t *b)
{
    const int nt = b->o.threads;
    size_t scratch = 256 * 1024;

    if (scratch < 4 * b->max_packet)
        scratch = 4 * b->max_packet;
    b->threads = calloc((size_t)nt, sizeof *b->threads);
    if (b->threads == NULL)
        return -1;
    for (int i = 0; i < nt; i++) {
        bthread_t *t = &b->threads[i];
        uint32_t cap = b->nconns / (uint32_t)nt + 1;

        t->b = b;
        t->id = i;
        t->epfd = epoll_create1(EPOLL_CLOEXEC);
        t->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        t->conns = calloc(cap, sizeof *t->conns);
        t->pubs = calloc(cap, sizeof *t->pubs);
        t->dirty = calloc(cap, sizeof *t->dirty);
        t->again = calloc(cap, sizeof *t->again);
        t->scratch = malloc(scratch);
        t->scratch_len = scratch;
        t->lat = calloc(1, sizeof *t->lat);
        if (t->epfd < 0 || t->evfd < 0 || !t->conns || !t->pubs || !t->dirty || !t->again ||
            !t->scratch || !t->lat) {
            note("out of memory or descriptors starting thread %d", i);
            return -1;
        }
        {
            struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.ptr = NULL };

            if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->evfd, &ev) != 0)
                return -1;
        }
        t->open_rate = b->o.conn_rate / nt;
        t->open_window = b->o.conn_window / (uint32_t)nt;
        if (t->open_window == 0)
            t->open_window = 1;
    }
    /* Connection g goes to thread g % nt, so every thread gets a share of each role. */
    for (uint32_t g = 0; g < b->nconns; g++) {
        bthread_t *t = &b->threads[g % (uint32_t)nt];
        bconn_t *c = &b->conns[g];

        c->fd = -1;
        t->conns[t->nconns++] = c;
        if (c->role == ROLE_PUB)
            t->pubs[t->npubs++] = c;
    }
    atomic_store(&b->phase, PH_SETUP);
    for (int i = 0; i < nt; i++) {
        if (pthread_create(&b->threads[i].tid, NULL, thread_main, &b->threads[i]) != 0) {
            note("cannot start thread %d", i);
            loop_set_phase(b, PH_STOP);
            for (int j = 0; j < i; j++)
                pthread_join(b->threads[j].tid, NULL);
            return -1;
        }
    }
    return 0;
}

void loop_join(bench_t *b)
{
    for (int i = 0; i < b->o.threads; i++) {
        pthread_join(b->threads[i].tid, NULL);
        close(b->threads[i].epfd);
        close(b->threads[i].evfd);
    }
}

void loop_free(bench_t *b)
{
    for (uint32_t g = 0; b->conns != NULL && g < b->nconns; g++) {
        bconn_t *c = &b->conns[g];

        free(c->rbuf);
        free(c->wbuf);
        free(c->pidmap);
        free(c->tpl);
        free(c->next_seq);
    }
    free(b->conns);
    b->conns = NULL;
    for (int i = 0; b->threads != NULL && i < b->o.threads; i++) {
        bthread_t *t = &b->threads[i];

        free(t->conns);
        free(t->pubs);
        free(t->dirty);
        free(t->again);
        free(t->scratch);
        free(t->lat);
    }
    free(b->threads);
    b->threads = NULL;
}

uint64_t loop_sum(bench_t *b, enum bstat s)
{
    uint64_t v = 0;

    for (int i = 0; i < b->o.threads; i++)
        v += atomic_load_explicit(&b->threads[i].pub[s], memory_order_relaxed);
    return v;
}

uint64_t loop_max(bench_t *b, enum bstat s)
{
    uint64_t v = 0, x;

    for (int i = 0; i < b->o.threads; i++) {
        x = atomic_load_explicit(&b->threads[i].pub[s], memory_order_relaxed);
        if (x > v)
            v = x;
    }
    return v;
}

void loop_set_phase(bench_t *b, int phase)
{
    atomic_store_explicit(&b->phase, phase, memory_order_release);
}
