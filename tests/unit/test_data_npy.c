/* .npy reading/writing and .npy datasets. */
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
#include <unistd.h>

#include "data/data_internal.h"
#include "ptq/data.h"

static char g_dir[64];

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(p);
}

static int setup(void **state) {
  (void)state;
  snprintf(g_dir, sizeof g_dir, "/tmp/ptq_npy_XXXXXX");
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

static void write_bytes(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
}

/* Writes a .npy with the given version and header text (padded to a multiple of 64 with
 * spaces and '\n' unless raw_len >= 0 overrides the stored header length) and data. */
static void write_npy(const char *path, int major, const char *header, long raw_len,
                      const void *data, size_t n) {
  unsigned char buf[1024];
  size_t pre = major == 1 ? 10 : 12, hl = strlen(header);
  size_t total_h = (pre + hl + 1 + 63) / 64 * 64 - pre;
  assert_true(pre + total_h + n <= sizeof buf);
  memcpy(buf, "\x93NUMPY", 6);
  buf[6] = (unsigned char)major;
  buf[7] = 0;
  size_t stored = raw_len >= 0 ? (size_t)raw_len : total_h;
  for (size_t i = 0; i < pre - 8; i++) buf[8 + i] = (unsigned char)(stored >> (8 * i));
  memcpy(buf + pre, header, hl);
  memset(buf + pre + hl, ' ', total_h - hl - 1);
  buf[pre + total_h - 1] = '\n';
  if (n) memcpy(buf + pre + total_h, data, n);
  write_bytes(path, buf, pre + total_h + n);
}

static void assert_error(ptq_status got, ptq_status want, const char *needle) {
  if (got != want || !strstr(ptq_last_error(), needle))
    fail_msg("status %d (want %d), message '%s' (want '%s' in it)", got, want, ptq_last_error(),
             needle);
}

/* ---- round trips ------------------------------------------------------------------ */

static void test_round_trip_every_dtype(void **state) {
  (void)state;
  const ptq_dtype types[] = {PTQ_DT_UINT8,  PTQ_DT_INT8,   PTQ_DT_FLOAT16, PTQ_DT_FLOAT,
                             PTQ_DT_DOUBLE, PTQ_DT_INT32,  PTQ_DT_INT64,   PTQ_DT_BOOL,
                             PTQ_DT_INT16,  PTQ_DT_UINT16, PTQ_DT_UINT32,  PTQ_DT_UINT64};
  const int64_t shapes[3][3] = {{0}, {5}, {2, 3, 4}};
  const int ranks[3] = {0, 1, 3};
  for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
    for (int s = 0; s < 3; s++) {
      ptq_tensor *t, *u;
      assert_int_equal(ptq_tensor_create(types[k], ranks[s], shapes[s], &t), PTQ_OK);
      size_t bytes = (size_t)ptq_tensor_numel(t) * ptq_dtype_size(t->dtype);
      for (size_t i = 0; i < bytes; i++)
        ((unsigned char *)t->data)[i] =
            types[k] == PTQ_DT_BOOL ? i % 2 : (unsigned char)(i * 7 + 1);
      const char *p = tmp("rt.npy");
      assert_int_equal(ptq_npy_save(p, t), PTQ_OK);
      assert_int_equal(ptq_npy_load(p, &u), PTQ_OK);
      assert_int_equal(u->dtype, t->dtype);
      assert_int_equal(u->rank, t->rank);
      for (int i = 0; i < t->rank; i++) assert_int_equal(u->dims[i], t->dims[i]);
      assert_memory_equal(u->data, t->data, bytes);
      ptq_tensor_destroy(t);
      ptq_tensor_destroy(u);
    }
  }
}

