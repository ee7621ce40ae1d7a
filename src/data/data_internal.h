/* Internal interfaces of the data module: .npy headers, image decoding, preprocessing,
 * labels and the dataset object. Errors follow ptq.h: a status plus ptq_error(). */
#ifndef PTQ_DATA_INTERNAL_H
#define PTQ_DATA_INTERNAL_H

#include <stdint.h>
#include <stdio.h>

#include "ptq/data.h"
#include "util/util.h"

/* ------------------------------------------------------------------ npy.c --- */

typedef struct ptq_npy_header {
  ptq_dtype dtype;
  int rank;
  int64_t dims[PTQ_MAX_RANK];
  int64_t numel;
  int64_t data_offset; /* bytes from the start of the file to the array data */
  int64_t data_bytes;  /* numel * element size; the file holds at least this much data */
} ptq_npy_header;

/* Reads and validates the header of an open .npy file; the file position is left
 * unspecified. Every field is bounds-checked against the file size. Errors name path:
 * PTQ_ERR_PARSE (malformed), PTQ_ERR_UNSUPPORTED (dtype, byte order, Fortran order,
 * version), PTQ_ERR_IO. */
ptq_status ptq_npy_read_header(FILE *f, const char *path, ptq_npy_header *h);

/* Writes "(2, 3)", "(5,)" or "()" into buf (always NUL-terminated; truncated to cap). */
void ptq_shape_str(const int64_t *dims, int rank, char *buf, size_t cap);

/* ---------------------------------------------------------- image_decode.c --- */

/* Largest decoded image accepted (pixels); larger ones give PTQ_ERR_UNSUPPORTED. */
#define PTQ_IMAGE_MAX_PIXELS ((int64_t)1 << 28)

/* An 8-bit image, interleaved, rows top to bottom. */
typedef struct ptq_image8 {
  int w, h;
  int channels; /* 1 (gray) or 3 (RGB) */
  uint8_t *pix; /* h * w * channels bytes, malloc'ed; owner frees */
} ptq_image8;

/* Decodes a JPEG or PNG held in memory, recognized by its signature. Gray sources stay
 * 1 channel; RGB, palette and CMYK become RGB; alpha is dropped; 16-bit samples keep
 * their high byte. On failure out->pix is NULL and the error names `name`:
 * PTQ_ERR_PARSE (corrupt or truncated), PTQ_ERR_UNSUPPORTED (too large), PTQ_ERR_NOMEM. */
ptq_status ptq_image_decode(const void *buf, size_t len, const char *name, ptq_image8 *out);
/* Reads path and decodes it as ptq_image_decode does; PTQ_ERR_IO if unreadable. */
ptq_status ptq_image_decode_file(const char *path, ptq_image8 *out);

/* ------------------------------------------------------------ preprocess.c --- */

#define PTQ_PREP_MAX_STEPS 16  /* resize and crop steps in one spec */
#define PTQ_PREP_MAX_VALUES 16 /* values in one mean= or std= list */
#define PTQ_PREP_MAX_SIDE 65536

typedef enum ptq_geom_kind {
  PTQ_GEOM_RESIZE_SHORT, /* shorter side to h (= w); the other keeps the aspect ratio */
  PTQ_GEOM_RESIZE,       /* exactly h x w */
  PTQ_GEOM_CROP,         /* central h x w box */
  PTQ_GEOM_CROP_FRACTION /* central fraction, TF central_crop */
} ptq_geom_kind;

typedef struct ptq_geom_step {
  ptq_geom_kind kind;
  int h, w;
  double fraction;
} ptq_geom_step;

/* A parsed preprocessing spec (see ptq_dataset_options.preprocess). */
typedef struct ptq_preprocess {
  ptq_geom_step geom[PTQ_PREP_MAX_STEPS];
  int n_geom;
  int has_resize;         /* a resize step is present */
  int bgr, gray, nhwc;    /* channel order, 1-channel output, layout */
  const char *image_step; /* first step that applies to images only, or NULL */
  float scale;            /* 1 when not given */
  int n_mean, n_std;      /* 0 (none), 1 (all channels) or one per channel */
  float mean[PTQ_PREP_MAX_VALUES], std[PTQ_PREP_MAX_VALUES];
} ptq_preprocess;

/* Parses spec (NULL or "" = no steps). PTQ_ERR_INVALID_ARG naming the bad step. */
ptq_status ptq_preprocess_parse(const char *spec, ptq_preprocess *p);
/* Checks that mean and std have 1 or `channels` values; PTQ_ERR_SHAPE otherwise. */
ptq_status ptq_preprocess_check_channels(const ptq_preprocess *p, int64_t channels);

