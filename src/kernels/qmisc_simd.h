/* Internal helpers of the qops.h kernels: the scalar float quantization of the float-exact
 * kernels, the exact SIMD requantization (= ptq_requant_ref), and the per-ISA entry points
 * the dispatchers call. Not part of the kernel contract. */
#ifndef PTQ_QMISC_SIMD_H
#define PTQ_QMISC_SIMD_H

#include <math.h>
#include <stdint.h>

#include "kernels/kernels_internal.h"
#include "kernels/qops.h"

/* Float-exact files: no contraction of a*b+c into an FMA (GCC ignores the STDC pragma; its
 * ISO C mode already defaults to -ffp-contract=off, the optimize pragma makes it explicit). */
#if defined(__clang__)
#define PTQ_QOPS_NO_CONTRACT _Pragma("STDC FP_CONTRACT OFF")
#elif defined(__GNUC__)
#define PTQ_QOPS_NO_CONTRACT _Pragma("GCC optimize(\"fp-contract=off\")")
#else
#define PTQ_QOPS_NO_CONTRACT
#endif

/* Q(v; s, z, lo, hi) of qops.h with flo = (float)(lo - z), fhi = (float)(hi - z). */
static inline int32_t ptq_qops_quant(float v, float s, float flo, float fhi, int32_t z) {
  float t = v / s;
  t = t > flo ? t : flo;
  t = t < fhi ? t : fhi;
  return (int32_t)nearbyintf(t) + z;
}

/* Requantization parameters of 2 x (lanes / 2) 64-bit lanes, as the SIMD epilogue wants them:
 * even and odd 32-bit lanes of acc are multiplied separately (64-bit products). For lane pair
 * (2i, 2i+1): me[i] = mult[2i], mo[i] = mult[2i+1] (low 32 bits used), se/so the shifts,
 * ce/co = 2^(shift-1) - 1. */
static inline void ptq_qrq_fill(int64_t *me, int64_t *mo, int64_t *se, int64_t *so, int64_t *ce,
                                int64_t *co, int lanes, const int32_t *mult, const int32_t *shift) {
  for (int i = 0; i < lanes / 2; i++) {
    me[i] = mult[2 * i];
    mo[i] = mult[2 * i + 1];
    se[i] = shift[2 * i];
    so[i] = shift[2 * i + 1];
    ce[i] = (INT64_C(1) << (shift[2 * i] - 1)) - 1;
    co[i] = (INT64_C(1) << (shift[2 * i + 1] - 1)) - 1;
  }
}

#if PTQ_HAVE_X86_KERNELS
#include <immintrin.h>

#define PTQ_TGT_AVX2 __attribute__((target("avx2,fma")))
#define PTQ_TGT_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")))
#define PTQ_TGT_AVX512VBMI \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi,avx2,fma")))

/* round_half_even(p / 2^s) for p = acc · mult (|p| < 2^62) and s in [1, 63], with
 * c = 2^(s-1) - 1: (p + c + bit_s(p)) >> s (arithmetic). Proof: p = q·2^s + r, 0 <= r < 2^s;
 * r + c + (q & 1) >= 2^s iff r > 2^(s-1) or (r == 2^(s-1) and q odd); bit s of p is q & 1; no
 * overflow as |p| + c < 2^63. */
static PTQ_TGT_AVX512 inline __m512i ptq_rq_round512(__m512i p, __m512i s, __m512i c) {
  const __m512i b = _mm512_and_si512(_mm512_srlv_epi64(p, s), _mm512_set1_epi64(1));
  return _mm512_srav_epi64(_mm512_add_epi64(_mm512_add_epi64(p, c), b), s);
}

/* ptq_requant_ref on 16 int32 lanes; returns int32 lanes in [lo, hi]. qlo/qhi are lo - zy and
 * hi - zy as 64-bit lanes, zy as 32-bit lanes. */
static PTQ_TGT_AVX512 inline __m512i ptq_rq512(__m512i acc, __m512i me, __m512i mo, __m512i se,
                                               __m512i so, __m512i ce, __m512i co, __m512i qlo,
                                               __m512i qhi, __m512i zy) {
  __m512i re = ptq_rq_round512(_mm512_mul_epi32(acc, me), se, ce);
  __m512i ro = ptq_rq_round512(_mm512_mul_epi32(_mm512_srli_epi64(acc, 32), mo), so, co);
  re = _mm512_min_epi64(_mm512_max_epi64(re, qlo), qhi);
  ro = _mm512_min_epi64(_mm512_max_epi64(ro, qlo), qhi);
  const __m512i v = _mm512_mask_blend_epi32(0xAAAA, re, _mm512_slli_epi64(ro, 32));
  return _mm512_add_epi32(v, zy);
}

