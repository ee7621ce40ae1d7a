/* Peak arithmetic throughput of this machine's cores: int8 AVX-512 VNNI (vpdpbusd), the int8
 * AVX2 / AVX-512BW fallback (vpmaddubsw + vpmaddwd + vpaddd) and fp32 FMA, for 1 and 2 threads
 * (or those given), as the roof against which ptq's int8 kernels are measured
 * (bench/bench_int8.py compiles and runs it; docs/bench_int8.md).
 *
 * Each kernel is an inline-asm loop of 12 (6 for AVX2, which has 16 ymm registers)
 * independent accumulator chains: no loads, no stores, no dependency between the chains, so
 * it runs at the issue rate of the instruction and not at its latency. Ops are counted as
 * 2 per multiply-accumulate:
 *   vpdpbusd zmm                        64 u8 x s8 MACs = 128 ops
 *   vpdpbusd ymm (AVX512VL)             32 MACs          =  64 ops
 *   vpmaddubsw+vpmaddwd+vpaddd zmm      64 MACs          = 128 ops (3 instructions)
 *   vpmaddubsw+vpmaddwd+vpaddd ymm      32 MACs          =  64 ops (3 instructions)
 *   vfmadd231ps zmm / ymm               16 / 8 FMAs      =  32 / 16 flops
 * Every thread runs the same number of iterations after a barrier; GOP/s = all threads' ops /
 * (last end - first start) wall time; best of --trials trials (the machine is shared: the best
 * trial is the one least disturbed). The "cpu" column uses each thread's CPU time instead
 * (sum over threads of ops / thread CPU time), which is less sensitive to time slicing.
 *
 * Needs only GCC or Clang on x86-64 (the ISA is enabled per function by target attributes
 * and checked at run time with __builtin_cpu_supports; kernels the CPU lacks are printed as
 * "n/a"):
 *   cc -O2 -std=c11 -pthread bench/vnni_peak.c -o vnni_peak
 *   ./vnni_peak [--threads 1,2] [--trials 10] [--ms 100] [--json]
 * --json prints one JSON object instead of the table. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if !defined(__x86_64__) || !(defined(__GNUC__) || defined(__clang__))
int main(void) {
  fprintf(stderr, "vnni_peak: x86-64 with GCC or Clang only\n");
  return 2;
}
#else

typedef void (*kernel_fn)(uint64_t iters);

/* 12 independent chains of one instruction: "OP %%REG12, %%REG13, %%REGi" (AT&T order:
 * sources, then the accumulator). */
#define CH(op, r, i) op " %%" r "12, %%" r "13, %%" r #i "\n\t"
#define CHAINS12(op, r)                                                                     \
  CH(op, r, 0) CH(op, r, 1) CH(op, r, 2) CH(op, r, 3) CH(op, r, 4) CH(op, r, 5) CH(op, r, 6) \
  CH(op, r, 7) CH(op, r, 8) CH(op, r, 9) CH(op, r, 10) CH(op, r, 11)
#define CLOBBER14                                                                            \
  "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", \
      "xmm11", "xmm12", "xmm13", "cc"

__attribute__((target("avx512f,avx512bw,avx512vnni"), noinline)) static void
k_vnni_zmm(uint64_t n) {
  uint32_t a = 0x01020304u, b = 0x7f80ff01u;
  __asm__ volatile(
      "vpbroadcastd %1, %%zmm12\n\t"
      "vpbroadcastd %2, %%zmm13\n\t"
      "vpxord %%zmm0, %%zmm0, %%zmm0\n\t"
      "vmovdqa64 %%zmm0, %%zmm1\n\t vmovdqa64 %%zmm0, %%zmm2\n\t vmovdqa64 %%zmm0, %%zmm3\n\t"
      "vmovdqa64 %%zmm0, %%zmm4\n\t vmovdqa64 %%zmm0, %%zmm5\n\t vmovdqa64 %%zmm0, %%zmm6\n\t"
      "vmovdqa64 %%zmm0, %%zmm7\n\t vmovdqa64 %%zmm0, %%zmm8\n\t vmovdqa64 %%zmm0, %%zmm9\n\t"
      "vmovdqa64 %%zmm0, %%zmm10\n\t vmovdqa64 %%zmm0, %%zmm11\n\t"
      "1:\n\t" CHAINS12("vpdpbusd", "zmm") "dec %0\n\t"
      "jnz 1b\n\t"
      "vzeroupper\n\t"
      : "+r"(n)
      : "r"(a), "r"(b)
      : CLOBBER14);
}

