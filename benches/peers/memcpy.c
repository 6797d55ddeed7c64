/* memcpy.c — the host's plain memcpy bandwidth, the baseline `convflops peak` bandwidth is compared with.
 * Copies a buffer of SIZE_MIB MiB (default 128, the buffer `convflops peak` uses on lavapipe) REPEATS times per
 * sample, 7 samples, and prints the median in bytes/s counting bytes read + bytes written (the convention of
 * `convflops peak`'s copy figure). One thread, and also one thread per core (--threads N) over disjoint halves.
 * Build and run: benches/peers/host_ceilings.sh */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct { char *dst; const char *src; size_t bytes; int repeats; } job_t;

static void *copy_job(void *arg) {
    job_t *job = arg;
    for (int r = 0; r < job->repeats; r++) {
        memcpy(job->dst, job->src, job->bytes);
        __asm__ volatile("" : : "r"(job->dst) : "memory");
    }
    return NULL;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 128;
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    if (mib == 0 || threads < 1 || threads > 256) {
        fprintf(stderr, "usage: memcpy [SIZE_MIB] [THREADS]\n");
        return 2;
    }
    size_t bytes = mib << 20;
    char *src = malloc(bytes), *dst = malloc(bytes);
    if (!src || !dst) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < bytes; i++) src[i] = (char)(i * 2654435761u >> 24);
    memset(dst, 1, bytes);
    const int repeats = 4, samples = 7;
    double rates[7];
    pthread_t tid[256];
    job_t jobs[256];
    size_t part = bytes / threads;
    for (int s = 0; s < samples; s++) {
        double start = now();
        for (int t = 0; t < threads; t++) {
            jobs[t] = (job_t){dst + t * part, src + t * part, part, repeats};
            pthread_create(&tid[t], NULL, copy_job, &jobs[t]);
        }
        for (int t = 0; t < threads; t++) pthread_join(tid[t], NULL);
        double seconds = now() - start;
        rates[s] = 2.0 * (double)part * threads * repeats / seconds;
    }
    qsort(rates, samples, sizeof rates[0], cmp);
    printf("memcpy %zu MiB, %d thread(s): median %.3e bytes/s (read + write), min %.3e, max %.3e\n", mib, threads,
           rates[samples / 2], rates[0], rates[samples - 1]);
    free(src);
    free(dst);
    return 0;
}
