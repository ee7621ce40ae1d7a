/* AVX-512 VNNI row of the int8 depthwise convolution.
 *
 * Channels go in blocks of W = 64, 32 or 16 (zmm, ymm, xmm: a 32-channel layer does not run
 * half-empty 64-wide vectors; a last partial block of 16 uses masked loads and stores). For
 * every kernel column, the rows are taken 4 at a time ("quads", qdwconv_internal.h): the
 * 4 rows' W-byte vectors at one input column are interleaved in-lane (unpack 8 then 16) into
 * 4 vectors whose dword i holds channel 16·(i/4) + 4·v + i%4 of vector v, and one vpdpbusd
 * (u8 x s8, 4 products summed per int32 lane, wrapping) applies a kernel column's 4 rows.
 * 3x3 kernels with stride 1 or 2 (and no horizontal dilation) sweep the output row keeping
 * the interleaved columns in registers, so each input column is loaded and interleaved once
 * (not k_w times); other shapes build each output's columns afresh. Input columns outside x
 * are zx bytes (their products cancel against the folded bias), and so is the 4th row of a
 * 3-row quad (its weights are 0).
 *
 * Requantization (= ptq_requant_ref, exactly): the float32 fast path of qrequant_avx512.h,
 * v = fma((float)acc, mf, zf) rounded to an integer and shifted, the 4 vectors of a block then
 * packed to bytes with saturation and clamped to [lo, hi] (0 <= lo <= hi <= 255). A block with a
 * lane near a rounding tie (about one in four thousand lanes, and every exact tie) is redone with
 * those lanes recomputed by ptq_requant_ref.
 *
 * Compiled for AVX-512 by target attribute; called only where the CPU has it. */
#include "kernels/qdwconv_internal.h"
#include "kernels/qrequant_avx512.h"

#if PTQ_HAVE_X86_KERNELS

#define TGT __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma")))
#define INL static TGT inline __attribute__((always_inline))

/* A vector of W bytes: a zmm (W = 64), or the low ymm / xmm of one (W = 32 / 16). W is a
 * compile-time constant in every caller, so each helper reduces to one instruction. */
typedef __m512i V;

#define Y(v) _mm512_castsi512_si256(v)
#define X(v) _mm512_castsi512_si128(v)
#define FROM_Y(v) _mm512_castsi256_si512(v)
#define FROM_X(v) _mm512_castsi128_si512(v)

INL V ld(const int W, const void *p) {
  if (W == 64) return _mm512_loadu_si512(p);
  if (W == 32) return FROM_Y(_mm256_loadu_si256((const __m256i *)p));
  return FROM_X(_mm_loadu_si128((const __m128i *)p));
}

/* W bytes of x; a partial block (W == 16) reads only the m lanes. */
INL V ldx(const int W, const int masked, __mmask16 m, const uint8_t *p) {
  if (W == 16 && masked) return FROM_X(_mm_maskz_loadu_epi8(m, p));
  return ld(W, p);
}

INL V unlo8(const int W, V a, V b) {
  if (W == 64) return _mm512_unpacklo_epi8(a, b);
  if (W == 32) return FROM_Y(_mm256_unpacklo_epi8(Y(a), Y(b)));
  return FROM_X(_mm_unpacklo_epi8(X(a), X(b)));
}
INL V unhi8(const int W, V a, V b) {
  if (W == 64) return _mm512_unpackhi_epi8(a, b);
  if (W == 32) return FROM_Y(_mm256_unpackhi_epi8(Y(a), Y(b)));
  return FROM_X(_mm_unpackhi_epi8(X(a), X(b)));
}
INL V unlo16(const int W, V a, V b) {
  if (W == 64) return _mm512_unpacklo_epi16(a, b);
  if (W == 32) return FROM_Y(_mm256_unpacklo_epi16(Y(a), Y(b)));
  return FROM_X(_mm_unpacklo_epi16(X(a), X(b)));
}
INL V unhi16(const int W, V a, V b) {
  if (W == 64) return _mm512_unpackhi_epi16(a, b);
  if (W == 32) return FROM_Y(_mm256_unpackhi_epi16(Y(a), Y(b)));
  return FROM_X(_mm_unpackhi_epi16(X(a), X(b)));
}

