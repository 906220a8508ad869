/* Runs a function in a forked child and checks that it stops with SIGABRT
 * and that its stderr contains every expected fragment (expect_abort), or
 * that it stops with SIGSEGV or SIGABRT, whatever the message (expect_stop:
 * the allocator's own message, or in a debug build of the library Rust's
 * check of a misaligned pointer, may come before the fault). */
#ifndef MIDL_ALLOC_TEST_CRASH_H
#define MIDL_ALLOC_TEST_CRASH_H

#include "check.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The child's stderr, for the caller to inspect after expect_abort. */
static char crash_output[4096];

/* Returns 1 when the child aborted with the fragments, 0 when it stopped
 * otherwise and any_stop. */
static int expect_stop_impl(const char *name, void (*body)(void), const char **fragments, int any_stop) {
    int fds[2];
    CHECK(pipe(fds) == 0, "pipe");
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        body();
        _exit(0); /* reaching here means the error went unnoticed */
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t r;
    while ((r = read(fds[0], crash_output + len, sizeof crash_output - 1 - len)) > 0) len += (size_t)r;
    crash_output[len] = 0;
    close(fds[0]);
    int status;
    CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
    if (any_stop && WIFSIGNALED(status) && (WTERMSIG(status) == SIGSEGV || WTERMSIG(status) == SIGABRT)) {
        printf("%s: stopped by %s; stderr: %s\n", name, WTERMSIG(status) == SIGSEGV ? "SIGSEGV" : "SIGABRT",
               crash_output);
        return 0;
    }
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
          "%s: child was not stopped by SIGABRT%s (status %#x); stderr: %s", name, any_stop ? " or SIGSEGV" : "",
          status, crash_output);
    for (const char **f = fragments; *f; f++)
        CHECK(strstr(crash_output, *f), "%s: stderr lacks \"%s\": %s", name, *f, crash_output);
    printf("%s: %s", name, crash_output);
    return 1;
}

static inline void expect_abort(const char *name, void (*body)(void), const char **fragments) {
    expect_stop_impl(name, body, fragments, 0);
}

/* The child must not run to the end: it aborts with the fragments, or
 * faults. */
static inline void expect_stop(const char *name, void (*body)(void), const char **fragments) {
    expect_stop_impl(name, body, fragments, 1);
}

#endif
