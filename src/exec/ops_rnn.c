/* LSTM, GRU and RNN (ONNX opsets 7 and 14: layout 0 and 1), float32 only.
 *
 * Shapes (layout 0 / layout 1), G = 4 (LSTM, gates iofc), 3 (GRU, zrh) or 1 (RNN):
 *   X [S, N, I] / [N, S, I]     W [D, G*H, I]   R [D, G*H, H]   B [D, 2*G*H] (Wb then Rb)
 *   sequence_lens [N] int32     initial_h, initial_c [D, N, H] / [N, D, H]   P [D, 3*H] (iof)
 *   Y [S, D, N, H] / [N, S, D, H]     Y_h, Y_c [D, N, H] / [N, D, H]
 * with S = seq_length, N = batch_size, I = input_size, H = hidden_size, D = num_directions.
 *
 * Numerics follow onnxruntime's CPU kernels:
 * - X·Wᵀ for all timesteps is one GEMM per direction; h·Rᵀ is one GEMM per step over the whole
 *   batch. Biases Wb + Rb are added to the pre-activations, except GRU's Rbh with
 *   linear_before_reset != 0, which is added to h·Rhᵀ before the product with r.
 * - clip bounds each gate's pre-activation (after biases and peepholes) to [-clip, clip];
 *   the cell state given to h() in LSTM is not clipped.
 * - LSTM peepholes: i and f see C(t-1), o sees C(t). input_forget couples f = 1 - i.
 * - sequence_lens: batch entry b runs steps [0, len_b) (reverse: from len_b - 1 down to 0);
 *   Y is zero at steps >= len_b, Y_h / Y_c hold the last computed state, and are zero when
 *   len_b == 0 (onnxruntime's LSTM and GRU behaviour).
 * - activation_alpha / activation_beta are consumed in order of the activation list, each
 *   activation taking values only for the parameters it uses; missing values take the ONNX
 *   operator defaults (LeakyRelu 0.01; HardSigmoid 0.2, 0.5; Elu 1; ThresholdedRelu 1;
 *   Affine 1, 0; ScaledTanh 1, 1). Names match case-insensitively, as in onnxruntime. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec/op.h"
#include "kernels/kernels.h"

/* ---------------------------------------------------------- activations --- */

typedef enum {
  ACT_SIGMOID,
  ACT_TANH,
  ACT_RELU,
  ACT_HARDSIGMOID,
  ACT_AFFINE,
  ACT_LEAKYRELU,
  ACT_THRESHOLDEDRELU,
  ACT_SCALEDTANH,
  ACT_ELU,
  ACT_SOFTSIGN,
  ACT_SOFTPLUS
} act_kind;

typedef struct act_info {
  const char *name;
  act_kind kind;
  int uses_alpha, uses_beta;
  float alpha, beta; /* defaults */
} act_info;

static const act_info g_acts[] = {
    {"Sigmoid", ACT_SIGMOID, 0, 0, 0.0f, 0.0f},
    {"Tanh", ACT_TANH, 0, 0, 0.0f, 0.0f},
    {"Relu", ACT_RELU, 0, 0, 0.0f, 0.0f},
    {"HardSigmoid", ACT_HARDSIGMOID, 1, 1, 0.2f, 0.5f},
    {"Affine", ACT_AFFINE, 1, 1, 1.0f, 0.0f},
    {"LeakyRelu", ACT_LEAKYRELU, 1, 0, 0.01f, 0.0f},
    {"ThresholdedRelu", ACT_THRESHOLDEDRELU, 1, 0, 1.0f, 0.0f},
    {"ScaledTanh", ACT_SCALEDTANH, 1, 1, 1.0f, 1.0f},
    {"Elu", ACT_ELU, 1, 0, 1.0f, 0.0f},
    {"Softsign", ACT_SOFTSIGN, 0, 0, 0.0f, 0.0f},
    {"Softplus", ACT_SOFTPLUS, 0, 0, 0.0f, 0.0f},
};

typedef struct rnn_act {
  act_kind kind;
  float alpha, beta;
} rnn_act;

