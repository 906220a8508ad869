/* Default build: a freed block whose free-list link is overwritten (a
 * use-after-free write) is detected when the allocator reaches it, and the
 * process stops with a message instead of handing out a forged pointer. */
#include "midl_alloc.h"
#include "crash.h"

#include <stdint.h>

static void use_after_free_write(void) {
    void *p = MIDL_user_allocate(64);
    MIDL_user_free(p);
    /* The attacker-style write: a plausible pointer into the same page. */
    *(uintptr_t *)p = (uintptr_t)p + 64;
    for (int i = 0; i < 100000; i++) (void)MIDL_user_allocate(64);
}

static void remote_use_after_free_write(void);

int main(void) {
    int checks = 0;
    const char *fragments[] = {"midl-alloc: corrupted free list", NULL};
    expect_abort("use-after-free write (owner list)", use_after_free_write, fragments);
    checks++;
    expect_abort("use-after-free write (remote list)", remote_use_after_free_write, fragments);
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
 * page: the owner detects it when it collects the remote frees. */
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
