/* Int8 GEMM and NHWC convolution (qgemm.h) on every ISA the CPU has (forced with PTQ_ISA) and
 * thread counts 1 and 2: bit-exact against naive references written here (not the library's
 * scalar path), over shapes around the tile sizes, extreme operands (x at 0/255 and weights at
 * -128/127: vpmaddubsw would saturate), zero points 0/128/255, requantization parameters at the
 * ends of their ranges and exact ties. Also the requantization helpers of qkernels.h. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kernels/qgemm.h"
#include "ptq/ptq.h"

static const char *const ISAS[] = {"scalar", "avx2", "avx512vnni"};
#define NISA (sizeof ISAS / sizeof *ISAS)

static uint32_t rng_state = 0x12345678u;

static uint32_t rnd(void) { /* xorshift32 */
  uint32_t s = rng_state;
  s ^= s << 13;
  s ^= s >> 17;
  s ^= s << 5;
  return rng_state = s;
}

/* round_half_even(p / 2^s) in 128-bit arithmetic, independent of the library. */
static int64_t ref_round_shift(int64_t p, int s) {
  const __int128 d = (__int128)1 << s;
  __int128 q = (__int128)p / d;
  if ((__int128)p % d != 0 && p < 0) q -= 1; /* floor */
  const __int128 r2 = 2 * ((__int128)p - q * d);
  if (r2 > d || (r2 == d && (q & 1))) q += 1;
  return (int64_t)q;
}

static uint8_t ref_requant(int64_t acc, int32_t mult, int32_t shift, int32_t zy, uint8_t lo,
                           uint8_t hi) {
  int64_t v = ref_round_shift(acc * mult, shift) + zy;
  if (v < lo) v = lo;
  if (v > hi) v = hi;
  return (uint8_t)v;
}

/* --- requantization helpers ----------------------------------------------------------------- */

static void test_rshift_round_even(void **state) {
  (void)state;
  static const struct {
    int64_t v;
    int s;
    int64_t want;
  } cases[] = {
      {5, 1, 2},
      {7, 1, 4},
      {9, 1, 4},
      {11, 1, 6},
      {-5, 1, -2},
      {-7, 1, -4},
      {-9, 1, -4},
      {1, 1, 0},
      {-1, 1, 0},
      {3, 1, 2},
      {-3, 1, -2},
      {6, 2, 2},
      {10, 2, 2},
      {-6, 2, -2},
      {-10, 2, -2},
      {3, 2, 1},
      {-3, 2, -1},
      {5, 2, 1},
      {-5, 2, -1},
      {7, 2, 2},
      {-7, 2, -2},
      {12, 3, 2},
      {20, 3, 2},
      {28, 3, 4},
      {-12, 3, -2},
      {-20, 3, -2},
      {0, 5, 0},
      {31, 5, 1},
      {-31, 5, -1},
      {-16, 5, 0},
      {48, 5, 2},
      {-48, 5, -2},
      {16, 5, 0},
      {17, 5, 1},
      {-17, 5, -1},
      {INT64_C(1) << 62, 63, 0},       /* 0.5 -> 0 */
      {-(INT64_C(1) << 62), 63, 0},    /* -0.5 -> 0 */
      {INT64_C(3) << 61, 63, 1},       /* 0.75 -> 1 */
      {-(INT64_C(3) << 61), 63, -1},   /* -0.75 -> -1 */
      {(INT64_C(1) << 62) - 1, 63, 0}, /* just below 0.5 */
      {(INT64_C(1) << 62) + 1, 63, 1}, /* just above 0.5 */
      {INT64_C(3) << 60, 61, 2},       /* 1.5 -> 2 */
      {INT64_C(5) << 60, 61, 2},       /* 2.5 -> 2 */
      {-(INT64_C(5) << 60), 61, -2},   /* -2.5 -> -2 */
      {INT64_C(0x3FFFFFFF80000001), 31, INT64_C(0x7FFFFFFF)},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const int64_t got = ptq_rshift_round_even(cases[i].v, cases[i].s);
    if (got != cases[i].want || ref_round_shift(cases[i].v, cases[i].s) != cases[i].want)
      fail_msg("rshift(%lld, %d) = %lld (reference %lld), want %lld", (long long)cases[i].v,
               cases[i].s, (long long)got, (long long)ref_round_shift(cases[i].v, cases[i].s),
               (long long)cases[i].want);
  }
  for (int i = 0; i < 200000; i++) { /* random against the 128-bit reference */
    const int s = 1 + (int)(rnd() % 63);
    const uint64_t u = ((uint64_t)rnd() << 32 | rnd()) >> (1 + rnd() % 63);
    const int64_t v = rnd() & 1 ? (int64_t)u : -(int64_t)u;
    assert_int_equal(ptq_rshift_round_even(v, s), ref_round_shift(v, s));
  }
  /* ptq_requant_ref: clamping and zero point */
  assert_int_equal(ptq_requant_ref(3, 1 << 30, 31, 10, 0, 255), 12); /* 1.5 -> 2 */
  assert_int_equal(ptq_requant_ref(5, 1 << 30, 31, 10, 0, 255), 12); /* 2.5 -> 2 */
  assert_int_equal(ptq_requant_ref(-5, 1 << 30, 31, 10, 0, 255), 8);
  assert_int_equal(ptq_requant_ref(1000, 1 << 30, 31, 10, 0, 255), 255);
  assert_int_equal(ptq_requant_ref(-1000, 1 << 30, 31, 10, 0, 255), 0);
  assert_int_equal(ptq_requant_ref(-1000, 1 << 30, 31, 10, 20, 200), 20);
  assert_int_equal(ptq_requant_ref(INT32_MIN, INT32_MAX, 1, 0, 0, 255), 0);
  assert_int_equal(ptq_requant_ref(INT32_MAX, INT32_MAX, 1, 0, 0, 255), 255);
  assert_int_equal(ptq_requant_ref(INT32_MAX, INT32_MAX, 63, 128, 0, 255), 128);
}

