/* Preprocessing: spec parsing, color conversion, bilinear resize and central crops. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

/* ---- spec parsing ----------------------------------------------------------------- */

#define SPEC_HELP                                                                       \
  "expected resize=S|HxW, crop=S|HxW|F, scale=F, mean=A[:B:C], std=A[:B:C], bgr, rgb, " \
  "gray, layout=nchw|nhwc"

/* A finite number, optionally written as a fraction "A/B". 0 ok, -1 malformed. */
static int parse_number(const char *s, float *out) {
  char *end;
  double v = strtod(s, &end);
  if (end == s) return -1;
  if (*end == '/') {
    const char *d = end + 1;
    double den = strtod(d, &end);
    if (end == d || den == 0) return -1;
    v /= den;
  }
  if (*end != '\0' || !isfinite(v) || !isfinite((float)v)) return -1;
  *out = (float)v;
  return 0;
}

/* A side length 1..PTQ_PREP_MAX_SIDE in s[0..n). 0 ok, -1 malformed. */
static int parse_side(const char *s, size_t n, int *out) {
  long v = 0;
  if (n == 0) return -1;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
    if (v > PTQ_PREP_MAX_SIDE) return -1;
  }
  if (v < 1) return -1;
  *out = (int)v;
  return 0;
}

/* "S" (h = w = S, *square = 1) or "HxW" (*square = 0). 0 ok, -1 malformed. */
static int parse_size(const char *s, int *h, int *w, int *square) {
  const char *x = strchr(s, 'x');
  *square = x == NULL;
  if (!x) {
    if (parse_side(s, strlen(s), h) != 0) return -1;
    *w = *h;
    return 0;
  }
  return parse_side(s, (size_t)(x - s), h) == 0 && parse_side(x + 1, strlen(x + 1), w) == 0 ? 0
                                                                                            : -1;
}

/* "A[:B:...]" into vals; *n receives the count. 0 ok, -1 malformed. */
static int parse_list(char *s, float *vals, int *n) {
  *n = 0;
  for (char *tok = s;;) {
    char *colon = strchr(tok, ':');
    if (colon) *colon = '\0';
    if (*n == PTQ_PREP_MAX_VALUES || parse_number(tok, &vals[*n]) != 0) return -1;
    (*n)++;
    if (!colon) return 0;
    tok = colon + 1;
  }
}

static ptq_status bad_step(const char *step, const char *why) {
  return ptq_error(PTQ_ERR_INVALID_ARG, "preprocess step '%s': %s", step, why);
}

/* One "key[=value]" step, NUL-terminated in tok (modified). seen tracks repeated keys. */
static ptq_status parse_step(char *tok, ptq_preprocess *p, unsigned *seen) {
  char step[128];
  snprintf(step, sizeof step, "%s", tok);
  char *val = strchr(tok, '=');
  if (val) *val++ = '\0';
  static const char *const once[] = {"scale", "mean", "std", "layout", "bgr", "rgb", "gray"};
  for (unsigned k = 0; k < sizeof once / sizeof once[0]; k++)
    if (strcmp(tok, once[k]) == 0) {
      if (*seen & (1u << k)) return bad_step(step, "given twice");
      *seen |= 1u << k;
    }
  int flag = strcmp(tok, "bgr") == 0 || strcmp(tok, "rgb") == 0 || strcmp(tok, "gray") == 0;
  if (flag != !val) return bad_step(step, flag ? "takes no value" : "needs a value");

  if (strcmp(tok, "resize") == 0 || strcmp(tok, "crop") == 0) {
    if (p->n_geom == PTQ_PREP_MAX_STEPS) return bad_step(step, "too many resize/crop steps");
    ptq_geom_step *g = &p->geom[p->n_geom];
    int resize = tok[0] == 'r', square;
    if (!resize && strchr(val, '.')) {
      float f;
      if (parse_number(val, &f) != 0 || !(f > 0 && f <= 1))
        return bad_step(step, "a crop fraction must be in (0, 1]");
      g->kind = PTQ_GEOM_CROP_FRACTION;
      g->fraction = f;
    } else if (parse_size(val, &g->h, &g->w, &square) == 0) {
      g->kind = resize ? (square ? PTQ_GEOM_RESIZE_SHORT : PTQ_GEOM_RESIZE) : PTQ_GEOM_CROP;
    } else {
      return bad_step(step, resize ? "expected S or HxW (1..65536)"
                                   : "expected S, HxW (1..65536) or a fraction like 0.875");
    }
    p->has_resize |= resize;
    p->n_geom++;
    if (!p->image_step) p->image_step = resize ? "resize" : "crop";
  } else if (strcmp(tok, "scale") == 0) {
    if (parse_number(val, &p->scale) != 0) return bad_step(step, "expected a number");
  } else if (strcmp(tok, "mean") == 0) {
    if (parse_list(val, p->mean, &p->n_mean) != 0)
      return bad_step(step, "expected up to 16 numbers separated by ':'");
  } else if (strcmp(tok, "std") == 0) {
    if (parse_list(val, p->std, &p->n_std) != 0)
      return bad_step(step, "expected up to 16 numbers separated by ':'");
    for (int i = 0; i < p->n_std; i++)
      if (p->std[i] == 0) return bad_step(step, "std must not be 0");
  } else if (strcmp(tok, "layout") == 0) {
    if (strcmp(val, "nchw") != 0 && strcmp(val, "nhwc") != 0)
      return bad_step(step, "expected nchw or nhwc");
    p->nhwc = val[1] == 'h';
    if (!p->image_step) p->image_step = "layout";
  } else if (flag) {
    if (strcmp(tok, "gray") == 0)
      p->gray = 1;
    else
      p->bgr = tok[0] == 'b';
    if (!p->image_step) p->image_step = tok[0] == 'g' ? "gray" : tok[0] == 'b' ? "bgr" : "rgb";
  } else {
    return bad_step(step, "unknown step; " SPEC_HELP);
  }
  return PTQ_OK;
}

