/* Non-GEMM int8 kernels of the int8 runtime: depthwise convolution, elementwise Add/Mul,
 * 256-entry lookup tables, pooling, nearest resize, pad, and the float NCHW <-> uint8 NHWC
 * boundary conversions. Conventions (NHWC, uint8 activations with a zero point, int8 carried
 * as uint8 by flipping the sign bit, int8 symmetric per-channel weights, exact int32
 * accumulation, ptq_requant_ref, ISA choice by ptq_qisa()) are those of qkernels.h. Every ISA
 * and every thread count gives bit-identical results; each kernel has a plain-C path that is
 * its reference.
 *
 * Float-exact kernels (elementwise, lookup-table construction, boundary conversions) compute
 * exactly the float32 operations of ptq's float simulation, in the same order, without
 * contraction (no FMA), so that they equal DequantizeLinear -> float op -> QuantizeLinear bit
 * for bit. They use:
 *   DQ(q; s, z) = (float)(q - z) * s                        (DequantizeLinear)
 *   Q(v; s, z, lo, hi): t = v / s; t = t > lo - z ? t : lo - z; t = t < hi - z ? t : hi - z;
 *                       q = (int32)nearbyintf(t) + z        (ptq_quantize_value, half-even)
 * with lo - z and hi - z computed as floats, [lo, hi] the code range (0..255 for uint8 and
 * for int8 carried as uint8) narrowed by a fused Relu (lo = max(lo, z): exactly Q(Relu(v)))
 * or clamp. NaN quantizes to lo. */
#ifndef PTQ_QOPS_H
#define PTQ_QOPS_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/qkernels.h"

/* ------------------------------------------------------------- depthwise --- */

/* Depthwise convolution with channel multiplier 1 (group == c_in == c_out == c):
 *   acc[n][oh][ow][ch] = bias[ch] + Σ_{i<k_h, j<k_w, tap inside x} (x[n][ih][iw][ch] - zx) ·
 *                        w[ch][0][i][j],  ih = oh·stride_h - pad_t + i·dil_h (iw likewise)
 *   y = ptq_requant_ref(acc, mult[ch], shift[ch], zy, lo, hi).
 * Taps in the padding contribute nothing ((zx - zx) · w = 0); pad_b / pad_r are implied by
 * h_out / w_out. Needs |bias| + k_h·k_w·255·128 < 2^31 (qkernels.h). */
typedef struct ptq_qdw_desc {
  int64_t c, k_h, k_w;
  const int8_t *w;             /* ONNX layout [c][1][k_h][k_w] */
  const int32_t *bias;         /* [c], or NULL for 0 */
  const int32_t *mult, *shift; /* [c], from ptq_requant_from_real */
  int32_t zx, zy;              /* zero points of x and y (uint8 domain) */
  uint8_t lo, hi;              /* output code range (fused Relu/Clip) */
} ptq_qdw_desc;

typedef struct ptq_qdw_geom {
  int64_t n, h_in, w_in, h_out, w_out;
  int64_t stride_h, stride_w, dil_h, dil_w, pad_t, pad_l;
  /* Elements between consecutive pixels of x and of y (0: c, dense). A y stride above c
   * writes into a channel slice of a wider tensor (Concat). */
  int64_t x_pix_stride, y_pix_stride;
} ptq_qdw_geom;

typedef struct ptq_qdw_packed ptq_qdw_packed;

/* Packs weights and per-channel parameters once, for the ISA ptq_qisa() names now. The desc's
 * arrays are copied (not kept). NULL on allocation failure or a bad desc. */
ptq_qdw_packed *ptq_qdw_pack(const ptq_qdw_desc *d);
void ptq_qdw_free(ptq_qdw_packed *p);
/* ISA the weights were packed for (ptq_qisa_name). */
const char *ptq_qdw_packed_isa(const ptq_qdw_packed *p);
/* y = depthwise(x); threads over output rows (n, oh). x and y must not overlap. */
void ptq_qdwconv(const ptq_qdw_packed *p, const ptq_qdw_geom *g, const uint8_t *x, uint8_t *y);

/* ----------------------------------------------------------- elementwise --- */

enum ptq_qbin_op { PTQ_QBIN_ADD, PTQ_QBIN_MUL };
/* How b is indexed: same shape as a, one value per channel (b[ch] for a[i][ch], the last,
 * channel axis of NHWC), or one scalar. a broadcast instead: swap the operands (float + and
 * · are commutative bit for bit). */
enum ptq_qbin_bcast { PTQ_QBIN_SAME, PTQ_QBIN_PER_CHANNEL, PTQ_QBIN_SCALAR };

typedef struct ptq_qbin_params {
  enum ptq_qbin_op op;
  float sa, sb, sy;
  int32_t za, zb, zy;
  uint8_t lo, hi; /* output code range */
  /* Optional float Clip of the op's result before quantization (ONNX Clip order:
   * v = v < clip_lo ? clip_lo : v; v = v > clip_hi ? clip_hi : v); a Relu is better fused as
   * lo = max(lo, zy), which is exact. */
  int clip;
  float clip_lo, clip_hi;
} ptq_qbin_params;

/* y[i][ch] = Q(DQ(a[i][ch]) op DQ(b[...]); sy, zy, lo, hi) for i < rows, ch < c, with
 * DQ(a) = (float)(a - za) * sa, DQ(b) = (float)(b - zb) * sb, op a float32 + or *, the
 * optional clip, Q as above. y may alias a (or b when it has a's shape). */
