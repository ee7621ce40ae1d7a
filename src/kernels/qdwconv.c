/* Int8 depthwise convolution (qops.h): weight packing, the plain-C path (the reference: the
 * exact sum over the taps inside x, then ptq_requant_ref) and the row-parallel driver. The
 * AVX2 and AVX-512 VNNI rows are in qdwconv_avx2.c / qdwconv_avx512vnni.c (see
 * qdwconv_internal.h for their packed layouts and the folded zero point). Every output row
 * (image, oh) is computed by one thread in a fixed order, so results do not depend on the
 * thread count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/qdwconv_internal.h"
#include "kernels/qrequant_avx512.h"
#include "util/pool.h"
#include "util/util.h"

void ptq_qdw_free(ptq_qdw_packed *p) {
  if (!p) return;
  free(p->w);
  free(p->bias);
  free(p->mult);
  free(p->shift);
  free(p->wpk);
  free(p->bias_f);
  free(p->rq);
  free(p->mf);
  free(p->zrow);
  free(p);
}

const char *ptq_qdw_packed_isa(const ptq_qdw_packed *p) {
  return ptq_qisa_name(p->isa);
}

/* AVX2 layout (qdwconv_internal.h): channel of dword i of vector j of a block is 8·j + i. */
static int pack_avx2(ptq_qdw_packed *p) {
  const int64_t vw = 16, gt = 2, lanes = 8;
  const int nvec = 2;
  p->vw = vw;
  p->nblk = (p->c + vw - 1) / vw;
  p->groups = (p->kk + gt - 1) / gt;
  const size_t cpad = (size_t)(p->nblk * vw);
  const size_t gbytes = 64; /* bytes of one group of one block */
  p->wpk = calloc((size_t)(p->nblk * p->groups), gbytes);
  p->bias_f = calloc(cpad, sizeof *p->bias_f);
  p->rq = calloc(cpad * 3, sizeof *p->rq); /* 6 x lanes/2 int64 per vector of lanes */
  p->zrow = malloc(cpad);
  if (!p->wpk || !p->bias_f || !p->rq || !p->zrow) return -1;
  memset(p->zrow, p->zx, cpad);
  for (int64_t b = 0; b < p->nblk; b++) {
    for (int j = 0; j < nvec; j++) {
      int32_t mult[16], shift[16];
      for (int i = 0; i < lanes; i++) {
        const int64_t ch = b * vw + 8 * j + i;
        int64_t bf = 0; /* bias - zx · Σ w, in int64 then wrapped (see the header) */
        if (ch < p->c) {
          bf = p->bias[ch];
          for (int64_t t = 0; t < p->kk; t++) bf -= (int64_t)p->zx * p->w[t * p->c + ch];
        }
        p->bias_f[b * vw + j * lanes + i] = (int32_t)(uint32_t)(uint64_t)bf;
        mult[i] = ch < p->c ? p->mult[ch] : 0;
        shift[i] = ch < p->c ? p->shift[ch] : 1;
        for (int64_t g = 0; g < p->groups; g++) {
          for (int64_t e = 0; e < gt; e++) {
            const int64_t t = g * gt + e;
            const int8_t wv = ch < p->c && t < p->kk ? p->w[t * p->c + ch] : 0;
            const size_t at = (size_t)(b * p->groups + g) * gbytes + (size_t)j * (gbytes / nvec);
            ((int16_t *)p->wpk)[at / 2 + (size_t)(i * 2 + e)] = wv;
          }
        }
      }
      int64_t *rq = p->rq + (b * nvec + j) * 3 * lanes;
      const int h = (int)lanes / 2;
      ptq_qrq_fill(rq, rq + h, rq + 2 * h, rq + 3 * h, rq + 4 * h, rq + 5 * h, (int)lanes, mult,
                   shift);
    }
  }
  return 0;
}

