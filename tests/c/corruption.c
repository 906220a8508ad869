/* A freed block whose free-list link is overwritten (a use-after-free
 * write) never makes the allocator hand out the forged pointer.
 * - Owner lists, default build: the link is stored encoded with the heap's
 *   key, so the write decodes to an address that is not user memory; the
 *   allocation that follows it faults (or a slow-path walk reports it).
 * - Owner lists, checked build (MIDL_TEST_CHECKED=1): the check word
 *   reports it with a message.
 * - Remote lists: the freeing thread encodes the link with the page's key
 *   too, and the owner takes the chain over as it is; the allocation slow
 *   path range-checks the link of the head it hands to the fast path, so a
 *   corrupted first block is reported with a message in both builds
 *   (deeper in the chain it is met like a block on an owner list).
 * And a free of an address in a segment's header is reported, not pushed
 * onto a free list. */
#include "midl_alloc.h"
#include "crash.h"

#include <stdint.h>
#include <stdlib.h>

static uintptr_t stray_value;

static void use_after_free_write(void) {
    void *p = MIDL_user_allocate(64);
    MIDL_user_free(p);
    *(uintptr_t *)p = stray_value ? stray_value : (uintptr_t)p + 64;
    /* Running to the end (the child then exits 0) fails the check. */
    for (int i = 0; i < 100000; i++) (void)MIDL_user_allocate(64);
}

static void remote_use_after_free_write(void);

/* A free of an address in the header of a segment (the first 64 KiB of the
 * 4 MiB-aligned chunk a small block lies in), which no block ever is. */
static void free_in_segment_header(void) {
    void *p = MIDL_user_allocate(64);
    MIDL_user_free((void *)(((uintptr_t)p & ~(uintptr_t)(4 * 1024 * 1024 - 1)) + 1024));
}

int main(void) {
    int checks = 0;
    int checked = getenv("MIDL_TEST_CHECKED") != NULL;
    const char *fragments[] = {"midl-alloc: corrupted free list", NULL};
    /* The attacker-style write (a plausible pointer into the same page), a
     * small integer, and all ones. */
    uintptr_t values[] = {0, 0x41, UINTPTR_MAX};
    const char *names[] = {"use-after-free write of a pointer (owner list)",
                           "use-after-free write of a small integer (owner list)",
                           "use-after-free write of all ones (owner list)"};
    for (int i = 0; i < 3; i++) {
        stray_value = values[i];
        if (checked)
            expect_abort(names[i], use_after_free_write, fragments);
        else
            expect_stop(names[i], use_after_free_write, fragments);
        checks++;
    }
    expect_abort("use-after-free write (remote list)", remote_use_after_free_write, fragments);
    checks++;
    const char *header[] = {"not a block", NULL};
    expect_abort("free of an address in a segment header", free_in_segment_header, header);
    checks++;
    printf("%d checks passed\n", checks);
    return 0;
}

#include <pthread.h>

static void *victim;

static void *free_it(void *arg) {
    (void)arg;
    MIDL_user_free(victim);
    return NULL;
}

/* Freed by another thread, then overwritten with a pointer outside the
 * page: the owner detects it when its allocation slow path takes the
 * remote chain, whose first block this is. */
static void remote_use_after_free_write(void) {
    void *a = MIDL_user_allocate(64);
    victim = MIDL_user_allocate(64);
    pthread_t t;
    pthread_create(&t, NULL, free_it, NULL);
    pthread_join(t, NULL);
    victim = a;
    pthread_create(&t, NULL, free_it, NULL);
    pthread_join(t, NULL);
    /* `a` sits first on the remote list, linking to the first victim. */
    *(uintptr_t *)a = (uintptr_t)&t;
    for (int i = 0; i < 100000; i++) (void)MIDL_user_allocate(64);
}
