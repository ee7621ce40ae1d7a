/* AVX-512 VNNI microkernel of the int8 GEMM: up to 6 rows x 64 columns (4 zmm per row, 24
 * int32 accumulators). Each step takes 4 k: the 4 x bytes of a row are broadcast to every lane
 * and vpdpbusd adds, per lane (column), the 4 products uint8 · int8 of that column's packed
 * weights [nw][4] (exact: 4 · 255 · 128 < 2^31; the accumulation wraps modulo 2^32 and ends on
 * the exact sum, qkernels.h). The last partial group of k is read with a masked load (never
 * past the row). The accumulators start at the (zx-folded) bias. The requantizing epilogue
 * takes the float32 fast path of qrequant_avx512.h (the multipliers as floats, packed with the
 * weights), redoing a row of the tile exactly when one of its lanes comes near a rounding tie;
 * that exact path (also taken for a zero point outside [0, 255]) uses 64-bit products on even
 * and odd lanes, round-half-even shift, + zy, clamp. Both narrow to bytes with a masked store
 * at the right edge.
 * Compiled for AVX-512 by target attribute; called only where the CPU has it. */
#include "kernels/qgemm_internal.h"
#include "kernels/qrequant_avx512.h"

#if PTQ_HAVE_X86_KERNELS

#include <immintrin.h>
#include <string.h>

#define TGT __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")))
#define INLINE static TGT inline __attribute__((always_inline))

/* round_half_even(v / 2^s) for 64-bit v, s in [1, 63] and h = 2^(s-1) - 1 per lane
 * (ptq_rshift_round_even): with v = q · 2^s + r, r in [0, 2^s), adding h + (q & 1) before the
 * floor shift carries into q exactly when r > 2^(s-1), or r == 2^(s-1) and q is odd. No
 * overflow: |v| < 2^62 (a product of two int32) and h < 2^62. */
INLINE __m512i rshift_even64(__m512i v, __m512i s, __m512i h) {
  const __m512i odd = _mm512_and_si512(_mm512_srlv_epi64(v, s), _mm512_set1_epi64(1));
  return _mm512_srav_epi64(_mm512_add_epi64(_mm512_add_epi64(v, h), odd), s);
}

/* Per-column epilogue constants of one 16-column vector for the exact path; the 64-bit ones
 * for the even and the odd int32 lanes. */
typedef struct {
  __m512i mult, mult_odd, s_even, s_odd, h_even, h_odd;
} rq_cols;

INLINE rq_cols rq_load(const ptq_qgemm_epi *e, int v) {
  const __m512i one = _mm512_set1_epi64(1);
  rq_cols c;
  c.mult = _mm512_loadu_si512(e->mult + 16 * v);
  c.mult_odd = _mm512_srli_epi64(c.mult, 32);
  const __m512i s = _mm512_loadu_si512(e->shift + 16 * v);
  c.s_even = _mm512_and_si512(s, _mm512_set1_epi64(0xFFFFFFFF));
  c.s_odd = _mm512_srli_epi64(s, 32);
  c.h_even = _mm512_sub_epi64(_mm512_sllv_epi64(one, _mm512_sub_epi64(c.s_even, one)), one);
  c.h_odd = _mm512_sub_epi64(_mm512_sllv_epi64(one, _mm512_sub_epi64(c.s_odd, one)), one);
  return c;
}

/* Exact path: acc (bias included) of 16 columns -> 16 bytes clamp(zy + round(acc · mult /
 * 2^shift), lo, hi): the 64-bit values are clamped to [lo - zy, hi - zy] and zy added once
 * merged into 32 bits. */
INLINE __m128i rq16(__m512i acc, const rq_cols *c, __m512i zy32, __m512i lo_zy, __m512i hi_zy) {
  const __m512i pe = _mm512_mul_epi32(acc, c->mult); /* signed low 32 bits of each 64 */
  const __m512i po = _mm512_mul_epi32(_mm512_srli_epi64(acc, 32), c->mult_odd);
  __m512i qe = rshift_even64(pe, c->s_even, c->h_even);
  __m512i qo = rshift_even64(po, c->s_odd, c->h_odd);
  qe = _mm512_max_epi64(_mm512_min_epi64(qe, hi_zy), lo_zy);
  qo = _mm512_max_epi64(_mm512_min_epi64(qo, hi_zy), lo_zy);
  const __m512i r = _mm512_mask_blend_epi32((__mmask16)0xAAAA, qe, _mm512_slli_epi64(qo, 32));
  return _mm512_cvtepi32_epi8(_mm512_add_epi32(r, zy32));
}

/* Exact path: rows [i0, i1) of acc, columns [0, nr_valid) (nv vectors of 16). */
INLINE void rows_exact(const __m512i acc[][4], int i0, int i1, int nv, int nr_valid,
                       const ptq_qgemm_epi *e) {
  const __m512i zy = _mm512_set1_epi32(e->zy);
  const __m512i lo = _mm512_set1_epi64((int64_t)e->lo - e->zy),
                hi = _mm512_set1_epi64((int64_t)e->hi - e->zy);
  for (int v = 0; v < nv; v++) {
    const int cols = nr_valid - 16 * v;
    const __mmask16 cm = cols >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << cols) - 1);
    const rq_cols rc = rq_load(e, v);
    for (int i = i0; i < i1; i++)
      _mm_mask_storeu_epi8(e->y + i * e->ldy + 16 * v, cm, rq16(acc[i][v], &rc, zy, lo, hi));
  }
}

