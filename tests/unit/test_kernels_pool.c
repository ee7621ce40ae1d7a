/* Pooling kernels against a naive reference and against onnxruntime's outputs. */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "kernels/kernels.h"

static uint32_t rng_state;

static uint32_t rng(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return rng_state;
}

static int64_t rand_in(int64_t lo, int64_t hi) {
  return lo + (int64_t)(rng() % (uint32_t)(hi - lo + 1));
}

static float rand_f(void) {
  return (float)(rng() >> 8) / (float)(1u << 24) * 2.0f - 1.0f;
}

/* ONNX output length, ceil_mode included: the last window must start inside the input or its
 * leading padding. */
static int64_t out_len(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pad_begin,
                       int64_t pad_end, int ceil_mode) {
  const int64_t span = in + pad_begin + pad_end - d * (k - 1) - 1;
  int64_t o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
  if (ceil_mode && (o - 1) * s >= in + pad_begin) o--;
  return o;
}

/* Taps inside the input count for max and avg; taps in the padding count for avg only with
 * count_include_pad; taps past the padded end never count. */
static void ref_pool(const ptq_pool_params *p, int is_max, const float *x, float *y) {
  for (int64_t pi = 0; pi < p->n * p->c; pi++) {
    for (int64_t oh = 0; oh < p->h_out; oh++) {
      for (int64_t ow = 0; ow < p->w_out; ow++) {
        double sum = 0.0;
        float m = -FLT_MAX;
        int64_t valid = 0, padded = 0;
        for (int64_t i = 0; i < p->k_h; i++) {
          const int64_t ih = oh * p->stride_h - p->pad_t + i * p->dil_h;
          for (int64_t j = 0; j < p->k_w; j++) {
            const int64_t iw = ow * p->stride_w - p->pad_l + j * p->dil_w;
            if (ih < p->h_in + p->pad_b && iw < p->w_in + p->pad_r) padded++;
            if (ih < 0 || ih >= p->h_in || iw < 0 || iw >= p->w_in) continue;
            const float v = x[(pi * p->h_in + ih) * p->w_in + iw];
            valid++;
            sum += v;
            if (v > m) m = v;
          }
        }
        const int64_t count = p->count_include_pad ? padded : valid;
        y[(pi * p->h_out + oh) * p->w_out + ow] = is_max  ? m
                                                  : count ? (float)(sum / (double)count)
                                                          : 0.0f;
      }
    }
  }
}

static void check_close(const char *what, const float *y, const float *r, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    if (fabsf(y[i] - r[i]) > 1e-5f * (1.0f + fabsf(r[i])))
      fail_msg("%s: y[%lld] = %.9g, expected %.9g", what, (long long)i, y[i], r[i]);
  }
}

/* AveragePool on a 5x5 input holding 1..25, expected values from onnxruntime 1.32 (which
 * agrees with the ONNX reference here). */
static void test_avgpool_onnxruntime_cases(void **state) {
  (void)state;
  float x[25], y[25];
  for (int i = 0; i < 25; i++) x[i] = (float)(i + 1);
  static const struct {
    int64_t k, s, d, pt, pl, pb, pr;
    int ceil_mode, include_pad;
    float expected[25];
  } cases[] = {
      /* clang-format off */
      /* k, s, d, pads t, l, b, r, ceil_mode, count_include_pad, expected */
      {2, 2, 1, 0, 0, 0, 0, 1, 1, {4, 6, 7.5f, 14, 16, 17.5f, 21.5f, 23.5f, 25}},
      {3, 2, 1, 1, 1, 1, 1, 1, 1, {1.7777778f, 3.6666667f, 3.1111112f, 7.6666665f, 13, 9.666667f,
                                   8.444445f, 13.666667f, 9.777778f}},
      {3, 2, 1, 1, 1, 0, 0, 1, 1, {1.7777778f, 3.6666667f, 4.6666665f, 7.6666665f, 13, 14.5f,
                                   12.666667f, 20.5f, 22}},
      {3, 2, 1, 1, 1, 0, 0, 1, 0, {4, 5.5f, 7, 11.5f, 13, 14.5f, 19, 20.5f, 22}},
      {2, 1, 2, 1, 1, 1, 1, 0, 1, {1.75f, 3.5f, 4, 4.5f, 2.25f, 3.5f, 7, 8, 9, 4.5f, 6, 12, 13,
                                   14, 7, 8.5f, 17, 18, 19, 9.5f, 4.25f, 8.5f, 9, 9.5f, 4.75f}},
      {2, 1, 2, 1, 1, 1, 1, 0, 0, {7, 7, 8, 9, 9, 7, 7, 8, 9, 9, 12, 12, 13,
                                   14, 14, 17, 17, 18, 19, 19, 17, 17, 18, 19, 19}},
      /* clang-format on */
  };
  for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
    const int64_t h_out = out_len(5, cases[ci].k, cases[ci].s, cases[ci].d, cases[ci].pt,
                                  cases[ci].pb, cases[ci].ceil_mode);
    const int64_t w_out = out_len(5, cases[ci].k, cases[ci].s, cases[ci].d, cases[ci].pl,
                                  cases[ci].pr, cases[ci].ceil_mode);
    const ptq_pool_params p = {1,
                               1,
                               5,
                               5,
                               h_out,
                               w_out,
                               cases[ci].k,
                               cases[ci].k,
                               cases[ci].s,
                               cases[ci].s,
                               cases[ci].d,
                               cases[ci].d,
                               cases[ci].pt,
                               cases[ci].pl,
                               cases[ci].pb,
                               cases[ci].pr,
                               cases[ci].include_pad};
    ptq_avgpool2d_f32(&p, x, y);
    check_close("onnxruntime case", y, cases[ci].expected, h_out * w_out);
  }
}

