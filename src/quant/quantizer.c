/* Affine quantizer math (see quantizer.h). The fast paths compute exactly the scalar
 * reference's operations (IEEE division, the same clamps, exact rounding steps), so every ISA
 * gives bit-identical results; tests/unit/test_quant_core.c checks it. */
#include "quant/quantizer.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

#if defined(__x86_64__) || defined(__i386__)
#define QUANT_HAVE_X86 1
#include <immintrin.h>
#endif

/* Elements below which fake quantization stays on the calling thread. */
#define QUANT_PAR_MIN 32768

ptq_qscheme ptq_qscheme_int8(void) {
  ptq_qscheme s;
  memset(&s, 0, sizeof s);
  s.bits = 8;
  s.is_signed = 1;
  s.round = PTQ_ROUND_HALF_EVEN;
  return s;
}

ptq_status ptq_qscheme_check(const ptq_qscheme *s, int rank) {
  if (!s) return ptq_error(PTQ_ERR_INVALID_ARG, "quantization scheme is NULL");
  if (s->bits < 2 || s->bits > 16)
    return ptq_error(PTQ_ERR_INVALID_ARG, "quantization bits %d outside 2..16", s->bits);
  if (s->round != PTQ_ROUND_HALF_EVEN && s->round != PTQ_ROUND_HALF_AWAY)
    return ptq_error(PTQ_ERR_INVALID_ARG, "unknown rounding mode %d", (int)s->round);
  if (s->per_channel && rank >= 0 && (s->axis < -rank || s->axis >= rank))
    return ptq_error(PTQ_ERR_INVALID_ARG, "channel axis %d outside rank %d", s->axis, rank);
  return PTQ_OK;
}

void ptq_qscheme_range(const ptq_qscheme *s, int32_t *qmin, int32_t *qmax) {
  int32_t lo, hi;
  if (s->is_signed) {
    lo = -(INT32_C(1) << (s->bits - 1));
    hi = (INT32_C(1) << (s->bits - 1)) - 1;
  } else {
    lo = 0;
    hi = (INT32_C(1) << s->bits) - 1;
  }
  if (s->narrow) lo += 1;
  *qmin = lo;
  *qmax = hi;
}

/* numpy.round on a double: ties to even (independent of the FP environment). */
static double round_half_even_d(double v) {
  const double f = floor(v), d = v - f;
  if (d > 0.5) return f + 1.0;
  if (d < 0.5) return f;
  return fmod(f, 2.0) == 0.0 ? f : f + 1.0;
}

ptq_status ptq_qparams_from_range(const ptq_qscheme *s, float rmin, float rmax, ptq_qparams *out) {
  PTQ_TRY(ptq_qscheme_check(s, -1));
  if (!isfinite(rmin) || !isfinite(rmax))
    return ptq_error(PTQ_ERR_DATA, "quantization range [%g, %g] is not finite", (double)rmin,
                     (double)rmax);
  int32_t qmin, qmax;
  ptq_qscheme_range(s, &qmin, &qmax);
  /* Widen to include 0 (float32, like onnxruntime on float32 ranges). */
  float lo = rmin < 0.0f ? rmin : 0.0f, hi = rmax > 0.0f ? rmax : 0.0f;
  if (s->symmetric) {
    const float a = fabsf(lo) > fabsf(hi) ? fabsf(lo) : fabsf(hi);
    lo = -a;
    hi = a;
  }
  /* hi - lo in double is exact (two float32 values); qmax - qmin <= 65535. */
  double scale = ((double)hi - (double)lo) / (double)(qmax - qmin);
  const int32_t mid = (int32_t)round_half_even_d(((double)qmin + (double)qmax) / 2.0);
  if (scale < (double)FLT_MIN) {
    out->scale = 1.0f;
    out->zero_point = s->symmetric ? mid : 0;
    return PTQ_OK;
  }
  if (s->pow2_scale) {
    int e;
    const double m = frexp(scale, &e); /* scale = m * 2^e, m in [0.5, 1) */
    scale = m == 0.5 ? scale : ldexp(1.0, e);
  }
  int32_t zp;
  if (s->symmetric) {
    zp = mid;
  } else {
    const double z = round_half_even_d((double)qmin - (double)lo / scale);
    zp = z < qmin ? qmin : z > qmax ? qmax : (int32_t)z;
  }
  const float fs = (float)scale;
  if (!isfinite(fs) || fs < FLT_MIN)
    return ptq_error(PTQ_ERR_DATA, "quantization scale %g is not representable in float32", scale);
  out->scale = fs;
  out->zero_point = zp;
  return PTQ_OK;
}

