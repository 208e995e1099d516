/* Startup timing for `make bench`: runs each command RUNS times,
 * interleaved (A B C A B C ...) so that drift in the machine's speed
 * (VM neighbours, background kernel work) hits every command alike, and
 * prints one line per command: name, median ms, mean ms, min ms.
 *
 *   startup_bench [-p MS] RUNS WARMUP NAME 'CMD ARG...' [NAME 'CMD ARG...' ...]
 *
 * -p MS pauses MS milliseconds before each run: what a command costs when
 * it is not run back to back (kernel work deferred to an idle machine,
 * such as RCU grace periods, shows there).
 *
 * Commands are split on spaces (no shell); stdout and stderr go to
 * /dev/null; a command that fails is reported and stops the bench. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static char **split(const char *cmd) {
    char *copy = strdup(cmd);
    char **argv = calloc(strlen(cmd) / 2 + 2, sizeof(char *));
    int n = 0;
    for (char *tok = strtok(copy, " "); tok; tok = strtok(NULL, " "))
        argv[n++] = tok;
    return argv;
}

static double run_once(char **argv, const char *name) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    double t0 = now_ms();
    if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
        fprintf(stderr, "%s: cannot start %s\n", name, argv[0]);
        exit(1);
    }
    int status;
    waitpid(pid, &status, 0);
    double t = now_ms() - t0;
    posix_spawn_file_actions_destroy(&fa);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "%s: exit status %d\n", name, status);
        exit(1);
    }
    return t;
}

int main(int argc, char **argv) {
    int pause_ms = 0;
    if (argc > 2 && strcmp(argv[1], "-p") == 0) {
        pause_ms = atoi(argv[2]);
        argc -= 2;
        argv += 2;
    }
    if (argc < 5 || (argc - 3) % 2) {
        fprintf(stderr, "usage: startup_bench [-p MS] RUNS WARMUP NAME 'CMD...' [NAME 'CMD...' ...]\n");
        return 2;
    }
    int runs = atoi(argv[1]), warmup = atoi(argv[2]), k = (argc - 3) / 2;
    char **names = argv + 3;
    char ***cmds = calloc(k, sizeof(char **));
    double **times = calloc(k, sizeof(double *));
    for (int c = 0; c < k; c++) {
        cmds[c] = split(names[2 * c + 1]);
        times[c] = calloc(runs, sizeof(double));
    }
    for (int i = 0; i < warmup; i++)
        for (int c = 0; c < k; c++)
            run_once(cmds[c], names[2 * c]);
    for (int i = 0; i < runs; i++)
        for (int c = 0; c < k; c++) {
            if (pause_ms)
                usleep(pause_ms * 1000);
            times[c][i] = run_once(cmds[c], names[2 * c]);
        }
    for (int c = 0; c < k; c++) {
        double sum = 0;
        for (int i = 0; i < runs; i++)
            sum += times[c][i];
        qsort(times[c], runs, sizeof(double), cmp);
        printf("%s\t%.3f\t%.3f\t%.3f\n", names[2 * c], times[c][runs / 2], sum / runs, times[c][0]);
    }
    return 0;
}
