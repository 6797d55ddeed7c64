/* fma.c — the host CPU's own f32 FMA throughput with 256-bit vectors (the width llvmpipe compiles for), the
 * reference `convflops peak` on lavapipe is compared with. 12 independent chains x = fma(x, x, c) of __m256
 * (8 lanes) per thread, one thread per core; prints FLOP/s counting 2 FLOPs per FMA lane.
 * Build and run: cc -O3 -funroll-loops -mavx2 -mfma -pthread benches/peers/fma.c -o fma && ./fma [THREADS]
 * (-O3 -funroll-loops keeps the 12 chains in registers; at -O2 they go through the stack and run 2× slower). */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CHAINS 12
#define ITERATIONS 100000000L

static float sink[256];

static void *run(void *arg) {
    long id = (long)arg;
    __m256 c = _mm256_set1_ps(-0.25f);
    __m256 x[CHAINS];
    for (int i = 0; i < CHAINS; i++) x[i] = _mm256_set1_ps(0.01f * (float)(i + id));
    for (long it = 0; it < ITERATIONS; it++) {
        for (int i = 0; i < CHAINS; i++) x[i] = _mm256_fmadd_ps(x[i], x[i], c);
    }
    __m256 s = x[0];
    for (int i = 1; i < CHAINS; i++) s = _mm256_add_ps(s, x[i]);
    float out[8];
    _mm256_storeu_ps(out, s);
    sink[id] = out[0] + out[7];
    return NULL;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    if (threads < 1 || threads > 256) {
        fprintf(stderr, "usage: fma [THREADS]\n");
        return 2;
    }
    pthread_t tid[256];
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long t = 0; t < threads; t++) pthread_create(&tid[t], NULL, run, (void *)t);
    for (int t = 0; t < threads; t++) pthread_join(tid[t], NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double seconds = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
    double flops = 2.0 * 8 * CHAINS * (double)ITERATIONS * threads;
    printf("fma256 %d thread(s): %.3e FLOP/s (%.2f s; sink %g)\n", threads, flops / seconds, seconds, sink[0]);
    return 0;
}
