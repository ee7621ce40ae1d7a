#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"

static const char *const HELP =
    "usage: ptq bench MODEL [--threads N] [--batch B] [--shape NAME=DIMS]\n"
    "                 [--input NAME=FILE.npy] [--repeat R] [--warmup W] [--seed S] [--json]\n"
    "                 [--engine int8|sim|float] [--profile-layers]\n"
    "\n"
    "Runs MODEL W times to warm up, then R times (default 20, at least 1 s in total), and\n"
    "prints the median and minimum latency and the throughput (samples/s = batch / median).\n"
    "Inputs not given with --input are filled with seeded uniform random values in [0, 1)\n"
    "(integers: 0).\n"
    "\n"
    "  --profile-layers    also time every node (mean ms per run over the measured runs, share,\n"
    "                      and GOP/s = 2 x multiply-accumulates / time for Conv/Gemm/MatMul\n"
    "                      and their int8 forms); with --json a \"layers\" array of\n"
    "                      {\"node\", \"op\", \"ms\", \"macs\"}\n"
    "  --engine E          how a quantized model runs: int8 (the int8 runtime; default for a\n"
    "                      model with quantized activations), sim (Q/DQ in float32, as\n"
    "                      onnxruntime's QDQ reference), float (Q/DQ removed)\n";

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* JSON string body: quotes, backslashes and control characters escaped. */
static void put_json_str(const char *s) {
  putchar('"');
  for (; *s; s++) {
    const unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\')
      printf("\\%c", ch);
    else if (ch < 0x20)
      printf("\\u%04x", ch);
    else
      putchar(ch);
  }
  putchar('"');
}

static void print_layers_json(const ptq_node_time *t, size_t n, int64_t runs) {
  printf(", \"layers\": [");
  for (size_t i = 0; i < n; i++) {
    printf("%s{\"node\": ", i ? ", " : "");
    put_json_str(t[i].node);
    printf(", \"op\": ");
    put_json_str(t[i].op);
    printf(", \"ms\": %.5f, \"macs\": %lld}", runs ? t[i].ms / (double)runs : 0.0,
           (long long)t[i].macs);
  }
  printf("]");
}

