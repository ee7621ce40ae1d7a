/* JPEG (libjpeg-turbo) and PNG (libpng) decoding to 8-bit gray or RGB. Library errors
 * longjmp back into the decoder, which reports them; nothing is printed. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

#include "data/data_internal.h"

static ptq_status check_size(const char *name, int64_t w, int64_t h) {
  if (w <= 0 || h <= 0) return ptq_error(PTQ_ERR_PARSE, "'%s': image has no pixels", name);
  if (w > PTQ_IMAGE_MAX_PIXELS / h)
    return ptq_error(PTQ_ERR_UNSUPPORTED, "'%s': %lldx%lld image is too large", name, (long long)w,
                     (long long)h);
  return PTQ_OK;
}

/* ---- JPEG ------------------------------------------------------------------------- */

/* Decoder state lives outside the function that calls setjmp, so that it is well defined
 * after a longjmp. cinfo must stay the first member (the error handler casts to it). */
typedef struct jpeg_state {
  struct jpeg_decompress_struct cinfo;
  struct jpeg_error_mgr mgr;
  jmp_buf jmp;
  char msg[JMSG_LENGTH_MAX];
  unsigned char *row; /* CMYK scanline */
} jpeg_state;

static void jpeg_on_error(j_common_ptr cinfo) {
  jpeg_state *st = (jpeg_state *)(void *)cinfo;
  st->mgr.format_message(cinfo, st->msg);
  longjmp(st->jmp, 1);
}

/* Warnings are ignored, except a premature end of data (libjpeg would pad with gray). */
static void jpeg_on_message(j_common_ptr cinfo, int level) {
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) jpeg_on_error(cinfo);
}

/* CMYK to RGB as PIL does: R = (255 - C)(255 - K) / 255. Adobe files store CMYK inverted. */
static void cmyk_to_rgb(const unsigned char *in, unsigned char *out, int w, int inverted) {
  for (int x = 0; x < w; x++, in += 4, out += 3) {
    int k = inverted ? in[3] : 255 - in[3];
    for (int c = 0; c < 3; c++) {
      int v = inverted ? in[c] : 255 - in[c];
      out[c] = (unsigned char)((v * k + 127) / 255);
    }
  }
}

static ptq_status jpeg_run(jpeg_state *st, const unsigned char *buf, size_t len, const char *name,
                           ptq_image8 *out) {
  struct jpeg_decompress_struct *ci = &st->cinfo;
  ci->err = jpeg_std_error(&st->mgr);
  st->mgr.error_exit = jpeg_on_error;
  st->mgr.emit_message = jpeg_on_message;
  if (setjmp(st->jmp)) return ptq_error(PTQ_ERR_PARSE, "'%s': bad JPEG: %s", name, st->msg);
  jpeg_create_decompress(ci);
  jpeg_mem_src(ci, buf, (unsigned long)len);
  jpeg_read_header(ci, TRUE);
  PTQ_TRY(check_size(name, ci->image_width, ci->image_height));
  int cmyk = ci->jpeg_color_space == JCS_CMYK || ci->jpeg_color_space == JCS_YCCK;
  ci->out_color_space = ci->jpeg_color_space == JCS_GRAYSCALE ? JCS_GRAYSCALE
                        : cmyk                                ? JCS_CMYK
                                                              : JCS_RGB;
  jpeg_start_decompress(ci);
  int w = (int)ci->output_width, ch = ci->out_color_space == JCS_GRAYSCALE ? 1 : 3;
  out->pix = malloc((size_t)w * ci->output_height * (size_t)ch);
  if (cmyk) st->row = malloc((size_t)w * 4);
  if (!out->pix || (cmyk && !st->row))
    return ptq_error(PTQ_ERR_NOMEM, "out of memory decoding '%s'", name);
  while (ci->output_scanline < ci->output_height) {
    unsigned char *dst = out->pix + (size_t)ci->output_scanline * (size_t)w * (size_t)ch;
    JSAMPROW row = cmyk ? st->row : dst;
    jpeg_read_scanlines(ci, &row, 1);
    if (cmyk) cmyk_to_rgb(st->row, dst, w, ci->saw_Adobe_marker);
  }
  jpeg_finish_decompress(ci);
  out->w = w;
  out->h = (int)ci->output_height;
  out->channels = ch;
  return PTQ_OK;
}

static ptq_status decode_jpeg(const unsigned char *buf, size_t len, const char *name,
                              ptq_image8 *out) {
  jpeg_state st;
  memset(&st, 0, sizeof st);
  ptq_status s = jpeg_run(&st, buf, len, name, out);
  jpeg_destroy_decompress(&st.cinfo);
  free(st.row);
  return s;
}

