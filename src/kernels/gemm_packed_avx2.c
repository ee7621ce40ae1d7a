/* AVX2 + FMA microkernel of the packed-A GEMM: 6 rows x 16 columns (2 ymm per row, 12
 * accumulators), A broadcast from the packed panel, B loaded (masked at the right edge) from
 * its rows. Compiled for AVX2 by target attribute; called only where the CPU has it. */
#include "kernels/kernels_internal.h"

#if PTQ_HAVE_X86_KERNELS

#include <immintrin.h>

#define MR PTQ_GEMM_AVX2_MR
#define TGT __attribute__((target("avx2,fma")))

static TGT inline __m256 act256(const ptq_act *act, __m256 v) {
  switch (act ? act->kind : PTQ_ACT_NONE) {
    case PTQ_ACT_RELU: /* max(v, 0) is v > 0 ? v : 0, NaN -> 0 */
      return _mm256_max_ps(v, _mm256_setzero_ps());
    case PTQ_ACT_CLIP: /* max(lo, v) is v < lo ? lo : v; min(hi, w) is w > hi ? hi : w */
      return _mm256_min_ps(_mm256_set1_ps(act->hi), _mm256_max_ps(_mm256_set1_ps(act->lo), v));
    case PTQ_ACT_LEAKY: {
      const __m256 neg = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_NGE_UQ);
      return _mm256_blendv_ps(v, _mm256_mul_ps(v, _mm256_set1_ps(act->alpha)), neg);
    }
    default: return v;
  }
}

/* Lane mask for the first n (0..8) lanes. */
static TGT inline __m256i lanes(int n) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx);
}

/* The accumulators are named variables (an array indexed by the row count would live on the
 * stack). */
#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)

static TGT inline __attribute__((always_inline)) void tile(int64_t k, const float *ap,
                                                           const float *b, int64_t ldb,
                                                           const float *bias, const ptq_act *act,
                                                           float *c, int64_t ldc, int mr_valid,
                                                           int nr_valid, const int full) {
  const __m256i m0 = lanes(nr_valid >= 8 ? 8 : nr_valid);
  const __m256i m1 = lanes(nr_valid >= 16 ? 8 : nr_valid > 8 ? nr_valid - 8 : 0);
#define DECL(i) __m256 a##i##0 = _mm256_setzero_ps(), a##i##1 = _mm256_setzero_ps();
  ROWS(DECL)
#undef DECL
  for (int64_t l = 0; l < k; l++) {
    const float *bl = b + l * ldb, *al = ap + l * MR;
    const __m256 b0 = full ? _mm256_loadu_ps(bl) : _mm256_maskload_ps(bl, m0);
    const __m256 b1 = full ? _mm256_loadu_ps(bl + 8) : _mm256_maskload_ps(bl + 8, m1);
#define STEP(i)                                    \
  {                                                \
    const __m256 av = _mm256_broadcast_ss(al + i); \
    a##i##0 = _mm256_fmadd_ps(av, b0, a##i##0);    \
    a##i##1 = _mm256_fmadd_ps(av, b1, a##i##1);    \
  }
    ROWS(STEP)
#undef STEP
  }
#define STORE(i)                                               \
  if (i < mr_valid) {                                          \
    const __m256 bi = _mm256_set1_ps(bias ? bias[i] : 0.0f);   \
    const __m256 v0 = act256(act, _mm256_add_ps(a##i##0, bi)); \
    const __m256 v1 = act256(act, _mm256_add_ps(a##i##1, bi)); \
    if (full) {                                                \
      _mm256_storeu_ps(c + i * ldc, v0);                       \
      _mm256_storeu_ps(c + i * ldc + 8, v1);                   \
    } else {                                                   \
      _mm256_maskstore_ps(c + i * ldc, m0, v0);                \
      _mm256_maskstore_ps(c + i * ldc + 8, m1, v1);            \
    }                                                          \
  }
  ROWS(STORE)
#undef STORE
}

TGT void ptq_gemm_ukernel_avx2(int64_t k, const float *ap, const float *b, int64_t ldb,
                               const float *bias, const ptq_act *act, float *c, int64_t ldc,
                               int mr_valid, int nr_valid) {
  if (nr_valid == 16)
    tile(k, ap, b, ldb, bias, act, c, ldc, mr_valid, nr_valid, 1);
  else
    tile(k, ap, b, ldb, bias, act, c, ldc, mr_valid, nr_valid, 0);
}

#endif
