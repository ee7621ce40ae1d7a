/* AVX2 runs of the model boundary conversions (qmisc.c): 8 lanes per step with the float32
 * operations of the plain-C path; tails through zero-padded buffers. Compiled for AVX2 by
 * target attribute; called only where the CPU has it. */
#include <string.h>

#include "kernels/qmisc_simd.h"

#if PTQ_HAVE_X86_KERNELS

PTQ_QOPS_NO_CONTRACT

#define TGT PTQ_TGT_AVX2

static TGT inline __m128i q8(__m256 v, __m256 s, __m256 lo, __m256 hi, __m256i z) {
  __m256 t = _mm256_div_ps(v, s);
  t = _mm256_min_ps(_mm256_max_ps(t, lo), hi); /* t > lo ? t : lo (NaN -> lo); t < hi ? t : hi */
  const __m256i q = _mm256_add_epi32(_mm256_cvtps_epi32(t), z);
  const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
  return _mm_packus_epi16(w, w);
}

TGT void ptq_quantize_run_avx2(int64_t n, const float *x, float scale, float flo, float fhi,
                               int32_t zq, uint8_t *y) {
  const __m256 s = _mm256_set1_ps(scale), lo = _mm256_set1_ps(flo), hi = _mm256_set1_ps(fhi);
  const __m256i z = _mm256_set1_epi32(zq);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storel_epi64((__m128i *)(y + i), q8(_mm256_loadu_ps(x + i), s, lo, hi, z));
  if (i < n) {
    float t[8] = {0};
    uint8_t o[8];
    memcpy(t, x + i, (size_t)(n - i) * sizeof *t);
    _mm_storel_epi64((__m128i *)o, q8(_mm256_loadu_ps(t), s, lo, hi, z));
    memcpy(y + i, o, (size_t)(n - i));
  }
}

TGT void ptq_dequantize_run_avx2(int64_t n, const uint8_t *x, float scale, int32_t zq, float *y) {
  const __m256 s = _mm256_set1_ps(scale);
  const __m256i z = _mm256_set1_epi32(zq);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(x + i)));
    _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(v, z)), s));
  }
  for (; i < n; i++) y[i] = (float)((int32_t)x[i] - zq) * scale;
}

#endif
