/* Calibration observers (see calib.h, docs/quantization.md).
 *
 * Histograms use bins of width 2^e aligned at 0: bin k holds floor(x / 2^e) == k, k in
 * [k0, k0 + N) with k0 = -N/2 once a negative value was seen, else 0. e is always the smallest
 * exponent whose window holds every value seen so far, so growing the range is an exact merge
 * (new bin = floor(old k / 2^d)) and the final histogram depends only on the multiset of values
 * fed, not on how they were split into batches. x / 2^e is exact in double.
 *
 * Determinism: per-chunk statistics are combined in chunk order; histogram counts are integer
 * sums; candidate errors are each summed by one thread in index order. No result depends on the
 * thread count. */
#include "quant/calib.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#define CALIB_CHUNK 65536      /* elements per work item of a per-tensor batch */
#define CALIB_PAR_MIN 65536    /* elements below which an update stays single-threaded */
#define MSE_MAX_CANDIDATES 512 /* histogram MSE: candidate ranges searched */
#define MSE_WEIGHT_CANDIDATES 200
#define KL_EPS 0.0001 /* smoothing mass of an empty bin (MXNet, onnxruntime) */

typedef struct hist {
  int64_t *counts; /* N */
  int e, has_width, k0;
} hist;

struct ptq_calib {
  ptq_calib_config cfg;
  int log2_bins;
  int64_t channels; /* 0 until the first per-channel batch */
  float *mn, *mx;   /* observed extremes per channel */
  double *ema_mn, *ema_mx;
  int64_t *seen;   /* values seen per channel */
  hist *h;         /* per channel, histogram methods */
  int64_t *counts; /* channels * N backing store of h */
};

static int uses_hist(ptq_calib_method m) {
  return m == PTQ_CALIB_PERCENTILE || m == PTQ_CALIB_MSE || m == PTQ_CALIB_KL;
}

ptq_calib_config ptq_calib_config_default(ptq_calib_method method) {
  ptq_calib_config c;
  memset(&c, 0, sizeof c);
  c.method = method;
  c.momentum = 0.9;
  c.percentile = 99.999;
  c.num_bins = 2048;
  c.num_quant_bins = 128;
  c.scheme = ptq_qscheme_int8();
  return c;
}

static ptq_status config_check(const ptq_calib_config *c, int *log2_bins) {
  if ((int)c->method < PTQ_CALIB_MINMAX || c->method > PTQ_CALIB_KL)
    return ptq_error(PTQ_ERR_INVALID_ARG, "unknown calibration method %d", (int)c->method);
  if (c->method == PTQ_CALIB_EMA && !(c->momentum >= 0.0 && c->momentum < 1.0))
    return ptq_error(PTQ_ERR_INVALID_ARG, "EMA momentum %g outside [0, 1)", c->momentum);
  if (c->method == PTQ_CALIB_PERCENTILE && !(c->percentile > 50.0 && c->percentile <= 100.0))
    return ptq_error(PTQ_ERR_INVALID_ARG, "percentile %g outside (50, 100]", c->percentile);
  *log2_bins = 0;
  if (uses_hist(c->method)) {
    int lb = 0;
    while (lb <= 20 && (1 << lb) != c->num_bins) lb++;
    if (lb < 8 || lb > 20)
      return ptq_error(PTQ_ERR_INVALID_ARG, "histogram bins %d: need a power of two in [256, 2^20]",
                       c->num_bins);
    *log2_bins = lb;
  }
  if (c->method == PTQ_CALIB_KL &&
      (c->num_quant_bins < 2 || c->num_quant_bins % 2 || c->num_quant_bins > c->num_bins / 2))
    return ptq_error(PTQ_ERR_INVALID_ARG, "KL levels %d: need an even number in [2, bins/2]",
                     c->num_quant_bins);
  if (c->method == PTQ_CALIB_MSE) PTQ_TRY(ptq_qscheme_check(&c->scheme, -1));
  return PTQ_OK;
}

static void calib_free_channels(ptq_calib *c) {
  free(c->mn);
  free(c->mx);
  free(c->ema_mn);
  free(c->ema_mx);
  free(c->seen);
  free(c->h);
  free(c->counts);
  c->mn = c->mx = NULL;
  c->ema_mn = c->ema_mx = NULL;
  c->seen = NULL;
  c->h = NULL;
  c->counts = NULL;
  c->channels = 0;
}

static ptq_status calib_alloc_channels(ptq_calib *c, int64_t channels) {
  const size_t n = (size_t)channels;
  c->mn = ptq_calloc(n, sizeof *c->mn);
  c->mx = ptq_calloc(n, sizeof *c->mx);
  c->ema_mn = ptq_calloc(n, sizeof *c->ema_mn);
  c->ema_mx = ptq_calloc(n, sizeof *c->ema_mx);
  c->seen = ptq_calloc(n, sizeof *c->seen);
  int ok = c->mn && c->mx && c->ema_mn && c->ema_mx && c->seen;
  if (ok && uses_hist(c->cfg.method)) {
    size_t total;
    c->h = ptq_calloc(n, sizeof *c->h);
    if (ptq_mul_size(n, (size_t)c->cfg.num_bins, &total) == 0)
      c->counts = ptq_calloc(total, sizeof *c->counts);
    ok = c->h && c->counts;
    for (size_t i = 0; ok && i < n; i++) c->h[i].counts = c->counts + i * (size_t)c->cfg.num_bins;
  }
  if (!ok) {
    calib_free_channels(c);
    return ptq_error(PTQ_ERR_NOMEM, "calibration statistics for %lld channels",
                     (long long)channels);
  }
  c->channels = channels;
  return PTQ_OK;
}

