#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "util/util.h"

size_t ptq_dtype_size(ptq_dtype dtype) {
  switch (dtype) {
    case PTQ_DT_FLOAT:
    case PTQ_DT_INT32:
    case PTQ_DT_UINT32: return 4;
    case PTQ_DT_UINT8:
    case PTQ_DT_INT8:
    case PTQ_DT_BOOL: return 1;
    case PTQ_DT_UINT16:
    case PTQ_DT_INT16:
    case PTQ_DT_FLOAT16: return 2;
    case PTQ_DT_INT64:
    case PTQ_DT_DOUBLE:
    case PTQ_DT_UINT64: return 8;
    default: return 0;
  }
}

const char *ptq_dtype_name(ptq_dtype dtype) {
  switch (dtype) {
    case PTQ_DT_FLOAT: return "float32";
    case PTQ_DT_UINT8: return "uint8";
    case PTQ_DT_INT8: return "int8";
    case PTQ_DT_UINT16: return "uint16";
    case PTQ_DT_INT16: return "int16";
    case PTQ_DT_INT32: return "int32";
    case PTQ_DT_INT64: return "int64";
    case PTQ_DT_STRING: return "string";
    case PTQ_DT_BOOL: return "bool";
    case PTQ_DT_FLOAT16: return "float16";
    case PTQ_DT_DOUBLE: return "float64";
    case PTQ_DT_UINT32: return "uint32";
    case PTQ_DT_UINT64: return "uint64";
    default: return "undefined";
  }
}

int64_t ptq_tensor_numel(const ptq_tensor *t) {
  int64_t n = 1;
  for (int i = 0; i < t->rank; i++) n *= t->dims[i];
  return n;
}

ptq_status ptq_tensor_create(ptq_dtype dtype, int rank, const int64_t *dims, ptq_tensor **out) {
  *out = NULL;
  size_t es = ptq_dtype_size(dtype);
  if (es == 0) return ptq_error(PTQ_ERR_UNSUPPORTED, "tensor of dtype %s", ptq_dtype_name(dtype));
  if (rank < 0 || rank > PTQ_MAX_RANK || (rank > 0 && !dims))
    return ptq_error(PTQ_ERR_INVALID_ARG, "tensor rank %d out of range 0..%d", rank, PTQ_MAX_RANK);
  int64_t n = 1;
  for (int i = 0; i < rank; i++)
    if (ptq_mul_i64(n, dims[i], &n) != 0)
      return ptq_error(PTQ_ERR_SHAPE, "tensor dimension %d is negative or too large", i);
  size_t bytes;
  if (ptq_mul_size((size_t)n, es, &bytes) != 0 || n > (int64_t)(SIZE_MAX / 16))
    return ptq_error(PTQ_ERR_NOMEM, "tensor too large");
  ptq_tensor *t = calloc(1, sizeof *t);
  if (!t) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  t->data = ptq_calloc(bytes ? bytes : 1, 1);
  if (!t->data) {
    free(t);
    return ptq_error(PTQ_ERR_NOMEM, "cannot allocate tensor of %zu bytes", bytes);
  }
  t->dtype = dtype;
  t->rank = rank;
  for (int i = 0; i < rank; i++) t->dims[i] = dims[i];
  t->owns_data = 1;
  *out = t;
  return PTQ_OK;
}

void ptq_tensor_destroy(ptq_tensor *t) {
  if (!t) return;
  if (t->owns_data) free(t->data);
  free(t);
}

static int g_threads = 0;

void ptq_set_threads(int threads) {
  g_threads = threads > 0 ? threads : 0;
  omp_set_num_threads(ptq_threads());
}

int ptq_threads(void) {
  if (g_threads > 0) return g_threads;
  int n = omp_get_num_procs();
  return n > 0 ? n : 1;
}

float ptq_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else { /* subnormal */
      exp = 127 - 15 + 1;
      while (!(mant & 0x400)) {
        mant <<= 1;
        exp--;
      }
      bits = sign | (exp << 23) | ((mant & 0x3ff) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

uint16_t ptq_f32_to_f16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000;
  uint32_t exp = (x >> 23) & 0xff, mant = x & 0x7fffff;
  if (exp == 0xff) return (uint16_t)(sign | 0x7c00 | (mant ? 0x200 : 0));
  int32_t e = (int32_t)exp - 127 + 15;
  if (e >= 31) return (uint16_t)(sign | 0x7c00);
  if (e <= 0) {
    if (e < -10) return (uint16_t)sign;
    mant |= 0x800000;
    uint32_t shift = (uint32_t)(14 - e);
    uint32_t half = mant >> shift, rem = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) half++;
    return (uint16_t)(sign | half);
  }
  uint32_t half = sign | ((uint32_t)e << 10) | (mant >> 13);
  uint32_t rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++;
  return (uint16_t)half;
}
