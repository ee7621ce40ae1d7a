/* AVX2 path of the int8 elementwise Add / Mul: 8 lanes per step, the same float32 operations
 * as the plain-C path (qelementwise.c); tails of fewer than 8 elements go through bytes copied
 * to a zero-padded buffer. Compiled for AVX2 by target attribute; called only where the CPU
 * has it. */
#include <string.h>

#include "kernels/qmisc_simd.h"

#if PTQ_HAVE_X86_KERNELS

PTQ_QOPS_NO_CONTRACT

#define TGT PTQ_TGT_AVX2

typedef struct consts {
  __m256i za, zb, zy;
  __m256 sa, sb, sy, flo, fhi, clo, chi;
  int mul, clip;
} consts;

static TGT inline __m256i load8(const uint8_t *p) {
  return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p));
}

static TGT inline __m128i bin8(const consts *k, __m256i a32, __m256 bf) {
  const __m256 af = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(a32, k->za)), k->sa);
  __m256 v = k->mul ? _mm256_mul_ps(af, bf) : _mm256_add_ps(af, bf);
  if (k->clip) v = _mm256_min_ps(k->chi, _mm256_max_ps(k->clo, v)); /* Clip's order, see .h */
  __m256 t = _mm256_div_ps(v, k->sy);
  t = _mm256_min_ps(_mm256_max_ps(t, k->flo), k->fhi); /* t > lo ? t : lo; t < hi ? t : hi */
  const __m256i q = _mm256_add_epi32(_mm256_cvtps_epi32(t), k->zy);
  const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
  return _mm_packus_epi16(w, w);
}

static TGT inline __m256 deq8(const consts *k, __m256i b32) {
  return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(b32, k->zb)), k->sb);
}

static TGT void run(const consts *k, int64_t n, const uint8_t *a, const uint8_t *b, int bs,
                    __m256 bconst, uint8_t *y) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 bf = bs ? deq8(k, load8(b + i)) : bconst;
    _mm_storel_epi64((__m128i *)(y + i), bin8(k, load8(a + i), bf));
  }
  if (i < n) {
    uint8_t ta[8] = {0}, tb[8] = {0}, ty[8];
    memcpy(ta, a + i, (size_t)(n - i));
    if (bs) memcpy(tb, b + i, (size_t)(n - i));
    const __m256 bf = bs ? deq8(k, load8(tb)) : bconst;
    _mm_storel_epi64((__m128i *)ty, bin8(k, load8(ta), bf));
    memcpy(y + i, ty, (size_t)(n - i));
  }
}

TGT void ptq_qbinary_avx2(const ptq_qbin_params *p, int64_t rows, int64_t c, const uint8_t *a,
                          const uint8_t *b, enum ptq_qbin_bcast bcast, uint8_t *y) {
  consts k;
  k.za = _mm256_set1_epi32(p->za);
  k.zb = _mm256_set1_epi32(p->zb);
  k.zy = _mm256_set1_epi32(p->zy);
  k.sa = _mm256_set1_ps(p->sa);
  k.sb = _mm256_set1_ps(p->sb);
  k.sy = _mm256_set1_ps(p->sy);
  k.flo = _mm256_set1_ps((float)(p->lo - p->zy));
  k.fhi = _mm256_set1_ps((float)(p->hi - p->zy));
  k.clo = _mm256_set1_ps(p->clip_lo);
  k.chi = _mm256_set1_ps(p->clip_hi);
  k.mul = p->op == PTQ_QBIN_MUL;
  k.clip = p->clip;
  if (bcast == PTQ_QBIN_SAME) {
    run(&k, rows * c, a, b, 1, _mm256_setzero_ps(), y);
  } else if (bcast == PTQ_QBIN_SCALAR) {
    const float bf = (float)((int32_t)b[0] - p->zb) * p->sb;
    run(&k, rows * c, a, NULL, 0, _mm256_set1_ps(bf), y);
  } else {
    for (int64_t i = 0; i < rows; i++) run(&k, c, a + i * c, b, 1, _mm256_setzero_ps(), y + i * c);
  }
}

#endif
