/* Non-GEMM int8 kernels (kernels/qops.h) on every instruction set the CPU has (forced with
 * PTQ_ISA) and on 1 and 2 threads, bit-exact against naive references written here: integer
 * kernels against a direct sum and an independent requantization, float-exact kernels against
 * the literal float expression per element. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kernels/qops.h"
#include "ptq/ptq.h"
#include "quant/quantizer.h"

static uint32_t rng_state = 12345;

static uint32_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return rng_state;
}
static int64_t rnd_in(int64_t lo, int64_t hi) { /* [lo, hi] */
  return lo + (int64_t)(rnd() % (uint32_t)(hi - lo + 1));
}

static const char *const ISAS[] = {"scalar", "avx2", "avx512"};
#define N_ISAS 3

/* Forces ISA s; 0 when the CPU lacks it. */
static int use_isa(int s) {
  static const char *const names[] = {"scalar", "avx2", "avx512vnni"};
  setenv("PTQ_ISA", ISAS[s], 1);
  return strcmp(ptq_qisa_name(ptq_qisa()), names[s]) == 0;
}

/* Independent requantization: floor division in 128 bits, then the remainder against half. */
static uint8_t requant_naive(int32_t acc, int32_t mult, int shift, int32_t zy, uint8_t lo,
                             uint8_t hi) {
  const __int128 p = (__int128)acc * mult, d = (__int128)1 << shift;
  __int128 q = p / d, r = p % d;
  if (r < 0) q -= 1, r += d;
  if (2 * r > d || (2 * r == d && (q & 1))) q += 1;
  __int128 v = q + zy;
  if (v < lo) v = lo;
  if (v > hi) v = hi;
  return (uint8_t)v;
}

static void fill_u8(uint8_t *p, int64_t n, int mode) {
  for (int64_t i = 0; i < n; i++)
    p[i] = mode == 1   ? 0
           : mode == 2 ? 255
           : mode == 3 ? (uint8_t)(rnd() & 1 ? 255 : 0)
                       : (uint8_t)rnd();
}

static void check_bytes(const char *what, const char *isa, int threads, const uint8_t *got,
                        const uint8_t *want, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (got[i] != want[i])
      fail_msg("%s [%s, %d threads]: byte %lld is %u, want %u", what, isa, threads, (long long)i,
               got[i], want[i]);
}

/* ------------------------------------------------------------ depthwise --- */

typedef struct dw_case {
  int64_t n, c, h, w, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr;
  int32_t zx, zy;
  int xmode, wmode, rqmode; /* input fill, weight fill (0 random, 1 -128, 2 127, 3 ±), rq */
  uint8_t lo, hi;
  int64_t xextra, yextra; /* pixel strides beyond c */
} dw_case;

