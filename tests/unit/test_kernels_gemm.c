/* ptq_sgemm against a naive triple loop, including degenerate sizes and NaN-safe beta == 0. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "kernels/kernels.h"

static uint32_t rng_state = 99;

static float rand_f(void) {
  rng_state = rng_state * 1664525u + 1013904223u;
  return (float)(rng_state >> 8) / (float)(1u << 24) * 2.0f - 1.0f;
}

/* Runs one product with padded leading dimensions; C starts as NaN when beta == 0. */
static void run(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, float beta) {
  const int64_t lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 2, ldc = n + 1;
  const int64_t a_rows = ta ? k : m, b_rows = tb ? n : k;
  float *a = malloc(sizeof(float) * (size_t)(a_rows * lda + 1));
  float *b = malloc(sizeof(float) * (size_t)(b_rows * ldb + 1));
  float *c = malloc(sizeof(float) * (size_t)(m * ldc + 1));
  float *c0 = malloc(sizeof(float) * (size_t)(m * ldc + 1));
  assert_non_null(a);
  assert_non_null(b);
  assert_non_null(c);
  assert_non_null(c0);
  for (int64_t i = 0; i < a_rows * lda; i++) a[i] = rand_f();
  for (int64_t i = 0; i < b_rows * ldb; i++) b[i] = rand_f();
  for (int64_t i = 0; i < m * ldc; i++) c0[i] = c[i] = beta == 0.0f ? NAN : rand_f();
  ptq_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  for (int64_t i = 0; i < m; i++) {
    for (int64_t j = 0; j < n; j++) {
      double acc = 0.0, mag = 0.0;
      for (int64_t l = 0; l < k; l++) {
        const double t =
            (double)(ta ? a[l * lda + i] : a[i * lda + l]) * (tb ? b[j * ldb + l] : b[l * ldb + j]);
        acc += t;
        mag += fabs(t);
      }
      double ref = alpha * acc;
      if (beta != 0.0f) ref += (double)beta * c0[i * ldc + j];
      const float got = c[i * ldc + j];
      if (!(fabs(got - ref) <= 1e-5 * (fabs(alpha) * mag + fabs(ref) + 1e-3)))
        fail_msg("ta%d tb%d m%lld n%lld k%lld: c[%lld][%lld] = %.9g, reference %.9g", ta, tb,
                 (long long)m, (long long)n, (long long)k, (long long)i, (long long)j, got, ref);
    }
    /* The padding column is left alone. */
    if (n > 0 && !(isnan(c0[i * ldc + n]) && isnan(c[i * ldc + n])) &&
        c[i * ldc + n] != c0[i * ldc + n])
      fail_msg("padding column written");
  }
  free(a);
  free(b);
  free(c);
  free(c0);
}

static void test_shapes(void **state) {
  (void)state;
  for (int ta = 0; ta <= 1; ta++) {
    for (int tb = 0; tb <= 1; tb++) {
      run(ta, tb, 7, 5, 3, 1.0f, 0.0f);
      run(ta, tb, 33, 70, 65, 0.5f, 1.0f);
      run(ta, tb, 1, 300, 17, 1.0f, -2.0f);
      run(ta, tb, 64, 1, 100, -1.5f, 0.0f);
      run(ta, tb, 1, 70, 33, 2.0f, 0.0f);
      run(ta, tb, 50, 1, 9, 1.0f, 0.5f);
      run(ta, tb, 1, 1, 40, 1.0f, 0.0f);
    }
  }
}

static void test_degenerate(void **state) {
  (void)state;
  run(0, 0, 4, 6, 0, 1.0f, 0.0f); /* k == 0, beta == 0: zeros, NaN overwritten */
  run(0, 0, 4, 6, 0, 1.0f, 2.0f);
  run(1, 1, 3, 2, 0, 1.0f, 1.0f);
  run(0, 0, 0, 6, 5, 1.0f, 0.0f);
  run(0, 0, 4, 0, 5, 1.0f, 0.0f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_shapes),
      cmocka_unit_test(test_degenerate),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