ptq_status ptq_preprocess_parse(const char *spec, ptq_preprocess *p) {
  memset(p, 0, sizeof *p);
  p->scale = 1.0f;
  unsigned seen = 0;
  for (const char *s = spec; s && *s;) {
    size_t n = strcspn(s, ",");
    while (n > 0 && (*s == ' ' || *s == '\t')) s++, n--;
    size_t m = n;
    while (m > 0 && (s[m - 1] == ' ' || s[m - 1] == '\t')) m--;
    char tok[128];
    if (m >= sizeof tok) return ptq_error(PTQ_ERR_INVALID_ARG, "preprocess step too long");
    memcpy(tok, s, m);
    tok[m] = '\0';
    if (m > 0) PTQ_TRY(parse_step(tok, p, &seen));
    s += n;
    if (*s == ',') s++;
  }
  return PTQ_OK;
}

ptq_status ptq_preprocess_check_channels(const ptq_preprocess *p, int64_t channels) {
  if (p->n_mean > 1 && p->n_mean != channels)
    return ptq_error(PTQ_ERR_SHAPE,
                     "preprocess: mean has %d values but samples have %lld "
                     "channels",
                     p->n_mean, (long long)channels);
  if (p->n_std > 1 && p->n_std != channels)
    return ptq_error(PTQ_ERR_SHAPE,
                     "preprocess: std has %d values but samples have %lld "
                     "channels",
                     p->n_std, (long long)channels);
  return PTQ_OK;
}

/* ---- float images ----------------------------------------------------------------- */

void ptq_fimage_free(ptq_fimage *img) {
  free(img->data);
  memset(img, 0, sizeof *img);
}

static ptq_status fimage_reserve(ptq_fimage *img, int c, int h, int w) {
  size_t n = (size_t)c * (size_t)h * (size_t)w;
  if (n > img->cap) {
    float *d = ptq_realloc_array(img->data, n, sizeof *d);
    if (!d) return ptq_error(PTQ_ERR_NOMEM, "out of memory for a %dx%dx%d image", c, h, w);
    img->data = d;
    img->cap = n;
  }
  img->c = c;
  img->h = h;
  img->w = w;
  return PTQ_OK;
}

ptq_status ptq_fimage_from_image8(const ptq_image8 *src, int channels, ptq_fimage *dst) {
  PTQ_TRY(fimage_reserve(dst, channels, src->h, src->w));
  size_t hw = (size_t)src->h * (size_t)src->w;
  const uint8_t *px = src->pix;
  for (size_t i = 0; i < hw; i++, px += src->channels) {
    if (src->channels == 1) {
      for (int c = 0; c < channels; c++) dst->data[c * hw + i] = px[0];
    } else if (channels == 1) {
      dst->data[i] = 0.299f * px[0] + 0.587f * px[1] + 0.114f * px[2];
    } else {
      for (int c = 0; c < 3; c++) dst->data[c * hw + i] = px[c];
    }
  }
  return PTQ_OK;
}

typedef struct tap {
  int i0, i1;
  float f; /* weight of i1 */
} tap;

