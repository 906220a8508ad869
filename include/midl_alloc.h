/* midl-alloc: the C interface.
 *
 * Link with -lmidl_alloc (target/<profile>/libmidl_alloc.so or .a).
 * Contract (see README.md): blocks are 16-byte aligned for sizes >= 16 and
 * 8-byte aligned below; a size of 0 gives a distinct, freeable block; NULL is
 * returned when memory cannot be supplied (never an abort); freeing NULL does
 * nothing; any thread may free any block, also after the allocating thread
 * exited. The functions never unwind.
 */
#ifndef MIDL_ALLOC_H
#define MIDL_ALLOC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

void *MIDL_user_allocate(size_t cBytes);
void  MIDL_user_free(void *pBuffer);

/* rpcndr.h's lower-case spellings of the same functions. */
void *midl_user_allocate(size_t cBytes);
void  midl_user_free(void *pBuffer);

/* Bytes usable in a live block (>= the size asked for); 0 for NULL. */
size_t midl_alloc_usable_size(const void *pBuffer);

#ifdef __cplusplus
}
#endif

#endif /* MIDL_ALLOC_H */