static int name_eq_nocase(const char *a, const char *b) {
  for (; *a && *b; a++, b++) {
    char x = *a, y = *b;
    if (x >= 'A' && x <= 'Z') x = (char)(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = (char)(y - 'A' + 'a');
    if (x != y) return 0;
  }
  return *a == *b;
}

static float sigmoidf(float x) {
  return 1.0f / (1.0f + expf(-x));
}

/* x[i] = act(x[i]) for i < n. */
static void act_apply(const rnn_act *a, float *x, int64_t n) {
  const float al = a->alpha, be = a->beta;
  switch (a->kind) {
    case ACT_SIGMOID:
      for (int64_t i = 0; i < n; i++) x[i] = sigmoidf(x[i]);
      break;
    case ACT_TANH:
      for (int64_t i = 0; i < n; i++) x[i] = tanhf(x[i]);
      break;
    case ACT_RELU:
      for (int64_t i = 0; i < n; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
      break;
    case ACT_HARDSIGMOID:
      for (int64_t i = 0; i < n; i++) x[i] = fminf(1.0f, fmaxf(0.0f, al * x[i] + be));
      break;
    case ACT_AFFINE:
      for (int64_t i = 0; i < n; i++) x[i] = al * x[i] + be;
      break;
    case ACT_LEAKYRELU:
      for (int64_t i = 0; i < n; i++) x[i] = x[i] >= 0.0f ? x[i] : al * x[i];
      break;
    case ACT_THRESHOLDEDRELU:
      for (int64_t i = 0; i < n; i++) x[i] = x[i] > al ? x[i] : 0.0f;
      break;
    case ACT_SCALEDTANH:
      for (int64_t i = 0; i < n; i++) x[i] = al * tanhf(be * x[i]);
      break;
    case ACT_ELU:
      for (int64_t i = 0; i < n; i++) x[i] = x[i] >= 0.0f ? x[i] : al * expm1f(x[i]);
      break;
    case ACT_SOFTSIGN:
      for (int64_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + fabsf(x[i]));
      break;
    case ACT_SOFTPLUS: /* log(1 + e^x), without overflow for large x */
      for (int64_t i = 0; i < n; i++)
        x[i] = x[i] > 0.0f ? x[i] + log1pf(expf(-x[i])) : log1pf(expf(x[i]));
      break;
  }
}

/* x[i] = clamp(x[i], -cl, cl); NaN passes through. */
static void clip_apply(float cl, float *x, int64_t n) {
  for (int64_t i = 0; i < n; i++) x[i] = x[i] > cl ? cl : (x[i] < -cl ? -cl : x[i]);
}

/* ------------------------------------------------------------- geometry --- */

typedef enum { K_LSTM, K_GRU, K_RNN } rnn_kind;

/* Symbolic dimensions of the op's tensors. */
enum { SYM_DIR, SYM_SEQ, SYM_BATCH, SYM_INPUT, SYM_HIDDEN, SYM_COUNT };
static const char *const g_sym_names[SYM_COUNT] = {"num_directions", "seq_length", "batch_size",
                                                   "input_size", "hidden_size"};

static const char *const g_input_names[8] = {"X",         "W",         "R", "B", "sequence_lens",
                                             "initial_h", "initial_c", "P"};

typedef struct rnn_geom {
  rnn_kind kind;
  const char *kind_name;
  int gates;        /* G: 4, 3, 1 */
  int acts_per_dir; /* 3, 2, 1 */
  int num_dir;      /* D */
  int reverse;      /* direction == "reverse" (single direction run backwards) */
  int layout;       /* 0: sequence-major, 1: batch-major */
  int has_clip;
  float clip;
  int input_forget;       /* LSTM */
  int lbr;                /* GRU linear_before_reset */
  int64_t dim[SYM_COUNT]; /* -1 while unknown */
  rnn_act act[6];         /* acts_per_dir per direction, forward direction first */
} rnn_geom;

/* One axis of an input's expected shape: mult * dim[sym]. */
typedef struct axis_spec {
  int sym;
  int mult;
} axis_spec;

static void shape_str(const ptq_tensor *t, char *buf, size_t cap) {
  size_t n = 0;
  n += (size_t)snprintf(buf + n, cap - n, "[");
  for (int i = 0; i < t->rank && n < cap; i++) {
    if (t->dims[i] < 0)
      n += (size_t)snprintf(buf + n, cap - n, "%s?", i ? ", " : "");
    else
      n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)t->dims[i]);
  }
  if (n < cap) snprintf(buf + n, cap - n, "]");
}

