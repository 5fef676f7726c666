/*
 * loop.c - the event loop (after Redis ae and libuv): one epoll instance per
 * thread, edge-triggered, with a timing wheel and an inbox for tasks posted
 * by other threads.
 *
 * One pass of iot_loop_run:
 *   before_sleep()  -> flush pending writes of every connection
 *   backend poll    -> wait for I/O, the next timer tick or a posted task,
 *                      then iot_wheel_advance(now): due timers fire
 *   io handlers     -> for each ready fd, and for each fd put back with iot_io_again
 *   inbox           -> run the tasks posted since the last pass
 *
 * The backend sits behind a table of three functions so that another one
 * (io_uring) can be added without touching callers.
 */
#include "core/loop.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"

#define LOOP_MAX_EVENTS 256
#define LOOP_TICK_MS 100

/* The backend: how descriptors are watched and waited on. */
typedef struct loop_backend {
    int (*add)(iot_loop_t *loop, iot_io_t *io);
    void (*del)(iot_loop_t *loop, iot_io_t *io);
    int (*poll)(iot_loop_t *loop, int timeout_ms);
} loop_backend_t;

uint64_t iot_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* --- epoll backend ------------------------------------------------------ */

static int epoll_add(iot_loop_t *loop, iot_io_t *io)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = io};
    return epoll_ctl(loop->epfd, EPOLL_CTL_ADD, io->fd, &ev) == 0 ? 0 : IOT_EIO;
}

static void epoll_del(iot_loop_t *loop, iot_io_t *io)
{
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
}

static int epoll_poll(iot_loop_t *loop, int timeout_ms)
{
    struct epoll_event evs[LOOP_MAX_EVENTS];
    int n = epoll_wait(loop->epfd, evs, LOOP_MAX_EVENTS, timeout_ms);
    loop->now_ms = iot_now_ms();
    /* Bring the wheel to the present before any handler arms a timer: a
     * delay is counted from the wheel's time, which stands still while the
     * loop sleeps. Timers that are due fire here. */
    iot_wheel_advance(&loop->wheel, loop->now_ms);
    if (n < 0) return errno == EINTR ? 0 : IOT_EIO;
    for (int i = 0; i < n; i++) {
        iot_io_t *io = evs[i].data.ptr;
        if (io == NULL) { /* The eventfd: tasks were posted. */
            uint64_t v;
            ssize_t r = read(loop->evfd, &v, sizeof v);
            (void)r;
            continue;
        }
        unsigned e = 0;
        if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) e |= IOT_READ;
        if (evs[i].events & EPOLLOUT) e |= IOT_WRITE;
        /* A handler of an earlier event may have closed this io; handlers
         * free their owners only after the pass (see iot_io_del). */
        if (io->fd >= 0) io->cb(loop, io, e);
    }
    return n;
}

static const loop_backend_t epoll_backend = {epoll_add, epoll_del, epoll_poll};
static const loop_backend_t *const backend = &epoll_backend;

/* --- loop ---------------------------------------------------------------- */

static void loop_stop_task(iot_loop_t *loop, iot_task_t *task) { loop->stop = 1; }

int iot_loop_init(iot_loop_t *loop)
{
    memset(loop, 0, sizeof *loop);
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    loop->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop->epfd < 0 || loop->evfd < 0) goto fail;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->evfd, &ev) != 0) goto fail;
    pthread_mutex_init(&loop->inbox_lock, NULL);
    loop->now_ms = iot_now_ms();
    iot_wheel_init(&loop->wheel, loop->now_ms, LOOP_TICK_MS);
    loop->stop_task.fn = loop_stop_task;
    loop->thread = pthread_self();
    return 0;
fail:
    if (loop->epfd >= 0) close(loop->epfd);
    if (loop->evfd >= 0) close(loop->evfd);
    return IOT_EIO;
}

void iot_loop_close(iot_loop_t *loop)
{
    iot_wheel_close(&loop->wheel);
    close(loop->epfd);
    close(loop->evfd);
    pthread_mutex_destroy(&loop->inbox_lock);
}

int iot_io_add(iot_loop_t *loop, iot_io_t *io)
{
    io->next_ready = NULL;
    io->ready_events = 0;
    return backend->add(loop, io);
}

void iot_io_del(iot_loop_t *loop, iot_io_t *io)
{
    if (io->ready_events) {
        for (iot_io_t **pp = &loop->ready; *pp; pp = &(*pp)->next_ready) {
            if (*pp == io) {
                *pp = io->next_ready;
                break;
            }
        }
        io->ready_events = 0;
    }
    if (io->fd >= 0) backend->del(loop, io);
}

void iot_io_again(iot_loop_t *loop, iot_io_t *io, unsigned events)
{
    if (io->ready_events == 0) {
        io->next_ready = loop->ready;
        loop->ready = io;
    }
    io->ready_events |= events;
}

void iot_loop_post_chain(iot_loop_t *loop, iot_task_t *head, iot_task_t *tail)
{
    tail->next = NULL;
    pthread_mutex_lock(&loop->inbox_lock);
    int was_empty = loop->inbox_head == NULL;
    if (was_empty)
        loop->inbox_head = head;
    else
        loop->inbox_tail->next = head;
    loop->inbox_tail = tail;
    pthread_mutex_unlock(&loop->inbox_lock);
    /* Only the first task after a drain needs to wake the loop. */
    if (was_empty) {
        uint64_t one = 1;
        ssize_t r = write(loop->evfd, &one, sizeof one);
        (void)r;
    }
}

void iot_loop_post(iot_loop_t *loop, iot_task_t *task) { iot_loop_post_chain(loop, task, task); }

void iot_loop_stop(iot_loop_t *loop) { iot_loop_post(loop, &loop->stop_task); }

static void loop_drain_inbox(iot_loop_t *loop)
{
    pthread_mutex_lock(&loop->inbox_lock);
    iot_task_t *t = loop->inbox_head;
    loop->inbox_head = loop->inbox_tail = NULL;
    pthread_mutex_unlock(&loop->inbox_lock);
    /* Tasks posted while these run wait for the next pass, so a busy
     * producer cannot keep this loop from its sockets. */
    while (t) {
        iot_task_t *next = t->next;
        t->fn(loop, t);
        t = next;
    }
}

static void loop_run_ready(iot_loop_t *loop)
{
    iot_io_t *list = loop->ready;
    loop->ready = NULL;
    while (list) {
        iot_io_t *io = list;
        list = io->next_ready;
        unsigned e = io->ready_events;
        io->ready_events = 0;
        io->next_ready = NULL;
        if (io->fd >= 0) io->cb(loop, io, e);
    }
}

void iot_loop_run(iot_loop_t *loop)
{
    loop->thread = pthread_self();
    while (!loop->stop) {
        if (loop->before_sleep) loop->before_sleep(loop);
        int timeout = -1;
        if (loop->ready) {
            timeout = 0;
        } else {
            pthread_mutex_lock(&loop->inbox_lock);
            int pending = loop->inbox_head != NULL;
            pthread_mutex_unlock(&loop->inbox_lock);
            if (pending) {
                timeout = 0;
            } else {
                int64_t next = iot_wheel_next_ms(&loop->wheel, iot_now_ms());
                if (next >= 0) timeout = next > 1000 ? 1000 : (int)next;
            }
        }
        if (backend->poll(loop, timeout) < 0) {
            log_error("event loop: poll failed: %s", strerror(errno));
            break;
        }
        loop_run_ready(loop);
        loop_drain_inbox(loop);
    }
}
