/* Float32 compute kernels. Stateless; layouts are NCHW, C order; scratch is caller-owned.
 * Kernels parallelise internally with OpenMP over ptq_threads() threads and may be called
 * from one thread at a time. They never fail: every parameter is validated by the caller
 * (the executor's prepare step). */
#ifndef PTQ_KERNELS_H
#define PTQ_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* C[M×N] = alpha * op(A)[M×K] · op(B)[K×N] + beta * C, row-major with leading dimensions.
 * op(X) = X or Xᵀ per trans flag. beta == 0 ignores C's prior contents (NaN-safe). Sizes and
 * leading dimensions must fit in int (OpenBLAS's index type); any of m, n, k may be 0. */
void ptq_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
               const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
               int64_t ldc);

/* Activation applied to every output of a kernel as its last step (a fused Relu, Clip or
 * LeakyRelu node), with the NaN behaviour of the unfused ops: RELU v > 0 ? v : 0; CLIP
 * (v < lo ? lo : v), then (> hi ? hi : that); LEAKY v >= 0 ? v : alpha * v. Zero-initialised
 * means none. */
enum ptq_act_kind { PTQ_ACT_NONE, PTQ_ACT_RELU, PTQ_ACT_CLIP, PTQ_ACT_LEAKY };
typedef struct ptq_act {
  enum ptq_act_kind kind;
  float lo, hi, alpha;
} ptq_act;

/* y[i] = act(y[i]) for i in [0, n). */
void ptq_act_apply(const ptq_act *act, float *y, int64_t n);

/* Packed-A matrix product with a fused epilogue: C[i][j] = act(bias[i] + Σ_l A[i][l] · B[l][j])
 * for i < m, j < n, where A (m × k, fixed) was packed once by ptq_sgemm_pack and B is row-major
 * with leading dimension ldb; C has leading dimension ldc and only its m × n cells are written.
 * bias may be NULL (0). Each sum is a chain of fmaf over l = 0..k-1 from 0, then + bias, the
 * same on every instruction set, so results do not depend on the ISA or the thread count. */
typedef struct ptq_packed_a ptq_packed_a;
/* Packs A (row-major, leading dimension lda) for the instruction set chosen now: the best the
 * CPU supports, or the one environment variable PTQ_ISA names (scalar, avx2, avx512; an ISA the
 * CPU lacks falls back to the best supported). NULL if out of memory. */
ptq_packed_a *ptq_sgemm_pack(int64_t m, int64_t k, const float *a, int64_t lda);
void ptq_sgemm_packed_free(ptq_packed_a *pa);
/* The instruction set a packed matrix runs on: "scalar", "avx2" or "avx512". */
const char *ptq_sgemm_packed_isa(const ptq_packed_a *pa);
void ptq_sgemm_packed(const ptq_packed_a *pa, int64_t n, const float *b, int64_t ldb,
                      const float *bias, const ptq_act *act, float *c, int64_t ldc);

/* 2-D convolution (1-D convolutions use h = 1, k_h = 1, stride_h = dil_h = 1, pads 0). */
typedef struct ptq_conv_params {
  int64_t n, c_in, h_in, w_in;
  int64_t c_out, h_out, w_out;
  int64_t group; /* c_in % group == 0 && c_out % group == 0 */
  int64_t k_h, k_w;
  int64_t stride_h, stride_w;
  int64_t dil_h, dil_w;
  int64_t pad_t, pad_l, pad_b, pad_r; /* >= 0 */
  ptq_act act;                        /* applied after the bias (conv only, not deconv) */
  /* Optional: the weights of each group, [c_out/group] x [c_in/group * k_h * k_w], packed by
   * ptq_conv2d_pack for these params' weight shape; NULL: use w as given. */
  const struct ptq_conv_packed *packed;
} ptq_conv_params;

/* Weights packed once for the GEMM-based convolution paths; NULL when those paths are not
 * taken for this shape (then pass packed = NULL) or out of memory. Depends only on c_out,
 * c_in, group, k_h, k_w and (to pick the path) the kernel's stride, dilation and padding. */
