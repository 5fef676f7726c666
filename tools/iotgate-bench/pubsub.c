/*
 * pubsub.c - the fanin, fanout and latency modes.
 *
 * All three are one experiment with different shapes:
 *   fanin    P publishers on dev/<i>/telemetry -> S subscribers of dev/+/telemetry
 *   latency  the same at a fixed total rate (default 10 publishers, 10000 msg/s)
 *   fanout   1 publisher on bench/fanout -> S subscribers of it
 *
 * Phases (set by this file, followed by every generator thread):
 *   SETUP  connect every client, subscribe, wait for all SUBACKs;
 *   RUN    publish for --duration seconds (sent and received rates are
 *          counted over this phase only);
 *   DRAIN  stop publishing and wait, at most --drain seconds, until every
 *          expected message has arrived (QoS 1/2: every acknowledged one),
 *          or until nothing has moved for a second;
 *   STOP   disconnect and join.
 *
 * Each payload carries the send time, the publisher index and a sequence
 * number, so subscribers measure end-to-end latency and find lost,
 * repeated and reordered messages without any shared state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define POLL_NS 20000000ull

/* Sets up the connections: subscribers first, then publishers. */
static int pubsub_conns(bench_t *b)
{
    const bench_opts_t *o = &b->o;

    b->nconns = o->pubs + o->subs;
    b->conns = calloc(b->nconns, sizeof *b->conns);
    if (b->conns == NULL)
        return -1;
    for (uint32_t g = 0; g < b->nconns; g++) {
        bconn_t *c = &b->conns[g];

        c->gid = g;
        if (g < o->subs) {
            c->role = ROLE_SUB;
            c->idx = g;
            c->next_seq = calloc(o->pubs, sizeof *c->next_seq);
            if (c->next_seq == NULL)
                return -1;
            continue;
        }
        c->role = ROLE_PUB;
        c->idx = g - o->subs;
        if (wire_publish_tpl(b, c) != 0)
            return -1;
        /* One pass can fill 64 KiB: about 700 messages of 64 bytes per send. */
        c->wcap = c->tpl_len * 4 > 65536 ? c->tpl_len * 4 : 65536;
        c->wbuf = malloc(c->wcap);
        if (c->wbuf == NULL)
            return -1;
        if (o->qos) {
            c->pidmap = calloc(65536 / 64, sizeof *c->pidmap);
            if (c->pidmap == NULL)
                return -1;
        }
    }
    return 0;
}

/* Waits until every client is READY. Returns 0, or -1 on a failure or timeout. */
static int pubsub_wait_ready(bench_t *b)
{
    const uint64_t t0 = now_ns();
    const uint64_t limit = (uint64_t)((b->o.setup_timeout + 1.0) * 1e9);

    for (;;) {
        uint64_t ready, failed;

        sleep_ns(POLL_NS);
        ready = loop_sum(b, ST_READY);
        failed = loop_sum(b, ST_FAILED) + loop_sum(b, ST_LOST);
        if (ready == b->nconns && failed == 0) {
            say("%s: %u clients connected and subscribed in %.2f s", b->o.mode_name,
                b->nconns, (double)(now_ns() - t0) / 1e9);
            return 0;
        }
        if (failed || now_ns() - t0 > limit) {
            say("%s: setup failed: %llu of %u clients ready, %llu failed", b->o.mode_name,
                (unsigned long long)ready, b->nconns, (unsigned long long)failed);
            return -1;
        }
    }
}

/* Runs the RUN phase; returns its length in ns. */
static uint64_t pubsub_run(bench_t *b)
{
    const bench_opts_t *o = &b->o;
    const uint64_t t0 = now_ns(), end = t0 + (uint64_t)(o->duration * 1e9);
    const uint64_t total = b->pub_quota * o->pubs;
    uint64_t t_prog = t0 + 1000000000ull, sent0 = 0, recv0 = 0;

    loop_set_phase(b, PH_RUN);
    for (;;) {
        uint64_t now;

        sleep_ns(POLL_NS);
        now = now_ns();
        if (now >= t_prog) {
            uint64_t sent = loop_sum(b, ST_SENT), recv = loop_sum(b, ST_RECV);

            note("%s: %4.0f s  sent %9llu/s  received %9llu/s  in flight %llu  lost conns %llu",
                 o->mode_name, (double)(now - t0) / 1e9, (unsigned long long)(sent - sent0),
                 (unsigned long long)(recv - recv0),
                 (unsigned long long)loop_sum(b, ST_INFLIGHT),
                 (unsigned long long)loop_sum(b, ST_LOST));
            sent0 = sent;
            recv0 = recv;
            t_prog += 1000000000ull;
        }
        if (now >= end || (total && loop_sum(b, ST_SENT) >= total) || loop_sum(b, ST_LOST))
            break;
    }
    loop_set_phase(b, PH_DRAIN);
    return now_ns() - t0;
}

