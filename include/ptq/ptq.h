/* ptq — post-training quantization of ONNX models. Public C API.
 *
 * Conventions:
 *  - Every fallible function returns ptq_status; on failure ptq_last_error() gives a
 *    message (thread-local, valid until the next failing call on the same thread).
 *  - Objects are opaque handles created by *_create or *_load and released by *_destroy;
 *    destroy(NULL) is a no-op.
 *  - Ownership is stated per function: "caller owns" means the caller must destroy.
 *  - The library never prints and never exits.
 */
#ifndef PTQ_PTQ_H
#define PTQ_PTQ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ptq_status {
  PTQ_OK = 0,
  PTQ_ERR_INVALID_ARG = 1, /* bad argument from the caller (NULL, unknown name, bad flag) */
  PTQ_ERR_IO = 2,          /* file cannot be opened, read or written */
  PTQ_ERR_PARSE = 3,       /* malformed file (protobuf, .npy header, image) */
  PTQ_ERR_UNSUPPORTED = 4, /* valid input that ptq does not support (op, attribute, dtype, opset) */
  PTQ_ERR_INVALID_MODEL = 5, /* model fails validation (dangling names, cycles, bad attributes) */
  PTQ_ERR_SHAPE = 6,         /* shapes or types do not agree */
  PTQ_ERR_NOMEM = 7,         /* allocation failed or a size overflows */
  PTQ_ERR_DATA = 8,          /* bad data values (empty folder, NaN/Inf, label out of range) */
  PTQ_ERR_INTERNAL = 9       /* a bug in ptq */
} ptq_status;

/* Short name of a status ("ok", "io error", ...). Never NULL. */
const char *ptq_status_string(ptq_status status);
/* Message describing the last failure on this thread; "" if none. Never NULL. */
const char *ptq_last_error(void);

/* Element types, numbered as ONNX TensorProto.DataType. */
typedef enum ptq_dtype {
  PTQ_DT_UNDEFINED = 0,
  PTQ_DT_FLOAT = 1,
  PTQ_DT_UINT8 = 2,
  PTQ_DT_INT8 = 3,
  PTQ_DT_UINT16 = 4,
  PTQ_DT_INT16 = 5,
  PTQ_DT_INT32 = 6,
  PTQ_DT_INT64 = 7,
  PTQ_DT_STRING = 8,
  PTQ_DT_BOOL = 9,
  PTQ_DT_FLOAT16 = 10,
  PTQ_DT_DOUBLE = 11,
  PTQ_DT_UINT32 = 12,
  PTQ_DT_UINT64 = 13
} ptq_dtype;

#define PTQ_MAX_RANK 8

/* A dense, C-ordered tensor. `data` holds numel * ptq_dtype_size(dtype) bytes.
 * Tensors made by ptq_tensor_create own their data; ptq_tensor_destroy frees both. */
typedef struct ptq_tensor {
  ptq_dtype dtype;
  int rank; /* 0..PTQ_MAX_RANK; rank 0 is a scalar with one element */
  int64_t dims[PTQ_MAX_RANK];
  void *data;
  int owns_data; /* internal: nonzero if destroy frees data */
} ptq_tensor;

/* Bytes per element; 0 for UNDEFINED and STRING. */
size_t ptq_dtype_size(ptq_dtype dtype);
/* "float32", "int64", ...; "undefined" for unknown values. */
const char *ptq_dtype_name(ptq_dtype dtype);
/* Number of elements (product of dims; 1 for rank 0). */
int64_t ptq_tensor_numel(const ptq_tensor *t);

/* Creates a zero-filled tensor. dims may be NULL when rank is 0. Caller owns *out. */
ptq_status ptq_tensor_create(ptq_dtype dtype, int rank, const int64_t *dims, ptq_tensor **out);
void ptq_tensor_destroy(ptq_tensor *t);

/* ---------------------------------------------------------------- models --- */

typedef struct ptq_model ptq_model;

/* How a quantized (QuantizeLinear/DequantizeLinear) model runs. */
typedef enum ptq_engine {
  PTQ_ENGINE_AUTO,  /* INT8 when the model has quantized activations, else FLOAT */
  PTQ_ENGINE_INT8,  /* the int8 runtime: quantized groups on integer kernels, the rest float */
  PTQ_ENGINE_SIM,   /* the graph as stored, Q/DQ executed in float32 (onnxruntime's QDQ
                       semantics: the simulation) */
  PTQ_ENGINE_FLOAT  /* Q/DQ pairs on activations removed, weights dequantized: the float
                       model the quantized one approximates */
} ptq_engine;

