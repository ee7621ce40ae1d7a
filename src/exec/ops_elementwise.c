/* Element-wise ops: unary maths and activations, broadcasting binary and variadic ops,
 * comparisons and logic, Where. float32 has fast loops; other dtypes go through exact
 * int64 or double paths. */
#include <math.h>
#include <string.h>

#include "exec/op.h"

/* ---------------------------------------------------------------- unary --- */

typedef enum {
  U_RELU,
  U_SIGMOID,
  U_TANH,
  U_EXP,
  U_SQRT,
  U_ABS,
  U_NEG,
  U_LOG,
  U_FLOOR,
  U_CEIL,
  U_RECIP,
  U_ERF,
  U_SIN,
  U_COS,
  U_TAN,
  U_ASIN,
  U_ACOS,
  U_ATAN,
  U_SINH,
  U_COSH,
  U_ASINH,
  U_ACOSH,
  U_ATANH,
  U_ROUND,
  U_SIGN,
  U_SOFTSIGN,
  U_SOFTPLUS,
  U_LEAKY,
  U_ELU,
  U_SELU,
  U_HSIGMOID,
  U_HSWISH,
  U_CLIP,
  U_CELU,
  U_THRESHRELU,
  U_GELU,
  U_MISH,
  U_NOT,
  U_ISNAN,
  U_ISINF
} unary_kind;

typedef struct unary_info {
  const char *name;
  unary_kind kind;
} unary_info;

static const unary_info g_unary[] = {{"Relu", U_RELU},
                                     {"Sigmoid", U_SIGMOID},
                                     {"Tanh", U_TANH},
                                     {"Exp", U_EXP},
                                     {"Sqrt", U_SQRT},
                                     {"Abs", U_ABS},
                                     {"Neg", U_NEG},
                                     {"Log", U_LOG},
                                     {"Floor", U_FLOOR},
                                     {"Ceil", U_CEIL},
                                     {"Reciprocal", U_RECIP},
                                     {"Erf", U_ERF},
                                     {"Sin", U_SIN},
                                     {"Cos", U_COS},
                                     {"Tan", U_TAN},
                                     {"Asin", U_ASIN},
                                     {"Acos", U_ACOS},
                                     {"Atan", U_ATAN},
                                     {"Sinh", U_SINH},
                                     {"Cosh", U_COSH},
                                     {"Asinh", U_ASINH},
                                     {"Acosh", U_ACOSH},
                                     {"Atanh", U_ATANH},
                                     {"Round", U_ROUND},
                                     {"Sign", U_SIGN},
                                     {"Softsign", U_SOFTSIGN},
                                     {"Softplus", U_SOFTPLUS},
                                     {"LeakyRelu", U_LEAKY},
                                     {"Elu", U_ELU},
                                     {"Selu", U_SELU},
                                     {"HardSigmoid", U_HSIGMOID},
                                     {"HardSwish", U_HSWISH},
                                     {"Clip", U_CLIP},
                                     {"Celu", U_CELU},
                                     {"ThresholdedRelu", U_THRESHRELU},
                                     {"Gelu", U_GELU},
                                     {"Mish", U_MISH},
                                     {"Not", U_NOT},
                                     {"IsNaN", U_ISNAN},
                                     {"IsInf", U_ISINF},
                                     {NULL, 0}};

static unary_kind unary_of(const char *op) {
  for (const unary_info *u = g_unary; u->name; u++)
    if (strcmp(u->name, op) == 0) return u->kind;
  return U_RELU;
}

typedef struct unary_params {
  float alpha, beta, gamma, lo, hi;
  int approx_tanh;
  int detect_pos, detect_neg;
} unary_params;

