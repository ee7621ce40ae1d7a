/* Packed-A GEMM with fused bias + activation, on every instruction set the CPU has (forced with
 * PTQ_ISA): against a double-precision reference, and bit-exact against the scalar kernel.
 * Convolutions with a fused activation and packed weights against the unfused kernels. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kernels/kernels.h"

static uint32_t rng_state = 7;

static float rand_f(void) {
  rng_state = rng_state * 1664525u + 1013904223u;
  return (float)(rng_state >> 8) / (float)(1u << 24) * 2.0f - 1.0f;
}

static const char *const ISAS[] = {"scalar", "avx2", "avx512"};

static float act_ref(const ptq_act *a, float v) {
  switch (a->kind) {
    case PTQ_ACT_RELU: return v > 0 ? v : 0;
    case PTQ_ACT_CLIP: {
      const float w = v < a->lo ? a->lo : v;
      return w > a->hi ? a->hi : w;
    }
    case PTQ_ACT_LEAKY: return v >= 0 ? v : a->alpha * v;
    default: return v;
  }
}

static int same_float(float x, float y) {
  return (isnan(x) && isnan(y)) || memcmp(&x, &y, sizeof x) == 0;
}

/* One product on every ISA; returns nothing, fails on mismatch. */
static void run_gemm(int64_t m, int64_t n, int64_t k, int with_bias, ptq_act act, int nan_in) {
  const int64_t lda = k + 3, ldb = n + 2, ldc = n + 5;
  float *a = malloc(sizeof(float) * (size_t)(m * lda + 1));
  float *b = malloc(sizeof(float) * (size_t)(k * ldb + 1));
  float *bias = malloc(sizeof(float) * (size_t)(m + 1));
  float *c = malloc(sizeof(float) * (size_t)(m * ldc + 1));
  float *c_scalar = malloc(sizeof(float) * (size_t)(m * ldc + 1));
  assert_true(a && b && bias && c && c_scalar);
  for (int64_t i = 0; i < m * lda; i++) a[i] = rand_f();
  for (int64_t i = 0; i < k * ldb; i++) b[i] = rand_f();
  for (int64_t i = 0; i < m; i++) bias[i] = rand_f();
  if (nan_in && k > 0) b[0] = NAN; /* column 0 is NaN before the activation */
  for (size_t s = 0; s < sizeof ISAS / sizeof *ISAS; s++) {
    setenv("PTQ_ISA", ISAS[s], 1);
    ptq_packed_a *pa = ptq_sgemm_pack(m, k, a, lda);
    assert_non_null(pa);
    if (strcmp(ptq_sgemm_packed_isa(pa), ISAS[s]) != 0) { /* not supported here */
      ptq_sgemm_packed_free(pa);
      continue;
    }
    for (int64_t i = 0; i < m * ldc; i++) c[i] = -12345.0f;
    ptq_sgemm_packed(pa, n, b, ldb, with_bias ? bias : NULL, &act, c, ldc);
    ptq_sgemm_packed_free(pa);
    for (int64_t i = 0; i < m; i++) {
      for (int64_t j = 0; j < ldc; j++) {
        const float got = c[i * ldc + j];
        if (j >= n) {
          if (got != -12345.0f)
            fail_msg("%s: padding c[%lld][%lld] written", ISAS[s], (long long)i, (long long)j);
          continue;
        }
        double acc = 0.0, mag = 0.0;
        for (int64_t l = 0; l < k; l++) {
          const double t = (double)a[i * lda + l] * b[l * ldb + j];
          acc += t;
          mag += fabs(t);
        }
        if (with_bias) acc += bias[i];
        const float ref = act_ref(&act, (float)acc);
        const int ok = isnan(ref)   ? isnan(got)
                       : isnan(acc) ? got == ref
                                    : fabs(got - ref) <= 1e-5 * (mag + fabs(acc) + 1e-3);
        if (!ok)
          fail_msg("%s m%lld n%lld k%lld act%d: c[%lld][%lld] = %.9g, reference %.9g", ISAS[s],
                   (long long)m, (long long)n, (long long)k, (int)act.kind, (long long)i,
                   (long long)j, got, ref);
      }
    }
    if (s == 0) {
      memcpy(c_scalar, c, sizeof(float) * (size_t)(m * ldc));
    } else {
      for (int64_t i = 0; i < m * ldc; i++)
        if (!same_float(c[i], c_scalar[i]))
          fail_msg("%s differs from scalar at %lld: %.9g vs %.9g", ISAS[s], (long long)i, c[i],
                   c_scalar[i]);
    }
  }
  unsetenv("PTQ_ISA");
  free(a);
  free(b);
  free(bias);
  free(c);
  free(c_scalar);
}

static const ptq_act ACTS[] = {{PTQ_ACT_NONE, 0, 0, 0},
                               {PTQ_ACT_RELU, 0, 0, 0},
                               {PTQ_ACT_CLIP, -0.25f, 0.5f, 0},
                               {PTQ_ACT_LEAKY, 0, 0, 0.1f}};

