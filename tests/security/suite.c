/* The heap-security suite: small programs that misuse the heap the way a
 * buggy RPC stub or server can (double frees, invalid frees, writes after
 * free, overflows, zero-size blocks, huge sizes), one per case, selected by
 * name: `suite CASE`, or `suite` alone to list the cases. It uses only
 * malloc/free/realloc/calloc/malloc_usable_size, so it runs against any
 * allocator that replaces them (LD_PRELOAD); scripts/security-suite.sh runs
 * every case against each allocator and classifies what happened:
 *
 *   detected  the process stopped with a message on stderr;
 *   stopped   it stopped (a signal) without a message;
 *   refused   it went on, but the allocator said something on stderr (or,
 *             for the huge sizes, every request failed with NULL/ENOMEM);
 *   missed    it ran to the end silently ("corrupt" when the program then
 *             saw the heap hand out one block twice or a forged pointer).
 *
 * After the misuse, each case keeps using the heap as a program would, and
 * checks what it is handed: blocks handed out twice, a forged pointer. Every
 * case that runs to its end prints END (and CORRUPT lines first, if any). */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Keeps the compiler from reasoning about the misuse (and from removing
 * or diagnosing it). */
static void *volatile sink;
static void *launder(void *p) {
    sink = p;
    return sink;
}

static size_t size; /* the case's block size */

static void corrupt(const char *what, const void *p) { printf("CORRUPT %s %p\n", what, p); }

/* Allocates n blocks of `size` and reports any block handed out twice,
 * the same as `p`, or at `forged`, then frees them. */
static void aftermath(const void *p, const void *forged) {
    enum { N = 64 };
    void *got[N];
    for (int i = 0; i < N; i++) {
        got[i] = malloc(size);
        if (!got[i]) continue;
        memset(got[i], 0x5a, size < 64 ? size : 64);
        if (forged && got[i] == forged) corrupt("forged pointer handed out", got[i]);
        for (int j = 0; j < i; j++)
            if (got[j] == got[i]) corrupt("block handed out twice", got[i]);
    }
    int seen = 0;
    for (int i = 0; i < N; i++) seen += got[i] == p;
    if (seen > 1) corrupt("freed block handed out twice", p);
    for (int i = 0; i < N; i++) free(got[i]);
}

/* A size of a different class, for work between the misuse steps that
 * must not reuse the block. */
static size_t other_size(void) { return size * 2 + 48; }

/* ---- double frees ---- */

static void double_free_immediate(void) {
    char *p = malloc(size);
    free(p);
    free(launder(p));
    aftermath(p, NULL);
}

static void double_free_delayed(void) {
    char *p = malloc(size);
    free(p);
    void *work[32];
    for (int i = 0; i < 32; i++) work[i] = malloc(other_size());
    for (int i = 0; i < 32; i++) free(work[i]);
    free(launder(p));
    aftermath(p, NULL);
}

static void double_free_interleaved(void) {
    char *p = malloc(size), *q = malloc(size), *r = malloc(size);
    free(p);
    free(q);
    free(launder(p));
    free(r);
    aftermath(p, NULL);
}

static void double_free_after_reuse(void) {
    char *p = malloc(size);
    free(p);
    char *q = malloc(size); /* most allocators hand p out again */
    free(q);
    free(launder(p));
    aftermath(p, NULL);
}

static void *free_it(void *p) {
    free(p);
    return NULL;
}

static void double_free_other_thread(void) {
    char *p = malloc(size);
    pthread_t t;
    pthread_create(&t, NULL, free_it, p);
    pthread_join(t, NULL);
    pthread_create(&t, NULL, free_it, launder(p));
    pthread_join(t, NULL);
    aftermath(p, NULL);
}

/* ---- invalid frees ---- */

static void invalid_free_stack(void) {
    char local[64];
    memset(local, 1, sizeof local);
    free(launder(local));
    aftermath(NULL, local);
}

static char global_buffer[4096];

static void invalid_free_global(void) {
    free(launder(global_buffer + 64));
    aftermath(NULL, global_buffer + 64);
}

static void invalid_free_far(void) {
    /* An address nothing is mapped at (16 TiB). */
    free(launder((void *)((uintptr_t)1 << 44)));
    aftermath(NULL, NULL);
}

static void invalid_free_unaligned(void) {
    char *p = malloc(size);
    free(launder(p + 1));
    aftermath(p + 1, p + 1);
}

static void invalid_free_interior(void) {
    char *p = malloc(size);
    size_t off = size >= 32 ? size / 2 : 8;
    if (off >= size) off = size / 2;
    off &= ~(size_t)7;
    if (off == 0) off = 4;
    free(launder(p + off));
    aftermath(p + off, p + off);
}

static void invalid_free_before(void) {
    char *p = malloc(size);
    free(launder(p - 16));
    aftermath(p - 16, p - 16);
}

static void invalid_free_other_allocator(void) {
    /* Another allocator's block: a bump allocator on a mapping of its own,
     * its blocks 16-byte aligned like malloc's. */
    char *arena = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *block = arena + 4096 + 16;
    free(launder(block));
    aftermath(NULL, block);
}

/* ---- writes after free ---- */

