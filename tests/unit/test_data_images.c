/* Image decoding, preprocessing, labels and image-folder datasets. Reference values come
 * from tests/data/images/generate.py (numpy float64 bilinear with half-pixel centers, checked
 * there against Pillow's float resize; decoded JPEG pixels from Pillow). */
#define _XOPEN_SOURCE 700
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/data_internal.h"
#include "ptq/data.h"

#define IMAGES PTQ_TEST_DATA_DIR "/images"

/* ---- reference values (generate.py) ----------------------------------------------- */

static const float EXP_RESIZE_4X3[36] = {
    58.75f,  152.75f, 118.75f, 91.25f,  137.25f, 151.25f, 123.75f, 89.75f,  183.75f,
    156.25f, 122.25f, 104.25f, 95.75f,  61.75f,  155.75f, 128.25f, 94.25f,  140.25f,
    160.75f, 126.75f, 92.75f,  193.25f, 159.25f, 125.25f, 132.75f, 98.75f,  64.75f,
    165.25f, 131.25f, 97.25f,  117.75f, 163.75f, 129.75f, 102.25f, 196.25f, 162.25f,
};
static const float EXP_SHORT_CROP_NHWC[18] = {
    43.875f, 17.0625f, 6.09375f, 37.5f,   13.875f,  4.5f,     27.125f, 8.6875f, 10.90625f,
    22.0f,   21.125f,  8.125f,   45.625f, 17.9375f, 6.53125f, 35.25f,  12.75f,  5.4375f,
};
static const float EXP_FRACTION_UP[60] = {
    9.0f,    86.7f,   175.5f,  187.5f,  86.0f,   105.25f, 70.95f,  111.75f, 171.75f, 182.25f,
    124.75f, 90.45f,  83.25f,  124.05f, 201.75f, 61.0f,   138.7f,  99.5f,   60.3f,   138.0f,
    46.0f,   123.7f,  84.5f,   45.3f,   123.0f,  142.25f, 107.95f, 100.75f, 93.55f,  59.25f,
    161.75f, 127.45f, 120.25f, 113.05f, 78.75f,  98.0f,   175.7f,  136.5f,  97.3f,   175.0f,
    83.0f,   160.7f,  121.5f,  82.3f,   160.0f,  179.25f, 144.95f, 137.75f, 130.55f, 96.25f,
    198.75f, 164.45f, 157.25f, 150.05f, 115.75f, 135.0f,  212.7f,  173.5f,  134.3f,  212.0f,
};
static const float EXP_GRAY[30] = {
    0.1182549f,  0.553549f,   0.2850941f,  0.4202157f,  0.74106276f, 0.28688234f,
    0.7221765f,  0.15354902f, 0.58884317f, 0.32038823f, 0.4555098f,  0.7763569f,
    0.32217646f, 0.7574706f,  0.18884313f, 0.6241373f,  0.35568234f, 0.49080393f,
    0.811651f,   0.3574706f,  0.7927647f,  0.22413726f, 0.6594314f,  0.39097646f,
    0.526098f,   0.8469451f,  0.39276472f, 0.82805884f, 0.25943136f, 0.6947255f,
};
static const float EXP_AUTO[18] = {
    75.0f,  169.0f, 135.0f, 140.0f, 106.0f, 168.0f, 112.0f, 78.0f,  172.0f,
    177.0f, 143.0f, 109.0f, 149.0f, 115.0f, 81.0f,  86.0f,  180.0f, 146.0f,
};
static const float EXP_CROP_AUTO[48] = {
    9.0f,    78.375f,  161.625f, 231.0f,  105.25f, 74.625f,  97.875f,  167.25f,
    124.75f, 94.125f,  81.375f,  90.75f,  61.0f,   130.375f, 117.625f, 27.0f,
    46.0f,   115.375f, 102.625f, 12.0f,   142.25f, 111.625f, 98.875f,  108.25f,
    161.75f, 131.125f, 118.375f, 127.75f, 98.0f,   167.375f, 154.625f, 64.0f,
    83.0f,   152.375f, 139.625f, 49.0f,   179.25f, 148.625f, 135.875f, 145.25f,
    198.75f, 168.125f, 155.375f, 164.75f, 135.0f,  204.375f, 191.625f, 101.0f,
};
static const float EXP_JPEG_Q100[48] = {
    200.0f, 30.0f,  39.0f,  190.0f, 40.0f,  51.0f,  180.0f, 50.0f,  58.0f,  170.0f, 60.0f,  69.0f,
    60.0f,  200.0f, 31.0f,  70.0f,  190.0f, 40.0f,  80.0f,  179.0f, 50.0f,  91.0f,  171.0f, 60.0f,
    30.0f,  40.0f,  200.0f, 41.0f,  50.0f,  191.0f, 50.0f,  60.0f,  183.0f, 60.0f,  69.0f,  170.0f,
    128.0f, 128.0f, 128.0f, 120.0f, 120.0f, 120.0f, 110.0f, 110.0f, 110.0f, 100.0f, 100.0f, 100.0f,
};
static const float EXP_JPEG_GRAY[16] = {
    200.0f, 190.0f, 180.0f, 170.0f, 60.0f,  70.0f,  80.0f,  90.0f,
    30.0f,  40.0f,  50.0f,  60.0f,  128.0f, 120.0f, 110.0f, 100.0f,
};
static const float EXP_JPEG_CMYK[12] = {
    207.0f, 46.0f, 190.0f, 207.0f, 46.0f, 190.0f, 207.0f, 46.0f, 190.0f, 207.0f, 46.0f, 190.0f,
};

