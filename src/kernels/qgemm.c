/* Int8 GEMM with a requantizing epilogue (qgemm.h): weight packing, the plain-C reference
 * microkernel, ISA dispatch and threading.
 *
 * W's columns of Y (output channels) are packed once into tiles of the ISA's NR columns, in the
 * layout of its microkernel, zero-padded to whole tiles in n and to the microkernel's step in k
 * (zero weights make the padded terms vanish, so the x values they meet never matter). The
 * input zero point is folded into the packed bias: bias - zx · Σ_l W[j][l], so that the
 * microkernels sum raw uint8 · int8 products. Every sum is exact in int32 (qkernels.h bounds
 * |acc|; intermediate sums wrap modulo 2^32 in the SIMD kernels and land on the exact value).
 *
 * Columns are split into blocks of tiles whose packed weights fit half the per-core L2; a work
 * unit is (column block, MR-row panel of X), and within a unit the panel (in L1) sweeps the
 * block's tiles, each tile computed over the full k so that the epilogue runs on registers.
 * Units are spread over the threads dynamically; every output cell is computed by exactly one
 * unit, with integer arithmetic, so results never depend on the thread count or schedule. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/qgemm_internal.h"
#include "kernels/qrequant_avx512.h"
#include "util/pool.h"
#include "util/util.h"

struct ptq_qgemm_packed {
  int64_t n, k;
  enum ptq_qisa isa;
  int mr, nr;        /* microkernel rows and tile columns */
  int64_t tiles;     /* ceil(n / nr) */
  size_t tile_bytes; /* stride of the tiles in w */
  void *w;           /* tiles * tile_bytes, 64-byte aligned */
  int32_t *bias;     /* tiles * nr: folded bias, padding 0 */
  int32_t *mult;     /* tiles * nr: padding 0 */
  int32_t *shift;    /* tiles * nr: padding 1 */
  float *mf;         /* AVX-512 VNNI: tiles * nr float multipliers, padding 0; else NULL */
  int rq_big;        /* some mf needs the clamp of the float path (ptq_rqf_big) */
  ptq_qgemm_ukernel kernel;
};

/* Bytes of packed weights a column block may span: half of a 1 MiB L2. */
#define PTQ_QGEMM_W_BLOCK_BYTES (512 * 1024)
/* Multiply-adds below which a product runs on the calling thread (see PTQ_PAR_MIN_MACS; the
 * int8 kernels do about four times as many per cycle, and the pool (util/pool.h) wakes its
 * threads in a few microseconds: measured best at 1 << 21 .. 1 << 22 on MobileNetV2). */
#define PTQ_QGEMM_PAR_MIN_MACS (1 << 21)

/* Scalar tiles: [SCALAR_NR][k] int8, W's rows as given. */
#define SCALAR_MR 4
#define SCALAR_NR 16

/* Reference microkernel: the contract of ptq_qgemm_ukernel in plain C. */
static void ukernel_scalar(int64_t k, const void *wv, const uint8_t *x, int64_t ldx, int mr_valid,
                           int nr_valid, const ptq_qgemm_epi *e) {
  const int8_t *w = wv;
  for (int i = 0; i < mr_valid; i++) {
    const uint8_t *xi = x + i * ldx;
    for (int j = 0; j < nr_valid; j++) {
      const int8_t *wj = w + j * k;
      int64_t acc = e->bias[j];
      for (int64_t l = 0; l < k; l++) acc += (int32_t)xi[l] * wj[l];
      if (e->y)
        e->y[i * e->ldy + j] =
            ptq_requant_ref((int32_t)acc, e->mult[j], e->shift[j], e->zy, e->lo, e->hi);
      else
        e->y32[i * e->ldy + j] = (int32_t)acc;
    }
  }
}

static void pack_scalar(const ptq_qgemm_packed *p, const int8_t *w, int64_t ldw) {
  int8_t *d = p->w;
  for (int64_t j = 0; j < p->tiles * p->nr; j++)
    for (int64_t l = 0; l < p->k; l++) d[j * p->k + l] = j < p->n ? w[j * ldw + l] : 0;
}

/* [tile][ceil(k/4)][nw][4], nw = tile width rounded up to 16. */
static void pack_vnni(const ptq_qgemm_packed *p, const int8_t *w, int64_t ldw) {
  const int64_t k4 = (p->k + 3) / 4;
  for (int64_t t = 0; t < p->tiles; t++) {
    const int64_t j0 = t * p->nr, rem = p->n - j0;
    const int64_t nw = rem >= p->nr ? p->nr : (rem + 15) / 16 * 16;
    int8_t *d = (int8_t *)p->w + t * p->tile_bytes;
    for (int64_t g = 0; g < k4; g++)
      for (int64_t c = 0; c < nw; c++)
        for (int64_t b = 0; b < 4; b++) {
          const int64_t j = j0 + c, l = 4 * g + b;
          *d++ = j < p->n && l < p->k ? w[j * ldw + l] : 0;
        }
  }
}

