#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"

ir_graph *ir_graph_create(ir_graph *parent) {
  ir_graph *g = calloc(1, sizeof *g);
  if (!g) return NULL;
  g->parent = parent;
  if (parent) g->opset = parent->opset;
  return g;
}

void ir_attr_clear(ir_attr *a) {
  free(a->name);
  free(a->s);
  free(a->floats);
  free(a->ints);
  for (size_t i = 0; a->strings && i < a->n; i++) free(a->strings[i]);
  free(a->strings);
  ptq_tensor_destroy(a->t);
  ir_graph_destroy(a->g);
  free(a->doc_string);
  memset(a, 0, sizeof *a);
}

void ir_node_clear(ir_node *n) {
  free(n->name);
  free(n->op_type);
  free(n->domain);
  free(n->doc_string);
  free(n->inputs);
  free(n->outputs);
  for (int i = 0; i < n->n_attrs; i++) ir_attr_clear(&n->attrs[i]);
  free(n->attrs);
  memset(n, 0, sizeof *n);
}

void ir_graph_destroy(ir_graph *g) {
  if (!g) return;
  for (int i = 0; i < g->n_nodes; i++) ir_node_clear(&g->nodes[i]);
  free(g->nodes);
  for (int i = 0; i < g->n_values; i++) {
    ir_value *v = &g->values[i];
    free(v->name);
    free(v->doc_string);
    for (int d = 0; d < PTQ_MAX_RANK; d++) free(v->dim_param[d]);
    ptq_tensor_destroy(v->data);
  }
  free(g->values);
  ptq_strmap_free(&g->value_map);
  free(g->inputs);
  free(g->outputs);
  free(g->name);
  free(g->doc_string);
  free(g);
}

int ir_graph_find(const ir_graph *g, const char *name) {
  int idx;
  return ptq_strmap_get(&g->value_map, name, &idx) ? idx : -1;
}

int ir_graph_add_value(ir_graph *g, const char *name) {
  if (g->n_values == g->cap_values) {
    int cap = g->cap_values ? g->cap_values * 2 : 64;
    ir_value *v = ptq_realloc_array(g->values, (size_t)cap, sizeof *v);
    if (!v) return -1;
    g->values = v;
    g->cap_values = cap;
  }
  ir_value *v = &g->values[g->n_values];
  memset(v, 0, sizeof *v);
  v->name = ptq_strdup(name);
  v->rank = -1;
  v->producer = -1;
  if (!v->name || ptq_strmap_put(&g->value_map, name, g->n_values) != 0) {
    free(v->name);
    return -1;
  }
  return g->n_values++;
}

int ir_graph_value(ir_graph *g, const char *name) {
  int idx = ir_graph_find(g, name);
  return idx >= 0 ? idx : ir_graph_add_value(g, name);
}

int ir_graph_add_node(ir_graph *g, ir_node *node) {
  if (g->n_nodes == g->cap_nodes) {
    int cap = g->cap_nodes ? g->cap_nodes * 2 : 64;
    ir_node *n = ptq_realloc_array(g->nodes, (size_t)cap, sizeof *n);
    if (!n) return -1;
    g->nodes = n;
    g->cap_nodes = cap;
  }
  g->nodes[g->n_nodes] = *node;
  memset(node, 0, sizeof *node);
  return g->n_nodes++;
}

const ir_attr *ir_node_attr(const ir_node *n, const char *name) {
  for (int i = 0; i < n->n_attrs; i++)
    if (strcmp(n->attrs[i].name, name) == 0) return &n->attrs[i];
  return NULL;
}

int64_t ir_attr_int(const ir_node *n, const char *name, int64_t def) {
  const ir_attr *a = ir_node_attr(n, name);
  return a && a->type == IR_ATTR_INT ? a->i : def;
}

float ir_attr_float(const ir_node *n, const char *name, float def) {
  const ir_attr *a = ir_node_attr(n, name);
  if (!a) return def;
  if (a->type == IR_ATTR_FLOAT) return a->f;
  if (a->type == IR_ATTR_INT) return (float)a->i;
  return def;
}

const char *ir_attr_string(const ir_node *n, const char *name, const char *def) {
  const ir_attr *a = ir_node_attr(n, name);
  return a && a->type == IR_ATTR_STRING ? a->s : def;
}

/* Absent attributes yield an empty, non-NULL array so callers may memcpy zero elements. */
static const int64_t g_no_ints[1];
static const float g_no_floats[1];

size_t ir_attr_ints(const ir_node *n, const char *name, const int64_t **out) {
  const ir_attr *a = ir_node_attr(n, name);
  *out = g_no_ints;
  if (!a || a->type != IR_ATTR_INTS) return 0;
  *out = a->ints;
  return a->n;
}

size_t ir_attr_floats(const ir_node *n, const char *name, const float **out) {
  const ir_attr *a = ir_node_attr(n, name);
  *out = g_no_floats;
  if (!a || a->type != IR_ATTR_FLOATS) return 0;
  *out = a->floats;
  return a->n;
}

