/* AVX-512 runs of the model boundary conversions (qmisc.c): 16 lanes per step with the float32
 * operations of the plain-C path (div, max, min, round-to-nearest-even conversion under the
 * default MXCSR; cvt and mul for the dequantization), tails masked. Compiled for AVX-512 by
 * target attribute; called only where the CPU has it. */
#include "kernels/qmisc_simd.h"

#if PTQ_HAVE_X86_KERNELS

PTQ_QOPS_NO_CONTRACT

#define TGT PTQ_TGT_AVX512

static TGT inline __m128i q16(__m512 v, __m512 s, __m512 lo, __m512 hi, __m512i z) {
  __m512 t = _mm512_div_ps(v, s);
  t = _mm512_min_ps(_mm512_max_ps(t, lo), hi); /* t > lo ? t : lo (NaN -> lo); t < hi ? t : hi */
  return _mm512_cvtepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(t), z));
}

TGT void ptq_quantize_run_avx512(int64_t n, const float *x, float scale, float flo, float fhi,
                                 int32_t zq, uint8_t *y) {
  const __m512 s = _mm512_set1_ps(scale), lo = _mm512_set1_ps(flo), hi = _mm512_set1_ps(fhi);
  const __m512i z = _mm512_set1_epi32(zq);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm_storeu_si128((__m128i *)(y + i), q16(_mm512_loadu_ps(x + i), s, lo, hi, z));
  if (i < n) {
    const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
    _mm_mask_storeu_epi8(y + i, m, q16(_mm512_maskz_loadu_ps(m, x + i), s, lo, hi, z));
  }
}

TGT void ptq_dequantize_run_avx512(int64_t n, const uint8_t *x, float scale, int32_t zq, float *y) {
  const __m512 s = _mm512_set1_ps(scale);
  const __m512i z = _mm512_set1_epi32(zq);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(x + i)));
    _mm512_storeu_ps(y + i, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(v, z)), s));
  }
  if (i < n) {
    const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
    const __m512i v = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, x + i));
    _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(v, z)), s));
  }
}

#endif