ptq_status ptq_calib_create(const ptq_calib_config *cfg, ptq_calib **out) {
  *out = NULL;
  if (!cfg) return ptq_error(PTQ_ERR_INVALID_ARG, "calibration config is NULL");
  int lb = 0;
  PTQ_TRY(config_check(cfg, &lb));
  ptq_calib *c = ptq_calloc(1, sizeof *c);
  if (!c) return ptq_error(PTQ_ERR_NOMEM, "calibration observer");
  c->cfg = *cfg;
  c->log2_bins = lb;
  if (!cfg->per_channel) {
    const ptq_status st = calib_alloc_channels(c, 1);
    if (st != PTQ_OK) {
      free(c);
      return st;
    }
  }
  *out = c;
  return PTQ_OK;
}

void ptq_calib_destroy(ptq_calib *c) {
  if (!c) return;
  calib_free_channels(c);
  free(c);
}

int64_t ptq_calib_channels(const ptq_calib *c) {
  return c->channels;
}

/* ------------------------------------------------------------ histogram --- */

/* floor(k / 2^d) for any sign, d >= 0. */
static int64_t floor_shift(int64_t k, int d) {
  if (d > 40) d = 40; /* |k| < 2^21: the result is already 0 or -1 */
  return k >= 0 ? k >> d : -((-k - 1) >> d) - 1;
}

/* Smallest e with every |x| <= a inside the window: signed a < (N/2) 2^e, else a < N 2^e. */
static int need_exp(double a, int log2_bins, int is_signed) {
  int p;
  frexp(a, &p); /* a = m 2^p, m in [0.5, 1) */
  return p - (is_signed ? log2_bins - 1 : log2_bins);
}

/* Makes h cover [gmin, gmax] (the new global extremes) with the smallest exponent. scratch
 * holds n_bins counts. */
static void hist_grow(hist *h, int64_t n_bins, int log2_bins, float gmin, float gmax,
                      int64_t *scratch) {
  const int is_signed = h->k0 < 0 || gmin < 0.0f;
  const double a = fmax(-(double)gmin, (double)gmax);
  if (a == 0.0) return; /* still only zeros: all counts at k = 0 */
  const int e = need_exp(a, log2_bins, is_signed);
  const int k0 = is_signed ? (int)(-n_bins / 2) : 0;
  if (!h->has_width) {
    const int64_t zeros = h->counts[-h->k0];
    h->counts[-h->k0] = 0;
    h->counts[-k0] = zeros;
  } else if (e != h->e || k0 != h->k0) {
    /* e >= h->e: e is minimal for the global extremes, which only widen; a switch to the
     * signed window needs one more doubling than the non-negative one. Old bin i (k = i + k0)
     * lands in floor(k / 2^d), exactly the bin of every value it held. */
    const int d = e - h->e;
    memcpy(scratch, h->counts, (size_t)n_bins * sizeof *scratch);
    memset(h->counts, 0, (size_t)n_bins * sizeof *h->counts);
    for (int64_t i = 0; i < n_bins; i++) {
      if (!scratch[i]) continue;
      int64_t j = floor_shift(i + h->k0, d) - k0;
      j = j < 0 ? 0 : j >= n_bins ? n_bins - 1 : j;
      h->counts[j] += scratch[i];
    }
  }
  h->has_width = 1;
  h->e = e;
  h->k0 = k0;
}

static inline int64_t hist_index(const hist *h, int64_t n_bins, double inv, float x) {
  if (!h->has_width) return -h->k0;
  int64_t j = (int64_t)floor((double)x * inv) - h->k0;
  return j < 0 ? 0 : j >= n_bins ? n_bins - 1 : j;
}

/* -------------------------------------------------------------- updates --- */

typedef struct stat3 {
  float mn, mx;
  int bad; /* a NaN or infinity */
} stat3;

static stat3 run_stats(const float *x, int64_t n) {
  stat3 s = {INFINITY, -INFINITY, 0};
  float mn = INFINITY, mx = -INFINITY;
  int bad = 0;
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i];
    bad |= !(v - v == 0.0f); /* NaN or ±inf */
    mn = v < mn ? v : mn;
    mx = v > mx ? v : mx;
  }
  s.mn = mn;
  s.mx = mx;
  s.bad = bad;
  return s;
}

static void stat_merge(stat3 *a, stat3 b) {
  a->mn = b.mn < a->mn ? b.mn : a->mn;
  a->mx = b.mx > a->mx ? b.mx : a->mx;
  a->bad |= b.bad;
}

