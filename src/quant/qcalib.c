/* Calibration: stream sampled data through the float model, observing the plan's points. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "exec/exec.h"
#include "exec/lower.h"
#include "ptq/data.h"
#include "quant/calib.h"
#include "quant/qgraph.h"

static uint64_t splitmix64(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static int cmp_i64(const void *a, const void *b) {
  const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* n of the N indices, uniformly without replacement (partial Fisher-Yates, splitmix64),
 * sorted ascending. Caller frees. */
static int64_t *draw_samples(int64_t N, int64_t n, uint64_t seed) {
  int64_t *idx = ptq_malloc((size_t)(N ? N : 1) * sizeof *idx);
  if (!idx) return NULL;
  for (int64_t i = 0; i < N; i++) idx[i] = i;
  uint64_t s = seed;
  for (int64_t i = 0; i < n; i++) {
    const int64_t j = i + (int64_t)(splitmix64(&s) % (uint64_t)(N - i));
    const int64_t t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
  }
  qsort(idx, (size_t)n, sizeof *idx, cmp_i64);
  return idx;
}

static ptq_status load_calib_model(const char *path, const ptq_quant_options *o, ptq_model **m) {
  ptq_load_options lo = {
      .shapes = o->shapes, .n_shapes = o->n_shapes, .batch = o->batch > 0 ? o->batch : 8};
  ptq_status st = ptq_model_load(path, &lo, m);
  if (st == PTQ_OK || o->batch > 0 || st == PTQ_ERR_IO || st == PTQ_ERR_PARSE) return st;
  lo.batch = 0; /* the model's own batch when it cannot be re-batched */
  return ptq_model_load(path, &lo, m);
}

/* The export graph's float preparation on the calibration model: BN folding and CLE. */
static ptq_status prepare_cle(ptq_model *m, const qcle_opts *cle, int cle_pairs) {
  int folded = 0;
  qbuf sink = {0};
  qcle_stats cs;
  ptq_status st = qprep_fold_bn(m->graph, &folded, &sink);
  free(sink.s);
  if (st == PTQ_OK) st = qprep_cle(m->graph, cle, &cs, NULL);
  if (st == PTQ_OK && cs.pairs != cle_pairs)
    st = ptq_error(PTQ_ERR_INTERNAL,
                   "cross-layer equalization found %d pairs in the calibration model, %d in "
                   "the exported one",
                   cs.pairs, cle_pairs);
  if (st == PTQ_OK) st = exec_reprepare_model(m);
  return st;
}

/* Shared by both passes: the float model's input, the data set and the sample draw, then a
 * session with `hooks` over the drawn samples in batches. *rows tells the observer how many
 * rows of the current batch hold real samples. */
typedef struct qstream {
  int64_t batch, rows; /* set by stream_samples before each run */
} qstream;

