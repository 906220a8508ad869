/* One unmarshalled call's parameters from C through the shared library
 * (scripts/c-calls.sh): the calls a MIDL stub makes, in three variants,
 * run in interleaved rounds:
 *   rpcss   RpcSmEnableAllocate, RpcSsAllocate for every parameter,
 *           RpcSmDisableAllocate (every block at once);
 *   midl    MIDL_user_allocate for every parameter, MIDL_user_free for
 *           each;
 *   glibc   malloc and free, for scale.
 * The call has the marshalling row's shape (benches/compare/marshal.rs): a
 * 64-byte struct, 1-7 strings of 8-256 bytes, an array of 16 B to 4 KiB in
 * one call of four, four referents of 16-64 bytes; every block is written.
 * Prints a Markdown table: calls/s (median over rounds) and the median of
 * the rounds' ratios of each variant's time to the rpcss call's. */
#include "midl_alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { CALLS = 512, MAX_BLOCKS = 16, MAX_ROUNDS = 101 };

typedef struct {
    int n;
    size_t size[MAX_BLOCKS];
} call_t;

static call_t calls[CALLS];
static void *live[MAX_BLOCKS];
static unsigned long long rng = 0x5EEDCA11;

static size_t range(size_t lo, size_t hi) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return lo + rng % (hi - lo);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void fail(const char *what) {
    fprintf(stderr, "rpcss_call: %s\n", what);
    exit(1);
}

static double run_rpcss(long n) {
    double t = now();
    for (long i = 0; i < n; i++) {
        const call_t *c = &calls[i % CALLS];
        if (RpcSmEnableAllocate() != 0) fail("RpcSmEnableAllocate failed");
        for (int k = 0; k < c->n; k++) {
            if (!(live[k] = RpcSsAllocate(c->size[k]))) fail("RpcSsAllocate returned NULL");
            memset(live[k], 0xA5, c->size[k]);
        }
        if (RpcSmDisableAllocate() != 0) fail("RpcSmDisableAllocate failed");
    }
    return now() - t;
}

/* A block-by-block variant: every parameter from ALLOC, then each given to
 * FREE. A macro, so that both variants call their functions directly, as
 * the RpcSs one does (no call through a pointer). */
#define BLOCK_BY_BLOCK(name, ALLOC, FREE)                                                    \
    static double name(long n) {                                                             \
        double t = now();                                                                    \
        for (long i = 0; i < n; i++) {                                                       \
            const call_t *c = &calls[i % CALLS];                                             \
            for (int k = 0; k < c->n; k++) {                                                 \
                if (!(live[k] = ALLOC(c->size[k]))) fail(#ALLOC " returned NULL");           \
                memset(live[k], 0xA5, c->size[k]);                                           \
            }                                                                                \
            for (int k = 0; k < c->n; k++) FREE(live[k]);                                    \
        }                                                                                    \
        return now() - t;                                                                    \
    }
BLOCK_BY_BLOCK(run_midl, MIDL_user_allocate, MIDL_user_free)
BLOCK_BY_BLOCK(run_glibc, malloc, free)

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, n, sizeof v[0], by_value);
    return v[n / 2];
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 31;
    long n = argc > 2 ? atol(argv[2]) : 100000;
    if (rounds < 1 || rounds > MAX_ROUNDS || n < 1) fail("usage: rpcss_call [ROUNDS (1-101)] [CALLS]");
    for (int i = 0; i < CALLS; i++) {
        call_t *c = &calls[i];
        c->n = 0;
        c->size[c->n++] = 64;
        for (int k = (int)range(1, 8); k > 0; k--) c->size[c->n++] = range(8, 256);
        if (i % 4 == 0) c->size[c->n++] = range(16, 4096);
        for (int k = 0; k < 4; k++) c->size[c->n++] = range(16, 64);
    }
    static const char *names[] = {
        "midl-alloc RpcSs environment (RpcSmEnableAllocate, RpcSsAllocate, RpcSmDisableAllocate)",
        "midl-alloc block by block (MIDL_user_allocate, MIDL_user_free)",
        "glibc block by block (malloc, free)",
    };
    double (*const run[])(long) = {run_rpcss, run_midl, run_glibc};
    enum { V = 3 };
    static double secs[V][MAX_ROUNDS], ratio[V][MAX_ROUNDS];
    for (int v = 0; v < V; v++) run[v](n / 10); /* warm-up */
    for (int r = 0; r < rounds; r++) {
        double t[V];
        for (int j = 0; j < V; j++) { /* a different variant first each round */
            int v = (r + j) % V;
            t[v] = run[v](n);
        }
        for (int v = 0; v < V; v++) {
            secs[v][r] = t[v];
            ratio[v][r] = t[v] / t[0];
        }
    }
    printf("| variant | calls/s | time vs the RpcSs call |\n|---|---:|---:|\n");
    for (int v = 0; v < V; v++) {
        double rate = n / median(secs[v], rounds);
        printf("| %s | %.2f M | %.2f |\n", names[v], rate / 1e6, median(ratio[v], rounds));
    }
    return 0;
}
