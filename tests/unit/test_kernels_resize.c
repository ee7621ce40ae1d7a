/* Resize kernel: ONNX node-test expectations (inputs are 1..n) and a naive reference. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "kernels/kernels.h"

typedef struct node_case {
  const char *name;
  int64_t h_in, w_in, h_out, w_out;
  float scale_h, scale_w;
  enum ptq_resize_mode mode;
  enum ptq_resize_coord coord;
  enum ptq_resize_nearest nearest;
  float a;
  int exclude_outside;
  float expected[96];
} node_case;

/* Expected outputs copied from /usr/share/libonnx-testdata/data/node/test_resize_<name>
 * (tf_half_pixel_for_nn is the opset-11 name of tf_half_pixel_for_centers). For sizes-based
 * cases the scale is sizes/input. */
/* clang-format off */
static const node_case node_cases[] = {
    {"downsample_scales_cubic",
     4, 4, 3, 3, 0.8f, 0.8f, PTQ_RESIZE_CUBIC, PTQ_COORD_HALF_PIXEL,
     PTQ_NEAREST_ROUND_PREFER_FLOOR, -0.75f, 0,
     {1.47119141f, 2.78125f, 4.08251953f, 6.71142578f, 8.02148438f, 9.32275391f, 11.9165039f,
     13.2265625f, 14.527832f}},
    {"downsample_scales_cubic_A_n0p5_exclude_outside",
     4, 4, 3, 3, 0.8f, 0.8f, PTQ_RESIZE_CUBIC, PTQ_COORD_HALF_PIXEL,
     PTQ_NEAREST_ROUND_PREFER_FLOOR, -0.5f, 1,
     {1.36812675f, 2.6695013f, 4.01333666f, 6.57362509f, 7.875f, 9.21883488f, 11.948966f,
     13.2503414f, 14.5941763f}},
    {"downsample_scales_cubic_align_corners",
     4, 4, 3, 3, 0.8f, 0.8f, PTQ_RESIZE_CUBIC, PTQ_COORD_ALIGN_CORNERS,
     PTQ_NEAREST_ROUND_PREFER_FLOOR, -0.75f, 0,
     {1, 2.39519167f, 3.7903831f, 6.5807662f, 7.97595787f, 9.37114906f, 12.1615324f, 13.5567236f,
     14.9519157f}},
    {"downsample_scales_linear",
     2, 4, 1, 2, 0.6f, 0.6f, PTQ_RESIZE_LINEAR, PTQ_COORD_HALF_PIXEL,
     PTQ_NEAREST_ROUND_PREFER_FLOOR, -0.75f, 0,
     {2.66666651f, 4.33333302f}},
    {"downsample_scales_linear_align_corners",
     2, 4, 1, 2, 0.6f, 0.6f, PTQ_RESIZE_LINEAR, PTQ_COORD_ALIGN_CORNERS,
     PTQ_NEAREST_ROUND_PREFER_FLOOR, -0.75f, 0,
     {1, 3.14285707f}},
    {"downsample_scales_nearest",
     2, 4, 1, 2, 0.6f, 0.6f, PTQ_RESIZE_NEAREST, PTQ_COORD_HALF_PIXEL,
     PTQ_NEAREST_ROUND_PREFER_FLOOR, -0.75f, 0,
     {1, 3}},
    {"downsample_sizes_cubic",
     4, 4, 3, 3, 0.75f, 0.75f, PTQ_RESIZE_CUBIC, PTQ_COORD_HALF_PIXEL,
     PTQ_NEAREST_ROUND_PREFER_FLOOR, -0.75f, 0,
     {1.63078701f, 3.00462961f, 4.37847233f, 7.12615728f, 8.5f, 9.87384224f, 12.6215277f,
     13.9953699f, 15.3692131f}},
    {"downsample_sizes_linear_pytorch_half_pixel",
     4, 4, 3, 1, 0.75f, 0.25f, PTQ_RESIZE_LINEAR, PTQ_COORD_PYTORCH_HALF_PIXEL,
     PTQ_NEAREST_ROUND_PREFER_FLOOR, -0.75f, 0,
     {1.66666663f, 7, 12.333333f}},
    {"downsample_sizes_nearest",
     2, 4, 1, 3, 0.5f, 0.75f, PTQ_RESIZE_NEAREST, PTQ_COORD_HALF_PIXEL,
     PTQ_NEAREST_ROUND_PREFER_FLOOR, -0.75f, 0,
     {1, 2, 4}},
    {"downsample_sizes_nearest_tf_half_pixel_for_nn",
     4, 4, 3, 2, 0.75f, 0.5f, PTQ_RESIZE_NEAREST, PTQ_COORD_TF_HALF_PIXEL_FOR_CENTERS,
     PTQ_NEAREST_ROUND_PREFER_FLOOR, -0.75f, 0,
     {6, 8, 10, 12, 14, 16}},
    {"upsample_scales_cubic",
     4, 4, 8, 8, 2.0f, 2.0f, PTQ_RESIZE_CUBIC, PTQ_COORD_HALF_PIXEL,
     PTQ_NEAREST_ROUND_PREFER_FLOOR, -0.75f, 0,
     {0.47265625f, 0.76953125f, 1.24609375f, 1.875f, 2.28125f, 2.91015625f, 3.38671875f,
     3.68359375f, 1.66015625f, 1.95703125f, 2.43359375f, 3.0625f, 3.46875f, 4.09765625f,
     4.57421875f, 4.87109375f, 3.56640625f, 3.86328125f, 4.33984375f, 4.96875f, 5.375f, 6.00390625f,
     6.48046875f, 6.77734375f, 6.08203125f, 6.37890625f, 6.85546875f, 7.484375f, 7.890625f,
     8.51953125f, 8.99609375f, 9.29296875f, 7.70703125f, 8.00390625f, 8.48046875f, 9.109375f,
     9.515625f, 10.1445312f, 10.6210938f, 10.9179688f, 10.2226562f, 10.5195312f, 10.9960938f,
     11.625f, 12.03125f, 12.6601562f, 13.1367188f, 13.4335938f, 12.1289062f, 12.4257812f,
     12.9023438f, 13.53125f, 13.9375f, 14.5664062f, 15.0429688f, 15.3398438f, 13.3164062f,
     13.6132812f, 14.0898438f, 14.71875f, 15.125f, 15.7539062f, 16.2304688f, 16.5273438f}},
    {"upsample_scales_cubic_A_n0p5_exclude_outside",
     4, 4, 8, 8, 2.0f, 2.0f, PTQ_RESIZE_CUBIC, PTQ_COORD_HALF_PIXEL,
     PTQ_NEAREST_ROUND_PREFER_FLOOR, -0.5f, 1,
     {0.558823526f, 0.814942062f, 1.35698247f, 1.89705884f, 2.39705873f, 2.93713522f, 3.47917557f,
     3.7352941f, 1.58329761f, 1.83941603f, 2.38145661f, 2.92153287f, 3.42153287f, 3.96160913f,
     4.50364971f, 4.75976801f, 3.75145936f, 4.0075779f, 4.54961824f, 5.0896945f, 5.5896945f,
     6.12977076f, 6.67181158f, 6.92792988f, 5.91176462f, 6.1678834f, 6.70992374f, 7.25f, 7.75f,
     8.29007626f, 8.83211708f, 9.0882349f, 7.91176462f, 8.16788292f, 8.70992374f, 9.25f, 9.75f,
     10.2900763f, 10.8321171f, 11.0882349f, 10.0720701f, 10.3281889f, 10.8702288f, 11.410305f,
     11.910305f, 12.4503813f, 12.9924221f, 13.2485409f, 12.2402315f, 12.4963503f, 13.0383911f,
     13.5784674f, 14.0784674f, 14.6185436f, 15.1605835f, 15.4167023f, 13.2647057f, 13.5208244f,
     14.0628653f, 14.6029415f, 15.1029415f, 15.6430178f, 16.1850586f, 16.4411774f}},
    {"upsample_scales_cubic_align_corners",
     4, 4, 8, 8, 2.0f, 2.0f, PTQ_RESIZE_CUBIC, PTQ_COORD_ALIGN_CORNERS,
     PTQ_NEAREST_ROUND_PREFER_FLOOR, -0.75f, 0,
     {1, 1.34110785f, 1.80029154f, 2.32944608f, 2.67055392f, 3.19970846f, 3.65889215f, 4,
     2.36443138f, 2.70553946f, 3.16472292f, 3.69387746f, 4.03498554f, 4.56413984f, 5.02332354f,
     5.36443138f, 4.20116615f, 4.542274f, 5.00145769f, 5.53061247f, 5.87172031f, 6.40087461f,
     6.86005831f, 7.20116615f, 6.31778431f, 6.65889215f, 7.11807585f, 7.64723015f, 7.98833799f,
     8.51749229f, 8.97667599f, 9.31778431f, 7.68221569f, 8.02332401f, 8.48250771f, 9.01166153f,
     9.35276985f, 9.88192463f, 10.3411083f, 10.6822157f, 9.79883385f, 10.1399412f, 10.5991249f,
     11.1282797f, 11.469388f, 11.9985418f, 12.4577255f, 12.7988338f, 11.6355686f, 11.976676f,
     12.4358597f, 12.9650145f, 13.3061228f, 13.8352766f, 14.2944603f, 14.6355686f, 13, 13.3411083f,
     13.800292f, 14.3294458f, 14.6705542f, 15.199708f, 15.6588917f, 16}},
    {"upsample_scales_cubic_asymmetric",
     4, 4, 8, 8, 2.0f, 2.0f, PTQ_RESIZE_CUBIC, PTQ_COORD_ASYMMETRIC,
     PTQ_NEAREST_ROUND_PREFER_FLOOR, -0.75f, 0,
     {1, 1.40625f, 2, 2.5f, 3, 3.59375f, 4, 4.09375f, 2.625f, 3.03125f, 3.625f, 4.125f, 4.625f,
     5.21875f, 5.625f, 5.71875f, 5, 5.40625f, 6, 6.5f, 7, 7.59375f, 8, 8.09375f, 7, 7.40625f, 8,
     8.5f, 9, 9.59375f, 10, 10.09375f, 9, 9.40625f, 10, 10.5f, 11, 11.59375f, 12, 12.09375f,
     11.375f, 11.78125f, 12.375f, 12.875f, 13.375f, 13.96875f, 14.375f, 14.46875f, 13, 13.40625f,
     14, 14.5f, 15, 15.59375f, 16, 16.09375f, 13.375f, 13.78125f, 14.375f, 14.875f, 15.375f,
     15.96875f, 16.375f, 16.46875f}},
    {"upsample_scales_linear",
     2, 2, 4, 4, 2.0f, 2.0f, PTQ_RESIZE_LINEAR, PTQ_COORD_HALF_PIXEL,
     PTQ_NEAREST_ROUND_PREFER_FLOOR, -0.75f, 0,
     {1, 1.25f, 1.75f, 2, 1.5f, 1.75f, 2.25f, 2.5f, 2.5f, 2.75f, 3.25f, 3.5f, 3, 3.25f, 3.75f, 4}},
    {"upsample_scales_linear_align_corners",
     2, 2, 4, 4, 2.0f, 2.0f, PTQ_RESIZE_LINEAR, PTQ_COORD_ALIGN_CORNERS,
     PTQ_NEAREST_ROUND_PREFER_FLOOR, -0.75f, 0,
     {1, 1.33333337f, 1.66666663f, 2, 1.66666663f, 2, 2.33333325f, 2.66666675f, 2.33333325f,
     2.66666675f, 3, 3.33333325f, 3, 3.33333325f, 3.66666675f, 4}},
    {"upsample_scales_nearest",
     2, 2, 4, 6, 2.0f, 3.0f, PTQ_RESIZE_NEAREST, PTQ_COORD_HALF_PIXEL,
     PTQ_NEAREST_ROUND_PREFER_FLOOR, -0.75f, 0,
     {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4}},
    {"upsample_sizes_cubic",
     4, 4, 9, 10, 2.25f, 2.5f, PTQ_RESIZE_CUBIC, PTQ_COORD_HALF_PIXEL,
     PTQ_NEAREST_ROUND_PREFER_FLOOR, -0.75f, 0,
     {0.455079228f, 0.640579224f, 0.971579194f, 1.42257917f, 1.9073292f, 2.22332931f, 2.7080791f,
     3.15907931f, 3.49007916f, 3.67557931f, 1.39437962f, 1.57987964f, 1.91087961f, 2.36187959f,
     2.84662962f, 3.1626296f, 3.64737964f, 4.09837961f, 4.42937946f, 4.61487961f, 2.95130682f,
     3.13680696f, 3.46780682f, 3.91880703f, 4.40355682f, 4.71955681f, 5.20430708f, 5.65530682f,
     5.98630714f, 6.17180681f, 5.20525074f, 5.39075089f, 5.72175074f, 6.17275047f, 6.65750074f,
     6.97350073f, 7.45825052f, 7.90925074f, 8.24025059f, 8.42575073f, 6.88975f, 7.07525015f,
     7.40625f, 7.85725021f, 8.34200001f, 8.65799999f, 9.14274979f, 9.59375f, 9.92475033f,
     10.1102505f, 8.57424927f, 8.75974941f, 9.09074974f, 9.541749f, 10.0264997f, 10.3424997f,
     10.8272495f, 11.2782497f, 11.6092491f, 11.7947493f, 10.8281927f, 11.0136929f, 11.3446932f,
     11.7956934f, 12.2804432f, 12.5964432f, 13.081193f, 13.5321932f, 13.8631935f, 14.0486927f,
     12.3851204f, 12.5706205f, 12.9016199f, 13.3526201f, 13.8373699f, 14.1533699f, 14.6381207f,
     15.0891199f, 15.4201202f, 15.6056204f, 13.3244209f, 13.5099211f, 13.8409204f, 14.2919207f,
     14.7766705f, 15.0926704f, 15.5774212f, 16.0284214f, 16.3594208f, 16.54492f}},
    {"upsample_sizes_nearest",
     2, 2, 7, 8, 3.5f, 4.0f, PTQ_RESIZE_NEAREST, PTQ_COORD_HALF_PIXEL,
     PTQ_NEAREST_ROUND_PREFER_FLOOR, -0.75f, 0,
     {1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 1, 1, 2, 2, 2,
     2, 3, 3, 3, 3, 4, 4, 4, 4, 3, 3, 3, 3, 4, 4, 4, 4, 3, 3, 3, 3, 4, 4, 4, 4}},
    {"upsample_sizes_nearest_ceil_half_pixel",
     4, 4, 8, 8, 2.0f, 2.0f, PTQ_RESIZE_NEAREST, PTQ_COORD_HALF_PIXEL, PTQ_NEAREST_CEIL, -0.75f, 0,
     {1, 2, 2, 3, 3, 4, 4, 4, 5, 6, 6, 7, 7, 8, 8, 8, 5, 6, 6, 7, 7, 8, 8, 8, 9, 10, 10, 11, 11, 12,
     12, 12, 9, 10, 10, 11, 11, 12, 12, 12, 13, 14, 14, 15, 15, 16, 16, 16, 13, 14, 14, 15, 15, 16,
     16, 16, 13, 14, 14, 15, 15, 16, 16, 16}},
    {"upsample_sizes_nearest_floor_align_corners",
     4, 4, 8, 8, 2.0f, 2.0f, PTQ_RESIZE_NEAREST, PTQ_COORD_ALIGN_CORNERS,
     PTQ_NEAREST_FLOOR, -0.75f, 0,
     {1, 1, 1, 2, 2, 3, 3, 4, 1, 1, 1, 2, 2, 3, 3, 4, 1, 1, 1, 2, 2, 3, 3, 4, 5, 5, 5, 6, 6, 7, 7,
     8, 5, 5, 5, 6, 6, 7, 7, 8, 9, 9, 9, 10, 10, 11, 11, 12, 9, 9, 9, 10, 10, 11, 11, 12, 13, 13,
     13, 14, 14, 15, 15, 16}},
    {"upsample_sizes_nearest_round_prefer_ceil_asymmetric",
     4, 4, 8, 8, 2.0f, 2.0f, PTQ_RESIZE_NEAREST, PTQ_COORD_ASYMMETRIC,
     PTQ_NEAREST_ROUND_PREFER_CEIL, -0.75f, 0,
     {1, 2, 2, 3, 3, 4, 4, 4, 5, 6, 6, 7, 7, 8, 8, 8, 5, 6, 6, 7, 7, 8, 8, 8, 9, 10, 10, 11, 11, 12,
     12, 12, 9, 10, 10, 11, 11, 12, 12, 12, 13, 14, 14, 15, 15, 16, 16, 16, 13, 14, 14, 15, 15, 16,
     16, 16, 13, 14, 14, 15, 15, 16, 16, 16}},
};
/* clang-format on */

