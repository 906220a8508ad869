/* Threads against the C library: blocks passed between threads through
 * shared slots and freed by whichever thread displaces them (remote
 * frees), the usable size of blocks other threads allocated, and one RpcSs
 * environment shared by every worker through RpcSsGetThreadHandle /
 * RpcSsSetThreadHandle, each block's contents checked by the thread that
 * frees it. Run by tests/c_api.rs, and by scripts/tsan.sh with the library
 * and this program built for ThreadSanitizer (the handoffs are C11
 * atomics, so a report is the library's). */
#include "midl_alloc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "check.h"

#define THREADS 4
#define SLOTS 64
#define ROUNDS 20000

/* A block in a slot starts with its size and a fill byte; the rest of
 * its bytes hold the fill. */
struct head {
    size_t size;
    unsigned fill;
};

static _Atomic(struct head *) slots[SLOTS];

/* MIDL_TEST_RACY (scripts/tsan.sh's check that the sanitizer sees into
 * the library): the handoff is relaxed, so a block reaches the thread that
 * frees it with no happens-before, and the library's free, which writes
 * into the block, races with the writes of the thread that filled it. */
#ifdef MIDL_TEST_RACY
#define HANDOFF memory_order_relaxed
#else
#define HANDOFF memory_order_acq_rel
#endif

static struct head *make(void *p, size_t size, unsigned fill) {
    CHECK(p != NULL, "allocation of %zu bytes failed", size);
    struct head *h = p;
    h->size = size;
    h->fill = fill & 0xFF;
    memset((char *)p + sizeof *h, (int)h->fill, size - sizeof *h);
    return h;
}

static void check(const struct head *h) {
    const unsigned char *b = (const unsigned char *)h + sizeof *h;
    for (size_t i = 0; i < h->size - sizeof *h; i++)
        CHECK(b[i] == h->fill, "byte %zu of a %zu-byte block: %u, not %u", i, h->size, b[i], h->fill);
}

static uint64_t next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void *heap_worker(void *arg) {
    uint64_t s = (uintptr_t)arg * 0x9E3779B97F4A7C15u + 1;
    for (int r = 0; r < ROUNDS; r++) {
        size_t size = sizeof(struct head) + next(&s) % (r % 100 == 0 ? 70000 : 600);
        struct head *mine = make(MIDL_user_allocate(size), size, (unsigned)next(&s));
        struct head *old = atomic_exchange_explicit(&slots[next(&s) % SLOTS], mine, HANDOFF);
        if (old == NULL) continue;
#ifndef MIDL_TEST_RACY
        check(old);
#endif
#ifndef MIDL_TEST_RACY
        CHECK(midl_alloc_usable_size(old) >= old->size, "usable size %zu below %zu",
              midl_alloc_usable_size(old), old->size);
#endif
        MIDL_user_free(old);
    }
    return NULL;
}

/* One environment for all: each worker attaches to it, allocates blocks,
 * checks its own and frees every other one early. */
static RPC_SS_THREAD_HANDLE shared;

static void *env_worker(void *arg) {
    unsigned id = (unsigned)(uintptr_t)arg;
    RpcSsSetThreadHandle(shared);
    enum { N = 2000 };
    static _Thread_local struct head *mine[N];
    uint64_t s = id + 77;
    for (int i = 0; i < N; i++) {
        size_t size = sizeof(struct head) + next(&s) % 300;
        mine[i] = make(RpcSsAllocate(size), size, id * 31 + (unsigned)i);
    }
    for (int i = 0; i < N; i++) {
        check(mine[i]);
        if (i % 2) CHECK(RpcSmFree(mine[i]) == 0, "early free of block %d refused", i);
    }
    RpcSsSetThreadHandle(NULL);
    return NULL;
}

int main(void) {
    pthread_t t[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, heap_worker, (void *)i) == 0, "pthread_create");
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < SLOTS; i++) {
        struct head *h = atomic_load(&slots[i]);
        if (h) {
            check(h);
            MIDL_user_free(h);
        }
    }

    for (int round = 0; round < 5; round++) {
        CHECK(RpcSmEnableAllocate() == 0, "enable");
        shared = RpcSsGetThreadHandle();
        CHECK(shared != NULL, "no handle");
        for (uintptr_t i = 0; i < THREADS; i++)
            CHECK(pthread_create(&t[i], NULL, env_worker, (void *)i) == 0, "pthread_create");
        for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
        CHECK(RpcSmDisableAllocate() == 0, "disable");
    }
    printf("threads: ok\n");
    return 0;
}
