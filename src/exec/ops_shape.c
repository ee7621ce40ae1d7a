/* Ops that move, select or create values without arithmetic: Reshape, Flatten, Transpose,
 * Squeeze, Unsqueeze, Slice, Gather, Shape, Size, Concat, Split, Cast, Constant,
 * ConstantOfShape, Identity, Dropout, Pad, Expand, Tile, Range. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "exec/op.h"

static size_t nbytes(const ptq_tensor *t) {
  return (size_t)ptq_tensor_numel(t) * ptq_dtype_size(t->dtype);
}

static ptq_status copy_run(op_ctx *c) {
  if (c->out[0]) memcpy(c->out[0]->data, c->in[0]->data, nbytes(c->in[0]));
  return PTQ_OK;
}

/* ------------------------------------------------------------- Identity --- */

static ptq_status identity_infer(op_ctx *c) {
  op_set_out(c, 0, c->in[0]->dtype, c->in[0]->rank, c->in[0]->dims);
  return PTQ_OK;
}

static ptq_status dropout_infer(op_ctx *c) {
  if (c->opset >= 12 && c->n_in > 2 && c->in[2]) {
    double training;
    if (!op_read_scalar(c->in[2], &training))
      return op_fail(c, PTQ_ERR_UNSUPPORTED, "training_mode must be a constant");
    if (training != 0) return op_fail(c, PTQ_ERR_UNSUPPORTED, "training_mode=true");
  }
  if (c->opset < 7 && ir_attr_int(c->node, "is_test", 1) == 0)
    return op_fail(c, PTQ_ERR_UNSUPPORTED, "is_test=0");
  op_set_out(c, 0, c->in[0]->dtype, c->in[0]->rank, c->in[0]->dims);
  if (c->n_out > 1) op_set_out(c, 1, PTQ_DT_BOOL, c->in[0]->rank, c->in[0]->dims);
  return PTQ_OK;
}

static ptq_status dropout_run(op_ctx *c) {
  copy_run(c);
  if (c->n_out > 1 && c->out[1]) memset(c->out[1]->data, 1, nbytes(c->out[1]));
  return PTQ_OK;
}

/* -------------------------------------------------------------- Reshape --- */

static ptq_status reshape_infer(op_ctx *c) {
  const ptq_tensor *x = c->in[0];
  int64_t shape[PTQ_MAX_RANK], n;
  int allowzero = (int)ir_attr_int(c->node, "allowzero", 0);
  if (c->in[1]->rank != 1 && c->in[1]->rank >= 0)
    return op_fail(c, PTQ_ERR_INVALID_MODEL, "shape must be 1-D");
  PTQ_TRY(op_require_dtype(c, 1, OP_DT(PTQ_DT_INT64)));
  if (c->in[1]->rank == 1 && c->in[1]->dims[0] > PTQ_MAX_RANK)
    return op_fail(c, PTQ_ERR_UNSUPPORTED, "output rank %lld > %d", (long long)c->in[1]->dims[0],
                   PTQ_MAX_RANK);
  if (!op_read_ints(c->in[1], shape, PTQ_MAX_RANK, &n)) {
    int rank = (c->in[1]->rank == 1 && c->in[1]->dims[0] >= 0) ? (int)c->in[1]->dims[0] : -1;
    int64_t dims[PTQ_MAX_RANK] = {0};
    for (int i = 0; i < PTQ_MAX_RANK; i++) dims[i] = -1;
    op_set_out(c, 0, x->dtype, rank, dims);
    return PTQ_OK;
  }
  int64_t known = 1;
  int neg = -1, unknown = 0;
  for (int i = 0; i < n; i++) {
    if (shape[i] == 0 && !allowzero) {
      if (i >= x->rank && x->rank >= 0)
        return op_fail(c, PTQ_ERR_SHAPE, "shape[%d] = 0 copies a dimension the input lacks", i);
      shape[i] = x->rank >= 0 ? x->dims[i] : -1;
      if (shape[i] < 0) unknown = 1;
    } else if (shape[i] == -1) {
      if (neg >= 0) return op_fail(c, PTQ_ERR_INVALID_MODEL, "more than one -1 in shape");
      neg = i;
      continue;
    } else if (shape[i] < -1) {
      return op_fail(c, PTQ_ERR_INVALID_MODEL, "negative dimension %lld in shape",
                     (long long)shape[i]);
    }
    if (shape[i] >= 0 && ptq_mul_i64(known, shape[i], &known) != 0)
      return op_fail(c, PTQ_ERR_SHAPE, "shape too large");
  }
  int xknown = op_shape_known(x);
  int64_t total = xknown ? ptq_tensor_numel(x) : -1;
  if (neg >= 0) {
    if (!xknown || unknown)
      shape[neg] = -1;
    else if (known == 0 || total % known != 0)
      return op_fail(c, PTQ_ERR_SHAPE, "cannot reshape %lld elements with a -1 dimension",
                     (long long)total);
    else
      shape[neg] = total / known;
  } else if (xknown && !unknown && known != total) {
    return op_fail(c, PTQ_ERR_SHAPE, "cannot reshape %lld elements into %lld", (long long)total,
                   (long long)known);
  }
  op_set_out(c, 0, x->dtype, (int)n, shape);
  return PTQ_OK;
}

static ptq_status flatten_infer(op_ctx *c) {
  const ptq_tensor *x = c->in[0];
  int64_t axis = ir_attr_int(c->node, "axis", 1);
  if (x->rank < 0) {
    int64_t d[2] = {-1, -1};
    op_set_out(c, 0, x->dtype, 2, d);
    return PTQ_OK;
  }
  if (axis < -x->rank || axis > x->rank)
    return op_fail(c, PTQ_ERR_INVALID_MODEL, "axis %lld out of range", (long long)axis);
  if (axis < 0) axis += x->rank;
  int64_t d[2] = {1, 1};
  for (int i = 0; i < x->rank; i++) {
    int j = i < axis ? 0 : 1;
    d[j] = (d[j] < 0 || x->dims[i] < 0) ? -1 : d[j] * x->dims[i];
  }
  op_set_out(c, 0, x->dtype, 2, d);
  return PTQ_OK;
}

/* --------------------------------------------------- Squeeze/Unsqueeze --- */

