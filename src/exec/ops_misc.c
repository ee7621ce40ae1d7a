/* Indexing, normalisation and generator ops: GatherElements, GatherND, ScatterElements
 * (and the deprecated Scatter), ScatterND, LayerNormalization, CumSum, TopK, DepthToSpace,
 * SpaceToDepth, Trilu, OneHot, EyeLike, NonZero, CastLike.
 *
 * Indices may be negative (counted from the end of their axis); an index outside the axis
 * fails the run with PTQ_ERR_DATA naming it (onnxruntime fails too; ONNX leaves it undefined).
 * Elements are moved as raw bytes, so the data ops accept every numeric dtype and bool. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "exec/op.h"

static size_t esize(const ptq_tensor *t) {
  return ptq_dtype_size(t->dtype);
}

static int64_t iget(const ptq_tensor *t, int64_t i) {
  return t->dtype == PTQ_DT_INT32 ? ((const int32_t *)t->data)[i] : ((const int64_t *)t->data)[i];
}

/* Normalises index v for an axis of size dim; -1 if out of range. */
static int64_t norm_index(int64_t v, int64_t dim) {
  if (v < 0) v += dim;
  return v >= 0 && v < dim ? v : -1;
}

static ptq_status bad_index(const op_ctx *c, int64_t v, int64_t dim) {
  return op_fail(c, PTQ_ERR_DATA, "index %lld is out of range for a dimension of size %lld",
                 (long long)v, (long long)dim);
}

static void unknown_dims(int64_t *dims) {
  for (int i = 0; i < PTQ_MAX_RANK; i++) dims[i] = -1;
}

/* Element-wise copy of src to dst, same dtype and element count. */
static void copy_all(ptq_tensor *dst, const ptq_tensor *src) {
  memcpy(dst->data, src->data, (size_t)ptq_tensor_numel(src) * esize(src));
}

/* ------------------------------------------------------------ GatherElements --- */

/* out[i0..ir] = data[i0.., indices[i0..ir], ..ir] along axis; out has indices' shape, whose
 * dims other than axis must not exceed data's. */
static ptq_status gel_check(op_ctx *c, int *axis) {
  const ptq_tensor *x = c->in[0], *idx = c->in[1];
  PTQ_TRY(op_require_dtype(c, 1, OP_INTS));
  *axis = -1;
  if (x->rank < 0 || idx->rank < 0) return PTQ_OK;
  if (x->rank < 1) return op_fail(c, PTQ_ERR_SHAPE, "data must have rank >= 1");
  if (idx->rank != x->rank)
    return op_fail(c, PTQ_ERR_SHAPE, "indices have rank %d, data rank %d", idx->rank, x->rank);
  PTQ_TRY(op_axis(c, ir_attr_int(c->node, "axis", 0), x->rank, axis));
  for (int d = 0; d < x->rank; d++)
    if (d != *axis && x->dims[d] >= 0 && idx->dims[d] > x->dims[d])
      return op_fail(c, PTQ_ERR_SHAPE, "indices dimension %d is %lld, data has only %lld", d,
                     (long long)idx->dims[d], (long long)x->dims[d]);
  return PTQ_OK;
}

static ptq_status gel_infer(op_ctx *c) {
  int axis;
  PTQ_TRY(gel_check(c, &axis));
  op_set_out(c, 0, c->in[0]->dtype, c->in[1]->rank, c->in[1]->dims);
  return PTQ_OK;
}

static ptq_status gel_run(op_ctx *c) {
  const ptq_tensor *x = c->in[0], *idx = c->in[1];
  ptq_tensor *y = c->out[0];
  int axis;
  PTQ_TRY(gel_check(c, &axis));
  int r = x->rank;
  int64_t xs[PTQ_MAX_RANK], n = ptq_tensor_numel(idx), coord[PTQ_MAX_RANK] = {0};
  op_strides(r, x->dims, xs);
  size_t es = esize(x);
  for (int64_t i = 0; i < n; i++) {
    int64_t v = iget(idx, i), k = norm_index(v, x->dims[axis]);
    if (k < 0) return bad_index(c, v, x->dims[axis]);
    int64_t off = 0;
    for (int d = 0; d < r; d++) off += (d == axis ? k : coord[d]) * xs[d];
    memcpy((char *)y->data + (size_t)i * es, (const char *)x->data + (size_t)off * es, es);
    for (int d = r - 1; d >= 0 && ++coord[d] == idx->dims[d]; d--) coord[d] = 0;
  }
  return PTQ_OK;
}

/* ------------------------------------------------------------------ GatherND --- */

/* data rank r, indices rank q, batch_dims b: indices[..., :] (last dim k <= r - b) address
 * slices data[batch, i_1..i_k, ...]; out shape indices.shape[:-1] + data.shape[b + k:]. */
static ptq_status gnd_check(op_ctx *c, int64_t *dims, int *rank, int64_t *kk) {
  const ptq_tensor *x = c->in[0], *idx = c->in[1];
  PTQ_TRY(op_require_dtype(c, 1, OP_INTS));
  int64_t b = c->opset >= 12 ? ir_attr_int(c->node, "batch_dims", 0) : 0;
  *rank = -1;
  *kk = -1;
  unknown_dims(dims);
  if (x->rank < 0 || idx->rank < 0) return PTQ_OK;
  int r = x->rank, q = idx->rank;
  if (r < 1 || q < 1) return op_fail(c, PTQ_ERR_SHAPE, "data and indices need rank >= 1");
  if (b < 0 || b >= q || b >= r)
    return op_fail(c, PTQ_ERR_INVALID_MODEL, "batch_dims %lld for ranks %d and %d", (long long)b, r,
                   q);
  for (int d = 0; d < b; d++)
    if (x->dims[d] >= 0 && idx->dims[d] >= 0 && x->dims[d] != idx->dims[d])
      return op_fail(c, PTQ_ERR_SHAPE, "batch dimension %d differs: %lld vs %lld", d,
                     (long long)x->dims[d], (long long)idx->dims[d]);
  int64_t k = idx->dims[q - 1];
  if (k < 0) return PTQ_OK;
  if (k < 1 || k > r - b)
    return op_fail(c, PTQ_ERR_SHAPE, "indices' last dimension %lld must be in 1..%lld",
                   (long long)k, (long long)(r - b));
  int orank = q - 1 + r - (int)b - (int)k;
  if (orank > PTQ_MAX_RANK)
    return op_fail(c, PTQ_ERR_UNSUPPORTED, "output rank %d > %d", orank, PTQ_MAX_RANK);
  int o = 0;
  for (int d = 0; d < q - 1; d++) dims[o++] = idx->dims[d];
  for (int d = (int)(b + k); d < r; d++) dims[o++] = x->dims[d];
  *rank = orank;
  *kk = k;
  return PTQ_OK;
}

static ptq_status gnd_infer(op_ctx *c) {
  int64_t dims[PTQ_MAX_RANK], k;
  int rank;
  PTQ_TRY(gnd_check(c, dims, &rank, &k));
  op_set_out(c, 0, c->in[0]->dtype, rank, dims);
  return PTQ_OK;
}

