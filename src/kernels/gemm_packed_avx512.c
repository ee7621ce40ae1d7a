/* AVX-512F microkernel of the packed-A GEMM: 8 rows x 32 columns (2 zmm per row, 16
 * accumulators), A broadcast from the packed panel, B loaded (masked at the right edge) from
 * its rows. Compiled for AVX-512 by target attribute; called only where the CPU has it. */
#include "kernels/kernels_internal.h"

#if PTQ_HAVE_X86_KERNELS

#include <immintrin.h>

#define MR PTQ_GEMM_AVX512_MR
#define TGT __attribute__((target("avx512f,avx2,fma")))

static TGT inline __m512 act512(const ptq_act *act, __m512 v) {
  switch (act ? act->kind : PTQ_ACT_NONE) {
    case PTQ_ACT_RELU: /* max(v, 0) is v > 0 ? v : 0, NaN -> 0 */
      return _mm512_max_ps(v, _mm512_setzero_ps());
    case PTQ_ACT_CLIP: /* max(lo, v) is v < lo ? lo : v; min(hi, w) is w > hi ? hi : w */
      return _mm512_min_ps(_mm512_set1_ps(act->hi), _mm512_max_ps(_mm512_set1_ps(act->lo), v));
    case PTQ_ACT_LEAKY: {
      const __mmask16 neg = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_NGE_UQ);
      return _mm512_mask_mul_ps(v, neg, v, _mm512_set1_ps(act->alpha));
    }
    default: return v;
  }
}

/* NV (1 or 2) vectors of 16 columns. The accumulators are named variables (an array indexed
 * by the row count would live on the stack). */
#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

static TGT inline __attribute__((always_inline)) void tile(int64_t k, const float *ap,
                                                           const float *b, int64_t ldb,
                                                           const float *bias, const ptq_act *act,
                                                           float *c, int64_t ldc, int mr_valid,
                                                           int nr_valid, const int nv) {
  const __mmask16 m0 = nr_valid >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr_valid) - 1);
  const __mmask16 m1 = nr_valid >= 32  ? (__mmask16)0xFFFF
                       : nr_valid > 16 ? (__mmask16)((1u << (nr_valid - 16)) - 1)
                                       : (__mmask16)0;
#define DECL(i) __m512 a##i##0 = _mm512_setzero_ps(), a##i##1 = _mm512_setzero_ps();
  ROWS(DECL)
#undef DECL
  for (int64_t l = 0; l < k; l++) {
    const float *bl = b + l * ldb, *al = ap + l * MR;
    _mm_prefetch((const char *)(al + 16 * MR), _MM_HINT_T0);
    const __m512 b0 = _mm512_maskz_loadu_ps(m0, bl);
    const __m512 b1 = nv > 1 ? _mm512_maskz_loadu_ps(m1, bl + 16) : _mm512_setzero_ps();
#define STEP(i)                                             \
  {                                                         \
    const __m512 av = _mm512_set1_ps(al[i]);                \
    a##i##0 = _mm512_fmadd_ps(av, b0, a##i##0);             \
    if (nv > 1) a##i##1 = _mm512_fmadd_ps(av, b1, a##i##1); \
  }
    ROWS(STEP)
#undef STEP
  }
#define STORE(i)                                                                            \
  if (i < mr_valid) {                                                                       \
    const __m512 bi = _mm512_set1_ps(bias ? bias[i] : 0.0f);                                \
    _mm512_mask_storeu_ps(c + i * ldc, m0, act512(act, _mm512_add_ps(a##i##0, bi)));        \
    if (nv > 1)                                                                             \
      _mm512_mask_storeu_ps(c + i * ldc + 16, m1, act512(act, _mm512_add_ps(a##i##1, bi))); \
  }
  ROWS(STORE)
#undef STORE
}

TGT void ptq_gemm_ukernel_avx512(int64_t k, const float *ap, const float *b, int64_t ldb,
                                 const float *bias, const ptq_act *act, float *c, int64_t ldc,
                                 int mr_valid, int nr_valid) {
  if (nr_valid > 16)
    tile(k, ap, b, ldb, bias, act, c, ldc, mr_valid, nr_valid, 2);
  else
    tile(k, ap, b, ldb, bias, act, c, ldc, mr_valid, nr_valid, 1);
}

#endif
