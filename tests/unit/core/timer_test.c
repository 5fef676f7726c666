/*
 * timer_test.c - unit tests for core/timer: ordering, re-arm, cancel (also
 * from inside another callback), freeing the owner in its callback, long
 * delays over many wheel rotations, big time jumps, next_ms, and a random
 * run checked against a simple model.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "core/timer.h"

#define container_of(p, type, field) ((type *)((char *)(p) - offsetof(type, field)))

/* A timer owner that records when and in which order it fired. */
typedef struct owner {
    iot_timer_t timer;     /* The timer under test. */
    iot_wheel_t *wheel;    /* Its wheel, for callbacks that re-arm or cancel. */
    int id;                /* Caller's id. */
    int fired;             /* Times the callback ran. */
    uint64_t fired_at;     /* Wheel time at the last firing. */
    struct owner *victim;  /* Timer this one cancels when it fires, if any. */
    uint64_t rearm;        /* Re-arm delay when it fires (0 = none). */
    int rearm_left;        /* Re-arms still to do. */
} owner_t;

static int order[64];      /* Ids in firing order. */
static int norder;         /* Entries used in order[]. */

static void on_fire(iot_timer_t *t)
{
    owner_t *o = container_of(t, owner_t, timer);
    assert_false(iot_timer_armed(t));
    o->fired++;
    o->fired_at = iot_wheel_now(o->wheel);
    if (norder < 64)
        order[norder++] = o->id;
    if (o->victim != NULL)
        iot_timer_cancel(o->wheel, &o->victim->timer);
    if (o->rearm != 0 && o->rearm_left > 0) {
        o->rearm_left--;
        iot_timer_set(o->wheel, t, o->rearm);
    }
}

static void owner_init(owner_t *o, iot_wheel_t *w, int id)
{
    *o = (owner_t){.wheel = w, .id = id};
    iot_timer_init(&o->timer, on_fire);
}

static void test_ordering(void **state)
{
    (void)state;
    iot_wheel_t w;
    owner_t o[6];
    const uint64_t delays[6] = {500, 100, 3000, 100000, 250, 30000};
    const int expect[6] = {1, 4, 0, 2, 5, 3};

    iot_wheel_init(&w, 1000000, 100);
    norder = 0;
    for (int i = 0; i < 6; i++) {
        owner_init(&o[i], &w, i);
        iot_timer_set(&w, &o[i].timer, delays[i]);
    }
    assert_int_equal(w.count, 6);
    for (uint64_t now = 1000000; now <= 1000000 + 100000; now += 10)
        iot_wheel_advance(&w, now);
    assert_int_equal(norder, 6);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(order[i], expect[i]);
        assert_int_equal(o[i].fired, 1);
        /* Never early, at most one tick late. */
        assert_true(o[i].fired_at >= 1000000 + delays[i]);
        assert_true(o[i].fired_at < 1000000 + delays[i] + 100);
    }
    assert_int_equal(w.count, 0);
    iot_wheel_close(&w);
}

static void test_exact_within_tick(void **state)
{
    (void)state;
    iot_wheel_t w;
    owner_t a;

    iot_wheel_init(&w, 0, 100);
    owner_init(&a, &w, 0);
    iot_timer_set(&w, &a.timer, 50);
    iot_wheel_advance(&w, 49);
    assert_int_equal(a.fired, 0);
    assert_int_equal(iot_wheel_next_ms(&w, 49), 1);
    iot_wheel_advance(&w, 50);
    assert_int_equal(a.fired, 1);
    /* Delay 0 fires at the next advance, even without time passing. */
    iot_timer_set(&w, &a.timer, 0);
    assert_int_equal(iot_wheel_next_ms(&w, 50), 0);
    iot_wheel_advance(&w, 50);
    assert_int_equal(a.fired, 2);
    iot_wheel_close(&w);
}