static void spec_str(const axis_spec *ax, int rank, char *buf, size_t cap) {
  size_t n = 0;
  n += (size_t)snprintf(buf + n, cap - n, "[");
  for (int i = 0; i < rank && n < cap; i++) {
    if (ax[i].mult != 1)
      n += (size_t)snprintf(buf + n, cap - n, "%s%d*%s", i ? ", " : "", ax[i].mult,
                            g_sym_names[ax[i].sym]);
    else
      n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? ", " : "", g_sym_names[ax[i].sym]);
  }
  if (n < cap) snprintf(buf + n, cap - n, "]");
}

/* Checks input idx (if present and of known rank) against the expected symbolic shape; unknown
 * symbols are taken from known dims, known ones must agree. Unknown dims (-1) match anything. */
static ptq_status check_input(const op_ctx *c, rnn_geom *g, int idx, const axis_spec *ax,
                              int rank) {
  if (idx >= c->n_in || !c->in[idx] || c->in[idx]->rank < 0) return PTQ_OK;
  const ptq_tensor *t = c->in[idx];
  const char *name = g_input_names[idx];
  char have[160], want[160];
  shape_str(t, have, sizeof have);
  spec_str(ax, rank, want, sizeof want);
  if (t->rank != rank)
    return op_fail(c, PTQ_ERR_SHAPE, "%s has shape %s; it must be %d-D %s", name, have, rank, want);
  for (int i = 0; i < rank; i++) {
    int64_t d = t->dims[i], m = ax[i].mult, *v = &g->dim[ax[i].sym];
    const char *sym = g_sym_names[ax[i].sym];
    if (d < 0) continue;
    if (*v >= 0 && d != m * *v) {
      if (m != 1)
        return op_fail(c, PTQ_ERR_SHAPE,
                       "%s has shape %s, expected %s: dimension %d is %lld, not "
                       "%lld*%s = %lld",
                       name, have, want, i, (long long)d, (long long)m, sym, (long long)(m * *v));
      return op_fail(c, PTQ_ERR_SHAPE,
                     "%s has shape %s, expected %s: dimension %d is %lld, not "
                     "%s = %lld",
                     name, have, want, i, (long long)d, sym, (long long)*v);
    }
    if (*v < 0) {
      if (d % m != 0)
        return op_fail(c, PTQ_ERR_SHAPE,
                       "%s has shape %s, expected %s: dimension %d (%lld) is "
                       "not a multiple of %lld",
                       name, have, want, i, (long long)d, (long long)m);
      *v = d / m;
    }
  }
  return PTQ_OK;
}

/* Parses the activations and their alpha/beta into g->act. */
static ptq_status parse_activations(const op_ctx *c, rnn_geom *g) {
  static const act_kind defaults[3][3] = {{ACT_SIGMOID, ACT_TANH, ACT_TANH},
                                          {ACT_SIGMOID, ACT_TANH, ACT_TANH},
                                          {ACT_TANH, ACT_TANH, ACT_TANH}};
  const ir_attr *a = ir_node_attr(c->node, "activations");
  int need = g->acts_per_dir * g->num_dir;
  if (!a || a->n == 0) {
    for (int d = 0; d < g->num_dir; d++)
      for (int k = 0; k < g->acts_per_dir; k++) {
        rnn_act *r = &g->act[d * g->acts_per_dir + k];
        r->kind = defaults[g->kind][k];
        r->alpha = r->beta = 0.0f;
      }
    return PTQ_OK;
  }
  /* ONNX documents RNN's default as {Tanh, Tanh}; onnxruntime takes the first for one
   * direction, and so do we. */
  size_t use = (size_t)need;
  if (!(a->n == use || (g->kind == K_RNN && g->num_dir == 1 && a->n == 2)))
    return op_fail(c, PTQ_ERR_INVALID_MODEL,
                   "'activations' has %zu entries; %s with %d direction%s needs %d (%d per "
                   "direction)",
                   a->n, g->kind_name, g->num_dir, g->num_dir > 1 ? "s" : "", need,
                   g->acts_per_dir);
  const float *alpha = NULL, *beta = NULL;
  size_t n_alpha = ir_attr_floats(c->node, "activation_alpha", &alpha);
  size_t n_beta = ir_attr_floats(c->node, "activation_beta", &beta);
  size_t ia = 0, ib = 0;
  for (size_t k = 0; k < a->n; k++) {
    const act_info *info = NULL;
    for (size_t j = 0; j < sizeof g_acts / sizeof *g_acts; j++)
      if (name_eq_nocase(a->strings[k], g_acts[j].name)) info = &g_acts[j];
    if (!info)
      return op_fail(c, PTQ_ERR_UNSUPPORTED,
                     "activation '%s' is not supported (supported: Sigmoid, Tanh, Relu, "
                     "HardSigmoid, Affine, LeakyRelu, ThresholdedRelu, ScaledTanh, Elu, Softsign, "
                     "Softplus)",
                     a->strings[k]);
    rnn_act r = {info->kind, info->alpha, info->beta};
    if (info->uses_alpha && ia < n_alpha) r.alpha = alpha[ia++];
    if (info->uses_beta && ib < n_beta) r.beta = beta[ib++];
    if (k < use) g->act[k] = r;
  }
  return PTQ_OK;
}

