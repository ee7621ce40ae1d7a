/* Conv, ConvTranspose and pooling (1-D and 2-D, NCHW) on the float kernels. */
#include <stdlib.h>
#include <string.h>

#include "exec/conv_geom.h"
#include "exec/op.h"
#include "kernels/kernels.h"

/* Spatial attributes shared by Conv, ConvTranspose and pooling, normalised to 2-D
 * (1-D ops use h = 1). */
typedef struct spatial {
  int nd;                                 /* 1 or 2 */
  int64_t k[2], s[2], d[2], pb[2], pe[2]; /* kernel, stride, dilation, pad begin/end */
  int64_t in[2], out[2];
} spatial;

/* conv_geom for 1-D or 2-D ops, viewed as 2-D (1-D uses h = 1). */
static ptq_status spatial_get(const op_ctx *c, int nd, const int64_t *in, const int64_t *kernel,
                              int ceil_mode, spatial *sp) {
  memset(sp, 0, sizeof *sp);
  sp->nd = nd;
  if (nd < 1 || nd > 2)
    return op_fail(c, PTQ_ERR_UNSUPPORTED, "%d-D spatial input (only 1-D and 2-D)", nd);
  conv_geom g;
  PTQ_TRY(conv_geom_get(c, nd, in, kernel, ceil_mode, &g));
  int o = 2 - nd; /* 1-D fills index 1 */
  for (int i = 0; i < 2; i++) {
    sp->k[i] = sp->s[i] = sp->d[i] = sp->in[i] = sp->out[i] = 1;
    sp->pb[i] = sp->pe[i] = 0;
  }
  for (int i = 0; i < nd; i++) {
    sp->k[i + o] = g.k[i], sp->s[i + o] = g.s[i], sp->d[i + o] = g.d[i];
    sp->pb[i + o] = g.pb[i], sp->pe[i + o] = g.pe[i];
    sp->in[i + o] = g.in[i], sp->out[i + o] = g.out[i];
  }
  return PTQ_OK;
}

/* ----------------------------------------------------------------- Conv --- */

static ptq_status conv_common(op_ctx *c, spatial *sp, int64_t *dims, int *rank) {
  const ptq_tensor *x = c->in[0], *w = c->in[1];
  PTQ_TRY(op_require_dtype(c, 0, OP_FLOATS));
  PTQ_TRY(op_require_dtype(c, 1, OP_FLOATS));
  if (c->n_in > 2 && c->in[2]) PTQ_TRY(op_require_dtype(c, 2, OP_FLOATS));
  int r = x->rank >= 0 ? x->rank : w->rank;
  *rank = r;
  if (r < 0) return PTQ_OK;
  if (r != 3 && r != 4)
    return op_fail(c, PTQ_ERR_UNSUPPORTED, "input rank %d (only 1-D and 2-D convolution)", r);
  if (w->rank >= 0 && w->rank != r)
    return op_fail(c, PTQ_ERR_SHAPE, "weights rank %d differs from input rank %d", w->rank, r);
  int64_t group = ir_attr_int(c->node, "group", 1);
  if (group < 1) return op_fail(c, PTQ_ERR_INVALID_MODEL, "group = %lld", (long long)group);
  int64_t in_sp[2] = {-1, -1}, ksp[2] = {-1, -1};
  for (int i = 0; i < r - 2; i++) {
    in_sp[i] = x->rank >= 0 ? x->dims[2 + i] : -1;
    ksp[i] = w->rank >= 0 ? w->dims[2 + i] : -1;
  }
  PTQ_TRY(spatial_get(c, r - 2, in_sp, ksp, 0, sp));
  int64_t n = x->rank >= 0 ? x->dims[0] : -1, cin = x->rank >= 0 ? x->dims[1] : -1;
  int64_t cout = w->rank >= 0 ? w->dims[0] : -1, wc = w->rank >= 0 ? w->dims[1] : -1;
  if (cin >= 0 && wc >= 0 && cin != wc * group)
    return op_fail(c, PTQ_ERR_SHAPE, "input has %lld channels but weights expect %lld x group %lld",
                   (long long)cin, (long long)wc, (long long)group);
  if (cout >= 0 && cout % group != 0)
    return op_fail(c, PTQ_ERR_SHAPE, "%lld output channels are not divisible by group %lld",
                   (long long)cout, (long long)group);
  if (c->n_in > 2 && c->in[2] && c->in[2]->rank >= 0 &&
      (c->in[2]->rank != 1 || (cout >= 0 && c->in[2]->dims[0] >= 0 && c->in[2]->dims[0] != cout)))
    return op_fail(c, PTQ_ERR_SHAPE, "bias must be 1-D of size %lld", (long long)cout);
  dims[0] = n;
  dims[1] = cout;
  if (r == 3)
    dims[2] = sp->out[1];
  else
    dims[2] = sp->out[0], dims[3] = sp->out[1];
  return PTQ_OK;
}

