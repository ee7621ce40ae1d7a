/* Quantizer core: hand-worked (scale, zero point) cases, rounding and saturation, and the
 * fake-quant fast paths bit-exact against the scalar reference on every ISA (PTQ_ISA). */
#define _POSIX_C_SOURCE 200809L
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "quant/quantizer.h"

static uint32_t rng_state = 11;

static float rand_f(void) {
  rng_state = rng_state * 1664525u + 1013904223u;
  return (float)(rng_state >> 8) / (float)(1u << 24) * 2.0f - 1.0f;
}

static ptq_qscheme scheme(int bits, int is_signed, int sym, int narrow) {
  ptq_qscheme s = ptq_qscheme_int8();
  s.bits = bits;
  s.is_signed = is_signed;
  s.symmetric = sym;
  s.narrow = narrow;
  return s;
}

static ptq_qparams params(const ptq_qscheme *s, float lo, float hi) {
  ptq_qparams p;
  assert_int_equal(ptq_qparams_from_range(s, lo, hi, &p), PTQ_OK);
  return p;
}

static void test_ranges(void **state) {
  (void)state;
  int32_t lo, hi;
  ptq_qscheme s = scheme(8, 1, 0, 0);
  ptq_qscheme_range(&s, &lo, &hi);
  assert_true(lo == -128 && hi == 127);
  s.narrow = 1;
  ptq_qscheme_range(&s, &lo, &hi);
  assert_true(lo == -127 && hi == 127);
  s = scheme(8, 0, 0, 1);
  ptq_qscheme_range(&s, &lo, &hi);
  assert_true(lo == 1 && hi == 255);
  s = scheme(4, 1, 0, 0);
  ptq_qscheme_range(&s, &lo, &hi);
  assert_true(lo == -8 && hi == 7);
  s = scheme(2, 0, 0, 0);
  ptq_qscheme_range(&s, &lo, &hi);
  assert_true(lo == 0 && hi == 3);
  s = scheme(16, 1, 0, 0);
  ptq_qscheme_range(&s, &lo, &hi);
  assert_true(lo == -32768 && hi == 32767);
  s.bits = 1;
  assert_int_equal(ptq_qscheme_check(&s, -1), PTQ_ERR_INVALID_ARG);
  s.bits = 17;
  assert_int_equal(ptq_qscheme_check(&s, -1), PTQ_ERR_INVALID_ARG);
}

static void test_params_hand(void **state) {
  (void)state;
  /* uint8 asymmetric [-1, 2]: scale 3/255, zp = round(0 + 1 / (3/255)) = 85. */
  ptq_qscheme s = scheme(8, 0, 0, 0);
  ptq_qparams p = params(&s, -1.0f, 2.0f);
  assert_true(p.scale == (float)(3.0 / 255.0));
  assert_int_equal(p.zero_point, 85);
  /* int8 asymmetric [-1, 2]: zp = round(-128 + 85) = -43. */
  s = scheme(8, 1, 0, 0);
  p = params(&s, -1.0f, 2.0f);
  assert_true(p.scale == (float)(3.0 / 255.0));
  assert_int_equal(p.zero_point, -43);
  /* Range widened to include 0: [0.5, 2] behaves as [0, 2]. */
  s = scheme(8, 0, 0, 0);
  p = params(&s, 0.5f, 2.0f);
  assert_true(p.scale == (float)(2.0 / 255.0));
  assert_int_equal(p.zero_point, 0);
  p = params(&s, -2.0f, -0.5f);
  assert_int_equal(p.zero_point, 255);
  /* int8 symmetric narrow: a = 1.27, scale = 2.54 / 254. */
  s = scheme(8, 1, 1, 1);
  p = params(&s, -0.5f, 1.27f);
  assert_true(p.scale == (float)((2.0 * (double)1.27f) / 254.0));
  assert_int_equal(p.zero_point, 0);
  /* uint8 symmetric (onnxruntime): [0, 255], zp = round_half_even(127.5) = 128. */
  s = scheme(8, 0, 1, 0);
  p = params(&s, -1.0f, 0.5f);
  assert_true(p.scale == (float)(2.0 / 255.0));
  assert_int_equal(p.zero_point, 128);
  /* 4-bit signed [-1, 2]: scale 0.2, zp = round(-8 + 5) = -3; 2-bit unsigned [0, 3]. */
  s = scheme(4, 1, 0, 0);
  p = params(&s, -1.0f, 2.0f);
  assert_true(p.scale == (float)(3.0 / 15.0));
  assert_int_equal(p.zero_point, -3);
  s = scheme(2, 0, 0, 0);
  p = params(&s, 0.0f, 3.0f);
  assert_true(p.scale == 1.0f && p.zero_point == 0);
  s = scheme(2, 1, 1, 0); /* [-2, 1] symmetric: zp round(-0.5) = 0, scale 2a / 3 */
  p = params(&s, -1.5f, 0.0f);
  assert_true(p.scale == 1.0f && p.zero_point == 0);
  /* Power-of-two scales: 3/255 → 2^-6, zp = round(1 / 2^-6) = 64; exact powers stay. */
  s = scheme(8, 0, 0, 0);
  s.pow2_scale = 1;
  p = params(&s, -1.0f, 2.0f);
  assert_true(p.scale == 0.015625f);
  assert_int_equal(p.zero_point, 64);
  p = params(&s, 0.0f, 255.0f * 0.25f);
  assert_true(p.scale == 0.25f);
  /* Degenerate ranges: scale 1; zp 0, or the middle code for symmetric unsigned. */
  s = scheme(8, 1, 0, 0);
  p = params(&s, 0.0f, 0.0f);
  assert_true(p.scale == 1.0f && p.zero_point == 0);
  s = scheme(8, 0, 1, 0);
  p = params(&s, 0.0f, 0.0f);
  assert_true(p.scale == 1.0f && p.zero_point == 128);
  s = scheme(8, 0, 0, 0);
  p = params(&s, 0.0f, 1e-40f); /* scale below FLT_MIN */
  assert_true(p.scale == 1.0f && p.zero_point == 0);
  ptq_qparams bad;
  assert_int_equal(ptq_qparams_from_range(&s, 0.0f, INFINITY, &bad), PTQ_ERR_DATA);
  assert_int_equal(ptq_qparams_from_range(&s, NAN, 1.0f, &bad), PTQ_ERR_DATA);
}

