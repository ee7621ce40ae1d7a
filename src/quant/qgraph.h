/* Internals of calibration PTQ (ptq/quant.h): graph preparation, the quantization plan,
 * calibration and QDQ export. The pipeline, on a model loaded for export:
 *   qprep_fold_bn → qprep_upgrade_opset → qplan_build → qcalib_run (on a second load of the
 *   float model, values matched by name) → qplan_resolve → qdq_export. */
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

/* A backend profile: the schemes used for weights, activations and biases. */
typedef struct qprofile {
  const char *name;
  ptq_qscheme weight; /* per_channel/axis set per node */
  ptq_qscheme act;
  /* biases of quantized Conv/Gemm: int32, scale = input scale * weight scale, zero point 0 */
} qprofile;
/* NULL or "ort" → the ort profile; NULL for unknown names. */
const qprofile *qprofile_find(const char *name);

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

/* Raises the default-domain opset to `target` when lower (IR version to >= 7), converting the
 * ops whose signature changed on the way (Clip < 11, Pad < 11, Slice < 10, Squeeze, Unsqueeze,
 * ReduceSum, Split < 13, Softmax/LogSoftmax/Hardmax < 13 on the last axis, BatchNormalization
 * spatial < 9, Dropout ratio < 12). Ops whose semantics change otherwise → PTQ_ERR_UNSUPPORTED
 * naming the node. Main graph only; subgraphs → PTQ_ERR_UNSUPPORTED. */
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
  int b_input;         /* QK_WEIGHTED: bias input quantized to int32, or -1 */
  const char *why;     /* QK_FLOAT: reason (static text) */
} qnode;

typedef struct qpoint {
  int value;        /* value index in the export graph */
  int parent;       /* union-find over points: shared-scale classes */
  int calibrated;   /* rmin/rmax hold data */
  float rmin, rmax; /* this tensor's calibrated range; after qplan_resolve the class's */
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

/* Classifies every node and places the activation quantization points (float values read
 * by quantized nodes; shared classes through move ops and Concat). exclude: node names kept
 * float (unknown name → PTQ_ERR_INVALID_ARG). */
ptq_status qplan_build(const ir_graph *g, const char *const *exclude, size_t n_exclude,
                       int per_tensor, qplan *p);
void qplan_free(qplan *p);
int qplan_root(qplan *p, int point);
/* Unions the ranges of each class and computes its parameters with scheme s. PTQ_ERR_DATA
 * naming a tensor that saw no data. */
ptq_status qplan_resolve(qplan *p, const ir_graph *g, const ptq_qscheme *s);

/* Runs the float model (loaded from model_path with o's overrides) on o->calib_size samples
 * of calib_path drawn with o->seed, feeding one calibrator per point (values matched by name
 * with graph g); sets the points' rmin/rmax. */
ptq_status qcalib_run(const char *model_path, const char *calib_path, const ptq_quant_options *o,
                      const ir_graph *g, qplan *p, int64_t *n_samples, int64_t *n_available);

/* Inserts the Q/DQ pairs and the quantized weights/biases into m (whose graph p was built on),
 * appends the per-tensor encodings to *json (a JSON object body: "name": {...}, ...) and the
 * quantized-node lines to *report. */
ptq_status qdq_export(ptq_model *m, qplan *p, const qprofile *prof, ptq_qmethod method, qbuf *json,
                      qbuf *report);

#endif
