/* Public calibration-PTQ API (ptq/quant.h). */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "quant/qgraph.h"

struct ptq_qmodel {
  ptq_model *model;
  char *input_path;
  char *summary;
  char *encodings;
  ptq_qstats stats;
};

static const char *const g_method_names[] = {"minmax", "ema", "percentile", "mse", "kl"};

ptq_status ptq_qmethod_parse(const char *name, ptq_qmethod *out) {
  for (int i = 0; name && i < 5; i++)
    if (strcmp(name, g_method_names[i]) == 0) {
      *out = (ptq_qmethod)i;
      return PTQ_OK;
    }
  return ptq_error(PTQ_ERR_INVALID_ARG,
                   "unknown calibration method '%s' (minmax, ema, percentile, "
                   "mse, kl)",
                   name ? name : "");
}

const char *ptq_qmethod_name(ptq_qmethod m) {
  return (unsigned)m < 5 ? g_method_names[m] : "?";
}

ptq_quant_options ptq_quant_options_default(void) {
  ptq_quant_options o = {.method = PTQ_QMETHOD_MINMAX, .calib_size = 100};
  return o;
}

void ptq_qmodel_destroy(ptq_qmodel *q) {
  if (!q) return;
  ptq_model_destroy(q->model);
  free(q->input_path);
  free(q->summary);
  free(q->encodings);
  free(q);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

ptq_status ptq_qmodel_create(const char *model_path, const char *calib_path,
                             const ptq_quant_options *opts, ptq_qmodel **out) {
  if (!model_path || !calib_path || !out) return ptq_error(PTQ_ERR_INVALID_ARG, "NULL argument");
  *out = NULL;
  ptq_quant_options o = opts ? *opts : ptq_quant_options_default();
  if (o.calib_size <= 0) o.calib_size = 100;
  const qprofile *base = qprofile_find(o.profile);
  if (!base)
    return ptq_error(PTQ_ERR_INVALID_ARG, "unknown profile '%s' (%s)", o.profile, qprofile_list());
  if ((unsigned)o.method > PTQ_QMETHOD_KL)
    return ptq_error(PTQ_ERR_INVALID_ARG, "unknown calibration method %d", (int)o.method);
  qprofile eff;
  PTQ_TRY(qprofile_apply(base, &o, &eff));
  const qprofile *prof = &eff;
  qconfig cfg = {0};
  if (o.config) {
    PTQ_TRY(qconfig_load(o.config, &cfg));
    if (cfg.deflt.method >= 0) o.method = (ptq_qmethod)cfg.deflt.method;
  }
  ptq_set_threads(o.threads);
  qplan plan = {0};
  qbuf prep = {0}, report = {0}, json = {0};
  qcle_data *cle_data = NULL;
  int n_cle_data = 0;
  ptq_qmodel *q = ptq_calloc(1, sizeof *q);
  ptq_status st = PTQ_OK;
  if (!q || !(q->input_path = ptq_strdup(model_path))) {
    st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
    goto fail;
  }
  st = ptq_model_load(model_path, NULL, &q->model);
  if (st != PTQ_OK) goto fail;
  ir_graph *g = q->model->graph;
  if ((st = qprep_fold_bn(g, &q->stats.bn_folded, &prep)) != PTQ_OK) goto fail;
  /* CLE: command line, else the config's "cle", else on for per-tensor weights, where one
   * scale serves channels whose ranges differ by orders of magnitude */
  const int w_per_tensor =
      o.per_tensor || !prof->weight.per_channel || (o.config && cfg.deflt.per_channel == 0);
  const int cfg_cle = o.config ? cfg.cle : -1;
  const int cle_on =
      o.cle == PTQ_QON || (o.cle == PTQ_QDEFAULT && (cfg_cle >= 0 ? cfg_cle : w_per_tensor));
  qcle_opts cle = qcle_opts_default();
  if ((unsigned)o.cle > PTQ_QOFF) {
    st = ptq_error(PTQ_ERR_INVALID_ARG, "invalid cle switch value %d", (int)o.cle);
    goto fail;
  }
  if (cle_on) {
    /* the scales are bounded by the pre-activations' per-channel ranges on the calibration
     * data (qcle_opts), found by a first float pass */
    qcle_stats cs;
    if ((st = qcle_data_create(g, &cle_data, &n_cle_data)) != PTQ_OK) goto fail;
    if (n_cle_data &&
        (st = qcalib_channel_stats(model_path, calib_path, &o, cle_data, n_cle_data)) != PTQ_OK)
      goto fail;
    cle.data = cle_data;
    cle.n_data = n_cle_data;
    if ((st = qprep_cle(g, &cle, &cs, &prep)) != PTQ_OK) goto fail;
    q->stats.cle_pairs = cs.pairs;
    q->stats.cle_clip_relu = cs.clip_relu;
    if (!cs.pairs) qbuf_printf(&prep, "cross-layer equalization: no Conv/Gemm pairs found\n");
  }
  /* int16/uint16 QuantizeLinear needs opset 21; 8-bit containers need 13 (per-axis) */
  const int64_t opset = qplan_max_a_bits(prof, o.config ? &cfg : NULL) > 8 ? 21 : 13;
  if ((st = qprep_upgrade_opset(q->model, opset, &prep)) != PTQ_OK) {
    if (opset > 13) ptq_error_prefix(st, "activations above 8 bits need opset 21: ");
    goto fail;
  }
  const qplan_opts po = {.exclude = o.exclude,
                         .n_exclude = o.n_exclude,
                         .config = o.config ? &cfg : NULL,
                         .prof = prof,
                         .per_tensor = o.per_tensor,
                         .method = (int)o.method};
  if ((st = qplan_build(g, &po, &plan)) != PTQ_OK) goto fail;
  int64_t n_samples = 0, n_avail = 0;
  const double t0 = now_s();
  st = qcalib_run(model_path, calib_path, &o, cle_on ? &cle : NULL, q->stats.cle_pairs, g, &plan,
                  &n_samples, &n_avail);
  q->stats.calib_seconds = now_s() - t0;
  q->stats.calib_samples = n_samples;
  if (st != PTQ_OK) goto fail;
  if ((st = qplan_resolve(&plan, g, prof)) != PTQ_OK) goto fail;
  for (int i = 0; i < plan.n_nodes; i++) {
    if (plan.nodes[i].kind == QK_FLOAT)
      q->stats.nodes_float++;
    else if (plan.nodes[i].kind != QK_FUSED)
      q->stats.nodes_quantized++;
  }
  q->stats.points = plan.n_points;
  char wt[96], at[96];
  qscheme_describe(&prof->weight, prof->weight.per_channel && !o.per_tensor, wt);
  const ptq_qscheme as =
      qprofile_act_scheme(prof, cfg.deflt.a_bits > 0 ? cfg.deflt.a_bits : prof->act.bits);
  qscheme_describe(&as, 0, at);
  qbuf_printf(&report,
              "profile %s (%s): weights %s, activations %s%s, %s biases (QDQ, opset %lld)\n",
              prof->name, prof->backend, wt, at,
              as.bits != 8 && as.bits != 16 ? " (Clip to the range before QuantizeLinear)" : "",
              prof->bias_int32 ? "int32" : "float", (long long)q->model->opset);
  qbuf_printf(&report, "calibration: %lld of %lld samples (seed %llu), method %s, %.2f s\n",
              (long long)n_samples, (long long)n_avail, (unsigned long long)o.seed,
              ptq_qmethod_name(o.method), q->stats.calib_seconds);
  qbuf_printf(&report, "BatchNormalization folded: %d\n", q->stats.bn_folded);
  if (prep.len) qbuf_printf(&report, "%s", prep.s);
  if ((st = qdq_export(q->model, &plan, prof, o.method, &json, &report)) != PTQ_OK) goto fail;
  qbuf_printf(&report, "%d nodes quantized, %d float, %d activation tensors with Q/DQ\n",
              q->stats.nodes_quantized, q->stats.nodes_float, q->stats.points);
  qbuf doc = {0};
  qbuf_printf(
      &doc,
      "{\n  \"profile\": \"%s\",\n  \"method\": \"%s\",\n  \"opset\": %lld,\n"
      "  \"calibration\": {\"samples\": %lld, \"seed\": %llu},\n  \"tensors\": {\n%s\n  }\n}\n",
      prof->name, ptq_qmethod_name(o.method), (long long)q->model->opset, (long long)n_samples,
      (unsigned long long)o.seed, json.s ? json.s : "");
  if (report.failed || json.failed || doc.failed) {
    free(doc.s);
    st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
    goto fail;
  }
  q->encodings = doc.s;
  q->summary = report.s;
  report.s = NULL;
  qconfig_free(&cfg);
  qplan_free(&plan);
  qcle_data_free(cle_data, n_cle_data);
  free(prep.s);
  free(json.s);
  *out = q;
  return PTQ_OK;
fail:
  qconfig_free(&cfg);
  qplan_free(&plan);
  qcle_data_free(cle_data, n_cle_data);
  free(prep.s);
  free(report.s);
  free(json.s);
  ptq_qmodel_destroy(q);
  return st;
}

const ptq_model *ptq_qmodel_model(const ptq_qmodel *q) {
  return q ? q->model : NULL;
}

char *ptq_qmodel_encodings(const ptq_qmodel *q) {
  return q && q->encodings ? ptq_strdup(q->encodings) : NULL;
}

char *ptq_qmodel_summary(const ptq_qmodel *q) {
  return q && q->summary ? ptq_strdup(q->summary) : NULL;
}

ptq_status ptq_qmodel_stats(const ptq_qmodel *q, ptq_qstats *out) {
  if (!q || !out) return ptq_error(PTQ_ERR_INVALID_ARG, "NULL argument");
  *out = q->stats;
  return PTQ_OK;
}

char *ptq_qmodel_encodings_path(const char *path) {
  if (!path) return NULL;
  size_t n = strlen(path);
  if (n > 5 && strcmp(path + n - 5, ".onnx") == 0) n -= 5;
  char *base = ptq_strndup(path, n);
  char *s = base ? ptq_asprintf("%s.encodings.json", base) : NULL;
  free(base);
  return s;
}

/* Same file: equal device and inode (both exist). */
static int same_file(const char *a, const char *b) {
  struct stat sa, sb;
  return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

ptq_status ptq_qmodel_save(const ptq_qmodel *q, const char *path) {
  if (!q || !path) return ptq_error(PTQ_ERR_INVALID_ARG, "NULL argument");
  char *jpath = ptq_qmodel_encodings_path(path);
  if (!jpath) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  ptq_status st = PTQ_OK;
  if (strcmp(path, q->input_path) == 0 || same_file(path, q->input_path) ||
      same_file(jpath, q->input_path)) {
    st = ptq_error(PTQ_ERR_INVALID_ARG, "output '%s' would overwrite the input model '%s'", path,
                   q->input_path);
  } else if ((st = ptq_model_save(q->model, path)) == PTQ_OK) {
    st = ptq_file_write_atomic(jpath, q->encodings, strlen(q->encodings));
  }
  free(jpath);
  return st;
}
