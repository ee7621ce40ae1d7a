/* Public model API: load (parse + prepare), save, introspection. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "exec/exec.h"
#include "ir/onnx_io.h"

void ptq_model_destroy(ptq_model *m) {
  if (!m) return;
  ir_graph_destroy(m->graph);
  for (int i = 0; i < m->n_opsets; i++) free(m->opsets[i].domain);
  free(m->opsets);
  for (int i = 0; i < m->n_metadata; i++) {
    free(m->metadata[i].key);
    free(m->metadata[i].value);
  }
  free(m->metadata);
  free(m->producer_name);
  free(m->producer_version);
  free(m->domain);
  free(m->doc_string);
  free(m);
}

ptq_status ptq_model_load_buffer(const void *buf, size_t len, const char *base_dir,
                                 const ptq_load_options *opts, ptq_model **out) {
  if (!out || (!buf && len)) return ptq_error(PTQ_ERR_INVALID_ARG, "NULL argument");
  *out = NULL;
  if (len == 0) return ptq_error(PTQ_ERR_PARSE, "empty model file");
  ptq_model *m;
  PTQ_TRY(onnx_parse_model(buf, len, base_dir, &m));
  ptq_status st = exec_prepare_model(m, opts);
  if (st != PTQ_OK) {
    ptq_model_destroy(m);
    return st;
  }
  *out = m;
  return PTQ_OK;
}

ptq_status ptq_model_load(const char *path, const ptq_load_options *opts, ptq_model **out) {
  if (!path || !out) return ptq_error(PTQ_ERR_INVALID_ARG, "NULL argument");
  *out = NULL;
  struct stat sb;
  if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
    return ptq_error(PTQ_ERR_IO, "'%s' is a directory, not an ONNX model", path);
  void *buf;
  size_t len;
  PTQ_TRY(ptq_file_read(path, &buf, &len));
  const char *slash = strrchr(path, '/');
  char *dir = slash ? ptq_strndup(path, (size_t)(slash - path) + (slash == path)) : ptq_strdup(".");
  ptq_status st = dir ? ptq_model_load_buffer(buf, len, dir, opts, out)
                      : ptq_error(PTQ_ERR_NOMEM, "out of memory");
  free(dir);
  free(buf);
  if (st != PTQ_OK) ptq_error_prefix(st, "%s: ", path);
  return st;
}

ptq_status ptq_model_save(const ptq_model *m, const char *path) {
  if (!m || !path) return ptq_error(PTQ_ERR_INVALID_ARG, "NULL argument");
  if (m->lowered)
    return ptq_error(PTQ_ERR_INVALID_ARG,
                     "the model was lowered for the int8 runtime and cannot be saved");
  void *buf;
  size_t len;
  PTQ_TRY(onnx_serialize_model(m, &buf, &len));
  ptq_status st = ptq_file_write_atomic(path, buf, len);
  free(buf);
  return st;
}

size_t ptq_model_input_count(const ptq_model *m) {
  return m ? (size_t)m->graph->n_inputs : 0;
}
size_t ptq_model_output_count(const ptq_model *m) {
  return m ? (size_t)m->graph->n_outputs : 0;
}

static void fill_info(const ir_value *v, ptq_value_info *out) {
  out->name = v->name;
  out->dtype = v->dtype;
  out->rank = v->rank;
  for (int d = 0; d < PTQ_MAX_RANK; d++) out->dims[d] = d < v->rank ? v->dims[d] : 0;
}

ptq_status ptq_model_input(const ptq_model *m, size_t i, ptq_value_info *out) {
  if (!m || !out || i >= (size_t)m->graph->n_inputs)
    return ptq_error(PTQ_ERR_INVALID_ARG, "input index %zu out of range", i);
  fill_info(&m->graph->values[m->graph->inputs[i]], out);
  if (m->micro_batch > 1 && out->rank >= 1) out->dims[0] = m->micro_batch;
  return PTQ_OK;
}

ptq_status ptq_model_output(const ptq_model *m, size_t i, ptq_value_info *out) {
  if (!m || !out || i >= (size_t)m->graph->n_outputs)
    return ptq_error(PTQ_ERR_INVALID_ARG, "output index %zu out of range", i);
  fill_info(&m->graph->values[m->graph->outputs[i]], out);
  if (m->micro_batch > 1 && out->rank >= 1) out->dims[0] = m->micro_batch;
  return PTQ_OK;
}

typedef struct sbuf {
  char *s;
  size_t len, cap;
  int failed;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) PTQ_PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...) {
  if (b->failed) return;
  va_list ap;
  va_start(ap, fmt);
  char tmp[1024];
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n >= sizeof tmp) n = sizeof tmp - 1;
  if (b->len + (size_t)n + 1 > b->cap) {
    size_t cap = (b->cap ? b->cap * 2 : 1024) + (size_t)n;
    char *s = realloc(b->s, cap);
    if (!s) {
      b->failed = 1;
      return;
    }
    b->s = s;
    b->cap = cap;
  }
  memcpy(b->s + b->len, tmp, (size_t)n + 1);
  b->len += (size_t)n;
}

static void sb_value(sbuf *b, const ir_value *v) {
  sb_printf(b, "  %-24s %-8s [", v->name, ptq_dtype_name(v->dtype));
  if (v->rank < 0) sb_printf(b, "?");
  for (int d = 0; d < v->rank; d++) {
    if (v->dims[d] >= 0)
      sb_printf(b, "%s%lld", d ? "x" : "", (long long)v->dims[d]);
    else
      sb_printf(b, "%s%s", d ? "x" : "", v->dim_param[d] ? v->dim_param[d] : "?");
  }
  sb_printf(b, "]\n");
}

static void count_ops(const ir_graph *g, const char **names, int *counts, int *n, int max) {
  for (int i = 0; i < g->n_nodes; i++) {
    const ir_node *nd = &g->nodes[i];
    int j = 0;
    while (j < *n && strcmp(names[j], nd->op_type) != 0) j++;
    if (j == *n && *n < max) names[(*n)++] = nd->op_type;
    if (j < max) counts[j]++;
    for (int a = 0; a < nd->n_attrs; a++)
      if (nd->attrs[a].g) count_ops(nd->attrs[a].g, names, counts, n, max);
  }
}

char *ptq_model_summary(const ptq_model *m) {
  if (!m) return NULL;
  sbuf b = {0};
  const ir_graph *g = m->graph;
  sb_printf(&b, "ir_version %lld, opset %lld, producer '%s %s', graph '%s'\n",
            (long long)m->ir_version, (long long)m->opset, m->producer_name, m->producer_version,
            g->name);
  sb_printf(&b, "inputs:\n");
  for (int i = 0; i < g->n_inputs; i++) sb_value(&b, &g->values[g->inputs[i]]);
  sb_printf(&b, "outputs:\n");
  for (int i = 0; i < g->n_outputs; i++) sb_value(&b, &g->values[g->outputs[i]]);
  int64_t params = 0, pbytes = 0, nconst = 0;
  for (int v = 0; v < g->n_values; v++) {
    const ptq_tensor *t = g->values[v].data;
    if (!t) continue;
    nconst++;
    params += ptq_tensor_numel(t);
    pbytes += ptq_tensor_numel(t) * (int64_t)ptq_dtype_size(t->dtype);
  }
  sb_printf(&b, "parameters: %lld in %lld constant tensors (%.2f MB)\n", (long long)params,
            (long long)nconst, (double)pbytes / 1e6);
  const char *names[256];
  int counts[256] = {0}, n = 0, total = 0;
  count_ops(g, names, counts, &n, 256);
  for (int i = 0; i < n; i++) total += counts[i];
  sb_printf(&b, "nodes: %d (%d op types)\n", total, n);
  /* histogram sorted by count, then name */
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++)
      if (counts[j] > counts[i] || (counts[j] == counts[i] && strcmp(names[j], names[i]) < 0)) {
        int tc = counts[i];
        const char *tn = names[i];
        counts[i] = counts[j];
        names[i] = names[j];
        counts[j] = tc;
        names[j] = tn;
      }
  for (int i = 0; i < n; i++) sb_printf(&b, "  %-24s %d\n", names[i], counts[i]);
  if (b.failed) {
    free(b.s);
    return NULL;
  }
  return b.s;
}

ptq_status ptq_model_engine(const ptq_model *m, ptq_engine_info *out) {
  if (!m || !out) return ptq_error(PTQ_ERR_INVALID_ARG, "NULL argument");
  *out = m->engine;
  return PTQ_OK;
}

const char *ptq_engine_name(ptq_engine e) {
  switch (e) {
    case PTQ_ENGINE_INT8: return "int8";
    case PTQ_ENGINE_SIM: return "sim";
    case PTQ_ENGINE_FLOAT: return "float";
    default: return "auto";
  }
}