ptq_status ptq_calib_update(ptq_calib *c, int rank, const int64_t *dims, const float *data) {
  const ptq_calib_config *cfg = &c->cfg;
  int64_t outer = 1, channels = 1, inner = 1;
  if (cfg->per_channel) {
    PTQ_TRY(ptq_axis_split(rank, dims, cfg->axis, &outer, &channels, &inner));
    if (c->channels && channels != c->channels)
      return ptq_error(PTQ_ERR_SHAPE, "calibration batch has %lld channels, expected %lld",
                       (long long)channels, (long long)c->channels);
  } else {
    for (int d = 0; d < rank; d++)
      if (dims[d] < 0 || ptq_mul_i64(inner, dims[d], &inner) != 0)
        return ptq_error(PTQ_ERR_SHAPE, "bad calibration batch shape");
  }
  if (outer * channels * inner == 0) return PTQ_OK;
  if (!c->channels) PTQ_TRY(calib_alloc_channels(c, channels));

  /* Pass 1: per-item statistics. Items: (outer block, channel) runs, or fixed chunks of a
   * per-tensor batch. */
  const int64_t chunks = cfg->per_channel ? 1 : (inner + CALIB_CHUNK - 1) / CALIB_CHUNK;
  const int64_t run = cfg->per_channel ? inner : CALIB_CHUNK;
  const int64_t items = outer * channels * chunks;
  stat3 *st = ptq_malloc((size_t)items * sizeof *st);
  stat3 *bs = ptq_malloc((size_t)channels * sizeof *bs);
  int64_t *scratch =
      uses_hist(cfg->method) ? ptq_malloc((size_t)cfg->num_bins * sizeof *scratch) : NULL;
  ptq_status status = PTQ_OK;
  if (!st || !bs || (uses_hist(cfg->method) && !scratch)) {
    status = ptq_error(PTQ_ERR_NOMEM, "calibration batch statistics");
    goto done;
  }
  const int64_t total = outer * channels * inner;
#pragma omp parallel for schedule(static) \
    num_threads(ptq_threads()) if (items > 1 && total >= CALIB_PAR_MIN)
  for (int64_t it = 0; it < items; it++) {
    const int64_t off = it * run, len = total - off < run ? total - off : run;
    st[it] = run_stats(data + off, len);
  }
  for (int64_t ch = 0; ch < channels; ch++) bs[ch] = (stat3){INFINITY, -INFINITY, 0};
  for (int64_t it = 0; it < items; it++)
    stat_merge(&bs[cfg->per_channel ? it % channels : 0], st[it]);
  for (int64_t ch = 0; ch < channels; ch++) {
    if (bs[ch].bad) {
      status = ptq_error(PTQ_ERR_DATA, "calibration data holds NaN or infinity%s",
                         cfg->per_channel ? " (per channel)" : "");
      goto done;
    }
    if (bs[ch].mn == 0.0f) bs[ch].mn = 0.0f; /* -0 → +0: independent of the merge order */
    if (bs[ch].mx == 0.0f) bs[ch].mx = 0.0f;
  }

  /* Pass 2: extremes, EMA, histograms. */
  const int64_t nb = cfg->num_bins;
  for (int64_t ch = 0; ch < channels; ch++) {
    const float gmn = c->seen[ch] && c->mn[ch] < bs[ch].mn ? c->mn[ch] : bs[ch].mn;
    const float gmx = c->seen[ch] && c->mx[ch] > bs[ch].mx ? c->mx[ch] : bs[ch].mx;
    if (cfg->method == PTQ_CALIB_EMA) {
      const double m = cfg->momentum;
      if (!c->seen[ch]) {
        c->ema_mn[ch] = bs[ch].mn;
        c->ema_mx[ch] = bs[ch].mx;
      } else {
        c->ema_mn[ch] = m * c->ema_mn[ch] + (1.0 - m) * (double)bs[ch].mn;
        c->ema_mx[ch] = m * c->ema_mx[ch] + (1.0 - m) * (double)bs[ch].mx;
      }
    }
    if (uses_hist(cfg->method)) hist_grow(&c->h[ch], nb, c->log2_bins, gmn, gmx, scratch);
    c->mn[ch] = gmn;
    c->mx[ch] = gmx;
  }
  if (uses_hist(cfg->method)) {
    if (cfg->per_channel) {
#pragma omp parallel for schedule(dynamic) \
    num_threads(ptq_threads()) if (channels > 1 && total >= CALIB_PAR_MIN)
      for (int64_t ch = 0; ch < channels; ch++) {
        hist *h = &c->h[ch];
        const double inv = h->has_width ? ldexp(1.0, -h->e) : 0.0;
        for (int64_t o = 0; o < outer; o++) {
          const float *x = data + (o * channels + ch) * inner;
          for (int64_t i = 0; i < inner; i++) h->counts[hist_index(h, nb, inv, x[i])]++;
        }
      }
    } else {
      hist *h = &c->h[0];
      const double inv = h->has_width ? ldexp(1.0, -h->e) : 0.0;
      const int nt = total >= CALIB_PAR_MIN ? ptq_threads() : 1;
      int64_t *local = nt > 1 ? ptq_calloc((size_t)nt * (size_t)nb, sizeof *local) : NULL;
      if (nt > 1 && local) {
#pragma omp parallel num_threads(nt)
        {
          int tid = 0, tn = 1;
#ifdef _OPENMP
          tid = omp_get_thread_num();
          tn = omp_get_num_threads();
#endif
          int64_t *lc = local + (size_t)tid * (size_t)nb;
          const int64_t per = (total + tn - 1) / tn;
          const int64_t i0 = tid * per, i1 = i0 + per < total ? i0 + per : total;
          for (int64_t i = i0; i < i1; i++) lc[hist_index(h, nb, inv, data[i])]++;
        }
        for (int t = 0; t < nt; t++)
          for (int64_t j = 0; j < nb; j++) h->counts[j] += local[(size_t)t * (size_t)nb + j];
      } else {
        for (int64_t i = 0; i < total; i++) h->counts[hist_index(h, nb, inv, data[i])]++;
      }
      free(local);
    }
  }
  for (int64_t ch = 0; ch < channels; ch++) c->seen[ch] += outer * inner;
done:
  free(scratch);
  free(st);
  free(bs);
  return status;
}

