/* AVX-512 pixel functions of the int8 pooling (see qpool.c): 64 channels per step (tail
 * masked). Max: vpmaxub from lo, then vpminub with hi. Average: exact uint32 sums of 16
 * channels per vector, S = sum - taps·zx, then ptq_rq512 (= ptq_requant_ref). Compiled for
 * AVX-512 by target attribute; called only where the CPU has it. */
#include "kernels/qmisc_simd.h"

#if PTQ_HAVE_X86_KERNELS

#define TGT PTQ_TGT_AVX512

static TGT inline __mmask64 mask64(int64_t r) {
  return r >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << r) - 1;
}

TGT void ptq_qmax_pix_avx512(const ptq_qpool_pix *q, uint8_t *y) {
  for (int64_t c0 = 0; c0 < q->c; c0 += 64) {
    const __mmask64 m = mask64(q->c - c0);
    __m512i v = _mm512_set1_epi8((char)q->lo);
    for (int64_t r = 0; r < q->rows; r++) {
      const uint8_t *p = q->base + r * q->row_step + c0;
      for (int64_t k = 0; k < q->cols; k++, p += q->col_step)
        v = _mm512_max_epu8(v, _mm512_maskz_loadu_epi8(m, p));
    }
    _mm512_mask_storeu_epi8(y + c0, m, _mm512_min_epu8(v, _mm512_set1_epi8((char)q->hi)));
  }
}

TGT void ptq_qavg_pix_avx512(const ptq_qpool_pix *q, uint8_t *y) {
  const __m512i me = _mm512_set1_epi64(q->mult), se = _mm512_set1_epi64(q->shift);
  const __m512i ce = _mm512_set1_epi64((INT64_C(1) << (q->shift - 1)) - 1);
  const __m512i qlo = _mm512_set1_epi64(q->lo - q->zy), qhi = _mm512_set1_epi64(q->hi - q->zy);
  const __m512i zy = _mm512_set1_epi32(q->zy);
  const __m512i off = _mm512_set1_epi32((int32_t)(q->rows * q->cols) * q->zx);
  for (int64_t c0 = 0; c0 < q->c; c0 += 64) {
    const __mmask64 m = mask64(q->c - c0);
    __m512i s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0;
    for (int64_t r = 0; r < q->rows; r++) {
      const uint8_t *p = q->base + r * q->row_step + c0;
      for (int64_t k = 0; k < q->cols; k++, p += q->col_step) {
        const __m512i v = _mm512_maskz_loadu_epi8(m, p);
        s0 = _mm512_add_epi32(s0, _mm512_cvtepu8_epi32(_mm512_castsi512_si128(v)));
        s1 = _mm512_add_epi32(s1, _mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(v, 1)));
        s2 = _mm512_add_epi32(s2, _mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(v, 2)));
        s3 = _mm512_add_epi32(s3, _mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(v, 3)));
      }
    }
    const __m512i r0 = ptq_rq512(_mm512_sub_epi32(s0, off), me, me, se, se, ce, ce, qlo, qhi, zy);
    const __m512i r1 = ptq_rq512(_mm512_sub_epi32(s1, off), me, me, se, se, ce, ce, qlo, qhi, zy);
    const __m512i r2 = ptq_rq512(_mm512_sub_epi32(s2, off), me, me, se, se, ce, ce, qlo, qhi, zy);
    const __m512i r3 = ptq_rq512(_mm512_sub_epi32(s3, off), me, me, se, se, ce, ce, qlo, qhi, zy);
    const __m512i out = _mm512_inserti64x4(
        _mm512_castsi256_si512(_mm256_inserti128_si256(
            _mm256_castsi128_si256(_mm512_cvtepi32_epi8(r0)), _mm512_cvtepi32_epi8(r1), 1)),
        _mm256_inserti128_si256(_mm256_castsi128_si256(_mm512_cvtepi32_epi8(r2)),
                                _mm512_cvtepi32_epi8(r3), 1),
        1);
    _mm512_mask_storeu_epi8(y + c0, m, out);
  }
}

#endif
