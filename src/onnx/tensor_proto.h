/* TensorProto <-> ptq_tensor conversion (the protobuf-c structs are generated at build time
 * from Debian's onnx.proto into onnx/onnx.pb-c.h). */
#ifndef PTQ_ONNX_TENSOR_PROTO_H
#define PTQ_ONNX_TENSOR_PROTO_H

#include "onnx/onnx.pb-c.h"
#include "util/util.h"

/* Nonzero if ptq can hold tensors of this ONNX element type. */
int onnx_dtype_supported(int32_t onnx_type);
/* ONNX name of an element type ("float", "bfloat16", ...). */
const char *onnx_type_name(int32_t onnx_type);

/* Decodes a TensorProto (typed fields, raw_data, or external data relative to base_dir, which
 * must stay inside base_dir). Sizes are checked before allocation. Caller owns *out. */
ptq_status onnx_tensor_to_ptq(const Onnx__TensorProto *tp, const char *base_dir, ptq_tensor **out);

/* Fills tp (zero-initialised by the caller with onnx__tensor_proto__init) so that it refers to
 * t's data as raw_data (no copy: t must outlive the packed use of tp). name is borrowed. */
void onnx_tensor_from_ptq(Onnx__TensorProto *tp, const ptq_tensor *t, const char *name);

#endif