static void test_node_cases(void **state) {
  (void)state;
  for (size_t ci = 0; ci < sizeof node_cases / sizeof node_cases[0]; ci++) {
    const node_case *c = &node_cases[ci];
    float x[16], y[96];
    for (int64_t i = 0; i < c->h_in * c->w_in; i++) x[i] = (float)(i + 1);
    const ptq_resize_params p = {1,        c->h_in,    c->w_in,    c->h_out,
                                 c->w_out, c->scale_h, c->scale_w, c->mode,
                                 c->coord, c->nearest, c->a,       c->exclude_outside};
    ptq_resize2d_f32(&p, x, y);
    for (int64_t i = 0; i < c->h_out * c->w_out; i++) {
      if (fabsf(y[i] - c->expected[i]) > 1e-5f * (1.0f + fabsf(c->expected[i])))
        fail_msg("%s: y[%lld] = %.9g, expected %.9g", c->name, (long long)i, y[i], c->expected[i]);
    }
  }
}

/* Source coordinate per the ONNX spec, in single precision like the kernel. */
static float ref_coord(const ptq_resize_params *p, int64_t o, float scale, int64_t len_in,
                       int64_t len_out) {
  const float xr = (float)o;
  switch (p->coord) {
    case PTQ_COORD_HALF_PIXEL: return (xr + 0.5f) / scale - 0.5f;
    case PTQ_COORD_PYTORCH_HALF_PIXEL: return len_out == 1 ? 0.0f : (xr + 0.5f) / scale - 0.5f;
    case PTQ_COORD_ALIGN_CORNERS:
      return len_out == 1 ? 0.0f : xr * (float)(len_in - 1) / (scale * (float)len_in - 1.0f);
    case PTQ_COORD_ASYMMETRIC: return xr / scale;
    case PTQ_COORD_TF_HALF_PIXEL_FOR_CENTERS: return (xr + 0.5f) / scale;
  }
  return 0.0f;
}

