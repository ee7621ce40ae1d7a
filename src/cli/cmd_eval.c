#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static const char *const HELP =
    "usage: ptq eval MODEL --data DATA [--labels FILE] [--preprocess SPEC]\n"
    "                [--label-offset K] [--limit N] [--json] [--batch B] [--threads N]\n"
    "\n"
    "Top-1/top-5 accuracy of MODEL's first output on DATA: an .npy of N samples, or a folder\n"
    "of JPEG/PNG images (flat, or in class subfolders that give the labels).\n"
    "\n"
    "  --labels FILE       labels.csv (columns file, class_index) or an .npy of N integers\n"
    "  --preprocess SPEC   comma-separated steps, applied in order, e.g.\n"
    "                      crop=0.875,resize=224x224,mean=128,std=128\n"
    "                      steps: resize=S|HxW crop=S|HxW|F scale=F mean=A[:B:C] std=A[:B:C]\n"
    "                             bgr rgb gray layout=nchw|nhwc\n"
    "  --label-offset K    add K to every label (1 for 1001-way ImageNet models)\n"
    "  --limit N           evaluate the first N samples only\n"
    "  --json              print one JSON object {\"top1\", \"top5\", \"n\"} (fractions)\n"
    "  --batch B           samples per run (default: the model's batch, or 32 if dynamic)\n";

