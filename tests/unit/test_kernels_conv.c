/* Convolution and transposed convolution against naive direct references: every dispatch
 * path (pointwise GEMM, register-blocked direct, im2col GEMM for large kernels, depthwise with
 * its 3x3 fast paths) on fixed and random shapes. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kernels/kernels.h"
#include "ptq/ptq.h"

static uint32_t rng_state;

static uint32_t rng(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return rng_state;
}

static int64_t rand_in(int64_t lo, int64_t hi) {
  return lo + (int64_t)(rng() % (uint32_t)(hi - lo + 1));
}

static float rand_f(void) {
  return (float)(rng() >> 8) / (float)(1u << 24) * 2.0f - 1.0f;
}

static float *rand_buf(int64_t n) {
  float *b = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
  assert_non_null(b);
  for (int64_t i = 0; i < n; i++) b[i] = rand_f();
  return b;
}

/* y must match ref within 1e-5 of the magnitude of the terms summed into it (mag). */
static void check(const char *what, const float *y, const double *ref, const double *mag,
                  int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    if (fabs((double)y[i] - ref[i]) > 1e-5 * (mag[i] + 1e-3))
      fail_msg("%s: y[%lld] = %.9g, reference %.9g", what, (long long)i, y[i], ref[i]);
  }
}

static void conv_ref(const ptq_conv_params *p, const float *x, const float *w, const float *b,
                     double *y, double *mag) {
  const int64_t g_cin = p->c_in / p->group, g_cout = p->c_out / p->group;
  for (int64_t n = 0; n < p->n; n++) {
    for (int64_t oc = 0; oc < p->c_out; oc++) {
      const int64_t g = oc / g_cout;
      for (int64_t oh = 0; oh < p->h_out; oh++) {
        for (int64_t ow = 0; ow < p->w_out; ow++) {
          double acc = b ? b[oc] : 0.0, m = b ? fabs(b[oc]) : 0.0;
          for (int64_t ci = 0; ci < g_cin; ci++) {
            for (int64_t kh = 0; kh < p->k_h; kh++) {
              const int64_t ih = oh * p->stride_h - p->pad_t + kh * p->dil_h;
              if (ih < 0 || ih >= p->h_in) continue;
              for (int64_t kw = 0; kw < p->k_w; kw++) {
                const int64_t iw = ow * p->stride_w - p->pad_l + kw * p->dil_w;
                if (iw < 0 || iw >= p->w_in) continue;
                const double t =
                    (double)x[((n * p->c_in + g * g_cin + ci) * p->h_in + ih) * p->w_in + iw] *
                    w[((oc * g_cin + ci) * p->k_h + kh) * p->k_w + kw];
                acc += t;
                m += fabs(t);
              }
            }
          }
          const int64_t i = ((n * p->c_out + oc) * p->h_out + oh) * p->w_out + ow;
          y[i] = acc;
          mag[i] = m;
        }
      }
    }
  }
}

/* Fills the output size from the ONNX formula; returns 0 when it would be empty. */
static int conv_shape(ptq_conv_params *p) {
  const int64_t sh = p->h_in + p->pad_t + p->pad_b - p->dil_h * (p->k_h - 1) - 1;
  const int64_t sw = p->w_in + p->pad_l + p->pad_r - p->dil_w * (p->k_w - 1) - 1;
  if (sh < 0 || sw < 0) return 0;
  p->h_out = sh / p->stride_h + 1;
  p->w_out = sw / p->stride_w + 1;
  return 1;
}

