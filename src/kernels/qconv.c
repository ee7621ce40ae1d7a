/* NHWC int8 convolution on the int8 GEMM (qgemm.h): one packed GEMM per group, whose rows are
 * output pixels and columns the group's output channels. The GEMM's k index of a group is
 * (ky · k_w + kx) · (c_in/group) + ci, the order of an NHWC im2col row, so the ONNX weights
 * [c_out][c_in/group][k_h][k_w] are reordered at pack time.
 *
 * 1x1 stride-1 unpadded convolutions multiply the input rows in place (ldx = c_in, the group's
 * channels at offset g · c_in/group). Other shapes build im2col rows of k_h · k_w · c_in bytes
 * (each group's k_h · k_w · c_in/group bytes one after the other; group g's GEMM reads its part
 * with row stride k_h · k_w · c_in), padding cells filled with the input zero point zx (so they
 * add (zx - zx) · w = 0, exactly), in tiles of whole rows bounded by PTQ_QCONV_SCRATCH_MAX
 * bytes, then run the GEMMs on each tile. Output pixels of all images form one row sequence,
 * so tiles span images. */
#include <stdlib.h>
#include <string.h>

#include "kernels/qgemm_internal.h"
#include "util/pool.h"
#include "util/util.h"

struct ptq_qconv_packed {
  ptq_qconv_params p;
  uint8_t zx;
  ptq_qgemm_packed **g; /* p.group GEMMs */
};

static int direct_applies(const ptq_qconv_params *p) {
  return p->k_h == 1 && p->k_w == 1 && p->stride_h == 1 && p->stride_w == 1 && p->pad_t == 0 &&
         p->pad_l == 0 && p->pad_b == 0 && p->pad_r == 0;
}

/* Bytes of one im2col row: every group's k_h · k_w · c_in/group bytes, group after group. */
static int64_t row_bytes(const ptq_qconv_params *p) {
  return p->k_h * p->k_w * p->c_in;
}

/* Rows of one im2col tile: as many as fit PTQ_QCONV_SCRATCH_MAX (at least 1, at most all), a
 * multiple of 12 when more than 12 (whole row panels of every microkernel). */
static int64_t tile_rows(const ptq_qconv_params *p) {
  const int64_t rows = p->n * p->h_out * p->w_out, kb = row_bytes(p);
  int64_t t = kb > 0 ? (int64_t)PTQ_QCONV_SCRATCH_MAX / kb : rows;
  if (t > 12) t = t / 12 * 12;
  if (t > rows) t = rows;
  return t > 0 ? t : 1;
}

size_t ptq_qconv_scratch_size(const ptq_qconv_params *p) {
  if (direct_applies(p)) return 0;
  return (size_t)(tile_rows(p) * row_bytes(p));
}

ptq_qconv_packed *ptq_qconv_pack(const ptq_qconv_params *p, const int8_t *w, const int32_t *bias,
                                 const int32_t *mult, const int32_t *shift, uint8_t zx) {
  ptq_qconv_packed *pc = calloc(1, sizeof *pc);
  if (!pc) return NULL;
  pc->p = *p;
  pc->zx = zx;
  const int64_t cg = p->c_in / p->group, cog = p->c_out / p->group, taps = p->k_h * p->k_w;
  const int64_t kk = taps * cg;
  pc->g = calloc((size_t)p->group, sizeof *pc->g);
  int8_t *wg = malloc((size_t)(cog * kk > 0 ? cog * kk : 1));
  if (!pc->g || !wg) {
    free(wg);
    ptq_qconv_packed_free(pc);
    return NULL;
  }
  for (int64_t g = 0; g < p->group; g++) {
    for (int64_t o = 0; o < cog; o++)
      for (int64_t ci = 0; ci < cg; ci++)
        for (int64_t t = 0; t < taps; t++)
          wg[o * kk + t * cg + ci] = w[((g * cog + o) * cg + ci) * taps + t];
    pc->g[g] = ptq_qgemm_pack(cog, kk, wg, kk, bias ? bias + g * cog : NULL, mult + g * cog,
                              shift + g * cog, zx);
    if (!pc->g[g]) {
      free(wg);
      ptq_qconv_packed_free(pc);
      return NULL;
    }
  }
  free(wg);
  return pc;
}

void ptq_qconv_packed_free(ptq_qconv_packed *pc) {
  if (!pc) return;
  if (pc->g)
    for (int64_t g = 0; g < pc->p.group; g++) ptq_qgemm_packed_free(pc->g[g]);
  free(pc->g);
  free(pc);
}

const char *ptq_qconv_packed_isa(const ptq_qconv_packed *pc) {
  return ptq_qgemm_packed_isa(pc->g[0]);
}

/* Copy and fill of short byte runs (the channels of one tap): fixed-size moves, cheaper than a
 * libc call for the few bytes of a small group or an RGB input. */