static void run_dw(const dw_case *k) {
  const int64_t ho = (k->h + k->pt + k->pb - k->dh * (k->kh - 1) - 1) / k->sh + 1;
  const int64_t wo = (k->w + k->pl + k->pr - k->dw * (k->kw - 1) - 1) / k->sw + 1;
  assert_true(ho > 0 && wo > 0);
  const int64_t c = k->c, kk = k->kh * k->kw, xs = c + k->xextra, ys = c + k->yextra;
  const int64_t nx = k->n * k->h * k->w * xs, ny = k->n * ho * wo * ys;
  uint8_t *x = malloc((size_t)nx), *y = malloc((size_t)ny), *ref = malloc((size_t)ny);
  int8_t *w = malloc((size_t)(c * kk));
  int32_t *bias = malloc(sizeof(int32_t) * (size_t)c), *mult = malloc(sizeof(int32_t) * (size_t)c);
  int32_t *shift = malloc(sizeof(int32_t) * (size_t)c);
  assert_true(x && y && ref && w && bias && mult && shift);
  fill_u8(x, nx, k->xmode);
  for (int64_t i = 0; i < c * kk; i++)
    w[i] = k->wmode == 1   ? -128
           : k->wmode == 2 ? 127
           : k->wmode == 3 ? (int8_t)(rnd() & 1 ? 127 : -128)
                           : (int8_t)rnd();
  const int64_t bmax = 2147483647 - kk * 255 * 128 - 1;
  for (int64_t ch = 0; ch < c; ch++) {
    bias[ch] = k->rqmode == 3 ? (int32_t)(rnd() & 1 ? bmax : -bmax) : (int32_t)rnd_in(-5000, 5000);
    if (k->rqmode == 1) { /* ties: acc / 2 or acc / 4 */
      mult[ch] = 1 << 30;
      shift[ch] = 31 + (int32_t)(ch & 1);
    } else if (k->rqmode == 2) { /* any shift, some zero multipliers */
      mult[ch] = ch % 7 == 3 ? 0 : (int32_t)rnd_in(1 << 30, 2147483647);
      shift[ch] = (int32_t)rnd_in(1, 63);
    } else {
      mult[ch] = (int32_t)rnd_in(1 << 30, 2147483647);
      shift[ch] = (int32_t)rnd_in(36, 44);
    }
  }
  /* Reference; padding bytes of y keep 0xA5. */
  memset(ref, 0xA5, (size_t)ny);
  for (int64_t b = 0; b < k->n; b++)
    for (int64_t oh = 0; oh < ho; oh++)
      for (int64_t ow = 0; ow < wo; ow++)
        for (int64_t ch = 0; ch < c; ch++) {
          int64_t acc = bias[ch];
          for (int64_t i = 0; i < k->kh; i++)
            for (int64_t j = 0; j < k->kw; j++) {
              const int64_t ih = oh * k->sh - k->pt + i * k->dh,
                            iw = ow * k->sw - k->pl + j * k->dw;
              if (ih < 0 || ih >= k->h || iw < 0 || iw >= k->w) continue;
              acc += ((int64_t)x[((b * k->h + ih) * k->w + iw) * xs + ch] - k->zx) *
                     w[ch * kk + i * k->kw + j];
            }
          assert_true(acc >= INT32_MIN && acc <= INT32_MAX);
          ref[((b * ho + oh) * wo + ow) * ys + ch] =
              requant_naive((int32_t)acc, mult[ch], shift[ch], k->zy, k->lo, k->hi);
        }
  const ptq_qdw_desc d = {.c = c,
                          .k_h = k->kh,
                          .k_w = k->kw,
                          .w = w,
                          .bias = bias,
                          .mult = mult,
                          .shift = shift,
                          .zx = k->zx,
                          .zy = k->zy,
                          .lo = k->lo,
                          .hi = k->hi};
  const ptq_qdw_geom g = {.n = k->n,
                          .h_in = k->h,
                          .w_in = k->w,
                          .h_out = ho,
                          .w_out = wo,
                          .stride_h = k->sh,
                          .stride_w = k->sw,
                          .dil_h = k->dh,
                          .dil_w = k->dw,
                          .pad_t = k->pt,
                          .pad_l = k->pl,
                          .x_pix_stride = k->xextra ? xs : 0,
                          .y_pix_stride = k->yextra ? ys : 0};
  for (int s = 0; s < N_ISAS; s++) {
    if (!use_isa(s)) continue;
    ptq_qdw_packed *p = ptq_qdw_pack(&d);
    assert_non_null(p);
    if (kk <= 256) assert_string_equal(ptq_qdw_packed_isa(p), ptq_qisa_name(ptq_qisa()));
    for (int t = 1; t <= 2; t++) {
      ptq_set_threads(t);
      memset(y, 0xA5, (size_t)ny);
      ptq_qdwconv(p, &g, x, y);
      check_bytes("depthwise", ISAS[s], t, y, ref, ny);
    }
    ptq_set_threads(1);
    ptq_qdw_free(p);
  }
  unsetenv("PTQ_ISA");
  free(x), free(y), free(ref), free(w), free(bias), free(mult), free(shift);
}

static void test_dwconv_shapes(void **state) {
  (void)state;
  static const int64_t cs[] = {1, 3, 7, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 70};
  static const int64_t ks[][2] = {{3, 3}, {5, 5}, {7, 7}, {3, 5}, {1, 1}, {2, 2}};
  static const int32_t zps[] = {0, 128, 255};
  for (size_t ci = 0; ci < sizeof cs / sizeof *cs; ci++)
    for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++)
      for (int64_t s = 1; s <= 2; s++) {
        dw_case k = {.n = 1 + (int64_t)(ci % 2),
                     .c = cs[ci],
                     .h = 9,
                     .w = 11,
                     .kh = ks[ki][0],
                     .kw = ks[ki][1],
                     .sh = s,
                     .sw = s,
                     .dh = 1,
                     .dw = 1};
        k.pt = k.kh / 2, k.pb = (k.kh - 1) / 2, k.pl = k.kw / 2, k.pr = k.kw / 2;
        k.zx = zps[(ci + ki) % 3], k.zy = zps[(ci + (size_t)s) % 3];
        k.lo = 0, k.hi = 255;
        run_dw(&k);
      }
}

static void test_dwconv_geometry(void **state) {
  (void)state;
  /* dilation, asymmetric and large pads, strides differing per axis, pixel strides */
  for (int it = 0; it < 60; it++) {
    dw_case k = {.n = rnd_in(1, 2), .c = rnd_in(1, 70), .h = rnd_in(1, 12), .w = rnd_in(1, 12)};
    k.kh = rnd_in(1, 5), k.kw = rnd_in(1, 5), k.sh = rnd_in(1, 3), k.sw = rnd_in(1, 3);
    k.dh = rnd_in(1, 3), k.dw = rnd_in(1, 3);
    k.pt = rnd_in(0, 4), k.pb = rnd_in(0, 4), k.pl = rnd_in(0, 4), k.pr = rnd_in(0, 4);
    if (k.h + k.pt + k.pb < k.dh * (k.kh - 1) + 1) k.pb += k.dh * (k.kh - 1) + 1;
    if (k.w + k.pl + k.pr < k.dw * (k.kw - 1) + 1) k.pr += k.dw * (k.kw - 1) + 1;
    k.zx = (int32_t)rnd_in(0, 255), k.zy = (int32_t)rnd_in(0, 255);
    k.lo = (uint8_t)rnd_in(0, 60), k.hi = (uint8_t)rnd_in(190, 255);
    k.rqmode = it % 4;
    k.xextra = it % 3 == 0 ? 5 : 0, k.yextra = it % 5 == 0 ? 3 : 0;
    run_dw(&k);
  }
}

