/* Internal utilities shared by every layer: errors, checked allocation, strings, maps. */
#ifndef PTQ_UTIL_H
#define PTQ_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "ptq/ptq.h"

#if defined(__GNUC__)
#define PTQ_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define PTQ_PRINTF(a, b)
#endif

/* Records a formatted message as the thread's last error and returns status. */
ptq_status ptq_error(ptq_status status, const char *fmt, ...) PTQ_PRINTF(2, 3);
/* Prefixes the current last error with a formatted context ("node 'x' (Conv): ") and
 * returns status unchanged. */
ptq_status ptq_error_prefix(ptq_status status, const char *fmt, ...) PTQ_PRINTF(2, 3);
void ptq_error_clear(void);

/* Evaluates a ptq_status expression; returns it from the enclosing function on failure. */
#define PTQ_TRY(expr)                            \
  do {                                           \
    ptq_status ptq_try_s_ = (expr);              \
    if (ptq_try_s_ != PTQ_OK) return ptq_try_s_; \
  } while (0)

/* Allocation helpers: return NULL on failure or size overflow (and set no error). */
void *ptq_malloc(size_t n);
void *ptq_calloc(size_t count, size_t size);
void *ptq_realloc_array(void *p, size_t count, size_t size);
char *ptq_strdup(const char *s);
char *ptq_strndup(const char *s, size_t n);
/* malloc'ed printf. NULL on failure. */
char *ptq_asprintf(const char *fmt, ...) PTQ_PRINTF(1, 2);

/* a*b with overflow check: returns 0 and stores the product, or -1 on overflow/negative. */
int ptq_mul_i64(int64_t a, int64_t b, int64_t *out);
int ptq_mul_size(size_t a, size_t b, size_t *out);

/* Growable array of void* with geometric growth. */
typedef struct ptq_vec {
  void **items;
  size_t len, cap;
} ptq_vec;
int ptq_vec_push(ptq_vec *v, void *item); /* 0 ok, -1 on allocation failure */
void ptq_vec_free(ptq_vec *v);

/* Open-addressing string -> int map (keys are copied). */
typedef struct ptq_strmap {
  char **keys;
  int *vals;
  size_t cap, len;
} ptq_strmap;
int ptq_strmap_put(ptq_strmap *m, const char *key, int val);        /* 0 ok, -1 alloc failure */
int ptq_strmap_get(const ptq_strmap *m, const char *key, int *val); /* 1 found, 0 not */
void ptq_strmap_free(ptq_strmap *m);

/* Reads a whole file. Caller frees *buf. */
ptq_status ptq_file_read(const char *path, void **buf, size_t *len);
/* Writes path atomically: data goes to a temporary file beside it, then rename. */
ptq_status ptq_file_write_atomic(const char *path, const void *buf, size_t len);

/* Number of threads for kernels (set by ptq_set_threads; >= 1). */
int ptq_threads(void);

/* Float16 <-> float32 conversion (IEEE 754 half, round to nearest even). */
float ptq_f16_to_f32(uint16_t h);
uint16_t ptq_f32_to_f16(float f);

#endif
