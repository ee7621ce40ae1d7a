/* Calibrators: minmax and EMA exactly, histogram streaming (10 batches == 1 batch, growth and
 * sign switch), thread-count independence, percentile against sorted data, MSE against a
 * brute-force search, KL sanity. onnxruntime comparisons: tests/oracle/test_quant_fakequant.py. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "quant/calib.h"

static uint32_t rng_state = 5;

static float rand_u(void) {
  rng_state = rng_state * 1664525u + 1013904223u;
  return ((float)(rng_state >> 8) + 0.5f) / (float)(1u << 24);
}

static float rand_n(void) { /* Box-Muller */
  const float u = rand_u(), v = rand_u();
  return sqrtf(-2.0f * logf(u)) * cosf(6.2831853f * v);
}

#define NB 10
#define BN 5000 /* values per batch */

/* Batches 0..9 with growing range; batch 0 non-negative (the sign switch comes later). */
static float *make_data(void) {
  float *x = malloc(sizeof(float) * NB * BN);
  assert_non_null(x);
  for (int b = 0; b < NB; b++)
    for (int i = 0; i < BN; i++) {
      const float v = rand_n() * (float)(1 + b);
      x[b * BN + i] = b == 0 ? fabsf(v) : v;
    }
  x[7 * BN + 3] = 0.0f;
  return x;
}

static ptq_calib *feed(const ptq_calib_config *cfg, const float *x, int batches, int64_t per) {
  ptq_calib *c;
  assert_int_equal(ptq_calib_create(cfg, &c), PTQ_OK);
  for (int b = 0; b < batches; b++) {
    const int64_t dims[2] = {per / 100, 100};
    assert_int_equal(ptq_calib_update(c, 2, dims, x + b * per), PTQ_OK);
  }
  return c;
}

static void test_minmax_ema(void **state) {
  (void)state;
  float *x = make_data();
  ptq_calib_config cfg = ptq_calib_config_default(PTQ_CALIB_MINMAX);
  ptq_calib *c = feed(&cfg, x, NB, BN);
  float lo, hi, mn = x[0], mx = x[0];
  for (int i = 0; i < NB * BN; i++) {
    mn = x[i] < mn ? x[i] : mn;
    mx = x[i] > mx ? x[i] : mx;
  }
  assert_int_equal(ptq_calib_range(c, &lo, &hi), PTQ_OK);
  assert_true(lo == mn && hi == mx);
  ptq_calib_destroy(c);

  cfg = ptq_calib_config_default(PTQ_CALIB_EMA);
  cfg.momentum = 0.75;
  c = feed(&cfg, x, NB, BN);
  double emn = 0, emx = 0;
  for (int b = 0; b < NB; b++) {
    float bmn = x[b * BN], bmx = x[b * BN];
    for (int i = 0; i < BN; i++) {
      bmn = x[b * BN + i] < bmn ? x[b * BN + i] : bmn;
      bmx = x[b * BN + i] > bmx ? x[b * BN + i] : bmx;
    }
    emn = b ? 0.75 * emn + 0.25 * (double)bmn : bmn;
    emx = b ? 0.75 * emx + 0.25 * (double)bmx : bmx;
  }
  assert_int_equal(ptq_calib_range(c, &lo, &hi), PTQ_OK);
  assert_true(lo == (float)emn && hi == (float)emx);
  ptq_calib_destroy(c);
  free(x);
}

static void test_per_channel_minmax(void **state) {
  (void)state;
  /* N=2, C=3, HW=4 with channel 1 all zero. */
  float x[24];
  for (int i = 0; i < 24; i++) x[i] = (i / 4 % 3 == 1) ? 0.0f : (float)(i - 10);
  const int64_t dims[3] = {2, 3, 4};
  ptq_calib_config cfg = ptq_calib_config_default(PTQ_CALIB_MINMAX);
  cfg.per_channel = 1;
  cfg.axis = 1;
  ptq_calib *c;
  assert_int_equal(ptq_calib_create(&cfg, &c), PTQ_OK);
  float lo[3], hi[3];
  assert_int_equal(ptq_calib_range(c, lo, hi), PTQ_ERR_DATA);
  assert_int_equal(ptq_calib_update(c, 3, dims, x), PTQ_OK);
  assert_int_equal(ptq_calib_channels(c), 3);
  assert_int_equal(ptq_calib_range(c, lo, hi), PTQ_OK);
  assert_true(lo[0] == -10.0f && hi[0] == 5.0f);
  assert_true(lo[1] == 0.0f && hi[1] == 0.0f);
  assert_true(lo[2] == -2.0f && hi[2] == 13.0f);
  const int64_t bad[3] = {2, 4, 3};
  assert_int_equal(ptq_calib_update(c, 3, bad, x), PTQ_ERR_SHAPE);
  x[5] = NAN;
  assert_int_equal(ptq_calib_update(c, 3, dims, x), PTQ_ERR_DATA);
  ptq_calib_destroy(c);
}

