/* Int8 GEMM with a requantizing epilogue, and the NHWC convolutions built on it. Conventions
 * and the requantization contract are those of qkernels.h: uint8 activations with a zero
 * point, int8 symmetric per-output-channel weights, exact int32 accumulation, results
 * bit-identical on every ISA and thread count. */
#ifndef PTQ_QGEMM_H
#define PTQ_QGEMM_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/qkernels.h"

/* --- GEMM ------------------------------------------------------------------------------------
 * Y[i][j] = requant(acc[i][j], mult[j], shift[j]) for i < m, j < n, with
 *   acc[i][j] = bias[j] + Σ_{l<k} (X[i][l] - zx) · W[j][l]
 * X [m][k] uint8 (row stride ldx), W [n][k] int8 (row = output channel, row stride ldw). */
typedef struct ptq_qgemm_packed ptq_qgemm_packed;

/* Packs W once (for the ISA ptq_qisa() returns now) with its per-channel epilogue: bias
 * (NULL = 0) with the input zero point folded in (bias - zx · Σ_l W[j][l]), mult and shift
 * (qkernels.h ranges). n >= 1, k >= 0 (k = 0 gives acc = bias). Returns NULL when out of
 * memory. The caller guarantees |bias[j]| + k · 255 · 128 < 2^31. */
ptq_qgemm_packed *ptq_qgemm_pack(int64_t n, int64_t k, const int8_t *w, int64_t ldw,
                                 const int32_t *bias, const int32_t *mult, const int32_t *shift,
                                 uint8_t zx);
void ptq_qgemm_packed_free(ptq_qgemm_packed *p); /* NULL: no-op */
/* ISA the weights were packed for: "scalar", "avx2" or "avx512vnni". */
const char *ptq_qgemm_packed_isa(const ptq_qgemm_packed *p);
int64_t ptq_qgemm_packed_n(const ptq_qgemm_packed *p);
int64_t ptq_qgemm_packed_k(const ptq_qgemm_packed *p);

/* Y[i][j] = ptq_requant_ref(acc[i][j], mult[j], shift[j], zy, lo, hi), Y row stride ldy. Reads
 * X only at [i][l] for i < m, l < k; writes Y only at [i][j] for i < m, j < n. Threaded over
 * ptq_threads() (calling thread only for small products); m >= 0. */
void ptq_qgemm_run(const ptq_qgemm_packed *p, int64_t m, const uint8_t *x, int64_t ldx, int32_t zy,
                   uint8_t lo, uint8_t hi, uint8_t *y, int64_t ldy);
/* Y[i][j] = acc[i][j] (int32, no requantization). */
void ptq_qgemm_run_i32(const ptq_qgemm_packed *p, int64_t m, const uint8_t *x, int64_t ldx,
                       int32_t *y, int64_t ldy);

/* --- convolution -----------------------------------------------------------------------------
 * NHWC 2-D convolution: x[n][h_in][w_in][c_in] uint8 -> y[n][h_out][w_out][c_out] uint8, weights
 * in ONNX layout [c_out][c_in/group][k_h][k_w] int8, per-output-channel bias/mult/shift, one GEMM
 * per group. Padding cells read as zx (so contribute nothing). Depthwise convolutions (group ==
 * c_in == c_out) run correctly here but slowly: they belong to the depthwise kernel. */
typedef struct ptq_qconv_params {
  int64_t n, h_in, w_in, c_in;
  int64_t c_out, h_out, w_out;
  int64_t group; /* c_in % group == 0 && c_out % group == 0 */
  int64_t k_h, k_w;
  int64_t stride_h, stride_w;         /* >= 1 */
  int64_t dil_h, dil_w;               /* >= 1 */
  int64_t pad_t, pad_l, pad_b, pad_r; /* >= 0 */
} ptq_qconv_params;

typedef struct ptq_qconv_packed ptq_qconv_packed;

/* Packs the weights of every group (bias may be NULL; mult and shift have c_out entries) for
 * the shape p (copied); NULL when out of memory. */
ptq_qconv_packed *ptq_qconv_pack(const ptq_qconv_params *p, const int8_t *w, const int32_t *bias,
                                 const int32_t *mult, const int32_t *shift, uint8_t zx);
void ptq_qconv_packed_free(ptq_qconv_packed *pc); /* NULL: no-op */
const char *ptq_qconv_packed_isa(const ptq_qconv_packed *pc);

/* Bytes of scratch ptq_qconv_run needs for shape p (0 when it runs straight on the input: 1x1,
 * stride 1, no padding). At most about PTQ_QCONV_SCRATCH_MAX unless one im2col row is larger. */
#define PTQ_QCONV_SCRATCH_MAX ((size_t)1 << 20)
size_t ptq_qconv_scratch_size(const ptq_qconv_params *p);

/* y = requant(conv(x)) with output zero point zy and clamp [lo, hi]; scratch holds
 * ptq_qconv_scratch_size bytes (may be NULL when that is 0). Threaded like ptq_qgemm_run. */
void ptq_qconv_run(const ptq_qconv_packed *pc, const uint8_t *x, int32_t zy, uint8_t lo, uint8_t hi,
                   uint8_t *y, void *scratch);

#endif