static void test_save_header_format(void **state) {
  (void)state;
  struct {
    ptq_dtype dt;
    int rank;
    int64_t dims[2];
    const char *text;
  } cases[] = {
      {PTQ_DT_FLOAT, 0, {0}, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }"},
      {PTQ_DT_UINT8, 1, {7}, "{'descr': '|u1', 'fortran_order': False, 'shape': (7,), }"},
      {PTQ_DT_INT64, 2, {2, 3}, "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 3), }"},
  };
  for (size_t k = 0; k < 3; k++) {
    ptq_tensor *t;
    void *buf;
    size_t len;
    assert_int_equal(ptq_tensor_create(cases[k].dt, cases[k].rank, cases[k].dims, &t), PTQ_OK);
    assert_int_equal(ptq_npy_save(tmp("h.npy"), t), PTQ_OK);
    assert_int_equal(ptq_file_read(tmp("h.npy"), &buf, &len), PTQ_OK);
    const unsigned char *b = buf;
    size_t hlen = b[8] | (size_t)b[9] << 8;
    assert_memory_equal(b, "\x93NUMPY\x01\x00", 8);
    assert_int_equal((10 + hlen) % 64, 0);
    assert_int_equal(b[10 + hlen - 1], '\n');
    assert_memory_equal(b + 10, cases[k].text, strlen(cases[k].text));
    for (size_t i = 10 + strlen(cases[k].text); i < 10 + hlen - 1; i++) assert_int_equal(b[i], ' ');
    assert_int_equal(len, 10 + hlen + (size_t)ptq_tensor_numel(t) * ptq_dtype_size(t->dtype));
    free(buf);
    ptq_tensor_destroy(t);
  }
  /* a dtype .npy cannot describe is refused and leaves no file */
  ptq_tensor t = {.dtype = PTQ_DT_STRING, .rank = 0};
  assert_error(ptq_npy_save(tmp("str.npy"), &t), PTQ_ERR_UNSUPPORTED, "string");
  assert_int_equal(access(tmp("str.npy"), F_OK), -1);
}

/* ---- hand-written headers --------------------------------------------------------- */

static void test_parse_hand_written(void **state) {
  (void)state;
  const float f[6] = {1, 2, 3, 4, 5, 6};
  ptq_tensor *t;
  /* double quotes, another key order, no trailing comma, Python 2 long */
  write_npy(tmp("a.npy"), 1, "{\"shape\": (2L,3), \"fortran_order\": False, \"descr\": \"<f4\"}",
            -1, f, sizeof f);
  assert_int_equal(ptq_npy_load(tmp("a.npy"), &t), PTQ_OK);
  assert_int_equal(t->dtype, PTQ_DT_FLOAT);
  assert_int_equal(t->rank, 2);
  assert_int_equal(t->dims[0], 2);
  assert_int_equal(t->dims[1], 3);
  assert_memory_equal(t->data, f, sizeof f);
  ptq_tensor_destroy(t);
  /* versions 2.0 and 3.0 use a 4-byte header length */
  for (int v = 2; v <= 3; v++) {
    write_npy(tmp("b.npy"), v, "{'descr': '|b1', 'fortran_order': False, 'shape': (6,), }", -1,
              "\1\0\1\1\0\0", 6);
    assert_int_equal(ptq_npy_load(tmp("b.npy"), &t), PTQ_OK);
    assert_int_equal(t->dtype, PTQ_DT_BOOL);
    assert_int_equal(t->dims[0], 6);
    assert_memory_equal(t->data, "\1\0\1\1\0\0", 6);
    ptq_tensor_destroy(t);
  }
  /* float16 stays float16; extra data after the array is ignored */
  const uint16_t h[3] = {0x3C00, 0xC000, 0x3555};
  write_npy(tmp("c.npy"), 1, "{'descr':'<f2','fortran_order':False,'shape':(3,)}", -1, h, sizeof h);
  assert_int_equal(ptq_npy_load(tmp("c.npy"), &t), PTQ_OK);
  assert_int_equal(t->dtype, PTQ_DT_FLOAT16);
  assert_memory_equal(t->data, h, sizeof h);
  ptq_tensor_destroy(t);
  /* zero-sized arrays */
  write_npy(tmp("d.npy"), 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (0, 4), }", -1,
            NULL, 0);
  assert_int_equal(ptq_npy_load(tmp("d.npy"), &t), PTQ_OK);
  assert_int_equal(ptq_tensor_numel(t), 0);
  ptq_tensor_destroy(t);
}