/* ---- helpers ---------------------------------------------------------------------- */

static char g_dir[64];

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(p);
}

static int setup(void **state) {
  (void)state;
  snprintf(g_dir, sizeof g_dir, "/tmp/ptq_img_XXXXXX");
  return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  return nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *tmp(const char *name) {
  static char buf[4][256];
  static int k;
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
  return buf[k];
}

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  fputs(text, f);
  assert_int_equal(fclose(f), 0);
}

static void copy_file(const char *from, const char *to) {
  void *buf;
  size_t len;
  assert_int_equal(ptq_file_read(from, &buf, &len), PTQ_OK);
  FILE *f = fopen(to, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(buf, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
  free(buf);
}

static void assert_error(ptq_status got, ptq_status want, const char *needle) {
  if (got != want || !strstr(ptq_last_error(), needle))
    fail_msg("status %d (want %d), message '%s' (want '%s' in it)", got, want, ptq_last_error(),
             needle);
}

static void assert_close(const float *got, const float *want, size_t n, double tol) {
  for (size_t i = 0; i < n; i++)
    if (!(fabs(got[i] - want[i]) <= tol * fmax(1.0, fabs(want[i]))))
      fail_msg("element %zu: got %.7g, want %.7g", i, got[i], want[i]);
}

static ptq_dataset_options opts3(const char *spec, int64_t a, int64_t b, int64_t c) {
  ptq_dataset_options o = {0};
  o.preprocess = spec;
  o.sample_rank = 3;
  o.sample_dims[0] = a;
  o.sample_dims[1] = b;
  o.sample_dims[2] = c;
  return o;
}

/* Opens dir with o, reads sample `index` into a fresh tensor; caller destroys it. */
static ptq_tensor *read_one(const char *dir, const ptq_dataset_options *o, int64_t index) {
  ptq_dataset *ds;
  ptq_tensor *t;
  int64_t dims[PTQ_MAX_RANK] = {1};
  if (ptq_dataset_open(dir, o, &ds) != PTQ_OK) fail_msg("open: %s", ptq_last_error());
  int rank = ptq_dataset_sample_shape(ds, dims + 1);
  assert_int_equal(ptq_tensor_create(PTQ_DT_FLOAT, rank + 1, dims, &t), PTQ_OK);
  if (ptq_dataset_read(ds, index, 1, t, NULL) != PTQ_OK) fail_msg("read: %s", ptq_last_error());
  ptq_dataset_destroy(ds);
  return t;
}

/* ---- decoding --------------------------------------------------------------------- */

static void check_decode(const char *file, int w, int h, int ch, const float *want, double tol) {
  ptq_image8 im;
  if (ptq_image_decode_file(file, &im) != PTQ_OK) fail_msg("%s", ptq_last_error());
  assert_int_equal(im.w, w);
  assert_int_equal(im.h, h);
  assert_int_equal(im.channels, ch);
  for (int i = 0; i < w * h * ch; i++)
    if (fabs(im.pix[i] - want[i]) > tol)
      fail_msg("%s[%d] = %d, want %g", file, i, im.pix[i], want[i]);
  free(im.pix);
}

static void test_decode_png_variants(void **state) {
  (void)state;
  const float rgb[36] = {10,  20,  30,  40,  50,  60,  70,  80,  90,  100, 110, 120,
                         130, 140, 150, 160, 170, 180, 190, 200, 210, 220, 230, 240,
                         255, 0,   128, 0,   255, 64,  32,  16,  8,   1,   2,   3};
  check_decode(IMAGES "/flat/a_rgb.png", 4, 3, 3, rgb, 0);
  check_decode(IMAGES "/flat/k_upper.PNG", 4, 3, 3, rgb, 0);
  const float gray[6] = {0, 100, 200, 50, 150, 250};
  check_decode(IMAGES "/flat/b_gray.png", 3, 2, 1, gray, 0);
  const float rgba[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}; /* alpha dropped */
  check_decode(IMAGES "/flat/c_rgba.png", 2, 2, 3, rgba, 0);
  const float pal[9] = {0, 0, 255, 255, 0, 0, 0, 255, 0}; /* indices 2 0 1, tRNS ignored */
  check_decode(IMAGES "/flat/d_palette.png", 3, 1, 3, pal, 0);
  const float rgb16[6] = {0x12, 0xAB, 0xFF, 0x00, 0x01, 0x80}; /* high bytes */
  check_decode(IMAGES "/flat/e_rgb16.png", 2, 1, 3, rgb16, 0);
  const float gray2[4] = {0, 85, 170, 255};
  check_decode(IMAGES "/flat/f_gray2.png", 4, 1, 1, gray2, 0);
  const float ga16[2] = {0x7F, 0xFF};
  check_decode(IMAGES "/flat/g_graya16.png", 2, 1, 1, ga16, 0);
}

static void test_decode_jpeg_variants(void **state) {
  (void)state;
  check_decode(IMAGES "/flat/h_q100.jpg", 4, 4, 3, EXP_JPEG_Q100, 1);
  check_decode(IMAGES "/flat/i_gray.jpg", 4, 4, 1, EXP_JPEG_GRAY, 1);
  check_decode(IMAGES "/flat/j_cmyk.jpg", 2, 2, 3, EXP_JPEG_CMYK, 2);
}

static void test_decode_corrupt(void **state) {
  (void)state;
  const char *files[] = {"b_garbage.jpg", "c_truncated.jpg", "d_text.png", "e_truncated.png",
                         "f_badcrc.png"};
  for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
    char path[512];
    ptq_image8 im;
    snprintf(path, sizeof path, IMAGES "/corrupt/%s", files[k]);
    assert_error(ptq_image_decode_file(path, &im), PTQ_ERR_PARSE, files[k]);
    assert_null(im.pix);
  }
  ptq_image8 im;
  assert_error(ptq_image_decode_file(IMAGES "/corrupt/none.png", &im), PTQ_ERR_IO, "none.png");
  assert_error(ptq_image_decode("\x89PNG\r\n\x1a\n", 8, "mem", &im), PTQ_ERR_PARSE, "mem");
  assert_error(ptq_image_decode("\xFF\xD8\xFF", 3, "mem", &im), PTQ_ERR_PARSE, "mem");
  assert_error(ptq_image_decode("", 0, "mem", &im), PTQ_ERR_PARSE, "not a JPEG or PNG");

  /* in a dataset: the good image reads, every bad one fails naming its file */
  ptq_dataset *ds;
  ptq_tensor *b;
  ptq_dataset_options o = opts3(NULL, 3, 2, 2);
  int64_t dims[4] = {6, 3, 2, 2};
  assert_int_equal(ptq_dataset_open(IMAGES "/corrupt", &o, &ds), PTQ_OK);
  assert_int_equal(ptq_dataset_count(ds), 6);
  assert_int_equal(ptq_tensor_create(PTQ_DT_FLOAT, 4, dims, &b), PTQ_OK);
  assert_int_equal(ptq_dataset_read(ds, 0, 1, b, NULL), PTQ_OK);
  assert_float_equal(((float *)b->data)[11], 5.0, 0);
  for (int64_t i = 1; i < 6; i++)
    assert_error(ptq_dataset_read(ds, i, 1, b, NULL), PTQ_ERR_PARSE, files[i - 1]);
  assert_error(ptq_dataset_read(ds, 0, 6, b, NULL), PTQ_ERR_PARSE, "b_garbage.jpg");
  ptq_tensor_destroy(b);
  ptq_dataset_destroy(ds);
}

/* ---- preprocessing ---------------------------------------------------------------- */

static void test_preprocess_parse(void **state) {
  (void)state;
  ptq_preprocess p;
  assert_int_equal(ptq_preprocess_parse(" resize=256 , crop=224x200,crop=0.875,resize=7x9,"
                                        "scale=1/255,mean=1:2:3,std=0.5,bgr,layout=nhwc,",
                                        &p),
                   PTQ_OK);
  assert_int_equal(p.n_geom, 4);
  assert_int_equal(p.geom[0].kind, PTQ_GEOM_RESIZE_SHORT);
  assert_int_equal(p.geom[0].h, 256);
  assert_int_equal(p.geom[1].kind, PTQ_GEOM_CROP);
  assert_int_equal(p.geom[1].h, 224);
  assert_int_equal(p.geom[1].w, 200);
  assert_int_equal(p.geom[2].kind, PTQ_GEOM_CROP_FRACTION);
  assert_float_equal(p.geom[2].fraction, 0.875, 1e-7);
  assert_int_equal(p.geom[3].kind, PTQ_GEOM_RESIZE);
  assert_int_equal(p.geom[3].w, 9);
  assert_true(p.has_resize && p.bgr && p.nhwc && !p.gray);
  assert_float_equal(p.scale, 1.0 / 255, 1e-9);
  assert_int_equal(p.n_mean, 3);
  assert_float_equal(p.mean[2], 3, 0);
  assert_int_equal(p.n_std, 1);
  assert_string_equal(p.image_step, "resize");
  assert_int_equal(ptq_preprocess_parse("mean=0.5,std=2,scale=3", &p), PTQ_OK);
  assert_null(p.image_step);
  assert_int_equal(ptq_preprocess_parse(NULL, &p), PTQ_OK);
  assert_int_equal(ptq_preprocess_parse("", &p), PTQ_OK);
  assert_float_equal(p.scale, 1, 0);

  const char *bad[] = {"resize=0",   "resize=3x",
                       "resize=x3",  "resize=70000",
                       "resize",     "crop=1.5",
                       "crop=0.0",   "crop=abc",
                       "scale=x",    "scale=1/0",
                       "scale=inf",  "mean=1::2",
                       "mean=",      "std=1:0",
                       "layout=chw", "bgr=1",
                       "foo",        "scale=1,scale=2",
                       "gray,gray",  "mean=1:2:3:4:5:6:7:8:9:10:11:12:13:14:15:16:17"};
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    ptq_status s = ptq_preprocess_parse(bad[k], &p);
    if (s != PTQ_ERR_INVALID_ARG) fail_msg("'%s' gave %d", bad[k], s);
  }
  assert_error(ptq_preprocess_parse("resize=256,crop=abc", &p), PTQ_ERR_INVALID_ARG, "crop=abc");
}