static ptq_status read_axes(op_ctx *c, int input, int64_t *axes, int64_t *n, int *known) {
  *known = 1;
  *n = 0;
  if ((c->opset >= 13 && strcmp(c->node->op_type, "Squeeze") == 0) ||
      (c->opset >= 13 && strcmp(c->node->op_type, "Unsqueeze") == 0) ||
      (c->opset >= 18 && strncmp(c->node->op_type, "Reduce", 6) == 0) ||
      (c->opset >= 13 && strcmp(c->node->op_type, "ReduceSum") == 0)) {
    if (c->n_in <= input || !c->in[input]) return PTQ_OK;
    PTQ_TRY(op_require_dtype(c, input, OP_DT(PTQ_DT_INT64)));
    if (!op_read_ints(c->in[input], axes, PTQ_MAX_RANK * 2, n)) {
      *known = 0;
      return PTQ_OK;
    }
    return PTQ_OK;
  }
  const int64_t *a;
  size_t cnt = ir_attr_ints(c->node, "axes", &a);
  if (cnt > PTQ_MAX_RANK * 2) return op_fail(c, PTQ_ERR_INVALID_MODEL, "too many axes");
  for (size_t i = 0; i < cnt; i++) axes[i] = a[i];
  *n = (int64_t)cnt;
  return PTQ_OK;
}

static ptq_status squeeze_infer(op_ctx *c) {
  const ptq_tensor *x = c->in[0];
  int64_t axes[PTQ_MAX_RANK * 2], n, dims[PTQ_MAX_RANK];
  int known;
  PTQ_TRY(read_axes(c, 1, axes, &n, &known));
  if (!known || x->rank < 0) {
    op_set_out(c, 0, x->dtype, -1, dims);
    return PTQ_OK;
  }
  int drop[PTQ_MAX_RANK] = {0}, r = 0;
  for (int64_t i = 0; i < n; i++) {
    int a;
    PTQ_TRY(op_axis(c, axes[i], x->rank, &a));
    if (x->dims[a] >= 0 && x->dims[a] != 1)
      return op_fail(c, PTQ_ERR_SHAPE, "cannot squeeze axis %d of size %lld", a,
                     (long long)x->dims[a]);
    drop[a] = 1;
  }
  for (int i = 0; i < x->rank; i++) {
    if (n == 0 && x->dims[i] < 0) {
      op_set_out(c, 0, x->dtype, -1, dims);
      return PTQ_OK;
    }
    if (n == 0 ? x->dims[i] == 1 : drop[i]) continue;
    dims[r++] = x->dims[i];
  }
  op_set_out(c, 0, x->dtype, r, dims);
  return PTQ_OK;
}

static ptq_status unsqueeze_infer(op_ctx *c) {
  const ptq_tensor *x = c->in[0];
  int64_t axes[PTQ_MAX_RANK * 2], n, dims[PTQ_MAX_RANK];
  int known;
  PTQ_TRY(read_axes(c, 1, axes, &n, &known));
  if (!known || x->rank < 0) {
    op_set_out(c, 0, x->dtype, -1, dims);
    return PTQ_OK;
  }
  int r = x->rank + (int)n;
  if (r > PTQ_MAX_RANK)
    return op_fail(c, PTQ_ERR_UNSUPPORTED, "output rank %d > %d", r, PTQ_MAX_RANK);
  int ins[PTQ_MAX_RANK] = {0};
  for (int64_t i = 0; i < n; i++) {
    int a;
    PTQ_TRY(op_axis(c, axes[i], r, &a));
    if (ins[a]) return op_fail(c, PTQ_ERR_INVALID_MODEL, "axis %d repeated", a);
    ins[a] = 1;
  }
  for (int i = 0, j = 0; i < r; i++) dims[i] = ins[i] ? 1 : x->dims[j++];
  op_set_out(c, 0, x->dtype, r, dims);
  return PTQ_OK;
}

/* ------------------------------------------------------------ Transpose --- */

static ptq_status transpose_perm(op_ctx *c, int rank, int *perm) {
  const int64_t *p;
  size_t n = ir_attr_ints(c->node, "perm", &p);
  if (n == 0) {
    for (int i = 0; i < rank; i++) perm[i] = rank - 1 - i;
    return PTQ_OK;
  }
  if ((int)n != rank)
    return op_fail(c, PTQ_ERR_INVALID_MODEL, "perm has %zu entries for rank %d", n, rank);
  int seen[PTQ_MAX_RANK] = {0};
  for (int i = 0; i < rank; i++) {
    if (p[i] < 0 || p[i] >= rank || seen[p[i]])
      return op_fail(c, PTQ_ERR_INVALID_MODEL, "perm is not a permutation");
    seen[p[i]] = 1;
    perm[i] = (int)p[i];
  }
  return PTQ_OK;
}

static ptq_status transpose_infer(op_ctx *c) {
  const ptq_tensor *x = c->in[0];
  int64_t dims[PTQ_MAX_RANK] = {0};
  int perm[PTQ_MAX_RANK];
  if (x->rank < 0) {
    op_set_out(c, 0, x->dtype, -1, dims);
    return PTQ_OK;
  }
  PTQ_TRY(transpose_perm(c, x->rank, perm));
  for (int i = 0; i < x->rank; i++) dims[i] = x->dims[perm[i]];
  op_set_out(c, 0, x->dtype, x->rank, dims);
  return PTQ_OK;
}

static ptq_status transpose_run(op_ctx *c) {
  const ptq_tensor *x = c->in[0];
  ptq_tensor *y = c->out[0];
  int rank = x->rank, perm[PTQ_MAX_RANK];
  PTQ_TRY(transpose_perm(c, rank, perm));
  int64_t xs[PTQ_MAX_RANK], st[PTQ_MAX_RANK], n = ptq_tensor_numel(y);
  op_strides(rank, x->dims, xs);
  for (int i = 0; i < rank; i++) st[i] = xs[perm[i]];
  size_t es = ptq_dtype_size(x->dtype);
  int64_t inner = rank ? y->dims[rank - 1] : 1, outer = inner ? n / inner : 0;
  int64_t is = rank ? st[rank - 1] : 1;
#pragma omp parallel for if (n > 65536) schedule(static)
  for (int64_t o = 0; o < outer; o++) {
    int64_t off = 0, rem = o;
    for (int d = rank - 2; d >= 0; d--) {
      off += (rem % y->dims[d]) * st[d];
      rem /= y->dims[d];
    }
    if (es == 4) {
      const float *src = (const float *)x->data + off;
      float *dst = (float *)y->data + o * inner;
      for (int64_t i = 0; i < inner; i++) dst[i] = src[i * is];
    } else {
      for (int64_t i = 0; i < inner; i++)
        memcpy((char *)y->data + (size_t)(o * inner + i) * es,
               (const char *)x->data + (size_t)(off + i * is) * es, es);
    }
  }
  return PTQ_OK;
}

/* ---------------------------------------------------------------- Slice --- */

typedef struct slice_plan {
  int64_t start[PTQ_MAX_RANK], step[PTQ_MAX_RANK], len[PTQ_MAX_RANK];
} slice_plan;

