/* ptq calibration post-training quantization: float ONNX model + unlabeled samples →
 * QDQ ONNX model (QuantizeLinear/DequantizeLinear pairs around float ops) and an encodings
 * JSON. Conventions as in ptq.h; the library never prints (progress goes to a callback). */
#ifndef PTQ_QUANT_H
#define PTQ_QUANT_H

#include "ptq/ptq.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How activation ranges are calibrated (weights: per-channel minmax, or MSE with
 * PTQ_QMETHOD_MSE). */
typedef enum ptq_qmethod {
  PTQ_QMETHOD_MINMAX = 0,
  PTQ_QMETHOD_EMA,        /* moving average of per-batch min/max (momentum 0.9) */
  PTQ_QMETHOD_PERCENTILE, /* 99.999th percentile, two-sided */
  PTQ_QMETHOD_MSE,        /* L2-optimal clipping */
  PTQ_QMETHOD_KL          /* TensorRT entropy calibration */
} ptq_qmethod;

/* "minmax", "ema", "percentile", "mse", "kl" → method. PTQ_ERR_INVALID_ARG if unknown. */
ptq_status ptq_qmethod_parse(const char *name, ptq_qmethod *out);
const char *ptq_qmethod_name(ptq_qmethod m);

/* Progress: stage ("calibrate"), samples done and total. Called from the calling thread. */
typedef void (*ptq_qprogress_fn)(void *user, const char *stage, int64_t done, int64_t total);

/* Tri-state switch of an option: the profile's choice, or forced on/off. */
typedef enum ptq_qswitch { PTQ_QDEFAULT = 0, PTQ_QON = 1, PTQ_QOFF = 2 } ptq_qswitch;

typedef struct ptq_quant_options {
  const char *profile; /* NULL or a name of ptq_qprofile_names() (docs/profiles.md);
                          NULL: "ort" */
  ptq_qmethod method;  /* activation calibration */
  int per_tensor;      /* nonzero: weights per tensor instead of per channel */
  int w_bits;          /* weight bits, 0: 8; within the profile's allowed range. Below 8
                          the codes of the narrow b-bit grid are stored in int8/uint8 */
  int a_bits;          /* activation bits, 0: 8; 2..16 where the profile allows. Below 8:
                          int8/uint8 Q/DQ behind Clip(x, (qmin-zp)*s, (qmax-zp)*s), whose
                          codes are exactly the N-bit ones; 9..15: the same in int16/uint16;
                          16: int16/uint16. Above 8 the model is raised to opset 21. */
  /* Scheme switches; only the "academic" profile accepts anything but PTQ_QDEFAULT. */
  ptq_qswitch w_symmetric, a_symmetric, a_signed, pow2_scale;
  ptq_qswitch keep_ends_8bit; /* first and last weighted layer keep 8-bit weights */
  ptq_qswitch quant_add;      /* Q/DQ on both inputs of an Add of two activations */
  ptq_qswitch cle;            /* cross-layer equalization of the float model before calibration
                                 (Conv/Gemm pairs through Relu or ReLU6; scales bounded by a first
                                 pass over the calibration data so that ReLU6 stays exact there and
                                 no activation range grows); default: config "cle", else on when
                                 weights are per tensor (docs/quantization.md) */
  const char *config;         /* NULL or a JSON file of per-layer overrides (docs/profiles.md) */
  const char *const *exclude; /* node names kept in float */
  size_t n_exclude;
  const char *preprocess;    /* dataset preprocessing spec (ptq_dataset_options.preprocess) */
  int64_t calib_size;        /* samples drawn (without replacement) from the data; 0: 100 */
  uint64_t seed;             /* seed of the sample draw */
  int64_t batch;             /* calibration batch; 0: 8 (or the model's fixed batch) */
  const char *const *shapes; /* input shape overrides "NAME=DIMS" for calibration */
  size_t n_shapes;
  int threads;               /* 0: all cores */
  ptq_qprogress_fn progress; /* may be NULL */
  void *progress_user;
} ptq_quant_options;

/* profile "ort", minmax, per channel, 100 samples, seed 0. */
ptq_quant_options ptq_quant_options_default(void);

/* NULL-terminated list of the profile names ("ort" first). */
const char *const *ptq_qprofile_names(void);

/* A quantized model with its calibration report. */
typedef struct ptq_qmodel ptq_qmodel;

/* Loads model_path twice (the float model for calibration, with the shape/batch overrides,
 * and the model to quantize, as stored), prepares the latter (BatchNormalization folding,
 * cross-layer equalization when enabled — then also on the former —, opset >= 13, or 21
 * when an activation has more than 8 bits), calibrates on
 * opts->calib_size samples of calib_path (an .npy or an image folder, see ptq_dataset_open)
 * and builds the QDQ graph. opts may be NULL (defaults).
 * Errors: those of ptq_model_load and ptq_dataset_open; PTQ_ERR_DATA for NaN/Inf in the
 * calibration data; PTQ_ERR_SHAPE when the data does not fit the model input;
 * PTQ_ERR_UNSUPPORTED naming an op that cannot be moved to opset 13 (21);
 * PTQ_ERR_INVALID_ARG for an unknown profile, bits outside the profile's range, a scheme switch the
 * profile fixes, or an --exclude / config node name the model lacks (the message lists close
 * matches); PTQ_ERR_PARSE / PTQ_ERR_INVALID_ARG for a malformed config ("FILE:LINE:COL: ...").
 * Caller owns *out. */
ptq_status ptq_qmodel_create(const char *model_path, const char *calib_path,
                             const ptq_quant_options *opts, ptq_qmodel **out);
void ptq_qmodel_destroy(ptq_qmodel *q);

/* The QDQ model; owned by q, valid while q lives. */
const ptq_model *ptq_qmodel_model(const ptq_qmodel *q);

/* Writes the QDQ model to path (atomically) and the encodings JSON to path + ".encodings.json"
 * with the extension ".onnx" dropped (OUT.onnx → OUT.encodings.json). PTQ_ERR_INVALID_ARG
 * when path (or the JSON path) names the input model file. */
ptq_status ptq_qmodel_save(const ptq_qmodel *q, const char *path);
/* Path of the encodings JSON for a model path. Caller frees with free(); NULL on failure. */
char *ptq_qmodel_encodings_path(const char *model_path);

/* Encodings JSON (per tensor: scale(s), zero point(s), bits, min/max, axis, profile).
 * Caller frees with free(); NULL on allocation failure. */
char *ptq_qmodel_encodings(const ptq_qmodel *q);

/* Human-readable report: calibration (samples, seed, method, time), every quantized node with
 * its scheme, and every node left in float with the reason. Caller frees with free(). */
char *ptq_qmodel_summary(const ptq_qmodel *q);

typedef struct ptq_qstats {
  int nodes_quantized; /* nodes with int8 weights or int8 inputs */
  int nodes_float;     /* nodes left in float */
  int bn_folded;       /* BatchNormalization nodes folded into their producer */
  int points;          /* activation tensors with a Q/DQ pair */
  int cle_pairs;       /* layer pairs equalized by cross-layer equalization (0: off) */
  int cle_clip_relu;   /* Clip(0, c) (ReLU6) replaced by Relu for it (data-free mode only) */
  int64_t calib_samples;
  double calib_seconds;
} ptq_qstats;
ptq_status ptq_qmodel_stats(const ptq_qmodel *q, ptq_qstats *out);

#ifdef __cplusplus
}
#endif
#endif
