#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx.pb-c.h"
#include "onnx/tensor_proto.h"
#include "ir/onnx_io.h"

#define S(x) ((x) ? (x) : "")

/* protobuf-c copies each string field into a fresh allocation of exactly length + 1 bytes and
 * NUL-terminates it, so an embedded NUL byte would silently shorten a name. Unpacking through
 * this allocator records each block's size, which lets us detect that. */
typedef struct alloc_hdr {
  size_t size;
  size_t pad; /* keeps the block 16-byte aligned */
} alloc_hdr;

static void *sized_alloc(void *data, size_t n) {
  (void)data;
  alloc_hdr *h = malloc(sizeof *h + n);
  if (!h) return NULL;
  h->size = n;
  return h + 1;
}

static void sized_free(void *data, void *p) {
  (void)data;
  if (p) free((alloc_hdr *)p - 1);
}

static ProtobufCAllocator g_sized_allocator = {sized_alloc, sized_free, NULL};

/* Fails if a string field unpacked by onnx_parse_model holds a NUL byte. */
static ptq_status check_str(const char *s, const char *what) {
  if (s && strlen(s) + 1 != ((const alloc_hdr *)s - 1)->size)
    return ptq_error(PTQ_ERR_PARSE, "%s '%s' contains a NUL byte", what, s);
  return PTQ_OK;
}

static ptq_status parse_type(ir_value *v, const Onnx__TypeProto *tp, int required) {
  if (!tp) {
    if (required) return ptq_error(PTQ_ERR_INVALID_MODEL, "value '%s' has no type", v->name);
    return PTQ_OK;
  }
  if (tp->value_case == ONNX__TYPE_PROTO__VALUE__NOT_SET && !required) return PTQ_OK;
  if (tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
    return ptq_error(PTQ_ERR_UNSUPPORTED,
                     "value '%s' is not a tensor (sequence, map, optional and sparse types are not "
                     "supported)",
                     v->name);
  const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
  int32_t et = tt->has_elem_type ? tt->elem_type : 0;
  if (et != 0 && !onnx_dtype_supported(et))
    return ptq_error(PTQ_ERR_UNSUPPORTED, "value '%s' has unsupported element type %s", v->name,
                     onnx_type_name(et));
  v->dtype = (ptq_dtype)et;
  v->has_type = 1;
  if (!tt->shape) {
    v->rank = -1;
    return PTQ_OK;
  }
  if (tt->shape->n_dim > PTQ_MAX_RANK)
    return ptq_error(PTQ_ERR_UNSUPPORTED, "value '%s' has rank %zu > %d", v->name, tt->shape->n_dim,
                     PTQ_MAX_RANK);
  v->rank = (int)tt->shape->n_dim;
  for (int i = 0; i < v->rank; i++) {
    const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
    v->dims[i] = -1;
    if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
      if (d->dim_value < 0 || d->dim_value > ((int64_t)1 << 40))
        return ptq_error(PTQ_ERR_INVALID_MODEL, "value '%s' has invalid dimension %lld", v->name,
                         (long long)d->dim_value);
      v->dims[i] = d->dim_value;
    } else if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM &&
               d->dim_param) {
      if (!(v->dim_param[i] = ptq_strdup(d->dim_param)))
        return ptq_error(PTQ_ERR_NOMEM, "out of memory");
    }
  }
  return PTQ_OK;
}

static ptq_status parse_graph(const Onnx__GraphProto *gp, ir_graph *g, const char *base_dir,
                              int depth);