ptq_status ir_tensor_clone(const ptq_tensor *src, ptq_tensor **out) {
  PTQ_TRY(ptq_tensor_create(src->dtype, src->rank, src->dims, out));
  size_t bytes = (size_t)ptq_tensor_numel(src) * ptq_dtype_size(src->dtype);
  if (bytes) memcpy((*out)->data, src->data, bytes);
  return PTQ_OK;
}

const char *ir_node_desc(const ir_node *n) {
  static _Thread_local char buf[512];
  snprintf(buf, sizeof buf, "node '%s' (%s%s%s)", n->name && n->name[0] ? n->name : "<unnamed>",
           n->domain && n->domain[0] ? n->domain : "", n->domain && n->domain[0] ? "." : "",
           n->op_type ? n->op_type : "?");
  return buf;
}

/* Kahn's algorithm, taking ready nodes in file order so the result is deterministic. */
ptq_status ir_graph_toposort(ir_graph *g) {
  ptq_status st = PTQ_OK;
  int n = g->n_nodes;
  if (n <= 0) return PTQ_OK;
  int *pending = ptq_calloc((size_t)n, sizeof *pending);
  int *order = ptq_calloc((size_t)n, sizeof *order);
  int *producer = ptq_malloc((size_t)g->n_values * sizeof *producer + 1);
  char *placed = ptq_calloc((size_t)n, 1);
  if (!pending || !order || !producer || !placed) {
    st = ptq_error(PTQ_ERR_NOMEM, "out of memory sorting graph");
    goto done;
  }
  for (int v = 0; v < g->n_values; v++) producer[v] = -1;
  for (int i = 0; i < n; i++)
    for (int o = 0; o < g->nodes[i].n_outputs; o++) {
      int v = g->nodes[i].outputs[o];
      if (v < 0) continue;
      if (producer[v] >= 0 || g->values[v].is_initializer || g->values[v].is_input) {
        st = ptq_error(PTQ_ERR_INVALID_MODEL, "%s: output '%s' is already defined elsewhere",
                       ir_node_desc(&g->nodes[i]), g->values[v].name);
        goto done;
      }
      producer[v] = i;
    }
  for (int i = 0; i < n; i++) {
    const ir_node *nd = &g->nodes[i];
    for (int k = 0; k < nd->n_inputs; k++) {
      int v = nd->inputs[k];
      if (v < 0) continue;
      const ir_value *val = &g->values[v];
      if (producer[v] >= 0) {
        pending[i]++;
      } else if (!val->is_input && !val->is_initializer && !val->outer && !val->data) {
        st = ptq_error(PTQ_ERR_INVALID_MODEL,
                       "%s: input '%s' is not produced by any node, graph input or initializer",
                       ir_node_desc(nd), val->name);
        goto done;
      }
    }
  }
  int count = 0;
  for (int progress = 1; progress && count < n;) {
    progress = 0;
    for (int i = 0; i < n; i++) {
      if (placed[i] || pending[i]) continue;
      placed[i] = 1;
      order[count++] = i;
      progress = 1;
      const ir_node *nd = &g->nodes[i];
      for (int o = 0; o < nd->n_outputs; o++) {
        int v = nd->outputs[o];
        if (v < 0) continue;
        for (int j = 0; j < n; j++) {
          if (placed[j]) continue;
          for (int k = 0; k < g->nodes[j].n_inputs; k++)
            if (g->nodes[j].inputs[k] == v) pending[j]--;
        }
      }
    }
  }
  if (count < n) {
    for (int i = 0; i < n; i++)
      if (!placed[i]) {
        st = ptq_error(PTQ_ERR_INVALID_MODEL, "%s: the graph has a cycle through this node",
                       ir_node_desc(&g->nodes[i]));
        goto done;
      }
  }
  ir_node *sorted = ptq_malloc((size_t)n * sizeof *sorted);
  if (!sorted) {
    st = ptq_error(PTQ_ERR_NOMEM, "out of memory sorting graph");
    goto done;
  }
  for (int i = 0; i < n; i++) sorted[i] = g->nodes[order[i]];
  memcpy(g->nodes, sorted, (size_t)n * sizeof *sorted);
  free(sorted);
  for (int v = 0; v < g->n_values; v++) g->values[v].producer = -1;
  for (int i = 0; i < n; i++)
    for (int o = 0; o < g->nodes[i].n_outputs; o++)
      if (g->nodes[i].outputs[o] >= 0) g->values[g->nodes[i].outputs[o]].producer = i;
done:
  free(pending);
  free(order);
  free(producer);
  free(placed);
  return st;
}

char *ir_graph_unique_name(const ir_graph *g, const char *base) {
  if (ir_graph_find(g, base) < 0) return ptq_strdup(base);
  for (int i = 1;; i++) {
    char *s = ptq_asprintf("%s_%d", base, i);
    if (!s || ir_graph_find(g, s) < 0) return s;
    free(s);
  }
}