__attribute__((target("avx512f,avx512vl,avx512vnni"), noinline)) static void
k_vnni_ymm(uint64_t n) {
  uint32_t a = 0x01020304u, b = 0x7f80ff01u;
  __asm__ volatile(
      "vpbroadcastd %1, %%ymm12\n\t"
      "vpbroadcastd %2, %%ymm13\n\t"
      "vpxor %%ymm0, %%ymm0, %%ymm0\n\t"
      "vmovdqa %%ymm0, %%ymm1\n\t vmovdqa %%ymm0, %%ymm2\n\t vmovdqa %%ymm0, %%ymm3\n\t"
      "vmovdqa %%ymm0, %%ymm4\n\t vmovdqa %%ymm0, %%ymm5\n\t vmovdqa %%ymm0, %%ymm6\n\t"
      "vmovdqa %%ymm0, %%ymm7\n\t vmovdqa %%ymm0, %%ymm8\n\t vmovdqa %%ymm0, %%ymm9\n\t"
      "vmovdqa %%ymm0, %%ymm10\n\t vmovdqa %%ymm0, %%ymm11\n\t"
      "1:\n\t" CHAINS12("vpdpbusd", "ymm") "dec %0\n\t"
      "jnz 1b\n\t"
      "vzeroupper\n\t"
      : "+r"(n)
      : "r"(a), "r"(b)
      : CLOBBER14);
}

/* u8 x s8 -> s16 pairs (vpmaddubsw), s16 pairs x 1 -> s32 (vpmaddwd), accumulate (vpaddd):
 * chain i uses temporary T and accumulator A. */
#define MAD3(r, T, A)                                    \
  "vpmaddubsw %%" r "13, %%" r "12, %%" r #T "\n\t"     \
  "vpmaddwd %%" r "14, %%" r #T ", %%" r #T "\n\t"      \
  "vpaddd %%" r #T ", %%" r #A ", %%" r #A "\n\t"

__attribute__((target("avx512f,avx512bw"), noinline)) static void k_madd_zmm(uint64_t n) {
  uint32_t a = 0x01020304u, b = 0x7f80ff01u, one = 0x00010001u;
  /* 12 chains: accumulators zmm0-11, temporaries zmm16-27, constants zmm12-14 */
  __asm__ volatile(
      "vpbroadcastd %1, %%zmm12\n\t"
      "vpbroadcastd %2, %%zmm13\n\t"
      "vpbroadcastd %3, %%zmm14\n\t"
      "vpxord %%zmm0, %%zmm0, %%zmm0\n\t"
      "vmovdqa64 %%zmm0, %%zmm1\n\t vmovdqa64 %%zmm0, %%zmm2\n\t vmovdqa64 %%zmm0, %%zmm3\n\t"
      "vmovdqa64 %%zmm0, %%zmm4\n\t vmovdqa64 %%zmm0, %%zmm5\n\t vmovdqa64 %%zmm0, %%zmm6\n\t"
      "vmovdqa64 %%zmm0, %%zmm7\n\t vmovdqa64 %%zmm0, %%zmm8\n\t vmovdqa64 %%zmm0, %%zmm9\n\t"
      "vmovdqa64 %%zmm0, %%zmm10\n\t vmovdqa64 %%zmm0, %%zmm11\n\t"
      "1:\n\t" MAD3("zmm", 16, 0) MAD3("zmm", 17, 1) MAD3("zmm", 18, 2) MAD3("zmm", 19, 3)
          MAD3("zmm", 20, 4) MAD3("zmm", 21, 5) MAD3("zmm", 22, 6) MAD3("zmm", 23, 7)
              MAD3("zmm", 24, 8) MAD3("zmm", 25, 9) MAD3("zmm", 26, 10) MAD3("zmm", 27, 11)
      "dec %0\n\t"
      "jnz 1b\n\t"
      "vzeroupper\n\t"
      : "+r"(n)
      : "r"(a), "r"(b), "r"(one)
      : CLOBBER14, "xmm14", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22",
        "xmm23", "xmm24", "xmm25", "xmm26", "xmm27");
}