static void test_malformed_headers(void **state) {
  (void)state;
  static const unsigned char data[64];
  const struct {
    const char *header;
    size_t data_len;
    ptq_status want;
    const char *needle;
  } cases[] = {
      {"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 16, PTQ_ERR_UNSUPPORTED,
       "Fortran"},
      {"{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8, PTQ_ERR_UNSUPPORTED,
       "big-endian"},
      {"{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", 16, PTQ_ERR_UNSUPPORTED, "<c8"},
      {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", 8, PTQ_ERR_UNSUPPORTED,
       "structured"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", 8,
       PTQ_ERR_PARSE, "overflows"},
      {"{'descr': '<u1', 'fortran_order': False, 'shape': (99999999999999999999,), }", 8,
       PTQ_ERR_PARSE, "too large"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }", 8, PTQ_ERR_PARSE,
       "negative"},
      {"{'descr': '<u1', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", 8, PTQ_ERR_PARSE,
       "more than 8"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 5), }", 59, PTQ_ERR_PARSE,
       "truncated"},
      {"'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 8, PTQ_ERR_PARSE, "'{'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", 8, PTQ_ERR_PARSE,
       "unknown"},
      {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", 8, PTQ_ERR_PARSE,
       "repeated"},
      {"{'descr': '<f4', 'shape': (2,)}", 8, PTQ_ERR_PARSE, "missing"},
      {"{'descr': '<f4', 'fortran_order': Flase, 'shape': (2,)}", 8, PTQ_ERR_PARSE, "True"},
      {"{'descr': '<f4", 8, PTQ_ERR_PARSE, "unterminated"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} x", 8, PTQ_ERR_PARSE, "after"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2 3)}", 8, PTQ_ERR_PARSE, "shape"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,", 8, PTQ_ERR_PARSE, "header"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': 2}", 8, PTQ_ERR_PARSE, "shape"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    ptq_tensor *t = (ptq_tensor *)&t;
    write_npy(tmp("m.npy"), 1, cases[k].header, -1, data, cases[k].data_len);
    ptq_status s = ptq_npy_load(tmp("m.npy"), &t);
    if (s != cases[k].want || !strstr(ptq_last_error(), cases[k].needle) ||
        !strstr(ptq_last_error(), "m.npy"))
      fail_msg("case %zu: status %d, '%s'", k, s, ptq_last_error());
    assert_null(t);
  }
}

static void test_malformed_files(void **state) {
  (void)state;
  ptq_tensor *t;
  write_bytes(tmp("empty.npy"), "", 0);
  assert_error(ptq_npy_load(tmp("empty.npy"), &t), PTQ_ERR_PARSE, "empty.npy");
  write_bytes(tmp("short.npy"), "\x93NUM", 4);
  assert_error(ptq_npy_load(tmp("short.npy"), &t), PTQ_ERR_PARSE, "too short");
  write_bytes(tmp("magic.npy"), "PK\x03\x04 this is a zip file", 24);
  assert_error(ptq_npy_load(tmp("magic.npy"), &t), PTQ_ERR_PARSE, "bad magic");
  write_bytes(tmp("v2short.npy"), "\x93NUMPY\x02\x00\x10\x00", 10);
  assert_error(ptq_npy_load(tmp("v2short.npy"), &t), PTQ_ERR_PARSE, "truncated");
  const char *hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }";
  write_npy(tmp("v4.npy"), 1, hdr, -1, "abcd", 4);
  FILE *f = fopen(tmp("v4.npy"), "r+b");
  assert_non_null(f);
  fseek(f, 6, SEEK_SET);
  fputc(4, f);
  fclose(f);
  assert_error(ptq_npy_load(tmp("v4.npy"), &t), PTQ_ERR_UNSUPPORTED, "version 4.0");
  /* header length pointing past the end of the file, for both length widths */
  write_npy(tmp("hlen1.npy"), 1, hdr, 60000, "abcd", 4);
  assert_error(ptq_npy_load(tmp("hlen1.npy"), &t), PTQ_ERR_PARSE, "exceeds the file size");
  write_npy(tmp("hlen2.npy"), 2, hdr, 0xFFFFFFF0L, "abcd", 4);
  assert_error(ptq_npy_load(tmp("hlen2.npy"), &t), PTQ_ERR_PARSE, "exceeds the file size");
  /* header cut short inside the dictionary */
  write_npy(tmp("cut.npy"), 1, hdr, 20, "abcd", 4);
  assert_error(ptq_npy_load(tmp("cut.npy"), &t), PTQ_ERR_PARSE, "cut.npy");
  assert_error(ptq_npy_load(tmp("missing.npy"), &t), PTQ_ERR_IO, "missing.npy");
  assert_error(ptq_npy_load(g_dir, &t), PTQ_ERR_IO, g_dir);
}