/* Waits for the messages still on their way; returns the drain time in ns. */
static uint64_t pubsub_drain(bench_t *b)
{
    const bench_opts_t *o = &b->o;
    const uint64_t t0 = now_ns(), limit = (uint64_t)(o->drain * 1e9);
    uint64_t last_recv = UINT64_MAX, last_infl = UINT64_MAX, t_moved = t0;

    for (;;) {
        uint64_t now, recv, infl, unfl, unique, expected;

        sleep_ns(POLL_NS / 2);
        now = now_ns();
        recv = loop_sum(b, ST_RECV);
        infl = loop_sum(b, ST_INFLIGHT);
        unfl = loop_sum(b, ST_UNFLUSHED);
        unique = loop_sum(b, ST_UNIQUE);
        expected = o->subs * loop_sum(b, o->qos ? ST_ACKED : ST_SENT);
        if (infl == 0 && unfl == 0 && unique >= expected)
            break;
        if (recv != last_recv || infl != last_infl) {
            last_recv = recv;
            last_infl = infl;
            t_moved = now;
        } else if (now - t_moved > 1000000000ull) {
            break; /* Nothing arrives any more: what is missing is lost. */
        }
        if (now - t0 > limit)
            break;
    }
    return now_ns() - t0;
}

static double us(uint64_t ns)
{
    return (double)ns / 1000.0;
}