/* Returns 0 with *known = 0 when starts/ends/axes/steps are not constant. */
static ptq_status slice_compute(op_ctx *c, slice_plan *sp, int *known) {
  const ptq_tensor *x = c->in[0];
  int64_t starts[PTQ_MAX_RANK], ends[PTQ_MAX_RANK], axes[PTQ_MAX_RANK], steps[PTQ_MAX_RANK];
  int64_t ns, ne, na = -1, nst = -1;
  *known = 0;
  if (c->opset < 10) {
    const int64_t *a;
    ns = (int64_t)ir_attr_ints(c->node, "starts", &a);
    if (ns > PTQ_MAX_RANK) return op_fail(c, PTQ_ERR_INVALID_MODEL, "too many starts");
    memcpy(starts, a, (size_t)ns * sizeof *a);
    ne = (int64_t)ir_attr_ints(c->node, "ends", &a);
    if (ne > PTQ_MAX_RANK) return op_fail(c, PTQ_ERR_INVALID_MODEL, "too many ends");
    memcpy(ends, a, (size_t)ne * sizeof *a);
    if (ir_node_attr(c->node, "axes")) {
      na = (int64_t)ir_attr_ints(c->node, "axes", &a);
      if (na > PTQ_MAX_RANK) return op_fail(c, PTQ_ERR_INVALID_MODEL, "too many axes");
      memcpy(axes, a, (size_t)na * sizeof *a);
    }
  } else {
    for (int i = 1; i < c->n_in; i++) PTQ_TRY(op_require_dtype(c, i, OP_INTS));
    if (!op_read_ints(c->in[1], starts, PTQ_MAX_RANK, &ns) ||
        !op_read_ints(c->in[2], ends, PTQ_MAX_RANK, &ne))
      return PTQ_OK;
    if (c->n_in > 3 && c->in[3] && !op_read_ints(c->in[3], axes, PTQ_MAX_RANK, &na)) return PTQ_OK;
    if (c->n_in > 4 && c->in[4] && !op_read_ints(c->in[4], steps, PTQ_MAX_RANK, &nst))
      return PTQ_OK;
  }
  if (x->rank < 0) return PTQ_OK;
  if (ns != ne || (na >= 0 && na != ns) || (nst >= 0 && nst != ns))
    return op_fail(c, PTQ_ERR_INVALID_MODEL, "starts, ends, axes and steps differ in length");
  int seen[PTQ_MAX_RANK] = {0};
  for (int d = 0; d < x->rank; d++) {
    sp->start[d] = 0;
    sp->step[d] = 1;
    sp->len[d] = x->dims[d];
  }
  for (int64_t i = 0; i < ns; i++) {
    int a;
    PTQ_TRY(op_axis(c, na >= 0 ? axes[i] : i, x->rank, &a));
    if (seen[a]) return op_fail(c, PTQ_ERR_INVALID_MODEL, "axis %d repeated", a);
    seen[a] = 1;
    int64_t step = nst >= 0 ? steps[i] : 1, dim = x->dims[a];
    if (step == 0) return op_fail(c, PTQ_ERR_INVALID_MODEL, "step is 0");
    if (dim < 0) {
      sp->len[a] = -1;
      continue;
    }
    int64_t s = starts[i], e = ends[i];
    if (s < 0) s += dim;
    if (e < 0) e += dim;
    if (step > 0) {
      s = s < 0 ? 0 : s > dim ? dim : s;
      e = e < 0 ? 0 : e > dim ? dim : e;
      sp->len[a] = e > s ? (e - s + step - 1) / step : 0;
    } else {
      s = s < 0 ? -1 : s > dim - 1 ? dim - 1 : s;
      e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
      sp->len[a] = s > e ? (s - e + (-step) - 1) / (-step) : 0;
    }
    sp->start[a] = s;
    sp->step[a] = step;
  }
  *known = 1;
  return PTQ_OK;
}

static ptq_status slice_infer(op_ctx *c) {
  slice_plan sp;
  int known;
  PTQ_TRY(slice_compute(c, &sp, &known));
  int64_t dims[PTQ_MAX_RANK] = {0};
  int rank = c->in[0]->rank;
  for (int d = 0; d < PTQ_MAX_RANK; d++) dims[d] = known ? sp.len[d] : -1;
  op_set_out(c, 0, c->in[0]->dtype, rank, dims);
  return PTQ_OK;
}

static ptq_status slice_run(op_ctx *c) {
  slice_plan sp;
  int known;
  PTQ_TRY(slice_compute(c, &sp, &known));
  if (!known) return op_fail(c, PTQ_ERR_INTERNAL, "slice parameters unknown at run time");
  const ptq_tensor *x = c->in[0];
  ptq_tensor *y = c->out[0];
  int rank = x->rank;
  int64_t xs[PTQ_MAX_RANK], n = ptq_tensor_numel(y);
  op_strides(rank, x->dims, xs);
  size_t es = ptq_dtype_size(x->dtype);
  if (n == 0) return PTQ_OK;
  if (rank == 0) {
    memcpy(y->data, x->data, es);
    return PTQ_OK;
  }
  /* Rows along the last axis; contiguous rows (step 1) are copied whole. */
  int64_t inner = y->dims[rank - 1], rows = n / inner, step = sp.step[rank - 1];
  for (int64_t r = 0; r < rows; r++) {
    int64_t off = sp.start[rank - 1], rem = r;
    for (int d = rank - 2; d >= 0; d--) {
      off += (sp.start[d] + (rem % y->dims[d]) * sp.step[d]) * xs[d];
      rem /= y->dims[d];
    }
    char *dst = (char *)y->data + (size_t)(r * inner) * es;
    const char *src = (const char *)x->data + (size_t)off * es;
    if (step == 1) {
      memcpy(dst, src, (size_t)inner * es);
    } else {
      for (int64_t i = 0; i < inner; i++)
        memcpy(dst + (size_t)i * es, src + (ptrdiff_t)(i * step) * (ptrdiff_t)es, es);
    }
  }
  return PTQ_OK;
}

/* --------------------------------------------------------------- Gather --- */

