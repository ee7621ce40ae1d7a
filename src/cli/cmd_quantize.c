#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "ptq/quant.h"

static const char *const HELP =
    "usage: ptq quantize MODEL -o OUT.onnx --calib DATA [--preprocess SPEC] [--calib-size N]\n"
    "                    [--seed S] [--profile P] [--w-bits N] [--a-bits N] [--method M]\n"
    "                    [--per-tensor] [--cle|--no-cle] [--exclude NODE,...]\n"
    "                    [--config FILE.json]\n"
    "                    [--threads N] [--shape NAME=DIMS] [--batch B]\n"
    "\n"
    "Post-training quantization for a backend profile (default 'ort': int8 weights symmetric\n"
    "per channel, int8 activations asymmetric per tensor, int32 biases). Writes a QDQ ONNX\n"
    "model (opset >= 13; 21 with activations above 8 bits) and OUT.encodings.json beside it.\n"
    "Profiles: docs/profiles.md.\n"
    "\n"
    "  --calib DATA        .npy of samples or a folder of JPEG/PNG images\n"
    "  --preprocess SPEC   as for 'ptq eval' (e.g. crop=0.875,resize=224x224,mean=128,std=128)\n"
    "  --calib-size N      samples drawn from DATA (default 100)\n"
    "  --seed S            seed of the draw (default 0)\n"
    "  --method M          activation calibration: minmax (default), ema, percentile, mse, kl;\n"
    "                      mse also picks the weight ranges\n"
    "  --profile P         ort (default), tensorrt, tflite, snpe, vitis, academic\n"
    "  --w-bits N          weight bits (default 8; 2..8 where the profile allows; codes stay\n"
    "                      in int8/uint8 within the N-bit range)\n"
    "  --a-bits N          activation bits (default 8; 2..16 where the profile allows: below 8\n"
    "                      int8/uint8 Q/DQ behind a Clip to the N-bit range, above 8 int16/\n"
    "                      uint16 Q/DQ at opset 21)\n"
    "  --per-tensor        per-tensor weights\n"
    "  --cle, --no-cle     cross-layer equalization of Conv/Gemm pairs (through Relu or\n"
    "                      ReLU6) before calibration, its scales bounded so that the float\n"
    "                      model is unchanged on the calibration data; default: on with\n"
    "                      per-tensor weights, off per channel (config key \"cle\")\n"
    "  --exclude N1,N2     node names kept in float\n"
    "  --config FILE.json  per-layer overrides: {\"default\": {...}, \"layers\": {\"NODE\":\n"
    "                      {\"w_bits\": 4, \"a_bits\": 4, \"per_channel\": false,\n"
    "                      \"method\": \"mse\", \"float\": true}}}\n"
    "  academic profile only:\n"
    "  --w-asym            asymmetric weights      --a-sym       symmetric activations\n"
    "  --a-unsigned        uint8 activations       --pow2        power-of-two scales\n"
    "  --no-keep-ends      lower bits also for the first and last layer\n"
    "  --float-add         Add of two activations stays float\n"
    "  --batch B           calibration batch (default 8, or the model's fixed batch)\n"
    "  --shape NAME=DIMS   input shape for calibration (dynamic inputs)\n";

static void progress(void *user, const char *stage, int64_t done, int64_t total) {
  (void)user;
  fprintf(stderr, "\r%s %lld/%lld", stage, (long long)done, (long long)total);
  if (done >= total) fputc('\n', stderr);
}