int cmd_eval(int argc, char **argv) {
  cli_model_opts mo = {0};
  const char *path = NULL, *data = NULL, *labels = NULL, *pre = NULL, *v;
  long long offset = 0, limit = 0;
  int json = 0, rc = CLI_OK;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(HELP, stdout);
      return CLI_OK;
    }
    int r = cli_model_opt("eval", argc, argv, &i, &mo);
    if (r < 0) return CLI_USAGE;
    if (r > 0) continue;
    if (strcmp(a, "--data") == 0) {
      if (!(data = cli_value("eval", argc, argv, &i))) return CLI_USAGE;
    } else if (strcmp(a, "--labels") == 0) {
      if (!(labels = cli_value("eval", argc, argv, &i))) return CLI_USAGE;
    } else if (strcmp(a, "--preprocess") == 0) {
      if (!(pre = cli_value("eval", argc, argv, &i))) return CLI_USAGE;
    } else if (strcmp(a, "--label-offset") == 0) {
      if (!(v = cli_value("eval", argc, argv, &i))) return CLI_USAGE;
      if (cli_parse_ll(v, &offset)) return cli_usage_error("eval", "--label-offset must be an integer");
    } else if (strcmp(a, "--limit") == 0) {
      if (!(v = cli_value("eval", argc, argv, &i))) return CLI_USAGE;
      if (cli_parse_ll(v, &limit) || limit < 1) return cli_usage_error("eval", "--limit must be a positive integer");
    } else if (strcmp(a, "--json") == 0) {
      json = 1;
    } else if (a[0] == '-') {
      return cli_usage_error("eval", "unknown option '%s'", a);
    } else if (path) {
      return cli_usage_error("eval", "more than one model given");
    } else {
      path = a;
    }
  }
  if (!path) return cli_usage_error("eval", "no model given");
  if (!data) return cli_usage_error("eval", "no data given (--data DATA)");
  ptq_model *m = NULL;
  ptq_session *s = NULL;
  ptq_dataset *ds = NULL;
  ptq_tensor *batch = NULL, *out[16] = {0};
  int64_t *lab = NULL;
  if ((rc = cli_load(path, &mo, &m))) return rc;
  ptq_value_info in;
  ptq_model_input(m, 0, &in);
  if (ptq_model_input_count(m) != 1 || in.dtype != PTQ_DT_FLOAT || in.rank < 2 ||
      ptq_model_output_count(m) > 16) {
    rc = cli_fail(PTQ_ERR_UNSUPPORTED, "eval needs a model with one float input of rank >= 2");
    goto done;
  }
  ptq_dataset_options dopt = {.preprocess = pre, .labels = labels, .label_offset = offset,
                              .limit = limit, .sample_rank = in.rank - 1};
  for (int d = 1; d < in.rank; d++) {
    if (in.dims[d] < 0) {
      rc = cli_fail(PTQ_ERR_SHAPE, "input '%s' has a dynamic dimension %d: give --shape", in.name, d);
      goto done;
    }
    dopt.sample_dims[d - 1] = in.dims[d];
  }
  ptq_status st = ptq_dataset_open(data, &dopt, &ds);
  if (st != PTQ_OK) {
    rc = cli_fail(st, "cannot open data '%s'", data);
    goto done;
  }
  if (!ptq_dataset_has_labels(ds)) {
    rc = cli_fail(PTQ_ERR_DATA, "'%s' has no labels: give --labels or use class subfolders", data);
    goto done;
  }
  int64_t n = ptq_dataset_count(ds), bs = in.dims[0] > 0 ? in.dims[0] : 32;
  int fixed_batch = in.dims[0] > 0;
  ptq_session_options so = {.threads = mo.threads};
  if ((st = ptq_session_create(m, &so, &s)) != PTQ_OK) {
    rc = cli_fail(st, "cannot create session");
    goto done;
  }
  int64_t dims[PTQ_MAX_RANK];
  memcpy(dims, in.dims, sizeof dims);
  dims[0] = bs;
  if ((st = ptq_tensor_create(PTQ_DT_FLOAT, in.rank, dims, &batch)) != PTQ_OK ||
      !(lab = calloc((size_t)bs, sizeof *lab))) {
    rc = cli_fail(st ? st : PTQ_ERR_NOMEM, "cannot allocate a batch of %lld", (long long)bs);
    goto done;
  }
  int64_t top1 = 0, top5 = 0, done_n = 0;
  int tty = isatty(2);
  const char *name = in.name;
  for (int64_t start = 0; start < n; start += bs) {
    int64_t cnt = n - start < bs ? n - start : bs;
    batch->dims[0] = fixed_batch ? bs : cnt;
    if (cnt < bs) memset(batch->data, 0, (size_t)ptq_tensor_numel(batch) * sizeof(float));
    int64_t keep = batch->dims[0];
    batch->dims[0] = cnt;
    st = ptq_dataset_read(ds, start, cnt, batch, lab);
    batch->dims[0] = keep;
    if (st != PTQ_OK) {
      rc = cli_fail(st, "cannot read data");
      goto done;
    }
    if ((st = ptq_session_run(s, 1, &name, (const ptq_tensor *const *)&batch, out)) != PTQ_OK) {
      rc = cli_fail(st, "run failed");
      goto done;
    }
    const ptq_tensor *y = out[0];
    int64_t classes = y->dims[0] > 0 ? ptq_tensor_numel(y) / y->dims[0] : 0;
    if (y->dtype != PTQ_DT_FLOAT || y->rank < 1 || y->dims[0] != batch->dims[0] || classes < 1) {
      rc = cli_fail(PTQ_ERR_SHAPE, "first output must be float [batch, classes]");
      goto done;
    }
    for (int64_t b = 0; b < cnt; b++) {
      const float *row = (const float *)y->data + b * classes;
      if (lab[b] < 0 || lab[b] >= classes) {
        rc = cli_fail(PTQ_ERR_DATA, "label %lld of sample %lld is outside 0..%lld", (long long)lab[b],
                      (long long)(start + b), (long long)classes - 1);
        goto done;
      }
      int64_t rank = 0; /* classes scoring strictly higher than the label (ties favour it) */
      for (int64_t k = 0; k < classes; k++) rank += row[k] > row[lab[b]];
      /* argmax with first-index tie-break, as numpy's argmax */
      int64_t am = 0;
      for (int64_t k = 1; k < classes; k++)
        if (row[k] > row[am]) am = k;
      top1 += am == lab[b];
      top5 += rank < 5;
    }
    for (size_t k = 0; k < ptq_model_output_count(m); k++) {
      ptq_tensor_destroy(out[k]);
      out[k] = NULL;
    }
    done_n += cnt;
    if (tty) fprintf(stderr, "\reval %lld/%lld", (long long)done_n, (long long)n);
  }
  if (tty) fprintf(stderr, "\n");
  double t1 = n ? (double)top1 / (double)n : 0, t5 = n ? (double)top5 / (double)n : 0;
  if (json) printf("{\"top1\": %.6f, \"top5\": %.6f, \"n\": %lld}\n", t1, t5, (long long)n);
  else printf("top-1 %.2f%%  top-5 %.2f%%  (n = %lld)\n", 100 * t1, 100 * t5, (long long)n);
done:
  for (int k = 0; k < 16; k++) ptq_tensor_destroy(out[k]);
  ptq_tensor_destroy(batch);
  free(lab);
  ptq_dataset_destroy(ds);
  ptq_session_destroy(s);
  ptq_model_destroy(m);
  return rc;
}
