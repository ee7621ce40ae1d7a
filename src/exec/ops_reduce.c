/* Softmax family, Reduce* and ArgMax/ArgMin (float32; reductions accumulate in double). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "exec/op.h"

/* -------------------------------------------------------------- Softmax --- */

/* Opset < 13: the input is viewed as 2-D [prod(dims[:axis]), prod(dims[axis:])] and softmax
 * runs over the second; opset >= 13: over the single axis. Both reduce to (outer, len, inner). */
static ptq_status softmax_geom(const op_ctx *c, const ptq_tensor *x, int64_t *outer, int64_t *len,
                               int64_t *inner) {
  int axis;
  int64_t def = c->opset >= 13 ? -1 : 1;
  PTQ_TRY(op_axis(c, ir_attr_int(c->node, "axis", def), x->rank, &axis));
  *outer = 1;
  *len = 1;
  *inner = 1;
  for (int i = 0; i < axis; i++) *outer *= x->dims[i];
  if (c->opset >= 13) {
    *len = x->dims[axis];
    for (int i = axis + 1; i < x->rank; i++) *inner *= x->dims[i];
  } else {
    for (int i = axis; i < x->rank; i++) *len *= x->dims[i];
  }
  return PTQ_OK;
}

static ptq_status softmax_infer(op_ctx *c) {
  const ptq_tensor *x = c->in[0];
  PTQ_TRY(op_require_dtype(c, 0, OP_FLOATS));
  if (x->rank >= 0) {
    int axis;
    PTQ_TRY(op_axis(c, ir_attr_int(c->node, "axis", c->opset >= 13 ? -1 : 1), x->rank, &axis));
  }
  op_set_out(c, 0, x->dtype, x->rank, x->dims);
  return PTQ_OK;
}

static ptq_status softmax_run(op_ctx *c) {
  const ptq_tensor *x = c->in[0];
  int64_t outer, len, inner;
  PTQ_TRY(softmax_geom(c, x, &outer, &len, &inner));
  int log = strcmp(c->node->op_type, "LogSoftmax") == 0;
  int hard = strcmp(c->node->op_type, "Hardmax") == 0;
  const float *px = x->data;
  float *py = c->out[0]->data;
#pragma omp parallel for collapse(2) if (outer * inner > 64) schedule(static)
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      const float *src = px + o * len * inner + i;
      float *dst = py + o * len * inner + i;
      float m = -INFINITY;
      int64_t am = 0;
      for (int64_t j = 0; j < len; j++)
        if (src[j * inner] > m) m = src[j * inner], am = j;
      if (hard) {
        for (int64_t j = 0; j < len; j++) dst[j * inner] = j == am ? 1.0f : 0.0f;
        continue;
      }
      float sum = 0;
      for (int64_t j = 0; j < len; j++) {
        float e = expf(src[j * inner] - m);
        dst[j * inner] = e;
        sum += e;
      }
      if (log) {
        float ls = logf(sum);
        for (int64_t j = 0; j < len; j++) dst[j * inner] = src[j * inner] - m - ls;
      } else {
        float inv = 1.0f / sum;
        for (int64_t j = 0; j < len; j++) dst[j * inner] *= inv;
      }
    }
  return PTQ_OK;
}

/* --------------------------------------------------------------- Reduce --- */

typedef enum {
  R_MEAN,
  R_SUM,
  R_MAX,
  R_MIN,
  R_PROD,
  R_L1,
  R_L2,
  R_SUMSQ,
  R_LOGSUM,
  R_LOGSUMEXP
} reduce_kind;

static reduce_kind reduce_of(const char *op) {
  static const char *names[] = {"ReduceMean",   "ReduceSum",      "ReduceMax", "ReduceMin",
                                "ReduceProd",   "ReduceL1",       "ReduceL2",  "ReduceSumSquare",
                                "ReduceLogSum", "ReduceLogSumExp"};
  for (int i = 0; i < 10; i++)
    if (strcmp(op, names[i]) == 0) return (reduce_kind)i;
  return R_MEAN;
}

