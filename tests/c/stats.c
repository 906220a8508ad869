/* Statistics through the C API: per-class counts follow allocations and
 * frees (also frees from another thread), large objects have their row,
 * OS figures are consistent, and the table prints. */
#include "midl_alloc.h"
#include "check.h"

#include <pthread.h>
#include <string.h>

static struct midl_alloc_stats s0, s1;

static const struct midl_alloc_class_stats *row_of(const struct midl_alloc_stats *s, uint64_t block) {
    for (uint32_t i = 0; i < s->class_count; i++)
        if (s->classes[i].block_size == block) return &s->classes[i];
    return NULL;
}

#define N 5000
static void *blocks[N];

static void *free_half(void *arg) {
    (void)arg;
    for (int i = 0; i < N; i += 2) MIDL_user_free(blocks[i]);
    return NULL;
}

int main(void) {
    int checks = 0;
    CHECK(midl_alloc_get_stats(NULL) == -1, "NULL out");
    CHECK(midl_alloc_get_stats(&s0) == 0, "get");
    CHECK(s0.class_count == MIDL_ALLOC_CLASS_ROWS, "class_count %u", s0.class_count);
    CHECK(s0.classes[MIDL_ALLOC_CLASS_ROWS - 1].block_size == 0, "large row");
    checks++;

    /* 100-byte requests are served by the 112-byte class. */
    for (int i = 0; i < N; i++) blocks[i] = MIDL_user_allocate(100);
    void *big = MIDL_user_allocate(1 << 20);
    CHECK(midl_alloc_get_stats(&s1) == 0, "get");
    const struct midl_alloc_class_stats *a = row_of(&s0, 112), *b = row_of(&s1, 112);
    CHECK(a && b, "no 112-byte class");
    CHECK(b->allocated - a->allocated == N, "allocated +%llu", (unsigned long long)(b->allocated - a->allocated));
    CHECK(b->live - a->live == N, "live +%llu", (unsigned long long)(b->live - a->live));
    CHECK(b->peak >= b->live, "peak %llu < live %llu", (unsigned long long)b->peak, (unsigned long long)b->live);
    const struct midl_alloc_class_stats *la = &s0.classes[MIDL_ALLOC_CLASS_ROWS - 1];
    const struct midl_alloc_class_stats *lb = &s1.classes[MIDL_ALLOC_CLASS_ROWS - 1];
    CHECK(lb->allocated - la->allocated == 1 && lb->live - la->live == 1, "large row");
    CHECK(s1.os_reserved >= s1.os_committed && s1.os_reserved >= (1u << 20) + N * 112, "os figures");
    checks++;

    /* Half freed by another thread, half here. */
    pthread_t t;
    pthread_create(&t, NULL, free_half, NULL);
    pthread_join(t, NULL);
    for (int i = 1; i < N; i += 2) MIDL_user_free(blocks[i]);
    MIDL_user_free(big);
    CHECK(midl_alloc_get_stats(&s1) == 0, "get");
    b = row_of(&s1, 112);
    lb = &s1.classes[MIDL_ALLOC_CLASS_ROWS - 1];
    CHECK(b->freed - a->freed == N, "freed +%llu", (unsigned long long)(b->freed - a->freed));
    CHECK(b->live == a->live, "live %llu, was %llu", (unsigned long long)b->live, (unsigned long long)a->live);
    CHECK(b->remote_frees - a->remote_frees == N / 2, "remote +%llu",
          (unsigned long long)(b->remote_frees - a->remote_frees));
    CHECK(b->peak >= a->live + N, "peak %llu", (unsigned long long)b->peak);
    CHECK(lb->freed - la->freed == 1 && lb->live == la->live, "large freed");
    checks++;

    midl_alloc_print_stats(1);
    printf("%d checks passed\n", checks);
    return 0;
}
