/* Operator definitions: attribute schema, shape/type inference and float execution.
 *
 * Every op has one `infer` used both at load time (shape inference, validation, where input
 * values may be unknown: data == NULL, rank == -1, dims == -1) and at run time (all inputs
 * known), so a model that loads never meets an unchecked case at run time. `run` receives
 * outputs already allocated with the inferred shapes and uninitialised contents (run must write
 * every element), unless the op sets `self_alloc`. */
#ifndef PTQ_EXEC_OP_H
#define PTQ_EXEC_OP_H

#include "ir/ir.h"
#include "kernels/kernels.h"

struct exec_frame;

/* State a session prepares once for a node (session.c) and hands to its run: an activation
 * node fused into this node's output (the activation node then only passes the tensor on),
 * and for Conv with constant weights, a BatchNormalization fused into the weights and bias and
 * the weights packed for the kernels. The IR itself is never changed. */
typedef struct op_prepared {
  ptq_act act;             /* applied to output 0 last (Conv, ConvTranspose, Gemm) */
  const ptq_tensor *w, *b; /* Conv: replace inputs 1 and 2 when set (folded BatchNormalization) */
  ptq_conv_packed *packed; /* Conv: the weights in use (w, else input 1) packed, or NULL */
  void *state;             /* op_def.prepare's result (int8 ops: packed weights), or NULL */
  void (*state_free)(void *state);
} op_prepared;

typedef struct op_ctx {
  const ir_graph *graph;
  const ir_node *node;
  int64_t opset;
  int n_in, n_out;
  ptq_tensor **in;          /* n_in entries; NULL for omitted optional inputs */
  ptq_tensor **out;         /* n_out entries; NULL for omitted optional outputs */
  int infer_only;           /* 1 at load time */
  struct exec_frame *frame; /* run time only: the running frame (for If) */
  const op_prepared *prep;  /* run time only: session-prepared state, or NULL */
} op_ctx;

typedef struct op_def {
  const char *name;
  int since; /* lowest default-domain opset whose semantics this implementation follows */
  int min_in, max_in, min_out, max_out;
  const char *const *attrs; /* allowed attribute names, NULL-terminated; NULL: none allowed */
  ptq_status (*infer)(op_ctx *c);
  ptq_status (*run)(op_ctx *c);
  unsigned self_alloc : 1; /* run allocates its outputs (data-dependent shapes, If) */
  unsigned no_fold : 1;    /* never constant-fold */
  unsigned shape_only : 1; /* output depends only on input shapes (Shape, Size) */
} op_def;

/* Domain of the int8 runtime's own ops (exec/ops_int8.c), which only lowering creates. */
#define OP_INT8_DOMAIN "ai.ptq.int8"


/* Finds the definition for op_type in the default domain at opset (or in OP_INT8_DOMAIN);
 * NULL if unsupported. */
const op_def *op_find(const char *op_type, const char *domain, int64_t opset);

/* Op tables, one per source file; each ends with a {NULL} entry. */
extern const op_def op_defs_elementwise[];
extern const op_def op_defs_shape[];
extern const op_def op_defs_conv[];
extern const op_def op_defs_linear[];
extern const op_def op_defs_reduce[];
extern const op_def op_defs_resize[];
extern const op_def op_defs_rnn[];
extern const op_def op_defs_control[];
extern const op_def op_defs_quant[];
extern const op_def op_defs_misc[];
extern const op_def op_defs_int8[]; /* domain OP_INT8_DOMAIN */

/* Builds an int8 node's run-time state once per session (packed weights) into p->state and
 * p->state_free (left NULL by ops without state); the node's constants are in g. */
ptq_status op_int8_prepare(const ir_graph *g, const ir_node *n, op_prepared *p);

/* ---- helpers for op implementations --------------------------------------------------- */

/* Error naming the node: "node 'x' (Conv): <message>". */
ptq_status op_fail(const op_ctx *c, ptq_status st, const char *fmt, ...) PTQ_PRINTF(3, 4);

/* Sets output i's type and shape (infer) — rank -1 for unknown. */
void op_set_out(op_ctx *c, int i, ptq_dtype dtype, int rank, const int64_t *dims);
/* True if every dim of t is known. */
int op_shape_known(const ptq_tensor *t);
/* Normalises axis in [-rank, rank) to [0, rank); error if out of range. */
ptq_status op_axis(const op_ctx *c, int64_t axis, int rank, int *out);
/* Reads an integer tensor (int32/int64) as int64 values; n receives the element count.
 * Returns 0 if data is unknown. */
int op_read_ints(const ptq_tensor *t, int64_t *vals, int64_t max, int64_t *n);
/* Reads a scalar (any numeric dtype) as double; 0 if unknown. */
int op_read_scalar(const ptq_tensor *t, double *v);
/* Requires input i to have one of the dtypes in mask bits (1 << dtype). */
ptq_status op_require_dtype(const op_ctx *c, int i, unsigned mask);
#define OP_DT(d) (1u << (d))
#define OP_FLOATS (OP_DT(PTQ_DT_FLOAT))
#define OP_INTS (OP_DT(PTQ_DT_INT32) | OP_DT(PTQ_DT_INT64))
#define OP_NUMERIC                                                                           \
  (OP_DT(PTQ_DT_FLOAT) | OP_DT(PTQ_DT_DOUBLE) | OP_DT(PTQ_DT_FLOAT16) | OP_DT(PTQ_DT_INT8) | \
   OP_DT(PTQ_DT_UINT8) | OP_DT(PTQ_DT_INT16) | OP_DT(PTQ_DT_UINT16) | OP_DT(PTQ_DT_INT32) |  \
   OP_DT(PTQ_DT_UINT32) | OP_DT(PTQ_DT_INT64) | OP_DT(PTQ_DT_UINT64))
#define OP_ANY (OP_NUMERIC | OP_DT(PTQ_DT_BOOL))

/* Numpy-style broadcast of shapes a and b into out (rank max). -1 dims stay unknown unless the
 * other side fixes them. Error if incompatible. */
ptq_status op_broadcast(const op_ctx *c, const ptq_tensor *a, const ptq_tensor *b, int *rank,
                        int64_t *dims);

/* Strides (in elements) of a C-ordered shape. */
void op_strides(int rank, const int64_t *dims, int64_t *strides);

/* Element access as double / store from double for any numeric dtype (slow paths only). */
double op_get(const ptq_tensor *t, int64_t i);
void op_put(ptq_tensor *t, int64_t i, double v);

/* Float scratch memory of at least n floats for the duration of run: at run time the
 * session's reusable buffer (valid until the next op_scratch call; not to be freed), else a
 * fresh allocation that is also returned in *to_free (free it after use). NULL: out of
 * memory. n == 0 gives NULL and no error. */
float *op_scratch(op_ctx *c, size_t n, float **to_free);

/* Packs the weights of a Conv node whose weights are constant into prep->packed (leaves it
 * NULL where the kernels would not use packed weights, or when out of memory: the node then
 * runs unpacked); prep->w, when set, replaces the node's weights. Called at session
 * creation. */
ptq_status op_conv_prepare(const ir_graph *g, const ir_node *n, op_prepared *prep);

/* Executes a subgraph within the running frame (If). outs receives g->n_outputs tensors the
 * caller owns. */
ptq_status exec_subgraph(struct exec_frame *parent, const ir_graph *g, ptq_tensor **outs);

#endif
