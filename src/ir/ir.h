/* Graph IR: named values (tensors) and nodes in topological order.
 *
 * A value's shape is known per dimension (dims[i] >= 0) or dynamic (-1); rank -1 means
 * unknown rank. A value with `data` is a constant (initializer, Constant node output, or the
 * result of constant folding). Subgraphs (If branches) refer to enclosing values by name;
 * such values are marked `outer` inside the subgraph. */
#ifndef PTQ_IR_H
#define PTQ_IR_H

#include <stdint.h>

#include "ptq/ptq.h"
#include "util/util.h"

/* ONNX AttributeProto.AttributeType */
enum ir_attr_type {
  IR_ATTR_UNDEFINED = 0,
  IR_ATTR_FLOAT = 1,
  IR_ATTR_INT = 2,
  IR_ATTR_STRING = 3,
  IR_ATTR_TENSOR = 4,
  IR_ATTR_GRAPH = 5,
  IR_ATTR_FLOATS = 6,
  IR_ATTR_INTS = 7,
  IR_ATTR_STRINGS = 8
};

struct ir_graph;

typedef struct ir_attr {
  char *name;
  enum ir_attr_type type;
  float f;
  int64_t i;
  char *s; /* NUL-terminated copy; s_len bytes of payload */
  size_t s_len;
  float *floats;
  int64_t *ints;
  char **strings;
  size_t n; /* element count of floats/ints/strings */
  ptq_tensor *t;
  struct ir_graph *g;
  char *doc_string;
} ir_attr;

typedef struct ir_value {
  char *name;
  ptq_dtype dtype;
  int rank; /* -1: unknown */
  int64_t dims[PTQ_MAX_RANK];
  char *dim_param[PTQ_MAX_RANK]; /* symbolic names of dynamic dims, or NULL */
  ptq_tensor *data;              /* constant value, owned; NULL if computed at run time */
  int producer;                  /* index of producing node, -1 if none */
  unsigned is_input : 1, is_output : 1, is_initializer : 1, outer : 1, has_type : 1;
  char *doc_string;
} ir_value;

typedef struct ir_node {
  char *name;
  char *op_type;
  char *domain; /* "" for the default ONNX domain */
  char *doc_string;
  int n_inputs, n_outputs, n_attrs;
  int *inputs;  /* value indices, -1 for an omitted optional input */
  int *outputs; /* value indices, -1 for an omitted optional output */
  ir_attr *attrs;
  const struct op_def *op; /* resolved at validation */
} ir_node;

typedef struct ir_graph {
  char *name;
  char *doc_string;
  ir_value *values;
  int n_values, cap_values;
  ptq_strmap value_map; /* name -> value index */
  ir_node *nodes;
  int n_nodes, cap_nodes;
  int *inputs; /* graph inputs that are not initializers, in declaration order */
  int n_inputs;
  int *outputs;
  int n_outputs;
  struct ir_graph *parent; /* enclosing graph for subgraphs, NULL at top level */
  int64_t opset;           /* default-domain opset (copied into subgraphs) */
} ir_graph;

typedef struct ir_opset {
  char *domain;
  int64_t version;
} ir_opset;

typedef struct ir_kv {
  char *key, *value;
} ir_kv;

struct ptq_model {
  ir_graph *graph;
  int64_t ir_version;
  int64_t opset; /* default domain */
  ir_opset *opsets;
  int n_opsets;
  char *producer_name, *producer_version, *domain, *doc_string;
  int64_t model_version;
  ir_kv *metadata;
  int n_metadata;
  int lowered; /* rewritten for the int8 runtime or stripped to float: runnable, not savable */
  ptq_engine_info engine;
  /* > 1: the graph is prepared at batch 1 and a run takes micro_batch samples, one image at a
   * time (int8 engine with --batch on a batch-1 model; see exec_prepare_model) */
  int64_t micro_batch;
};

