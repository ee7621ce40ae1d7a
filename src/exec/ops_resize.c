/* Resize (opset 10-19) and Upsample (7-9) over the last two axes, on the float resize kernel.
 * Leading axes must have scale 1. Output size: `sizes` if given, else floor(in * scale); the
 * coordinate mapping uses the given scale (or out/in when sizes are given), as onnxruntime. */
#include <math.h>
#include <string.h>

#include "exec/op.h"
#include "kernels/kernels.h"

typedef struct resize_plan {
  int rank;
  int64_t out[PTQ_MAX_RANK];
  float scale[PTQ_MAX_RANK];
  int known;
  ptq_resize_params p;
} resize_plan;

static ptq_status parse_modes(op_ctx *c, resize_plan *rp) {
  const ir_node *n = c->node;
  int legacy = strcmp(n->op_type, "Upsample") == 0 || c->opset < 11;
  const char *mode = ir_attr_string(n, "mode", "nearest");
  if (strcmp(mode, "nearest") == 0)
    rp->p.mode = PTQ_RESIZE_NEAREST;
  else if (strcmp(mode, "linear") == 0 || (legacy && strcmp(mode, "bilinear") == 0))
    rp->p.mode = PTQ_RESIZE_LINEAR;
  else if (strcmp(mode, "cubic") == 0 && !legacy)
    rp->p.mode = PTQ_RESIZE_CUBIC;
  else
    return op_fail(c, PTQ_ERR_UNSUPPORTED, "mode '%s'", mode);
  if (legacy) {
    rp->p.coord = PTQ_COORD_ASYMMETRIC;
    rp->p.nearest = PTQ_NEAREST_FLOOR;
    rp->p.cubic_coeff_a = -0.75f;
    return PTQ_OK;
  }
  const char *ct = ir_attr_string(n, "coordinate_transformation_mode", "half_pixel");
  static const struct {
    const char *name;
    enum ptq_resize_coord v;
  } coords[] = {{"half_pixel", PTQ_COORD_HALF_PIXEL},
                {"pytorch_half_pixel", PTQ_COORD_PYTORCH_HALF_PIXEL},
                {"align_corners", PTQ_COORD_ALIGN_CORNERS},
                {"asymmetric", PTQ_COORD_ASYMMETRIC},
                {"tf_half_pixel_for_centers", PTQ_COORD_TF_HALF_PIXEL_FOR_CENTERS}};
  int found = 0;
  for (size_t i = 0; i < sizeof coords / sizeof *coords; i++)
    if (strcmp(ct, coords[i].name) == 0) rp->p.coord = coords[i].v, found = 1;
  if (!found) return op_fail(c, PTQ_ERR_UNSUPPORTED, "coordinate_transformation_mode '%s'", ct);
  const char *nm = ir_attr_string(n, "nearest_mode", "round_prefer_floor");
  static const struct {
    const char *name;
    enum ptq_resize_nearest v;
  } nearest[] = {{"round_prefer_floor", PTQ_NEAREST_ROUND_PREFER_FLOOR},
                 {"round_prefer_ceil", PTQ_NEAREST_ROUND_PREFER_CEIL},
                 {"floor", PTQ_NEAREST_FLOOR},
                 {"ceil", PTQ_NEAREST_CEIL}};
  found = 0;
  for (size_t i = 0; i < sizeof nearest / sizeof *nearest; i++)
    if (strcmp(nm, nearest[i].name) == 0) rp->p.nearest = nearest[i].v, found = 1;
  if (!found) return op_fail(c, PTQ_ERR_UNSUPPORTED, "nearest_mode '%s'", nm);
  rp->p.cubic_coeff_a = ir_attr_float(n, "cubic_coeff_a", -0.75f);
  rp->p.exclude_outside = (int)ir_attr_int(n, "exclude_outside", 0);
  if (ir_attr_int(n, "antialias", 0)) return op_fail(c, PTQ_ERR_UNSUPPORTED, "antialias = 1");
  const char *kar = ir_attr_string(n, "keep_aspect_ratio_policy", "stretch");
  if (strcmp(kar, "stretch") != 0)
    return op_fail(c, PTQ_ERR_UNSUPPORTED, "keep_aspect_ratio_policy '%s'", kar);
  return PTQ_OK;
}

