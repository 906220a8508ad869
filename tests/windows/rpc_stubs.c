/* Real MIDL stubs over midl-alloc: the client and server stubs that Wine's
 * widl generates from midltest.idl, in one process over ncalrpc, with a
 * server whose call threads are the RPC runtime's and several client
 * threads. Every parameter the NDR engine unmarshals (structures with
 * conformant arrays, strings, wide strings, [unique] pointers, linked lists,
 * [out] pointers to pointers) it allocates through MIDL_user_allocate and
 * frees through MIDL_user_free; this program defines neither, so the stubs
 * are bound to midl-alloc's. Every byte is checked on both sides. What the
 * clients fetch is freed by another thread: some while the client runs,
 * the rest after it exited. At the end the statistics must show every
 * block freed, and at least as many blocks as the calls unmarshalled. */
#include <windows.h>
#include <rpc.h>

#include "midltest.h"
#include "midl_alloc.h"
#include "check.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define CLIENTS 4
#define ROUNDS 500 /* per client: a Send and a Fetch each */
#define ENDPOINT "midl_alloc_test"

/* ---- deterministic contents, from a seed ---- */

static size_t name_len(long s) { return 1 + (size_t)(s % 40); }
static char name_char(long s, size_t i) { return (char)('a' + (s + (long)i) % 26); }
static size_t wide_len(long s) { return 1 + (size_t)(s % 30); }
static wchar_t wide_char(long s, size_t i) { return (wchar_t)(0x100 + (s * 3 + (long)i) % 700); }
static long value_count(long s) { return 1 + s % 300; }
static long value_at(long s, long i) { return s * 31 + i; }
static int node_count(long s) { return (int)(s % 8); }
static size_t label_len(int k) { return k % 3 == 2 ? 0 : (size_t)(1 + k % 5); } /* 0: NULL label */
static char label_char(long s, int k, size_t i) { return (char)('A' + (s + k + (long)i) % 26); }
/* Mostly small blobs, every 17th of 64 KiB and more (a larger size class). */
static long blob_len(long s) { return s % 17 == 0 ? 65536 + s % 1000 : s % 3000; }
static unsigned char blob_byte(long s, long i) { return (unsigned char)(s * 7 + i * 13); }

typedef void *(*alloc_fn)(size_t);

static char *make_string(long s, size_t n, char (*at)(long, size_t), alloc_fn a) {
    char *p = a(n + 1);
    CHECK(p, "allocate string");
    for (size_t i = 0; i < n; i++) p[i] = at(s, i);
    p[n] = 0;
    return p;
}

static Record *make_record(long s, alloc_fn a) {
    Record *r = a(sizeof *r);
    CHECK(r, "allocate record");
    r->id = s;
    r->name = make_string(s, name_len(s), name_char, a);
    size_t wn = wide_len(s);
    r->wide_name = a((wn + 1) * sizeof(wchar_t));
    CHECK(r->wide_name, "allocate wide name");
    for (size_t i = 0; i < wn; i++) r->wide_name[i] = wide_char(s, i);
    r->wide_name[wn] = 0;
    r->count = value_count(s);
    r->values = a((size_t)r->count * sizeof(LONG));
    CHECK(r->values, "allocate values");
    for (long i = 0; i < r->count; i++) r->values[i] = value_at(s, i);
    return r;
}

static Node *make_list(long s, alloc_fn a) {
    Node *head = NULL;
    for (int k = node_count(s) - 1; k >= 0; k--) {
        Node *n = a(sizeof *n);
        CHECK(n, "allocate node");
        n->value = s + k;
        size_t ln = label_len(k);
        n->label = NULL;
        if (ln) {
            n->label = a(ln + 1);
            CHECK(n->label, "allocate label");
            for (size_t i = 0; i < ln; i++) n->label[i] = label_char(s, k, i);
            n->label[ln] = 0;
        }
        n->next = head;
        head = n;
    }
    return head;
}

static Blob *make_blob(long s, alloc_fn a) {
    long n = blob_len(s);
    Blob *b = a(offsetof(Blob, data) + (size_t)n + 1);
    CHECK(b, "allocate blob");
    b->length = n;
    for (long i = 0; i < n; i++) b->data[i] = blob_byte(s, i);
    return b;
}

static void check_record(long s, const Record *r) {
    CHECK(r && r->id == s, "record id %ld, expected %ld", r ? (long)r->id : -1L, s);
    CHECK(r->name && strlen(r->name) == name_len(s), "name of %ld", s);
    for (size_t i = 0; i < name_len(s); i++) CHECK(r->name[i] == name_char(s, i), "name byte %zu of %ld", i, s);
    CHECK(r->wide_name && wcslen(r->wide_name) == wide_len(s), "wide name of %ld", s);
    for (size_t i = 0; i < wide_len(s); i++)
        CHECK(r->wide_name[i] == wide_char(s, i), "wide name char %zu of %ld", i, s);
    CHECK(r->count == value_count(s) && r->values, "values of %ld", s);
    for (long i = 0; i < r->count; i++) CHECK(r->values[i] == value_at(s, i), "value %ld of %ld", i, s);
}

