/* ONNX protobuf <-> IR conversion. */
#ifndef PTQ_ONNX_IO_H
#define PTQ_ONNX_IO_H

#include "ir/ir.h"

/* Parses serialized ModelProto bytes into a new model (graph unvalidated, nodes in file order).
 * External tensor data is read from files relative to base_dir (NULL: current directory);
 * locations must stay inside base_dir. Caller owns *out (ptq_model_destroy). */
ptq_status onnx_parse_model(const void *buf, size_t len, const char *base_dir, ptq_model **out);

/* Serializes the model. Caller frees *buf. Constants are written as initializers (or as the
 * Constant nodes that produced them when the graph was not optimized). */
ptq_status onnx_serialize_model(const ptq_model *model, void **buf, size_t *len);

#endif
