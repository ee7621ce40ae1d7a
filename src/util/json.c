/* Strict JSON reader (json.h). Recursive descent over a byte buffer; nesting is bounded, so
 * the recursion depth is too. */
#define _POSIX_C_SOURCE 200809L
#include "util/json.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

enum { JSON_MAX_DEPTH = 64 };

typedef struct jp {
  const char *s;
  size_t len, pos;
  int line;
  size_t line_start; /* offset of the current line's first byte */
} jp;

static int col_of(const jp *p, size_t pos) {
  return (int)(pos - p->line_start) + 1;
}

static ptq_status fail_at(const jp *p, size_t pos, const char *what) {
  return ptq_error(PTQ_ERR_PARSE, "line %d, column %d: %s", p->line, col_of(p, pos), what);
}

static void skip_ws(jp *p) {
  while (p->pos < p->len) {
    const char c = p->s[p->pos];
    if (c == '\n') {
      p->line++;
      p->line_start = p->pos + 1;
    } else if (c != ' ' && c != '\t' && c != '\r') {
      return;
    }
    p->pos++;
  }
}

static int peek(const jp *p) {
  return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

static int hex4(const jp *p, size_t at, unsigned *out) {
  unsigned v = 0;
  for (size_t i = 0; i < 4; i++) {
    if (at + i >= p->len) return -1;
    const char c = p->s[at + i];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f')
      v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      v |= (unsigned)(c - 'A' + 10);
    else
      return -1;
  }
  *out = v;
  return 0;
}

static size_t put_utf8(char *d, unsigned cp) {
  if (cp < 0x80) {
    d[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    d[0] = (char)(0xC0 | (cp >> 6));
    d[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    d[0] = (char)(0xE0 | (cp >> 12));
    d[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    d[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  d[0] = (char)(0xF0 | (cp >> 18));
  d[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  d[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  d[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* A string at p->pos (the opening quote). The decoded text is never longer than the source. */
static ptq_status parse_string(jp *p, char **out) {
  const size_t start = p->pos++;
  size_t end = p->pos;
  while (end < p->len && p->s[end] != '"') end += p->s[end] == '\\' ? 2 : 1;
  if (end >= p->len) return fail_at(p, start, "unterminated string");
  char *d = ptq_malloc(end - p->pos + 1);
  if (!d) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  size_t k = 0;
  ptq_status st = PTQ_OK;
  while (p->pos < end) {
    const unsigned char c = (unsigned char)p->s[p->pos];
    if (c < 0x20) {
      st = fail_at(p, p->pos, c == '\n' ? "newline in a string" : "control character in a string");
      goto fail;
    }
    if (c != '\\') {
      d[k++] = (char)c;
      p->pos++;
      continue;
    }
    const size_t esc = p->pos;
    const char e = p->s[p->pos + 1];
    p->pos += 2;
    switch (e) {
      case '"': d[k++] = '"'; break;
      case '\\': d[k++] = '\\'; break;
      case '/': d[k++] = '/'; break;
      case 'b': d[k++] = '\b'; break;
      case 'f': d[k++] = '\f'; break;
      case 'n': d[k++] = '\n'; break;
      case 'r': d[k++] = '\r'; break;
      case 't': d[k++] = '\t'; break;
      case 'u': {
        unsigned cp, lo;
        if (hex4(p, p->pos, &cp)) {
          st = fail_at(p, esc, "\\u needs four hex digits");
          goto fail;
        }
        p->pos += 4;
        if (cp >= 0xDC00 && cp <= 0xDFFF) {
          st = fail_at(p, esc, "lone low surrogate in \\u escape");
          goto fail;
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          if (p->pos + 1 >= end || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u' ||
              hex4(p, p->pos + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
            st = fail_at(p, esc, "high surrogate not followed by a low surrogate");
            goto fail;
          }
          p->pos += 6;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        if (cp == 0) {
          st = fail_at(p, esc, "\\u0000 is not allowed");
          goto fail;
        }
        k += put_utf8(d + k, cp); /* 6 or 12 source bytes give at most 4 */
        break;
      }
      default: st = fail_at(p, esc, "invalid escape"); goto fail;
    }
  }
  d[k] = '\0';
  p->pos = end + 1;
  *out = d;
  return PTQ_OK;
fail:
  free(d);
  return st;
}

static int is_digit(int c) {
  return c >= '0' && c <= '9';
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static ptq_status parse_number(jp *p, double *out) {
  const size_t start = p->pos;
  size_t i = p->pos;
  if (i < p->len && p->s[i] == '-') i++;
  if (i >= p->len || !is_digit((unsigned char)p->s[i])) return fail_at(p, start, "invalid number");
  if (p->s[i] == '0') {
    i++;
    if (i < p->len && is_digit((unsigned char)p->s[i]))
      return fail_at(p, start, "leading zero in a number");
  } else {
    while (i < p->len && is_digit((unsigned char)p->s[i])) i++;
  }
  if (i < p->len && p->s[i] == '.') {
    i++;
    if (i >= p->len || !is_digit((unsigned char)p->s[i]))
      return fail_at(p, start, "digit expected after '.'");
    while (i < p->len && is_digit((unsigned char)p->s[i])) i++;
  }
  if (i < p->len && (p->s[i] == 'e' || p->s[i] == 'E')) {
    i++;
    if (i < p->len && (p->s[i] == '+' || p->s[i] == '-')) i++;
    if (i >= p->len || !is_digit((unsigned char)p->s[i]))
      return fail_at(p, start, "digit expected in the exponent");
    while (i < p->len && is_digit((unsigned char)p->s[i])) i++;
  }
  char buf[64];
  if (i - start >= sizeof buf) return fail_at(p, start, "number too long");
  memcpy(buf, p->s + start, i - start);
  buf[i - start] = '\0';
  errno = 0;
  const double v = strtod(buf, NULL);
  if (errno == ERANGE && (v > 1.0 || v < -1.0)) return fail_at(p, start, "number out of range");
  *out = v;
  p->pos = i;
  return PTQ_OK;
}

static ptq_status parse_value(jp *p, json_value *v, int depth);
static void free_contents(json_value *v);

static ptq_status push(json_value *v, size_t *cap) {
  if (v->n < *cap) return PTQ_OK;
  const size_t nc = *cap ? 2 * *cap : 4;
  json_value *it = ptq_realloc_array(v->items, nc, sizeof *it);
  if (!it) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  v->items = it;
  if (v->type == JSON_OBJECT) {
    char **k = ptq_realloc_array(v->keys, nc, sizeof *k);
    if (!k) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
    v->keys = k;
  }
  *cap = nc;
  return PTQ_OK;
}

/* Array or object; v->type set, p->pos at the opening bracket. On failure v holds its v->n
 * complete members, released by the caller (free_contents). */
static ptq_status parse_container(jp *p, json_value *v, int depth) {
  const int obj = v->type == JSON_OBJECT;
  const char close = obj ? '}' : ']';
  size_t cap = 0;
  p->pos++;
  skip_ws(p);
  if (peek(p) == close) {
    p->pos++;
    return PTQ_OK;
  }
  for (;;) {
    skip_ws(p);
    PTQ_TRY(push(v, &cap));
    char *key = NULL;
    if (obj) {
      if (peek(p) != '"')
        return fail_at(p, p->pos, peek(p) == '}' ? "trailing comma" : "member name expected");
      const size_t kpos = p->pos;
      PTQ_TRY(parse_string(p, &key));
      for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->keys[i], key) == 0) {
          free(key);
          return fail_at(p, kpos, "duplicate member name");
        }
      skip_ws(p);
      if (peek(p) != ':') {
        free(key);
        return fail_at(p, p->pos, "':' expected");
      }
      p->pos++;
      skip_ws(p);
    } else if (peek(p) == ']') {
      return fail_at(p, p->pos, "trailing comma");
    }
    json_value *it = &v->items[v->n];
    memset(it, 0, sizeof *it);
    ptq_status st = parse_value(p, it, depth + 1);
    if (st != PTQ_OK) {
      free_contents(it);
      free(key);
      return st;
    }
    if (obj) v->keys[v->n] = key;
    v->n++;
    skip_ws(p);
    const int c = peek(p);
    if (c == close) {
      p->pos++;
      return PTQ_OK;
    }
    if (c != ',')
      return fail_at(p, p->pos,
                     c < 0 ? "unexpected end of input"
                     : obj ? "',' or '}' expected"
                           : "',' or ']' expected");
    p->pos++;
  }
}

static int literal(jp *p, const char *word) {
  const size_t n = strlen(word);
  if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0) return 0;
  p->pos += n;
  return 1;
}

static ptq_status parse_value(jp *p, json_value *v, int depth) {
  skip_ws(p);
  v->line = p->line;
  v->col = col_of(p, p->pos);
  if (depth > JSON_MAX_DEPTH) return fail_at(p, p->pos, "nesting deeper than 64");
  const int c = peek(p);
  switch (c) {
    case -1: return fail_at(p, p->pos, "unexpected end of input");
    case '{': v->type = JSON_OBJECT; return parse_container(p, v, depth);
    case '[': v->type = JSON_ARRAY; return parse_container(p, v, depth);
    case '"': v->type = JSON_STRING; return parse_string(p, &v->string);
    default: break;
  }
  if (c == '-' || is_digit(c)) {
    v->type = JSON_NUMBER;
    return parse_number(p, &v->number);
  }
  if (literal(p, "true") || literal(p, "false")) {
    v->type = JSON_BOOL;
    v->boolean = c == 't';
    return PTQ_OK;
  }
  if (literal(p, "null")) {
    v->type = JSON_NULL;
    return PTQ_OK;
  }
  return fail_at(p, p->pos, "value expected");
}

/* Releases a value's contents (not the value itself). */
static void free_contents(json_value *v) {
  for (size_t i = 0; i < v->n; i++) {
    free_contents(&v->items[i]);
    if (v->keys) free(v->keys[i]);
  }
  free(v->items);
  free(v->keys);
  free(v->string);
}

void json_free(json_value *v) {
  if (!v) return;
  free_contents(v);
  free(v);
}

ptq_status json_parse(const char *text, size_t len, json_value **out) {
  if (!text || !out) return ptq_error(PTQ_ERR_INVALID_ARG, "NULL argument");
  *out = NULL;
  jp p = {.s = text, .len = len, .line = 1};
  if (memchr(text, '\0', len)) {
    const size_t at = (size_t)((const char *)memchr(text, '\0', len) - text);
    for (size_t i = 0; i < at; i++)
      if (text[i] == '\n') {
        p.line++;
        p.line_start = i + 1;
      }
    return fail_at(&p, at, "NUL byte in the input");
  }
  json_value *v = ptq_calloc(1, sizeof *v);
  if (!v) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  ptq_status st = parse_value(&p, v, 0);
  if (st == PTQ_OK) {
    skip_ws(&p);
    if (p.pos < p.len) st = fail_at(&p, p.pos, "text after the JSON value");
  }
  if (st != PTQ_OK) {
    json_free(v);
    return st;
  }
  *out = v;
  return PTQ_OK;
}

const json_value *json_get(const json_value *obj, const char *key) {
  if (!obj || obj->type != JSON_OBJECT) return NULL;
  for (size_t i = 0; i < obj->n; i++)
    if (strcmp(obj->keys[i], key) == 0) return &obj->items[i];
  return NULL;
}

const char *json_type_name(json_type t) {
  static const char *const names[] = {"null", "boolean", "number", "string", "array", "object"};
  return (unsigned)t < 6 ? names[t] : "?";
}