static ptq_status gnd_run(op_ctx *c) {
  const ptq_tensor *x = c->in[0], *idx = c->in[1];
  ptq_tensor *y = c->out[0];
  int64_t dims[PTQ_MAX_RANK], k;
  int rank;
  PTQ_TRY(gnd_check(c, dims, &rank, &k));
  int b = c->opset >= 12 ? (int)ir_attr_int(c->node, "batch_dims", 0) : 0;
  int r = x->rank, q = idx->rank;
  int64_t xs[PTQ_MAX_RANK], nb = 1, nt = 1, slice = 1;
  op_strides(r, x->dims, xs);
  for (int d = 0; d < b; d++) nb *= x->dims[d];
  for (int d = b; d < q - 1; d++) nt *= idx->dims[d];
  for (int d = (int)(b + k); d < r; d++) slice *= x->dims[d];
  int64_t xbatch = b ? xs[b - 1] : 0;
  size_t es = esize(x), sb = (size_t)slice * es;
  for (int64_t bi = 0; bi < nb; bi++)
    for (int64_t t = 0; t < nt; t++) {
      int64_t base = (bi * nt + t) * k, off = bi * xbatch;
      for (int64_t j = 0; j < k; j++) {
        int64_t v = iget(idx, base + j), dim = x->dims[b + j], ix = norm_index(v, dim);
        if (ix < 0) return bad_index(c, v, dim);
        off += ix * xs[b + j];
      }
      memcpy((char *)y->data + (size_t)(bi * nt + t) * sb, (const char *)x->data + (size_t)off * es,
             sb);
    }
  return PTQ_OK;
}

/* ------------------------------------------------------------ scatter common --- */

typedef enum { RED_NONE, RED_ADD, RED_MUL, RED_MAX, RED_MIN } reduction;

static ptq_status get_reduction(const op_ctx *c, reduction *red) {
  const char *s = ir_attr_string(c->node, "reduction", "none");
  *red = RED_NONE;
  if (strcmp(s, "none") == 0) return PTQ_OK;
  if (strcmp(s, "add") == 0)
    *red = RED_ADD;
  else if (strcmp(s, "mul") == 0)
    *red = RED_MUL;
  else if (c->opset >= 18 && strcmp(s, "max") == 0)
    *red = RED_MAX;
  else if (c->opset >= 18 && strcmp(s, "min") == 0)
    *red = RED_MIN;
  else
    return op_fail(c, PTQ_ERR_INVALID_MODEL, "reduction '%s'", s);
  return PTQ_OK;
}

#define RED_APPLY(T, acc, u)                          \
  do {                                                \
    T *p_ = (T *)(acc);                               \
    T u_ = *(const T *)(u);                           \
    switch (red) {                                    \
      case RED_ADD: *p_ = (T)(*p_ + u_); break;       \
      case RED_MUL: *p_ = (T)(*p_ * u_); break;       \
      case RED_MAX: *p_ = u_ > *p_ ? u_ : *p_; break; \
      case RED_MIN: *p_ = u_ < *p_ ? u_ : *p_; break; \
      default: *p_ = u_; break;                       \
    }                                                 \
  } while (0)

/* out element *o (dtype dt) op= update element *u. Integer add/mul wrap (unsigned maths). */
static void reduce_elem(ptq_dtype dt, reduction red, void *o, const void *u) {
  switch (dt) {
    case PTQ_DT_FLOAT: RED_APPLY(float, o, u); break;
    case PTQ_DT_DOUBLE: RED_APPLY(double, o, u); break;
    case PTQ_DT_INT8:
    case PTQ_DT_UINT8:
    case PTQ_DT_BOOL:
      if (dt == PTQ_DT_INT8 && (red == RED_MAX || red == RED_MIN))
        RED_APPLY(int8_t, o, u);
      else
        RED_APPLY(uint8_t, o, u);
      break;
    case PTQ_DT_INT16:
      if (red == RED_MAX || red == RED_MIN)
        RED_APPLY(int16_t, o, u);
      else
        RED_APPLY(uint16_t, o, u);
      break;
    case PTQ_DT_UINT16: RED_APPLY(uint16_t, o, u); break;
    case PTQ_DT_INT32:
      if (red == RED_MAX || red == RED_MIN)
        RED_APPLY(int32_t, o, u);
      else
        RED_APPLY(uint32_t, o, u);
      break;
    case PTQ_DT_UINT32: RED_APPLY(uint32_t, o, u); break;
    case PTQ_DT_INT64:
      if (red == RED_MAX || red == RED_MIN)
        RED_APPLY(int64_t, o, u);
      else
        RED_APPLY(uint64_t, o, u);
      break;
    case PTQ_DT_UINT64: RED_APPLY(uint64_t, o, u); break;
    case PTQ_DT_FLOAT16: {
      float a = ptq_f16_to_f32(*(uint16_t *)o), b = ptq_f16_to_f32(*(const uint16_t *)u);
      float r = red == RED_ADD   ? a + b
                : red == RED_MUL ? a * b
                : red == RED_MAX ? (b > a ? b : a)
                : red == RED_MIN ? (b < a ? b : a)
                                 : b;
      *(uint16_t *)o = ptq_f32_to_f16(r);
      break;
    }
    default: break;
  }
}

static ptq_status updates_type(op_ctx *c) {
  const ptq_tensor *x = c->in[0], *u = c->in[2];
  if (x->dtype && u->dtype && x->dtype != u->dtype)
    return op_fail(c, PTQ_ERR_INVALID_MODEL, "updates are %s, data is %s", ptq_dtype_name(u->dtype),
                   ptq_dtype_name(x->dtype));
  return PTQ_OK;
}

/* ----------------------------------------------------------- ScatterElements --- */

/* out = data; out[.., indices[i], ..] (op)= updates[i] along axis, in element order (the last
 * of duplicate indices wins without a reduction). updates has indices' shape. */
static ptq_status sel_check(op_ctx *c, int *axis, reduction *red) {
  const ptq_tensor *idx = c->in[1], *u = c->in[2];
  PTQ_TRY(updates_type(c));
  PTQ_TRY(get_reduction(c, red));
  if (idx->rank >= 0 && u->rank >= 0) {
    int same = idx->rank == u->rank;
    for (int d = 0; same && d < idx->rank; d++)
      same = idx->dims[d] < 0 || u->dims[d] < 0 || idx->dims[d] == u->dims[d];
    if (!same) return op_fail(c, PTQ_ERR_SHAPE, "updates and indices differ in shape");
  }
  return gel_check(c, axis); /* data/indices/axis rules are GatherElements' */
}

static ptq_status sel_infer(op_ctx *c) {
  int axis;
  reduction red;
  PTQ_TRY(sel_check(c, &axis, &red));
  op_set_out(c, 0, c->in[0]->dtype, c->in[0]->rank, c->in[0]->dims);
  return PTQ_OK;
}

