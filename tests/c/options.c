/* Run-time settings from C: the environment's value read back, each
 * option set and read, bad options and values refused with nothing
 * changed, and the exit-time table turned on while running (the test
 * harness checks stderr for it; MIDL_ALLOC_PURGE_DELAY_MS=7 is set). */
#include "check.h"
#include "midl_alloc.h"

int main(void) {
    int checks = 0;
    CHECK(midl_alloc_option_get(MIDL_ALLOC_OPTION_PURGE_DELAY_MS) == 7, "the environment's delay: %lld",
          (long long)midl_alloc_option_get(MIDL_ALLOC_OPTION_PURGE_DELAY_MS));
    CHECK(midl_alloc_option_set(MIDL_ALLOC_OPTION_PURGE_DELAY_MS, 250) == 0, "set delay");
    CHECK(midl_alloc_option_get(MIDL_ALLOC_OPTION_PURGE_DELAY_MS) == 250, "delay read back");
    CHECK(midl_alloc_option_set(MIDL_ALLOC_OPTION_PURGE_DELAY_MS, -1) == -1, "negative delay accepted");
    CHECK(midl_alloc_option_set(MIDL_ALLOC_OPTION_PURGE_DELAY_MS, 86400001) == -1, "delay past a day accepted");
    CHECK(midl_alloc_option_get(MIDL_ALLOC_OPTION_PURGE_DELAY_MS) == 250, "a refused value changed the delay");
    checks++;

    CHECK(midl_alloc_option_get(MIDL_ALLOC_OPTION_HUGE_PAGES) == 1, "huge pages default");
    for (int v = 0; v <= 2; v++) {
        CHECK(midl_alloc_option_set(MIDL_ALLOC_OPTION_HUGE_PAGES, v) == 0, "huge pages %d", v);
        CHECK(midl_alloc_option_get(MIDL_ALLOC_OPTION_HUGE_PAGES) == v, "huge pages read back %d", v);
    }
    CHECK(midl_alloc_option_set(MIDL_ALLOC_OPTION_HUGE_PAGES, 3) == -1, "huge pages 3 accepted");
    CHECK(midl_alloc_option_get(MIDL_ALLOC_OPTION_HUGE_PAGES) == 2, "a refused value changed huge pages");
    checks++;

    CHECK(midl_alloc_option_get(MIDL_ALLOC_OPTION_STATS_AT_EXIT) == 0, "stats at exit default");
    CHECK(midl_alloc_option_set(MIDL_ALLOC_OPTION_STATS_AT_EXIT, 2) == -1, "stats at exit 2 accepted");
    CHECK(midl_alloc_option_set(MIDL_ALLOC_OPTION_STATS_AT_EXIT, 1) == 0, "stats at exit");
    CHECK(midl_alloc_option_get(MIDL_ALLOC_OPTION_STATS_AT_EXIT) == 1, "stats at exit read back");
    checks++;

    CHECK(midl_alloc_option_get(99) == -1 && midl_alloc_option_set(99, 0) == -1, "unknown option");
    CHECK(midl_alloc_option_get(-1) == -1, "negative option");
    checks++;

    void *p = MIDL_user_allocate(100);
    MIDL_user_free(p);
    printf("%d checks passed\n", checks);
    return 0;
}
