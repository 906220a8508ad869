/* Large buffers through the C library's malloc, calloc, realloc and free,
 * for scripts/override-programs.sh (run under LD_PRELOAD with each
 * allocator): 20 live buffers of 5 to 25 MiB, each replaced 300 times by one
 * of another size (calloc'd or malloc'd, written through), then one buffer
 * grown by realloc from 64 KiB to 256 MiB and shrunk back. Every buffer's
 * contents are checked (one byte per 4 KiB, and the ends) before it is
 * freed or after it is moved; calloc'd memory must read as zero. Prints a
 * checksum of what it read, the same under every correct allocator; exits
 * 1 on a wrong byte or a failed allocation. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 20
#define MIB ((size_t)1 << 20)

static uint64_t state = 0x1a2b3c4d5e6f7081ULL;
static uint64_t next(void) {
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545F4914F6CDD1DULL;
}

static uint64_t sum;

static void fail(const char *what, size_t size) {
    fprintf(stderr, "large_buffers: %s (%zu bytes)\n", what, size);
    exit(1);
}

/* Checks that buf holds byte b at one byte per 4 KiB and at both ends. */
static void check(const unsigned char *buf, size_t size, unsigned char b) {
    for (size_t i = 0; i < size; i += 4096) {
        if (buf[i] != b) fail("wrong byte", size);
        sum = sum * 31 + buf[i];
    }
    if (buf[size - 1] != b) fail("wrong last byte", size);
}

int main(void) {
    unsigned char *slot[SLOTS] = {0};
    size_t size[SLOTS] = {0};
    unsigned char fillb[SLOTS] = {0};
    for (int op = 0; op < 300; op++) {
        int i = (int)(next() % SLOTS);
        if (slot[i]) {
            check(slot[i], size[i], fillb[i]);
            free(slot[i]);
        }
        size_t n = 5 * MIB + next() % (20 * MIB);
        unsigned char *p;
        if (op % 2) {
            p = calloc(1, n);
            if (!p) fail("calloc refused", n);
            check(p, n, 0);
        } else {
            p = malloc(n);
            if (!p) fail("malloc refused", n);
        }
        fillb[i] = (unsigned char)(op % 251 + 1);
        memset(p, fillb[i], n);
        slot[i] = p;
        size[i] = n;
    }
    for (int i = 0; i < SLOTS; i++) {
        if (slot[i]) {
            check(slot[i], size[i], fillb[i]);
            free(slot[i]);
        }
    }
    /* realloc: doubling from 64 KiB to 256 MiB, each new half written;
     * then halving back, the kept part checked each time. */
    size_t n = 64 * 1024;
    unsigned char *p = malloc(n);
    if (!p) fail("malloc refused", n);
    memset(p, 7, n);
    while (n < 256 * MIB) {
        unsigned char *q = realloc(p, 2 * n);
        if (!q) fail("realloc refused", 2 * n);
        check(q, n, 7);
        memset(q + n, 7, n);
        p = q;
        n *= 2;
    }
    while (n > 64 * 1024) {
        n /= 2;
        unsigned char *q = realloc(p, n);
        if (!q) fail("realloc refused", n);
        check(q, n, 7);
        p = q;
    }
    free(p);
    printf("%016llx\n", (unsigned long long)sum);
    return 0;
}