/* ---- PNG -------------------------------------------------------------------------- */

typedef struct png_state {
  png_structp png;
  png_infop info;
  const unsigned char *buf;
  size_t len, pos;
  char msg[256];
  unsigned char *pixels; /* decoded rows, as libpng delivers them */
  png_bytep *rows;
} png_state;

static void png_on_error(png_structp png, png_const_charp msg) {
  png_state *st = png_get_error_ptr(png);
  snprintf(st->msg, sizeof st->msg, "%s", msg);
  png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) {
  (void)png;
  (void)msg;
}

static void png_read_mem(png_structp png, png_bytep dst, size_t n) {
  png_state *st = png_get_io_ptr(png);
  if (n > st->len - st->pos) png_error(png, "unexpected end of file");
  memcpy(dst, st->buf + st->pos, n);
  st->pos += n;
}

static ptq_status png_run(png_state *st, const char *name, ptq_image8 *out) {
  st->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, st, png_on_error, png_on_warning);
  if (!st->png || !(st->info = png_create_info_struct(st->png)))
    return ptq_error(PTQ_ERR_NOMEM, "out of memory decoding '%s'", name);
  if (setjmp(png_jmpbuf(st->png)))
    return ptq_error(PTQ_ERR_PARSE, "'%s': bad PNG: %s", name, st->msg);
  png_set_read_fn(st->png, st, png_read_mem);
  png_read_info(st->png, st->info);
  png_uint_32 w = png_get_image_width(st->png, st->info);
  png_uint_32 h = png_get_image_height(st->png, st->info);
  int type = png_get_color_type(st->png, st->info);
  int depth = png_get_bit_depth(st->png, st->info);
  PTQ_TRY(check_size(name, w, h));
  if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(st->png);
  if (type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(st->png);
  if (depth == 16) png_set_strip_16(st->png);
  png_set_interlace_handling(st->png);
  png_read_update_info(st->png, st->info);
  /* now 8-bit gray, gray+alpha, RGB or RGBA */
  size_t in_ch = png_get_channels(st->png, st->info);
  if (png_get_bit_depth(st->png, st->info) != 8 || in_ch < 1 || in_ch > 4 ||
      png_get_rowbytes(st->png, st->info) != w * in_ch)
    return ptq_error(PTQ_ERR_PARSE, "'%s': unexpected PNG pixel format", name);
  size_t ch = in_ch >= 3 ? 3 : 1;
  st->pixels = malloc((size_t)w * h * in_ch);
  st->rows = malloc(h * sizeof *st->rows);
  out->pix = malloc((size_t)w * h * ch);
  if (!st->pixels || !st->rows || !out->pix)
    return ptq_error(PTQ_ERR_NOMEM, "out of memory decoding '%s'", name);
  for (size_t y = 0; y < h; y++) st->rows[y] = st->pixels + y * w * in_ch;
  png_read_image(st->png, st->rows);
  png_read_end(st->png, NULL);
  for (size_t i = 0; i < (size_t)w * h; i++) memcpy(out->pix + i * ch, st->pixels + i * in_ch, ch);
  out->w = (int)w;
  out->h = (int)h;
  out->channels = (int)ch;
  return PTQ_OK;
}

static ptq_status decode_png(const unsigned char *buf, size_t len, const char *name,
                             ptq_image8 *out) {
  png_state st;
  memset(&st, 0, sizeof st);
  st.buf = buf;
  st.len = len;
  ptq_status s = png_run(&st, name, out);
  png_destroy_read_struct(&st.png, &st.info, NULL);
  free(st.pixels);
  free(st.rows);
  return s;
}

/* ---- entry points ----------------------------------------------------------------- */

ptq_status ptq_image_decode(const void *buf, size_t len, const char *name, ptq_image8 *out) {
  const unsigned char *b = buf;
  ptq_status s;
  memset(out, 0, sizeof *out);
  if (len >= 8 && png_sig_cmp(b, 0, 8) == 0)
    s = decode_png(b, len, name, out);
  else if (len >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF)
    s = decode_jpeg(b, len, name, out);
  else
    s = ptq_error(PTQ_ERR_PARSE, "'%s': not a JPEG or PNG image", name);
  if (s != PTQ_OK) {
    free(out->pix);
    memset(out, 0, sizeof *out);
  }
  return s;
}

ptq_status ptq_image_decode_file(const char *path, ptq_image8 *out) {
  void *buf;
  size_t len;
  memset(out, 0, sizeof *out);
  PTQ_TRY(ptq_file_read(path, &buf, &len));
  ptq_status s = ptq_image_decode(buf, len, path, out);
  free(buf);
  return s;
}
