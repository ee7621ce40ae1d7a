/* AVX2 table lookup with pshufb, 32 bytes per step. For x < 128, with D_0 = T_0 and
 * D_k = T_k ^ T_(k-1) (T_k = table[16k .. 16k+15]):
 *   table[x] = XOR_(k=0..7) pshufb(D_k, x - 16k),
 * as x - 16k has bit 7 set (pshufb gives 0) exactly when k > x / 16, and otherwise indexes
 * x & 15; the XOR telescopes to T_(x/16)[x & 15]. The upper half does the same on x ^ 0x80 with
 * T_8..T_15, and bit 7 of x picks the half. Tails go through a zero-padded buffer. Compiled
 * for AVX2 by target attribute; called only where the CPU has it. */
#include <string.h>

#include "kernels/qmisc_simd.h"

#if PTQ_HAVE_X86_KERNELS

#define TGT PTQ_TGT_AVX2

static TGT inline __m256i look(const __m256i *d, __m256i x) {
  const __m256i sixteen = _mm256_set1_epi8(16), xh = _mm256_xor_si256(x, _mm256_set1_epi8(-128));
  __m256i lo = _mm256_shuffle_epi8(d[0], x), hi = _mm256_shuffle_epi8(d[8], xh);
  __m256i il = x, ih = xh;
  for (int k = 1; k < 8; k++) {
    il = _mm256_sub_epi8(il, sixteen);
    ih = _mm256_sub_epi8(ih, sixteen);
    lo = _mm256_xor_si256(lo, _mm256_shuffle_epi8(d[k], il));
    hi = _mm256_xor_si256(hi, _mm256_shuffle_epi8(d[8 + k], ih));
  }
  return _mm256_blendv_epi8(lo, hi, x);
}

TGT void ptq_qlut_avx2(const uint8_t table[256], int64_t n, const uint8_t *x, uint8_t *y) {
  __m256i d[16];
  for (int h = 0; h < 2; h++) {
    for (int k = 0; k < 8; k++) {
      __m128i t = _mm_loadu_si128((const __m128i *)(table + 128 * h + 16 * k));
      if (k > 0)
        t = _mm_xor_si128(t, _mm_loadu_si128((const __m128i *)(table + 128 * h + 16 * k - 16)));
      d[8 * h + k] = _mm256_broadcastsi128_si256(t);
    }
  }
  int64_t i = 0;
  for (; i + 32 <= n; i += 32)
    _mm256_storeu_si256((__m256i *)(y + i), look(d, _mm256_loadu_si256((const __m256i *)(x + i))));
  if (i < n) {
    uint8_t t[32] = {0};
    memcpy(t, x + i, (size_t)(n - i));
    _mm256_storeu_si256((__m256i *)t, look(d, _mm256_loadu_si256((const __m256i *)t)));
    memcpy(y + i, t, (size_t)(n - i));
  }
}

#endif
