/* Convolution geometry shared by convolution-like ops: kernel, strides, dilations and pads
 * from the node's attributes (kernel_shape, strides, dilations, pads, auto_pad) and the output
 * sizes, for 1..3 spatial dimensions. Header-only so that each op file can use it without a
 * link-time dependency between op tables. */
#ifndef PTQ_EXEC_CONV_GEOM_H
#define PTQ_EXEC_CONV_GEOM_H

#include <string.h>

#include "exec/op.h"

#define CONV_GEOM_MAX_ND 3

typedef struct conv_geom {
  int nd;
  int64_t k[CONV_GEOM_MAX_ND], s[CONV_GEOM_MAX_ND], d[CONV_GEOM_MAX_ND]; /* kernel/stride/dil */
  int64_t pb[CONV_GEOM_MAX_ND], pe[CONV_GEOM_MAX_ND];  /* pads at the begin / end */
  int64_t in[CONV_GEOM_MAX_ND], out[CONV_GEOM_MAX_ND]; /* -1: unknown */
} conv_geom;

/* Reads an ints attribute of nd values (each >= min) into out; def where absent. */
static inline ptq_status conv_geom_ints(const op_ctx *c, const char *name, int nd, int64_t *out,
                                        int64_t def, int64_t min) {
  const int64_t *v;
  size_t n = ir_attr_ints(c->node, name, &v);
  for (int i = 0; i < nd; i++) out[i] = def;
  if (!ir_node_attr(c->node, name)) return PTQ_OK;
  if ((int)n != nd)
    return op_fail(c, PTQ_ERR_INVALID_MODEL, "%s has %zu values, expected %d", name, n, nd);
  for (int i = 0; i < nd; i++) {
    if (v[i] < min)
      return op_fail(c, PTQ_ERR_INVALID_MODEL, "%s[%d] = %lld is invalid", name, i,
                     (long long)v[i]);
    out[i] = v[i];
  }
  return PTQ_OK;
}

/* Fills g for nd spatial dims of input sizes in (-1: unknown) and weight kernel sizes kernel
 * (-1: unknown; NULL for ops without weights, which then need kernel_shape). Output size per
 * dim: floor (or ceil with ceil_mode) of (in + pads - dilated kernel) / stride + 1; SAME_UPPER /
 * SAME_LOWER give ceil(in / stride) with the odd pad at the end / begin; VALID drops pads. */
static inline ptq_status conv_geom_get(const op_ctx *c, int nd, const int64_t *in,
                                       const int64_t *kernel, int ceil_mode, conv_geom *g) {
  memset(g, 0, sizeof *g);
  g->nd = nd;
  if (nd < 1 || nd > CONV_GEOM_MAX_ND)
    return op_fail(c, PTQ_ERR_UNSUPPORTED, "%d spatial dimensions (only 1 to %d)", nd,
                   CONV_GEOM_MAX_ND);
  int64_t ks[CONV_GEOM_MAX_ND];
  PTQ_TRY(conv_geom_ints(c, "kernel_shape", nd, ks, -1, 1));
  for (int i = 0; i < nd; i++) {
    if (kernel && ks[i] >= 0 && kernel[i] >= 0 && ks[i] != kernel[i])
      return op_fail(c, PTQ_ERR_INVALID_MODEL, "kernel_shape[%d] = %lld but the weights have %lld",
                     i, (long long)ks[i], (long long)kernel[i]);
    g->k[i] = ks[i] >= 0 ? ks[i] : kernel ? kernel[i] : -1;
    if (g->k[i] < 0 && !kernel)
      return op_fail(c, PTQ_ERR_INVALID_MODEL, "kernel_shape is required");
  }
  PTQ_TRY(conv_geom_ints(c, "strides", nd, g->s, 1, 1));
  PTQ_TRY(conv_geom_ints(c, "dilations", nd, g->d, 1, 1));
  int64_t pads[2 * CONV_GEOM_MAX_ND] = {0};
  PTQ_TRY(conv_geom_ints(c, "pads", 2 * nd, pads, 0, 0));
  const char *ap = ir_attr_string(c->node, "auto_pad", "NOTSET");
  int same_upper = strcmp(ap, "SAME_UPPER") == 0, same_lower = strcmp(ap, "SAME_LOWER") == 0;
  int valid = strcmp(ap, "VALID") == 0;
  if (!same_upper && !same_lower && !valid && strcmp(ap, "NOTSET") != 0)
    return op_fail(c, PTQ_ERR_INVALID_MODEL, "auto_pad '%s'", ap);
  for (int i = 0; i < nd; i++) {
    g->in[i] = in[i];
    g->pb[i] = valid ? 0 : pads[i];
    g->pe[i] = valid ? 0 : pads[i + nd];
    int64_t ek = g->d[i] * (g->k[i] - 1) + 1;
    if (in[i] < 0 || g->k[i] < 0) {
      g->out[i] = -1;
      continue;
    }
    if (same_upper || same_lower) {
      int64_t o = (in[i] + g->s[i] - 1) / g->s[i];
      int64_t total = (o - 1) * g->s[i] + ek - in[i];
      if (total < 0) total = 0;
      g->pb[i] = same_upper ? total / 2 : total - total / 2;
      g->pe[i] = total - g->pb[i];
      g->out[i] = o;
      continue;
    }
    int64_t span = in[i] + g->pb[i] + g->pe[i] - ek;
    if (span < 0)
      return op_fail(c, PTQ_ERR_SHAPE,
                     "kernel %lld (dilated %lld) is larger than the padded input %lld",
                     (long long)g->k[i], (long long)ek, (long long)(in[i] + g->pb[i] + g->pe[i]));
    g->out[i] = (ceil_mode ? (span + g->s[i] - 1) / g->s[i] : span / g->s[i]) + 1;
    /* ceil_mode: the last window must start inside the input or its begin padding */
    if (ceil_mode && (g->out[i] - 1) * g->s[i] >= in[i] + g->pb[i]) g->out[i]--;
  }
  return PTQ_OK;
}

#endif
