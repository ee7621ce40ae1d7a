/* Internals of calibration PTQ (ptq/quant.h): graph preparation, the quantization plan,
 * calibration and QDQ export. The pipeline, on a model loaded for export:
 *   qprep_fold_bn → [qprep_cle] → qprep_upgrade_opset → qplan_build → qcalib_run (on a second load
 * of the float model, values matched by name) → qplan_resolve → qdq_export. */
#ifndef PTQ_QUANT_QGRAPH_H
#define PTQ_QUANT_QGRAPH_H

#include <stdio.h>

#include "ir/ir.h"
#include "ptq/quant.h"
#include "quant/quantizer.h"

/* Growable text (report lines, JSON). A failed allocation sets `failed`; later appends are
 * ignored. */
typedef struct qbuf {
  char *s;
  size_t len, cap;
  int failed;
} qbuf;
void qbuf_printf(qbuf *b, const char *fmt, ...) PTQ_PRINTF(2, 3);
/* Appends s as a JSON string literal (quotes and escapes). */
void qbuf_json_string(qbuf *b, const char *s);
/* Appends a float that reads back as the same float32 ("%.9g"; non-finite as null). */
void qbuf_json_float(qbuf *b, double x);

/* A backend profile (src/quant/profiles.c, docs/profiles.md): a row of data. */
typedef struct qprofile {
  const char *name;
  const char *backend; /* one line for the summary */
  ptq_qscheme weight;  /* bits 8; per_channel: the default granularity; axis set per node */
  ptq_qscheme act;     /* per tensor */
  int bias_int32;      /* Conv/Gemm biases int32 (scale s_x * s_w, zero point 0), else float */
  int quant_add;       /* Add of two activations: Q/DQ on both inputs, else the Add stays float */
  int share_concat;    /* Concat inputs and output share one scale */
  int share_move;      /* MaxPool/Reshape/Transpose/...: input and output share one scale */
  int w_bits_min, w_bits_max; /* --w-bits accepted */
  unsigned a_bits_mask;       /* --a-bits / a_bits accepted: bit b set for b bits */
  int act16_symmetric;        /* above 8 bits activations are symmetric, zero point 0 (TFLite
                                 16x8: int16 [-32767, 32767]) */
  int keep_ends_8bit; /* below 8 bits, the first and last weighted node keep 8-bit weights */
  int configurable;   /* scheme switches (ptq_qswitch) accepted */
} qprofile;
/* "8-bit symmetric [-127, 127] per-channel in int8" (and ", power-of-two scales") into buf. */
void qscheme_describe(const ptq_qscheme *s, int per_channel, char buf[96]);
/* The ONNX container of a scheme's codes: int8/uint8 up to 8 bits, int16/uint16 above. */
ptq_dtype qscheme_dtype(const ptq_qscheme *s);
/* The profile's activation scheme at `bits` bits (2..16). */
ptq_qscheme qprofile_act_scheme(const qprofile *p, int bits);
/* PTQ_ERR_INVALID_ARG "WHAT N: profile 'P' allows ..." when p does not take N-bit
 * activations. */
ptq_status qprofile_check_a_bits(const qprofile *p, const char *what, int bits);
/* NULL → the ort profile; NULL for unknown names. */
const qprofile *qprofile_find(const char *name);
/* "ort, tensorrt, ..." for messages (static storage). */
const char *qprofile_list(void);
/* The effective profile: *base with o's bits and switches applied. PTQ_ERR_INVALID_ARG naming
 * the option when the profile does not allow it. */
ptq_status qprofile_apply(const qprofile *base, const ptq_quant_options *o, qprofile *out);

/* Per-layer overrides (--config). Fields < 0 keep the default. */
typedef struct qlayer_cfg {
  char *name;
  int w_bits;      /* 2..8 */
  int a_bits;      /* 2..16: bits of the node's input activations */
  int per_channel; /* 0/1 */
  int method;      /* ptq_qmethod: the node's weights (minmax or mse) and its input points */
  int is_float;    /* 1: the node stays float */
} qlayer_cfg;

typedef struct qconfig {
  qlayer_cfg deflt; /* name NULL */
  int cle;          /* top-level "cle": true/false, -1 when absent */
  qlayer_cfg *layers;
  size_t n_layers;
} qconfig;
/* Reads the JSON file: {"default": {...}, "layers": {"NODE": {...}}, "cle": BOOL} with keys
 * w_bits, a_bits
 * (2..16; the profile's set is checked by qplan_build), per_channel, method, float. Errors
 * "PATH:LINE:COL: ..." (PTQ_ERR_PARSE for JSON syntax, PTQ_ERR_INVALID_ARG for unknown keys or bad
 * values). */
ptq_status qconfig_load(const char *path, qconfig *out);
void qconfig_free(qconfig *c);

