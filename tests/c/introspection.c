/* The malloc override's introspection (LD_PRELOAD): mallinfo2 / mallinfo
 * describe midl-alloc's memory, malloc_trim gives memory back,
 * malloc_stats prints midl-alloc's table, C23's free_sized and
 * free_aligned_sized free. */
#define _GNU_SOURCE
#include "check.h"

#include <malloc.h>
#include <stdint.h>
#include <string.h>

#include <dlfcn.h>

/* C23's, which glibc 2.36 lacks: looked up at run time, where the
 * preloaded library supplies them. */
static void (*free_sized)(void *p, size_t size);
static void (*free_aligned_sized)(void *p, size_t align, size_t size);

#define BLOCKS 2000

int main(void) {
    int checks = 0;
    *(void **)&free_sized = dlsym(RTLD_DEFAULT, "free_sized");
    *(void **)&free_aligned_sized = dlsym(RTLD_DEFAULT, "free_aligned_sized");
    CHECK(free_sized && free_aligned_sized, "free_sized / free_aligned_sized not exported");
    static char *blocks[BLOCKS];
    struct mallinfo2 before = mallinfo2();
    for (int i = 0; i < BLOCKS; i++) {
        blocks[i] = malloc(1000);
        memset(blocks[i], i, 1000);
    }
    struct mallinfo2 held = mallinfo2();
    CHECK(held.uordblks >= before.uordblks + BLOCKS * 1000,
          "uordblks %zu -> %zu for %d blocks of 1000", before.uordblks, held.uordblks, BLOCKS);
    CHECK(held.arena >= held.uordblks && held.fordblks == held.arena - held.uordblks,
          "arena %zu, uordblks %zu, fordblks %zu", held.arena, held.uordblks, held.fordblks);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    struct mallinfo old = mallinfo();
#pragma GCC diagnostic pop
    CHECK((size_t)old.uordblks == held.uordblks, "mallinfo %d vs mallinfo2 %zu", old.uordblks, held.uordblks);
    checks++;

    /* Half freed with free_sized, half with free_aligned_sized. */
    for (int i = 0; i < BLOCKS; i++) {
        if (i % 2) free_sized(blocks[i], 1000);
        else free_aligned_sized(blocks[i], 16, 1000);
    }
    struct mallinfo2 freed = mallinfo2();
    CHECK(freed.uordblks + BLOCKS * 1000 <= held.uordblks, "uordblks %zu after freeing, %zu before",
          freed.uordblks, held.uordblks);
    void *aligned = aligned_alloc(256, 3000);
    CHECK(aligned && ((uintptr_t)aligned & 255) == 0, "aligned_alloc");
    free_aligned_sized(aligned, 256, 3000);
    checks++;

    /* Large objects: hblks and hblkhd. */
    size_t big = 24u << 20;
    char *b = malloc(big);
    memset(b, 1, big);
    struct mallinfo2 large = mallinfo2();
    CHECK(large.hblks >= freed.hblks + 1 && large.hblkhd >= freed.hblkhd + big,
          "hblks %zu -> %zu, hblkhd %zu -> %zu", freed.hblks, large.hblks, freed.hblkhd, large.hblkhd);
    free(b);
    struct mallinfo2 large_freed = mallinfo2();
    CHECK(large_freed.hblkhd + big <= large.hblkhd, "hblkhd %zu after free, %zu before", large_freed.hblkhd,
          large.hblkhd);
    checks++;

    /* malloc_trim gives back what was freed (64 MiB of 32 KiB blocks). */
    enum { N = 2048 };
    static char *many[N];
    for (int i = 0; i < N; i++) {
        many[i] = malloc(32 << 10);
        memset(many[i], 7, 32 << 10);
    }
    for (int i = 0; i < N; i++) free(many[i]);
    CHECK(malloc_trim(0) == 1, "malloc_trim gave nothing back");
    checks++;

    malloc_stats();
    printf("%d checks passed\n", checks);
    return 0;
}
