/* Uniform affine quantization: schemes, (scale, zero point) from ranges, quantize, dequantize
 * and fake quantization with the arithmetic onnxruntime uses for QuantizeLinear and
 * DequantizeLinear (see docs/quantization.md).
 *
 *   q  = clamp(round(x / scale), qmin - zp, qmax - zp) + zp      x / scale in float32
 *   x' = (q - zp) * scale                                         float32 product
 *
 * The scale is the float32 value written to the ONNX file; every computation here uses it. */
#ifndef PTQ_QUANT_QUANTIZER_H
#define PTQ_QUANT_QUANTIZER_H

#include <stdint.h>

#include "ptq/ptq.h"

typedef enum ptq_round_mode {
  PTQ_ROUND_HALF_EVEN = 0, /* ONNX QuantizeLinear; nearbyintf in the default FP mode */
  PTQ_ROUND_HALF_AWAY = 1  /* roundf: ties away from zero */
} ptq_round_mode;

typedef struct ptq_qscheme {
  int bits;        /* 2..16 */
  int is_signed;   /* codes [-2^(b-1), 2^(b-1)-1]; unsigned: [0, 2^b-1] */
  int symmetric;   /* range [-a, a], a = max(|min|, |max|); zero point at the middle code */
  int narrow;      /* drop the lowest code: int8 [-127, 127], uint8 [1, 255] */
  int per_channel; /* one (scale, zp) per index of `axis` */
  int axis;        /* channel axis; negative counts from the end */
  int pow2_scale;  /* scale rounded up to a power of two (the range stays covered) */
  ptq_round_mode round;
} ptq_qscheme;

typedef struct ptq_qparams {
  float scale;        /* > 0, finite */
  int32_t zero_point; /* in [qmin, qmax] */
} ptq_qparams;

/* int8, signed, asymmetric, full range, per tensor, round half to even. */
ptq_qscheme ptq_qscheme_int8(void);

/* PTQ_ERR_INVALID_ARG naming the field when bits, round or axis (only checked against rank
 * when rank >= 0) is out of range. */
ptq_status ptq_qscheme_check(const ptq_qscheme *s, int rank);

/* Integer code range: qmin <= 0 <= qmax, qmax - qmin in [2, 65535]. */
void ptq_qscheme_range(const ptq_qscheme *s, int32_t *qmin, int32_t *qmax);

/* (scale, zero point) covering [rmin, rmax], onnxruntime's compute_scale_zp:
 *  - the range is widened to include 0; symmetric: [-a, a] with a = max(|rmin|, |rmax|);
 *  - scale = (rmax - rmin) / (qmax - qmin) in double, then rounded to float32;
 *  - pow2_scale: the double scale is rounded up to 2^ceil(log2(scale));
 *  - zero point: symmetric → round_half_even((qmin + qmax) / 2); asymmetric →
 *    round_half_even(qmin - rmin / scale) with the double scale, clamped to [qmin, qmax];
 *  - degenerate range (double scale below FLT_MIN, e.g. rmin == rmax == 0): scale 1 and zero
 *    point 0 as onnxruntime does, except symmetric unsigned, which keeps the middle code so
 *    that all channels of a per-channel tensor share one zero point.
 * PTQ_ERR_DATA when rmin or rmax is NaN or infinite, or the float32 scale overflows. */
ptq_status ptq_qparams_from_range(const ptq_qscheme *s, float rmin, float rmax, ptq_qparams *out);
/* n ranges → n parameters (per channel). */
ptq_status ptq_qparams_from_ranges(const ptq_qscheme *s, int64_t n, const float *rmin,
                                   const float *rmax, ptq_qparams *out);

/* One value: the integer code (NaN → qmin, like MLAS; ±inf saturate). */
int32_t ptq_quantize_value(float x, ptq_qparams p, int32_t qmin, int32_t qmax,
                           ptq_round_mode round);
static inline float ptq_dequantize_value(int32_t q, ptq_qparams p) {
  return (float)(q - p.zero_point) * p.scale; /* |q - zp| < 2^17: exact in float */
}

/* Codes of a contiguous run with one (scale, zp). */
void ptq_quantize_f32(const float *x, int64_t n, const ptq_qscheme *s, ptq_qparams p, int32_t *q);
/* In-place quantize + dequantize of a contiguous run with one (scale, zp); bit-identical to
 * ptq_dequantize_value(ptq_quantize_value(x)) on every ISA. */
void ptq_fake_quant_f32(float *x, int64_t n, const ptq_qscheme *s, ptq_qparams p);

/* In-place fake quantization of a dense C-order tensor: params has 1 entry (per tensor) or
 * dims[axis] entries (per channel). Runs on ptq_threads() threads; the result does not depend
 * on the thread count or ISA. PTQ_ERR_INVALID_ARG / PTQ_ERR_SHAPE on a bad scheme or shape. */
ptq_status ptq_fake_quant_tensor(float *x, int rank, const int64_t *dims, const ptq_qscheme *s,
                                 const ptq_qparams *params);
/* Codes of a dense tensor, same layout rules. */
ptq_status ptq_quantize_tensor(const float *x, int rank, const int64_t *dims, const ptq_qscheme *s,
                               const ptq_qparams *params, int32_t *q);

/* Splits dims at axis: outer = prod(dims[:axis]), channels = dims[axis], inner = the rest.
 * PTQ_ERR_SHAPE when axis is out of range or a dimension is negative. */
ptq_status ptq_axis_split(int rank, const int64_t *dims, int axis, int64_t *outer,
                          int64_t *channels, int64_t *inner);

/* The ISA the fake-quant fast path uses: "scalar", "avx2" or "avx512" (the best the CPU has,
 * or PTQ_ISA's choice when the CPU supports it; read at each call). */
const char *ptq_quant_isa(void);

#endif
