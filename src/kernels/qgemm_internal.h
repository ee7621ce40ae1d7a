/* Microkernel interface of the int8 GEMM (qgemm.c); not part of the kernel contract. */
#ifndef PTQ_QGEMM_INTERNAL_H
#define PTQ_QGEMM_INTERNAL_H

#include <stdint.h>

#include "kernels/kernels_internal.h"
#include "kernels/qgemm.h"

/* Epilogue of one tile: per-column parameters start at the tile's first column (the packed
 * arrays are padded to whole tiles, so a microkernel may load a full tile width of them), the
 * output at the tile's top-left cell. y != NULL: requantized uint8 output; otherwise int32
 * accumulators go to y32. */
typedef struct ptq_qgemm_epi {
  const int32_t *bias, *mult, *shift; /* bias has zx folded in */
  /* AVX-512 VNNI: the float multipliers (ptq_rqf_mult) and the requantization path: 0 exact
   * (64-bit products), 1 float32 fast path (qrequant_avx512.h), 2 the same with the clamp of v
   * (ptq_rqf_big). */
  const float *mf;
  int rqf;
  int32_t zy;
  uint8_t lo, hi;
  uint8_t *y;
  int32_t *y32;
  int64_t ldy;
} ptq_qgemm_epi;

/* One tile: rows [0, mr_valid) of x (row stride ldx, k bytes each, never read further) times
 * the packed weights w of one column tile, the epilogue applied to columns [0, nr_valid).
 * mr_valid in [1, MR], nr_valid in [1, NR] of the ISA. */
typedef void (*ptq_qgemm_ukernel)(int64_t k, const void *w, const uint8_t *x, int64_t ldx,
                                  int mr_valid, int nr_valid, const ptq_qgemm_epi *e);

/* AVX-512 VNNI: tiles of 64 columns stored [ceil(k/4)][nw][4] int8, nw = the tile's width
 * rounded up to 16 (64 except for the last tile), K padded with zero weights; 6 x 64 register
 * tile of vpdpbusd accumulators. */
#define PTQ_QGEMM_VNNI_MR 6
#define PTQ_QGEMM_VNNI_NR 64
/* AVX2: tiles of 4 columns stored [ceil(k/16)][4][16] int16 (sign-extended weights, K padded
 * with zeros); 2 x 4 tile of vpmaddwd dot products over 16 k, reduced horizontally at the end. */
#define PTQ_QGEMM_AVX2_MR 2
#define PTQ_QGEMM_AVX2_NR 4

#if PTQ_HAVE_X86_KERNELS
void ptq_qgemm_ukernel_avx512vnni(int64_t k, const void *w, const uint8_t *x, int64_t ldx,
                                  int mr_valid, int nr_valid, const ptq_qgemm_epi *e);
void ptq_qgemm_ukernel_avx2(int64_t k, const void *w, const uint8_t *x, int64_t ldx, int mr_valid,
                            int nr_valid, const ptq_qgemm_epi *e);
#endif

#endif