/* Axes come from the attribute (older opsets) or the second input (ReduceSum 13+, others 18+). */
static ptq_status reduce_axes(op_ctx *c, int rank, int *mask, int *known) {
  int from_input =
      (c->opset >= 18) || (c->opset >= 13 && strcmp(c->node->op_type, "ReduceSum") == 0);
  int64_t axes[2 * PTQ_MAX_RANK], n = 0;
  *known = 1;
  if (from_input) {
    if (c->n_in > 1 && c->in[1]) {
      PTQ_TRY(op_require_dtype(c, 1, OP_DT(PTQ_DT_INT64)));
      if (!op_read_ints(c->in[1], axes, 2 * PTQ_MAX_RANK, &n)) {
        *known = 0;
        return PTQ_OK;
      }
    }
  } else {
    const int64_t *a;
    n = (int64_t)ir_attr_ints(c->node, "axes", &a);
    if (n > 2 * PTQ_MAX_RANK) return op_fail(c, PTQ_ERR_INVALID_MODEL, "too many axes");
    memcpy(axes, a, (size_t)n * sizeof *a);
  }
  int noop = from_input && ir_attr_int(c->node, "noop_with_empty_axes", 0);
  for (int i = 0; i < rank; i++) mask[i] = n == 0 && !noop;
  for (int64_t i = 0; i < n; i++) {
    int a;
    PTQ_TRY(op_axis(c, axes[i], rank, &a));
    mask[a] = 1;
  }
  return PTQ_OK;
}

static ptq_status reduce_infer(op_ctx *c) {
  const ptq_tensor *x = c->in[0];
  PTQ_TRY(op_require_dtype(c, 0, OP_FLOATS));
  int64_t dims[PTQ_MAX_RANK] = {0};
  int mask[PTQ_MAX_RANK], known, keep = (int)ir_attr_int(c->node, "keepdims", 1);
  if (x->rank < 0) {
    op_set_out(c, 0, x->dtype, -1, dims);
    return PTQ_OK;
  }
  PTQ_TRY(reduce_axes(c, x->rank, mask, &known));
  if (!known) {
    for (int i = 0; i < PTQ_MAX_RANK; i++) dims[i] = -1;
    op_set_out(c, 0, x->dtype, keep ? x->rank : -1, dims);
    return PTQ_OK;
  }
  int r = 0;
  for (int i = 0; i < x->rank; i++) {
    if (!mask[i])
      dims[r++] = x->dims[i];
    else if (keep)
      dims[r++] = 1;
  }
  op_set_out(c, 0, x->dtype, r, dims);
  return PTQ_OK;
}

static ptq_status reduce_run(op_ctx *c) {
  const ptq_tensor *x = c->in[0];
  ptq_tensor *y = c->out[0];
  reduce_kind k = reduce_of(c->node->op_type);
  int mask[PTQ_MAX_RANK], known;
  PTQ_TRY(reduce_axes(c, x->rank, mask, &known));
  int64_t xs[PTQ_MAX_RANK], ny = ptq_tensor_numel(y), nx = ptq_tensor_numel(x);
  op_strides(x->rank, x->dims, xs);
  /* output strides over the input's dims (0 on reduced axes) */
  int64_t os[PTQ_MAX_RANK], acc = 1;
  for (int i = x->rank - 1; i >= 0; i--) {
    os[i] = mask[i] ? 0 : acc;
    if (!mask[i]) acc *= x->dims[i];
  }
  double *sum = ptq_calloc((size_t)(ny ? ny : 1), sizeof(double));
  if (!sum) return op_fail(c, PTQ_ERR_NOMEM, "out of memory");
  double init = k == R_MAX ? -INFINITY : k == R_MIN ? INFINITY : k == R_PROD ? 1.0 : 0.0;
  for (int64_t i = 0; i < ny; i++) sum[i] = init;
  double *mx = NULL;
  if (k == R_LOGSUMEXP) { /* max per output first, for stability */
    mx = ptq_malloc((size_t)(ny ? ny : 1) * sizeof(double));
    if (!mx) {
      free(sum);
      return op_fail(c, PTQ_ERR_NOMEM, "out of memory");
    }
    for (int64_t i = 0; i < ny; i++) mx[i] = -INFINITY;
  }
  const float *px = x->data;
  for (int pass = mx ? 0 : 1; pass < 2; pass++)
    for (int64_t i = 0; i < nx; i++) {
      int64_t o = 0, rem = i;
      for (int d = x->rank - 1; d >= 0; d--) {
        o += (rem % x->dims[d]) * os[d];
        rem /= x->dims[d];
      }
      double v = px[i];
      if (pass == 0) {
        if (v > mx[o]) mx[o] = v;
        continue;
      }
      switch (k) {
        case R_MEAN:
        case R_SUM:
        case R_LOGSUM: sum[o] += v; break;
        case R_MAX:
          if (v > sum[o] || isnan(v)) sum[o] = v;
          break;
        case R_MIN:
          if (v < sum[o] || isnan(v)) sum[o] = v;
          break;
        case R_PROD: sum[o] *= v; break;
        case R_L1: sum[o] += fabs(v); break;
        case R_L2:
        case R_SUMSQ: sum[o] += v * v; break;
        case R_LOGSUMEXP: sum[o] += exp(v - mx[o]); break;
      }
    }
  int64_t cnt = ny ? nx / ny : 0;
  float *py = y->data;
  for (int64_t i = 0; i < ny; i++) {
    double v = sum[i];
    switch (k) {
      case R_MEAN: v = cnt ? v / (double)cnt : NAN; break;
      case R_L2: v = sqrt(v); break;
      case R_LOGSUM: v = log(v); break;
      case R_LOGSUMEXP: v = log(v) + mx[i]; break;
      default: break;
    }
    py[i] = (float)v;
  }
  free(sum);
  free(mx);
  return PTQ_OK;
}