static ptq_status conv_infer(op_ctx *c) {
  spatial sp;
  int64_t dims[PTQ_MAX_RANK] = {-1, -1, -1, -1};
  int rank;
  PTQ_TRY(conv_common(c, &sp, dims, &rank));
  op_set_out(c, 0, PTQ_DT_FLOAT, rank, dims);
  return PTQ_OK;
}

/* Kernel parameters of a Conv whose shapes conv_common accepted. */
static ptq_conv_params conv_params(const op_ctx *c, const spatial *sp, const ptq_tensor *w) {
  const ptq_tensor *x = c->in[0];
  ptq_conv_params p = {.n = x->dims[0],
                       .c_in = x->dims[1],
                       .h_in = sp->in[0],
                       .w_in = sp->in[1],
                       .c_out = w->dims[0],
                       .h_out = sp->out[0],
                       .w_out = sp->out[1],
                       .group = ir_attr_int(c->node, "group", 1),
                       .k_h = sp->k[0],
                       .k_w = sp->k[1],
                       .stride_h = sp->s[0],
                       .stride_w = sp->s[1],
                       .dil_h = sp->d[0],
                       .dil_w = sp->d[1],
                       .pad_t = sp->pb[0],
                       .pad_l = sp->pb[1],
                       .pad_b = sp->pe[0],
                       .pad_r = sp->pe[1]};
  return p;
}

static ptq_status conv_run(op_ctx *c) {
  spatial sp;
  int64_t dims[PTQ_MAX_RANK] = {0};
  int rank;
  PTQ_TRY(conv_common(c, &sp, dims, &rank));
  const op_prepared *pr = c->prep;
  const ptq_tensor *w = pr && pr->w ? pr->w : c->in[1];
  const ptq_tensor *b = pr && pr->w ? pr->b : (c->n_in > 2 ? c->in[2] : NULL);
  ptq_conv_params p = conv_params(c, &sp, w);
  if (pr) {
    p.act = pr->act;
    p.packed = pr->packed;
  }
  if (ptq_tensor_numel(c->out[0]) == 0) return PTQ_OK;
  size_t scratch_n = ptq_conv2d_scratch_size(&p);
  float *to_free = NULL, *scratch = op_scratch(c, scratch_n, &to_free);
  if (scratch_n && !scratch)
    return op_fail(c, PTQ_ERR_NOMEM, "cannot allocate %zu floats of scratch", scratch_n);
  ptq_conv2d_f32(&p, c->in[0]->data, w->data, b ? b->data : NULL, c->out[0]->data, scratch);
  free(to_free);
  return PTQ_OK;
}

