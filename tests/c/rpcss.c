/* Every RpcSs / RpcSm function from C, against include/midl_alloc.h and the
 * shared library: environments, early frees, misuse, client alloc/free, and
 * an environment shared by several threads. */
#include "midl_alloc.h"
#include "check.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static int checks;

static void test_no_environment(void) {
    RPC_STATUS st = -1;
    CHECK(RpcSmAllocate(16, &st) == NULL && st == RPC_S_INVALID_ARG, "allocate without environment: %d", (int)st);
    CHECK(RpcSsAllocate(16) == NULL, "RpcSsAllocate without environment");
    CHECK(RpcSmFree((void *)0x1000) == RPC_S_INVALID_ARG, "free without environment");
    CHECK(RpcSmDisableAllocate() == RPC_S_INVALID_ARG, "disable without environment");
    st = -1;
    CHECK(RpcSmGetThreadHandle(&st) == NULL && st != RPC_S_OK, "no handle without environment");
    CHECK(RpcSsGetThreadHandle() == NULL, "RpcSsGetThreadHandle without environment");
    RpcSsDisableAllocate(); /* nothing to do, must not crash */
    RpcSsFree(NULL);
    checks++;
}

static void test_sm_lifecycle(void) {
    CHECK(RpcSmEnableAllocate() == RPC_S_OK, "enable");
    RPC_STATUS st = -1;
    RPC_SS_THREAD_HANDLE h = RpcSmGetThreadHandle(&st);
    CHECK(h != NULL && st == RPC_S_OK, "handle after enable");
    CHECK(RpcSsGetThreadHandle() == h, "Ss and Sm handles agree");
    enum { N = 3000 };
    static unsigned char *blocks[N];
    for (int i = 0; i < N; i++) {
        size_t n = (size_t)(i % 97) * 8 + 24 + (i % 50 == 0 ? 20000 : 0);
        st = -1;
        blocks[i] = RpcSmAllocate(n, &st);
        CHECK(blocks[i] != NULL && st == RPC_S_OK, "allocate %zu: %d", n, (int)st);
        CHECK(((uintptr_t)blocks[i] % 16) == 0, "alignment");
        memset(blocks[i], i & 0xFF, n);
    }
    for (int i = 0; i < N; i++) {
        size_t n = (size_t)(i % 97) * 8 + 24 + (i % 50 == 0 ? 20000 : 0);
        for (size_t k = 0; k < n; k++) CHECK(blocks[i][k] == (unsigned char)(i & 0xFF), "block %d corrupted", i);
    }
    /* early frees: every third block */
    for (int i = 0; i < N; i += 3) CHECK(RpcSmFree(blocks[i]) == RPC_S_OK, "early free %d", i);
    /* a second free of the same block, an interior pointer, a foreign pointer */
    CHECK(RpcSmFree(blocks[0]) == RPC_S_INVALID_ARG, "double free must be reported");
    CHECK(RpcSmFree(blocks[1] + 16) == RPC_S_INVALID_ARG, "interior pointer must be reported");
    void *foreign = MIDL_user_allocate(64);
    CHECK(RpcSmFree(foreign) == RPC_S_INVALID_ARG, "foreign pointer must be reported");
    MIDL_user_free(foreign);
    int on_stack;
    CHECK(RpcSmFree(&on_stack) == RPC_S_INVALID_ARG, "stack pointer must be reported");
    CHECK(RpcSmFree(blocks[1]) == RPC_S_OK, "block 1 still freeable after the misuse");
    /* the latest block is reused at once */
    void *a = RpcSsAllocate(100);
    RpcSsFree(a);
    void *b = RpcSsAllocate(100);
    CHECK(a == b, "latest block not reused at once");
    CHECK(RpcSmDisableAllocate() == RPC_S_OK, "disable");
    CHECK(RpcSmDisableAllocate() == RPC_S_INVALID_ARG, "second disable must be reported");
    CHECK(RpcSmSetThreadHandle(h) == RPC_S_INVALID_ARG, "disabled handle must be rejected");
    CHECK(RpcSmSetThreadHandle((RPC_SS_THREAD_HANDLE)(uintptr_t)0xDEADBEEF12345ull) == RPC_S_INVALID_ARG,
          "made-up handle must be rejected");
    CHECK(RpcSmAllocate(8, &st) == NULL && st == RPC_S_INVALID_ARG, "allocate after disable");
    checks++;
}

