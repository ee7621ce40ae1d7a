/* ptq data input: .npy files and image folders, with preprocessing and labels.
 * Shared by `ptq run`, `ptq eval` and calibration. Conventions as in ptq.h. */
#ifndef PTQ_DATA_H
#define PTQ_DATA_H

#include "ptq/ptq.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Reads a whole .npy file (version 1.0/2.0/3.0, C order; dtypes u1 i1 u2 i2 u4 i4 u8 i8 f2 f4 f8
 * b1; little-endian). float16 is kept as PTQ_DT_FLOAT16. Caller owns *out. */
ptq_status ptq_npy_load(const char *path, ptq_tensor **out);
/* Writes a tensor as .npy v1.0 atomically. */
ptq_status ptq_npy_save(const char *path, const ptq_tensor *t);

/* A stream of samples with optional integer labels.
 * Sources: a .npy file of N samples (first axis is N), or a directory of JPEG/PNG images,
 * flat or in class subfolders (sorted subfolder names give class indices 0..K-1).
 * Images are decoded, preprocessed and laid out to the sample shape on demand; memory
 * does not grow with the number of samples. */
typedef struct ptq_dataset ptq_dataset;

typedef struct ptq_dataset_options {
  /* Preprocessing spec, comma-separated steps:
   *   resize=S        shorter side to S (bilinear; the longer side is truncated, like
   *                   torchvision)                       resize=HxW  exact size (bilinear)
   *   crop=S | HxW    central crop to that size (offset floor((H-h)/2))
   *   crop=F          central fraction F (0<F<=1, written with a '.'; TF central_crop)
   *   scale=F         multiply values (e.g. 0.0039215686 or 1/255)
   *   mean=A[:B:C]    subtract per channel               std=A[:B:C]  divide per channel
   *   bgr | rgb       channel order (default rgb)        gray         convert to one channel
   *   layout=nchw|nhwc  (default nchw)
   * resize and crop steps apply in the order written. Bilinear resizing uses half-pixel
   * centers without antialiasing (OpenCV INTER_LINEAR). Then, per output channel (after
   * bgr), values become ((x * scale) - mean) / std, wherever those steps are written; mean
   * and std take 1 value or one per channel. Pixel values are 0..255; gray is ITU-R 601
   * luma. Each of scale, mean, std, layout, bgr, rgb, gray may appear once.
   * For .npy sources only scale, mean, std apply (per channel along axis 0 of rank-3
   * samples); other steps are PTQ_ERR_INVALID_ARG. NULL or "" means none. */
  const char *preprocess;
  /* Labels: a labels.csv (header row with columns file, class_index; other columns
   * ignored; CSV quoting; rows match images by the basename of `file`) or an .npy (by
   * extension) of N integers, N being the number of samples before `limit`.
   * NULL: class subfolders if present, else none. */
  const char *labels;
  int64_t label_offset; /* added to every label (e.g. +1 for 1001-way outputs) */
  int64_t limit;        /* >0: use at most this many samples (the first ones, sorted) */
  /* Sample shape expected by the model (without batch), e.g. {3,224,224} ({224,224,3} with
   * layout=nhwc); sample_rank 0 accepts any shape, and dims <= 0 are taken from the data
   * (for images: from the first image after preprocessing). For images the final spatial
   * size must equal it: if it differs and the spec has no resize step, the image is resized
   * exactly to it; a model wanting 1 channel implies gray. */
  int sample_rank;
  int64_t sample_dims[PTQ_MAX_RANK - 1];
} ptq_dataset_options;

/* path: a directory (image folder) or a .npy file. opts may be NULL (defaults).
 * Image folders: *.jpg, *.jpeg, *.png (any case; hidden files skipped; other files
 * ignored) sorted by name, all directly in path or all one level down in class subfolders.
 * Errors: PTQ_ERR_IO (missing path), PTQ_ERR_DATA (no images, missing label, label count),
 * PTQ_ERR_SHAPE (sample shape vs opts), PTQ_ERR_INVALID_ARG (spec), PTQ_ERR_PARSE and
 * PTQ_ERR_UNSUPPORTED (.npy header, labels file). Caller owns *out. */
ptq_status ptq_dataset_open(const char *path, const ptq_dataset_options *opts, ptq_dataset **out);
void ptq_dataset_destroy(ptq_dataset *ds);
int64_t ptq_dataset_count(const ptq_dataset *ds);
int ptq_dataset_has_labels(const ptq_dataset *ds);
/* The resolved shape of one sample (without batch): writes the dims (up to PTQ_MAX_RANK - 1)
 * and returns the rank. */
int ptq_dataset_sample_shape(const ptq_dataset *ds, int64_t *dims);
/* Name of sample i (file path relative to the folder, or "index N" for .npy); NULL if i is
 * out of range. Owned by ds; for .npy valid until the next call. */
const char *ptq_dataset_sample_name(const ptq_dataset *ds, int64_t i);
/* Reads samples [start, start+n) as float32 into batch, which the caller allocated with
 * dims {m, sample dims...}, m >= n (rows past n are left as they are). labels (may be
 * NULL) receives n labels (-1 where unknown), label_offset included.
 * Errors name the offending file. Thread-compatible: one reader per dataset at a time. */
ptq_status ptq_dataset_read(ptq_dataset *ds, int64_t start, int64_t n, ptq_tensor *batch,
                            int64_t *labels);

#ifdef __cplusplus
}
#endif
#endif
