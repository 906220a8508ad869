/* Under Wine: the cost of MIDL_user_allocate / MIDL_user_free on the RPC
 * path, one allocator per build of this file (scripts/windows-bench.sh):
 *   default          midl-alloc (linked: the stubs bind to its exports)
 *   -DUSER_HEAP      MIDL_user_allocate written the usual way, HeapAlloc
 *                    on the process heap
 *   -DUSER_MALLOC    MIDL_user_allocate as malloc (the C runtime's heap)
 * Two workloads, printed as nanoseconds per call:
 *   stubs   a client thread calling Fetch and Send (tests/windows/
 *           midltest.idl) on an in-process ncalrpc server: the widl
 *           stubs and Wine's NDR engine allocate every parameter;
 *   micro   the allocations of one such call without the RPC runtime: a
 *           record, two strings, an array, a list of nodes with labels
 *           and a blob, allocated in order and freed in order.
 * Wine's heap is not Windows' heap: these are ratios under Wine only. */
#include <windows.h>
#include <rpc.h>

#include "midltest.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(USER_HEAP)
void *__RPC_USER MIDL_user_allocate(size_t n) { return HeapAlloc(GetProcessHeap(), 0, n); }
void __RPC_USER MIDL_user_free(void *p) {
    if (p) HeapFree(GetProcessHeap(), 0, p);
}
#define NAME "HeapAlloc"
#elif defined(USER_MALLOC)
void *__RPC_USER MIDL_user_allocate(size_t n) { return malloc(n); }
void __RPC_USER MIDL_user_free(void *p) { free(p); }
#define NAME "malloc"
#else
#include "midl_alloc.h"
#define NAME "midl-alloc"
#endif

#define ENDPOINT "midl_alloc_bench"

static Record *make_record(long s) {
    Record *r = MIDL_user_allocate(sizeof *r);
    size_t n = 1 + (size_t)(s % 40), wn = 1 + (size_t)(s % 30);
    r->id = s;
    r->name = MIDL_user_allocate(n + 1);
    memset(r->name, 'a', n);
    r->name[n] = 0;
    r->wide_name = MIDL_user_allocate((wn + 1) * sizeof(wchar_t));
    for (size_t i = 0; i < wn; i++) r->wide_name[i] = L'w';
    r->wide_name[wn] = 0;
    r->count = 1 + s % 64;
    r->values = MIDL_user_allocate((size_t)r->count * sizeof(LONG));
    for (long i = 0; i < r->count; i++) r->values[i] = s + i;
    return r;
}

static Node *make_list(long s) {
    Node *head = NULL;
    for (int k = (int)(s % 6); k > 0; k--) {
        Node *n = MIDL_user_allocate(sizeof *n);
        n->value = k;
        n->label = MIDL_user_allocate(8);
        memcpy(n->label, "label-k", 8);
        n->next = head;
        head = n;
    }
    return head;
}

static Blob *make_blob(long s) {
    long n = 16 + s % 512;
    Blob *b = MIDL_user_allocate(offsetof(Blob, data) + (size_t)n);
    b->length = n;
    memset(b->data, (int)s, (size_t)n);
    return b;
}

static void free_all(Record *r, Node *n, Blob *b) {
    MIDL_user_free(r->name);
    MIDL_user_free(r->wide_name);
    MIDL_user_free(r->values);
    MIDL_user_free(r);
    while (n) {
        Node *next = n->next;
        MIDL_user_free(n->label);
        MIDL_user_free(n);
        n = next;
    }
    MIDL_user_free(b);
}

LONG __cdecl Send(handle_t h, const Record *record, Node *list, Blob *blob, const wchar_t *note) {
    (void)h;
    (void)list;
    (void)note;
    return record->id + blob->length;
}

LONG __cdecl Fetch(handle_t h, LONG seed, Record **record, Node **list, Blob **blob) {
    (void)h;
    *record = make_record(seed);
    *list = make_list(seed);
    *blob = make_blob(seed);
    return seed;
}

static double now_ns(void) {
    LARGE_INTEGER c, f;
    QueryPerformanceCounter(&c);
    QueryPerformanceFrequency(&f);
    return (double)c.QuadPart * 1e9 / (double)f.QuadPart;
}

int main(int argc, char **argv) {
    long calls = argc > 1 ? atol(argv[1]) : 20000;
    long micro = argc > 2 ? atol(argv[2]) : 2000000;
    if (RpcServerUseProtseqEpA((RPC_CSTR) "ncalrpc", 4, (RPC_CSTR)ENDPOINT, NULL) != RPC_S_OK ||
        RpcServerRegisterIf(MidlTest_v1_0_s_ifspec, NULL, NULL) != RPC_S_OK || RpcServerListen(1, 4, TRUE) != RPC_S_OK) {
        fprintf(stderr, "server setup failed\n");
        return 1;
    }
    RPC_CSTR str;
    handle_t h;
    RpcStringBindingComposeA(NULL, (RPC_CSTR) "ncalrpc", NULL, (RPC_CSTR)ENDPOINT, NULL, &str);
    RpcBindingFromStringBindingA(str, &h);
    RpcStringFreeA(&str);
    long sum = 0;
    double t0 = now_ns();
    for (long i = 0; i < calls; i++) {
        Record *r = NULL; /* [out]: NULL, or the stub fills what it points at */
        Node *n = NULL;
        Blob *b = NULL;
        sum += c_Fetch(h, i, &r, &n, &b);
        sum += c_Send(h, r, n, b, L"note");
        free_all(r, n, b);
    }
    double stubs = (now_ns() - t0) / (double)(2 * calls);
    t0 = now_ns();
    for (long i = 0; i < micro; i++) {
        Record *r = make_record(i);
        Node *n = make_list(i);
        Blob *b = make_blob(i);
        sum += r->id + b->length;
        free_all(r, n, b);
    }
    double us = (now_ns() - t0) / (double)micro;
    printf("%s stubs %.1f micro %.1f (checksum %ld)\n", NAME, stubs, us, sum);
    RpcBindingFree(&h);
    RpcMgmtStopServerListening(NULL);
    return 0;
}
