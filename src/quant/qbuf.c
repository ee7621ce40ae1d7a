/* Growable text for reports and JSON; backend profiles as data. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/qgraph.h"

static void qbuf_append(qbuf *b, const char *s, size_t n) {
  if (b->failed) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = (b->cap ? b->cap * 2 : 1024) + n;
    char *p = realloc(b->s, cap);
    if (!p) {
      b->failed = 1;
      return;
    }
    b->s = p;
    b->cap = cap;
  }
  memcpy(b->s + b->len, s, n);
  b->len += n;
  b->s[b->len] = '\0';
}

void qbuf_printf(qbuf *b, const char *fmt, ...) {
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n < sizeof tmp) {
    qbuf_append(b, tmp, (size_t)n);
    return;
  }
  char *big = malloc((size_t)n + 1);
  if (!big) {
    b->failed = 1;
    return;
  }
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  qbuf_append(b, big, (size_t)n);
  free(big);
}

void qbuf_json_string(qbuf *b, const char *s) {
  qbuf_append(b, "\"", 1);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      qbuf_printf(b, "\\%c", c);
    else if (c < 0x20)
      qbuf_printf(b, "\\u%04x", c);
    else
      qbuf_append(b, s, 1);
  }
  qbuf_append(b, "\"", 1);
}

void qbuf_json_float(qbuf *b, double x) {
  if (!isfinite(x))
    qbuf_printf(b, "null");
  else
    qbuf_printf(b, "%.9g", x);
}