/* Arithmetic right shift of 64-bit lanes by per-lane counts in [0, 63] (AVX2 has only the
 * logical one): with m = p < 0 ? ~0 : 0, p >> s == ((p ^ m) >>> s) ^ m. */
static PTQ_TGT_AVX2 inline __m256i ptq_srav64_avx2(__m256i p, __m256i s) {
  const __m256i m = _mm256_cmpgt_epi64(_mm256_setzero_si256(), p);
  return _mm256_xor_si256(_mm256_srlv_epi64(_mm256_xor_si256(p, m), s), m);
}

static PTQ_TGT_AVX2 inline __m256i ptq_rq_round256(__m256i p, __m256i s, __m256i c) {
  const __m256i b = _mm256_and_si256(_mm256_srlv_epi64(p, s), _mm256_set1_epi64x(1));
  return ptq_srav64_avx2(_mm256_add_epi64(_mm256_add_epi64(p, c), b), s);
}

static PTQ_TGT_AVX2 inline __m256i ptq_clamp64_avx2(__m256i v, __m256i lo, __m256i hi) {
  v = _mm256_blendv_epi8(v, lo, _mm256_cmpgt_epi64(lo, v));
  return _mm256_blendv_epi8(v, hi, _mm256_cmpgt_epi64(v, hi));
}

/* ptq_requant_ref on 8 int32 lanes (see ptq_rq512). */
static PTQ_TGT_AVX2 inline __m256i ptq_rq256(__m256i acc, __m256i me, __m256i mo, __m256i se,
                                             __m256i so, __m256i ce, __m256i co, __m256i qlo,
                                             __m256i qhi, __m256i zy) {
  __m256i re = ptq_rq_round256(_mm256_mul_epi32(acc, me), se, ce);
  __m256i ro = ptq_rq_round256(_mm256_mul_epi32(_mm256_srli_epi64(acc, 32), mo), so, co);
  re = ptq_clamp64_avx2(re, qlo, qhi);
  ro = ptq_clamp64_avx2(ro, qlo, qhi);
  const __m256i v = _mm256_blend_epi32(re, _mm256_slli_epi64(ro, 32), 0xAA);
  return _mm256_add_epi32(v, zy);
}
#endif

/* Per-ISA entry points (the dispatchers check the ISA). */
void ptq_qbinary_avx2(const ptq_qbin_params *p, int64_t rows, int64_t c, const uint8_t *a,
                      const uint8_t *b, enum ptq_qbin_bcast bcast, uint8_t *y);
void ptq_qbinary_avx512(const ptq_qbin_params *p, int64_t rows, int64_t c, const uint8_t *a,
                        const uint8_t *b, enum ptq_qbin_bcast bcast, uint8_t *y);
void ptq_qlut_avx2(const uint8_t table[256], int64_t n, const uint8_t *x, uint8_t *y);
void ptq_qlut_avx512vbmi(const uint8_t table[256], int64_t n, const uint8_t *x, uint8_t *y);
int ptq_qlut_have_vbmi(void);
void ptq_quantize_run_avx2(int64_t n, const float *x, float scale, float flo, float fhi, int32_t zq,
                           uint8_t *y);
void ptq_quantize_run_avx512(int64_t n, const float *x, float scale, float flo, float fhi,
                             int32_t zq, uint8_t *y);
void ptq_dequantize_run_avx2(int64_t n, const uint8_t *x, float scale, int32_t zq, float *y);
void ptq_dequantize_run_avx512(int64_t n, const uint8_t *x, float scale, int32_t zq, float *y);

/* Pooling over one output pixel: the taps are base + r·row_step + k·col_step for r < rows,
 * k < cols (rows·cols >= 0), each c channels. Max: y = clamp(max, lo, hi) (lo when empty).
 * Avg: S = Σ x - rows·cols·zx, y = ptq_requant_ref(S, mult, shift, zy, lo, hi). */
typedef struct ptq_qpool_pix {
  const uint8_t *base;
  int64_t rows, row_step, cols, col_step, c;
  int32_t mult, shift, zx, zy;
  uint8_t lo, hi;
} ptq_qpool_pix;
void ptq_qmax_pix_avx2(const ptq_qpool_pix *q, uint8_t *y);
void ptq_qmax_pix_avx512(const ptq_qpool_pix *q, uint8_t *y);
void ptq_qavg_pix_avx2(const ptq_qpool_pix *q, uint8_t *y);
void ptq_qavg_pix_avx512(const ptq_qpool_pix *q, uint8_t *y);

#endif
