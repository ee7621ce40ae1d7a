/* libFuzzer target: ptq_npy_load on arbitrary bytes. The input is written to an anonymous
 * in-memory file (memfd_create) and loaded through /proc/self/fd/N, so parallel fuzzing
 * jobs never share a path. */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ptq/data.h"
#include "ptq/ptq.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int g_fd = -1;
static char g_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  g_fd = memfd_create("ptq-fuzz-npy", 0);
  if (g_fd < 0) {
    perror("memfd_create");
    abort();
  }
  snprintf(g_path, sizeof g_path, "/proc/self/fd/%d", g_fd);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (ftruncate(g_fd, 0) != 0) abort();
  size_t done = 0;
  while (done < size) {
    ssize_t n = pwrite(g_fd, data + done, size - done, (off_t)done);
    if (n <= 0) abort();
    done += (size_t)n;
  }
  ptq_tensor *t = NULL;
  ptq_status st = ptq_npy_load(g_path, &t);
  if (st != PTQ_OK) {
    if (t != NULL) abort();
    return 0;
  }
  /* The tensor must be self-consistent: read every byte so that ASan sees under-allocation. */
  if (t->rank < 0 || t->rank > PTQ_MAX_RANK) abort();
  int64_t numel = ptq_tensor_numel(t);
  if (numel < 0) abort();
  size_t bytes = (size_t)numel * ptq_dtype_size(t->dtype);
  if (bytes > 0 && t->data == NULL) abort();
  const volatile uint8_t *p = (const volatile uint8_t *)t->data;
  uint8_t acc = 0;
  for (size_t i = 0; i < bytes; i++) acc ^= p[i];
  (void)acc;
  ptq_tensor_destroy(t);
  return 0;
}
