/* The contract of docs/CONTRACT.md, checked from C against include/midl_alloc.h and the
 * shared library. Exits non-zero with a message on the first failure. */
#include "midl_alloc.h"
#include "check.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static int checks;

static void fill(unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(seed * 31u + i);
}

static void verify(const unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++)
        CHECK(p[i] == (unsigned char)(seed * 31u + i), "block %p byte %zu corrupted", (void *)p, i);
}

static void test_alignment_and_sizes(void) {
    for (size_t size = 0; size <= 70000; size += (size < 2048 ? 1 : 97)) {
        unsigned char *p = MIDL_user_allocate(size);
        CHECK(p != NULL, "size %zu returned NULL", size);
        size_t align = size >= 16 ? 16 : 8;
        CHECK(((uintptr_t)p % align) == 0, "size %zu at %p not %zu-aligned", size, (void *)p, align);
        CHECK(midl_alloc_usable_size(p) >= size, "usable size too small for %zu", size);
        fill(p, size, (unsigned)size);
        verify(p, size, (unsigned)size);
        MIDL_user_free(p);
        checks++;
    }
}

static void test_zero_size(void) {
    enum { N = 1000 };
    void *blocks[N];
    for (int i = 0; i < N; i++) {
        blocks[i] = MIDL_user_allocate(0);
        CHECK(blocks[i] != NULL, "MIDL_user_allocate(0) returned NULL");
        for (int j = 0; j < i; j++) CHECK(blocks[i] != blocks[j], "zero-size blocks %d and %d alias", i, j);
    }
    for (int i = 0; i < N; i++) midl_user_free(blocks[i]);
    checks++;
}

static void test_failures(void) {
    CHECK(MIDL_user_allocate(SIZE_MAX) == NULL, "SIZE_MAX must fail");
    CHECK(MIDL_user_allocate(SIZE_MAX / 2) == NULL, "SIZE_MAX/2 must fail");
    CHECK(MIDL_user_allocate((size_t)1 << 60) == NULL, "1<<60 must fail");
    MIDL_user_free(NULL);
    midl_user_free(NULL);
    void *p = midl_user_allocate(100);
    CHECK(p != NULL, "allocator broken after failures");
    MIDL_user_free(p);
    checks++;
}

/* Blocks allocated by threads that exit, freed by other threads. */
enum { PER_THREAD = 4000, THREADS = 8 };
static unsigned char *handoff[THREADS][PER_THREAD];

static size_t size_of_block(int t, int i) { return (size_t)(8 * ((t * 7 + i) % 40) + 24); }

static void *producer(void *arg) {
    int t = (int)(intptr_t)arg;
    for (int i = 0; i < PER_THREAD; i++) {
        size_t n = size_of_block(t, i);
        handoff[t][i] = MIDL_user_allocate(n);
        CHECK(handoff[t][i] != NULL, "thread %d block %d NULL", t, i);
        fill(handoff[t][i], n, (unsigned)(t * PER_THREAD + i));
    }
    return NULL;
}

static void *consumer(void *arg) {
    int t = (int)(intptr_t)arg;
    for (int i = 0; i < PER_THREAD; i++) {
        verify(handoff[t][i], size_of_block(t, i), (unsigned)(t * PER_THREAD + i));
        MIDL_user_free(handoff[t][i]);
    }
    return NULL;
}

static void test_cross_thread_after_exit(void) {
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) pthread_create(&th[t], NULL, producer, (void *)(intptr_t)t);
    for (int t = 0; t < THREADS; t++) pthread_join(th[t], NULL);
    /* Every producer has exited; consumers free on other threads. */
    for (int t = 0; t < THREADS; t++) pthread_create(&th[t], NULL, consumer, (void *)(intptr_t)((t + 1) % THREADS));
    for (int t = 0; t < THREADS; t++) pthread_join(th[t], NULL);
    checks++;
}

int main(void) {
    CHECK(midl_alloc_version() == MIDL_ALLOC_VERSION, "library version %#x, header %#x",
          (unsigned)midl_alloc_version(), (unsigned)MIDL_ALLOC_VERSION);
    test_alignment_and_sizes();
    test_zero_size();
    test_failures();
    test_cross_thread_after_exit();
    printf("c contract: %d checks passed\n", checks);
    return 0;
}