/* Sampling positions for out outputs over in inputs: half-pixel centers, clamped. */
static void make_taps(int in, int out, tap *t) {
  double scale = (double)in / out;
  for (int o = 0; o < out; o++) {
    double x = (o + 0.5) * scale - 0.5;
    if (x < 0) x = 0;
    int i0 = (int)x;
    if (i0 >= in - 1) {
      t[o] = (tap){in - 1, in - 1, 0.0f};
    } else {
      t[o] = (tap){i0, i0 + 1, (float)(x - i0)};
    }
  }
}

ptq_status ptq_fimage_resize(const ptq_fimage *src, int h, int w, ptq_fimage *dst) {
  tap *tx = ptq_malloc((size_t)w * sizeof *tx), *ty = ptq_malloc((size_t)h * sizeof *ty);
  ptq_status s = PTQ_OK;
  if (!tx || !ty) {
    s = ptq_error(PTQ_ERR_NOMEM, "out of memory resizing an image");
    goto done;
  }
  if ((s = fimage_reserve(dst, src->c, h, w)) != PTQ_OK) goto done;
  make_taps(src->w, w, tx);
  make_taps(src->h, h, ty);
  for (int c = 0; c < src->c; c++) {
    const float *plane = src->data + (size_t)c * src->h * src->w;
    float *out = dst->data + (size_t)c * h * w;
    for (int y = 0; y < h; y++) {
      const float *r0 = plane + (size_t)ty[y].i0 * src->w, *r1 = plane + (size_t)ty[y].i1 * src->w;
      float fy = ty[y].f;
      for (int x = 0; x < w; x++) {
        float fx = tx[x].f;
        float top = (1 - fx) * r0[tx[x].i0] + fx * r0[tx[x].i1];
        float bot = (1 - fx) * r1[tx[x].i0] + fx * r1[tx[x].i1];
        out[(size_t)y * w + x] = (1 - fy) * top + fy * bot;
      }
    }
  }
done:
  free(tx);
  free(ty);
  return s;
}

ptq_status ptq_fimage_crop(const ptq_fimage *src, int top, int left, int h, int w,
                           ptq_fimage *dst) {
  PTQ_TRY(fimage_reserve(dst, src->c, h, w));
  for (int c = 0; c < src->c; c++)
    for (int y = 0; y < h; y++)
      memcpy(dst->data + ((size_t)c * h + y) * w,
             src->data + ((size_t)c * src->h + top + y) * src->w + left, (size_t)w * sizeof(float));
  return PTQ_OK;
}

static void swap_images(ptq_fimage *a, ptq_fimage *b) {
  ptq_fimage t = *a;
  *a = *b;
  *b = t;
}

ptq_status ptq_preprocess_geometry(const ptq_preprocess *p, ptq_fimage *img, ptq_fimage *tmp,
                                   int want_h, int want_w, const char *name) {
  for (int k = 0; k < p->n_geom; k++) {
    const ptq_geom_step *g = &p->geom[k];
    int h = img->h, w = img->w, nh = g->h, nw = g->w;
    if (g->kind == PTQ_GEOM_RESIZE_SHORT) { /* long side truncated, like torchvision */
      if (h <= w)
        nw = (int)((int64_t)g->h * w / h);
      else
        nh = (int)((int64_t)g->h * h / w);
      nh = nh < 1 ? 1 : nh;
      nw = nw < 1 ? 1 : nw;
    }
    if (g->kind == PTQ_GEOM_CROP_FRACTION) { /* TF central_crop */
      int top = (int)((h - h * g->fraction) / 2), left = (int)((w - w * g->fraction) / 2);
      PTQ_TRY(ptq_fimage_crop(img, top, left, h - 2 * top, w - 2 * left, tmp));
    } else if (g->kind == PTQ_GEOM_CROP) {
      if (nh > h || nw > w)
        return ptq_error(PTQ_ERR_SHAPE, "'%s': cannot crop %dx%d from a %dx%d image", name, nh, nw,
                         h, w);
      PTQ_TRY(ptq_fimage_crop(img, (h - nh) / 2, (w - nw) / 2, nh, nw, tmp));
    } else if (nh != h || nw != w) {
      PTQ_TRY(ptq_fimage_resize(img, nh, nw, tmp));
    } else {
      continue;
    }
    swap_images(img, tmp);
  }
  if (want_h <= 0 || want_w <= 0 || (img->h == want_h && img->w == want_w)) return PTQ_OK;
  if (p->has_resize)
    return ptq_error(PTQ_ERR_SHAPE,
                     "'%s': preprocessed image is %dx%d but the model expects %dx%d (adjust the "
                     "resize/crop steps)",
                     name, img->h, img->w, want_h, want_w);
  PTQ_TRY(ptq_fimage_resize(img, want_h, want_w, tmp));
  swap_images(img, tmp);
  return PTQ_OK;
}
