/*
 * timer.h - hashed, hierarchical timing wheel for one worker loop.
 *
 * Each worker owns one iot_wheel_t and arms thousands to millions of
 * iot_timer_t (keepalives, handshake and session-expiry timeouts). Timers are
 * intrusive: the owner embeds an iot_timer_t and recovers itself in the
 * callback with container_of. Arming and cancelling are O(1) and allocate
 * nothing; advancing touches only the slots that are due (plus one cascade of
 * a coarser slot every 256 ticks), never the whole set of timers.
 *
 * Layout (Linux "cascading timer wheel"): level 0 has 256 slots of one tick,
 * levels 1..4 have 64 slots each, of 2^8, 2^14, 2^20 and 2^26 ticks. A timer
 * sits in the finest level whose range covers its expiry; when level 0 wraps,
 * the next coarser slot is re-distributed one level down. Delays beyond
 * 2^32 ticks are parked in the last level and re-cascaded until due.
 *
 * Precision is one tick: a timer never fires before its expiry and fires on
 * the first iot_wheel_advance() whose now_ms is at or past it.
 *
 * Not thread-safe: a wheel and its timers belong to one loop thread.
 */
#ifndef IOT_TIMER_H
#define IOT_TIMER_H

#include <stddef.h>
#include <stdint.h>

typedef struct iot_timer iot_timer_t;
typedef void (*iot_timer_cb)(iot_timer_t *t);

/* Embedded in its owner (a connection, a session); intrusive. */
struct iot_timer {
    iot_timer_t *next, **pprev; /* Slot list links; pprev == NULL when not armed. */
    uint64_t expires;           /* Absolute expiry, ms. */
    iot_timer_cb cb;            /* Called once when it expires (owner via container_of). */
};

#define IOT_WHEEL_L0_BITS 8                          /* Level 0: 256 slots of one tick. */
#define IOT_WHEEL_LN_BITS 6                          /* Levels 1..4: 64 slots each. */
#define IOT_WHEEL_LEVELS 5                           /* Level 0 plus four coarser levels. */
#define IOT_WHEEL_L0_SLOTS (1u << IOT_WHEEL_L0_BITS)
#define IOT_WHEEL_LN_SLOTS (1u << IOT_WHEEL_LN_BITS)
#define IOT_WHEEL_SLOTS (IOT_WHEEL_L0_SLOTS + (IOT_WHEEL_LEVELS - 1) * IOT_WHEEL_LN_SLOTS)

/* Caller-owned; iot_wheel_init() fills it, no allocation (about 4.2 KiB). */
typedef struct iot_wheel {
    iot_timer_t *slot[IOT_WHEEL_SLOTS];    /* Level 0 slots, then 64 per coarser level. */
    uint64_t busy[IOT_WHEEL_SLOTS / 64];   /* One bit per slot: set exactly when non-empty. */
    uint64_t now;                          /* Latest time given to init/advance, ms. */
    uint64_t cur;                          /* Tick not yet fully processed (now / tick). */
    unsigned tick;                         /* Tick length, ms (> 0). */
    size_t count;                          /* Number of armed timers. */
} iot_wheel_t;

/* Initialises a caller-owned wheel at time now_ms with ticks of tick_ms (0 means 1). */
void iot_wheel_init(iot_wheel_t *w, uint64_t now_ms, unsigned tick_ms);

/* Disarms every timer still armed (their callbacks are not called). */
void iot_wheel_close(iot_wheel_t *w);

/* Initialises a timer as not armed; cb is called when it expires. */
void iot_timer_init(iot_timer_t *t, iot_timer_cb cb);

/* Arms t to expire delay_ms after the wheel's current time, re-arming it if
 * already armed. O(1). Borrows t: it must stay alive until it fires or is
 * cancelled. */
void iot_timer_set(iot_wheel_t *w, iot_timer_t *t, uint64_t delay_ms);

/* Disarms t. O(1); a no-op if t is not armed. */
void iot_timer_cancel(iot_wheel_t *w, iot_timer_t *t);

/* Returns non-zero if t is armed. */
int iot_timer_armed(const iot_timer_t *t);

/* Fires, in expiry-tick order, every timer with expires <= now_ms. A timer is
 * disarmed before its callback runs; the callback may re-arm it, arm or cancel
 * other timers, or free its owner. Callbacks must not call advance again.
 * A now_ms smaller than the previous one is treated as the previous one. */
void iot_wheel_advance(iot_wheel_t *w, uint64_t now_ms);

/* Returns the ms from now_ms until the wheel should next be advanced (0 if
 * something is already due), or -1 if nothing is armed. Never later than the
 * earliest expiry; may be earlier (a cascade point), which costs a wake-up. */
int64_t iot_wheel_next_ms(const iot_wheel_t *w, uint64_t now_ms);

/* Returns the wheel's current time in ms (the base of iot_timer_set delays). */
uint64_t iot_wheel_now(const iot_wheel_t *w);

#endif
