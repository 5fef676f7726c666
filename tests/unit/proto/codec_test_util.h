/*
 * codec_test_util.h - shared by the codec unit tests (frame_test.c,
 * mqtt_test.c, mqtt_utf8_test.c): a guard page, so that input placed to end exactly at it
 * faults on any read past its end (picohttpparser's test trick).
 * Header-only, static functions; include it after <cmocka.h>.
 */
#ifndef IOTGATE_TESTS_CODEC_TEST_UTIL_H
#define IOTGATE_TESTS_CODEC_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

/*
 * Maps two pages, the second PROT_NONE; returns the first byte of the
 * PROT_NONE page, so that input of n bytes copied to (end - n) ends at the
 * guard. Release with guard_page_free().
 */
static uint8_t *guard_page_new(void)
{
    long pg = sysconf(_SC_PAGESIZE);
    uint8_t *mem;

    mem = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(mem != MAP_FAILED);
    assert_int_equal(mprotect(mem + pg, (size_t)pg, PROT_NONE), 0);
    return mem + pg;
}

/* Unmaps the two pages behind end, a guard_page_new() result. */
static void guard_page_free(uint8_t *end)
{
    long pg = sysconf(_SC_PAGESIZE);

    assert_int_equal(munmap(end - pg, (size_t)pg * 2), 0);
}

#endif /* IOTGATE_TESTS_CODEC_TEST_UTIL_H */