static void test_dwconv_extremes(void **state) {
  (void)state;
  static const int32_t zps[] = {0, 128, 255};
  for (int xm = 1; xm <= 3; xm++)
    for (int wm = 1; wm <= 3; wm++)
      for (int z = 0; z < 3; z++)
        for (int rq = 0; rq < 4; rq++) {
          dw_case k = {.n = 2,
                       .c = 67,
                       .h = 8,
                       .w = 9,
                       .kh = 3,
                       .kw = 3,
                       .sh = 1,
                       .sw = 1,
                       .dh = 1,
                       .dw = 1,
                       .pt = 1,
                       .pl = 1,
                       .pb = 1,
                       .pr = 1};
          k.zx = zps[z], k.zy = zps[(z + (size_t)rq) % 3], k.xmode = xm, k.wmode = wm;
          k.rqmode = rq, k.lo = rq == 2 ? 20 : 0, k.hi = rq == 2 ? 230 : 255;
          run_dw(&k);
          k.kh = k.kw = 5, k.pt = k.pl = 2, k.pb = k.pr = 2, k.sh = k.sw = 2;
          run_dw(&k);
        }
}

/* The 3x3 depthwise layers of MobileNet-style networks (the row-sweep path): channel counts
 * that split into 64/32/16-channel blocks and partial blocks, strides 1 and 2, symmetric and
 * TF-style pads, batch 2, every requantization mode (ties and any shift take the exact path). */
static void test_dwconv_mobilenet(void **state) {
  (void)state;
  static const int64_t cs[] = {8, 16, 24, 32, 48, 96, 144, 192, 384, 576, 960, 40, 56, 100};
  for (size_t ci = 0; ci < sizeof cs / sizeof *cs; ci++)
    for (int64_t s = 1; s <= 2; s++)
      for (int pads = 0; pads < 2; pads++) {
        dw_case k = {.n = 2,
                     .c = cs[ci],
                     .h = cs[ci] > 200 ? 7 : 10 + (int64_t)(ci % 3),
                     .w = cs[ci] > 200 ? 7 : 13 - (int64_t)(ci % 2),
                     .kh = 3,
                     .kw = 3,
                     .sh = s,
                     .sw = s,
                     .dh = 1,
                     .dw = 1};
        if (pads == 0)
          k.pt = k.pl = k.pb = k.pr = 1;
        else
          k.pt = k.pl = 0, k.pb = k.pr = 1;
        k.zx = (int32_t)rnd_in(0, 255), k.zy = (int32_t)rnd_in(0, 255);
        k.lo = (uint8_t)(ci % 2 ? k.zy : 0), k.hi = (uint8_t)(ci % 3 ? 255 : rnd_in(k.lo, 255));
        k.rqmode = (int)((ci + (size_t)s + (size_t)pads) % 4);
        k.xextra = ci % 4 == 1 ? 16 : 0, k.yextra = ci % 5 == 2 ? 8 : 0;
        run_dw(&k);
      }
}

/* Larger images (threads split rows) and a kernel over the SIMD tap limit. */
static void test_dwconv_large(void **state) {
  (void)state;
  dw_case k = {.n = 2,
               .c = 96,
               .h = 40,
               .w = 37,
               .kh = 3,
               .kw = 3,
               .sh = 1,
               .sw = 1,
               .dh = 1,
               .dw = 1,
               .pt = 1,
               .pl = 1,
               .pb = 1,
               .pr = 1,
               .zx = 128,
               .zy = 3,
               .lo = 3,
               .hi = 255};
  run_dw(&k);
  k.sh = k.sw = 2, k.kh = k.kw = 5, k.pt = k.pl = 2, k.pb = k.pr = 1, k.c = 50;
  run_dw(&k);
  dw_case big = {.n = 1,
                 .c = 19,
                 .h = 18,
                 .w = 17,
                 .kh = 17,
                 .kw = 17,
                 .sh = 1,
                 .sw = 1,
                 .dh = 1,
                 .dw = 1,
                 .pt = 8,
                 .pl = 8,
                 .pb = 8,
                 .pr = 8,
                 .zx = 7,
                 .zy = 200,
                 .lo = 0,
                 .hi = 255};
  run_dw(&big);
}

/* ---------------------------------------------------------- elementwise --- */

static float deq(uint8_t q, int32_t z, float s) {
  return (float)((int32_t)q - z) * s;
}

static uint8_t quant_ref(float v, float s, int32_t z, uint8_t lo, uint8_t hi) {
  float t = v / s;
  const float flo = (float)(lo - z), fhi = (float)(hi - z);
  t = t > flo ? t : flo;
  t = t < fhi ? t : fhi;
  return (uint8_t)((int32_t)nearbyintf(t) + z);
}