/* Reads attributes, validates dtypes and shapes, and fills g (dims -1 where unknown). Used by
 * infer (load and run time) and run. */
static ptq_status rnn_geometry(const op_ctx *c, rnn_geom *g) {
  const ir_node *n = c->node;
  memset(g, 0, sizeof *g);
  if (strcmp(n->op_type, "LSTM") == 0)
    g->kind = K_LSTM, g->gates = 4, g->acts_per_dir = 3;
  else if (strcmp(n->op_type, "GRU") == 0)
    g->kind = K_GRU, g->gates = 3, g->acts_per_dir = 2;
  else
    g->kind = K_RNN, g->gates = 1, g->acts_per_dir = 1;
  g->kind_name = n->op_type;
  for (int k = 0; k < SYM_COUNT; k++) g->dim[k] = -1;

  /* element types: float32 data, int32 (or int64) sequence_lens; unknown types pass at load */
  for (int i = 0; i < c->n_in; i++) {
    const ptq_tensor *t = c->in[i];
    if (!t || t->dtype == PTQ_DT_UNDEFINED) continue;
    if (i == 4 && t->dtype != PTQ_DT_INT32 && t->dtype != PTQ_DT_INT64)
      return op_fail(c, PTQ_ERR_UNSUPPORTED, "sequence_lens has element type %s, not int32",
                     ptq_dtype_name(t->dtype));
    if (i != 4 && t->dtype != PTQ_DT_FLOAT)
      return op_fail(c, PTQ_ERR_UNSUPPORTED, "%s has element type %s; only float32 is supported",
                     g_input_names[i], ptq_dtype_name(t->dtype));
  }

  const char *dir = ir_attr_string(n, "direction", "forward");
  if (strcmp(dir, "forward") == 0)
    g->num_dir = 1;
  else if (strcmp(dir, "reverse") == 0)
    g->num_dir = 1, g->reverse = 1;
  else if (strcmp(dir, "bidirectional") == 0)
    g->num_dir = 2;
  else
    return op_fail(c, PTQ_ERR_INVALID_MODEL,
                   "direction '%s' is not one of forward, reverse, bidirectional", dir);
  g->dim[SYM_DIR] = g->num_dir;

  int64_t layout = ir_attr_int(n, "layout", 0);
  if (layout != 0 && layout != 1)
    return op_fail(c, PTQ_ERR_INVALID_MODEL, "layout %lld is not 0 or 1", (long long)layout);
  g->layout = (int)layout;

  if (ir_node_attr(n, "hidden_size")) {
    int64_t h = ir_attr_int(n, "hidden_size", 0);
    if (h <= 0)
      return op_fail(c, PTQ_ERR_INVALID_MODEL, "hidden_size %lld is not positive", (long long)h);
    g->dim[SYM_HIDDEN] = h;
  }
  if (ir_node_attr(n, "clip")) {
    g->clip = ir_attr_float(n, "clip", 0.0f);
    if (!(g->clip > 0.0f))
      return op_fail(c, PTQ_ERR_INVALID_MODEL, "clip %g is not positive", (double)g->clip);
    g->has_clip = !isinf(g->clip);
  }
  if (g->kind == K_LSTM) g->input_forget = ir_attr_int(n, "input_forget", 0) != 0;
  if (g->kind == K_GRU) g->lbr = ir_attr_int(n, "linear_before_reset", 0) != 0;
  PTQ_TRY(parse_activations(c, g));

  const int G = g->gates;
  const axis_spec x0[3] = {{SYM_SEQ, 1}, {SYM_BATCH, 1}, {SYM_INPUT, 1}};
  const axis_spec x1[3] = {{SYM_BATCH, 1}, {SYM_SEQ, 1}, {SYM_INPUT, 1}};
  const axis_spec w[3] = {{SYM_DIR, 1}, {SYM_HIDDEN, G}, {SYM_INPUT, 1}};
  const axis_spec r[3] = {{SYM_DIR, 1}, {SYM_HIDDEN, G}, {SYM_HIDDEN, 1}};
  const axis_spec b[2] = {{SYM_DIR, 1}, {SYM_HIDDEN, 2 * G}};
  const axis_spec sl[1] = {{SYM_BATCH, 1}};
  const axis_spec h0[3] = {{SYM_DIR, 1}, {SYM_BATCH, 1}, {SYM_HIDDEN, 1}};
  const axis_spec h1[3] = {{SYM_BATCH, 1}, {SYM_DIR, 1}, {SYM_HIDDEN, 1}};
  const axis_spec p[2] = {{SYM_DIR, 1}, {SYM_HIDDEN, 3}};
  /* R's last dim is hidden_size itself: take it from there first so that a wrong gate count
   * in dimension 1 is reported as such. */
  if (g->dim[SYM_HIDDEN] < 0 && c->in[2] && c->in[2]->rank == 3 && c->in[2]->dims[2] >= 0)
    g->dim[SYM_HIDDEN] = c->in[2]->dims[2];
  PTQ_TRY(check_input(c, g, 0, g->layout ? x1 : x0, 3));
  PTQ_TRY(check_input(c, g, 1, w, 3));
  PTQ_TRY(check_input(c, g, 2, r, 3));
  PTQ_TRY(check_input(c, g, 3, b, 2));
  PTQ_TRY(check_input(c, g, 4, sl, 1));
  PTQ_TRY(check_input(c, g, 5, g->layout ? h1 : h0, 3));
  PTQ_TRY(check_input(c, g, 6, g->layout ? h1 : h0, 3));
  PTQ_TRY(check_input(c, g, 7, p, 2));
  if (g->dim[SYM_HIDDEN] == 0) return op_fail(c, PTQ_ERR_SHAPE, "hidden_size is 0");

  /* sequence_lens values, when known, must lie in [0, seq_length] */
  const ptq_tensor *s = c->n_in > 4 ? c->in[4] : NULL;
  if (s && s->data && op_shape_known(s)) {
    int64_t cnt = ptq_tensor_numel(s);
    for (int64_t i = 0; i < cnt; i++) {
      int64_t v =
          s->dtype == PTQ_DT_INT32 ? ((const int32_t *)s->data)[i] : ((const int64_t *)s->data)[i];
      if (v < 0 || (g->dim[SYM_SEQ] >= 0 && v > g->dim[SYM_SEQ]))
        return op_fail(c, PTQ_ERR_DATA,
                       "sequence_lens[%lld] = %lld is outside [0, seq_length = "
                       "%lld]",
                       (long long)i, (long long)v, (long long)g->dim[SYM_SEQ]);
    }
  }
  return PTQ_OK;
}