static ptq_status unary_params_get(const op_ctx *c, unary_kind k, unary_params *p) {
  const ir_node *n = c->node;
  memset(p, 0, sizeof *p);
  p->lo = -INFINITY;
  p->hi = INFINITY;
  switch (k) {
    case U_LEAKY: p->alpha = ir_attr_float(n, "alpha", 0.01f); break;
    case U_ELU: p->alpha = ir_attr_float(n, "alpha", 1.0f); break;
    case U_CELU: p->alpha = ir_attr_float(n, "alpha", 1.0f); break;
    case U_THRESHRELU: p->alpha = ir_attr_float(n, "alpha", 1.0f); break;
    case U_SELU:
      p->alpha = ir_attr_float(n, "alpha", 1.67326319217681884765625f);
      p->gamma = ir_attr_float(n, "gamma", 1.05070102214813232421875f);
      break;
    case U_HSIGMOID:
      p->alpha = ir_attr_float(n, "alpha", 0.2f);
      p->beta = ir_attr_float(n, "beta", 0.5f);
      break;
    case U_GELU: {
      const char *a = ir_attr_string(n, "approximate", "none");
      if (strcmp(a, "tanh") == 0)
        p->approx_tanh = 1;
      else if (strcmp(a, "none") != 0)
        return op_fail(c, PTQ_ERR_UNSUPPORTED, "approximate='%s' is not supported", a);
      break;
    }
    case U_ISINF:
      p->detect_pos = (int)ir_attr_int(n, "detect_positive", 1);
      p->detect_neg = (int)ir_attr_int(n, "detect_negative", 1);
      break;
    case U_CLIP:
      if (c->opset < 11) {
        p->lo = ir_attr_float(n, "min", -3.402823e+38f);
        p->hi = ir_attr_float(n, "max", 3.402823e+38f);
      } else {
        double v;
        if (c->n_in > 1 && c->in[1]) {
          if (c->in[1]->rank > 0 && ptq_tensor_numel(c->in[1]) != 1)
            return op_fail(c, PTQ_ERR_INVALID_MODEL, "min must be a scalar");
          if (op_read_scalar(c->in[1], &v)) p->lo = (float)v;
        }
        if (c->n_in > 2 && c->in[2]) {
          if (c->in[2]->rank > 0 && ptq_tensor_numel(c->in[2]) != 1)
            return op_fail(c, PTQ_ERR_INVALID_MODEL, "max must be a scalar");
          if (op_read_scalar(c->in[2], &v)) p->hi = (float)v;
        }
      }
      break;
    default: break;
  }
  return PTQ_OK;
}

static inline double unary_d(unary_kind k, const unary_params *p, double x) {
  switch (k) {
    case U_RELU: return x > 0 ? x : 0;
    case U_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case U_TANH: return tanh(x);
    case U_EXP: return exp(x);
    case U_SQRT: return sqrt(x);
    case U_ABS: return fabs(x);
    case U_NEG: return -x;
    case U_LOG: return log(x);
    case U_FLOOR: return floor(x);
    case U_CEIL: return ceil(x);
    case U_RECIP: return 1.0 / x;
    case U_ERF: return erf(x);
    case U_SIN: return sin(x);
    case U_COS: return cos(x);
    case U_TAN: return tan(x);
    case U_ASIN: return asin(x);
    case U_ACOS: return acos(x);
    case U_ATAN: return atan(x);
    case U_SINH: return sinh(x);
    case U_COSH: return cosh(x);
    case U_ASINH: return asinh(x);
    case U_ACOSH: return acosh(x);
    case U_ATANH: return atanh(x);
    case U_ROUND: return nearbyint(x); /* half to even under the default rounding mode */
    case U_SIGN: return x > 0 ? 1 : x < 0 ? -1 : 0;
    case U_SOFTSIGN: return x / (1 + fabs(x));
    case U_SOFTPLUS: return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
    case U_LEAKY: return x >= 0 ? x : p->alpha * x;
    case U_ELU: return x >= 0 ? x : p->alpha * (exp(x) - 1);
    case U_CELU: return (x > 0 ? x : 0) + fmin(0.0, p->alpha * (exp(x / p->alpha) - 1));
    case U_THRESHRELU: return x > p->alpha ? x : 0;
    case U_SELU: return p->gamma * (x > 0 ? x : p->alpha * (exp(x) - 1));
    case U_HSIGMOID: return fmax(0.0, fmin(1.0, p->alpha * x + p->beta));
    case U_HSWISH: return x * fmax(0.0, fmin(1.0, x / 6.0 + 0.5));
    case U_CLIP: return x < p->lo ? p->lo : x > p->hi ? p->hi : x;
    case U_GELU:
      return p->approx_tanh ? 0.5 * x * (1 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))
                            : 0.5 * x * (1 + erf(x * 0.7071067811865476));
    case U_MISH: return x * tanh(x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)));
    case U_NOT: return x == 0;
    case U_ISNAN: return isnan(x) ? 1 : 0;
    case U_ISINF:
      return (isinf(x) && ((x > 0 && p->detect_pos) || (x < 0 && p->detect_neg))) ? 1 : 0;
  }
  return x;
}

