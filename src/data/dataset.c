/* The dataset object: opening, .npy sources read by seeking, and batch reads. */
#define _POSIX_C_SOURCE 200809L /* fseeko */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "data/data_internal.h"

/* Channel count and plane size for mean/std: axis 0 of rank-3 samples, else one channel. */
static void npy_channels(const ptq_dataset *ds, int64_t *channels, int64_t *plane) {
  *channels = ds->rank == 3 ? ds->dims[0] : 1;
  *plane = *channels > 0 ? ds->sample_numel / *channels : 0;
}

static ptq_status open_npy(ptq_dataset *ds, const ptq_dataset_options *opts) {
  const char *path = ds->path;
  if (ds->prep.image_step)
    return ptq_error(PTQ_ERR_INVALID_ARG,
                     "preprocess step '%s' applies to image folders, not "
                     "to the .npy file '%s' (only scale, mean, std do)",
                     ds->prep.image_step, path);
  if (!(ds->f = fopen(path, "rb")))
    return ptq_error(PTQ_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
  PTQ_TRY(ptq_npy_read_header(ds->f, path, &ds->npy));
  if (ds->npy.rank < 1)
    return ptq_error(PTQ_ERR_SHAPE,
                     "'%s' holds a scalar; a dataset needs a first axis of "
                     "samples",
                     path);
  if (ds->npy.dims[0] == 0) return ptq_error(PTQ_ERR_DATA, "no samples in '%s'", path);
  ds->rank = ds->npy.rank - 1;
  memcpy(ds->dims, ds->npy.dims + 1, (size_t)ds->rank * sizeof *ds->dims);
  int fits = opts->sample_rank == 0 || opts->sample_rank == ds->rank;
  for (int i = 0; fits && opts->sample_rank > 0 && i < ds->rank; i++)
    fits = opts->sample_dims[i] <= 0 || opts->sample_dims[i] == ds->dims[i];
  if (!fits) {
    char got[160], want[160];
    ptq_shape_str(ds->dims, ds->rank, got, sizeof got);
    ptq_shape_str(opts->sample_dims, opts->sample_rank, want, sizeof want);
    return ptq_error(PTQ_ERR_SHAPE, "'%s': samples have shape %s but the model expects %s", path,
                     got, want);
  }
  ds->sample_numel = ds->npy.numel / ds->npy.dims[0];
  int64_t channels, plane;
  npy_channels(ds, &channels, &plane);
  PTQ_TRY(ptq_preprocess_check_channels(&ds->prep, channels));
  size_t bytes = (size_t)ds->sample_numel * ptq_dtype_size(ds->npy.dtype);
  if (!(ds->raw = ptq_malloc(bytes))) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  ds->count = opts->limit > 0 && opts->limit < ds->npy.dims[0] ? opts->limit : ds->npy.dims[0];
  if (!opts->labels) return PTQ_OK;
  if (!ptq_path_has_ext(opts->labels, ".npy"))
    return ptq_error(PTQ_ERR_INVALID_ARG,
                     "labels for the .npy file '%s' must be a .npy file, "
                     "not '%s'",
                     path, opts->labels);
  int64_t n;
  PTQ_TRY(ptq_labels_load_npy(opts->labels, &ds->labels, &n));
  if (n != ds->npy.dims[0])
    return ptq_error(PTQ_ERR_DATA, "labels '%s' has %lld entries but '%s' has %lld samples",
                     opts->labels, (long long)n, path, (long long)ds->npy.dims[0]);
  for (int64_t i = 0; i < ds->count; i++) ds->labels[i] += opts->label_offset;
  return PTQ_OK;
}

ptq_status ptq_dataset_open(const char *path, const ptq_dataset_options *opts, ptq_dataset **out) {
  static const ptq_dataset_options defaults;
  struct stat st;
  ptq_status s;
  if (!out || !path) return ptq_error(PTQ_ERR_INVALID_ARG, "ptq_dataset_open: NULL argument");
  *out = NULL;
  opts = opts ? opts : &defaults;
  if (opts->sample_rank < 0 || opts->sample_rank > PTQ_MAX_RANK - 1)
    return ptq_error(PTQ_ERR_INVALID_ARG, "sample rank %d out of range 0..%d", opts->sample_rank,
                     PTQ_MAX_RANK - 1);
  if (stat(path, &st) != 0)
    return ptq_error(PTQ_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
  ptq_dataset *ds = calloc(1, sizeof *ds);
  if (!ds || !(ds->path = ptq_strdup(path))) {
    free(ds);
    return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  }
  if ((s = ptq_preprocess_parse(opts->preprocess, &ds->prep)) != PTQ_OK) goto error;
  ds->is_npy = !S_ISDIR(st.st_mode);
  s = ds->is_npy ? open_npy(ds, opts) : ptq_dataset_open_images(ds, opts);
  if (s != PTQ_OK) goto error;
  *out = ds;
  return PTQ_OK;
error:
  ptq_dataset_destroy(ds);
  return s;
}

void ptq_dataset_destroy(ptq_dataset *ds) {
  if (!ds) return;
  if (ds->f) fclose(ds->f);
  free(ds->raw);
  free(ds->labels);
  ptq_image_list_free(&ds->list);
  ptq_fimage_free(&ds->img);
  ptq_fimage_free(&ds->tmp);
  free(ds->path);
  free(ds);
}

int64_t ptq_dataset_count(const ptq_dataset *ds) {
  return ds->count;
}

int ptq_dataset_has_labels(const ptq_dataset *ds) {
  return ds->labels != NULL;
}

int ptq_dataset_sample_shape(const ptq_dataset *ds, int64_t *dims) {
  memcpy(dims, ds->dims, (size_t)ds->rank * sizeof *dims);
  return ds->rank;
}

const char *ptq_dataset_sample_name(const ptq_dataset *ds, int64_t i) {
  if (i < 0 || i >= ds->count) return NULL;
  if (!ds->is_npy) return ds->list.files[i];
  ptq_dataset *m = (ptq_dataset *)ds; /* the name buffer is scratch space */
  snprintf(m->name, sizeof m->name, "index %lld", (long long)i);
  return m->name;
}

/* Converts one stored sample to float32. */
static void convert_sample(const ptq_dataset *ds, float *dst) {
  const void *raw = ds->raw;
  int64_t n = ds->sample_numel;
  switch (ds->npy.dtype) {
    case PTQ_DT_UINT8:
      for (int64_t k = 0; k < n; k++) dst[k] = ((const uint8_t *)raw)[k];
      break;
    case PTQ_DT_INT8:
      for (int64_t k = 0; k < n; k++) dst[k] = ((const int8_t *)raw)[k];
      break;
    case PTQ_DT_BOOL:
      for (int64_t k = 0; k < n; k++) dst[k] = ((const uint8_t *)raw)[k] != 0;
      break;
    case PTQ_DT_FLOAT16:
      for (int64_t k = 0; k < n; k++) dst[k] = ptq_f16_to_f32(((const uint16_t *)raw)[k]);
      break;
    case PTQ_DT_FLOAT: memcpy(dst, raw, (size_t)n * sizeof *dst); break;
    case PTQ_DT_DOUBLE:
      for (int64_t k = 0; k < n; k++) dst[k] = (float)((const double *)raw)[k];
      break;
    case PTQ_DT_INT16:
      for (int64_t k = 0; k < n; k++) dst[k] = ((const int16_t *)raw)[k];
      break;
    case PTQ_DT_UINT16:
      for (int64_t k = 0; k < n; k++) dst[k] = ((const uint16_t *)raw)[k];
      break;
    case PTQ_DT_INT32:
      for (int64_t k = 0; k < n; k++) dst[k] = (float)((const int32_t *)raw)[k];
      break;
    case PTQ_DT_UINT32:
      for (int64_t k = 0; k < n; k++) dst[k] = (float)((const uint32_t *)raw)[k];
      break;
    case PTQ_DT_UINT64:
      for (int64_t k = 0; k < n; k++) dst[k] = (float)((const uint64_t *)raw)[k];
      break;
    default: /* PTQ_DT_INT64, the last type ptq_npy_read_header accepts */
      for (int64_t k = 0; k < n; k++) dst[k] = (float)((const int64_t *)raw)[k];
      break;
  }
}

static ptq_status read_npy(ptq_dataset *ds, int64_t start, int64_t n, float *dst) {
  size_t bytes = (size_t)ds->sample_numel * ptq_dtype_size(ds->npy.dtype);
  int64_t channels, plane;
  npy_channels(ds, &channels, &plane);
  if (fseeko(ds->f, (off_t)(ds->npy.data_offset + start * (int64_t)bytes), SEEK_SET) != 0)
    return ptq_error(PTQ_ERR_IO, "cannot seek in '%s': %s", ds->path, strerror(errno));
  for (int64_t i = 0; i < n; i++, dst += ds->sample_numel) {
    if (fread(ds->raw, 1, bytes, ds->f) != bytes)
      return ptq_error(PTQ_ERR_IO, "cannot read sample %lld of '%s'", (long long)(start + i),
                       ds->path);
    convert_sample(ds, dst);
    for (int64_t c = 0; c < channels; c++)
      for (int64_t k = 0; k < plane; k++)
        dst[c * plane + k] = ptq_preprocess_value(&ds->prep, c, dst[c * plane + k]);
  }
  return PTQ_OK;
}

ptq_status ptq_dataset_read(ptq_dataset *ds, int64_t start, int64_t n, ptq_tensor *batch,
                            int64_t *labels) {
  if (!ds || !batch) return ptq_error(PTQ_ERR_INVALID_ARG, "ptq_dataset_read: NULL argument");
  if (start < 0 || n < 0 || n > ds->count - start)
    return ptq_error(PTQ_ERR_INVALID_ARG,
                     "samples [%lld, %lld) out of range (dataset '%s' has "
                     "%lld)",
                     (long long)start, (long long)(start + n), ds->path, (long long)ds->count);
  int fits = batch->dtype == PTQ_DT_FLOAT && batch->rank == ds->rank + 1 && batch->dims[0] >= n;
  for (int i = 0; fits && i < ds->rank; i++) fits = batch->dims[i + 1] == ds->dims[i];
  if (!fits) {
    char got[160], want[160];
    ptq_shape_str(batch->dims, batch->rank >= 0 && batch->rank <= PTQ_MAX_RANK ? batch->rank : 0,
                  got, sizeof got);
    ptq_shape_str(ds->dims, ds->rank, want, sizeof want);
    return ptq_error(PTQ_ERR_SHAPE, "batch tensor is %s %s but samples of '%s' are float32 %s",
                     ptq_dtype_name(batch->dtype), got, ds->path, want);
  }
  int64_t numel = 1;
  for (int i = 0; i < ds->rank; i++) numel *= ds->dims[i];
  float *dst = batch->data;
  if (ds->is_npy) {
    PTQ_TRY(read_npy(ds, start, n, dst));
  } else {
    for (int64_t i = 0; i < n; i++) PTQ_TRY(ptq_dataset_read_image(ds, start + i, dst + i * numel));
  }
  for (int64_t i = 0; labels && i < n; i++) labels[i] = ds->labels ? ds->labels[start + i] : -1;
  return PTQ_OK;
}
