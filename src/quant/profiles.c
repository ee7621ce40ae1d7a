/* Backend profiles as data: one row per backend (docs/profiles.md explains each choice). */
#include <stdio.h>
#include <string.h>

#include "quant/qgraph.h"

#define A_BITS(b) (1u << (b))
#define A_BITS_ALL 0x1fffcu /* 2..16 */

/* Weight schemes below are at 8 bits; --w-bits replaces `bits` (the narrow range then is
 * [-(2^(b-1)-1), 2^(b-1)-1] for signed symmetric weights). Activation schemes are per tensor;
 * --a-bits (a_bits_mask: the widths the backend has) replaces their `bits`: below 8 the codes
 * stay in int8/uint8 behind a Clip, above 8 they are int16/uint16 (opset 21).
 *
 *  ort       onnxruntime quantize_static QDQ S8S8 defaults: weights symmetric narrow int8
 *            [-127, 127] per channel (get_qmin_qmax_for_qType(symmetric=True)); activations
 *            asymmetric int8 [-128, 127]; int32 biases.
 *  tensorrt  TensorRT explicit quantization: zero points must be 0; weights [-127, 127] per
 *            channel (scale amax/127); activations symmetric with scale amax/127 and codes
 *            [-128, 127] (QuantizeLinear saturates to the full int8 range; TensorRT's IQuantize
 *            layer does the same); biases stay float (TensorRT quantizes them itself, and
 *            its DequantizeLinear takes no int32).
 *  tflite    TFLite int8 spec: weights int8 [-127, 127] zero point 0 per channel; activations
 *            int8 [-128, 127] with any zero point; int32 biases (s_x * s_w, zero point 0).
 *            --a-bits 16: the 16x8 mode, int16 activations symmetric [-32767, 32767], zp 0.
 *  snpe      Qualcomm SNPE/QNN default: asymmetric uint8 per tensor for weights and activations
 *            (tf mode), int32 biases (--bias_bitwidth 32); --a-bits 16: uint16 activations
 *            (--act_bitwidth 16).
 *  vitis     Xilinx/AMD DPU: int8, symmetric per tensor, power-of-two scales ("fix position")
 *            for weights and activations; int32 biases, whose scale s_x * s_w is a power of two.
 *  academic  ort's schemes as defaults; every switch settable; below 8 bits the first and last
 *            weighted layers keep 8-bit weights (the usual convention in PTQ papers). */
static const qprofile g_profiles[] = {
    {.name = "ort",
     .backend = "onnxruntime QDQ S8S8",
     .weight = {.bits = 8, .is_signed = 1, .symmetric = 1, .narrow = 1, .per_channel = 1},
     .act = {.bits = 8, .is_signed = 1},
     .bias_int32 = 1,
     .quant_add = 1,
     .share_concat = 1,
     .share_move = 1,
     .w_bits_min = 2,
     .w_bits_max = 8,
     .a_bits_mask = A_BITS_ALL},
    {.name = "tensorrt",
     .backend = "TensorRT explicit quantization (zero points 0)",
     .weight = {.bits = 8, .is_signed = 1, .symmetric = 1, .narrow = 1, .per_channel = 1},
     .act = {.bits = 8, .is_signed = 1, .symmetric = 1, .narrow = 1},
     .bias_int32 = 0,
     .quant_add = 1,
     .share_concat = 1,
     .share_move = 1,
     .w_bits_min = 8,
     .w_bits_max = 8,
     .a_bits_mask = A_BITS(8)},
    {.name = "tflite",
     .backend = "TFLite int8 quantization spec",
     .weight = {.bits = 8, .is_signed = 1, .symmetric = 1, .narrow = 1, .per_channel = 1},
     .act = {.bits = 8, .is_signed = 1},
     .bias_int32 = 1,
     .quant_add = 1,
     .share_concat = 1,
     .share_move = 1,
     .w_bits_min = 8,
     .w_bits_max = 8,
     .a_bits_mask = A_BITS(8) | A_BITS(16),
     .act16_symmetric = 1},
    {.name = "snpe",
     .backend = "Qualcomm SNPE/QNN uint8 (tf mode)",
     .weight = {.bits = 8, .is_signed = 0},
     .act = {.bits = 8, .is_signed = 0},
     .bias_int32 = 1,
     .quant_add = 1,
     .share_concat = 1,
     .share_move = 1,
     .w_bits_min = 4,
     .w_bits_max = 8,
     .a_bits_mask = A_BITS(8) | A_BITS(16)},
    {.name = "vitis",
     .backend = "AMD Vitis AI DPU (power-of-two scales)",
     .weight = {.bits = 8, .is_signed = 1, .symmetric = 1, .pow2_scale = 1},
     .act = {.bits = 8, .is_signed = 1, .symmetric = 1, .pow2_scale = 1},
     .bias_int32 = 1,
     .quant_add = 1,
     .share_concat = 1,
     .share_move = 1,
     .w_bits_min = 8,
     .w_bits_max = 8,
     .a_bits_mask = A_BITS(8)},
    {.name = "academic",
     .backend = "research settings (every switch configurable)",
     .weight = {.bits = 8, .is_signed = 1, .symmetric = 1, .narrow = 1, .per_channel = 1},
     .act = {.bits = 8, .is_signed = 1},
     .bias_int32 = 1,
     .quant_add = 1,
     .share_concat = 1,
     .share_move = 1,
     .w_bits_min = 2,
     .w_bits_max = 8,
     .a_bits_mask = A_BITS_ALL,
     .keep_ends_8bit = 1,
     .configurable = 1},
};
enum { N_PROFILES = sizeof g_profiles / sizeof *g_profiles };

