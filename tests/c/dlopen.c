/* The shared library loaded with dlopen after start-up (its heap pointer is
 * an initial-exec TLS variable, which then comes from glibc's static-TLS
 * reserve) works on the main thread and on threads created before and
 * after the load. Not linked against the library: the harness passes its
 * path in MIDL_TEST_LIBRARY. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void *(*allocate)(size_t);
static void (*release)(void *);
static pthread_barrier_t loaded;

static void churn(unsigned seed) {
    void *blocks[256];
    for (int round = 0; round < 200; round++) {
        for (int i = 0; i < 256; i++) {
            size_t n = 16 + (size_t)((seed = seed * 1103515245u + 12345u) >> 16) % 2048;
            blocks[i] = allocate(n);
            CHECK(blocks[i] && ((uintptr_t)blocks[i] & 15) == 0, "allocate(%zu) gave %p", n, blocks[i]);
            memset(blocks[i], (int)(i & 0xff), n < 64 ? n : 64);
        }
        for (int i = 0; i < 256; i++) {
            CHECK(((unsigned char *)blocks[i])[0] == (unsigned char)i, "block %d overwritten", i);
            release(blocks[i]);
        }
    }
}

static void *early_thread(void *arg) {
    (void)arg;
    pthread_barrier_wait(&loaded); /* started before dlopen, runs after */
    churn(7);
    return NULL;
}

static void *late_thread(void *arg) {
    churn((unsigned)(uintptr_t)arg);
    return NULL;
}

int main(void) {
    const char *path = getenv("MIDL_TEST_LIBRARY");
    CHECK(path, "MIDL_TEST_LIBRARY not set");
    pthread_barrier_init(&loaded, NULL, 2);
    pthread_t early;
    CHECK(pthread_create(&early, NULL, early_thread, NULL) == 0, "pthread_create");
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    CHECK(lib, "dlopen: %s", dlerror());
    *(void **)&allocate = dlsym(lib, "MIDL_user_allocate");
    *(void **)&release = dlsym(lib, "MIDL_user_free");
    CHECK(allocate && release, "dlsym: %s", dlerror());
    pthread_barrier_wait(&loaded);
    churn(1);
    pthread_t late[3];
    for (uintptr_t i = 0; i < 3; i++) CHECK(pthread_create(&late[i], NULL, late_thread, (void *)(i + 2)) == 0, "pthread_create");
    for (int i = 0; i < 3; i++) pthread_join(late[i], NULL);
    pthread_join(early, NULL);
    printf("dlopen: 5 threads churned through the late-loaded library\n1 checks passed\n");
    return 0;
}