static ptq_status parse_attr(const Onnx__AttributeProto *ap, ir_attr *a, ir_graph *g,
                             const char *base_dir, int depth) {
  if (!(a->name = ptq_strdup(S(ap->name)))) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  if (ap->ref_attr_name && ap->ref_attr_name[0])
    return ptq_error(PTQ_ERR_UNSUPPORTED, "attribute '%s' refers to a function attribute", a->name);
  if (ap->doc_string && ap->doc_string[0] && !(a->doc_string = ptq_strdup(ap->doc_string)))
    return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  int type = ap->has_type ? (int)ap->type : 0;
  if (type == 0) { /* IR version 1-style attributes without a type: infer from content */
    if (ap->has_f)
      type = IR_ATTR_FLOAT;
    else if (ap->has_i)
      type = IR_ATTR_INT;
    else if (ap->has_s)
      type = IR_ATTR_STRING;
    else if (ap->t)
      type = IR_ATTR_TENSOR;
    else if (ap->g)
      type = IR_ATTR_GRAPH;
    else if (ap->n_floats)
      type = IR_ATTR_FLOATS;
    else if (ap->n_ints)
      type = IR_ATTR_INTS;
    else if (ap->n_strings)
      type = IR_ATTR_STRINGS;
  }
  a->type = (enum ir_attr_type)type;
  switch (type) {
    case IR_ATTR_FLOAT: a->f = ap->f; break;
    case IR_ATTR_INT: a->i = ap->i; break;
    case IR_ATTR_STRING:
      a->s_len = ap->s.len;
      if (!(a->s = ptq_strndup((const char *)ap->s.data, ap->s.len)))
        return ptq_error(PTQ_ERR_NOMEM, "out of memory");
      break;
    case IR_ATTR_TENSOR:
      if (!ap->t) return ptq_error(PTQ_ERR_PARSE, "attribute '%s' has no tensor", a->name);
      PTQ_TRY(onnx_tensor_to_ptq(ap->t, base_dir, &a->t));
      break;
    case IR_ATTR_GRAPH:
      if (!ap->g) return ptq_error(PTQ_ERR_PARSE, "attribute '%s' has no graph", a->name);
      if (!(a->g = ir_graph_create(g))) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
      PTQ_TRY(parse_graph(ap->g, a->g, base_dir, depth + 1));
      break;
    case IR_ATTR_FLOATS:
      a->n = ap->n_floats;
      if (!(a->floats = ptq_malloc(a->n * sizeof(float))))
        return ptq_error(PTQ_ERR_NOMEM, "out of memory");
      if (a->n) memcpy(a->floats, ap->floats, a->n * sizeof(float));
      break;
    case IR_ATTR_INTS:
      a->n = ap->n_ints;
      if (!(a->ints = ptq_malloc(a->n * sizeof(int64_t))))
        return ptq_error(PTQ_ERR_NOMEM, "out of memory");
      if (a->n) memcpy(a->ints, ap->ints, a->n * sizeof(int64_t));
      break;
    case IR_ATTR_STRINGS:
      if (!(a->strings = ptq_calloc(ap->n_strings, sizeof(char *))))
        return ptq_error(PTQ_ERR_NOMEM, "out of memory");
      for (size_t i = 0; i < ap->n_strings; i++, a->n++)
        if (!(a->strings[i] = ptq_strndup((const char *)ap->strings[i].data, ap->strings[i].len)))
          return ptq_error(PTQ_ERR_NOMEM, "out of memory");
      break;
    default:
      return ptq_error(PTQ_ERR_UNSUPPORTED, "attribute '%s' has unsupported type %d", a->name,
                       type);
  }
  return PTQ_OK;
}

/* Resolves a name used inside g: a value of g, or (for subgraphs) a value of an enclosing
 * graph, which becomes an `outer` value of g. Unknown names become plain values of g and are
 * reported by the topological sort. */
static int resolve_name(ir_graph *g, const char *name) {
  int idx = ir_graph_find(g, name);
  if (idx >= 0) return idx;
  for (const ir_graph *p = g->parent; p; p = p->parent) {
    int pi = ir_graph_find(p, name);
    if (pi >= 0) {
      idx = ir_graph_add_value(g, name);
      if (idx < 0) return -1;
      ir_value *v = &g->values[idx], *pv = &p->values[pi];
      v->outer = 1;
      v->dtype = pv->dtype;
      v->rank = pv->rank;
      memcpy(v->dims, pv->dims, sizeof v->dims);
      return idx;
    }
  }
  return ir_graph_add_value(g, name);
}