static ptq_status rnn_infer(op_ctx *c) {
  rnn_geom g;
  PTQ_TRY(rnn_geometry(c, &g));
  const int64_t S = g.dim[SYM_SEQ], N = g.dim[SYM_BATCH], H = g.dim[SYM_HIDDEN], D = g.num_dir;
  int64_t y0[4] = {S, D, N, H}, y1[4] = {N, S, D, H};
  int64_t s0[3] = {D, N, H}, s1[3] = {N, D, H};
  op_set_out(c, 0, PTQ_DT_FLOAT, 4, g.layout ? y1 : y0);
  for (int i = 1; i < c->n_out; i++) op_set_out(c, i, PTQ_DT_FLOAT, 3, g.layout ? s1 : s0);
  return PTQ_OK;
}

/* ------------------------------------------------------------------ run --- */

typedef struct rnn_bufs {
  float *xw;   /* [S*N, G*H]: X·Wᵀ + biases, row order of X */
  float *acc;  /* [N, G*H]: gate pre-activations of one step */
  float *h;    /* [N, H] hidden state */
  float *cst;  /* [N, H] LSTM cell state */
  float *tmp;  /* [N, H] LSTM h(C); GRU r⊙h or h·Rhᵀ + Rbh */
  float *bias; /* [G*H] summed biases folded into xw */
  int64_t *len;
} rnn_bufs;