/* ---- .npy datasets ---------------------------------------------------------------- */

/* (7, 2, 3, 2) uint8 samples with value 10*i + k, labels i % 3 as int32. */
static void make_dataset(void) {
  ptq_tensor *t, *l;
  int64_t dims[4] = {7, 2, 3, 2}, n = 7;
  assert_int_equal(ptq_tensor_create(PTQ_DT_UINT8, 4, dims, &t), PTQ_OK);
  for (int i = 0; i < 7; i++)
    for (int k = 0; k < 12; k++) ((uint8_t *)t->data)[i * 12 + k] = (uint8_t)(10 * i + k);
  assert_int_equal(ptq_npy_save(tmp("x.npy"), t), PTQ_OK);
  assert_int_equal(ptq_tensor_create(PTQ_DT_INT32, 1, &n, &l), PTQ_OK);
  for (int i = 0; i < 7; i++) ((int32_t *)l->data)[i] = i % 3;
  assert_int_equal(ptq_npy_save(tmp("y.npy"), l), PTQ_OK);
  ptq_tensor_destroy(t);
  ptq_tensor_destroy(l);
}

static void test_npy_dataset_values_and_batching(void **state) {
  (void)state;
  make_dataset();
  ptq_dataset_options o = {0};
  o.preprocess = "scale=0.5, mean=1:2, std=2:4";
  o.labels = tmp("y.npy");
  o.label_offset = 1;
  o.sample_rank = 3;
  o.sample_dims[0] = 2;
  o.sample_dims[1] = 3;
  o.sample_dims[2] = 2;
  ptq_dataset *ds;
  assert_int_equal(ptq_dataset_open(tmp("x.npy"), &o, &ds), PTQ_OK);
  assert_int_equal(ptq_dataset_count(ds), 7);
  assert_true(ptq_dataset_has_labels(ds));
  assert_string_equal(ptq_dataset_sample_name(ds, 4), "index 4");
  assert_null(ptq_dataset_sample_name(ds, 7));
  int64_t dims[PTQ_MAX_RANK];
  assert_int_equal(ptq_dataset_sample_shape(ds, dims), 3);
  assert_int_equal(dims[0], 2);
  assert_int_equal(dims[2], 2);

  /* one by one */
  ptq_tensor *one, *batch;
  int64_t d1[4] = {1, 2, 3, 2}, d3[4] = {3, 2, 3, 2};
  float all[7][12];
  int64_t labels[7], lb[3];
  assert_int_equal(ptq_tensor_create(PTQ_DT_FLOAT, 4, d1, &one), PTQ_OK);
  for (int i = 0; i < 7; i++) {
    assert_int_equal(ptq_dataset_read(ds, i, 1, one, &labels[i]), PTQ_OK);
    memcpy(all[i], one->data, sizeof all[i]);
    assert_int_equal(labels[i], i % 3 + 1);
    for (int k = 0; k < 12; k++) {
      int c = k / 6;
      float want = ((10 * i + k) * 0.5f - (c ? 2.0f : 1.0f)) / (c ? 4.0f : 2.0f);
      assert_float_equal(all[i][k], want, 1e-6);
    }
  }
  /* batches of 3 crossing sample boundaries: [0,3) [3,6) [6,7) */
  assert_int_equal(ptq_tensor_create(PTQ_DT_FLOAT, 4, d3, &batch), PTQ_OK);
  for (int start = 0; start < 7; start += 3) {
    int n = start + 3 <= 7 ? 3 : 7 - start;
    assert_int_equal(ptq_dataset_read(ds, start, n, batch, lb), PTQ_OK);
    assert_memory_equal(batch->data, all[start], (size_t)n * sizeof all[0]);
    assert_memory_equal(lb, &labels[start], (size_t)n * sizeof lb[0]);
  }
  /* out-of-range and mismatched batches */
  assert_error(ptq_dataset_read(ds, 5, 3, batch, NULL), PTQ_ERR_INVALID_ARG, "out of range");
  assert_error(ptq_dataset_read(ds, -1, 1, batch, NULL), PTQ_ERR_INVALID_ARG, "out of range");
  assert_error(ptq_dataset_read(ds, 0, 4, batch, NULL), PTQ_ERR_SHAPE, "(3, 2, 3, 2)");
  ptq_tensor_destroy(one);
  ptq_tensor_destroy(batch);
  ptq_dataset_destroy(ds);

  /* limit, no labels, any sample shape */
  o = (ptq_dataset_options){0};
  o.limit = 2;
  assert_int_equal(ptq_dataset_open(tmp("x.npy"), &o, &ds), PTQ_OK);
  assert_int_equal(ptq_dataset_count(ds), 2);
  assert_false(ptq_dataset_has_labels(ds));
  assert_int_equal(ptq_tensor_create(PTQ_DT_FLOAT, 4, d3, &batch), PTQ_OK);
  assert_int_equal(ptq_dataset_read(ds, 0, 2, batch, lb), PTQ_OK);
  assert_int_equal(lb[0], -1);
  assert_float_equal(((float *)batch->data)[12 + 5], 15.0, 0);
  ptq_tensor_destroy(batch);
  ptq_dataset_destroy(ds);
  assert_int_equal(ptq_dataset_open(tmp("x.npy"), NULL, &ds), PTQ_OK);
  assert_int_equal(ptq_dataset_count(ds), 7);
  ptq_dataset_destroy(ds);
}

