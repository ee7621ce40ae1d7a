#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"

static const char *const HELP =
    "usage: ptq run MODEL --input NAME=FILE.npy [--input ...] --out DIR\n"
    "               [--shape NAME=DIMS] [--batch B] [--threads N] [--engine E]\n"
    "\n"
    "Runs MODEL on the given inputs and writes every graph output to\n"
    "DIR/<output name>.npy (characters outside [A-Za-z0-9._-] become '_'; a name that then\n"
    "clashes with an earlier output gets _<output index> appended); prints each path.\n"
    "The input shapes must match the model's (after --shape/--batch).\n"
    "  --engine E          how a quantized model runs: int8 (the int8 runtime; default for a\n"
    "                      model with quantized activations), sim (Q/DQ in float32, as\n"
    "                      onnxruntime's QDQ reference), float (Q/DQ removed)\n";

int cmd_run(int argc, char **argv) {
  cli_model_opts mo = {.engine_ok = 1};
  const char *path = NULL, *outdir = NULL;
  const char *specs[64];
  int n_specs = 0, rc = CLI_OK;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(HELP, stdout);
      return CLI_OK;
    }
    int r = cli_model_opt("run", argc, argv, &i, &mo);
    if (r < 0) return CLI_USAGE;
    if (r > 0) continue;
    if (strcmp(argv[i], "--input") == 0 || strcmp(argv[i], "-i") == 0) {
      const char *v = cli_value("run", argc, argv, &i);
      if (!v) return CLI_USAGE;
      if (!strchr(v, '='))
        return cli_usage_error("run", "--input must be NAME=FILE.npy, got '%s'", v);
      if (n_specs == 64) return cli_usage_error("run", "too many inputs");
      specs[n_specs++] = v;
    } else if (strcmp(argv[i], "--out") == 0 || strcmp(argv[i], "-o") == 0) {
      if (!(outdir = cli_value("run", argc, argv, &i))) return CLI_USAGE;
    } else if (argv[i][0] == '-') {
      return cli_usage_error("run", "unknown option '%s'", argv[i]);
    } else if (path) {
      return cli_usage_error("run", "more than one model given");
    } else {
      path = argv[i];
    }
  }
  if (!path) return cli_usage_error("run", "no model given");
  if (!outdir) return cli_usage_error("run", "no output directory given (--out DIR)");
  ptq_model *m = NULL;
  ptq_session *s = NULL;
  ptq_tensor *in[64] = {0}, **outs = NULL;
  char *names[64] = {0};
  if ((rc = cli_load(path, &mo, &m))) return rc;
  for (int k = 0; k < n_specs; k++) {
    const char *eq = strrchr(specs[k], '=');
    names[k] = strndup(specs[k], (size_t)(eq - specs[k]));
    ptq_status st = ptq_npy_load(eq + 1, &in[k]);
    if (st != PTQ_OK) {
      rc = cli_fail(st, "cannot read input '%s'", names[k]);
      goto done;
    }
  }
  ptq_session_options so = {.threads = mo.threads};
  ptq_status st = ptq_session_create(m, &so, &s);
  if (st != PTQ_OK) {
    rc = cli_fail(st, "cannot create session");
    goto done;
  }
  size_t n_out = ptq_model_output_count(m);
  outs = calloc(n_out ? n_out : 1, sizeof *outs);
  if (!outs) {
    rc = cli_fail(PTQ_ERR_NOMEM, "out of memory");
    goto done;
  }
  st = ptq_session_run(s, (size_t)n_specs, (const char *const *)names,
                       (const ptq_tensor *const *)in, outs);
  if (st != PTQ_OK) {
    rc = cli_fail(st, "run failed");
    goto done;
  }
  if (mkdir(outdir, 0777) != 0 && errno != EEXIST) {
    fprintf(stderr, "ptq: cannot create directory '%s': %s\n", outdir, strerror(errno));
    rc = CLI_ERR;
    goto done;
  }
  for (size_t k = 0; k < n_out; k++) {
    ptq_value_info vi;
    ptq_model_output(m, k, &vi);
    char *san = cli_sanitize(vi.name);
    char *file = san ? malloc(strlen(outdir) + strlen(san) + 32) : NULL;
    if (!file) {
      free(san);
      rc = cli_fail(PTQ_ERR_NOMEM, "out of memory");
      goto done;
    }
    /* Two names that sanitize alike (e.g. "a:0" and "a/0") get the output index appended. */
    int clash = 0;
    for (size_t j = 0; j < k; j++) {
      ptq_value_info vj;
      ptq_model_output(m, j, &vj);
      char *sj = cli_sanitize(vj.name);
      clash |= sj && strcmp(sj, san) == 0;
      free(sj);
    }
    if (clash)
      sprintf(file, "%s/%s_%zu.npy", outdir, san, k);
    else
      sprintf(file, "%s/%s.npy", outdir, san);
    st = ptq_npy_save(file, outs[k]);
    if (st != PTQ_OK)
      rc = cli_fail(st, "cannot write '%s'", file);
    else
      printf("%s -> %s\n", vi.name, file);
    free(san);
    free(file);
    if (rc) goto done;
  }
done:
  for (int k = 0; k < n_specs; k++) {
    free(names[k]);
    ptq_tensor_destroy(in[k]);
  }
  if (outs)
    for (size_t k = 0; k < ptq_model_output_count(m); k++) ptq_tensor_destroy(outs[k]);
  free(outs);
  ptq_session_destroy(s);
  ptq_model_destroy(m);
  return rc;
}
