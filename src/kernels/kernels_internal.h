/* Helpers shared by the kernel implementations; not part of the kernel contract. */
#ifndef PTQ_KERNELS_INTERNAL_H
#define PTQ_KERNELS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kernels/kernels.h"

/* Work below which a kernel runs on the calling thread only: forking a team costs more than it
 * saves. With the passive OpenMP wait policy a fork/join wakes sleeping threads, which costs
 * some 20-60 us, so a region must save more than that: about 100 us of single-thread work.
 * PTQ_PAR_MIN_WORK counts elements produced by simple scalar loops, PTQ_PAR_MIN_COPY floats
 * moved, PTQ_PAR_MIN_MACS vectorised multiply-adds (GEMM, direct convolution) and
 * PTQ_PAR_MIN_DW_MACS those of the depthwise kernel. */
#define PTQ_PAR_MIN_WORK 65536
#define PTQ_PAR_MIN_COPY (1 << 18)
#define PTQ_PAR_MIN_MACS (1 << 22)
#define PTQ_PAR_MIN_DW_MACS (1 << 19)

/* The same for the int8 kernels, which run their loops on the thread pool (util/pool.h): a
 * job there costs the caller about 0.2 us while the worker polls and some 6 us (a futex
 * wake-up) once it sleeps, and never waits for a late worker, so the bar is lower. Measured per
 * layer on MobileNetV2 int8, batch 1, 2 vCPUs: elementwise Add gains from 75k elements, not at
 * 25k (PTQ_QPAR_MIN_WORK elements); depthwise convolutions of 7x7 outputs (423k MACs, 7 rows)
 * gain nothing, those of 14x14 and up do (PTQ_QPAR_MIN_DW_MACS). PTQ_QPAR_MIN_BYTES counts
 * bytes written by data movement (im2col, resize, pad, LUT: times 4 for the latter three). */
#ifndef PTQ_QPAR_MIN_WORK /* (overridable at build time, for tuning) */
#define PTQ_QPAR_MIN_WORK 32768
#endif
#ifndef PTQ_QPAR_MIN_BYTES
#define PTQ_QPAR_MIN_BYTES (1 << 16)
#endif
#ifndef PTQ_QPAR_MIN_DW_MACS
#define PTQ_QPAR_MIN_DW_MACS (1 << 19)
#endif

/* Chunk size for a dynamically scheduled loop of n independent units on t threads: about 8
 * chunks per thread, so that a thread delayed by a shared core holds back little work while
 * the shared counter is touched rarely. Results never depend on the schedule. */
static inline int64_t ptq_dyn_chunk(int64_t n, int t) {
  const int64_t c = n / (8 * (int64_t)(t > 0 ? t : 1));
  return c > 0 ? c : 1;
}

/* Copy and zero-fill of float runs. The short runs of im2col and of padded row buffers are
 * done with inline fixed-size moves (a libc call costs more than moving a few floats); the
 * shapes of these helpers keep the compiler from turning them back into libc calls. */
static inline void ptq_copy_f32(float *restrict d, const float *restrict s, int64_t n) {
  if (n >= 64) {
    memcpy(d, s, (size_t)n * sizeof *d);
    return;
  }
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) memcpy(d + i, s + i, 8 * sizeof *d);
  if (n - i >= 4) {
    memcpy(d + i, s + i, 4 * sizeof *d);
    i += 4;
  }
  if (n - i >= 2) {
    memcpy(d + i, s + i, 2 * sizeof *d);
    i += 2;
  }
  if (i < n) d[i] = s[i];
}

static inline void ptq_zero_f32(float *d, int64_t n) {
  static const float zeros[8];
  if (n >= 64) {
    memset(d, 0, (size_t)n * sizeof *d);
    return;
  }
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) memcpy(d + i, zeros, sizeof zeros);
  if (n - i >= 4) {
    memcpy(d + i, zeros, 4 * sizeof *d);
    i += 4;
  }
  if (n - i >= 2) {
    memcpy(d + i, zeros, 2 * sizeof *d);
    i += 2;
  }
  if (i < n) d[i] = 0.0f;
}

