/* Quantization ops: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, and plain-C
 * reference implementations of the integer ops ConvInteger, MatMulInteger, QLinearConv and
 * QLinearMatMul (the oracle that integer kernels are tested against).
 *
 * Numerics follow onnxruntime's CPU kernels (which the ONNX reference agrees with):
 *  - quantize: q = saturate(nearbyint(x / scale) + zero_point), x / scale a float32 division,
 *    rounding half to even; NaN quantizes to the type's lowest value (as onnxruntime);
 *  - dequantize: y = float32(x - zero_point) * scale (float16 results are rounded once from
 *    the float32 value);
 *  - integer ops accumulate (x - x_zp) * (w - w_zp) in int32 (wrapping on overflow); QLinear*
 *    requantize with the float32 multiplier m = (x_scale * w_scale) / y_scale:
 *    y = saturate(nearbyint(float32(acc) * m) + y_zp).
 * Quantized types: int8, uint8, int16, uint16 and int32 (QuantizeLinear to int32 is an
 * extension: ONNX has no int32 output there). float8 and 4-bit types are not representable. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "exec/conv_geom.h"
#include "exec/op.h"

#define Q_TYPES                                                                            \
  (OP_DT(PTQ_DT_INT8) | OP_DT(PTQ_DT_UINT8) | OP_DT(PTQ_DT_INT16) | OP_DT(PTQ_DT_UINT16) | \
   OP_DT(PTQ_DT_INT32))
#define Q8_TYPES (OP_DT(PTQ_DT_INT8) | OP_DT(PTQ_DT_UINT8))
#define SCALE_TYPES (OP_DT(PTQ_DT_FLOAT) | OP_DT(PTQ_DT_FLOAT16))

static int is_qtype(ptq_dtype t) {
  return (unsigned)t < 32 && (Q_TYPES & OP_DT(t));
}

static void qrange(ptq_dtype t, int64_t *lo, int64_t *hi) {
  switch (t) {
    case PTQ_DT_INT8: *lo = INT8_MIN, *hi = INT8_MAX; break;
    case PTQ_DT_UINT8: *lo = 0, *hi = UINT8_MAX; break;
    case PTQ_DT_INT16: *lo = INT16_MIN, *hi = INT16_MAX; break;
    case PTQ_DT_UINT16: *lo = 0, *hi = UINT16_MAX; break;
    default: *lo = INT32_MIN, *hi = INT32_MAX; break;
  }
}

/* Integer element i of a quantized-type tensor. */
static int64_t qget(const ptq_tensor *t, int64_t i) {
  switch (t->dtype) {
    case PTQ_DT_INT8: return ((const int8_t *)t->data)[i];
    case PTQ_DT_UINT8: return ((const uint8_t *)t->data)[i];
    case PTQ_DT_INT16: return ((const int16_t *)t->data)[i];
    case PTQ_DT_UINT16: return ((const uint16_t *)t->data)[i];
    case PTQ_DT_INT32: return ((const int32_t *)t->data)[i];
    default: return 0;
  }
}

/* Stores v, already within the range of t's type. */
static void qput(ptq_tensor *t, int64_t i, int64_t v) {
  switch (t->dtype) {
    case PTQ_DT_INT8: ((int8_t *)t->data)[i] = (int8_t)v; break;
    case PTQ_DT_UINT8: ((uint8_t *)t->data)[i] = (uint8_t)v; break;
    case PTQ_DT_INT16: ((int16_t *)t->data)[i] = (int16_t)v; break;
    case PTQ_DT_UINT16: ((uint16_t *)t->data)[i] = (uint16_t)v; break;
    case PTQ_DT_INT32: ((int32_t *)t->data)[i] = (int32_t)v; break;
    default: break;
  }
}

/* float32 or float16 element as float32. */
static float fget(const ptq_tensor *t, int64_t i) {
  return t->dtype == PTQ_DT_FLOAT16 ? ptq_f16_to_f32(((const uint16_t *)t->data)[i])
                                    : ((const float *)t->data)[i];
}

static void fput(ptq_tensor *t, int64_t i, float v) {
  if (t->dtype == PTQ_DT_FLOAT16)
    ((uint16_t *)t->data)[i] = ptq_f32_to_f16(v);
  else
    ((float *)t->data)[i] = v;
}

/* saturate(round_half_even(v) + zp) for an already scaled float32 v. */
static int64_t requant(float v, int64_t zp, int64_t lo, int64_t hi) {
  float r = nearbyintf(v);
  if (isnan(r)) return lo;
  double q = (double)r + (double)zp;
  return q <= (double)lo ? lo : q >= (double)hi ? hi : (int64_t)q;
}

/* Wraps an int64 sum to int32 as int32 arithmetic on the hardware would. */
static int32_t wrap32(int64_t v) {
  return (int32_t)(uint32_t)(uint64_t)v;
}

static int numel1(const ptq_tensor *t) {
  return op_shape_known(t) && ptq_tensor_numel(t) == 1;
}

/* -------------------------------------------------- scale / zero point layout --- */