static void run_bin(const ptq_qbin_params *p, int64_t rows, int64_t c, enum ptq_qbin_bcast bc,
                    int alias) {
  const int64_t n = rows * c, nb = bc == PTQ_QBIN_SAME ? n : bc == PTQ_QBIN_SCALAR ? 1 : c;
  uint8_t *a = malloc((size_t)n + 1), *b = malloc((size_t)nb + 1);
  uint8_t *y = malloc((size_t)n + 1), *ref = malloc((size_t)n + 1);
  assert_true(a && b && y && ref);
  fill_u8(a, n, 0);
  fill_u8(b, nb, 0);
  for (int64_t i = 0; i < rows; i++)
    for (int64_t ch = 0; ch < c; ch++) {
      const int64_t k = i * c + ch;
      const uint8_t bq = bc == PTQ_QBIN_SAME ? b[k] : bc == PTQ_QBIN_SCALAR ? b[0] : b[ch];
      const float af = deq(a[k], p->za, p->sa), bf = deq(bq, p->zb, p->sb);
      float v = p->op == PTQ_QBIN_MUL ? af * bf : af + bf;
      if (p->clip) {
        v = v < p->clip_lo ? p->clip_lo : v;
        v = v > p->clip_hi ? p->clip_hi : v;
      }
      ref[k] = quant_ref(v, p->sy, p->zy, p->lo, p->hi);
    }
  for (int s = 0; s < N_ISAS; s++) {
    if (!use_isa(s)) continue;
    for (int t = 1; t <= 2; t++) {
      ptq_set_threads(t);
      uint8_t *out = y;
      if (alias) {
        memcpy(y, a, (size_t)n);
        ptq_qbinary(p, rows, c, y, b, bc, y);
      } else {
        y[n] = 0x5A;
        ptq_qbinary(p, rows, c, a, b, bc, out);
        assert_int_equal(y[n], 0x5A);
      }
      check_bytes(p->op == PTQ_QBIN_MUL ? "mul" : "add", ISAS[s], t, out, ref, n);
    }
    ptq_set_threads(1);
  }
  unsetenv("PTQ_ISA");
  free(a), free(b), free(y), free(ref);
}

static void test_elementwise(void **state) {
  (void)state;
  static const int32_t zps[] = {0, 128, 255};
  static const int64_t shapes[][2] = {{1, 1},   {1, 7},   {3, 15},   {2, 16}, {5, 17},
                                      {4, 33},  {3, 63},  {2, 64},   {7, 65}, {9, 70},
                                      {1, 129}, {300, 3}, {1000, 67}};
  for (int op = 0; op < 2; op++)
    for (int bc = 0; bc < 3; bc++)
      for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
        ptq_qbin_params p = {.op = op ? PTQ_QBIN_MUL : PTQ_QBIN_ADD};
        p.za = zps[si % 3], p.zb = zps[(si + 1) % 3], p.zy = zps[(si + (size_t)bc) % 3];
        p.sa = 0.0123f * (float)(1 + si % 4), p.sb = 0.0371f, p.sy = op ? 0.0021f : 0.05f;
        p.lo = 0, p.hi = 255;
        if (si % 4 == 1) p.lo = (uint8_t)(p.zy > 10 ? p.zy : 10); /* fused Relu */
        if (si % 4 == 2) p.lo = 30, p.hi = 200;
        if (si % 5 == 3) p.clip = 1, p.clip_lo = -0.7f, p.clip_hi = 0.9f;
        run_bin(&p, shapes[si][0], shapes[si][1], (enum ptq_qbin_bcast)bc, si % 3 == 2 && bc == 0);
      }
  /* Ties of the final rounding: exact half-integers (scales powers of two). */
  ptq_qbin_params t = {.op = PTQ_QBIN_MUL,
                       .sa = 0.5f,
                       .sb = 1.0f,
                       .sy = 1.0f,
                       .za = 128,
                       .zb = 128,
                       .zy = 128,
                       .lo = 0,
                       .hi = 255};
  run_bin(&t, 50, 37, PTQ_QBIN_SAME, 0);
  t.op = PTQ_QBIN_ADD, t.sy = 2.0f, t.sa = 1.0f;
  run_bin(&t, 50, 37, PTQ_QBIN_SAME, 0);
  run_bin(&t, 50, 37, PTQ_QBIN_PER_CHANNEL, 0);
  /* Extreme ratios (saturate) and a large flat run (threads). */
  ptq_qbin_params e = {.op = PTQ_QBIN_MUL,
                       .sa = 3e19f,
                       .sb = 3e19f,
                       .sy = 1e-30f,
                       .za = 3,
                       .zb = 250,
                       .zy = 0,
                       .lo = 0,
                       .hi = 255};
  run_bin(&e, 10, 40, PTQ_QBIN_SAME, 0);
  ptq_qbin_params big = {.op = PTQ_QBIN_ADD,
                         .sa = 0.02f,
                         .sb = 0.03f,
                         .sy = 0.04f,
                         .za = 100,
                         .zb = 140,
                         .zy = 120,
                         .lo = 0,
                         .hi = 255};
  run_bin(&big, 1, 200003, PTQ_QBIN_SAME, 0);
  run_bin(&big, 3001, 40, PTQ_QBIN_PER_CHANNEL, 0);
}

