/* AVX-512 VNNI row of the int8 depthwise convolution: 64 channels per step, 4 taps per
 * vpdpbusd (u8 x s8, 4 products summed into each int32 lane, wrapping). The 4 taps' 64-byte
 * rows are interleaved in-lane (unpack 8 then 16) into 4 vectors whose dword i holds channel
 * 16·(i/4) + 4·j + i%4 of vector j; weights, folded bias and requantization parameters are
 * packed in that order, and packs_epi32 / packus_epi16 (also in-lane) restore the channel
 * order of the output bytes. Exact: see qdwconv_internal.h and ptq_rq512. Compiled for
 * AVX-512 by target attribute; called only where the CPU has it. */
#include "kernels/qdwconv_internal.h"

#if PTQ_HAVE_X86_KERNELS

#define TGT PTQ_TGT_AVX512

static TGT inline __attribute__((always_inline)) void pixel(const ptq_qdw_packed *p,
                                                            const uint8_t **tp, uint8_t *y,
                                                            const int64_t groups) {
  const __m512i qlo = _mm512_set1_epi64(p->lo - p->zy), qhi = _mm512_set1_epi64(p->hi - p->zy);
  const __m512i zy = _mm512_set1_epi32(p->zy);
  for (int64_t b = 0; b < p->nblk; b++) {
    const int64_t rem = p->c - b * 64;
    const __mmask64 m = rem >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << rem) - 1;
    const int32_t *bf = p->bias_f + b * 64;
    __m512i a0 = _mm512_loadu_si512(bf), a1 = _mm512_loadu_si512(bf + 16);
    __m512i a2 = _mm512_loadu_si512(bf + 32), a3 = _mm512_loadu_si512(bf + 48);
    const int8_t *w = (const int8_t *)p->wpk + b * groups * 256;
    const int64_t off = b * 64;
    for (int64_t g = 0; g < groups; g++, w += 256) {
      const uint8_t *const *q = tp + 4 * g;
      const __m512i t0 = _mm512_maskz_loadu_epi8(m, q[0] + off);
      const __m512i t1 = _mm512_maskz_loadu_epi8(m, q[1] + off);
      const __m512i t2 = _mm512_maskz_loadu_epi8(m, q[2] + off);
      const __m512i t3 = _mm512_maskz_loadu_epi8(m, q[3] + off);
      const __m512i l01 = _mm512_unpacklo_epi8(t0, t1), h01 = _mm512_unpackhi_epi8(t0, t1);
      const __m512i l23 = _mm512_unpacklo_epi8(t2, t3), h23 = _mm512_unpackhi_epi8(t2, t3);
      a0 = _mm512_dpbusd_epi32(a0, _mm512_unpacklo_epi16(l01, l23), _mm512_loadu_si512(w));
      a1 = _mm512_dpbusd_epi32(a1, _mm512_unpackhi_epi16(l01, l23), _mm512_loadu_si512(w + 64));
      a2 = _mm512_dpbusd_epi32(a2, _mm512_unpacklo_epi16(h01, h23), _mm512_loadu_si512(w + 128));
      a3 = _mm512_dpbusd_epi32(a3, _mm512_unpackhi_epi16(h01, h23), _mm512_loadu_si512(w + 192));
    }
    const int64_t *rq = p->rq + b * 4 * 48;
#define RQ(a, j)                                                                                  \
  ptq_rq512(a, _mm512_loadu_si512(rq + 48 * j), _mm512_loadu_si512(rq + 48 * j + 8),              \
            _mm512_loadu_si512(rq + 48 * j + 16), _mm512_loadu_si512(rq + 48 * j + 24),           \
            _mm512_loadu_si512(rq + 48 * j + 32), _mm512_loadu_si512(rq + 48 * j + 40), qlo, qhi, \
            zy)
    const __m512i r0 = RQ(a0, 0), r1 = RQ(a1, 1), r2 = RQ(a2, 2), r3 = RQ(a3, 3);
#undef RQ
    const __m512i out = _mm512_packus_epi16(_mm512_packs_epi32(r0, r1), _mm512_packs_epi32(r2, r3));
    _mm512_mask_storeu_epi8(y + off, m, out);
  }
}

static TGT inline __attribute__((always_inline)) void row_g(const ptq_qdw_packed *p,
                                                            const ptq_qdw_geom *g, const uint8_t *x,
                                                            int64_t oh, uint8_t *y,
                                                            const int64_t *tapoff,
                                                            const int64_t groups) {
  const int64_t ys = g->y_pix_stride ? g->y_pix_stride : p->c;
  const uint8_t *tp[PTQ_QDW_MAX_SIMD_TAPS];
  for (int64_t ow = 0; ow < g->w_out; ow++) {
    ptq_qdw_taps(p, g, x, oh, ow, tapoff, groups * 4, tp);
    pixel(p, tp, y + ow * ys, groups);
  }
}

/* Fixed group counts (3x3: 3 groups, 5x5: 7) unroll the tap loop. */
static TGT __attribute__((noinline)) void row_3(const ptq_qdw_packed *p, const ptq_qdw_geom *g,
                                                const uint8_t *x, int64_t oh, uint8_t *y,
                                                const int64_t *tapoff) {
  row_g(p, g, x, oh, y, tapoff, 3);
}
static TGT __attribute__((noinline)) void row_7(const ptq_qdw_packed *p, const ptq_qdw_geom *g,
                                                const uint8_t *x, int64_t oh, uint8_t *y,
                                                const int64_t *tapoff) {
  row_g(p, g, x, oh, y, tapoff, 7);
}

TGT void ptq_qdw_row_avx512(const ptq_qdw_packed *p, const ptq_qdw_geom *g, const uint8_t *x,
                            int64_t oh, uint8_t *y, const int64_t *tapoff) {
  if (p->groups == 3)
    row_3(p, g, x, oh, y, tapoff);
  else if (p->groups == 7)
    row_7(p, g, x, oh, y, tapoff);
  else
    row_g(p, g, x, oh, y, tapoff, p->groups);
}

#endif