static ptq_status resize_plan_make(op_ctx *c, resize_plan *rp) {
  memset(rp, 0, sizeof *rp);
  const ptq_tensor *x = c->in[0];
  PTQ_TRY(op_require_dtype(c, 0, OP_FLOATS));
  PTQ_TRY(parse_modes(c, rp));
  rp->rank = x->rank;
  if (x->rank < 0) return PTQ_OK;
  if (x->rank < 1) return op_fail(c, PTQ_ERR_SHAPE, "input must have rank >= 1");
  int r = x->rank;
  int axes[PTQ_MAX_RANK], na = r;
  for (int i = 0; i < r; i++) axes[i] = i;
  const int64_t *av;
  size_t nav = ir_attr_ints(c->node, "axes", &av);
  if (nav) {
    int seen[PTQ_MAX_RANK] = {0};
    na = (int)nav;
    if (na > r) return op_fail(c, PTQ_ERR_INVALID_MODEL, "too many axes");
    for (int i = 0; i < na; i++) {
      PTQ_TRY(op_axis(c, av[i], r, &axes[i]));
      if (seen[axes[i]]++) return op_fail(c, PTQ_ERR_INVALID_MODEL, "axis repeated");
    }
  }
  for (int i = 0; i < r; i++) rp->scale[i] = 1.0f, rp->out[i] = x->dims[i];
  const ptq_tensor *scales = NULL, *sizes = NULL;
  float legacy_scales[PTQ_MAX_RANK];
  if (strcmp(c->node->op_type, "Upsample") == 0 && c->opset < 9) {
    const float *f;
    size_t nf = ir_attr_floats(c->node, "scales", &f);
    if ((int)nf != r)
      return op_fail(c, PTQ_ERR_INVALID_MODEL, "scales has %zu values for rank %d", nf, r);
    memcpy(legacy_scales, f, nf * sizeof *f);
  } else if (strcmp(c->node->op_type, "Upsample") == 0 || c->opset < 11) {
    scales = c->in[1];
  } else {
    scales = c->n_in > 2 ? c->in[2] : NULL;
    sizes = c->n_in > 3 ? c->in[3] : NULL;
    if (scales && scales->rank == 1 && scales->dims[0] == 0) scales = NULL; /* empty = absent */
    if (sizes && sizes->rank == 1 && sizes->dims[0] == 0) sizes = NULL;
    if (strcmp(ir_attr_string(c->node, "coordinate_transformation_mode", ""),
               "tf_crop_and_resize") == 0)
      return op_fail(c, PTQ_ERR_UNSUPPORTED, "tf_crop_and_resize");
    if (scales && sizes)
      return op_fail(c, PTQ_ERR_INVALID_MODEL, "both scales and sizes are given");
    if (!scales && !sizes)
      return op_fail(c, PTQ_ERR_INVALID_MODEL, "neither scales nor sizes is given");
  }
  if (scales) {
    PTQ_TRY(op_require_dtype(c, scales == c->in[1] ? 1 : 2, OP_FLOATS));
    if (!scales->data) return PTQ_OK;
    if (ptq_tensor_numel(scales) != na)
      return op_fail(c, PTQ_ERR_INVALID_MODEL, "scales has %lld values for %d axes",
                     (long long)ptq_tensor_numel(scales), na);
    for (int i = 0; i < na; i++) legacy_scales[i] = ((const float *)scales->data)[i];
  }
  if (sizes) {
    int64_t sz[PTQ_MAX_RANK], ns;
    PTQ_TRY(op_require_dtype(c, 3, OP_DT(PTQ_DT_INT64)));
    if (!op_read_ints(sizes, sz, PTQ_MAX_RANK, &ns)) return PTQ_OK;
    if (ns != na)
      return op_fail(c, PTQ_ERR_INVALID_MODEL, "sizes has %lld values for %d axes", (long long)ns,
                     na);
    for (int i = 0; i < na; i++) {
      int a = axes[i];
      if (sz[i] < 0) return op_fail(c, PTQ_ERR_INVALID_MODEL, "negative size");
      rp->out[a] = sz[i];
      rp->scale[a] = x->dims[a] > 0 ? (float)sz[i] / (float)x->dims[a] : 1.0f;
    }
  } else {
    for (int i = 0; i < na; i++) {
      int a = axes[i];
      float s = legacy_scales[i];
      if (!(s > 0)) return op_fail(c, PTQ_ERR_INVALID_MODEL, "scale %g must be positive", s);
      rp->scale[a] = s;
      float o = x->dims[a] < 0 ? -1.0f : floorf((float)x->dims[a] * s);
      if (!(o <= 1e9f)) return op_fail(c, PTQ_ERR_SHAPE, "scale %g makes axis %d too large", s, a);
      rp->out[a] = (int64_t)o;
    }
  }
  for (int a = 0; a < r - 2; a++)
    if (rp->scale[a] != 1.0f || (x->dims[a] >= 0 && rp->out[a] != x->dims[a]))
      return op_fail(c, PTQ_ERR_UNSUPPORTED, "resizing axis %d (only the last two axes)", a);
  rp->known = 1;
  return PTQ_OK;
}

