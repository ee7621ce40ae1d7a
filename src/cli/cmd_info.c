#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char *const HELP =
    "usage: ptq info MODEL [--shape NAME=DIMS] [--batch B]\n"
    "\n"
    "Loads and validates MODEL, then prints its inputs and outputs (after shape inference),\n"
    "parameter count, default-domain opset and a histogram of the operators left after\n"
    "constant folding.\n"
    "\n"
    "  --shape NAME=1x3x640x640   set the shape of an input with dynamic dimensions\n"
    "  --batch B                  set the first dimension of every input\n";

int cmd_info(int argc, char **argv) {
  cli_model_opts mo = {0};
  const char *path = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(HELP, stdout);
      return CLI_OK;
    }
    int r = cli_model_opt("info", argc, argv, &i, &mo);
    if (r < 0) return CLI_USAGE;
    if (r > 0) continue;
    if (argv[i][0] == '-') return cli_usage_error("info", "unknown option '%s'", argv[i]);
    if (path) return cli_usage_error("info", "more than one model given");
    path = argv[i];
  }
  if (!path) return cli_usage_error("info", "no model given");
  ptq_model *m;
  int rc = cli_load(path, &mo, &m);
  if (rc) return rc;
  char *s = ptq_model_summary(m);
  ptq_model_destroy(m);
  if (!s) return cli_fail(PTQ_ERR_NOMEM, "cannot summarise model");
  printf("model: %s\n%s", path, s);
  free(s);
  return CLI_OK;
}