static void test_preprocess_values(void **state) {
  (void)state;
  const char *dir = IMAGES "/prep";
  struct {
    const char *spec;
    int64_t d[3];
    const float *want;
    size_t n;
  } cases[] = {
      {"resize=4x3", {3, 4, 3}, EXP_RESIZE_4X3, 36},
      {"resize=4,crop=2x3,bgr,scale=0.5,mean=1:2:3,std=2:4:8,layout=nhwc",
       {2, 3, 3},
       EXP_SHORT_CROP_NHWC,
       18},
      /* value steps apply in a fixed order, wherever they are written */
      {"std=2:4:8,layout=nhwc,mean=1:2:3,bgr,scale=0.5,resize=4,crop=2x3",
       {2, 3, 3},
       EXP_SHORT_CROP_NHWC,
       18},
      {"crop=0.5,resize=4x5", {3, 4, 5}, EXP_FRACTION_UP, 60},
      {"gray,scale=1/255", {1, 5, 6}, EXP_GRAY, 30},
      {"scale=0.0039215686", {1, 5, 6}, EXP_GRAY, 30}, /* 1 channel implies gray */
      {NULL, {3, 2, 3}, EXP_AUTO, 18},                 /* resized to the model size */
      {"crop=3", {3, 4, 4}, EXP_CROP_AUTO, 48},        /* crop, then to the model size */
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    ptq_dataset_options o = opts3(cases[k].spec, cases[k].d[0], cases[k].d[1], cases[k].d[2]);
    ptq_tensor *t = read_one(dir, &o, 0);
    assert_int_equal(ptq_tensor_numel(t), (int64_t)cases[k].n);
    assert_close(t->data, cases[k].want, cases[k].n, 1e-5);
    ptq_tensor_destroy(t);
  }
  /* sample_rank 0: the shape comes from the first image */
  ptq_dataset_options o = {.preprocess = "crop=3"};
  ptq_dataset *ds;
  int64_t dims[PTQ_MAX_RANK];
  assert_int_equal(ptq_dataset_open(dir, &o, &ds), PTQ_OK);
  assert_int_equal(ptq_dataset_sample_shape(ds, dims), 3);
  assert_int_equal(dims[0], 3);
  assert_int_equal(dims[1], 3);
  assert_int_equal(dims[2], 3);
  ptq_dataset_destroy(ds);
  /* unknown model dims (-1) too, and with nhwc */
  o = opts3("resize=4x3,layout=nhwc", -1, -1, 3);
  assert_int_equal(ptq_dataset_open(dir, &o, &ds), PTQ_OK);
  assert_int_equal(ptq_dataset_sample_shape(ds, dims), 3);
  assert_int_equal(dims[0], 4);
  assert_int_equal(dims[1], 3);
  assert_int_equal(dims[2], 3);
  ptq_dataset_destroy(ds);
}