typedef struct ptq_conv_packed ptq_conv_packed;
ptq_conv_packed *ptq_conv2d_pack(const ptq_conv_params *p, const float *w);
void ptq_conv2d_packed_free(ptq_conv_packed *pk);

/* Floats of scratch ptq_conv2d_f32 needs (0 allowed). */
size_t ptq_conv2d_scratch_size(const ptq_conv_params *p);
/* y[n][c_out][h_out][w_out] = bias[c] + Σ x · w, w laid out [c_out][c_in/group][k_h][k_w].
 * bias may be NULL. Output size must equal floor((h_in+pad_t+pad_b-dil_h*(k_h-1)-1)/stride_h)+1. */
void ptq_conv2d_f32(const ptq_conv_params *p, const float *x, const float *w, const float *bias,
                    float *y, float *scratch);

/* 2-D transposed convolution. w laid out [c_in][c_out/group][k_h][k_w] (ONNX ConvTranspose).
 * h_out = stride_h*(h_in-1) + out_pad_h + dil_h*(k_h-1) + 1 - pad_t - pad_b. */
typedef struct ptq_deconv_params {
  ptq_conv_params c; /* c.c_out is the total output channels */
  int64_t out_pad_h, out_pad_w;
} ptq_deconv_params;
size_t ptq_deconv2d_scratch_size(const ptq_deconv_params *p);
void ptq_deconv2d_f32(const ptq_deconv_params *p, const float *x, const float *w, const float *bias,
                      float *y, float *scratch);

/* 2-D pooling over NCHW. Padding cells are ignored by max; for average they count only if
 * count_include_pad. Output size is computed by the caller (ceil_mode handled there); windows
 * that start past the padded input are clipped. */
typedef struct ptq_pool_params {
  int64_t n, c, h_in, w_in, h_out, w_out;
  int64_t k_h, k_w, stride_h, stride_w, dil_h, dil_w;
  int64_t pad_t, pad_l, pad_b, pad_r;
  int count_include_pad;
} ptq_pool_params;
void ptq_maxpool2d_f32(const ptq_pool_params *p, const float *x, float *y);
void ptq_avgpool2d_f32(const ptq_pool_params *p, const float *x, float *y);
/* y[n][c] = mean over h*w of x[n][c]. */
void ptq_global_avgpool_f32(int64_t n, int64_t c, int64_t hw, const float *x, float *y);

/* Resize (ONNX opset 11+ semantics) of the last two axes of an [outer × h_in × w_in] tensor. */
enum ptq_resize_mode { PTQ_RESIZE_NEAREST, PTQ_RESIZE_LINEAR, PTQ_RESIZE_CUBIC };
enum ptq_resize_coord {
  PTQ_COORD_HALF_PIXEL,
  PTQ_COORD_PYTORCH_HALF_PIXEL,
  PTQ_COORD_ALIGN_CORNERS,
  PTQ_COORD_ASYMMETRIC,
  PTQ_COORD_TF_HALF_PIXEL_FOR_CENTERS
};
enum ptq_resize_nearest {
  PTQ_NEAREST_ROUND_PREFER_FLOOR,
  PTQ_NEAREST_ROUND_PREFER_CEIL,
  PTQ_NEAREST_FLOOR,
  PTQ_NEAREST_CEIL
};
typedef struct ptq_resize_params {
  int64_t outer, h_in, w_in, h_out, w_out;
  float scale_h, scale_w; /* output/input scale used for coordinate mapping */
  enum ptq_resize_mode mode;
  enum ptq_resize_coord coord;
  enum ptq_resize_nearest nearest;
  float cubic_coeff_a; /* -0.75 default */
  int exclude_outside; /* cubic only */
} ptq_resize_params;
void ptq_resize2d_f32(const ptq_resize_params *p, const float *x, float *y);

#endif
