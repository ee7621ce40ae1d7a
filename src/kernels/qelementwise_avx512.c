/* AVX-512 path of the int8 elementwise Add / Mul: 16 lanes per step, the same float32
 * operations as the plain-C path (qelementwise.c), tails masked. Compiled for AVX-512 by
 * target attribute; called only where the CPU has it. */
#include "kernels/qmisc_simd.h"

#if PTQ_HAVE_X86_KERNELS

PTQ_QOPS_NO_CONTRACT

#define TGT PTQ_TGT_AVX512

typedef struct consts {
  __m512i za, zb, zy;
  __m512 sa, sb, sy, flo, fhi, clo, chi;
  int mul, clip;
} consts;

/* 16 results of a (uint8 as int32 lanes) op bf (dequantized b). */
static TGT inline __m128i bin16(const consts *k, __m128i a8, __m512 bf) {
  const __m512 af =
      _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_cvtepu8_epi32(a8), k->za)), k->sa);
  __m512 v = k->mul ? _mm512_mul_ps(af, bf) : _mm512_add_ps(af, bf);
  if (k->clip) v = _mm512_min_ps(k->chi, _mm512_max_ps(k->clo, v)); /* Clip's order, see .h */
  __m512 t = _mm512_div_ps(v, k->sy);
  t = _mm512_min_ps(_mm512_max_ps(t, k->flo), k->fhi); /* t > lo ? t : lo; t < hi ? t : hi */
  return _mm512_cvtepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(t), k->zy));
}

static TGT inline __m512 deq16(const consts *k, __m128i b8) {
  return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_cvtepu8_epi32(b8), k->zb)),
                       k->sb);
}

static TGT inline __mmask16 tailmask(int64_t r) {
  return r >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << r) - 1);
}

/* y[0..n) = a op b, b same shape (bs 1) or one dequantized value bconst (bs 0). */
static TGT void run(const consts *k, int64_t n, const uint8_t *a, const uint8_t *b, int bs,
                    __m512 bconst, uint8_t *y) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m128i a8 = _mm_loadu_si128((const __m128i *)(a + i));
    const __m512 bf = bs ? deq16(k, _mm_loadu_si128((const __m128i *)(b + i))) : bconst;
    _mm_storeu_si128((__m128i *)(y + i), bin16(k, a8, bf));
  }
  if (i < n) {
    const __mmask16 m = tailmask(n - i);
    const __m128i a8 = _mm_maskz_loadu_epi8(m, a + i);
    const __m512 bf = bs ? deq16(k, _mm_maskz_loadu_epi8(m, b + i)) : bconst;
    _mm_mask_storeu_epi8(y + i, m, bin16(k, a8, bf));
  }
}

TGT void ptq_qbinary_avx512(const ptq_qbin_params *p, int64_t rows, int64_t c, const uint8_t *a,
                            const uint8_t *b, enum ptq_qbin_bcast bcast, uint8_t *y) {
  consts k;
  k.za = _mm512_set1_epi32(p->za);
  k.zb = _mm512_set1_epi32(p->zb);
  k.zy = _mm512_set1_epi32(p->zy);
  k.sa = _mm512_set1_ps(p->sa);
  k.sb = _mm512_set1_ps(p->sb);
  k.sy = _mm512_set1_ps(p->sy);
  k.flo = _mm512_set1_ps((float)(p->lo - p->zy));
  k.fhi = _mm512_set1_ps((float)(p->hi - p->zy));
  k.clo = _mm512_set1_ps(p->clip_lo);
  k.chi = _mm512_set1_ps(p->clip_hi);
  k.mul = p->op == PTQ_QBIN_MUL;
  k.clip = p->clip;
  if (bcast == PTQ_QBIN_SAME) {
    run(&k, rows * c, a, b, 1, _mm512_setzero_ps(), y);
  } else if (bcast == PTQ_QBIN_SCALAR) {
    const float bf = (float)((int32_t)b[0] - p->zb) * p->sb;
    run(&k, rows * c, a, NULL, 0, _mm512_set1_ps(bf), y);
  } else {
    for (int64_t i = 0; i < rows; i++) run(&k, c, a + i * c, b, 1, _mm512_setzero_ps(), y + i * c);
  }
}

#endif