static ptq_status gather_infer(op_ctx *c) {
  const ptq_tensor *x = c->in[0], *idx = c->in[1];
  PTQ_TRY(op_require_dtype(c, 1, OP_INTS));
  int64_t dims[PTQ_MAX_RANK] = {0};
  if (x->rank < 0 || idx->rank < 0) {
    op_set_out(c, 0, x->dtype, -1, dims);
    return PTQ_OK;
  }
  int axis;
  PTQ_TRY(op_axis(c, ir_attr_int(c->node, "axis", 0), x->rank, &axis));
  int r = x->rank - 1 + idx->rank;
  if (r > PTQ_MAX_RANK)
    return op_fail(c, PTQ_ERR_UNSUPPORTED, "output rank %d > %d", r, PTQ_MAX_RANK);
  int k = 0;
  for (int i = 0; i < axis; i++) dims[k++] = x->dims[i];
  for (int i = 0; i < idx->rank; i++) dims[k++] = idx->dims[i];
  for (int i = axis + 1; i < x->rank; i++) dims[k++] = x->dims[i];
  op_set_out(c, 0, x->dtype, r, dims);
  return PTQ_OK;
}

static ptq_status gather_run(op_ctx *c) {
  const ptq_tensor *x = c->in[0], *idx = c->in[1];
  ptq_tensor *y = c->out[0];
  int axis;
  PTQ_TRY(op_axis(c, ir_attr_int(c->node, "axis", 0), x->rank, &axis));
  int64_t outer = 1, inner = 1, dim = x->dims[axis], ni = ptq_tensor_numel(idx);
  for (int i = 0; i < axis; i++) outer *= x->dims[i];
  for (int i = axis + 1; i < x->rank; i++) inner *= x->dims[i];
  size_t es = ptq_dtype_size(x->dtype), row = (size_t)inner * es;
  for (int64_t j = 0; j < ni; j++) {
    int64_t k = idx->dtype == PTQ_DT_INT32 ? ((const int32_t *)idx->data)[j]
                                           : ((const int64_t *)idx->data)[j];
    if (k < -dim || k >= dim)
      return op_fail(c, PTQ_ERR_DATA, "index %lld out of range for axis of size %lld", (long long)k,
                     (long long)dim);
  }
  for (int64_t o = 0; o < outer; o++)
    for (int64_t j = 0; j < ni; j++) {
      int64_t k = idx->dtype == PTQ_DT_INT32 ? ((const int32_t *)idx->data)[j]
                                             : ((const int64_t *)idx->data)[j];
      if (k < 0) k += dim;
      memcpy((char *)y->data + (size_t)(o * ni + j) * row,
             (const char *)x->data + (size_t)(o * dim + k) * row, row);
    }
  return PTQ_OK;
}

/* ----------------------------------------------------------- Shape/Size --- */

static ptq_status shape_range(op_ctx *c, int64_t *s, int64_t *e) {
  int r = c->in[0]->rank;
  *s = 0;
  *e = r;
  if (c->opset >= 15) {
    *s = ir_attr_int(c->node, "start", 0);
    *e = ir_attr_int(c->node, "end", r);
    if (*s < 0) *s += r;
    if (*e < 0) *e += r;
    *s = *s < 0 ? 0 : *s > r ? r : *s;
    *e = *e < 0 ? 0 : *e > r ? r : *e;
    if (*e < *s) *e = *s;
  }
  return PTQ_OK;
}

static ptq_status shape_infer(op_ctx *c) {
  int64_t d = -1, s, e;
  if (c->in[0]->rank >= 0) {
    shape_range(c, &s, &e);
    d = e - s;
  }
  op_set_out(c, 0, PTQ_DT_INT64, 1, &d);
  return PTQ_OK;
}

static ptq_status shape_run(op_ctx *c) {
  int64_t s, e;
  shape_range(c, &s, &e);
  for (int64_t i = s; i < e; i++) ((int64_t *)c->out[0]->data)[i - s] = c->in[0]->dims[i];
  return PTQ_OK;
}

static ptq_status size_infer(op_ctx *c) {
  op_set_out(c, 0, PTQ_DT_INT64, 0, NULL);
  return PTQ_OK;
}

static ptq_status size_run(op_ctx *c) {
  *(int64_t *)c->out[0]->data = ptq_tensor_numel(c->in[0]);
  return PTQ_OK;
}

/* --------------------------------------------------------------- Concat --- */

static ptq_status concat_infer(op_ctx *c) {
  const ptq_tensor *x0 = c->in[0];
  int rank = -1;
  for (int i = 0; i < c->n_in; i++) {
    if (!c->in[i]) return op_fail(c, PTQ_ERR_INVALID_MODEL, "input %d is missing", i);
    if (c->in[i]->dtype != x0->dtype && c->in[i]->dtype && x0->dtype)
      return op_fail(c, PTQ_ERR_INVALID_MODEL, "inputs have different types");
    if (c->in[i]->rank >= 0) {
      if (rank >= 0 && c->in[i]->rank != rank)
        return op_fail(c, PTQ_ERR_SHAPE, "inputs have different ranks");
      rank = c->in[i]->rank;
    }
  }
  int64_t dims[PTQ_MAX_RANK] = {0};
  if (rank < 0) {
    op_set_out(c, 0, x0->dtype, -1, dims);
    return PTQ_OK;
  }
  if (!ir_node_attr(c->node, "axis")) return op_fail(c, PTQ_ERR_INVALID_MODEL, "axis is required");
  int axis;
  PTQ_TRY(op_axis(c, ir_attr_int(c->node, "axis", 0), rank, &axis));
  for (int d = 0; d < rank; d++) dims[d] = d == axis ? 0 : -1;
  for (int i = 0; i < c->n_in; i++) {
    const ptq_tensor *x = c->in[i];
    for (int d = 0; d < rank; d++) {
      int64_t v = x->rank >= 0 ? x->dims[d] : -1;
      if (d == axis) {
        dims[d] = (dims[d] < 0 || v < 0) ? -1 : dims[d] + v;
      } else if (v >= 0) {
        if (dims[d] >= 0 && dims[d] != v)
          return op_fail(c, PTQ_ERR_SHAPE, "input %d has size %lld at axis %d, expected %lld", i,
                         (long long)v, d, (long long)dims[d]);
        dims[d] = v;
      }
    }
  }
  op_set_out(c, 0, x0->dtype, rank, dims);
  return PTQ_OK;
}

static ptq_status concat_run(op_ctx *c) {
  ptq_tensor *y = c->out[0];
  int axis;
  PTQ_TRY(op_axis(c, ir_attr_int(c->node, "axis", 0), y->rank, &axis));
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; i++) outer *= y->dims[i];
  for (int i = axis + 1; i < y->rank; i++) inner *= y->dims[i];
  size_t es = ptq_dtype_size(y->dtype), yrow = (size_t)(y->dims[axis] * inner) * es, off = 0;
  for (int i = 0; i < c->n_in; i++) {
    const ptq_tensor *x = c->in[i];
    size_t xrow = (size_t)(x->dims[axis] * inner) * es;
    for (int64_t o = 0; o < outer; o++)
      memcpy((char *)y->data + (size_t)o * yrow + off, (const char *)x->data + (size_t)o * xrow,
             xrow);
    off += xrow;
  }
  return PTQ_OK;
}

