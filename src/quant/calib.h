/* Calibration observers: fed batch by batch, memory independent of the number of samples,
 * per tensor or per channel. They produce a float range [rmin, rmax] per tensor or channel for
 * ptq_qparams_from_range. See docs/quantization.md for the algorithms and choices. */
#ifndef PTQ_QUANT_CALIB_H
#define PTQ_QUANT_CALIB_H

#include <stdint.h>

#include "ptq/ptq.h"
#include "quant/quantizer.h"

typedef enum ptq_calib_method {
  PTQ_CALIB_MINMAX = 0,
  PTQ_CALIB_EMA,        /* exponential moving average of per-batch min and max */
  PTQ_CALIB_PERCENTILE, /* percentile of the histogram */
  PTQ_CALIB_MSE,        /* clipping range minimising the L2 quantization error */
  PTQ_CALIB_KL          /* TensorRT / MXNet entropy calibration */
} ptq_calib_method;

typedef struct ptq_calib_config {
  ptq_calib_method method;
  int per_channel;    /* statistics per index of axis */
  int axis;           /* negative counts from the end */
  double momentum;    /* EMA: state = momentum * state + (1 - momentum) * batch, in [0, 1) */
  double percentile;  /* PERCENTILE: in (50, 100]; two-sided unless symmetric */
  int symmetric;      /* PERCENTILE: percentile of |x|, range [-t, t] */
  int num_bins;       /* histogram bins: a power of two in [256, 2^20]; 2048 */
  int num_quant_bins; /* KL: target levels, even, in [2, num_bins / 2]; 128 */
  int kl_ort_compat;  /* KL: onnxruntime's get_entropy_threshold exactly (see docs) */
  ptq_qscheme scheme; /* MSE: the quantizer whose error is minimised */
} ptq_calib_config;

/* minmax, per tensor, 2048 bins, 128 levels, percentile 99.999 (onnxruntime's default), momentum
 * 0.9, int8 scheme. */
ptq_calib_config ptq_calib_config_default(ptq_calib_method method);

typedef struct ptq_calib ptq_calib;

/* PTQ_ERR_INVALID_ARG on a bad configuration. Caller owns *out. */
ptq_status ptq_calib_create(const ptq_calib_config *cfg, ptq_calib **out);
void ptq_calib_destroy(ptq_calib *c);

/* Feeds one batch (a dense C-order float tensor). Per channel, dims[axis] must equal the
 * channel count of the first batch. PTQ_ERR_DATA when the batch holds NaN or infinities (the
 * observer is left unchanged); PTQ_ERR_SHAPE on a shape mismatch. The result does not depend
 * on the thread count. Empty batches are ignored. */
ptq_status ptq_calib_update(ptq_calib *c, int rank, const int64_t *dims, const float *data);

/* Channels (1 per tensor; 0 before the first batch of a per-channel observer). */
int64_t ptq_calib_channels(const ptq_calib *c);

/* The calibrated range of every channel: rmin[i] <= rmax[i], each array ptq_calib_channels()
 * long. Channels that saw no data give [0, 0]. PTQ_ERR_DATA before any data. */
ptq_status ptq_calib_range(const ptq_calib *c, float *rmin, float *rmax);

/* Histogram of one channel (histogram methods only): counts[i] is the number of values x
 * with floor(x / 2^exp2) == i + k0 (bins of width 2^exp2 aligned at 0); k0 is -num_bins/2
 * once a negative value was seen, else 0. *counts stays owned by the observer. */
typedef struct ptq_calib_hist {
  const int64_t *counts;
  int num_bins;
  int k0;
  int exp2;       /* meaningful when has_width */
  int has_width;  /* 0 while every value seen was 0 (all counts at k = 0) */
  float min, max; /* observed extremes */
  int64_t total;
} ptq_calib_hist;
ptq_status ptq_calib_histogram(const ptq_calib *c, int64_t channel, ptq_calib_hist *out);

/* MSE-optimal range directly from a weight tensor (every element, no histogram), per tensor
 * or per channel along s->axis per s->per_channel: rmin/rmax get 1 or dims[axis] entries. */
ptq_status ptq_calib_mse_weights(const float *w, int rank, const int64_t *dims,
                                 const ptq_qscheme *s, float *rmin, float *rmax);

/* Sum of squared fake-quantization errors of n values under range [rmin, rmax] (double
 * accumulation in index order); a building block for tests and analysis. */
ptq_status ptq_quant_sq_error(const float *x, int64_t n, const ptq_qscheme *s, float rmin,
                              float rmax, double *err);

#endif
