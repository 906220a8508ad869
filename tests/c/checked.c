/* Checked mode (a library built with the cargo feature `checked`): every
 * kind of bad pointer stops the process with SIGABRT and a message naming
 * the kind of error and the address; good use is unaffected. */
#include "midl_alloc.h"
#include "crash.h"

#include <pthread.h>
#include <stdint.h>

static char addr[64];
static void *victim;

static void *fmt(void *p) {
    snprintf(addr, sizeof addr, "%p", p);
    return p;
}

static void double_free_small(void) {
    void *p = fmt(MIDL_user_allocate(48));
    MIDL_user_free(p);
    MIDL_user_free(p);
}

static void double_free_medium(void) {
    void *p = fmt(MIDL_user_allocate(20000));
    MIDL_user_free(p);
    MIDL_user_free(p);
}

static void double_free_large(void) {
    void *p = fmt(MIDL_user_allocate(3 << 20));
    MIDL_user_free(p);
    MIDL_user_free(p);
}

static void interior_small(void) {
    char *p = MIDL_user_allocate(100);
    MIDL_user_free(fmt(p + 16));
}

static void interior_large(void) {
    char *p = MIDL_user_allocate(1 << 20);
    MIDL_user_free(fmt(p + 4096));
}

static void foreign_stack(void) {
    int local;
    MIDL_user_free(fmt(&local));
}

static void foreign_libc(void) {
    MIDL_user_free(fmt(malloc(64)));
}

static void *free_victim(void *arg) {
    (void)arg;
    MIDL_user_free(victim);
    return NULL;
}

/* The second free comes from another thread than the first. */
static void double_free_cross_thread(void) {
    victim = fmt(MIDL_user_allocate(64));
    pthread_t t;
    pthread_create(&t, NULL, free_victim, NULL);
    pthread_join(t, NULL);
    MIDL_user_free(victim);
}

static void usable_size_of_freed(void) {
    void *p = fmt(MIDL_user_allocate(200));
    MIDL_user_free(p);
    (void)midl_alloc_usable_size(p);
}

int main(void) {
    int checks = 0;
    /* Good use: many blocks of every path, freed in another order. */
    void *keep[1000];
    for (int i = 0; i < 1000; i++) keep[i] = MIDL_user_allocate((size_t)(i * 97) % 70000 + (i % 7 == 0) * 300000);
    for (int i = 999; i >= 0; i -= 2) MIDL_user_free(keep[i]);
    for (int i = 0; i < 1000; i += 2) MIDL_user_free(keep[i]);
    checks++;

    struct { const char *name; void (*body)(void); const char *kind; } cases[] = {
        {"double free (48 B)", double_free_small, "double free"},
        {"double free (20000 B)", double_free_medium, "double free"},
        {"double free (3 MiB)", double_free_large, "double free"},
        {"double free across threads", double_free_cross_thread, "double free"},
        {"interior pointer (small)", interior_small, "interior pointer"},
        {"interior pointer (large)", interior_large, "interior pointer"},
        {"foreign pointer (stack)", foreign_stack, "foreign pointer"},
        {"foreign pointer (libc malloc)", foreign_libc, "foreign pointer"},
        {"usable size of a freed block", usable_size_of_freed, "double free"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* The address is formatted in the child; the parent learns it from
         * the message, so check the kind, then the address the child used. */
        const char *fragments[] = {"midl-alloc: ", cases[i].kind, NULL};
        expect_abort(cases[i].name, cases[i].body, fragments);
        CHECK(strstr(crash_output, "(0x"), "%s: no address in %s", cases[i].name, crash_output);
        checks++;
    }
    (void)addr;
    printf("%d checks passed\n", checks);
    return 0;
}