/* ---------------------------------------------------------------- Split --- */

static ptq_status split_sizes(op_ctx *c, int *axis_out, int64_t *sizes, int *known) {
  const ptq_tensor *x = c->in[0];
  *known = 0;
  if (x->rank < 0) return PTQ_OK;
  int axis;
  PTQ_TRY(op_axis(c, ir_attr_int(c->node, "axis", 0), x->rank, &axis));
  *axis_out = axis;
  int64_t n = 0, dim = x->dims[axis];
  if (c->opset >= 13 && c->n_in > 1 && c->in[1]) {
    if (!op_read_ints(c->in[1], sizes, 1024, &n)) return PTQ_OK;
  } else if (c->opset < 13) {
    const int64_t *s;
    n = (int64_t)ir_attr_ints(c->node, "split", &s);
    if (n > 1024) return op_fail(c, PTQ_ERR_UNSUPPORTED, "too many splits");
    memcpy(sizes, s, (size_t)n * sizeof *s);
  }
  if (n > 0) {
    if (n != c->n_out)
      return op_fail(c, PTQ_ERR_INVALID_MODEL, "split has %lld entries for %d outputs",
                     (long long)n, c->n_out);
    int64_t sum = 0;
    for (int64_t i = 0; i < n; i++) {
      if (sizes[i] < 0) return op_fail(c, PTQ_ERR_INVALID_MODEL, "negative split size");
      sum += sizes[i];
    }
    if (dim >= 0 && sum != dim)
      return op_fail(c, PTQ_ERR_SHAPE, "split sizes sum to %lld, axis has %lld", (long long)sum,
                     (long long)dim);
  } else {
    if (dim < 0) return PTQ_OK;
    int64_t parts = c->n_out;
    if (c->opset >= 18 && ir_node_attr(c->node, "num_outputs"))
      parts = ir_attr_int(c->node, "num_outputs", parts);
    if (parts != c->n_out || parts <= 0)
      return op_fail(c, PTQ_ERR_INVALID_MODEL, "num_outputs does not match the outputs");
    int64_t chunk = (dim + parts - 1) / parts;
    if (c->opset < 18 && dim % parts != 0)
      return op_fail(c, PTQ_ERR_SHAPE, "axis of size %lld does not split evenly into %lld",
                     (long long)dim, (long long)parts);
    for (int64_t i = 0; i < parts; i++) {
      int64_t rem = dim - i * chunk;
      sizes[i] = rem < 0 ? 0 : rem < chunk ? rem : chunk;
    }
  }
  *known = 1;
  return PTQ_OK;
}

static ptq_status split_infer(op_ctx *c) {
  int64_t sizes[1024];
  int axis = 0, known;
  PTQ_TRY(split_sizes(c, &axis, sizes, &known));
  const ptq_tensor *x = c->in[0];
  for (int i = 0; i < c->n_out; i++) {
    int64_t dims[PTQ_MAX_RANK] = {0};
    memcpy(dims, x->dims, sizeof dims);
    if (x->rank >= 0) dims[axis] = known ? sizes[i] : -1;
    op_set_out(c, i, x->dtype, x->rank, dims);
  }
  return PTQ_OK;
}

static ptq_status split_run(op_ctx *c) {
  int64_t sizes[1024];
  int axis = 0, known;
  PTQ_TRY(split_sizes(c, &axis, sizes, &known));
  const ptq_tensor *x = c->in[0];
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; i++) outer *= x->dims[i];
  for (int i = axis + 1; i < x->rank; i++) inner *= x->dims[i];
  size_t es = ptq_dtype_size(x->dtype), xrow = (size_t)(x->dims[axis] * inner) * es, off = 0;
  for (int i = 0; i < c->n_out; i++) {
    size_t yrow = (size_t)(sizes[i] * inner) * es;
    if (c->out[i])
      for (int64_t o = 0; o < outer; o++)
        memcpy((char *)c->out[i]->data + (size_t)o * yrow,
               (const char *)x->data + (size_t)o * xrow + off, yrow);
    off += yrow;
  }
  return PTQ_OK;
}

/* ----------------------------------------------------------------- Cast --- */

static ptq_status cast_infer(op_ctx *c) {
  int64_t to = ir_attr_int(c->node, "to", 0);
  if (to <= 0 || to > 13 || to == PTQ_DT_STRING || ptq_dtype_size((ptq_dtype)to) == 0)
    return op_fail(c, PTQ_ERR_UNSUPPORTED, "cast to type %lld", (long long)to);
  PTQ_TRY(op_require_dtype(c, 0, OP_ANY));
  op_set_out(c, 0, (ptq_dtype)to, c->in[0]->rank, c->in[0]->dims);
  return PTQ_OK;
}

