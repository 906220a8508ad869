/* A faulty program, run under valgrind's memcheck against the `valgrind`
 * build (tests/c_api.rs checks the report): a leak, a read after free, a
 * double free, a branch on uninitialised memory; and correct uses
 * (zeroed memory, realloc keeping contents, frees on another thread) that
 * must not be reported. The double free, last, is also caught by
 * midl-alloc itself, which stops the process (SIGABRT): the handler ends
 * the program normally there, so memcheck writes its leak summary. */
#include "midl_alloc.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void stopped(int sig) {
    (void)sig;
    static const char msg[] = "stopped at the double free\n";
    (void)!write(1, msg, sizeof msg - 1);
    _exit(0);
}

static void *free_on_other_thread(void *p) {
    MIDL_user_free(p);
    return NULL;
}

int main(void) {
    /* Correct: nothing to report. */
    char *ok = MIDL_user_allocate(200);
    memset(ok, 1, 200);
    pthread_t t;
    pthread_create(&t, NULL, free_on_other_thread, ok);
    pthread_join(t, NULL);
    for (int i = 0; i < 1000; i++) MIDL_user_free(MIDL_user_allocate((size_t)(i % 300) + 1));

    /* 1. A leak of 100 bytes: the only pointer is dropped. */
    volatile char *leak = MIDL_user_allocate(100);
    leak[0] = 1;
    leak = NULL;

    /* 2. A read after free. */
    volatile char *gone = MIDL_user_allocate(64);
    gone[10] = 5;
    MIDL_user_free((void *)gone);
    volatile char c = gone[10];
    (void)c;

    /* 3. A branch on memory never written. */
    volatile char *fresh = MIDL_user_allocate(16);
    if (fresh[3] == 7) printf("seven\n");
    MIDL_user_free((void *)fresh);

    /* 4. A double free, last (the allocator's lists are not to be trusted
     * after it). */
    void *twice = MIDL_user_allocate(32);
    MIDL_user_free(twice);
    printf("faulty program done\n");
    signal(SIGABRT, stopped);
    MIDL_user_free(twice);
    printf("the double free went unnoticed\n");
    return 0;
}