static inline void copy_u8(uint8_t *restrict d, const uint8_t *restrict s, int64_t n) {
  if (n >= 64) {
    memcpy(d, s, (size_t)n);
    return;
  }
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) memcpy(d + i, s + i, 16);
  if (n - i >= 8) {
    memcpy(d + i, s + i, 8);
    i += 8;
  }
  if (n - i >= 4) {
    memcpy(d + i, s + i, 4);
    i += 4;
  }
  for (; i < n; i++) d[i] = s[i];
}

static inline void fill_u8(uint8_t *d, uint8_t v, int64_t n) {
  if (n >= 64) {
    memset(d, v, (size_t)n);
    return;
  }
  uint8_t pat[16];
  memset(pat, v, sizeof pat);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) memcpy(d + i, pat, 16);
  if (n - i >= 8) {
    memcpy(d + i, pat, 8);
    i += 8;
  }
  if (n - i >= 4) {
    memcpy(d + i, pat, 4);
    i += 4;
  }
  for (; i < n; i++) d[i] = v;
}

/* The im2col row of output pixel (b, oy, ox): for each group g, at g · kk, the taps (ky, kx)
 * in order, each the group's cg = c_in/group channels (zx where the tap is in the padding). */
static void im2col_row(const ptq_qconv_params *p, const uint8_t *x, uint8_t zx, int64_t cg,
                       int64_t b, int64_t oy, int64_t ox, uint8_t *d) {
  const int64_t kw = p->k_w, kk = p->k_h * kw * cg;
  const int64_t ix0 = ox * p->stride_w - p->pad_l;
  /* Taps kx in [kx_lo, kx_hi) read inside the row (ix = ix0 + kx · dil_w in [0, w_in)). */
  int64_t kx_lo, kx_hi;
  if (p->dil_w == 1) { /* ptq_tap_range without its divisions */
    kx_lo = ix0 >= 0 ? 0 : -ix0 < kw ? -ix0 : kw;
    kx_hi = p->w_in - ix0 < kw ? p->w_in - ix0 : kw;
    if (kx_hi < kx_lo) kx_hi = kx_lo;
  } else {
    ptq_tap_range(ix0, p->dil_w, kw, p->w_in, &kx_lo, &kx_hi);
  }
  for (int64_t ky = 0; ky < p->k_h; ky++) {
    const int64_t iy = oy * p->stride_h - p->pad_t + ky * p->dil_h;
    const int64_t t0 = ky * kw * cg; /* this ky's taps within a group's kk bytes */
    if (iy < 0 || iy >= p->h_in) {
      for (int64_t g = 0; g < p->group; g++) fill_u8(d + g * kk + t0, zx, kw * cg);
      continue;
    }
    const uint8_t *xr = x + ((b * p->h_in + iy) * p->w_in) * p->c_in;
    if (p->group == 1 && p->dil_w == 1) { /* the valid taps are one contiguous run */
      fill_u8(d + t0, zx, kx_lo * cg);
      copy_u8(d + t0 + kx_lo * cg, xr + (ix0 + kx_lo) * p->c_in, (kx_hi - kx_lo) * cg);
      fill_u8(d + t0 + kx_hi * cg, zx, (kw - kx_hi) * cg);
      continue;
    }
    for (int64_t g = 0; g < p->group; g++) {
      uint8_t *dg = d + g * kk + t0;
      fill_u8(dg, zx, kx_lo * cg);
      for (int64_t kx = kx_lo; kx < kx_hi; kx++)
        copy_u8(dg + kx * cg, xr + (ix0 + kx * p->dil_w) * p->c_in + g * cg, cg);
      fill_u8(dg + kx_hi * cg, zx, (kw - kx_hi) * cg);
    }
  }
}

/* Copy of n bytes, 4 <= n <= 16, as two overlapping fixed-size moves (no read or write past
 * the n bytes). */
static inline void copy_4_16(uint8_t *restrict d, const uint8_t *restrict s, int64_t n) {
  if (n >= 8) {
    uint64_t a, b;
    memcpy(&a, s, 8);
    memcpy(&b, s + n - 8, 8);
    memcpy(d, &a, 8);
    memcpy(d + n - 8, &b, 8);
  } else {
    uint32_t a, b;
    memcpy(&a, s, 4);
    memcpy(&b, s + n - 4, 4);
    memcpy(d, &a, 4);
    memcpy(d + n - 4, &b, 4);
  }
}

/* Whether the short-run im2col applies: one group, no horizontal dilation, and each kernel
 * row's taps one run of 4..16 bytes (k_w · c_in: the stem convolution of an RGB input). */
static int short_runs(const ptq_qconv_params *p) {
  const int64_t n = p->k_w * p->c_in;
  return p->group == 1 && p->dil_w == 1 && n >= 4 && n <= 16;
}

/* im2col rows r in [rb, re) of the tile starting at output pixel r0 (short_runs shapes): the
 * windows fully inside the row copy each kernel row's run with two moves; windows touching
 * the left or right padding go through im2col_row. */
