/* midl-alloc: the C interface.
 *
 * Linux: link with -lmidl_alloc (target/<profile>/libmidl_alloc.so or .a).
 * Windows (x86-64): link with target/windows/libmidl_alloc.dll.a (MinGW)
 * or a .lib made from include/midl_alloc.def (MSVC), placed before
 * rpcrt4, or statically with target/windows/libmidl_alloc.a
 * (docs/WINDOWS.md). On Windows this header includes <rpc.h> and
 * <rpcndr.h> and takes MIDL_user_allocate, MIDL_user_free, the RpcSs and
 * RpcSm functions and their types from them; it declares only the
 * extensions below, so it may come before or after them.
 * Contract (see docs/CONTRACT.md): blocks are 16-byte aligned for sizes >= 16 and
 * 8-byte aligned below; a size of 0 gives a distinct, freeable block; NULL is
 * returned when memory cannot be supplied (never an abort); freeing NULL does
 * nothing; any thread may free any block, also after the allocating thread
 * exited. The functions never unwind.
 */
#ifndef MIDL_ALLOC_H
#define MIDL_ALLOC_H

#include <stddef.h>
#include <stdint.h>
#ifdef _WIN32
#include <rpc.h>
#include <rpcndr.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this header; midl_alloc_version() returns the library's,
 * in the same encoding (major << 16 | minor << 8 | patch). */
#define MIDL_ALLOC_VERSION_MAJOR 0
#define MIDL_ALLOC_VERSION_MINOR 1
#define MIDL_ALLOC_VERSION_PATCH 0
#define MIDL_ALLOC_VERSION \
    ((MIDL_ALLOC_VERSION_MAJOR << 16) | (MIDL_ALLOC_VERSION_MINOR << 8) | MIDL_ALLOC_VERSION_PATCH)
uint32_t midl_alloc_version(void);

#ifndef _WIN32
void *MIDL_user_allocate(size_t cBytes);
void  MIDL_user_free(void *pBuffer);

/* rpcndr.h's lower-case spellings of the same functions. */
void *midl_user_allocate(size_t cBytes);
void  midl_user_free(void *pBuffer);
#endif

/* Bytes usable in a live block (>= the size asked for); 0 for NULL. */
size_t midl_alloc_usable_size(const void *pBuffer);

/* ---- Statistics ----------------------------------------------------------
 * Counts are exact for the calling thread and for exited threads; another
 * live thread's most recent blocks (about one page run per class) are
 * counted at its next slow path. A block freed by another thread counts as
 * freed once the page's owner has collected it. MIDL_ALLOC_STATS=1 in the
 * environment (or MIDL_ALLOC_OPTION_STATS_AT_EXIT) prints the table to
 * stderr at exit. */

/* The version of struct midl_alloc_stats and of the JSON shape this header
 * describes; fields are only ever added at the end of the struct. */
#define MIDL_ALLOC_STATS_VERSION 2
/* Rows of midl_alloc_get_class_stats in this release (one per size class,
 * then large objects); a program may ask the library for its count. */
#define MIDL_ALLOC_CLASS_ROWS 129

struct midl_alloc_class_stats {
    uint64_t block_size;   /* bytes; 0 for the large-object row */
    uint64_t allocated;    /* blocks handed out since start */
    uint64_t freed;        /* blocks freed since start */
    uint64_t live;         /* allocated - freed */
    uint64_t peak;         /* highest live seen */
    uint64_t remote_frees; /* of freed: by a thread other than the owner */
};

struct midl_alloc_stats {
    uint32_t size;    /* in: sizeof(struct midl_alloc_stats); out: bytes filled */
    uint32_t version; /* out: the library's MIDL_ALLOC_STATS_VERSION */
    uint64_t os_reserved;        /* bytes mapped from the OS now */
    uint64_t os_committed;       /* of those, bytes not given back (upper bound of resident) */
    uint64_t os_returned;        /* bytes given back to the OS since start */
    uint64_t segments_abandoned; /* segments left by exited threads with live blocks */
    uint64_t segments_adopted;   /* of those, taken over by live threads */
    uint64_t large_reused;       /* large objects placed in earlier ones' memory */
    uint64_t large_resized;      /* large objects realloc resized without copying */
    uint64_t large_cached;       /* bytes of freed large objects kept for reuse */
    uint64_t large_live;         /* bytes of live large objects' ranges */
    uint64_t allocated_bytes;    /* bytes allocated now: slab blocks + large_live */
    uint64_t thread_allocated_bytes; /* the calling thread's blocks, since it started */
    uint64_t thread_freed_bytes;     /* of those (and large objects it freed), freed */
    uint32_t class_rows;         /* rows midl_alloc_get_class_stats has */
    uint32_t reserved_;
};

/* Fills *out up to out->size bytes (set it to sizeof *out first): a
 * program built against an older header gets the fields it knows. Returns
 * 0, or -1 if out is NULL or out->size < 8. */
int midl_alloc_get_stats(struct midl_alloc_stats *out);
/* Fills up to capacity rows and returns how many there are (rows may be
 * NULL with capacity 0, to ask). */
