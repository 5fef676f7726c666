/*
 * idle.c - the conn mode: many idle MQTT connections.
 *
 * SETUP opens --conns connections at --conn-rate (0 = as fast as the window
 * of --conn-window handshakes in progress allows), from source addresses
 * 127.0.0.1..N so that each address brings its own ephemeral port range.
 * A connection counts as connected at its CONNACK; its latency runs from
 * connect() to the CONNACK. RUN holds them for --duration seconds, each
 * sending PINGREQ at 3/4 of its keepalive. The broker's RSS is read before
 * the first connect and at the end of the hold, and the difference divided
 * by the connections gives its memory per connection (user space only:
 * kernel socket buffers are not in RSS).
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

#define POLL_NS 50000000ull

/* Waits until every connection is connected or has failed; returns the time taken. */
static void conn_wait(bench_t *b, uint64_t t0)
{
    const bench_opts_t *o = &b->o;
    uint64_t t_prog = t0 + 1000000000ull, t_moved = t0, last = 0, prev = 0;

    for (;;) {
        uint64_t now, ready, failed;

        sleep_ns(POLL_NS);
        now = now_ns();
        ready = loop_sum(b, ST_READY);
        failed = loop_sum(b, ST_FAILED);
        if (ready + failed >= b->nconns)
            return;
        if (ready + failed != last) {
            last = ready + failed;
            t_moved = now;
        } else if (now - t_moved > (uint64_t)((o->setup_timeout + 2) * 1e9)) {
            note("conn: no progress for %.0f s, giving up on the rest", o->setup_timeout + 2);
            return;
        }
        if (now >= t_prog) {
            note("conn: %4.0f s  %llu connected (%llu/s), %llu failed", (double)(now - t0) / 1e9,
                 (unsigned long long)ready, (unsigned long long)(ready - prev),
                 (unsigned long long)failed);
            prev = ready;
            t_prog += 1000000000ull;
        }
    }
}

/* Holds the connections for the configured time. */
static void conn_hold(bench_t *b)
{
    const uint64_t t0 = now_ns(), end = t0 + (uint64_t)(b->o.duration * 1e9);
    uint64_t t_prog = t0 + 1000000000ull;

    loop_set_phase(b, PH_RUN);
    for (;;) {
        uint64_t now;

        sleep_ns(POLL_NS);
        now = now_ns();
        if (now >= end)
            return;
        if (now >= t_prog) {
            note("conn: hold %3.0f s  %llu open, %llu lost, %llu pings, %llu answered",
                 (double)(now - t0) / 1e9,
                 (unsigned long long)(loop_sum(b, ST_READY) - loop_sum(b, ST_LOST)),
                 (unsigned long long)loop_sum(b, ST_LOST),
                 (unsigned long long)loop_sum(b, ST_PINGS),
                 (unsigned long long)loop_sum(b, ST_PONGS));
            t_prog += 1000000000ull;
        }
    }
}