static void test_rearm(void **state)
{
    (void)state;
    iot_wheel_t w;
    owner_t a;

    iot_wheel_init(&w, 0, 100);
    owner_init(&a, &w, 0);
    iot_timer_set(&w, &a.timer, 1000);
    iot_timer_set(&w, &a.timer, 5000);
    assert_int_equal(w.count, 1);
    iot_wheel_advance(&w, 4900);
    assert_int_equal(a.fired, 0);
    iot_wheel_advance(&w, 5000);
    assert_int_equal(a.fired, 1);
    assert_int_equal(a.fired_at, 5000);
    /* Periodic: the callback re-arms itself three times. */
    a.rearm = 300;
    a.rearm_left = 3;
    iot_timer_set(&w, &a.timer, 300);
    for (uint64_t now = 5000; now <= 7000; now += 100)
        iot_wheel_advance(&w, now);
    assert_int_equal(a.fired, 5);
    assert_int_equal(a.fired_at, 6200);
    assert_false(iot_timer_armed(&a.timer));
    iot_wheel_close(&w);
}

static void test_cancel(void **state)
{
    (void)state;
    iot_wheel_t w;
    owner_t a, b;

    iot_wheel_init(&w, 0, 100);
    owner_init(&a, &w, 0);
    owner_init(&b, &w, 1);
    iot_timer_cancel(&w, &a.timer); /* Not armed: no-op. */
    iot_timer_set(&w, &a.timer, 1000);
    iot_timer_set(&w, &b.timer, 1000);
    iot_timer_cancel(&w, &a.timer);
    iot_timer_cancel(&w, &a.timer);
    assert_false(iot_timer_armed(&a.timer));
    assert_true(iot_timer_armed(&b.timer));
    assert_int_equal(w.count, 1);
    iot_wheel_advance(&w, 2000);
    assert_int_equal(a.fired, 0);
    assert_int_equal(b.fired, 1);
    /* A long timer cancelled while parked in a coarse level. */
    iot_timer_set(&w, &a.timer, 86400000);
    iot_timer_cancel(&w, &a.timer);
    assert_int_equal(iot_wheel_next_ms(&w, 2000), -1);
    iot_wheel_advance(&w, 2000 + 86400000);
    assert_int_equal(a.fired, 0);
    iot_wheel_close(&w);
}

static void test_cancel_from_callback(void **state)
{
    (void)state;
    iot_wheel_t w;
    owner_t o[4];

    iot_wheel_init(&w, 0, 100);
    for (int i = 0; i < 4; i++)
        owner_init(&o[i], &w, i);
    /* Same slot: whichever fires first cancels the other ones. */
    o[0].victim = &o[1];
    o[1].victim = &o[0];
    iot_timer_set(&w, &o[0].timer, 500);
    iot_timer_set(&w, &o[1].timer, 500);
    /* Later slot, reached in the same advance. */
    o[2].victim = &o[3];
    iot_timer_set(&w, &o[2].timer, 700);
    iot_timer_set(&w, &o[3].timer, 900);
    iot_wheel_advance(&w, 10000);
    assert_int_equal(o[0].fired + o[1].fired, 1);
    assert_int_equal(o[2].fired, 1);
    assert_int_equal(o[3].fired, 0);
    assert_int_equal(w.count, 0);
    iot_wheel_close(&w);
}

/* An owner freed by its own callback. */
typedef struct heap_owner {
    iot_timer_t timer;  /* The timer under test. */
    int *freed;         /* Counter bumped when freed. */
} heap_owner_t;

static void on_fire_free(iot_timer_t *t)
{
    heap_owner_t *h = container_of(t, heap_owner_t, timer);
    (*h->freed)++;
    free(h);
}

static void test_free_owner_in_callback(void **state)
{
    (void)state;
    iot_wheel_t w;
    int freed = 0;

    iot_wheel_init(&w, 0, 100);
    for (int i = 0; i < 10; i++) {
        heap_owner_t *h = malloc(sizeof *h);
        assert_non_null(h);
        h->freed = &freed;
        iot_timer_init(&h->timer, on_fire_free);
        iot_timer_set(&w, &h->timer, 200 + (uint64_t)(i % 3) * 1000);
    }
    iot_wheel_advance(&w, 5000);
    assert_int_equal(freed, 10);
    assert_int_equal(w.count, 0);
    iot_wheel_close(&w);
}