ptq_status op_conv_prepare(const ir_graph *g, const ir_node *n, op_prepared *prep) {
  ptq_tensor shapes[3], *in[3] = {NULL, NULL, NULL};
  const ir_value *xv = ir_in(g, n, 0), *wv = ir_in(g, n, 1), *bv = ir_in(g, n, 2);
  if (!xv || !wv || !wv->data) return PTQ_OK;
  memset(shapes, 0, sizeof shapes);
  for (int i = 0; i < 3; i++) {
    const ir_value *v = i == 0 ? xv : i == 1 ? wv : bv;
    if (!v) continue;
    shapes[i].dtype = v->dtype;
    shapes[i].rank = v->rank;
    for (int d = 0; d < v->rank && d < PTQ_MAX_RANK; d++) shapes[i].dims[d] = v->dims[d];
    in[i] = &shapes[i];
  }
  const ptq_tensor *w = prep->w ? prep->w : wv->data;
  op_ctx c = {.graph = g,
              .node = n,
              .opset = g->opset,
              .n_in = n->n_inputs,
              .n_out = 1,
              .in = in,
              .infer_only = 1};
  spatial sp;
  int64_t dims[PTQ_MAX_RANK];
  int rank;
  if (conv_common(&c, &sp, dims, &rank) != PTQ_OK || rank < 0 || xv->rank < 2 || xv->dims[1] < 0) {
    ptq_error_clear();
    return PTQ_OK;
  }
  /* Spatial sizes do not affect the packing; unknown ones are given as 1. */
  for (int i = 0; i < 2; i++) {
    if (sp.in[i] < 0) sp.in[i] = 1;
    if (sp.out[i] < 0) sp.out[i] = 1;
  }
  ptq_conv_params p = conv_params(&c, &sp, w);
  prep->packed = ptq_conv2d_pack(&p, w->data);
  return PTQ_OK;
}

/* -------------------------------------------------------- ConvTranspose --- */