static void test_preprocess_shape_errors(void **state) {
  (void)state;
  const char *dir = IMAGES "/prep";
  ptq_dataset *ds;
  ptq_tensor *b;
  int64_t d9[4] = {1, 3, 9, 9}, d5[4] = {1, 3, 5, 5};
  ptq_dataset_options o = opts3("crop=9", 3, 9, 9);
  assert_int_equal(ptq_dataset_open(dir, &o, &ds), PTQ_OK);
  assert_int_equal(ptq_tensor_create(PTQ_DT_FLOAT, 4, d9, &b), PTQ_OK);
  assert_error(ptq_dataset_read(ds, 0, 1, b, NULL), PTQ_ERR_SHAPE, "cannot crop 9x9");
  assert_true(strstr(ptq_last_error(), "p.png") != NULL);
  ptq_tensor_destroy(b);
  ptq_dataset_destroy(ds);
  o = opts3("resize=4x4", 3, 5, 5);
  assert_int_equal(ptq_dataset_open(dir, &o, &ds), PTQ_OK);
  assert_int_equal(ptq_tensor_create(PTQ_DT_FLOAT, 4, d5, &b), PTQ_OK);
  assert_error(ptq_dataset_read(ds, 0, 1, b, NULL), PTQ_ERR_SHAPE, "expects 5x5");
  ptq_tensor_destroy(b);
  ptq_dataset_destroy(ds);
  o = opts3("resize=4x4", -1, 5, -1);
  assert_error(ptq_dataset_open(dir, &o, &ds), PTQ_ERR_SHAPE, "4x4");
  o = opts3(NULL, 2, 5, 6);
  assert_error(ptq_dataset_open(dir, &o, &ds), PTQ_ERR_SHAPE, "(2, 5, 6)");
  o = opts3(NULL, 5, 6, 3); /* an NHWC model without layout=nhwc */
  assert_error(ptq_dataset_open(dir, &o, &ds), PTQ_ERR_SHAPE, "nchw");
  o = opts3("gray", 3, 5, 6);
  assert_error(ptq_dataset_open(dir, &o, &ds), PTQ_ERR_SHAPE, "gray");
  o = opts3("mean=1:2", 3, 5, 6);
  assert_error(ptq_dataset_open(dir, &o, &ds), PTQ_ERR_SHAPE, "2 values");
  o = opts3("resize=bad", 3, 5, 6);
  assert_error(ptq_dataset_open(dir, &o, &ds), PTQ_ERR_INVALID_ARG, "resize=bad");
  o = (ptq_dataset_options){.sample_rank = 2, .sample_dims = {5, 6}};
  assert_error(ptq_dataset_open(dir, &o, &ds), PTQ_ERR_SHAPE, "rank-3");
  /* a batch of the wrong shape */
  o = opts3(NULL, 3, 5, 6);
  assert_int_equal(ptq_dataset_open(dir, &o, &ds), PTQ_OK);
  assert_int_equal(ptq_tensor_create(PTQ_DT_FLOAT, 4, d5, &b), PTQ_OK);
  assert_error(ptq_dataset_read(ds, 0, 1, b, NULL), PTQ_ERR_SHAPE, "(3, 5, 6)");
  ptq_tensor_destroy(b);
  ptq_dataset_destroy(ds);
}