static void test_long_delays(void **state)
{
    (void)state;
    iot_wheel_t w;
    owner_t o[3];
    const uint64_t day = 86400000;
    const uint64_t start = 1700000000000ull;

    iot_wheel_init(&w, start, 100);
    for (int i = 0; i < 3; i++)
        owner_init(&o[i], &w, i);
    iot_timer_set(&w, &o[0].timer, 7 * day);
    iot_timer_set(&w, &o[1].timer, 7 * day + 150);
    iot_timer_set(&w, &o[2].timer, 3 * day + 12345);
    /* Many wheel rotations, one second at a time. */
    for (uint64_t now = start; now < start + 7 * day - 1000; now += 1000)
        iot_wheel_advance(&w, now);
    assert_int_equal(o[0].fired, 0);
    assert_int_equal(o[2].fired, 1);
    assert_true(o[2].fired_at >= start + 3 * day + 12345);
    assert_true(o[2].fired_at < start + 3 * day + 12345 + 1000);
    for (uint64_t now = start + 7 * day - 1000; now <= start + 7 * day + 1000; now += 10)
        iot_wheel_advance(&w, now);
    assert_int_equal(o[0].fired_at, start + 7 * day);
    assert_int_equal(o[1].fired_at, start + 7 * day + 150);
    iot_wheel_close(&w);

    /* Delays beyond the 2^32-tick range of the levels (1 ms ticks: ~50 days). */
    iot_wheel_init(&w, 5, 1);
    norder = 0;
    owner_init(&o[0], &w, 0);
    owner_init(&o[1], &w, 1);
    iot_timer_set(&w, &o[0].timer, 200 * day);
    iot_timer_set(&w, &o[1].timer, 60 * day);
    for (uint64_t now = 5; now < 5 + 201 * day; now += day / 7)
        iot_wheel_advance(&w, now);
    iot_wheel_advance(&w, 5 + 201 * day);
    assert_int_equal(o[0].fired, 1);
    assert_int_equal(o[1].fired, 1);
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 0);
    iot_wheel_close(&w);
}

static void test_big_jump(void **state)
{
    (void)state;
    iot_wheel_t w;
    owner_t o[8];
    const uint64_t delays[8] = {3600000, 100, 86400000, 25600, 25700, 1638400, 5, 999999999};

    iot_wheel_init(&w, 12345, 100);
    norder = 0;
    for (int i = 0; i < 8; i++) {
        owner_init(&o[i], &w, i);
        iot_timer_set(&w, &o[i].timer, delays[i]);
    }
    /* One jump past all of them but the last: they fire in expiry order. */
    iot_wheel_advance(&w, 12345 + 100000000);
    const int expect[7] = {6, 1, 3, 4, 5, 0, 2};
    assert_int_equal(norder, 7);
    for (int i = 0; i < 7; i++)
        assert_int_equal(order[i], expect[i]);
    assert_int_equal(o[7].fired, 0);
    int64_t next = iot_wheel_next_ms(&w, 12345 + 100000000);
    assert_true(next > 0 && next <= 999999999 - 100000000);
    iot_wheel_advance(&w, 12345 + 999999998);
    assert_int_equal(o[7].fired, 0);
    iot_wheel_advance(&w, 12345 + 999999999);
    assert_int_equal(o[7].fired, 1);
    iot_wheel_close(&w);
}