static void run_random(int is_max) {
  rng_state = is_max ? 0x9e3779b9u : 0x85ebca6bu;
  float *x = malloc(sizeof(float) * 2 * 16 * 80 * 80);
  float *y = malloc(sizeof(float) * 2 * 16 * 80 * 80);
  float *r = malloc(sizeof(float) * 2 * 16 * 80 * 80);
  assert_non_null(x);
  assert_non_null(y);
  assert_non_null(r);
  for (int iter = 0; iter < 400; iter++) {
    ptq_pool_params p;
    const int big = iter % 50 == 0; /* runs threaded */
    p.n = rand_in(1, 2);
    p.c = big ? 16 : rand_in(1, 3);
    p.h_in = big ? 80 : rand_in(1, 12);
    p.w_in = big ? 80 : rand_in(1, 12);
    p.k_h = rand_in(1, 4);
    p.k_w = rand_in(1, 4);
    p.stride_h = rand_in(1, 3);
    p.stride_w = rand_in(1, 3);
    p.dil_h = rand_in(1, 2);
    p.dil_w = rand_in(1, 2);
    p.pad_t = rand_in(0, p.k_h - 1);
    p.pad_b = rand_in(0, p.k_h - 1);
    p.pad_l = rand_in(0, p.k_w - 1);
    p.pad_r = rand_in(0, p.k_w - 1);
    p.count_include_pad = (int)rand_in(0, 1);
    const int ceil_mode = (int)rand_in(0, 1);
    if (p.h_in + p.pad_t + p.pad_b < p.dil_h * (p.k_h - 1) + 1 ||
        p.w_in + p.pad_l + p.pad_r < p.dil_w * (p.k_w - 1) + 1)
      continue;
    p.h_out = out_len(p.h_in, p.k_h, p.stride_h, p.dil_h, p.pad_t, p.pad_b, ceil_mode);
    p.w_out = out_len(p.w_in, p.k_w, p.stride_w, p.dil_w, p.pad_l, p.pad_r, ceil_mode);
    for (int64_t i = 0; i < p.n * p.c * p.h_in * p.w_in; i++) x[i] = rand_f();
    if (is_max) {
      ptq_maxpool2d_f32(&p, x, y);
    } else {
      ptq_avgpool2d_f32(&p, x, y);
    }
    ref_pool(&p, is_max, x, r);
    check_close(is_max ? "maxpool" : "avgpool", y, r, p.n * p.c * p.h_out * p.w_out);
  }
  free(x);
  free(y);
  free(r);
}

static void test_maxpool_random(void **state) {
  (void)state;
  run_random(1);
}

static void test_avgpool_random(void **state) {
  (void)state;
  run_random(0);
}

static void test_global_avgpool(void **state) {
  (void)state;
  rng_state = 777;
  const int64_t n = 2, c = 300, hw = 7 * 9;
  float *x = malloc(sizeof(float) * n * c * hw), y[600], r[600];
  assert_non_null(x);
  for (int64_t i = 0; i < n * c * hw; i++) x[i] = rand_f();
  for (int64_t pi = 0; pi < n * c; pi++) {
    double s = 0.0;
    for (int64_t i = 0; i < hw; i++) s += x[pi * hw + i];
    r[pi] = (float)(s / (double)hw);
  }
  ptq_global_avgpool_f32(n, c, hw, x, y);
  check_close("global avgpool", y, r, n * c);
  free(x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_avgpool_onnxruntime_cases),
      cmocka_unit_test(test_maxpool_random),
      cmocka_unit_test(test_avgpool_random),
      cmocka_unit_test(test_global_avgpool),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
