#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

void *ptq_malloc(size_t n) {
  return malloc(n ? n : 1);
}

void *ptq_calloc(size_t count, size_t size) {
  if (count == 0 || size == 0) return calloc(1, 1);
  return calloc(count, size);
}

void *ptq_realloc_array(void *p, size_t count, size_t size) {
  size_t n;
  if (ptq_mul_size(count, size, &n) != 0) return NULL;
  return realloc(p, n ? n : 1);
}

char *ptq_strdup(const char *s) {
  return s ? ptq_strndup(s, strlen(s)) : NULL;
}

char *ptq_strndup(const char *s, size_t n) {
  char *r = malloc(n + 1);
  if (!r) return NULL;
  if (n) memcpy(r, s, n);
  r[n] = '\0';
  return r;
}

char *ptq_asprintf(const char *fmt, ...) {
  va_list ap, ap2;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *r = NULL;
  if (n >= 0 && (r = malloc((size_t)n + 1)) != NULL) vsnprintf(r, (size_t)n + 1, fmt, ap2);
  va_end(ap2);
  return r;
}

int ptq_mul_i64(int64_t a, int64_t b, int64_t *out) {
  if (a < 0 || b < 0) return -1;
  if (a != 0 && b > INT64_MAX / a) return -1;
  *out = a * b;
  return 0;
}

int ptq_mul_size(size_t a, size_t b, size_t *out) {
  if (a != 0 && b > SIZE_MAX / a) return -1;
  *out = a * b;
  return 0;
}

int ptq_vec_push(ptq_vec *v, void *item) {
  if (v->len == v->cap) {
    size_t cap = v->cap ? v->cap * 2 : 8;
    void **n = ptq_realloc_array(v->items, cap, sizeof *n);
    if (!n) return -1;
    v->items = n;
    v->cap = cap;
  }
  v->items[v->len++] = item;
  return 0;
}

void ptq_vec_free(ptq_vec *v) {
  free(v->items);
  v->items = NULL;
  v->len = v->cap = 0;
}

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static int strmap_grow(ptq_strmap *m) {
  size_t cap = m->cap ? m->cap * 2 : 64;
  char **keys = ptq_calloc(cap, sizeof *keys);
  int *vals = ptq_calloc(cap, sizeof *vals);
  if (!keys || !vals) {
    free(keys);
    free(vals);
    return -1;
  }
  for (size_t i = 0; i < m->cap; i++) {
    if (!m->keys[i]) continue;
    size_t j = hash_str(m->keys[i]) & (cap - 1);
    while (keys[j]) j = (j + 1) & (cap - 1);
    keys[j] = m->keys[i];
    vals[j] = m->vals[i];
  }
  free(m->keys);
  free(m->vals);
  m->keys = keys;
  m->vals = vals;
  m->cap = cap;
  return 0;
}

int ptq_strmap_put(ptq_strmap *m, const char *key, int val) {
  if ((m->len + 1) * 2 > m->cap && strmap_grow(m) != 0) return -1;
  size_t j = hash_str(key) & (m->cap - 1);
  while (m->keys[j]) {
    if (strcmp(m->keys[j], key) == 0) {
      m->vals[j] = val;
      return 0;
    }
    j = (j + 1) & (m->cap - 1);
  }
  if (!(m->keys[j] = ptq_strdup(key))) return -1;
  m->vals[j] = val;
  m->len++;
  return 0;
}

int ptq_strmap_get(const ptq_strmap *m, const char *key, int *val) {
  if (!m->cap) return 0;
  size_t j = hash_str(key) & (m->cap - 1);
  while (m->keys[j]) {
    if (strcmp(m->keys[j], key) == 0) {
      if (val) *val = m->vals[j];
      return 1;
    }
    j = (j + 1) & (m->cap - 1);
  }
  return 0;
}

void ptq_strmap_free(ptq_strmap *m) {
  for (size_t i = 0; i < m->cap; i++) free(m->keys[i]);
  free(m->keys);
  free(m->vals);
  memset(m, 0, sizeof *m);
}