/* Row i of a tile with a lane near a rounding tie (rare): the exact path. */
static TGT __attribute__((noinline, cold)) void fix_row(__m512i a0, __m512i a1, __m512i a2,
                                                        __m512i a3, int i, int nv, int nr_valid,
                                                        const ptq_qgemm_epi *e) {
  const __m512i acc[1][4] = {{a0, a1, a2, a3}};
  ptq_qgemm_epi er = *e;
  er.y += i * e->ldy;
  rows_exact(acc, 0, 1, nv, nr_valid, &er);
}

/* Per-tile constants of the float path. */
typedef struct {
  __m512i lo, hi, perm;
  __mmask64 cm;
  float zf;
} fcon;

INLINE fcon fcon_make(int nr_valid, const ptq_qgemm_epi *e) {
  const fcon c = {_mm512_set1_epi8((char)e->lo), _mm512_set1_epi8((char)e->hi),
                  _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15),
                  nr_valid >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << nr_valid) - 1,
                  ptq_rqf_zf(e->zy)};
  return c;
}

/* Float path (qrequant_avx512.h) of row i (accumulators a0..a3, nv of them valid: a
 * compile-time constant), with the clamp of v when big. The row's 4 vectors are packed to bytes
 * with saturation (in-lane: dword 4·l + v then holds columns 16·v + 4·l .. + 3, put back in
 * order by one vpermd), then clamped to [lo, hi] (saturating first changes nothing: 0 <= lo <=
 * hi <= 255). A row with a lane near a tie is redone by the exact path. */
INLINE void row_float(__m512i a0, __m512i a1, __m512i a2, __m512i a3, int i, const int nv,
                      int nr_valid, const ptq_qgemm_epi *e, const fcon *c, const int big) {
  const __m512i z = _mm512_setzero_si512();
  unsigned ok = PTQ_RQF_ALL(64);
  const __m512i r0 = ptq_rqf(64, a0, e->mf, c->zf, big, ok, &ok);
  const __m512i r1 = nv > 1 ? ptq_rqf(64, a1, e->mf + 16, c->zf, big, ok, &ok) : z;
  const __m512i r2 = nv > 2 ? ptq_rqf(64, a2, e->mf + 32, c->zf, big, ok, &ok) : z;
  const __m512i r3 = nv > 3 ? ptq_rqf(64, a3, e->mf + 48, c->zf, big, ok, &ok) : z;
  if (__builtin_expect(ok != PTQ_RQF_ALL(64), 0)) {
    fix_row(a0, a1, a2, a3, i, nv, nr_valid, e);
    return;
  }
  __m512i o = _mm512_packus_epi16(_mm512_packs_epi32(r0, r1), _mm512_packs_epi32(r2, r3));
  o = _mm512_min_epu8(_mm512_max_epu8(_mm512_permutexvar_epi32(c->perm, o), c->lo), c->hi);
  uint8_t *y = e->y + i * e->ldy;
  if (nv == 4 && nr_valid == 64)
    _mm512_storeu_si512(y, o);
  else
    _mm512_mask_storeu_epi8(y, c->cm, o);
}

/* The float path with the clamp of v (rare multipliers > 1/4), out of line. */
static TGT __attribute__((noinline)) void rows_float_big(const __m512i acc[][4], int mr, int nv,
                                                         int nr_valid, const ptq_qgemm_epi *e) {
  const fcon c = fcon_make(nr_valid, e);
  const __m512i z = _mm512_setzero_si512();
  for (int i = 0; i < mr; i++)
    row_float(acc[i][0], nv > 1 ? acc[i][1] : z, nv > 2 ? acc[i][2] : z, nv > 3 ? acc[i][3] : z, i,
              nv, nr_valid, e, &c, 1);
}

/* Stores rows [0, mr) of acc (bias included), columns [0, nr_valid) (nv vectors of 16), as
 * int32, or requantized by the exact path or the float path with the clamp. */
static TGT __attribute__((noinline)) void epilogue(const __m512i acc[][4], int mr, int nv,
                                                   int nr_valid, const ptq_qgemm_epi *e) {
  if (!e->y) {
    for (int v = 0; v < nv; v++) {
      const int cols = nr_valid - 16 * v;
      const __mmask16 cm = cols >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << cols) - 1);
      for (int i = 0; i < mr; i++)
        _mm512_mask_storeu_epi32(e->y32 + i * e->ldy + 16 * v, cm, acc[i][v]);
    }
  } else if (e->rqf == 2) {
    rows_float_big(acc, mr, nv, nr_valid, e);
  } else {
    rows_exact(acc, 0, mr, nv, nr_valid, e);
  }
}