/* "'x': the model has no node named 'x'" plus up to 3 close matches ("did you mean 'a',
 * 'b'?") by edit distance. PTQ_ERR_INVALID_ARG. */
ptq_status qplan_unknown_node(const ir_graph *g, const char *what, const char *name);

/* BatchNormalization with constant parameters following a Conv, ConvTranspose or Gemm with
 * constant weights whose output has no other use is folded into it:
 *   s = scale / sqrtf(var + eps),  t = B - mean * s   (float32, as BatchNormalization)
 *   w'[.. oc ..] = w[.. oc ..] * s[oc],  b'[oc] = b[oc] * s[oc] + t[oc]  (Gemm: / beta)
 * The producer then writes the BN's output value; the BN node is removed. Other BNs stay
 * float; each gets a line in *report. *folded counts the folded nodes. */
ptq_status qprep_fold_bn(ir_graph *g, int *folded, qbuf *report);
/* s and t of BatchNormalization as above, for c channels. */
void qprep_bn_coeffs(const float *scale, const float *bias, const float *mean, const float *var,
                     float eps, int64_t c, float *s, float *t);

/* Cross-layer equalization (qprep_cle.c; Nagel et al. 2019, DFQ section 4.1) of the float
 * graph: pairs L1 -> [act] -> L2 of Conv (groups and depthwise included) or Gemm with constant
 * weights, where L1's output and act's output are read only by the next node of the pair and
 * are no graph outputs, and act is Relu, LeakyRelu, PRelu or Clip(0, c) (ReLU6, replaced by
 * Relu). L1's output channel i is divided by s_i = sqrt(r1_i / r2_i) and L2's input channel i
 * multiplied by it (r: per-channel max |w|), sweeping all pairs until every s_i of a sweep has
 * |log s_i| <= tol or max_iter sweeps; the result has r1_i = r2_i (the paper's optimum). New
 * weights and biases are new constants. Deterministic: applied to two loads of one model it
 * gives the same graph. One summary line in *report (may be NULL) when pairs were found. */
/* Per-channel statistics of one pair's pre-activation (L1's output, channel axis 1) on the
 * calibration data (qcalib_channel_stats). */
typedef struct qcle_data {
  char *name;
  int64_t c;
  float *min, *max;
  int seen;
} qcle_data;
typedef struct qcle_opts {
  int max_iter; /* sweeps over all pairs (default 1000) */
  double tol;   /* convergence: max |log s_i| of a sweep (default 1e-6) */
  /* NULL: data-free (the paper): Clip(0, c) becomes Relu. Else the cumulative scale S_i of a
   * pair's channel i is bounded so that the float function is unchanged on the calibration
   * data and no activation range grows: Clip(0, c) stays, S_i = 1 where max y_i > c (the
   * channel saturates; Clip(0, c)(y / S) S = Clip(0, c S)(y)), else S_i >= max y_i / c; after
   * Relu/LeakyRelu/PRelu or no activation S_i >= R_i / max_j R_j (R: max |y| per channel, of
   * Relu's output for Relu). */
  const qcle_data *data;
  int n_data;
} qcle_opts;
typedef struct qcle_stats {
  int pairs, chains; /* layer pairs equalized; maximal chains of pairs */
  int clip_relu;     /* Clip(0, c) between two equalized layers replaced by Relu */
  int bounded;       /* channels whose scale a data bound limited (data given) */
  int pinned;        /* channels kept at scale 1: their Clip saturates on the data */
  int iterations;    /* sweeps run */
  double residual;   /* max |log s_i| of the last sweep */
} qcle_stats;
qcle_opts qcle_opts_default(void);
/* The pre-activation values of the pairs qprep_cle(g) would equalize, as qcle_data with
 * min/max allocated for qcalib_channel_stats. *n = 0 and *out = NULL when there are none. */
ptq_status qcle_data_create(const ir_graph *g, qcle_data **out, int *n);
void qcle_data_free(qcle_data *d, int n);
ptq_status qprep_cle(ir_graph *g, const qcle_opts *o, qcle_stats *stats, qbuf *report);

/* Raises the default-domain opset to `target` (13 or 21) when lower (IR version to >= 7, >= 10
 * for 21), converting the ops whose signature changed on the way (Clip < 11, Pad < 11,
 * Slice < 10, Squeeze, Unsqueeze, ReduceSum, Split < 13, Softmax/LogSoftmax/Hardmax < 13 on the
 * last axis, BatchNormalization spatial < 9, Dropout ratio < 12; to >= 18: the other Reduce*
 * take axes as an input, Split without a split input gets num_outputs). Every other op keeps
 * its meaning up to opset 21 except GridSample, DFT (20) and GroupNormalization (21), refused
 * like the ops whose semantics change otherwise: PTQ_ERR_UNSUPPORTED naming the node. Main
 * graph only; subgraphs → PTQ_ERR_UNSUPPORTED. */
