/*
 * conn.c - reading, buffering and writing of one connection. Input goes
 * through the worker's scratch buffer; output is gathered in wbuf and
 * flushed by iot_worker_flush() before the loop sleeps.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/globals.h"
#include "net/net_int.h"

/* Reads per wake-up before yielding to other connections (fairness cap:
 * one fast sender must not starve the rest of the worker). */
#define CONN_MAX_READS 8

static void conn_mark_dirty(iot_conn_t *c)
{
    if (!c->dirty && !c->closed) {
        c->dirty = 1;
        c->next_dirty = c->worker->dirty;
        c->worker->dirty = c;
    }
}

/* Room for the longest WebSocket header a server sends (no mask). */
#define WS_HDR_MAX 10

static uint8_t *conn_reserve(iot_conn_t *c, size_t n)
{
    if (c->closed) {
        /* Writes after close are dropped: reuse the buffer from its start
         * (it is freed with the connection after this loop pass). */
        c->wpos = c->wlen = 0;
        c->frame_open = 0;
    }
    if (c->wpos == c->wlen && !c->frame_open) c->wpos = c->wlen = 0;
    size_t need = (size_t)c->wlen + n;
    if (need > c->wcap) {
        /* Drop what was sent before growing. */
        if (c->wpos) {
            memmove(c->wbuf, c->wbuf + c->wpos, c->wlen - c->wpos);
            c->wlen -= c->wpos;
            if (c->frame_open) c->frame_start -= c->wpos;
            c->wpos = 0;
            need = (size_t)c->wlen + n;
        }
        if (need > c->wcap) {
            size_t cap = c->wcap ? c->wcap : 512;
            while (cap < need) cap *= 2;
            uint8_t *nb = realloc(c->wbuf, cap);
            if (!nb) abort(); /* Out of memory: nothing sensible to do on a worker. */
            c->wbuf = nb;
            c->wcap = (uint32_t)cap;
        }
    }
    uint8_t *p = c->wbuf + c->wlen;
    c->wlen += (uint32_t)n;
    conn_mark_dirty(c);
    return p;
}

/*
 * Writes the header of the open WebSocket frame into its slot. The slot has
 * room for the longest header; a shorter one is written at the slot's end
 * and the bytes before it are skipped: by moving wpos when the frame is the
 * first thing pending (the usual case), else by moving the pending bytes in
 * front of it up. RFC 6455 asks for the shortest length encoding, and a
 * frame built in place saves copying every outgoing byte.
 */
static void conn_close_frame(iot_conn_t *c)
{
    if (!c->frame_open) return;
    c->frame_open = 0;
    uint64_t len = c->wlen - c->frame_start - WS_HDR_MAX;
    uint8_t hdr[WS_HDR_MAX];
    size_t h = 0;
    hdr[h++] = 0x82; /* FIN, binary. */
    if (len < 126) {
        hdr[h++] = (uint8_t)len;
    } else if (len <= 0xFFFF) {
        hdr[h++] = 126;
        hdr[h++] = (uint8_t)(len >> 8);
        hdr[h++] = (uint8_t)len;
    } else {
        hdr[h++] = 127;
        for (int i = 7; i >= 0; i--) hdr[h++] = (uint8_t)(len >> (i * 8));
    }
    size_t gap = WS_HDR_MAX - h;
    memcpy(c->wbuf + c->frame_start + gap, hdr, h);
    if (gap) {
        if (c->frame_start > c->wpos)
            memmove(c->wbuf + c->wpos + gap, c->wbuf + c->wpos, c->frame_start - c->wpos);
        c->wpos += (uint32_t)gap;
    }
}

uint8_t *iot_conn_reserve_raw(iot_conn_t *c, size_t n)
{
    conn_close_frame(c);
    return conn_reserve(c, n);
}

void iot_conn_set_ws_framing(iot_conn_t *c) { c->ws_out = 1; }

uint8_t *iot_conn_reserve(iot_conn_t *c, size_t n)
{
    if (c->ws_out && !c->frame_open && !c->closed) {
        conn_reserve(c, WS_HDR_MAX);
        c->frame_open = 1;
        c->frame_start = c->wlen - WS_HDR_MAX;
    }
    return conn_reserve(c, n);
}

void iot_conn_write(iot_conn_t *c, const void *p, size_t n)
{
    memcpy(iot_conn_reserve(c, n), p, n);
}

static void conn_unlink(iot_conn_t *c)
{
    iot_worker_t *w = c->worker;
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
    w->nconns--;
}

void iot_conn_close(iot_conn_t *c)
{
    if (c->closed) return;
    c->closed = 1;
    iot_io_del(&c->worker->loop, &c->io);
    close(c->io.fd);
    c->io.fd = -1;
    conn_unlink(c);
    if (c->ops && c->ops->on_close) c->ops->on_close(c);
    /* Freed in iot_worker_flush, after this pass: the loop may still hold
     * an event for this connection. */
    c->next = c->worker->graveyard;
    c->worker->graveyard = c;
}

void iot_conn_close_after_flush(iot_conn_t *c)
{
    if (c->closed) return;
    c->close_after_flush = 1;
    conn_mark_dirty(c);
}