static ptq_status sel_run(op_ctx *c) {
  const ptq_tensor *x = c->in[0], *idx = c->in[1], *u = c->in[2];
  ptq_tensor *y = c->out[0];
  int axis;
  reduction red;
  PTQ_TRY(sel_check(c, &axis, &red));
  copy_all(y, x);
  int r = x->rank;
  int64_t xs[PTQ_MAX_RANK], n = ptq_tensor_numel(idx), coord[PTQ_MAX_RANK] = {0};
  op_strides(r, x->dims, xs);
  size_t es = esize(x);
  for (int64_t i = 0; i < n; i++) {
    int64_t v = iget(idx, i), k = norm_index(v, x->dims[axis]);
    if (k < 0) return bad_index(c, v, x->dims[axis]);
    int64_t off = 0;
    for (int d = 0; d < r; d++) off += (d == axis ? k : coord[d]) * xs[d];
    reduce_elem(x->dtype, red, (char *)y->data + (size_t)off * es,
                (const char *)u->data + (size_t)i * es);
    for (int d = r - 1; d >= 0 && ++coord[d] == idx->dims[d]; d--) coord[d] = 0;
  }
  return PTQ_OK;
}

/* ---------------------------------------------------------------- ScatterND --- */

/* out = data; for each index tuple t = indices[..., :k]: out[t, ...] (op)= updates[..., ...];
 * updates shape indices.shape[:-1] + data.shape[k:]. */
static ptq_status snd_check(op_ctx *c, reduction *red) {
  const ptq_tensor *x = c->in[0], *idx = c->in[1], *u = c->in[2];
  PTQ_TRY(op_require_dtype(c, 1, OP_INTS));
  PTQ_TRY(updates_type(c));
  PTQ_TRY(get_reduction(c, red));
  if (x->rank < 0 || idx->rank < 0 || u->rank < 0) return PTQ_OK;
  int r = x->rank, q = idx->rank;
  if (r < 1 || q < 1) return op_fail(c, PTQ_ERR_SHAPE, "data and indices need rank >= 1");
  int64_t k = idx->dims[q - 1];
  if (k < 0) return PTQ_OK;
  if (k > r) return op_fail(c, PTQ_ERR_SHAPE, "index tuples of %lld for rank %d", (long long)k, r);
  int ur = q - 1 + r - (int)k;
  int ok = u->rank == ur;
  for (int d = 0; ok && d < ur; d++) {
    int64_t want = d < q - 1 ? idx->dims[d] : x->dims[d - (q - 1) + k];
    ok = want < 0 || u->dims[d] < 0 || u->dims[d] == want;
  }
  if (!ok)
    return op_fail(c, PTQ_ERR_SHAPE,
                   "updates must have shape indices.shape[:-1] + data.shape[%lld:]", (long long)k);
  return PTQ_OK;
}

static ptq_status snd_infer(op_ctx *c) {
  reduction red;
  PTQ_TRY(snd_check(c, &red));
  op_set_out(c, 0, c->in[0]->dtype, c->in[0]->rank, c->in[0]->dims);
  return PTQ_OK;
}

static ptq_status snd_run(op_ctx *c) {
  const ptq_tensor *x = c->in[0], *idx = c->in[1], *u = c->in[2];
  ptq_tensor *y = c->out[0];
  reduction red;
  PTQ_TRY(snd_check(c, &red));
  copy_all(y, x);
  int r = x->rank, q = idx->rank;
  int64_t k = idx->dims[q - 1], xs[PTQ_MAX_RANK], nt = 1, slice = 1;
  op_strides(r, x->dims, xs);
  for (int d = 0; d < q - 1; d++) nt *= idx->dims[d];
  for (int d = (int)k; d < r; d++) slice *= x->dims[d];
  size_t es = esize(x);
  for (int64_t t = 0; t < nt; t++) {
    int64_t off = 0;
    for (int64_t j = 0; j < k; j++) {
      int64_t v = iget(idx, t * k + j), ix = norm_index(v, x->dims[j]);
      if (ix < 0) return bad_index(c, v, x->dims[j]);
      off += ix * xs[j];
    }
    for (int64_t e = 0; e < slice; e++)
      reduce_elem(x->dtype, red, (char *)y->data + (size_t)(off + e) * es,
                  (const char *)u->data + (size_t)(t * slice + e) * es);
  }
  return PTQ_OK;
}

/* ------------------------------------------------------- LayerNormalization --- */

static double fval(const ptq_tensor *t, int64_t i) {
  switch (t->dtype) {
    case PTQ_DT_FLOAT: return ((const float *)t->data)[i];
    case PTQ_DT_DOUBLE: return ((const double *)t->data)[i];
    default: return ptq_f16_to_f32(((const uint16_t *)t->data)[i]);
  }
}

static void fstore(ptq_tensor *t, int64_t i, double v) {
  switch (t->dtype) {
    case PTQ_DT_FLOAT: ((float *)t->data)[i] = (float)v; break;
    case PTQ_DT_DOUBLE: ((double *)t->data)[i] = v; break;
    default: ((uint16_t *)t->data)[i] = ptq_f32_to_f16((float)v); break;
  }
}

#define LN_FLOATS (OP_DT(PTQ_DT_FLOAT) | OP_DT(PTQ_DT_DOUBLE) | OP_DT(PTQ_DT_FLOAT16))

/* Checks that input i (Scale or B) broadcasts to x.dims[axis:] (numpy, one direction). */
static ptq_status ln_param(op_ctx *c, int i, int axis) {
  const ptq_tensor *x = c->in[0], *p = c->n_in > i ? c->in[i] : NULL;
  if (!p) return PTQ_OK;
  PTQ_TRY(op_require_dtype(c, i, LN_FLOATS));
  if (p->dtype && x->dtype && p->dtype != x->dtype)
    return op_fail(c, PTQ_ERR_INVALID_MODEL, "input %d is %s, X is %s", i, ptq_dtype_name(p->dtype),
                   ptq_dtype_name(x->dtype));
  if (p->rank < 0 || x->rank < 0) return PTQ_OK;
  int nr = x->rank - axis;
  if (p->rank > nr)
    return op_fail(c, PTQ_ERR_SHAPE, "input %d has rank %d, more than the %d normalized dims", i,
                   p->rank, nr);
  for (int d = 0; d < p->rank; d++) {
    int64_t pd = p->dims[d], xd = x->dims[x->rank - p->rank + d];
    if (pd >= 0 && xd >= 0 && pd != xd && pd != 1)
      return op_fail(c, PTQ_ERR_SHAPE, "input %d does not broadcast to the normalized shape", i);
  }
  return PTQ_OK;
}

/* Over the trailing dims from axis: mean, var = mean((x - mean)^2) (statistics in double),
 * Y = (x - mean) / sqrt(var + epsilon) * Scale + B; Mean and InvStdDev (float32, shape
 * x.dims[:axis] + 1s) are optional outputs. Only stash_type = 1 (float32). */
static ptq_status ln_check(op_ctx *c, int *axis) {
  const ptq_tensor *x = c->in[0];
  PTQ_TRY(op_require_dtype(c, 0, LN_FLOATS));
  int64_t stash = ir_attr_int(c->node, "stash_type", 1);
  if (stash != 1)
    return op_fail(c, PTQ_ERR_UNSUPPORTED, "stash_type %lld (only 1, float32)", (long long)stash);
  *axis = -1;
  if (x->rank < 0) return PTQ_OK;
  if (x->rank < 1) return op_fail(c, PTQ_ERR_SHAPE, "X must have rank >= 1");
  PTQ_TRY(op_axis(c, ir_attr_int(c->node, "axis", -1), x->rank, axis));
  PTQ_TRY(ln_param(c, 1, *axis));
  PTQ_TRY(ln_param(c, 2, *axis));
  return PTQ_OK;
}