/* ---- folders, batching, labels ---------------------------------------------------- */

static void test_flat_folder_and_batching(void **state) {
  (void)state;
  const char *names[] = {"a_rgb.png",   "b_gray.png",  "c_rgba.png",    "d_palette.png",
                         "e_rgb16.png", "f_gray2.png", "g_graya16.png", "h_q100.jpg",
                         "i_gray.jpg",  "j_cmyk.jpg",  "k_upper.PNG"};
  ptq_dataset_options o = opts3("scale=1/255,mean=0.5,std=0.25", 3, 4, 4);
  ptq_dataset *ds;
  assert_int_equal(ptq_dataset_open(IMAGES "/flat", &o, &ds), PTQ_OK);
  assert_int_equal(ptq_dataset_count(ds), 11);
  assert_false(ptq_dataset_has_labels(ds));
  for (int i = 0; i < 11; i++) assert_string_equal(ptq_dataset_sample_name(ds, i), names[i]);
  ptq_tensor *one, *batch;
  int64_t d1[4] = {1, 3, 4, 4}, d4[4] = {4, 3, 4, 4}, lb[4];
  float all[11][48];
  assert_int_equal(ptq_tensor_create(PTQ_DT_FLOAT, 4, d1, &one), PTQ_OK);
  assert_int_equal(ptq_tensor_create(PTQ_DT_FLOAT, 4, d4, &batch), PTQ_OK);
  for (int i = 0; i < 11; i++) {
    assert_int_equal(ptq_dataset_read(ds, i, 1, one, lb), PTQ_OK);
    assert_int_equal(lb[0], -1);
    memcpy(all[i], one->data, sizeof all[i]);
  }
  for (int start = 0; start < 11; start += 4) {
    int n = start + 4 <= 11 ? 4 : 11 - start;
    assert_int_equal(ptq_dataset_read(ds, start, n, batch, NULL), PTQ_OK);
    assert_memory_equal(batch->data, all[start], (size_t)n * sizeof all[0]);
  }
  /* the gray PNG's first pixel (0) normalized; the 16-bit one's first red value (0x12) */
  assert_float_equal(all[1][0], (0 / 255.0 - 0.5) / 0.25, 1e-6);
  assert_float_equal(all[4][0], (0x12 / 255.0 - 0.5) / 0.25, 1e-5);
  ptq_tensor_destroy(one);
  ptq_tensor_destroy(batch);
  ptq_dataset_destroy(ds);
  /* limit */
  o.limit = 3;
  assert_int_equal(ptq_dataset_open(IMAGES "/flat", &o, &ds), PTQ_OK);
  assert_int_equal(ptq_dataset_count(ds), 3);
  ptq_dataset_destroy(ds);
}