static ptq_status stream_samples(ptq_model *m, const char *calib_path, const ptq_quant_options *o,
                                 exec_observer_fn fn, void *user, qstream *qs, int64_t *n_samples,
                                 int64_t *n_available) {
  ptq_dataset *ds = NULL;
  ptq_session *s = NULL;
  ptq_tensor *batch = NULL, **outs = NULL;
  int64_t *idx = NULL;
  ptq_status st = PTQ_OK;
  ptq_value_info in;
  if (ptq_model_input_count(m) != 1 || ptq_model_input(m, 0, &in) != PTQ_OK ||
      in.dtype != PTQ_DT_FLOAT || in.rank < 2)
    return ptq_error(PTQ_ERR_UNSUPPORTED,
                     "calibration needs a model with one float input of rank "
                     ">= 2 (a batch of samples)");
  ptq_dataset_options dopt = {.preprocess = o->preprocess, .sample_rank = in.rank - 1};
  for (int d = 0; d < in.rank; d++)
    if (in.dims[d] < 1)
      return ptq_error(PTQ_ERR_SHAPE, "input '%s' has a dynamic dimension %d: give --shape",
                       in.name, d);
  for (int d = 1; d < in.rank; d++) dopt.sample_dims[d - 1] = in.dims[d];
  if ((st = ptq_dataset_open(calib_path, &dopt, &ds)) != PTQ_OK)
    return ptq_error_prefix(st, "calibration data '%s': ", calib_path);
  const int64_t N = ptq_dataset_count(ds), B = in.dims[0];
  if (N < 1) {
    st = ptq_error(PTQ_ERR_DATA, "calibration data '%s' holds no samples", calib_path);
    goto done;
  }
  const int64_t n = o->calib_size > 0 && o->calib_size < N ? o->calib_size : N;
  *n_available = N;
  outs = ptq_calloc(ptq_model_output_count(m) + 1, sizeof *outs);
  idx = draw_samples(N, n, o->seed);
  if (!outs || !idx) {
    st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
    goto done;
  }
  qs->batch = B;
  exec_hooks hooks = {.observe = fn, .user = user, .no_fuse = 1};
  ptq_session_options so = {.threads = o->threads};
  if ((st = exec_session_create(m, &so, &hooks, &s)) != PTQ_OK) goto done;
  if ((st = ptq_tensor_create(PTQ_DT_FLOAT, in.rank, in.dims, &batch)) != PTQ_OK) goto done;
  const int64_t per = ptq_tensor_numel(batch) / B;
  for (int64_t start = 0; start < n; start += B) {
    const int64_t cnt = n - start < B ? n - start : B;
    float *x = batch->data;
    for (int64_t r = 0; r < cnt; r++) {
      ptq_tensor view = *batch;
      view.dims[0] = 1;
      view.data = x + r * per;
      view.owns_data = 0;
      if ((st = ptq_dataset_read(ds, idx[start + r], 1, &view, NULL)) != PTQ_OK) goto done;
      for (int64_t k = 0; k < per; k++)
        if (!isfinite(x[r * per + k])) {
          st = ptq_error(PTQ_ERR_DATA, "calibration sample %s holds NaN or infinity",
                         ptq_dataset_sample_name(ds, idx[start + r]));
          goto done;
        }
    }
    for (int64_t r = cnt; r < B; r++) memcpy(x + r * per, x, (size_t)per * sizeof *x);
    qs->rows = cnt;
    const char *name = in.name;
    st = ptq_session_run(s, 1, &name, (const ptq_tensor *const *)&batch, outs);
    for (size_t k = 0; k < ptq_model_output_count(m); k++) {
      ptq_tensor_destroy(outs[k]);
      outs[k] = NULL;
    }
    if (st != PTQ_OK) goto done;
    if (o->progress) o->progress(o->progress_user, "calibrate", start + cnt, n);
  }
  *n_samples = n;
done:
  free(outs);
  free(idx);
  ptq_tensor_destroy(batch);
  ptq_session_destroy(s);
  ptq_dataset_destroy(ds);
  return st;
}

typedef struct observer {
  qstream qs;
  const int *point_of; /* per calibration-graph value: point or -1 */
  ptq_calib **calib;   /* per point */
  const ir_graph *eg;  /* export graph (names for messages) */
  const qplan *plan;
} observer;

static ptq_status observe(void *user, const ir_graph *g, int value, const ptq_tensor *t) {
  (void)g;
  observer *o = user;
  const int pt = o->point_of[value];
  if (pt < 0 || t->dtype != PTQ_DT_FLOAT) return PTQ_OK;
  int64_t dims[PTQ_MAX_RANK];
  memcpy(dims, t->dims, sizeof dims);
  /* padding rows (copies of a real sample) are left out where the batch axis is visible */
  if (t->rank >= 1 && dims[0] == o->qs.batch && o->qs.rows < o->qs.batch) dims[0] = o->qs.rows;
  ptq_status st = ptq_calib_update(o->calib[pt], t->rank, dims, t->data);
  if (st != PTQ_OK)
    ptq_error_prefix(st,
                     "calibrating tensor '%s': ", o->eg->values[o->plan->points[pt].value].name);
  return st;
}

ptq_status qcalib_run(const char *model_path, const char *calib_path, const ptq_quant_options *o,
                      const qcle_opts *cle, int cle_pairs, const ir_graph *eg, qplan *p,
                      int64_t *n_samples, int64_t *n_available) {
  ptq_model *m = NULL;
  ptq_calib **calib = NULL;
  int *point_of = NULL;
  ptq_status st = load_calib_model(model_path, o, &m);
  if (st != PTQ_OK) return st;
  if (cle && (st = prepare_cle(m, cle, cle_pairs)) != PTQ_OK) goto done;
  const ir_graph *g = m->graph;
  calib = ptq_calloc((size_t)p->n_points + 1, sizeof *calib);
  point_of = ptq_malloc(((size_t)g->n_values + 1) * sizeof *point_of);
  if (!calib || !point_of) {
    st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
    goto done;
  }
  for (int v = 0; v < g->n_values; v++) point_of[v] = -1;
  qprofile prof;
  if ((st = qprofile_apply(qprofile_find(o->profile), o, &prof)) != PTQ_OK) goto done;
  for (int i = 0; i < p->n_points; i++) {
    const int method = p->points[i].method >= 0 ? p->points[i].method : (int)o->method;
    ptq_calib_config cfg = ptq_calib_config_default((ptq_calib_method)method);
    cfg.scheme = qprofile_act_scheme(&prof, p->points[i].bits);
    /* KL: TensorRT's 128 levels are int8's 2^7; b bits get 2^(b-1) (at most num_bins / 2) */
    const int b = p->points[i].bits;
    cfg.num_quant_bins = b > 8 ? 128 << (b - 8) : 128 >> (8 - b);
    if (cfg.num_quant_bins > cfg.num_bins / 2) cfg.num_quant_bins = cfg.num_bins / 2;
    const char *name = eg->values[p->points[i].value].name;
    const int v = ir_graph_find(g, name);
    if (v < 0 || g->values[v].data) {
      st = ptq_error(PTQ_ERR_INTERNAL, "tensor '%s' is not computed by the float model", name);
      goto done;
    }
    point_of[v] = i;
    if ((st = ptq_calib_create(&cfg, &calib[i])) != PTQ_OK) goto done;
  }
  observer ob = {.point_of = point_of, .calib = calib, .eg = eg, .plan = p};
  if ((st = stream_samples(m, calib_path, o, observe, &ob, &ob.qs, n_samples, n_available)) !=
      PTQ_OK)
    goto done;
  for (int i = 0; i < p->n_points && st == PTQ_OK; i++) {
    qpoint *q = &p->points[i];
    st = ptq_calib_range(calib[i], &q->rmin, &q->rmax);
    if (st != PTQ_OK) {
      ptq_error_prefix(st, "tensor '%s': ", eg->values[q->value].name);
      break;
    }
    q->calibrated = 1;
  }
done:
  for (int i = 0; calib && i < p->n_points; i++) ptq_calib_destroy(calib[i]);
  free(calib);
  free(point_of);
  ptq_model_destroy(m);
  return st;
}