static ptq_status ln_infer(op_ctx *c) {
  const ptq_tensor *x = c->in[0];
  int axis;
  PTQ_TRY(ln_check(c, &axis));
  op_set_out(c, 0, x->dtype, x->rank, x->dims);
  int64_t dims[PTQ_MAX_RANK];
  for (int d = 0; d < PTQ_MAX_RANK; d++) dims[d] = (x->rank >= 0 && d < axis) ? x->dims[d] : 1;
  for (int o = 1; o < c->n_out; o++) op_set_out(c, o, PTQ_DT_FLOAT, x->rank, dims);
  return PTQ_OK;
}

/* Index into a parameter broadcast over the normalized block: element j of the block. */
static int64_t bcast_index(const ptq_tensor *p, const ptq_tensor *x, int axis, int64_t j) {
  int64_t off = 0, stride = 1;
  for (int d = x->rank - 1, pd = p->rank - 1; d >= axis; d--, pd--) {
    int64_t coord = j % x->dims[d];
    j /= x->dims[d];
    if (pd >= 0) {
      if (p->dims[pd] != 1) off += coord * stride;
      stride *= p->dims[pd];
    }
  }
  return off;
}

static ptq_status ln_run(op_ctx *c) {
  const ptq_tensor *x = c->in[0], *sc = c->in[1], *bi = c->n_in > 2 ? c->in[2] : NULL;
  int axis;
  PTQ_TRY(ln_check(c, &axis));
  ptq_tensor *y = c->out[0], *mo = c->n_out > 1 ? c->out[1] : NULL;
  ptq_tensor *io = c->n_out > 2 ? c->out[2] : NULL;
  int64_t outer = 1, len = 1;
  for (int d = 0; d < axis; d++) outer *= x->dims[d];
  for (int d = axis; d < x->rank; d++) len *= x->dims[d];
  double eps = ir_attr_float(c->node, "epsilon", 1e-5f);
  int64_t *si = ptq_malloc((size_t)(len ? len : 1) * 2 * sizeof *si);
  if (!si) return op_fail(c, PTQ_ERR_NOMEM, "out of memory");
  int64_t *bj = si + len;
  for (int64_t j = 0; j < len; j++) {
    si[j] = bcast_index(sc, x, axis, j);
    bj[j] = bi ? bcast_index(bi, x, axis, j) : 0;
  }
  for (int64_t o = 0; o < outer; o++) {
    int64_t base = o * len;
    double mean = 0, var = 0;
    for (int64_t j = 0; j < len; j++) mean += fval(x, base + j);
    mean = len ? mean / (double)len : 0;
    for (int64_t j = 0; j < len; j++) {
      double dv = fval(x, base + j) - mean;
      var += dv * dv;
    }
    var = len ? var / (double)len : 0;
    double inv = 1.0 / sqrt(var + eps);
    if (y)
      for (int64_t j = 0; j < len; j++) {
        double v = (fval(x, base + j) - mean) * inv * fval(sc, si[j]);
        fstore(y, base + j, bi ? v + fval(bi, bj[j]) : v);
      }
    if (mo) ((float *)mo->data)[o] = (float)mean;
    if (io) ((float *)io->data)[o] = (float)inv;
  }
  free(si);
  return PTQ_OK;
}

/* ------------------------------------------------------------------- CumSum --- */

#define CUMSUM_TYPES                                                                          \
  (OP_DT(PTQ_DT_FLOAT) | OP_DT(PTQ_DT_DOUBLE) | OP_DT(PTQ_DT_FLOAT16) | OP_DT(PTQ_DT_INT32) | \
   OP_DT(PTQ_DT_INT64) | OP_DT(PTQ_DT_UINT32) | OP_DT(PTQ_DT_UINT64))

/* axis: a constant or run-time scalar (or one-element 1-D) int32/int64. */
static ptq_status cumsum_axis(op_ctx *c, int *axis) {
  const ptq_tensor *x = c->in[0], *a = c->in[1];
  PTQ_TRY(op_require_dtype(c, 0, CUMSUM_TYPES));
  PTQ_TRY(op_require_dtype(c, 1, OP_INTS));
  if (a->rank > 1 || (a->rank == 1 && a->dims[0] >= 0 && a->dims[0] != 1))
    return op_fail(c, PTQ_ERR_SHAPE, "axis must be a scalar");
  int64_t v, n;
  *axis = -1;
  if (!op_read_ints(a, &v, 1, &n) || x->rank < 0) return PTQ_OK;
  if (x->rank == 0) return op_fail(c, PTQ_ERR_SHAPE, "x must have rank >= 1");
  return op_axis(c, v, x->rank, axis);
}

static ptq_status cumsum_infer(op_ctx *c) {
  int axis;
  PTQ_TRY(cumsum_axis(c, &axis));
  op_set_out(c, 0, c->in[0]->dtype, c->in[0]->rank, c->in[0]->dims);
  return PTQ_OK;
}

#define CUMSUM_LOOP(T, ACC, LOAD, STORE)                       \
  for (int64_t o = 0; o < outer; o++)                          \
    for (int64_t in = 0; in < inner; in++) {                   \
      const T *xp = (const T *)x->data + o * len * inner + in; \
      T *yp = (T *)y->data + o * len * inner + in;             \
      ACC acc = 0;                                             \
      for (int64_t t = 0; t < len; t++) {                      \
        int64_t j = (rev ? len - 1 - t : t) * inner;           \
        ACC v = LOAD(xp[j]);                                   \
        if (excl) {                                            \
          yp[j] = STORE(acc);                                  \
          acc = acc + v;                                       \
        } else {                                               \
          acc = acc + v;                                       \
          yp[j] = STORE(acc);                                  \
        }                                                      \
      }                                                        \
    }

#define ID(v) (v)
#define F16_LOAD(v) ptq_f16_to_f32(v)
/* float16 sums are rounded to float16 at every step, as a float16 accumulator would be */
#define F16_STORE(v) ptq_f32_to_f16(v)

/* Running sums along axis in x's own type (integers wrap); exclusive starts from 0; reverse
 * sums from the end. */
