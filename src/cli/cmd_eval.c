#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <math.h>

#include "cli/cli.h"

/* Fidelity of a model's first output against a reference model's, accumulated over samples:
 *   SQNR = 10 log10(sum ref^2 / sum (ref - y)^2) over every element of every sample (double);
 *          +inf when the outputs are identical (noise 0), -inf for an all-zero reference;
 *   cosine: mean over samples of <ref, y> / (|ref| |y|); 1 when both are zero, 0 when only one;
 *   top-1 agreement: fraction of samples whose argmax (first index on ties) is equal. */
typedef struct fidelity {
  double sig, noise, cos_sum;
  int64_t agree, n;
} fidelity;

static int64_t argmax(const float *row, int64_t k) {
  int64_t am = 0;
  for (int64_t i = 1; i < k; i++)
    if (row[i] > row[am]) am = i;
  return am;
}

static void fidelity_add(fidelity *f, const float *ref, const float *y, int64_t k) {
  double dot = 0, rr = 0, yy = 0;
  for (int64_t i = 0; i < k; i++) {
    const double r = ref[i], q = y[i], d = r - q;
    f->sig += r * r;
    f->noise += d * d;
    dot += r * q;
    rr += r * r;
    yy += q * q;
  }
  f->cos_sum += rr == 0 && yy == 0 ? 1.0 : rr == 0 || yy == 0 ? 0.0 : dot / (sqrt(rr) * sqrt(yy));
  f->agree += argmax(ref, k) == argmax(y, k);
  f->n++;
}

static double fidelity_sqnr(const fidelity *f) {
  if (f->noise == 0) return INFINITY;
  if (f->sig == 0) return -INFINITY;
  return 10.0 * log10(f->sig / f->noise);
}

static const char *const HELP =
    "usage: ptq eval MODEL --data DATA [--labels FILE] [--preprocess SPEC] [--ref FLOAT.onnx]\n"
    "                [--label-offset K] [--limit N] [--json] [--batch B] [--threads N]\n"
    "                [--engine int8|sim|float]\n"
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
    "  --ref FLOAT.onnx    also run this reference model and report the fidelity of MODEL's\n"
    "                      first output: SQNR (dB, over all samples; inf when identical),\n"
    "                      mean cosine similarity and top-1 agreement (labels then optional)\n"
    "  --json              print one JSON object {\"top1\", \"top5\", \"n\"} (fractions), with\n"
    "                      --ref also \"sqnr_db\" (null when infinite), \"cosine\",\n"
    "                      \"top1_agreement\"\n"
    "  --batch B           samples per run (default: the model's batch, or 32 if dynamic)\n"
    "  --engine E          how a quantized model runs: int8 (the int8 runtime; default for a\n"
    "                      model with quantized activations), sim (Q/DQ in float32, as\n"
    "                      onnxruntime's QDQ reference), float (Q/DQ removed)\n";