ptq_status ptq_qparams_from_ranges(const ptq_qscheme *s, int64_t n, const float *rmin,
                                   const float *rmax, ptq_qparams *out) {
  for (int64_t i = 0; i < n; i++) {
    const ptq_status st = ptq_qparams_from_range(s, rmin[i], rmax[i], &out[i]);
    if (st != PTQ_OK) return ptq_error_prefix(st, "channel %lld: ", (long long)i);
  }
  return PTQ_OK;
}

/* ----------------------------------------------------------- reference --- */

/* The rounded, clamped value r = q - zp as a float (an integer in [lo, hi]):
 *   v = x / scale (float32 division, as MLAS);
 *   v = max(v, lo), then min(v, hi) with MAXPS/MINPS semantics (NaN → lo);
 *   r = round(v). Clamping before rounding equals clamping after: lo and hi are integers. */
static inline float q_offset(float x, float scale, float lo, float hi, ptq_round_mode round) {
  float v = x / scale;
  v = v > lo ? v : lo;
  v = v < hi ? v : hi;
  return round == PTQ_ROUND_HALF_EVEN ? nearbyintf(v) : roundf(v);
}

int32_t ptq_quantize_value(float x, ptq_qparams p, int32_t qmin, int32_t qmax,
                           ptq_round_mode round) {
  const float lo = (float)(qmin - p.zero_point), hi = (float)(qmax - p.zero_point);
  return (int32_t)q_offset(x, p.scale, lo, hi, round) + p.zero_point;
}

void ptq_quantize_f32(const float *x, int64_t n, const ptq_qscheme *s, ptq_qparams p, int32_t *q) {
  int32_t qmin, qmax;
  ptq_qscheme_range(s, &qmin, &qmax);
  for (int64_t i = 0; i < n; i++) q[i] = ptq_quantize_value(x[i], p, qmin, qmax, s->round);
}

/* x' = (r + 0) * scale: adding +0 turns a -0 from rounding into +0, as the integer round
 * trip of QuantizeLinear → DequantizeLinear does. */
static void fq_scalar(float *x, int64_t n, float scale, float lo, float hi, ptq_round_mode round) {
  for (int64_t i = 0; i < n; i++) x[i] = (q_offset(x[i], scale, lo, hi, round) + 0.0f) * scale;
}

/* ----------------------------------------------------------- AVX paths --- */

#if QUANT_HAVE_X86
#define TGT2 __attribute__((target("avx2,fma")))
#define TGT512 __attribute__((target("avx512f,avx2,fma")))

/* roundf exactly: t = trunc(v); f = v - t is exact; |f| >= 0.5 → t + copysign(1, v). */
static TGT2 inline __m256 round_away8(__m256 v) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m256 f = _mm256_andnot_ps(sign, _mm256_sub_ps(v, t));
  const __m256 one = _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(sign, v));
  const __m256 m = _mm256_cmp_ps(f, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
  return _mm256_add_ps(t, _mm256_and_ps(m, one));
}

static TGT2 inline __m256 fq8(__m256 v, __m256 s, __m256 lo, __m256 hi, int away) {
  v = _mm256_div_ps(v, s);
  v = _mm256_max_ps(v, lo); /* MAXPS: NaN in v → lo, as v > lo ? v : lo */
  v = _mm256_min_ps(v, hi);
  v = away ? round_away8(v) : _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  return _mm256_mul_ps(_mm256_add_ps(v, _mm256_setzero_ps()), s);
}