static ptq_status cast_run(op_ctx *c) {
  const ptq_tensor *x = c->in[0];
  ptq_tensor *y = c->out[0];
  int64_t n = ptq_tensor_numel(x);
  if (x->dtype == y->dtype) return copy_run(c);
  int xi = x->dtype == PTQ_DT_INT64 || x->dtype == PTQ_DT_INT32,
      yi = y->dtype == PTQ_DT_INT64 || y->dtype == PTQ_DT_INT32;
  if (xi && yi) { /* exact integer path (int64 does not fit a double) */
    for (int64_t i = 0; i < n; i++) {
      int64_t v =
          x->dtype == PTQ_DT_INT64 ? ((const int64_t *)x->data)[i] : ((const int32_t *)x->data)[i];
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

/* ------------------------------------------------- Constant(OfShape) --- */

static ptq_status constant_infer(op_ctx *c) {
  const ir_attr *a = NULL;
  if (c->node->n_attrs != 1)
    return op_fail(c, PTQ_ERR_INVALID_MODEL, "needs exactly one value attribute");
  a = &c->node->attrs[0];
  if (strcmp(a->name, "value") == 0) {
    op_set_out(c, 0, a->t->dtype, a->t->rank, a->t->dims);
  } else if (strcmp(a->name, "value_float") == 0 || strcmp(a->name, "value_int") == 0) {
    op_set_out(c, 0, a->type == IR_ATTR_FLOAT ? PTQ_DT_FLOAT : PTQ_DT_INT64, 0, NULL);
  } else if (strcmp(a->name, "value_floats") == 0 || strcmp(a->name, "value_ints") == 0) {
    int64_t n = (int64_t)a->n;
    op_set_out(c, 0, a->type == IR_ATTR_FLOATS ? PTQ_DT_FLOAT : PTQ_DT_INT64, 1, &n);
  } else {
    return op_fail(c, PTQ_ERR_UNSUPPORTED, "attribute '%s'", a->name);
  }
  return PTQ_OK;
}

static ptq_status constant_run(op_ctx *c) {
  const ir_attr *a = &c->node->attrs[0];
  ptq_tensor *y = c->out[0];
  switch (a->type) {
    case IR_ATTR_TENSOR: memcpy(y->data, a->t->data, nbytes(a->t)); break;
    case IR_ATTR_FLOAT: *(float *)y->data = a->f; break;
    case IR_ATTR_INT: *(int64_t *)y->data = a->i; break;
    case IR_ATTR_FLOATS: memcpy(y->data, a->floats, a->n * sizeof(float)); break;
    case IR_ATTR_INTS: memcpy(y->data, a->ints, a->n * sizeof(int64_t)); break;
    default: break;
  }
  return PTQ_OK;
}

static ptq_status read_shape_input(op_ctx *c, int i, int64_t *dims, int *rank, int *known) {
  int64_t n;
  PTQ_TRY(op_require_dtype(c, i, OP_DT(PTQ_DT_INT64)));
  const ptq_tensor *s = c->in[i];
  if (s->rank > 1) return op_fail(c, PTQ_ERR_INVALID_MODEL, "shape input must be 1-D");
  if (s->rank == 1 && s->dims[0] > PTQ_MAX_RANK)
    return op_fail(c, PTQ_ERR_UNSUPPORTED, "rank %lld > %d", (long long)s->dims[0], PTQ_MAX_RANK);
  *known = op_read_ints(s, dims, PTQ_MAX_RANK, &n);
  *rank = *known ? (int)n : (s->rank == 1 ? (int)s->dims[0] : -1);
  if (!*known)
    for (int d = 0; d < PTQ_MAX_RANK; d++) dims[d] = -1;
  for (int d = 0; *known && d < *rank; d++)
    if (dims[d] < 0) return op_fail(c, PTQ_ERR_INVALID_MODEL, "negative dimension in shape");
  return PTQ_OK;
}

static ptq_status cos_infer(op_ctx *c) {
  int64_t dims[PTQ_MAX_RANK] = {0};
  int rank, known;
  PTQ_TRY(read_shape_input(c, 0, dims, &rank, &known));
  const ir_attr *a = ir_node_attr(c->node, "value");
  ptq_dtype dt = a ? a->t->dtype : PTQ_DT_FLOAT;
  if (a && ptq_tensor_numel(a->t) != 1)
    return op_fail(c, PTQ_ERR_INVALID_MODEL, "value must have one element");
  op_set_out(c, 0, dt, rank, dims);
  return PTQ_OK;
}

static ptq_status cos_run(op_ctx *c) {
  const ir_attr *a = ir_node_attr(c->node, "value");
  ptq_tensor *y = c->out[0];
  int64_t n = ptq_tensor_numel(y);
  size_t es = ptq_dtype_size(y->dtype);
  if (!a) {
    memset(y->data, 0, (size_t)n * es); /* default value: float 0 */
    return PTQ_OK;
  }
  for (int64_t i = 0; i < n; i++) memcpy((char *)y->data + (size_t)i * es, a->t->data, es);
  return PTQ_OK;
}

/* --------------------------------------------------------- Expand/Tile --- */

static ptq_status expand_infer(op_ctx *c) {
  int64_t shape[PTQ_MAX_RANK], dims[PTQ_MAX_RANK];
  int rank, known;
  PTQ_TRY(read_shape_input(c, 1, shape, &rank, &known));
  if (!known || c->in[0]->rank < 0) {
    int r =
        (rank >= 0 && c->in[0]->rank >= 0) ? (rank > c->in[0]->rank ? rank : c->in[0]->rank) : -1;
    for (int d = 0; d < PTQ_MAX_RANK; d++) dims[d] = -1;
    op_set_out(c, 0, c->in[0]->dtype, r, dims);
    return PTQ_OK;
  }
  ptq_tensor s = {.rank = rank};
  memcpy(s.dims, shape, sizeof shape);
  PTQ_TRY(op_broadcast(c, c->in[0], &s, &rank, dims));
  op_set_out(c, 0, c->in[0]->dtype, rank, dims);
  return PTQ_OK;
}

/* Copies x broadcast (numpy rules) or tiled into y. */
static void broadcast_copy(const ptq_tensor *x, ptq_tensor *y, int tile) {
  int rank = y->rank;
  int64_t xs[PTQ_MAX_RANK], st[PTQ_MAX_RANK], n = ptq_tensor_numel(y);
  op_strides(x->rank, x->dims, xs);
  size_t es = ptq_dtype_size(y->dtype);
  for (int i = 0; i < rank; i++) {
    int ix = i - (rank - x->rank);
    st[i] = ix >= 0 ? xs[ix] : 0;
  }
  for (int64_t o = 0; o < n; o++) {
    int64_t off = 0, rem = o;
    for (int d = rank - 1; d >= 0; d--) {
      int64_t idx = rem % y->dims[d];
      rem /= y->dims[d];
      int ix = d - (rank - x->rank);
      if (ix < 0) continue;
      int64_t xd = x->dims[ix];
      off += (tile ? idx % xd : (xd == 1 ? 0 : idx)) * st[d];
    }
    memcpy((char *)y->data + (size_t)o * es, (const char *)x->data + (size_t)off * es, es);
  }
}

static ptq_status expand_run(op_ctx *c) {
  broadcast_copy(c->in[0], c->out[0], 0);
  return PTQ_OK;
}

static ptq_status tile_infer(op_ctx *c) {
  const ptq_tensor *x = c->in[0];
  int64_t reps[PTQ_MAX_RANK], n, dims[PTQ_MAX_RANK];
  PTQ_TRY(op_require_dtype(c, 1, OP_DT(PTQ_DT_INT64)));
  if (x->rank < 0 || !op_read_ints(c->in[1], reps, PTQ_MAX_RANK, &n)) {
    for (int d = 0; d < PTQ_MAX_RANK; d++) dims[d] = -1;
    op_set_out(c, 0, x->dtype, x->rank, dims);
    return PTQ_OK;
  }
  if (n != x->rank)
    return op_fail(c, PTQ_ERR_INVALID_MODEL, "repeats has %lld entries for rank %d", (long long)n,
                   x->rank);
  for (int d = 0; d < x->rank; d++) {
    if (reps[d] < 0) return op_fail(c, PTQ_ERR_INVALID_MODEL, "negative repeat");
    dims[d] = x->dims[d] < 0 ? -1 : x->dims[d] * reps[d];
  }
  op_set_out(c, 0, x->dtype, x->rank, dims);
  return PTQ_OK;
}

static ptq_status tile_run(op_ctx *c) {
  broadcast_copy(c->in[0], c->out[0], 1);
  return PTQ_OK;
}

/* ------------------------------------------------------------------ Pad --- */

typedef enum { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP } pad_mode;

static ptq_status pad_params(op_ctx *c, int64_t *pads, int *known, pad_mode *mode, double *value) {
  const ptq_tensor *x = c->in[0];
  const char *m = ir_attr_string(c->node, "mode", "constant");
  if (strcmp(m, "constant") == 0)
    *mode = PAD_CONSTANT;
  else if (strcmp(m, "reflect") == 0)
    *mode = PAD_REFLECT;
  else if (strcmp(m, "edge") == 0)
    *mode = PAD_EDGE;
  else if (strcmp(m, "wrap") == 0 && c->opset >= 19)
    *mode = PAD_WRAP;
  else
    return op_fail(c, PTQ_ERR_UNSUPPORTED, "mode '%s'", m);
  *known = 0;
  *value = 0;
  int64_t raw[2 * PTQ_MAX_RANK], n, axes[PTQ_MAX_RANK], na = -1;
  if (c->opset < 11) {
    const int64_t *p;
    n = (int64_t)ir_attr_ints(c->node, "pads", &p);
    if (n > 2 * PTQ_MAX_RANK) return op_fail(c, PTQ_ERR_INVALID_MODEL, "too many pads");
    memcpy(raw, p, (size_t)n * sizeof *p);
    *value = ir_attr_float(c->node, "value", 0.0f);
  } else {
    PTQ_TRY(op_require_dtype(c, 1, OP_DT(PTQ_DT_INT64)));
    if (!op_read_ints(c->in[1], raw, 2 * PTQ_MAX_RANK, &n)) return PTQ_OK;
    if (c->n_in > 2 && c->in[2]) {
      if (!c->in[2]->data)
        return op_fail(c, PTQ_ERR_UNSUPPORTED, "constant_value must be constant at load");
      if (ptq_tensor_numel(c->in[2]) > 0) *value = op_get(c->in[2], 0);
    }
    if (c->n_in > 3 && c->in[3]) {
      PTQ_TRY(op_require_dtype(c, 3, OP_INTS));
      if (!op_read_ints(c->in[3], axes, PTQ_MAX_RANK, &na)) return PTQ_OK;
    }
  }
  if (x->rank < 0) return PTQ_OK;
  int r = x->rank;
  for (int i = 0; i < 2 * r; i++) pads[i] = 0;
  if (na >= 0) {
    if (n != 2 * na)
      return op_fail(c, PTQ_ERR_INVALID_MODEL, "pads has %lld entries for %lld axes", (long long)n,
                     (long long)na);
    for (int64_t i = 0; i < na; i++) {
      int a;
      PTQ_TRY(op_axis(c, axes[i], r, &a));
      pads[a] = raw[i];
      pads[a + r] = raw[i + na];
    }
  } else {
    if (n != 2 * r)
      return op_fail(c, PTQ_ERR_INVALID_MODEL, "pads has %lld entries for rank %d", (long long)n,
                     r);
    memcpy(pads, raw, (size_t)n * sizeof *raw);
  }
  for (int d = 0; d < r; d++)
    if ((*mode != PAD_CONSTANT) && x->dims[d] == 0 && (pads[d] || pads[d + r]))
      return op_fail(c, PTQ_ERR_SHAPE, "cannot %s-pad an empty axis", m);
  *known = 1;
  return PTQ_OK;
}

static ptq_status pad_infer(op_ctx *c) {
  int64_t pads[2 * PTQ_MAX_RANK], dims[PTQ_MAX_RANK];
  int known;
  pad_mode mode;
  double v;
  PTQ_TRY(pad_params(c, pads, &known, &mode, &v));
  const ptq_tensor *x = c->in[0];
  for (int d = 0; d < PTQ_MAX_RANK; d++) dims[d] = -1;
  for (int d = 0; known && d < x->rank; d++) {
    dims[d] = x->dims[d] < 0 ? -1 : x->dims[d] + pads[d] + pads[d + x->rank];
    if (x->dims[d] >= 0 && dims[d] < 0)
      return op_fail(c, PTQ_ERR_SHAPE, "negative padding removes more than axis %d has", d);
  }
  op_set_out(c, 0, x->dtype, x->rank, dims);
  return PTQ_OK;
}

static ptq_status pad_run(op_ctx *c) {
  int64_t pads[2 * PTQ_MAX_RANK];
  int known;
  pad_mode mode;
  double v;
  PTQ_TRY(pad_params(c, pads, &known, &mode, &v));
  const ptq_tensor *x = c->in[0];
  ptq_tensor *y = c->out[0];
  int r = x->rank;
  int64_t xs[PTQ_MAX_RANK], n = ptq_tensor_numel(y);
  op_strides(r, x->dims, xs);
  size_t es = ptq_dtype_size(y->dtype);
  ptq_tensor one = {.dtype = y->dtype, .rank = 0};
  char fill[8] = {0};
  one.data = fill;
  op_put(&one, 0, v);
  for (int64_t o = 0; o < n; o++) {
    int64_t off = 0, rem = o;
    int outside = 0;
    for (int d = r - 1; d >= 0; d--) {
      int64_t idx = rem % y->dims[d] - pads[d], dim = x->dims[d];
      rem /= y->dims[d];
      if (idx < 0 || idx >= dim) {
        switch (mode) {
          case PAD_CONSTANT: outside = 1; break;
          case PAD_EDGE: idx = idx < 0 ? 0 : dim - 1; break;
          case PAD_WRAP: idx = ((idx % dim) + dim) % dim; break;
          case PAD_REFLECT:
            if (dim == 1) {
              idx = 0;
            } else {
              int64_t period = 2 * (dim - 1);
              idx = ((idx % period) + period) % period;
              if (idx >= dim) idx = period - idx;
            }
            break;
        }
      }
      off += idx * xs[d];
    }
    memcpy((char *)y->data + (size_t)o * es,
           outside ? fill : (const char *)x->data + (size_t)off * es, es);
  }
  return PTQ_OK;
}

/* ---------------------------------------------------------------- Range --- */

static ptq_status range_infer(op_ctx *c) {
  for (int i = 0; i < 3; i++) {
    PTQ_TRY(op_require_dtype(c, i, OP_DT(PTQ_DT_FLOAT) | OP_DT(PTQ_DT_DOUBLE) | OP_INTS));
    if (c->in[i]->rank > 0 && ptq_tensor_numel(c->in[i]) != 1)
      return op_fail(c, PTQ_ERR_INVALID_MODEL, "input %d must be a scalar", i);
  }
  double s, l, d;
  int64_t n = -1;
  if (op_read_scalar(c->in[0], &s) && op_read_scalar(c->in[1], &l) &&
      op_read_scalar(c->in[2], &d)) {
    if (d == 0) return op_fail(c, PTQ_ERR_DATA, "delta is 0");
    double cnt = ceil((l - s) / d);
    n = cnt > 0 ? (int64_t)cnt : 0;
    if (cnt > 1e9) return op_fail(c, PTQ_ERR_DATA, "range too long");
  }
  op_set_out(c, 0, c->in[0]->dtype, 1, &n);
  return PTQ_OK;
}

static ptq_status range_run(op_ctx *c) {
  ptq_tensor *y = c->out[0];
  int64_t n = y->dims[0];
  if (y->dtype == PTQ_DT_INT64 || y->dtype == PTQ_DT_INT32) {
    int64_t s, d, cnt;
    op_read_ints(c->in[0], &s, 1, &cnt);
    op_read_ints(c->in[2], &d, 1, &cnt);
    for (int64_t i = 0; i < n; i++) /* wraps like the hardware instead of overflowing */
      op_put(y, i, (double)(int64_t)((uint64_t)s + (uint64_t)i * (uint64_t)d));
  } else {
    double s = op_get(c->in[0], 0), d = op_get(c->in[2], 0);
    for (int64_t i = 0; i < n; i++) op_put(y, i, s + (double)i * d);
  }
  return PTQ_OK;
}

/* ---------------------------------------------------------------- table --- */

static const char *const A_NONE[] = {NULL};
static const char *const A_RESHAPE[] = {"allowzero:i", NULL};
static const char *const A_AXIS[] = {"axis:i", NULL};
static const char *const A_AXES[] = {"axes:ints", NULL};
static const char *const A_PERM[] = {"perm:ints", NULL};
static const char *const A_SLICE9[] = {"starts:ints", "ends:ints", "axes:ints", NULL};
static const char *const A_SHAPE15[] = {"start:i", "end:i", NULL};
static const char *const A_SPLIT[] = {"axis:i", "split:ints", NULL};
static const char *const A_SPLIT18[] = {"axis:i", "num_outputs:i", NULL};
static const char *const A_CAST[] = {"to:i", "saturate:i", NULL};
static const char *const A_CONST[] = {
    "value:t", "value_float:f", "value_int:i", "value_floats:floats", "value_ints:ints", NULL};
static const char *const A_COS[] = {"value:t", NULL};
static const char *const A_DROPOUT[] = {"ratio:f", "seed:i", NULL};
static const char *const A_DROPOUT6[] = {"ratio:f", "is_test:i", NULL};
static const char *const A_PAD2[] = {"mode:s", "pads:ints", "value:f", NULL};
static const char *const A_PAD11[] = {"mode:s", NULL};

const op_def op_defs_shape[] = {
    {"Identity", 1, 1, 1, 1, 1, A_NONE, identity_infer, copy_run, 0, 0, 0},
    {"Dropout", 7, 1, 1, 1, 2, A_DROPOUT, dropout_infer, dropout_run, 0, 0, 0},
    {"Dropout", 12, 1, 3, 1, 2, A_DROPOUT, dropout_infer, dropout_run, 0, 0, 0},
    {"Dropout", 6, 1, 1, 1, 2, A_DROPOUT6, dropout_infer, dropout_run, 0, 0, 0},
    {"Reshape", 5, 2, 2, 1, 1, A_RESHAPE, reshape_infer, copy_run, 0, 0, 0},
    {"Flatten", 1, 1, 1, 1, 1, A_AXIS, flatten_infer, copy_run, 0, 0, 0},
    {"Squeeze", 1, 1, 1, 1, 1, A_AXES, squeeze_infer, copy_run, 0, 0, 0},
    {"Squeeze", 13, 1, 2, 1, 1, A_NONE, squeeze_infer, copy_run, 0, 0, 0},
    {"Unsqueeze", 1, 1, 1, 1, 1, A_AXES, unsqueeze_infer, copy_run, 0, 0, 0},
    {"Unsqueeze", 13, 2, 2, 1, 1, A_NONE, unsqueeze_infer, copy_run, 0, 0, 0},
    {"Transpose", 1, 1, 1, 1, 1, A_PERM, transpose_infer, transpose_run, 0, 0, 0},
    {"Slice", 1, 1, 1, 1, 1, A_SLICE9, slice_infer, slice_run, 0, 0, 0},
    {"Slice", 10, 3, 5, 1, 1, A_NONE, slice_infer, slice_run, 0, 0, 0},
    {"Gather", 1, 2, 2, 1, 1, A_AXIS, gather_infer, gather_run, 0, 0, 0},
    {"Shape", 1, 1, 1, 1, 1, A_NONE, shape_infer, shape_run, 0, 0, 1},
    {"Shape", 15, 1, 1, 1, 1, A_SHAPE15, shape_infer, shape_run, 0, 0, 1},
    {"Size", 1, 1, 1, 1, 1, A_NONE, size_infer, size_run, 0, 0, 1},
    {"Concat", 4, 1, 4096, 1, 1, A_AXIS, concat_infer, concat_run, 0, 0, 0},
    {"Split", 2, 1, 1, 1, 1024, A_SPLIT, split_infer, split_run, 0, 0, 0},
    {"Split", 13, 1, 2, 1, 1024, A_AXIS, split_infer, split_run, 0, 0, 0},
    {"Split", 18, 1, 2, 1, 1024, A_SPLIT18, split_infer, split_run, 0, 0, 0},
    {"Cast", 6, 1, 1, 1, 1, A_CAST, cast_infer, cast_run, 0, 0, 0},
    {"Constant", 1, 0, 0, 1, 1, A_CONST, constant_infer, constant_run, 0, 0, 0},
    {"ConstantOfShape", 9, 1, 1, 1, 1, A_COS, cos_infer, cos_run, 0, 0, 0},
    {"Expand", 8, 2, 2, 1, 1, A_NONE, expand_infer, expand_run, 0, 0, 0},
    {"Tile", 6, 2, 2, 1, 1, A_NONE, tile_infer, tile_run, 0, 0, 0},
    {"Pad", 2, 1, 1, 1, 1, A_PAD2, pad_infer, pad_run, 0, 0, 0},
    {"Pad", 11, 2, 4, 1, 1, A_PAD11, pad_infer, pad_run, 0, 0, 0},
    {"Range", 11, 3, 3, 1, 1, A_NONE, range_infer, range_run, 0, 0, 0},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, 0, 0}};
