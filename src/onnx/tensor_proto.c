#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/tensor_proto.h"

#define S(x) ((x) ? (x) : "")

int onnx_dtype_supported(int32_t t) {
  switch (t) {
    case PTQ_DT_FLOAT:
    case PTQ_DT_UINT8:
    case PTQ_DT_INT8:
    case PTQ_DT_UINT16:
    case PTQ_DT_INT16:
    case PTQ_DT_INT32:
    case PTQ_DT_INT64:
    case PTQ_DT_BOOL:
    case PTQ_DT_FLOAT16:
    case PTQ_DT_DOUBLE:
    case PTQ_DT_UINT32:
    case PTQ_DT_UINT64: return 1;
    default: return 0;
  }
}

const char *onnx_type_name(int32_t t) {
  static const char *names[] = {
      "undefined",      "float",      "uint8",          "int8",       "uint16",   "int16",
      "int32",          "int64",      "string",         "bool",       "float16",  "double",
      "uint32",         "uint64",     "complex64",      "complex128", "bfloat16", "float8e4m3fn",
      "float8e4m3fnuz", "float8e5m2", "float8e5m2fnuz", "uint4",      "int4"};
  return t >= 0 && t < (int32_t)(sizeof names / sizeof *names) ? names[t] : "unknown";
}

/* Rejects absolute paths and any ".." component so external data stays inside base_dir. */
static int safe_relative_path(const char *p) {
  if (!p[0] || p[0] == '/') return 0;
  for (const char *s = p; *s;) {
    const char *e = strchr(s, '/');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    if (n == 2 && s[0] == '.' && s[1] == '.') return 0;
    if (!e) break;
    s = e + 1;
  }
  return 1;
}

static ptq_status read_external(const Onnx__TensorProto *tp, const char *base_dir, void *dst,
                                size_t bytes) {
  const char *loc = NULL;
  long long offset = 0, length = -1;
  for (size_t i = 0; i < tp->n_external_data; i++) {
    const Onnx__StringStringEntryProto *kv = tp->external_data[i];
    const char *k = S(kv->key), *v = S(kv->value);
    char *end;
    if (strcmp(k, "location") == 0) {
      loc = v;
    } else if (strcmp(k, "offset") == 0) {
      offset = strtoll(v, &end, 10);
      if (*end || offset < 0) return ptq_error(PTQ_ERR_PARSE, "bad external data offset '%s'", v);
    } else if (strcmp(k, "length") == 0) {
      length = strtoll(v, &end, 10);
      if (*end || length < 0) return ptq_error(PTQ_ERR_PARSE, "bad external data length '%s'", v);
    }
  }
  if (!loc) return ptq_error(PTQ_ERR_PARSE, "external data without a location");
  if (!safe_relative_path(loc))
    return ptq_error(PTQ_ERR_INVALID_MODEL,
                     "external data location '%s' must be a relative path inside the model's "
                     "directory",
                     loc);
  if (length >= 0 && (size_t)length != bytes)
    return ptq_error(PTQ_ERR_PARSE, "external data length %lld does not match %zu bytes", length,
                     bytes);
  char *path = ptq_asprintf("%s/%s", base_dir ? base_dir : ".", loc);
  if (!path) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  FILE *f = fopen(path, "rb");
  ptq_status st = PTQ_OK;
  if (!f) {
    st = ptq_error(PTQ_ERR_IO, "cannot open external data file '%s'", path);
  } else if (fseek(f, (long)offset, SEEK_SET) != 0 || fread(dst, 1, bytes, f) != bytes) {
    st = ptq_error(PTQ_ERR_IO, "external data file '%s' is shorter than offset %lld + %zu bytes",
                   path, offset, bytes);
  }
  if (f) fclose(f);
  free(path);
  return st;
}