static void test_requant_from_real(void **state) {
  (void)state;
  static const struct {
    double m;
    int32_t mult, shift;
  } cases[] = {
      {0.75, 3 << 29, 31},
      {0.5, 1 << 30, 31},
      {1.0, 1 << 30, 30},
      {0.25, 1 << 30, 32},
      {0x1p29, 1 << 30, 1},
      {0x1p-33, 1 << 30, 63},
      {0.1, 1717986918, 34}, /* 0.1 · 2^34 = 1717986918.4 */
      /* ties of the 31-bit rounding: to even */
      {(0x1p30 + 0.5) / 0x1p31, 1 << 30, 31},
      {(0x1p30 + 1.5) / 0x1p31, (1 << 30) + 2, 31},
      {(0x1p30 + 2.5) / 0x1p31, (1 << 30) + 2, 31},
      {(0x1p31 - 0.5) / 0x1p31, 1 << 30, 30}, /* rounds up to 2^31: renormalised */
      {(0x1p31 - 1.5) / 0x1p31, 0x7FFFFFFE, 31},
      {(0x1p31 - 2.5) / 0x1p31, 0x7FFFFFFE, 31},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    int32_t mult = -1, shift = -1;
    assert_int_equal(ptq_requant_from_real(cases[i].m, &mult, &shift), 0);
    if (mult != cases[i].mult || shift != cases[i].shift)
      fail_msg("m = %.17g: mult %d shift %d, want %d %d", cases[i].m, mult, shift, cases[i].mult,
               cases[i].shift);
  }
  int32_t mult, shift;
  assert_int_equal(ptq_requant_from_real(0x1p-34, &mult, &shift), 0);
  assert_int_equal(mult, 0);
  assert_true(shift >= 1 && shift <= 63);
  assert_int_equal(ptq_requant_from_real(0x1p30, &mult, &shift), -1);
  assert_int_equal(ptq_requant_from_real(0.0, &mult, &shift), -1);
  assert_int_equal(ptq_requant_from_real(-0.5, &mult, &shift), -1);
  assert_int_equal(ptq_requant_from_real(NAN, &mult, &shift), -1);
  assert_int_equal(ptq_requant_from_real(INFINITY, &mult, &shift), -1);
  for (int i = 0; i < 10000; i++) { /* mult · 2^-shift within half an ulp of 31 bits */
    const double m = ldexp(1.0 + (double)rnd() / 4294967296.0, (int)(rnd() % 60) - 32);
    assert_int_equal(ptq_requant_from_real(m, &mult, &shift), 0);
    assert_true(mult >= (1 << 30) && shift >= 1 && shift <= 63);
    const double back = ldexp((double)mult, -shift);
    assert_true(fabs(back - m) <= ldexp(1.0, -shift - 1));
  }
}