/* -------------------------------------------------------------- tables --- */

static float hardswish(float x, void *ctx) {
  (void)ctx;
  float r = x + 3.0f;
  r = r < 0.0f ? 0.0f : r > 6.0f ? 6.0f : r;
  return x * r / 6.0f;
}

static void test_lut(void **state) {
  (void)state;
  uint8_t table[256];
  for (int i = 0; i < 256; i++) table[i] = (uint8_t)rnd();
  static const int64_t ns[] = {0, 1, 15, 16, 31, 32, 33, 63, 64, 65, 127, 256, 1000, 1 << 21};
  for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++) {
    const int64_t n = ns[ni];
    uint8_t *x = malloc((size_t)n + 1), *y = malloc((size_t)n + 1), *ref = malloc((size_t)n + 1);
    assert_true(x && y && ref);
    for (int64_t i = 0; i < n; i++) x[i] = (uint8_t)(i < 256 ? i : rnd());
    for (int64_t i = 0; i < n; i++) ref[i] = table[x[i]];
    for (int s = 0; s < N_ISAS; s++) {
      if (!use_isa(s)) continue;
      for (int t = 1; t <= 2; t++) {
        ptq_set_threads(t);
        y[n] = 0x5A;
        ptq_qlut(table, n, x, y);
        assert_int_equal(y[n], 0x5A);
        check_bytes("lut", ISAS[s], t, y, ref, n);
        memcpy(y, x, (size_t)n); /* in place */
        ptq_qlut(table, n, y, y);
        check_bytes("lut in place", ISAS[s], t, y, ref, n);
      }
      ptq_set_threads(1);
    }
    unsetenv("PTQ_ISA");
    free(x), free(y), free(ref);
  }
  /* Builder: the literal DQ -> f -> Q per code. */
  static const float sxs[] = {0.05f, 0.1f, 1.0f / 32};
  for (int i = 0; i < 3; i++) {
    const float sx = sxs[i], sy = 0.5f / 64;
    const int32_t zx = i * 100, zy = 255 - i * 100;
    ptq_qlut_build(table, hardswish, NULL, sx, zx, sy, zy, (uint8_t)(i == 1 ? zy : 0), 255);
    for (int q = 0; q < 256; q++)
      assert_int_equal(table[q], quant_ref(hardswish((float)(q - zx) * sx, NULL), sy, zy,
                                           (uint8_t)(i == 1 ? zy : 0), 255));
    ptq_qlut_build(table, NULL, NULL, sx, zx, 0.07f, zy, 0, 255);
    for (int q = 0; q < 256; q++)
      assert_int_equal(table[q], quant_ref((float)(q - zx) * sx, 0.07f, zy, 0, 255));
  }
}

/* ------------------------------------------------------------- pooling --- */

typedef struct pool_ref_out {
  uint8_t *max, *avg;
} pool_ref_out;

static void pool_ref(const ptq_qpool_params *p, const uint8_t *x, pool_ref_out o) {
  const int64_t hp = p->h_in + p->pad_t + p->pad_b, wp = p->w_in + p->pad_l + p->pad_r;
  for (int64_t b = 0; b < p->n; b++)
    for (int64_t oh = 0; oh < p->h_out; oh++)
      for (int64_t ow = 0; ow < p->w_out; ow++)
        for (int64_t ch = 0; ch < p->c; ch++) {
          int have = 0, m = 0;
          int32_t s = 0;
          int64_t cin = 0, cpad = 0;
          for (int64_t i = 0; i < p->k_h; i++)
            for (int64_t j = 0; j < p->k_w; j++) {
              const int64_t ih = oh * p->stride_h - p->pad_t + i * p->dil_h;
              const int64_t iw = ow * p->stride_w - p->pad_l + j * p->dil_w;
              if (ih + p->pad_t >= 0 && ih + p->pad_t < hp && iw + p->pad_l >= 0 &&
                  iw + p->pad_l < wp)
                cpad++;
              if (ih < 0 || ih >= p->h_in || iw < 0 || iw >= p->w_in) continue;
              const int v = x[((b * p->h_in + ih) * p->w_in + iw) * p->c + ch];
              m = !have || v > m ? v : m;
              have = 1;
              s += v - p->zx;
              cin++;
            }
          const int64_t at = ((b * p->h_out + oh) * p->w_out + ow) * p->c + ch;
          o.max[at] = !have ? p->lo : m < p->lo ? p->lo : m > p->hi ? p->hi : (uint8_t)m;
          const int64_t cnt = p->count_include_pad ? cpad : cin;
          int32_t mult = 0, shift = 1;
          if (cnt > 0)
            assert_int_equal(
                ptq_requant_from_real((double)p->sx / ((double)p->sy * (double)cnt), &mult, &shift),
                0);
          o.avg[at] = requant_naive(s, mult, shift, p->zy, p->lo, p->hi);
        }
}

