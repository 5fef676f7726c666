/*
 * timer.c - hashed, hierarchical timing wheel (see timer.h for the layout).
 *
 * Invariants, with cur = w->cur (the tick not yet fully processed):
 *   - A level 0 slot s holds timers whose expiry tick is the next tick >= cur
 *     congruent to s mod 256 (so all level 0 timers expire in [cur, cur+256)).
 *   - A level L slot (L >= 1) holds timers whose expiry lies in the next block
 *     of 2^(8+6(L-1)) ticks with that index, which is cascaded one level down
 *     when cur reaches the block's first tick.
 *   - busy[] has a bit set exactly for the non-empty slots, so finding the
 *     next tick with work is a few word scans; iot_timer_cancel() keeps it
 *     exact by noticing when it empties a slot.
 * A big time jump therefore costs one step per non-empty slot or cascade
 * point on the way, never one step per tick.
 */
#include "core/timer.h"

#include <stdint.h>

#define WHEEL_L0_MASK (IOT_WHEEL_L0_SLOTS - 1u)
#define WHEEL_LN_MASK (IOT_WHEEL_LN_SLOTS - 1u)
/* Largest distance in ticks the levels can express; longer delays are parked
 * at this distance and re-cascaded until due. */
#define WHEEL_MAX_DELTA ((1ull << (IOT_WHEEL_L0_BITS + \
                                   (IOT_WHEEL_LEVELS - 1) * IOT_WHEEL_LN_BITS)) - 1)

/* First bit number of level L's index within a tick number (L >= 1). */
static unsigned wheel__shift(unsigned level)
{
    return IOT_WHEEL_L0_BITS + (level - 1) * IOT_WHEEL_LN_BITS;
}

/* First slot number of level L (L >= 1). */
static unsigned wheel__base(unsigned level)
{
    return IOT_WHEEL_L0_SLOTS + (level - 1) * IOT_WHEEL_LN_SLOTS;
}

static void wheel__bit_set(iot_wheel_t *w, unsigned s)
{
    w->busy[s / 64] |= 1ull << (s % 64);
}

static void wheel__bit_clear(iot_wheel_t *w, unsigned s)
{
    w->busy[s / 64] &= ~(1ull << (s % 64));
}

/* Returns the first busy slot in [lo, hi), or hi if there is none. */
static unsigned wheel__find(const uint64_t *busy, unsigned lo, unsigned hi)
{
    while (lo < hi) {
        uint64_t word = busy[lo / 64] >> (lo % 64);
        if (word != 0) {
            unsigned r = lo + (unsigned)__builtin_ctzll(word);
            return r < hi ? r : hi;
        }
        lo = (lo / 64 + 1) * 64;
    }
    return hi;
}

/* Links t into the slot its expiry belongs to, relative to w->cur. */
static void wheel__place(iot_wheel_t *w, iot_timer_t *t)
{
    uint64_t exp = t->expires / w->tick;
    unsigned s;

    if (exp < w->cur)
        exp = w->cur;
    uint64_t delta = exp - w->cur;
    if (delta < IOT_WHEEL_L0_SLOTS) {
        s = (unsigned)(exp & WHEEL_L0_MASK);
    } else {
        unsigned level = 1;
        if (delta > WHEEL_MAX_DELTA) {
            delta = WHEEL_MAX_DELTA;
            exp = w->cur + WHEEL_MAX_DELTA;
        }
        while (level < IOT_WHEEL_LEVELS - 1 && delta >= (1ull << wheel__shift(level + 1)))
            level++;
        s = wheel__base(level) + (unsigned)((exp >> wheel__shift(level)) & WHEEL_LN_MASK);
    }
    t->next = w->slot[s];
    if (t->next != NULL)
        t->next->pprev = &t->next;
    w->slot[s] = t;
    t->pprev = &w->slot[s];
    wheel__bit_set(w, s);
}

/* Unlinks an armed t from whatever list holds it (a slot or a detached list). */
static void wheel__unlink(iot_wheel_t *w, iot_timer_t *t)
{
    iot_timer_t **pprev = t->pprev;
    uintptr_t off = (uintptr_t)pprev - (uintptr_t)w->slot;

    *pprev = t->next;
    if (t->next != NULL)
        t->next->pprev = pprev;
    t->next = NULL;
    t->pprev = NULL;
    /* Keep busy[] exact: if t was the only timer of a slot, clear its bit. */
    if (off < sizeof w->slot && *pprev == NULL)
        wheel__bit_clear(w, (unsigned)(off / sizeof w->slot[0]));
}

/* Moves slot s's list to *head (a local list the caller walks). */
static void wheel__detach(iot_wheel_t *w, unsigned s, iot_timer_t **head)
{
    *head = w->slot[s];
    if (*head != NULL)
        (*head)->pprev = head;
    w->slot[s] = NULL;
    wheel__bit_clear(w, s);
}

/* Re-distributes the coarser slots whose block starts at w->cur (a multiple
 * of 256 ticks) one or more levels down. */
static void wheel__cascade(iot_wheel_t *w)
{
    for (unsigned level = 1; level < IOT_WHEEL_LEVELS; level++) {
        unsigned idx = (unsigned)((w->cur >> wheel__shift(level)) & WHEEL_LN_MASK);
        iot_timer_t *list, *t;

        wheel__detach(w, wheel__base(level) + idx, &list);
        while ((t = list) != NULL) {
            list = t->next;
            if (list != NULL)
                list->pprev = &list;
            wheel__place(w, t);
        }
        if (idx != 0)
            break;
    }
}

/* Fires the timers of level 0 slot (cur mod 256) that expire at or before
 * now; the rest (only possible in the last, partial tick) go back. */