static void test_npy_dataset_dtypes(void **state) {
  (void)state;
  const ptq_dtype types[] = {PTQ_DT_INT8,  PTQ_DT_FLOAT16, PTQ_DT_FLOAT, PTQ_DT_DOUBLE,
                             PTQ_DT_INT32, PTQ_DT_INT64,   PTQ_DT_BOOL};
  const float vals[4] = {-3, 0, 1, 2.5f};
  for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
    ptq_tensor *t, *b;
    int64_t dims[2] = {2, 2};
    assert_int_equal(ptq_tensor_create(types[k], 2, dims, &t), PTQ_OK);
    float want[4];
    for (int i = 0; i < 4; i++) {
      float v = vals[i];
      switch (types[k]) {
        case PTQ_DT_INT8: ((int8_t *)t->data)[i] = (int8_t)v, want[i] = (int8_t)v; break;
        case PTQ_DT_FLOAT16: ((uint16_t *)t->data)[i] = ptq_f32_to_f16(v), want[i] = v; break;
        case PTQ_DT_FLOAT: ((float *)t->data)[i] = v, want[i] = v; break;
        case PTQ_DT_DOUBLE: ((double *)t->data)[i] = v, want[i] = v; break;
        case PTQ_DT_INT32: ((int32_t *)t->data)[i] = (int32_t)v, want[i] = (int32_t)v; break;
        case PTQ_DT_INT64: ((int64_t *)t->data)[i] = (int64_t)v, want[i] = (int64_t)v; break;
        default: ((uint8_t *)t->data)[i] = v != 0, want[i] = v != 0; break;
      }
    }
    assert_int_equal(ptq_npy_save(tmp("t.npy"), t), PTQ_OK);
    ptq_dataset *ds;
    ptq_dataset_options o = {.preprocess = "scale=2"};
    assert_int_equal(ptq_dataset_open(tmp("t.npy"), &o, &ds), PTQ_OK);
    assert_int_equal(ptq_tensor_create(PTQ_DT_FLOAT, 2, dims, &b), PTQ_OK);
    assert_int_equal(ptq_dataset_read(ds, 0, 2, b, NULL), PTQ_OK);
    for (int i = 0; i < 4; i++) assert_float_equal(((float *)b->data)[i], 2 * want[i], 0);
    ptq_tensor_destroy(t);
    ptq_tensor_destroy(b);
    ptq_dataset_destroy(ds);
  }
}

