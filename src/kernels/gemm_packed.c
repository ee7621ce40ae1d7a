/* Packed-A GEMM with a fused bias + activation epilogue (see kernels.h), on per-ISA
 * microkernels chosen at pack time. Columns are split into blocks whose k × nc slice of B fits
 * the per-core L2; within a block, each mr-row panel of A sweeps the block's nr-wide column
 * tiles, computing each tile over the full k so that the epilogue runs on registers. Work units
 * (column block, row panel) are spread over the threads (dynamically); every output cell is
 * computed by exactly one unit, in the same order whatever the thread count or schedule. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels_internal.h"
#include "util/util.h"

enum gemm_isa { ISA_SCALAR, ISA_AVX2, ISA_AVX512 };

struct ptq_packed_a {
  int64_t m, k;
  int mr, nr;
  enum gemm_isa isa;
  ptq_gemm_ukernel kernel;
  float *data; /* ceil(m / mr) panels of k * mr floats */
};

/* Bytes of B (k × nc floats) a column block may span: half of a 1 MiB L2. */
#define PTQ_GEMM_B_BLOCK_BYTES (512 * 1024)

#define SCALAR_MR 8
#define SCALAR_NR 32

/* Reference microkernel: the contract of ptq_gemm_ukernel in plain C. */
static void ukernel_scalar(int64_t k, const float *ap, const float *b, int64_t ldb,
                           const float *bias, const ptq_act *act, float *c, int64_t ldc,
                           int mr_valid, int nr_valid) {
  float acc[SCALAR_MR][SCALAR_NR];
  for (int i = 0; i < mr_valid; i++)
    for (int j = 0; j < nr_valid; j++) acc[i][j] = 0.0f;
  for (int64_t l = 0; l < k; l++) {
    const float *bl = b + l * ldb, *al = ap + l * SCALAR_MR;
    for (int i = 0; i < mr_valid; i++)
      for (int j = 0; j < nr_valid; j++) acc[i][j] = fmaf(al[i], bl[j], acc[i][j]);
  }
  for (int i = 0; i < mr_valid; i++) {
    const float bi = bias ? bias[i] : 0.0f;
    float *ci = c + i * ldc;
    for (int j = 0; j < nr_valid; j++) ci[j] = acc[i][j] + bi;
    ptq_act_apply(act, ci, nr_valid);
  }
}

static enum gemm_isa isa_supported_best(void) {
#if PTQ_HAVE_X86_KERNELS
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return ISA_AVX512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return ISA_AVX2;
#endif
  return ISA_SCALAR;
}

/* The best supported ISA, or PTQ_ISA's choice when the CPU supports it. */
static enum gemm_isa isa_choose(void) {
  const enum gemm_isa best = isa_supported_best();
  const char *env = getenv("PTQ_ISA");
  if (!env || !*env) return best;
  enum gemm_isa want = best;
  if (strcmp(env, "scalar") == 0)
    want = ISA_SCALAR;
  else if (strcmp(env, "avx2") == 0)
    want = ISA_AVX2;
  else if (strcmp(env, "avx512") == 0 || strcmp(env, "avx512vnni") == 0)
    want = ISA_AVX512;
  return want <= best ? want : best;
}

ptq_packed_a *ptq_sgemm_pack(int64_t m, int64_t k, const float *a, int64_t lda) {
  ptq_packed_a *pa = calloc(1, sizeof *pa);
  if (!pa) return NULL;
  pa->m = m;
  pa->k = k;
  pa->isa = isa_choose();
  switch (pa->isa) {
#if PTQ_HAVE_X86_KERNELS
    case ISA_AVX512:
      pa->mr = PTQ_GEMM_AVX512_MR, pa->nr = PTQ_GEMM_AVX512_NR;
      pa->kernel = ptq_gemm_ukernel_avx512;
      break;
    case ISA_AVX2:
      pa->mr = PTQ_GEMM_AVX2_MR, pa->nr = PTQ_GEMM_AVX2_NR;
      pa->kernel = ptq_gemm_ukernel_avx2;
      break;
#endif
    default:
      pa->isa = ISA_SCALAR;
      pa->mr = SCALAR_MR, pa->nr = SCALAR_NR;
      pa->kernel = ukernel_scalar;
      break;
  }
  const int64_t panels = (m + pa->mr - 1) / pa->mr;
  const size_t floats = (size_t)(panels * pa->mr) * (size_t)(k > 0 ? k : 1);
  pa->data = aligned_alloc(64, (floats * sizeof(float) + 63) / 64 * 64);
  if (!pa->data) {
    free(pa);
    return NULL;
  }
  for (int64_t p = 0; p < panels; p++) {
    float *dst = pa->data + p * pa->mr * k;
    for (int64_t l = 0; l < k; l++) {
      for (int i = 0; i < pa->mr; i++) {
        const int64_t row = p * pa->mr + i;
        dst[l * pa->mr + i] = row < m ? a[row * lda + l] : 0.0f;
      }
    }
  }
  return pa;
}

void ptq_sgemm_packed_free(ptq_packed_a *pa) {
  if (!pa) return;
  free(pa->data);
  free(pa);
}

const char *ptq_sgemm_packed_isa(const ptq_packed_a *pa) {
  switch (pa->isa) {
    case ISA_AVX512: return "avx512";
    case ISA_AVX2: return "avx2";
    default: return "scalar";
  }
}

void ptq_sgemm_packed(const ptq_packed_a *pa, int64_t n, const float *b, int64_t ldb,
                      const float *bias, const ptq_act *act, float *c, int64_t ldc) {
  const int64_t m = pa->m, k = pa->k, mr = pa->mr, nr = pa->nr;
  if (m <= 0 || n <= 0) return;
  int64_t nc = PTQ_GEMM_B_BLOCK_BYTES / (int64_t)sizeof(float) / (k > 0 ? k : 1) / nr * nr;
  if (nc < nr) nc = nr;
  if (nc >= n) nc = (n + nr - 1) / nr * nr;
  const int64_t blocks = (n + nc - 1) / nc, panels = (m + mr - 1) / mr;
  const int64_t units = blocks * panels;
  const ptq_gemm_ukernel kern = pa->kernel;
  const int threads = ptq_threads();
#pragma omp parallel for schedule(dynamic, ptq_dyn_chunk(units, threads)) \
    num_threads(threads) if (units > 1 && m * n * (k + 1) >= PTQ_PAR_MIN_MACS)
  for (int64_t u = 0; u < units; u++) {
    const int64_t j0 = u / panels * nc, pi = u % panels, i0 = pi * mr;
    const int64_t j1 = j0 + nc < n ? j0 + nc : n;
    const int mv = (int)(m - i0 < mr ? m - i0 : mr);
    const float *ap = pa->data + pi * mr * k;
    const float *bp = bias ? bias + i0 : NULL;
    for (int64_t j = j0; j < j1; j += nr)
      kern(k, ap, b + j, ldb, bp, act, c + i0 * ldc + j, ldc, mv, (int)(j1 - j < nr ? j1 - j : nr));
  }
}