static ptq_status parse_node(const Onnx__NodeProto *np, ir_graph *g, const char *base_dir,
                             int depth) {
  ir_node n = {0};
  ptq_status st = PTQ_OK;
  PTQ_TRY(check_str(np->name, "node name"));
  PTQ_TRY(check_str(np->op_type, "op type"));
  PTQ_TRY(check_str(np->domain, "domain"));
  for (size_t i = 0; i < np->n_input; i++) PTQ_TRY(check_str(np->input[i], "input name"));
  for (size_t i = 0; i < np->n_output; i++) PTQ_TRY(check_str(np->output[i], "output name"));
  for (size_t i = 0; i < np->n_attribute; i++)
    PTQ_TRY(check_str(np->attribute[i]->name, "attribute name"));
  n.name = ptq_strdup(S(np->name));
  n.op_type = ptq_strdup(S(np->op_type));
  n.domain = ptq_strdup(S(np->domain));
  n.doc_string = np->doc_string && np->doc_string[0] ? ptq_strdup(np->doc_string) : NULL;
  n.inputs = ptq_malloc(np->n_input * sizeof(int));
  n.outputs = ptq_malloc(np->n_output * sizeof(int));
  n.attrs = ptq_calloc(np->n_attribute, sizeof(ir_attr));
  if (!n.name || !n.op_type || !n.domain || !n.inputs || !n.outputs || !n.attrs) {
    st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
    goto error;
  }
  for (size_t a = 0; a < np->n_attribute; a++) {
    n.n_attrs++;
    if ((st = parse_attr(np->attribute[a], &n.attrs[a], g, base_dir, depth)) != PTQ_OK) {
      ptq_error_prefix(st, "%s: ", ir_node_desc(&n));
      goto error;
    }
  }
  for (size_t i = 0; i < np->n_input; i++, n.n_inputs++) {
    const char *nm = S(np->input[i]);
    n.inputs[i] = nm[0] ? resolve_name(g, nm) : -1;
    if (nm[0] && n.inputs[i] < 0) {
      st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
      goto error;
    }
  }
  for (size_t i = 0; i < np->n_output; i++, n.n_outputs++) {
    const char *nm = S(np->output[i]);
    n.outputs[i] = -1;
    if (!nm[0]) continue;
    if (ir_graph_find(g, nm) >= 0 && g->values[ir_graph_find(g, nm)].producer >= 0) {
      st = ptq_error(PTQ_ERR_INVALID_MODEL, "%s: output '%s' is produced by two nodes",
                     ir_node_desc(&n), nm);
      goto error;
    }
    n.outputs[i] = ir_graph_value(g, nm);
    if (n.outputs[i] < 0) {
      st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
      goto error;
    }
    g->values[n.outputs[i]].producer = g->n_nodes; /* provisional, fixed by toposort */
  }
  if (ir_graph_add_node(g, &n) < 0) {
    st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
    goto error;
  }
  return PTQ_OK;
error:
  ir_node_clear(&n);
  return st;
}