static TGT inline uint32_t load_u32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

/* acc += vpdpbusd(a, b). Inline assembly: GCC 12 allocates the intrinsic's tied accumulator
 * badly (a copy in and out, and a spill, per instruction in the 24-accumulator loop). */
#define DPBUSD(acc, a, b) __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b))

#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)

/* mr rows, nv vectors of 16 columns (both compile-time constants after inlining). */
INLINE void tile(int64_t k, const int8_t *w, const uint8_t *x, int64_t ldx, int nr_valid,
                 const ptq_qgemm_epi *e, const int mr, const int nv) {
  const int64_t kf = k / 4;
  const int step = 64 * nv; /* bytes of packed weights per group of 4 k */
  /* The accumulators start at the bias. */
  const __m512i bias0 = _mm512_loadu_si512(e->bias),
                bias1 = nv > 1 ? _mm512_loadu_si512(e->bias + 16) : bias0,
                bias2 = nv > 2 ? _mm512_loadu_si512(e->bias + 32) : bias0,
                bias3 = nv > 3 ? _mm512_loadu_si512(e->bias + 48) : bias0;
#define DECL(i)                                                               \
  __m512i c##i##0 = bias0, c##i##1 = bias1, c##i##2 = bias2, c##i##3 = bias3; \
  const uint8_t *x##i = x + (i < mr ? i : 0) * ldx;
  ROWS(DECL)
#undef DECL
#define FMA(i, a)                       \
  if (i < mr) {                         \
    DPBUSD(c##i##0, a, b0);             \
    if (nv > 1) DPBUSD(c##i##1, a, b1); \
    if (nv > 2) DPBUSD(c##i##2, a, b2); \
    if (nv > 3) DPBUSD(c##i##3, a, b3); \
  }
  for (int64_t g = 0; g < kf; g++) {
    const int8_t *wg = w + g * step;
    const __m512i b0 = _mm512_load_si512(wg);
    const __m512i b1 = nv > 1 ? _mm512_load_si512(wg + 64) : b0;
    const __m512i b2 = nv > 2 ? _mm512_load_si512(wg + 128) : b0;
    const __m512i b3 = nv > 3 ? _mm512_load_si512(wg + 192) : b0;
#define STEP(i)                                                       \
  if (i < mr) {                                                       \
    const __m512i a = _mm512_set1_epi32((int)load_u32(x##i + 4 * g)); \
    FMA(i, a)                                                         \
  }
    ROWS(STEP)
#undef STEP
  }
  if (k & 3) { /* last 1-3 k: masked byte loads; the padded weights are 0 */
    const __mmask16 km = (__mmask16)((1u << (k & 3)) - 1);
    const int8_t *wg = w + kf * step;
    const __m512i b0 = _mm512_load_si512(wg);
    const __m512i b1 = nv > 1 ? _mm512_load_si512(wg + 64) : b0;
    const __m512i b2 = nv > 2 ? _mm512_load_si512(wg + 128) : b0;
    const __m512i b3 = nv > 3 ? _mm512_load_si512(wg + 192) : b0;
#define STEP(i)                                                                         \
  if (i < mr) {                                                                         \
    const __m512i a = _mm512_broadcastd_epi32(_mm_maskz_loadu_epi8(km, x##i + 4 * kf)); \
    FMA(i, a)                                                                           \
  }
    ROWS(STEP)
#undef STEP
  }
#undef FMA
  if (e->y && e->rqf == 1) { /* the float path on the registers */
    const fcon c = fcon_make(nr_valid, e);
#define ROW(i) \
  if (i < mr) row_float(c##i##0, c##i##1, c##i##2, c##i##3, i, nv, nr_valid, e, &c, 0);
    ROWS(ROW)
#undef ROW
    return;
  }
  __m512i acc[PTQ_QGEMM_VNNI_MR][4];
#define SAVE(i)                      \
  if (i < mr) {                      \
    acc[i][0] = c##i##0;             \
    if (nv > 1) acc[i][1] = c##i##1; \
    if (nv > 2) acc[i][2] = c##i##2; \
    if (nv > 3) acc[i][3] = c##i##3; \
  }
  ROWS(SAVE)
#undef SAVE
  epilogue(acc, mr, nv, nr_valid, e);
}

TGT void ptq_qgemm_ukernel_avx512vnni(int64_t k, const void *w, const uint8_t *x, int64_t ldx,
                                      int mr_valid, int nr_valid, const ptq_qgemm_epi *e) {
  const int nv = (nr_valid + 15) / 16;
#define CASE(mr, nv)                         \
  case mr * 8 + nv:                          \
    tile(k, w, x, ldx, nr_valid, e, mr, nv); \
    break;
#define CASES(mr) CASE(mr, 1) CASE(mr, 2) CASE(mr, 3) CASE(mr, 4)
  switch (mr_valid * 8 + nv) {
    CASES(1)
    CASES(2)
    CASES(3)
    CASES(4)
    CASES(5)
    CASES(6)
    default: break;
  }
#undef CASES
#undef CASE
}

#endif