static TGT2 void fq_avx2(float *x, int64_t n, float scale, float lo, float hi,
                         ptq_round_mode round) {
  const __m256 s = _mm256_set1_ps(scale), l = _mm256_set1_ps(lo), h = _mm256_set1_ps(hi);
  const int away = round == PTQ_ROUND_HALF_AWAY;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, fq8(_mm256_loadu_ps(x + i), s, l, h, away));
  if (i < n) fq_scalar(x + i, n - i, scale, lo, hi, round);
}

static TGT512 inline __m512 round_away16(__m512 v) {
  const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
  const __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_abs_ps(_mm512_sub_ps(v, t));
  const __m512 one = _mm512_castsi512_ps(_mm512_or_si512(
      _mm512_castps_si512(_mm512_set1_ps(1.0f)), _mm512_and_si512(sign, _mm512_castps_si512(v))));
  const __mmask16 m = _mm512_cmp_ps_mask(f, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
  return _mm512_mask_add_ps(t, m, t, one);
}

static TGT512 inline __m512 fq16(__m512 v, __m512 s, __m512 lo, __m512 hi, int away) {
  v = _mm512_div_ps(v, s);
  v = _mm512_max_ps(v, lo); /* VMAXPS: second operand when either is NaN, as MAXPS */
  v = _mm512_min_ps(v, hi);
  v = away ? round_away16(v)
           : _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  return _mm512_mul_ps(_mm512_add_ps(v, _mm512_setzero_ps()), s);
}

static TGT512 void fq_avx512(float *x, int64_t n, float scale, float lo, float hi,
                             ptq_round_mode round) {
  const __m512 s = _mm512_set1_ps(scale), l = _mm512_set1_ps(lo), h = _mm512_set1_ps(hi);
  const int away = round == PTQ_ROUND_HALF_AWAY;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(x + i, fq16(_mm512_loadu_ps(x + i), s, l, h, away));
  if (i < n) {
    const __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
    _mm512_mask_storeu_ps(x + i, m, fq16(_mm512_maskz_loadu_ps(m, x + i), s, l, h, away));
  }
}
#endif

enum quant_isa { QISA_SCALAR, QISA_AVX2, QISA_AVX512 };

static enum quant_isa isa_choose(void) {
  enum quant_isa best = QISA_SCALAR;
#if QUANT_HAVE_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f"))
    best = QISA_AVX512;
  else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    best = QISA_AVX2;
#endif
  const char *env = getenv("PTQ_ISA");
  if (!env || !*env) return best;
  enum quant_isa want = best;
  if (strcmp(env, "scalar") == 0)
    want = QISA_SCALAR;
  else if (strcmp(env, "avx2") == 0)
    want = QISA_AVX2;
  else if (strcmp(env, "avx512") == 0 || strcmp(env, "avx512vnni") == 0)
    want = QISA_AVX512;
  return want <= best ? want : best;
}

const char *ptq_quant_isa(void) {
  switch (isa_choose()) {
    case QISA_AVX512: return "avx512";
    case QISA_AVX2: return "avx2";
    default: return "scalar";
  }
}

typedef void (*fq_fn)(float *, int64_t, float, float, float, ptq_round_mode);

static fq_fn fq_select(void) {
  switch (isa_choose()) {
#if QUANT_HAVE_X86
    case QISA_AVX512: return fq_avx512;
    case QISA_AVX2: return fq_avx2;
#endif
    default: return fq_scalar;
  }
}

void ptq_fake_quant_f32(float *x, int64_t n, const ptq_qscheme *s, ptq_qparams p) {
  int32_t qmin, qmax;
  ptq_qscheme_range(s, &qmin, &qmax);
  fq_select()(x, n, p.scale, (float)(qmin - p.zero_point), (float)(qmax - p.zero_point), s->round);
}

/* ------------------------------------------------------------- tensors --- */

ptq_status ptq_axis_split(int rank, const int64_t *dims, int axis, int64_t *outer,
                          int64_t *channels, int64_t *inner) {
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank)
    return ptq_error(PTQ_ERR_SHAPE, "channel axis outside rank %d", rank);
  int64_t o = 1, in = 1;
  for (int d = 0; d < rank; d++) {
    if (dims[d] < 0) return ptq_error(PTQ_ERR_SHAPE, "negative dimension %lld", (long long)dims[d]);
    int64_t *acc = d < axis ? &o : &in;
    if (d == axis) continue;
    if (ptq_mul_i64(*acc, dims[d], acc) != 0)
      return ptq_error(PTQ_ERR_SHAPE, "tensor size overflows");
  }
  *outer = o;
  *channels = dims[axis];
  *inner = in;
  return PTQ_OK;
}