/* [tile][ceil(k/16)][4][16] int16. */
static void pack_avx2(const ptq_qgemm_packed *p, const int8_t *w, int64_t ldw) {
  const int64_t k16 = (p->k + 15) / 16;
  for (int64_t t = 0; t < p->tiles; t++) {
    int16_t *d = (int16_t *)((char *)p->w + t * p->tile_bytes);
    for (int64_t g = 0; g < k16; g++)
      for (int64_t c = 0; c < p->nr; c++)
        for (int64_t b = 0; b < 16; b++) {
          const int64_t j = t * p->nr + c, l = 16 * g + b;
          *d++ = j < p->n && l < p->k ? w[j * ldw + l] : 0;
        }
  }
}

ptq_qgemm_packed *ptq_qgemm_pack(int64_t n, int64_t k, const int8_t *w, int64_t ldw,
                                 const int32_t *bias, const int32_t *mult, const int32_t *shift,
                                 uint8_t zx) {
  ptq_qgemm_packed *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->n = n;
  p->k = k;
  p->isa = ptq_qisa();
  switch (p->isa) {
#if PTQ_HAVE_X86_KERNELS
    case PTQ_QISA_AVX512VNNI:
      p->mr = PTQ_QGEMM_VNNI_MR, p->nr = PTQ_QGEMM_VNNI_NR;
      p->tile_bytes = (size_t)((k + 3) / 4) * 4 * PTQ_QGEMM_VNNI_NR;
      p->kernel = ptq_qgemm_ukernel_avx512vnni;
      break;
    case PTQ_QISA_AVX2:
      p->mr = PTQ_QGEMM_AVX2_MR, p->nr = PTQ_QGEMM_AVX2_NR;
      p->tile_bytes = (size_t)((k + 15) / 16) * 16 * PTQ_QGEMM_AVX2_NR * sizeof(int16_t);
      p->kernel = ptq_qgemm_ukernel_avx2;
      break;
#endif
    default:
      p->isa = PTQ_QISA_SCALAR;
      p->mr = SCALAR_MR, p->nr = SCALAR_NR;
      p->tile_bytes = (size_t)k * SCALAR_NR;
      p->kernel = ukernel_scalar;
      break;
  }
  p->tiles = (n + p->nr - 1) / p->nr;
  const size_t cols = (size_t)(p->tiles * p->nr);
  const size_t wbytes = ((size_t)p->tiles * p->tile_bytes + 63) / 64 * 64;
  p->w = aligned_alloc(64, wbytes > 0 ? wbytes : 64);
  p->bias = malloc(cols * sizeof *p->bias);
  p->mult = malloc(cols * sizeof *p->mult);
  p->shift = malloc(cols * sizeof *p->shift);
  const int want_mf = p->isa == PTQ_QISA_AVX512VNNI;
  if (want_mf) p->mf = malloc(cols * sizeof *p->mf);
  if (!p->w || !p->bias || !p->mult || !p->shift || (want_mf && !p->mf)) {
    ptq_qgemm_packed_free(p);
    return NULL;
  }
  for (size_t j = 0; j < cols; j++) {
    if ((int64_t)j >= n) {
      p->bias[j] = 0, p->mult[j] = 0, p->shift[j] = 1;
      if (p->mf) p->mf[j] = 0;
      continue;
    }
    int64_t sw = 0;
    for (int64_t l = 0; l < k; l++) sw += w[(int64_t)j * ldw + l];
    /* In int32 by the caller's bound on |bias| + k · 255 · 128. */
    p->bias[j] = (int32_t)((bias ? bias[j] : 0) - (int64_t)zx * sw);
    p->mult[j] = mult[j];
    p->shift[j] = shift[j];
    if (p->mf) {
      /* |acc| <= |folded bias| + k · 255 · 128, and < 2^31 (the caller's bound). */
      const double amax =
          fmin((double)llabs((long long)p->bias[j]) + (double)k * 255 * 128, 0x1p31);
      p->mf[j] = ptq_rqf_mult(mult[j], shift[j]);
      if (ptq_rqf_big(p->mf[j], amax)) p->rq_big = 1;
    }
  }
  switch (p->isa) {
    case PTQ_QISA_AVX512VNNI: pack_vnni(p, w, ldw); break;
    case PTQ_QISA_AVX2: pack_avx2(p, w, ldw); break;
    default: pack_scalar(p, w, ldw); break;
  }
  return p;
}

void ptq_qgemm_packed_free(ptq_qgemm_packed *p) {
  if (!p) return;
  free(p->w);
  free(p->bias);
  free(p->mult);
  free(p->shift);
  free(p->mf);
  free(p);
}

const char *ptq_qgemm_packed_isa(const ptq_qgemm_packed *p) {
  return ptq_qisa_name(p->isa);
}

