/* Integer (int8) compute kernels of the int8 runtime. Stateless apart from packed weights;
 * scratch is caller-owned; every parameter is validated by the caller (the runtime's prepare
 * step), so kernels never fail.
 *
 * Conventions shared by every kernel here:
 * - Layout NHWC (channels last), C order.
 * - Activations are uint8 with a zero point. An int8 tensor is carried as uint8 by flipping
 *   its sign bit (q_u8 = q_s8 ^ 0x80, zp_u8 = zp_s8 + 128): the same real values
 *   scale * (q - zp), so one set of kernels serves both.
 * - Weights are int8, symmetric (zero point 0), per output channel (per-tensor is the special
 *   case of equal channel parameters).
 * - Accumulators are int32: acc = bias + Σ (x - zx) · w, exact. The caller guarantees
 *   |bias| + K · 255 · 128 < 2^31 (K = terms per output), so no sum overflows.
 * - Requantization of an accumulator to uint8 (ptq_requant_ref is the definition):
 *     y = clamp(zy + round_half_even(acc · mult / 2^shift), lo, hi)
 *   with one rounding of the exact 64-bit product: mult in [2^30, 2^31) (or 0), shift in
 *   [1, 63]. The real multiplier M = sx · sw / sy is mult · 2^-shift (ptq_requant_from_real).
 *   A fused Relu/Clip is the clamp range [lo, hi].
 * - ISA: chosen per call site when weights are packed (or per call for unpacked kernels) by
 *   ptq_qisa(): the best the CPU supports, or the lower one PTQ_ISA names. Every ISA gives
 *   bit-identical results, and so does every thread count. */
#ifndef PTQ_QKERNELS_H
#define PTQ_QKERNELS_H

#include <stddef.h>
#include <stdint.h>

enum ptq_qisa { PTQ_QISA_SCALAR, PTQ_QISA_AVX2, PTQ_QISA_AVX512VNNI };

/* Best supported ISA (AVX-512 VNNI needs avx512f, avx512bw, avx512vl and avx512vnni; AVX2
 * needs avx2 and fma), lowered to the one named by the environment variable PTQ_ISA:
 * "scalar", "avx2", "avx512" or "avx512vnni" (an ISA the CPU lacks, or an unknown name,
 * leaves the best supported). Read at every call. */
enum ptq_qisa ptq_qisa(void);
/* "scalar", "avx2" or "avx512vnni". */
const char *ptq_qisa_name(enum ptq_qisa isa);

/* Rounds v / 2^shift to the nearest integer, ties to even; shift in [1, 63]. */
static inline int64_t ptq_rshift_round_even(int64_t v, int shift) {
  const int64_t q = v >> shift; /* floor: arithmetic shift (GCC/Clang) */
  const uint64_t r = (uint64_t)v & ((UINT64_C(1) << shift) - 1), half = UINT64_C(1) << (shift - 1);
  return q + (r > half || (r == half && (q & 1)));
}

/* The requantization every kernel implements (see above). */
static inline uint8_t ptq_requant_ref(int32_t acc, int32_t mult, int shift, int32_t zy, uint8_t lo,
                                      uint8_t hi) {
  int64_t v = ptq_rshift_round_even((int64_t)acc * mult, shift) + zy;
  v = v < lo ? lo : v;
  return (uint8_t)(v > hi ? hi : v);
}

/* mult and shift with mult · 2^-shift = m rounded to 31 significant bits (ties to even).
 * Returns 0 for m in [2^-33, 2^30) (finite, positive); -1 otherwise (m >= 2^30 cannot be
 * represented; the caller keeps that op in float). m < 2^-33 gives mult 0: every product
 * rounds to 0 anyway. */
int ptq_requant_from_real(double m, int32_t *mult, int32_t *shift);

#endif
