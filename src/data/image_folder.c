/* Image-folder datasets: listing, labels, shape resolution and the per-image pipeline. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/data_internal.h"

/* ---- listing ---------------------------------------------------------------------- */

static int is_image_name(const char *name) {
  return name[0] != '.' && (ptq_path_has_ext(name, ".jpg") || ptq_path_has_ext(name, ".jpeg") ||
                            ptq_path_has_ext(name, ".png"));
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(ptq_vec *v) {
  for (size_t i = 0; i < v->len; i++) free(v->items[i]);
  ptq_vec_free(v);
}

/* Sorted names of the image files (into files) and of the subfolders (into dirs, may be
 * NULL) of dir, hidden entries excluded. */
static ptq_status list_one(const char *dir, ptq_vec *files, ptq_vec *dirs) {
  DIR *d = opendir(dir);
  if (!d) return ptq_error(PTQ_ERR_IO, "cannot open '%s': %s", dir, strerror(errno));
  ptq_status s = PTQ_OK;
  char *full = NULL;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    struct stat st;
    free(full);
    if (!(full = ptq_asprintf("%s/%s", dir, e->d_name))) goto nomem;
    if (stat(full, &st) != 0) continue; /* dangling link */
    ptq_vec *into = S_ISDIR(st.st_mode)                               ? dirs
                    : S_ISREG(st.st_mode) && is_image_name(e->d_name) ? files
                                                                      : NULL;
    if (!into) continue;
    char *name = ptq_strdup(e->d_name);
    if (!name || ptq_vec_push(into, name) != 0) {
      free(name);
      goto nomem;
    }
  }
  if (files->len) qsort(files->items, files->len, sizeof(char *), cmp_str);
  if (dirs && dirs->len) qsort(dirs->items, dirs->len, sizeof(char *), cmp_str);
  goto done;
nomem:
  s = ptq_error(PTQ_ERR_NOMEM, "out of memory listing '%s'", dir);
done:
  free(full);
  closedir(d);
  return s;
}

/* Appends dir's files (named prefix/name when prefix is set) with class cls to out. */
static ptq_status append_files(ptq_image_list *out, ptq_vec *names, const char *prefix,
                               int64_t cls) {
  size_t n = (size_t)out->n + names->len;
  char **files = ptq_realloc_array(out->files, n, sizeof *files);
  if (files) out->files = files;
  int64_t *classes = ptq_realloc_array(out->classes, n, sizeof *classes);
  if (classes) out->classes = classes;
  if (!files || !classes) return ptq_error(PTQ_ERR_NOMEM, "out of memory listing images");
  for (size_t i = 0; i < names->len; i++) {
    char *name = prefix ? ptq_asprintf("%s/%s", prefix, (char *)names->items[i])
                        : ptq_strdup(names->items[i]);
    if (!name) return ptq_error(PTQ_ERR_NOMEM, "out of memory listing images");
    out->files[out->n] = name;
    out->classes[out->n++] = cls;
  }
  return PTQ_OK;
}

ptq_status ptq_image_list_dir(const char *root, ptq_image_list *out) {
  ptq_vec files = {0}, dirs = {0}, sub = {0};
  char *path = NULL;
  ptq_status s;
  memset(out, 0, sizeof *out);
  if ((s = list_one(root, &files, &dirs)) != PTQ_OK) goto done;
  if (dirs.len > 0 && files.len > 0) {
    s = ptq_error(PTQ_ERR_DATA,
                  "'%s' holds both images and subfolders; use a flat folder or "
                  "one subfolder per class",
                  root);
    goto done;
  }
  if ((s = append_files(out, &files, NULL, -1)) != PTQ_OK) goto done;
  for (size_t k = 0; k < dirs.len; k++) {
    free(path);
    if (!(path = ptq_asprintf("%s/%s", root, (char *)dirs.items[k]))) {
      s = ptq_error(PTQ_ERR_NOMEM, "out of memory listing '%s'", root);
      goto done;
    }
    free_names(&sub);
    if ((s = list_one(path, &sub, NULL)) != PTQ_OK) goto done;
    if ((s = append_files(out, &sub, dirs.items[k], (int64_t)k)) != PTQ_OK) goto done;
  }
  if (out->n == 0) s = ptq_error(PTQ_ERR_DATA, "no images in '%s'", root);
  if (dirs.len == 0) {
    free(out->classes);
    out->classes = NULL;
  }
done:
  if (s != PTQ_OK) ptq_image_list_free(out);
  free(path);
  free_names(&files);
  free_names(&dirs);
  free_names(&sub);
  return s;
}

void ptq_image_list_free(ptq_image_list *l) {
  for (int64_t i = 0; i < l->n; i++) free(l->files[i]);
  free(l->files);
  free(l->classes);
  memset(l, 0, sizeof *l);
}

/* ---- per-image pipeline ----------------------------------------------------------- */

/* Decodes image i and applies the geometric steps; the result is left in ds->img. */
static ptq_status load_image(ptq_dataset *ds, int64_t i) {
  ptq_image8 im;
  char *path = ptq_asprintf("%s/%s", ds->path, ds->list.files[i]);
  if (!path) return ptq_error(PTQ_ERR_NOMEM, "out of memory");
  ptq_status s = ptq_image_decode_file(path, &im);
  if (s == PTQ_OK) {
    s = ptq_fimage_from_image8(&im, ds->channels, &ds->img);
    free(im.pix);
  }
  if (s == PTQ_OK)
    s = ptq_preprocess_geometry(&ds->prep, &ds->img, &ds->tmp, ds->want_h, ds->want_w, path);
  free(path);
  return s;
}

