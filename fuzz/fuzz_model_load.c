/* libFuzzer target: ptq_model_load_buffer on arbitrary bytes, then the model queries, a
 * session (int8 weight packing) and destroy. Build with -DPTQ_FUZZ=ON -DPTQ_SANITIZE=ON and CC=clang (see fuzz/run.sh). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ptq/ptq.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  ptq_set_threads(1);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ptq_model *model = NULL;
  /* base_dir NULL: external data is not resolved, so the fuzzer cannot make ptq read files. */
  ptq_status st = ptq_model_load_buffer(data, size, NULL, NULL, &model);
  if (st != PTQ_OK) {
    /* A failure must leave no model behind and must come with a message. */
    if (model != NULL) abort();
    if (ptq_last_error() == NULL) abort();
    return 0;
  }
  /* Touch what a caller would touch after a successful load. */
  size_t n_in = ptq_model_input_count(model);
  size_t n_out = ptq_model_output_count(model);
  ptq_value_info vi;
  for (size_t i = 0; i < n_in; i++) {
    if (ptq_model_input(model, i, &vi) == PTQ_OK && vi.name == NULL) abort();
  }
  for (size_t i = 0; i < n_out; i++) {
    if (ptq_model_output(model, i, &vi) == PTQ_OK && vi.name == NULL) abort();
  }
  char *summary = ptq_model_summary(model);
  free(summary);
  /* A session packs the int8 engine's weights (lowered QDQ models). */
  ptq_session *session = NULL;
  if (ptq_session_create(model, NULL, &session) == PTQ_OK && session == NULL) abort();
  ptq_session_destroy(session);
  ptq_model_destroy(model);
  return 0;
}