static void test_next_ms(void **state)
{
    (void)state;
    iot_wheel_t w;
    owner_t a, b;

    iot_wheel_init(&w, 1000, 100);
    owner_init(&a, &w, 0);
    owner_init(&b, &w, 1);
    assert_int_equal(iot_wheel_next_ms(&w, 1000), -1);
    iot_timer_set(&w, &a.timer, 1000);
    int64_t n = iot_wheel_next_ms(&w, 1000);
    assert_true(n > 0 && n <= 1000);
    /* Following next_ms from wake-up to wake-up reaches the expiry. */
    uint64_t now = 1000;
    int wakeups = 0;
    while (a.fired == 0) {
        n = iot_wheel_next_ms(&w, now);
        assert_true(n >= 0);
        now += (uint64_t)n;
        assert_true(now <= 2000);
        iot_wheel_advance(&w, now);
        assert_true(++wakeups < 10);
    }
    assert_int_equal(a.fired_at, 2000);
    /* A far timer: next_ms never later than its expiry, and not spinning. */
    iot_timer_set(&w, &b.timer, 3600000);
    wakeups = 0;
    while (b.fired == 0) {
        n = iot_wheel_next_ms(&w, now);
        assert_true(n > 0 || now >= 2000 + 3600000);
        now += (uint64_t)n;
        assert_true(now <= 2000 + 3600000);
        iot_wheel_advance(&w, now);
        assert_true(++wakeups < 1000);
    }
    assert_int_equal(b.fired_at, 2000 + 3600000);
    assert_int_equal(iot_wheel_next_ms(&w, now), -1);
    iot_wheel_close(&w);
}

static void test_close_disarms(void **state)
{
    (void)state;
    iot_wheel_t w;
    owner_t a, b;

    iot_wheel_init(&w, 0, 100);
    owner_init(&a, &w, 0);
    owner_init(&b, &w, 1);
    iot_timer_set(&w, &a.timer, 10);
    iot_timer_set(&w, &b.timer, 10000000);
    iot_wheel_close(&w);
    assert_false(iot_timer_armed(&a.timer));
    assert_false(iot_timer_armed(&b.timer));
    assert_int_equal(iot_wheel_next_ms(&w, 0), -1);
}

#define RAND_TIMERS 300

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Random set/cancel/advance against a model: each timer must fire at the
 * first advance whose time reaches its expiry, never before. */
static void test_random_model(void **state)
{
    (void)state;
    static owner_t o[RAND_TIMERS];
    static uint64_t due[RAND_TIMERS];   /* Model expiry; 0 when disarmed. */
    static int fired_model[RAND_TIMERS];
    iot_wheel_t w;
    uint64_t now = 777;

    iot_wheel_init(&w, now, 100);
    for (int i = 0; i < RAND_TIMERS; i++)
        owner_init(&o[i], &w, i);
    for (int step = 0; step < 20000; step++) {
        uint64_t r = rng();
        int i = (int)(r % RAND_TIMERS);
        switch ((r >> 16) % 4) {
        case 0: case 1: {
            uint64_t scale[4] = {300, 30000, 3000000, 3000000000ull};
            uint64_t d = (r >> 24) % scale[(r >> 20) % 4];
            iot_timer_set(&w, &o[i].timer, d);
            due[i] = now + d;
            break;
        }
        case 2:
            iot_timer_cancel(&w, &o[i].timer);
            due[i] = 0;
            break;
        default: {
            uint64_t min = UINT64_MAX;
            for (int k = 0; k < RAND_TIMERS; k++)
                if (due[k] != 0 && due[k] < min)
                    min = due[k];
            int64_t n = iot_wheel_next_ms(&w, now);
            if (min == UINT64_MAX) {
                assert_int_equal(n, -1);
            } else {
                assert_true(n >= 0);
                assert_true(now + (uint64_t)n <= (min > now ? min : now));
            }
            uint64_t jump[4] = {50, 5000, 500000, 500000000};
            now += (r >> 24) % jump[(r >> 20) % 4];
            iot_wheel_advance(&w, now);
            for (int k = 0; k < RAND_TIMERS; k++) {
                if (due[k] != 0 && due[k] <= now) {
                    fired_model[k]++;
                    due[k] = 0;
                }
                assert_int_equal(o[k].fired, fired_model[k]);
                assert_int_equal(iot_timer_armed(&o[k].timer), due[k] != 0);
            }
            break;
        }
        }
    }
    iot_wheel_close(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ordering),
        cmocka_unit_test(test_exact_within_tick),
        cmocka_unit_test(test_rearm),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_cancel_from_callback),
        cmocka_unit_test(test_free_owner_in_callback),
        cmocka_unit_test(test_long_delays),
        cmocka_unit_test(test_big_jump),
        cmocka_unit_test(test_next_ms),
        cmocka_unit_test(test_close_disarms),
        cmocka_unit_test(test_random_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