ptq_status onnx_tensor_to_ptq(const Onnx__TensorProto *tp, const char *base_dir, ptq_tensor **out) {
  *out = NULL;
  const char *name = S(tp->name);
  int32_t dt = tp->has_data_type ? tp->data_type : 0;
  if (!onnx_dtype_supported(dt))
    return ptq_error(PTQ_ERR_UNSUPPORTED, "tensor '%s' has unsupported element type %s", name,
                     onnx_type_name(dt));
  if (tp->n_dims > PTQ_MAX_RANK)
    return ptq_error(PTQ_ERR_UNSUPPORTED, "tensor '%s' has rank %zu > %d", name, tp->n_dims,
                     PTQ_MAX_RANK);
  if (tp->segment) return ptq_error(PTQ_ERR_UNSUPPORTED, "tensor '%s' uses segments", name);
  for (size_t i = 0; i < tp->n_dims; i++)
    if (tp->dims[i] < 0)
      return ptq_error(PTQ_ERR_INVALID_MODEL, "tensor '%s' has negative dimension %lld", name,
                       (long long)tp->dims[i]);
  int64_t numel = 1;
  for (size_t i = 0; i < tp->n_dims; i++)
    if (ptq_mul_i64(numel, tp->dims[i], &numel) != 0 || numel > ((int64_t)1 << 40))
      return ptq_error(PTQ_ERR_INVALID_MODEL, "tensor '%s' is too large", name);
  size_t es = ptq_dtype_size((ptq_dtype)dt), bytes = (size_t)numel * es;
  /* Check the payload size before allocating, so a lying header cannot force a huge alloc. */
  int external =
      tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
  size_t have = 0;
  if (external) {
    have = bytes;
  } else if (tp->has_raw_data) {
    have = tp->raw_data.len;
  } else {
    switch (dt) {
      case PTQ_DT_FLOAT: have = tp->n_float_data; break;
      case PTQ_DT_INT64: have = tp->n_int64_data; break;
      case PTQ_DT_DOUBLE: have = tp->n_double_data; break;
      case PTQ_DT_UINT32:
      case PTQ_DT_UINT64: have = tp->n_uint64_data; break;
      default: have = tp->n_int32_data; break;
    }
    have *= es;
  }
  if (have != bytes)
    return ptq_error(PTQ_ERR_PARSE, "tensor '%s' holds %zu bytes of data but its shape needs %zu",
                     name, have, bytes);
  ptq_tensor *t;
  int64_t dims[PTQ_MAX_RANK];
  for (size_t i = 0; i < tp->n_dims; i++) dims[i] = tp->dims[i];
  PTQ_TRY(ptq_tensor_create((ptq_dtype)dt, (int)tp->n_dims, dims, &t));
  ptq_status st = PTQ_OK;
  if (external) {
    st = read_external(tp, base_dir, t->data, bytes);
  } else if (tp->has_raw_data) {
    if (bytes) memcpy(t->data, tp->raw_data.data, bytes);
  } else {
    for (int64_t i = 0; i < numel; i++) {
      switch (dt) {
        case PTQ_DT_FLOAT: ((float *)t->data)[i] = tp->float_data[i]; break;
        case PTQ_DT_INT64: ((int64_t *)t->data)[i] = tp->int64_data[i]; break;
        case PTQ_DT_DOUBLE: ((double *)t->data)[i] = tp->double_data[i]; break;
        case PTQ_DT_UINT64: ((uint64_t *)t->data)[i] = tp->uint64_data[i]; break;
        case PTQ_DT_UINT32: ((uint32_t *)t->data)[i] = (uint32_t)tp->uint64_data[i]; break;
        case PTQ_DT_INT32: ((int32_t *)t->data)[i] = tp->int32_data[i]; break;
        case PTQ_DT_INT16: ((int16_t *)t->data)[i] = (int16_t)tp->int32_data[i]; break;
        case PTQ_DT_UINT16:
        case PTQ_DT_FLOAT16: ((uint16_t *)t->data)[i] = (uint16_t)tp->int32_data[i]; break;
        case PTQ_DT_INT8: ((int8_t *)t->data)[i] = (int8_t)tp->int32_data[i]; break;
        case PTQ_DT_UINT8: ((uint8_t *)t->data)[i] = (uint8_t)tp->int32_data[i]; break;
        case PTQ_DT_BOOL: ((uint8_t *)t->data)[i] = tp->int32_data[i] != 0; break;
        default: break;
      }
    }
  }
  if (st != PTQ_OK) {
    ptq_tensor_destroy(t);
    return ptq_error_prefix(st, "tensor '%s': ", name);
  }
  *out = t;
  return PTQ_OK;
}

void onnx_tensor_from_ptq(Onnx__TensorProto *tp, const ptq_tensor *t, const char *name) {
  tp->name = (char *)name;
  tp->has_data_type = 1;
  tp->data_type = (int32_t)t->dtype;
  tp->n_dims = (size_t)t->rank;
  tp->dims = (int64_t *)t->dims;
  tp->has_raw_data = 1;
  tp->raw_data.len = (size_t)ptq_tensor_numel(t) * ptq_dtype_size(t->dtype);
  tp->raw_data.data = t->data;
}
