/* AVX2 microkernel of the int8 GEMM: up to 2 rows x 4 columns, exact. vpmaddubsw would
 * saturate (255 · 127 · 2 > 32767), so both operands are widened to int16 (x zero-extended at
 * load, the weights sign-extended at pack time) and vpmaddwd forms exact int32 pair sums. Each
 * step takes 16 k of a row (one vpmovzxbw) against 16 packed weights of each column, keeping
 * one 8-lane partial dot product per (row, column); the lanes are summed at the end. The last
 * partial group of k is copied into a zeroed buffer (never read past the row). The epilogue
 * emulates the 64-bit arithmetic shift AVX2 lacks: floor(v / 2^s) = ~(~v >> s) for v < 0.
 * Compiled for AVX2 by target attribute; called only where the CPU has it. */
#include "kernels/qgemm_internal.h"

#if PTQ_HAVE_X86_KERNELS

#include <immintrin.h>
#include <string.h>

#define TGT __attribute__((target("avx2,fma")))
#define INLINE static TGT inline __attribute__((always_inline))

/* round_half_even(v / 2^s) for 64-bit v, s in [1, 63] per lane: see qgemm_avx512vnni.c. The
 * arithmetic shift is emulated: floor(u / 2^s) = ~(~u >> s) (logical) for u < 0. */
INLINE __m256i rshift_even64(__m256i v, __m256i s, __m256i h) {
  const __m256i odd = _mm256_and_si256(_mm256_srlv_epi64(v, s), _mm256_set1_epi64x(1));
  const __m256i u = _mm256_add_epi64(_mm256_add_epi64(v, h), odd);
  const __m256i neg = _mm256_cmpgt_epi64(_mm256_setzero_si256(), u);
  return _mm256_xor_si256(_mm256_srlv_epi64(_mm256_xor_si256(u, neg), s), neg);
}

INLINE __m256i clamp64(__m256i v, __m256i lo, __m256i hi) {
  v = _mm256_blendv_epi8(v, lo, _mm256_cmpgt_epi64(lo, v));
  return _mm256_blendv_epi8(v, hi, _mm256_cmpgt_epi64(v, hi));
}

/* 8 accumulators (bias included) -> 8 values clamp(zy + round(acc · mult / 2^shift)), int32. */
INLINE __m256i rq8(__m256i acc, __m256i mult, __m256i shift, __m256i zy, __m256i lo, __m256i hi) {
  const __m256i pe = _mm256_mul_epi32(acc, mult); /* signed low 32 bits of each 64 */
  const __m256i po = _mm256_mul_epi32(_mm256_srli_epi64(acc, 32), _mm256_srli_epi64(mult, 32));
  const __m256i se = _mm256_and_si256(shift, _mm256_set1_epi64x(0xFFFFFFFF));
  const __m256i so = _mm256_srli_epi64(shift, 32);
  const __m256i one = _mm256_set1_epi64x(1);
  const __m256i he = _mm256_sub_epi64(_mm256_sllv_epi64(one, _mm256_sub_epi64(se, one)), one);
  const __m256i ho = _mm256_sub_epi64(_mm256_sllv_epi64(one, _mm256_sub_epi64(so, one)), one);
  const __m256i qe = clamp64(_mm256_add_epi64(rshift_even64(pe, se, he), zy), lo, hi);
  const __m256i qo = clamp64(_mm256_add_epi64(rshift_even64(po, so, ho), zy), lo, hi);
  return _mm256_blend_epi32(qe, _mm256_slli_epi64(qo, 32), 0xAA);
}

/* [Σa, Σb, Σc, Σd] of four 8-lane vectors (wrapping int32 adds). */
INLINE __m128i hsum4(__m256i a, __m256i b, __m256i c, __m256i d) {
  const __m256i s = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));
  return _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
}