static void test_class_subfolders(void **state) {
  (void)state;
  ptq_dataset_options o = opts3("bgr", 3, 2, 2);
  o.label_offset = 1;
  ptq_dataset *ds;
  assert_int_equal(ptq_dataset_open(IMAGES "/classes", &o, &ds), PTQ_OK);
  assert_int_equal(ptq_dataset_count(ds), 3);
  assert_true(ptq_dataset_has_labels(ds));
  assert_string_equal(ptq_dataset_sample_name(ds, 0), "cat/c1.png");
  assert_string_equal(ptq_dataset_sample_name(ds, 1), "cat/c2.jpg");
  assert_string_equal(ptq_dataset_sample_name(ds, 2), "dog/d1.png");
  ptq_tensor *b;
  int64_t d[4] = {3, 3, 2, 2}, lb[3];
  assert_int_equal(ptq_tensor_create(PTQ_DT_FLOAT, 4, d, &b), PTQ_OK);
  assert_int_equal(ptq_dataset_read(ds, 0, 3, b, lb), PTQ_OK);
  assert_int_equal(lb[0], 1);
  assert_int_equal(lb[1], 1);
  assert_int_equal(lb[2], 2);
  const float *x = b->data;
  assert_float_equal(x[0], 11, 0);
  assert_float_equal(x[2 * 12 + 11], 33, 0);
  assert_in_range((int)x[12], 21, 23); /* flat JPEG 3x2 resized to 2x2 */
  ptq_tensor_destroy(b);
  ptq_dataset_destroy(ds);
}

