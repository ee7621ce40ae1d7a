/* Strict JSON reader (src/util/json.c): values, escapes, and error positions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "util/json.h"

static json_value *ok(const char *s) {
  json_value *v = NULL;
  assert_int_equal(json_parse(s, strlen(s), &v), PTQ_OK);
  assert_non_null(v);
  return v;
}

/* Parsing fails with "line L, column C: ..." containing `what`. */
static void bad(const char *s, int line, int col, const char *what) {
  json_value *v = (json_value *)1;
  assert_int_equal(json_parse(s, strlen(s), &v), PTQ_ERR_PARSE);
  assert_null(v);
  char want[64];
  snprintf(want, sizeof want, "line %d, column %d: ", line, col);
  const char *e = ptq_last_error();
  if (!strstr(e, want) || !strstr(e, what))
    fail_msg("'%s': got '%s', want '%s%s'", s, e, want, what);
}

static void test_values(void **state) {
  (void)state;
  json_value *v =
      ok(" {\"layers\": {\"conv1\": {\"w_bits\": 4, \"float\": true, \"x\": null}},\n"
         "  \"list\": [1, -2.5e2, 0, 0.125, false, \"s\", [], {}]} ");
  assert_int_equal(v->type, JSON_OBJECT);
  assert_int_equal(v->n, 2);
  const json_value *c = json_get(json_get(v, "layers"), "conv1");
  assert_non_null(c);
  assert_int_equal(json_get(c, "w_bits")->type, JSON_NUMBER);
  assert_true(json_get(c, "w_bits")->number == 4.0);
  assert_int_equal(json_get(c, "float")->type, JSON_BOOL);
  assert_int_equal(json_get(c, "float")->boolean, 1);
  assert_int_equal(json_get(c, "x")->type, JSON_NULL);
  assert_null(json_get(c, "nope"));
  const json_value *l = json_get(v, "list");
  assert_int_equal(l->n, 8);
  assert_true(l->items[1].number == -250.0);
  assert_true(l->items[3].number == 0.125);
  assert_int_equal(l->items[4].boolean, 0);
  assert_string_equal(l->items[5].string, "s");
  assert_int_equal(l->items[6].type, JSON_ARRAY);
  assert_int_equal(l->items[6].n, 0);
  assert_int_equal(l->items[7].type, JSON_OBJECT);
  assert_int_equal(l->line, 2);
  assert_int_equal(l->col, 11);
  json_free(v);
  v = ok("-0");
  assert_int_equal(v->type, JSON_NUMBER);
  json_free(v);
}

static void test_escapes(void **state) {
  (void)state;
  json_value *v = ok("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u00e9\\u20AC\\ud83d\\ude00\"");
  assert_string_equal(v->string, "a\"b\\c/d\b\f\n\r\t\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
  json_free(v);
}

static void test_errors(void **state) {
  (void)state;
  bad("", 1, 1, "unexpected end");
  bad("[1, 2,]", 1, 7, "trailing comma");
  bad("{\"a\": 1,}", 1, 9, "trailing comma");
  bad("{\"a\": 1, \"a\": 2}", 1, 10, "duplicate");
  bad("{\n  \"a\" 1}", 2, 7, "':' expected");
  bad("[01]", 1, 2, "leading zero");
  bad("[1.]", 1, 2, "after '.'");
  bad("[.5]", 1, 2, "value expected");
  bad("[+1]", 1, 2, "value expected");
  bad("[1e]", 1, 2, "exponent");
  bad("[1e999]", 1, 2, "out of range");
  bad("[NaN]", 1, 2, "value expected");
  bad("[tru]", 1, 2, "value expected");
  bad("\"abc", 1, 1, "unterminated");
  bad("\"a\nb\"", 1, 3, "newline");
  bad("\"\\x\"", 1, 2, "invalid escape");
  bad("\"\\u12\"", 1, 2, "four hex");
  bad("\"\\ud800\"", 1, 2, "low surrogate");
  bad("\"\\udc00\"", 1, 2, "lone low");
  bad("\"\\u0000\"", 1, 2, "u0000");
  bad("{} x", 1, 4, "text after");
  bad("// c\n{}", 1, 1, "value expected");
  bad("{'a': 1}", 1, 2, "member name");
  bad("[1 2]", 1, 4, "',' or ']'");
  bad("{\"a\": [1, {\"b\": }]}", 1, 17, "value expected");
  char deep[200];
  memset(deep, '[', 70);
  deep[70] = '\0';
  bad(deep, 1, 66, "deeper than 64");
  json_value *v = (json_value *)1;
  assert_int_equal(json_parse("[1]\0", 4, &v), PTQ_ERR_PARSE);
  assert_non_null(strstr(ptq_last_error(), "NUL"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_values),
      cmocka_unit_test(test_escapes),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