static void unary_f32(unary_kind k, const unary_params *p, const float *x, float *y, int64_t n) {
  switch (k) {
    case U_RELU:
#pragma omp parallel for if (n > 65536) schedule(static)
      for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0;
      return;
    case U_CLIP: {
      float lo = p->lo, hi = p->hi;
#pragma omp parallel for if (n > 65536) schedule(static)
      for (int64_t i = 0; i < n; i++) {
        float v = x[i] < lo ? lo : x[i];
        y[i] = v > hi ? hi : v;
      }
      return;
    }
    case U_LEAKY: {
      float a = p->alpha;
#pragma omp parallel for if (n > 65536) schedule(static)
      for (int64_t i = 0; i < n; i++) y[i] = x[i] >= 0 ? x[i] : a * x[i];
      return;
    }
    case U_HSIGMOID: {
      float a = p->alpha, b = p->beta;
#pragma omp parallel for if (n > 65536) schedule(static)
      for (int64_t i = 0; i < n; i++) y[i] = fmaxf(0.0f, fminf(1.0f, a * x[i] + b));
      return;
    }
    case U_HSWISH:
#pragma omp parallel for if (n > 65536) schedule(static)
      for (int64_t i = 0; i < n; i++) y[i] = x[i] * fmaxf(0.0f, fminf(1.0f, x[i] / 6.0f + 0.5f));
      return;
    case U_SIGMOID:
#pragma omp parallel for if (n > 16384) schedule(static)
      for (int64_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + expf(-x[i]));
      return;
    case U_EXP:
#pragma omp parallel for if (n > 16384) schedule(static)
      for (int64_t i = 0; i < n; i++) y[i] = expf(x[i]);
      return;
    case U_TANH:
#pragma omp parallel for if (n > 16384) schedule(static)
      for (int64_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
      return;
    case U_SQRT:
#pragma omp parallel for if (n > 65536) schedule(static)
      for (int64_t i = 0; i < n; i++) y[i] = sqrtf(x[i]);
      return;
    default:
#pragma omp parallel for if (n > 16384) schedule(static)
      for (int64_t i = 0; i < n; i++) y[i] = (float)unary_d(k, p, x[i]);
      return;
  }
}

static unsigned unary_dtypes(unary_kind k) {
  switch (k) {
    case U_RELU:
    case U_ABS:
    case U_NEG:
    case U_SIGN:
    case U_CLIP: return OP_NUMERIC;
    case U_NOT: return OP_DT(PTQ_DT_BOOL);
    default: return OP_DT(PTQ_DT_FLOAT) | OP_DT(PTQ_DT_DOUBLE) | OP_DT(PTQ_DT_FLOAT16);
  }
}

static ptq_status unary_infer(op_ctx *c) {
  unary_kind k = unary_of(c->node->op_type);
  PTQ_TRY(op_require_dtype(c, 0, unary_dtypes(k)));
  unary_params p;
  PTQ_TRY(unary_params_get(c, k, &p));
  ptq_dtype dt = (k == U_ISNAN || k == U_ISINF) ? PTQ_DT_BOOL : c->in[0]->dtype;
  op_set_out(c, 0, dt, c->in[0]->rank, c->in[0]->dims);
  return PTQ_OK;
}

static ptq_status unary_run(op_ctx *c) {
  unary_kind k = unary_of(c->node->op_type);
  unary_params p;
  PTQ_TRY(unary_params_get(c, k, &p));
  const ptq_tensor *x = c->in[0];
  ptq_tensor *y = c->out[0];
  int64_t n = ptq_tensor_numel(x);
  if (x->dtype == PTQ_DT_FLOAT && y->dtype == PTQ_DT_FLOAT) {
    unary_f32(k, &p, x->data, y->data, n);
    return PTQ_OK;
  }
  int is_int = x->dtype != PTQ_DT_FLOAT && x->dtype != PTQ_DT_DOUBLE && x->dtype != PTQ_DT_FLOAT16;
  if (is_int && k == U_CLIP && x->dtype == PTQ_DT_INT64) { /* exact int64 clip */
    const int64_t *xi = x->data;
    int64_t *yi = y->data;
    double lo = p.lo, hi = p.hi;
    for (int64_t i = 0; i < n; i++)
      yi[i] = (double)xi[i] < lo ? (int64_t)lo : (double)xi[i] > hi ? (int64_t)hi : xi[i];
    return PTQ_OK;
  }
  for (int64_t i = 0; i < n; i++) op_put(y, i, unary_d(k, &p, op_get(x, i)));
  return PTQ_OK;
}

/* ---------------------------------------------------------------- binary --- */

typedef enum {
  B_ADD,
  B_SUB,
  B_MUL,
  B_DIV,
  B_POW,
  B_MOD,
  B_FMOD,
  B_MIN,
  B_MAX,
  B_PRELU,
  B_EQ,
  B_GT,
  B_LT,
  B_GE,
  B_LE,
  B_AND,
  B_OR,
  B_XOR,
  B_BITSHIFT_L,
  B_BITSHIFT_R
} binary_kind;

static const struct {
  const char *name;
  binary_kind kind;
} g_binary[] = {
    {"Add", B_ADD},    {"Sub", B_SUB}, {"Mul", B_MUL},           {"Div", B_DIV},
    {"Pow", B_POW},    {"Mod", B_MOD}, {"PRelu", B_PRELU},       {"Equal", B_EQ},
    {"Greater", B_GT}, {"Less", B_LT}, {"GreaterOrEqual", B_GE}, {"LessOrEqual", B_LE},
    {"And", B_AND},    {"Or", B_OR},   {"Xor", B_XOR},           {"Min", B_MIN},
    {"Max", B_MAX},    {"Sum", B_ADD}, {"Mean", B_ADD},          {"BitShift", B_BITSHIFT_L},
    {NULL, 0}};

static binary_kind binary_of(const op_ctx *c) {
  const char *op = c->node->op_type;
  for (int i = 0; g_binary[i].name; i++)
    if (strcmp(g_binary[i].name, op) == 0) {
      binary_kind k = g_binary[i].kind;
      if (k == B_MOD && ir_attr_int(c->node, "fmod", 0)) k = B_FMOD;
      if (k == B_BITSHIFT_L && strcmp(ir_attr_string(c->node, "direction", ""), "RIGHT") == 0)
        k = B_BITSHIFT_R;
      return k;
    }
  return B_ADD;
}

static int is_compare(binary_kind k) {
  return k >= B_EQ && k <= B_LE;
}
static int is_logic(binary_kind k) {
  return k >= B_AND && k <= B_XOR;
}

static inline float bin_f32(binary_kind k, float a, float b) {
  switch (k) {
    case B_ADD: return a + b;
    case B_SUB: return a - b;
    case B_MUL: return a * b;
    case B_DIV: return a / b;
    case B_POW: return powf(a, b);
    case B_FMOD: return fmodf(a, b);
    case B_MOD: {
      float r = fmodf(a, b);
      return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
    }
    case B_MIN: return (isnan(a) || isnan(b)) ? NAN : fminf(a, b);
    case B_MAX: return (isnan(a) || isnan(b)) ? NAN : fmaxf(a, b);
    case B_PRELU: return a < 0 ? a * b : a;
    case B_EQ: return a == b;
    case B_GT: return a > b;
    case B_LT: return a < b;
    case B_GE: return a >= b;
    case B_LE: return a <= b;
    default: return 0;
  }
}

static inline double bin_d(binary_kind k, double a, double b) {
  switch (k) {
    case B_POW: return pow(a, b);
    case B_FMOD: return fmod(a, b);
    case B_MOD: {
      double r = fmod(a, b);
      return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
    }
    case B_MIN: return (isnan(a) || isnan(b)) ? NAN : fmin(a, b);
    case B_MAX: return (isnan(a) || isnan(b)) ? NAN : fmax(a, b);
    case B_ADD: return a + b;
    case B_SUB: return a - b;
    case B_MUL: return a * b;
    case B_DIV: return a / b;
    case B_PRELU: return a < 0 ? a * b : a;
    case B_EQ: return a == b;
    case B_GT: return a > b;
    case B_LT: return a < b;
    case B_GE: return a >= b;
    case B_LE: return a <= b;
    case B_AND: return (a != 0) && (b != 0);
    case B_OR: return (a != 0) || (b != 0);
    case B_XOR: return (a != 0) != (b != 0);
    default: return 0;
  }
}

/* Exact integer arithmetic (wrapping, as two's complement hardware does). */
static inline int64_t bin_i64(binary_kind k, int64_t a, int64_t b, int *div0) {
  uint64_t ua = (uint64_t)a, ub = (uint64_t)b;
  switch (k) {
    case B_ADD: return (int64_t)(ua + ub);
    case B_SUB: return (int64_t)(ua - ub);
    case B_MUL: return (int64_t)(ua * ub);
    case B_DIV:
      if (b == 0 || (a == INT64_MIN && b == -1)) {
        *div0 = 1;
        return 0;
      }
      return a / b;
    case B_FMOD:
    case B_MOD: {
      if (b == 0 || (a == INT64_MIN && b == -1)) {
        *div0 = b == 0;
        return 0;
      }
      int64_t r = a % b;
      return (k == B_MOD && r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
    }
    case B_MIN: return a < b ? a : b;
    case B_MAX: return a > b ? a : b;
    case B_PRELU: return a < 0 ? (int64_t)(ua * ub) : a;
    case B_EQ: return a == b;
    case B_GT: return a > b;
    case B_LT: return a < b;
    case B_GE: return a >= b;
    case B_LE: return a <= b;
    case B_AND: return (a != 0) && (b != 0);
    case B_OR: return (a != 0) || (b != 0);
    case B_XOR: return (a != 0) != (b != 0);
    case B_POW: { /* exact for the small integer powers that fit; saturating like a cast */
      double r = pow((double)a, (double)b);
      return r >= 9.2233720368547758e18    ? INT64_MAX
             : r <= -9.2233720368547758e18 ? INT64_MIN
                                           : (int64_t)r;
    }
    case B_BITSHIFT_L: return ub >= 64 ? 0 : (int64_t)(ua << ub);
    case B_BITSHIFT_R: return ub >= 64 ? 0 : (int64_t)(ua >> ub);
    default: return 0;
  }
}

static int is_float_dt(ptq_dtype d) {
  return d == PTQ_DT_FLOAT || d == PTQ_DT_DOUBLE || d == PTQ_DT_FLOAT16;
}

static int64_t get_i64(const ptq_tensor *t, int64_t i) {
  switch (t->dtype) {
    case PTQ_DT_INT64: return ((const int64_t *)t->data)[i];
    case PTQ_DT_UINT64: return (int64_t)((const uint64_t *)t->data)[i];
    case PTQ_DT_INT32: return ((const int32_t *)t->data)[i];
    case PTQ_DT_UINT32: return ((const uint32_t *)t->data)[i];
    case PTQ_DT_INT16: return ((const int16_t *)t->data)[i];
    case PTQ_DT_UINT16: return ((const uint16_t *)t->data)[i];
    case PTQ_DT_INT8: return ((const int8_t *)t->data)[i];
    default: return ((const uint8_t *)t->data)[i];
  }
}

static void put_i64(ptq_tensor *t, int64_t i, int64_t v) {
  switch (t->dtype) {
    case PTQ_DT_INT64: ((int64_t *)t->data)[i] = v; break;
    case PTQ_DT_UINT64: ((uint64_t *)t->data)[i] = (uint64_t)v; break;
    case PTQ_DT_INT32: ((int32_t *)t->data)[i] = (int32_t)v; break;
    case PTQ_DT_UINT32: ((uint32_t *)t->data)[i] = (uint32_t)v; break;
    case PTQ_DT_INT16: ((int16_t *)t->data)[i] = (int16_t)v; break;
    case PTQ_DT_UINT16: ((uint16_t *)t->data)[i] = (uint16_t)v; break;
    case PTQ_DT_INT8: ((int8_t *)t->data)[i] = (int8_t)v; break;
    case PTQ_DT_BOOL: ((uint8_t *)t->data)[i] = v != 0; break;
    default: ((uint8_t *)t->data)[i] = (uint8_t)v; break;
  }
}

/* Broadcast index mapping: per output dim, the input's stride (0 where broadcast). */
static void bcast_strides(const ptq_tensor *x, int rank, const int64_t *odims, int64_t *st) {
  int64_t xs[PTQ_MAX_RANK];
  op_strides(x->rank, x->dims, xs);
  for (int i = 0; i < rank; i++) {
    int ix = i - (rank - x->rank);
    st[i] = (ix >= 0 && x->dims[ix] != 1) ? xs[ix] : 0;
    (void)odims;
  }
}

/* y = a ∘ b for float32 with broadcasting; the innermost output dim is the vector loop. */
static void binary_f32(binary_kind k, const ptq_tensor *a, const ptq_tensor *b, ptq_tensor *y) {
  const float *pa = a->data, *pb = b->data;
  float *py = y->data;
  int64_t n = ptq_tensor_numel(y);
  int rank = y->rank;
  if (ptq_tensor_numel(a) == n && ptq_tensor_numel(b) == n) {
#define LOOP_SAME(expr)                                                                         \
  _Pragma("omp parallel for if (n > 65536) schedule(static)") for (int64_t i = 0; i < n; i++) { \
    float x = pa[i], z = pb[i];                                                                 \
    py[i] = (expr);                                                                             \
  }
    switch (k) {
      case B_ADD: LOOP_SAME(x + z); return;
      case B_SUB: LOOP_SAME(x - z); return;
      case B_MUL: LOOP_SAME(x * z); return;
      case B_DIV: LOOP_SAME(x / z); return;
      default: LOOP_SAME(bin_f32(k, x, z)); return;
    }
#undef LOOP_SAME
  }
  int64_t sa[PTQ_MAX_RANK], sb[PTQ_MAX_RANK];
  bcast_strides(a, rank, y->dims, sa);
  bcast_strides(b, rank, y->dims, sb);
  int64_t inner = rank ? y->dims[rank - 1] : 1, outer = inner ? n / inner : 0;
  int64_t ia = rank ? sa[rank - 1] : 0, ib = rank ? sb[rank - 1] : 0;
#pragma omp parallel for if (n > 65536) schedule(static)
  for (int64_t o = 0; o < outer; o++) {
    int64_t offa = 0, offb = 0, rem = o;
    for (int d = rank - 2; d >= 0; d--) {
      int64_t idx = rem % y->dims[d];
      rem /= y->dims[d];
      offa += idx * sa[d];
      offb += idx * sb[d];
    }
    const float *xa = pa + offa, *xb = pb + offb;
    float *yo = py + o * inner;
    if (ia == 1 && ib == 0) {
      float z = xb[0];
      switch (k) {
        case B_ADD:
          for (int64_t i = 0; i < inner; i++) yo[i] = xa[i] + z;
          break;
        case B_SUB:
          for (int64_t i = 0; i < inner; i++) yo[i] = xa[i] - z;
          break;
        case B_MUL:
          for (int64_t i = 0; i < inner; i++) yo[i] = xa[i] * z;
          break;
        case B_DIV:
          for (int64_t i = 0; i < inner; i++) yo[i] = xa[i] / z;
          break;
        default:
          for (int64_t i = 0; i < inner; i++) yo[i] = bin_f32(k, xa[i], z);
          break;
      }
    } else {
      for (int64_t i = 0; i < inner; i++) yo[i] = bin_f32(k, xa[i * ia], xb[i * ib]);
    }
  }
}

static void binary_generic(binary_kind k, const ptq_tensor *a, const ptq_tensor *b, ptq_tensor *y,
                           int *div0) {
  int rank = y->rank;
  int64_t sa[PTQ_MAX_RANK], sb[PTQ_MAX_RANK], n = ptq_tensor_numel(y);
  bcast_strides(a, rank, y->dims, sa);
  bcast_strides(b, rank, y->dims, sb);
  int fl = is_float_dt(a->dtype);
  for (int64_t o = 0; o < n; o++) {
    int64_t offa = 0, offb = 0, rem = o;
    for (int d = rank - 1; d >= 0; d--) {
      int64_t idx = rem % y->dims[d];
      rem /= y->dims[d];
      offa += idx * sa[d];
      offb += idx * sb[d];
    }
    if (fl || (k == B_POW && is_float_dt(b->dtype)))
      op_put(y, o, bin_d(k, op_get(a, offa), op_get(b, offb)));
    else
      put_i64(y, o, bin_i64(k, get_i64(a, offa), get_i64(b, offb), div0));
  }
}

static ptq_status binary_infer(op_ctx *c) {
  binary_kind k = binary_of(c);
  unsigned mask =
      is_logic(k) ? OP_DT(PTQ_DT_BOOL)
      : (k == B_BITSHIFT_L || k == B_BITSHIFT_R)
          ? (OP_NUMERIC & ~(OP_DT(PTQ_DT_FLOAT) | OP_DT(PTQ_DT_DOUBLE) | OP_DT(PTQ_DT_FLOAT16)))
      : (k == B_EQ) ? OP_ANY
                    : OP_NUMERIC;
  const ptq_tensor *a = c->in[0];
  ptq_dtype out_dt = a->dtype;
  int rank = a->rank;
  int64_t dims[PTQ_MAX_RANK] = {0};
  memcpy(dims, a->dims, sizeof dims);
  for (int i = 0; i < c->n_in; i++) {
    PTQ_TRY(op_require_dtype(c, i, mask));
    const ptq_tensor *b = c->in[i];
    if (!b) return op_fail(c, PTQ_ERR_INVALID_MODEL, "input %d is missing", i);
    if (k != B_POW && b->dtype != PTQ_DT_UNDEFINED && a->dtype != PTQ_DT_UNDEFINED &&
        b->dtype != a->dtype)
      return op_fail(c, PTQ_ERR_INVALID_MODEL, "inputs have different types %s and %s",
                     ptq_dtype_name(a->dtype), ptq_dtype_name(b->dtype));
    if (i == 0) continue;
    ptq_tensor acc = {.dtype = a->dtype, .rank = rank};
    memcpy(acc.dims, dims, sizeof dims);
    PTQ_TRY(op_broadcast(c, &acc, b, &rank, dims));
  }
  if (k == B_PRELU && c->opset < 9 && a->rank >= 0 && c->in[1]->rank >= 0 &&
      c->in[1]->rank > a->rank)
    return op_fail(c, PTQ_ERR_SHAPE, "slope does not broadcast to X");
  if (is_compare(k) || is_logic(k)) out_dt = PTQ_DT_BOOL;
  op_set_out(c, 0, out_dt, rank, dims);
  return PTQ_OK;
}

static ptq_status binary_run(op_ctx *c) {
  binary_kind k = binary_of(c);
  ptq_tensor *y = c->out[0];
  int div0 = 0;
  if (c->n_in == 1) { /* variadic with one input: copy */
    memcpy(y->data, c->in[0]->data, (size_t)ptq_tensor_numel(y) * ptq_dtype_size(y->dtype));
    return PTQ_OK;
  }
  const ptq_tensor *a = c->in[0];
  ptq_tensor *tmp = NULL;
  for (int i = 1; i < c->n_in; i++) {
    const ptq_tensor *b = c->in[i];
    ptq_tensor *dst = y;
    if (i + 1 < c->n_in) { /* intermediate broadcast result */
      int rank;
      int64_t dims[PTQ_MAX_RANK] = {0};
      PTQ_TRY(op_broadcast(c, a, b, &rank, dims));
      ptq_status st = ptq_tensor_create(a->dtype, rank, dims, &dst);
      if (st != PTQ_OK) {
        ptq_tensor_destroy(tmp);
        return st;
      }
    }
    if (a->dtype == PTQ_DT_FLOAT && dst->dtype == PTQ_DT_FLOAT && k != B_POW)
      binary_f32(k, a, b, dst);
    else if (a->dtype == PTQ_DT_FLOAT && b->dtype == PTQ_DT_FLOAT && dst->dtype == PTQ_DT_FLOAT)
      binary_f32(k, a, b, dst);
    else
      binary_generic(k, a, b, dst, &div0);
    ptq_tensor_destroy(tmp);
    tmp = dst == y ? NULL : dst;
    a = dst;
  }
  if (strcmp(c->node->op_type, "Mean") == 0) {
    int64_t n = ptq_tensor_numel(y);
    for (int64_t i = 0; i < n; i++) op_put(y, i, op_get(y, i) / c->n_in);
  }
  if (div0) return op_fail(c, PTQ_ERR_DATA, "integer division by zero");
  return PTQ_OK;
}

/* ---------------------------------------------------------------- Where --- */

static ptq_status where_infer(op_ctx *c) {
  PTQ_TRY(op_require_dtype(c, 0, OP_DT(PTQ_DT_BOOL)));
  int rank;
  int64_t dims[PTQ_MAX_RANK] = {0};
  PTQ_TRY(op_broadcast(c, c->in[0], c->in[1], &rank, dims));
  ptq_tensor acc = {.rank = rank};
  memcpy(acc.dims, dims, sizeof dims);
  PTQ_TRY(op_broadcast(c, &acc, c->in[2], &rank, dims));
  if (c->in[1]->dtype != c->in[2]->dtype)
    return op_fail(c, PTQ_ERR_INVALID_MODEL, "X and Y have different types");
  op_set_out(c, 0, c->in[1]->dtype, rank, dims);
  return PTQ_OK;
}

static ptq_status where_run(op_ctx *c) {
  ptq_tensor *y = c->out[0];
  int rank = y->rank;
  int64_t s0[PTQ_MAX_RANK], s1[PTQ_MAX_RANK], s2[PTQ_MAX_RANK], n = ptq_tensor_numel(y);
  bcast_strides(c->in[0], rank, y->dims, s0);
  bcast_strides(c->in[1], rank, y->dims, s1);
  bcast_strides(c->in[2], rank, y->dims, s2);
  size_t es = ptq_dtype_size(y->dtype);
  const uint8_t *cond = c->in[0]->data;
  for (int64_t o = 0; o < n; o++) {
    int64_t f0 = 0, f1 = 0, f2 = 0, rem = o;
    for (int d = rank - 1; d >= 0; d--) {
      int64_t idx = rem % y->dims[d];
      rem /= y->dims[d];
      f0 += idx * s0[d];
      f1 += idx * s1[d];
      f2 += idx * s2[d];
    }
    const char *src = cond[f0] ? (const char *)c->in[1]->data + f1 * (int64_t)es
                               : (const char *)c->in[2]->data + f2 * (int64_t)es;
    memcpy((char *)y->data + o * (int64_t)es, src, es);
  }
  return PTQ_OK;
}

/* ---------------------------------------------------------------- table --- */

static const char *const A_NONE[] = {NULL};
static const char *const A_ALPHA[] = {"alpha:f", NULL};
static const char *const A_SELU[] = {"alpha:f", "gamma:f", NULL};
static const char *const A_HSIG[] = {"alpha:f", "beta:f", NULL};
static const char *const A_CLIP6[] = {"min:f", "max:f", NULL};
static const char *const A_GELU[] = {"approximate:s", NULL};
static const char *const A_ISINF[] = {"detect_positive:i", "detect_negative:i", NULL};
static const char *const A_MOD[] = {"fmod:i", NULL};
static const char *const A_SHIFT[] = {"direction:s", NULL};

#define UNARY(name, since, attrs) \
  { name, since, 1, 1, 1, 1, attrs, unary_infer, unary_run, 0, 0, 0 }
#define BINARY(name, since, attrs) \
  { name, since, 2, 2, 1, 1, attrs, binary_infer, binary_run, 0, 0, 0 }
#define VARIADIC(name, since) \
  { name, since, 1, 1024, 1, 1, A_NONE, binary_infer, binary_run, 0, 0, 0 }

const op_def op_defs_elementwise[] = {
    UNARY("Relu", 6, A_NONE),
    UNARY("Sigmoid", 6, A_NONE),
    UNARY("Tanh", 6, A_NONE),
    UNARY("Exp", 6, A_NONE),
    UNARY("Sqrt", 6, A_NONE),
    UNARY("Abs", 6, A_NONE),
    UNARY("Neg", 6, A_NONE),
    UNARY("Log", 6, A_NONE),
    UNARY("Floor", 6, A_NONE),
    UNARY("Ceil", 6, A_NONE),
    UNARY("Reciprocal", 6, A_NONE),
    UNARY("Erf", 9, A_NONE),
    UNARY("Sin", 7, A_NONE),
    UNARY("Cos", 7, A_NONE),
    UNARY("Tan", 7, A_NONE),
    UNARY("Asin", 7, A_NONE),
    UNARY("Acos", 7, A_NONE),
    UNARY("Atan", 7, A_NONE),
    UNARY("Sinh", 9, A_NONE),
    UNARY("Cosh", 9, A_NONE),
    UNARY("Asinh", 9, A_NONE),
    UNARY("Acosh", 9, A_NONE),
    UNARY("Atanh", 9, A_NONE),
    UNARY("Round", 11, A_NONE),
    UNARY("Sign", 9, A_NONE),
    UNARY("Softsign", 1, A_NONE),
    UNARY("Softplus", 1, A_NONE),
    UNARY("LeakyRelu", 6, A_ALPHA),
    UNARY("Elu", 6, A_ALPHA),
    UNARY("Selu", 6, A_SELU),
    UNARY("Celu", 12, A_ALPHA),
    UNARY("ThresholdedRelu", 10, A_ALPHA),
    UNARY("HardSigmoid", 6, A_HSIG),
    UNARY("HardSwish", 14, A_NONE),
    UNARY("Gelu", 20, A_GELU),
    UNARY("Mish", 18, A_NONE),
    UNARY("Not", 1, A_NONE),
    UNARY("IsNaN", 9, A_NONE),
    UNARY("IsInf", 10, A_ISINF),
    {"Clip", 6, 1, 1, 1, 1, A_CLIP6, unary_infer, unary_run, 0, 0, 0},
    {"Clip", 11, 1, 3, 1, 1, A_NONE, unary_infer, unary_run, 0, 0, 0},
    BINARY("Add", 7, A_NONE),
    BINARY("Sub", 7, A_NONE),
    BINARY("Mul", 7, A_NONE),
    BINARY("Div", 7, A_NONE),
    BINARY("Pow", 7, A_NONE),
    BINARY("Mod", 10, A_MOD),
    BINARY("PRelu", 7, A_NONE),
    BINARY("Equal", 7, A_NONE),
    BINARY("Greater", 7, A_NONE),
    BINARY("Less", 7, A_NONE),
    BINARY("GreaterOrEqual", 12, A_NONE),
    BINARY("LessOrEqual", 12, A_NONE),
    BINARY("And", 7, A_NONE),
    BINARY("Or", 7, A_NONE),
    BINARY("Xor", 7, A_NONE),
    BINARY("BitShift", 11, A_SHIFT),
    VARIADIC("Min", 8),
    VARIADIC("Max", 8),
    VARIADIC("Sum", 8),
    VARIADIC("Mean", 8),
    {"Where", 9, 3, 3, 1, 1, A_NONE, where_infer, where_run, 0, 0, 0},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, 0, 0}};
