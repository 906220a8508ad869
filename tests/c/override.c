/* The malloc override (a library built with `--features override`, loaded
 * with LD_PRELOAD): the program uses only the C library's names, and gets
 * glibc's semantics from midl-alloc, also across threads and fork. */
#define _GNU_SOURCE
#include "check.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define ALIGNED(p, a) (((uintptr_t)(p) & ((a) - 1)) == 0)

/* Sizes the compiler cannot see, so it neither warns about nor folds the
 * impossible requests. */
static volatile size_t huge = SIZE_MAX, half = SIZE_MAX / 2;

static void *churn(void *arg) {
    void **shared = arg;
    for (int i = 0; i < 20000; i++) {
        size_t n = (size_t)(i * 37) % 3000 + 1;
        char *p = malloc(n);
        memset(p, 0x5A, n);
        char *q = realloc(p, n * 2);
        for (size_t k = 0; k < n; k++)
            if (q[k] != 0x5A) { fprintf(stderr, "realloc lost data\n"); abort(); }
        /* Hand every 8th block to the other threads: remote frees. */
        if (i % 8 == 0) q = __atomic_exchange_n(shared, q, __ATOMIC_ACQ_REL);
        free(q);
    }
    return NULL;
}

int main(void) {
    int checks = 0;
    /* Ours, not glibc's: glibc's usable size for 100 bytes is 104. */
    void *p = malloc(100);
    CHECK(p && malloc_usable_size(p) == 112, "not midl-alloc: usable size %zu", malloc_usable_size(p));
    free(p);
    CHECK(malloc_usable_size(NULL) == 0, "usable size of NULL");
    checks++;

    void *z1 = malloc(0), *z2 = malloc(0);
    CHECK(z1 && z2 && z1 != z2, "malloc(0) not unique");
    free(z1);
    free(z2);
    free(NULL);
    errno = 0;
    CHECK(malloc(huge) == NULL && errno == ENOMEM, "malloc(SIZE_MAX): errno %d", errno);
    errno = 0;
    CHECK(calloc(half, 3) == NULL && errno == ENOMEM, "calloc overflow: errno %d", errno);
    int *c = calloc(1000, sizeof(int));
    for (int i = 0; i < 1000; i++) CHECK(c[i] == 0, "calloc not zero at %d", i);
    free(c);
    checks++;

    char *r = realloc(NULL, 10);
    CHECK(r, "realloc(NULL, 10)");
    strcpy(r, "midl");
    r = realloc(r, 100000);
    CHECK(r && strcmp(r, "midl") == 0, "realloc grow");
    r = realloc(r, 5);
    CHECK(r && strcmp(r, "midl") == 0, "realloc shrink");
    CHECK(realloc(r, 0) == NULL, "realloc(p, 0) frees and returns NULL");
    errno = 0;
    CHECK(reallocarray(NULL, half, 4) == NULL && errno == ENOMEM, "reallocarray overflow");
    void *ra = reallocarray(NULL, 10, 10);
    CHECK(ra && malloc_usable_size(ra) >= 100, "reallocarray");
    free(ra);
    checks++;

    void *m = (void *)1;
    CHECK(posix_memalign(&m, 3, 10) == EINVAL && m == (void *)1, "posix_memalign(3)");
    CHECK(posix_memalign(&m, 4, 10) == EINVAL && m == (void *)1, "posix_memalign(4)");
    CHECK(posix_memalign(&m, 64, half) == ENOMEM && m == (void *)1, "posix_memalign ENOMEM");
    size_t aligns[] = {8, 16, 64, 4096, 65536, 1 << 20};
    for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
        CHECK(posix_memalign(&m, aligns[i], 100) == 0 && ALIGNED(m, aligns[i]), "posix_memalign(%zu)", aligns[i]);
        free(m);
        void *a = aligned_alloc(aligns[i], 3 * aligns[i]);
        CHECK(a && ALIGNED(a, aligns[i]), "aligned_alloc(%zu)", aligns[i]);
        free(a);
    }
    void *ma = memalign(24, 10); /* rounded up to 32 */
    CHECK(ma && ALIGNED(ma, 32), "memalign(24)");
    free(ma);
    void *v = valloc(10);
    CHECK(v && ALIGNED(v, 4096), "valloc");
    free(v);
    void *pv = pvalloc(1);
    CHECK(pv && ALIGNED(pv, 4096) && malloc_usable_size(pv) >= 4096, "pvalloc");
    free(pv);
    checks++;

    void *shared = NULL;
    pthread_t t[6];
    for (int i = 0; i < 6; i++) pthread_create(&t[i], NULL, churn, &shared);
    /* Fork while the threads allocate: the child must allocate normally. */
    for (int k = 0; k < 20; k++) {
        pid_t pid = fork();
        CHECK(pid >= 0, "fork");
        if (pid == 0) {
            void *blocks[2000];
            for (int i = 0; i < 2000; i++) blocks[i] = malloc((size_t)i * 7 + 1);
            for (int i = 0; i < 2000; i++) free(blocks[i]);
            pthread_t ct;
            pthread_create(&ct, NULL, churn, &(void *){NULL});
            pthread_join(ct, NULL);
            _exit(0);
        }
        int status;
        CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "forked child failed: status %#x", status);
    }
    for (int i = 0; i < 6; i++) pthread_join(t[i], NULL);
    free(shared);
    checks++;

    printf("%d checks passed\n", checks);
    return 0;
}
