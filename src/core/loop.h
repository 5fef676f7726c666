/*
 * loop.h - the per-thread event loop: edge-triggered epoll behind a small
 * backend table, a timing wheel, a before-sleep hook, and a thread-safe
 * task inbox woken by an eventfd (STYLE rule 16). One loop per thread;
 * every function except iot_loop_post and iot_loop_stop must run on the
 * loop's own thread.
 */
#ifndef IOT_LOOP_H
#define IOT_LOOP_H

#include <pthread.h>
#include <stdint.h>

#include "core/timer.h"

enum { IOT_READ = 1, IOT_WRITE = 2 };

typedef struct iot_loop iot_loop_t;
typedef struct iot_io iot_io_t;
typedef struct iot_task iot_task_t;

/* Called with IOT_READ and/or IOT_WRITE (errors and hang-ups come as IOT_READ). */
typedef void (*iot_io_cb)(iot_loop_t *loop, iot_io_t *io, unsigned events);
/* Runs a posted task on the loop's thread; the task is the callee's from then on. */
typedef void (*iot_task_fn)(iot_loop_t *loop, iot_task_t *task);

/* A file descriptor watched by the loop; embedded in its owner. */
struct iot_io {
    int fd;                 /* The descriptor. */
    iot_io_cb cb;           /* Readiness handler. */
    iot_io_t *next_ready;   /* Link in the loop's "run again" list. */
    unsigned ready_events;  /* Events owed to the handler on the next pass. */
};

/* A unit of work posted from any thread; embedded in its owner. */
struct iot_task {
    iot_task_t *next;       /* Inbox link. */
    iot_task_fn fn;         /* What to run. */
};

struct iot_loop {
    int epfd;                       /* epoll instance. */
    int evfd;                       /* eventfd that wakes the loop for posted tasks. */
    int stop;                       /* Set by iot_loop_stop's task. */
    uint64_t now_ms;                /* Monotonic time of the current pass. */
    iot_wheel_t wheel;              /* Timers of everything this loop owns. */
    pthread_t thread;               /* Owning thread, for assertions. */
    pthread_mutex_t inbox_lock;     /* Guards inbox_head/inbox_tail. */
    iot_task_t *inbox_head;         /* Posted tasks, oldest first. */
    iot_task_t *inbox_tail;         /* Last posted task. */
    iot_io_t *ready;                /* Handlers to call again without waiting (fairness cap). */
    void (*before_sleep)(iot_loop_t *loop); /* Runs before each wait (write flush). */
    void *data;                     /* Owner of the loop (a worker). */
    iot_task_t stop_task;           /* Preallocated task used by iot_loop_stop. */
};

/* Initialises a caller-owned loop; returns 0 or IOT_EIO. */
int iot_loop_init(iot_loop_t *loop);
/* Releases the loop's descriptors; pending tasks are dropped (their owners are freed by the caller). */
void iot_loop_close(iot_loop_t *loop);

/* Watches io->fd for readable and writable edges. */
int iot_io_add(iot_loop_t *loop, iot_io_t *io);
/* Stops watching io and forgets any pending "run again" for it. */
void iot_io_del(iot_loop_t *loop, iot_io_t *io);
/* Asks for io's handler to run again on the next pass (used when a handler
 * stopped reading early to be fair to other descriptors). */
void iot_io_again(iot_loop_t *loop, iot_io_t *io, unsigned events);

/* Runs until iot_loop_stop. */
void iot_loop_run(iot_loop_t *loop);
/* Thread-safe: asks the loop to return from iot_loop_run. */
void iot_loop_stop(iot_loop_t *loop);
/* Thread-safe: queues task to run on the loop's thread; takes ownership of task. */
void iot_loop_post(iot_loop_t *loop, iot_task_t *task);

/* Thread-safe: queues the chain head..tail (linked by next) in order, with
 * one lock and at most one wake-up; takes ownership of every task. */
void iot_loop_post_chain(iot_loop_t *loop, iot_task_t *head, iot_task_t *tail);

/* Monotonic milliseconds. */
uint64_t iot_now_ms(void);

#endif