/* ------------------------------------------------------- ArgMax/ArgMin --- */

static ptq_status arg_infer(op_ctx *c) {
  const ptq_tensor *x = c->in[0];
  PTQ_TRY(op_require_dtype(c, 0, OP_FLOATS));
  int64_t dims[PTQ_MAX_RANK] = {0};
  if (x->rank < 0) {
    op_set_out(c, 0, PTQ_DT_INT64, -1, dims);
    return PTQ_OK;
  }
  int axis, keep = (int)ir_attr_int(c->node, "keepdims", 1), r = 0;
  PTQ_TRY(op_axis(c, ir_attr_int(c->node, "axis", 0), x->rank, &axis));
  for (int i = 0; i < x->rank; i++) {
    if (i != axis)
      dims[r++] = x->dims[i];
    else if (keep)
      dims[r++] = 1;
  }
  op_set_out(c, 0, PTQ_DT_INT64, r, dims);
  return PTQ_OK;
}

static ptq_status arg_run(op_ctx *c) {
  const ptq_tensor *x = c->in[0];
  int axis, last = (int)ir_attr_int(c->node, "select_last_index", 0);
  int is_max = strcmp(c->node->op_type, "ArgMax") == 0;
  PTQ_TRY(op_axis(c, ir_attr_int(c->node, "axis", 0), x->rank, &axis));
  int64_t outer = 1, len = x->dims[axis], inner = 1;
  for (int i = 0; i < axis; i++) outer *= x->dims[i];
  for (int i = axis + 1; i < x->rank; i++) inner *= x->dims[i];
  const float *px = x->data;
  int64_t *py = c->out[0]->data;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      const float *s = px + o * len * inner + i;
      int64_t best = 0;
      for (int64_t j = 1; j < len; j++) {
        float v = s[j * inner], b = s[best * inner];
        int better = is_max ? (v > b || (last && v == b)) : (v < b || (last && v == b));
        if (better) best = j;
      }
      py[o * inner + i] = best;
    }
  return PTQ_OK;
}

static const char *const A_AXIS[] = {"axis:i", NULL};
static const char *const A_RED[] = {"axes:ints", "keepdims:i", NULL};
static const char *const A_RED18[] = {"keepdims:i", "noop_with_empty_axes:i", NULL};
static const char *const A_ARG[] = {"axis:i", "keepdims:i", "select_last_index:i", NULL};

#define RED(name)                                                    \
  {name, 1, 1, 1, 1, 1, A_RED, reduce_infer, reduce_run, 0, 0, 0}, { \
    name, 18, 1, 2, 1, 1, A_RED18, reduce_infer, reduce_run, 0, 0, 0 \
  }

const op_def op_defs_reduce[] = {
    {"Softmax", 1, 1, 1, 1, 1, A_AXIS, softmax_infer, softmax_run, 0, 0, 0},
    {"LogSoftmax", 1, 1, 1, 1, 1, A_AXIS, softmax_infer, softmax_run, 0, 0, 0},
    {"Hardmax", 1, 1, 1, 1, 1, A_AXIS, softmax_infer, softmax_run, 0, 0, 0},
    RED("ReduceMean"),
    RED("ReduceMax"),
    RED("ReduceMin"),
    RED("ReduceProd"),
    RED("ReduceL1"),
    RED("ReduceL2"),
    RED("ReduceSumSquare"),
    RED("ReduceLogSum"),
    RED("ReduceLogSumExp"),
    {"ReduceSum", 1, 1, 1, 1, 1, A_RED, reduce_infer, reduce_run, 0, 0, 0},
    {"ReduceSum", 13, 1, 2, 1, 1, A_RED18, reduce_infer, reduce_run, 0, 0, 0},
    {"ArgMax", 1, 1, 1, 1, 1, A_ARG, arg_infer, arg_run, 0, 0, 0},
    {"ArgMin", 1, 1, 1, 1, 1, A_ARG, arg_infer, arg_run, 0, 0, 0},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, 0, 0}};