/* Layout of a tensor under a scheme: blocks of `inner` contiguous elements, block b using
 * params[b % channels] (channels == 1 per tensor). */
static ptq_status layout(int rank, const int64_t *dims, const ptq_qscheme *s, int64_t *blocks,
                         int64_t *channels, int64_t *inner) {
  PTQ_TRY(ptq_qscheme_check(s, rank));
  if (s->per_channel) {
    int64_t outer;
    PTQ_TRY(ptq_axis_split(rank, dims, s->axis, &outer, channels, inner));
    if (ptq_mul_i64(outer, *channels, blocks) != 0)
      return ptq_error(PTQ_ERR_SHAPE, "tensor size overflows");
    return PTQ_OK;
  }
  int64_t n = 1;
  for (int d = 0; d < rank; d++)
    if (dims[d] < 0 || ptq_mul_i64(n, dims[d], &n) != 0)
      return ptq_error(PTQ_ERR_SHAPE, "bad tensor shape");
  *blocks = 1;
  *channels = 1;
  *inner = n;
  return PTQ_OK;
}

/* Chunk of a per-tensor run handled as one work item (a multiple of 16). */
#define QUANT_CHUNK 16384

ptq_status ptq_fake_quant_tensor(float *x, int rank, const int64_t *dims, const ptq_qscheme *s,
                                 const ptq_qparams *params) {
  int64_t blocks, channels, inner;
  PTQ_TRY(layout(rank, dims, s, &blocks, &channels, &inner));
  int32_t qmin, qmax;
  ptq_qscheme_range(s, &qmin, &qmax);
  const fq_fn fn = fq_select();
  /* Work items: (block, chunk of inner); elementwise, so any split gives the same result. */
  const int64_t chunks = inner > 0 ? (inner + QUANT_CHUNK - 1) / QUANT_CHUNK : 0;
  const int64_t items = blocks * chunks;
#pragma omp parallel for schedule(static) \
    num_threads(ptq_threads()) if (items > 1 && blocks * inner >= QUANT_PAR_MIN)
  for (int64_t it = 0; it < items; it++) {
    const int64_t b = it / chunks, c0 = it % chunks * QUANT_CHUNK;
    const int64_t len = inner - c0 < QUANT_CHUNK ? inner - c0 : QUANT_CHUNK;
    const ptq_qparams p = params[b % channels];
    fn(x + b * inner + c0, len, p.scale, (float)(qmin - p.zero_point), (float)(qmax - p.zero_point),
       s->round);
  }
  return PTQ_OK;
}

ptq_status ptq_quantize_tensor(const float *x, int rank, const int64_t *dims, const ptq_qscheme *s,
                               const ptq_qparams *params, int32_t *q) {
  int64_t blocks, channels, inner;
  PTQ_TRY(layout(rank, dims, s, &blocks, &channels, &inner));
#pragma omp parallel for schedule(static) \
    num_threads(ptq_threads()) if (blocks > 1 && blocks * inner >= QUANT_PAR_MIN)
  for (int64_t b = 0; b < blocks; b++)
    ptq_quantize_f32(x + b * inner, inner, s, params[b % channels], q + b * inner);
  return PTQ_OK;
}