__attribute__((target("avx2"), noinline)) static void k_madd_ymm(uint64_t n) {
  uint32_t a = 0x01020304u, b = 0x7f80ff01u, one = 0x00010001u;
  /* 6 chains (16 ymm registers): accumulators ymm0-5, temporaries ymm6-11, constants 12-14 */
  __asm__ volatile(
      "vmovd %1, %%xmm12\n\t vpbroadcastd %%xmm12, %%ymm12\n\t"
      "vmovd %2, %%xmm13\n\t vpbroadcastd %%xmm13, %%ymm13\n\t"
      "vmovd %3, %%xmm14\n\t vpbroadcastd %%xmm14, %%ymm14\n\t"
      "vpxor %%ymm0, %%ymm0, %%ymm0\n\t"
      "vmovdqa %%ymm0, %%ymm1\n\t vmovdqa %%ymm0, %%ymm2\n\t vmovdqa %%ymm0, %%ymm3\n\t"
      "vmovdqa %%ymm0, %%ymm4\n\t vmovdqa %%ymm0, %%ymm5\n\t"
      "1:\n\t" MAD3("ymm", 6, 0) MAD3("ymm", 7, 1) MAD3("ymm", 8, 2) MAD3("ymm", 9, 3)
          MAD3("ymm", 10, 4) MAD3("ymm", 11, 5)
      "dec %0\n\t"
      "jnz 1b\n\t"
      "vzeroupper\n\t"
      : "+r"(n)
      : "r"(a), "r"(b), "r"(one)
      : CLOBBER14, "xmm14");
}

__attribute__((target("avx512f"), noinline)) static void k_fma_zmm(uint64_t n) {
  uint32_t a = 0x3f800000u, b = 0; /* 1.0f, 0.0f: acc stays 0, no denormals */
  __asm__ volatile(
      "vpbroadcastd %1, %%zmm12\n\t"
      "vpbroadcastd %2, %%zmm13\n\t"
      "vpxord %%zmm0, %%zmm0, %%zmm0\n\t"
      "vmovaps %%zmm0, %%zmm1\n\t vmovaps %%zmm0, %%zmm2\n\t vmovaps %%zmm0, %%zmm3\n\t"
      "vmovaps %%zmm0, %%zmm4\n\t vmovaps %%zmm0, %%zmm5\n\t vmovaps %%zmm0, %%zmm6\n\t"
      "vmovaps %%zmm0, %%zmm7\n\t vmovaps %%zmm0, %%zmm8\n\t vmovaps %%zmm0, %%zmm9\n\t"
      "vmovaps %%zmm0, %%zmm10\n\t vmovaps %%zmm0, %%zmm11\n\t"
      "1:\n\t" CHAINS12("vfmadd231ps", "zmm") "dec %0\n\t"
      "jnz 1b\n\t"
      "vzeroupper\n\t"
      : "+r"(n)
      : "r"(a), "r"(b)
      : CLOBBER14);
}