static void free_bufs(rnn_bufs *b) {
  free(b->xw);
  free(b->acc);
  free(b->h);
  free(b->cst);
  free(b->tmp);
  free(b->bias);
  free(b->len);
}

/* dst[0..n) = src[0..n), or zeros when src is NULL. */
static void copy_or_zero(float *dst, const float *src, int64_t n) {
  if (src)
    memcpy(dst, src, (size_t)n * sizeof *dst);
  else
    memset(dst, 0, (size_t)n * sizeof *dst);
}

static float *alloc_f(int64_t n) {
  return ptq_malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
}

/* One direction: d is the slot in W/R/B/P/initial states/outputs; rev runs time backwards. */
static void run_direction(const op_ctx *c, const rnn_geom *g, rnn_bufs *bf, int d, int rev) {
  const int64_t S = g->dim[SYM_SEQ], N = g->dim[SYM_BATCH], I = g->dim[SYM_INPUT];
  const int64_t H = g->dim[SYM_HIDDEN], D = g->num_dir, G = g->gates, GH = G * H;
  const ptq_tensor *const *in = (const ptq_tensor *const *)c->in;
  const float *x = in[0]->data;
  const float *w = (const float *)in[1]->data + d * GH * I;
  const float *r = (const float *)in[2]->data + d * GH * H;
  const ptq_tensor *tb = c->n_in > 3 ? in[3] : NULL, *th = c->n_in > 5 ? in[5] : NULL;
  const ptq_tensor *tc = c->n_in > 6 ? in[6] : NULL, *tp = c->n_in > 7 ? in[7] : NULL;
  const float *bias = tb ? (const float *)tb->data + d * 2 * GH : NULL;
  const float *peep = tp ? (const float *)tp->data + d * 3 * H : NULL;
  float *y = c->n_out > 0 && c->out[0] ? c->out[0]->data : NULL;
  float *yh = c->n_out > 1 && c->out[1] ? c->out[1]->data : NULL;
  float *yc = c->n_out > 2 && c->out[2] ? c->out[2]->data : NULL;
  const rnn_act *act = &g->act[d * g->acts_per_dir];
  const int lbr = g->lbr;

  /* state offsets: [D, N, H] (layout 0) or [N, D, H] (layout 1) */
#define STATE_OFF(b) ((g->layout ? ((b)*D + d) : (d * N + (b))) * H)
#define X_ROW(t, b) (g->layout ? (b)*S + (t) : (t)*N + (b))
#define Y_OFF(t, b) ((g->layout ? (((b)*S + (t)) * D + d) : (((t)*D + d) * N + (b))) * H)

  /* xw = X·Wᵀ + (Wb + Rb); GRU with linear_before_reset keeps Rbh for the recurrent part */
  ptq_sgemm(0, 1, S * N, GH, I, 1.0f, x, I, w, I, 0.0f, bf->xw, GH);
  if (bias) {
    for (int64_t j = 0; j < GH; j++)
      bf->bias[j] = bias[j] + ((lbr && j >= 2 * H) ? 0.0f : bias[GH + j]);
    for (int64_t row = 0; row < S * N; row++) {
      float *dst = bf->xw + row * GH;
      for (int64_t j = 0; j < GH; j++) dst[j] += bf->bias[j];
    }
  }
  for (int64_t b = 0; b < N; b++) {
    copy_or_zero(bf->h + b * H, th ? (const float *)th->data + STATE_OFF(b) : NULL, H);
    if (g->kind == K_LSTM)
      copy_or_zero(bf->cst + b * H, tc ? (const float *)tc->data + STATE_OFF(b) : NULL, H);
  }

  for (int64_t step = 0; step < S; step++) {
    const int64_t t = rev ? S - 1 - step : step;
    int any = 0;
    for (int64_t b = 0; b < N; b++) any |= t < bf->len[b];
    if (!any) {
      if (y)
        for (int64_t b = 0; b < N; b++) copy_or_zero(y + Y_OFF(t, b), NULL, H);
      continue;
    }
    for (int64_t b = 0; b < N; b++)
      memcpy(bf->acc + b * GH, bf->xw + X_ROW(t, b) * GH, (size_t)GH * sizeof(float));

    if (g->kind == K_LSTM) {
      ptq_sgemm(0, 1, N, GH, H, 1.0f, bf->h, H, r, H, 1.0f, bf->acc, GH);
      for (int64_t b = 0; b < N; b++) {
        if (t >= bf->len[b]) continue;
        float *gi = bf->acc + b * GH, *go = gi + H, *gf = go + H, *gc = gf + H;
        float *cs = bf->cst + b * H, *hs = bf->h + b * H, *hc = bf->tmp + b * H;
        if (peep)
          for (int64_t j = 0; j < H; j++) gi[j] += peep[j] * cs[j];
        if (g->has_clip) clip_apply(g->clip, gi, H);
        act_apply(&act[0], gi, H);
        if (g->input_forget) {
          for (int64_t j = 0; j < H; j++) gf[j] = 1.0f - gi[j];
        } else {
          if (peep)
            for (int64_t j = 0; j < H; j++) gf[j] += peep[2 * H + j] * cs[j];
          if (g->has_clip) clip_apply(g->clip, gf, H);
          act_apply(&act[0], gf, H);
        }
        if (g->has_clip) clip_apply(g->clip, gc, H);
        act_apply(&act[1], gc, H);
        for (int64_t j = 0; j < H; j++) cs[j] = gf[j] * cs[j] + gi[j] * gc[j];
        if (peep)
          for (int64_t j = 0; j < H; j++) go[j] += peep[H + j] * cs[j];
        if (g->has_clip) clip_apply(g->clip, go, H);
        act_apply(&act[0], go, H);
        memcpy(hc, cs, (size_t)H * sizeof(float));
        act_apply(&act[2], hc, H);
        for (int64_t j = 0; j < H; j++) hs[j] = go[j] * hc[j];
      }
    } else if (g->kind == K_GRU) {
      const float *rh = r + 2 * H * H;
      /* z and r pre-activations: += h·[Rz; Rr]ᵀ */
      ptq_sgemm(0, 1, N, 2 * H, H, 1.0f, bf->h, H, r, H, 1.0f, bf->acc, GH);
      if (lbr) { /* tmp = h·Rhᵀ + Rbh */
        ptq_sgemm(0, 1, N, H, H, 1.0f, bf->h, H, rh, H, 0.0f, bf->tmp, H);
        if (bias)
          for (int64_t b = 0; b < N; b++)
            for (int64_t j = 0; j < H; j++) bf->tmp[b * H + j] += bias[GH + 2 * H + j];
      }
      for (int64_t b = 0; b < N; b++) {
        float *gr = bf->acc + b * GH + H, *gh = gr + H, *tm = bf->tmp + b * H;
        const float *hs = bf->h + b * H;
        if (g->has_clip) clip_apply(g->clip, gr, H);
        act_apply(&act[0], gr, H);
        if (lbr)
          for (int64_t j = 0; j < H; j++) gh[j] += gr[j] * tm[j];
        else
          for (int64_t j = 0; j < H; j++) tm[j] = gr[j] * hs[j];
      }
      /* linear_before_reset == 0: h pre-activation += (r ⊙ h)·Rhᵀ */
      if (!lbr) ptq_sgemm(0, 1, N, H, H, 1.0f, bf->tmp, H, rh, H, 1.0f, bf->acc + 2 * H, GH);
      for (int64_t b = 0; b < N; b++) {
        if (t >= bf->len[b]) continue;
        float *gz = bf->acc + b * GH, *gh = gz + 2 * H, *hs = bf->h + b * H;
        if (g->has_clip) {
          clip_apply(g->clip, gz, H);
          clip_apply(g->clip, gh, H);
        }
        act_apply(&act[0], gz, H);
        act_apply(&act[1], gh, H);
        for (int64_t j = 0; j < H; j++) hs[j] = (1.0f - gz[j]) * gh[j] + gz[j] * hs[j];
      }
    } else {
      ptq_sgemm(0, 1, N, H, H, 1.0f, bf->h, H, r, H, 1.0f, bf->acc, H);
      for (int64_t b = 0; b < N; b++) {
        if (t >= bf->len[b]) continue;
        float *ga = bf->acc + b * H;
        if (g->has_clip) clip_apply(g->clip, ga, H);
        act_apply(&act[0], ga, H);
        memcpy(bf->h + b * H, ga, (size_t)H * sizeof(float));
      }
    }
    if (y)
      for (int64_t b = 0; b < N; b++)
        copy_or_zero(y + Y_OFF(t, b), t < bf->len[b] ? bf->h + b * H : NULL, H);
  }

  for (int64_t b = 0; b < N; b++) {
    int empty = bf->len[b] == 0;
    if (yh) copy_or_zero(yh + STATE_OFF(b), empty ? NULL : bf->h + b * H, H);
    if (yc) copy_or_zero(yc + STATE_OFF(b), empty ? NULL : bf->cst + b * H, H);
  }
#undef STATE_OFF
#undef X_ROW
#undef Y_OFF
}