static void test_npy_dataset_errors(void **state) {
  (void)state;
  make_dataset();
  ptq_dataset *ds = (ptq_dataset *)&ds;
  ptq_dataset_options o = {0};
  o.sample_rank = 3;
  o.sample_dims[0] = 1;
  o.sample_dims[1] = 28;
  o.sample_dims[2] = 28;
  assert_error(ptq_dataset_open(tmp("x.npy"), &o, &ds), PTQ_ERR_SHAPE, "(2, 3, 2)");
  assert_true(strstr(ptq_last_error(), "(1, 28, 28)") && strstr(ptq_last_error(), "x.npy"));
  assert_null(ds);
  o = (ptq_dataset_options){.preprocess = "resize=4x4"};
  assert_error(ptq_dataset_open(tmp("x.npy"), &o, &ds), PTQ_ERR_INVALID_ARG, "resize");
  o = (ptq_dataset_options){.preprocess = "mean=1:2:3"};
  assert_error(ptq_dataset_open(tmp("x.npy"), &o, &ds), PTQ_ERR_SHAPE, "3 values");
  o = (ptq_dataset_options){.preprocess = "std=0"};
  assert_error(ptq_dataset_open(tmp("x.npy"), &o, &ds), PTQ_ERR_INVALID_ARG, "std");
  o = (ptq_dataset_options){.labels = tmp("labels.csv")};
  assert_error(ptq_dataset_open(tmp("x.npy"), &o, &ds), PTQ_ERR_INVALID_ARG, "labels.csv");
  /* label count differs from the sample count */
  ptq_tensor *l;
  int64_t n = 6;
  assert_int_equal(ptq_tensor_create(PTQ_DT_INT64, 1, &n, &l), PTQ_OK);
  assert_int_equal(ptq_npy_save(tmp("y6.npy"), l), PTQ_OK);
  o = (ptq_dataset_options){.labels = tmp("y6.npy")};
  assert_error(ptq_dataset_open(tmp("x.npy"), &o, &ds), PTQ_ERR_DATA, "6 entries");
  ptq_tensor_destroy(l);
  /* labels must be 1-D integers */
  o = (ptq_dataset_options){.labels = tmp("x.npy")};
  assert_error(ptq_dataset_open(tmp("x.npy"), &o, &ds), PTQ_ERR_DATA, "1-D");
  /* a scalar has no sample axis */
  ptq_tensor *s;
  assert_int_equal(ptq_tensor_create(PTQ_DT_FLOAT, 0, NULL, &s), PTQ_OK);
  assert_int_equal(ptq_npy_save(tmp("s.npy"), s), PTQ_OK);
  ptq_tensor_destroy(s);
  assert_error(ptq_dataset_open(tmp("s.npy"), NULL, &ds), PTQ_ERR_SHAPE, "scalar");
  int64_t d0[2] = {0, 3};
  assert_int_equal(ptq_tensor_create(PTQ_DT_FLOAT, 2, d0, &s), PTQ_OK);
  assert_int_equal(ptq_npy_save(tmp("e.npy"), s), PTQ_OK);
  ptq_tensor_destroy(s);
  assert_error(ptq_dataset_open(tmp("e.npy"), NULL, &ds), PTQ_ERR_DATA, "no samples in");
  assert_error(ptq_dataset_open(tmp("nothing.npy"), NULL, &ds), PTQ_ERR_IO, "nothing.npy");
  /* a file truncated after opening is an I/O error on read, not a crash */
  ptq_tensor *big, *b;
  int64_t dbig[2] = {100000, 4}, d[2] = {1, 4};
  assert_int_equal(ptq_tensor_create(PTQ_DT_FLOAT, 2, dbig, &big), PTQ_OK);
  assert_int_equal(ptq_npy_save(tmp("big.npy"), big), PTQ_OK);
  ptq_tensor_destroy(big);
  assert_int_equal(ptq_dataset_open(tmp("big.npy"), NULL, &ds), PTQ_OK);
  assert_int_equal(truncate(tmp("big.npy"), 100000), 0);
  assert_int_equal(ptq_tensor_create(PTQ_DT_FLOAT, 2, d, &b), PTQ_OK);
  assert_error(ptq_dataset_read(ds, 99999, 1, b, NULL), PTQ_ERR_IO, "big.npy");
  ptq_tensor_destroy(b);
  ptq_dataset_destroy(ds);
}