static void wheel__run_slot(iot_wheel_t *w, uint64_t now)
{
    iot_timer_t *list, *t;

    wheel__detach(w, (unsigned)(w->cur & WHEEL_L0_MASK), &list);
    /* Pop from the head each time: a callback may cancel any timer still on
     * the local list (its pprev points at list or a neighbour) or free t. */
    while ((t = list) != NULL) {
        list = t->next;
        if (list != NULL)
            list->pprev = &list;
        t->next = NULL;
        t->pprev = NULL;
        if (t->expires <= now) {
            w->count--;
            t->cb(t);
        } else {
            wheel__place(w, t);
        }
    }
}

/* Returns the first tick after w->cur at which a slot may fire or a cascade
 * may move timers, or UINT64_MAX if no slot is busy. */
static uint64_t wheel__next_tick(const iot_wheel_t *w)
{
    uint64_t cur = w->cur;
    unsigned i = (unsigned)(cur & WHEEL_L0_MASK);
    unsigned f = wheel__find(w->busy, i + 1, IOT_WHEEL_L0_SLOTS);

    if (f < IOT_WHEEL_L0_SLOTS)
        return (cur & ~(uint64_t)WHEEL_L0_MASK) + f;
    /* Busy slots at or below i hold ticks of the next 256-tick block. */
    if (wheel__find(w->busy, 0, i + 1) <= i)
        return (cur | WHEEL_L0_MASK) + 1;
    for (unsigned level = 1; level < IOT_WHEEL_LEVELS; level++) {
        unsigned shift = wheel__shift(level), base = wheel__base(level);
        uint64_t block = cur >> shift;

        i = (unsigned)(block & WHEEL_LN_MASK);
        f = wheel__find(w->busy, base + i + 1, base + IOT_WHEEL_LN_SLOTS);
        if (f < base + IOT_WHEEL_LN_SLOTS)
            return ((block & ~(uint64_t)WHEEL_LN_MASK) | (f - base)) << shift;
        if (wheel__find(w->busy, base, base + i + 1) <= base + i)
            return ((block >> IOT_WHEEL_LN_BITS) + 1) << (shift + IOT_WHEEL_LN_BITS);
    }
    return UINT64_MAX;
}

void iot_wheel_init(iot_wheel_t *w, uint64_t now_ms, unsigned tick_ms)
{
    *w = (iot_wheel_t){0};
    w->tick = tick_ms != 0 ? tick_ms : 1;
    w->now = now_ms;
    w->cur = now_ms / w->tick;
}

void iot_wheel_close(iot_wheel_t *w)
{
    for (unsigned s = 0; s < IOT_WHEEL_SLOTS; s++) {
        iot_timer_t *t = w->slot[s];
        while (t != NULL) {
            iot_timer_t *next = t->next;
            t->next = NULL;
            t->pprev = NULL;
            t = next;
        }
        w->slot[s] = NULL;
    }
    for (unsigned i = 0; i < IOT_WHEEL_SLOTS / 64; i++)
        w->busy[i] = 0;
    w->count = 0;
}

void iot_timer_init(iot_timer_t *t, iot_timer_cb cb)
{
    t->next = NULL;
    t->pprev = NULL;
    t->expires = 0;
    t->cb = cb;
}

void iot_timer_set(iot_wheel_t *w, iot_timer_t *t, uint64_t delay_ms)
{
    if (t->pprev != NULL)
        wheel__unlink(w, t);
    else
        w->count++;
    t->expires = delay_ms > UINT64_MAX - w->now ? UINT64_MAX : w->now + delay_ms;
    wheel__place(w, t);
}

void iot_timer_cancel(iot_wheel_t *w, iot_timer_t *t)
{
    if (t->pprev == NULL)
        return;
    wheel__unlink(w, t);
    w->count--;
}

int iot_timer_armed(const iot_timer_t *t)
{
    return t->pprev != NULL;
}

uint64_t iot_wheel_now(const iot_wheel_t *w)
{
    return w->now;
}

void iot_wheel_advance(iot_wheel_t *w, uint64_t now_ms)
{
    if (now_ms < w->now)
        now_ms = w->now;
    w->now = now_ms;
    uint64_t target = now_ms / w->tick;

    for (;;) {
        if (w->count == 0) {
            /* Nothing armed: no slot or cascade to visit on the way. */
            w->cur = target;
            return;
        }
        wheel__run_slot(w, now_ms);
        if (w->cur >= target)
            return;
        uint64_t next = wheel__next_tick(w);
        if (next > target) {
            /* Every tick up to target is empty; its slot needs no run. */
            w->cur = target;
            return;
        }
        w->cur = next;
        if ((next & WHEEL_L0_MASK) == 0)
            wheel__cascade(w);
    }
}

int64_t iot_wheel_next_ms(const iot_wheel_t *w, uint64_t now_ms)
{
    if (w->count == 0)
        return -1;
    const iot_timer_t *t = w->slot[w->cur & WHEEL_L0_MASK];
    if (t != NULL) {
        /* The current, partly processed tick: its timers are due within it. */
        uint64_t min = UINT64_MAX;
        for (; t != NULL; t = t->next)
            if (t->expires < min)
                min = t->expires;
        return min > now_ms ? (int64_t)(min - now_ms > INT64_MAX ? INT64_MAX : min - now_ms) : 0;
    }
    uint64_t next = wheel__next_tick(w);
    if (next == UINT64_MAX)
        return -1;
    if (next > UINT64_MAX / w->tick)
        return INT64_MAX;
    uint64_t at = next * w->tick;
    if (at <= now_ms)
        return 0;
    return at - now_ms > INT64_MAX ? INT64_MAX : (int64_t)(at - now_ms);
}