/* How element i of x finds its scale and zero point. */
typedef struct qlayout {
  int mode;                         /* 0 per tensor, 1 per axis, 2 blocked */
  int64_t inner, cdim, sdim, block; /* x as [outer, cdim, inner] around axis; sdim: scale's */
} qlayout;

static int64_t qidx(const qlayout *q, int64_t i) {
  if (q->mode == 0) return 0;
  int64_t a = (i / q->inner) % q->cdim;
  if (q->mode == 1) return a;
  int64_t o = i / (q->inner * q->cdim);
  return (o * q->sdim + a / q->block) * q->inner + i % q->inner;
}

/* Validates x (input 0), scale (1) and zero point (2, optional) of Quantize/DequantizeLinear:
 * scale a scalar (or one-element 1-D) for per-tensor, a 1-D tensor of x.dims[axis] values for
 * per-axis (opset >= 13), or with block_size > 0 (opset 21) x's shape with
 * ceil(x.dims[axis] / block_size) on axis; the zero point has the scale's shape. */
static ptq_status qdq_layout(op_ctx *c, qlayout *q) {
  const ptq_tensor *x = c->in[0], *s = c->in[1], *z = c->n_in > 2 ? c->in[2] : NULL;
  int64_t block = c->opset >= 21 ? ir_attr_int(c->node, "block_size", 0) : 0;
  memset(q, 0, sizeof *q);
  if (block < 0) return op_fail(c, PTQ_ERR_INVALID_MODEL, "block_size = %lld", (long long)block);
  if (z && s->rank >= 0 && z->rank >= 0 && !(numel1(s) && numel1(z))) {
    int same = s->rank == z->rank;
    for (int d = 0; same && d < s->rank; d++)
      same = s->dims[d] < 0 || z->dims[d] < 0 || s->dims[d] == z->dims[d];
    if (!same) return op_fail(c, PTQ_ERR_SHAPE, "zero point and scale differ in shape");
  }
  if (s->rank < 0) return PTQ_OK;
  if (block == 0 && (s->rank == 0 || (s->rank == 1 && s->dims[0] == 1))) return PTQ_OK;
  if (block == 0 && s->rank != 1)
    return op_fail(c, PTQ_ERR_SHAPE, "scale must be a scalar or 1-D (it has rank %d)", s->rank);
  if (c->opset < 13 && s->dims[0] < 0) return PTQ_OK;
  if (c->opset < 13)
    return op_fail(c, PTQ_ERR_INVALID_MODEL, "per-axis scale needs opset 13 (model has %lld)",
                   (long long)c->opset);
  if (x->rank < 0) return PTQ_OK;
  int axis;
  PTQ_TRY(op_axis(c, ir_attr_int(c->node, "axis", 1), x->rank, &axis));
  if (block == 0) {
    if (s->dims[0] >= 0 && x->dims[axis] >= 0 && s->dims[0] != x->dims[axis])
      return op_fail(c, PTQ_ERR_SHAPE, "per-axis scale has %lld values for axis %d of size %lld",
                     (long long)s->dims[0], axis, (long long)x->dims[axis]);
  } else {
    if (s->rank != x->rank)
      return op_fail(c, PTQ_ERR_SHAPE, "blocked scale has rank %d, x has rank %d", s->rank,
                     x->rank);
    for (int d = 0; d < x->rank; d++) {
      int64_t want = x->dims[d] < 0 ? -1
                     : d == axis    ? (x->dims[d] + block - 1) / block
                                    : x->dims[d];
      if (want >= 0 && s->dims[d] >= 0 && s->dims[d] != want)
        return op_fail(c, PTQ_ERR_SHAPE, "blocked scale has %lld in dimension %d, expected %lld",
                       (long long)s->dims[d], d, (long long)want);
    }
  }
  q->mode = block ? 2 : 1;
  q->block = block;
  q->inner = 1;
  for (int d = axis + 1; d < x->rank; d++) q->inner *= x->dims[d];
  q->cdim = x->dims[axis];
  q->sdim = block ? s->dims[axis] : s->dims[0];
  return PTQ_OK;
}

/* ------------------------------------------------------------ QuantizeLinear --- */

static ptq_status quant_infer(op_ctx *c) {
  const ptq_tensor *x = c->in[0], *s = c->in[1], *z = c->n_in > 2 ? c->in[2] : NULL;
  PTQ_TRY(op_require_dtype(c, 0, c->opset >= 19 ? SCALE_TYPES : OP_FLOATS));
  PTQ_TRY(op_require_dtype(c, 1, SCALE_TYPES));
  if (s->dtype && x->dtype && s->dtype != x->dtype && (c->opset >= 19 || s->dtype != PTQ_DT_FLOAT))
    return op_fail(c, PTQ_ERR_INVALID_MODEL, "y_scale is %s, x is %s", ptq_dtype_name(s->dtype),
                   ptq_dtype_name(x->dtype));
  if (z) PTQ_TRY(op_require_dtype(c, 2, Q_TYPES));
  int64_t od = c->opset >= 21 ? ir_attr_int(c->node, "output_dtype", 0) : 0;
  if (od && (od < 0 || od > 31 || !is_qtype((ptq_dtype)od)))
    return op_fail(c, PTQ_ERR_UNSUPPORTED,
                   "output_dtype %lld (only int8, uint8, int16, uint16 and int32)", (long long)od);
  if (od && z && z->dtype && z->dtype != (ptq_dtype)od)
    return op_fail(c, PTQ_ERR_INVALID_MODEL, "output_dtype %s differs from the zero point's %s",
                   ptq_dtype_name((ptq_dtype)od), ptq_dtype_name(z->dtype));
  ptq_dtype yt = z ? z->dtype : od ? (ptq_dtype)od : PTQ_DT_UINT8;
  qlayout q;
  PTQ_TRY(qdq_layout(c, &q));
  op_set_out(c, 0, yt, x->rank, x->dims);
  return PTQ_OK;
}

