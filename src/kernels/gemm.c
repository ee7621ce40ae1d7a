/* Single-precision GEMM on OpenBLAS (OpenMP flavour: it runs on the OpenMP team size of the
 * calling thread, which ptq_set_threads configures). Products with one output row or column go
 * to GEMV, which OpenBLAS runs much faster than a degenerate GEMM. */
#include <cblas.h>
#include <string.h>

#include "kernels/kernels.h"

void ptq_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
               const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
               int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    /* op(A)·op(B) is the zero matrix; BLAS would reject the degenerate leading dimensions. */
    for (int64_t i = 0; i < m; i++) {
      float *row = c + i * ldc;
      if (beta == 0.0f) {
        memset(row, 0, (size_t)n * sizeof *row);
      } else if (beta != 1.0f) {
        for (int64_t j = 0; j < n; j++) row[j] *= beta;
      }
    }
    return;
  }
  if (n == 1 || m == 1) {
    /* Zeroing C first keeps beta == 0 NaN-safe whatever GEMV's scaling does. */
    if (beta == 0.0f) {
      for (int64_t i = 0; i < m; i++) memset(c + i * ldc, 0, (size_t)n * sizeof *c);
    }
    if (n == 1) {
      /* C[:,0] = op(A) · op(B)[:,0] */
      cblas_sgemv(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, (blasint)(trans_a ? k : m),
                  (blasint)(trans_a ? m : k), alpha, a, (blasint)lda, b,
                  (blasint)(trans_b ? 1 : ldb), beta, c, (blasint)ldc);
    } else {
      /* C[0,:]ᵀ = op(B)ᵀ · op(A)[0,:]ᵀ */
      cblas_sgemv(CblasRowMajor, trans_b ? CblasNoTrans : CblasTrans, (blasint)(trans_b ? n : k),
                  (blasint)(trans_b ? k : n), alpha, b, (blasint)ldb, a,
                  (blasint)(trans_a ? lda : 1), beta, c, 1);
    }
    return;
  }
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, (blasint)m, (blasint)n, (blasint)k, alpha, a,
              (blasint)lda, b, (blasint)ldb, beta, c, (blasint)ldc);
}