static ptq_status rnn_run(op_ctx *c) {
  rnn_geom g;
  PTQ_TRY(rnn_geometry(c, &g));
  const int64_t S = g.dim[SYM_SEQ], N = g.dim[SYM_BATCH], H = g.dim[SYM_HIDDEN];
  const int64_t GH = g.gates * H;
  if (S < 0 || N < 0 || H < 0 || g.dim[SYM_INPUT] < 0)
    return op_fail(c, PTQ_ERR_INTERNAL, "shapes unknown at run time");
  rnn_bufs bf = {0};
  bf.xw = alloc_f(S * N * GH);
  bf.acc = alloc_f(N * GH);
  bf.h = alloc_f(N * H);
  bf.cst = alloc_f(N * H);
  bf.tmp = alloc_f(N * H);
  bf.bias = alloc_f(GH);
  bf.len = ptq_malloc((size_t)(N > 0 ? N : 1) * sizeof(int64_t));
  if (!bf.xw || !bf.acc || !bf.h || !bf.cst || !bf.tmp || !bf.bias || !bf.len) {
    free_bufs(&bf);
    return op_fail(c, PTQ_ERR_NOMEM, "out of memory");
  }
  const ptq_tensor *sl = c->n_in > 4 ? c->in[4] : NULL;
  for (int64_t b = 0; b < N; b++)
    bf.len[b] = !sl                         ? S
                : sl->dtype == PTQ_DT_INT32 ? ((const int32_t *)sl->data)[b]
                                            : ((const int64_t *)sl->data)[b];
  for (int d = 0; d < g.num_dir; d++)
    run_direction(c, &g, &bf, d, g.num_dir == 2 ? d == 1 : g.reverse);
  free_bufs(&bf);
  return PTQ_OK;
}