static ptq_status quant_run(op_ctx *c) {
  const ptq_tensor *x = c->in[0], *s = c->in[1], *z = c->n_in > 2 ? c->in[2] : NULL;
  ptq_tensor *y = c->out[0];
  qlayout q;
  PTQ_TRY(qdq_layout(c, &q));
  int64_t n = ptq_tensor_numel(x), lo, hi;
  qrange(y->dtype, &lo, &hi);
  if (q.mode == 0 && x->dtype == PTQ_DT_FLOAT) {
    float sv = fget(s, 0);
    int64_t zv = z ? qget(z, 0) : 0;
    const float *xd = x->data;
    for (int64_t i = 0; i < n; i++) qput(y, i, requant(xd[i] / sv, zv, lo, hi));
    return PTQ_OK;
  }
  for (int64_t i = 0; i < n; i++) {
    int64_t k = qidx(&q, i);
    qput(y, i, requant(fget(x, i) / fget(s, k), z ? qget(z, k) : 0, lo, hi));
  }
  return PTQ_OK;
}

/* ---------------------------------------------------------- DequantizeLinear --- */

static ptq_status dequant_infer(op_ctx *c) {
  const ptq_tensor *x = c->in[0], *s = c->in[1], *z = c->n_in > 2 ? c->in[2] : NULL;
  PTQ_TRY(op_require_dtype(c, 0, Q_TYPES));
  PTQ_TRY(op_require_dtype(c, 1, c->opset >= 19 ? SCALE_TYPES : OP_FLOATS));
  if (z) {
    PTQ_TRY(op_require_dtype(c, 2, Q_TYPES));
    if (z->dtype && x->dtype && z->dtype != x->dtype)
      return op_fail(c, PTQ_ERR_INVALID_MODEL, "x_zero_point is %s, x is %s",
                     ptq_dtype_name(z->dtype), ptq_dtype_name(x->dtype));
  }
  qlayout q;
  PTQ_TRY(qdq_layout(c, &q));
  op_set_out(c, 0, s->dtype, x->rank, x->dims);
  return PTQ_OK;
}

static ptq_status dequant_run(op_ctx *c) {
  const ptq_tensor *x = c->in[0], *s = c->in[1], *z = c->n_in > 2 ? c->in[2] : NULL;
  ptq_tensor *y = c->out[0];
  qlayout q;
  PTQ_TRY(qdq_layout(c, &q));
  int64_t n = ptq_tensor_numel(x);
  for (int64_t i = 0; i < n; i++) {
    int64_t k = qidx(&q, i);
    fput(y, i, (float)(qget(x, i) - (z ? qget(z, k) : 0)) * fget(s, k));
  }
  return PTQ_OK;
}

/* ----------------------------------------------------- DynamicQuantizeLinear --- */

/* uint8 only: range [min(0, min x), max(0, max x)] (NaNs ignored); scale = range / 255, or 1
 * for an all-zero (or empty) x; zero point = round_half_even(clamp(-min / scale, 0, 255));
 * y = saturate(round(x / scale) + zero point). */
static ptq_status dynq_infer(op_ctx *c) {
  PTQ_TRY(op_require_dtype(c, 0, OP_FLOATS));
  op_set_out(c, 0, PTQ_DT_UINT8, c->in[0]->rank, c->in[0]->dims);
  op_set_out(c, 1, PTQ_DT_FLOAT, 0, NULL);
  op_set_out(c, 2, PTQ_DT_UINT8, 0, NULL);
  return PTQ_OK;
}

static ptq_status dynq_run(op_ctx *c) {
  const ptq_tensor *x = c->in[0];
  const float *xd = x->data;
  int64_t n = ptq_tensor_numel(x);
  float mn = 0.0f, mx = 0.0f;
  for (int64_t i = 0; i < n; i++) {
    mn = xd[i] < mn ? xd[i] : mn;
    mx = xd[i] > mx ? xd[i] : mx;
  }
  float scale = mx == mn ? 1.0f : (mx - mn) / 255.0f;
  float izp = 0.0f - mn / scale;
  izp = izp < 0.0f ? 0.0f : izp > 255.0f ? 255.0f : izp;
  int64_t zp = (int64_t)nearbyintf(izp);
  if (c->out[0])
    for (int64_t i = 0; i < n; i++) qput(c->out[0], i, requant(xd[i] / scale, zp, 0, 255));
  if (c->n_out > 1 && c->out[1]) ((float *)c->out[1]->data)[0] = scale;
  if (c->n_out > 2 && c->out[2]) ((uint8_t *)c->out[2]->data)[0] = (uint8_t)zp;
  return PTQ_OK;
}