void ptq_qbinary(const ptq_qbin_params *p, int64_t rows, int64_t c, const uint8_t *a,
                 const uint8_t *b, enum ptq_qbin_bcast bcast, uint8_t *y);

/* --------------------------------------------------------- lookup tables --- */

/* y[i] = table[x[i]] for i < n; y may alias x. */
void ptq_qlut(const uint8_t table[256], int64_t n, const uint8_t *x, uint8_t *y);

/* table[q] = Q(f(DQ(q; sx, zx), ctx); sy, zy, lo, hi) for q < 256 (f NULL: identity, a
 * rescale between two quantization parameter sets). f is any float function (HardSigmoid,
 * HardSwish, Sigmoid, Tanh, LeakyRelu, ...) computed the way the float simulation computes
 * it. */
typedef float (*ptq_qlut_fn)(float x, void *ctx);
void ptq_qlut_build(uint8_t table[256], ptq_qlut_fn f, void *ctx, float sx, int32_t zx, float sy,
                    int32_t zy, uint8_t lo, uint8_t hi);

/* --------------------------------------------------------------- pooling --- */

/* Window (oh, ow) has taps at rows ih = oh·stride_h - pad_t + i·dil_h (i < k_h), columns
 * likewise; taps outside x are padding. */
typedef struct ptq_qpool_params {
  int64_t n, c, h_in, w_in, h_out, w_out;
  int64_t k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_t, pad_l, pad_b, pad_r;
  int count_include_pad; /* AveragePool only */
  /* AveragePool / GlobalAveragePool: input and output quantization. MaxPool: same
   * quantization in and out (sx, zx, sy, zy unused). */
  float sx, sy;
  int32_t zx, zy;
  uint8_t lo, hi; /* output code range */
} ptq_qpool_params;

/* y = clamp(max over the window's taps inside x, lo, hi); a window without such a tap gives lo
 * (the float pool's -FLT_MAX, quantized). */
void ptq_qmaxpool(const ptq_qpool_params *p, const uint8_t *x, uint8_t *y);

/* Average pooling with an exact integer sum and one rounding:
 *   S = Σ_{taps inside x} (x - zx)   (int32, exact)
 *   cnt = taps inside x, or with count_include_pad taps inside the padded input
 *         [-pad, n + pad_end) (taps past the padded end never count), as the float kernel
 *   (mult, shift) = ptq_requant_from_real((double)sx / ((double)sy * cnt))
 *   y = ptq_requant_ref(S, mult, shift, zy, lo, hi)
 * i.e. y = clamp(zy + round_half_even(S · sx / (sy · cnt)), lo, hi) with the multiplier
 * rounded to 31 significant bits. cnt == 0 gives clamp(zy, lo, hi). Needs
 * sx / sy < 2^30 and cnt · 255 < 2^31. */
void ptq_qavgpool(const ptq_qpool_params *p, const uint8_t *x, uint8_t *y);
/* AveragePool over the whole plane (k = h_in x w_in, no padding): the same formula with
 * cnt = h_in · w_in; y is [n][1][1][c]. Uses n, c, h_in, w_in, sx, sy, zx, zy, lo, hi. */
void ptq_qglobal_avgpool(const ptq_qpool_params *p, const uint8_t *x, uint8_t *y);

/* ------------------------------------------------------ resize, pad, I/O --- */

/* Nearest resize with precomputed source indices: y[b][oh][ow][:] = x[b][ih[oh]][iw[ow]][:]
 * (ih[oh] < h_in, iw[ow] < w_in; same quantization in and out). */
void ptq_qresize_nearest(int64_t n, int64_t c, int64_t h_in, int64_t w_in, int64_t h_out,
                         int64_t w_out, const int64_t *ih, const int64_t *iw, const uint8_t *x,
                         uint8_t *y);

enum ptq_qpad_mode { PTQ_QPAD_CONSTANT, PTQ_QPAD_EDGE, PTQ_QPAD_REFLECT };
/* Pads of H, W and C (each >= 0; reflect needs pad < size along that axis, edge size >= 1).
 * Constant mode fills with value (the zero point, for a real 0). y is
 * [n][pad_t + h + pad_b][pad_l + w + pad_r][pad_c0 + c + pad_c1]. */
typedef struct ptq_qpad_params {
  int64_t n, h, w, c;
  int64_t pad_t, pad_b, pad_l, pad_r, pad_c0, pad_c1;
  enum ptq_qpad_mode mode;
  uint8_t value;
} ptq_qpad_params;
void ptq_qpad(const ptq_qpad_params *p, const uint8_t *x, uint8_t *y);

/* Model input: y[b][hw][ch] (NHWC, uint8) = Q(x[b][ch][hw] (NCHW, float); scale, zp, 0 / 255)
 * exactly as ptq_quantize_value. With int8 set, zp is an int8 zero point and the target type
 * int8 (range -128..127); the code is stored sign-flipped (q ^ 0x80), as int8 tensors are
 * carried. */
void ptq_quantize_nchw_to_nhwc(int64_t n, int64_t c, int64_t hw, const float *x, float scale,
                               int32_t zp, int int8, uint8_t *y);
/* Model output: y[b][ch][hw] (NCHW, float) = (float)(q - zp) * scale, q = x[b][hw][ch] (or the
 * int8 code x ^ 0x80 with int8 set, zp then an int8 zero point) as DequantizeLinear. */
void ptq_dequantize_nhwc_to_nchw(int64_t n, int64_t c, int64_t hw, const uint8_t *x, float scale,
                                 int32_t zp, int int8, float *y);

#endif