static void run_conv(const char *what, ptq_conv_params p, int with_bias) {
  assert_true(conv_shape(&p));
  const int64_t nx = p.n * p.c_in * p.h_in * p.w_in, ny = p.n * p.c_out * p.h_out * p.w_out;
  const int64_t nw = p.c_out * (p.c_in / p.group) * p.k_h * p.k_w;
  float *x = rand_buf(nx), *w = rand_buf(nw), *b = with_bias ? rand_buf(p.c_out) : NULL;
  float *y = malloc(sizeof(float) * (size_t)ny);
  const size_t ns = ptq_conv2d_scratch_size(&p);
  float *scratch = ns ? malloc(sizeof(float) * ns) : NULL;
  double *ref = malloc(sizeof(double) * (size_t)ny), *mag = malloc(sizeof(double) * (size_t)ny);
  assert_non_null(y);
  assert_non_null(ref);
  assert_non_null(mag);
  assert_true(ns == 0 || scratch != NULL);
  for (int64_t i = 0; i < ny; i++) y[i] = NAN; /* every output must be written */
  ptq_conv2d_f32(&p, x, w, b, y, scratch);
  conv_ref(&p, x, w, b, ref, mag);
  char msg[256];
  snprintf(msg, sizeof msg,
           "%s: n%lld c%lld->%lld g%lld %lldx%lld k%lldx%lld s%lldx%lld d%lldx%lld "
           "pads %lld,%lld,%lld,%lld",
           what, (long long)p.n, (long long)p.c_in, (long long)p.c_out, (long long)p.group,
           (long long)p.h_in, (long long)p.w_in, (long long)p.k_h, (long long)p.k_w,
           (long long)p.stride_h, (long long)p.stride_w, (long long)p.dil_h, (long long)p.dil_w,
           (long long)p.pad_t, (long long)p.pad_l, (long long)p.pad_b, (long long)p.pad_r);
  check(msg, y, ref, mag, ny);
  free(x);
  free(w);
  free(b);
  free(y);
  free(scratch);
  free(ref);
  free(mag);
}

/* Shorthand: n, c_in, h, w, c_out, group, k_h, k_w, stride_h, stride_w, dil_h, dil_w,
 * pads t, l, b, r. */
static ptq_conv_params cp(int64_t n, int64_t c_in, int64_t h, int64_t w, int64_t c_out,
                          int64_t group, int64_t k_h, int64_t k_w, int64_t s_h, int64_t s_w,
                          int64_t d_h, int64_t d_w, int64_t pt, int64_t pl, int64_t pb,
                          int64_t pr) {
  ptq_conv_params p = {0};
  p.n = n;
  p.c_in = c_in;
  p.h_in = h;
  p.w_in = w;
  p.c_out = c_out;
  p.group = group;
  p.k_h = k_h;
  p.k_w = k_w;
  p.stride_h = s_h;
  p.stride_w = s_w;
  p.dil_h = d_h;
  p.dil_w = d_w;
  p.pad_t = pt;
  p.pad_l = pl;
  p.pad_b = pb;
  p.pad_r = pr;
  return p;
}

static void test_conv_pointwise(void **state) {
  (void)state;
  rng_state = 1;
  assert_int_equal(ptq_conv2d_scratch_size(&(ptq_conv_params){.n = 1,
                                                              .c_in = 8,
                                                              .h_in = 5,
                                                              .w_in = 5,
                                                              .c_out = 4,
                                                              .group = 1,
                                                              .k_h = 1,
                                                              .k_w = 1,
                                                              .stride_h = 1,
                                                              .stride_w = 1,
                                                              .dil_h = 1,
                                                              .dil_w = 1}),
                   0);
  run_conv("1x1", cp(2, 8, 7, 9, 12, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0), 1);
  run_conv("1x1 no bias", cp(1, 8, 7, 9, 12, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0), 0);
  run_conv("1x1 grouped", cp(2, 8, 5, 6, 6, 2, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0), 1);
  run_conv("1x1 stride 2", cp(1, 8, 7, 9, 5, 1, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0), 1);
  run_conv("1x1 padded", cp(1, 3, 4, 4, 5, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 2), 1);
  run_conv("1x1 large", cp(1, 96, 56, 56, 24, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0), 1);
}