/* ------------------------------------------------------- integer matmul core --- */

/* Shape of an integer MatMul of a (input ia) and b (input ib), numpy rules (1-D operands are
 * promoted and the promoted dims dropped; batch dims broadcast). */
typedef struct imm {
  int rank;
  int64_t dims[PTQ_MAX_RANK];
  int64_t m, k, n;
} imm;

static ptq_status imm_shape(op_ctx *c, int ia, int ib, imm *p) {
  const ptq_tensor *a = c->in[ia], *b = c->in[ib];
  memset(p, 0, sizeof *p);
  if (a->rank < 0 || b->rank < 0) {
    p->rank = -1;
    return PTQ_OK;
  }
  if (a->rank == 0 || b->rank == 0) return op_fail(c, PTQ_ERR_SHAPE, "matrix product of a scalar");
  ptq_tensor pa = *a, pb = *b;
  if (a->rank == 1) pa.rank = 2, pa.dims[0] = 1, pa.dims[1] = a->dims[0];
  if (b->rank == 1) pb.rank = 2, pb.dims[0] = b->dims[0], pb.dims[1] = 1;
  int64_t ka = pa.dims[pa.rank - 1], kb = pb.dims[pb.rank - 2];
  if (ka >= 0 && kb >= 0 && ka != kb)
    return op_fail(c, PTQ_ERR_SHAPE, "inner dimensions differ: %lld vs %lld", (long long)ka,
                   (long long)kb);
  p->m = pa.dims[pa.rank - 2];
  p->k = ka >= 0 ? ka : kb;
  p->n = pb.dims[pb.rank - 1];
  ptq_tensor ba = pa, bb = pb;
  ba.rank -= 2;
  bb.rank -= 2;
  int r;
  PTQ_TRY(op_broadcast(c, &ba, &bb, &r, p->dims));
  if (a->rank > 1) p->dims[r++] = p->m;
  if (b->rank > 1) p->dims[r++] = p->n;
  p->rank = r;
  return PTQ_OK;
}

/* Checks a zero point or scale of a: one value, or 1-D with m values (per row of a). */
static ptq_status per_row(op_ctx *c, int i, const char *what, int64_t m, int allow) {
  const ptq_tensor *t = c->n_in > i ? c->in[i] : NULL;
  if (!t || t->rank < 0 || numel1(t)) return PTQ_OK;
  if (allow && t->rank == 1 && (m < 0 || t->dims[0] < 0 || t->dims[0] == m)) return PTQ_OK;
  if (!allow) return op_fail(c, PTQ_ERR_UNSUPPORTED, "%s must be a single value", what);
  return op_fail(c, PTQ_ERR_UNSUPPORTED, "%s must be a single value or a 1-D tensor of %lld", what,
                 (long long)m);
}

/* acc[batch, m, n] = sum_k (a - a_zp[m]) * (b - b_zp[n]), int32 wrapping. a_zp/b_zp may be
 * NULL (0), single-valued, or per row of a / per column of b. */
static ptq_status imm_run(op_ctx *c, const imm *p, int ia, int ib, const ptq_tensor *azp,
                          const ptq_tensor *bzp, int32_t *acc) {
  const ptq_tensor *a = c->in[ia], *b = c->in[ib];
  int64_t m = p->m, k = p->k, n = p->n, na = ptq_tensor_numel(a), nb = ptq_tensor_numel(b);
  int32_t *av = ptq_malloc((size_t)(na ? na : 1) * sizeof *av);
  int32_t *bv = ptq_malloc((size_t)(nb ? nb : 1) * sizeof *bv);
  if (!av || !bv) {
    free(av);
    free(bv);
    return op_fail(c, PTQ_ERR_NOMEM, "out of memory");
  }
  int arow = azp && !numel1(azp), bcol = bzp && !numel1(bzp);
  for (int64_t i = 0; i < na; i++)
    av[i] = (int32_t)(qget(a, i) - (azp ? qget(azp, arow ? (i / k) % m : 0) : 0));
  for (int64_t i = 0; i < nb; i++)
    bv[i] = (int32_t)(qget(b, i) - (bzp ? qget(bzp, bcol ? i % n : 0) : 0));
  /* Batch dims: broadcast strides of a and b over the output's batch shape. */
  int br = p->rank - (a->rank > 1) - (b->rank > 1);
  int ar = a->rank > 1 ? a->rank - 2 : 0, bbr = b->rank > 1 ? b->rank - 2 : 0;
  int64_t batch = 1, as[PTQ_MAX_RANK] = {0}, bs[PTQ_MAX_RANK] = {0};
  for (int d = 0; d < br; d++) batch *= p->dims[d];
  int64_t st = m * k;
  for (int d = ar - 1; d >= 0; d--) {
    as[br - ar + d] = a->dims[d] == 1 ? 0 : st;
    st *= a->dims[d];
  }
  st = k * n;
  for (int d = bbr - 1; d >= 0; d--) {
    bs[br - bbr + d] = b->dims[d] == 1 ? 0 : st;
    st *= b->dims[d];
  }
  for (int64_t bi = 0; bi < batch; bi++) {
    int64_t ao = 0, bo = 0, rem = bi;
    for (int d = br - 1; d >= 0; d--) {
      int64_t ix = rem % p->dims[d];
      rem /= p->dims[d];
      ao += ix * as[d];
      bo += ix * bs[d];
    }
    const int32_t *ap = av + ao, *bp = bv + bo;
    int32_t *cp = acc + bi * m * n;
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++) {
        int64_t s = 0;
        for (int64_t t = 0; t < k; t++) s += (int64_t)ap[i * k + t] * bp[t * n + j];
        cp[i * n + j] = wrap32(s);
      }
  }
  free(av);
  free(bv);
  return PTQ_OK;
}