int mode_conn(bench_t *b)
{
    const bench_opts_t *o = &b->o;
    uint64_t st[ST_N] = { 0 }, t0, t_last = 0, self0, self1, pings, pongs, lost;
    long rss0 = -1, rss1 = -1;
    int64_t bcpu0 = -1, bcpu1 = -1;
    double connect_s = 0, rate = 0, busy, per_conn = -1, bcpu_s = -1;
    hist_t *lat = &b->lat;
    int ok = 1;

    b->nconns = o->conns;
    b->conns = calloc(b->nconns, sizeof *b->conns);
    if (b->conns == NULL)
        return 1;
    for (uint32_t g = 0; g < b->nconns; g++) {
        b->conns[g].gid = g;
        b->conns[g].role = ROLE_IDLE;
    }
    b->max_packet = 4096;
    say("conn: MQTT v%d, %u connections from %d source address(es), rate %s, window %u, "
        "keepalive %u s, hold %.1f s, %d thread(s)", o->version, o->conns, o->src_ips,
        o->conn_rate > 0 ? "paced" : "unpaced", o->conn_window, o->keepalive, o->duration,
        o->threads);
    if (o->conn_rate > 0)
        say("conn: target connect rate %.0f/s", o->conn_rate);
    if (o->pid) {
        rss0 = proc_rss_kb(o->pid);
        bcpu0 = proc_cpu_ns(o->pid);
    }
    self0 = self_cpu_ns();
    t0 = now_ns();
    if (loop_start(b) != 0)
        return 1;
    conn_wait(b, t0);
    self1 = self_cpu_ns();
    t_last = loop_max(b, ST_LAST_CONNACK);
    conn_hold(b);
    if (o->pid) {
        rss1 = proc_rss_kb(o->pid);
        bcpu1 = proc_cpu_ns(o->pid);
    }
    pings = loop_sum(b, ST_PINGS);
    pongs = loop_sum(b, ST_PONGS);
    lost = loop_sum(b, ST_LOST);
    loop_set_phase(b, PH_STOP);
    loop_join(b);

    for (int i = 0; i < o->threads; i++) {
        for (int s = 0; s < ST_N; s++)
            st[s] += b->threads[i].st[s];
        hist_merge(lat, b->threads[i].lat);
    }
    if (st[ST_CONNECTED] && t_last > t0) {
        connect_s = (double)(t_last - t0) / 1e9;
        rate = (double)st[ST_CONNECTED] / connect_s;
    }
    if (rss0 >= 0 && rss1 >= 0 && st[ST_CONNECTED])
        per_conn = (double)(rss1 - rss0) * 1024.0 / (double)st[ST_CONNECTED];
    if (bcpu0 >= 0 && bcpu1 >= 0)
        bcpu_s = (double)(bcpu1 - bcpu0) / 1e9;

    say("conn: connected %llu of %u in %.2f s: %.0f CONNACKs/s; failed %llu",
        (unsigned long long)st[ST_CONNECTED], o->conns, connect_s, rate,
        (unsigned long long)(o->conns - st[ST_CONNECTED]));
    say("conn: CONNACK latency p50 %.1f us  p99 %.1f us  max %.1f us",
        (double)hist_quantile(lat, 0.5) / 1000.0, (double)hist_quantile(lat, 0.99) / 1000.0,
        (double)lat->max / 1000.0);
    say("conn: hold %.1f s: %llu lost, %llu PINGREQ sent, %llu PINGRESP received", o->duration,
        (unsigned long long)lost, (unsigned long long)pings, (unsigned long long)pongs);
    if (o->pid)
        say("conn: broker pid %d: RSS %ld KiB before, %ld KiB held: %.0f bytes per connection; "
            "%.2f s CPU", o->pid, rss0, rss1, per_conn, bcpu_s);
    say("conn: generator %.2f s CPU while connecting", (double)(self1 - self0) / 1e9);
    busy = gen_busy(b, PH_SETUP, PH_RUN);
    if (st[ST_CONNECTED] < o->conns || lost) {
        say("conn: ERROR: %llu connection(s) failed, %llu lost during the hold",
            (unsigned long long)(o->conns - st[ST_CONNECTED]), (unsigned long long)lost);
        ok = 0;
    }
    if (pongs + 2 * (uint64_t)o->threads < pings) /* A few may be in flight at the end. */
        say("conn: WARNING: %llu PINGREQ without an answer",
            (unsigned long long)(pings - pongs));
    printf("RESULT mode=conn v=%d target=%u connected=%llu failed=%llu lost=%llu "
           "connect_s=%.3f connect_rate=%.0f connack_p50_us=%.1f connack_p99_us=%.1f "
           "connack_max_us=%.1f hold_s=%.1f pings=%llu pongs=%llu rss_before_kb=%ld "
           "rss_after_kb=%ld bytes_per_conn=%.0f broker_cpu_s=%.2f gen_cpu_s=%.2f "
           "gen_busy_max=%.2f capped=%d ok=%d\n",
           o->version, o->conns, (unsigned long long)st[ST_CONNECTED],
           (unsigned long long)(o->conns - st[ST_CONNECTED]), (unsigned long long)lost,
           connect_s, rate, (double)hist_quantile(lat, 0.5) / 1000.0,
           (double)hist_quantile(lat, 0.99) / 1000.0, (double)lat->max / 1000.0, o->duration,
           (unsigned long long)pings, (unsigned long long)pongs, rss0, rss1, per_conn, bcpu_s,
           (double)(self1 - self0) / 1e9, busy, busy > 0.9, ok);
    fflush(stdout);
    return ok ? 0 : 2;
}