/* Writes what is pending; returns 0, or IOT_ECLOSED after closing c. */
static int conn_flush(iot_conn_t *c)
{
    conn_close_frame(c);
    while (c->wpos < c->wlen) {
        ssize_t n = send(c->io.fd, c->wbuf + c->wpos, c->wlen - c->wpos, MSG_NOSIGNAL);
        if (n > 0) {
            c->wpos += (uint32_t)n;
            METRIC_ADD(bytes_sent, n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0; /* EPOLLOUT edge resumes. */
        log_debug("%s: write failed: %s", iot_conn_peer(c), strerror(errno));
        iot_conn_close(c);
        return IOT_ECLOSED;
    }
    /* Drained: an idle connection keeps no buffer. */
    free(c->wbuf);
    c->wbuf = NULL;
    c->wpos = c->wlen = c->wcap = 0;
    if (c->close_after_flush) {
        iot_conn_close(c);
        return IOT_ECLOSED;
    }
    return 0;
}

void iot_worker_flush(iot_worker_t *w)
{
    while (w->dirty) {
        iot_conn_t *c = w->dirty;
        w->dirty = c->next_dirty;
        c->dirty = 0;
        c->next_dirty = NULL;
        if (!c->closed) conn_flush(c);
    }
    while (w->graveyard) {
        iot_conn_t *c = w->graveyard;
        w->graveyard = c->next;
        free(c->rbuf);
        free(c->wbuf);
        free(c);
    }
}

/* Hands input to the protocol; keeps the unconsumed tail in rbuf. */
static void conn_feed(iot_conn_t *c, const uint8_t *p, size_t n, int from_rbuf)
{
    size_t used = c->ops->on_data(c, p, n);
    if (c->closed) return;
    size_t left = n - used;
    if (from_rbuf) {
        if (left == 0) {
            free(c->rbuf);
            c->rbuf = NULL;
            c->rlen = c->rcap = 0;
        } else if (used) {
            memmove(c->rbuf, c->rbuf + used, left);
            c->rlen = (uint32_t)left;
        }
        return;
    }
    if (left) {
        c->rbuf = malloc(left < 256 ? 256 : left);
        if (!c->rbuf) abort();
        c->rcap = (uint32_t)(left < 256 ? 256 : left);
        memcpy(c->rbuf, p + used, left);
        c->rlen = (uint32_t)left;
    }
}

void iot_conn_resume(iot_conn_t *c)
{
    if (!c->closed && c->ops->on_resume) c->ops->on_resume(c);
    if (!c->closed && c->rlen) conn_feed(c, c->rbuf, c->rlen, 1);
}

void iot_conn_pause_read(iot_conn_t *c) { c->read_paused = 1; }

void iot_conn_unpause_read(iot_conn_t *c)
{
    if (c->closed || !c->read_paused) return;
    c->read_paused = 0;
    iot_conn_resume(c);
    /* The readable edge may have come while paused: look again. */
    if (!c->closed && !c->read_paused) iot_io_again(&c->worker->loop, &c->io, IOT_READ);
}

static void conn_on_io(iot_loop_t *loop, iot_io_t *io, unsigned events)
{
    iot_conn_t *c = (iot_conn_t *)io;
    iot_worker_t *w = c->worker;
    if (events & IOT_WRITE) {
        if (c->wpos < c->wlen && conn_flush(c) != 0) return;
    }
    if (!(events & IOT_READ) || c->read_paused) return; /* Unpausing looks again. */
    for (int i = 0; i < CONN_MAX_READS; i++) {
        uint8_t *dst;
        size_t room;
        if (c->rbuf) {
            /* An unfinished packet: read right behind it. */
            if (c->rcap - c->rlen < 4096) {
                size_t cap = (size_t)c->rcap * 2;
                if (cap < (size_t)c->rlen + 16384) cap = (size_t)c->rlen + 16384;
                uint8_t *nb = realloc(c->rbuf, cap);
                if (!nb) abort();
                c->rbuf = nb;
                c->rcap = (uint32_t)cap;
            }
            dst = c->rbuf + c->rlen;
            room = c->rcap - c->rlen;
        } else {
            dst = w->scratch;
            room = w->scratch_cap;
        }
        ssize_t n = recv(c->io.fd, dst, room, 0);
        if (n == 0) {
            log_debug("%s: connection closed by peer", iot_conn_peer(c));
            iot_conn_close(c);
            return;
        }
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            log_debug("%s: read failed: %s", iot_conn_peer(c), strerror(errno));
            iot_conn_close(c);
            return;
        }
        METRIC_ADD(bytes_received, n);
        if (c->rbuf) {
            c->rlen += (uint32_t)n;
            conn_feed(c, c->rbuf, c->rlen, 1);
        } else {
            conn_feed(c, dst, (size_t)n, 0);
        }
        if (c->closed || c->read_paused) return;
        if ((size_t)n < room) return; /* Socket drained (edge consumed). */
    }
    /* Still data after the cap: come back on the next pass. */
    iot_io_again(loop, io, IOT_READ);
}

const char *iot_conn_peer(const iot_conn_t *c)
{
    static _Thread_local char name[64];
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (c->io.fd < 0 || getpeername(c->io.fd, (struct sockaddr *)&ss, &sl) != 0) return "-";
    iot__peer_name(&ss, name, sizeof name);
    return name;
}

iot_conn_t *iot__conn_new(iot_worker_t *w, int fd)
{
    iot_conn_t *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->io.fd = fd;
    c->io.cb = conn_on_io;
    c->worker = w;
    if (iot_io_add(&w->loop, &c->io) != 0) {
        free(c);
        return NULL;
    }
    c->next = w->conns;
    if (w->conns) w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    return c;
}
