/* If: runs then_branch or else_branch; outputs come from the chosen subgraph. */
#include <string.h>

#include "exec/op.h"

static ptq_status if_branches(const op_ctx *c, const ir_graph **then_g, const ir_graph **else_g) {
  const ir_attr *t = ir_node_attr(c->node, "then_branch"),
                *e = ir_node_attr(c->node, "else_branch");
  if (!t || !e || !t->g || !e->g)
    return op_fail(c, PTQ_ERR_INVALID_MODEL, "needs then_branch and else_branch graphs");
  if (t->g->n_outputs != c->n_out || e->g->n_outputs != c->n_out)
    return op_fail(c, PTQ_ERR_INVALID_MODEL, "branches have %d and %d outputs, the node has %d",
                   t->g->n_outputs, e->g->n_outputs, c->n_out);
  *then_g = t->g;
  *else_g = e->g;
  return PTQ_OK;
}

static ptq_status if_infer(op_ctx *c) {
  const ir_graph *tg = NULL, *eg = NULL;
  PTQ_TRY(if_branches(c, &tg, &eg));
  PTQ_TRY(op_require_dtype(c, 0, OP_DT(PTQ_DT_BOOL)));
  if (c->in[0]->rank >= 0 && op_shape_known(c->in[0]) && ptq_tensor_numel(c->in[0]) != 1)
    return op_fail(c, PTQ_ERR_SHAPE, "condition must have one element");
  for (int i = 0; i < c->n_out; i++) {
    const ir_value *tv = &tg->values[tg->outputs[i]], *ev = &eg->values[eg->outputs[i]];
    if (tv->dtype && ev->dtype && tv->dtype != ev->dtype)
      return op_fail(c, PTQ_ERR_INVALID_MODEL,
                     "output %d has type %s in then_branch, %s in else_branch", i,
                     ptq_dtype_name(tv->dtype), ptq_dtype_name(ev->dtype));
    /* Keep the dims both branches agree on. */
    int64_t dims[PTQ_MAX_RANK] = {0};
    int rank = (tv->rank == ev->rank) ? tv->rank : -1;
    for (int d = 0; d < PTQ_MAX_RANK; d++)
      dims[d] = (rank > 0 && d < rank && tv->dims[d] == ev->dims[d]) ? tv->dims[d] : -1;
    op_set_out(c, i, tv->dtype ? tv->dtype : ev->dtype, rank, dims);
  }
  return PTQ_OK;
}

static ptq_status if_run(op_ctx *c) {
  const ir_graph *tg = NULL, *eg = NULL;
  PTQ_TRY(if_branches(c, &tg, &eg));
  if (ptq_tensor_numel(c->in[0]) != 1)
    return op_fail(c, PTQ_ERR_SHAPE, "condition must have one element");
  const ir_graph *g = *(const uint8_t *)c->in[0]->data ? tg : eg;
  ptq_status st = exec_subgraph(c->frame, g, c->out);
  if (st != PTQ_OK) return ptq_error_prefix(st, "%s: ", ir_node_desc(c->node));
  return PTQ_OK;
}

static const char *const A_IF[] = {"then_branch:g", "else_branch:g", NULL};

const op_def op_defs_control[] = {{"If", 1, 1, 1, 1, 1024, A_IF, if_infer, if_run, 1, 1, 0},
                                  {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, 0, 0}};