/* ---- shared data (skipped when absent) -------------------------------------------- */

static void test_mnist_cifar(void **state) {
  (void)state;
  const char *mnist = PTQ_SHARED_DIR "/data/mnist/test-images.npy";
  const char *cifar = PTQ_SHARED_DIR "/data/cifar10/test-images.npy";
  if (access(mnist, R_OK) != 0 || access(cifar, R_OK) != 0) skip();
  ptq_dataset_options o = {.preprocess = "scale=1/255",
                           .labels = PTQ_SHARED_DIR "/data/mnist/test-labels.npy",
                           .sample_rank = 3,
                           .sample_dims = {1, 28, 28}};
  ptq_dataset *ds;
  ptq_tensor *b;
  int64_t d[4] = {2, 1, 28, 28}, lb[2];
  assert_int_equal(ptq_dataset_open(mnist, &o, &ds), PTQ_OK);
  assert_int_equal(ptq_dataset_count(ds), 10000);
  assert_int_equal(ptq_tensor_create(PTQ_DT_FLOAT, 4, d, &b), PTQ_OK);
  /* numpy: (x[[0, 1, 9999]] / 255).sum per sample = 72.36862745, 113.1372549, 164.05098039 */
  const double sums[3] = {72.36862745, 113.1372549, 164.05098039};
  const int64_t idx[3] = {0, 1, 9998};
  for (int k = 0; k < 3; k++) {
    assert_int_equal(ptq_dataset_read(ds, idx[k], 2, b, lb), PTQ_OK);
    double s = 0;
    for (int i = 0; i < 784; i++) s += ((float *)b->data)[(k == 2 ? 784 : 0) + i];
    assert_float_equal(s, sums[k], 1e-3);
  }
  assert_int_equal(ptq_dataset_read(ds, 0, 2, b, lb), PTQ_OK);
  assert_int_equal(lb[0], 7);
  assert_int_equal(lb[1], 2);
  ptq_tensor_destroy(b);
  ptq_dataset_destroy(ds);

  o = (ptq_dataset_options){.preprocess =
                                "scale=1/255,mean=0.4914:0.4822:0.4465,"
                                "std=0.247:0.243:0.261",
                            .labels = PTQ_SHARED_DIR "/data/cifar10/test-labels.npy",
                            .limit = 5000};
  int64_t dc[4] = {1, 3, 32, 32};
  assert_int_equal(ptq_dataset_open(cifar, &o, &ds), PTQ_OK);
  assert_int_equal(ptq_dataset_count(ds), 5000);
  assert_int_equal(ptq_tensor_create(PTQ_DT_FLOAT, 4, dc, &b), PTQ_OK);
  /* numpy per-channel means of the normalized samples 0 and 4321 */
  const double means[2][3] = {{0.42798558, 0.44414463, 0.7195488},
                              {0.33736071, 0.07211632, -0.25460733}};
  const int64_t ci[2] = {0, 4321}, cl[2] = {0, 4};
  for (int k = 0; k < 2; k++) {
    assert_int_equal(ptq_dataset_read(ds, ci[k], 1, b, lb), PTQ_OK);
    assert_int_equal(lb[0], cl[k]);
    for (int c = 0; c < 3; c++) {
      double s = 0;
      for (int i = 0; i < 1024; i++) s += ((float *)b->data)[c * 1024 + i];
      assert_float_equal(s / 1024, means[k][c], 1e-4);
    }
  }
  ptq_tensor_destroy(b);
  ptq_dataset_destroy(ds);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip_every_dtype),
      cmocka_unit_test(test_save_header_format),
      cmocka_unit_test(test_parse_hand_written),
      cmocka_unit_test(test_malformed_headers),
      cmocka_unit_test(test_malformed_files),
      cmocka_unit_test(test_npy_dataset_values_and_batching),
      cmocka_unit_test(test_npy_dataset_dtypes),
      cmocka_unit_test(test_npy_dataset_errors),
      cmocka_unit_test(test_mnist_cifar),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