static void same_hist(const ptq_calib *a, const ptq_calib *b) {
  ptq_calib_hist ha, hb;
  assert_int_equal(ptq_calib_histogram(a, 0, &ha), PTQ_OK);
  assert_int_equal(ptq_calib_histogram(b, 0, &hb), PTQ_OK);
  assert_int_equal(ha.k0, hb.k0);
  assert_int_equal(ha.exp2, hb.exp2);
  assert_int_equal(ha.total, hb.total);
  assert_memory_equal(ha.counts, hb.counts, sizeof(int64_t) * (size_t)ha.num_bins);
}

static void test_streaming_and_threads(void **state) {
  (void)state;
  float *x = make_data();
  const ptq_calib_method methods[] = {PTQ_CALIB_PERCENTILE, PTQ_CALIB_MSE, PTQ_CALIB_KL};
  for (int m = 0; m < 3; m++) {
    ptq_calib_config cfg = ptq_calib_config_default(methods[m]);
    ptq_set_threads(1);
    ptq_calib *one = feed(&cfg, x, 1, NB * BN);
    ptq_calib *ten = feed(&cfg, x, NB, BN);
    ptq_set_threads(2);
    ptq_calib *two = feed(&cfg, x, 1, NB * BN);
    same_hist(one, ten);
    same_hist(one, two);
    ptq_calib_hist h;
    assert_int_equal(ptq_calib_histogram(one, 0, &h), PTQ_OK);
    assert_int_equal(h.k0, -1024);
    float r[3][2];
    ptq_set_threads(1);
    assert_int_equal(ptq_calib_range(one, &r[0][0], &r[0][1]), PTQ_OK);
    assert_int_equal(ptq_calib_range(ten, &r[1][0], &r[1][1]), PTQ_OK);
    ptq_set_threads(2);
    assert_int_equal(ptq_calib_range(two, &r[2][0], &r[2][1]), PTQ_OK);
    assert_memory_equal(r[0], r[1], sizeof r[0]);
    assert_memory_equal(r[0], r[2], sizeof r[0]);
    ptq_calib_destroy(one);
    ptq_calib_destroy(ten);
    ptq_calib_destroy(two);
  }
  ptq_set_threads(0);
  free(x);
}