/* ------------------------------------------------------------- MatMulInteger --- */

static ptq_status zp_type(op_ctx *c, int zi, int xi) {
  if (c->n_in <= zi || !c->in[zi]) return PTQ_OK;
  PTQ_TRY(op_require_dtype(c, zi, Q8_TYPES));
  ptq_dtype zt = c->in[zi]->dtype, xt = c->in[xi]->dtype;
  if (zt && xt && zt != xt)
    return op_fail(c, PTQ_ERR_INVALID_MODEL, "input %d is %s but its zero point is %s", xi,
                   ptq_dtype_name(xt), ptq_dtype_name(zt));
  return PTQ_OK;
}

static ptq_status mmi_check(op_ctx *c, imm *p) {
  PTQ_TRY(op_require_dtype(c, 0, Q8_TYPES));
  PTQ_TRY(op_require_dtype(c, 1, Q8_TYPES));
  PTQ_TRY(zp_type(c, 2, 0));
  PTQ_TRY(zp_type(c, 3, 1));
  PTQ_TRY(imm_shape(c, 0, 1, p));
  if (p->rank < 0) return PTQ_OK;
  PTQ_TRY(per_row(c, 2, "a_zero_point", p->m, c->in[0]->rank >= 2));
  PTQ_TRY(per_row(c, 3, "b_zero_point", p->n, c->in[1]->rank >= 2));
  return PTQ_OK;
}

static ptq_status mmi_infer(op_ctx *c) {
  imm p;
  PTQ_TRY(mmi_check(c, &p));
  op_set_out(c, 0, PTQ_DT_INT32, p.rank, p.dims);
  return PTQ_OK;
}

static ptq_status mmi_run(op_ctx *c) {
  imm p;
  PTQ_TRY(mmi_check(c, &p));
  return imm_run(c, &p, 0, 1, c->n_in > 2 ? c->in[2] : NULL, c->n_in > 3 ? c->in[3] : NULL,
                 c->out[0]->data);
}

/* ------------------------------------------------------------- QLinearMatMul --- */

/* Inputs: a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point. a's scale
 * and zero point: one value or per row; b's: one value or per column; y's: one value. */
static ptq_status qlmm_check(op_ctx *c, imm *p) {
  PTQ_TRY(op_require_dtype(c, 0, Q8_TYPES));
  PTQ_TRY(op_require_dtype(c, 3, Q8_TYPES));
  PTQ_TRY(op_require_dtype(c, 7, Q8_TYPES));
  PTQ_TRY(op_require_dtype(c, 1, SCALE_TYPES));
  PTQ_TRY(op_require_dtype(c, 4, SCALE_TYPES));
  PTQ_TRY(op_require_dtype(c, 6, SCALE_TYPES));
  PTQ_TRY(zp_type(c, 2, 0));
  PTQ_TRY(zp_type(c, 5, 3));
  PTQ_TRY(imm_shape(c, 0, 3, p));
  if (p->rank < 0) return PTQ_OK;
  int ra = c->in[0]->rank >= 2, rb = c->in[3]->rank >= 2;
  PTQ_TRY(per_row(c, 1, "a_scale", p->m, ra));
  PTQ_TRY(per_row(c, 2, "a_zero_point", p->m, ra));
  PTQ_TRY(per_row(c, 4, "b_scale", p->n, rb));
  PTQ_TRY(per_row(c, 5, "b_zero_point", p->n, rb));
  PTQ_TRY(per_row(c, 6, "y_scale", 1, 0));
  PTQ_TRY(per_row(c, 7, "y_zero_point", 1, 0));
  return PTQ_OK;
}

static ptq_status qlmm_infer(op_ctx *c) {
  imm p;
  PTQ_TRY(qlmm_check(c, &p));
  op_set_out(c, 0, c->in[7]->dtype, p.rank, p.dims);
  return PTQ_OK;
}

