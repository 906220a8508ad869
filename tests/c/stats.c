/* Statistics through the C API: per-class counts follow allocations and
 * frees (also frees from another thread), large objects have their row,
 * the size-prefixed struct fills only what its caller knows, the thread's
 * byte counters and the allocated gauge follow the blocks, the JSON text
 * is complete and truncates as snprintf does, and the table prints. */
#include "midl_alloc.h"
#include "check.h"

#include <pthread.h>
#include <stddef.h>
#include <string.h>

static struct midl_alloc_class_stats r0[MIDL_ALLOC_CLASS_ROWS], r1[MIDL_ALLOC_CLASS_ROWS];

static const struct midl_alloc_class_stats *row_of(const struct midl_alloc_class_stats *rows, uint64_t block) {
    for (uint32_t i = 0; i < MIDL_ALLOC_CLASS_ROWS; i++)
        if (rows[i].block_size == block) return &rows[i];
    return NULL;
}

static struct midl_alloc_stats get(void) {
    struct midl_alloc_stats s;
    memset(&s, 0xEE, sizeof s);
    s.size = sizeof s;
    CHECK(midl_alloc_get_stats(&s) == 0, "get");
    CHECK(s.size == sizeof s && s.version == MIDL_ALLOC_STATS_VERSION, "size %u version %u", s.size, s.version);
    return s;
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
    struct midl_alloc_stats tiny = {.size = 4};
    CHECK(midl_alloc_get_stats(&tiny) == -1, "size 4 accepted");
    /* A program that knows only the first fields gets only those. */
    unsigned char old[offsetof(struct midl_alloc_stats, os_committed) + 8];
    memset(old, 0xEE, sizeof old);
    ((struct midl_alloc_stats *)(void *)old)->size = offsetof(struct midl_alloc_stats, os_committed);
    CHECK(midl_alloc_get_stats((struct midl_alloc_stats *)(void *)old) == 0, "short get");
    CHECK(((struct midl_alloc_stats *)(void *)old)->size == offsetof(struct midl_alloc_stats, os_committed),
          "short size");
    for (size_t i = offsetof(struct midl_alloc_stats, os_committed); i < sizeof old; i++)
        CHECK(old[i] == 0xEE, "byte %zu past the caller's size written", i);
    CHECK(midl_alloc_get_class_stats(NULL, 0) == MIDL_ALLOC_CLASS_ROWS, "row count");
    CHECK(midl_alloc_get_class_stats(r0, MIDL_ALLOC_CLASS_ROWS) == MIDL_ALLOC_CLASS_ROWS, "rows");
    CHECK(r0[MIDL_ALLOC_CLASS_ROWS - 1].block_size == 0, "large row");
    struct midl_alloc_stats s0 = get();
    CHECK(s0.class_rows == MIDL_ALLOC_CLASS_ROWS, "class_rows %u", s0.class_rows);
    checks++;

    /* 100-byte requests are served by the 112-byte class. */
    for (int i = 0; i < N; i++) blocks[i] = MIDL_user_allocate(100);
    void *big = MIDL_user_allocate(1 << 20);
    struct midl_alloc_stats s1 = get();
    midl_alloc_get_class_stats(r1, MIDL_ALLOC_CLASS_ROWS);
    const struct midl_alloc_class_stats *a = row_of(r0, 112), *b = row_of(r1, 112);
    CHECK(a && b, "no 112-byte class");
    CHECK(b->allocated - a->allocated == N, "allocated +%llu", (unsigned long long)(b->allocated - a->allocated));
    CHECK(b->live - a->live == N, "live +%llu", (unsigned long long)(b->live - a->live));
    CHECK(b->peak >= b->live, "peak %llu < live %llu", (unsigned long long)b->peak, (unsigned long long)b->live);
    const struct midl_alloc_class_stats *la = &r0[MIDL_ALLOC_CLASS_ROWS - 1], *lb = &r1[MIDL_ALLOC_CLASS_ROWS - 1];
    CHECK(lb->allocated - la->allocated == 1 && lb->live - la->live == 1, "large row");
    CHECK(s1.os_reserved >= s1.os_committed && s1.os_reserved >= (1u << 20) + N * 112, "os figures");
    uint64_t want = (uint64_t)N * 112 + (1u << 20);
    CHECK(s1.thread_allocated_bytes - s0.thread_allocated_bytes >= want, "thread allocated +%llu, want %llu",
          (unsigned long long)(s1.thread_allocated_bytes - s0.thread_allocated_bytes), (unsigned long long)want);
    CHECK(s1.allocated_bytes - s0.allocated_bytes >= want, "allocated gauge +%llu",
          (unsigned long long)(s1.allocated_bytes - s0.allocated_bytes));
    CHECK(s1.large_live >= s0.large_live + (1u << 20), "large_live");
    checks++;

    /* Half freed by another thread, half here. */
    pthread_t t;
    pthread_create(&t, NULL, free_half, NULL);
    pthread_join(t, NULL);
    for (int i = 1; i < N; i += 2) MIDL_user_free(blocks[i]);
    MIDL_user_free(big);
    struct midl_alloc_stats s2 = get();
    midl_alloc_get_class_stats(r1, MIDL_ALLOC_CLASS_ROWS);
    CHECK(b->freed - a->freed == N, "freed +%llu", (unsigned long long)(b->freed - a->freed));
    CHECK(b->live == a->live, "live %llu, was %llu", (unsigned long long)b->live, (unsigned long long)a->live);
    CHECK(b->remote_frees - a->remote_frees == N / 2, "remote +%llu",
          (unsigned long long)(b->remote_frees - a->remote_frees));
    CHECK(b->peak >= a->live + N, "peak %llu", (unsigned long long)b->peak);
    CHECK(lb->freed - la->freed == 1 && lb->live == la->live, "large freed");
    CHECK(s2.thread_freed_bytes - s1.thread_freed_bytes >= want, "thread freed +%llu",
          (unsigned long long)(s2.thread_freed_bytes - s1.thread_freed_bytes));
    CHECK(s2.allocated_bytes <= s1.allocated_bytes - want, "allocated gauge %llu after, %llu before",
          (unsigned long long)s2.allocated_bytes, (unsigned long long)s1.allocated_bytes);
    checks++;

    /* JSON: the length asked first, then the text; truncation as snprintf. */
    size_t len = midl_alloc_stats_json(NULL, 0);
    CHECK(len > 100, "json length %zu", len);
    /* (The buffer's own block may add a class row to the text.) */
    char *json = MIDL_user_allocate(4 * len);
    size_t got = midl_alloc_stats_json(json, 4 * len);
    CHECK(got < 4 * len && strlen(json) == got, "json %zu of %zu", strlen(json), got);
    CHECK(strncmp(json, "{\"version\":2,", 13) == 0 && json[got - 1] == '}', "json: %s", json);
    CHECK(strstr(json, "\"block_size\":112,") && strstr(json, "\"thread\":{\"allocated_bytes\":"), "json: %s", json);
    char small[16];
    CHECK(midl_alloc_stats_json(small, sizeof small) >= got - 64 && strlen(small) == sizeof small - 1, "truncated");
    CHECK(strncmp(small, json, sizeof small - 1) == 0, "truncated text");
    MIDL_user_free(json);
    checks++;

    midl_alloc_print_stats(1);
    printf("%d checks passed\n", checks);
    return 0;
}