static int cmp_f(const void *a, const void *b) {
  const float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

static void test_percentile(void **state) {
  (void)state;
  float *x = make_data();
  const int n = NB * BN;
  ptq_calib_config cfg = ptq_calib_config_default(PTQ_CALIB_PERCENTILE);
  cfg.percentile = 99.0;
  ptq_calib *c = feed(&cfg, x, NB, BN);
  ptq_calib_hist h;
  assert_int_equal(ptq_calib_histogram(c, 0, &h), PTQ_OK);
  const double w = ldexp(1.0, h.exp2);
  float lo, hi;
  assert_int_equal(ptq_calib_range(c, &lo, &hi), PTQ_OK);
  float *s = malloc(sizeof(float) * (size_t)n);
  memcpy(s, x, sizeof(float) * (size_t)n);
  qsort(s, (size_t)n, sizeof *s, cmp_f);
  assert_true(fabs(lo - s[(int)(0.005 * (n - 1))]) <= w);
  assert_true(fabs(hi - s[(int)(0.995 * (n - 1))]) <= w);
  ptq_calib_destroy(c);
  cfg.symmetric = 1;
  c = feed(&cfg, x, NB, BN);
  assert_int_equal(ptq_calib_range(c, &lo, &hi), PTQ_OK);
  for (int i = 0; i < n; i++) s[i] = fabsf(x[i]);
  qsort(s, (size_t)n, sizeof *s, cmp_f);
  assert_true(lo == -hi);
  assert_true(fabs(hi - s[(int)(0.99 * (n - 1))]) <= w);
  ptq_calib_destroy(c);
  free(s);
  free(x);
}

static void test_mse(void **state) {
  (void)state;
  /* Laplace-like data with outliers: the MSE range clips. */
  const int n = 20000;
  float *x = malloc(sizeof(float) * n);
  for (int i = 0; i < n; i++) {
    const float u = rand_u() - 0.5f;
    x[i] = (u < 0 ? 1.0f : -1.0f) * logf(1.0f - 2.0f * fabsf(u));
  }
  x[17] = 40.0f;
  x[99] = -35.0f;
  const int64_t dims[1] = {n};
  ptq_qscheme s = ptq_qscheme_int8();
  s.bits = 4;
  s.symmetric = 1;
  s.narrow = 1;
  /* Brute force over a fine grid of symmetric ranges. */
  double best = INFINITY;
  for (int i = 1; i <= 4000; i++) {
    double e;
    const float t = 40.0f * (float)i / 4000.0f;
    assert_int_equal(ptq_quant_sq_error(x, n, &s, -t, t, &e), PTQ_OK);
    best = e < best ? e : best;
  }
  float lo, hi;
  double e_w, e_h, e_mm;
  assert_int_equal(ptq_calib_mse_weights(x, 1, dims, &s, &lo, &hi), PTQ_OK);
  assert_int_equal(ptq_quant_sq_error(x, n, &s, lo, hi, &e_w), PTQ_OK);
  assert_int_equal(ptq_quant_sq_error(x, n, &s, -40.0f, 40.0f, &e_mm), PTQ_OK);
  assert_true(e_w <= best * 1.02);
  assert_true(e_w < e_mm * 0.5);
  ptq_calib_config cfg = ptq_calib_config_default(PTQ_CALIB_MSE);
  cfg.scheme = s;
  ptq_calib *c;
  assert_int_equal(ptq_calib_create(&cfg, &c), PTQ_OK);
  assert_int_equal(ptq_calib_update(c, 1, dims, x), PTQ_OK);
  assert_int_equal(ptq_calib_range(c, &lo, &hi), PTQ_OK);
  assert_int_equal(ptq_quant_sq_error(x, n, &s, lo, hi, &e_h), PTQ_OK);
  assert_true(e_h <= best * 1.10);
  ptq_calib_destroy(c);
  /* Per-channel weights [3, n/3]: each channel's range is its own brute-force optimum. */
  const int64_t d2[2] = {4, n / 4};
  float lo4[4], hi4[4];
  s.per_channel = 1;
  s.axis = 0;
  assert_int_equal(ptq_calib_mse_weights(x, 2, d2, &s, lo4, hi4), PTQ_OK);
  ptq_qscheme s1 = s;
  s1.per_channel = 0;
  for (int ch = 0; ch < 4; ch++) {
    float l1, h1;
    const int64_t d1[1] = {n / 4};
    assert_int_equal(ptq_calib_mse_weights(x + ch * (n / 4), 1, d1, &s1, &l1, &h1), PTQ_OK);
    assert_true(l1 == lo4[ch] && h1 == hi4[ch]);
  }
  free(x);
}

static void test_kl(void **state) {
  (void)state;
  const int n = 50000;
  float *x = malloc(sizeof(float) * n);
  for (int i = 0; i < n; i++) x[i] = rand_n();
  x[5] = 30.0f;
  x[6] = -25.0f;
  const int64_t dims[1] = {n};
  for (int compat = 0; compat < 2; compat++) {
    ptq_calib_config cfg = ptq_calib_config_default(PTQ_CALIB_KL);
    cfg.kl_ort_compat = compat;
    ptq_calib *c;
    assert_int_equal(ptq_calib_create(&cfg, &c), PTQ_OK);
    assert_int_equal(ptq_calib_update(c, 1, dims, x), PTQ_OK);
    float lo, hi;
    assert_int_equal(ptq_calib_range(c, &lo, &hi), PTQ_OK);
    assert_true(hi > 2.0f && hi < 20.0f && lo < -2.0f && lo > -20.0f);
    ptq_calib_destroy(c);
  }
  /* Non-negative data (post-ReLU): one-sided TensorRT windows, rmin 0. */
  for (int i = 0; i < n; i++) x[i] = fabsf(x[i]);
  ptq_calib_config cfg = ptq_calib_config_default(PTQ_CALIB_KL);
  ptq_calib *c;
  assert_int_equal(ptq_calib_create(&cfg, &c), PTQ_OK);
  assert_int_equal(ptq_calib_update(c, 1, dims, x), PTQ_OK);
  float lo, hi;
  assert_int_equal(ptq_calib_range(c, &lo, &hi), PTQ_OK);
  assert_true(lo >= 0.0f && lo < 1e-3f && hi > 2.0f && hi < 20.0f); /* lo: observed min */
  ptq_calib_destroy(c);
  /* Post-ReLU with half the values exactly 0: the zero spike must not decide the window (it
   * did: the narrowest window, [0, 2), always won and MobileNetV2 fell to 0 % top-1). */
  for (int i = 0; i < n; i += 2) x[i] = 0.0f;
  assert_int_equal(ptq_calib_create(&cfg, &c), PTQ_OK);
  assert_int_equal(ptq_calib_update(c, 1, dims, x), PTQ_OK);
  assert_int_equal(ptq_calib_range(c, &lo, &hi), PTQ_OK);
  assert_true(lo == 0.0f && hi > 3.0f && hi < 20.0f);
  ptq_calib_destroy(c);
  free(x);
}

static void test_config_errors(void **state) {
  (void)state;
  ptq_calib *c;
  ptq_calib_config cfg = ptq_calib_config_default(PTQ_CALIB_KL);
  cfg.num_bins = 1000;
  assert_int_equal(ptq_calib_create(&cfg, &c), PTQ_ERR_INVALID_ARG);
  cfg = ptq_calib_config_default(PTQ_CALIB_PERCENTILE);
  cfg.percentile = 40;
  assert_int_equal(ptq_calib_create(&cfg, &c), PTQ_ERR_INVALID_ARG);
  cfg = ptq_calib_config_default(PTQ_CALIB_EMA);
  cfg.momentum = 1.0;
  assert_int_equal(ptq_calib_create(&cfg, &c), PTQ_ERR_INVALID_ARG);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_minmax_ema),
      cmocka_unit_test(test_per_channel_minmax),
      cmocka_unit_test(test_streaming_and_threads),
      cmocka_unit_test(test_percentile),
      cmocka_unit_test(test_mse),
      cmocka_unit_test(test_kl),
      cmocka_unit_test(test_config_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
