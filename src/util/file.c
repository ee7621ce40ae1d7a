#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/util.h"

ptq_status ptq_file_read(const char *path, void **buf, size_t *len) {
  *buf = NULL;
  *len = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return ptq_error(PTQ_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
  if (fseek(f, 0, SEEK_END) != 0) goto io_error;
  long n = ftell(f);
  if (n < 0 || fseek(f, 0, SEEK_SET) != 0) goto io_error;
  char *b = ptq_malloc((size_t)n);
  if (!b) {
    fclose(f);
    return ptq_error(PTQ_ERR_NOMEM, "cannot allocate %ld bytes for '%s'", n, path);
  }
  if (fread(b, 1, (size_t)n, f) != (size_t)n) {
    free(b);
    goto io_error;
  }
  fclose(f);
  *buf = b;
  *len = (size_t)n;
  return PTQ_OK;
io_error:
  fclose(f);
  return ptq_error(PTQ_ERR_IO, "cannot read '%s' (is it a regular file?)", path);
}

ptq_status ptq_file_write_atomic(const char *path, const void *buf, size_t len) {
  char *tmp = ptq_asprintf("%s.tmp.%ld", path, (long)getpid());
  if (!tmp) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  FILE *f = fopen(tmp, "wb");
  if (!f) {
    ptq_status s = ptq_error(PTQ_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
    free(tmp);
    return s;
  }
  int ok = fwrite(buf, 1, len, f) == len;
  ok = (fflush(f) == 0) && ok;
  ok = (fclose(f) == 0) && ok;
  if (!ok || rename(tmp, path) != 0) {
    ptq_status s = ptq_error(PTQ_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    remove(tmp);
    free(tmp);
    return s;
  }
  free(tmp);
  return PTQ_OK;
}
