/* .npy reading and writing (NumPy format versions 1.0, 2.0, 3.0; C order, little-endian). */
#define _POSIX_C_SOURCE 200809L /* fseeko, ftello */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "data/data_internal.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "ptq reads and writes .npy data in place, which needs a little-endian host"
#endif

static const unsigned char NPY_MAGIC[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
#define NPY_MAX_HEADER ((int64_t)1 << 20) /* longest header text accepted */

static const struct {
  const char *code; /* descr without its byte-order character */
  ptq_dtype dtype;
} NPY_TYPES[] = {{"u1", PTQ_DT_UINT8},   {"i1", PTQ_DT_INT8},   {"b1", PTQ_DT_BOOL},
                 {"f2", PTQ_DT_FLOAT16}, {"f4", PTQ_DT_FLOAT},  {"f8", PTQ_DT_DOUBLE},
                 {"i4", PTQ_DT_INT32},   {"i8", PTQ_DT_INT64},  {"i2", PTQ_DT_INT16},
                 {"u2", PTQ_DT_UINT16},  {"u4", PTQ_DT_UINT32}, {"u8", PTQ_DT_UINT64}};
#define NPY_N_TYPES (sizeof NPY_TYPES / sizeof NPY_TYPES[0])

void ptq_shape_str(const int64_t *dims, int rank, char *buf, size_t cap) {
  size_t len = (size_t)snprintf(buf, cap, "(");
  for (int i = 0; i < rank && len < cap; i++)
    len += (size_t)snprintf(buf + len, cap - len, i ? ", %lld" : "%lld", (long long)dims[i]);
  if (len < cap) snprintf(buf + len, cap - len, rank == 1 ? ",)" : ")");
}

/* ---- header dictionary parser ---------------------------------------------------- */

typedef struct cursor {
  const char *s;
  size_t n, i;
  const char *path;
} cursor;

static int peek(cursor *c) {
  while (c->i < c->n &&
         (c->s[c->i] == ' ' || c->s[c->i] == '\t' || c->s[c->i] == '\n' || c->s[c->i] == '\r'))
    c->i++;
  return c->i < c->n ? (unsigned char)c->s[c->i] : -1;
}

static int accept(cursor *c, int ch) {
  if (peek(c) != ch) return 0;
  c->i++;
  return 1;
}

static ptq_status malformed(const cursor *c, const char *what) {
  return ptq_error(PTQ_ERR_PARSE, "'%s': malformed .npy header: %s at offset %zu", c->path, what,
                   c->i);
}

/* A Python string literal without escapes, quoted with ' or ", into out[cap]. */
static ptq_status parse_str(cursor *c, char *out, size_t cap) {
  int q = peek(c);
  if (q != '\'' && q != '"') return malformed(c, "expected a string");
  size_t start = ++c->i;
  while (c->i < c->n && c->s[c->i] != q && c->s[c->i] != '\\') c->i++;
  if (c->i >= c->n || c->s[c->i] != q) return malformed(c, "unterminated or escaped string");
  size_t len = c->i - start;
  if (len >= cap) return malformed(c, "string too long");
  memcpy(out, c->s + start, len);
  out[len] = '\0';
  c->i++;
  return PTQ_OK;
}

static ptq_status parse_bool(cursor *c, int *v) {
  peek(c);
  size_t left = c->n - c->i;
  if (left >= 4 && memcmp(c->s + c->i, "True", 4) == 0) {
    *v = 1;
    c->i += 4;
  } else if (left >= 5 && memcmp(c->s + c->i, "False", 5) == 0) {
    *v = 0;
    c->i += 5;
  } else {
    return malformed(c, "expected True or False");
  }
  return PTQ_OK;
}

/* A tuple of non-negative integers (Python 2 "L" suffixes allowed), at most PTQ_MAX_RANK. */
static ptq_status parse_shape(cursor *c, ptq_npy_header *h) {
  if (!accept(c, '(')) return malformed(c, "expected a shape tuple");
  h->rank = 0;
  while (!accept(c, ')')) {
    int ch = peek(c);
    if (ch == '-') return malformed(c, "negative dimension");
    if (ch < '0' || ch > '9') return malformed(c, "expected a dimension");
    if (h->rank == PTQ_MAX_RANK)
      return ptq_error(PTQ_ERR_PARSE, "'%s': .npy shape has more than %d dimensions", c->path,
                       PTQ_MAX_RANK);
    int64_t v = 0;
    while (c->i < c->n && c->s[c->i] >= '0' && c->s[c->i] <= '9') {
      int d = c->s[c->i++] - '0';
      if (v > (INT64_MAX - d) / 10) return malformed(c, "dimension too large");
      v = v * 10 + d;
    }
    if (c->i < c->n && c->s[c->i] == 'L') c->i++;
    h->dims[h->rank++] = v;
    if (!accept(c, ',')) {
      if (!accept(c, ')')) return malformed(c, "expected ',' or ')' in shape");
      break;
    }
  }
  return PTQ_OK;
}

static ptq_status parse_descr(cursor *c, ptq_npy_header *h) {
  char d[32];
  if (peek(c) == '[')
    return ptq_error(PTQ_ERR_UNSUPPORTED, "'%s': structured .npy dtypes are not supported",
                     c->path);
  PTQ_TRY(parse_str(c, d, sizeof d));
  h->dtype = PTQ_DT_UNDEFINED;
  if (d[0] == '<' || d[0] == '|' || d[0] == '>')
    for (size_t k = 0; k < NPY_N_TYPES; k++)
      if (strcmp(d + 1, NPY_TYPES[k].code) == 0) h->dtype = NPY_TYPES[k].dtype;
  if (h->dtype == PTQ_DT_UNDEFINED)
    return ptq_error(
        PTQ_ERR_UNSUPPORTED,
        "'%s': .npy dtype '%s' is not supported (supported: u1 i1 b1 f2 f4 f8 i2 u2 i4 "
        "u4 i8 u8, little-endian)",
        c->path, d);
  if (d[0] == '>' && ptq_dtype_size(h->dtype) > 1)
    return ptq_error(PTQ_ERR_UNSUPPORTED,
                     "'%s': big-endian .npy data ('%s') is not supported; save it little-endian",
                     c->path, d);
  return PTQ_OK;
}

/* Parses "{'descr': ..., 'fortran_order': ..., 'shape': (...), }" plus trailing padding. */
static ptq_status parse_dict(cursor *c, ptq_npy_header *h) {
  int seen_descr = 0, seen_fortran = 0, seen_shape = 0, fortran = 0;
  if (!accept(c, '{')) return malformed(c, "expected '{'");
  while (!accept(c, '}')) {
    char key[32];
    PTQ_TRY(parse_str(c, key, sizeof key));
    if (!accept(c, ':')) return malformed(c, "expected ':'");
    int *seen = strcmp(key, "descr") == 0           ? &seen_descr
                : strcmp(key, "fortran_order") == 0 ? &seen_fortran
                : strcmp(key, "shape") == 0         ? &seen_shape
                                                    : NULL;
    if (!seen || *seen) return malformed(c, "unknown or repeated key");
    *seen = 1;
    if (seen == &seen_descr)
      PTQ_TRY(parse_descr(c, h));
    else if (seen == &seen_fortran)
      PTQ_TRY(parse_bool(c, &fortran));
    else
      PTQ_TRY(parse_shape(c, h));
    if (!accept(c, ',')) {
      if (!accept(c, '}')) return malformed(c, "expected ',' or '}'");
      break;
    }
  }
  if (peek(c) != -1) return malformed(c, "text after the dictionary");
  if (!seen_descr || !seen_fortran || !seen_shape)
    return malformed(c, "missing 'descr', 'fortran_order' or 'shape'");
  if (fortran)
    return ptq_error(PTQ_ERR_UNSUPPORTED,
                     "'%s': Fortran-ordered .npy arrays are not supported; save a C-ordered "
                     "array (numpy.ascontiguousarray)",
                     c->path);
  return PTQ_OK;
}

/* ---- reading ---------------------------------------------------------------------- */

static ptq_status read_exact(FILE *f, const char *path, void *buf, size_t n) {
  if (fread(buf, 1, n, f) != n)
    return ptq_error(PTQ_ERR_IO, "cannot read '%s'%s", path,
                     ferror(f) ? ": read error" : ": unexpected end of file");
  return PTQ_OK;
}

ptq_status ptq_npy_read_header(FILE *f, const char *path, ptq_npy_header *h) {
  unsigned char pre[12];
  char *text = NULL;
  ptq_status s = PTQ_OK;
  memset(h, 0, sizeof *h);
  if (fseeko(f, 0, SEEK_END) != 0)
    return ptq_error(PTQ_ERR_IO, "cannot seek in '%s': %s", path, strerror(errno));
  int64_t size = (int64_t)ftello(f);
  if (size < 0 || fseeko(f, 0, SEEK_SET) != 0)
    return ptq_error(PTQ_ERR_IO, "cannot seek in '%s': %s", path, strerror(errno));
  if (size < 10)
    return ptq_error(PTQ_ERR_PARSE, "'%s': %lld bytes is too short for a .npy file", path,
                     (long long)size);
  PTQ_TRY(read_exact(f, path, pre, 10));
  if (memcmp(pre, NPY_MAGIC, sizeof NPY_MAGIC) != 0)
    return ptq_error(PTQ_ERR_PARSE, "'%s': not a .npy file (bad magic)", path);
  int64_t prefix, hlen;
  if (pre[6] == 1 && pre[7] == 0) {
    prefix = 10;
    hlen = pre[8] | (int64_t)pre[9] << 8;
  } else if ((pre[6] == 2 || pre[6] == 3) && pre[7] == 0) {
    if (size < 12) return ptq_error(PTQ_ERR_PARSE, "'%s': truncated .npy header", path);
    PTQ_TRY(read_exact(f, path, pre + 10, 2));
    prefix = 12;
    hlen = pre[8] | (int64_t)pre[9] << 8 | (int64_t)pre[10] << 16 | (int64_t)pre[11] << 24;
  } else {
    return ptq_error(PTQ_ERR_UNSUPPORTED, "'%s': .npy format version %d.%d is not supported", path,
                     pre[6], pre[7]);
  }
  if (hlen > size - prefix)
    return ptq_error(PTQ_ERR_PARSE, "'%s': .npy header length %lld exceeds the file size %lld",
                     path, (long long)hlen, (long long)size);
  if (hlen > NPY_MAX_HEADER)
    return ptq_error(PTQ_ERR_PARSE, "'%s': .npy header length %lld is too large", path,
                     (long long)hlen);
  text = ptq_malloc((size_t)hlen);
  if (!text) return ptq_error(PTQ_ERR_NOMEM, "out of memory reading '%s'", path);
  if ((s = read_exact(f, path, text, (size_t)hlen)) != PTQ_OK) goto done;
  cursor c = {text, (size_t)hlen, 0, path};
  if ((s = parse_dict(&c, h)) != PTQ_OK) goto done;
  h->numel = 1;
  for (int i = 0; i < h->rank; i++)
    if (ptq_mul_i64(h->numel, h->dims[i], &h->numel) != 0) {
      s = ptq_error(PTQ_ERR_PARSE, "'%s': .npy shape overflows", path);
      goto done;
    }
  if (ptq_mul_i64(h->numel, (int64_t)ptq_dtype_size(h->dtype), &h->data_bytes) != 0) {
    s = ptq_error(PTQ_ERR_PARSE, "'%s': .npy shape overflows", path);
    goto done;
  }
  h->data_offset = prefix + hlen;
  if (h->data_bytes > size - h->data_offset) {
    char shape[128];
    ptq_shape_str(h->dims, h->rank, shape, sizeof shape);
    s = ptq_error(PTQ_ERR_PARSE,
                  "'%s': .npy data is %lld bytes but shape %s of %s needs %lld (truncated file?)",
                  path, (long long)(size - h->data_offset), shape, ptq_dtype_name(h->dtype),
                  (long long)h->data_bytes);
    goto done;
  }
done:
  free(text);
  return s;
}

ptq_status ptq_npy_load(const char *path, ptq_tensor **out) {
  ptq_npy_header h;
  ptq_tensor *t = NULL;
  ptq_status s;
  if (!out || !path) return ptq_error(PTQ_ERR_INVALID_ARG, "ptq_npy_load: NULL argument");
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) return ptq_error(PTQ_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
  if ((s = ptq_npy_read_header(f, path, &h)) != PTQ_OK) goto error;
  if ((s = ptq_tensor_create(h.dtype, h.rank, h.dims, &t)) != PTQ_OK) {
    ptq_error_prefix(s, "'%s': ", path);
    goto error;
  }
  if (fseeko(f, (off_t)h.data_offset, SEEK_SET) != 0) {
    s = ptq_error(PTQ_ERR_IO, "cannot seek in '%s': %s", path, strerror(errno));
    goto error;
  }
  if ((s = read_exact(f, path, t->data, (size_t)h.data_bytes)) != PTQ_OK) goto error;
  fclose(f);
  *out = t;
  return PTQ_OK;
error:
  ptq_tensor_destroy(t);
  fclose(f);
  return s;
}

/* ---- writing ---------------------------------------------------------------------- */

ptq_status ptq_npy_save(const char *path, const ptq_tensor *t) {
  if (!path || !t) return ptq_error(PTQ_ERR_INVALID_ARG, "ptq_npy_save: NULL argument");
  const char *code = NULL;
  for (size_t k = 0; k < NPY_N_TYPES; k++)
    if (NPY_TYPES[k].dtype == t->dtype) code = NPY_TYPES[k].code;
  if (!code)
    return ptq_error(PTQ_ERR_UNSUPPORTED, "cannot write %s tensors to .npy '%s'",
                     ptq_dtype_name(t->dtype), path);
  if (t->rank < 0 || t->rank > PTQ_MAX_RANK)
    return ptq_error(PTQ_ERR_INVALID_ARG, "tensor rank %d out of range", t->rank);
  int64_t numel = 1, bytes;
  for (int i = 0; i < t->rank; i++)
    if (ptq_mul_i64(numel, t->dims[i], &numel) != 0)
      return ptq_error(PTQ_ERR_INVALID_ARG, "tensor dimension %d is negative or too large", i);
  size_t esize = ptq_dtype_size(t->dtype);
  if (ptq_mul_i64(numel, (int64_t)esize, &bytes) != 0 || (bytes > 0 && !t->data))
    return ptq_error(PTQ_ERR_INVALID_ARG, "tensor too large or without data");

  char shape[PTQ_MAX_RANK * 22 + 8], dict[PTQ_MAX_RANK * 22 + 96];
  ptq_shape_str(t->dims, t->rank, shape, sizeof shape);
  int dlen = snprintf(dict, sizeof dict, "{'descr': '%c%s', 'fortran_order': False, 'shape': %s, }",
                      esize == 1 ? '|' : '<', code, shape);
  /* magic (6) + version (2) + length (2) + dict + padding + '\n' is a multiple of 64 */
  size_t hlen = ((size_t)(10 + dlen + 1) + 63) / 64 * 64 - 10;
  size_t total = 10 + hlen + (size_t)bytes;
  unsigned char *buf = ptq_malloc(total);
  if (!buf) return ptq_error(PTQ_ERR_NOMEM, "out of memory writing '%s'", path);
  memcpy(buf, NPY_MAGIC, sizeof NPY_MAGIC);
  buf[6] = 1;
  buf[7] = 0;
  buf[8] = (unsigned char)(hlen & 0xff);
  buf[9] = (unsigned char)(hlen >> 8);
  memcpy(buf + 10, dict, (size_t)dlen);
  memset(buf + 10 + dlen, ' ', hlen - (size_t)dlen - 1);
  buf[10 + hlen - 1] = '\n';
  if (bytes) memcpy(buf + 10 + hlen, t->data, (size_t)bytes);
  ptq_status s = ptq_file_write_atomic(path, buf, total);
  free(buf);
  return s;
}