static void check_list(long s, const Node *n) {
    for (int k = 0; k < node_count(s); k++, n = n->next) {
        CHECK(n && n->value == s + k, "node %d of %ld", k, s);
        size_t ln = label_len(k);
        CHECK(ln ? n->label && strlen(n->label) == ln : n->label == NULL, "label %d of %ld", k, s);
        for (size_t i = 0; i < ln; i++) CHECK(n->label[i] == label_char(s, k, i), "label byte of %ld", s);
    }
    CHECK(n == NULL, "list of %ld too long", s);
}

static void check_blob(long s, const Blob *b) {
    CHECK(b && b->length == blob_len(s), "blob length of %ld", s);
    for (long i = 0; i < b->length; i++) CHECK(b->data[i] == blob_byte(s, i), "blob byte %ld of %ld", i, s);
}

/* What both sides compute of a seed's data. */
static LONG checksum(long s) { return (LONG)(s * 2654435761u ^ (unsigned long)blob_len(s)); }

static void note_for(long s, wchar_t *out, size_t cap) { _snwprintf(out, cap, L"note-%ld-\x263A", s); }

static void free_record(Record *r, void (*f)(void *)) {
    f(r->name);
    f(r->wide_name);
    f(r->values);
    f(r);
}

static void free_list(Node *n, void (*f)(void *)) {
    while (n) {
        Node *next = n->next;
        f(n->label); /* NULL is fine */
        f(n);
        n = next;
    }
}

/* ---- the server's procedures (the stubs call these) ---- */

static volatile LONG server_calls;

LONG __cdecl Send(handle_t binding, const Record *record, Node *list, Blob *blob, const wchar_t *note) {
    (void)binding;
    long s = record->id;
    check_record(s, record);
    check_list(s, list);
    check_blob(s, blob);
    wchar_t expect[64];
    note_for(s, expect, 64);
    CHECK(wcscmp(note, expect) == 0, "note of %ld", s);
    InterlockedIncrement(&server_calls);
    return checksum(s);
}

LONG __cdecl Fetch(handle_t binding, LONG seed, Record **record, Node **list, Blob **blob) {
    (void)binding;
    /* [out] data the server stub frees (MIDL_user_free) after marshalling. */
    *record = make_record(seed, MIDL_user_allocate);
    *list = make_list(seed, MIDL_user_allocate);
    *blob = make_blob(seed, MIDL_user_allocate);
    InterlockedIncrement(&server_calls);
    return checksum(seed);
}

/* ---- fetched data, freed by other threads ---- */

typedef struct Fetched {
    Record *record;
    Node *list;
    Blob *blob;
    long seed;
} Fetched;

#define QUEUE_CAP (CLIENTS * ROUNDS)
static Fetched queue[QUEUE_CAP];
static LONG queued, freed_live, freed_after_exit;
static CRITICAL_SECTION queue_lock;
static volatile LONG clients_done;

static void free_fetched(Fetched *f) {
    /* Checked again: nothing overwrote it while it waited. */
    check_record(f->seed, f->record);
    check_list(f->seed, f->list);
    check_blob(f->seed, f->blob);
    free_record(f->record, MIDL_user_free);
    free_list(f->list, MIDL_user_free);
    MIDL_user_free(f->blob);
}

/* Frees every other queued item while the clients run. */
static DWORD WINAPI live_freer(void *arg) {
    (void)arg;
    LONG next = 0;
    for (;;) {
        EnterCriticalSection(&queue_lock);
        LONG n = queued;
        LeaveCriticalSection(&queue_lock);
        if (next + 1 < n) {
            free_fetched(&queue[next]);
            queue[next].record = NULL;
            freed_live++;
            next += 2;
        } else if (clients_done == CLIENTS) {
            return 0;
        } else {
            Sleep(0);
        }
    }
}

/* Frees the rest, once every client thread has exited. */
static DWORD WINAPI late_freer(void *arg) {
    (void)arg;
    for (LONG i = 0; i < queued; i++) {
        if (queue[i].record) {
            free_fetched(&queue[i]);
            queue[i].record = NULL;
            freed_after_exit++;
        }
    }
    return 0;
}

/* ---- client threads ---- */

static void *heap_alloc(size_t n) { return HeapAlloc(GetProcessHeap(), 0, n); }
static void heap_free(void *p) {
    if (p) HeapFree(GetProcessHeap(), 0, p);
}

