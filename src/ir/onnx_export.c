/* IR -> ModelProto. Builds protobuf-c structs that borrow strings and tensor data from the
 * model, packs them, and frees only the structs (tracked in a pool). */
#include <stdlib.h>
#include <string.h>

#include "ir/onnx_io.h"
#include "onnx/tensor_proto.h"

typedef struct pool {
  ptq_vec items;
  int failed;
} pool;

static void *palloc(pool *p, size_t n) {
  void *x = p->failed ? NULL : calloc(1, n ? n : 1);
  if (!x || ptq_vec_push(&p->items, x) != 0) {
    free(x);
    p->failed = 1;
    return NULL;
  }
  return x;
}

static void pool_free(pool *p) {
  for (size_t i = 0; i < p->items.len; i++) free(p->items.items[i]);
  ptq_vec_free(&p->items);
}

static Onnx__TensorProto *tensor_proto(pool *p, const ptq_tensor *t, const char *name) {
  Onnx__TensorProto *tp = palloc(p, sizeof *tp);
  if (!tp) return NULL;
  onnx__tensor_proto__init(tp);
  onnx_tensor_from_ptq(tp, t, name);
  return tp;
}

static Onnx__ValueInfoProto *value_info(pool *p, const ir_value *v) {
  Onnx__ValueInfoProto *vi = palloc(p, sizeof *vi);
  if (!vi) return NULL;
  onnx__value_info_proto__init(vi);
  vi->name = v->name;
  vi->doc_string = v->doc_string;
  if (!v->has_type && v->rank < 0) return vi;
  Onnx__TypeProto *tp = palloc(p, sizeof *tp);
  Onnx__TypeProto__Tensor *tt = palloc(p, sizeof *tt);
  if (!tp || !tt) return NULL;
  onnx__type_proto__init(tp);
  onnx__type_proto__tensor__init(tt);
  tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
  tp->tensor_type = tt;
  tt->has_elem_type = 1;
  tt->elem_type = (int32_t)v->dtype;
  vi->type = tp;
  if (v->rank < 0) return vi;
  Onnx__TensorShapeProto *sp = palloc(p, sizeof *sp);
  Onnx__TensorShapeProto__Dimension **dims = palloc(p, (size_t)v->rank * sizeof *dims);
  if (!sp || !dims) return NULL;
  onnx__tensor_shape_proto__init(sp);
  sp->n_dim = (size_t)v->rank;
  sp->dim = dims;
  for (int i = 0; i < v->rank; i++) {
    Onnx__TensorShapeProto__Dimension *d = palloc(p, sizeof *d);
    if (!d) return NULL;
    onnx__tensor_shape_proto__dimension__init(d);
    if (v->dims[i] >= 0) {
      d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
      d->dim_value = v->dims[i];
    } else if (v->dim_param[i]) {
      d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
      d->dim_param = v->dim_param[i];
    }
    dims[i] = d;
  }
  tt->shape = sp;
  return vi;
}

static Onnx__GraphProto *graph_proto(pool *p, const ir_graph *g);

static Onnx__AttributeProto *attr_proto(pool *p, const ir_attr *a) {
  Onnx__AttributeProto *ap = palloc(p, sizeof *ap);
  if (!ap) return NULL;
  onnx__attribute_proto__init(ap);
  ap->name = a->name;
  ap->doc_string = a->doc_string;
  ap->has_type = 1;
  ap->type = (Onnx__AttributeProto__AttributeType)a->type;
  switch (a->type) {
    case IR_ATTR_FLOAT:
      ap->has_f = 1;
      ap->f = a->f;
      break;
    case IR_ATTR_INT:
      ap->has_i = 1;
      ap->i = a->i;
      break;
    case IR_ATTR_STRING:
      ap->has_s = 1;
      ap->s.data = (uint8_t *)a->s;
      ap->s.len = a->s_len;
      break;
    case IR_ATTR_TENSOR:
      if (!(ap->t = tensor_proto(p, a->t, ""))) return NULL;
      break;
    case IR_ATTR_GRAPH:
      if (!(ap->g = graph_proto(p, a->g))) return NULL;
      break;
    case IR_ATTR_FLOATS:
      ap->n_floats = a->n;
      ap->floats = a->floats;
      break;
    case IR_ATTR_INTS:
      ap->n_ints = a->n;
      ap->ints = a->ints;
      break;
    case IR_ATTR_STRINGS: {
      ProtobufCBinaryData *s = palloc(p, a->n * sizeof *s);
      if (!s) return NULL;
      for (size_t i = 0; i < a->n; i++) {
        s[i].data = (uint8_t *)a->strings[i];
        s[i].len = strlen(a->strings[i]);
      }
      ap->n_strings = a->n;
      ap->strings = s;
      break;
    }
    default: break;
  }
  return ap;
}

static char *value_name(const ir_graph *g, int v) {
  return v >= 0 ? g->values[v].name : "";
}

static Onnx__NodeProto *node_proto(pool *p, const ir_graph *g, const ir_node *n) {
  Onnx__NodeProto *np = palloc(p, sizeof *np);
  char **in = palloc(p, (size_t)n->n_inputs * sizeof *in);
  char **out = palloc(p, (size_t)n->n_outputs * sizeof *out);
  Onnx__AttributeProto **attrs = palloc(p, (size_t)n->n_attrs * sizeof *attrs);
  if (!np || !in || !out || !attrs) return NULL;
  onnx__node_proto__init(np);
  for (int i = 0; i < n->n_inputs; i++) in[i] = value_name(g, n->inputs[i]);
  for (int i = 0; i < n->n_outputs; i++) out[i] = value_name(g, n->outputs[i]);
  for (int i = 0; i < n->n_attrs; i++)
    if (!(attrs[i] = attr_proto(p, &n->attrs[i]))) return NULL;
  np->n_input = (size_t)n->n_inputs;
  np->input = in;
  np->n_output = (size_t)n->n_outputs;
  np->output = out;
  np->n_attribute = (size_t)n->n_attrs;
  np->attribute = attrs;
  np->name = n->name;
  np->op_type = n->op_type;
  np->domain = n->domain;
  np->doc_string = n->doc_string;
  return np;
}

