/* Float32 fast path of the requantization (= ptq_requant_ref, exactly, with a fallback), shared by
 * the AVX-512 VNNI int8 kernels (qgemm_avx512vnni.c, qdwconv_avx512vnni.c). Not part of the
 * kernel contract.
 *
 * With t = acc · mult · 2^-shift and T = t + zy (zy an integer in [0, 255]), the kernel computes
 * in float32, scaled by 2^12,
 *   v = fma((float)acc, mf, zf),  mf = (float)(mult · 2^(12 - shift)) (ptq_rqf_mult, at pack
 *   time), zf = zy · 2^12 + 2^11 (exact),
 * then q = v rounded to the nearest int32, and r = q >> 12 (floor) as the result before the
 * clamp to [lo, hi]. v is 2^12 times the same computation unscaled (scaling by a power of 2
 * commutes with rounding here), whose three roundings (acc, mf, the fma) each have a relative
 * error of at most u = 2^-24 (round to nearest; nothing is subnormal: mf >= 2^-21 or 0). So for
 * |t| <= 2^9, with V = v · 2^-12 and Q = q · 2^-12,
 *   |V - (T + 1/2)| <= |t|·(2u + u²) + (|t|·(1 + u)² + zy + 1/2)·u < (3·2^9 + 256)·u
 *                    = 1.75·2^-14,
 *   |Q - (T + 1/2)| <= 2^-13 + 1.75·2^-14 = 0.9375·2^-12 < 2^-12.
 * Q is a multiple of 2^-12; unless it is an integer (the low 12 bits of q all zero), the
 * nearest integers below and above Q are at least 2^-12 away, so T + 1/2 lies strictly between
 * the same two integers as Q: floor(Q) = floor(T + 1/2), and T is not a tie (T + 1/2 is not an
 * integer), so r = round_half_even(T) = round_half_even(t) + zy. When |t| > 2^9, |T| > 256 and
 * r is on the same side of [0, 255] (|r| > 255), so both clamp to the same end. Lanes whose q
 * has its low 12 bits zero (one in 4096, and every exact tie) must be recomputed exactly
 * (ptq_requant_ref or the 64-bit SIMD path) by the caller. mult == 0 gives mf = 0 and v = zf,
 * r = zy. q fits int32 when |acc · mf| < 2^30 for every acc (|v| < 2^30·(1 + 2^-22) + 2^20 +
 * 2^11); a column that may pass it (ptq_rqf_big, from a bound on |acc|) needs v clamped first
 * to [-2^22 + 2^11, 2^22 + 2^11] (T at least 1023.5 in magnitude: no result changes, and the
 * clamped q have nonzero low bits).
 *
 * The vector helpers work on W/4 lanes of a vector of W bytes: a zmm (W = 64), or the low ymm /
 * xmm of one (W = 32 / 16); W is a compile-time constant in every caller. */
#ifndef PTQ_QREQUANT_AVX512_H
#define PTQ_QREQUANT_AVX512_H

#include <math.h>
#include <stdint.h>

#include "kernels/kernels_internal.h"
#include "kernels/qkernels.h"

/* The scaled float multiplier mf of (mult, shift): mult · 2^(12 - shift) rounded once to float. */
static inline float ptq_rqf_mult(int32_t mult, int32_t shift) {
  return (float)ldexp((double)mult, 12 - shift);
}

/* zf of the zero point zy (in [0, 255]): zy · 2^12 + 2^11. */
static inline float ptq_rqf_zf(int32_t zy) {
  return (float)(zy * 4096 + 2048);
}

/* Whether a column with scaled multiplier mf and accumulators bounded by amax in magnitude needs
 * the clamp of v (|acc · mf| may reach 2^30). */
static inline int ptq_rqf_big(float mf, double amax) {
  return amax * (double)mf >= 0x1p30;
}

#if PTQ_HAVE_X86_KERNELS
#include <immintrin.h>

#define PTQ_RQF_INL                                                                      \
  static __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma"))) inline \
      __attribute__((always_inline))

/* W/4 lanes: v = fma((float)acc, mf[0 .. W/4), zf), clamped when big; returns r = q >> 12
 * (int32, not yet clamped to [lo, hi]) and in *ok the lanes of ok_in whose q has a nonzero low
 * 12 bits (r exact). */
PTQ_RQF_INL __m512i ptq_rqf(const int W, __m512i acc, const float *mf, float zf, const int big,
                            unsigned ok_in, unsigned *ok) {
  const float clo = -0x1p22f + 2048, chi = 0x1p22f + 2048;
  if (W == 64) {
    __m512 v = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), _mm512_loadu_ps(mf), _mm512_set1_ps(zf));
    if (big) v = _mm512_max_ps(_mm512_min_ps(v, _mm512_set1_ps(chi)), _mm512_set1_ps(clo));
    const __m512i q = _mm512_cvt_roundps_epi32(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    *ok = _mm512_mask_test_epi32_mask((__mmask16)ok_in, q, _mm512_set1_epi32(0xFFF));
    return _mm512_srai_epi32(q, 12);
  }
  if (W == 32) {
    __m256 v = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm512_castsi512_si256(acc)), _mm256_loadu_ps(mf),
                               _mm256_set1_ps(zf));
    if (big) v = _mm256_max_ps(_mm256_min_ps(v, _mm256_set1_ps(chi)), _mm256_set1_ps(clo));
    const __m256i q = _mm256_cvtps_epi32(v); /* MXCSR: round to nearest */
    *ok = _mm256_mask_test_epi32_mask((__mmask8)ok_in, q, _mm256_set1_epi32(0xFFF));
    return _mm512_castsi256_si512(_mm256_srai_epi32(q, 12));
  }
  __m128 v =
      _mm_fmadd_ps(_mm_cvtepi32_ps(_mm512_castsi512_si128(acc)), _mm_loadu_ps(mf), _mm_set1_ps(zf));
  if (big) v = _mm_max_ps(_mm_min_ps(v, _mm_set1_ps(chi)), _mm_set1_ps(clo));
  const __m128i q = _mm_cvtps_epi32(v);
  *ok = _mm_mask_test_epi32_mask((__mmask8)ok_in, q, _mm_set1_epi32(0xFFF));
  return _mm512_castsi128_si512(_mm_srai_epi32(q, 12));
}

/* All lanes of a vector of W bytes (W/4 bits). */
#define PTQ_RQF_ALL(W) ((1u << ((W) / 4)) - 1)
#endif

#endif
