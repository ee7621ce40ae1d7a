#include <math.h>
#include <stdio.h>
#include <string.h>

#include "exec/op.h"

static const op_def *const g_tables[] = {
    op_defs_elementwise, op_defs_shape, op_defs_conv,    op_defs_linear, op_defs_reduce,
    op_defs_resize,      op_defs_rnn,   op_defs_control, op_defs_quant,  op_defs_misc};

const op_def *op_find(const char *op_type, const char *domain, int64_t opset) {
  if (domain && strcmp(domain, OP_INT8_DOMAIN) == 0) {
    for (const op_def *d = op_defs_int8; d->name; d++)
      if (strcmp(d->name, op_type) == 0) return d;
    return NULL;
  }
  if (domain && domain[0] && strcmp(domain, "ai.onnx") != 0) return NULL;
  const op_def *best = NULL;
  for (size_t t = 0; t < sizeof g_tables / sizeof *g_tables; t++)
    for (const op_def *d = g_tables[t]; d->name; d++)
      if (strcmp(d->name, op_type) == 0 && d->since <= opset && (!best || d->since > best->since))
        best = d;
  return best;
}

ptq_status op_fail(const op_ctx *c, ptq_status st, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return ptq_error(st, "%s: %s", ir_node_desc(c->node), msg);
}

void op_set_out(op_ctx *c, int i, ptq_dtype dtype, int rank, const int64_t *dims) {
  ptq_tensor *t = c->out[i];
  if (!t) return;
  t->dtype = dtype;
  t->rank = rank;
  for (int d = 0; d < PTQ_MAX_RANK; d++) t->dims[d] = (rank > 0 && d < rank) ? dims[d] : 0;
}

int op_shape_known(const ptq_tensor *t) {
  if (t->rank < 0) return 0;
  for (int i = 0; i < t->rank; i++)
    if (t->dims[i] < 0) return 0;
  return 1;
}

ptq_status op_axis(const op_ctx *c, int64_t axis, int rank, int *out) {
  if (axis < -rank || axis >= rank || (rank == 0 && axis != 0))
    return op_fail(c, PTQ_ERR_INVALID_MODEL, "axis %lld is out of range for rank %d",
                   (long long)axis, rank);
  *out = (int)(axis < 0 ? axis + rank : axis);
  return PTQ_OK;
}

int op_read_ints(const ptq_tensor *t, int64_t *vals, int64_t max, int64_t *n) {
  if (!t || !t->data || t->rank < 0) return 0;
  int64_t cnt = ptq_tensor_numel(t);
  if (cnt > max) return 0;
  for (int64_t i = 0; i < cnt; i++)
    vals[i] =
        t->dtype == PTQ_DT_INT32 ? ((const int32_t *)t->data)[i] : ((const int64_t *)t->data)[i];
  *n = cnt;
  return 1;
}

int op_read_scalar(const ptq_tensor *t, double *v) {
  if (!t || !t->data || ptq_tensor_numel(t) < 1) return 0;
  *v = op_get(t, 0);
  return 1;
}

ptq_status op_require_dtype(const op_ctx *c, int i, unsigned mask) {
  const ptq_tensor *t = c->in[i];
  if (!t || t->dtype == PTQ_DT_UNDEFINED) return PTQ_OK; /* unknown at load: checked at run */
  if ((unsigned)t->dtype < 32 && (mask & OP_DT(t->dtype))) return PTQ_OK;
  return op_fail(c, PTQ_ERR_UNSUPPORTED, "input %d has unsupported element type %s", i,
                 ptq_dtype_name(t->dtype));
}