static void run_pool(const ptq_qpool_params *p, int xmode) {
  const int64_t nx = p->n * p->h_in * p->w_in * p->c, ny = p->n * p->h_out * p->w_out * p->c;
  uint8_t *x = malloc((size_t)nx), *y = malloc((size_t)ny + 1);
  pool_ref_out o = {malloc((size_t)ny + 1), malloc((size_t)ny + 1)};
  assert_true(x && y && o.max && o.avg);
  fill_u8(x, nx, xmode);
  pool_ref(p, x, o);
  for (int s = 0; s < N_ISAS; s++) {
    if (!use_isa(s)) continue;
    for (int t = 1; t <= 2; t++) {
      ptq_set_threads(t);
      y[ny] = 0x5A;
      ptq_qmaxpool(p, x, y);
      check_bytes("maxpool", ISAS[s], t, y, o.max, ny);
      ptq_qavgpool(p, x, y);
      check_bytes("avgpool", ISAS[s], t, y, o.avg, ny);
      assert_int_equal(y[ny], 0x5A);
    }
    ptq_set_threads(1);
  }
  unsetenv("PTQ_ISA");
  free(x), free(y), free(o.max), free(o.avg);
}

static void test_pool(void **state) {
  (void)state;
  static const int32_t zps[] = {0, 128, 255};
  for (int it = 0; it < 80; it++) {
    ptq_qpool_params p = {
        .n = rnd_in(1, 2), .c = rnd_in(1, 70), .h_in = rnd_in(1, 10), .w_in = rnd_in(1, 10)};
    p.k_h = rnd_in(1, 4), p.k_w = rnd_in(1, 4), p.stride_h = rnd_in(1, 3),
    p.stride_w = rnd_in(1, 3);
    p.dil_h = it % 3 == 0 ? rnd_in(1, 2) : 1, p.dil_w = it % 3 == 0 ? rnd_in(1, 2) : 1;
    p.pad_t = rnd_in(0, p.k_h - 1), p.pad_b = rnd_in(0, p.k_h), p.pad_l = rnd_in(0, p.k_w - 1);
    p.pad_r = rnd_in(0, p.k_w);
    const int64_t eh = p.dil_h * (p.k_h - 1) + 1, ew = p.dil_w * (p.k_w - 1) + 1;
    if (p.h_in + p.pad_t + p.pad_b < eh) p.pad_b = eh;
    if (p.w_in + p.pad_l + p.pad_r < ew) p.pad_r = ew;
    p.h_out = (p.h_in + p.pad_t + p.pad_b - eh) / p.stride_h + 1;
    p.w_out = (p.w_in + p.pad_l + p.pad_r - ew) / p.stride_w + 1;
    if (it % 4 == 1) p.h_out += 1, p.w_out += 1; /* ceil_mode: windows past the padded end */
    p.count_include_pad = it % 2;
    p.zx = zps[it % 3], p.zy = zps[(it / 3) % 3];
    p.sx = 0.02f + 0.001f * (float)it, p.sy = it % 5 == 0 ? p.sx : 0.03f;
    p.lo = it % 6 == 0 ? 40 : 0, p.hi = it % 6 == 0 ? 220 : 255;
    run_pool(&p, it % 7 == 0 ? 3 : 0);
  }
}

/* Shapes big enough that the 2-thread runs split the rows on the thread pool. */
static void test_pool_large(void **state) {
  (void)state;
  for (int it = 0; it < 2; it++) {
    ptq_qpool_params p = {.n = 1 + it, .c = 67, .h_in = 56, .w_in = 56, .k_h = 3, .k_w = 3};
    p.stride_h = p.stride_w = 1 + it, p.dil_h = p.dil_w = 1;
    p.pad_t = p.pad_l = p.pad_b = p.pad_r = 1;
    p.h_out = (p.h_in + 2 - 3) / p.stride_h + 1, p.w_out = (p.w_in + 2 - 3) / p.stride_w + 1;
    p.count_include_pad = it;
    p.zx = 3, p.zy = 250, p.sx = 0.02f, p.sy = 0.03f, p.lo = 0, p.hi = 255;
    run_pool(&p, 0);
  }
}

static void test_global_avgpool(void **state) {
  (void)state;
  static const int64_t shapes[][4] = {{1, 1, 1, 1},  {2, 7, 7, 17},    {1, 13, 11, 64},
                                      {2, 3, 5, 70}, {1, 56, 56, 130}, {3, 1, 9, 9}};
  for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
    for (int z = 0; z < 3; z++) {
      ptq_qpool_params p = {.n = shapes[si][0],
                            .h_in = shapes[si][1],
                            .w_in = shapes[si][2],
                            .c = shapes[si][3],
                            .zx = z * 127,
                            .zy = 255 - z * 120,
                            .sx = 0.1f,
                            .sy = z == 1 ? 0.1f : 0.013f,
                            .lo = 0,
                            .hi = 255};
      const int64_t hw = p.h_in * p.w_in, nx = p.n * hw * p.c, ny = p.n * p.c;
      uint8_t *x = malloc((size_t)nx), *y = malloc((size_t)ny), *ref = malloc((size_t)ny);
      assert_true(x && y && ref);
      fill_u8(x, nx, z == 2 ? 3 : 0);
      int32_t mult, shift;
      assert_int_equal(
          ptq_requant_from_real((double)p.sx / ((double)p.sy * (double)hw), &mult, &shift), 0);
      for (int64_t b = 0; b < p.n; b++)
        for (int64_t ch = 0; ch < p.c; ch++) {
          int32_t s = 0;
          for (int64_t i = 0; i < hw; i++) s += x[(b * hw + i) * p.c + ch] - p.zx;
          ref[b * p.c + ch] = requant_naive(s, mult, shift, p.zy, p.lo, p.hi);
        }
      for (int s = 0; s < N_ISAS; s++) {
        if (!use_isa(s)) continue;
        for (int t = 1; t <= 2; t++) {
          ptq_set_threads(t);
          ptq_qglobal_avgpool(&p, x, y);
          check_bytes("global avgpool", ISAS[s], t, y, ref, ny);
        }
        ptq_set_threads(1);
      }
      unsetenv("PTQ_ISA");
      free(x), free(y), free(ref);
    }
}

