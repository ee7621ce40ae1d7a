/* Raising the default-domain opset of a model (QDQ with per-axis scales needs opset 13,
 * int16/uint16 QuantizeLinear opset 21). */
#include <stdlib.h>
#include <string.h>

#include "quant/qgraph.h"

/* Moves INTS attribute `attr` (if present) to int64 input k; absent attributes leave the
 * input omitted (the op's default then applies at the new opset as well). */
static ptq_status ints_attr_to_input(ir_graph *g, int ni, const char *attr, int k) {
  const ir_attr *a = ir_node_attr(&g->nodes[ni], attr);
  if (!a) return PTQ_OK;
  const int64_t dims[1] = {(int64_t)a->n};
  ptq_tensor *t;
  PTQ_TRY(ptq_tensor_create(PTQ_DT_INT64, 1, dims, &t));
  if (a->n) memcpy(t->data, a->ints, a->n * sizeof(int64_t));
  char *base = ptq_asprintf("%s_%s", g->nodes[ni].name[0] ? g->nodes[ni].name : "node", attr);
  int v = base ? ir_graph_add_constant(g, base, t) : (ptq_tensor_destroy(t), -1);
  free(base);
  if (v < 0) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  ir_node_remove_attr(&g->nodes[ni], attr);
  return ir_node_set_input(&g->nodes[ni], k, v);
}

/* Moves a FLOAT attribute to a scalar input k of the node's input-0 type (float only). */
static ptq_status float_attr_to_input(ir_graph *g, int ni, const char *attr, int k) {
  const ir_attr *a = ir_node_attr(&g->nodes[ni], attr);
  if (!a) return PTQ_OK;
  const ir_value *x = ir_in(g, &g->nodes[ni], 0);
  if (!x || x->dtype != PTQ_DT_FLOAT)
    return ptq_error(PTQ_ERR_UNSUPPORTED,
                     "%s: cannot move attribute '%s' to an input for a "
                     "non-float input",
                     ir_node_desc(&g->nodes[ni]), attr);
  ptq_tensor *t;
  PTQ_TRY(ptq_tensor_create(PTQ_DT_FLOAT, 0, NULL, &t));
  *(float *)t->data = a->f;
  char *base = ptq_asprintf("%s_%s", g->nodes[ni].name[0] ? g->nodes[ni].name : "node", attr);
  int v = base ? ir_graph_add_constant(g, base, t) : (ptq_tensor_destroy(t), -1);
  free(base);
  if (v < 0) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  ir_node_remove_attr(&g->nodes[ni], attr);
  return ir_node_set_input(&g->nodes[ni], k, v);
}

static int is(const ir_node *n, const char *op) {
  return strcmp(n->op_type, op) == 0;
}

