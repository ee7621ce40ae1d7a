/* AVX2 row of the int8 depthwise convolution: 16 channels per step, 2 taps per vpmaddwd.
 * The two taps' 16-byte rows are interleaved (unpack 8) and zero-extended to int16, so int32
 * lane i holds (x_t0, x_t1) of channel i (channel order kept); the packed weights hold
 * (w_t0, w_t1) as int16, and vpmaddwd gives x_t0·w_t0 + x_t1·w_t1 exactly (|.| <= 65280).
 * A partial last block reads its taps through a zero-padded copy (no read past x). Exact: see
 * qdwconv_internal.h and ptq_rq256. Compiled for AVX2 by target attribute; called only where
 * the CPU has it. */
#include <string.h>

#include "kernels/qdwconv_internal.h"

#if PTQ_HAVE_X86_KERNELS

#define TGT PTQ_TGT_AVX2

static TGT inline __attribute__((always_inline)) __m256i pair(const uint8_t *a, const uint8_t *b,
                                                              const int16_t *w, int hi) {
  const __m128i t0 = _mm_loadu_si128((const __m128i *)a), t1 = _mm_loadu_si128((const __m128i *)b);
  const __m128i u = hi ? _mm_unpackhi_epi8(t0, t1) : _mm_unpacklo_epi8(t0, t1);
  return _mm256_madd_epi16(_mm256_cvtepu8_epi16(u), _mm256_loadu_si256((const __m256i *)w));
}

/* 16 channels at offset off of every tap; y gets nout <= 16 bytes. */
static TGT inline __attribute__((always_inline)) void block(const ptq_qdw_packed *p,
                                                            const uint8_t *const *tp, int64_t b,
                                                            int64_t off, uint8_t *y, int nout,
                                                            const int64_t groups) {
  const int32_t *bf = p->bias_f + b * 16;
  __m256i a0 = _mm256_loadu_si256((const __m256i *)bf);
  __m256i a1 = _mm256_loadu_si256((const __m256i *)(bf + 8));
  const int16_t *w = (const int16_t *)p->wpk + b * groups * 32;
  for (int64_t g = 0; g < groups; g++, w += 32) {
    a0 = _mm256_add_epi32(a0, pair(tp[2 * g] + off, tp[2 * g + 1] + off, w, 0));
    a1 = _mm256_add_epi32(a1, pair(tp[2 * g] + off, tp[2 * g + 1] + off, w + 16, 1));
  }
  const __m256i qlo = _mm256_set1_epi64x(p->lo - p->zy), qhi = _mm256_set1_epi64x(p->hi - p->zy);
  const __m256i zy = _mm256_set1_epi32(p->zy);
  const int64_t *rq = p->rq + b * 2 * 24;
#define L(k) _mm256_loadu_si256((const __m256i *)(rq + (k)))
  const __m256i r0 = ptq_rq256(a0, L(0), L(4), L(8), L(12), L(16), L(20), qlo, qhi, zy);
  const __m256i r1 = ptq_rq256(a1, L(24), L(28), L(32), L(36), L(40), L(44), qlo, qhi, zy);
#undef L
  const __m128i w0 = _mm_packs_epi32(_mm256_castsi256_si128(r0), _mm256_extracti128_si256(r0, 1));
  const __m128i w1 = _mm_packs_epi32(_mm256_castsi256_si128(r1), _mm256_extracti128_si256(r1, 1));
  const __m128i out = _mm_packus_epi16(w0, w1);
  if (nout == 16) {
    _mm_storeu_si128((__m128i *)y, out);
  } else {
    uint8_t tmp[16];
    _mm_storeu_si128((__m128i *)tmp, out);
    memcpy(y, tmp, (size_t)nout);
  }
}

static TGT inline __attribute__((always_inline)) void row_g(const ptq_qdw_packed *p,
                                                            const ptq_qdw_geom *g, const uint8_t *x,
                                                            int64_t oh, uint8_t *y,
                                                            const int64_t *tapoff,
                                                            const int64_t groups) {
  const int64_t ys = g->y_pix_stride ? g->y_pix_stride : p->c;
  const int64_t full = p->c / 16, rem = p->c % 16;
  const uint8_t *tp[PTQ_QDW_MAX_SIMD_TAPS];
  const uint8_t *tq[PTQ_QDW_MAX_SIMD_TAPS];
  uint8_t tail[PTQ_QDW_MAX_SIMD_TAPS][16];
  if (rem) memset(tail, 0, (size_t)(groups * 2) * sizeof tail[0]);
  for (int64_t ow = 0; ow < g->w_out; ow++) {
    ptq_qdw_taps(p, g, x, oh, ow, tapoff, groups * 2, tp);
    uint8_t *yp = y + ow * ys;
    for (int64_t b = 0; b < full; b++) block(p, tp, b, b * 16, yp + b * 16, 16, groups);
    if (rem) {
      for (int64_t t = 0; t < groups * 2; t++) {
        memcpy(tail[t], tp[t] + full * 16, (size_t)rem);
        tq[t] = tail[t];
      }
      block(p, tq, full, 0, yp + full * 16, (int)rem, groups);
    }
  }
}

/* Fixed group counts (3x3: 5 groups, 5x5: 13) unroll the tap loop. */
static TGT __attribute__((noinline)) void row_5(const ptq_qdw_packed *p, const ptq_qdw_geom *g,
                                                const uint8_t *x, int64_t oh, uint8_t *y,
                                                const int64_t *tapoff) {
  row_g(p, g, x, oh, y, tapoff, 5);
}
static TGT __attribute__((noinline)) void row_13(const ptq_qdw_packed *p, const ptq_qdw_geom *g,
                                                 const uint8_t *x, int64_t oh, uint8_t *y,
                                                 const int64_t *tapoff) {
  row_g(p, g, x, oh, y, tapoff, 13);
}

TGT void ptq_qdw_row_avx2(const ptq_qdw_packed *p, const ptq_qdw_geom *g, const uint8_t *x,
                          int64_t oh, uint8_t *y, const int64_t *tapoff) {
  if (p->groups == 5)
    row_5(p, g, x, oh, y, tapoff);
  else if (p->groups == 13)
    row_13(p, g, x, oh, y, tapoff);
  else
    row_g(p, g, x, oh, y, tapoff, p->groups);
}

#endif