/* --------------------------------------------------------------- ranges --- */

/* Lower edge of bin index j of h, as a double: (j + k0) 2^e. */
static double bin_edge(const hist *h, int64_t j) {
  return h->has_width ? ldexp((double)(j + h->k0), h->e) : 0.0;
}

/* Value below which a fraction q of the n counts lies, interpolating linearly inside the bin
 * that holds the target rank t = q n (the first non-empty bin for t = 0). counts has n_bins
 * entries with edges lo + j w. */
static double hist_quantile(const int64_t *counts, int64_t n_bins, double lo, double w, int64_t n,
                            double q) {
  const double t = q * (double)n;
  double before = 0.0;
  for (int64_t j = 0; j < n_bins; j++) {
    const double cj = (double)counts[j];
    if (cj > 0.0 && before + cj >= t) {
      const double f = t > before ? (t - before) / cj : 0.0;
      return lo + w * ((double)j + f);
    }
    before += cj;
  }
  return lo + w * (double)n_bins;
}

static void range_percentile(const ptq_calib *c, int64_t ch, float *rmin, float *rmax) {
  const hist *h = &c->h[ch];
  const int64_t nb = c->cfg.num_bins, n = c->seen[ch];
  const double gmn = c->mn[ch], gmx = c->mx[ch];
  if (!h->has_width) {
    *rmin = *rmax = 0.0f;
    return;
  }
  const double w = ldexp(1.0, h->e), p = c->cfg.percentile / 100.0;
  double lo, hi;
  if (c->cfg.symmetric) {
    /* |x| histogram: |x| of bin k >= 0 is in [k w, (k+1) w); of bin -k-1 in (k w, (k+1) w]. */
    const int64_t *abs_counts = h->counts; /* folded on the fly below */
    double t_abs;
    {
      const int64_t half = h->k0 < 0 ? nb / 2 : nb;
      const int64_t z = -h->k0;
      const double t = p * (double)n;
      double before = 0.0;
      t_abs = w * (double)half;
      for (int64_t j = 0; j < half; j++) {
        const double cj =
            (double)abs_counts[z + j] + (z - 1 - j >= 0 ? (double)abs_counts[z - 1 - j] : 0.0);
        if (cj > 0.0 && before + cj >= t) {
          t_abs = w * ((double)j + (t > before ? (t - before) / cj : 0.0));
          break;
        }
        before += cj;
      }
    }
    const double amax = fmax(-gmn, gmx);
    if (t_abs > amax) t_abs = amax;
    lo = -t_abs;
    hi = t_abs;
  } else {
    const double cut = (1.0 - p) / 2.0;
    lo = hist_quantile(h->counts, nb, bin_edge(h, 0), w, n, cut);
    hi = hist_quantile(h->counts, nb, bin_edge(h, 0), w, n, 1.0 - cut);
  }
  if (!c->cfg.symmetric) { /* symmetric: t <= max |x| already; keep [-t, t] */
    if (lo < gmn) lo = gmn;
    if (hi > gmx) hi = gmx;
    if (lo > hi) lo = hi;
  }
  *rmin = (float)lo;
  *rmax = (float)hi;
}

/* Smoothing of MXNet / onnxruntime smooth_distribution: zero bins get eps, the others lose
 * eps * zeros / nonzeros. Returns 0 when every bin is zero or a bin becomes <= 0. */
static int smooth(double *v, int64_t n) {
  int64_t zeros = 0;
  for (int64_t i = 0; i < n; i++) zeros += v[i] == 0.0;
  if (zeros == n) return 0;
  const double eps1 = KL_EPS * (double)zeros / (double)(n - zeros);
  for (int64_t i = 0; i < n; i++) {
    v[i] = v[i] == 0.0 ? KL_EPS : v[i] - eps1;
    if (v[i] <= 0.0) return 0;
  }
  return 1;
}

/* KL(p || q) of one candidate window counts[start, end) with the outliers folded into its end
 * bins; scratch holds 3 * (end - start) doubles. Default: MXNet's algorithm (float q, q = 0
 * where p = 0, the last level takes the remainder bins). compat: onnxruntime's port (q
 * truncated to integers, q not zeroed where p = 0, remainder bins left at q = 0). */