static ptq_status parse_graph(const Onnx__GraphProto *gp, ir_graph *g, const char *base_dir,
                              int depth) {
  if (depth > 16) return ptq_error(PTQ_ERR_UNSUPPORTED, "subgraphs nested deeper than 16");
  if (gp->n_sparse_initializer)
    return ptq_error(PTQ_ERR_UNSUPPORTED, "graph '%s' has sparse initializers", S(gp->name));
  for (size_t i = 0; i < gp->n_initializer; i++)
    PTQ_TRY(check_str(gp->initializer[i]->name, "initializer name"));
  for (size_t i = 0; i < gp->n_input; i++) PTQ_TRY(check_str(gp->input[i]->name, "input name"));
  for (size_t i = 0; i < gp->n_output; i++) PTQ_TRY(check_str(gp->output[i]->name, "output name"));
  for (size_t i = 0; i < gp->n_value_info; i++)
    PTQ_TRY(check_str(gp->value_info[i]->name, "value name"));
  if (!(g->name = ptq_strdup(S(gp->name)))) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  if (gp->doc_string && gp->doc_string[0] && !(g->doc_string = ptq_strdup(gp->doc_string)))
    return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  for (size_t i = 0; i < gp->n_initializer; i++) {
    const Onnx__TensorProto *tp = gp->initializer[i];
    const char *nm = S(tp->name);
    if (!nm[0]) return ptq_error(PTQ_ERR_INVALID_MODEL, "initializer %zu has no name", i);
    if (ir_graph_find(g, nm) >= 0)
      return ptq_error(PTQ_ERR_INVALID_MODEL, "initializer '%s' is defined twice", nm);
    int v = ir_graph_add_value(g, nm);
    if (v < 0) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
    ir_value *val = &g->values[v];
    PTQ_TRY(onnx_tensor_to_ptq(tp, base_dir, &val->data));
    val->is_initializer = 1;
    val->dtype = val->data->dtype;
    val->rank = val->data->rank;
    memcpy(val->dims, val->data->dims, sizeof val->dims);
    val->has_type = 1;
  }
  if (!(g->inputs = ptq_malloc(gp->n_input * sizeof(int))))
    return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  for (size_t i = 0; i < gp->n_input; i++) {
    const Onnx__ValueInfoProto *vi = gp->input[i];
    const char *nm = S(vi->name);
    if (!nm[0]) return ptq_error(PTQ_ERR_INVALID_MODEL, "graph input %zu has no name", i);
    int v = ir_graph_find(g, nm);
    if (v >= 0 && g->values[v].is_initializer) {
      /* An input with an initializer is an overridable constant (IR < 4 style); keep it const
       * but record its declared type so it round-trips. */
      g->values[v].is_input = 1;
      continue;
    }
    if (v >= 0) return ptq_error(PTQ_ERR_INVALID_MODEL, "graph input '%s' is declared twice", nm);
    if ((v = ir_graph_add_value(g, nm)) < 0) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
    ir_value *val = &g->values[v];
    val->is_input = 1;
    PTQ_TRY(parse_type(val, vi->type, depth == 0));
    if (vi->doc_string && vi->doc_string[0]) val->doc_string = ptq_strdup(vi->doc_string);
    g->inputs[g->n_inputs++] = v;
  }
  for (size_t i = 0; i < gp->n_node; i++) PTQ_TRY(parse_node(gp->node[i], g, base_dir, depth));
  for (size_t i = 0; i < gp->n_value_info; i++) {
    const Onnx__ValueInfoProto *vi = gp->value_info[i];
    int v = ir_graph_find(g, S(vi->name));
    if (v < 0 || g->values[v].data || g->values[v].outer) continue;
    ir_value *val = &g->values[v];
    if (val->has_type) continue;
    ptq_status st = parse_type(val, vi->type, 0);
    if (st == PTQ_ERR_UNSUPPORTED) { /* value_info is a hint only: forget what we can't use */
      val->has_type = 0;
      val->rank = -1;
      continue;
    }
    PTQ_TRY(st);
  }
  if (!(g->outputs = ptq_malloc(gp->n_output * sizeof(int))))
    return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  for (size_t i = 0; i < gp->n_output; i++) {
    const Onnx__ValueInfoProto *vi = gp->output[i];
    const char *nm = S(vi->name);
    int v = resolve_name(g, nm);
    if (v < 0) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
    ir_value *val = &g->values[v];
    if (val->is_output)
      return ptq_error(PTQ_ERR_INVALID_MODEL, "graph output '%s' is declared twice", nm);
    val->is_output = 1;
    if (!val->data && !val->is_input && !val->outer && val->producer < 0)
      return ptq_error(PTQ_ERR_INVALID_MODEL, "graph output '%s' is not produced by any node", nm);
    if (vi->type && !val->is_initializer) {
      ir_value tmp = {.name = val->name, .rank = -1};
      PTQ_TRY(parse_type(&tmp, vi->type, 0));
      if (!val->has_type || val->rank < 0) {
        val->dtype = tmp.dtype;
        val->rank = tmp.rank;
        memcpy(val->dims, tmp.dims, sizeof val->dims);
        for (int d = 0; d < PTQ_MAX_RANK; d++) {
          free(val->dim_param[d]);
          val->dim_param[d] = tmp.dim_param[d];
        }
        val->has_type = tmp.has_type;
      } else {
        for (int d = 0; d < PTQ_MAX_RANK; d++) free(tmp.dim_param[d]);
      }
    }
    g->outputs[g->n_outputs++] = v;
  }
  return PTQ_OK;
}