/* ------------------------------------------------ resize, pad, boundary --- */

static void test_resize_pad(void **state) {
  (void)state;
  for (int it = 0; it < 30; it++) {
    const int64_t n = rnd_in(1, 2), c = rnd_in(1, 40), h = rnd_in(1, 8), w = rnd_in(1, 8);
    const int64_t ho = rnd_in(1, 17), wo = rnd_in(1, 17);
    int64_t ih[17], iw[17];
    for (int64_t i = 0; i < ho; i++) ih[i] = rnd_in(0, h - 1);
    for (int64_t i = 0; i < wo; i++) iw[i] = rnd_in(0, w - 1);
    uint8_t *x = malloc((size_t)(n * h * w * c)), *y = malloc((size_t)(n * ho * wo * c));
    assert_true(x && y);
    fill_u8(x, n * h * w * c, 0);
    ptq_set_threads(1 + it % 2);
    ptq_qresize_nearest(n, c, h, w, ho, wo, ih, iw, x, y);
    for (int64_t b = 0; b < n; b++)
      for (int64_t i = 0; i < ho; i++)
        for (int64_t j = 0; j < wo; j++)
          for (int64_t ch = 0; ch < c; ch++)
            assert_int_equal(y[((b * ho + i) * wo + j) * c + ch],
                             x[((b * h + ih[i]) * w + iw[j]) * c + ch]);
    free(y);
    for (int mode = 0; mode < 3; mode++) {
      ptq_qpad_params p = {.n = n,
                           .h = h,
                           .w = w,
                           .c = c,
                           .mode = (enum ptq_qpad_mode)mode,
                           .value = (uint8_t)rnd()};
      const int64_t mh = mode == 2 ? h - 1 : 4, mw = mode == 2 ? w - 1 : 4;
      const int64_t mc = mode == 2 ? c - 1 : 3;
      p.pad_t = rnd_in(0, mh), p.pad_b = rnd_in(0, mh), p.pad_l = rnd_in(0, mw);
      p.pad_r = rnd_in(0, mw), p.pad_c0 = rnd_in(0, mc), p.pad_c1 = rnd_in(0, mc);
      const int64_t ph = h + p.pad_t + p.pad_b, pw = w + p.pad_l + p.pad_r;
      const int64_t pc = c + p.pad_c0 + p.pad_c1;
      uint8_t *yp = malloc((size_t)(n * ph * pw * pc));
      assert_non_null(yp);
      ptq_qpad(&p, x, yp);
      for (int64_t b = 0; b < n; b++)
        for (int64_t i = 0; i < ph; i++)
          for (int64_t j = 0; j < pw; j++)
            for (int64_t k = 0; k < pc; k++) {
              int64_t s[3] = {i - p.pad_t, j - p.pad_l, k - p.pad_c0};
              const int64_t lim[3] = {h, w, c};
              int cst = 0;
              for (int a = 0; a < 3; a++) {
                if (s[a] >= 0 && s[a] < lim[a]) continue;
                if (mode == 0) cst = 1;
                if (mode == 1) s[a] = s[a] < 0 ? 0 : lim[a] - 1;
                if (mode == 2) s[a] = s[a] < 0 ? -s[a] : 2 * lim[a] - 2 - s[a];
              }
              const uint8_t want = cst ? p.value : x[((b * h + s[0]) * w + s[1]) * c + s[2]];
              assert_int_equal(yp[((b * ph + i) * pw + j) * pc + k], want);
            }
      free(yp);
    }
    ptq_set_threads(1);
    free(x);
  }
}

/* Shapes big enough that the 2-thread runs split the rows on the thread pool: the same bytes
 * as 1 thread (which test_resize_pad checks against the definition). */