static void print_layers(const ptq_node_time *t, size_t n, int64_t runs) {
  double total = 0;
  for (size_t i = 0; i < n; i++) total += t[i].ms;
  printf("  per node (mean over %lld runs):\n  %-40s %-16s %9s %6s %8s\n", (long long)runs, "node",
         "op", "ms", "share", "GOP/s");
  for (size_t i = 0; i < n; i++) {
    const double ms = runs ? t[i].ms / (double)runs : 0.0;
    printf("  %-40.40s %-16.16s %9.4f %5.1f%%", t[i].node[0] ? t[i].node : "(unnamed)", t[i].op, ms,
           total > 0 ? 100.0 * t[i].ms / total : 0.0);
    if (t[i].macs && ms > 0)
      printf(" %8.1f\n", 2.0 * (double)t[i].macs / ms / 1e6);
    else
      printf(" %8s\n", "-");
  }
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int cmd_bench(int argc, char **argv) {
  cli_model_opts mo = {.engine_ok = 1};
  const char *path = NULL, *v, *specs[64];
  long long repeat = 20, warmup = 3, seed = 1;
  int json = 0, layers = 0, rc = CLI_OK, n_specs = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(HELP, stdout);
      return CLI_OK;
    }
    int r = cli_model_opt("bench", argc, argv, &i, &mo);
    if (r < 0) return CLI_USAGE;
    if (r > 0) continue;
    if (strcmp(a, "--repeat") == 0 || strcmp(a, "--warmup") == 0 || strcmp(a, "--seed") == 0) {
      long long x;
      if (!(v = cli_value("bench", argc, argv, &i))) return CLI_USAGE;
      if (cli_parse_ll(v, &x) || x < 0 || x > 1000000)
        return cli_usage_error("bench", "%s needs a non-negative integer", a);
      if (a[2] == 'r')
        repeat = x > 0 ? x : 1;
      else if (a[2] == 'w')
        warmup = x;
      else
        seed = x;
    } else if (strcmp(a, "--input") == 0) {
      if (!(v = cli_value("bench", argc, argv, &i))) return CLI_USAGE;
      if (!strchr(v, '=') || n_specs == 64)
        return cli_usage_error("bench", "--input must be NAME=FILE.npy");
      specs[n_specs++] = v;
    } else if (strcmp(a, "--json") == 0) {
      json = 1;
    } else if (strcmp(a, "--profile-layers") == 0) {
      layers = 1;
    } else if (a[0] == '-') {
      return cli_usage_error("bench", "unknown option '%s'", a);
    } else if (path) {
      return cli_usage_error("bench", "more than one model given");
    } else {
      path = a;
    }
  }
  if (!path) return cli_usage_error("bench", "no model given");
  ptq_model *m = NULL;
  ptq_session *s = NULL;
  size_t n_in = 0, n_out = 0;
  ptq_tensor **in = NULL, **out = NULL;
  const char **names = NULL;
  double *times = NULL;
  if ((rc = cli_load(path, &mo, &m))) return rc;
  n_in = ptq_model_input_count(m);
  n_out = ptq_model_output_count(m);
  in = calloc(n_in + 1, sizeof *in);
  out = calloc(n_out + 1, sizeof *out);
  names = calloc(n_in + 1, sizeof *names);
  if (!in || !out || !names) {
    rc = cli_fail(PTQ_ERR_NOMEM, "out of memory");
    goto done;
  }
  uint64_t rng = (uint64_t)seed * 0x9E3779B97F4A7C15ull + 1;
  int64_t batch = 1;
  for (size_t k = 0; k < n_in; k++) {
    ptq_value_info vi;
    ptq_model_input(m, k, &vi);
    names[k] = vi.name;
    for (int j = 0; j < n_specs; j++) {
      const char *eq = strrchr(specs[j], '=');
      if ((size_t)(eq - specs[j]) == strlen(vi.name) &&
          strncmp(specs[j], vi.name, strlen(vi.name)) == 0) {
        ptq_status st = ptq_npy_load(eq + 1, &in[k]);
        if (st != PTQ_OK) {
          rc = cli_fail(st, "cannot read input '%s'", vi.name);
          goto done;
        }
      }
    }
    if (in[k]) continue;
    for (int d = 0; d < vi.rank; d++)
      if (vi.dims[d] < 0) {
        rc = cli_fail(PTQ_ERR_SHAPE, "input '%s' has dynamic dimension %d: give --shape or --input",
                      vi.name, d);
        goto done;
      }
    ptq_status st = ptq_tensor_create(vi.dtype, vi.rank, vi.dims, &in[k]);
    if (st != PTQ_OK) {
      rc = cli_fail(st, "cannot create input '%s'", vi.name);
      goto done;
    }
    if (vi.dtype == PTQ_DT_FLOAT) {
      float *p = in[k]->data;
      for (int64_t e = 0; e < ptq_tensor_numel(in[k]); e++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        p[e] = (float)((rng >> 40) * (1.0 / 16777216.0));
      }
    }
    if (k == 0 && vi.rank > 0) batch = vi.dims[0];
  }
  if (n_in > 0 && in[0]->rank > 0) batch = in[0]->dims[0];
  ptq_session_options so = {.threads = mo.threads};
  ptq_status st = ptq_session_create(m, &so, &s);
  if (st != PTQ_OK) {
    rc = cli_fail(st, "cannot create session");
    goto done;
  }
  size_t cap = (size_t)repeat + 1024;
  if (!(times = malloc(cap * sizeof *times))) {
    rc = cli_fail(PTQ_ERR_NOMEM, "out of memory");
    goto done;
  }
  size_t nt = 0;
  double t_start = 0;
  for (long long r = -warmup; nt < (size_t)repeat || (now_ms() - t_start < 1000 && nt < cap); r++) {
    if (r == 0 && layers && (st = ptq_session_profile(s, 1)) != PTQ_OK) {
      rc = cli_fail(st, "cannot profile");
      goto done;
    }
    double t0 = now_ms();
    if (r == 0) t_start = t0;
    st = ptq_session_run(s, n_in, names, (const ptq_tensor *const *)in, out);
    double t1 = now_ms();
    for (size_t k = 0; k < n_out; k++) {
      ptq_tensor_destroy(out[k]);
      out[k] = NULL;
    }
    if (st != PTQ_OK) {
      rc = cli_fail(st, "run failed");
      goto done;
    }
    if (r >= 0) times[nt++] = t1 - t0;
  }
  qsort(times, nt, sizeof *times, cmp_double);
  double med = nt % 2 ? times[nt / 2] : 0.5 * (times[nt / 2 - 1] + times[nt / 2]);
  double thr = med > 0 ? (double)batch * 1000.0 / med : 0;
  const ptq_node_time *nodes = NULL;
  size_t n_nodes = 0;
  int64_t runs = 0;
  if (layers && (st = ptq_session_profile_get(s, &nodes, &n_nodes, &runs)) != PTQ_OK) {
    rc = cli_fail(st, "cannot read the profile");
    goto done;
  }
  if (json) {
    printf(
        "{\"latency_ms\": %.4f, \"min_ms\": %.4f, \"throughput\": %.2f, \"batch\": %lld, "
        "\"threads\": %d, \"runs\": %zu, \"seed\": %lld",
        med, times[0], thr, (long long)batch, mo.threads, nt, seed);
    if (layers) print_layers_json(nodes, n_nodes, runs);
    printf("}\n");
  } else {
    printf(
        "%s: batch %lld, threads %d, %zu runs (seed %lld)\n  latency median %.3f ms, min %.3f ms\n"
        "  throughput %.1f samples/s\n",
        path, (long long)batch, mo.threads, nt, seed, med, times[0], thr);
    if (layers) print_layers(nodes, n_nodes, runs);
  }
done:
  for (size_t k = 0; in && k < n_in; k++) ptq_tensor_destroy(in[k]);
  free(in);
  free(out);
  free(names);
  free(times);
  ptq_session_destroy(s);
  ptq_model_destroy(m);
  return rc;
}
