/* Packed depthwise weights (qdwconv*.c); not part of the kernel contract.
 *
 * SIMD paths fold the input zero point into the bias: acc = bias - zx·Σ_t w_t + Σ_t x_t·w_t
 * over all k_h·k_w taps, a tap in the padding reading zx (x_t = zx adds zx·w_t, which the
 * folded term cancels). This equals the exact sum modulo 2^32 and the exact sum fits int32,
 * so the wrapping int32 arithmetic gives it exactly. Extra taps that complete a group have
 * zero weights (their x values never matter).
 *
 * AVX2: taps grouped 2 per vpmaddwd in tap order (the last group completed with a zero-weight
 * tap reading zrow).
 *
 * AVX-512 VNNI: channel blocks of 64, 32 or 16 channels (zmm, ymm, xmm; the last block of 16
 * may be partial), and for each kernel column j the rows grouped 4 per vpdpbusd ("quads":
 * nq = ceil(k_h / 4) per column, rows past k_h with zero weights). The quad of input column
 * iw (4 rows' bytes interleaved per channel) serves every output pixel whose window holds
 * that column, so a row sweep builds each column once. */
#ifndef PTQ_QDWCONV_INTERNAL_H
#define PTQ_QDWCONV_INTERNAL_H

#include "kernels/qmisc_simd.h"

/* Kernels with more taps than this use the plain-C path (same results). */
#define PTQ_QDW_MAX_SIMD_TAPS 256

struct ptq_qdw_packed {
  enum ptq_qisa isa;
  int64_t c, k_h, k_w, kk;
  int32_t zx, zy;
  uint8_t lo, hi;
  /* Plain C: w[t][ch] (t = i·k_w + j), bias (zeros when none), mult, shift. */
  int8_t *w;
  int32_t *bias, *mult, *shift;
  /* AVX2: blocks of vw = 16 channels, groups of 2 taps: wpk [blk][g][j < 2][8 dwords of 2
   * taps' int16], channel 8·j + i; bias_f [blk][16]; rq [blk][vector][6][4]: me, mo, se, so,
   * ce, co (ptq_qrq_fill).
   * AVX-512: a block at channel offset off and width W (64 while >= 64 channels remain, then
   * 32, then 16s) has its weights at wpk + off·k_w·nq·4: [j < k_w][q < nq][v < 4][W/4 dwords
   * of 4 rows' int8], channel of dword i of vector v off + 16·(i/4) + 4·v + i%4 (the in-lane
   * unpack order); bias_f [off + v·W/4 + i] and mf (the scaled float multiplier, ptq_rqf_mult)
   * likewise. */
  int64_t vw, nblk, groups, nq;
  void *wpk;
  int32_t *bias_f;
  int64_t *rq;
  float *mf;
  int rq_big;    /* AVX-512: some channel needs the clamp of the float path (ptq_rqf_big) */
  uint8_t *zrow; /* zx bytes: the padded channel count + 64 */
};

/* Width of the AVX-512 channel block that starts rem channels before the end. */
static inline int ptq_qdw_blk_w(int64_t rem) {
  return rem >= 64 ? 64 : rem >= 32 ? 32 : 16;
}

/* One output row (image b, row oh) of the SIMD paths. tapoff holds, for every tap t < kk,
 * the element offset of tap t from the window origin (i·dil_h·w_in + j·dil_w)·x_pix_stride. */
void ptq_qdw_row_avx2(const struct ptq_qdw_packed *p, const ptq_qdw_geom *g, const uint8_t *x,
                      int64_t oh, uint8_t *y, const int64_t *tapoff);
void ptq_qdw_row_avx512(const struct ptq_qdw_packed *p, const ptq_qdw_geom *g, const uint8_t *x,
                        int64_t oh, uint8_t *y, const int64_t *tapoff);

/* Fills tp[t] (t < ntp, a multiple of the group size) with the tap pointers of output pixel
 * (oh, ow): x + origin + tapoff[t] inside x, zrow outside or for t >= kk. */
static inline void ptq_qdw_taps(const struct ptq_qdw_packed *p, const ptq_qdw_geom *g,
                                const uint8_t *x, int64_t oh, int64_t ow, const int64_t *tapoff,
                                int64_t ntp, const uint8_t **tp) {
  const int64_t ih0 = oh * g->stride_h - g->pad_t, iw0 = ow * g->stride_w - g->pad_l;
  const int64_t xs = g->x_pix_stride ? g->x_pix_stride : p->c;
  const int64_t kh = p->k_h, kw = p->k_w;
  const int64_t org = (ih0 * g->w_in + iw0) * xs; /* a pointer only once inside x */
  if (ih0 >= 0 && iw0 >= 0 && ih0 + (kh - 1) * g->dil_h < g->h_in &&
      iw0 + (kw - 1) * g->dil_w < g->w_in) {
    for (int64_t t = 0; t < p->kk; t++) tp[t] = x + (org + tapoff[t]);
  } else {
    for (int64_t i = 0, t = 0; i < kh; i++) {
      const int64_t ih = ih0 + i * g->dil_h;
      const int row_in = ih >= 0 && ih < g->h_in;
      for (int64_t j = 0; j < kw; j++, t++) {
        const int64_t iw = iw0 + j * g->dil_w;
        tp[t] = row_in && iw >= 0 && iw < g->w_in ? x + (org + tapoff[t]) : p->zrow;
      }
    }
  }
  for (int64_t t = p->kk; t < ntp; t++) tp[t] = p->zrow;
}

#endif