/* AVX-512 layout (qdwconv_internal.h): blocks of 64/32/16 channels, row quads per column. */
static int pack_avx512(ptq_qdw_packed *p) {
  const int64_t cpad = (p->c + 15) / 16 * 16, nq = (p->k_h + 3) / 4, kw = p->k_w;
  p->nq = nq;
  p->wpk = calloc((size_t)(cpad * kw * nq * 4), 1);
  p->bias_f = calloc((size_t)cpad, sizeof *p->bias_f);
  p->mf = calloc((size_t)cpad, sizeof *p->mf);
  p->zrow = malloc((size_t)cpad + 64);
  if (!p->wpk || !p->bias_f || !p->mf || !p->zrow) return -1;
  memset(p->zrow, p->zx, (size_t)cpad + 64);
  for (int64_t off = 0; off < p->c;) {
    const int64_t W = ptq_qdw_blk_w(p->c - off);
    int8_t *wb = (int8_t *)p->wpk + off * kw * nq * 4;
    for (int64_t v = 0; v < 4; v++)
      for (int64_t i = 0; i < W / 4; i++) {
        const int64_t ch = off + 16 * (i / 4) + 4 * v + i % 4, at = off + v * (W / 4) + i;
        if (ch >= p->c) continue; /* zero weights, bias and multiplier */
        int64_t bf = p->bias[ch]; /* bias - zx · Σ w, in int64 then wrapped (see the header) */
        for (int64_t t = 0; t < p->kk; t++) bf -= (int64_t)p->zx * p->w[t * p->c + ch];
        p->bias_f[at] = (int32_t)(uint32_t)(uint64_t)bf;
        p->mf[at] = ptq_rqf_mult(p->mult[ch], p->shift[ch]);
        /* |acc| <= |folded bias| + kk · 255 · 128, and < 2^31 (the exact sum fits int32). */
        if (ptq_rqf_big(p->mf[at], fmin((double)llabs(bf) + (double)p->kk * 255 * 128, 0x1p31)))
          p->rq_big = 1;
        for (int64_t j = 0; j < kw; j++)
          for (int64_t r = 0; r < p->k_h; r++)
            wb[(((j * nq + r / 4) * 4 + v) * W) + 4 * i + r % 4] = p->w[(r * kw + j) * p->c + ch];
      }
    off += W;
  }
  return 0;
}

ptq_qdw_packed *ptq_qdw_pack(const ptq_qdw_desc *d) {
  if (!d || d->c <= 0 || d->k_h <= 0 || d->k_w <= 0 || !d->w || !d->mult || !d->shift) return NULL;
  ptq_qdw_packed *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->isa = ptq_qisa();
  p->c = d->c;
  p->k_h = d->k_h;
  p->k_w = d->k_w;
  p->kk = d->k_h * d->k_w;
  p->zx = d->zx;
  p->zy = d->zy;
  p->lo = d->lo;
  p->hi = d->hi;
  const size_t c = (size_t)d->c, kk = (size_t)p->kk;
  p->w = malloc(c * kk);
  p->bias = calloc(c, sizeof *p->bias);
  p->mult = malloc(c * sizeof *p->mult);
  p->shift = malloc(c * sizeof *p->shift);
  if (!p->w || !p->bias || !p->mult || !p->shift) goto fail;
  for (size_t ch = 0; ch < c; ch++) {
    for (size_t t = 0; t < kk; t++) p->w[t * c + ch] = d->w[ch * kk + t];
    if (d->bias) p->bias[ch] = d->bias[ch];
    p->mult[ch] = d->mult[ch];
    p->shift[ch] = d->shift[ch];
  }
  if (p->kk > PTQ_QDW_MAX_SIMD_TAPS) p->isa = PTQ_QISA_SCALAR;
#if PTQ_HAVE_X86_KERNELS
  if (p->isa == PTQ_QISA_AVX512VNNI && !__builtin_cpu_supports("avx512dq")) p->isa = PTQ_QISA_AVX2;
#endif
  if (p->isa == PTQ_QISA_AVX512VNNI && pack_avx512(p) != 0) goto fail;
  if (p->isa == PTQ_QISA_AVX2 && pack_avx2(p) != 0) goto fail;
  return p;
fail:
  ptq_qdw_free(p);
  return NULL;
}

