/* Syscall-heavy microbenchmark: ns per getpid(2) and per stat(2). */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(void) {
    const int n = 2000000, m = 500000;
    double t0 = now_ns();
    for (int i = 0; i < n; i++) syscall(SYS_getpid);
    double t1 = now_ns();
    struct stat st;
    for (int i = 0; i < m; i++) stat("/usr/bin/env", &st);
    double t2 = now_ns();
    printf("getpid_ns %.1f\nstat_ns %.1f\n", (t1 - t0) / n, (t2 - t1) / m);
    return 0;
}