static void test_per_channel_params(void **state) {
  (void)state;
  const float lo[3] = {-1.0f, 0.0f, -4.0f}, hi[3] = {1.0f, 0.0f, 2.0f};
  ptq_qparams p[3];
  ptq_qscheme s = scheme(8, 1, 1, 1);
  s.per_channel = 1;
  s.axis = 0;
  assert_int_equal(ptq_qparams_from_ranges(&s, 3, lo, hi, p), PTQ_OK);
  assert_true(p[0].scale == (float)(2.0 / 254.0) && p[0].zero_point == 0);
  assert_true(p[1].scale == 1.0f && p[1].zero_point == 0);
  assert_true(p[2].scale == (float)(8.0 / 254.0) && p[2].zero_point == 0);
}

static void test_rounding(void **state) {
  (void)state;
  const ptq_qparams p = {1.0f, 0};
  const float x[] = {0.5f, -0.5f, 1.5f, -1.5f, 2.5f, -2.5f, 0.49999997f, -0.49999997f};
  const int32_t even[] = {0, 0, 2, -2, 2, -2, 0, 0};
  const int32_t away[] = {1, -1, 2, -2, 3, -3, 0, 0};
  for (size_t i = 0; i < sizeof x / sizeof *x; i++) {
    assert_int_equal(ptq_quantize_value(x[i], p, -128, 127, PTQ_ROUND_HALF_EVEN), even[i]);
    assert_int_equal(ptq_quantize_value(x[i], p, -128, 127, PTQ_ROUND_HALF_AWAY), away[i]);
  }
  /* With a zero point the offset is rounded before adding it: 0.5 + 100 → 100 (even 0). */
  const ptq_qparams pz = {1.0f, 100};
  assert_int_equal(ptq_quantize_value(0.5f, pz, 0, 255, PTQ_ROUND_HALF_EVEN), 100);
  assert_int_equal(ptq_quantize_value(1.5f, pz, 0, 255, PTQ_ROUND_HALF_EVEN), 102);
  /* Saturation, infinities, NaN → qmin (MLAS). */
  assert_int_equal(ptq_quantize_value(1000.0f, p, -128, 127, PTQ_ROUND_HALF_EVEN), 127);
  assert_int_equal(ptq_quantize_value(-1000.0f, p, -128, 127, PTQ_ROUND_HALF_EVEN), -128);
  assert_int_equal(ptq_quantize_value(INFINITY, p, -128, 127, PTQ_ROUND_HALF_EVEN), 127);
  assert_int_equal(ptq_quantize_value(-INFINITY, pz, 0, 255, PTQ_ROUND_HALF_AWAY), 0);
  assert_int_equal(ptq_quantize_value(NAN, pz, 0, 255, PTQ_ROUND_HALF_EVEN), 0);
  assert_int_equal(ptq_quantize_value(126.5f, p, -127, 127, PTQ_ROUND_HALF_AWAY), 127);
  assert_int_equal(ptq_quantize_value(-127.5f, p, -127, 127, PTQ_ROUND_HALF_AWAY), -127);
  /* Tiny scale: x / scale overflows to inf and saturates. */
  const ptq_qparams tiny = {FLT_MIN, 0};
  assert_int_equal(ptq_quantize_value(1e30f, tiny, -128, 127, PTQ_ROUND_HALF_EVEN), 127);
}

static const char *const ISAS[] = {"scalar", "avx2", "avx512"};

static int same_bits(float a, float b) {
  return memcmp(&a, &b, sizeof a) == 0;
}