/* --- GEMM ----------------------------------------------------------------------------------- */

/* Operand patterns. */
enum { PAT_RANDOM, PAT_EXTREME, PAT_MIN, PAT_MAX, PAT_SMALL, PAT_COUNT };

static uint8_t gen_x(int pat, uint8_t zx) {
  switch (pat) {
    case PAT_EXTREME: return rnd() & 1 ? 255 : 0;
    case PAT_MIN:
    case PAT_MAX: return 255;
    case PAT_SMALL: return (uint8_t)(zx + (zx == 255 ? -(int)(rnd() % 3) : (int)(rnd() % 3)));
    default: return (uint8_t)rnd();
  }
}

static int8_t gen_w(int pat) {
  switch (pat) {
    case PAT_EXTREME: return rnd() & 1 ? 127 : -128;
    case PAT_MIN: return -128;
    case PAT_MAX: return 127;
    case PAT_SMALL: return (int8_t)((int)(rnd() % 5) - 2);
    default: return (int8_t)rnd();
  }
}

/* Requantization parameters of one channel whose accumulators reach amax in magnitude: the
 * ends of the ranges (shift 1 and 63, mult 0), ties (mult 2^30 or 3 · 2^29, so that
 * acc · mult / 2^shift is often exactly half-way) and scales that spread the outputs. */
static void gen_rq(int64_t amax, int32_t *mult, int32_t *shift) {
  int fit = 31; /* acc · 2^30 / 2^fit stays within about ±128 */
  while (fit < 63 && (amax >> (fit - 30)) > 128) fit++;
  switch (rnd() % 8) {
    case 0: *mult = 1 << 30, *shift = fit; break;
    case 1: *mult = 3 << 29, *shift = fit + (fit < 63); break;
    case 2: *mult = (int32_t)((1u << 30) | (rnd() >> 2)), *shift = 1; break;
    case 3: *mult = (int32_t)((1u << 30) | (rnd() >> 2)), *shift = 63; break;
    case 4: *mult = 0, *shift = (int32_t)(1 + rnd() % 63); break;
    case 5: *mult = INT32_MAX, *shift = fit > 31 ? fit - 1 : 31; break;
    default: *mult = (int32_t)((1u << 30) | (rnd() >> 2)), *shift = fit; break;
  }
}

typedef struct {
  int64_t m, n, k;
  uint8_t zx;
  int32_t zy;
  uint8_t lo, hi;
  int pat;
} gemm_case;