static int64_t clampi(int64_t i, int64_t n) {
  return i < 0 ? 0 : i >= n ? n - 1 : i;
}

/* Taps as the ONNX reference picks them: the n source indices nearest x_ori on the
 * edge-padded axis, with ratio in (0, 1] (an integral x_ori takes the window to its left). */
static int ref_taps(const ptq_resize_params *p, float xo, int64_t len_in, int64_t idx[4],
                    double c[4]) {
  const double xd = xo, f = floor(xd);
  const double ratio = xd == f ? 1.0 : xd - f;
  const int64_t fi = (int64_t)f;
  if (p->mode == PTQ_RESIZE_NEAREST) {
    int right;
    if (xd == f) {
      right = 1;
    } else {
      switch (p->nearest) {
        case PTQ_NEAREST_ROUND_PREFER_FLOOR: right = ratio > 0.5; break;
        case PTQ_NEAREST_ROUND_PREFER_CEIL: right = ratio >= 0.5; break;
        case PTQ_NEAREST_FLOOR: right = 0; break;
        default: right = 1; break;
      }
    }
    /* Window {x-1, x} for integral x, {f, f+1} otherwise. */
    const int64_t left = xd == f ? fi - 1 : fi;
    idx[0] = clampi(left + right, len_in);
    c[0] = 1.0;
    return 1;
  }
  if (p->mode == PTQ_RESIZE_LINEAR) {
    const int64_t left = xd == f ? fi - 1 : fi;
    idx[0] = clampi(left, len_in);
    idx[1] = clampi(left + 1, len_in);
    c[0] = 1.0 - ratio;
    c[1] = ratio;
    return 2;
  }
  const double a = p->cubic_coeff_a, r = ratio;
  const int64_t left = (xd == f ? fi - 1 : fi) - 1;
  c[0] = ((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a;
  c[1] = ((a + 2) * r - (a + 3)) * r * r + 1;
  c[2] = ((a + 2) * (1 - r) - (a + 3)) * (1 - r) * (1 - r) + 1;
  c[3] = ((a * ((1 - r) + 1) - 5 * a) * ((1 - r) + 1) + 8 * a) * ((1 - r) + 1) - 4 * a;
  double sum = 0.0;
  for (int k = 0; k < 4; k++) {
    if (p->exclude_outside && (left + k < 0 || left + k >= len_in)) c[k] = 0.0;
    sum += c[k];
    idx[k] = clampi(left + k, len_in);
  }
  if (p->exclude_outside) {
    for (int k = 0; k < 4; k++) c[k] /= sum;
  }
  return 4;
}

static void ref_resize(const ptq_resize_params *p, const float *x, float *y) {
  for (int64_t o = 0; o < p->outer; o++) {
    const float *xp = x + o * p->h_in * p->w_in;
    for (int64_t oh = 0; oh < p->h_out; oh++) {
      int64_t hi[4], wi[4];
      double hc[4], wc[4];
      const int nh = ref_taps(p, ref_coord(p, oh, p->scale_h, p->h_in, p->h_out), p->h_in, hi, hc);
      for (int64_t ow = 0; ow < p->w_out; ow++) {
        const int nw =
            ref_taps(p, ref_coord(p, ow, p->scale_w, p->w_in, p->w_out), p->w_in, wi, wc);
        double acc = 0.0;
        for (int j = 0; j < nw; j++) {
          double col = 0.0;
          for (int i = 0; i < nh; i++) col += hc[i] * xp[hi[i] * p->w_in + wi[j]];
          acc += wc[j] * col;
        }
        y[(o * p->h_out + oh) * p->w_out + ow] = (float)acc;
      }
    }
  }
}

/* Large enough to run threaded and to span several column blocks. */
static void test_against_reference(void **state) {
  (void)state;
  static const struct {
    int64_t h_in, w_in, h_out, w_out;
    float sh, sw;
  } shapes[] = {{17, 300, 34, 600, 2.0f, 2.0f},
                {40, 700, 15, 259, 0.375f, 0.37f},
                {9, 130, 27, 390, 3.0f, 3.0f},
                {5, 8, 1, 1, 0.2f, 0.125f},
                {23, 31, 50, 517, 2.2f, 16.7f}};
  const int64_t outer = 3;
  uint32_t s = 12345;
  float *x = malloc(sizeof(float) * outer * 40 * 700);
  float *y = malloc(sizeof(float) * outer * 50 * 600);
  float *r = malloc(sizeof(float) * outer * 50 * 600);
  assert_non_null(x);
  assert_non_null(y);
  assert_non_null(r);
  for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
    const int64_t n_in = outer * shapes[si].h_in * shapes[si].w_in;
    for (int64_t i = 0; i < n_in; i++) {
      s = s * 1664525u + 1013904223u;
      x[i] = (float)(s >> 8) / (float)(1u << 24) * 2.0f - 1.0f;
    }
    for (int mode = PTQ_RESIZE_NEAREST; mode <= PTQ_RESIZE_CUBIC; mode++) {
      for (int coord = PTQ_COORD_HALF_PIXEL; coord <= PTQ_COORD_TF_HALF_PIXEL_FOR_CENTERS;
           coord++) {
        for (int nm = PTQ_NEAREST_ROUND_PREFER_FLOOR; nm <= PTQ_NEAREST_CEIL; nm++) {
          if (mode != PTQ_RESIZE_NEAREST && nm > 0) continue;
          for (int ex = 0; ex <= (mode == PTQ_RESIZE_CUBIC); ex++) {
            const ptq_resize_params p = {outer,
                                         shapes[si].h_in,
                                         shapes[si].w_in,
                                         shapes[si].h_out,
                                         shapes[si].w_out,
                                         shapes[si].sh,
                                         shapes[si].sw,
                                         (enum ptq_resize_mode)mode,
                                         (enum ptq_resize_coord)coord,
                                         (enum ptq_resize_nearest)nm,
                                         ex ? -0.5f : -0.75f,
                                         ex};
            ptq_resize2d_f32(&p, x, y);
            ref_resize(&p, x, r);
            const int64_t n_out = outer * p.h_out * p.w_out;
            for (int64_t i = 0; i < n_out; i++) {
              if (fabsf(y[i] - r[i]) > 1e-5f * (1.0f + fabsf(r[i])))
                fail_msg(
                    "shape %zu mode %d coord %d nearest %d exclude %d: y[%lld] = %.9g, "
                    "reference %.9g",
                    si, mode, coord, nm, ex, (long long)i, y[i], r[i]);
            }
          }
        }
      }
    }
  }
  free(x);
  free(y);
  free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_node_cases),
      cmocka_unit_test(test_against_reference),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