static ptq_status resize_infer(op_ctx *c) {
  resize_plan rp;
  PTQ_TRY(resize_plan_make(c, &rp));
  int64_t dims[PTQ_MAX_RANK];
  for (int i = 0; i < PTQ_MAX_RANK; i++) dims[i] = rp.known ? rp.out[i] : -1;
  if (!rp.known && rp.rank > 2)
    for (int i = 0; i < rp.rank - 2; i++) dims[i] = c->in[0]->dims[i];
  op_set_out(c, 0, PTQ_DT_FLOAT, rp.rank, dims);
  return PTQ_OK;
}

static ptq_status resize_run(op_ctx *c) {
  resize_plan rp;
  PTQ_TRY(resize_plan_make(c, &rp));
  const ptq_tensor *x = c->in[0];
  int r = x->rank;
  ptq_resize_params p = rp.p;
  p.outer = 1;
  for (int i = 0; i < r - 2; i++) p.outer *= x->dims[i];
  p.h_in = r >= 2 ? x->dims[r - 2] : 1;
  p.h_out = r >= 2 ? rp.out[r - 2] : 1;
  p.scale_h = r >= 2 ? rp.scale[r - 2] : 1.0f;
  p.w_in = x->dims[r - 1];
  p.w_out = rp.out[r - 1];
  p.scale_w = rp.scale[r - 1];
  if (ptq_tensor_numel(c->out[0]) == 0) return PTQ_OK;
  if (ptq_tensor_numel(x) == 0) return op_fail(c, PTQ_ERR_SHAPE, "resizing an empty tensor");
  ptq_resize2d_f32(&p, x->data, c->out[0]->data);
  return PTQ_OK;
}

static const char *const A_RESIZE10[] = {"mode:s", NULL};
static const char *const A_RESIZE11[] = {"coordinate_transformation_mode:s",
                                         "cubic_coeff_a:f",
                                         "exclude_outside:i",
                                         "extrapolation_value:f",
                                         "mode:s",
                                         "nearest_mode:s",
                                         NULL};
static const char *const A_RESIZE18[] = {"antialias:i",
                                         "axes:ints",
                                         "coordinate_transformation_mode:s",
                                         "cubic_coeff_a:f",
                                         "exclude_outside:i",
                                         "extrapolation_value:f",
                                         "keep_aspect_ratio_policy:s",
                                         "mode:s",
                                         "nearest_mode:s",
                                         NULL};
static const char *const A_UPSAMPLE7[] = {"mode:s", "scales:floats", NULL};
static const char *const A_UPSAMPLE9[] = {"mode:s", NULL};

const op_def op_defs_resize[] = {
    {"Resize", 10, 2, 2, 1, 1, A_RESIZE10, resize_infer, resize_run, 0, 0, 0},
    {"Resize", 11, 1, 4, 1, 1, A_RESIZE11, resize_infer, resize_run, 0, 0, 0},
    {"Resize", 18, 1, 4, 1, 1, A_RESIZE18, resize_infer, resize_run, 0, 0, 0},
    {"Upsample", 7, 1, 1, 1, 1, A_UPSAMPLE7, resize_infer, resize_run, 0, 0, 0},
    {"Upsample", 9, 2, 2, 1, 1, A_UPSAMPLE9, resize_infer, resize_run, 0, 0, 0},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, 0, 0}};