/* acc += vpdpbusd(a, W bytes of weights at w). */
INL V dp(const int W, V acc, V a, const int8_t *w) {
  if (W == 64) return _mm512_dpbusd_epi32(acc, a, _mm512_loadu_si512(w));
  if (W == 32)
    return FROM_Y(_mm256_dpbusd_epi32(Y(acc), Y(a), _mm256_loadu_si256((const __m256i *)w)));
  return FROM_X(_mm_dpbusd_epi32(X(acc), X(a), _mm_loadu_si128((const __m128i *)w)));
}

INL void st(const int W, V v, int32_t *d) {
  if (W == 64)
    _mm512_storeu_si512(d, v);
  else if (W == 32)
    _mm256_storeu_si256((__m256i *)d, Y(v));
  else
    _mm_storeu_si128((__m128i *)d, X(v));
}

/* Packs 4 vectors of int32 results to W bytes (channel order, the unpacks undone) with
 * saturation to 0..255, clamps them to [lo, hi] (saturating first changes nothing: 0 <= lo <=
 * hi <= 255) and stores them (m's lanes of a partial block). */
INL void pack_st(const int W, const int masked, __mmask16 m, V r0, V r1, V r2, V r3, V lo, V hi,
                 uint8_t *y) {
  if (W == 64) {
    __m512i o = _mm512_packus_epi16(_mm512_packs_epi32(r0, r1), _mm512_packs_epi32(r2, r3));
    _mm512_storeu_si512(y, _mm512_min_epu8(_mm512_max_epu8(o, lo), hi));
  } else if (W == 32) {
    __m256i o =
        _mm256_packus_epi16(_mm256_packs_epi32(Y(r0), Y(r1)), _mm256_packs_epi32(Y(r2), Y(r3)));
    _mm256_storeu_si256((__m256i *)y, _mm256_min_epu8(_mm256_max_epu8(o, Y(lo)), Y(hi)));
  } else {
    __m128i o = _mm_packus_epi16(_mm_packs_epi32(X(r0), X(r1)), _mm_packs_epi32(X(r2), X(r3)));
    o = _mm_min_epu8(_mm_max_epu8(o, X(lo)), X(hi));
    if (masked)
      _mm_mask_storeu_epi8(y, m, o);
    else
      _mm_storeu_si128((__m128i *)y, o);
  }
}

/* 4 vectors: the interleaved quad of one input column, or the accumulators of a block. */
typedef struct quad4 {
  V v[4];
} quad4;

/* out() of a block with flagged lanes (rare): the fast results again, the flagged lanes
 * replaced by ptq_requant_ref. a holds the 4 accumulator vectors, W/4 lanes each. */
INL void out_fix_w(const int W, const int masked, __mmask16 m, const ptq_qdw_packed *p, int64_t off,
                   const int32_t a[4][16], uint8_t *y) {
  int32_t r[4][16];
  for (int v = 0; v < 4; v++) {
    unsigned ok;
    st(W,
       ptq_rqf(W, ld(W, a[v]), p->mf + off + v * (W / 4), ptq_rqf_zf(p->zy), p->rq_big,
               PTQ_RQF_ALL(W), &ok),
       r[v]);
    for (unsigned bad = ~ok & PTQ_RQF_ALL(W); bad; bad &= bad - 1) {
      const int i = __builtin_ctz(bad);
      const int64_t ch = off + 16 * (i / 4) + 4 * v + i % 4;
      if (ch < p->c)
        r[v][i] = ptq_requant_ref(a[v][i], p->mult[ch], p->shift[ch], p->zy, p->lo, p->hi);
    }
  }
  pack_st(W, masked, m, ld(W, r[0]), ld(W, r[1]), ld(W, r[2]), ld(W, r[3]),
          _mm512_set1_epi8((char)p->lo), _mm512_set1_epi8((char)p->hi), y);
}

static TGT __attribute__((noinline, cold)) void out_fix(int W, int masked, __mmask16 m,
                                                        const ptq_qdw_packed *p, int64_t off,
                                                        const int32_t a[4][16], uint8_t *y) {
  if (W == 64)
    out_fix_w(64, 0, m, p, off, a, y);
  else if (W == 32)
    out_fix_w(32, 0, m, p, off, a, y);
  else if (!masked)
    out_fix_w(16, 0, m, p, off, a, y);
  else
    out_fix_w(16, 1, m, p, off, a, y);
}