static void test_folder_errors(void **state) {
  (void)state;
  ptq_dataset *ds = (ptq_dataset *)&ds;
  assert_error(ptq_dataset_open(tmp("absent"), NULL, &ds), PTQ_ERR_IO, "absent");
  assert_null(ds);
  assert_int_equal(mkdir(tmp("empty"), 0755), 0);
  write_text(tmp("empty/readme.txt"), "no images here\n");
  assert_error(ptq_dataset_open(tmp("empty"), NULL, &ds), PTQ_ERR_DATA, "no images in '");
  assert_true(strstr(ptq_last_error(), "empty") != NULL);
  assert_int_equal(mkdir(tmp("mixed"), 0755), 0);
  assert_int_equal(mkdir(tmp("mixed/sub"), 0755), 0);
  copy_file(IMAGES "/prep/p.png", tmp("mixed/top.png"));
  assert_error(ptq_dataset_open(tmp("mixed"), NULL, &ds), PTQ_ERR_DATA, "subfolders");
  assert_int_equal(mkdir(tmp("emptyclasses"), 0755), 0);
  assert_int_equal(mkdir(tmp("emptyclasses/a"), 0755), 0);
  assert_error(ptq_dataset_open(tmp("emptyclasses"), NULL, &ds), PTQ_ERR_DATA, "no images in");
}

static void test_labels_csv(void **state) {
  (void)state;
  assert_int_equal(mkdir(tmp("csv"), 0755), 0);
  copy_file(IMAGES "/prep/p.png", tmp("csv/it's, fine.png"));
  copy_file(IMAGES "/prep/p.png", tmp("csv/plain.png"));
  copy_file(IMAGES "/prep/p.png", tmp("csv/zz.png"));
  write_text(tmp("labels.csv"),
             "\xEF\xBB\xBFid,\"file\",class_index,note\r\n"
             "1,\"sub/it's, fine.png\",3,\"multi\r\nline \"\"note\"\"\"\r\n"
             "\r\n"
             "2,images/plain.png, 5 ,\r\n"
             "3,unused.png,9,x\r\n");
  ptq_dataset_options o = opts3(NULL, 3, 5, 6);
  o.labels = tmp("labels.csv");
  o.label_offset = 1000;
  o.limit = 2;
  ptq_dataset *ds;
  if (ptq_dataset_open(tmp("csv"), &o, &ds) != PTQ_OK) fail_msg("%s", ptq_last_error());
  assert_string_equal(ptq_dataset_sample_name(ds, 0), "it's, fine.png");
  ptq_tensor *b;
  int64_t d[4] = {2, 3, 5, 6}, lb[2];
  assert_int_equal(ptq_tensor_create(PTQ_DT_FLOAT, 4, d, &b), PTQ_OK);
  assert_int_equal(ptq_dataset_read(ds, 0, 2, b, lb), PTQ_OK);
  assert_int_equal(lb[0], 1003);
  assert_int_equal(lb[1], 1005);
  ptq_tensor_destroy(b);
  ptq_dataset_destroy(ds);
  /* without the limit zz.png has no label */
  o.limit = 0;
  assert_error(ptq_dataset_open(tmp("csv"), &o, &ds), PTQ_ERR_DATA, "zz.png");

  ptq_strmap map;
  const struct {
    const char *text;
    ptq_status want;
    const char *needle;
  } bad[] = {
      {"file,label\na.png,1\n", PTQ_ERR_PARSE, "class_index"},
      {"file,class_index\n\"a.png,1\n", PTQ_ERR_PARSE, "quoting"},
      {"file,class_index\n\"a\"b.png,1\n", PTQ_ERR_PARSE, "quoting"},
      {"file,class_index\na.png,one\n", PTQ_ERR_PARSE, "line 2"},
      {"file,class_index\na.png,-1\n", PTQ_ERR_PARSE, "'-1'"},
      {"file,class_index\na.png,1\nb.png\n", PTQ_ERR_PARSE, "line 3"},
      {"file,class_index\nx/a.png,1\ny/a.png,2\n", PTQ_ERR_DATA, "listed with class 1 and 2"},
      {"", PTQ_ERR_PARSE, "empty"},
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    write_text(tmp("bad.csv"), bad[k].text);
    ptq_status s = ptq_labels_load_csv(tmp("bad.csv"), &map);
    if (s != bad[k].want || !strstr(ptq_last_error(), bad[k].needle))
      fail_msg("case %zu: %d '%s'", k, s, ptq_last_error());
    assert_null(map.keys);
  }
  /* the same file listed twice with the same class is fine; a bare quote is literal */
  write_text(tmp("ok.csv"), "class_index,file\n1,a.png\n1,a.png\n2,it\"s.png");
  assert_int_equal(ptq_labels_load_csv(tmp("ok.csv"), &map), PTQ_OK);
  int v;
  assert_true(ptq_strmap_get(&map, "it\"s.png", &v) && v == 2);
  assert_int_equal(map.len, 2);
  ptq_strmap_free(&map);
  assert_error(ptq_labels_load_csv(tmp("nope.csv"), &map), PTQ_ERR_IO, "nope.csv");
}