ptq_status ptq_dataset_read_image(ptq_dataset *ds, int64_t i, float *dst) {
  PTQ_TRY(load_image(ds, i));
  const ptq_fimage *img = &ds->img;
  size_t hw = (size_t)img->h * (size_t)img->w;
  for (int oc = 0; oc < img->c; oc++) {
    const float *plane = img->data + (ds->prep.bgr && img->c == 3 ? 2 - oc : oc) * hw;
    if (ds->prep.nhwc) {
      for (size_t k = 0; k < hw; k++)
        dst[k * (size_t)img->c + (size_t)oc] = ptq_preprocess_value(&ds->prep, oc, plane[k]);
    } else {
      float *out = dst + (size_t)oc * hw;
      for (size_t k = 0; k < hw; k++) out[k] = ptq_preprocess_value(&ds->prep, oc, plane[k]);
    }
  }
  return PTQ_OK;
}

/* ---- opening ---------------------------------------------------------------------- */

/* Labels for the first ds->count images (ds->list is complete). */
static ptq_status image_labels(ptq_dataset *ds, const ptq_dataset_options *opts) {
  ptq_strmap map = {0};
  int64_t *all = NULL, n_all = 0;
  ptq_status s = PTQ_OK;
  if (!opts->labels && !ds->list.classes) return PTQ_OK;
  if (!(ds->labels = ptq_malloc((size_t)ds->count * sizeof *ds->labels))) {
    s = ptq_error(PTQ_ERR_NOMEM, "out of memory");
    goto done;
  }
  if (opts->labels && ptq_path_has_ext(opts->labels, ".npy")) {
    if ((s = ptq_labels_load_npy(opts->labels, &all, &n_all)) != PTQ_OK) goto done;
    if (n_all != ds->list.n) {
      s = ptq_error(PTQ_ERR_DATA, "labels '%s' has %lld entries but '%s' has %lld images",
                    opts->labels, (long long)n_all, ds->path, (long long)ds->list.n);
      goto done;
    }
    memcpy(ds->labels, all, (size_t)ds->count * sizeof *all);
  } else if (opts->labels) {
    if ((s = ptq_labels_load_csv(opts->labels, &map)) != PTQ_OK) goto done;
    for (int64_t i = 0; i < ds->count; i++) {
      int cls;
      if (!ptq_strmap_get(&map, ptq_path_basename(ds->list.files[i]), &cls)) {
        s = ptq_error(PTQ_ERR_DATA, "'%s/%s': no label in '%s'", ds->path, ds->list.files[i],
                      opts->labels);
        goto done;
      }
      ds->labels[i] = cls;
    }
  } else {
    memcpy(ds->labels, ds->list.classes, (size_t)ds->count * sizeof *ds->labels);
  }
  for (int64_t i = 0; i < ds->count; i++) ds->labels[i] += opts->label_offset;
done:
  ptq_strmap_free(&map);
  free(all);
  return s;
}

ptq_status ptq_dataset_open_images(ptq_dataset *ds, const ptq_dataset_options *opts) {
  const ptq_preprocess *p = &ds->prep;
  int64_t c = 0, h = 0, w = 0; /* 0: unknown, taken from the data */
  char want[160];
  ptq_shape_str(opts->sample_dims, opts->sample_rank, want, sizeof want);
  if (opts->sample_rank == 3) {
    c = opts->sample_dims[p->nhwc ? 2 : 0];
    h = opts->sample_dims[p->nhwc ? 0 : 1];
    w = opts->sample_dims[p->nhwc ? 1 : 2];
  } else if (opts->sample_rank != 0) {
    return ptq_error(PTQ_ERR_SHAPE, "'%s': images give rank-3 samples but the model expects %s",
                     ds->path, want);
  }
  c = c > 0 ? c : p->gray ? 1 : 3;
  if ((c != 1 && c != 3) || (p->gray && c != 1))
    return ptq_error(PTQ_ERR_SHAPE,
                     "'%s': images give %s channels but the model expects %s "
                     "(layout %s)",
                     ds->path, p->gray ? "1 (gray)" : "1 or 3", want, p->nhwc ? "nhwc" : "nchw");
  if (h > PTQ_PREP_MAX_SIDE || w > PTQ_PREP_MAX_SIDE)
    return ptq_error(PTQ_ERR_SHAPE, "'%s': model sample shape %s is too large for images", ds->path,
                     want);
  PTQ_TRY(ptq_preprocess_check_channels(p, c));
  ds->channels = (int)c;

  PTQ_TRY(ptq_image_list_dir(ds->path, &ds->list));
  ds->count = opts->limit > 0 && opts->limit < ds->list.n ? opts->limit : ds->list.n;
  PTQ_TRY(image_labels(ds, opts));

  if (h > 0 && w > 0) {
    ds->want_h = (int)h;
    ds->want_w = (int)w;
  } else { /* the first image decides */
    PTQ_TRY(load_image(ds, 0));
    if ((h > 0 && ds->img.h != h) || (w > 0 && ds->img.w != w))
      return ptq_error(PTQ_ERR_SHAPE,
                       "'%s/%s': preprocessed image is %dx%d but the model "
                       "expects %s",
                       ds->path, ds->list.files[0], ds->img.h, ds->img.w, want);
    ds->want_h = ds->img.h;
    ds->want_w = ds->img.w;
  }
  int64_t chw[3] = {c, ds->want_h, ds->want_w}, hwc[3] = {ds->want_h, ds->want_w, c};
  ds->rank = 3;
  memcpy(ds->dims, p->nhwc ? hwc : chw, sizeof chw);
  return PTQ_OK;
}