static ptq_status cumsum_run(op_ctx *c) {
  const ptq_tensor *x = c->in[0];
  ptq_tensor *y = c->out[0];
  int axis;
  PTQ_TRY(cumsum_axis(c, &axis));
  if (axis < 0) return op_fail(c, PTQ_ERR_INTERNAL, "axis unknown at run time");
  int excl = ir_attr_int(c->node, "exclusive", 0) != 0;
  int rev = ir_attr_int(c->node, "reverse", 0) != 0;
  int64_t outer = 1, len = x->dims[axis], inner = 1;
  for (int d = 0; d < axis; d++) outer *= x->dims[d];
  for (int d = axis + 1; d < x->rank; d++) inner *= x->dims[d];
  switch (x->dtype) {
    case PTQ_DT_FLOAT: CUMSUM_LOOP(float, float, ID, ID); break;
    case PTQ_DT_DOUBLE: CUMSUM_LOOP(double, double, ID, ID); break;
    case PTQ_DT_INT32: CUMSUM_LOOP(int32_t, uint32_t, (uint32_t), (int32_t)); break;
    case PTQ_DT_UINT32: CUMSUM_LOOP(uint32_t, uint32_t, ID, ID); break;
    case PTQ_DT_INT64: CUMSUM_LOOP(int64_t, uint64_t, (uint64_t), (int64_t)); break;
    case PTQ_DT_UINT64: CUMSUM_LOOP(uint64_t, uint64_t, ID, ID); break;
    case PTQ_DT_FLOAT16:
      for (int64_t o = 0; o < outer; o++)
        for (int64_t in = 0; in < inner; in++) {
          const uint16_t *xp = (const uint16_t *)x->data + o * len * inner + in;
          uint16_t *yp = (uint16_t *)y->data + o * len * inner + in;
          uint16_t acc = 0;
          for (int64_t t = 0; t < len; t++) {
            int64_t j = (rev ? len - 1 - t : t) * inner;
            uint16_t next = F16_STORE(F16_LOAD(acc) + F16_LOAD(xp[j]));
            yp[j] = excl ? acc : next;
            acc = next;
          }
        }
      break;
    default: return op_fail(c, PTQ_ERR_UNSUPPORTED, "type %s", ptq_dtype_name(x->dtype));
  }
  return PTQ_OK;
}

/* --------------------------------------------------------------------- TopK --- */

/* K: attribute k (opset 1) or a one-element int64 input (opset 10+), >= 0 and <= the axis
 * size. Returns -1 in *k when not known yet. */
static ptq_status topk_params(op_ctx *c, int *axis, int64_t *k) {
  const ptq_tensor *x = c->in[0];
  PTQ_TRY(op_require_dtype(c, 0, OP_NUMERIC));
  *k = -1;
  *axis = -1;
  if (c->opset < 10) {
    *k = ir_attr_int(c->node, "k", -1);
    if (!ir_node_attr(c->node, "k")) return op_fail(c, PTQ_ERR_INVALID_MODEL, "k is required");
  } else {
    const ptq_tensor *kt = c->in[1];
    PTQ_TRY(op_require_dtype(c, 1, OP_DT(PTQ_DT_INT64)));
    if (kt->rank >= 0 && op_shape_known(kt) && ptq_tensor_numel(kt) != 1)
      return op_fail(c, PTQ_ERR_SHAPE, "K must have one element");
    int64_t n;
    if (!op_read_ints(kt, k, 1, &n))
      *k = -1;
    else if (*k < 0)
      return op_fail(c, PTQ_ERR_DATA, "K = %lld is negative", (long long)*k);
  }
  if (c->opset < 10 && *k < 0)
    return op_fail(c, PTQ_ERR_INVALID_MODEL, "k = %lld is negative", (long long)*k);
  if (x->rank < 0) return PTQ_OK;
  if (x->rank == 0) return op_fail(c, PTQ_ERR_SHAPE, "X must have rank >= 1");
  PTQ_TRY(op_axis(c, ir_attr_int(c->node, "axis", -1), x->rank, axis));
  if (*k >= 0 && x->dims[*axis] >= 0 && *k > x->dims[*axis])
    return op_fail(c, PTQ_ERR_DATA, "K = %lld is larger than the axis size %lld", (long long)*k,
                   (long long)x->dims[*axis]);
  return PTQ_OK;
}

static ptq_status topk_infer(op_ctx *c) {
  const ptq_tensor *x = c->in[0];
  int axis;
  int64_t k, dims[PTQ_MAX_RANK];
  PTQ_TRY(topk_params(c, &axis, &k));
  memcpy(dims, x->dims, sizeof dims);
  if (axis >= 0) dims[axis] = k;
  op_set_out(c, 0, x->dtype, x->rank, dims);
  op_set_out(c, 1, PTQ_DT_INT64, x->rank, dims);
  return PTQ_OK;
}

typedef struct topk_item {
  double f;    /* value (floating types) */
  int64_t i;   /* value (integer types) */
  int64_t idx; /* position along the axis */
} topk_item;