/* Plain C: one output row, the exact sum over the taps inside x. */
static void row_scalar(const ptq_qdw_packed *p, const ptq_qdw_geom *g, const uint8_t *x, int64_t oh,
                       uint8_t *y) {
  const int64_t c = p->c, xs = g->x_pix_stride ? g->x_pix_stride : c;
  const int64_t ys = g->y_pix_stride ? g->y_pix_stride : c;
  const int64_t ih0 = oh * g->stride_h - g->pad_t;
  int64_t ilo, ihi;
  ptq_tap_range(ih0, g->dil_h, p->k_h, g->h_in, &ilo, &ihi);
  for (int64_t ow = 0; ow < g->w_out; ow++) {
    const int64_t iw0 = ow * g->stride_w - g->pad_l;
    int64_t jlo, jhi;
    ptq_tap_range(iw0, g->dil_w, p->k_w, g->w_in, &jlo, &jhi);
    uint8_t *yp = y + ow * ys;
    for (int64_t ch = 0; ch < c; ch++) {
      int32_t acc = p->bias[ch];
      for (int64_t i = ilo; i < ihi; i++) {
        const uint8_t *xr = x + (ih0 + i * g->dil_h) * g->w_in * xs + ch;
        const int8_t *wr = p->w + i * p->k_w * c + ch;
        for (int64_t j = jlo; j < jhi; j++)
          acc += ((int32_t)xr[(iw0 + j * g->dil_w) * xs] - p->zx) * wr[j * c];
      }
      yp[ch] = ptq_requant_ref(acc, p->mult[ch], p->shift[ch], p->zy, p->lo, p->hi);
    }
  }
}

typedef struct dw_job {
  const ptq_qdw_packed *p;
  const ptq_qdw_geom *g;
  const uint8_t *x;
  uint8_t *y;
  const int64_t *tapoff;
  int64_t xs, ys;
} dw_job;

/* Output rows [r0, r1) (row r = image r / h_out, output row r % h_out). */
static void dw_rows(void *ctx, int64_t r0, int64_t r1, int thread) {
  const dw_job *j = ctx;
  const ptq_qdw_packed *p = j->p;
  const ptq_qdw_geom *g = j->g;
  for (int64_t r = r0; r < r1; r++) {
    const int64_t b = r / g->h_out, oh = r % g->h_out;
    const uint8_t *xb = j->x + b * g->h_in * g->w_in * j->xs;
    uint8_t *yr = j->y + r * g->w_out * j->ys;
#if PTQ_HAVE_X86_KERNELS
    if (p->isa == PTQ_QISA_AVX512VNNI) {
      ptq_qdw_row_avx512(p, g, xb, oh, yr, j->tapoff);
      continue;
    }
    if (p->isa == PTQ_QISA_AVX2) {
      ptq_qdw_row_avx2(p, g, xb, oh, yr, j->tapoff);
      continue;
    }
#endif
    row_scalar(p, g, xb, oh, yr);
  }
}

void ptq_qdwconv(const ptq_qdw_packed *p, const ptq_qdw_geom *g, const uint8_t *x, uint8_t *y) {
  const int64_t c = p->c, xs = g->x_pix_stride ? g->x_pix_stride : c;
  const int64_t ys = g->y_pix_stride ? g->y_pix_stride : c;
  const int64_t rows = g->n * g->h_out;
  int64_t tapoff[PTQ_QDW_MAX_SIMD_TAPS];
  if (p->isa != PTQ_QISA_SCALAR)
    for (int64_t i = 0, t = 0; i < p->k_h; i++)
      for (int64_t j = 0; j < p->k_w; j++, t++)
        tapoff[t] = (i * g->dil_h * g->w_in + j * g->dil_w) * xs;
  dw_job job = {p, g, x, y, tapoff, xs, ys};
  const int64_t work = rows * g->w_out * c * p->kk;
  const int threads = ptq_threads();
  if (threads > 1 && work >= PTQ_QPAR_MIN_DW_MACS)
    ptq_parallel_for(rows, ptq_dyn_chunk(rows, threads), dw_rows, &job);
  else
    dw_rows(&job, 0, rows, 0);
}