static ptq_status deconv_common(op_ctx *c, ptq_deconv_params *p, int64_t *dims, int *rank) {
  const ptq_tensor *x = c->in[0], *w = c->in[1];
  PTQ_TRY(op_require_dtype(c, 0, OP_FLOATS));
  PTQ_TRY(op_require_dtype(c, 1, OP_FLOATS));
  int r = x->rank >= 0 ? x->rank : w->rank;
  *rank = r;
  if (r < 0) return PTQ_OK;
  if (r != 3 && r != 4)
    return op_fail(c, PTQ_ERR_UNSUPPORTED, "input rank %d (only 1-D and 2-D)", r);
  int nd = r - 2;
  int64_t group = ir_attr_int(c->node, "group", 1);
  if (group < 1) return op_fail(c, PTQ_ERR_INVALID_MODEL, "group = %lld", (long long)group);
  int64_t ks[2], s[2], d[2], op_[2], pads[4] = {0, 0, 0, 0}, osh[2];
  int64_t wk[2] = {-1, -1};
  for (int i = 0; i < nd; i++) wk[i] = w->rank >= 0 ? w->dims[2 + i] : -1;
  PTQ_TRY(conv_geom_ints(c, "kernel_shape", nd, ks, -1, 1));
  for (int i = 0; i < nd; i++) {
    if (ks[i] >= 0 && wk[i] >= 0 && ks[i] != wk[i])
      return op_fail(c, PTQ_ERR_INVALID_MODEL, "kernel_shape does not match the weights");
    if (ks[i] < 0) ks[i] = wk[i];
  }
  PTQ_TRY(conv_geom_ints(c, "strides", nd, s, 1, 1));
  PTQ_TRY(conv_geom_ints(c, "dilations", nd, d, 1, 1));
  PTQ_TRY(conv_geom_ints(c, "output_padding", nd, op_, 0, 0));
  const int64_t *pv;
  size_t np = ir_attr_ints(c->node, "pads", &pv);
  if (ir_node_attr(c->node, "pads")) {
    if ((int)np != 2 * nd) return op_fail(c, PTQ_ERR_INVALID_MODEL, "pads has %zu values", np);
    for (int i = 0; i < 2 * nd; i++) {
      if (pv[i] < 0) return op_fail(c, PTQ_ERR_INVALID_MODEL, "negative pads");
      pads[i] = pv[i];
    }
  }
  int has_os = ir_node_attr(c->node, "output_shape") != NULL;
  if (has_os) PTQ_TRY(conv_geom_ints(c, "output_shape", nd, osh, 0, 1));
  const char *ap = ir_attr_string(c->node, "auto_pad", "NOTSET");
  int same_upper = strcmp(ap, "SAME_UPPER") == 0, same_lower = strcmp(ap, "SAME_LOWER") == 0;
  if (!same_upper && !same_lower && strcmp(ap, "VALID") != 0 && strcmp(ap, "NOTSET") != 0)
    return op_fail(c, PTQ_ERR_INVALID_MODEL, "auto_pad '%s'", ap);
  if (strcmp(ap, "VALID") == 0) memset(pads, 0, sizeof pads);
  int64_t cin = x->rank >= 0 ? x->dims[1] : -1, wcin = w->rank >= 0 ? w->dims[0] : -1;
  if (cin >= 0 && wcin >= 0 && cin != wcin)
    return op_fail(c, PTQ_ERR_SHAPE, "input has %lld channels, weights %lld", (long long)cin,
                   (long long)wcin);
  if (cin >= 0 && cin % group) return op_fail(c, PTQ_ERR_SHAPE, "channels not divisible by group");
  int64_t cout = w->rank >= 0 ? w->dims[1] * group : -1;
  dims[0] = x->rank >= 0 ? x->dims[0] : -1;
  dims[1] = cout;
  int64_t out[2] = {-1, -1}, in[2] = {-1, -1};
  for (int i = 0; i < nd; i++) {
    in[i] = x->rank >= 0 ? x->dims[2 + i] : -1;
    if (in[i] < 0 || ks[i] < 0) continue;
    int64_t full = s[i] * (in[i] - 1) + op_[i] + d[i] * (ks[i] - 1) + 1;
    if (has_os || same_upper || same_lower) {
      int64_t target = has_os ? osh[i] : in[i] * s[i];
      int64_t total = full - target;
      if (total < 0) total = 0; /* ORT pads the tail with zeros; unusual, accept */
      if (same_upper || (has_os && !same_lower)) {
        pads[i] = total / 2;
        pads[i + nd] = total - total / 2;
      } else {
        pads[i + nd] = total / 2;
        pads[i] = total - total / 2;
      }
      if (full - pads[i] - pads[i + nd] != target)
        return op_fail(c, PTQ_ERR_UNSUPPORTED, "output_shape larger than the full output");
    }
    out[i] = full - pads[i] - pads[i + nd];
    if (out[i] < 0) return op_fail(c, PTQ_ERR_SHAPE, "pads larger than the output");
  }
  for (int i = 0; i < nd; i++) dims[2 + i] = out[i];
  if (c->n_in > 2 && c->in[2] && c->in[2]->rank >= 0 &&
      (c->in[2]->rank != 1 || (cout >= 0 && c->in[2]->dims[0] >= 0 && c->in[2]->dims[0] != cout)))
    return op_fail(c, PTQ_ERR_SHAPE, "bias must be 1-D of size %lld", (long long)cout);
  int h = nd == 2 ? 0 : -1, wi = nd == 2 ? 1 : 0;
  memset(p, 0, sizeof *p);
  p->c.n = dims[0];
  p->c.c_in = cin;
  p->c.h_in = h >= 0 ? in[h] : 1;
  p->c.w_in = in[wi];
  p->c.c_out = cout;
  p->c.h_out = h >= 0 ? out[h] : 1;
  p->c.w_out = out[wi];
  p->c.group = group;
  p->c.k_h = h >= 0 ? ks[h] : 1;
  p->c.k_w = ks[wi];
  p->c.stride_h = h >= 0 ? s[h] : 1;
  p->c.stride_w = s[wi];
  p->c.dil_h = h >= 0 ? d[h] : 1;
  p->c.dil_w = d[wi];
  p->c.pad_t = h >= 0 ? pads[h] : 0;
  p->c.pad_b = h >= 0 ? pads[h + nd] : 0;
  p->c.pad_l = pads[wi];
  p->c.pad_r = pads[wi + nd];
  p->out_pad_h = h >= 0 ? op_[h] : 0;
  p->out_pad_w = op_[wi];
  return PTQ_OK;
}