static void test_conv_im2col(void **state) {
  (void)state;
  rng_state = 2;
  run_conv("3x3 s1 p1", cp(2, 5, 9, 11, 7, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1), 1);
  run_conv("3x3 s2 asym pads", cp(1, 4, 10, 9, 6, 1, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1), 1);
  run_conv("3x3 s2 asym pads 2", cp(1, 4, 9, 10, 6, 1, 3, 3, 2, 2, 1, 1, 1, 2, 0, 1), 0);
  run_conv("grouped 3x3", cp(2, 8, 8, 7, 12, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1), 1);
  run_conv("grouped 2x4 s2x1", cp(1, 6, 9, 8, 9, 3, 2, 4, 2, 1, 1, 1, 0, 1, 1, 2), 1);
  run_conv("dilated 5x3", cp(1, 3, 14, 13, 4, 1, 5, 3, 1, 2, 2, 3, 3, 2, 1, 4), 1);
  run_conv("7x7 s2 p3", cp(1, 3, 32, 30, 8, 1, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3), 1);
  run_conv("kernel larger than input", cp(1, 2, 3, 3, 3, 1, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2), 1);
  run_conv("1-D", cp(2, 4, 1, 50, 6, 1, 1, 5, 1, 2, 1, 2, 0, 3, 0, 1), 1);
  run_conv("1-D grouped", cp(1, 6, 1, 31, 4, 2, 1, 3, 1, 1, 1, 1, 0, 1, 0, 1), 1);
  run_conv("3x3 large", cp(1, 16, 60, 80, 32, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1), 1);
  run_conv("9x9 p4 (im2col)", cp(2, 3, 12, 11, 5, 1, 9, 9, 1, 1, 1, 1, 4, 4, 4, 4), 1);
  run_conv("9x9 s2 grouped (im2col)", cp(1, 4, 20, 19, 6, 2, 9, 9, 2, 2, 1, 1, 4, 3, 2, 4), 0);
  run_conv("1-D 1x65 dilated (im2col)", cp(1, 2, 1, 150, 3, 1, 1, 65, 1, 1, 1, 2, 0, 5, 0, 7), 1);
  run_conv("11x7 s3x2 (im2col)", cp(1, 3, 30, 25, 4, 1, 11, 7, 3, 2, 1, 1, 1, 2, 3, 0), 1);
  run_conv("64->64 8x8", cp(1, 64, 8, 8, 64, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1), 1);
  run_conv("256->12 4x5", cp(1, 256, 4, 5, 12, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1), 1);
  run_conv("s3 dilated 2 grouped", cp(2, 6, 23, 29, 9, 3, 3, 3, 3, 3, 2, 2, 2, 1, 0, 3), 1);
  run_conv("first layer s2", cp(1, 3, 224, 224, 32, 1, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1), 1);
}

static void test_conv_depthwise(void **state) {
  (void)state;
  rng_state = 3;
  for (int64_t w = 1; w <= 9; w++) {
    for (int64_t s = 1; s <= 2; s++) {
      run_conv("dw 3x3 p1", cp(1, 3, w + 1, w, 3, 3, 3, 3, s, s, 1, 1, 1, 1, 1, 1), 1);
      run_conv("dw 3x3 same-upper", cp(1, 2, w + 2, w + 2, 2, 2, 3, 3, s, s, 1, 1, 0, 0, 1, 1), 1);
      run_conv("dw 3x3 p0", cp(1, 2, w + 2, w + 2, 2, 2, 3, 3, s, s, 1, 1, 0, 0, 0, 0), 0);
      run_conv("dw 3x3 p2", cp(1, 2, w, w + 3, 2, 2, 3, 3, s, s, 1, 1, 2, 2, 2, 2), 1);
    }
  }
  run_conv("dw 3x3 s1 large", cp(2, 32, 56, 56, 32, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1), 1);
  run_conv("dw 3x3 s2 large", cp(1, 96, 112, 112, 96, 96, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1), 1);
  run_conv("dw 3x3 s2x1", cp(1, 4, 13, 12, 4, 4, 3, 3, 2, 1, 1, 1, 1, 1, 1, 1), 1);
  run_conv("dw 3x3 s1x2", cp(1, 4, 13, 12, 4, 4, 3, 3, 1, 2, 1, 1, 1, 1, 1, 1), 1);
  run_conv("dw 3x3 s3", cp(1, 4, 13, 12, 4, 4, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1), 1);
  run_conv("dw 3x3 dilated", cp(1, 4, 13, 12, 4, 4, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2), 1);
  run_conv("dw 5x5 s2", cp(1, 5, 17, 16, 5, 5, 5, 5, 2, 2, 1, 1, 2, 2, 2, 2), 1);
  run_conv("dw 7x1", cp(1, 3, 15, 6, 3, 3, 7, 1, 1, 1, 1, 1, 3, 0, 3, 0), 1);
  run_conv("dw multiplier 2", cp(2, 4, 9, 9, 8, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1), 1);
  run_conv("single input channel", cp(1, 1, 12, 10, 6, 1, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1), 1);
  run_conv("dw rows too wide to buffer", cp(1, 2, 4, 2900, 2, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1), 1);
  run_conv("dw rows too wide, s2", cp(1, 2, 5, 2900, 2, 2, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1), 1);
  run_conv("dw dilated tall kernel", cp(1, 2, 40, 600, 2, 2, 7, 3, 1, 1, 2, 1, 6, 1, 6, 1), 1);
  run_conv("dw 1-D", cp(1, 4, 1, 40, 4, 4, 1, 3, 1, 1, 1, 1, 0, 1, 0, 1), 1);
}