int cmd_quantize(int argc, char **argv) {
  cli_model_opts mo = {0};
  ptq_quant_options qo = ptq_quant_options_default();
  const char *path = NULL, *outp = NULL, *calib = NULL, *v;
  char *excl = NULL;
  const char *ex[256];
  size_t n_ex = 0;
  long long n;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(HELP, stdout);
      return CLI_OK;
    }
    int r = cli_model_opt("quantize", argc, argv, &i, &mo);
    if (r < 0) return CLI_USAGE;
    if (r > 0) continue;
    if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
      if (!(outp = cli_value("quantize", argc, argv, &i))) return CLI_USAGE;
    } else if (strcmp(a, "--calib") == 0) {
      if (!(calib = cli_value("quantize", argc, argv, &i))) return CLI_USAGE;
    } else if (strcmp(a, "--preprocess") == 0) {
      if (!(qo.preprocess = cli_value("quantize", argc, argv, &i))) return CLI_USAGE;
    } else if (strcmp(a, "--calib-size") == 0) {
      if (!(v = cli_value("quantize", argc, argv, &i))) return CLI_USAGE;
      if (cli_parse_ll(v, &n) || n < 1)
        return cli_usage_error("quantize", "--calib-size must be a positive integer");
      qo.calib_size = n;
    } else if (strcmp(a, "--seed") == 0) {
      if (!(v = cli_value("quantize", argc, argv, &i))) return CLI_USAGE;
      if (cli_parse_ll(v, &n) || n < 0)
        return cli_usage_error("quantize", "--seed must be a non-negative integer");
      qo.seed = (uint64_t)n;
    } else if (strcmp(a, "--method") == 0) {
      if (!(v = cli_value("quantize", argc, argv, &i))) return CLI_USAGE;
      if (ptq_qmethod_parse(v, &qo.method) != PTQ_OK)
        return cli_usage_error("quantize", "%s", ptq_last_error());
    } else if (strcmp(a, "--per-tensor") == 0) {
      qo.per_tensor = 1;
    } else if (strcmp(a, "--cle") == 0 || strcmp(a, "--no-cle") == 0) {
      qo.cle = a[2] == 'c' ? PTQ_QON : PTQ_QOFF;
    } else if (strcmp(a, "--profile") == 0) {
      if (!(v = cli_value("quantize", argc, argv, &i))) goto usage;
      int found = 0;
      for (const char *const *p = ptq_qprofile_names(); *p; p++) found |= strcmp(*p, v) == 0;
      if (!found) {
        char list[256] = "";
        for (const char *const *p = ptq_qprofile_names(); *p; p++)
          snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
                   p == ptq_qprofile_names() ? "" : ", ", *p);
        free(excl);
        return cli_usage_error("quantize", "unknown profile '%s' (profiles: %s)", v, list);
      }
      qo.profile = v;
    } else if (strcmp(a, "--w-bits") == 0 || strcmp(a, "--a-bits") == 0) {
      if (!(v = cli_value("quantize", argc, argv, &i))) goto usage;
      if (cli_parse_ll(v, &n) || n < 2 || n > 16) {
        free(excl);
        return cli_usage_error("quantize", "%s must be an integer in 2..16, got '%s'", a, v);
      }
      *(a[2] == 'w' ? &qo.w_bits : &qo.a_bits) = (int)n;
    } else if (strcmp(a, "--config") == 0) {
      if (!(qo.config = cli_value("quantize", argc, argv, &i))) goto usage;
    } else if (strcmp(a, "--w-asym") == 0) {
      qo.w_symmetric = PTQ_QOFF;
    } else if (strcmp(a, "--a-sym") == 0) {
      qo.a_symmetric = PTQ_QON;
    } else if (strcmp(a, "--a-unsigned") == 0) {
      qo.a_signed = PTQ_QOFF;
    } else if (strcmp(a, "--pow2") == 0) {
      qo.pow2_scale = PTQ_QON;
    } else if (strcmp(a, "--no-keep-ends") == 0) {
      qo.keep_ends_8bit = PTQ_QOFF;
    } else if (strcmp(a, "--float-add") == 0) {
      qo.quant_add = PTQ_QOFF;
    } else if (strcmp(a, "--exclude") == 0) {
      if (!(v = cli_value("quantize", argc, argv, &i))) return CLI_USAGE;
      free(excl);
      if (!(excl = strdup(v))) return cli_fail(PTQ_ERR_NOMEM, "out of memory");
      n_ex = 0;
      for (char *s = excl, *tok; (tok = strtok(s, ",")); s = NULL)
        if (n_ex < sizeof ex / sizeof *ex) ex[n_ex++] = tok;
    } else if (a[0] == '-') {
      free(excl);
      return cli_usage_error("quantize", "unknown option '%s'", a);
    } else if (path) {
      free(excl);
      return cli_usage_error("quantize", "more than one model given");
    } else {
      path = a;
    }
  }
  int rc = CLI_OK;
  if (!path)
    rc = cli_usage_error("quantize", "no model given");
  else if (!outp)
    rc = cli_usage_error("quantize", "no output given (-o OUT.onnx)");
  else if (!calib)
    rc = cli_usage_error("quantize", "no calibration data given (--calib DATA)");
  if (rc) {
    free(excl);
    return rc;
  }
  qo.exclude = ex;
  qo.n_exclude = n_ex;
  qo.batch = mo.batch;
  qo.shapes = mo.shapes;
  qo.n_shapes = mo.n_shapes;
  qo.threads = mo.threads;
  if (isatty(2)) qo.progress = progress;
  ptq_qmodel *q = NULL;
  ptq_status st = ptq_qmodel_create(path, calib, &qo, &q);
  if (st != PTQ_OK) {
    rc = cli_fail(st, "cannot quantize '%s'", path);
  } else if ((st = ptq_qmodel_save(q, outp)) != PTQ_OK) {
    rc = cli_fail(st, "cannot save '%s'", outp);
  } else {
    char *s = ptq_qmodel_summary(q), *j = ptq_qmodel_encodings_path(outp);
    if (s) fputs(s, stdout);
    printf("wrote %s and %s\n", outp, j ? j : "");
    free(s);
    free(j);
  }
  ptq_qmodel_destroy(q);
  free(excl);
  return rc;
usage:
  free(excl);
  return CLI_USAGE;
}