/* Values that stress rounding: exact half-way points of the scale, extremes, zeros, NaN. */
static void fill(float *x, int64_t n, float scale) {
  for (int64_t i = 0; i < n; i++) {
    switch (i % 7) {
      case 0: x[i] = ((float)(int)(rand_f() * 300.0f) + 0.5f) * scale; break;
      case 1: x[i] = rand_f() * 400.0f * scale; break;
      case 2: x[i] = -0.3f * scale * rand_f(); break;
      case 3: x[i] = i % 3 ? -0.0f : 0.0f; break;
      case 4:
        x[i] = i % 5 == 0 ? INFINITY : i % 5 == 1 ? -INFINITY : i % 5 == 2 ? NAN : 1e30f;
        break;
      default: x[i] = rand_f() * 2.0f;
    }
  }
}

static void check_fq_all_isas(const ptq_qscheme *s, ptq_qparams p, int64_t n) {
  float *x = malloc(sizeof(float) * (size_t)n), *ref = malloc(sizeof(float) * (size_t)n);
  float *y = malloc(sizeof(float) * (size_t)n);
  assert_true(x && ref && y);
  fill(x, n, p.scale);
  int32_t qmin, qmax;
  ptq_qscheme_range(s, &qmin, &qmax);
  for (int64_t i = 0; i < n; i++) {
    ref[i] = ptq_dequantize_value(ptq_quantize_value(x[i], p, qmin, qmax, s->round), p);
    if (ref[i] == 0.0f) assert_true(same_bits(ref[i], 0.0f)); /* never -0 */
  }
  for (size_t k = 0; k < sizeof ISAS / sizeof *ISAS; k++) {
    setenv("PTQ_ISA", ISAS[k], 1);
    if (strcmp(ptq_quant_isa(), ISAS[k]) != 0) continue;
    memcpy(y, x, sizeof(float) * (size_t)n);
    ptq_fake_quant_f32(y, n, s, p);
    for (int64_t i = 0; i < n; i++)
      if (!same_bits(y[i], ref[i]))
        fail_msg("%s: x=%a got %a want %a (bits %d round %d)", ISAS[k], (double)x[i], (double)y[i],
                 (double)ref[i], s->bits, (int)s->round);
  }
  unsetenv("PTQ_ISA");
  free(x);
  free(ref);
  free(y);
}

static void test_fake_quant_isas(void **state) {
  (void)state;
  const int bits[] = {2, 4, 8, 16};
  for (size_t b = 0; b < 4; b++)
    for (int sg = 0; sg < 2; sg++)
      for (int r = 0; r < 2; r++) {
        ptq_qscheme s = scheme(bits[b], sg, 0, 0);
        s.round = r ? PTQ_ROUND_HALF_AWAY : PTQ_ROUND_HALF_EVEN;
        check_fq_all_isas(&s, params(&s, -1.3f, 0.7f), 1000 + (int64_t)b * 7 + r);
        check_fq_all_isas(&s, params(&s, 0.0f, 3.0f), 37);
      }
}

static void test_fake_quant_tensor(void **state) {
  (void)state;
  /* NCHW 2x3x4x5, per channel along axis 1 with an all-zero channel, then axis 0, then
   * per tensor; against the value-level reference. */
  const int64_t dims[4] = {2, 3, 4, 5};
  const int64_t n = 120;
  float x[120], y[120];
  for (int64_t i = 0; i < n; i++) x[i] = rand_f() * (float)(1 + i % 3);
  for (int axis = -1; axis < 2; axis++) {
    ptq_qscheme s = scheme(8, 1, 1, 1);
    s.per_channel = axis >= 0;
    s.axis = axis;
    ptq_qparams p[3] = {{0.01f, 0}, {1.0f, 0}, {0.02f, 0}};
    memcpy(y, x, sizeof x);
    assert_int_equal(ptq_fake_quant_tensor(y, 4, dims, &s, p), PTQ_OK);
    int32_t q[120];
    assert_int_equal(ptq_quantize_tensor(x, 4, dims, &s, p, q), PTQ_OK);
    for (int64_t i = 0; i < n; i++) {
      const int64_t c = axis == 1 ? i / 20 % 3 : axis == 0 ? i / 60 : 0;
      const ptq_qparams pc = p[c];
      const float want = ptq_dequantize_value(ptq_quantize_value(x[i], pc, -127, 127, s.round), pc);
      assert_true(same_bits(y[i], want));
      assert_int_equal(q[i], ptq_quantize_value(x[i], pc, -127, 127, s.round));
    }
  }
  ptq_qscheme s = scheme(8, 1, 0, 0);
  s.per_channel = 1;
  s.axis = 4;
  ptq_qparams p = {1.0f, 0};
  assert_int_not_equal(ptq_fake_quant_tensor(y, 4, dims, &s, &p), PTQ_OK);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ranges),
      cmocka_unit_test(test_params_hand),
      cmocka_unit_test(test_per_channel_params),
      cmocka_unit_test(test_rounding),
      cmocka_unit_test(test_fake_quant_isas),
      cmocka_unit_test(test_fake_quant_tensor),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