static void test_conv_random(void **state) {
  (void)state;
  rng_state = 4;
  for (int iter = 0; iter < 600; iter++) {
    ptq_conv_params p = {0};
    const int depthwise = iter % 3 == 0;
    p.n = rand_in(1, 2);
    p.group = rand_in(1, 3);
    p.c_in = p.group * (depthwise ? 1 : rand_in(1, 3));
    p.c_out = p.group * rand_in(1, depthwise ? 2 : 3);
    const int one_d = iter % 7 == 0;
    p.h_in = one_d ? 1 : rand_in(1, 12);
    p.w_in = rand_in(1, 12);
    p.k_h = one_d ? 1 : rand_in(1, 4);
    p.k_w = rand_in(1, 4);
    if (iter % 5 == 0 && !one_d) p.k_h = p.k_w = 3;
    p.stride_h = one_d ? 1 : rand_in(1, 3);
    p.stride_w = rand_in(1, 3);
    p.dil_h = one_d ? 1 : rand_in(1, 2);
    p.dil_w = rand_in(1, 2);
    p.pad_t = one_d ? 0 : rand_in(0, 2);
    p.pad_b = one_d ? 0 : rand_in(0, 2);
    p.pad_l = rand_in(0, 2);
    p.pad_r = rand_in(0, 2);
    if (!conv_shape(&p)) continue;
    run_conv("random", p, (int)rand_in(0, 1));
  }
}

/* Scatter form of ConvTranspose: x[n][ci][ih][iw] · w[ci][oc][kh][kw] lands on
 * y[n][g*g_cout + oc][ih*s_h - pad_t + kh*d_h][iw*s_w - pad_l + kw*d_w]. */
static void deconv_ref(const ptq_deconv_params *dp, const float *x, const float *w, const float *b,
                       double *y, double *mag) {
  const ptq_conv_params *p = &dp->c;
  const int64_t g_cin = p->c_in / p->group, g_cout = p->c_out / p->group;
  const int64_t hw_out = p->h_out * p->w_out;
  for (int64_t n = 0; n < p->n; n++) {
    for (int64_t oc = 0; oc < p->c_out; oc++) {
      for (int64_t i = 0; i < hw_out; i++) {
        y[(n * p->c_out + oc) * hw_out + i] = b ? b[oc] : 0.0;
        mag[(n * p->c_out + oc) * hw_out + i] = b ? fabs(b[oc]) : 0.0;
      }
    }
    for (int64_t ci = 0; ci < p->c_in; ci++) {
      const int64_t g = ci / g_cin;
      for (int64_t ih = 0; ih < p->h_in; ih++) {
        for (int64_t iw = 0; iw < p->w_in; iw++) {
          const double xv = x[((n * p->c_in + ci) * p->h_in + ih) * p->w_in + iw];
          for (int64_t oc = 0; oc < g_cout; oc++) {
            for (int64_t kh = 0; kh < p->k_h; kh++) {
              const int64_t oh = ih * p->stride_h - p->pad_t + kh * p->dil_h;
              if (oh < 0 || oh >= p->h_out) continue;
              for (int64_t kw = 0; kw < p->k_w; kw++) {
                const int64_t ow = iw * p->stride_w - p->pad_l + kw * p->dil_w;
                if (ow < 0 || ow >= p->w_out) continue;
                const double t = xv * w[((ci * g_cout + oc) * p->k_h + kh) * p->k_w + kw];
                const int64_t i =
                    ((n * p->c_out + g * g_cout + oc) * p->h_out + oh) * p->w_out + ow;
                y[i] += t;
                mag[i] += fabs(t);
              }
            }
          }
        }
      }
    }
  }
}

/* Fills the output size from the ONNX formula; returns 0 when it would be empty. */
static int deconv_shape(ptq_deconv_params *dp) {
  ptq_conv_params *p = &dp->c;
  p->h_out = p->stride_h * (p->h_in - 1) + dp->out_pad_h + p->dil_h * (p->k_h - 1) + 1 - p->pad_t -
             p->pad_b;
  p->w_out = p->stride_w * (p->w_in - 1) + dp->out_pad_w + p->dil_w * (p->k_w - 1) + 1 - p->pad_l -
             p->pad_r;
  return p->h_out > 0 && p->w_out > 0;
}