int cmd_eval(int argc, char **argv) {
  cli_model_opts mo = {.engine_ok = 1};
  const char *path = NULL, *data = NULL, *labels = NULL, *pre = NULL, *refp = NULL, *v;
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
    } else if (strcmp(a, "--ref") == 0) {
      if (!(refp = cli_value("eval", argc, argv, &i))) return CLI_USAGE;
    } else if (strcmp(a, "--labels") == 0) {
      if (!(labels = cli_value("eval", argc, argv, &i))) return CLI_USAGE;
    } else if (strcmp(a, "--preprocess") == 0) {
      if (!(pre = cli_value("eval", argc, argv, &i))) return CLI_USAGE;
    } else if (strcmp(a, "--label-offset") == 0) {
      if (!(v = cli_value("eval", argc, argv, &i))) return CLI_USAGE;
      if (cli_parse_ll(v, &offset))
        return cli_usage_error("eval", "--label-offset must be an integer");
    } else if (strcmp(a, "--limit") == 0) {
      if (!(v = cli_value("eval", argc, argv, &i))) return CLI_USAGE;
      if (cli_parse_ll(v, &limit) || limit < 1)
        return cli_usage_error("eval", "--limit must be a positive integer");
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
  ptq_model *m = NULL, *rm = NULL;
  ptq_session *s = NULL, *rs = NULL;
  ptq_dataset *ds = NULL;
  ptq_tensor *batch = NULL, *out[16] = {0}, *rout[16] = {0};
  int64_t *lab = NULL;
  fidelity fid = {0};
  if ((rc = cli_load(path, &mo, &m))) return rc;
  if (refp) {
    cli_model_opts ro = mo;
    ro.engine = PTQ_ENGINE_AUTO;
    ro.engine_ok = 0; /* the reference runs as it is, without a note */
    if ((rc = cli_load(refp, &ro, &rm))) goto done;
  }
  ptq_value_info in;
  ptq_model_input(m, 0, &in);
  if (ptq_model_input_count(m) != 1 || in.dtype != PTQ_DT_FLOAT || in.rank < 2 ||
      ptq_model_output_count(m) > 16) {
    rc = cli_fail(PTQ_ERR_UNSUPPORTED, "eval needs a model with one float input of rank >= 2");
    goto done;
  }
  ptq_dataset_options dopt = {.preprocess = pre,
                              .labels = labels,
                              .label_offset = offset,
                              .limit = limit,
                              .sample_rank = in.rank - 1};
  for (int d = 1; d < in.rank; d++) {
    if (in.dims[d] < 0) {
      rc = cli_fail(PTQ_ERR_SHAPE, "input '%s' has a dynamic dimension %d: give --shape", in.name,
                    d);
      goto done;
    }
    dopt.sample_dims[d - 1] = in.dims[d];
  }
  ptq_status st = ptq_dataset_open(data, &dopt, &ds);
  if (st != PTQ_OK) {
    rc = cli_fail(st, "cannot open data '%s'", data);
    goto done;
  }
  const int has_labels = ptq_dataset_has_labels(ds);
  if (rm && (ptq_model_input_count(rm) != 1 || ptq_model_output_count(rm) > 16)) {
    rc = cli_fail(PTQ_ERR_UNSUPPORTED, "--ref: the reference model needs one input");
    goto done;
  }
  if (!has_labels && !rm) {
    rc = cli_fail(PTQ_ERR_DATA, "'%s' has no labels: give --labels or use class subfolders", data);
    goto done;
  }
  int64_t n = ptq_dataset_count(ds), bs = in.dims[0] > 0 ? in.dims[0] : 32;
  int fixed_batch = in.dims[0] > 0;
  ptq_session_options so = {.threads = mo.threads};
  if ((st = ptq_session_create(m, &so, &s)) != PTQ_OK ||
      (rm && (st = ptq_session_create(rm, &so, &rs)) != PTQ_OK)) {
    rc = cli_fail(st, "cannot create session");
    goto done;
  }
  ptq_value_info rin;
  if (rm) ptq_model_input(rm, 0, &rin);
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
    st = ptq_dataset_read(ds, start, cnt, batch, has_labels ? lab : NULL);
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
    if (rs) {
      const char *rname = rin.name;
      if ((st = ptq_session_run(rs, 1, &rname, (const ptq_tensor *const *)&batch, rout))) {
        rc = cli_fail(st, "--ref: run failed");
        goto done;
      }
      const ptq_tensor *r = rout[0];
      if (r->dtype != PTQ_DT_FLOAT || ptq_tensor_numel(r) != ptq_tensor_numel(y)) {
        rc = cli_fail(PTQ_ERR_SHAPE, "--ref: first outputs differ in type or size");
        goto done;
      }
      for (int64_t b = 0; b < cnt; b++)
        fidelity_add(&fid, (const float *)r->data + b * classes,
                     (const float *)y->data + b * classes, classes);
      for (size_t k = 0; k < ptq_model_output_count(rm); k++) {
        ptq_tensor_destroy(rout[k]);
        rout[k] = NULL;
      }
    }
    for (int64_t b = 0; b < cnt && has_labels; b++) {
      const float *row = (const float *)y->data + b * classes;
      if (lab[b] < 0 || lab[b] >= classes) {
        rc = cli_fail(PTQ_ERR_DATA, "label %lld of sample %lld is outside 0..%lld",
                      (long long)lab[b], (long long)(start + b), (long long)classes - 1);
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
  const double sq = fidelity_sqnr(&fid), cs = fid.n ? fid.cos_sum / (double)fid.n : 0,
               ag = fid.n ? (double)fid.agree / (double)fid.n : 0;
  if (json) {
    printf("{");
    if (has_labels) printf("\"top1\": %.6f, \"top5\": %.6f, ", t1, t5);
    if (rm) {
      if (isfinite(sq))
        printf("\"sqnr_db\": %.4f, ", sq);
      else
        printf("\"sqnr_db\": null, ");
      printf("\"cosine\": %.8f, \"top1_agreement\": %.6f, ", cs, ag);
    }
    printf("\"n\": %lld}\n", (long long)n);
  } else {
    if (has_labels)
      printf("top-1 %.2f%%  top-5 %.2f%%  (n = %lld)\n", 100 * t1, 100 * t5, (long long)n);
    if (rm)
      printf("vs %s: SQNR %s%.2f dB  cosine %.6f  top-1 agreement %.2f%%  (n = %lld)\n", refp,
             isinf(sq) && sq > 0 ? "+" : "", sq, cs, 100 * ag, (long long)n);
  }
done:
  for (int k = 0; k < 16; k++) {
    ptq_tensor_destroy(out[k]);
    ptq_tensor_destroy(rout[k]);
  }
  ptq_session_destroy(rs);
  ptq_model_destroy(rm);
  ptq_tensor_destroy(batch);
  free(lab);
  ptq_dataset_destroy(ds);
  ptq_session_destroy(s);
  ptq_model_destroy(m);
  return rc;
}
