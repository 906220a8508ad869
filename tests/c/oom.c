/* Out of memory under an address-space limit: allocations that cannot be
 * met return NULL (small, medium and large sizes), nothing crashes, and
 * once memory is freed the allocator serves requests again. The limit is
 * RLIMIT_AS: set here on Linux, and on Wine's host by the harness. */
#include "midl_alloc.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>
#ifndef _WIN32
#include <sys/resource.h>
#endif

#define LIMIT ((size_t)768 << 20)

static void limit_address_space(void) {
#ifdef _WIN32
    /* Windows has no address-space limit of its own (and Wine enforces no
     * job-object memory limit): under Wine the harness runs the program
     * with the host's RLIMIT_AS (scripts/windows-test.sh), which Wine's
     * reservations then meet. Refuse to fill an unlimited machine. */
    CHECK(getenv("MIDL_TEST_HOST_LIMIT"), "run under Wine with a host address-space limit and MIDL_TEST_HOST_LIMIT=1");
#else
    struct rlimit rl = {(rlim_t)LIMIT, (rlim_t)LIMIT};
    CHECK(setrlimit(RLIMIT_AS, &rl) == 0, "setrlimit");
#endif
}

struct node { struct node *next; };

static size_t fill(size_t size, struct node **head) {
    size_t n = 0;
    for (;;) {
        struct node *p = MIDL_user_allocate(size);
        if (!p) return n;
        memset(p, 0xAB, size < 4096 ? size : 4096);
        p->next = *head;
        *head = p;
        n++;
    }
}

static void release(struct node *head) {
    while (head) {
        struct node *next = head->next;
        MIDL_user_free(head);
        head = next;
    }
}

int main(void) {
    limit_address_space();
    int checks = 0;
    size_t sizes[] = {5 << 20, 100000, 40000, 1000, 24};
    for (int round = 0; round < 2; round++) {
        struct node *heads[5] = {0};
        size_t counts[5];
        for (int i = 0; i < 5; i++) {
            counts[i] = fill(sizes[i], &heads[i]);
            checks++;
        }
        CHECK(counts[0] > 0, "no large block at all");
        /* Everything is exhausted now: the sizes that need fresh mappings
         * fail cleanly (small ones may still find a free slot). */
        for (int i = 0; i < 5; i++) {
            void *p = MIDL_user_allocate(sizes[i]);
            CHECK(p == NULL || i >= 3, "size %zu after exhaustion", sizes[i]);
            MIDL_user_free(p);
        }
        for (int i = 0; i < 5; i++) release(heads[i]);
        /* And works again once memory is back. */
        for (int i = 0; i < 5; i++) {
            void *p = MIDL_user_allocate(sizes[i]);
            CHECK(p != NULL, "size %zu after freeing everything (round %d)", sizes[i], round);
            MIDL_user_free(p);
        }
        printf("round %d: filled %zu x 5 MiB, %zu x 100 KB, %zu x 40 KB, %zu x 1000 B, %zu x 24 B\n", round, counts[0],
               counts[1], counts[2], counts[3], counts[4]);
    }
    printf("c oom: %d checks passed\n", checks);
    return 0;
}
