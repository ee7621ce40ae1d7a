/* Per-layer quantization overrides from a JSON file (--config). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/qgraph.h"
#include "util/json.h"

static ptq_status bad(const char *path, const json_value *v, const char *fmt, const char *a) {
  ptq_error(PTQ_ERR_INVALID_ARG, fmt, a);
  return ptq_error_prefix(PTQ_ERR_INVALID_ARG, "%s:%d:%d: ", path, v->line, v->col);
}

static ptq_status get_int(const char *path, const char *key, const json_value *v, int lo, int hi,
                          int *out) {
  if (v->type != JSON_NUMBER || v->number != floor(v->number) || v->number < lo || v->number > hi)
    return bad(path, v, "'%s' must be an integer in range", key);
  *out = (int)v->number;
  return PTQ_OK;
}

/* One settings object into *l (fields left at -1 when absent). */
static ptq_status read_layer(const char *path, const json_value *o, qlayer_cfg *l) {
  l->w_bits = l->a_bits = l->per_channel = l->method = l->is_float = -1;
  if (o->type != JSON_OBJECT) return bad(path, o, "%s", "layer settings must be an object");
  for (size_t i = 0; i < o->n; i++) {
    const char *k = o->keys[i];
    const json_value *v = &o->items[i];
    if (strcmp(k, "w_bits") == 0) {
      PTQ_TRY(get_int(path, k, v, 2, 8, &l->w_bits));
    } else if (strcmp(k, "a_bits") == 0) {
      PTQ_TRY(get_int(path, k, v, 2, 16, &l->a_bits));
    } else if (strcmp(k, "per_channel") == 0 || strcmp(k, "float") == 0) {
      if (v->type != JSON_BOOL) return bad(path, v, "'%s' must be true or false", k);
      *(k[0] == 'f' ? &l->is_float : &l->per_channel) = v->boolean;
    } else if (strcmp(k, "method") == 0) {
      ptq_qmethod m;
      if (v->type != JSON_STRING || ptq_qmethod_parse(v->string, &m) != PTQ_OK)
        return bad(path, v, "%s", "'method' must be minmax, ema, percentile, mse or kl");
      l->method = (int)m;
    } else {
      return bad(path, v, "unknown key '%s' (w_bits, a_bits, per_channel, method, float)", k);
    }
  }
  return PTQ_OK;
}

void qconfig_free(qconfig *c) {
  for (size_t i = 0; c && i < c->n_layers; i++) free(c->layers[i].name);
  if (c) {
    free(c->layers);
    memset(c, 0, sizeof *c);
  }
}

ptq_status qconfig_load(const char *path, qconfig *out) {
  memset(out, 0, sizeof *out);
  out->deflt.w_bits = out->deflt.a_bits = out->deflt.per_channel = out->deflt.method =
      out->deflt.is_float = -1;
  out->cle = -1;
  void *buf = NULL;
  size_t len = 0;
  json_value *root = NULL;
  ptq_status st = ptq_file_read(path, &buf, &len);
  if (st != PTQ_OK) return ptq_error_prefix(st, "--config: ");
  if ((st = json_parse(buf, len, &root)) != PTQ_OK) {
    ptq_error_prefix(st, "%s: ", path);
    goto done;
  }
  if (root->type != JSON_OBJECT) {
    st = bad(path, root, "%s", "the config must be an object {\"default\": ..., \"layers\": ...}");
    goto done;
  }
  for (size_t i = 0; i < root->n && st == PTQ_OK; i++) {
    const char *k = root->keys[i];
    const json_value *v = &root->items[i];
    if (strcmp(k, "default") == 0) {
      if ((st = read_layer(path, v, &out->deflt)) == PTQ_OK && out->deflt.is_float >= 0)
        st = bad(path, v, "%s", "'float' is per layer only");
    } else if (strcmp(k, "layers") == 0) {
      if (v->type != JSON_OBJECT) {
        st = bad(path, v, "%s", "'layers' must be an object of node names");
        break;
      }
      out->layers = ptq_calloc(v->n + 1, sizeof *out->layers);
      if (!out->layers) {
        st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
        break;
      }
      for (size_t j = 0; j < v->n && st == PTQ_OK; j++) {
        qlayer_cfg *l = &out->layers[j];
        if (!(l->name = ptq_strdup(v->keys[j]))) {
          st = ptq_error(PTQ_ERR_NOMEM, "out of memory");
          break;
        }
        out->n_layers = j + 1;
        st = read_layer(path, &v->items[j], l);
      }
    } else if (strcmp(k, "cle") == 0) {
      if (v->type != JSON_BOOL) {
        st = bad(path, v, "'%s' must be true or false", k);
        break;
      }
      out->cle = v->boolean;
    } else {
      st = bad(path, v, "unknown key '%s' (default, layers, cle)", k);
    }
  }
done:
  json_free(root);
  free(buf);
  if (st != PTQ_OK) qconfig_free(out);
  return st;
}