INLINE void tile(int64_t k, const int16_t *w, const uint8_t *x, int64_t ldx, int nr_valid,
                 const ptq_qgemm_epi *e, const int mr) {
  const uint8_t *x0 = x, *x1 = x + (mr > 1 ? ldx : 0);
  __m256i a00 = _mm256_setzero_si256(), a01 = a00, a02 = a00, a03 = a00;
  __m256i a10 = a00, a11 = a00, a12 = a00, a13 = a00;
  const int64_t kf = k / 16;
#define STEP(xv0, xv1, wg)                                              \
  {                                                                     \
    const __m256i w0 = _mm256_load_si256((const __m256i *)(wg));        \
    const __m256i w1 = _mm256_load_si256((const __m256i *)((wg) + 16)); \
    const __m256i w2 = _mm256_load_si256((const __m256i *)((wg) + 32)); \
    const __m256i w3 = _mm256_load_si256((const __m256i *)((wg) + 48)); \
    a00 = _mm256_add_epi32(a00, _mm256_madd_epi16(xv0, w0));            \
    a01 = _mm256_add_epi32(a01, _mm256_madd_epi16(xv0, w1));            \
    a02 = _mm256_add_epi32(a02, _mm256_madd_epi16(xv0, w2));            \
    a03 = _mm256_add_epi32(a03, _mm256_madd_epi16(xv0, w3));            \
    if (mr > 1) {                                                       \
      a10 = _mm256_add_epi32(a10, _mm256_madd_epi16(xv1, w0));          \
      a11 = _mm256_add_epi32(a11, _mm256_madd_epi16(xv1, w1));          \
      a12 = _mm256_add_epi32(a12, _mm256_madd_epi16(xv1, w2));          \
      a13 = _mm256_add_epi32(a13, _mm256_madd_epi16(xv1, w3));          \
    }                                                                   \
  }
  for (int64_t g = 0; g < kf; g++) {
    const __m256i xv0 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(x0 + 16 * g)));
    const __m256i xv1 =
        mr > 1 ? _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(x1 + 16 * g))) : xv0;
    STEP(xv0, xv1, w + 64 * g)
  }
  if (k & 15) { /* last 1-15 k through a zeroed copy; the padded weights are 0 */
    uint8_t t0[16] = {0}, t1[16] = {0};
    memcpy(t0, x0 + 16 * kf, (size_t)(k & 15));
    if (mr > 1) memcpy(t1, x1 + 16 * kf, (size_t)(k & 15));
    const __m256i xv0 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)t0));
    const __m256i xv1 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)t1));
    STEP(xv0, xv1, w + 64 * kf)
  }
#undef STEP
  const __m128i bias = _mm_loadu_si128((const __m128i *)e->bias);
  const __m128i r0 = _mm_add_epi32(hsum4(a00, a01, a02, a03), bias);
  const __m128i r1 = _mm_add_epi32(hsum4(a10, a11, a12, a13), bias);
  if (!e->y) { /* int32 accumulators */
    const __m128i cm = _mm_cmpgt_epi32(_mm_set1_epi32(nr_valid), _mm_setr_epi32(0, 1, 2, 3));
    _mm_maskstore_epi32(e->y32, cm, r0);
    if (mr > 1) _mm_maskstore_epi32(e->y32 + e->ldy, cm, r1);
    return;
  }
  const __m256i mult = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)e->mult));
  const __m256i shift = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)e->shift));
  const __m256i q = rq8(_mm256_set_m128i(r1, r0), mult, shift, _mm256_set1_epi64x(e->zy),
                        _mm256_set1_epi64x(e->lo), _mm256_set1_epi64x(e->hi));
  /* Byte 0 of each int32 (in [lo, hi]) to bytes 0-3 of each 128-bit half. */
  const __m256i b = _mm256_shuffle_epi8(
      q, _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 4, 8, 12,
                          -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1));
  const uint32_t y0 = (uint32_t)_mm256_extract_epi32(b, 0),
                 y1 = (uint32_t)_mm256_extract_epi32(b, 4);
  if (nr_valid == 4) {
    memcpy(e->y, &y0, 4);
    if (mr > 1) memcpy(e->y + e->ldy, &y1, 4);
  } else {
    for (int j = 0; j < nr_valid; j++) {
      e->y[j] = (uint8_t)(y0 >> (8 * j));
      if (mr > 1) e->y[e->ldy + j] = (uint8_t)(y1 >> (8 * j));
    }
  }
}

TGT void ptq_qgemm_ukernel_avx2(int64_t k, const void *w, const uint8_t *x, int64_t ldx,
                                int mr_valid, int nr_valid, const ptq_qgemm_epi *e) {
  if (mr_valid > 1)
    tile(k, w, x, ldx, nr_valid, e, 2);
  else
    tile(k, w, x, ldx, nr_valid, e, 1);
}

#endif
