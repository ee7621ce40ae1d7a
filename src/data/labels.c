/* Labels: .npy integer arrays and labels.csv files (columns file, class_index). */
#define _POSIX_C_SOURCE 200809L /* strcasecmp */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "data/data_internal.h"

int ptq_path_has_ext(const char *path, const char *ext) {
  size_t n = strlen(path), e = strlen(ext);
  return n >= e && strcasecmp(path + n - e, ext) == 0;
}

const char *ptq_path_basename(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

ptq_status ptq_labels_load_npy(const char *path, int64_t **labels, int64_t *n) {
  ptq_tensor *t = NULL;
  *labels = NULL;
  *n = 0;
  PTQ_TRY(ptq_npy_load(path, &t));
  ptq_status s = PTQ_OK;
  if (t->rank != 1) {
    s = ptq_error(PTQ_ERR_DATA, "labels '%s' must be a 1-D array (rank is %d)", path, t->rank);
    goto done;
  }
  if (t->dtype != PTQ_DT_UINT8 && t->dtype != PTQ_DT_INT8 && t->dtype != PTQ_DT_INT32 &&
      t->dtype != PTQ_DT_INT64) {
    s = ptq_error(PTQ_ERR_DATA, "labels '%s' must be integers, not %s", path,
                  ptq_dtype_name(t->dtype));
    goto done;
  }
  int64_t *out = ptq_malloc((size_t)t->dims[0] * sizeof *out);
  if (!out) {
    s = ptq_error(PTQ_ERR_NOMEM, "out of memory reading '%s'", path);
    goto done;
  }
  for (int64_t i = 0; i < t->dims[0]; i++) {
    switch (t->dtype) {
      case PTQ_DT_UINT8: out[i] = ((const uint8_t *)t->data)[i]; break;
      case PTQ_DT_INT8: out[i] = ((const int8_t *)t->data)[i]; break;
      case PTQ_DT_INT32: out[i] = ((const int32_t *)t->data)[i]; break;
      default: out[i] = ((const int64_t *)t->data)[i]; break;
    }
  }
  *labels = out;
  *n = t->dims[0];
done:
  ptq_tensor_destroy(t);
  return s;
}

/* ---- CSV -------------------------------------------------------------------------- */

typedef struct csv {
  const char *s;
  size_t n, i;
  int line; /* line of the current position, from 1 */
  char *field;
  size_t cap, len;
} csv;

static int csv_append(csv *c, char ch) {
  if (c->len + 1 >= c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 64;
    char *f = realloc(c->field, cap);
    if (!f) return -1;
    c->field = f;
    c->cap = cap;
  }
  c->field[c->len++] = ch;
  c->field[c->len] = '\0';
  return 0;
}

/* Reads one field into c->field (RFC 4180: "" is a quote inside a quoted field; a quote
 * inside an unquoted field is literal). *eor is set when the field ends its record.
 * 0 ok, -1 malformed, -2 out of memory. */
static int csv_field(csv *c, int *eor) {
  c->len = 0;
  c->field[0] = '\0';
  if (c->i < c->n && c->s[c->i] == '"') {
    for (c->i++;; c->i++) {
      if (c->i >= c->n) return -1; /* unterminated quote */
      char ch = c->s[c->i];
      if (ch == '"') {
        if (c->i + 1 < c->n && c->s[c->i + 1] == '"')
          c->i++;
        else
          break;
      }
      if (ch == '\n') c->line++;
      if (csv_append(c, ch) != 0) return -2;
    }
    c->i++;
    if (c->i < c->n && c->s[c->i] != ',' && c->s[c->i] != '\n' && c->s[c->i] != '\r') return -1;
  } else {
    for (; c->i < c->n; c->i++) {
      char ch = c->s[c->i];
      if (ch == ',' || ch == '\n' || ch == '\r') break;
      if (csv_append(c, ch) != 0) return -2;
    }
  }
  *eor = 1;
  if (c->i < c->n && c->s[c->i] == ',') {
    *eor = 0;
    c->i++;
  } else if (c->i < c->n) { /* \n, \r\n or \r */
    if (c->s[c->i] == '\r' && c->i + 1 < c->n && c->s[c->i + 1] == '\n') c->i++;
    c->i++;
    c->line++;
  }
  return 0;
}

/* Parses an integer label with optional surrounding spaces. 0 ok, -1 otherwise. */
static int parse_class(const char *s, int *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  while (*end == ' ' || *end == '\t') end++;
  if (end == s || *end != '\0' || errno != 0 || v < 0 || v > INT_MAX) return -1;
  *out = (int)v;
  return 0;
}

ptq_status ptq_labels_load_csv(const char *path, ptq_strmap *map) {
  void *buf = NULL;
  size_t len;
  memset(map, 0, sizeof *map);
  PTQ_TRY(ptq_file_read(path, &buf, &len));
  csv c = {buf, len, 0, 1, ptq_malloc(64), 64, 0};
  ptq_status s = PTQ_OK;
  char *file = NULL;
  int col_file = -1, col_class = -1, header = 1, rc = -2;
  if (!c.field) goto bad_csv;
  if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) c.i = 3; /* UTF-8 byte order mark */
  while (c.i < c.n) {
    int line = c.line, eor = 0, blank = 0, cls = -1;
    free(file);
    file = NULL;
    for (int col = 0; !eor; col++) {
      if ((rc = csv_field(&c, &eor)) != 0) goto bad_csv;
      blank = col == 0 && eor && c.len == 0;
      if (header) {
        if (strcmp(c.field, "file") == 0) col_file = col;
        if (strcmp(c.field, "class_index") == 0) col_class = col;
      } else if (col == col_file) {
        if (!(file = ptq_strdup(c.field))) {
          rc = -2;
          goto bad_csv;
        }
      } else if (col == col_class && parse_class(c.field, &cls) != 0) {
        s = ptq_error(PTQ_ERR_PARSE, "'%s' line %d: class_index '%s' is not an integer >= 0", path,
                      line, c.field);
        goto done;
      }
    }
    if (blank) continue;
    if (header) {
      if (col_file < 0 || col_class < 0) {
        s = ptq_error(PTQ_ERR_PARSE, "'%s': the header row needs columns 'file' and 'class_index'",
                      path);
        goto done;
      }
      header = 0;
      continue;
    }
    if (!file || cls < 0) {
      s = ptq_error(PTQ_ERR_PARSE, "'%s' line %d: missing file or class_index", path, line);
      goto done;
    }
    const char *key = ptq_path_basename(file);
    int old;
    if (ptq_strmap_get(map, key, &old) && old != cls) {
      s = ptq_error(PTQ_ERR_DATA, "'%s' line %d: '%s' is listed with class %d and %d", path, line,
                    key, old, cls);
      goto done;
    }
    if (ptq_strmap_put(map, key, cls) != 0) {
      rc = -2;
      goto bad_csv;
    }
  }
  if (header) s = ptq_error(PTQ_ERR_PARSE, "'%s': empty labels file", path);
  goto done;
bad_csv:
  s = rc == -2 ? ptq_error(PTQ_ERR_NOMEM, "out of memory reading '%s'", path)
               : ptq_error(PTQ_ERR_PARSE, "'%s' line %d: malformed CSV quoting", path, c.line);
done:
  if (s != PTQ_OK) ptq_strmap_free(map);
  free(file);
  free(c.field);
  free(buf);
  return s;
}