static void run_deconv(const char *what, ptq_deconv_params dp, int with_bias) {
  assert_true(deconv_shape(&dp));
  const ptq_conv_params p = dp.c;
  const int64_t nx = p.n * p.c_in * p.h_in * p.w_in, ny = p.n * p.c_out * p.h_out * p.w_out;
  const int64_t nw = p.c_in * (p.c_out / p.group) * p.k_h * p.k_w;
  float *x = rand_buf(nx), *w = rand_buf(nw), *b = with_bias ? rand_buf(p.c_out) : NULL;
  float *y = malloc(sizeof(float) * (size_t)ny);
  const size_t ns = ptq_deconv2d_scratch_size(&dp);
  float *scratch = ns ? malloc(sizeof(float) * ns) : NULL;
  double *ref = malloc(sizeof(double) * (size_t)ny), *mag = malloc(sizeof(double) * (size_t)ny);
  assert_non_null(y);
  assert_non_null(ref);
  assert_non_null(mag);
  assert_true(ns == 0 || scratch != NULL);
  for (int64_t i = 0; i < ny; i++) y[i] = NAN;
  ptq_deconv2d_f32(&dp, x, w, b, y, scratch);
  deconv_ref(&dp, x, w, b, ref, mag);
  char msg[256];
  snprintf(msg, sizeof msg,
           "%s: n%lld c%lld->%lld g%lld %lldx%lld k%lldx%lld s%lldx%lld d%lldx%lld "
           "pads %lld,%lld,%lld,%lld out_pad %lld,%lld",
           what, (long long)p.n, (long long)p.c_in, (long long)p.c_out, (long long)p.group,
           (long long)p.h_in, (long long)p.w_in, (long long)p.k_h, (long long)p.k_w,
           (long long)p.stride_h, (long long)p.stride_w, (long long)p.dil_h, (long long)p.dil_w,
           (long long)p.pad_t, (long long)p.pad_l, (long long)p.pad_b, (long long)p.pad_r,
           (long long)dp.out_pad_h, (long long)dp.out_pad_w);
  check(msg, y, ref, mag, ny);
  free(x);
  free(w);
  free(b);
  free(y);
  free(scratch);
  free(ref);
  free(mag);
}

static ptq_deconv_params dcp(ptq_conv_params c, int64_t out_pad_h, int64_t out_pad_w) {
  ptq_deconv_params dp = {c, out_pad_h, out_pad_w};
  return dp;
}

static void test_deconv(void **state) {
  (void)state;
  rng_state = 5;
  run_deconv("2x2 s2", dcp(cp(1, 8, 10, 12, 4, 1, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0), 0, 0), 1);
  run_deconv("2x2 s2 large", dcp(cp(1, 64, 40, 40, 64, 1, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0), 0, 0), 1);
  run_deconv("3x3 s2 p1 out_pad", dcp(cp(2, 4, 6, 7, 5, 1, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1), 1, 1), 1);
  run_deconv("asym pads", dcp(cp(1, 3, 5, 6, 4, 1, 3, 4, 2, 3, 1, 1, 0, 2, 1, 0), 1, 2), 0);
  run_deconv("grouped", dcp(cp(2, 6, 5, 5, 9, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1), 0, 1), 1);
  run_deconv("dilated", dcp(cp(1, 3, 6, 5, 2, 1, 3, 2, 1, 2, 2, 3, 1, 2, 2, 1), 0, 0), 1);
  run_deconv("1x1", dcp(cp(2, 5, 4, 6, 7, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0), 0, 0), 1);
  run_deconv("1x1 no bias", dcp(cp(1, 5, 4, 6, 7, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0), 0, 0), 0);
  run_deconv("1x1 grouped", dcp(cp(1, 4, 4, 6, 6, 2, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0), 0, 0), 1);
  run_deconv("1x1 s2", dcp(cp(1, 3, 4, 5, 2, 1, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0), 1, 1), 1);
  run_deconv("1-D", dcp(cp(1, 3, 1, 20, 4, 1, 1, 4, 1, 2, 1, 1, 0, 1, 0, 1), 0, 1), 1);
  rng_state = 6;
  for (int iter = 0; iter < 400; iter++) {
    ptq_conv_params c = {0};
    c.n = rand_in(1, 2);
    c.group = rand_in(1, 3);
    c.c_in = c.group * rand_in(1, 3);
    c.c_out = c.group * rand_in(1, 3);
    c.h_in = rand_in(1, 8);
    c.w_in = rand_in(1, 8);
    c.k_h = rand_in(1, 4);
    c.k_w = rand_in(1, 4);
    c.stride_h = rand_in(1, 3);
    c.stride_w = rand_in(1, 3);
    c.dil_h = rand_in(1, 2);
    c.dil_w = rand_in(1, 2);
    c.pad_t = rand_in(0, 2);
    c.pad_b = rand_in(0, 2);
    c.pad_l = rand_in(0, 2);
    c.pad_r = rand_in(0, 2);
    const int64_t oph = rand_in(0, (c.stride_h > c.dil_h ? c.stride_h : c.dil_h) - 1);
    const int64_t opw = rand_in(0, (c.stride_w > c.dil_w ? c.stride_w : c.dil_w) - 1);
    ptq_deconv_params dp = dcp(c, oph, opw);
    if (!deconv_shape(&dp)) continue;
    run_deconv("random", dp, (int)rand_in(0, 1));
  }
}

