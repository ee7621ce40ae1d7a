/* Small strict JSON (RFC 8259) reader for configuration files.
 *
 * Accepts exactly RFC 8259: one value (objects, arrays, strings with every escape including
 * surrogate pairs, numbers, true/false/null) surrounded by optional whitespace. Rejected, with
 * PTQ_ERR_PARSE and "line L, column C: ..." (1-based, columns count bytes): trailing commas,
 * comments, single quotes, leading zeros, "+1", ".5", "1.", NaN/Infinity, control characters
 * and invalid UTF-8 escapes (lone surrogates) in strings, duplicate object keys, nesting deeper
 * than 64, embedded NUL bytes, trailing text. Numbers are parsed with strtod in the "C" format
 * (out of range → error). Strings are NUL-terminated UTF-8 (a "\u0000" escape → error, since a
 * C string cannot hold it). */
#ifndef PTQ_UTIL_JSON_H
#define PTQ_UTIL_JSON_H

#include <stddef.h>

#include "ptq/ptq.h"

typedef enum json_type {
  JSON_NULL = 0,
  JSON_BOOL,
  JSON_NUMBER,
  JSON_STRING,
  JSON_ARRAY,
  JSON_OBJECT
} json_type;

typedef struct json_value {
  json_type type;
  int line, col;            /* where the value starts */
  int boolean;              /* JSON_BOOL */
  double number;            /* JSON_NUMBER */
  char *string;             /* JSON_STRING */
  size_t n;                 /* JSON_ARRAY / JSON_OBJECT: element count */
  struct json_value *items; /* elements, or the members' values in file order */
  char **keys;              /* JSON_OBJECT: member names, parallel to items */
} json_value;

/* Parses text[0..len). Caller frees *out with json_free. */
ptq_status json_parse(const char *text, size_t len, json_value **out);
void json_free(json_value *v);

/* Member of an object by name, or NULL (also when obj is not an object). */
const json_value *json_get(const json_value *obj, const char *key);
/* "object", "array", ... */
const char *json_type_name(json_type t);

#endif