/* Runs one case on every ISA (u8 and int32 outputs) at the current thread count. */
static void check_gemm(const gemm_case *c) {
  const int64_t m = c->m, n = c->n, k = c->k, ldx = k + 3, ldw = k + 1, ldy = n + 5;
  /* X ends exactly at its last row's k-th byte, so that an over-read trips ASan. */
  const size_t xbytes = m > 0 && k > 0 ? (size_t)((m - 1) * ldx + k) : 1;
  uint8_t *x = malloc(xbytes);
  int8_t *w = malloc((size_t)(n * ldw + 1));
  int32_t *bias = malloc(sizeof(int32_t) * (size_t)n), *mult = malloc(sizeof(int32_t) * (size_t)n);
  int32_t *shift = malloc(sizeof(int32_t) * (size_t)n);
  int64_t *acc = malloc(sizeof(int64_t) * (size_t)(m * n + 1));
  uint8_t *y = malloc((size_t)(m * ldy + 1));
  int32_t *y32 = malloc(sizeof(int32_t) * (size_t)(m * ldy + 1));
  assert_true(x && w && bias && mult && shift && acc && y && y32);
  for (size_t i = 0; i < xbytes; i++) x[i] = gen_x(c->pat, c->zx);
  for (int64_t i = 0; i < n * ldw; i++) w[i] = gen_w(c->pat);
  const int64_t bmax = INT32_MAX - k * 255 * 128 - 1; /* the caller's bound */
  for (int64_t j = 0; j < n; j++) {
    const int64_t b = (int64_t)(rnd() % 20001) - 10000;
    bias[j] = (int32_t)(rnd() % 16 == 0 ? (rnd() & 1 ? bmax : -bmax) : b);
    if (c->pat == PAT_MIN || c->pat == PAT_MAX) bias[j] = 0;
  }
  for (int64_t j = 0; j < n; j++) {
    int64_t amax = 1;
    for (int64_t i = 0; i < m; i++) {
      int64_t a = bias[j];
      for (int64_t l = 0; l < k; l++) a += ((int64_t)x[i * ldx + l] - c->zx) * w[j * ldw + l];
      assert_true(a >= INT32_MIN && a <= INT32_MAX);
      acc[i * n + j] = a;
      if (llabs(a - bias[j]) > amax) amax = llabs(a - bias[j]);
    }
    gen_rq(amax, &mult[j], &shift[j]);
  }
  const int no_bias = rnd() % 4 == 0; /* also bias = NULL */
  for (size_t s = 0; s < NISA; s++) {
    setenv("PTQ_ISA", ISAS[s], 1);
    ptq_qgemm_packed *p = ptq_qgemm_pack(n, k, w, ldw, no_bias ? NULL : bias, mult, shift, c->zx);
    assert_non_null(p);
    if (strcmp(ptq_qgemm_packed_isa(p), ISAS[s]) != 0) { /* not supported here */
      ptq_qgemm_packed_free(p);
      continue;
    }
    memset(y, 0xA5, (size_t)(m * ldy + 1));
    for (int64_t i = 0; i < m * ldy + 1; i++) y32[i] = 0x5A5A5A5A;
    ptq_qgemm_run(p, m, x, ldx, c->zy, c->lo, c->hi, y, ldy);
    ptq_qgemm_run_i32(p, m, x, ldx, y32, ldy);
    ptq_qgemm_packed_free(p);
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < ldy; j++) {
        const uint8_t got = y[i * ldy + j];
        const int32_t got32 = y32[i * ldy + j];
        if (j >= n) {
          if (got != 0xA5 || got32 != 0x5A5A5A5A)
            fail_msg("%s m%lld n%lld k%lld: padding y[%lld][%lld] written", ISAS[s], (long long)m,
                     (long long)n, (long long)k, (long long)i, (long long)j);
          continue;
        }
        const int64_t a = acc[i * n + j] - (no_bias ? bias[j] : 0);
        const uint8_t want = ref_requant(a, mult[j], shift[j], c->zy, c->lo, c->hi);
        if (got != want || got32 != a)
          fail_msg(
              "%s m%lld n%lld k%lld zx%d zy%d [%d,%d] pat%d: y[%lld][%lld] = %d / %d, "
              "want %d / %lld (mult %d shift %d)",
              ISAS[s], (long long)m, (long long)n, (long long)k, c->zx, c->zy, c->lo, c->hi, c->pat,
              (long long)i, (long long)j, got, got32, want, (long long)a, mult[j], shift[j]);
      }
    if (y[m * ldy] != 0xA5 || y32[m * ldy] != 0x5A5A5A5A) fail_msg("%s: wrote past y", ISAS[s]);
  }
  unsetenv("PTQ_ISA");
  free(x);
  free(w);
  free(bias);
  free(mult);
  free(shift);
  free(acc);
  free(y);
  free(y32);
}