static void test_resize_pad_large(void **state) {
  (void)state;
  const int64_t n = 2, c = 120, h = 32, w = 32, ho = 64, wo = 64;
  int64_t ih[64], iw[64];
  for (int64_t i = 0; i < 64; i++) ih[i] = i / 2, iw[i] = (i * 7) % 32;
  const int64_t nx = n * h * w * c, ny = n * ho * wo * c;
  uint8_t *x = malloc((size_t)nx), *y1 = malloc((size_t)ny), *y2 = malloc((size_t)ny);
  assert_true(x && y1 && y2);
  fill_u8(x, nx, 0);
  for (int t = 1; t <= 2; t++) {
    ptq_set_threads(t);
    ptq_qresize_nearest(n, c, h, w, ho, wo, ih, iw, x, t == 1 ? y1 : y2);
  }
  assert_memory_equal(y1, y2, (size_t)ny);
  for (int mode = 0; mode < 3; mode++) {
    const ptq_qpad_params p = {.n = n,
                               .h = h,
                               .w = w,
                               .c = c,
                               .mode = (enum ptq_qpad_mode)mode,
                               .value = 77,
                               .pad_t = 3,
                               .pad_b = 2,
                               .pad_l = 1,
                               .pad_r = 4,
                               .pad_c0 = 2,
                               .pad_c1 = 1};
    const int64_t np = n * (h + 5) * (w + 5) * (c + 3);
    uint8_t *p1 = malloc((size_t)np), *p2 = malloc((size_t)np);
    assert_true(p1 && p2);
    for (int t = 1; t <= 2; t++) {
      ptq_set_threads(t);
      ptq_qpad(&p, x, t == 1 ? p1 : p2);
    }
    assert_memory_equal(p1, p2, (size_t)np);
    free(p1), free(p2);
  }
  ptq_set_threads(1);
  free(x), free(y1), free(y2);
}

static void test_boundary(void **state) {
  (void)state;
  static const int64_t shapes[][3] = {{1, 3, 1},   {1, 3, 7},    {2, 3, 300},  {1, 1, 33},
                                      {2, 17, 19}, {1, 70, 257}, {1, 3, 50000}};
  for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
    for (int int8 = 0; int8 < 2; int8++) {
      const int64_t n = shapes[si][0], c = shapes[si][1], hw = shapes[si][2], total = n * c * hw;
      const float scale = si % 2 ? 0.0078125f : 0.0123f;
      const int32_t zp = int8 ? (int32_t)(si % 3) * 60 - 60 : (int32_t)(si % 3) * 127;
      float *x = malloc(sizeof(float) * (size_t)total), *yf = malloc(sizeof(float) * (size_t)total);
      uint8_t *q = malloc((size_t)total), *ref = malloc((size_t)total);
      assert_true(x && yf && q && ref);
      for (int64_t i = 0; i < total; i++) {
        switch (i % 11) {
          case 0: x[i] = ((float)rnd_in(-300, 300) + 0.5f) * scale; break; /* ties */
          case 1: x[i] = i % 3 ? INFINITY : -INFINITY; break;
          case 2: x[i] = NAN; break;
          case 3: x[i] = -0.0f; break;
          case 4: x[i] = 1e30f; break;
          default: x[i] = ((float)rnd() / 4294967296.0f * 4.0f - 2.0f);
        }
      }
      const ptq_qparams qp = {.scale = scale, .zero_point = zp};
      for (int64_t b = 0; b < n; b++)
        for (int64_t ch = 0; ch < c; ch++)
          for (int64_t i = 0; i < hw; i++) {
            const int32_t v = ptq_quantize_value(x[(b * c + ch) * hw + i], qp, int8 ? -128 : 0,
                                                 int8 ? 127 : 255, PTQ_ROUND_HALF_EVEN);
            ref[(b * hw + i) * c + ch] = (uint8_t)(int8 ? (v ^ 0x80) & 0xFF : v);
          }
      for (int s = 0; s < N_ISAS; s++) {
        if (!use_isa(s)) continue;
        for (int t = 1; t <= 2; t++) {
          ptq_set_threads(t);
          ptq_quantize_nchw_to_nhwc(n, c, hw, x, scale, zp, int8, q);
          check_bytes("quantize", ISAS[s], t, q, ref, total);
          ptq_dequantize_nhwc_to_nchw(n, c, hw, q, scale, zp, int8, yf);
          for (int64_t b = 0; b < n; b++)
            for (int64_t ch = 0; ch < c; ch++)
              for (int64_t i = 0; i < hw; i++) {
                const uint8_t u = ref[(b * hw + i) * c + ch];
                const int32_t code = int8 ? (int32_t)(int8_t)(u ^ 0x80) : u;
                const float want = (float)(code - zp) * scale, got = yf[(b * c + ch) * hw + i];
                if (memcmp(&want, &got, sizeof want) != 0)
                  fail_msg("dequantize [%s, %d threads]: %g, want %g", ISAS[s], t, got, want);
              }
        }
        ptq_set_threads(1);
      }
      unsetenv("PTQ_ISA");
      free(x), free(yf), free(q), free(ref);
    }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dwconv_shapes),
      cmocka_unit_test(test_dwconv_geometry),
      cmocka_unit_test(test_dwconv_extremes),
      cmocka_unit_test(test_dwconv_mobilenet),
      cmocka_unit_test(test_dwconv_large),
      cmocka_unit_test(test_elementwise),
      cmocka_unit_test(test_lut),
      cmocka_unit_test(test_pool),
      cmocka_unit_test(test_pool_large),
      cmocka_unit_test(test_global_avgpool),
      cmocka_unit_test(test_resize_pad),
      cmocka_unit_test(test_resize_pad_large),
      cmocka_unit_test(test_boundary),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