/* NaN orders above every number (numpy's sort); equal values by lower index first. */
static int cmp_desc_f(const void *pa, const void *pb) {
  const topk_item *a = pa, *b = pb;
  int na = isnan(a->f), nb = isnan(b->f);
  if (na != nb) return na ? -1 : 1;
  if (!na && a->f != b->f) return a->f > b->f ? -1 : 1;
  return a->idx < b->idx ? -1 : a->idx > b->idx;
}
static int cmp_asc_f(const void *pa, const void *pb) {
  const topk_item *a = pa, *b = pb;
  int na = isnan(a->f), nb = isnan(b->f);
  if (na != nb) return na ? 1 : -1;
  if (!na && a->f != b->f) return a->f < b->f ? -1 : 1;
  return a->idx < b->idx ? -1 : a->idx > b->idx;
}
static int cmp_desc_i(const void *pa, const void *pb) {
  const topk_item *a = pa, *b = pb;
  if (a->i != b->i) return a->i > b->i ? -1 : 1;
  return a->idx < b->idx ? -1 : a->idx > b->idx;
}
static int cmp_asc_i(const void *pa, const void *pb) {
  const topk_item *a = pa, *b = pb;
  if (a->i != b->i) return a->i < b->i ? -1 : 1;
  return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* The k largest (or smallest) along axis, in sorted order (also for sorted = 0, where ONNX
 * leaves the order open), ties by lower index as onnxruntime. uint64 values above 2^63 are
 * ordered as int64. */
static ptq_status topk_run(op_ctx *c) {
  const ptq_tensor *x = c->in[0];
  ptq_tensor *yv = c->out[0], *yi = c->n_out > 1 ? c->out[1] : NULL;
  int axis;
  int64_t k;
  PTQ_TRY(topk_params(c, &axis, &k));
  int largest = c->opset < 11 || ir_attr_int(c->node, "largest", 1) != 0;
  int isint = x->dtype != PTQ_DT_FLOAT && x->dtype != PTQ_DT_DOUBLE && x->dtype != PTQ_DT_FLOAT16;
  int64_t outer = 1, len = x->dims[axis], inner = 1;
  for (int d = 0; d < axis; d++) outer *= x->dims[d];
  for (int d = axis + 1; d < x->rank; d++) inner *= x->dims[d];
  topk_item *it = ptq_malloc((size_t)(len ? len : 1) * sizeof *it);
  if (!it) return op_fail(c, PTQ_ERR_NOMEM, "out of memory");
  size_t es = esize(x);
  int (*cmp)(const void *, const void *) =
      isint ? (largest ? cmp_desc_i : cmp_asc_i) : (largest ? cmp_desc_f : cmp_asc_f);
  for (int64_t o = 0; o < outer; o++)
    for (int64_t in = 0; in < inner; in++) {
      for (int64_t j = 0; j < len; j++) {
        int64_t src = (o * len + j) * inner + in;
        it[j].idx = j;
        if (isint) {
          it[j].i = x->dtype == PTQ_DT_INT64 || x->dtype == PTQ_DT_UINT64
                        ? ((const int64_t *)x->data)[src]
                        : (int64_t)op_get(x, src);
        } else {
          it[j].f = op_get(x, src);
        }
      }
      qsort(it, (size_t)len, sizeof *it, cmp);
      for (int64_t j = 0; j < k; j++) {
        int64_t dst = (o * k + j) * inner + in, src = (o * len + it[j].idx) * inner + in;
        if (yv)
          memcpy((char *)yv->data + (size_t)dst * es, (const char *)x->data + (size_t)src * es, es);
        if (yi) ((int64_t *)yi->data)[dst] = it[j].idx;
      }
    }
  free(it);
  return PTQ_OK;
}

/* ------------------------------------------------- DepthToSpace/SpaceToDepth --- */

static int is_d2s(const op_ctx *c) {
  return strcmp(c->node->op_type, "DepthToSpace") == 0;
}

/* DepthToSpace: [N, C, H, W] -> [N, C / b^2, H b, W b]; DCR: channel (i b + j) C' + c, CRD:
 * c b^2 + i b + j feed output (c, h b + i, w b + j). SpaceToDepth is DCR's inverse. */
static ptq_status d2s_params(op_ctx *c, int64_t *b, int *crd, int64_t *dims) {
  const ptq_tensor *x = c->in[0];
  *b = ir_attr_int(c->node, "blocksize", 0);
  if (!ir_node_attr(c->node, "blocksize") || *b < 1)
    return op_fail(c, PTQ_ERR_INVALID_MODEL, "blocksize must be given and >= 1");
  const char *mode = ir_attr_string(c->node, "mode", "DCR");
  *crd = strcmp(mode, "CRD") == 0;
  if (is_d2s(c) && !*crd && strcmp(mode, "DCR") != 0)
    return op_fail(c, PTQ_ERR_INVALID_MODEL, "mode '%s'", mode);
  unknown_dims(dims);
  if (x->rank < 0) return PTQ_OK;
  if (x->rank != 4) return op_fail(c, PTQ_ERR_SHAPE, "input must have rank 4, not %d", x->rank);
  int64_t bb = *b * *b;
  dims[0] = x->dims[0];
  if (is_d2s(c)) {
    if (x->dims[1] >= 0 && x->dims[1] % bb)
      return op_fail(c, PTQ_ERR_SHAPE, "%lld channels are not divisible by blocksize^2 = %lld",
                     (long long)x->dims[1], (long long)bb);
    dims[1] = x->dims[1] >= 0 ? x->dims[1] / bb : -1;
    dims[2] = x->dims[2] >= 0 ? x->dims[2] * *b : -1;
    dims[3] = x->dims[3] >= 0 ? x->dims[3] * *b : -1;
  } else {
    for (int d = 2; d < 4; d++)
      if (x->dims[d] >= 0 && x->dims[d] % *b)
        return op_fail(c, PTQ_ERR_SHAPE, "dimension %d (%lld) is not divisible by blocksize %lld",
                       d, (long long)x->dims[d], (long long)*b);
    dims[1] = x->dims[1] >= 0 ? x->dims[1] * bb : -1;
    dims[2] = x->dims[2] >= 0 ? x->dims[2] / *b : -1;
    dims[3] = x->dims[3] >= 0 ? x->dims[3] / *b : -1;
  }
  return PTQ_OK;
}

static ptq_status d2s_infer(op_ctx *c) {
  int64_t b, dims[PTQ_MAX_RANK];
  int crd;
  PTQ_TRY(d2s_params(c, &b, &crd, dims));
  op_set_out(c, 0, c->in[0]->dtype, c->in[0]->rank < 0 ? -1 : 4, dims);
  return PTQ_OK;
}

static ptq_status d2s_run(op_ctx *c) {
  const ptq_tensor *x = c->in[0];
  ptq_tensor *y = c->out[0];
  int64_t b, dims[PTQ_MAX_RANK];
  int crd;
  PTQ_TRY(d2s_params(c, &b, &crd, dims));
  int d2s = is_d2s(c);
  /* (n, c, h, w) index the space-side tensor, (n, cd, hd, wd) the depth side */
  const ptq_tensor *sp = d2s ? y : x;
  int64_t N = sp->dims[0], C = sp->dims[1], H = sp->dims[2], W = sp->dims[3];
  int64_t Cd = C * b * b, Hd = H / b, Wd = W / b;
  size_t es = esize(x);
  for (int64_t n = 0; n < N; n++)
    for (int64_t ch = 0; ch < C; ch++)
      for (int64_t h = 0; h < H; h++)
        for (int64_t w = 0; w < W; w++) {
          int64_t i = h % b, j = w % b;
          int64_t cd = crd ? ch * b * b + i * b + j : (i * b + j) * C + ch;
          int64_t si = ((n * C + ch) * H + h) * W + w;
          int64_t di = ((n * Cd + cd) * Hd + h / b) * Wd + w / b;
          if (d2s)
            memcpy((char *)y->data + (size_t)si * es, (const char *)x->data + (size_t)di * es, es);
          else
            memcpy((char *)y->data + (size_t)di * es, (const char *)x->data + (size_t)si * es, es);
        }
  return PTQ_OK;
}

/* -------------------------------------------------------------------- Trilu --- */

static ptq_status trilu_check(op_ctx *c) {
  const ptq_tensor *x = c->in[0], *k = c->n_in > 1 ? c->in[1] : NULL;
  PTQ_TRY(op_require_dtype(c, 0, OP_ANY));
  if (x->rank >= 0 && x->rank < 2) return op_fail(c, PTQ_ERR_SHAPE, "input must have rank >= 2");
  if (k) {
    PTQ_TRY(op_require_dtype(c, 1, OP_DT(PTQ_DT_INT64)));
    if (op_shape_known(k) && ptq_tensor_numel(k) != 1)
      return op_fail(c, PTQ_ERR_SHAPE, "k must be a scalar");
  }
  return PTQ_OK;
}

static ptq_status trilu_infer(op_ctx *c) {
  PTQ_TRY(trilu_check(c));
  op_set_out(c, 0, c->in[0]->dtype, c->in[0]->rank, c->in[0]->dims);
  return PTQ_OK;
}

/* Keeps element (i, j) of each trailing matrix where j - i >= k (upper) or j - i <= k
 * (lower); zeroes the rest. */
static ptq_status trilu_run(op_ctx *c) {
  const ptq_tensor *x = c->in[0];
  ptq_tensor *y = c->out[0];
  PTQ_TRY(trilu_check(c));
  int64_t k = 0, n;
  if (c->n_in > 1 && c->in[1]) op_read_ints(c->in[1], &k, 1, &n);
  int upper = ir_attr_int(c->node, "upper", 1) != 0;
  int64_t rows = x->dims[x->rank - 2], cols = x->dims[x->rank - 1];
  k = k < -rows ? -rows : k > cols ? cols : k; /* same result, no overflow in j - i vs k */
  int64_t mats = rows > 0 && cols > 0 ? ptq_tensor_numel(x) / (rows * cols) : 0;
  size_t es = esize(x);
  copy_all(y, x);
  for (int64_t m = 0; m < mats; m++)
    for (int64_t i = 0; i < rows; i++)
      for (int64_t j = 0; j < cols; j++) {
        int keep = upper ? j - i >= k : j - i <= k;
        if (!keep) memset((char *)y->data + (size_t)((m * rows + i) * cols + j) * es, 0, es);
      }
  return PTQ_OK;
}

/* ------------------------------------------------------------------- OneHot --- */

/* out rank r + 1 with depth inserted at axis; out[..., idx, ...] = values[1] where idx is the
 * index (non-integer indices truncate to int64; from opset 11 negative ones count from depth),
 * values[0] elsewhere; indices outside [0, depth) give an all-off row. */
static ptq_status onehot_params(op_ctx *c, int *axis, int64_t *depth) {
  const ptq_tensor *idx = c->in[0], *dt = c->in[1], *val = c->in[2];
  PTQ_TRY(op_require_dtype(c, 0, OP_NUMERIC));
  PTQ_TRY(op_require_dtype(c, 1, OP_NUMERIC));
  PTQ_TRY(op_require_dtype(c, 2, OP_ANY));
  if (op_shape_known(dt) && (dt->rank > 1 || ptq_tensor_numel(dt) != 1))
    return op_fail(c, PTQ_ERR_SHAPE, "depth must be a scalar");
  if (val->rank >= 0 && (val->rank != 1 || (val->dims[0] >= 0 && val->dims[0] != 2)))
    return op_fail(c, PTQ_ERR_SHAPE, "values must be 1-D with two elements (off, on)");
  double dv;
  *depth = -1;
  if (op_read_scalar(dt, &dv)) {
    if (!(dv >= 1) || dv > 1e12)
      return op_fail(c, PTQ_ERR_DATA, "depth %g must be a positive integer", dv);
    *depth = (int64_t)dv;
  }
  *axis = -1;
  if (idx->rank < 0) return PTQ_OK;
  if (idx->rank + 1 > PTQ_MAX_RANK)
    return op_fail(c, PTQ_ERR_UNSUPPORTED, "output rank %d > %d", idx->rank + 1, PTQ_MAX_RANK);
  return op_axis(c, ir_attr_int(c->node, "axis", -1), idx->rank + 1, axis);
}

static ptq_status onehot_infer(op_ctx *c) {
  const ptq_tensor *idx = c->in[0];
  int axis;
  int64_t depth, dims[PTQ_MAX_RANK];
  PTQ_TRY(onehot_params(c, &axis, &depth));
  unknown_dims(dims);
  if (idx->rank >= 0)
    for (int d = 0, s = 0; d <= idx->rank; d++) dims[d] = d == axis ? depth : idx->dims[s++];
  op_set_out(c, 0, c->in[2]->dtype, idx->rank < 0 ? -1 : idx->rank + 1, dims);
  return PTQ_OK;
}

static ptq_status onehot_run(op_ctx *c) {
  const ptq_tensor *idx = c->in[0], *val = c->in[2];
  ptq_tensor *y = c->out[0];
  int axis;
  int64_t depth;
  PTQ_TRY(onehot_params(c, &axis, &depth));
  int64_t inner = 1, n = ptq_tensor_numel(idx), total = ptq_tensor_numel(y);
  for (int d = axis; d < idx->rank; d++) inner *= idx->dims[d];
  size_t es = esize(y);
  for (int64_t i = 0; i < total; i++) memcpy((char *)y->data + (size_t)i * es, val->data, es);
  int is_int =
      idx->dtype != PTQ_DT_FLOAT && idx->dtype != PTQ_DT_DOUBLE && idx->dtype != PTQ_DT_FLOAT16;
  for (int64_t i = 0; i < n; i++) {
    int64_t v;
    if (idx->dtype == PTQ_DT_INT64 || idx->dtype == PTQ_DT_UINT64) {
      v = ((const int64_t *)idx->data)[i];
    } else {
      double f = op_get(idx, i);
      if (!is_int && !(f > -9e18 && f < 9e18)) continue;
      v = (int64_t)f;
    }
    if (v < 0 && c->opset >= 11) v += depth;
    if (v < 0 || v >= depth) continue;
    int64_t o = i / inner, in = i % inner;
    memcpy((char *)y->data + (size_t)((o * depth + v) * inner + in) * es,
           (const char *)val->data + es, es);
  }
  return PTQ_OK;
}

/* ------------------------------------------------------------------ EyeLike --- */

static ptq_status eyelike_type(op_ctx *c, ptq_dtype *dt) {
  const ptq_tensor *x = c->in[0];
  PTQ_TRY(op_require_dtype(c, 0, OP_ANY));
  if (x->rank >= 0 && x->rank != 2)
    return op_fail(c, PTQ_ERR_SHAPE, "input must be 2-D, not rank %d", x->rank);
  int64_t t = ir_attr_int(c->node, "dtype", 0);
  if (!ir_node_attr(c->node, "dtype")) t = x->dtype;
  if (t != 0 && (t < 0 || t > 31 || !(OP_ANY & OP_DT(t))))
    return op_fail(c, PTQ_ERR_UNSUPPORTED, "dtype %lld", (long long)t);
  *dt = (ptq_dtype)t;
  return PTQ_OK;
}

static ptq_status eyelike_infer(op_ctx *c) {
  ptq_dtype dt = PTQ_DT_UNDEFINED;
  PTQ_TRY(eyelike_type(c, &dt));
  op_set_out(c, 0, dt, c->in[0]->rank, c->in[0]->dims);
  return PTQ_OK;
}

/* Ones where column = row + k, zeros elsewhere. */
static ptq_status eyelike_run(op_ctx *c) {
  ptq_tensor *y = c->out[0];
  int64_t k = ir_attr_int(c->node, "k", 0), rows = y->dims[0], cols = y->dims[1];
  memset(y->data, 0, (size_t)(rows * cols) * esize(y));
  for (int64_t i = 0; i < rows; i++) {
    if (k > cols || k < -rows) break;
    int64_t j = i + k;
    if (j >= 0 && j < cols) op_put(y, i * cols + j, 1.0);
  }
  return PTQ_OK;
}

/* ------------------------------------------------------------------ NonZero --- */

/* int64 [rank, count] of the coordinates of non-zero elements (NaN counts), in row-major
 * order; a scalar is treated as one element of a 1-D tensor (onnxruntime: [1, count]). The
 * count is data-dependent, so run allocates the output. */
static ptq_status nonzero_infer(op_ctx *c) {
  const ptq_tensor *x = c->in[0];
  PTQ_TRY(op_require_dtype(c, 0, OP_ANY));
  int64_t dims[2] = {x->rank < 0 ? -1 : x->rank == 0 ? 1 : x->rank, -1};
  op_set_out(c, 0, PTQ_DT_INT64, 2, dims);
  return PTQ_OK;
}

static int is_nonzero(const ptq_tensor *t, int64_t i) {
  size_t es = esize(t);
  if (t->dtype == PTQ_DT_FLOAT || t->dtype == PTQ_DT_DOUBLE || t->dtype == PTQ_DT_FLOAT16)
    return op_get(t, i) != 0; /* -0.0 is zero */
  const unsigned char *p = (const unsigned char *)t->data + (size_t)i * es;
  for (size_t b = 0; b < es; b++)
    if (p[b]) return 1;
  return 0;
}

static ptq_status nonzero_run(op_ctx *c) {
  const ptq_tensor *x = c->in[0];
  PTQ_TRY(op_require_dtype(c, 0, OP_ANY));
  int r = x->rank ? x->rank : 1;
  int64_t n = ptq_tensor_numel(x), cnt = 0;
  for (int64_t i = 0; i < n; i++) cnt += is_nonzero(x, i);
  int64_t dims[2] = {r, cnt};
  ptq_tensor *y;
  ptq_status st = ptq_tensor_create(PTQ_DT_INT64, 2, dims, &y);
  if (st != PTQ_OK) return ptq_error_prefix(st, "%s: ", ir_node_desc(c->node));
  int64_t *yd = y->data, coord[PTQ_MAX_RANK] = {0}, j = 0;
  for (int64_t i = 0; i < n; i++) {
    if (is_nonzero(x, i)) {
      for (int d = 0; d < r; d++) yd[d * cnt + j] = coord[d];
      j++;
    }
    for (int d = x->rank - 1; d >= 0 && ++coord[d] == x->dims[d]; d--) coord[d] = 0;
  }
  if (c->out[0]) ptq_tensor_destroy(c->out[0]);
  c->out[0] = y;
  return PTQ_OK;
}

/* ----------------------------------------------------------------- CastLike --- */

/* Cast to target_type's element type, as Cast: float -> integer saturates (NaN -> 0),
 * int64 -> int32 wraps. */
static ptq_status castlike_infer(op_ctx *c) {
  PTQ_TRY(op_require_dtype(c, 0, OP_ANY));
  PTQ_TRY(op_require_dtype(c, 1, OP_ANY));
  op_set_out(c, 0, c->in[1]->dtype, c->in[0]->rank, c->in[0]->dims);
  return PTQ_OK;
}

static ptq_status castlike_run(op_ctx *c) {
  const ptq_tensor *x = c->in[0];
  ptq_tensor *y = c->out[0];
  int64_t n = ptq_tensor_numel(x);
  if (x->dtype == y->dtype) {
    copy_all(y, x);
    return PTQ_OK;
  }
  int xi = x->dtype == PTQ_DT_INT64 || x->dtype == PTQ_DT_INT32,
      yi = y->dtype == PTQ_DT_INT64 || y->dtype == PTQ_DT_INT32;
  if (xi && yi) { /* exact integer path (int64 does not fit a double) */
    for (int64_t i = 0; i < n; i++) {
      int64_t v = iget(x, i);
      if (y->dtype == PTQ_DT_INT64)
        ((int64_t *)y->data)[i] = v;
      else
        ((int32_t *)y->data)[i] = (int32_t)v;
    }
    return PTQ_OK;
  }
  for (int64_t i = 0; i < n; i++) op_put(y, i, op_get(x, i));
  return PTQ_OK;
}

/* -------------------------------------------------------------------- table --- */

static const char *const A_NONE[] = {NULL};
static const char *const A_AXIS[] = {"axis:i", NULL};
static const char *const A_BATCH[] = {"batch_dims:i", NULL};
static const char *const A_SCATTER16[] = {"axis:i", "reduction:s", NULL};
static const char *const A_RED[] = {"reduction:s", NULL};
static const char *const A_LN[] = {"axis:i", "epsilon:f", "stash_type:i", NULL};
static const char *const A_CUMSUM[] = {"exclusive:i", "reverse:i", NULL};
static const char *const A_TOPK1[] = {"axis:i", "k:i", NULL};
static const char *const A_TOPK11[] = {"axis:i", "largest:i", "sorted:i", NULL};
static const char *const A_BLOCK[] = {"blocksize:i", NULL};
static const char *const A_D2S[] = {"blocksize:i", "mode:s", NULL};
static const char *const A_TRILU[] = {"upper:i", NULL};
static const char *const A_EYE[] = {"dtype:i", "k:i", NULL};
static const char *const A_SAT[] = {"saturate:i", NULL};

const op_def op_defs_misc[] = {
    {"GatherElements", 11, 2, 2, 1, 1, A_AXIS, gel_infer, gel_run, 0, 0, 0},
    {"GatherND", 11, 2, 2, 1, 1, A_NONE, gnd_infer, gnd_run, 0, 0, 0},
    {"GatherND", 12, 2, 2, 1, 1, A_BATCH, gnd_infer, gnd_run, 0, 0, 0},
    {"Scatter", 9, 3, 3, 1, 1, A_AXIS, sel_infer, sel_run, 0, 0, 0},
    {"ScatterElements", 11, 3, 3, 1, 1, A_AXIS, sel_infer, sel_run, 0, 0, 0},
    {"ScatterElements", 16, 3, 3, 1, 1, A_SCATTER16, sel_infer, sel_run, 0, 0, 0},
    {"ScatterND", 11, 3, 3, 1, 1, A_NONE, snd_infer, snd_run, 0, 0, 0},
    {"ScatterND", 16, 3, 3, 1, 1, A_RED, snd_infer, snd_run, 0, 0, 0},
    {"LayerNormalization", 17, 2, 3, 1, 3, A_LN, ln_infer, ln_run, 0, 0, 0},
    {"CumSum", 11, 2, 2, 1, 1, A_CUMSUM, cumsum_infer, cumsum_run, 0, 0, 0},
    {"TopK", 1, 1, 1, 2, 2, A_TOPK1, topk_infer, topk_run, 0, 0, 0},
    {"TopK", 10, 2, 2, 2, 2, A_AXIS, topk_infer, topk_run, 0, 0, 0},
    {"TopK", 11, 2, 2, 2, 2, A_TOPK11, topk_infer, topk_run, 0, 0, 0},
    {"DepthToSpace", 1, 1, 1, 1, 1, A_BLOCK, d2s_infer, d2s_run, 0, 0, 0},
    {"DepthToSpace", 11, 1, 1, 1, 1, A_D2S, d2s_infer, d2s_run, 0, 0, 0},
    {"SpaceToDepth", 1, 1, 1, 1, 1, A_BLOCK, d2s_infer, d2s_run, 0, 0, 0},
    {"Trilu", 14, 1, 2, 1, 1, A_TRILU, trilu_infer, trilu_run, 0, 0, 0},
    {"OneHot", 9, 3, 3, 1, 1, A_AXIS, onehot_infer, onehot_run, 0, 0, 0},
    {"EyeLike", 9, 1, 1, 1, 1, A_EYE, eyelike_infer, eyelike_run, 0, 0, 0},
    {"NonZero", 9, 1, 1, 1, 1, A_NONE, nonzero_infer, nonzero_run, 1, 0, 0},
    {"CastLike", 15, 2, 2, 1, 1, A_NONE, castlike_infer, castlike_run, 0, 0, 0},
    {"CastLike", 19, 2, 2, 1, 1, A_SAT, castlike_infer, castlike_run, 0, 0, 0},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, 0, 0}};