static void im2col_short(const ptq_qconv_params *p, const uint8_t *x, uint8_t zx, int64_t pix,
                         int64_t nrows, uint8_t *d) {
  const int64_t n = p->k_w * p->c_in, kb = p->k_h * n, hw = p->h_out * p->w_out;
  const uint8_t *xr[64];
  int64_t b = pix / hw, oy = pix % hw / p->w_out, ox = pix % p->w_out;
  for (int64_t r = 0; r < nrows;) {
    /* this output row's input rows (NULL: padding) and its interior ox range */
    for (int64_t ky = 0; ky < p->k_h; ky++) {
      const int64_t iy = oy * p->stride_h - p->pad_t + ky * p->dil_h;
      xr[ky] = iy >= 0 && iy < p->h_in ? x + ((b * p->h_in + iy) * p->w_in) * p->c_in : NULL;
    }
    int64_t ox_lo = (p->pad_l + p->stride_w - 1) / p->stride_w;
    int64_t ox_hi = p->w_in >= p->k_w ? (p->w_in - p->k_w + p->pad_l) / p->stride_w + 1 : 0;
    if (ox_hi > p->w_out) ox_hi = p->w_out;
    if (ox_hi < ox_lo) ox_hi = ox_lo;
    for (; ox < p->w_out && r < nrows; ox++, r++) {
      uint8_t *dr = d + r * kb;
      if (ox < ox_lo || ox >= ox_hi) {
        im2col_row(p, x, zx, p->c_in, b, oy, ox, dr);
        continue;
      }
      const int64_t xo = (ox * p->stride_w - p->pad_l) * p->c_in;
      for (int64_t ky = 0; ky < p->k_h; ky++) {
        if (xr[ky])
          copy_4_16(dr + ky * n, xr[ky] + xo, n);
        else
          fill_u8(dr + ky * n, zx, n);
      }
    }
    if (ox == p->w_out) {
      ox = 0;
      if (++oy == p->h_out) oy = 0, b++;
    }
  }
}

typedef struct im2col_job {
  const ptq_qconv_params *p;
  const uint8_t *x;
  uint8_t zx;
  int64_t cg, kb;
  int short_rows;
  int64_t r0; /* output pixel of the tile's first row */
  uint8_t *col;
} im2col_job;

/* Rows [rb, re) of the tile's im2col matrix. */
static void im2col_rows(void *ctx, int64_t rb, int64_t re, int thread) {
  const im2col_job *j = ctx;
  const ptq_qconv_params *p = j->p;
  const int64_t pix = j->r0 + rb, kb = j->kb;
  if (j->short_rows) {
    im2col_short(p, j->x, j->zx, pix, re - rb, j->col + rb * kb);
    return;
  }
  const int64_t hw = p->h_out * p->w_out;
  int64_t b = pix / hw, oy = pix % hw / p->w_out, ox = pix % p->w_out;
  for (int64_t r = rb; r < re; r++) {
    im2col_row(p, j->x, j->zx, j->cg, b, oy, ox, j->col + r * kb);
    if (++ox == p->w_out) {
      ox = 0;
      if (++oy == p->h_out) oy = 0, b++;
    }
  }
}

void ptq_qconv_run(const ptq_qconv_packed *pc, const uint8_t *x, int32_t zy, uint8_t lo, uint8_t hi,
                   uint8_t *y, void *scratch) {
  const ptq_qconv_params *p = &pc->p;
  const int64_t cg = p->c_in / p->group, cog = p->c_out / p->group;
  const int64_t rows = p->n * p->h_out * p->w_out;
  if (rows <= 0) return;
  if (direct_applies(p)) {
    for (int64_t g = 0; g < p->group; g++)
      ptq_qgemm_run(pc->g[g], rows, x + g * cg, p->c_in, zy, lo, hi, y + g * cog, p->c_out);
    return;
  }
  const int64_t kb = row_bytes(p), kk = kb / p->group, tr = tile_rows(p);
  uint8_t *col = scratch;
  const int threads = ptq_threads();
  im2col_job job = {p, x, pc->zx, cg, kb, short_runs(p) && p->k_h <= 64, 0, col};
  for (int64_t r0 = 0; r0 < rows; r0 += tr) {
    const int64_t nr = rows - r0 < tr ? rows - r0 : tr;
    /* Contiguous chunks of rows, each walking its pixel coordinates. */
    job.r0 = r0;
    if (threads > 1 && nr * kb >= PTQ_QPAR_MIN_BYTES)
      ptq_parallel_for(nr, ptq_dyn_chunk(nr, threads), im2col_rows, &job);
    else
      im2col_rows(&job, 0, nr, 0);
    for (int64_t g = 0; g < p->group; g++)
      ptq_qgemm_run(pc->g[g], nr, col + g * kk, kb, zy, lo, hi, y + r0 * p->c_out + g * cog,
                    p->c_out);
  }
}
