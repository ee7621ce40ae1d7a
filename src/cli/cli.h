/* ptq command-line tool: shared helpers. */
#ifndef PTQ_CLI_H
#define PTQ_CLI_H

#include <stdio.h>

#include "ptq/data.h"
#include "ptq/ptq.h"

/* Exit codes. */
enum { CLI_OK = 0, CLI_ERR = 1, CLI_USAGE = 2, CLI_UNSUPPORTED = 3 };

/* Prints "ptq: <msg>: <last error>" for a failed status and returns the exit code. */
int cli_fail(ptq_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "ptq: <cmd>: <msg>" and a hint to --help; returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Options common to commands that load a model. */
typedef struct cli_model_opts {
  const char *shapes[64];
  size_t n_shapes;
  long long batch;
  int threads;
  int no_optimize;
  int engine_ok;     /* the command takes --engine */
  ptq_engine engine; /* --engine (default AUTO) */
} cli_model_opts;

/* Consumes --shape, --batch, --threads (and --engine where engine_ok) at argv[*i] (advancing *i); returns 1 if consumed,
 * 0 if not a model option, -1 on a usage error (already reported). */
int cli_model_opt(const char *cmd, int argc, char **argv, int *i, cli_model_opts *o);
/* Loads a model with the options; prints the error. Returns exit code. With engine_ok, says
 * on stderr how a quantized model runs. */
int cli_load(const char *path, const cli_model_opts *o, ptq_model **out);

/* Strict integer parsing; returns 0 on success. */
int cli_parse_ll(const char *s, long long *out);
/* Value of an option: argv[++*i] or a usage error if missing. */
const char *cli_value(const char *cmd, int argc, char **argv, int *i);

/* Graph-output file name: every char outside [A-Za-z0-9._-] becomes '_'. Caller frees. */
char *cli_sanitize(const char *name);

int cmd_info(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_quantize(int argc, char **argv);

#endif
