/*
 * main.c - iotgate-bench: options, limits and the mode to run.
 *
 * Loopback only: the host must resolve to 127.0.0.0/8 or ::1. A load
 * generator pointed at another machine is a denial-of-service tool, and a
 * measurement across a network would measure the network.
 *
 * Every mode prints human-readable lines and ends with one line
 *   RESULT mode=<mode> key=value ...
 * that scripts (bench/compare.sh) read. Exit status: 0 ok, 1 usage or
 * setup error, 2 the run finished but failed a check (lost QoS 1/2
 * messages, failed or dropped connections).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

void say(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

void note(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

double gen_busy(bench_t *b, int from, int to)
{
    double max = 0;

    for (int i = 0; i < b->o.threads; i++) {
        const bthread_t *t = &b->threads[i];
        uint64_t wall = t->wall_at[to] - t->wall_at[from];
        double busy = wall ? (double)(t->cpu_at[to] - t->cpu_at[from]) / (double)wall : 0;

        say("%s: generator thread %d: %.0f %% of one core", b->o.mode_name, i, 100.0 * busy);
        if (busy > 0.9)
            say("%s: WARNING: generator thread %d was %.0f %% busy: figure may be capped by "
                "the generator", b->o.mode_name, i, 100.0 * busy);
        if (busy > max)
            max = busy;
    }
    return max;
}

static void usage(FILE *f)
{
    fputs(
"usage: iotgate-bench MODE [options]\n"
"\n"
"Loopback MQTT load generator. MODE is one of:\n"
"  conn     open --conns connections, hold them --duration s with pings;\n"
"           CONNACK rate and latency, broker RSS per connection (--pid)\n"
"  fanin    --pubs publishers on dev/<i>/telemetry -> --subs subscribers of\n"
"           dev/+/telemetry (default 100 -> 1); throughput, loss, latency\n"
"  fanout   1 publisher on bench/fanout -> --subs subscribers (default 1000)\n"
"  latency  fanin at a fixed --rate (default 10 publishers, 10000 msg/s)\n"
"\n"
"Common options:\n"
"  --host H          broker address, loopback only (127.0.0.1)\n"
"  --port P          broker port (1883)\n"
"  --v 4|5           MQTT version (4 = 3.1.1)\n"
"  --qos 0|1|2       QoS of publishes and subscriptions (0)\n"
"  -t, --threads N   generator threads (2)\n"
"  -d, --duration S  measured run, or conn hold time, seconds (10)\n"
"  --drain S         longest wait for messages after the run (5)\n"
"  --setup-timeout S longest wait for a CONNACK or SUBACK (10)\n"
"  --keepalive S     MQTT keepalive; PINGREQ at 3/4 of it (60; conn: 10)\n"
"  --src-ips N       source addresses 127.0.0.1..N, IPv4 only (8)\n"
"  --pid PID         broker PID: report its CPU time and RSS\n"
"  --id-prefix S     client id prefix (bench)\n"
"conn:\n"
"  -n, --conns N     connections (1000); capped by the open-file limit\n"
"  --conn-rate R     new connections per second (0 = unpaced)\n"
"  --conn-window W   handshakes in progress at once (16)\n"
"fanin, fanout, latency:\n"
"  -P, --pubs N      publishers\n"
"  -S, --subs N      subscribers\n"
"  -B, --payload N   payload bytes, at least 16 (64)\n"
"  --rate R          total msg/s over all publishers (0 = as fast as allowed)\n"
"  --inflight N      QoS 1/2 window per publisher (16)\n"
"  --e2e-window N    closed loop: at most N messages per publisher sent and\n"
"                    not yet received (or skipped) by every subscriber\n"
"                    (0 = off: open loop, bounded by --inflight / sockets)\n"
"  --count N         stop after N messages in all (0 = time only)\n"
"  --receive-max N   v5 Receive Maximum of subscribers (65535)\n"
"\n"
"Ends with one line 'RESULT mode=... key=value ...'. Exit 0 ok, 1 error,\n"
"2 a check failed (lost QoS 1/2 messages, failed connections).\n", f);
}

/* Resolves o->host and refuses anything that is not loopback. */
static int resolve(bench_opts_t *o, const char *port)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
    struct addrinfo *res;
    int rc, loop = 0;

    rc = getaddrinfo(o->host, port, &hints, &res);
    if (rc != 0) {
        note("cannot resolve %s: %s", o->host, gai_strerror(rc));
        return -1;
    }
    if (res->ai_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)res->ai_addr;

        loop = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    } else if (res->ai_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)res->ai_addr;

        loop = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
    }
    if (loop) {
        memcpy(&o->dst, res->ai_addr, res->ai_addrlen);
        o->dst_len = res->ai_addrlen;
    }
    freeaddrinfo(res);
    if (!loop) {
        note("refusing host %s: iotgate-bench only runs against 127.0.0.0/8 or ::1", o->host);
        return -1;
    }
    if (o->dst.ss_family == AF_INET6)
        o->src_ips = 1; /* ::1 is the only IPv6 loopback address. */
    return 0;
}