/* A value is written as an initializer when it holds constant data that no node of this graph
 * produces and that does not come from an enclosing graph. */
static int is_initializer(const ir_value *v) {
  return v->data && v->producer < 0 && !v->outer;
}

static Onnx__GraphProto *graph_proto(pool *p, const ir_graph *g) {
  Onnx__GraphProto *gp = palloc(p, sizeof *gp);
  if (!gp) return NULL;
  onnx__graph_proto__init(gp);
  gp->name = g->name;
  gp->doc_string = g->doc_string;
  size_t n_init = 0, n_vi = 0, n_in = (size_t)g->n_inputs;
  for (int v = 0; v < g->n_values; v++) {
    const ir_value *val = &g->values[v];
    if (is_initializer(val)) {
      n_init++;
      if (val->is_input) n_in++;
    } else if (!val->is_input && !val->is_output && !val->outer && val->has_type &&
               val->producer >= 0) {
      n_vi++;
    }
  }
  gp->node = palloc(p, (size_t)g->n_nodes * sizeof *gp->node);
  gp->initializer = palloc(p, n_init * sizeof *gp->initializer);
  gp->input = palloc(p, n_in * sizeof *gp->input);
  gp->output = palloc(p, (size_t)g->n_outputs * sizeof *gp->output);
  gp->value_info = palloc(p, n_vi * sizeof *gp->value_info);
  if (!gp->node || !gp->initializer || !gp->input || !gp->output || !gp->value_info) return NULL;
  for (int i = 0; i < g->n_nodes; i++)
    if (!(gp->node[gp->n_node++] = node_proto(p, g, &g->nodes[i]))) return NULL;
  for (int i = 0; i < g->n_inputs; i++)
    if (!(gp->input[gp->n_input++] = value_info(p, &g->values[g->inputs[i]]))) return NULL;
  for (int v = 0; v < g->n_values; v++) {
    const ir_value *val = &g->values[v];
    if (is_initializer(val)) {
      if (!(gp->initializer[gp->n_initializer++] = tensor_proto(p, val->data, val->name)))
        return NULL;
      if (val->is_input && !(gp->input[gp->n_input++] = value_info(p, val))) return NULL;
    } else if (!val->is_input && !val->is_output && !val->outer && val->has_type &&
               val->producer >= 0) {
      if (!(gp->value_info[gp->n_value_info++] = value_info(p, val))) return NULL;
    }
  }
  for (int i = 0; i < g->n_outputs; i++)
    if (!(gp->output[gp->n_output++] = value_info(p, &g->values[g->outputs[i]]))) return NULL;
  return gp;
}

ptq_status onnx_serialize_model(const ptq_model *m, void **buf, size_t *len) {
  *buf = NULL;
  *len = 0;
  pool p = {0};
  ptq_status st = PTQ_OK;
  Onnx__ModelProto *mp = palloc(&p, sizeof *mp);
  Onnx__OperatorSetIdProto **ops = palloc(&p, (size_t)m->n_opsets * sizeof *ops);
  Onnx__StringStringEntryProto **md = palloc(&p, (size_t)m->n_metadata * sizeof *md);
  if (!mp || !ops || !md) goto nomem;
  onnx__model_proto__init(mp);
  mp->has_ir_version = 1;
  mp->ir_version = m->ir_version;
  for (int i = 0; i < m->n_opsets; i++) {
    Onnx__OperatorSetIdProto *o = palloc(&p, sizeof *o);
    if (!o) goto nomem;
    onnx__operator_set_id_proto__init(o);
    o->domain = m->opsets[i].domain;
    o->has_version = 1;
    o->version = m->opsets[i].version;
    ops[i] = o;
  }
  mp->n_opset_import = (size_t)m->n_opsets;
  mp->opset_import = ops;
  for (int i = 0; i < m->n_metadata; i++) {
    Onnx__StringStringEntryProto *e = palloc(&p, sizeof *e);
    if (!e) goto nomem;
    onnx__string_string_entry_proto__init(e);
    e->key = m->metadata[i].key;
    e->value = m->metadata[i].value;
    md[i] = e;
  }
  mp->n_metadata_props = (size_t)m->n_metadata;
  mp->metadata_props = md;
  mp->producer_name = m->producer_name;
  mp->producer_version = m->producer_version;
  mp->domain = m->domain;
  mp->doc_string = m->doc_string;
  mp->has_model_version = m->model_version != 0;
  mp->model_version = m->model_version;
  if (!(mp->graph = graph_proto(&p, m->graph))) goto nomem;
  size_t n = onnx__model_proto__get_packed_size(mp);
  uint8_t *out = ptq_malloc(n);
  if (!out) goto nomem;
  *len = onnx__model_proto__pack(mp, out);
  *buf = out;
  goto done;
nomem:
  st = ptq_error(PTQ_ERR_NOMEM, "out of memory serializing the model");
done:
  pool_free(&p);
  return st;
}
