/* Float executor internals: per-graph plans and running frames. */
#ifndef PTQ_EXEC_EXEC_H
#define PTQ_EXEC_EXEC_H

#include "exec/op.h"

/* A node's prepared state with the tensors it owns. */
typedef struct exec_prep {
  op_prepared p;
  ptq_tensor *own_w, *own_b; /* folded weights and bias (p.w, p.b), or NULL */
} exec_prep;

typedef struct exec_plan {
  const ir_graph *g;
  int *last_use;       /* per value: last node index reading it; INT32_MAX for graph outputs */
  int *outer_idx;      /* per value: index in the parent graph for outer values, else -1 */
  exec_prep **prep;    /* per node: prepared state for its run, or NULL */
  unsigned char *pass; /* per node: 1 if fused into its producer: it only moves input 0 on */
} exec_plan;

typedef struct exec_frame {
  const exec_plan *plan;
  ptq_tensor **vals; /* run-time tensors per value (constants are read from the IR) */
  unsigned char *owned;
  struct exec_frame *parent;
  struct ptq_session *sess;
} exec_frame;

/* Freed intermediate buffers kept for reuse, so steady-state runs do not return memory to the
 * OS and fault it back in on every node. */
typedef struct exec_pool {
  void **bufs;
  size_t *caps;
  int n, cap;
} exec_pool;

/* Called with every value of the main graph as soon as it is computed (graph inputs first,
 * then each node's outputs in execution order); constants are not reported. The tensor is
 * borrowed for the duration of the call. A non-OK status stops the run and is returned. */
typedef ptq_status (*exec_observer_fn)(void *user, const ir_graph *g, int value,
                                       const ptq_tensor *t);

typedef struct exec_hooks {
  exec_observer_fn observe; /* may be NULL */
  void *user;
  int no_fuse; /* nonzero: run every node as written (observers then see pre-activation values) */
} exec_hooks;

struct ptq_session {
  const ptq_model *model;
  int threads;
  exec_hooks hooks;
  exec_pool pool;
  exec_plan **plans; /* plans[0] is the main graph; then every subgraph */
  int n_plans;
  float *scratch; /* op_scratch's buffer, scratch_cap floats */
  size_t scratch_cap;
  int profiling;      /* ptq_session_profile */
  double *prof_ms;    /* per main-graph node: accumulated ms */
  int64_t prof_runs;
  ptq_node_time *prof_out;
  /* micro-batched models: sessions for the other threads, sharing this one's plans */
  struct ptq_session **workers;
  int n_workers;
  int borrowed_plans; /* a worker: plans belong to the parent session */
};

/* ptq_session_create with hooks (may be NULL): observers for calibration and analysis. */
ptq_status exec_session_create(const ptq_model *model, const ptq_session_options *opts,
                               const exec_hooks *hooks, ptq_session **out);

/* Runs one node with all of its inputs available in frame; stores its outputs in frame. */
ptq_status exec_node(exec_frame *f, int node_index);
/* Value v of the frame's graph (constant, outer or computed); NULL if not available. */
ptq_tensor *exec_frame_get(exec_frame *f, int v);

/* Load-time preparation of a parsed model: overrides, topological sort, op resolution,
 * attribute validation, shape inference, constant folding and pruning. */
ptq_status exec_prepare_model(ptq_model *m, const ptq_load_options *opts);
/* Runs an op on constant inputs at load time (folding); outputs are owned by the caller. */
ptq_status exec_fold_node(const ir_graph *g, const ir_node *n, ptq_tensor **outs);

#endif