/* Parses a number in [lo, hi] or exits with a message. */
static double num(const char *opt, const char *s, double lo, double hi)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || v < lo || v > hi) {
        note("bad value '%s' for %s (%g..%g)", s, opt, lo, hi);
        exit(1);
    }
    return v;
}

static void defaults(bench_opts_t *o)
{
    o->host = "127.0.0.1";
    o->version = 4;
    o->threads = 2;
    o->duration = 10;
    o->drain = 5;
    o->setup_timeout = 10;
    o->keepalive = o->mode == MODE_CONN ? 10 : 60;
    o->src_ips = 8;
    o->id_prefix = "bench";
    o->conns = 1000;
    o->conn_window = 16;
    o->payload = 64;
    o->inflight = 16;
    o->receive_max = 65535;
    switch (o->mode) {
    case MODE_FANOUT:
        o->pubs = 1;
        o->subs = 1000;
        break;
    case MODE_LATENCY:
        o->pubs = 10;
        o->subs = 1;
        o->rate = 10000;
        break;
    default:
        o->pubs = 100;
        o->subs = 1;
        break;
    }
}

int main(int argc, char **argv)
{
    enum { O_HOST = 256, O_PORT, O_V, O_QOS, O_DRAIN, O_SETUP, O_KA, O_SRC, O_PID, O_IDP,
           O_CRATE, O_CWIN, O_RATE, O_INFL, O_COUNT, O_RMAX, O_E2E };
    static const struct option lo[] = {
        { "host", required_argument, NULL, O_HOST },
        { "port", required_argument, NULL, O_PORT },
        { "v", required_argument, NULL, O_V },
        { "qos", required_argument, NULL, O_QOS },
        { "threads", required_argument, NULL, 't' },
        { "duration", required_argument, NULL, 'd' },
        { "drain", required_argument, NULL, O_DRAIN },
        { "setup-timeout", required_argument, NULL, O_SETUP },
        { "keepalive", required_argument, NULL, O_KA },
        { "src-ips", required_argument, NULL, O_SRC },
        { "pid", required_argument, NULL, O_PID },
        { "id-prefix", required_argument, NULL, O_IDP },
        { "conns", required_argument, NULL, 'n' },
        { "conn-rate", required_argument, NULL, O_CRATE },
        { "conn-window", required_argument, NULL, O_CWIN },
        { "pubs", required_argument, NULL, 'P' },
        { "subs", required_argument, NULL, 'S' },
        { "payload", required_argument, NULL, 'B' },
        { "rate", required_argument, NULL, O_RATE },
        { "inflight", required_argument, NULL, O_INFL },
        { "count", required_argument, NULL, O_COUNT },
        { "e2e-window", required_argument, NULL, O_E2E },
        { "receive-max", required_argument, NULL, O_RMAX },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    static const char *modes[] = { "conn", "fanin", "fanout", "latency" };
    static bench_t bench; /* 30 KiB of histogram: not on the stack. */
    bench_t *b = &bench;
    bench_opts_t *o = &b->o;
    const char *port = "1883";
    long nofile, room;
    int c;

    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2;
    }
    o->mode_name = NULL;
    for (int m = 0; m < 4; m++)
        if (strcmp(argv[1], modes[m]) == 0) {
            o->mode = (bench_mode_t)m;
            o->mode_name = modes[m];
        }
    if (o->mode_name == NULL) {
        note("unknown mode '%s' (conn, fanin, fanout, latency)", argv[1]);
        return 1;
    }
    defaults(o);
    optind = 2;
    while ((c = getopt_long(argc, argv, "t:d:n:P:S:B:h", lo, NULL)) != -1) {
        switch (c) {
        case O_HOST: o->host = optarg; break;
        case O_PORT: num("--port", optarg, 1, 65535); port = optarg; break;
        case O_V: o->version = (int)num("--v", optarg, 4, 5); break;
        case O_QOS: o->qos = (int)num("--qos", optarg, 0, 2); break;
        case 't': o->threads = (int)num("--threads", optarg, 1, 64); break;
        case 'd': o->duration = num("--duration", optarg, 0.1, 86400); break;
        case O_DRAIN: o->drain = num("--drain", optarg, 0, 3600); break;
        case O_SETUP: o->setup_timeout = num("--setup-timeout", optarg, 1, 3600); break;
        case O_KA: o->keepalive = (uint16_t)num("--keepalive", optarg, 0, 65535); break;
        case O_SRC: o->src_ips = (int)num("--src-ips", optarg, 1, 254); break;
        case O_PID: o->pid = (int)num("--pid", optarg, 1, 1 << 30); break;
        case O_IDP: o->id_prefix = optarg; break;
        case 'n': o->conns = (uint32_t)num("--conns", optarg, 1, 10000000); break;
        case O_CRATE: o->conn_rate = num("--conn-rate", optarg, 0, 1e7); break;
        case O_CWIN: o->conn_window = (uint32_t)num("--conn-window", optarg, 1, 1e6); break;
        case 'P': o->pubs = (uint32_t)num("--pubs", optarg, 1, 1e6); break;
        case 'S': o->subs = (uint32_t)num("--subs", optarg, 1, 1e6); break;
        case 'B': o->payload = (uint32_t)num("--payload", optarg, PAYLOAD_MIN, 1 << 20); break;
        case O_RATE: o->rate = num("--rate", optarg, 0, 1e9); break;
        case O_INFL: o->inflight = (uint32_t)num("--inflight", optarg, 1, 65000); break;
        case O_E2E: o->e2e_window = (uint32_t)num("--e2e-window", optarg, 0, 1e6); break;
        case O_COUNT: o->count = (uint64_t)num("--count", optarg, 0, 1e15); break;
        case O_RMAX: o->receive_max = (uint16_t)num("--receive-max", optarg, 1, 65535); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 1;
        }
    }
    if (optind < argc) {
        note("unexpected argument '%s'", argv[optind]);
        return 1;
    }
    if (o->mode == MODE_FANOUT && o->pubs != 1)
        note("fanout: %u publishers on the same topic", o->pubs);
    if (resolve(o, port) != 0)
        return 1;
    /* One descriptor per connection, an epoll and an eventfd per thread, and
     * a margin for stdio and /proc reads. */
    nofile = raise_nofile();
    room = nofile - 2L * o->threads - 16;
    if (o->mode == MODE_CONN && (long)o->conns > room) {
        say("conn: capping %u connections to %ld: this process may hold %ld open files "
            "(ulimit -n; the hard limit caps it)", o->conns, room < 1 ? 1 : room, nofile);
        o->conns = room < 1 ? 1 : (uint32_t)room;
    } else if (o->mode != MODE_CONN && (long)(o->pubs + o->subs) > room) {
        note("%s: %u clients need more than the %ld open files this process may hold",
             o->mode_name, o->pubs + o->subs, nofile);
        return 1;
    }
    c = o->mode == MODE_CONN ? mode_conn(b) : mode_pubsub(b);
    loop_free(b);
    return c;
}