__attribute__((target("avx2,fma"), noinline)) static void k_fma_ymm(uint64_t n) {
  uint32_t a = 0x3f800000u, b = 0;
  __asm__ volatile(
      "vmovd %1, %%xmm12\n\t vbroadcastss %%xmm12, %%ymm12\n\t"
      "vmovd %2, %%xmm13\n\t vbroadcastss %%xmm13, %%ymm13\n\t"
      "vxorps %%ymm0, %%ymm0, %%ymm0\n\t"
      "vmovaps %%ymm0, %%ymm1\n\t vmovaps %%ymm0, %%ymm2\n\t vmovaps %%ymm0, %%ymm3\n\t"
      "vmovaps %%ymm0, %%ymm4\n\t vmovaps %%ymm0, %%ymm5\n\t vmovaps %%ymm0, %%ymm6\n\t"
      "vmovaps %%ymm0, %%ymm7\n\t vmovaps %%ymm0, %%ymm8\n\t vmovaps %%ymm0, %%ymm9\n\t"
      "vmovaps %%ymm0, %%ymm10\n\t vmovaps %%ymm0, %%ymm11\n\t"
      "1:\n\t" CHAINS12("vfmadd231ps", "ymm") "dec %0\n\t"
      "jnz 1b\n\t"
      "vzeroupper\n\t"
      : "+r"(n)
      : "r"(a), "r"(b)
      : CLOBBER14);
}

typedef struct {
  const char *key;   /* JSON key */
  const char *label; /* table label */
  const char *unit;  /* GOP/s (int8) or GFLOP/s (fp32) */
  kernel_fn fn;
  double ops_per_iter; /* ops (2 per MAC) of one loop iteration */
  int supported;
} kernel;

static double now(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
  pthread_barrier_t *bar;
  kernel_fn fn;
  uint64_t iters;
  double t0, t1, cpu;
} job;

static void *worker(void *p) {
  job *j = p;
  pthread_barrier_wait(j->bar);
  double c0 = now(CLOCK_THREAD_CPUTIME_ID);
  j->t0 = now(CLOCK_MONOTONIC);
  j->fn(j->iters);
  j->t1 = now(CLOCK_MONOTONIC);
  j->cpu = now(CLOCK_THREAD_CPUTIME_ID) - c0;
  return NULL;
}

/* One trial with nthreads threads; returns wall GOP/s, *cpu_gops the CPU-time figure. */
static double trial(const kernel *k, int nthreads, uint64_t iters, double *cpu_gops) {
  pthread_t th[64];
  job jobs[64];
  pthread_barrier_t bar;
  pthread_barrier_init(&bar, NULL, (unsigned)nthreads);
  for (int i = 0; i < nthreads; i++) {
    jobs[i] = (job){&bar, k->fn, iters, 0, 0, 0};
    pthread_create(&th[i], NULL, worker, &jobs[i]);
  }
  double t0 = 1e300, t1 = 0, cpu = 0;
  for (int i = 0; i < nthreads; i++) {
    pthread_join(th[i], NULL);
    if (jobs[i].t0 < t0) t0 = jobs[i].t0;
    if (jobs[i].t1 > t1) t1 = jobs[i].t1;
    cpu += k->ops_per_iter * (double)iters / (jobs[i].cpu > 0 ? jobs[i].cpu : 1e-9);
  }
  pthread_barrier_destroy(&bar);
  *cpu_gops = cpu * 1e-9;
  return k->ops_per_iter * (double)iters * nthreads / (t1 - t0) * 1e-9;
}