#define RNN_COMMON                                                                      \
  "activation_alpha:floats", "activation_beta:floats", "activations:strings", "clip:f", \
      "direction:s", "hidden_size:i"
static const char *const A_LSTM7[] = {RNN_COMMON, "input_forget:i", NULL};
static const char *const A_LSTM14[] = {RNN_COMMON, "input_forget:i", "layout:i", NULL};
static const char *const A_GRU7[] = {RNN_COMMON, "linear_before_reset:i", NULL};
static const char *const A_GRU14[] = {RNN_COMMON, "linear_before_reset:i", "layout:i", NULL};
static const char *const A_RNN7[] = {RNN_COMMON, NULL};
static const char *const A_RNN14[] = {RNN_COMMON, "layout:i", NULL};
#undef RNN_COMMON

const op_def op_defs_rnn[] = {{"LSTM", 7, 3, 8, 0, 3, A_LSTM7, rnn_infer, rnn_run, 0, 0, 0},
                              {"LSTM", 14, 3, 8, 0, 3, A_LSTM14, rnn_infer, rnn_run, 0, 0, 0},
                              {"GRU", 7, 3, 6, 0, 2, A_GRU7, rnn_infer, rnn_run, 0, 0, 0},
                              {"GRU", 14, 3, 6, 0, 2, A_GRU14, rnn_infer, rnn_run, 0, 0, 0},
                              {"RNN", 7, 3, 6, 0, 2, A_RNN7, rnn_infer, rnn_run, 0, 0, 0},
                              {"RNN", 14, 3, 6, 0, 2, A_RNN14, rnn_infer, rnn_run, 0, 0, 0},
                              {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, 0, 0}};