static const uint8_t ZPS[] = {0, 128, 255};

static void clamp_range(uint8_t *lo, uint8_t *hi, int32_t zy) {
  switch (rnd() % 3) {
    case 0: *lo = 0, *hi = 255; break;
    case 1: *lo = (uint8_t)zy, *hi = 255; break; /* fused Relu */
    default: *lo = (uint8_t)(rnd() % 100), *hi = (uint8_t)(150 + rnd() % 106); break;
  }
}

static void test_gemm_shapes(void **state) {
  (void)state;
  const int64_t ms[] = {1, 2, 3, 5, 6, 7, 12, 13, 19};
  const int64_t ns[] = {1, 3, 4, 5, 15, 16, 17, 31, 33, 48, 63, 64, 65, 70, 129};
  const int64_t ks[] = {0, 1, 2, 3, 4, 5, 7, 15, 16, 17, 31, 33, 64, 67};
  ptq_set_threads(1);
  for (size_t mi = 0; mi < sizeof ms / sizeof *ms; mi++)
    for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++)
      for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++) {
        gemm_case c = {ms[mi],         ns[ni], ks[ki], ZPS[rnd() % 3],
                       ZPS[rnd() % 3], 0,      255,    (int)(rnd() % PAT_COUNT)};
        clamp_range(&c.lo, &c.hi, c.zy);
        check_gemm(&c);
      }
  ptq_set_threads(0);
}

/* Every pattern with every zero-point pair on a few shapes straddling the tiles. */
static void test_gemm_extremes(void **state) {
  (void)state;
  const int64_t shapes[][3] = {{7, 65, 67}, {13, 17, 33}, {6, 64, 64}, {2, 4, 16}, {1, 129, 5}};
  ptq_set_threads(1);
  for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
    for (int pat = 0; pat < PAT_COUNT; pat++)
      for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++) {
          gemm_case c = {shapes[si][0], shapes[si][1], shapes[si][2], ZPS[a], ZPS[b], 0, 255, pat};
          clamp_range(&c.lo, &c.hi, c.zy);
          check_gemm(&c);
        }
  ptq_set_threads(0);
}

/* Products large enough for the parallel path (including narrow column blocks for small m) at
 * 1 and 2 threads. */
static void test_gemm_threads(void **state) {
  (void)state;
  const int64_t shapes[][3] = {{301, 130, 451}, {3, 1500, 3800}, {1, 4100, 4100}};
  for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
    for (int t = 1; t <= 2; t++) {
      ptq_set_threads(t);
      gemm_case c = {shapes[si][0], shapes[si][1], shapes[si][2], 128, 3, 0, 255, PAT_RANDOM};
      check_gemm(&c);
    }
  ptq_set_threads(0);
}

/* Accumulators just off a rounding tie: mult 2^30 + c (shift 31) or 2^31 - c (shift 32) with
 * small c make acc · mult / 2^shift = acc/2 ± |acc| · c · 2^-31 (or 2^-32), which a float32
 * multiplier cannot tell from acc/2. The AVX-512 VNNI kernel's float requantization must send
 * these lanes to its exact fallback: the test checks that a float emulation of its fast path
 * (qrequant_avx512.h) gets many of them wrong, and that every ISA gets all of them right. */
