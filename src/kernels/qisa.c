/* ISA choice and requantization parameters shared by the int8 kernels (see qkernels.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels_internal.h"
#include "kernels/qkernels.h"

static enum ptq_qisa qisa_supported_best(void) {
#if PTQ_HAVE_X86_KERNELS
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni"))
    return PTQ_QISA_AVX512VNNI;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return PTQ_QISA_AVX2;
#endif
  return PTQ_QISA_SCALAR;
}

enum ptq_qisa ptq_qisa(void) {
  const enum ptq_qisa best = qisa_supported_best();
  const char *env = getenv("PTQ_ISA");
  if (!env || !*env) return best;
  enum ptq_qisa want = best;
  if (strcmp(env, "scalar") == 0)
    want = PTQ_QISA_SCALAR;
  else if (strcmp(env, "avx2") == 0)
    want = PTQ_QISA_AVX2;
  else if (strcmp(env, "avx512") == 0 || strcmp(env, "avx512vnni") == 0)
    want = PTQ_QISA_AVX512VNNI;
  return want <= best ? want : best;
}

const char *ptq_qisa_name(enum ptq_qisa isa) {
  switch (isa) {
    case PTQ_QISA_AVX2: return "avx2";
    case PTQ_QISA_AVX512VNNI: return "avx512vnni";
    default: return "scalar";
  }
}

int ptq_requant_from_real(double m, int32_t *mult, int32_t *shift) {
  if (!(m > 0.0) || !isfinite(m) || m >= 0x1p30) return -1;
  if (m < 0x1p-33) {
    *mult = 0;
    *shift = 1;
    return 0;
  }
  int e;
  const double f = frexp(m, &e); /* m = f · 2^e, f in [0.5, 1) */
  double q = nearbyint(ldexp(f, 31)); /* in [2^30, 2^31], ties to even (default mode) */
  if (q == 0x1p31) {
    q = 0x1p30;
    e++;
  }
  if (31 - e > 63 || 31 - e < 1) return -1; /* unreachable for m in [2^-33, 2^30) */
  *mult = (int32_t)q;
  *shift = 31 - e;
  return 0;
}
