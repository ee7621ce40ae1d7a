/* Transposed convolution as GEMM + col2im, one image and one group at a time:
 * col[(oc*k_h + kh)*k_w + kw][ih*w_in + iw] = Σ_ci w[ci][oc][kh][kw] · x[ci][ih][iw], then
 * y[oc][ih*s_h - pad_t + kh*d_h][iw*s_w - pad_l + kw*d_w] += col[...] inside the output. */
#include "kernels/kernels_internal.h"
#include "util/util.h"

/* A 1x1 stride-1 unpadded kernel maps input pixels one to one onto output pixels. */
static int deconv_is_pointwise(const ptq_deconv_params *p) {
  const ptq_conv_params *c = &p->c;
  return c->k_h == 1 && c->k_w == 1 && c->stride_h == 1 && c->stride_w == 1 && c->pad_t == 0 &&
         c->pad_l == 0 && c->h_out == c->h_in && c->w_out == c->w_in;
}

size_t ptq_deconv2d_scratch_size(const ptq_deconv_params *p) {
  const ptq_conv_params *c = &p->c;
  if (deconv_is_pointwise(p)) return 0;
  return (size_t)(c->c_out / c->group * c->k_h * c->k_w) * (size_t)(c->h_in * c->w_in);
}

/* Adds col (c_out/group channels' worth of rows) into y, parallel over output channels so that
 * no two threads write the same output. */
static void col2im(const ptq_conv_params *c, int64_t channels, const float *col, float *y) {
  const int64_t kk = c->k_h * c->k_w, hw_in = c->h_in * c->w_in, w_in = c->w_in;
  const int64_t w_out = c->w_out, s_w = c->stride_w;
#pragma omp parallel for num_threads(ptq_threads()) if (channels * kk * hw_in >= PTQ_PAR_MIN_WORK)
  for (int64_t oc = 0; oc < channels; oc++) {
    float *yc = y + oc * c->h_out * w_out;
    for (int64_t kh = 0; kh < c->k_h; kh++) {
      for (int64_t kw = 0; kw < c->k_w; kw++) {
        const float *row = col + ((oc * c->k_h + kh) * c->k_w + kw) * hw_in;
        const int64_t off = kw * c->dil_w - c->pad_l;
        int64_t lo, hi;
        ptq_tap_range(off, s_w, w_in, w_out, &lo, &hi);
        for (int64_t ih = 0; ih < c->h_in; ih++) {
          const int64_t oh = ih * c->stride_h - c->pad_t + kh * c->dil_h;
          if (oh < 0 || oh >= c->h_out) continue;
          float *yr = yc + oh * w_out;
          const float *src = row + ih * w_in;
          for (int64_t iw = lo; iw < hi; iw++) yr[iw * s_w + off] += src[iw];
        }
      }
    }
  }
}

void ptq_deconv2d_f32(const ptq_deconv_params *p, const float *x, const float *w, const float *bias,
                      float *y, float *scratch) {
  const ptq_conv_params *c = &p->c;
  const int64_t g_cin = c->c_in / c->group, g_cout = c->c_out / c->group;
  const int64_t hw_in = c->h_in * c->w_in, hw_out = c->h_out * c->w_out;
  const int64_t rows = g_cout * c->k_h * c->k_w;
  const int pointwise = deconv_is_pointwise(p);
  for (int64_t ni = 0; ni < c->n; ni++) {
    float *yn = y + ni * c->c_out * hw_out;
    if (bias || !pointwise) ptq_fill_bias(yn, bias, c->c_out, hw_out);
    for (int64_t g = 0; g < c->group; g++) {
      const float *xg = x + (ni * c->c_in + g * g_cin) * hw_in;
      const float *wg = w + g * g_cin * rows;
      float *yg = yn + g * g_cout * hw_out;
      if (pointwise) {
        ptq_sgemm(1, 0, g_cout, hw_in, g_cin, 1.0f, wg, rows, xg, hw_in, bias ? 1.0f : 0.0f, yg,
                  hw_in);
      } else {
        ptq_sgemm(1, 0, rows, hw_in, g_cin, 1.0f, wg, rows, xg, hw_in, 0.0f, scratch, hw_in);
        col2im(c, g_cout, scratch, yg);
      }
    }
  }
}
