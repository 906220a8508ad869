/* The default build's free checks (docs/HARDENING.md, "Checked frees"):
 * every double free and every free of a pointer that is not a block in use
 * stops the process with SIGABRT and a message naming the kind and the
 * address; a live block whose first word looks like a free-list link (the
 * owner's check walks the lists and finds it on none) is freed normally,
 * and good use, frees from other threads included, is unaffected. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include "midl_alloc.h"
#include "crash.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>

static char addr[64];
static void *victim;
static char global_block[256];

static void *fmt(void *p) {
    snprintf(addr, sizeof addr, "%p", p);
    return p;
}

static void double_free_small(void) {
    void *p = fmt(MIDL_user_allocate(48));
    MIDL_user_free(p);
    MIDL_user_free(p);
}

static void double_free_delayed(void) {
    void *p = fmt(MIDL_user_allocate(48));
    MIDL_user_free(p);
    for (int i = 0; i < 1000; i++) MIDL_user_free(MIDL_user_allocate(200));
    void *other[10];
    for (int i = 0; i < 10; i++) other[i] = MIDL_user_allocate(48);
    for (int i = 0; i < 10; i++) MIDL_user_free(other[i]);
    /* p may have been handed out again and freed as `other[k]`: either
     * way it is free now. */
    MIDL_user_free(p);
}

static void double_free_medium(void) {
    void *p = fmt(MIDL_user_allocate(20000));
    MIDL_user_free(p);
    MIDL_user_free(p);
}

/* A medium block past the first 64 KiB of its page (the segment path). */
static void double_free_medium_far(void) {
    void *blocks[40];
    for (int i = 0; i < 40; i++) blocks[i] = MIDL_user_allocate(30000);
    void *p = fmt(blocks[39]);
    MIDL_user_free(p);
    MIDL_user_free(p);
}

static void double_free_large(void) {
    void *p = fmt(MIDL_user_allocate(3 << 20));
    MIDL_user_free(p);
    MIDL_user_free(p);
}

static void *free_victim(void *arg) {
    (void)arg;
    MIDL_user_free(victim);
    return NULL;
}

/* Freed by another thread, then by the owner: the owner finds the block on
 * the remote list. */
static void double_free_remote_then_owner(void) {
    victim = fmt(MIDL_user_allocate(64));
    pthread_t t;
    pthread_create(&t, NULL, free_victim, NULL);
    pthread_join(t, NULL);
    MIDL_user_free(victim);
}

static void *free_victim_twice(void *arg) {
    (void)arg;
    MIDL_user_free(victim);
    MIDL_user_free(victim);
    return NULL;
}

/* Freed twice by another thread: the first free holds the block in that
 * thread's batch of remote frees, linked as if on its page's list. */
static void double_free_remote_twice(void) {
    victim = fmt(MIDL_user_allocate(64));
    pthread_t t;
    pthread_create(&t, NULL, free_victim_twice, NULL);
    pthread_join(t, NULL);
}

/* Freed by the owner, then by another thread: its first word decodes to a
 * link of its page. */
static void double_free_owner_then_remote(void) {
    victim = fmt(MIDL_user_allocate(64));
    MIDL_user_free(victim);
    pthread_t t;
    pthread_create(&t, NULL, free_victim, NULL);
    pthread_join(t, NULL);
}

static void double_free_large_remote(void) {
    victim = fmt(MIDL_user_allocate(1 << 20));
    MIDL_user_free(victim);
    pthread_t t;
    pthread_create(&t, NULL, free_victim, NULL);
    pthread_join(t, NULL);
}

static void interior_small(void) {
    char *p = MIDL_user_allocate(100);
    MIDL_user_free(fmt(p + 16));
}

static void unaligned_small(void) {
    char *p = MIDL_user_allocate(16);
    MIDL_user_free(fmt(p + 1));
}

static void interior_remote(void) {
    char *p = MIDL_user_allocate(64);
    victim = fmt(p + 8);
    pthread_t t;
    pthread_create(&t, NULL, free_victim, NULL);
    pthread_join(t, NULL);
}