static double kl_window(const int64_t *counts, const int64_t *prefix, int64_t n_bins, int64_t start,
                        int64_t end, int nq, int compat, double *scratch) {
  const int64_t len = end - start, merged = len / nq;
  double *p = scratch, *q = scratch + len, *quant = scratch + 2 * len;
  for (int64_t j = 0; j < len; j++) p[j] = (double)counts[start + j];
  p[0] += (double)prefix[start];
  p[len - 1] += (double)(prefix[n_bins] - prefix[end]);
  for (int l = 0; l < nq; l++) {
    const int64_t s = l * merged, e = (l == nq - 1) ? len : s + merged;
    double sum = 0.0;
    for (int64_t j = s; j < e; j++) sum += (double)counts[start + j];
    quant[l] = sum;
  }
  for (int64_t j = 0; j < len; j++) q[j] = 0.0;
  for (int l = 0; l < nq; l++) {
    const int64_t s = l * merged, e = (l == nq - 1 && !compat) ? len : s + merged;
    int64_t norm = 0;
    for (int64_t j = s; j < e; j++) norm += p[j] != 0.0;
    if (!norm) continue;
    const double v = compat ? floor(quant[l] / (double)norm) : quant[l] / (double)norm;
    for (int64_t j = s; j < e; j++) q[j] = (compat || p[j] != 0.0) ? v : 0.0;
  }
  if (!smooth(p, len) || !smooth(q, len)) return INFINITY;
  double ps = 0.0, qs = 0.0;
  for (int64_t j = 0; j < len; j++) {
    ps += p[j];
    qs += q[j];
  }
  double kl = 0.0;
  for (int64_t j = 0; j < len; j++) {
    const double pj = p[j] / ps, qj = q[j] / qs;
    kl += pj * log(pj / qj);
  }
  return kl;
}

/* Prefix sums over the non-zero bins of a histogram for kl_window_fast: nz[i] = non-zero bins
 * below i; t[k][i] = sums below i of c log c (k = 0), log c (1) and c^-k (k = 2..KL_TERMS). */
enum { KL_TERMS = 6 };
typedef struct kl_prefix {
  int64_t *nz;
  double *t[KL_TERMS + 1];
} kl_prefix;

static void kl_prefix_fill(const int64_t *counts, int64_t nb, kl_prefix *k) {
  k->nz[0] = 0;
  for (int j = 0; j <= KL_TERMS; j++) k->t[j][0] = 0.0;
  for (int64_t i = 0; i < nb; i++) {
    const double c = (double)counts[i], lc = c > 0.0 ? log(c) : 0.0;
    k->nz[i + 1] = k->nz[i] + (counts[i] != 0);
    k->t[0][i + 1] = k->t[0][i] + c * lc;
    k->t[1][i + 1] = k->t[1][i] + lc;
    double inv = c > 0.0 ? 1.0 / c : 0.0, pw = inv;
    for (int j = 2; j <= KL_TERMS; j++, pw *= inv) k->t[j][i + 1] = k->t[j][i] + pw;
  }
}

static double xlogx_shift(double c, double e) { /* (c - e) log(c - e), c > e */
  return (c - e) * log(c - e);
}

/* kl_window (default mode) in O(levels) instead of O(bins): with p' = p - e on the non-zero
 * bins (e the smoothing), q' constant on the non-zero bins of a level,
 *   KL = log(qs / ps) + (sum p' log p' - sum_levels P'_l log q'_l) / ps,
 * where sum p' log p' over the interior bins is the Taylor series of (c - e) log(c - e) in e
 * from the prefix sums (e <= 1e-3 and c >= 1: the first neglected term is below 1e-22 per
 * bin; a larger e falls back to the direct sum). Equal to kl_window up to rounding. */
static double kl_window_fast(const int64_t *counts, const int64_t *prefix, const kl_prefix *k,
                             int64_t n_bins, int64_t start, int64_t end, int nq) {
  const int64_t len = end - start, merged = len / nq, total = prefix[n_bins];
  const int64_t below = prefix[start], above = total - prefix[end];
  const double p0 = (double)(counts[start] + below), pl = (double)(counts[end - 1] + above);
  /* non-zero bins: interior from the prefix, the two end bins (outliers folded) directly */
  const int64_t nz_int = k->nz[end - 1] - k->nz[start + 1];
  const int64_t nz = nz_int + (p0 != 0.0) + (pl != 0.0), zp = len - nz;
  if (nz == 0) return INFINITY;
  if (len == nq && below == 0 && above == 0) return 0.0; /* one bin per level: q == p exactly */
  const double e = KL_EPS * (double)zp / (double)nz;
  double a;
  if (e <= 1e-3) {
    const int64_t i0 = start + 1, i1 = end - 1;
    a = k->t[0][i1] - k->t[0][i0] - e * (k->t[1][i1] - k->t[1][i0] + (double)nz_int);
    double ek = e;
    for (int j = 2; j <= KL_TERMS; j++) {
      ek *= e;
      a += ek / (double)(j * (j - 1)) * (k->t[j - 1][i1] - k->t[j - 1][i0]);
    }
  } else {
    a = 0.0;
    for (int64_t i = start + 1; i < end - 1; i++)
      if (counts[i]) a += xlogx_shift((double)counts[i], e);
  }
  if (p0 != 0.0) a += xlogx_shift(p0, e);
  if (pl != 0.0) a += xlogx_shift(pl, e);
  /* levels: q = quant / norm on the non-zero bins of p */
  double lv[2 * 512], *v = lv, *pp = NULL;
  double *heap = NULL;
  if (nq > 512) {
    heap = ptq_malloc((size_t)nq * 2 * sizeof *heap);
    if (!heap) return INFINITY;
    v = heap;
  }
  pp = v + nq;
  int64_t zq = zp;
  double qsum = 0.0;
  int64_t nzq = 0;
  for (int l = 0; l < nq; l++) {
    const int64_t s = start + l * merged, t = l == nq - 1 ? end : s + merged;
    const double quant = (double)(prefix[t] - prefix[s]);
    int64_t n = k->nz[t] - k->nz[s];
    double sum = quant;
    if (l == 0) {
      n += (p0 != 0.0) - (counts[start] != 0);
      sum += (double)below;
    }
    if (l == nq - 1) {
      n += (pl != 0.0) - (counts[end - 1] != 0);
      sum += (double)above;
    }
    if (n == 0) {
      v[l] = -1.0; /* no non-zero bin: contributes nothing */
      continue;
    }
    v[l] = quant / (double)n;
    pp[l] = sum - (double)n * e;
    if (v[l] == 0.0)
      zq += n;
    else {
      qsum += v[l] * (double)n;
      nzq += n;
    }
  }
  double kl = INFINITY;
  if (zq < len) {
    const double eq = KL_EPS * (double)zq / (double)(len - zq);
    double b = 0.0;
    int ok = 1;
    for (int l = 0; l < nq && ok; l++) {
      if (v[l] < 0.0) continue;
      const double qv = v[l] == 0.0 ? KL_EPS : v[l] - eq;
      if (qv <= 0.0)
        ok = 0;
      else
        b += pp[l] * log(qv);
    }
    const double ps = (double)total - (double)nz * e + (double)zp * KL_EPS;
    const double qs = qsum - (double)nzq * eq + (double)zq * KL_EPS;
    if (ok) kl = log(qs / ps) + (a - b) / ps;
  }
  free(heap);
  return kl;
}