/* Sets [*lo, *hi) to the indices i in [0, n_i) for which 0 <= i*s + off < n_o (s >= 1). The
 * range is empty (*lo == *hi) when no index qualifies, and always lies within [0, n_i]. */
static inline void ptq_tap_range(int64_t off, int64_t s, int64_t n_i, int64_t n_o, int64_t *lo,
                                 int64_t *hi) {
  int64_t l = off >= 0 ? 0 : (-off + s - 1) / s;
  int64_t h = n_o - off <= 0 ? 0 : (n_o - off + s - 1) / s;
  if (l > n_i) l = n_i;
  if (h > n_i) h = n_i;
  if (h < l) h = l;
  *lo = l;
  *hi = h;
}

/* y[ch][0..hw) = bias[ch] for ch in [0, c), or 0 when bias is NULL. */
void ptq_fill_bias(float *y, const float *bias, int64_t c, int64_t hw);

/* Register-blocked direct convolution (conv_direct.c), built where AVX2 and FMA are enabled;
 * for kernels of at most PTQ_CONV_DIRECT_MAX_TAPS taps. Any group, stride, dilation, padding. */
#if defined(__AVX2__) && defined(__FMA__)
#define PTQ_HAVE_CONV_DIRECT 1
#else
#define PTQ_HAVE_CONV_DIRECT 0
#endif
#define PTQ_CONV_DIRECT_MAX_TAPS 64
int ptq_conv2d_direct_applies(const ptq_conv_params *p);
size_t ptq_conv2d_direct_scratch_size(const ptq_conv_params *p);
/* One image and one group: x, w, bias and y start at that group's channels. */
void ptq_conv2d_direct_group_f32(const ptq_conv_params *p, const float *x, const float *w,
                                 const float *bias, float *y, float *scratch);

/* Direct convolution for c_in / group == 1 (depthwise with any channel multiplier): output
 * channel oc reads input channel oc / (c_out / group). No scratch. */
void ptq_conv2d_depthwise_f32(const ptq_conv_params *p, const float *x, const float *w,
                              const float *bias, float *y);

/* Packed-A GEMM (gemm_packed.c). A is stored in panels of mr rows, each panel k-major
 * (panel[l*mr + i] = A[p*mr + i][l], rows past m zero). A microkernel computes one tile:
 * c[i][j] = act(bias[i] + Σ_l ap[l*mr + i] · b[l*ldb + j]) for i < mr_valid, j < nr_valid,
 * the sum a chain of fmaf from 0 in l order, bias NULL meaning 0; it reads b only at columns
 * j < nr_valid and writes only the valid cells. */
typedef void (*ptq_gemm_ukernel)(int64_t k, const float *ap, const float *b, int64_t ldb,
                                 const float *bias, const ptq_act *act, float *c, int64_t ldc,
                                 int mr_valid, int nr_valid);
#define PTQ_GEMM_AVX512_MR 8
#define PTQ_GEMM_AVX512_NR 32
#define PTQ_GEMM_AVX2_MR 6
#define PTQ_GEMM_AVX2_NR 16
#if defined(__x86_64__) || defined(__i386__)
#define PTQ_HAVE_X86_KERNELS 1
void ptq_gemm_ukernel_avx512(int64_t k, const float *ap, const float *b, int64_t ldb,
                             const float *bias, const ptq_act *act, float *c, int64_t ldc,
                             int mr_valid, int nr_valid);
void ptq_gemm_ukernel_avx2(int64_t k, const float *ap, const float *b, int64_t ldb,
                           const float *bias, const ptq_act *act, float *c, int64_t ldc,
                           int mr_valid, int nr_valid);
#else
#define PTQ_HAVE_X86_KERNELS 0
#endif

#endif