ptq_status op_broadcast(const op_ctx *c, const ptq_tensor *a, const ptq_tensor *b, int *rank,
                        int64_t *dims) {
  if (a->rank < 0 || b->rank < 0) {
    *rank = -1;
    return PTQ_OK;
  }
  int r = a->rank > b->rank ? a->rank : b->rank;
  for (int i = 0; i < r; i++) {
    int ia = i - (r - a->rank), ib = i - (r - b->rank);
    int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
    if (da == db)
      dims[i] = da;
    else if (da == 1)
      dims[i] = db;
    else if (db == 1)
      dims[i] = da;
    else if (da < 0)
      dims[i] = db;
    else if (db < 0)
      dims[i] = da;
    else
      return op_fail(c, PTQ_ERR_SHAPE, "shapes cannot be broadcast: dimension %d is %lld vs %lld",
                     i, (long long)da, (long long)db);
  }
  *rank = r;
  return PTQ_OK;
}

void op_strides(int rank, const int64_t *dims, int64_t *strides) {
  int64_t s = 1;
  for (int i = rank - 1; i >= 0; i--) {
    strides[i] = s;
    s *= dims[i];
  }
}

double op_get(const ptq_tensor *t, int64_t i) {
  switch (t->dtype) {
    case PTQ_DT_FLOAT: return ((const float *)t->data)[i];
    case PTQ_DT_DOUBLE: return ((const double *)t->data)[i];
    case PTQ_DT_FLOAT16: return ptq_f16_to_f32(((const uint16_t *)t->data)[i]);
    case PTQ_DT_INT8: return ((const int8_t *)t->data)[i];
    case PTQ_DT_UINT8:
    case PTQ_DT_BOOL: return ((const uint8_t *)t->data)[i];
    case PTQ_DT_INT16: return ((const int16_t *)t->data)[i];
    case PTQ_DT_UINT16: return ((const uint16_t *)t->data)[i];
    case PTQ_DT_INT32: return ((const int32_t *)t->data)[i];
    case PTQ_DT_UINT32: return ((const uint32_t *)t->data)[i];
    case PTQ_DT_INT64: return (double)((const int64_t *)t->data)[i];
    case PTQ_DT_UINT64: return (double)((const uint64_t *)t->data)[i];
    default: return 0;
  }
}

/* Float -> integer conversions saturate (and NaN -> 0) instead of invoking undefined behaviour;
 * ONNX leaves out-of-range casts undefined. */
#define SAT(type, lo, hi) \
  (isnan(v) ? (type)0 : v <= (double)(lo) ? (type)(lo) : v >= (double)(hi) ? (type)(hi) : (type)v)

void op_put(ptq_tensor *t, int64_t i, double v) {
  switch (t->dtype) {
    case PTQ_DT_FLOAT: ((float *)t->data)[i] = (float)v; break;
    case PTQ_DT_DOUBLE: ((double *)t->data)[i] = v; break;
    case PTQ_DT_FLOAT16: ((uint16_t *)t->data)[i] = ptq_f32_to_f16((float)v); break;
    case PTQ_DT_INT8: ((int8_t *)t->data)[i] = SAT(int8_t, INT8_MIN, INT8_MAX); break;
    case PTQ_DT_UINT8: ((uint8_t *)t->data)[i] = SAT(uint8_t, 0, UINT8_MAX); break;
    case PTQ_DT_BOOL: ((uint8_t *)t->data)[i] = v != 0; break;
    case PTQ_DT_INT16: ((int16_t *)t->data)[i] = SAT(int16_t, INT16_MIN, INT16_MAX); break;
    case PTQ_DT_UINT16: ((uint16_t *)t->data)[i] = SAT(uint16_t, 0, UINT16_MAX); break;
    case PTQ_DT_INT32: ((int32_t *)t->data)[i] = SAT(int32_t, INT32_MIN, INT32_MAX); break;
    case PTQ_DT_UINT32: ((uint32_t *)t->data)[i] = SAT(uint32_t, 0, UINT32_MAX); break;
    case PTQ_DT_INT64: ((int64_t *)t->data)[i] = SAT(int64_t, INT64_MIN, INT64_MAX); break;
    case PTQ_DT_UINT64: ((uint64_t *)t->data)[i] = SAT(uint64_t, 0, UINT64_MAX); break;
    default: break;
  }
}
