/* An RPC-style server loop in C over midl-alloc, the way MIDL stubs use
 * it: worker threads take requests, "unmarshal" each request's parameters
 * with MIDL_user_allocate (half the calls inside a per-call RpcSs
 * environment, released at once with RpcSmDisableAllocate), and hand the
 * reply, allocated with MIDL_user_allocate, to a sender thread that frees
 * it (a free on another thread). At the end it prints the statistics as
 * JSON.
 *
 *   cargo build --release
 *   cc -O2 examples/c/rpc_server.c -Iinclude -Ltarget/release -lmidl_alloc \
 *      -Wl,-rpath,$PWD/target/release -pthread -o rpc_server && ./rpc_server
 */
#include "midl_alloc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORKERS 4
#define CALLS 50000
#define QUEUE 256

struct reply {
    unsigned call;
    size_t len;
    char text[];
};

/* A bounded queue of replies, worker -> sender. */
static struct reply *queue[QUEUE];
static unsigned head, tail, workers_done;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_full = PTHREAD_COND_INITIALIZER, not_empty = PTHREAD_COND_INITIALIZER;

static void send_reply(struct reply *r) {
    pthread_mutex_lock(&lock);
    while (head - tail == QUEUE) pthread_cond_wait(&not_full, &lock);
    queue[head++ % QUEUE] = r;
    pthread_cond_signal(&not_empty);
    pthread_mutex_unlock(&lock);
}

static void *sender(void *arg) {
    unsigned long long *bytes = arg;
    for (;;) {
        pthread_mutex_lock(&lock);
        while (head == tail && workers_done < WORKERS) pthread_cond_wait(&not_empty, &lock);
        if (head == tail) {
            pthread_mutex_unlock(&lock);
            return NULL;
        }
        struct reply *r = queue[tail++ % QUEUE];
        pthread_cond_signal(&not_full);
        pthread_mutex_unlock(&lock);
        if (strlen(r->text) != r->len) abort();
        *bytes += r->len;
        MIDL_user_free(r);
    }
}

/* One call: its parameters (a struct, strings, an array) as a stub
 * unmarshals them, then the reply. */
static struct reply *serve(unsigned call) {
    int in_env = call % 2 == 0;
    if (in_env && RpcSmEnableAllocate() != 0) abort();
    void *(*alloc)(size_t) = in_env ? RpcSsAllocate : MIDL_user_allocate;
    char *params[10];
    unsigned n = call % 8 + 2;
    size_t total = 0;
    for (unsigned i = 0; i < n; i++) {
        size_t size = 16 + (call * 31 + i * 97) % 2000;
        params[i] = alloc(size);
        if (!params[i]) abort();
        memset(params[i], 'a' + (int)(i % 26), size);
        total += size;
    }
    struct reply *r = MIDL_user_allocate(sizeof *r + 64);
    r->call = call;
    r->len = (size_t)snprintf(r->text, 64, "call %u: %u parameters, %zu bytes", call, n, total);
    if (in_env) {
        if (RpcSmDisableAllocate() != 0) abort(); /* every parameter at once */
    } else {
        for (unsigned i = 0; i < n; i++) MIDL_user_free(params[i]);
    }
    return r;
}

static void *worker(void *arg) {
    unsigned w = (unsigned)(size_t)arg;
    for (unsigned call = w; call < CALLS; call += WORKERS) send_reply(serve(call));
    pthread_mutex_lock(&lock);
    workers_done++;
    pthread_cond_broadcast(&not_empty);
    pthread_mutex_unlock(&lock);
    return NULL;
}

int main(void) {
    pthread_t t[WORKERS], s;
    unsigned long long bytes = 0;
    pthread_create(&s, NULL, sender, &bytes);
    for (size_t w = 0; w < WORKERS; w++) pthread_create(&t[w], NULL, worker, (void *)w);
    for (int w = 0; w < WORKERS; w++) pthread_join(t[w], NULL);
    pthread_join(s, NULL);
    printf("%d calls served, %llu bytes of replies sent\n", CALLS, bytes);
    midl_alloc_collect();
    char json[16384];
    size_t len = midl_alloc_stats_json(json, sizeof json);
    printf("%s%s\n", json, len >= sizeof json ? "..." : "");
    return 0;
}