static void test_ss_lifecycle_and_save_restore(void) {
    RpcSsEnableAllocate();
    RPC_SS_THREAD_HANDLE outer = RpcSsGetThreadHandle();
    CHECK(outer != NULL, "RpcSsEnableAllocate");
    void *p = RpcSsAllocate(40);
    CHECK(p != NULL, "RpcSsAllocate");
    /* save, run a nested environment, restore */
    RpcSsEnableAllocate();
    RPC_SS_THREAD_HANDLE inner = RpcSsGetThreadHandle();
    CHECK(inner != NULL && inner != outer, "nested environment");
    CHECK(RpcSsAllocate(1000) != NULL, "nested allocate");
    RpcSsDisableAllocate();
    CHECK(RpcSmSetThreadHandle(outer) == RPC_S_OK, "restore outer");
    memset(p, 7, 40);
    RpcSsFree(p);
    RpcSsSetThreadHandle(NULL);
    CHECK(RpcSsGetThreadHandle() == NULL, "detached");
    RpcSsSetThreadHandle(outer);
    RpcSsDisableAllocate();
    CHECK(RpcSsGetThreadHandle() == NULL, "disabled");
    checks++;
}

static int my_allocs, my_frees;
static void *my_alloc(size_t n) { my_allocs++; return malloc(n); }
static void my_free(void *p) { my_frees++; free(p); }
static void *my_alloc2(size_t n) { return malloc(n); }
static void my_free2(void *p) { free(p); }

static void test_client_alloc_free(void) {
    CHECK(RpcSmSetClientAllocFree(NULL, my_free) == RPC_S_INVALID_ARG, "NULL alloc rejected");
    CHECK(RpcSmSetClientAllocFree(my_alloc, my_free) == RPC_S_OK, "set client pair");
    RPC_CLIENT_ALLOC *oa = NULL;
    RPC_CLIENT_FREE *of = NULL;
    CHECK(RpcSmSwapClientAllocFree(my_alloc2, my_free2, &oa, &of) == RPC_S_OK, "swap");
    CHECK(oa == my_alloc && of == my_free, "swap returns the previous pair");
    CHECK(RpcSmSwapClientAllocFree(my_alloc, my_free, NULL, &of) == RPC_S_INVALID_ARG, "NULL out-pointer");
    RpcSsSwapClientAllocFree(my_alloc, my_free, &oa, &of);
    CHECK(oa == my_alloc2 && of == my_free2, "Ss swap");
    void *p = oa(10); /* my_alloc2 */
    RpcSsSetClientAllocFree(my_alloc2, my_free);
    CHECK(RpcSmClientFree(p) == RPC_S_OK && my_frees == 1, "RpcSmClientFree uses the current free function");
    CHECK(RpcSmClientFree(NULL) == RPC_S_OK, "RpcSmClientFree(NULL)");
    checks++;
}

/* Several threads attached to one environment allocate and free at once. */
enum { THREADS = 6, PER_THREAD = 4000 };
static RPC_SS_THREAD_HANDLE shared;
static unsigned char *given[THREADS][PER_THREAD];

static void *worker(void *arg) {
    int t = (int)(intptr_t)arg;
    CHECK(RpcSmSetThreadHandle(shared) == RPC_S_OK, "attach thread %d", t);
    for (int i = 0; i < PER_THREAD; i++) {
        size_t n = (size_t)((t * 13 + i) % 200) + 1;
        unsigned char *p = RpcSsAllocate(n);
        CHECK(p != NULL, "shared allocate");
        memset(p, t + 1, n);
        if (i % 4 == 0) {
            CHECK(RpcSmFree(p) == RPC_S_OK, "shared early free");
            given[t][i] = NULL;
        } else {
            given[t][i] = p;
        }
    }
    RpcSsSetThreadHandle(NULL);
    return NULL;
}

static void test_shared_between_threads(void) {
    CHECK(RpcSmEnableAllocate() == RPC_S_OK, "enable shared");
    shared = RpcSsGetThreadHandle();
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) pthread_create(&th[t], NULL, worker, (void *)(intptr_t)t);
    for (int t = 0; t < THREADS; t++) pthread_join(th[t], NULL);
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < PER_THREAD; i++)
            if (given[t][i]) {
                size_t n = (size_t)((t * 13 + i) % 200) + 1;
                for (size_t k = 0; k < n; k++) CHECK(given[t][i][k] == t + 1, "shared block overwritten");
            }
    /* blocks of other threads can be freed from here, once */
    CHECK(RpcSmFree(given[1][1]) == RPC_S_OK, "free another thread's block");
    CHECK(RpcSmFree(given[1][1]) == RPC_S_INVALID_ARG, "and only once");
    CHECK(RpcSmDisableAllocate() == RPC_S_OK, "disable shared");
    checks++;
}

int main(void) {
    test_no_environment();
    test_sm_lifecycle();
    test_ss_lifecycle_and_save_restore();
    test_client_alloc_free();
    test_shared_between_threads();
    /* Many short environments: per-call enable/disable does not leak slots. */
    for (int i = 0; i < 200000; i++) {
        CHECK(RpcSmEnableAllocate() == RPC_S_OK, "enable %d", i);
        CHECK(RpcSsAllocate(64) != NULL, "allocate %d", i);
        CHECK(RpcSmDisableAllocate() == RPC_S_OK, "disable %d", i);
    }
    checks++;
    printf("c rpcss: %d checks passed\n", checks);
    return 0;
}