ptq_status onnx_parse_model(const void *buf, size_t len, const char *base_dir, ptq_model **out) {
  *out = NULL;
  Onnx__ModelProto *mp = onnx__model_proto__unpack(&g_sized_allocator, len, buf);
  if (!mp) return ptq_error(PTQ_ERR_PARSE, "not a valid ONNX protobuf (ModelProto)");
  ptq_status st = PTQ_OK;
  ptq_model *m = calloc(1, sizeof *m);
  if (!m) {
    st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
    goto done;
  }
  if (!mp->graph) {
    st = ptq_error(PTQ_ERR_PARSE, "ModelProto has no graph (is this an ONNX model?)");
    goto done;
  }
  m->ir_version = mp->has_ir_version ? mp->ir_version : 0;
  if (m->ir_version < 3 || m->ir_version > 10) {
    st = ptq_error(PTQ_ERR_UNSUPPORTED, "IR version %lld is not supported (3..10)",
                   (long long)m->ir_version);
    goto done;
  }
  m->opset = -1;
  m->opsets = ptq_calloc(mp->n_opset_import, sizeof *m->opsets);
  if (!m->opsets) {
    st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
    goto done;
  }
  for (size_t i = 0; i < mp->n_opset_import; i++) {
    const Onnx__OperatorSetIdProto *op = mp->opset_import[i];
    const char *dom = S(op->domain);
    int64_t ver = op->has_version ? op->version : 0;
    m->opsets[i].domain = ptq_strdup(dom);
    m->opsets[i].version = ver;
    m->n_opsets++;
    if (!m->opsets[i].domain) {
      st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
      goto done;
    }
    if (dom[0] == '\0' || strcmp(dom, "ai.onnx") == 0) m->opset = ver;
  }
  if (m->opset < 0) {
    st = ptq_error(PTQ_ERR_UNSUPPORTED, "model imports no default-domain (ai.onnx) opset");
    goto done;
  }
  if (m->opset < 7 || m->opset > 21) {
    st = ptq_error(PTQ_ERR_UNSUPPORTED, "default-domain opset %lld is not supported (7..21)",
                   (long long)m->opset);
    goto done;
  }
  m->producer_name = ptq_strdup(S(mp->producer_name));
  m->producer_version = ptq_strdup(S(mp->producer_version));
  m->domain = ptq_strdup(S(mp->domain));
  m->doc_string = ptq_strdup(S(mp->doc_string));
  m->model_version = mp->has_model_version ? mp->model_version : 0;
  m->metadata = ptq_calloc(mp->n_metadata_props, sizeof *m->metadata);
  if (!m->producer_name || !m->producer_version || !m->domain || !m->doc_string || !m->metadata) {
    st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
    goto done;
  }
  for (size_t i = 0; i < mp->n_metadata_props; i++, m->n_metadata++) {
    m->metadata[i].key = ptq_strdup(S(mp->metadata_props[i]->key));
    m->metadata[i].value = ptq_strdup(S(mp->metadata_props[i]->value));
  }
  if (mp->n_functions) {
    st = ptq_error(PTQ_ERR_UNSUPPORTED, "model-local functions are not supported");
    goto done;
  }
  if (!(m->graph = ir_graph_create(NULL))) {
    st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
    goto done;
  }
  m->graph->opset = m->opset;
  st = parse_graph(mp->graph, m->graph, base_dir, 0);
done:
  onnx__model_proto__free_unpacked(mp, &g_sized_allocator);
  if (st != PTQ_OK) {
    ptq_model_destroy(m);
    return st;
  }
  *out = m;
  return PTQ_OK;
}