static ptq_status range_kl(const ptq_calib *c, int64_t ch, float *rmin, float *rmax) {
  const hist *src = &c->h[ch];
  const int64_t nb = c->cfg.num_bins;
  const int nq = c->cfg.num_quant_bins, compat = c->cfg.kl_ort_compat;
  if (!src->has_width) {
    *rmin = *rmax = 0.0f;
    return PTQ_OK;
  }
  hist h = *src;
  int64_t *buf = ptq_calloc((size_t)(2 * nb + 1), sizeof *buf);
  const int64_t cands = h.k0 < 0 || compat ? nb / 2 - nq / 2 + 1 : nb - nq + 1;
  double *kl = ptq_malloc((size_t)cands * sizeof *kl);
  ptq_status status = PTQ_OK;
  if (!buf || !kl) {
    status = ptq_error(PTQ_ERR_NOMEM, "KL calibration");
    goto done;
  }
  int64_t *prefix = buf + nb;
  if (compat && h.k0 == 0) { /* onnxruntime's histogram always spans [-t, t]: re-bin */
    for (int64_t i = 0; i < nb; i++) buf[i / 2 + nb / 2] += src->counts[i];
    h.counts = buf;
    h.k0 = (int)(-nb / 2);
    h.e += 1;
  } else if (h.k0 == 0 && nb > 1) {
    /* One-sided (post-ReLU) data: bin 0 holds the exact zeros, which any range represents
     * exactly; left in, that spike dominates p, every window merging > 1 bin per level smears
     * it and loses, and the narrowest window (128 bins) always won (MobileNetV2 top-1 -> 0).
     * TensorRT's calibrator (pytorch-quantization _compute_amax_entropy) sets bins[0] =
     * bins[1]; so does this. */
    memcpy(buf, src->counts, (size_t)nb * sizeof *buf);
    buf[0] = buf[1];
    h.counts = buf;
  } else {
    h.counts = src->counts;
  }
  prefix[0] = 0;
  for (int64_t i = 0; i < nb; i++) prefix[i + 1] = prefix[i] + h.counts[i];
  const int64_t z = -h.k0;
  kl_prefix kp = {0};
  if (!compat) {
    kp.nz = ptq_malloc((size_t)(nb + 1) * sizeof *kp.nz);
    double *t = ptq_malloc((size_t)(nb + 1) * (KL_TERMS + 1) * sizeof *t);
    if (!kp.nz || !t) {
      free(kp.nz);
      free(t);
      status = ptq_error(PTQ_ERR_NOMEM, "KL calibration");
      goto done;
    }
    for (int j = 0; j <= KL_TERMS; j++) kp.t[j] = t + (size_t)j * (size_t)(nb + 1);
    kl_prefix_fill(h.counts, nb, &kp);
  }
  int fail = 0;
  /* a window costs O(bins) in compat mode, O(levels) logarithms otherwise */
  const int64_t work = cands * (compat ? nb : 8 * (int64_t)nq);
#pragma omp parallel num_threads(ptq_threads()) if (work >= 4 * CALIB_PAR_MIN)
  {
    double *scratch = ptq_malloc((size_t)(3 * nb + nq) * sizeof *scratch);
    if (!scratch) {
#pragma omp atomic write
      fail = 1;
    }
#pragma omp for schedule(dynamic, 8)
    for (int64_t ci = 0; ci < cands; ci++) {
      if (!scratch) continue;
      int64_t start, end;
      if (compat) {
        const int64_t i = ci + nq / 2;
        start = z - i;
        end = z + i + 1 < nb ? z + i + 1 : nb;
      } else if (h.k0 < 0) {
        const int64_t i = ci + nq / 2;
        start = z - i;
        end = z + i;
      } else {
        start = 0;
        end = ci + nq;
      }
      kl[ci] = compat ? kl_window(h.counts, prefix, nb, start, end, nq, compat, scratch)
                      : kl_window_fast(h.counts, prefix, &kp, nb, start, end, nq);
    }
    free(scratch);
  }
  free(kp.nz);
  free(kp.t[0]);
  if (fail) {
    status = ptq_error(PTQ_ERR_NOMEM, "KL calibration scratch");
    goto done;
  }
  int64_t best = 0;
  for (int64_t ci = 1; ci < cands; ci++)
    if (kl[ci] < kl[best]) best = ci;
  double lo, hi;
  if (compat || h.k0 < 0) {
    const int64_t i = best + nq / 2;
    lo = bin_edge(&h, z - i);
    hi = bin_edge(&h, compat ? (z + i + 1 < nb ? z + i + 1 : nb) : z + i);
  } else {
    lo = 0.0;
    hi = bin_edge(&h, best + nq);
  }
  if (lo < c->mn[ch]) lo = c->mn[ch];
  if (hi > c->mx[ch]) hi = c->mx[ch];
  *rmin = (float)lo;
  *rmax = (float)hi;
done:
  free(buf);
  free(kl);
  return status;
}

