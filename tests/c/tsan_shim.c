/* Linked only into the ThreadSanitizer build of scripts/tsan.sh: the Rust
 * compiler's LLVM instruments memset/memcpy/memmove as calls to
 * __tsan_memset/__tsan_memcpy/__tsan_memmove, which GCC 12's libtsan (the
 * runtime a C program built with gcc -fsanitize=thread gets) predates.
 * Each forwards to the C function, which that runtime intercepts and
 * checks the same way. */
#include <string.h>

void *__tsan_memset(void *d, int c, size_t n) { return memset(d, c, n); }
void *__tsan_memcpy(void *d, const void *s, size_t n) { return memcpy(d, s, n); }
void *__tsan_memmove(void *d, const void *s, size_t n) { return memmove(d, s, n); }