static void test_labels_npy_for_images(void **state) {
  (void)state;
  ptq_tensor *l;
  int64_t n = 3;
  assert_int_equal(ptq_tensor_create(PTQ_DT_UINT8, 1, &n, &l), PTQ_OK);
  ((uint8_t *)l->data)[0] = 7;
  ((uint8_t *)l->data)[1] = 8;
  ((uint8_t *)l->data)[2] = 9;
  assert_int_equal(ptq_npy_save(tmp("l3.npy"), l), PTQ_OK);
  ptq_tensor_destroy(l);
  ptq_dataset_options o = opts3(NULL, 1, 2, 2);
  o.labels = tmp("l3.npy");
  o.limit = 2;
  ptq_dataset *ds;
  ptq_tensor *b;
  int64_t d[4] = {2, 1, 2, 2}, lb[2];
  assert_int_equal(ptq_dataset_open(IMAGES "/classes", &o, &ds), PTQ_OK); /* file wins */
  assert_int_equal(ptq_tensor_create(PTQ_DT_FLOAT, 4, d, &b), PTQ_OK);
  assert_int_equal(ptq_dataset_read(ds, 0, 2, b, lb), PTQ_OK);
  assert_int_equal(lb[0], 7);
  assert_int_equal(lb[1], 8);
  ptq_tensor_destroy(b);
  ptq_dataset_destroy(ds);
  o.labels = tmp("l3.npy");
  assert_error(ptq_dataset_open(IMAGES "/flat", &o, &ds), PTQ_ERR_DATA, "3 entries");
}

/* ---- shared data (skipped when absent) -------------------------------------------- */

static void test_imagenet_dev(void **state) {
  (void)state;
  const char *dir = PTQ_SHARED_DIR "/data/imagenet-dev/images";
  const char *csv = PTQ_SHARED_DIR "/data/imagenet-dev/labels.csv";
  if (access(dir, R_OK) != 0 || access(csv, R_OK) != 0) skip();
  ptq_dataset_options o = opts3("crop=0.875,resize=224x224,mean=128,std=128", 3, 224, 224);
  o.labels = csv;
  ptq_dataset *ds;
  ptq_tensor *b;
  int64_t d[4] = {2, 3, 224, 224}, lb[2];
  assert_int_equal(ptq_dataset_open(dir, &o, &ds), PTQ_OK);
  assert_int_equal(ptq_dataset_count(ds), 500);
  assert_string_equal(ptq_dataset_sample_name(ds, 0), "n01440764_tench.JPEG");
  assert_int_equal(ptq_tensor_create(PTQ_DT_FLOAT, 4, d, &b), PTQ_OK);
  assert_int_equal(ptq_dataset_read(ds, 1, 2, b, lb), PTQ_OK);
  assert_int_equal(lb[0], 2);
  assert_int_equal(lb[1], 4);
  assert_int_equal(ptq_dataset_read(ds, 0, 1, b, lb), PTQ_OK);
  assert_int_equal(lb[0], 0);
  /* Pillow decode + numpy crop/resize: per-channel means of sample 0 */
  const double IMAGENET_MEANS[3] = {-0.10727845, -0.08871631, -0.24538851};
  const float *x = b->data;
  for (int c = 0; c < 3; c++) {
    double s = 0;
    for (int i = 0; i < 224 * 224; i++) s += x[c * 224 * 224 + i];
    assert_float_equal(s / (224 * 224), IMAGENET_MEANS[c], 2e-3);
  }
  ptq_tensor_destroy(b);
  ptq_dataset_destroy(ds);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_decode_png_variants),
      cmocka_unit_test(test_decode_jpeg_variants),
      cmocka_unit_test(test_decode_corrupt),
      cmocka_unit_test(test_preprocess_parse),
      cmocka_unit_test(test_preprocess_values),
      cmocka_unit_test(test_preprocess_shape_errors),
      cmocka_unit_test(test_flat_folder_and_batching),
      cmocka_unit_test(test_class_subfolders),
      cmocka_unit_test(test_folder_errors),
      cmocka_unit_test(test_labels_csv),
      cmocka_unit_test(test_labels_npy_for_images),
      cmocka_unit_test(test_imagenet_dev),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
