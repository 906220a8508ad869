/* Same-thread allocate+free pairs from C, through a shared library's
 * exported functions (PLT calls, as a C program makes them), for
 * scripts/instructions.sh. Built once per allocator:
 *   -DALLOC=MIDL_user_allocate -DFREE=MIDL_user_free  (libmidl_alloc.so)
 *   -DALLOC=mi_malloc -DFREE=mi_free                   (libmimalloc.so.2)
 *   -DALLOC=malloc -DFREE=free                         (glibc)
 *   -DALLOC=noop_alloc -DFREE=noop_free                (libnoop.so: the loop's
 *                                                       and the calls' own cost)
 * libnoop.so is this file built with -DNOOP_LIBRARY -shared.
 * Usage: pairs SIZE N. callgrind counts the function pairs() alone. */
#include <stdio.h>
#include <stdlib.h>

#ifdef NOOP_LIBRARY
static char noop_block[16];
void *noop_alloc(size_t n) {
    (void)n;
    return noop_block;
}
void noop_free(void *p) { (void)p; }
#else
void *ALLOC(size_t);
void FREE(void *);

__attribute__((noinline)) void pairs(size_t size, long n) {
    for (long i = 0; i < n; i++) {
        void *volatile p = ALLOC(size);
        FREE(p);
    }
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s SIZE N\n", argv[0]);
        return 2;
    }
    size_t size = strtoul(argv[1], NULL, 10);
    long n = strtol(argv[2], NULL, 10);
    pairs(size, n / 10); /* warm up: the first pairs take the slow path */
    pairs(size, n);
    return 0;
}
#endif