static void test_gemm_shapes(void **state) {
  (void)state;
  const int64_t ms[] = {1, 5, 6, 8, 13, 17, 33};
  const int64_t ns[] = {1, 7, 16, 17, 31, 32, 33, 49, 70};
  const int64_t ks[] = {0, 1, 9, 64};
  for (size_t mi = 0; mi < sizeof ms / sizeof *ms; mi++)
    for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++)
      for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++)
        run_gemm(ms[mi], ns[ni], ks[ki], (int)((mi + ni + ki) & 1),
                 ACTS[(mi + ni + ki) % (sizeof ACTS / sizeof *ACTS)], 0);
}

static void test_gemm_large_and_nan(void **state) {
  (void)state;
  run_gemm(70, 300, 200, 1, ACTS[2], 0); /* several column blocks and row panels */
  run_gemm(40, 4000, 150, 0, ACTS[0], 0);
  for (size_t i = 0; i < sizeof ACTS / sizeof *ACTS; i++) run_gemm(9, 40, 5, 1, ACTS[i], 1);
}

/* Convolution with act (and packed weights where packing applies) equals the plain
 * convolution followed by ptq_act_apply, within rounding of a different summation order. */
static void run_conv_act(ptq_conv_params p, ptq_act act) {
  const int64_t xn = p.n * p.c_in * p.h_in * p.w_in;
  const int64_t wn = p.c_out * p.c_in / p.group * p.k_h * p.k_w;
  const int64_t yn = p.n * p.c_out * p.h_out * p.w_out;
  float *x = malloc(sizeof(float) * (size_t)xn), *w = malloc(sizeof(float) * (size_t)wn);
  float *b = malloc(sizeof(float) * (size_t)p.c_out);
  float *y0 = malloc(sizeof(float) * (size_t)yn), *y1 = malloc(sizeof(float) * (size_t)yn);
  assert_true(x && w && b && y0 && y1);
  for (int64_t i = 0; i < xn; i++) x[i] = rand_f();
  for (int64_t i = 0; i < wn; i++) w[i] = rand_f();
  for (int64_t i = 0; i < p.c_out; i++) b[i] = rand_f();
  float *scratch = malloc(sizeof(float) * (ptq_conv2d_scratch_size(&p) + 1));
  assert_non_null(scratch);
  ptq_conv2d_f32(&p, x, w, b, y0, scratch);
  ptq_act_apply(&act, y0, yn);
  ptq_conv_params q = p;
  q.act = act;
  ptq_conv_packed *pk = ptq_conv2d_pack(&q, w);
  q.packed = pk;
  ptq_conv2d_f32(&q, x, w, b, y1, scratch);
  for (int64_t i = 0; i < yn; i++)
    if (!(fabsf(y0[i] - y1[i]) <= 1e-4f * (1.0f + fabsf(y0[i]))))
      fail_msg("conv %lldx%lld act%d packed%d: y[%lld] = %.9g, unfused %.9g", (long long)p.k_h,
               (long long)p.k_w, (int)act.kind, pk != NULL, (long long)i, y1[i], y0[i]);
  ptq_conv2d_packed_free(pk);
  free(scratch);
  free(x);
  free(w);
  free(b);
  free(y0);
  free(y1);
}

static ptq_conv_params conv(int64_t c_in, int64_t hw, int64_t c_out, int64_t k, int64_t s,
                            int64_t pad, int64_t group) {
  ptq_conv_params p = {.n = 2,
                       .c_in = c_in,
                       .h_in = hw,
                       .w_in = hw + 1,
                       .c_out = c_out,
                       .group = group,
                       .k_h = k,
                       .k_w = k,
                       .stride_h = s,
                       .stride_w = s,
                       .dil_h = 1,
                       .dil_w = 1,
                       .pad_t = pad,
                       .pad_l = pad,
                       .pad_b = pad,
                       .pad_r = pad};
  p.h_out = (hw + 2 * pad - k) / s + 1;
  p.w_out = (hw + 1 + 2 * pad - k) / s + 1;
  return p;
}

static void test_conv_fused(void **state) {
  (void)state;
  for (size_t a = 0; a < sizeof ACTS / sizeof *ACTS; a++) {
    run_conv_act(conv(24, 9, 37, 1, 1, 0, 1), ACTS[a]); /* pointwise: packed GEMM */
    run_conv_act(conv(8, 9, 12, 1, 1, 0, 2), ACTS[a]);  /* grouped pointwise */
    run_conv_act(conv(3, 12, 10, 9, 1, 4, 1), ACTS[a]); /* 81 taps: im2col + packed GEMM */
    run_conv_act(conv(5, 11, 13, 3, 2, 1, 1), ACTS[a]); /* direct */
    run_conv_act(conv(6, 13, 12, 3, 1, 1, 6), ACTS[a]); /* depthwise, multiplier 2 */
    run_conv_act(conv(6, 14, 6, 3, 2, 1, 6), ACTS[a]);  /* depthwise stride 2 */
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gemm_shapes),
      cmocka_unit_test(test_gemm_large_and_nan),
      cmocka_unit_test(test_conv_fused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
