#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int cli_fail(ptq_status st, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("ptq: ", stderr);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  const char *e = ptq_last_error();
  fprintf(stderr, ": %s%s%s\n", ptq_status_string(st), e[0] ? ": " : "", e);
  return st == PTQ_ERR_UNSUPPORTED   ? CLI_UNSUPPORTED
         : st == PTQ_ERR_INVALID_ARG ? CLI_USAGE
                                     : CLI_ERR;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "ptq: %s: ", cmd);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\n(see 'ptq %s --help')\n", cmd);
  return CLI_USAGE;
}

int cli_parse_ll(const char *s, long long *out) {
  if (!s || !*s) return -1;
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (*end || errno) return -1;
  *out = v;
  return 0;
}

const char *cli_value(const char *cmd, int argc, char **argv, int *i) {
  if (*i + 1 >= argc) {
    cli_usage_error(cmd, "option %s needs a value", argv[*i]);
    return NULL;
  }
  return argv[++*i];
}

int cli_model_opt(const char *cmd, int argc, char **argv, int *i, cli_model_opts *o) {
  const char *a = argv[*i], *v;
  long long n;
  if (strcmp(a, "--shape") == 0) {
    if (!(v = cli_value(cmd, argc, argv, i))) return -1;
    if (o->n_shapes == sizeof o->shapes / sizeof *o->shapes) {
      cli_usage_error(cmd, "too many --shape options");
      return -1;
    }
    o->shapes[o->n_shapes++] = v;
    return 1;
  }
  if (strcmp(a, "--batch") == 0) {
    if (!(v = cli_value(cmd, argc, argv, i))) return -1;
    if (cli_parse_ll(v, &n) || n < 1 || n > 1000000) {
      cli_usage_error(cmd, "--batch must be a positive integer, got '%s'", v);
      return -1;
    }
    o->batch = n;
    return 1;
  }
  if (o->engine_ok && strcmp(a, "--engine") == 0) {
    if (!(v = cli_value(cmd, argc, argv, i))) return -1;
    if (strcmp(v, "int8") == 0)
      o->engine = PTQ_ENGINE_INT8;
    else if (strcmp(v, "sim") == 0)
      o->engine = PTQ_ENGINE_SIM;
    else if (strcmp(v, "float") == 0)
      o->engine = PTQ_ENGINE_FLOAT;
    else if (strcmp(v, "auto") == 0)
      o->engine = PTQ_ENGINE_AUTO;
    else {
      cli_usage_error(cmd, "--engine must be int8, sim, float or auto, got '%s'", v);
      return -1;
    }
    return 1;
  }
  if (strcmp(a, "--threads") == 0) {
    if (!(v = cli_value(cmd, argc, argv, i))) return -1;
    if (cli_parse_ll(v, &n) || n < 0 || n > 1024) {
      cli_usage_error(cmd, "--threads must be an integer >= 0 (0: all cores), got '%s'", v);
      return -1;
    }
    o->threads = (int)n;
    return 1;
  }
  return 0;
}

int cli_load(const char *path, const cli_model_opts *o, ptq_model **out) {
  ptq_load_options lo = {.shapes = o->shapes,
                         .n_shapes = o->n_shapes,
                         .batch = o->batch,
                         .no_optimize = o->no_optimize,
                         .engine = o->engine_ok ? o->engine : PTQ_ENGINE_SIM};
  ptq_set_threads(o->threads);
  ptq_status st = ptq_model_load(path, &lo, out);
  if (st != PTQ_OK) return cli_fail(st, "cannot load model");
  ptq_engine_info ei;
  if (o->engine_ok && ptq_model_engine(*out, &ei) == PTQ_OK && ei.engine == PTQ_ENGINE_INT8)
    fprintf(stderr, "engine int8: %d int8 nodes, %d float nodes, %d float/int8 conversions\n",
            ei.int8_nodes, ei.float_nodes, ei.boundary_nodes);
  return CLI_OK;
}

char *cli_sanitize(const char *name) {
  size_t n = strlen(name);
  char *s = malloc(n + 1);
  if (!s) return NULL;
  for (size_t i = 0; i < n; i++) {
    char ch = name[i];
    int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
             ch == '.' || ch == '_' || ch == '-';
    s[i] = ok ? ch : '_';
  }
  s[n] = '\0';
  if (n == 0 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0) {
    free(s);
    return strdup("_output");
  }
  return s;
}