/* Per-block constants of the output stage. */
typedef struct outc {
  const float *mf;
  float zf;
  int big;
  V lo, hi;
} outc;

/* Requantizes the accumulators of a block and stores its W (or m's) output bytes. */
INL void out(const int W, const int masked, __mmask16 m, const ptq_qdw_packed *p, int64_t off,
             const outc *o, quad4 acc, uint8_t *y) {
  unsigned ok = PTQ_RQF_ALL(W);
  const V r0 = ptq_rqf(W, acc.v[0], o->mf, o->zf, o->big, ok, &ok);
  const V r1 = ptq_rqf(W, acc.v[1], o->mf + W / 4, o->zf, o->big, ok, &ok);
  const V r2 = ptq_rqf(W, acc.v[2], o->mf + W / 2, o->zf, o->big, ok, &ok);
  const V r3 = ptq_rqf(W, acc.v[3], o->mf + 3 * W / 4, o->zf, o->big, ok, &ok);
  if (__builtin_expect(ok != PTQ_RQF_ALL(W), 0)) {
    int32_t a32[4][16];
    for (int v = 0; v < 4; v++) st(W, acc.v[v], a32[v]);
    out_fix(W, masked, m, p, off, a32, y);
    return;
  }
  pack_st(W, masked, m, r0, r1, r2, r3, o->lo, o->hi, y);
}

INL outc outc_make(const ptq_qdw_packed *p, int64_t off) {
  const outc o = {p->mf + off, ptq_rqf_zf(p->zy), p->rq_big, _mm512_set1_epi8((char)p->lo),
                  _mm512_set1_epi8((char)p->hi)};
  return o;
}

/* Input rows of one output row: row r of the window reads rp[r] + iw·rs[r] (a row of zx bytes
 * with rs = 0 for rows in the padding or past k_h). */
typedef struct rows {
  const uint8_t *rp[PTQ_QDW_MAX_SIMD_TAPS + 4];
  int64_t rs[PTQ_QDW_MAX_SIMD_TAPS + 4];
} rows;

/* Interleaves the 4 rows' vectors of one input column into a quad. */
INL quad4 interleave(const int W, V t0, V t1, V t2, V t3) {
  const V l01 = unlo8(W, t0, t1), h01 = unhi8(W, t0, t1);
  const V l23 = unlo8(W, t2, t3), h23 = unhi8(W, t2, t3);
  const quad4 c = {
      {unlo16(W, l01, l23), unhi16(W, l01, l23), unlo16(W, h01, h23), unhi16(W, h01, h23)}};
  return c;
}

/* Quad q of input column iw (0 <= iw < w_in), block at channel offset off. */
INL quad4 quad(const int W, const int masked, __mmask16 m, const rows *R, int64_t q, int64_t iw,
               int64_t off) {
  const int64_t r0 = 4 * q;
  return interleave(W, ldx(W, masked, m, R->rp[r0] + iw * R->rs[r0] + off),
                    ldx(W, masked, m, R->rp[r0 + 1] + iw * R->rs[r0 + 1] + off),
                    ldx(W, masked, m, R->rp[r0 + 2] + iw * R->rs[r0 + 2] + off),
                    ldx(W, masked, m, R->rp[r0 + 3] + iw * R->rs[r0 + 3] + off));
}

INL quad4 splat(V z) {
  const quad4 c = {{z, z, z, z}};
  return c;
}

/* Column of a 3x3 kernel whose 3 rows' bytes are at a0, a1, a2 (one quad, a zero-weight 4th
 * row of zx), or zx bytes when the column is outside x. */
INL quad4 col3(const int W, const int masked, __mmask16 m, int inside, const uint8_t *a0,
               const uint8_t *a1, const uint8_t *a2, V zxv) {
  if (!inside) return splat(zxv);
  return interleave(W, ldx(W, masked, m, a0), ldx(W, masked, m, a1), ldx(W, masked, m, a2), zxv);
}