int main(int argc, char **argv) {
  int threads[16] = {1, 2}, nthr = 2, trials = 10, json = 0;
  double ms = 100;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
      nthr = 0;
      for (char *s = strtok(argv[++i], ","); s && nthr < 16; s = strtok(NULL, ","))
        if (atoi(s) > 0 && atoi(s) <= 64) threads[nthr++] = atoi(s);
    } else if (!strcmp(argv[i], "--trials") && i + 1 < argc) {
      trials = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--ms") && i + 1 < argc) {
      ms = atof(argv[++i]);
    } else if (!strcmp(argv[i], "--json")) {
      json = 1;
    } else {
      fprintf(stderr,
              "usage: vnni_peak [--threads 1,2] [--trials 10] [--ms 100 (per trial)] [--json]\n");
      return 2;
    }
  }
  if (trials < 1) trials = 1;
  if (nthr < 1) nthr = 1;
  __builtin_cpu_init();
  kernel ks[] = {
      {"int8_vnni_zmm", "int8 vpdpbusd zmm (AVX512-VNNI)", "GOP/s", k_vnni_zmm, 12 * 128.0,
       __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512f")},
      {"int8_vnni_ymm", "int8 vpdpbusd ymm (AVX512-VNNI+VL)", "GOP/s", k_vnni_ymm, 12 * 64.0,
       __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl")},
      {"int8_madd_zmm", "int8 vpmaddubsw+vpmaddwd zmm (AVX512BW)", "GOP/s", k_madd_zmm,
       12 * 128.0, __builtin_cpu_supports("avx512bw")},
      {"int8_madd_ymm", "int8 vpmaddubsw+vpmaddwd ymm (AVX2)", "GOP/s", k_madd_ymm, 6 * 64.0,
       __builtin_cpu_supports("avx2")},
      {"fp32_fma_zmm", "fp32 vfmadd231ps zmm (AVX512F)", "GFLOP/s", k_fma_zmm, 12 * 32.0,
       __builtin_cpu_supports("avx512f")},
      {"fp32_fma_ymm", "fp32 vfmadd231ps ymm (AVX2+FMA)", "GFLOP/s", k_fma_ymm, 12 * 16.0,
       __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")},
  };
  int nk = (int)(sizeof ks / sizeof ks[0]);
  double best[8][16], bestcpu[8][16];
  for (int k = 0; k < nk; k++) {
    if (!ks[k].supported) continue;
    /* size a trial to about `ms` milliseconds on one thread */
    uint64_t it = 1u << 16;
    for (;;) {
      double c0 = now(CLOCK_THREAD_CPUTIME_ID);
      ks[k].fn(it);
      double dt = now(CLOCK_THREAD_CPUTIME_ID) - c0;
      if (dt > 0.02 || it > (1ull << 40)) {
        it = (uint64_t)((double)it * (ms * 1e-3) / (dt > 0 ? dt : 1e-3));
        break;
      }
      it *= 4;
    }
    if (it < 1000) it = 1000;
    for (int t = 0; t < nthr; t++) {
      best[k][t] = bestcpu[k][t] = 0;
      for (int r = 0; r < trials; r++) {
        double c, w = trial(&ks[k], threads[t], it, &c);
        if (w > best[k][t]) best[k][t] = w;
        if (c > bestcpu[k][t]) bestcpu[k][t] = c;
      }
    }
  }
  if (json) {
    printf("{\"threads\": [");
    for (int t = 0; t < nthr; t++) printf("%s%d", t ? ", " : "", threads[t]);
    printf("], \"trials\": %d, \"ms_per_trial\": %g, \"kernels\": {", trials, ms);
    for (int k = 0; k < nk; k++) {
      printf("%s\"%s\": {\"label\": \"%s\", \"unit\": \"%s\", \"supported\": %s", k ? ", " : "",
             ks[k].key, ks[k].label, ks[k].unit, ks[k].supported ? "true" : "false");
      if (ks[k].supported) {
        printf(", \"wall\": {");
        for (int t = 0; t < nthr; t++)
          printf("%s\"%d\": %.1f", t ? ", " : "", threads[t], best[k][t]);
        printf("}, \"cpu\": {");
        for (int t = 0; t < nthr; t++)
          printf("%s\"%d\": %.1f", t ? ", " : "", threads[t], bestcpu[k][t]);
        printf("}");
      }
      printf("}");
    }
    printf("}}\n");
    return 0;
  }
  printf("peak throughput, best of %d trials of ~%.0f ms; ops = 2 per multiply-accumulate\n",
         trials, ms);
  printf("%-40s %-8s", "kernel", "unit");
  for (int t = 0; t < nthr; t++) printf("  %3d thr wall  (cpu) ", threads[t]);
  printf("\n");
  for (int k = 0; k < nk; k++) {
    printf("%-40s %-8s", ks[k].label, ks[k].unit);
    for (int t = 0; t < nthr; t++) {
      if (ks[k].supported)
        printf("  %12.1f (%6.1f)", best[k][t], bestcpu[k][t]);
      else
        printf("  %12s %8s", "n/a", "");
    }
    printf("\n");
  }
  return 0;
}
#endif