static void interior_large(void) {
    char *p = MIDL_user_allocate(1 << 20);
    MIDL_user_free(fmt(p + 4096));
}

static void foreign_stack(void) {
    int local;
    MIDL_user_free(fmt(&local));
}

static void foreign_global(void) { MIDL_user_free(fmt(global_block + 16)); }

static void foreign_libc(void) { MIDL_user_free(fmt(malloc(64))); }

static void foreign_mapping(void) {
    char *m = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    MIDL_user_free(fmt(m + 64));
}

static void foreign_unmapped(void) { MIDL_user_free(fmt((void *)((uintptr_t)1 << 44))); }

static void foreign_high(void) { MIDL_user_free(fmt((void *)~(uintptr_t)0xfff)); }

int main(void) {
    int checks = 0;
    /* Good use: many blocks of every path, freed in another order, half on
     * another thread. */
    void *keep[1000];
    for (int i = 0; i < 1000; i++) keep[i] = MIDL_user_allocate((size_t)(i * 97) % 70000 + (i % 7 == 0) * 300000);
    for (int i = 999; i >= 0; i -= 2) MIDL_user_free(keep[i]);
    for (int i = 0; i < 1000; i += 2) {
        victim = keep[i];
        pthread_t t;
        pthread_create(&t, NULL, free_victim, NULL);
        pthread_join(t, NULL);
    }
    checks++;

    /* A live block whose first word is a free block's link word (which
     * decodes to a block of the page): the owner looks on the lists, finds
     * it on none, and frees it. Then its page still works. */
    for (int round = 0; round < 100; round++) {
        uintptr_t *freed = MIDL_user_allocate(32);
        uintptr_t *live = MIDL_user_allocate(32);
        MIDL_user_free(freed);
        live[0] = *(volatile uintptr_t *)freed; /* a link, as stored */
        MIDL_user_free(live);
        void *again[4];
        for (int i = 0; i < 4; i++) again[i] = MIDL_user_allocate(32);
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < i; j++) CHECK(again[i] != again[j], "block handed out twice");
        for (int i = 0; i < 4; i++) MIDL_user_free(again[i]);
    }
    checks++;

    struct {
        const char *name;
        void (*body)(void);
        const char *kind;
    } cases[] = {
        {"double free (48 B)", double_free_small, "double free"},
        {"double free, delayed", double_free_delayed, "double free"},
        {"double free (20000 B)", double_free_medium, "double free"},
        {"double free (30000 B, far in its page)", double_free_medium_far, "double free"},
        {"double free (3 MiB)", double_free_large, "double free"},
        {"double free, remote then owner", double_free_remote_then_owner, "double free"},
        {"double free, owner then remote", double_free_owner_then_remote, "double free"},
        {"double free, twice by another thread", double_free_remote_twice, "double free"},
        {"double free (1 MiB), owner then remote", double_free_large_remote, "double free"},
        {"interior pointer (small)", interior_small, "16 bytes into the 112-byte block"},
        {"unaligned pointer (small)", unaligned_small, "1 bytes into the 16-byte block"},
        {"interior pointer (remote)", interior_remote, "no block in use starts there"},
        {"interior pointer (large)", interior_large, "4096 bytes into the large block"},
        {"foreign pointer (stack)", foreign_stack, "not a block of midl-alloc"},
        {"foreign pointer (global)", foreign_global, "not a block of midl-alloc"},
        {"foreign pointer (libc malloc)", foreign_libc, "not a block of midl-alloc"},
        {"foreign pointer (a mapping)", foreign_mapping, "not a block of midl-alloc"},
        {"foreign pointer (unmapped)", foreign_unmapped, "not a block of midl-alloc"},
        {"foreign pointer (above 2^48)", foreign_high, "not a block of midl-alloc"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *fragments[] = {"midl-alloc: ", cases[i].kind, NULL};
        expect_abort(cases[i].name, cases[i].body, fragments);
        CHECK(strstr(crash_output, " of 0x"), "%s: no address in %s", cases[i].name, crash_output);
        checks++;
    }
    (void)addr;
    printf("%d checks passed\n", checks);
    return 0;
}