/* Per-channel statistics (axis 1, or the only axis) of the requested values. */
typedef struct chobserver {
  qstream qs;
  const int *want; /* per calibration-graph value: index into d, or -1 */
  qcle_data *d;
} chobserver;

static ptq_status observe_channels(void *user, const ir_graph *g, int value, const ptq_tensor *t) {
  chobserver *o = user;
  const int k = o->want[value];
  if (k < 0 || t->dtype != PTQ_DT_FLOAT) return PTQ_OK;
  qcle_data *d = &o->d[k];
  int64_t rows = t->rank >= 2 ? t->dims[0] : 1;
  if (t->rank >= 2 && rows == o->qs.batch && o->qs.rows < o->qs.batch) rows = o->qs.rows;
  const int64_t c = t->rank >= 2 ? t->dims[1] : t->rank == 1 ? t->dims[0] : 1;
  if (c != d->c)
    return ptq_error(PTQ_ERR_INTERNAL, "tensor '%s' has %lld channels, expected %lld",
                     g->values[value].name, (long long)c, (long long)d->c);
  int64_t inner = 1;
  for (int a = 2; a < t->rank; a++) inner *= t->dims[a];
  const float *x = t->data;
  for (int64_t r = 0; r < rows; r++)
    for (int64_t ch = 0; ch < c; ch++) {
      const float *p = x + (r * c + ch) * inner;
      float hi = d->max[ch], lo = d->min[ch];
      for (int64_t i = 0; i < inner; i++) {
        hi = fmaxf(hi, p[i]);
        lo = fminf(lo, p[i]);
      }
      d->max[ch] = hi;
      d->min[ch] = lo;
    }
  d->seen = 1;
  return PTQ_OK;
}

ptq_status qcalib_channel_stats(const char *model_path, const char *calib_path,
                                const ptq_quant_options *o, qcle_data *d, int n) {
  ptq_model *m = NULL;
  int *want = NULL;
  int64_t ns = 0, na = 0;
  ptq_status st = load_calib_model(model_path, o, &m);
  if (st != PTQ_OK) return st;
  int folded = 0;
  qbuf sink = {0};
  st = qprep_fold_bn(m->graph, &folded, &sink);
  free(sink.s);
  if (st == PTQ_OK) st = exec_reprepare_model(m);
  if (st != PTQ_OK) goto done;
  const ir_graph *g = m->graph;
  if (!(want = ptq_malloc(((size_t)g->n_values + 1) * sizeof *want))) {
    st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
    goto done;
  }
  for (int v = 0; v < g->n_values; v++) want[v] = -1;
  for (int k = 0; k < n; k++) {
    const int v = ir_graph_find(g, d[k].name);
    if (v < 0 || g->values[v].data) {
      st = ptq_error(PTQ_ERR_INTERNAL, "tensor '%s' is not computed by the float model", d[k].name);
      goto done;
    }
    want[v] = k;
    for (int64_t c = 0; c < d[k].c; c++) {
      d[k].max[c] = -INFINITY;
      d[k].min[c] = INFINITY;
    }
    d[k].seen = 0;
  }
  chobserver ob = {.want = want, .d = d};
  st = stream_samples(m, calib_path, o, observe_channels, &ob, &ob.qs, &ns, &na);
done:
  free(want);
  ptq_model_destroy(m);
  return st;
}