/* bias + Σ_j column j · weights of column j (3x3 kernel: one quad per column). */
INL quad4 mac3(const int W, const int8_t *wb, const int32_t *bf, quad4 c0, quad4 c1, quad4 c2) {
  quad4 acc;
  for (int v = 0; v < 4; v++) {
    V a = ld(W, bf + v * (W / 4));
    a = dp(W, a, c0.v[v], wb + (0 * 4 + v) * W);
    a = dp(W, a, c1.v[v], wb + (1 * 4 + v) * W);
    a = dp(W, a, c2.v[v], wb + (2 * 4 + v) * W);
    acc.v[v] = a;
  }
  return acc;
}

/* 3x3 kernel, stride S (1 or 2) along the row, no horizontal dilation: the row sweep, each
 * input column interleaved once. Unrolled so that the columns rotate through the names
 * (stride 1: the window's columns A, B, C become B, C, A; stride 2: A, B, C become C, B, A). */
INL void sweep3(const int W, const int S, const int masked, __mmask16 m, const ptq_qdw_packed *p,
                const ptq_qdw_geom *g, const rows *R, int64_t off, uint8_t *y, int64_t ys) {
  const int8_t *wb = (const int8_t *)p->wpk + off * 3 * 4;
  const int32_t *bf = p->bias_f + off;
  const V zxv = _mm512_set1_epi8((char)p->zx);
  const outc o = outc_make(p, off);
  const uint64_t w_in = (uint64_t)g->w_in;
  const int64_t w_out = g->w_out, s0 = R->rs[0], s1 = R->rs[1], s2 = R->rs[2];
  int64_t iw = -g->pad_l; /* the next column to build */
  /* Its 3 rows' bytes (pointers formed only for columns inside x). */
  const uint8_t *a0 = R->rp[0] + off, *a1 = R->rp[1] + off, *a2 = R->rp[2] + off;
  if (iw > 0) a0 += iw * s0, a1 += iw * s1, a2 += iw * s2;
#define NEXT(C)                                   \
  {                                               \
    const int in_ = (uint64_t)iw < w_in;          \
    C = col3(W, masked, m, in_, a0, a1, a2, zxv); \
    if (iw >= 0) a0 += s0, a1 += s1, a2 += s2;    \
    iw++;                                         \
  }
#define OUT(A, B, C)                                          \
  out(W, masked, m, p, off, &o, mac3(W, wb, bf, A, B, C), y); \
  y += ys;
  quad4 Ca, Cb, Cc;
  int64_t ow = 0;
  y += off;
  NEXT(Ca)
  if (S == 1) {
    NEXT(Cb)
    for (; ow + 3 <= w_out; ow += 3) {
      NEXT(Cc)
      OUT(Ca, Cb, Cc)
      NEXT(Ca)
      OUT(Cb, Cc, Ca)
      NEXT(Cb)
      OUT(Cc, Ca, Cb)
    }
    if (ow < w_out) {
      NEXT(Cc)
      OUT(Ca, Cb, Cc)
      if (ow + 1 < w_out) {
        NEXT(Ca)
        OUT(Cb, Cc, Ca)
      }
    }
  } else {
    for (; ow + 2 <= w_out; ow += 2) {
      NEXT(Cb)
      NEXT(Cc)
      OUT(Ca, Cb, Cc)
      NEXT(Cb)
      NEXT(Ca)
      OUT(Cc, Cb, Ca)
    }
    if (ow < w_out) {
      NEXT(Cb)
      NEXT(Cc)
      OUT(Ca, Cb, Cc)
    }
  }
#undef NEXT
#undef OUT
}

/* Any kernel: every output's columns built afresh. */
INL void sweep_any(const int W, const int masked, __mmask16 m, const ptq_qdw_packed *p,
                   const ptq_qdw_geom *g, const rows *R, int64_t off, uint8_t *y, int64_t ys) {
  const int64_t nq = p->nq, kw = p->k_w;
  const int8_t *wb = (const int8_t *)p->wpk + off * kw * nq * 4;
  const int32_t *bf = p->bias_f + off;
  const V zxv = _mm512_set1_epi8((char)p->zx);
  const outc o = outc_make(p, off);
  for (int64_t ow = 0; ow < g->w_out; ow++) {
    quad4 acc;
    for (int v = 0; v < 4; v++) acc.v[v] = ld(W, bf + v * (W / 4));
    for (int64_t j = 0; j < kw; j++) {
      const int64_t iw = ow * g->stride_w - g->pad_l + j * g->dil_w;
      const int in = iw >= 0 && iw < g->w_in;
      for (int64_t q = 0; q < nq; q++) {
        const quad4 c = in ? quad(W, masked, m, R, q, iw, off) : splat(zxv);
        const int8_t *wq = wb + (j * nq + q) * 4 * W;
        for (int v = 0; v < 4; v++) acc.v[v] = dp(W, acc.v[v], c.v[v], wq + v * W);
      }
    }
    out(W, masked, m, p, off, &o, acc, y + ow * ys + off);
  }
}