int64_t ptq_qgemm_packed_n(const ptq_qgemm_packed *p) {
  return p->n;
}

int64_t ptq_qgemm_packed_k(const ptq_qgemm_packed *p) {
  return p->k;
}

typedef struct qgemm_job {
  const ptq_qgemm_packed *p;
  int64_t m, ldx, ldy, panels, bt;
  const uint8_t *x;
  uint8_t *y;
  int32_t *y32;
  int32_t zy;
  uint8_t lo, hi;
  int rqf;
} qgemm_job;

static void qgemm_units(void *ctx, int64_t u0, int64_t u1, int thread) {
  const qgemm_job *j = ctx;
  const ptq_qgemm_packed *p = j->p;
  const int64_t m = j->m, ldx = j->ldx, ldy = j->ldy, panels = j->panels, bt = j->bt;
  const int64_t n = p->n, k = p->k, mr = p->mr, nr = p->nr, tiles = p->tiles;
  const uint8_t *x = j->x;
  uint8_t *y = j->y;
  int32_t *y32 = j->y32;
  const int32_t zy = j->zy;
  const uint8_t lo = j->lo, hi = j->hi;
  const int rqf = j->rqf;
  const ptq_qgemm_ukernel kern = p->kernel;
  static const uint8_t dummy_row[1];
  for (int64_t u = u0; u < u1; u++) {
    const int64_t t0 = u / panels * bt, i0 = u % panels * mr;
    const int64_t t1 = t0 + bt < tiles ? t0 + bt : tiles;
    const int mv = (int)(m - i0 < mr ? m - i0 : mr);
    /* k == 0 reads no x: a dummy row keeps the kernels' row pointers valid. */
    const uint8_t *xi = k > 0 ? x + i0 * ldx : dummy_row;
    for (int64_t t = t0; t < t1; t++) {
      const int64_t j0 = t * nr;
      const ptq_qgemm_epi e = {p->bias + j0,
                               p->mult + j0,
                               p->shift + j0,
                               p->mf ? p->mf + j0 : NULL,
                               rqf,
                               zy,
                               lo,
                               hi,
                               y ? y + i0 * ldy + j0 : NULL,
                               y ? NULL : y32 + i0 * ldy + j0,
                               ldy};
      kern(k, (const char *)p->w + (size_t)t * p->tile_bytes, xi, ldx, mv,
           (int)(n - j0 < nr ? n - j0 : nr), &e);
    }
  }
}

static void qgemm_run(const ptq_qgemm_packed *p, int64_t m, const uint8_t *x, int64_t ldx,
                      int32_t zy, uint8_t lo, uint8_t hi, uint8_t *y, int32_t *y32, int64_t ldy) {
  if (m <= 0) return;
  const int64_t n = p->n, k = p->k, mr = p->mr, tiles = p->tiles;
  const int64_t panels = (m + mr - 1) / mr;
  int64_t bt = p->tile_bytes > 0 ? PTQ_QGEMM_W_BLOCK_BYTES / (int64_t)p->tile_bytes : tiles;
  if (bt < 1) bt = 1;
  if (bt > tiles) bt = tiles;
  const int threads = ptq_threads();
  const int par = threads > 1 && m * n * (k + 1) >= PTQ_QGEMM_PAR_MIN_MACS;
  if (par && panels * ((tiles + bt - 1) / bt) < 4 * (int64_t)threads) {
    /* Few row panels (small m): narrower column blocks give the threads work. */
    int64_t nb = (4 * (int64_t)threads + panels - 1) / panels;
    if (nb > tiles) nb = tiles;
    bt = (tiles + nb - 1) / nb;
  }
  const int64_t blocks = (tiles + bt - 1) / bt, units = blocks * panels;
  if (k == 0) ldx = 0;
  /* The float requantization needs 0 <= zy <= 255 (qrequant_avx512.h). */
  const int rqf = p->mf && zy >= 0 && zy <= 255 ? 1 + p->rq_big : 0;
  qgemm_job job = {p, m, ldx, ldy, panels, bt, x, y, y32, zy, lo, hi, rqf};
  if (par && units > 1)
    ptq_parallel_for(units, ptq_dyn_chunk(units, threads), qgemm_units, &job);
  else
    qgemm_units(&job, 0, units, 0);
}

void ptq_qgemm_run(const ptq_qgemm_packed *p, int64_t m, const uint8_t *x, int64_t ldx, int32_t zy,
                   uint8_t lo, uint8_t hi, uint8_t *y, int64_t ldy) {
  qgemm_run(p, m, x, ldx, zy, lo, hi, y, NULL, ldy);
}

void ptq_qgemm_run_i32(const ptq_qgemm_packed *p, int64_t m, const uint8_t *x, int64_t ldx,
                       int32_t *y, int64_t ldy) {
  qgemm_run(p, m, x, ldx, 0, 0, 0, NULL, y, ldy);
}