const qprofile *qprofile_find(const char *name) {
  if (!name) return &g_profiles[0];
  for (size_t i = 0; i < N_PROFILES; i++)
    if (strcmp(g_profiles[i].name, name) == 0) return &g_profiles[i];
  return NULL;
}

const char *const *ptq_qprofile_names(void) {
  static const char *names[N_PROFILES + 1];
  for (size_t i = 0; i < N_PROFILES; i++) names[i] = g_profiles[i].name;
  return names;
}

const char *qprofile_list(void) {
  return "ort, tensorrt, tflite, snpe, vitis, academic";
}

static int on(ptq_qswitch s, int deflt) {
  return s == PTQ_QDEFAULT ? deflt : s == PTQ_QON;
}

ptq_status qprofile_apply(const qprofile *base, const ptq_quant_options *o, qprofile *out) {
  *out = *base;
  const int wb = o->w_bits ? o->w_bits : 8, ab = o->a_bits ? o->a_bits : 8;
  if (wb < base->w_bits_min || wb > base->w_bits_max) {
    if (base->w_bits_min == base->w_bits_max)
      return ptq_error(PTQ_ERR_INVALID_ARG, "--w-bits %d: profile '%s' has %d-bit weights only", wb,
                       base->name, base->w_bits_max);
    return ptq_error(PTQ_ERR_INVALID_ARG, "--w-bits %d: profile '%s' allows %d..%d", wb, base->name,
                     base->w_bits_min, base->w_bits_max);
  }
  PTQ_TRY(qprofile_check_a_bits(base, "--a-bits", ab));
  const ptq_qswitch sw[] = {o->w_symmetric, o->a_symmetric,    o->a_signed,
                            o->pow2_scale,  o->keep_ends_8bit, o->quant_add};
  for (size_t i = 0; i < sizeof sw / sizeof *sw && !base->configurable; i++)
    if (sw[i] != PTQ_QDEFAULT)
      return ptq_error(PTQ_ERR_INVALID_ARG,
                       "profile '%s' fixes its schemes; scheme switches need --profile academic",
                       base->name);
  if ((unsigned)o->w_symmetric > PTQ_QOFF || (unsigned)o->a_symmetric > PTQ_QOFF ||
      (unsigned)o->a_signed > PTQ_QOFF || (unsigned)o->pow2_scale > PTQ_QOFF ||
      (unsigned)o->keep_ends_8bit > PTQ_QOFF || (unsigned)o->quant_add > PTQ_QOFF)
    return ptq_error(PTQ_ERR_INVALID_ARG, "invalid scheme switch value");
  out->weight.bits = wb;
  out->weight.symmetric = on(o->w_symmetric, base->weight.symmetric);
  out->weight.narrow = out->weight.symmetric && out->weight.is_signed && base->weight.narrow;
  if (o->w_symmetric == PTQ_QON && out->weight.is_signed) out->weight.narrow = 1;
  out->act.symmetric = on(o->a_symmetric, base->act.symmetric);
  out->act.is_signed = on(o->a_signed, base->act.is_signed);
  out->act.narrow = out->act.symmetric && out->act.is_signed && base->act.narrow;
  out->weight.pow2_scale = on(o->pow2_scale, base->weight.pow2_scale);
  out->act.pow2_scale = on(o->pow2_scale, base->act.pow2_scale);
  out->keep_ends_8bit = on(o->keep_ends_8bit, base->keep_ends_8bit);
  out->quant_add = on(o->quant_add, base->quant_add);
  out->act.bits = ab; /* the act16_symmetric switch applies in qprofile_act_scheme */
  return PTQ_OK;
}

ptq_qscheme qprofile_act_scheme(const qprofile *p, int bits) {
  ptq_qscheme s = p->act;
  s.bits = bits;
  if (bits > 8 && p->act16_symmetric) {
    s.symmetric = 1;
    s.narrow = s.is_signed;
  }
  return s;
}

ptq_status qprofile_check_a_bits(const qprofile *p, const char *what, int bits) {
  if (bits >= 2 && bits <= 16 && (p->a_bits_mask >> bits & 1u)) return PTQ_OK;
  char list[64] = "";
  for (int b = 2; b <= 16; b++)
    if (p->a_bits_mask >> b & 1u)
      snprintf(list + strlen(list), sizeof list - strlen(list), "%s%d", list[0] ? ", " : "", b);
  if (p->a_bits_mask == A_BITS_ALL) snprintf(list, sizeof list, "2..16");
  return ptq_error(PTQ_ERR_INVALID_ARG, "%s %d: profile '%s' allows %s-bit activations", what, bits,
                   p->name, list);
}

ptq_dtype qscheme_dtype(const ptq_qscheme *s) {
  if (s->bits <= 8) return s->is_signed ? PTQ_DT_INT8 : PTQ_DT_UINT8;
  return s->is_signed ? PTQ_DT_INT16 : PTQ_DT_UINT16;
}

void qscheme_describe(const ptq_qscheme *s, int per_channel, char buf[96]) {
  int32_t lo, hi;
  ptq_qscheme_range(s, &lo, &hi);
  snprintf(buf, 96, "%d-bit %s [%d, %d] per-%s in %s%s", s->bits,
           s->symmetric ? "symmetric" : "asymmetric", (int)lo, (int)hi,
           per_channel ? "channel" : "tensor", ptq_dtype_name(qscheme_dtype(s)),
           s->pow2_scale ? ", power-of-two scales" : "");
}