static void test_gemm_near_ties(void **state) {
  (void)state;
  const int64_t m = 23, n = 70, k = 3;
  const uint8_t zx = 128;
  uint8_t x[23 * 3], y[23 * 70];
  int8_t w[70 * 3];
  int32_t mult[70], shift[70];
  for (int64_t i = 0; i < m * k; i++) x[i] = (uint8_t)(zx - 40 + (int)(rnd() % 81));
  for (int64_t j = 0; j < n; j++) {
    for (int64_t l = 0; l < k; l++) w[j * k + l] = (int8_t)((int)(rnd() % 7) - 3);
    const int32_t c = (int32_t)(1 + j % 5);
    mult[j] = j % 2 ? (1 << 30) + c : INT32_MAX - c + 1;
    shift[j] = j % 2 ? 31 : 32;
  }
  ptq_set_threads(1);
  for (int zi = 0; zi < 3; zi++) {
    const int32_t zy = ZPS[zi];
    int wrong_fast = 0; /* lanes the float fast path alone would get wrong */
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++) {
        int64_t a = 0;
        for (int64_t l = 0; l < k; l++) a += ((int64_t)x[i * k + l] - zx) * w[j * k + l];
        const float mf = (float)ldexp(mult[j], 12 - shift[j]);
        const long q = lrintf(fmaf((float)a, mf, (float)(zy * 4096 + 2048)));
        int64_t r = (q >> 12) < 0 ? 0 : q >> 12;
        if (r > 255) r = 255;
        wrong_fast += (uint8_t)r != ref_requant(a, mult[j], shift[j], zy, 0, 255);
      }
    assert_true(wrong_fast > 50);
    for (size_t s = 0; s < NISA; s++) {
      setenv("PTQ_ISA", ISAS[s], 1);
      ptq_qgemm_packed *p = ptq_qgemm_pack(n, k, w, k, NULL, mult, shift, zx);
      assert_non_null(p);
      ptq_qgemm_run(p, m, x, k, zy, 0, 255, y, n);
      ptq_qgemm_packed_free(p);
      for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
          int64_t a = 0;
          for (int64_t l = 0; l < k; l++) a += ((int64_t)x[i * k + l] - zx) * w[j * k + l];
          const uint8_t want = ref_requant(a, mult[j], shift[j], zy, 0, 255);
          if (y[i * n + j] != want)
            fail_msg("%s zy%d: y[%lld][%lld] = %d, want %d (acc %lld mult %d shift %d)", ISAS[s],
                     zy, (long long)i, (long long)j, y[i * n + j], want, (long long)a, mult[j],
                     shift[j]);
        }
    }
  }
  unsetenv("PTQ_ISA");
  ptq_set_threads(0);
}

/* --- convolution ---------------------------------------------------------------------------- */

typedef struct {
  ptq_qconv_params p;
  uint8_t zx;
  int32_t zy;
} conv_case;