static ptq_status upgrade_node(ir_graph *g, int ni, int64_t from, int64_t to) {
  ir_node *n = &g->nodes[ni];
  if (n->domain[0] && strcmp(n->domain, "ai.onnx") != 0) return PTQ_OK;
  for (int a = 0; a < n->n_attrs; a++)
    if (n->attrs[a].g)
      return ptq_error(PTQ_ERR_UNSUPPORTED,
                       "%s: raising the opset of subgraphs (%lld → %lld) "
                       "is not implemented",
                       ir_node_desc(n), (long long)from, (long long)to);
  if (is(n, "Clip") && from < 11) {
    /* Clip-6: min/max attributes (defaults ±FLT_MAX); Clip-11: optional inputs 1, 2. */
    if (ir_node_attr(n, "min") && ir_node_attr(n, "max")) {
      PTQ_TRY(float_attr_to_input(g, ni, "min", 1));
      return float_attr_to_input(g, ni, "max", 2);
    }
    if (ir_node_attr(n, "max")) {
      PTQ_TRY(float_attr_to_input(g, ni, "max", 2));
      return PTQ_OK;
    }
    return float_attr_to_input(g, ni, "min", 1);
  }
  if (is(n, "Pad") && from < 11) {
    /* Pad-2: pads/value attributes; Pad-11: inputs. */
    PTQ_TRY(ints_attr_to_input(g, ni, "pads", 1));
    return float_attr_to_input(g, ni, "value", 2);
  }
  if (is(n, "Slice") && from < 10) {
    PTQ_TRY(ints_attr_to_input(g, ni, "starts", 1));
    PTQ_TRY(ints_attr_to_input(g, ni, "ends", 2));
    return ints_attr_to_input(g, ni, "axes", 3);
  }
  if ((is(n, "Squeeze") || is(n, "Unsqueeze") || is(n, "ReduceSum")) && from < 13)
    return ints_attr_to_input(g, ni, "axes", 1); /* ReduceSum-13, (Un)Squeeze-13: axes input */
  if (is(n, "Split") && from < 13) PTQ_TRY(ints_attr_to_input(g, ni, "split", 1));
  if (is(n, "Split") && from < 18 && to >= 18) {
    /* Split-18 wants the split input or num_outputs: equal parts become num_outputs */
    if (n->n_inputs > 1 && n->inputs[1] >= 0) return PTQ_OK;
    return ir_node_set_int(&g->nodes[ni], "num_outputs", g->nodes[ni].n_outputs);
  }
  if (is(n, "Split")) return PTQ_OK;
  if (!strncmp(n->op_type, "Reduce", 6) && !is(n, "ReduceSum") && from < 18 && to >= 18)
    return ints_attr_to_input(g, ni, "axes", 1); /* Reduce*-18: axes input */
  if (((is(n, "GridSample") || is(n, "DFT")) && from < 20 && to >= 20) ||
      (is(n, "GroupNormalization") && from < 21 && to >= 21))
    return ptq_error(PTQ_ERR_UNSUPPORTED,
                     "%s: converting this op from opset %lld to %lld is not implemented",
                     ir_node_desc(n), (long long)from, (long long)to);
  if ((is(n, "Softmax") || is(n, "LogSoftmax") || is(n, "Hardmax")) && from < 13) {
    /* < 13: coerced to 2-D at `axis` (default 1); 13: one axis (default -1). Equal when the
     * axis is the last one. */
    const ir_value *x = ir_in(g, n, 0);
    int64_t axis = ir_attr_int(n, "axis", 1);
    if (x && x->rank > 0 && axis < 0) axis += x->rank;
    if (!x || x->rank < 1 || axis != x->rank - 1)
      return ptq_error(PTQ_ERR_UNSUPPORTED,
                       "%s: axis %lld is not the last axis; converting its "
                       "opset-%lld semantics to opset %lld is not implemented",
                       ir_node_desc(n), (long long)ir_attr_int(n, "axis", 1), (long long)from,
                       (long long)to);
    return ir_node_set_int(n, "axis", -1);
  }
  if (is(n, "BatchNormalization") && from < 9) {
    if (ir_attr_int(n, "spatial", 1) != 1)
      return ptq_error(PTQ_ERR_UNSUPPORTED, "%s: spatial=0 has no equivalent at opset %lld",
                       ir_node_desc(n), (long long)to);
    ir_node_remove_attr(n, "spatial");
    return PTQ_OK;
  }
  if (is(n, "Dropout") && from < 12) {
    ir_node_remove_attr(n, "ratio"); /* inference: Dropout is the identity either way */
    return PTQ_OK;
  }
  if ((is(n, "Upsample") || is(n, "Scatter")) || (is(n, "Resize") && from < 11) ||
      (is(n, "TopK") && from < 10) || (is(n, "Scan") && from < 9))
    return ptq_error(PTQ_ERR_UNSUPPORTED,
                     "%s: converting this op from opset %lld to %lld is not "
                     "implemented",
                     ir_node_desc(n), (long long)from, (long long)to);
  return PTQ_OK;
}

ptq_status qprep_upgrade_opset(ptq_model *m, int64_t target, qbuf *report) {
  const int64_t from = m->opset;
  if (from >= target) return PTQ_OK;
  ir_graph *g = m->graph;
  for (int i = 0; i < g->n_nodes; i++) PTQ_TRY(upgrade_node(g, i, from, target));
  for (int i = 0; i < m->n_opsets; i++)
    if (!m->opsets[i].domain[0] || strcmp(m->opsets[i].domain, "ai.onnx") == 0)
      m->opsets[i].version = target;
  m->opset = target;
  g->opset = target;
  if (m->ir_version < 7) m->ir_version = 7;                   /* opset 13 needs IR version 7 */
  if (target >= 21 && m->ir_version < 10) m->ir_version = 10; /* opset 21: IR version 10 */
  qbuf_printf(report, "opset raised from %lld to %lld\n", (long long)from, (long long)target);
  return PTQ_OK;
}