/* ptq_conv2d_f32 on `threads` threads, with packed weights when `packed`; y has ny floats. */
static void conv_on(ptq_conv_params p, int threads, int packed, const float *x, const float *w,
                    const float *b, float *y) {
  ptq_set_threads(threads);
  ptq_conv_packed *pk = packed ? ptq_conv2d_pack(&p, w) : NULL;
  p.packed = pk;
  const size_t ns = ptq_conv2d_scratch_size(&p);
  float *scratch = ns ? malloc(sizeof(float) * ns) : NULL;
  assert_true(ns == 0 || scratch != NULL);
  ptq_conv2d_f32(&p, x, w, b, y, scratch);
  free(scratch);
  ptq_conv2d_packed_free(pk);
  ptq_set_threads(1);
}

/* Many small images: the (image, group) units are spread over the threads, each with its own
 * scratch; the result must match the reference and, bit for bit, the one-thread result. */
static void test_conv_threads(void **state) {
  (void)state;
  rng_state = 7;
  const ptq_conv_params shapes[] = {
      cp(16, 64, 16, 16, 64, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0), /* pointwise */
      cp(16, 16, 16, 16, 16, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1), /* direct */
      cp(9, 16, 17, 15, 24, 2, 3, 3, 2, 2, 1, 1, 1, 0, 1, 1),  /* direct, grouped, odd count */
      cp(8, 4, 12, 12, 16, 1, 9, 9, 1, 1, 1, 1, 4, 4, 4, 4),   /* 81 taps: im2col */
  };
  for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
    ptq_set_threads(2);
    run_conv("threads", shapes[si], 1);
    ptq_conv_params p = shapes[si];
    assert_true(conv_shape(&p));
    const int64_t nx = p.n * p.c_in * p.h_in * p.w_in, ny = p.n * p.c_out * p.h_out * p.w_out;
    const int64_t nw = p.c_out * (p.c_in / p.group) * p.k_h * p.k_w;
    float *x = rand_buf(nx), *w = rand_buf(nw), *b = rand_buf(p.c_out);
    float *y1 = malloc(sizeof(float) * (size_t)ny), *y2 = malloc(sizeof(float) * (size_t)ny);
    assert_true(y1 && y2);
    for (int packed = 0; packed < 2; packed++) {
      conv_on(p, 1, packed, x, w, b, y1);
      for (int64_t i = 0; i < ny; i++) y2[i] = NAN;
      conv_on(p, 2, packed, x, w, b, y2);
      for (int64_t i = 0; i < ny; i++)
        if (memcmp(&y1[i], &y2[i], sizeof y1[i]) != 0)
          fail_msg("shape %zu packed %d: y[%lld] = %.9g on 2 threads, %.9g on 1", si, packed,
                   (long long)i, y2[i], y1[i]);
    }
    free(x);
    free(w);
    free(b);
    free(y1);
    free(y2);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_conv_pointwise), cmocka_unit_test(test_conv_im2col),
      cmocka_unit_test(test_conv_depthwise), cmocka_unit_test(test_conv_random),
      cmocka_unit_test(test_deconv),         cmocka_unit_test(test_conv_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