static ptq_status qlmm_run(op_ctx *c) {
  imm p;
  PTQ_TRY(qlmm_check(c, &p));
  ptq_tensor *y = c->out[0];
  int64_t total = ptq_tensor_numel(y), lo, hi;
  int32_t *acc = ptq_malloc((size_t)(total ? total : 1) * sizeof *acc);
  if (!acc) return op_fail(c, PTQ_ERR_NOMEM, "out of memory");
  ptq_status st = imm_run(c, &p, 0, 3, c->in[2], c->in[5], acc);
  if (st != PTQ_OK) {
    free(acc);
    return st;
  }
  qrange(y->dtype, &lo, &hi);
  const ptq_tensor *as = c->in[1], *bs = c->in[4];
  int arow = !numel1(as), bcol = !numel1(bs);
  float ys = fget(c->in[6], 0);
  int64_t yzp = qget(c->in[7], 0);
  for (int64_t i = 0; i < total; i++) {
    int64_t row = (i / p.n) % p.m, col = i % p.n;
    float mult = fget(as, arow ? row : 0) * fget(bs, bcol ? col : 0) / ys;
    qput(y, i, requant((float)acc[i] * mult, yzp, lo, hi));
  }
  free(acc);
  return PTQ_OK;
}

/* -------------------------------------------------------- integer conv core --- */

/* x [N, C, spatial...] and w [M, C / group, kernel...] (1 to 3 spatial dims), as Conv. */
typedef struct iconv {
  conv_geom g;
  int64_t n, cin, cout, group;
  int rank;
  int64_t dims[PTQ_MAX_RANK];
} iconv;

static ptq_status iconv_shape(op_ctx *c, int xi, int wi, int bi, iconv *p) {
  const ptq_tensor *x = c->in[xi], *w = c->in[wi];
  memset(p, 0, sizeof *p);
  int r = x->rank >= 0 ? x->rank : w->rank;
  p->rank = r;
  if (r < 0) return PTQ_OK;
  if (r < 3 || r > 5)
    return op_fail(c, PTQ_ERR_UNSUPPORTED, "input rank %d (only 1-D to 3-D convolution)", r);
  if (w->rank >= 0 && w->rank != r)
    return op_fail(c, PTQ_ERR_SHAPE, "weights rank %d differs from input rank %d", w->rank, r);
  p->group = ir_attr_int(c->node, "group", 1);
  if (p->group < 1) return op_fail(c, PTQ_ERR_INVALID_MODEL, "group = %lld", (long long)p->group);
  int64_t in_sp[CONV_GEOM_MAX_ND], ksp[CONV_GEOM_MAX_ND];
  for (int i = 0; i < r - 2; i++) {
    in_sp[i] = x->rank >= 0 ? x->dims[2 + i] : -1;
    ksp[i] = w->rank >= 0 ? w->dims[2 + i] : -1;
  }
  PTQ_TRY(conv_geom_get(c, r - 2, in_sp, ksp, 0, &p->g));
  p->n = x->rank >= 0 ? x->dims[0] : -1;
  p->cin = x->rank >= 0 ? x->dims[1] : -1;
  p->cout = w->rank >= 0 ? w->dims[0] : -1;
  int64_t wc = w->rank >= 0 ? w->dims[1] : -1;
  if (p->cin >= 0 && wc >= 0 && p->cin != wc * p->group)
    return op_fail(c, PTQ_ERR_SHAPE, "input has %lld channels but weights expect %lld x group %lld",
                   (long long)p->cin, (long long)wc, (long long)p->group);
  if (p->cout >= 0 && p->cout % p->group != 0)
    return op_fail(c, PTQ_ERR_SHAPE, "%lld output channels are not divisible by group %lld",
                   (long long)p->cout, (long long)p->group);
  if (bi >= 0 && c->n_in > bi && c->in[bi]) {
    const ptq_tensor *b = c->in[bi];
    PTQ_TRY(op_require_dtype(c, bi, OP_DT(PTQ_DT_INT32)));
    if (b->rank >= 0 &&
        (b->rank != 1 || (p->cout >= 0 && b->dims[0] >= 0 && b->dims[0] != p->cout)))
      return op_fail(c, PTQ_ERR_SHAPE, "bias must be 1-D of size %lld", (long long)p->cout);
  }
  p->dims[0] = p->n;
  p->dims[1] = p->cout;
  for (int i = 0; i < r - 2; i++) p->dims[2 + i] = p->g.out[i];
  return PTQ_OK;
}

/* acc[n, m, out...] = bias[m] + sum over the group's channels and the kernel window of
 * (x - x_zp) * (w - w_zp[m]); padding contributes 0 (it holds x_zp). int32 wrapping. */
