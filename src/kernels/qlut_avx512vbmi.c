/* AVX-512 VBMI table lookup: two vpermi2b (entries 0..127 and 128..255, index bit 6 picks the
 * 64-entry half, bits 0..5 the entry) and a blend on index bit 7; 64 bytes per step, tail
 * masked. Compiled by target attribute; called only where the CPU has AVX-512 VBMI. */
#include "kernels/qmisc_simd.h"

#if PTQ_HAVE_X86_KERNELS

#define TGT PTQ_TGT_AVX512VBMI

TGT void ptq_qlut_avx512vbmi(const uint8_t table[256], int64_t n, const uint8_t *x, uint8_t *y) {
  const __m512i t0 = _mm512_loadu_si512(table), t1 = _mm512_loadu_si512(table + 64);
  const __m512i t2 = _mm512_loadu_si512(table + 128), t3 = _mm512_loadu_si512(table + 192);
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    const __m512i v = _mm512_loadu_si512(x + i);
    const __m512i lo = _mm512_permutex2var_epi8(t0, v, t1),
                  hi = _mm512_permutex2var_epi8(t2, v, t3);
    _mm512_storeu_si512(y + i, _mm512_mask_blend_epi8(_mm512_movepi8_mask(v), lo, hi));
  }
  if (i < n) {
    const __mmask64 m = ((__mmask64)1 << (n - i)) - 1;
    const __m512i v = _mm512_maskz_loadu_epi8(m, x + i);
    const __m512i lo = _mm512_permutex2var_epi8(t0, v, t1),
                  hi = _mm512_permutex2var_epi8(t2, v, t3);
    _mm512_mask_storeu_epi8(y + i, m, _mm512_mask_blend_epi8(_mm512_movepi8_mask(v), lo, hi));
  }
}

#endif
