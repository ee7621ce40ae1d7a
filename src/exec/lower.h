/* Lowering of quantized (QDQ) graphs to the int8 runtime (exec/lower_int8.c). */
#ifndef PTQ_EXEC_LOWER_H
#define PTQ_EXEC_LOWER_H

#include "ir/ir.h"

typedef struct exec_lower_stats {
  int int8_nodes;     /* int8 compute nodes (each replaces a DQ..op..Q group) */
  int boundary_nodes; /* QuantizeNhwc / DequantizeNhwc conversions at float islands */
  int float_nodes;    /* nodes that stay float */
} exec_lower_stats;

/* Rewrites m in place into the int8 runtime's graph: quantized activations become uint8
 * NHWC tensors, DQ→op→[Relu|Clip]→Q groups int8 nodes of domain OP_INT8_DOMAIN, the rest
 * float with NHWC boundary conversions; then re-validates the graph. Afterwards m runs with
 * the usual sessions but cannot be saved (m->lowered). A model without quantized activations
 * is left float (every count but float_nodes 0). stats may be NULL. */
ptq_status exec_lower_int8(ptq_model *m, exec_lower_stats *stats);

/* Re-runs validation, shape inference and pruning on a model whose graph was rewritten. */
ptq_status exec_reprepare_model(ptq_model *m);

#endif