static ptq_status iconv_run(op_ctx *c, const iconv *p, int xi, int wi, const ptq_tensor *xzp,
                            const ptq_tensor *wzp, const ptq_tensor *bias, int32_t *acc) {
  const ptq_tensor *x = c->in[xi], *w = c->in[wi];
  int nd = p->g.nd;
  /* Spatial dims as 3-D, leading ones for 1-D and 2-D. */
  int64_t k[3], s[3], d[3], pb[3], in[3], out[3];
  for (int i = 0; i < 3; i++) {
    int j = i - (3 - nd);
    k[i] = j >= 0 ? p->g.k[j] : 1;
    s[i] = j >= 0 ? p->g.s[j] : 1;
    d[i] = j >= 0 ? p->g.d[j] : 1;
    pb[i] = j >= 0 ? p->g.pb[j] : 0;
    in[i] = j >= 0 ? p->g.in[j] : 1;
    out[i] = j >= 0 ? p->g.out[j] : 1;
  }
  int64_t nx = ptq_tensor_numel(x), nw = ptq_tensor_numel(w);
  int64_t cg = p->cin / p->group, mg = p->cout / p->group;
  int64_t ksz = k[0] * k[1] * k[2], isz = in[0] * in[1] * in[2], osz = out[0] * out[1] * out[2];
  int32_t *xv = ptq_malloc((size_t)(nx ? nx : 1) * sizeof *xv);
  int32_t *wv = ptq_malloc((size_t)(nw ? nw : 1) * sizeof *wv);
  if (!xv || !wv) {
    free(xv);
    free(wv);
    return op_fail(c, PTQ_ERR_NOMEM, "out of memory");
  }
  int64_t xz = xzp ? qget(xzp, 0) : 0;
  int wper = wzp && !numel1(wzp);
  for (int64_t i = 0; i < nx; i++) xv[i] = (int32_t)(qget(x, i) - xz);
  for (int64_t i = 0; i < nw; i++)
    wv[i] = (int32_t)(qget(w, i) - (wzp ? qget(wzp, wper ? i / (cg * ksz) : 0) : 0));
  for (int64_t b = 0; b < p->n; b++)
    for (int64_t m = 0; m < p->cout; m++) {
      int64_t g = m / mg;
      const int32_t *wm = wv + m * cg * ksz;
      const int32_t *xb = xv + (b * p->cin + g * cg) * isz;
      int32_t *ob = acc + (b * p->cout + m) * osz;
      int64_t b0 = bias ? qget(bias, m) : 0;
      for (int64_t o0 = 0; o0 < out[0]; o0++)
        for (int64_t o1 = 0; o1 < out[1]; o1++)
          for (int64_t o2 = 0; o2 < out[2]; o2++) {
            int64_t sum = b0;
            for (int64_t ci = 0; ci < cg; ci++)
              for (int64_t k0 = 0; k0 < k[0]; k0++) {
                int64_t i0 = o0 * s[0] - pb[0] + k0 * d[0];
                if (i0 < 0 || i0 >= in[0]) continue;
                for (int64_t k1 = 0; k1 < k[1]; k1++) {
                  int64_t i1 = o1 * s[1] - pb[1] + k1 * d[1];
                  if (i1 < 0 || i1 >= in[1]) continue;
                  for (int64_t k2 = 0; k2 < k[2]; k2++) {
                    int64_t i2 = o2 * s[2] - pb[2] + k2 * d[2];
                    if (i2 < 0 || i2 >= in[2]) continue;
                    sum += (int64_t)xb[ci * isz + (i0 * in[1] + i1) * in[2] + i2] *
                           wm[ci * ksz + (k0 * k[1] + k1) * k[2] + k2];
                  }
                }
              }
            ob[(o0 * out[1] + o1) * out[2] + o2] = wrap32(sum);
          }
    }
  free(xv);
  free(wv);
  return PTQ_OK;
}

/* --------------------------------------------------------------- ConvInteger --- */

/* Inputs x, w, x_zero_point (one value), w_zero_point (one value or per output channel). */
static ptq_status convi_check(op_ctx *c, iconv *p) {
  PTQ_TRY(op_require_dtype(c, 0, Q8_TYPES));
  PTQ_TRY(op_require_dtype(c, 1, Q8_TYPES));
  PTQ_TRY(zp_type(c, 2, 0));
  PTQ_TRY(zp_type(c, 3, 1));
  PTQ_TRY(iconv_shape(c, 0, 1, -1, p));
  PTQ_TRY(per_row(c, 2, "x_zero_point", 1, 0));
  PTQ_TRY(per_row(c, 3, "w_zero_point", p->cout, 1));
  return PTQ_OK;
}

static ptq_status convi_infer(op_ctx *c) {
  iconv p;
  PTQ_TRY(convi_check(c, &p));
  op_set_out(c, 0, PTQ_DT_INT32, p.rank, p.dims);
  return PTQ_OK;
}

static ptq_status convi_run(op_ctx *c) {
  iconv p;
  PTQ_TRY(convi_check(c, &p));
  return iconv_run(c, &p, 0, 1, c->n_in > 2 ? c->in[2] : NULL, c->n_in > 3 ? c->in[3] : NULL, NULL,
                   c->out[0]->data);
}

/* --------------------------------------------------------------- QLinearConv --- */

/* Inputs x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, bias
 * (int32, optional). x and y scales/zero points: one value; w's: one value or per output
 * channel. */