typedef struct ptq_load_options {
  /* Shape overrides "NAME=1x3x640x640" for graph inputs (dynamic or not). */
  const char *const *shapes;
  size_t n_shapes;
  /* If > 0, the first dimension of every graph input (and of the outputs) is set to this
   * batch size, for models exported with batch 1. */
  int64_t batch;
  /* Nonzero: keep the graph exactly as stored (no constant folding or Identity removal);
   * used by the round-trip tests. Implies PTQ_ENGINE_SIM. */
  int no_optimize;
  /* How quantized models run (default AUTO). A model prepared for INT8 or FLOAT is changed
   * for running and can no longer be saved; INT8 on a model without quantized activations
   * is an error. */
  ptq_engine engine;
} ptq_load_options;

/* Loads, validates and prepares an ONNX model. opts may be NULL. Caller owns *out.
 * Unsupported ops, attributes, opsets or dtypes are rejected here with their names. */
ptq_status ptq_model_load(const char *path, const ptq_load_options *opts, ptq_model **out);
/* Loads from memory; external data (if any) is resolved relative to base_dir (may be NULL). */
ptq_status ptq_model_load_buffer(const void *buf, size_t len, const char *base_dir,
                                 const ptq_load_options *opts, ptq_model **out);
/* Writes the model as ONNX, atomically (temporary file + rename). */
ptq_status ptq_model_save(const ptq_model *model, const char *path);
void ptq_model_destroy(ptq_model *model);

/* Graph inputs (excluding initializers) and outputs. Returned pointers are owned by
 * the model and live as long as it. Dims of -1 are dynamic. */
size_t ptq_model_input_count(const ptq_model *model);
size_t ptq_model_output_count(const ptq_model *model);
typedef struct ptq_value_info {
  const char *name;
  ptq_dtype dtype;
  int rank; /* -1 if unknown */
  int64_t dims[PTQ_MAX_RANK];
} ptq_value_info;
ptq_status ptq_model_input(const ptq_model *model, size_t i, ptq_value_info *out);
ptq_status ptq_model_output(const ptq_model *model, size_t i, ptq_value_info *out);

/* The engine a loaded model was prepared for, and its node counts: int8 compute nodes,
 * float/int8 layout-and-type conversions at float islands, and float nodes. */
typedef struct ptq_engine_info {
  ptq_engine engine; /* INT8, SIM or FLOAT (never AUTO) */
  int int8_nodes, boundary_nodes, float_nodes;
} ptq_engine_info;
ptq_status ptq_model_engine(const ptq_model *model, ptq_engine_info *out);
/* "int8", "sim", "float" or "auto". */
const char *ptq_engine_name(ptq_engine engine);

/* Human-readable summary (inputs, outputs, op histogram, parameters, opset).
 * Caller frees the returned string with free(). NULL on allocation failure. */
char *ptq_model_summary(const ptq_model *model);

/* -------------------------------------------------------------- sessions --- */

typedef struct ptq_session ptq_session;

typedef struct ptq_session_options {
  int threads; /* 0: all cores */
} ptq_session_options;

/* A float executor over a loaded model. The model must outlive the session.
 * opts may be NULL. Caller owns *out. */
ptq_status ptq_session_create(const ptq_model *model, const ptq_session_options *opts,
                              ptq_session **out);
void ptq_session_destroy(ptq_session *session);

/* Runs the model. inputs[i] binds to graph input names[i]; every graph input must be bound.
 * outputs receives ptq_model_output_count() tensors in graph-output order; the caller owns
 * each and destroys it with ptq_tensor_destroy. */
ptq_status ptq_session_run(ptq_session *session, size_t n_inputs, const char *const *names,
                           const ptq_tensor *const *inputs, ptq_tensor **outputs);

/* Per-node profiling of the main graph. ptq_session_profile(s, 1) starts (and resets) it: each
 * following run adds every node's wall time; 0 stops it. ptq_session_profile_get gives one
 * entry per node in execution order, owned by the session (valid until the next
 * ptq_session_profile_get, ptq_session_profile or destroy), and the number of runs. */
typedef struct ptq_node_time {
  const char *node; /* node name ("" if unnamed) */
  const char *op;   /* op type (int8 runtime ops: QConv, QGemm, ...) */
  double ms;        /* total wall time over the profiled runs */
  int64_t macs;     /* multiply-accumulates per run of Conv/Gemm/MatMul and their int8
                       forms; 0 for other ops */
} ptq_node_time;
ptq_status ptq_session_profile(ptq_session *session, int enable);
ptq_status ptq_session_profile_get(ptq_session *session, const ptq_node_time **out, size_t *n,
                                   int64_t *runs);

/* Sets the thread count used by all ptq kernels (0: all cores). */
void ptq_set_threads(int threads);

#ifdef __cplusplus
}
#endif
#endif
