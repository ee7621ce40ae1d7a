/* AVX2 pixel functions of the int8 pooling (see qpool.c). Max: 32 channels per step with
 * vpmaxub / vpminub; average: exact int32 sums of 8 channels per vector, S = sum - taps·zx,
 * then ptq_rq256 (= ptq_requant_ref). Channel tails go through zero-padded buffers. Compiled
 * for AVX2 by target attribute; called only where the CPU has it. */
#include <string.h>

#include "kernels/qmisc_simd.h"

#if PTQ_HAVE_X86_KERNELS

#define TGT PTQ_TGT_AVX2

TGT void ptq_qmax_pix_avx2(const ptq_qpool_pix *q, uint8_t *y) {
  for (int64_t c0 = 0; c0 < q->c; c0 += 32) {
    const int64_t n = q->c - c0 < 32 ? q->c - c0 : 32;
    __m256i v = _mm256_set1_epi8((char)q->lo);
    uint8_t t[32] = {0};
    for (int64_t r = 0; r < q->rows; r++) {
      const uint8_t *p = q->base + r * q->row_step + c0;
      for (int64_t k = 0; k < q->cols; k++, p += q->col_step) {
        if (n == 32) {
          v = _mm256_max_epu8(v, _mm256_loadu_si256((const __m256i *)p));
        } else {
          memcpy(t, p, (size_t)n);
          v = _mm256_max_epu8(v, _mm256_loadu_si256((const __m256i *)t));
        }
      }
    }
    v = _mm256_min_epu8(v, _mm256_set1_epi8((char)q->hi));
    if (n == 32) {
      _mm256_storeu_si256((__m256i *)(y + c0), v);
    } else {
      _mm256_storeu_si256((__m256i *)t, v);
      memcpy(y + c0, t, (size_t)n);
    }
  }
}

TGT void ptq_qavg_pix_avx2(const ptq_qpool_pix *q, uint8_t *y) {
  const __m256i me = _mm256_set1_epi64x(q->mult), se = _mm256_set1_epi64x(q->shift);
  const __m256i ce = _mm256_set1_epi64x((INT64_C(1) << (q->shift - 1)) - 1);
  const __m256i qlo = _mm256_set1_epi64x(q->lo - q->zy), qhi = _mm256_set1_epi64x(q->hi - q->zy);
  const __m256i zy = _mm256_set1_epi32(q->zy);
  const __m256i off = _mm256_set1_epi32((int32_t)(q->rows * q->cols) * q->zx);
  for (int64_t c0 = 0; c0 < q->c; c0 += 8) {
    const int64_t n = q->c - c0 < 8 ? q->c - c0 : 8;
    uint8_t t[8] = {0};
    __m256i s = _mm256_setzero_si256();
    for (int64_t r = 0; r < q->rows; r++) {
      const uint8_t *p = q->base + r * q->row_step + c0;
      for (int64_t k = 0; k < q->cols; k++, p += q->col_step) {
        const uint8_t *ld = p;
        if (n < 8) {
          memcpy(t, p, (size_t)n);
          ld = t;
        }
        s = _mm256_add_epi32(s, _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)ld)));
      }
    }
    const __m256i v = ptq_rq256(_mm256_sub_epi32(s, off), me, me, se, se, ce, ce, qlo, qhi, zy);
    const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    const __m128i b = _mm_packus_epi16(w, w);
    if (n == 8) {
      _mm_storel_epi64((__m128i *)(y + c0), b);
    } else {
      _mm_storel_epi64((__m128i *)t, b);
      memcpy(y + c0, t, (size_t)n);
    }
  }
}

#endif