#define SWEEP_FNS(W, S, M)                                                                     \
  static TGT __attribute__((noinline)) void sweep3_##W##_##S##_##M(                            \
      const ptq_qdw_packed *p, const ptq_qdw_geom *g, const rows *R, int64_t off, __mmask16 m, \
      uint8_t *y, int64_t ys) {                                                                \
    sweep3(W, S, M, m, p, g, R, off, y, ys);                                                   \
  }
SWEEP_FNS(64, 1, 0)
SWEEP_FNS(64, 2, 0)
SWEEP_FNS(32, 1, 0)
SWEEP_FNS(32, 2, 0)
SWEEP_FNS(16, 1, 0)
SWEEP_FNS(16, 2, 0)
SWEEP_FNS(16, 1, 1)
SWEEP_FNS(16, 2, 1)
#undef SWEEP_FNS

#define ANY_FNS(W, M)                                                                          \
  static TGT __attribute__((noinline)) void sweep_any_##W##_##M(                               \
      const ptq_qdw_packed *p, const ptq_qdw_geom *g, const rows *R, int64_t off, __mmask16 m, \
      uint8_t *y, int64_t ys) {                                                                \
    sweep_any(W, M, m, p, g, R, off, y, ys);                                                   \
  }
ANY_FNS(64, 0)
ANY_FNS(32, 0)
ANY_FNS(16, 0)
ANY_FNS(16, 1)
#undef ANY_FNS

TGT void ptq_qdw_row_avx512(const ptq_qdw_packed *p, const ptq_qdw_geom *g, const uint8_t *x,
                            int64_t oh, uint8_t *y, const int64_t *tapoff) {
  (void)tapoff;
  const int64_t xs = g->x_pix_stride ? g->x_pix_stride : p->c;
  const int64_t ys = g->y_pix_stride ? g->y_pix_stride : p->c;
  rows R;
  for (int64_t r = 0; r < 4 * p->nq; r++) {
    const int64_t ih = oh * g->stride_h - g->pad_t + r * g->dil_h;
    const int in = r < p->k_h && ih >= 0 && ih < g->h_in;
    R.rp[r] = in ? x + ih * g->w_in * xs : p->zrow;
    R.rs[r] = in ? xs : 0;
  }
  const int fast =
      p->k_h == 3 && p->k_w == 3 && g->dil_w == 1 && (g->stride_w == 1 || g->stride_w == 2);
  const int s2 = g->stride_w == 2;
  for (int64_t off = 0; off < p->c;) {
    const int64_t rem = p->c - off;
    const int W = ptq_qdw_blk_w(rem);
    const int masked = rem < W;
    const __mmask16 m = masked ? (__mmask16)((1u << rem) - 1) : (__mmask16)0xFFFF;
    if (fast) {
      if (W == 64)
        (s2 ? sweep3_64_2_0 : sweep3_64_1_0)(p, g, &R, off, m, y, ys);
      else if (W == 32)
        (s2 ? sweep3_32_2_0 : sweep3_32_1_0)(p, g, &R, off, m, y, ys);
      else if (!masked)
        (s2 ? sweep3_16_2_0 : sweep3_16_1_0)(p, g, &R, off, m, y, ys);
      else
        (s2 ? sweep3_16_2_1 : sweep3_16_1_1)(p, g, &R, off, m, y, ys);
    } else {
      if (W == 64)
        sweep_any_64_0(p, g, &R, off, m, y, ys);
      else if (W == 32)
        sweep_any_32_0(p, g, &R, off, m, y, ys);
      else if (!masked)
        sweep_any_16_0(p, g, &R, off, m, y, ys);
      else
        sweep_any_16_1(p, g, &R, off, m, y, ys);
    }
    off += W;
  }
}

#endif