static DWORD WINAPI client(void *arg) {
    long t = (long)(intptr_t)arg;
    RPC_CSTR str = NULL;
    handle_t h = NULL;
    CHECK(RpcStringBindingComposeA(NULL, (RPC_CSTR) "ncalrpc", NULL, (RPC_CSTR)ENDPOINT, NULL, &str) == RPC_S_OK,
          "compose binding");
    CHECK(RpcBindingFromStringBindingA(str, &h) == RPC_S_OK, "binding");
    RpcStringFreeA(&str);
    for (long r = 0; r < ROUNDS; r++) {
        long s = 1 + t * 100000 + r;
        /* [in]: the client's own data, from the process heap. */
        Record *rec = make_record(s, heap_alloc);
        Node *list = make_list(s, heap_alloc);
        Blob *blob = make_blob(s, heap_alloc);
        wchar_t note[64];
        note_for(s, note, 64);
        CHECK(c_Send(h, rec, list, blob, note) == checksum(s), "Send %ld", s);
        free_record(rec, heap_free);
        free_list(list, heap_free);
        heap_free(blob);

        /* [out]: allocated by the client stub, handed to another thread. */
        long f = s + 50000;
        Fetched out = {NULL, NULL, NULL, f};
        CHECK(c_Fetch(h, f, &out.record, &out.list, &out.blob) == checksum(f), "Fetch %ld", f);
        check_record(f, out.record);
        check_list(f, out.list);
        check_blob(f, out.blob);
        EnterCriticalSection(&queue_lock);
        queue[queued] = out;
        queued++;
        LeaveCriticalSection(&queue_lock);
    }
    RpcBindingFree(&h);
    InterlockedIncrement(&clients_done);
    return 0;
}

static void join(HANDLE *th, int n) {
    CHECK(WaitForMultipleObjects((DWORD)n, th, TRUE, INFINITE) == WAIT_OBJECT_0, "join");
    for (int i = 0; i < n; i++) CloseHandle(th[i]);
}

int main(void) {
    InitializeCriticalSection(&queue_lock);
    static struct midl_alloc_class_stats before[MIDL_ALLOC_CLASS_ROWS], after[MIDL_ALLOC_CLASS_ROWS];
    CHECK(midl_alloc_get_class_stats(before, MIDL_ALLOC_CLASS_ROWS) == MIDL_ALLOC_CLASS_ROWS, "stats");

    CHECK(RpcServerUseProtseqEpA((RPC_CSTR) "ncalrpc", 16, (RPC_CSTR)ENDPOINT, NULL) == RPC_S_OK, "protseq");
    CHECK(RpcServerRegisterIf(MidlTest_v1_0_s_ifspec, NULL, NULL) == RPC_S_OK, "register");
    CHECK(RpcServerListen(1, 16, TRUE) == RPC_S_OK, "listen");

    HANDLE th[CLIENTS + 1];
    for (int t = 0; t < CLIENTS; t++) th[t] = CreateThread(NULL, 0, client, (void *)(intptr_t)t, 0, NULL);
    th[CLIENTS] = CreateThread(NULL, 0, live_freer, NULL, 0, NULL);
    join(th, CLIENTS + 1);
    /* Every client thread has exited: free what it received and left. */
    th[0] = CreateThread(NULL, 0, late_freer, NULL, 0, NULL);
    join(th, 1);

    CHECK(RpcMgmtStopServerListening(NULL) == RPC_S_OK, "stop");
    RpcMgmtWaitServerListen();
    RpcServerUnregisterIf(NULL, NULL, FALSE);

    CHECK(server_calls == 2 * CLIENTS * ROUNDS, "server calls %ld", (long)server_calls);
    CHECK(freed_live + freed_after_exit == CLIENTS * ROUNDS && freed_live > 0 && freed_after_exit > 0,
          "freed %ld live, %ld after exit", (long)freed_live, (long)freed_after_exit);

    /* Blocks freed into the heaps of exited client threads count as freed
     * once a heap adopts those segments: midl_alloc_collect does it now.
     * What the RPC runtime's own threads (parked in Wine's rpcrt4)
     * allocated and freed counts at their next slow path or exit; under
     * Wine 8 they wake about 5 s after the last call. So wait, up to a
     * minute, for every block to be counted freed. (The harness checks the
     * table printed at exit too.) */
    uint64_t allocated = 0, live = 0;
    DWORD start = GetTickCount();
    for (;;) {
        midl_alloc_collect();
        CHECK(midl_alloc_get_class_stats(after, MIDL_ALLOC_CLASS_ROWS) == MIDL_ALLOC_CLASS_ROWS, "stats");
        allocated = live = 0;
        for (uint32_t c = 0; c < MIDL_ALLOC_CLASS_ROWS; c++) {
            allocated += after[c].allocated - before[c].allocated;
            live += after[c].live;
        }
        if (live == 0 || GetTickCount() - start > 60000) break;
        Sleep(250);
    }
    printf("rpc stubs: %d calls, %llu blocks through MIDL_user_allocate, %ld freed by a live thread, %ld after "
           "the receiving thread exited; %llu live after %lu ms\n",
           2 * CLIENTS * ROUNDS, (unsigned long long)allocated, (long)freed_live, (long)freed_after_exit,
           (unsigned long long)live, (unsigned long)(GetTickCount() - start));
    CHECK(live == 0, "%llu blocks still live", (unsigned long long)live);
    /* Each Send unmarshals (server side) at least the record's strings and
     * values; each Fetch allocates on both sides. */
    uint64_t least = (uint64_t)CLIENTS * ROUNDS * 6;
    CHECK(allocated >= least, "only %llu blocks through midl-alloc: are the stubs bound to it?",
          (unsigned long long)allocated);
    printf("rpc stubs: checks passed\n");
    return 0;
}