/* Range of MSE candidate i of n: [a min, a max] with a = i / n (or [-a A, a A], A = max|x|,
 * for symmetric schemes; ptq_qparams_from_range symmetrises anyway). */
static void mse_candidate(double gmn, double gmx, int64_t i, int64_t n, float *lo, float *hi) {
  const double a = (double)i / (double)n;
  *lo = (float)(a * gmn);
  *hi = (float)(a * gmx);
}

static ptq_status range_mse(const ptq_calib *c, int64_t ch, float *rmin, float *rmax) {
  const hist *h = &c->h[ch];
  const int64_t nb = c->cfg.num_bins;
  if (!h->has_width) {
    *rmin = *rmax = 0.0f;
    return PTQ_OK;
  }
  const double gmn = c->mn[ch], gmx = c->mx[ch], w = ldexp(1.0, h->e);
  /* Candidates: one per occupied bin of the wider side, at most MSE_MAX_CANDIDATES. */
  int64_t n = (int64_t)ceil(fmax(-gmn, gmx) / w);
  if (n > MSE_MAX_CANDIDATES) n = MSE_MAX_CANDIDATES;
  if (n < 1) n = 1;
  double *err = ptq_malloc((size_t)n * sizeof *err);
  if (!err) return ptq_error(PTQ_ERR_NOMEM, "MSE calibration");
  int32_t qmin, qmax;
  ptq_qscheme_range(&c->cfg.scheme, &qmin, &qmax);
#pragma omp parallel for schedule(dynamic, 4) \
    num_threads(ptq_threads()) if (n * nb >= 4 * CALIB_PAR_MIN)
  for (int64_t i = 1; i <= n; i++) {
    float lo, hi;
    ptq_qparams qp;
    mse_candidate(gmn, gmx, i, n, &lo, &hi);
    if (ptq_qparams_from_range(&c->cfg.scheme, lo, hi, &qp) != PTQ_OK) {
      err[i - 1] = INFINITY; /* scale underflow: not a usable candidate */
      continue;
    }
    double e = 0.0;
    for (int64_t j = 0; j < nb; j++) {
      if (!h->counts[j]) continue;
      /* Bin mass at its centre, kept inside the observed extremes. */
      double xc = bin_edge(h, j) + 0.5 * w;
      xc = xc < gmn ? gmn : xc > gmx ? gmx : xc;
      const float x = (float)xc;
      const float xq =
          ptq_dequantize_value(ptq_quantize_value(x, qp, qmin, qmax, c->cfg.scheme.round), qp);
      const double d = (double)x - (double)xq;
      e += (double)h->counts[j] * d * d;
    }
    err[i - 1] = e;
  }
  ptq_error_clear();
  int64_t best = n - 1; /* ties prefer the wider range */
  for (int64_t i = n - 2; i >= 0; i--)
    if (err[i] < err[best]) best = i;
  mse_candidate(gmn, gmx, best + 1, n, rmin, rmax);
  free(err);
  return PTQ_OK;
}

ptq_status ptq_calib_range(const ptq_calib *c, float *rmin, float *rmax) {
  if (!c->channels) return ptq_error(PTQ_ERR_DATA, "calibration saw no data");
  int any = 0;
  for (int64_t ch = 0; ch < c->channels; ch++) any |= c->seen[ch] > 0;
  if (!any) return ptq_error(PTQ_ERR_DATA, "calibration saw no data");
  for (int64_t ch = 0; ch < c->channels; ch++) {
    if (!c->seen[ch]) {
      rmin[ch] = rmax[ch] = 0.0f;
      continue;
    }
    switch (c->cfg.method) {
      case PTQ_CALIB_MINMAX:
        rmin[ch] = c->mn[ch];
        rmax[ch] = c->mx[ch];
        break;
      case PTQ_CALIB_EMA:
        rmin[ch] = (float)c->ema_mn[ch];
        rmax[ch] = (float)c->ema_mx[ch];
        break;
      case PTQ_CALIB_PERCENTILE: range_percentile(c, ch, &rmin[ch], &rmax[ch]); break;
      case PTQ_CALIB_MSE: PTQ_TRY(range_mse(c, ch, &rmin[ch], &rmax[ch])); break;
      case PTQ_CALIB_KL: PTQ_TRY(range_kl(c, ch, &rmin[ch], &rmax[ch])); break;
    }
  }
  return PTQ_OK;
}