static void check_conv(conv_case cc, int threads) {
  ptq_qconv_params *p = &cc.p;
  p->h_out = (p->h_in + p->pad_t + p->pad_b - p->dil_h * (p->k_h - 1) - 1) / p->stride_h + 1;
  p->w_out = (p->w_in + p->pad_l + p->pad_r - p->dil_w * (p->k_w - 1) - 1) / p->stride_w + 1;
  const int64_t cg = p->c_in / p->group, cog = p->c_out / p->group;
  const int64_t xn = p->n * p->h_in * p->w_in * p->c_in;
  const int64_t yn = p->n * p->h_out * p->w_out * p->c_out;
  const int64_t wn = p->c_out * cg * p->k_h * p->k_w;
  uint8_t *x = malloc((size_t)xn), *y = malloc((size_t)yn + 1);
  int8_t *w = malloc((size_t)wn);
  int32_t *bias = malloc(sizeof(int32_t) * (size_t)p->c_out);
  int32_t *mult = malloc(sizeof(int32_t) * (size_t)p->c_out);
  int32_t *shift = malloc(sizeof(int32_t) * (size_t)p->c_out);
  int64_t *acc = malloc(sizeof(int64_t) * (size_t)yn);
  assert_true(x && y && w && bias && mult && shift && acc);
  const int pat = rnd() % 3 == 0 ? PAT_EXTREME : PAT_RANDOM;
  for (int64_t i = 0; i < xn; i++) x[i] = gen_x(pat, cc.zx);
  for (int64_t i = 0; i < wn; i++) w[i] = gen_w(pat);
  for (int64_t c = 0; c < p->c_out; c++) bias[c] = (int32_t)(rnd() % 20001) - 10000;
  /* Naive NHWC reference, padding cells skipped. */
  for (int64_t b = 0; b < p->n; b++)
    for (int64_t oy = 0; oy < p->h_out; oy++)
      for (int64_t ox = 0; ox < p->w_out; ox++)
        for (int64_t oc = 0; oc < p->c_out; oc++) {
          const int64_t g = oc / cog;
          int64_t a = bias[oc];
          for (int64_t ci = 0; ci < cg; ci++)
            for (int64_t ky = 0; ky < p->k_h; ky++)
              for (int64_t kx = 0; kx < p->k_w; kx++) {
                const int64_t iy = oy * p->stride_h - p->pad_t + ky * p->dil_h;
                const int64_t ix = ox * p->stride_w - p->pad_l + kx * p->dil_w;
                if (iy < 0 || iy >= p->h_in || ix < 0 || ix >= p->w_in) continue;
                const int64_t xv = x[((b * p->h_in + iy) * p->w_in + ix) * p->c_in + g * cg + ci];
                a += (xv - cc.zx) * w[((oc * cg + ci) * p->k_h + ky) * p->k_w + kx];
              }
          acc[((b * p->h_out + oy) * p->w_out + ox) * p->c_out + oc] = a;
        }
  for (int64_t oc = 0; oc < p->c_out; oc++) {
    int64_t amax = 1;
    for (int64_t i = 0; i < yn / p->c_out; i++)
      if (llabs(acc[i * p->c_out + oc] - bias[oc]) > amax)
        amax = llabs(acc[i * p->c_out + oc] - bias[oc]);
    gen_rq(amax, &mult[oc], &shift[oc]);
  }
  uint8_t lo, hi;
  clamp_range(&lo, &hi, cc.zy);
  ptq_set_threads(threads);
  for (size_t s = 0; s < NISA; s++) {
    setenv("PTQ_ISA", ISAS[s], 1);
    ptq_qconv_packed *pc = ptq_qconv_pack(p, w, bias, mult, shift, cc.zx);
    assert_non_null(pc);
    if (strcmp(ptq_qconv_packed_isa(pc), ISAS[s]) != 0) {
      ptq_qconv_packed_free(pc);
      continue;
    }
    const size_t ss = ptq_qconv_scratch_size(p);
    uint8_t *scratch = ss ? malloc(ss) : NULL;
    assert_true(!ss || scratch);
    memset(y, 0xA5, (size_t)yn + 1);
    ptq_qconv_run(pc, x, cc.zy, lo, hi, y, scratch);
    free(scratch);
    ptq_qconv_packed_free(pc);
    for (int64_t i = 0; i < yn; i++) {
      const int64_t oc = i % p->c_out;
      const uint8_t want = ref_requant(acc[i], mult[oc], shift[oc], cc.zy, lo, hi);
      if (y[i] != want)
        fail_msg(
            "%s conv n%lld %lldx%lldx%lld -> %lld k%lldx%lld s%lld,%lld d%lld,%lld "
            "p%lld,%lld,%lld,%lld g%lld t%d: y[%lld] = %d, want %d",
            ISAS[s], (long long)p->n, (long long)p->h_in, (long long)p->w_in, (long long)p->c_in,
            (long long)p->c_out, (long long)p->k_h, (long long)p->k_w, (long long)p->stride_h,
            (long long)p->stride_w, (long long)p->dil_h, (long long)p->dil_w, (long long)p->pad_t,
            (long long)p->pad_l, (long long)p->pad_b, (long long)p->pad_r, (long long)p->group,
            threads, (long long)i, y[i], want);
    }
    assert_int_equal(y[yn], 0xA5);
  }
  unsetenv("PTQ_ISA");
  ptq_set_threads(0);
  free(x);
  free(y);
  free(w);
  free(bias);
  free(mult);
  free(shift);
  free(acc);
}