ptq_status qprep_upgrade_opset(ptq_model *m, int64_t target, qbuf *report);

/* ------------------------------------------------------------------ plan --- */

typedef enum qkind {
  QK_FLOAT = 0, /* stays float (reads DQ outputs, its outputs may be quantized by consumers) */
  QK_WEIGHTED,  /* Conv, ConvTranspose, Gemm, MatMul with a constant weight */
  QK_ACT,       /* Add of two activations, MatMul of two activations: int8 inputs */
  QK_MOVE,      /* moves values only: input and output share one scale */
  QK_CONCAT,    /* all inputs and the output share one scale */
  QK_FUSED      /* Relu/Clip absorbed by the quantized producer before it */
} qkind;

typedef struct qnode {
  qkind kind;
  int w_input, w_axis; /* QK_WEIGHTED: weight input index, channel axis (-1: per tensor) */
  int w_bits;          /* QK_WEIGHTED: weight bits */
  int w_method;        /* QK_WEIGHTED: ptq_qmethod of the weight range (MSE or else minmax) */
  int a_method;        /* ptq_qmethod of the input points, -1: the global one */
  int a_bits;          /* bits of the input points, 0: the global ones */
  int b_input;         /* QK_WEIGHTED: bias input quantized to int32, or -1 */
  const char *why;     /* QK_FLOAT: reason (static text) */
} qnode;

typedef struct qpoint {
  int value;        /* value index in the export graph */
  int parent;       /* union-find over points: shared-scale classes */
  int calibrated;   /* rmin/rmax hold data */
  float rmin, rmax; /* this tensor's calibrated range; after qplan_resolve the class's */
  int method;       /* ptq_qmethod of its calibrator, -1: the global one */
  int bits;         /* activation bits (2..16); one value per shared-scale class */
  ptq_qparams qp;   /* after qplan_resolve */
} qpoint;

typedef struct qplan {
  qnode *nodes; /* per export-graph node */
  int n_nodes;
  int *point_of; /* per export-graph value: point index or -1 */
  int n_values;
  qpoint *points;
  int n_points, cap_points;
  int per_tensor; /* weights per tensor */
} qplan;

typedef struct qplan_opts {
  const char *const *exclude; /* node names kept float (unknown → PTQ_ERR_INVALID_ARG) */
  size_t n_exclude;
  const qconfig *config; /* may be NULL */
  const qprofile *prof;  /* effective profile */
  int per_tensor;        /* weights per tensor */
  int method;            /* global ptq_qmethod */
} qplan_opts;

/* Classifies every node and places the activation quantization points (float values read
 * by quantized nodes; shared classes through move ops and Concat, as the profile says). */
ptq_status qplan_build(const ir_graph *g, const qplan_opts *o, qplan *p);
void qplan_free(qplan *p);
int qplan_root(qplan *p, int point);
/* Unions the ranges of each class and computes its parameters with the profile's activation
 * scheme at the point's bits. PTQ_ERR_DATA naming a tensor that saw no data. */
ptq_status qplan_resolve(qplan *p, const ir_graph *g, const qprofile *prof);
/* Largest activation bit width the options can ask for (command line, config default and
 * layers): decides the export opset (21 above 8 bits) before the plan is built. */
int qplan_max_a_bits(const qprofile *prof, const qconfig *config);

/* Runs the float model (loaded from model_path with o's overrides) on o->calib_size samples
 * of calib_path drawn with o->seed, feeding one calibrator per point (values matched by name
 * with graph g); sets the points' rmin/rmax. With cle non-NULL the float model is first
 * prepared as the export graph was (qprep_fold_bn, then qprep_cle with *cle) so that
 * calibration sees the equalized model; PTQ_ERR_INTERNAL when that finds another number of
 * pairs than cle_pairs. */
/* Per-channel min/max of the values d[0..n) (by name; axis 1) of the float model after
 * BatchNormalization folding on the same samples as qcalib_run. */
ptq_status qcalib_channel_stats(const char *model_path, const char *calib_path,
                                const ptq_quant_options *o, qcle_data *d, int n);
ptq_status qcalib_run(const char *model_path, const char *calib_path, const ptq_quant_options *o,
                      const qcle_opts *cle, int cle_pairs, const ir_graph *g, qplan *p,
                      int64_t *n_samples, int64_t *n_available);

/* Inserts the Q/DQ pairs and the quantized weights/biases into m (whose graph p was built on),
 * appends the per-tensor encodings to *json (a JSON object body: "name": {...}, ...) and the
 * quantized-node lines to *report. */
ptq_status qdq_export(ptq_model *m, qplan *p, const qprofile *prof, ptq_qmethod method, qbuf *json,
                      qbuf *report);

#endif