ptq_status ptq_calib_histogram(const ptq_calib *c, int64_t channel, ptq_calib_hist *out) {
  if (!uses_hist(c->cfg.method) || channel < 0 || channel >= c->channels)
    return ptq_error(PTQ_ERR_INVALID_ARG, "no histogram for channel %lld", (long long)channel);
  const hist *h = &c->h[channel];
  out->counts = h->counts;
  out->num_bins = c->cfg.num_bins;
  out->k0 = h->k0;
  out->exp2 = h->e;
  out->has_width = h->has_width;
  out->min = c->mn[channel];
  out->max = c->mx[channel];
  out->total = c->seen[channel];
  return PTQ_OK;
}

/* ---------------------------------------------------------- MSE weights --- */

ptq_status ptq_quant_sq_error(const float *x, int64_t n, const ptq_qscheme *s, float rmin,
                              float rmax, double *err) {
  ptq_qparams qp;
  PTQ_TRY(ptq_qparams_from_range(s, rmin, rmax, &qp));
  int32_t qmin, qmax;
  ptq_qscheme_range(s, &qmin, &qmax);
  double e = 0.0;
  for (int64_t i = 0; i < n; i++) {
    const float xq = ptq_dequantize_value(ptq_quantize_value(x[i], qp, qmin, qmax, s->round), qp);
    const double d = (double)x[i] - (double)xq;
    e += d * d;
  }
  *err = e;
  return PTQ_OK;
}

/* Error of candidate range over one channel's strided runs. */
static double channel_error(const float *w, int64_t outer, int64_t channels, int64_t inner,
                            int64_t ch, const ptq_qscheme *s, ptq_qparams qp) {
  int32_t qmin, qmax;
  ptq_qscheme_range(s, &qmin, &qmax);
  double e = 0.0;
  for (int64_t o = 0; o < outer; o++) {
    const float *x = w + (o * channels + ch) * inner;
    for (int64_t i = 0; i < inner; i++) {
      const float xq = ptq_dequantize_value(ptq_quantize_value(x[i], qp, qmin, qmax, s->round), qp);
      const double d = (double)x[i] - (double)xq;
      e += d * d;
    }
  }
  return e;
}

ptq_status ptq_calib_mse_weights(const float *w, int rank, const int64_t *dims,
                                 const ptq_qscheme *s, float *rmin, float *rmax) {
  PTQ_TRY(ptq_qscheme_check(s, rank));
  int64_t outer = 1, channels = 1, inner = 1;
  if (s->per_channel) {
    PTQ_TRY(ptq_axis_split(rank, dims, s->axis, &outer, &channels, &inner));
  } else {
    for (int d = 0; d < rank; d++)
      if (dims[d] < 0 || ptq_mul_i64(inner, dims[d], &inner) != 0)
        return ptq_error(PTQ_ERR_SHAPE, "bad weight shape");
  }
  const int64_t nc = MSE_WEIGHT_CANDIDATES;
  for (int64_t ch = 0; ch < channels; ch++) {
    float mn = INFINITY, mx = -INFINITY;
    for (int64_t o = 0; o < outer; o++) {
      const stat3 st = run_stats(w + (o * channels + ch) * inner, inner);
      if (st.bad) return ptq_error(PTQ_ERR_DATA, "weights hold NaN or infinity");
      mn = st.mn < mn ? st.mn : mn;
      mx = st.mx > mx ? st.mx : mx;
    }
    if (outer * inner == 0) mn = mx = 0.0f;
    rmin[ch] = mn;
    rmax[ch] = mx;
  }
  double *err = ptq_malloc((size_t)nc * (size_t)channels * sizeof *err);
  if (!err) return ptq_error(PTQ_ERR_NOMEM, "MSE weight calibration");
  /* One (channel, candidate) pair per work item, each summed in index order. */
  const int64_t items = channels * nc;
#pragma omp parallel for schedule(dynamic, 4) \
    num_threads(ptq_threads()) if (outer * channels * inner * nc >= 4 * CALIB_PAR_MIN)
  for (int64_t it = 0; it < items; it++) {
    const int64_t ch = it / nc, i = it % nc + 1;
    float lo, hi;
    ptq_qparams qp;
    mse_candidate(rmin[ch], rmax[ch], i, nc, &lo, &hi);
    err[it] = ptq_qparams_from_range(s, lo, hi, &qp) == PTQ_OK
                  ? channel_error(w, outer, channels, inner, ch, s, qp)
                  : INFINITY;
  }
  for (int64_t ch = 0; ch < channels; ch++) {
    const double *e = err + ch * nc;
    int64_t best = nc - 1;
    for (int64_t i = nc - 2; i >= 0; i--)
      if (e[i] < e[best]) best = i;
    mse_candidate(rmin[ch], rmax[ch], best + 1, nc, &rmin[ch], &rmax[ch]);
  }
  free(err);
  ptq_error_clear(); /* a candidate whose scale underflows is skipped, not an error */
  return PTQ_OK;
}