size_t midl_alloc_get_class_stats(struct midl_alloc_class_stats *rows, size_t capacity);
/* The statistics as one JSON object, written as snprintf would (at most
 * len - 1 bytes and a NUL); returns the whole text's length, so a result
 * >= len asks for a larger buffer. Allocates nothing. */
size_t midl_alloc_stats_json(char *buf, size_t len);
/* Gives back to the OS, now, what the calling thread can reach: its own
 * retired memory, and every segment left by exited threads (adopted; the
 * blocks freed into them since are then counted as freed). Other live
 * threads' memory goes back at their own maintenance (within the purge
 * delay). */
void midl_alloc_collect(void);
/* Writes the statistics as a table to file descriptor fd (2: stderr),
 * without allocating. */
void midl_alloc_print_stats(int fd);

/* ---- Run-time settings ---------------------------------------------------
 * The settings the environment gives at start, changed while running; a
 * value set here wins over the environment's. midl_alloc_option_set
 * returns 0, or -1 (nothing changed) for an unknown option or a value out
 * of range; midl_alloc_option_get returns the value, or -1 for an unknown
 * option. */
/* Milliseconds freed memory waits before it goes back to the OS, 0 to
 * 86400000 (MIDL_ALLOC_PURGE_DELAY_MS, default 100); each thread takes a
 * new value at its next maintenance pass. */
#define MIDL_ALLOC_OPTION_PURGE_DELAY_MS 0
/* Transparent huge pages: 0 never, 1 fresh large buffers of 4-64 MiB (the
 * default), 2 new segments and large objects from 4 MiB too
 * (MIDL_ALLOC_HUGE_PAGES). */
#define MIDL_ALLOC_OPTION_HUGE_PAGES 1
/* 1: print the statistics table to stderr at exit (MIDL_ALLOC_STATS). */
#define MIDL_ALLOC_OPTION_STATS_AT_EXIT 2
int midl_alloc_option_set(int option, int64_t value);
int64_t midl_alloc_option_get(int option);

/* ---- The RpcSs memory management package --------------------------------
 * An allocation environment: every block allocated in it is freed at once by
 * Disable. Threads share one through Get/SetThreadHandle. Where Windows
 * raises an exception (the Ss forms), these return NULL or do nothing; the
 * Sm forms report an RPC_STATUS. Misuse (no environment, a disabled or
 * unknown handle, a pointer that is not a live block of the environment, a
 * second Disable) gives RPC_S_INVALID_ARG and changes nothing. A thread must
 * not use an environment while another thread disables it. On Windows the
 * declarations are rpcndr.h's. */
#ifndef _WIN32
typedef int32_t RPC_STATUS;
#define RPC_S_OK            0
#define RPC_S_OUT_OF_MEMORY 14
#define RPC_X_NO_MEMORY     RPC_S_OUT_OF_MEMORY
#define RPC_S_INVALID_ARG   87

typedef void *RPC_SS_THREAD_HANDLE;
typedef void *RPC_CLIENT_ALLOC(size_t Size);
typedef void  RPC_CLIENT_FREE(void *Ptr);

void  RpcSsEnableAllocate(void);
void  RpcSsDisableAllocate(void);
void *RpcSsAllocate(size_t Size);
void  RpcSsFree(void *NodeToFree);
RPC_SS_THREAD_HANDLE RpcSsGetThreadHandle(void);
void  RpcSsSetThreadHandle(RPC_SS_THREAD_HANDLE Id);
void  RpcSsSetClientAllocFree(RPC_CLIENT_ALLOC *ClientAlloc, RPC_CLIENT_FREE *ClientFree);
void  RpcSsSwapClientAllocFree(RPC_CLIENT_ALLOC *ClientAlloc, RPC_CLIENT_FREE *ClientFree,
                               RPC_CLIENT_ALLOC **OldClientAlloc, RPC_CLIENT_FREE **OldClientFree);

RPC_STATUS RpcSmEnableAllocate(void);
RPC_STATUS RpcSmDisableAllocate(void);
void      *RpcSmAllocate(size_t Size, RPC_STATUS *pStatus);
RPC_STATUS RpcSmFree(void *NodeToFree);
RPC_SS_THREAD_HANDLE RpcSmGetThreadHandle(RPC_STATUS *pStatus);
RPC_STATUS RpcSmSetThreadHandle(RPC_SS_THREAD_HANDLE Id);
RPC_STATUS RpcSmSetClientAllocFree(RPC_CLIENT_ALLOC *ClientAlloc, RPC_CLIENT_FREE *ClientFree);
RPC_STATUS RpcSmSwapClientAllocFree(RPC_CLIENT_ALLOC *ClientAlloc, RPC_CLIENT_FREE *ClientFree,
                                    RPC_CLIENT_ALLOC **OldClientAlloc, RPC_CLIENT_FREE **OldClientFree);
RPC_STATUS RpcSmClientFree(void *pNodeToFree);
#endif /* !_WIN32 */

#ifdef __cplusplus
}
#endif

#endif /* MIDL_ALLOC_H */
