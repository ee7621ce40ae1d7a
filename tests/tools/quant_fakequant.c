/* Test helper for tests/oracle/test_quant_fakequant.py: runs ptq's quantizer and calibrators
 * on .npy inputs and writes .npy outputs.
 *
 *   quant_fakequant params SCHEME RMIN.npy RMAX.npy SCALE_OUT.npy ZP_OUT.npy
 *   quant_fakequant fq SCHEME X.npy SCALE.npy ZP.npy Q_OUT.npy FQ_OUT.npy
 *   quant_fakequant calib CONFIG X.npy BATCHES RANGE_OUT.npy HIST_OUT.npy INFO_OUT.npy
 *
 * SCHEME / CONFIG: comma-separated key=value (bits, signed, sym, narrow, axis (-99: per
 * tensor), pow2, away; method (minmax ema percentile mse kl), mom, pct, pct_sym, bins, qbins,
 * compat, threads). ZP files are int32; RANGE_OUT is float32 [channels, 2]; HIST_OUT the
 * int64 counts of channel 0; INFO_OUT float64 [k0, exp2, has_width, min, max]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptq/data.h"
#include "ptq/ptq.h"
#include "quant/calib.h"
#include "quant/quantizer.h"

static int parse(const char *spec, ptq_qscheme *s, ptq_calib_config *c, int *threads) {
  char buf[512];
  snprintf(buf, sizeof buf, "%s", spec);
  *s = ptq_qscheme_int8();
  *c = ptq_calib_config_default(PTQ_CALIB_MINMAX);
  for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
    char *eq = strchr(tok, '=');
    if (!eq) return -1;
    *eq = 0;
    const char *k = tok, *v = eq + 1;
    const double d = atof(v);
    if (!strcmp(k, "bits"))
      s->bits = (int)d;
    else if (!strcmp(k, "signed"))
      s->is_signed = (int)d;
    else if (!strcmp(k, "sym"))
      s->symmetric = (int)d;
    else if (!strcmp(k, "narrow"))
      s->narrow = (int)d;
    else if (!strcmp(k, "axis")) {
      s->per_channel = c->per_channel = (int)d != -99;
      s->axis = c->axis = (int)d;
    } else if (!strcmp(k, "pow2"))
      s->pow2_scale = (int)d;
    else if (!strcmp(k, "away"))
      s->round = d != 0 ? PTQ_ROUND_HALF_AWAY : PTQ_ROUND_HALF_EVEN;
    else if (!strcmp(k, "method")) {
      const char *m[] = {"minmax", "ema", "percentile", "mse", "kl"};
      int found = 0;
      for (int i = 0; i < 5; i++)
        if (!strcmp(v, m[i])) c->method = (ptq_calib_method)i, found = 1;
      if (!found) return -1;
    } else if (!strcmp(k, "mom"))
      c->momentum = d;
    else if (!strcmp(k, "pct"))
      c->percentile = d;
    else if (!strcmp(k, "pct_sym"))
      c->symmetric = (int)d;
    else if (!strcmp(k, "bins"))
      c->num_bins = (int)d;
    else if (!strcmp(k, "qbins"))
      c->num_quant_bins = (int)d;
    else if (!strcmp(k, "compat"))
      c->kl_ort_compat = (int)d;
    else if (!strcmp(k, "threads"))
      *threads = (int)d;
    else
      return -1;
  }
  c->scheme = *s;
  return 0;
}

static int fail(ptq_status st) {
  fprintf(stderr, "quant_fakequant: %s\n", ptq_last_error());
  return st == PTQ_OK ? 1 : (int)st;
}

static int save_vec(const char *path, ptq_dtype dt, int rank, const int64_t *dims,
                    const void *data) {
  ptq_tensor *t;
  if (ptq_tensor_create(dt, rank, dims, &t) != PTQ_OK) return -1;
  memcpy(t->data, data, (size_t)ptq_tensor_numel(t) * ptq_dtype_size(dt));
  const ptq_status st = ptq_npy_save(path, t);
  ptq_tensor_destroy(t);
  return st == PTQ_OK ? 0 : -1;
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  ptq_qscheme s;
  ptq_calib_config cfg;
  int threads = 0;
  if (parse(argv[2], &s, &cfg, &threads) != 0) return 2;
  ptq_set_threads(threads);
  ptq_status st;
  if (!strcmp(argv[1], "params") && argc == 7) {
    ptq_tensor *lo, *hi;
    if ((st = ptq_npy_load(argv[3], &lo)) || (st = ptq_npy_load(argv[4], &hi))) return fail(st);
    const int64_t n = ptq_tensor_numel(lo);
    ptq_qparams *p = malloc(sizeof *p * (size_t)n);
    float *sc = malloc(sizeof *sc * (size_t)n);
    int32_t *zp = malloc(sizeof *zp * (size_t)n);
    if ((st = ptq_qparams_from_ranges(&s, n, lo->data, hi->data, p))) return fail(st);
    for (int64_t i = 0; i < n; i++) sc[i] = p[i].scale, zp[i] = p[i].zero_point;
    if (save_vec(argv[5], PTQ_DT_FLOAT, 1, &n, sc) || save_vec(argv[6], PTQ_DT_INT32, 1, &n, zp))
      return fail(PTQ_ERR_IO);
    free(p), free(sc), free(zp);
    ptq_tensor_destroy(lo), ptq_tensor_destroy(hi);
    return 0;
  }
  if (!strcmp(argv[1], "fq") && argc == 8) {
    ptq_tensor *x, *sc, *zp;
    if ((st = ptq_npy_load(argv[3], &x)) || (st = ptq_npy_load(argv[4], &sc)) ||
        (st = ptq_npy_load(argv[5], &zp)))
      return fail(st);
    const int64_t n = ptq_tensor_numel(x), c = ptq_tensor_numel(sc);
    ptq_qparams *p = malloc(sizeof *p * (size_t)c);
    for (int64_t i = 0; i < c; i++)
      p[i].scale = ((float *)sc->data)[i], p[i].zero_point = ((int32_t *)zp->data)[i];
    int32_t *q = malloc(sizeof *q * (size_t)n);
    if ((st = ptq_quantize_tensor(x->data, x->rank, x->dims, &s, p, q))) return fail(st);
    if ((st = ptq_fake_quant_tensor(x->data, x->rank, x->dims, &s, p))) return fail(st);
    if (save_vec(argv[6], PTQ_DT_INT32, x->rank, x->dims, q) || ptq_npy_save(argv[7], x))
      return fail(PTQ_ERR_IO);
    free(p), free(q);
    ptq_tensor_destroy(x), ptq_tensor_destroy(sc), ptq_tensor_destroy(zp);
    return 0;
  }
  if (!strcmp(argv[1], "calib") && argc == 8) {
    ptq_tensor *x;
    if ((st = ptq_npy_load(argv[3], &x))) return fail(st);
    const int64_t nb = atoi(argv[4]), per = x->dims[0] / nb;
    ptq_calib *c;
    if ((st = ptq_calib_create(&cfg, &c))) return fail(st);
    int64_t dims[PTQ_MAX_RANK];
    memcpy(dims, x->dims, sizeof dims);
    dims[0] = per;
    const int64_t stride = ptq_tensor_numel(x) / x->dims[0] * per;
    for (int64_t b = 0; b < nb; b++)
      if ((st = ptq_calib_update(c, x->rank, dims, (float *)x->data + b * stride))) return fail(st);
    const int64_t ch = ptq_calib_channels(c);
    float *r = malloc(sizeof *r * (size_t)(2 * ch)), *lo = malloc(sizeof *lo * (size_t)ch);
    float *hi = malloc(sizeof *hi * (size_t)ch);
    if ((st = ptq_calib_range(c, lo, hi))) return fail(st);
    for (int64_t i = 0; i < ch; i++) r[2 * i] = lo[i], r[2 * i + 1] = hi[i];
    const int64_t rd[2] = {ch, 2};
    if (save_vec(argv[5], PTQ_DT_FLOAT, 2, rd, r)) return fail(PTQ_ERR_IO);
    ptq_calib_hist h;
    double info[5] = {0};
    int64_t hn = 1, zero = 0;
    const int64_t *counts = &zero;
    if (ptq_calib_histogram(c, 0, &h) == PTQ_OK) {
      hn = h.num_bins;
      counts = h.counts;
      info[0] = h.k0, info[1] = h.exp2, info[2] = h.has_width, info[3] = h.min, info[4] = h.max;
    }
    const int64_t five = 5;
    if (save_vec(argv[6], PTQ_DT_INT64, 1, &hn, counts) ||
        save_vec(argv[7], PTQ_DT_DOUBLE, 1, &five, info))
      return fail(PTQ_ERR_IO);
    ptq_calib_destroy(c);
    free(r), free(lo), free(hi);
    ptq_tensor_destroy(x);
    return 0;
  }
  return 2;
}
