/*
 * worker.c - worker threads and their listening sockets. Each worker binds
 * its own socket per listen address with SO_REUSEPORT; the kernel spreads
 * incoming connections across them, so no lock is taken on accept.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/container.h"
#include "core/globals.h"
#include "net/net_int.h"

/* Accepts per wake-up before serving other descriptors (fairness cap). */
#define LISTENER_MAX_ACCEPTS 64
#define WORKER_SCRATCH (64 * 1024)


static void worker_before_sleep(iot_loop_t *loop)
{
    iot_worker_t *w = loop->data;
    /* Flush first: closing a connection can publish (an MQTT will), and
     * what that gathers for other workers must go out before we sleep. */
    iot_worker_flush(w);
    if (w->on_before_sleep) w->on_before_sleep(w);
}

int iot_worker_init(iot_worker_t *w, int id)
{
    memset(w, 0, sizeof *w);
    w->id = id;
    snprintf(w->name, sizeof w->name, "w%d", id);
    if (iot_loop_init(&w->loop) != 0) return IOT_EIO;
    w->loop.data = w;
    w->loop.before_sleep = worker_before_sleep;
    w->scratch_cap = WORKER_SCRATCH;
    w->scratch = malloc(w->scratch_cap);
    if (!w->scratch) {
        iot_loop_close(&w->loop);
        return IOT_ENOMEM;
    }
    return 0;
}

void iot__peer_name(const struct sockaddr_storage *ss, char *out, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        port = ntohs(a->sin_port);
        snprintf(out, len, "%s:%u", host, port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        port = ntohs(a->sin6_port);
        snprintf(out, len, "[%s]:%u", host, port);
    } else {
        snprintf(out, len, "unix");
    }
}

static void listener_accept(iot_listener_t *l)
{
    iot_worker_t *w = l->worker;
    for (int i = 0; i < LISTENER_MAX_ACCEPTS; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(l->io.fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Out of descriptors: the backlog waits; try again shortly
                 * rather than spinning on a listener that stays readable. */
                log_warn("%s: accept: %s; pausing accepts for 100 ms", l->addr, strerror(errno));
                METRIC_INC(connections_refused);
                iot_timer_set(&w->loop.wheel, &l->retry, 100);
                return;
            }
            log_error("%s: accept: %s", l->addr, strerror(errno));
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        iot_conn_t *c = iot__conn_new(w, fd);
        if (!c) {
            close(fd);
            continue;
        }
        METRIC_INC(connections_accepted);
        l->on_accept(w, c);
    }
    iot_io_again(&w->loop, &l->io, IOT_READ);
}

static void listener_on_io(iot_loop_t *loop, iot_io_t *io, unsigned events)
{
    listener_accept((iot_listener_t *)io);
}

static void listener_retry(iot_timer_t *t)
{
    iot_listener_t *l = iot_container_of(t, iot_listener_t, retry);
    listener_accept(l);
}

/* Splits "host:port" / "[v6]:port" into host and port strings. */
static int split_addr(const char *addr, char *host, size_t hl, char *port, size_t pl)
{
    const char *colon;
    if (addr[0] == '[') {
        const char *end = strchr(addr, ']');
        if (!end || end[1] != ':') return IOT_EINVAL;
        snprintf(host, hl, "%.*s", (int)(end - addr - 1), addr + 1);
        colon = end + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon) return IOT_EINVAL;
        snprintf(host, hl, "%.*s", (int)(colon - addr), addr);
    }
    snprintf(port, pl, "%s", colon + 1);
    return port[0] ? 0 : IOT_EINVAL;
}

int iot_worker_listen(iot_worker_t *w, const char *addr, iot_accept_fn on_accept)
{
    char host[256], port[16];
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int fd = -1;
    iot_listener_t *l = NULL;
    if (split_addr(addr, host, sizeof host, port, sizeof port) != 0) {
        log_error("listen address '%s' is not host:port", addr);
        return IOT_EINVAL;
    }
    int gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (gai != 0) {
        log_error("listen address '%s': %s", addr, gai_strerror(gai));
        return IOT_EINVAL;
    }
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) goto fail;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (res->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, res->ai_addr, res->ai_addrlen) != 0) goto fail;
    if (listen(fd, 4096) != 0) goto fail;
    l = calloc(1, sizeof *l);
    if (!l) goto fail;
    l->io.fd = fd;
    l->io.cb = listener_on_io;
    l->worker = w;
    l->on_accept = on_accept;
    iot_timer_init(&l->retry, listener_retry);
    snprintf(l->addr, sizeof l->addr, "%s", addr);
    if (iot_io_add(&w->loop, &l->io) != 0) goto fail;
    l->next = w->listeners;
    w->listeners = l;
    freeaddrinfo(res);
    return 0;
fail:
    log_error("listen on %s: %s", addr, strerror(errno));
    if (fd >= 0) close(fd);
    free(l);
    freeaddrinfo(res);
    return IOT_EIO;
}

void iot_worker_stop_listening(iot_worker_t *w)
{
    while (w->listeners) {
        iot_listener_t *l = w->listeners;
        w->listeners = l->next;
        iot_timer_cancel(&w->loop.wheel, &l->retry);
        iot_io_del(&w->loop, &l->io);
        close(l->io.fd);
        free(l);
    }
}

static void *worker_main(void *arg)
{
    iot_worker_t *w = arg;
    iot_log_set_thread(w->name);
    iot_loop_run(&w->loop);
    return NULL;
}

int iot_worker_start(iot_worker_t *w)
{
    return pthread_create(&w->thread, NULL, worker_main, w) == 0 ? 0 : IOT_EIO;
}

void iot_worker_close(iot_worker_t *w)
{
    iot_worker_stop_listening(w);
    while (w->conns) iot_conn_close(w->conns);
    iot_worker_flush(w);
    free(w->scratch);
    iot_loop_close(&w->loop);
}