static ptq_status deconv_infer(op_ctx *c) {
  ptq_deconv_params p;
  int64_t dims[PTQ_MAX_RANK] = {-1, -1, -1, -1};
  int rank;
  PTQ_TRY(deconv_common(c, &p, dims, &rank));
  op_set_out(c, 0, PTQ_DT_FLOAT, rank, dims);
  return PTQ_OK;
}

static ptq_status deconv_run(op_ctx *c) {
  ptq_deconv_params p;
  int64_t dims[PTQ_MAX_RANK] = {0};
  int rank;
  PTQ_TRY(deconv_common(c, &p, dims, &rank));
  if (ptq_tensor_numel(c->out[0]) == 0) return PTQ_OK;
  size_t scratch_n = ptq_deconv2d_scratch_size(&p);
  float *scratch = scratch_n ? ptq_malloc(scratch_n * sizeof(float)) : NULL;
  if (scratch_n && !scratch) return op_fail(c, PTQ_ERR_NOMEM, "cannot allocate scratch");
  ptq_deconv2d_f32(&p, c->in[0]->data, c->in[1]->data,
                   (c->n_in > 2 && c->in[2]) ? c->in[2]->data : NULL, c->out[0]->data, scratch);
  free(scratch);
  if (c->prep) ptq_act_apply(&c->prep->act, c->out[0]->data, ptq_tensor_numel(c->out[0]));
  return PTQ_OK;
}

/* -------------------------------------------------------------- Pooling --- */

static int is_max(const op_ctx *c) {
  return strstr(c->node->op_type, "Max") != NULL;
}

static ptq_status pool_common(op_ctx *c, spatial *sp, int64_t *dims, int *rank) {
  const ptq_tensor *x = c->in[0];
  PTQ_TRY(op_require_dtype(c, 0, OP_FLOATS));
  *rank = x->rank;
  if (x->rank < 0) {
    const int64_t *k;
    size_t nk = ir_attr_ints(c->node, "kernel_shape", &k);
    *rank = nk ? (int)nk + 2 : -1;
    for (int i = 0; i < PTQ_MAX_RANK; i++) dims[i] = -1;
    return PTQ_OK;
  }
  if (x->rank != 3 && x->rank != 4)
    return op_fail(c, PTQ_ERR_UNSUPPORTED, "input rank %d (only 1-D and 2-D pooling)", x->rank);
  if (is_max(c) && ir_attr_int(c->node, "storage_order", 0) != 0)
    return op_fail(c, PTQ_ERR_UNSUPPORTED, "storage_order = 1");
  if (c->n_out > 1) return op_fail(c, PTQ_ERR_UNSUPPORTED, "the Indices output of MaxPool");
  int64_t in_sp[2] = {x->dims[2], x->rank == 4 ? x->dims[3] : -1};
  int ceil_mode = (int)ir_attr_int(c->node, "ceil_mode", 0);
  PTQ_TRY(spatial_get(c, x->rank - 2, in_sp, NULL, ceil_mode, sp));
  dims[0] = x->dims[0];
  dims[1] = x->dims[1];
  if (x->rank == 3)
    dims[2] = sp->out[1];
  else
    dims[2] = sp->out[0], dims[3] = sp->out[1];
  return PTQ_OK;
}

static ptq_status pool_infer(op_ctx *c) {
  spatial sp;
  int64_t dims[PTQ_MAX_RANK] = {-1, -1, -1, -1};
  int rank;
  PTQ_TRY(pool_common(c, &sp, dims, &rank));
  op_set_out(c, 0, PTQ_DT_FLOAT, rank, dims);
  return PTQ_OK;
}

