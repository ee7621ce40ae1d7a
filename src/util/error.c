#include <stdio.h>
#include <string.h>

#include "util/util.h"

#define PTQ_ERRBUF 1024
static _Thread_local char g_err[PTQ_ERRBUF];

const char *ptq_status_string(ptq_status status) {
  switch (status) {
    case PTQ_OK: return "ok";
    case PTQ_ERR_INVALID_ARG: return "invalid argument";
    case PTQ_ERR_IO: return "i/o error";
    case PTQ_ERR_PARSE: return "parse error";
    case PTQ_ERR_UNSUPPORTED: return "unsupported";
    case PTQ_ERR_INVALID_MODEL: return "invalid model";
    case PTQ_ERR_SHAPE: return "shape error";
    case PTQ_ERR_NOMEM: return "out of memory";
    case PTQ_ERR_DATA: return "bad data";
    case PTQ_ERR_INTERNAL: return "internal error";
  }
  return "unknown status";
}

const char *ptq_last_error(void) {
  return g_err;
}

void ptq_error_clear(void) {
  g_err[0] = '\0';
}

ptq_status ptq_error(ptq_status status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_err, sizeof g_err, fmt, ap);
  va_end(ap);
  return status;
}

ptq_status ptq_error_prefix(ptq_status status, const char *fmt, ...) {
  char prefix[PTQ_ERRBUF];
  char old[PTQ_ERRBUF];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  memcpy(old, g_err, sizeof old);
  size_t n = strlen(prefix);
  if (n >= sizeof g_err) n = sizeof g_err - 1;
  memcpy(g_err, prefix, n);
  size_t m = strlen(old);
  if (m > sizeof g_err - 1 - n) m = sizeof g_err - 1 - n;
  memcpy(g_err + n, old, m);
  g_err[n + m] = '\0';
  return status;
}
