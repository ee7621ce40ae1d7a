#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"

static const char *const HELP =
    "usage: ptq convert MODEL -o OUT.onnx [--no-optimize] [--shape NAME=DIMS] [--batch B]\n"
    "\n"
    "Loads MODEL, validates it, infers shapes and (unless --no-optimize) folds constants and\n"
    "removes dead, Identity and Dropout nodes, then writes OUT.onnx atomically. OUT must not be\n"
    "the input file.\n";

/* True if both paths name the same existing file. */
static int same_file(const char *a, const char *b) {
  struct stat sa, sb;
  if (stat(a, &sa) != 0 || stat(b, &sb) != 0) return 0;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int cmd_convert(int argc, char **argv) {
  cli_model_opts mo = {0};
  const char *path = NULL, *out = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(HELP, stdout);
      return CLI_OK;
    }
    int r = cli_model_opt("convert", argc, argv, &i, &mo);
    if (r < 0) return CLI_USAGE;
    if (r > 0) continue;
    if (strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) {
      if (!(out = cli_value("convert", argc, argv, &i))) return CLI_USAGE;
    } else if (strcmp(argv[i], "--no-optimize") == 0) {
      mo.no_optimize = 1;
    } else if (argv[i][0] == '-') {
      return cli_usage_error("convert", "unknown option '%s'", argv[i]);
    } else if (path) {
      return cli_usage_error("convert", "more than one model given");
    } else {
      path = argv[i];
    }
  }
  if (!path) return cli_usage_error("convert", "no model given");
  if (!out) return cli_usage_error("convert", "no output given (-o OUT.onnx)");
  if (same_file(path, out))
    return cli_usage_error("convert", "refusing to overwrite the input '%s'", path);
  ptq_model *m;
  int rc = cli_load(path, &mo, &m);
  if (rc) return rc;
  ptq_status st = ptq_model_save(m, out);
  ptq_model_destroy(m);
  if (st != PTQ_OK) return cli_fail(st, "cannot write '%s'", out);
  printf("wrote %s\n", out);
  return CLI_OK;
}