ir_graph *ir_graph_create(ir_graph *parent);
void ir_graph_destroy(ir_graph *g);
/* Finds a value by name in g only; -1 if absent. */
int ir_graph_find(const ir_graph *g, const char *name);
/* Adds a value with the given name (must not exist yet); returns index or -1 on failure. */
int ir_graph_add_value(ir_graph *g, const char *name);
/* Returns the index of name, adding it if absent; -1 on allocation failure. */
int ir_graph_value(ir_graph *g, const char *name);
/* Appends a node (fields moved in; caller's struct zeroed); returns index or -1. */
int ir_graph_add_node(ir_graph *g, ir_node *node);
void ir_node_clear(ir_node *n);
void ir_attr_clear(ir_attr *a);

const ir_attr *ir_node_attr(const ir_node *n, const char *name);
/* Attribute getters with defaults; validation of types happens in ir_validate. */
int64_t ir_attr_int(const ir_node *n, const char *name, int64_t def);
float ir_attr_float(const ir_node *n, const char *name, float def);
const char *ir_attr_string(const ir_node *n, const char *name, const char *def);
/* Returns count (0 if absent) and the array through *out (never NULL). */
size_t ir_attr_ints(const ir_node *n, const char *name, const int64_t **out);
size_t ir_attr_floats(const ir_node *n, const char *name, const float **out);

/* Input value of node (NULL if omitted or out of range). */
static inline ir_value *ir_in(const ir_graph *g, const ir_node *n, int i) {
  return (i < n->n_inputs && n->inputs[i] >= 0) ? &g->values[n->inputs[i]] : NULL;
}
static inline ir_value *ir_out(const ir_graph *g, const ir_node *n, int i) {
  return (i < n->n_outputs && n->outputs[i] >= 0) ? &g->values[n->outputs[i]] : NULL;
}

/* Graph editing helpers (used by the quantizer). Values and nodes they add have no resolved
 * op; call ir_graph_toposort afterwards to order nodes and set producers. */

/* A name not yet used in g: base itself, else base_1, base_2, ... Caller frees; NULL on
 * allocation failure. */
char *ir_graph_unique_name(const ir_graph *g, const char *base);
/* Adds a constant (initializer) value named by ir_graph_unique_name(base), typed from t.
 * Takes ownership of t in every case (destroyed on failure). Returns the index or -1. */
int ir_graph_add_constant(ir_graph *g, const char *base, ptq_tensor *t);
/* Appends a node of the default domain named by ir_graph_unique_name(name) with the given
 * input and output value indices (-1: omitted). Returns the node index or -1. */
int ir_graph_new_node(ir_graph *g, const char *name, const char *op_type, int n_in, const int *in,
                      int n_out, const int *out);
/* Sets (adds or replaces) an INT / INTS / FLOAT attribute. PTQ_ERR_NOMEM on allocation
 * failure. */
ptq_status ir_node_set_int(ir_node *n, const char *name, int64_t v);
ptq_status ir_node_set_float(ir_node *n, const char *name, float v);
ptq_status ir_node_set_ints(ir_node *n, const char *name, size_t count, const int64_t *v);
/* Removes an attribute if present. */
void ir_node_remove_attr(ir_node *n, const char *name);
/* Sets input k to value v, growing the input list with omitted (-1) inputs as needed. */
ptq_status ir_node_set_input(ir_node *n, int k, int v);
/* Removes the nodes with drop[i] != 0, keeping the order of the others; producers of their
 * outputs become -1. */
void ir_graph_remove_nodes(ir_graph *g, const unsigned char *drop);
/* Number of node inputs (over all nodes of g) reading value v. */
int ir_graph_use_count(const ir_graph *g, int v);

/* Copies a tensor (deep). Caller owns *out. */
ptq_status ir_tensor_clone(const ptq_tensor *src, ptq_tensor **out);

/* Sorts nodes topologically (stable w.r.t. the file order); fails on cycles or on inputs that
 * nothing produces, naming the node. Also sets value producers. */
ptq_status ir_graph_toposort(ir_graph *g);

/* Names the node for messages: "node 'name' (OpType)". Returns a static thread-local buffer. */
const char *ir_node_desc(const ir_node *n);

#endif