/* n, h, w, c_in, c_out, group, k_h, k_w, stride h/w, dil h/w, pads t/l/b/r */
static const int64_t CONVS[][16] = {
    {2, 5, 6, 8, 16, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},    /* 1x1 direct */
    {2, 5, 6, 8, 6, 2, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},     /* 1x1 direct, grouped */
    {1, 7, 9, 24, 70, 1, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0},   /* 1x1 stride 2 */
    {1, 4, 4, 5, 7, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1},     /* 1x1 padded */
    {2, 8, 7, 16, 33, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},   /* 3x3 same */
    {2, 9, 8, 3, 17, 1, 3, 3, 2, 2, 1, 1, 0, 1, 1, 0},    /* 3x3 s2 asymmetric pads */
    {1, 11, 10, 6, 20, 1, 3, 3, 1, 2, 2, 1, 2, 1, 0, 2},  /* dilation, mixed strides */
    {2, 12, 13, 4, 9, 1, 5, 5, 1, 1, 2, 2, 4, 3, 2, 4},   /* 5x5 dilation 2 */
    {1, 16, 15, 3, 24, 1, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3},  /* 7x7 s2, RGB stem */
    {2, 6, 7, 8, 12, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},    /* grouped 3x3 */
    {1, 6, 6, 12, 12, 3, 3, 3, 2, 1, 1, 1, 0, 1, 2, 1},   /* grouped, asymmetric */
    {1, 5, 5, 4, 4, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},     /* depthwise, slow path */
    {1, 6, 5, 7, 5, 1, 3, 1, 1, 1, 1, 1, 1, 0, 1, 0},     /* 3x1 */
    {1, 5, 8, 7, 5, 1, 1, 5, 1, 1, 1, 1, 0, 2, 0, 2},     /* 1x5 */
    {1, 2, 3, 5, 6, 1, 3, 3, 1, 1, 1, 1, 2, 2, 2, 2},     /* rows of padding only */
    {1, 3, 3, 2, 3, 1, 3, 3, 3, 3, 1, 1, 0, 0, 0, 0},     /* one output pixel */
    {2, 32, 32, 64, 32, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, /* several im2col tiles */
    /* short im2col runs (k_w · c_in in 4..16: moved whole) */
    {2, 33, 31, 3, 32, 1, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1}, /* MobileNetV2 stem, TF pads */
    {1, 20, 19, 3, 8, 1, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},  /* stem, symmetric pads */
    {1, 9, 10, 2, 5, 1, 3, 3, 1, 1, 2, 1, 2, 1, 2, 1},   /* 6-byte runs, dilation h */
    {1, 8, 9, 4, 6, 1, 2, 4, 1, 3, 1, 1, 0, 3, 1, 2},    /* 16-byte runs, stride w 3 */
    {2, 12, 12, 1, 4, 1, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2},  /* 5-byte runs */
    {1, 6, 3, 3, 7, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},    /* w_in == k_w */
    {1, 5, 2, 3, 4, 1, 3, 3, 1, 1, 1, 1, 1, 0, 1, 2},    /* w_in < k_w: edges only */
    {1, 85, 70, 4, 4, 1, 16, 4, 1, 1, 1, 1, 0, 1, 0, 1}, /* several tiles, split rows */
};

static void test_conv_shapes(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof CONVS / sizeof *CONVS; i++)
    for (int t = 1; t <= 2; t++) {
      const int64_t *v = CONVS[i];
      conv_case cc = {{v[0], v[1], v[2], v[3], v[4], 0, 0, v[5], v[6], v[7], v[8], v[9], v[10],
                       v[11], v[12], v[13], v[14], v[15]},
                      ZPS[rnd() % 3],
                      ZPS[rnd() % 3]};
      check_conv(cc, t);
    }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rshift_round_even), cmocka_unit_test(test_requant_from_real),
      cmocka_unit_test(test_gemm_shapes),       cmocka_unit_test(test_gemm_extremes),
      cmocka_unit_test(test_gemm_threads),      cmocka_unit_test(test_gemm_near_ties),
      cmocka_unit_test(test_conv_shapes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