int ir_graph_add_constant(ir_graph *g, const char *base, ptq_tensor *t) {
  char *name = ir_graph_unique_name(g, base);
  int v = name ? ir_graph_add_value(g, name) : -1;
  free(name);
  if (v < 0) {
    ptq_tensor_destroy(t);
    return -1;
  }
  ir_value *val = &g->values[v];
  val->data = t;
  val->is_initializer = 1;
  val->has_type = 1;
  val->dtype = t->dtype;
  val->rank = t->rank;
  for (int d = 0; d < t->rank; d++) val->dims[d] = t->dims[d];
  return v;
}

int ir_graph_new_node(ir_graph *g, const char *name, const char *op_type, int n_in, const int *in,
                      int n_out, const int *out) {
  ir_node n = {0};
  n.name = ir_graph_unique_name(g, name); /* node and value names share no namespace in ONNX,
                                             but distinct names keep messages unambiguous */
  n.op_type = ptq_strdup(op_type);
  n.domain = ptq_strdup("");
  n.inputs = ptq_malloc((size_t)(n_in ? n_in : 1) * sizeof *n.inputs);
  n.outputs = ptq_malloc((size_t)(n_out ? n_out : 1) * sizeof *n.outputs);
  n.attrs = NULL;
  if (!n.name || !n.op_type || !n.domain || !n.inputs || !n.outputs) {
    ir_node_clear(&n);
    return -1;
  }
  n.n_inputs = n_in;
  n.n_outputs = n_out;
  memcpy(n.inputs, in, (size_t)n_in * sizeof *in);
  memcpy(n.outputs, out, (size_t)n_out * sizeof *out);
  int idx = ir_graph_add_node(g, &n);
  if (idx < 0) ir_node_clear(&n);
  return idx;
}

static ir_attr *attr_slot(ir_node *n, const char *name) {
  for (int i = 0; i < n->n_attrs; i++)
    if (strcmp(n->attrs[i].name, name) == 0) {
      char *keep = n->attrs[i].name;
      n->attrs[i].name = NULL;
      ir_attr_clear(&n->attrs[i]);
      n->attrs[i].name = keep;
      return &n->attrs[i];
    }
  ir_attr *a = ptq_realloc_array(n->attrs, (size_t)n->n_attrs + 1, sizeof *a);
  if (!a) return NULL;
  n->attrs = a;
  ir_attr *s = &a[n->n_attrs];
  memset(s, 0, sizeof *s);
  if (!(s->name = ptq_strdup(name))) return NULL;
  n->n_attrs++;
  return s;
}

ptq_status ir_node_set_int(ir_node *n, const char *name, int64_t v) {
  ir_attr *a = attr_slot(n, name);
  if (!a) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  a->type = IR_ATTR_INT;
  a->i = v;
  return PTQ_OK;
}

ptq_status ir_node_set_float(ir_node *n, const char *name, float v) {
  ir_attr *a = attr_slot(n, name);
  if (!a) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  a->type = IR_ATTR_FLOAT;
  a->f = v;
  return PTQ_OK;
}

ptq_status ir_node_set_ints(ir_node *n, const char *name, size_t count, const int64_t *v) {
  ir_attr *a = attr_slot(n, name);
  if (!a) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  a->type = IR_ATTR_INTS;
  if (!(a->ints = ptq_malloc((count ? count : 1) * sizeof *v)))
    return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  if (count) memcpy(a->ints, v, count * sizeof *v);
  a->n = count;
  return PTQ_OK;
}

void ir_node_remove_attr(ir_node *n, const char *name) {
  for (int i = 0; i < n->n_attrs; i++)
    if (strcmp(n->attrs[i].name, name) == 0) {
      ir_attr_clear(&n->attrs[i]);
      memmove(&n->attrs[i], &n->attrs[i + 1], (size_t)(n->n_attrs - i - 1) * sizeof *n->attrs);
      n->n_attrs--;
      return;
    }
}

ptq_status ir_node_set_input(ir_node *n, int k, int v) {
  if (k >= n->n_inputs) {
    int *in = ptq_realloc_array(n->inputs, (size_t)k + 1, sizeof *in);
    if (!in) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
    for (int i = n->n_inputs; i <= k; i++) in[i] = -1;
    n->inputs = in;
    n->n_inputs = k + 1;
  }
  n->inputs[k] = v;
  return PTQ_OK;
}

void ir_graph_remove_nodes(ir_graph *g, const unsigned char *drop) {
  int w = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    if (!drop[i]) {
      g->nodes[w++] = g->nodes[i];
      continue;
    }
    for (int k = 0; k < g->nodes[i].n_outputs; k++)
      if (g->nodes[i].outputs[k] >= 0) g->values[g->nodes[i].outputs[k]].producer = -1;
    ir_node_clear(&g->nodes[i]);
  }
  g->n_nodes = w;
}

int ir_graph_use_count(const ir_graph *g, int v) {
  int c = 0;
  for (int i = 0; i < g->n_nodes; i++)
    for (int k = 0; k < g->nodes[i].n_inputs; k++) c += g->nodes[i].inputs[k] == v;
  return c;
}