int mode_pubsub(bench_t *b)
{
    const bench_opts_t *o = &b->o;
    uint64_t st[ST_N] = { 0 }, run_ns, drain_ns, self0, self1, expected, lost, unacked;
    int64_t bcpu0 = -1, bcpu1 = -1;
    long rss = -1;
    double run_s, busy, loss_pct, bcpu_s = -1;
    hist_t *lat = &b->lat;
    const char *filter;
    int ok = 1;

    if (o->mode == MODE_FANOUT) {
        b->topic_fmt = "bench/fanout";
        filter = "bench/fanout";
    } else {
        b->topic_fmt = "dev/%u/telemetry";
        filter = "dev/+/telemetry";
    }
    b->max_packet = o->payload + 1024;
    b->interval_ns = o->rate > 0 ? (uint64_t)(1e9 * o->pubs / o->rate) : 0;
    b->pub_quota = o->count ? (o->count + o->pubs - 1) / o->pubs : 0;
    if (wire_subscribe(b, filter) != 0 || pubsub_conns(b) != 0) {
        note("%s: out of memory building the clients", o->mode_name);
        return 1;
    }
    say("%s: MQTT v%d QoS %d, %u publisher(s) -> %u subscriber(s) of %s, %u-byte payload, "
        "%s, %.1f s, %d thread(s)", o->mode_name, o->version, o->qos, o->pubs, o->subs, filter,
        o->payload, o->rate > 0 ? "paced" : "as fast as allowed", o->duration, o->threads);
    if (o->rate > 0)
        say("%s: target rate %.0f msg/s in all (%.1f per publisher)", o->mode_name, o->rate,
            o->rate / o->pubs);
    if (o->qos)
        say("%s: window of %u unacknowledged messages per publisher", o->mode_name, o->inflight);
    if (o->e2e_window)
        say("%s: end-to-end window of %u undelivered messages per publisher", o->mode_name,
            o->e2e_window);
    if (loop_start(b) != 0)
        return 1;
    if (pubsub_wait_ready(b) != 0) {
        loop_set_phase(b, PH_STOP);
        loop_join(b);
        printf("RESULT mode=%s ok=0 error=setup\n", o->mode_name);
        return 2;
    }
    if (o->pid)
        bcpu0 = proc_cpu_ns(o->pid);
    self0 = self_cpu_ns();
    run_ns = pubsub_run(b);
    self1 = self_cpu_ns();
    if (o->pid) {
        bcpu1 = proc_cpu_ns(o->pid);
        rss = proc_rss_kb(o->pid);
    }
    drain_ns = pubsub_drain(b);
    unacked = loop_sum(b, ST_INFLIGHT); /* Closing the clients clears it. */
    loop_set_phase(b, PH_STOP);
    loop_join(b);

    for (int i = 0; i < o->threads; i++) {
        for (int s = 0; s < ST_N; s++)
            st[s] += b->threads[i].st[s];
        hist_merge(lat, b->threads[i].lat);
    }
    run_s = (double)run_ns / 1e9;
    expected = o->subs * (o->qos ? st[ST_ACKED] : st[ST_SENT]);
    lost = expected > st[ST_UNIQUE] ? expected - st[ST_UNIQUE] : 0;
    loss_pct = expected ? 100.0 * (double)lost / (double)expected : 0;
    if (bcpu0 >= 0 && bcpu1 >= 0)
        bcpu_s = (double)(bcpu1 - bcpu0) / 1e9;

    say("%s: sent      %llu messages, %.0f msg/s during the run", o->mode_name,
        (unsigned long long)st[ST_SENT], (double)st[ST_SENT_RUN] / run_s);
    if (o->qos)
        say("%s: acked     %llu (refused %llu, unacknowledged at the end %llu)", o->mode_name,
            (unsigned long long)st[ST_ACKED], (unsigned long long)st[ST_REFUSED],
            (unsigned long long)unacked);
    say("%s: received  %llu messages, %.0f msg/s during the run (+%.2f s drain)",
        o->mode_name, (unsigned long long)st[ST_RECV], (double)st[ST_RECV_RUN] / run_s,
        (double)drain_ns / 1e9);
    say("%s: expected  %llu (%s x %u subscriber(s)); lost %llu (%.3f %%), repeated or "
        "reordered %llu, sequence gaps %llu, foreign %llu", o->mode_name,
        (unsigned long long)expected, o->qos ? "acknowledged" : "sent", o->subs,
        (unsigned long long)lost, loss_pct, (unsigned long long)st[ST_DUP],
        (unsigned long long)st[ST_GAP], (unsigned long long)st[ST_BAD]);
    say("%s: latency   p50 %.1f us  p99 %.1f us  p99.9 %.1f us  max %.1f us  mean %.1f us "
        "(%llu samples)", o->mode_name, us(hist_quantile(lat, 0.5)),
        us(hist_quantile(lat, 0.99)), us(hist_quantile(lat, 0.999)), us(lat->max),
        lat->n ? us(lat->sum / lat->n) : 0.0, (unsigned long long)lat->n);
    if (o->rate > 0 && st[ST_SENT_RUN])
        say("%s: pacing    %.0f of %.0f msg/s; %llu messages sent over 1 ms late",
            o->mode_name, (double)st[ST_SENT_RUN] / run_s, o->rate,
            (unsigned long long)st[ST_LATE]);
    if (o->pid)
        say("%s: broker    pid %d: %.2f s CPU during the run (%.0f %% of one core), RSS %ld KiB",
            o->mode_name, o->pid, bcpu_s, 100.0 * bcpu_s / run_s, rss);
    say("%s: generator %.2f s CPU during the run (%.0f %% of one core)", o->mode_name,
        (double)(self1 - self0) / 1e9, 100.0 * (double)(self1 - self0) / 1e9 / run_s);
    busy = gen_busy(b, PH_RUN, PH_DRAIN);

    if (st[ST_LOST] || st[ST_FAILED]) {
        say("%s: ERROR: %llu connection(s) closed by the broker", o->mode_name,
            (unsigned long long)(st[ST_LOST] + st[ST_FAILED]));
        ok = 0;
    }
    if (st[ST_PROTO] || st[ST_BAD]) {
        say("%s: ERROR: %llu unexpected packet(s), %llu foreign payload(s)", o->mode_name,
            (unsigned long long)st[ST_PROTO], (unsigned long long)st[ST_BAD]);
        ok = 0;
    }
    if (o->qos && (lost || unacked || st[ST_REFUSED])) {
        say("%s: ERROR: QoS %d: %llu acknowledged message(s) not delivered, %llu never "
            "acknowledged, %llu refused", o->mode_name, o->qos, (unsigned long long)lost,
            (unsigned long long)unacked, (unsigned long long)st[ST_REFUSED]);
        ok = 0;
    }
    printf("RESULT mode=%s v=%d qos=%d pubs=%u subs=%u payload=%u rate=%.0f e2e_window=%u "
           "duration=%.2f "
           "sent=%llu sent_rate=%.0f acked=%llu recv=%llu recv_rate=%.0f expected=%llu "
           "lost=%llu loss_pct=%.3f dup=%llu gaps=%llu unacked=%llu late=%llu "
           "lat_p50_us=%.1f lat_p99_us=%.1f lat_p999_us=%.1f lat_max_us=%.1f lat_n=%llu "
           "broker_cpu_s=%.2f broker_rss_kb=%ld gen_cpu_s=%.2f gen_busy_max=%.2f capped=%d "
           "ok=%d\n",
           o->mode_name, o->version, o->qos, o->pubs, o->subs, o->payload, o->rate,
           o->e2e_window, run_s,
           (unsigned long long)st[ST_SENT], (double)st[ST_SENT_RUN] / run_s,
           (unsigned long long)st[ST_ACKED], (unsigned long long)st[ST_RECV],
           (double)st[ST_RECV_RUN] / run_s, (unsigned long long)expected,
           (unsigned long long)lost, loss_pct, (unsigned long long)st[ST_DUP],
           (unsigned long long)st[ST_GAP], (unsigned long long)unacked,
           (unsigned long long)st[ST_LATE], us(hist_quantile(lat, 0.5)),
           us(hist_quantile(lat, 0.99)), us(hist_quantile(lat, 0.999)), us(lat->max),
           (unsigned long long)lat->n, bcpu_s, rss, (double)(self1 - self0) / 1e9, busy,
           busy > 0.9, ok);
    fflush(stdout);
    return ok ? 0 : 2;
}