static ptq_status pool_run(op_ctx *c) {
  spatial sp;
  int64_t dims[PTQ_MAX_RANK] = {0};
  int rank;
  PTQ_TRY(pool_common(c, &sp, dims, &rank));
  const ptq_tensor *x = c->in[0];
  ptq_pool_params p = {.n = x->dims[0],
                       .c = x->dims[1],
                       .h_in = sp.in[0],
                       .w_in = sp.in[1],
                       .h_out = sp.out[0],
                       .w_out = sp.out[1],
                       .k_h = sp.k[0],
                       .k_w = sp.k[1],
                       .stride_h = sp.s[0],
                       .stride_w = sp.s[1],
                       .dil_h = sp.d[0],
                       .dil_w = sp.d[1],
                       .pad_t = sp.pb[0],
                       .pad_l = sp.pb[1],
                       .pad_b = sp.pe[0],
                       .pad_r = sp.pe[1],
                       .count_include_pad = (int)ir_attr_int(c->node, "count_include_pad", 0)};
  if (ptq_tensor_numel(c->out[0]) == 0) return PTQ_OK;
  if (is_max(c))
    ptq_maxpool2d_f32(&p, x->data, c->out[0]->data);
  else
    ptq_avgpool2d_f32(&p, x->data, c->out[0]->data);
  return PTQ_OK;
}

static ptq_status gpool_infer(op_ctx *c) {
  const ptq_tensor *x = c->in[0];
  PTQ_TRY(op_require_dtype(c, 0, OP_FLOATS));
  int64_t dims[PTQ_MAX_RANK] = {0};
  if (x->rank >= 0 && x->rank < 3) return op_fail(c, PTQ_ERR_SHAPE, "input rank %d < 3", x->rank);
  for (int i = 0; i < PTQ_MAX_RANK; i++) dims[i] = (i < 2 && x->rank >= 0) ? x->dims[i] : 1;
  op_set_out(c, 0, PTQ_DT_FLOAT, x->rank, dims);
  return PTQ_OK;
}

static ptq_status gpool_run(op_ctx *c) {
  const ptq_tensor *x = c->in[0];
  int64_t hw = 1;
  for (int i = 2; i < x->rank; i++) hw *= x->dims[i];
  if (!is_max(c)) {
    ptq_global_avgpool_f32(x->dims[0], x->dims[1], hw, x->data, c->out[0]->data);
    return PTQ_OK;
  }
  const float *src = x->data;
  float *dst = c->out[0]->data;
  int64_t nc = x->dims[0] * x->dims[1];
  for (int64_t i = 0; i < nc; i++) {
    float m = src[i * hw];
    for (int64_t j = 1; j < hw; j++) m = src[i * hw + j] > m ? src[i * hw + j] : m;
    dst[i] = m;
  }
  return PTQ_OK;
}

static const char *const A_CONV[] = {"auto_pad:s", "dilations:ints", "group:i", "kernel_shape:ints",
                                     "pads:ints",  "strides:ints",   NULL};
static const char *const A_DECONV[] = {
    "auto_pad:s",        "dilations:ints",      "group:i",
    "kernel_shape:ints", "output_padding:ints", "output_shape:ints",
    "pads:ints",         "strides:ints",        NULL};
static const char *const A_MAXPOOL[] = {"auto_pad:s",        "ceil_mode:i", "dilations:ints",
                                        "kernel_shape:ints", "pads:ints",   "storage_order:i",
                                        "strides:ints",      NULL};
static const char *const A_AVGPOOL[] = {
    "auto_pad:s",        "ceil_mode:i", "count_include_pad:i", "dilations:ints",
    "kernel_shape:ints", "pads:ints",   "strides:ints",        NULL};
static const char *const A_NONE[] = {NULL};

const op_def op_defs_conv[] = {
    {"Conv", 1, 2, 3, 1, 1, A_CONV, conv_infer, conv_run, 0, 0, 0},
    {"ConvTranspose", 1, 2, 3, 1, 1, A_DECONV, deconv_infer, deconv_run, 0, 0, 0},
    {"MaxPool", 1, 1, 1, 1, 2, A_MAXPOOL, pool_infer, pool_run, 0, 0, 0},
    {"AveragePool", 1, 1, 1, 1, 1, A_AVGPOOL, pool_infer, pool_run, 0, 0, 0},
    {"GlobalAveragePool", 1, 1, 1, 1, 1, A_NONE, gpool_infer, gpool_run, 0, 0, 0},
    {"GlobalMaxPool", 1, 1, 1, 1, 1, A_NONE, gpool_infer, gpool_run, 0, 0, 0},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, 0, 0}};