static ptq_status qlconv_check(op_ctx *c, iconv *p) {
  PTQ_TRY(op_require_dtype(c, 0, Q8_TYPES));
  PTQ_TRY(op_require_dtype(c, 3, Q8_TYPES));
  PTQ_TRY(op_require_dtype(c, 7, Q8_TYPES));
  PTQ_TRY(op_require_dtype(c, 1, SCALE_TYPES));
  PTQ_TRY(op_require_dtype(c, 4, SCALE_TYPES));
  PTQ_TRY(op_require_dtype(c, 6, SCALE_TYPES));
  PTQ_TRY(zp_type(c, 2, 0));
  PTQ_TRY(zp_type(c, 5, 3));
  PTQ_TRY(iconv_shape(c, 0, 3, 8, p));
  PTQ_TRY(per_row(c, 1, "x_scale", 1, 0));
  PTQ_TRY(per_row(c, 2, "x_zero_point", 1, 0));
  PTQ_TRY(per_row(c, 4, "w_scale", p->cout, 1));
  PTQ_TRY(per_row(c, 5, "w_zero_point", p->cout, 1));
  PTQ_TRY(per_row(c, 6, "y_scale", 1, 0));
  PTQ_TRY(per_row(c, 7, "y_zero_point", 1, 0));
  return PTQ_OK;
}

static ptq_status qlconv_infer(op_ctx *c) {
  iconv p;
  PTQ_TRY(qlconv_check(c, &p));
  op_set_out(c, 0, c->in[7]->dtype, p.rank, p.dims);
  return PTQ_OK;
}

static ptq_status qlconv_run(op_ctx *c) {
  iconv p;
  PTQ_TRY(qlconv_check(c, &p));
  ptq_tensor *y = c->out[0];
  int64_t total = ptq_tensor_numel(y), lo, hi;
  int32_t *acc = ptq_malloc((size_t)(total ? total : 1) * sizeof *acc);
  if (!acc) return op_fail(c, PTQ_ERR_NOMEM, "out of memory");
  ptq_status st = iconv_run(c, &p, 0, 3, c->in[2], c->in[5], c->n_in > 8 ? c->in[8] : NULL, acc);
  if (st != PTQ_OK) {
    free(acc);
    return st;
  }
  qrange(y->dtype, &lo, &hi);
  const ptq_tensor *ws = c->in[4];
  int wper = !numel1(ws);
  float xs = fget(c->in[1], 0), ys = fget(c->in[6], 0);
  int64_t yzp = qget(c->in[7], 0), osz = p.n > 0 && p.cout > 0 ? total / (p.n * p.cout) : 0;
  for (int64_t i = 0; i < total; i++) {
    int64_t m = (i / osz) % p.cout;
    float mult = xs * fget(ws, wper ? m : 0) / ys;
    qput(y, i, requant((float)acc[i] * mult, yzp, lo, hi));
  }
  free(acc);
  return PTQ_OK;
}

/* --------------------------------------------------------------------- table --- */

static const char *const A_NONE[] = {NULL};
static const char *const A_Q13[] = {"axis:i", NULL};
static const char *const A_Q19[] = {"axis:i", "saturate:i", NULL};
static const char *const A_Q21[] = {"axis:i", "block_size:i", "output_dtype:i", "saturate:i", NULL};
static const char *const A_DQ21[] = {"axis:i", "block_size:i", NULL};
static const char *const A_CONVI[] = {
    "auto_pad:s", "dilations:ints", "group:i", "kernel_shape:ints",
    "pads:ints",  "strides:ints",   NULL};

const op_def op_defs_quant[] = {
    {"QuantizeLinear", 10, 2, 3, 1, 1, A_NONE, quant_infer, quant_run, 0, 0, 0},
    {"QuantizeLinear", 13, 2, 3, 1, 1, A_Q13, quant_infer, quant_run, 0, 0, 0},
    {"QuantizeLinear", 19, 2, 3, 1, 1, A_Q19, quant_infer, quant_run, 0, 0, 0},
    {"QuantizeLinear", 21, 2, 3, 1, 1, A_Q21, quant_infer, quant_run, 0, 0, 0},
    {"DequantizeLinear", 10, 2, 3, 1, 1, A_NONE, dequant_infer, dequant_run, 0, 0, 0},
    {"DequantizeLinear", 13, 2, 3, 1, 1, A_Q13, dequant_infer, dequant_run, 0, 0, 0},
    {"DequantizeLinear", 21, 2, 3, 1, 1, A_DQ21, dequant_infer, dequant_run, 0, 0, 0},
    {"DynamicQuantizeLinear", 11, 1, 1, 1, 3, A_NONE, dynq_infer, dynq_run, 0, 0, 0},
    {"MatMulInteger", 10, 2, 4, 1, 1, A_NONE, mmi_infer, mmi_run, 0, 0, 0},
    {"QLinearMatMul", 10, 8, 8, 1, 1, A_NONE, qlmm_infer, qlmm_run, 0, 0, 0},
    {"ConvInteger", 10, 2, 4, 1, 1, A_CONVI, convi_infer, convi_run, 0, 0, 0},
    {"QLinearConv", 10, 8, 9, 1, 1, A_CONVI, qlconv_infer, qlconv_run, 0, 0, 0},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, 0, 0}};
