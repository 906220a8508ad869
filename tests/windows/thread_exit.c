/* Thread exit on Windows: threads end while their blocks are live; another
 * thread checks and frees those blocks later, and the next threads reuse
 * the memory. Each heap is abandoned by midl-alloc's fiber-local-storage
 * callback when its thread exits and its segments adopted by later heaps,
 * so the memory mapped stays flat over the rounds instead of growing with
 * the number of threads that ever ran. Allocating and freeing leave the
 * thread's last-error code as it was. */
#include <windows.h>

#include "midl_alloc.h"
#include "check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define THREADS 8
#define BLOCKS 2000
#define ROUNDS 40

static unsigned char *blocks[THREADS][BLOCKS];

static size_t size_of_block(int t, int i) { return 16 + (size_t)((t * 7919 + i * 104729) % 2048); }
static unsigned char byte_of(int t, int i) { return (unsigned char)(t * 31 + i); }

static DWORD WINAPI worker(void *arg) {
    int t = (int)(intptr_t)arg;
    /* An allocation keeps the thread's last-error code (a server calls
     * GetLastError after failing calls whose cleanup allocates or frees),
     * also the first one, which makes the thread's heap. */
    SetLastError(4321);
    for (int i = 0; i < BLOCKS; i++) {
        size_t n = size_of_block(t, i);
        blocks[t][i] = MIDL_user_allocate(n);
        CHECK(blocks[t][i], "allocate");
        memset(blocks[t][i], byte_of(t, i), n);
    }
    /* A few blocks of its own it frees before leaving. */
    for (int i = 0; i < BLOCKS; i += 10) {
        MIDL_user_free(blocks[t][i]);
        blocks[t][i] = NULL;
    }
    CHECK(GetLastError() == 4321, "the last-error code changed to %lu", (unsigned long)GetLastError());
    return 0; /* the heap is abandoned with the rest still live */
}

static uint64_t reserved_now(void) {
    struct midl_alloc_stats s = {.size = sizeof s};
    CHECK(midl_alloc_get_stats(&s) == 0, "stats");
    return s.os_reserved;
}

int main(void) {
    uint64_t early = 0;
    for (int r = 0; r < ROUNDS; r++) {
        HANDLE th[THREADS];
        for (int t = 0; t < THREADS; t++) th[t] = CreateThread(NULL, 0, worker, (void *)(intptr_t)t, 0, NULL);
        CHECK(WaitForMultipleObjects(THREADS, th, TRUE, INFINITE) == WAIT_OBJECT_0, "join");
        for (int t = 0; t < THREADS; t++) CloseHandle(th[t]);
        /* Every owner has exited: check and free from this thread. */
        for (int t = 0; t < THREADS; t++)
            for (int i = 0; i < BLOCKS; i++) {
                if (!blocks[t][i]) continue;
                size_t n = size_of_block(t, i);
                for (size_t k = 0; k < n; k++)
                    CHECK(blocks[t][i][k] == byte_of(t, i), "round %d: block %d of thread %d changed", r, i, t);
                CHECK(midl_alloc_usable_size(blocks[t][i]) >= n, "usable size");
                MIDL_user_free(blocks[t][i]);
            }
        if (r == 2) early = reserved_now();
        if (getenv("MIDL_TEST_VERBOSE")) printf("round %d: reserved %llu KiB\n", r, (unsigned long long)reserved_now() >> 10);
    }
    midl_alloc_collect();
    struct midl_alloc_stats s = {.size = sizeof s};
    CHECK(midl_alloc_get_stats(&s) == 0, "stats");
    static struct midl_alloc_class_stats rows[MIDL_ALLOC_CLASS_ROWS];
    CHECK(midl_alloc_get_class_stats(rows, MIDL_ALLOC_CLASS_ROWS) == MIDL_ALLOC_CLASS_ROWS, "rows");
    uint64_t live = 0, allocated = 0;
    for (uint32_t c = 0; c < MIDL_ALLOC_CLASS_ROWS; c++) {
        live += rows[c].live;
        allocated += rows[c].allocated;
    }
    printf("thread exit: %d threads, %llu blocks, segments abandoned %llu, adopted %llu; reserved %llu KiB after "
           "round 3, %llu KiB after round %d\n",
           THREADS * ROUNDS, (unsigned long long)allocated, (unsigned long long)s.segments_abandoned,
           (unsigned long long)s.segments_adopted, (unsigned long long)early >> 10,
           (unsigned long long)s.os_reserved >> 10, ROUNDS);
    CHECK(allocated >= (uint64_t)THREADS * BLOCKS * ROUNDS, "blocks counted: %llu", (unsigned long long)allocated);
    CHECK(s.segments_abandoned >= (uint64_t)THREADS * ROUNDS, "heaps were not abandoned at thread exit");
    CHECK(s.segments_adopted == s.segments_abandoned, "abandoned segments not all adopted");
    CHECK(live == 0, "%llu blocks live", (unsigned long long)live);
    /* Without reuse every round would add its threads' live blocks (about 16 MiB):
     * ten times the third round's figure by the end. */
    CHECK(s.os_reserved <= early * 5 / 2, "mapped memory grew with the threads: %llu KiB after round 3, %llu "
          "KiB at the end", (unsigned long long)early >> 10, (unsigned long long)s.os_reserved >> 10);
    printf("thread exit: checks passed\n");
    return 0;
}