/* scale, then mean, then std, for a value of output channel c. */
static inline float ptq_preprocess_value(const ptq_preprocess *p, int64_t c, float x) {
  float v = x * p->scale;
  if (p->n_mean) v -= p->mean[p->n_mean == 1 ? 0 : c];
  if (p->n_std) v /= p->std[p->n_std == 1 ? 0 : c];
  return v;
}

/* A planar float image (c planes of h x w) with a reusable buffer. */
typedef struct ptq_fimage {
  int c, h, w;
  float *data;
  size_t cap; /* floats allocated */
} ptq_fimage;

void ptq_fimage_free(ptq_fimage *img);
/* Converts to `channels` (1 or 3) planes: RGB->gray is ITU-R 601 luma
 * (0.299 R + 0.587 G + 0.114 B, in float), gray->RGB replicates. */
ptq_status ptq_fimage_from_image8(const ptq_image8 *src, int channels, ptq_fimage *dst);
/* Bilinear resize with half-pixel centers and edge clamping, no antialiasing. */
ptq_status ptq_fimage_resize(const ptq_fimage *src, int h, int w, ptq_fimage *dst);
/* Copies the h x w box at (top, left), which must lie inside src. */
ptq_status ptq_fimage_crop(const ptq_fimage *src, int top, int left, int h, int w, ptq_fimage *dst);
/* Applies p's resize and crop steps in order to *img (tmp is scratch; the two may be
 * swapped). Then, when want_h and want_w are > 0: if the size differs and p has no resize
 * step, resizes exactly to want_h x want_w; a remaining mismatch is PTQ_ERR_SHAPE.
 * Errors name `name`. */
ptq_status ptq_preprocess_geometry(const ptq_preprocess *p, ptq_fimage *img, ptq_fimage *tmp,
                                   int want_h, int want_w, const char *name);

/* ---------------------------------------------------------------- labels.c --- */

/* Loads a 1-D .npy of integers (uint8, int8, int32, int64). Caller frees *labels. */
ptq_status ptq_labels_load_npy(const char *path, int64_t **labels, int64_t *n);
/* Loads a CSV with a header row naming columns `file` and `class_index` (RFC 4180
 * quoting). map receives basename(file) -> class_index (>= 0); a basename listed twice
 * with different classes is PTQ_ERR_DATA. Caller frees map with ptq_strmap_free. */
ptq_status ptq_labels_load_csv(const char *path, ptq_strmap *map);
/* The part of path after its last '/'. */
const char *ptq_path_basename(const char *path);
/* Nonzero if path ends with ext (".npy"), ignoring ASCII case. */
int ptq_path_has_ext(const char *path, const char *ext);

/* ---------------------------------------------------------- image_folder.c --- */

/* Image files under a directory, sorted: flat, or one level of class subfolders. */
typedef struct ptq_image_list {
  char **files;     /* paths relative to the root ("a.png" or "cat/a.png") */
  int64_t *classes; /* class index per file, or NULL for a flat folder */
  int64_t n;
} ptq_image_list;

/* Lists root: files named *.jpg, *.jpeg, *.png (any case) not starting with '.', either all
 * directly in root or all in its subfolders (sorted names = classes 0..K-1; files deeper
 * than one level are ignored). PTQ_ERR_DATA when there are none, or when root mixes images
 * and subfolders; PTQ_ERR_IO when unreadable. */
ptq_status ptq_image_list_dir(const char *root, ptq_image_list *out);
void ptq_image_list_free(ptq_image_list *l);

/* ------------------------------------------------------------- dataset.c --- */

struct ptq_dataset {
  char *path;
  int is_npy;
  int64_t count;
  int rank; /* sample shape, resolved */
  int64_t dims[PTQ_MAX_RANK - 1];
  int64_t *labels; /* count labels with label_offset applied, or NULL */
  ptq_preprocess prep;
  char name[48]; /* ptq_dataset_sample_name buffer for .npy sources */
  /* .npy source */
  FILE *f;
  ptq_npy_header npy;
  int64_t sample_numel;
  unsigned char *raw; /* one sample as stored */
  /* image folder */
  ptq_image_list list;
  int channels, want_h, want_w; /* want_* 0 until known */
  ptq_fimage img, tmp;
};

/* Image folder part of ptq_dataset_open: fills the list, labels, count and shape of ds
 * (whose path and prep are set). */
ptq_status ptq_dataset_open_images(ptq_dataset *ds, const ptq_dataset_options *opts);
/* Decodes and preprocesses image i into dst (the sample layout, float32). */
ptq_status ptq_dataset_read_image(ptq_dataset *ds, int64_t i, float *dst);

#endif