static void write_after_free(void) {
    char *p = malloc(size);
    free(p);
    memset(launder(p), 0x41, size < 64 ? size : 64);
    aftermath(p, (void *)0x4141414141414141);
}

static uintptr_t target[64];

static void write_after_free_then_reuse(void) {
    /* Overwrite the freed block's first word with a forged link to a
     * global, then allocate until the allocator would follow it. */
    char *p = malloc(size);
    free(p);
    *(void **)launder(p) = target + 8;
    aftermath(p, target + 8);
}

/* ---- overflows ---- */

static void overflow(size_t bytes) {
    char *p = malloc(size);
    char *q = malloc(size);
    size_t usable = malloc_usable_size(p);
    memset(launder(p) + usable, 0x41, bytes);
    free(p);
    free(q);
    aftermath(NULL, (void *)0x4141414141414141);
}

static void overflow_1(void) { overflow(1); }
static void overflow_32(void) { overflow(32); }

static void underflow(void) {
    char *p = malloc(size);
    memset((char *)launder(p) - 16, 0x41, 16);
    free(p);
    aftermath(NULL, (void *)0x4141414141414141);
}

/* ---- zero-size blocks ---- */

static void zero_size_write(void) {
    char *p = malloc(0);
    if (p) memset(launder(p), 0x41, 32);
    free(p);
    size = 16;
    aftermath(NULL, (void *)0x4141414141414141);
}

static void zero_size_read(void) {
    char *p = malloc(0);
    volatile char c = 0;
    if (p)
        for (int i = 0; i < 32; i++) c ^= ((volatile char *)launder(p))[i];
    (void)c;
    free(p);
    size = 16;
    aftermath(NULL, NULL);
}

/* ---- realloc of a freed block ---- */

static void realloc_freed(void) {
    char *p = malloc(size);
    free(p);
    char *q = realloc(launder(p), size * 2);
    free(q);
    aftermath(p, NULL);
}

/* ---- huge sizes: each must fail with NULL and ENOMEM ---- */

static void huge_sizes(void) {
    int refused = 1;
    void *p;
#define EXPECT_NULL(call)                                                     \
    do {                                                                      \
        errno = 0;                                                            \
        p = (call);                                                           \
        if (p || errno != ENOMEM) {                                           \
            printf("ACCEPTED %s: %p errno %d\n", #call, p, errno);            \
            refused = 0;                                                      \
        }                                                                     \
    } while (0)
    size_t big = SIZE_MAX - 4096;
    EXPECT_NULL(malloc(big));
    EXPECT_NULL(malloc(SIZE_MAX / 2 + 1));
    EXPECT_NULL(calloc((size_t)1 << 33, (size_t)1 << 33)); /* overflows */
    EXPECT_NULL(calloc(SIZE_MAX / 16 + 1, 16));            /* overflows */
    char *q = malloc(64);
    EXPECT_NULL(realloc(q, big));
    free(q); /* a failed realloc leaves the block alone */
    printf(refused ? "REFUSED all\n" : "NOT REFUSED\n");
    aftermath(NULL, NULL);
}

struct kase {
    const char *name;
    void (*run)(void);
    int sized; /* run at 8 B, 4 KiB and 256 KiB */
};

static const struct kase cases[] = {
    {"double-free-immediate", double_free_immediate, 1},
    {"double-free-delayed", double_free_delayed, 1},
    {"double-free-interleaved", double_free_interleaved, 1},
    {"double-free-after-reuse", double_free_after_reuse, 1},
    {"double-free-other-thread", double_free_other_thread, 1},
    {"invalid-free-stack", invalid_free_stack, 0},
    {"invalid-free-global", invalid_free_global, 0},
    {"invalid-free-far", invalid_free_far, 0},
    {"invalid-free-other-allocator", invalid_free_other_allocator, 0},
    {"invalid-free-unaligned", invalid_free_unaligned, 1},
    {"invalid-free-interior", invalid_free_interior, 1},
    {"invalid-free-before", invalid_free_before, 1},
    {"write-after-free", write_after_free, 1},
    {"write-after-free-then-reuse", write_after_free_then_reuse, 1},
    {"overflow-1", overflow_1, 1},
    {"overflow-32", overflow_32, 1},
    {"underflow", underflow, 1},
    {"zero-size-write", zero_size_write, 0},
    {"zero-size-read", zero_size_read, 0},
    {"realloc-freed", realloc_freed, 1},
    {"huge-sizes", huge_sizes, 0},
};

static const size_t sizes[] = {8, 4096, 256 * 1024};

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    size_t n = sizeof cases / sizeof cases[0];
    if (argc < 2) {
        /* The list of runs: NAME or NAME@SIZE. */
        for (size_t i = 0; i < n; i++) {
            if (!cases[i].sized) {
                printf("%s\n", cases[i].name);
                continue;
            }
            for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) printf("%s@%zu\n", cases[i].name, sizes[s]);
        }
        return 0;
    }
    char name[128];
    snprintf(name, sizeof name, "%s", argv[1]);
    char *at = strchr(name, '@');
    size = 64;
    if (at) {
        *at = 0;
        size = strtoull(at + 1, NULL, 10);
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(cases[i].name, name) == 0) {
            cases[i].run();
            printf("END\n");
            return 0;
        }
    }
    fprintf(stderr, "no case %s\n", argv[1]);
    return 2;
}
